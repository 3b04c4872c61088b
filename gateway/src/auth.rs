//! Who a client is: short-lived connection tokens minted by the wiki.
//!
//! The wiki's API (`action=realtimenotifytoken`) signs a JWT with HS256 and a
//! secret shared with the gateway. The gateway checks it locally, without
//! calling back to the wiki: signature (against every configured secret, so
//! a secret can be rotated with both valid for a while), issuer, audience
//! (this wiki's id), expiry and not-before with a small clock-skew leeway,
//! and that its `jti` was not used for another connection already.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::event::Event;

/// The `iss` claim the wiki sets.
pub const ISSUER: &str = "realtimenotify";
/// Most remembered token ids; past this, the oldest-expiring are forgotten
/// early (a replay then succeeds only within an already short lifetime).
const MAX_SEEN: usize = 200_000;

/// Claims of a connection token.
#[derive(Debug, Clone, Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    rights: Vec<String>,
    exp: u64,
    jti: String,
}

/// An authenticated client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user_id: u64,
    pub name: String,
    pub rights: HashSet<String>,
    /// Unix seconds after which the connection must present a fresh token.
    pub expires: u64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("token rejected: {0}")]
    Invalid(String),
    #[error("token expired")]
    Expired,
    #[error("token was already used for a connection")]
    Replayed,
    #[error("token is for another user than this connection's")]
    OtherUser,
}

pub struct Verifier {
    keys: Vec<DecodingKey>,
    validation: Validation,
    /// jti → exp of tokens already used to connect.
    seen: Mutex<HashMap<String, u64>>,
}

impl Verifier {
    /// `secrets`: every secret currently valid (old and new during a rotation).
    pub fn new(secrets: &[String], wiki_id: &str, leeway_secs: u64) -> Verifier {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[wiki_id]);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = leeway_secs;
        Verifier {
            keys: secrets.iter().map(|s| DecodingKey::from_secret(s.as_bytes())).collect(),
            validation,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Checks a token presented to open a connection: valid, and not used before.
    pub fn verify_new(&self, token: &str) -> Result<Identity, AuthError> {
        let (identity, jti) = self.verify(token)?;
        self.spend(jti, identity.expires)?;
        Ok(identity)
    }

    /// Checks a refresh token on an open connection: valid, for the same
    /// user, and not used before. The same single-use rule as at the
    /// handshake, so a token cannot be spent twice through `auth` messages.
    pub fn verify_refresh(&self, token: &str, current: &Identity) -> Result<Identity, AuthError> {
        let (identity, jti) = self.verify(token)?;
        if identity.user_id != current.user_id {
            return Err(AuthError::OtherUser);
        }
        self.spend(jti, identity.expires)?;
        Ok(identity)
    }

    /// Records `jti` as used; `Replayed` if it was already.
    fn spend(&self, jti: String, expires: u64) -> Result<(), AuthError> {
        let now = now_secs();
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() >= MAX_SEEN {
            seen.retain(|_, exp| exp.saturating_add(self.validation.leeway) >= now);
        }
        if seen.len() >= MAX_SEEN {
            // Still full of live tokens: forget the one expiring soonest.
            if let Some(oldest) = seen.iter().min_by_key(|(_, exp)| **exp).map(|(k, _)| k.clone()) {
                seen.remove(&oldest);
            }
        }
        if seen.insert(jti, expires).is_some() {
            return Err(AuthError::Replayed);
        }
        Ok(())
    }

    fn verify(&self, token: &str) -> Result<(Identity, String), AuthError> {
        let mut last_err = AuthError::Invalid("no token secret configured".into());
        for key in &self.keys {
            match jsonwebtoken::decode::<Claims>(token, key, &self.validation) {
                Ok(data) => {
                    let c = data.claims;
                    let user_id = c.sub.parse().map_err(|_| AuthError::Invalid("sub is not a user id".into()))?;
                    if c.jti.is_empty() || c.jti.len() > 128 {
                        return Err(AuthError::Invalid("jti missing or too long".into()));
                    }
                    let identity =
                        Identity { user_id, name: c.name, rights: c.rights.into_iter().collect(), expires: c.exp };
                    return Ok((identity, c.jti));
                }
                Err(err) => {
                    use jsonwebtoken::errors::ErrorKind;
                    last_err = match err.kind() {
                        ErrorKind::ExpiredSignature => AuthError::Expired,
                        // Another key may still match; keep trying.
                        ErrorKind::InvalidSignature => AuthError::Invalid("bad signature".into()),
                        other => AuthError::Invalid(format!("{other:?}")),
                    };
                    if !matches!(err.kind(), ErrorKind::InvalidSignature) {
                        return Err(last_err);
                    }
                }
            }
        }
        Err(last_err)
    }

    pub fn leeway(&self) -> u64 {
        self.validation.leeway
    }
}

/// Whether `who` may see `event`: events without an audience, and public
/// ones, go to every client the gateway admitted; others only to the holders
/// of a `visible_to` right and to their addressees (the listed users and the
/// holders of the listed rights).
pub fn may_see(who: Option<&Identity>, event: &Event) -> bool {
    match &event.audience {
        None => true,
        Some(audience) if audience.public => true,
        Some(audience) => {
            let holds = |rights: &[String]| who.is_some_and(|who| rights.iter().any(|r| who.rights.contains(r)));
            holds(&audience.visible_to) || addressed_to(who, event)
        }
    }
}

/// Whether `event` names `who` among its addressees (by user id or by one of
/// its rights). Events without an audience are addressed to nobody.
pub fn addressed_to(who: Option<&Identity>, event: &Event) -> bool {
    let (Some(audience), Some(who)) = (&event.audience, who) else {
        return false;
    };
    audience.users.contains(&who.user_id) || audience.rights.iter().any(|r| who.rights.contains(r))
}

pub fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    fn token(secret: &str, claims: serde_json::Value) -> String {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret.as_bytes()))
            .unwrap()
    }

    fn claims(jti: &str, exp_in: i64) -> serde_json::Value {
        let now = now_secs() as i64;
        json!({"iss": ISSUER, "aud": "testwiki", "sub": "7", "name": "Alice", "rights": ["read", "patrol"], "iat": now, "nbf": now, "exp": now + exp_in, "jti": jti})
    }

    #[test]
    fn public_events_reach_everyone_and_address_only_their_audience() {
        let event = |audience: &str| {
            let raw = format!(
                r#"{{"page_title":"P","user_name":"U","timestamp":"2026-11-25T01:02:03Z","summary":"","audience":{audience}}}"#
            );
            Event::parse(raw.as_bytes(), 16384).unwrap()
        };
        let alice =
            Identity { user_id: 7, name: "Alice".into(), rights: HashSet::from(["patrol".to_owned()]), expires: 0 };
        let bob = Identity { user_id: 8, name: "Bob".into(), rights: HashSet::new(), expires: 0 };
        let watched = event(r#"{"public":true,"users":[7]}"#);
        assert!(may_see(None, &watched) && may_see(Some(&bob), &watched));
        assert!(
            addressed_to(Some(&alice), &watched)
                && !addressed_to(Some(&bob), &watched)
                && !addressed_to(None, &watched)
        );
        let alert = event(r#"{"rights":["patrol"]}"#);
        assert!(may_see(Some(&alice), &alert) && !may_see(Some(&bob), &alert) && !may_see(None, &alert));
        assert!(addressed_to(Some(&alice), &alert));
    }

    #[test]
    fn visible_to_lets_readers_see_a_private_change_without_addressing_it_to_them() {
        let raw = r#"{"page_title":"P","user_name":"U","timestamp":"2026-11-25T01:02:03Z","summary":"","audience":{"public":false,"users":[7],"visible_to":["read"]}}"#;
        let private = Event::parse(raw.as_bytes(), 16384).unwrap();
        let reader = |id: u64| Identity {
            user_id: id,
            name: "R".into(),
            rights: HashSet::from(["read".to_owned()]),
            expires: 0,
        };
        let outsider = Identity { user_id: 9, name: "O".into(), rights: HashSet::new(), expires: 0 };
        assert!(may_see(Some(&reader(8)), &private), "every holder of read sees it");
        assert!(!may_see(None, &private) && !may_see(Some(&outsider), &private), "nobody else does");
        assert!(addressed_to(Some(&reader(7)), &private), "the watcher is its addressee");
        assert!(!addressed_to(Some(&reader(8)), &private), "holding read does not make it addressed to you");
        let huge = format!(
            r#"{{"page_title":"P","user_name":"U","timestamp":"2026-11-25T01:02:03Z","summary":"","audience":{{"visible_to":[{}]}}}}"#,
            vec![r#""r""#; 17].join(",")
        );
        assert!(Event::parse(huge.as_bytes(), 16384).is_err(), "visible_to is bounded like rights");
    }
    #[test]
    fn accepts_good_tokens_under_either_rotation_secret_once() {
        let v = Verifier::new(&["old-secret-0123456789".into(), "new-secret-0123456789".into()], "testwiki", 5);
        let id = v.verify_new(&token("new-secret-0123456789", claims("a", 60))).unwrap();
        assert_eq!((id.user_id, id.name.as_str()), (7, "Alice"));
        assert!(id.rights.contains("patrol"));
        assert!(v.verify_new(&token("old-secret-0123456789", claims("b", 60))).is_ok());
        assert_eq!(v.verify_new(&token("new-secret-0123456789", claims("a", 60))), Err(AuthError::Replayed));
    }

    #[test]
    fn rejects_forged_expired_wrong_wiki_and_alg_none() {
        let v = Verifier::new(&["the-secret-0123456789".into()], "testwiki", 5);
        assert!(matches!(v.verify_new(&token("forged-secret-000000", claims("a", 60))), Err(AuthError::Invalid(_))));
        assert_eq!(v.verify_new(&token("the-secret-0123456789", claims("b", -60))), Err(AuthError::Expired));
        let mut other = claims("c", 60);
        other["aud"] = "otherwiki".into();
        assert!(v.verify_new(&token("the-secret-0123456789", other)).is_err());
        // Within the leeway, a token from a slightly fast clock is fine.
        let mut early = claims("d", 60);
        early["nbf"] = (now_secs() + 3).into();
        assert!(v.verify_new(&token("the-secret-0123456789", early)).is_ok());
        let unsigned = format!("{}.{}.", b64(r#"{"alg":"none","typ":"JWT"}"#), b64(&claims("e", 60).to_string()));
        assert!(v.verify_new(&unsigned).is_err());
        assert!(v.verify_new("not a token").is_err());
    }

    fn b64(s: &str) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn refresh_must_be_for_the_same_user() {
        let v = Verifier::new(&["the-secret-0123456789".into()], "testwiki", 5);
        let me = v.verify_new(&token("the-secret-0123456789", claims("a", 60))).unwrap();
        assert!(v.verify_refresh(&token("the-secret-0123456789", claims("b", 120)), &me).is_ok());
        let mut bob = claims("c", 60);
        bob["sub"] = "8".into();
        assert_eq!(v.verify_refresh(&token("the-secret-0123456789", bob), &me), Err(AuthError::OtherUser));
    }

    #[test]
    fn a_token_is_spent_once_whether_at_the_handshake_or_in_an_auth_message() {
        let v = Verifier::new(&["the-secret-0123456789".into()], "testwiki", 5);
        let me = v.verify_new(&token("the-secret-0123456789", claims("a", 60))).unwrap();
        assert_eq!(v.verify_refresh(&token("the-secret-0123456789", claims("a", 60)), &me), Err(AuthError::Replayed));
        let fresh = token("the-secret-0123456789", claims("b", 60));
        assert!(v.verify_refresh(&fresh, &me).is_ok());
        assert_eq!(v.verify_refresh(&fresh, &me), Err(AuthError::Replayed));
        assert_eq!(v.verify_new(&fresh), Err(AuthError::Replayed));
    }
}
