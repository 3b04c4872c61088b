//! Untrusted connection tokens (`?token=` at the handshake, `{"op":"auth"}`).
//!
//! Every input is used twice:
//! 1. raw: the bytes as text are handed to `Verifier::verify_new`, which must
//!    never panic; if one ever verifies, presenting it again is `Replayed`;
//! 2. structured: the same bytes drive `arbitrary` to build a claims set that
//!    the wiki would sign (any sub/name/rights/jti, extra claims, an audience
//!    string or list, optional nbf/iat, either of two rotation secrets). Signed
//!    with HS256, it must verify to exactly those claims, and must fail when any
//!    single one of these is flipped: secret, algorithm, signature bytes, aud,
//!    iss, exp (past / missing), nbf (future), jti (reused / empty / > 128
//!    bytes), sub (not a user id). A final free-form mutation puts any JSON
//!    value in any claim: that must not panic, and whatever verifies must match
//!    what was signed.
//!
//! A fresh `Verifier` per input keeps runs independent (its replay set is
//! per instance).

#![no_main]

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};

use arbitrary::{Arbitrary, Unstructured};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use libfuzzer_sys::fuzz_target;
use realtimenotify::auth::{now_secs, AuthError, Identity, Verifier, ISSUER};
use serde_json::{json, Map, Value};

/// Secrets as the wiki's `$wgRealTimeNotifySecret` would be: 32+ characters.
const OLD_SECRET: &str = "fuzz-old-secret-0123456789abcdefghijkl";
const NEW_SECRET: &str = "fuzz-new-secret-0123456789abcdefghijkl";
const WIKI: &str = "testwiki";
const LEEWAY: u64 = 30;

fn verifier() -> Verifier {
    Verifier::new(&[OLD_SECRET.to_string(), NEW_SECRET.to_string()], WIKI, LEEWAY)
}

fuzz_target!(|data: &[u8]| {
    raw(data);
    let mut u = Unstructured::new(data);
    if let Ok(input) = Input::arbitrary(&mut u) {
        structured(input);
    }
});

fn raw(data: &[u8]) {
    let token = String::from_utf8_lossy(data);
    let v = verifier();
    if v.verify_new(&token).is_ok() {
        assert_eq!(v.verify_new(&token), Err(AuthError::Replayed));
    }
}

/// A JSON value for free-form claims.
#[derive(Arbitrary, Debug, Clone)]
enum J {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Arr(Vec<Scalar>),
    Obj(Vec<(String, Scalar)>),
}

#[derive(Arbitrary, Debug, Clone)]
enum Scalar {
    Null,
    Bool(bool),
    Int(i64),
    Str(String),
}

impl Scalar {
    fn json(&self) -> Value {
        match self {
            Scalar::Null => Value::Null,
            Scalar::Bool(b) => json!(b),
            Scalar::Int(i) => json!(i),
            Scalar::Str(s) => json!(s),
        }
    }
}

impl J {
    fn json(&self) -> Value {
        match self {
            J::Null => Value::Null,
            J::Bool(b) => json!(b),
            J::Int(i) => json!(i),
            J::UInt(u) => json!(u),
            J::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            J::Str(s) => json!(s),
            J::Arr(a) => Value::Array(a.iter().map(Scalar::json).collect()),
            J::Obj(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), v.json())).collect()),
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Input {
    sub: u64,
    name: Option<String>,
    rights: Option<Vec<String>>,
    /// Seconds past `now + LEEWAY` (any u64: the far future too).
    exp_ahead: u64,
    jti: String,
    /// `aud` as a list (with other wikis) instead of a string.
    aud_list: Option<Vec<String>>,
    nbf_ago: Option<u32>,
    iat: Option<J>,
    extra: Vec<(String, J)>,
    use_new_secret: bool,
    /// Values for the flipped variants.
    other_secret: String,
    other_aud: String,
    other_iss: String,
    past: u32,
    future: u32,
    long_jti: u8,
    bad_sub: String,
    /// Free-form: any claim set to any JSON value.
    wild: Vec<(Claim, J)>,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Claim {
    Sub,
    Name,
    Rights,
    Exp,
    Jti,
    Aud,
    Iss,
    Nbf,
}

impl Claim {
    fn key(self) -> &'static str {
        match self {
            Claim::Sub => "sub",
            Claim::Name => "name",
            Claim::Rights => "rights",
            Claim::Exp => "exp",
            Claim::Jti => "jti",
            Claim::Aud => "aud",
            Claim::Iss => "iss",
            Claim::Nbf => "nbf",
        }
    }
}

const RESERVED: &[&str] = &["sub", "name", "rights", "exp", "jti", "aud", "iss", "nbf", "iat"];

fn sign_with(alg: Algorithm, secret: &str, claims: &Map<String, Value>) -> String {
    jsonwebtoken::encode(&Header::new(alg), claims, &EncodingKey::from_secret(secret.as_bytes())).expect("encode")
}

/// A jti no earlier call produced: replay sets are per verifier, but keep
/// every variant distinct anyway so "flip one thing" really flips one thing.
fn unique_jti(base: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let mut jti: String = base.chars().take(16).collect();
    jti.push_str(&format!("#{n}"));
    jti
}

fn structured(input: Input) {
    let now = now_secs();
    let secret = if input.use_new_secret { NEW_SECRET } else { OLD_SECRET };
    let exp = (now + LEEWAY + 1).saturating_add(input.exp_ahead);

    let mut claims = Map::new();
    for (key, value) in &input.extra {
        if !RESERVED.contains(&key.as_str()) {
            claims.insert(key.clone(), value.json());
        }
    }
    claims.insert("iss".into(), json!(ISSUER));
    match &input.aud_list {
        Some(others) => {
            let mut list: Vec<Value> = others.iter().take(4).map(|a| json!(a)).collect();
            let at = input.sub as usize % (list.len() + 1);
            list.insert(at, json!(WIKI));
            claims.insert("aud".into(), Value::Array(list));
        }
        None => {
            claims.insert("aud".into(), json!(WIKI));
        }
    }
    claims.insert("sub".into(), json!(input.sub.to_string()));
    if let Some(name) = &input.name {
        claims.insert("name".into(), json!(name));
    }
    if let Some(rights) = &input.rights {
        claims.insert("rights".into(), json!(rights));
    }
    claims.insert("exp".into(), json!(exp));
    if let Some(ago) = input.nbf_ago {
        claims.insert("nbf".into(), json!(now.saturating_sub(ago as u64)));
    }
    if let Some(iat) = &input.iat {
        claims.insert("iat".into(), iat.json());
    }
    let jti = unique_jti(&input.jti);
    claims.insert("jti".into(), json!(jti));

    // The good token verifies, to exactly what was signed, once.
    let v = verifier();
    let good = sign_with(Algorithm::HS256, secret, &claims);
    let identity = v.verify_new(&good).unwrap_or_else(|e| panic!("good token refused: {e}: {claims:?}"));
    let expected = Identity {
        user_id: input.sub,
        name: input.name.clone().unwrap_or_default(),
        rights: input.rights.clone().unwrap_or_default().into_iter().collect::<HashSet<_>>(),
        expires: exp,
    };
    assert_eq!(identity, expected);
    assert_eq!(v.verify_new(&good), Err(AuthError::Replayed), "jti reused");
    // A spent token is spent for a refresh too (one rule for both); another
    // user's token is refused as such first.
    assert_eq!(v.verify_refresh(&good, &identity), Err(AuthError::Replayed), "jti reused in an auth message");
    let other_user = Identity { user_id: input.sub.wrapping_add(1), ..expected.clone() };
    assert_eq!(v.verify_refresh(&good, &other_user), Err(AuthError::OtherUser));

    // Each single flip must fail. `with` changes one claim and re-signs with
    // the right secret and a fresh jti (unless the flip is the jti).
    let with = |key: &str, value: Option<Value>| {
        let mut c = claims.clone();
        c.insert("jti".into(), json!(unique_jti(&input.jti)));
        match value {
            Some(value) => c.insert(key.into(), value),
            None => c.remove(key),
        };
        c
    };
    let same = || {
        let mut c = claims.clone();
        c.insert("jti".into(), json!(unique_jti(&input.jti)));
        c
    };
    let refuse = |what: &str, token: &str| {
        let v = verifier();
        if let Ok(id) = v.verify_new(token) {
            panic!("{what}: accepted as {id:?}: {token}");
        }
    };

    // Secret: any other secret (rotation keeps both configured ones valid).
    if input.other_secret != OLD_SECRET && input.other_secret != NEW_SECRET {
        refuse("wrong secret", &sign_with(Algorithm::HS256, &input.other_secret, &same()));
    }
    // Algorithm: same secret, HS384/HS512.
    refuse("HS384", &sign_with(Algorithm::HS384, secret, &same()));
    refuse("HS512", &sign_with(Algorithm::HS512, secret, &same()));
    // Signature: flip one character of the signature part.
    let fresh = sign_with(Algorithm::HS256, secret, &same());
    let (head, sig) = fresh.rsplit_once('.').expect("three parts");
    let at = input.past as usize % sig.len();
    let mut sig: Vec<u8> = sig.bytes().collect();
    sig[at] = if sig[at] == b'A' { b'B' } else { b'A' };
    let tampered = format!("{head}.{}", String::from_utf8(sig).unwrap());
    // Only the last char's low bits can be padding-insignificant; a changed
    // decoded signature must be refused.
    if decoded_differs(&fresh, &tampered) {
        refuse("tampered signature", &tampered);
    }
    // Audience: another wiki, or no audience at all.
    if input.other_aud != WIKI {
        refuse("other aud", &sign_with(Algorithm::HS256, secret, &with("aud", Some(json!(input.other_aud)))));
        let list: Vec<String> = std::iter::once(input.other_aud.clone()).collect();
        refuse("aud list without this wiki", &sign_with(Algorithm::HS256, secret, &with("aud", Some(json!(list)))));
    }
    refuse("no aud", &sign_with(Algorithm::HS256, secret, &with("aud", None)));
    // Issuer.
    if input.other_iss != ISSUER {
        refuse("other iss", &sign_with(Algorithm::HS256, secret, &with("iss", Some(json!(input.other_iss)))));
    }
    refuse("no iss", &sign_with(Algorithm::HS256, secret, &with("iss", None)));
    // Expiry: in the past beyond the leeway, or absent.
    let past = now.saturating_sub(LEEWAY + 2 + input.past as u64);
    let expired = sign_with(Algorithm::HS256, secret, &with("exp", Some(json!(past))));
    assert_eq!(verifier().verify_new(&expired), Err(AuthError::Expired));
    refuse("no exp", &sign_with(Algorithm::HS256, secret, &with("exp", None)));
    // Not before: in the future beyond the leeway.
    let later = now + LEEWAY + 60 + input.future as u64;
    refuse("future nbf", &sign_with(Algorithm::HS256, secret, &with("nbf", Some(json!(later)))));
    // Subject: not a user id.
    if input.bad_sub.parse::<u64>().is_err() {
        refuse("bad sub", &sign_with(Algorithm::HS256, secret, &with("sub", Some(json!(input.bad_sub)))));
    }
    refuse("no sub", &sign_with(Algorithm::HS256, secret, &with("sub", None)));
    // jti: empty, too long, absent.
    let mut c = claims.clone();
    c.insert("jti".into(), json!(""));
    refuse("empty jti", &sign_with(Algorithm::HS256, secret, &c));
    c.insert("jti".into(), json!("j".repeat(129 + input.long_jti as usize)));
    refuse("long jti", &sign_with(Algorithm::HS256, secret, &c));
    c.remove("jti");
    refuse("no jti", &sign_with(Algorithm::HS256, secret, &c));

    // Free-form: any claims set to any JSON. No panic; if it verifies, the
    // identity is what the signed claims say.
    if !input.wild.is_empty() {
        let mut c = claims.clone();
        c.insert("jti".into(), json!(unique_jti(&input.jti)));
        for (claim, value) in input.wild.iter().take(4) {
            c.insert(claim.key().into(), value.json());
        }
        let token = sign_with(Algorithm::HS256, secret, &c);
        if let Ok(id) = verifier().verify_new(&token) {
            let sub = c["sub"].as_str().expect("verified sub is a string");
            assert_eq!(sub.parse::<u64>().ok(), Some(id.user_id));
            assert_eq!(c["exp"].as_u64(), Some(id.expires));
            assert!(id.expires.saturating_add(LEEWAY) >= now, "expired token accepted: {c:?}");
            match &c["iss"] {
                Value::String(i) => assert_eq!(i, ISSUER),
                Value::Array(list) => assert!(list.contains(&json!(ISSUER)), "{c:?}"),
                other => panic!("iss {other:?} accepted"),
            }
            match &c["aud"] {
                Value::String(a) => assert_eq!(a, WIKI),
                Value::Array(list) => assert!(list.contains(&json!(WIKI)), "{c:?}"),
                other => panic!("aud {other:?} accepted"),
            }
            let jti = c["jti"].as_str().expect("verified jti is a string");
            assert!(!jti.is_empty() && jti.len() <= 128);
            if let Some(nbf) = c.get("nbf").filter(|n| !n.is_null()) {
                // jsonwebtoken reads exp/nbf as any JSON number (floats too).
                let limit = (now_secs() + LEEWAY) as f64;
                assert!(nbf.as_f64().is_some_and(|nbf| nbf <= limit), "nbf {nbf} accepted");
            }
        }
    }
}

/// Whether two tokens' signature parts decode to different bytes.
fn decoded_differs(a: &str, b: &str) -> bool {
    let sig = |t: &str| decode_b64url(t.rsplit_once('.').unwrap().1);
    match (sig(a), sig(b)) {
        (Some(x), Some(y)) => x != y,
        _ => true,
    }
}

fn decode_b64url(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        } as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}
