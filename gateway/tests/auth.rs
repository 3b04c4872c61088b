//! Tokens, origins, limits and targeted events, at the real handshake.

mod common;

use std::time::Duration;

use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

const SECRET: &str = "0123456789abcdef0123456789abcdef-new";
const OLD_SECRET: &str = "0123456789abcdef0123456789abcdef-old";
const CHANNEL: &str = "mediawiki:notifications";

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn token_with(secret: &str, claims: Value) -> String {
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

fn claims(user: u64, rights: &[&str], ttl: i64) -> Value {
    json!({"iss": "realtimenotify", "aud": "testwiki", "sub": user.to_string(), "name": format!("User{user}"),
           "rights": rights, "iat": now(), "nbf": now(), "exp": now() + ttl, "jti": format!("{}", fastrand_id())})
}

fn fastrand_id() -> u128 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    (std::process::id() as u128) << 64 | N.fetch_add(1, Ordering::Relaxed) as u128
}

fn token(user: u64, rights: &[&str]) -> String {
    token_with(SECRET, claims(user, rights, 300))
}

/// Opens a socket offering the token as a subprotocol; on refusal, Err with
/// the close code it was refused with (a refused handshake is upgraded and
/// closed at once, before any other frame).
async fn connect_with(gateway: &Gateway, token: Option<&str>, origin: Option<&str>) -> Result<Ws, u16> {
    connect_at(gateway, "", token, origin).await
}

/// Like [`connect_with`], with a query string (`since=...&filter=...`).
async fn connect_at(gateway: &Gateway, query: &str, token: Option<&str>, origin: Option<&str>) -> Result<Ws, u16> {
    let url = if query.is_empty() { gateway.ws_url() } else { format!("{}?{query}", gateway.ws_url()) };
    let mut request = url.into_client_request().unwrap();
    let mut protocols = "realtimenotify.v1".to_string();
    if let Some(t) = token {
        protocols.push_str(&format!(", realtimenotify.token.{t}"));
    }
    request.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_str(&protocols).unwrap());
    if let Some(o) = origin {
        request.headers_mut().insert("Origin", HeaderValue::from_str(o).unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((mut ws, response)) => {
            assert_eq!(response.headers()["sec-websocket-protocol"], "realtimenotify.v1");
            match refusal(&mut ws).await {
                Some(code) => Err(code),
                None => Ok(ws),
            }
        }
        Err(other) => panic!("unexpected handshake error {other}"),
    }
}

fn private_gateway(redis: &Redis, extra: &[&str]) -> Gateway {
    let secrets = format!("{OLD_SECRET},{SECRET}");
    let url = redis.url();
    let mut args = vec![
        "--redis-url",
        url.as_str(),
        "--auth-mode",
        "private",
        "--token-secrets",
        secrets.as_str(),
        "--wiki-id",
        "testwiki",
    ];
    args.extend_from_slice(extra);
    Gateway::start(&args)
}

#[tokio::test]
async fn a_private_gateway_admits_only_valid_fresh_tokens() {
    let redis = Redis::start();
    let gateway = private_gateway(&redis, &["--token-leeway", "2"]);
    gateway.wait_ready().await;
    assert_eq!(connect_with(&gateway, None, None).await.err(), Some(4401), "no token");
    assert_eq!(
        connect_with(
            &gateway,
            Some(&token_with("forged-forged-forged-forged-forged!", claims(1, &["read"], 300))),
            None
        )
        .await
        .err(),
        Some(4401),
        "forged"
    );
    assert_eq!(
        connect_with(&gateway, Some(&token_with(SECRET, claims(1, &["read"], -60))), None).await.err(),
        Some(4401),
        "expired"
    );
    let mut other_wiki = claims(1, &["read"], 300);
    other_wiki["aud"] = "otherwiki".into();
    assert_eq!(
        connect_with(&gateway, Some(&token_with(SECRET, other_wiki)), None).await.err(),
        Some(4401),
        "wrong wiki"
    );
    assert_eq!(connect_with(&gateway, Some("garbage"), None).await.err(), Some(4401));

    let good = token(1, &["read"]);
    let mut ws = connect_with(&gateway, Some(&good), None).await.expect("a valid token connects");
    assert_eq!(connect_with(&gateway, Some(&good), None).await.err(), Some(4401), "replayed");
    // The old secret is still valid during a rotation; the query string works too.
    let old = token_with(OLD_SECRET, claims(2, &["read"], 300));
    let (mut by_query, _) = connect_hello(&format!("{}?token={old}", gateway.ws_url())).await;

    redis.publish(CHANNEL, &event(1)).await;
    assert_eq!(next_event(&mut ws).await["page_title"], "Page 1");
    assert_eq!(next_event(&mut by_query).await["page_title"], "Page 1");
    assert_eq!(gateway.metric("rtn_clients_rejected_total").await, 6.0);
}

#[tokio::test]
async fn origins_and_per_ip_limits_are_enforced() {
    let redis = Redis::start();
    let gateway = Gateway::start(&[
        "--redis-url",
        &redis.url(),
        "--allowed-origins",
        "http://wiki.test",
        "--max-connections-per-ip",
        "2",
    ]);
    gateway.wait_ready().await;
    assert_eq!(connect_with(&gateway, None, Some("http://evil.test")).await.err(), Some(4403));
    let _a = connect_with(&gateway, None, Some("http://wiki.test")).await.expect("allowed origin");
    let b = connect_with(&gateway, None, None).await.expect("no origin: not a browser");
    assert_eq!(connect_with(&gateway, None, None).await.err(), Some(4429));
    drop(b);
    let deadline = tokio::time::Instant::now() + WAIT;
    while connect_with(&gateway, None, None).await.is_err() {
        assert!(tokio::time::Instant::now() < deadline, "the slot was never freed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn targeted_events_reach_only_their_audience() {
    let redis = Redis::start();
    let gateway = Gateway::start(&["--redis-url", &redis.url(), "--token-secrets", SECRET, "--wiki-id", "testwiki"]);
    gateway.wait_ready().await;
    let mut watcher = connect_with(&gateway, Some(&token(7, &["read"])), None).await.unwrap();
    let mut patroller = connect_with(&gateway, Some(&token(8, &["read", "patrol"])), None).await.unwrap();
    let mut plain = connect_with(&gateway, Some(&token(9, &["read"])), None).await.unwrap();
    let mut anonymous = connect_with(&gateway, None, None).await.unwrap();

    let addressed = |title: &str, audience: Value| {
        json!({"page_title": title, "user_name": "Bob", "timestamp": "2026-11-25T01:02:03Z", "summary": "", "audience": audience}).to_string()
    };
    redis.publish(CHANNEL, &addressed("Watched", json!({"users": [7]}))).await;
    redis.publish(CHANNEL, &json!({"type": "alert", "page_title": "Blanked", "user_name": "Vandal", "timestamp": "2026-11-25T01:02:03Z", "summary": "", "audience": {"rights": ["patrol"]}}).to_string()).await;
    redis.publish(CHANNEL, &event(3)).await;

    let first = next_event(&mut watcher).await;
    assert_eq!(first["page_title"], "Watched");
    assert!(first.get("audience").is_none(), "the audience is never sent");
    assert_eq!(next_event(&mut watcher).await["page_title"], "Page 3");
    let alert = next_event(&mut patroller).await;
    assert_eq!((alert["page_title"].as_str(), alert["type"].as_str()), (Some("Blanked"), Some("alert")));
    assert_eq!(next_event(&mut patroller).await["page_title"], "Page 3");
    assert_eq!(next_event(&mut plain).await["page_title"], "Page 3", "the plain user gets neither addressed event");
    assert_eq!(next_event(&mut anonymous).await["page_title"], "Page 3", "nor does an anonymous one");
}

/// "My watchlist": a public change also names its watchers; clients that
/// subscribed with `addressed` get only what names them, everyone else gets
/// every public change.
#[tokio::test]
async fn the_addressed_filter_keeps_only_what_names_the_client() {
    let redis = Redis::start();
    let gateway = Gateway::start(&["--redis-url", &redis.url(), "--token-secrets", SECRET, "--wiki-id", "testwiki"]);
    gateway.wait_ready().await;
    let addressed = json!({"op": "subscribe", "filter": {"addressed": true}});
    let mut watcher = connect_with(&gateway, Some(&token(7, &["read"])), None).await.unwrap();
    let mut owner = connect_with(&gateway, Some(&token(9, &["read"])), None).await.unwrap();
    let mut patroller = connect_with(&gateway, Some(&token(8, &["read", "patrol"])), None).await.unwrap();
    let mut everything = connect_with(&gateway, Some(&token(10, &["read"])), None).await.unwrap();
    let mut anonymous = connect_with(&gateway, None, None).await.unwrap();
    for ws in [&mut watcher, &mut owner, &mut patroller] {
        send_json(ws, addressed.clone()).await;
        assert_eq!(next_json(ws).await["op"], "subscribed");
    }
    send_json(&mut anonymous, addressed.clone()).await;
    let refused = next_json(&mut anonymous).await;
    assert_eq!(refused["op"], "error", "{refused}");

    let change = |title: &str, audience: Value| {
        json!({"page_title": title, "user_name": "Bob", "timestamp": "2026-11-25T01:02:03Z", "summary": "", "audience": audience}).to_string()
    };
    redis.publish(CHANNEL, &change("Watched", json!({"public": true, "users": [7]}))).await;
    redis.publish(CHANNEL, &json!({"type": "alert", "page_title": "Blanked", "user_name": "Vandal", "timestamp": "2026-11-25T01:02:03Z", "summary": "", "reasons": ["blanking"], "audience": {"rights": ["patrol"]}}).to_string()).await;
    redis.publish(CHANNEL, &change("User talk:Owner", json!({"public": true, "users": [9]}))).await;
    redis.publish(CHANNEL, &change("End", json!({"public": true, "users": [7, 9], "rights": ["patrol"]}))).await;

    let titles = |events: Vec<Value>| {
        events.iter().map(|e| e["page_title"].as_str().unwrap_or("?").to_owned()).collect::<Vec<_>>()
    };
    let mut got = Vec::new();
    for _ in 0..2 {
        got.push(next_event(&mut watcher).await);
    }
    assert_eq!(titles(got), ["Watched", "End"]);
    let got = vec![next_event(&mut owner).await, next_event(&mut owner).await];
    assert_eq!(titles(got), ["User talk:Owner", "End"]);
    let alert = next_event(&mut patroller).await;
    assert_eq!(alert["reasons"], json!(["blanking"]), "alert reasons are forwarded: {alert}");
    assert_eq!(next_event(&mut patroller).await["page_title"], "End");
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(next_event(&mut everything).await);
    }
    assert_eq!(titles(got), ["Watched", "User talk:Owner", "End"], "public changes reach everyone, alerts do not");
    let first = next_event(&mut anonymous).await;
    assert_eq!(first["page_title"], "Watched", "an anonymous client keeps its old filter and sees public changes");
    assert!(first.get("audience").is_none());
}

/// A filter given in the handshake applies to the replay too: a "watchlist"
/// client that resumes gets only the missed events addressed to it.
#[tokio::test]
async fn a_handshake_filter_also_filters_the_replay() {
    let redis = Redis::start();
    let gateway = Gateway::start(&["--redis-url", &redis.url(), "--token-secrets", SECRET, "--wiki-id", "testwiki"]);
    gateway.wait_ready().await;
    let mut first = connect_with(&gateway, None, None).await.unwrap();
    let change = |title: &str, users: &[u64]| {
        json!({"page_title": title, "user_name": "Bob", "timestamp": "2026-11-25T01:02:03Z", "summary": "", "audience": {"public": true, "users": users}}).to_string()
    };
    redis.publish(CHANNEL, &change("Before", &[])).await;
    let since = next_event(&mut first).await["id"].as_str().unwrap().to_owned();
    for (title, users) in [("Other", &[8][..]), ("Mine", &[7]), ("Nobody's", &[]), ("Mine too", &[7, 8])] {
        redis.publish(CHANNEL, &change(title, users)).await;
    }
    for _ in 0..4 {
        next_event(&mut first).await; // all published and in the window
    }

    let filter = "%7B%22addressed%22%3Atrue%7D"; // {"addressed":true}
    let mut ws = connect_at(&gateway, &format!("since={since}&filter={filter}"), Some(&token(7, &["read"])), None)
        .await
        .unwrap();
    assert_eq!(next_event(&mut ws).await["page_title"], "Mine");
    assert_eq!(next_event(&mut ws).await["page_title"], "Mine too");
    let resumed = next_json(&mut ws).await;
    assert_eq!(resumed["op"], "resumed", "{resumed}");
    assert_eq!(resumed["count"], 2, "count is what this client was sent: {resumed}");

    assert_eq!(
        connect_at(&gateway, &format!("filter={filter}"), None, None).await.err(),
        Some(4401),
        "addressed needs a token"
    );
    assert_eq!(
        connect_at(&gateway, "filter=%7Bnope", None, None).await.err(),
        Some(4400),
        "a malformed filter is refused"
    );
}

#[tokio::test]
async fn tokens_are_refreshed_in_band_and_expiry_closes_with_4001() {
    let redis = Redis::start();
    let gateway = private_gateway(&redis, &["--token-leeway", "0"]);
    gateway.wait_ready().await;
    let short = |user| token_with(SECRET, claims(user, &["read"], 2));
    let mut refreshed = connect_with(&gateway, Some(&short(1)), None).await.unwrap();
    let mut lapsing = connect_with(&gateway, Some(&short(2)), None).await.unwrap();

    send_json(&mut refreshed, json!({"op": "auth", "token": token_with(SECRET, claims(1, &["read"], 60))})).await;
    assert_eq!(next_json(&mut refreshed).await["op"], "authenticated");
    send_json(&mut refreshed, json!({"op": "auth", "token": token_with(SECRET, claims(5, &["read"], 60))})).await;
    let refused = next_json(&mut refreshed).await;
    assert_eq!(refused["op"], "error", "a token for another user cannot take over: {refused}");

    assert_eq!(close_code(&mut lapsing).await, 4001);
    redis.publish(CHANNEL, &event(4)).await;
    assert_eq!(next_event(&mut refreshed).await["page_title"], "Page 4", "the refreshed socket stays open");
}

#[tokio::test]
async fn a_handshake_that_never_finishes_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let redis = Redis::start();
    let gateway = Gateway::start(&["--redis-url", &redis.url(), "--handshake-timeout", "1"]);
    let mut slow = tokio::net::TcpStream::connect(gateway.addr).await.unwrap();
    slow.write_all(b"GET /v1/ws HTTP/1.1\r\nHost: x\r\n").await.unwrap(); // and never the rest
    let started = std::time::Instant::now();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the server never closed the stalled handshake");
    assert!(started.elapsed() < Duration::from_secs(4), "took {:?}", started.elapsed());
    // Meanwhile ordinary clients are served.
    assert_eq!(gateway.get("/healthz").await.0, 200);
}

/// Issue 10 item 5: one rule for the handshake and for `auth`: a token is
/// spent once, whichever way it is presented.
#[tokio::test]
async fn a_token_is_single_use_through_auth_messages_too() {
    let redis = Redis::start();
    let gateway = private_gateway(&redis, &[]);
    gateway.wait_ready().await;
    let first = token(1, &["read"]);
    let mut ws = connect_with(&gateway, Some(&first), None).await.unwrap();
    send_json(&mut ws, json!({"op": "auth", "token": first})).await;
    let reply = next_json(&mut ws).await;
    assert_eq!(reply["op"], "error", "the handshake's token again: {reply}");
    let second = token(1, &["read"]);
    send_json(&mut ws, json!({"op": "auth", "token": second})).await;
    assert_eq!(next_json(&mut ws).await["op"], "authenticated");
    send_json(&mut ws, json!({"op": "auth", "token": second})).await;
    let reply = next_json(&mut ws).await;
    assert_eq!(reply["op"], "error", "an auth token twice: {reply}");
    assert_eq!(connect_with(&gateway, Some(&second), None).await.err(), Some(4401), "nor for a new connection");
}

/// Issue 10 item 6: nothing a client is sent depends on events it may not
/// see: `hello.last_id` and a `lost` frame name only events it may see.
#[tokio::test]
async fn no_frame_reveals_an_event_the_client_may_not_see() {
    let redis = Redis::start();
    let gateway = Gateway::start(&[
        "--redis-url",
        &redis.url(),
        "--token-secrets",
        SECRET,
        "--wiki-id",
        "testwiki",
        "--replay-window",
        "2",
    ]);
    gateway.wait_ready().await;
    let mut patroller = connect_with(&gateway, Some(&token(8, &["read", "patrol"])), None).await.unwrap();
    let alert = |title: &str| {
        json!({"type": "alert", "page_title": title, "user_name": "Vandal", "timestamp": "2026-11-25T01:02:03Z",
               "summary": "", "audience": {"rights": ["patrol"]}})
        .to_string()
    };
    let mut ids = Vec::new();
    for raw in [event(1), event(2), alert("Blanked"), event(3), alert("Blanked again")] {
        redis.publish(CHANNEL, &raw).await;
        ids.push(next_event(&mut patroller).await["id"].as_str().unwrap().to_string());
    }
    let (public, hidden) = ([&ids[0], &ids[1], &ids[3]], [&ids[2], &ids[4]]);

    let (_, hello) = connect_hello(&gateway.ws_url()).await;
    assert_eq!(hello["last_id"], public[2].as_str(), "the newest event an anonymous client may see");

    // The window holds the last two (event 3 and the second alert); the
    // first alert is the oldest id left after event 2.
    let (mut ws, _) = connect_hello(&format!("{}?since={}", gateway.ws_url(), public[0])).await;
    let mut frames = Vec::new();
    loop {
        let v = next_json(&mut ws).await;
        frames.push(v.to_string());
        if v["op"] == "resumed" {
            break;
        }
    }
    let text = frames.join("\n");
    assert!(text.contains(r#""op":"lost""#), "{text}");
    assert!(text.contains(&format!(r#""oldest":"{}""#, public[2])), "{text}");
    for id in hidden {
        assert!(!text.contains(id.as_str()), "the alert's id {id} reached an anonymous client: {text}");
    }
}
