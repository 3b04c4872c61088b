//! The EventStreams-compatible feed: `GET /v2/stream/recentchange`.
//!
//! Tools and bots (pywikibot's `EventStreams`, `sseclient`, a browser's
//! `EventSource`) read Wikimedia's EventStreams: Server-Sent Events, one
//! `event: message` per change in the `mediawiki/recentchange` shape
//! ([`crate::recentchange`]), resumable with `Last-Event-ID` or `?since=`.
//! This module serves the same thing from the hub, so such a tool can point
//! its URL at the gateway and keep working, on the same events, the same
//! audience rules and the same resume guarantees as the WebSocket
//! (`docs/protocol.md`, *SSE*).
//!
//! Each reader is a task (like a WebSocket client) that takes events from
//! the hub and hands chunks of text to its response body through a channel
//! of one chunk. A reader that does not keep up is cut off like a WebSocket
//! client: its queue overflows, or its oldest undelivered event gets older
//! than `--max-lag`, or a write waits longer than `--write-timeout`; then its
//! connection is dropped at once ([`Held::stream`]), since hyper would wait
//! on a full socket for ever. It resumes with `Last-Event-ID`, losing nothing
//! the window (or the stream) still holds.
//!
//! Positions: the `id:` of each message is the event id (`<ms>-<seq>`, the
//! WebSocket's `id`), which `Last-Event-ID` and `?since=` take back. `?since=`
//! also takes a time (ISO 8601, or milliseconds since the epoch, as
//! EventStreams does), and `Last-Event-ID` EventStreams' own JSON array
//! (its `timestamp`), so a tool's saved position carries over as a time.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use bytes::{BufMut, Bytes, BytesMut};
use serde_json::json;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::admission::{Admission, Slot};
use crate::auth::{self, Identity, Verifier};
use crate::config::AuthMode;
use crate::event::{Envelope, EventId};
use crate::filter::Filter;
use crate::history::{Replay, Step};
use crate::hub::{Hub, Item};
use crate::listener::Held;
use crate::metrics as m;
use crate::recentchange;

/// The feed's path, as on EventStreams.
pub const PATH: &str = "/v2/stream/recentchange";

/// Most events taken from the hub into one chunk of the response.
const BATCH: usize = 64;

/// What every SSE reader shares.
pub struct Feed {
    pub hub: Arc<Hub>,
    pub verifier: Option<Arc<Verifier>>,
    pub auth_mode: AuthMode,
    pub admission: Arc<Admission>,
    pub max_lag: Duration,
    pub write_timeout: Duration,
    /// Readers' tasks, so shutdown waits for them like for WebSocket clients.
    pub clients: TaskTracker,
    pub shutdown: CancellationToken,
}

/// The feed's routes: the stream, and its CORS preflight (a browser asks
/// before it sends `Authorization` or `Last-Event-ID` across origins).
pub fn router(feed: Arc<Feed>) -> Router {
    Router::new().route(PATH, get(stream).options(preflight)).with_state(feed)
}

/// A refused request: an HTTP status (an `EventSource` stops for good on
/// any status but 200, which is right for all of these but 503), counted
/// under the same reasons as the WebSocket's refusals.
struct Refused {
    status: StatusCode,
    reason: &'static str,
    message: String,
}

impl Refused {
    fn new(status: StatusCode, reason: &'static str, message: impl Into<String>) -> Refused {
        Refused { status, reason, message: message.into() }
    }
}

/// Where a reader starts: after this id (`None`: from now on).
fn position(headers: &HeaderMap, query: &HashMap<String, String>) -> Result<Option<EventId>, String> {
    if let Some(last) = headers.get("last-event-id") {
        let last = last.to_str().map_err(|_| "Last-Event-ID is not text".to_string())?.trim();
        if !last.is_empty() {
            return parse_last_event_id(last).map(Some);
        }
    }
    query.get("since").map(|since| parse_since(since)).transpose()
}

/// `Last-Event-ID`: one of our ids (`<ms>-<seq>`), or EventStreams' JSON
/// array of `{topic, partition, timestamp | offset}`, whose newest
/// `timestamp` is taken as a time (its offsets mean nothing here).
fn parse_last_event_id(value: &str) -> Result<EventId, String> {
    if let Ok(id) = value.parse::<EventId>() {
        if value.contains('-') {
            return Ok(id);
        }
    }
    let positions: Vec<serde_json::Value> =
        serde_json::from_str(value).map_err(|_| format!("Last-Event-ID {:?} is not an event id", short(value)))?;
    let newest = positions.iter().filter_map(|p| p.get("timestamp")?.as_i64()).max();
    newest.map(from_time).ok_or_else(|| "Last-Event-ID has no timestamp to resume from".to_string())
}

/// `?since=`: an event id (`<ms>-<seq>`), milliseconds since the epoch, or
/// an ISO 8601 date-time.
fn parse_since(value: &str) -> Result<EventId, String> {
    let value = value.trim();
    if value.contains('-') && !value.contains(':') {
        return value.parse::<EventId>().map_err(|e| e.to_string());
    }
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse::<i64>().map(from_time).map_err(|_| format!("since={} is too large", short(value)));
    }
    recentchange::parse_rfc3339_ms(value).map(from_time).ok_or_else(|| {
        format!("since={:?} is not an event id, a time in milliseconds or an ISO 8601 date-time", short(value))
    })
}

/// The position right before every event received at or after `ms`.
fn from_time(ms: i64) -> EventId {
    EventId::new(u64::try_from(ms).unwrap_or(0), 0).prev()
}

fn short(s: &str) -> String {
    s.chars().take(64).collect()
}

/// The filter: `?filter=` (the WebSocket's JSON), or its fields one by one
/// (`namespaces=0,1&types=edit,create&exclude_bots=1&titles=A|B&wiki=enwiki,dewiki`).
fn filter(query: &HashMap<String, String>) -> Result<Filter, String> {
    let mut filter = match query.get("filter") {
        Some(json) => Filter::from_query(json)?,
        None => Filter::default(),
    };
    let list = |v: &str, sep: char| {
        v.split(sep).map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect::<Vec<_>>()
    };
    let flag = |v: &str| matches!(v, "1" | "true" | "yes" | "");
    if let Some(v) = query.get("namespaces").or_else(|| query.get("namespace")) {
        let ns = list(v, ',').iter().map(|n| n.parse::<i64>()).collect::<Result<Vec<_>, _>>();
        filter.namespaces = Some(ns.map_err(|_| format!("namespaces={:?} is not a list of numbers", short(v)))?);
    }
    if let Some(v) = query.get("types").or_else(|| query.get("type")) {
        let types = list(v, ',').iter().map(|t| serde_json::from_value(json!(t))).collect::<Result<Vec<_>, _>>();
        filter.types = Some(types.map_err(|_| format!("types={:?} names an unknown type", short(v)))?);
    }
    if let Some(v) = query.get("titles").or_else(|| query.get("title")) {
        filter.titles = Some(list(v, '|').into_iter().collect());
    }
    if let Some(v) = query.get("wikis").or_else(|| query.get("wiki")) {
        filter.wikis = Some(list(v, ',').into_iter().collect());
    }
    filter.exclude_bots |= query.get("exclude_bots").is_some_and(|v| flag(v));
    filter.exclude_minor |= query.get("exclude_minor").is_some_and(|v| flag(v));
    filter.addressed |= query.get("addressed").is_some_and(|v| flag(v));
    filter.check()?;
    Ok(filter)
}

/// `Authorization: Bearer <token>`, else `?token=` (an `EventSource`
/// cannot send headers).
fn token(headers: &HeaderMap, query: &HashMap<String, String>) -> Option<String> {
    let bearer = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| {
        let (scheme, token) = v.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_string())
    });
    bearer.or_else(|| query.get("token").cloned())
}

/// What an admitted request asked for.
struct Admitted {
    since: Option<EventId>,
    filter: Filter,
    identity: Option<Identity>,
}

/// The request's checks, in the WebSocket handshake's order: origin,
/// position, filter, token, the address's connection limit.
fn admit(
    feed: &Feed,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    ip: IpAddr,
    slot: &mut Slot,
) -> Result<Admitted, Refused> {
    if !feed.admission.origin_allowed(headers) {
        return Err(Refused::new(StatusCode::FORBIDDEN, "origin", "this origin may not read the feed"));
    }
    let bad = |message: String| Refused::new(StatusCode::BAD_REQUEST, "bad_request", message);
    let since = position(headers, query).map_err(bad)?;
    let filter = filter(query).map_err(bad)?;
    let unauthorized = |message: String| Refused::new(StatusCode::UNAUTHORIZED, "token", message);
    let identity = match token(headers, query) {
        Some(token) => {
            let verifier =
                feed.verifier.as_deref().ok_or_else(|| unauthorized("this gateway does not accept tokens".into()))?;
            Some(verifier.verify_new(&token).map_err(|err| unauthorized(err.to_string()))?)
        }
        None if feed.auth_mode == AuthMode::Private => return Err(unauthorized("a token is required".into())),
        None => None,
    };
    crate::client::check_filter(&filter, identity.as_ref()).map_err(|r| unauthorized(r.message().to_string()))?;
    if !feed.admission.count(slot, ip) {
        return Err(Refused::new(StatusCode::TOO_MANY_REQUESTS, "per_ip", format!("too many connections from {ip}")));
    }
    Ok(Admitted { since, filter, identity })
}

async fn stream(
    State(feed): State<Arc<Feed>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(held): Extension<Held>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let cors = cors(&feed, &headers);
    let refuse = |refused: Refused| {
        metrics::counter!(m::CLIENTS_REJECTED, "reason" => refused.reason).increment(1);
        tracing::info!(%peer, reason = refused.reason, detail = ?refused.message, "sse request refused");
        let mut response = (refused.status, format!("{}\n", refused.message)).into_response();
        if refused.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response.headers_mut().extend(cors.clone());
        response
    };
    if feed.shutdown.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
    }
    let Some(mut slot) = held.take() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "this connection streams already\n").into_response();
    };
    let ip = feed.admission.client_ip(peer.ip(), &headers);
    let admitted = match admit(&feed, &query, &headers, ip, &mut slot) {
        Ok(admitted) => admitted,
        Err(refused) => return refuse(refused),
    };
    if admitted.since.is_some() && !feed.hub.is_loaded() {
        // As for the WebSocket: no replay the gateway cannot back.
        if tokio::time::timeout_at(held.deadline(), feed.hub.wait_loaded()).await.is_err() {
            return refuse(Refused::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_loaded",
                "the event source is not loaded yet",
            ));
        }
    }
    let (tx, rx) = mpsc::channel::<Bytes>(1);
    let cut = held.stream();
    let reader = Reader::new(feed.clone(), peer, admitted, slot, tx, cut);
    feed.clients.spawn(reader.run());

    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (Ok::<_, Infallible>(chunk), rx))
    });
    let mut response = axum::body::Body::from_stream(body).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache, no-transform"));
    // nginx would otherwise hold events back in its buffer.
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    // One stream per connection: when it ends, so does the connection.
    h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    h.extend(cors);
    response
}

/// CORS headers for a request from a page: its origin when it is allowed
/// (any, without `--allowed-origins`), so `EventSource` and `fetch` may read.
fn cors(feed: &Feed, headers: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    let Some(origin) = headers.get(header::ORIGIN) else {
        return out;
    };
    if feed.admission.origin_allowed(headers) {
        out.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        out.insert(header::VARY, HeaderValue::from_static("Origin"));
    }
    out
}

/// The preflight of a cross-origin request with `Authorization` or
/// `Last-Event-ID`.
async fn preflight(State(feed): State<Arc<Feed>>, headers: HeaderMap) -> Response {
    let mut cors = cors(&feed, &headers);
    if cors.is_empty() {
        return StatusCode::FORBIDDEN.into_response();
    }
    cors.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET"));
    cors.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("authorization, last-event-id"));
    cors.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    (StatusCode::NO_CONTENT, cors).into_response()
}

/// The message of one event (`event: message`, `id:`, `data:` with the
/// recentchange JSON), made once and shared by every reader; `None` for an
/// event that is not a recent change.
pub fn message(envelope: &Envelope) -> Option<Bytes> {
    envelope
        .sse
        .get_or_init(|| {
            let rc = recentchange::to_recentchange(envelope.id, &envelope.event)?;
            Some(Bytes::from(format!("event: message\nid: {}\ndata: {rc}\n\n", envelope.id)))
        })
        .clone()
}

/// `event: lost`: events after `since` are gone up to `resume_after` (the
/// WebSocket's `lost` frame, `docs/protocol.md`). Its `id:` is
/// `resume_after`, so a reconnecting `EventSource` resumes from there, and
/// is not told again.
fn lost_message(since: EventId, resume_after: EventId, oldest: Option<EventId>) -> String {
    let mut data = json!({"since": since.to_string(), "resume_after": resume_after.to_string()});
    if let Some(oldest) = oldest {
        data["oldest"] = oldest.to_string().into();
    }
    format!("event: lost\nid: {resume_after}\ndata: {data}\n\n")
}

/// Why a reader stops.
enum Exit {
    /// The hub closed, the token ran out, or the history is unreadable:
    /// end the response; the client reconnects (with `Last-Event-ID`).
    End(&'static str),
    /// The client fell behind or stopped reading: drop the connection.
    Lagged(&'static str),
    /// The response is gone (the client left).
    Gone,
}

/// One SSE reader.
struct Reader {
    feed: Arc<Feed>,
    peer: SocketAddr,
    live: tokio::sync::broadcast::Receiver<Item>,
    identity: Option<Identity>,
    filter: Filter,
    /// Resume after this id (`Last-Event-ID`, `?since=`).
    since: Option<EventId>,
    /// The newest id at subscription: the replay runs up to it.
    upto: Option<EventId>,
    /// The newest id sent (or resumed after); as `Client::last_sent`.
    last_sent: Option<EventId>,
    tx: mpsc::Sender<Bytes>,
    /// Cancelled to drop the connection at once (see [`Held::stream`]).
    cut: CancellationToken,
    _slot: Slot,
    /// What goes out with the next chunk.
    out: BytesMut,
    /// When the oldest event in `out` arrived (for `--max-lag`).
    oldest: Option<std::time::Instant>,
}

impl Reader {
    fn new(
        feed: Arc<Feed>,
        peer: SocketAddr,
        admitted: Admitted,
        slot: Slot,
        tx: mpsc::Sender<Bytes>,
        cut: CancellationToken,
    ) -> Reader {
        let sub = feed.hub.subscribe(admitted.identity.as_ref());
        metrics::gauge!(m::SSE_CLIENTS_CONNECTED).increment(1.0);
        Reader {
            feed,
            peer,
            live: sub.live,
            identity: admitted.identity,
            filter: admitted.filter,
            since: admitted.since,
            upto: sub.last_id,
            last_sent: admitted.since.or(sub.last_visible),
            tx,
            cut,
            _slot: slot,
            out: BytesMut::new(),
            oldest: None,
        }
    }

    /// The reader's task: the opening comment, the replay, then live
    /// events and heartbeats until it must stop.
    async fn run(mut self) {
        tracing::debug!(peer = %self.peer, since = ?self.since.map(|s| s.to_string()), "sse reader connected");
        // EventStreams opens with a comment too; `retry:` makes a browser
        // come back within a second or two rather than its default three.
        self.out.put_slice(b":ok\nretry: 2000\n\n");
        let mut exit = self.flush(None).await.err();
        if exit.is_none() {
            if let Some(since) = self.since {
                exit = self.replay(since).await.err();
            }
        }
        let exit = match exit {
            Some(exit) => exit,
            None => self.live().await,
        };
        match exit {
            Exit::End(why) => tracing::debug!(peer = %self.peer, why, "sse reader ended"),
            Exit::Gone => tracing::debug!(peer = %self.peer, "sse reader left"),
            Exit::Lagged(reason) => {
                metrics::counter!(m::SLOW_CLIENT_DROPS).increment(1);
                tracing::info!(peer = %self.peer, reason, "sse reader lagged; connection dropped");
                self.cut.cancel();
            }
        }
    }

    /// What the reader missed after `since`, up to where its live stream
    /// starts: page by page, as `Client::replay` does, with `event: lost`
    /// where events are gone.
    async fn replay(&mut self, since: EventId) -> Result<(), Exit> {
        let mut replay = Replay::new(self.feed.hub.clone(), since, self.upto.unwrap_or(since));
        loop {
            let page = match replay.next().await {
                Ok(Step::Events(page)) => page,
                Ok(Step::Done) => break,
                Err(err) => {
                    tracing::warn!(peer = %self.peer, error = %format!("{err:#}"), "sse replay from the source's history failed");
                    return Err(Exit::End("history unavailable"));
                }
            };
            for envelope in &page {
                if !self.fresh(envelope) {
                    continue;
                }
                if let Some(gone) = replay.take_lost() {
                    let since = self.last_sent.unwrap_or(gone.since);
                    self.out.put_slice(lost_message(since, envelope.id.prev(), Some(envelope.id)).as_bytes());
                }
                self.put(envelope, false);
            }
            self.flush(None).await?;
            if self.live.len() > self.feed.hub.client_queue() {
                return Err(Exit::Lagged("queue_overflow"));
            }
        }
        if let Some(gone) = replay.take_lost() {
            let since = self.last_sent.unwrap_or(gone.since);
            self.out.put_slice(lost_message(since, gone.upto, Some(gone.upto.next())).as_bytes());
            self.last_sent = self.last_sent.max(Some(gone.upto));
            self.flush(None).await?;
        }
        Ok(())
    }

    /// Live events, in batches, and a heartbeat at each clock tick.
    async fn live(&mut self) -> Exit {
        loop {
            let expiry = self.expiry();
            let first = tokio::select! {
                biased;
                _ = sleep_until(expiry) => return Exit::End("token expired"),
                _ = self.tx.closed() => return Exit::Gone,
                item = self.live.recv() => item,
            };
            let mut item = match first {
                Ok(item) => item,
                Err(RecvError::Lagged(_)) => return Exit::Lagged("queue_overflow"),
                Err(RecvError::Closed) => return Exit::End("server shutting down"),
            };
            for taken in 1..=BATCH {
                match item {
                    Item::Event(envelope) => {
                        if self.fresh(&envelope) {
                            self.put(&envelope, true);
                        }
                    }
                    // A comment line: keeps proxies from closing an idle
                    // stream, and finds a reader that went away.
                    Item::Tick => self.out.put_slice(b":heartbeat\n\n"),
                    Item::Gap(floor) => {
                        if let Some(since) = self.last_sent.filter(|&last| last < floor) {
                            self.last_sent = Some(floor);
                            self.out.put_slice(lost_message(since, floor, None).as_bytes());
                        }
                    }
                }
                if taken == BATCH {
                    break;
                }
                item = match self.live.try_recv() {
                    Ok(item) => item,
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Lagged(_)) => return Exit::Lagged("queue_overflow"),
                    Err(TryRecvError::Closed) => {
                        let _ = self.flush(None).await;
                        return Exit::End("server shutting down");
                    }
                };
            }
            if let Some(oldest) = self.oldest {
                if oldest.elapsed() > self.feed.max_lag {
                    return Exit::Lagged("max_lag");
                }
            }
            if let Err(exit) = self.flush(self.oldest).await {
                return exit;
            }
        }
    }

    /// Whether the reader should be sent `envelope`: newer than its
    /// position, one it may see, one its filter wants, a recent change.
    fn fresh(&self, envelope: &Envelope) -> bool {
        let who = self.identity.as_ref();
        !self.last_sent.is_some_and(|last| envelope.id <= last)
            && auth::may_see(who, &envelope.event)
            && self.filter.matches(&envelope.event)
            && (!self.filter.addressed || auth::addressed_to(who, &envelope.event))
    }

    /// Adds one event's message to the next chunk; `live` ones count
    /// towards `--max-lag`.
    fn put(&mut self, envelope: &Envelope, live: bool) {
        self.last_sent = Some(envelope.id);
        let Some(message) = message(envelope) else {
            return;
        };
        self.out.put_slice(&message);
        if live {
            self.oldest.get_or_insert(envelope.received_at);
        }
        metrics::counter!(m::MESSAGES_SENT).increment(1);
        metrics::histogram!(m::DELIVERY_LATENCY).record(envelope.received_at.elapsed().as_secs_f64());
    }

    /// Hands the chunk to the response, within what is left of `--max-lag`
    /// for its oldest live event (or `--write-timeout`).
    async fn flush(&mut self, oldest: Option<std::time::Instant>) -> Result<(), Exit> {
        if self.out.is_empty() {
            return Ok(());
        }
        let mut until = tokio::time::Instant::now() + self.feed.write_timeout;
        if let Some(oldest) = oldest {
            let left = self.feed.max_lag.saturating_sub(oldest.elapsed());
            until = until.min(tokio::time::Instant::now() + left);
        }
        let chunk = self.out.split().freeze();
        self.oldest = None;
        match tokio::time::timeout_at(until, self.tx.send(chunk)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Exit::Gone),
            Err(_) if oldest.is_some() => Err(Exit::Lagged("max_lag")),
            Err(_) => Err(Exit::Lagged("write_stalled")),
        }
    }

    /// When the reader's token runs out (with the leeway): its stream ends
    /// then, and it reconnects with a fresh token.
    fn expiry(&self) -> Option<tokio::time::Instant> {
        let (identity, verifier) = (self.identity.as_ref()?, self.feed.verifier.as_deref()?);
        let left = identity.expires.saturating_add(verifier.leeway()).saturating_sub(auth::now_secs());
        Some(tokio::time::Instant::now() + Duration::from_secs(left.min(365 * 24 * 3600)))
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        metrics::gauge!(m::SSE_CLIENTS_CONNECTED).decrement(1.0);
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions() {
        assert_eq!(parse_since("1795568523000-4"), Ok(EventId::new(1_795_568_523_000, 4)));
        assert_eq!(parse_since("1795568523000"), Ok(EventId::new(1_795_568_522_999, u64::MAX)));
        assert_eq!(parse_since("2026-11-25T01:02:03Z"), Ok(EventId::new(1_795_568_522_999, u64::MAX)));
        assert!(parse_since("yesterday").is_err());
        assert!(parse_since("").is_err());
        assert_eq!(parse_last_event_id("5-1"), Ok(EventId::new(5, 1)));
        let es = r#"[{"topic":"eqiad.mediawiki.recentchange","partition":0,"timestamp":1795568523000},{"topic":"codfw.mediawiki.recentchange","partition":0,"timestamp":1795568524000}]"#;
        assert_eq!(parse_last_event_id(es), Ok(EventId::new(1_795_568_523_999, u64::MAX)));
        assert!(parse_last_event_id(r#"[{"topic":"t","partition":0,"offset":5}]"#).is_err());
        assert!(parse_last_event_id("nonsense").is_err());
    }

    #[test]
    fn filters_from_the_query() {
        let q = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let f =
            filter(&q(&[("namespaces", "0,1"), ("types", "edit,create"), ("exclude_bots", "1"), ("titles", "A|B C")]))
                .unwrap();
        assert_eq!(f.namespaces, Some(vec![0, 1]));
        assert_eq!(f.types.map(|t| t.len()), Some(2));
        assert!(f.exclude_bots && !f.exclude_minor);
        assert_eq!(f.titles.map(|t| t.len()), Some(2));
        assert!(filter(&q(&[("types", "nuke")])).is_err());
        assert!(filter(&q(&[("namespaces", "x")])).is_err());
        assert!(filter(&q(&[("filter", r#"{"exclude_minor":true}"#)])).unwrap().exclude_minor);
    }
}
