//! One WebSocket client: replay what it missed, then stream live events
//! through its filter, answer its messages, keep it alive, and close it
//! cleanly (1001 on shutdown, 4000 when it cannot keep up).
//!
//! Each client is one task that owns its socket, so a slow or dead socket
//! only ever blocks its own task; the hub's broadcast channel never waits.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::SinkExt;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::broadcast::Receiver;
use tokio_util::sync::CancellationToken;

use crate::admission::Slot;
use crate::auth::{self, Identity, Verifier};
use crate::event::{Envelope, Event, EventId};
use crate::filter::Filter;
use crate::hub::{Lost, Subscription};
use crate::source::redis_stream::StreamHistory;
use crate::metrics as m;

/// Close codes, see `docs/protocol.md`.
pub mod close {
    pub const NORMAL: u16 = 1000;
    pub const GOING_AWAY: u16 = 1001;
    pub const POLICY: u16 = 1008;
    pub const TOO_BIG: u16 = 1009;
    pub const LAGGED: u16 = 4000;
    pub const TOKEN_EXPIRED: u16 = 4001;
}

/// Per-connection limits, from [`Settings`](crate::config::Settings).
#[derive(Debug, Clone)]
pub struct Limits {
    pub ping_interval: Duration,
    pub idle_timeout: Duration,
    pub write_timeout: Duration,
    pub messages_per_second: u32,
}

/// What a client may send.
#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase", deny_unknown_fields)]
pub enum ClientMessage {
    Subscribe {
        #[serde(default)]
        filter: Filter,
    },
    Ping,
    /// A fresh token, before the current one expires (or, on a public
    /// gateway, to sign in an anonymous connection).
    Auth { token: String },
}

impl ClientMessage {
    /// Parses one text frame from a client. Filters are checked too, so a
    /// message that parses is one the gateway will act on.
    pub fn parse(text: &str) -> Result<ClientMessage, String> {
        let message: ClientMessage = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if let ClientMessage::Subscribe { filter } = &message {
            filter.check()?;
        }
        Ok(message)
    }
}

/// What the client asked for in its handshake.
#[derive(Debug)]
pub struct Request {
    pub peer: SocketAddr,
    /// Resume after this event id (`?since=`).
    pub since: Option<EventId>,
    /// The filter in force from the first event on (`?filter=`), so that a
    /// resuming client's replay is filtered too; `subscribe` replaces it.
    pub filter: Filter,
}

/// Why the client loop ended: decides the close frame, if any.
enum Exit {
    Close(u16, &'static str),
    /// The socket is gone or stuck; do not try to write to it again.
    Abandon,
}

/// Who the client is, and who checks its tokens.
pub struct Auth {
    pub identity: Option<Identity>,
    pub verifier: Option<Arc<Verifier>>,
    /// Held for the connection's life: the per-IP limit.
    pub slot: Option<Slot>,
}

/// One connected client: its socket, who it is, what it asked for.
pub struct Client {
    socket: WebSocket,
    peer: SocketAddr,
    /// Where it asked to resume (`?since=`), for the opening replay.
    since: Option<EventId>,
    limits: Limits,
    auth: Auth,
    filter: Filter,
    /// Newest event id sent; live events at or below it were replayed already.
    last_sent: Option<EventId>,
    last_heard: Instant,
    window_start: Instant,
    window_count: u32,
    sent: metrics::Counter,
    latency: metrics::Histogram,
}

impl Client {
    pub fn new(socket: WebSocket, request: Request, limits: Limits, auth: Auth) -> Client {
        let Request { peer, since, filter } = request;
        Client {
            socket,
            peer,
            since,
            limits,
            auth,
            filter,
            last_sent: since,
            last_heard: Instant::now(),
            window_start: Instant::now(),
            window_count: 0,
            sent: metrics::counter!(m::MESSAGES_SENT),
            latency: metrics::histogram!(m::DELIVERY_LATENCY),
        }
    }
}

/// Runs one client until it leaves, misbehaves, lags, or the gateway stops.
///
/// This future is most of what an idle connection costs, so it takes the
/// client ready-made (built by [`Client::new`]) and holds everything once;
/// rare, bulky steps (backfill, greeting, closing) are boxed. Not an `async
/// fn` on purpose: rustc gives an `async fn`'s parameters a second slot in
/// its future (about 800 bytes more here, measured).
#[allow(clippy::manual_async_fn)]
pub fn serve(
    mut client: Client,
    mut sub: Subscription,
    history: Option<Arc<StreamHistory>>,
    shutdown: CancellationToken,
) -> impl std::future::Future<Output = ()> + Send {
    async move {
        let connected = metrics::gauge!(m::CLIENTS_CONNECTED);
        connected.increment(1.0);
        tracing::debug!(peer = %client.peer, "client connected");
        if let (Some(lost), Some(history)) = (sub.lost, history) {
            Box::pin(backfill(&history, lost, &mut sub)).await;
        }
        let exit = client.run(sub, &shutdown).await;
        if let Exit::Close(code, reason) = exit {
            Box::pin(client.close(code, reason)).await;
        }
        connected.decrement(1.0);
        tracing::debug!(peer = %client.peer, "client left");
    }
}

/// Most events one client takes from its queue before it flushes and lets
/// the other branches of its loop (and other tasks) have a turn.
const BATCH: usize = 64;

/// Most events fetched from the stream for one resuming client beyond the
/// in-memory window; a client further behind is told it lost events.
const BACKFILL_LIMIT: usize = 50_000;

/// Fills a resuming client's gap from the stream when the window no longer
/// holds it. Only a complete backfill is used, so the replay has no hole.
async fn backfill(history: &StreamHistory, lost: Lost, sub: &mut Subscription) {
    match history.between(lost.since, lost.floor, BACKFILL_LIMIT).await {
        Ok(backfill) if backfill.complete => {
            sub.replay.splice(0..0, backfill.events);
            if !backfill.trimmed {
                sub.lost = None;
            }
        }
        Ok(_) => tracing::info!(since = %lost.since, "resume point too far back for a backfill"),
        Err(err) => tracing::warn!(error = %format!("{err:#}"), "backfill from the stream failed"),
    }
}

impl Client {
    async fn run(&mut self, sub: Subscription, shutdown: &CancellationToken) -> Exit {
        let Subscription { replay, lost, mut live, last_id } = sub;
        let since = self.since;
        // Boxed, like the other rarely taken paths below: a future reserves
        // room for its largest state for the whole connection, and idle
        // connections are most of a gateway's memory.
        if Box::pin(self.greet(since, replay, lost, last_id)).await.is_err() {
            return Exit::Abandon;
        }

        let mut ping = tokio::time::interval(self.limits.ping_interval);
        ping.tick().await; // the first tick is immediate
        let expiry = tokio::time::sleep_until(self.expiry());
        tokio::pin!(expiry);
        loop {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => return Exit::Close(close::GOING_AWAY, "server shutting down"),
                _ = &mut expiry => {
                    if self.expiry() <= tokio::time::Instant::now() {
                        return Exit::Close(close::TOKEN_EXPIRED, "token expired: reconnect with a new one");
                    }
                    expiry.as_mut().reset(self.expiry());
                }
                event = live.recv() => {
                    if let Err(exit) = self.deliver_queued(event, &mut live).await {
                        return exit;
                    }
                }
                incoming = self.socket.recv() => match incoming {
                    Some(Ok(message)) => {
                        if let Some(exit) = Box::pin(self.on_message(message)).await {
                            return exit;
                        }
                    }
                    Some(Err(err)) => return read_error(err),
                    None => return Exit::Abandon,
                },
                _ = ping.tick() => {
                    if self.last_heard.elapsed() > self.limits.idle_timeout {
                        return Exit::Close(close::NORMAL, "idle timeout");
                    }
                    if self.send(Message::Ping(Default::default())).await.is_err() {
                        return Exit::Abandon;
                    }
                }
            }
        }
    }

    /// The opening frames: `hello`, then `lost` and the replay when resuming.
    async fn greet(&mut self, since: Option<EventId>, replay: Vec<Arc<Envelope>>, lost: Option<Lost>, last_id: Option<EventId>) -> Result<(), ()> {
        let mut hello = json!({"op": "hello", "protocol": 1, "server": concat!("realtimenotify/", env!("CARGO_PKG_VERSION"))});
        if let Some(id) = last_id {
            hello["last_id"] = id.to_string().into();
        }
        self.send_json(hello).await?;
        if let Some(lost) = lost {
            let oldest = replay.first().map_or(lost.floor.next(), |e| e.id);
            self.send_json(json!({"op": "lost", "since": lost.since.to_string(), "oldest": oldest.to_string()})).await?;
        }
        if let Some(since) = since {
            let mut count = 0;
            for envelope in replay {
                count += usize::from(self.deliver(&envelope).await?);
            }
            self.send_json(json!({"op": "resumed", "since": since.to_string(), "count": count})).await?;
        }
        Ok(())
    }

    /// Delivers `first` and then whatever else is queued already (up to
    /// [`BATCH`]), and flushes once: under a burst a client costs one wake-up
    /// and one write per batch instead of one per event.
    async fn deliver_queued(&mut self, first: Result<Arc<Envelope>, RecvError>, live: &mut Receiver<Arc<Envelope>>) -> Result<(), Exit> {
        let mut envelope = first.map_err(|err| match err {
            RecvError::Lagged(missed) => lagged(missed),
            RecvError::Closed => Exit::Close(close::GOING_AWAY, "server shutting down"),
        })?;
        for taken in 1..=BATCH {
            self.deliver(&envelope).await.map_err(|()| stuck())?;
            if taken == BATCH {
                break; // the rest waits for the next turn of the loop
            }
            envelope = match live.try_recv() {
                Ok(envelope) => envelope,
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Lagged(missed)) => return Err(lagged(missed)),
                Err(TryRecvError::Closed) => return Err(Exit::Close(close::GOING_AWAY, "server shutting down")),
            };
        }
        self.flush().await.map_err(|()| stuck())
    }

    /// Queues one event if the filter wants it and it was not sent already;
    /// `Ok(true)` when it was queued (it goes out at the next flush).
    async fn deliver(&mut self, envelope: &Envelope) -> Result<bool, ()> {
        if self.last_sent.is_some_and(|last| envelope.id <= last) {
            return Ok(false);
        }
        self.last_sent = Some(envelope.id);
        if !self.wants(&envelope.event) {
            return Ok(false);
        }
        self.feed(Message::Text(envelope.frame.clone())).await?;
        self.sent.increment(1);
        self.latency.record(envelope.received_at.elapsed().as_secs_f64());
        Ok(true)
    }

    /// Whether this client may see `event` and asked for it.
    fn wants(&self, event: &Event) -> bool {
        let who = self.auth.identity.as_ref();
        auth::may_see(who, event)
            && self.filter.matches(event)
            && (!self.filter.addressed || auth::addressed_to(who, event))
    }

    async fn on_message(&mut self, message: Message) -> Option<Exit> {
        self.last_heard = Instant::now();
        if self.window_start.elapsed() >= Duration::from_secs(1) {
            self.window_start = Instant::now();
            self.window_count = 0;
        }
        self.window_count += 1;
        if self.window_count > self.limits.messages_per_second {
            metrics::counter!(m::CLIENTS_REJECTED, "reason" => "rate").increment(1);
            return Some(Exit::Close(close::POLICY, "too many messages"));
        }
        let reply = match message {
            Message::Text(text) => self.on_text(&text),
            Message::Binary(_) => json!({"op": "error", "message": "binary frames are not supported"}),
            Message::Close(_) => {
                // tungstenite queued the answering close frame; send it, so
                // the client sees a clean close (its code) rather than 1006.
                let _ = self.flush().await;
                return Some(Exit::Abandon);
            }
            Message::Ping(_) | Message::Pong(_) => return None,
        };
        self.send_json(reply).await.err().map(|()| Exit::Abandon)
    }

    fn on_text(&mut self, text: &str) -> serde_json::Value {
        match ClientMessage::parse(text) {
            Ok(ClientMessage::Subscribe { filter }) if filter.addressed && self.auth.identity.is_none() => {
                json!({"op": "error", "message": "the `addressed` filter needs an authenticated connection"})
            }
            Ok(ClientMessage::Subscribe { filter }) => {
                self.filter = filter;
                json!({"op": "subscribed", "filter": self.filter})
            }
            Ok(ClientMessage::Ping) => json!({"op": "pong"}),
            Ok(ClientMessage::Auth { token }) => self.on_auth(&token),
            Err(problem) => json!({"op": "error", "message": format!("bad message: {problem}")}),
        }
    }

    /// Takes a fresh token. A failed refresh keeps the current identity
    /// (until it expires): the client may retry with another token.
    fn on_auth(&mut self, token: &str) -> serde_json::Value {
        let Some(verifier) = &self.auth.verifier else {
            return json!({"op": "error", "message": "this gateway does not accept tokens"});
        };
        let checked = match &self.auth.identity {
            Some(current) => verifier.verify_refresh(token, current),
            None => verifier.verify_new(token),
        };
        match checked {
            Ok(identity) => {
                let reply = json!({"op": "authenticated", "user": identity.name, "expires": identity.expires});
                self.auth.identity = Some(identity);
                reply
            }
            Err(err) => json!({"op": "error", "message": err.to_string()}),
        }
    }

    /// When the connection's token runs out (with the skew leeway); far
    /// away for anonymous connections.
    fn expiry(&self) -> tokio::time::Instant {
        let far = tokio::time::Instant::now() + Duration::from_secs(365 * 24 * 3600);
        match (&self.auth.identity, &self.auth.verifier) {
            (Some(identity), Some(verifier)) => {
                // Saturating and capped: `exp` comes from a token, and an
                // absurd one must not overflow the clock arithmetic.
                let left = identity.expires.saturating_add(verifier.leeway()).saturating_sub(auth::now_secs());
                tokio::time::Instant::now() + Duration::from_secs(left.min(365 * 24 * 3600))
            }
            _ => far,
        }
    }

    async fn send_json(&mut self, value: serde_json::Value) -> Result<(), ()> {
        self.send(Message::Text(Utf8Bytes::from(value.to_string()))).await
    }

    /// Writes one frame and flushes.
    async fn send(&mut self, message: Message) -> Result<(), ()> {
        bounded(self.limits.write_timeout, self.socket.send(message)).await
    }

    /// Queues one frame; it goes out when the write buffer fills or at the
    /// next [`Client::flush`] (or `send`).
    async fn feed(&mut self, message: Message) -> Result<(), ()> {
        bounded(self.limits.write_timeout, self.socket.feed(message)).await
    }

    async fn flush(&mut self) -> Result<(), ()> {
        bounded(self.limits.write_timeout, self.socket.flush()).await
    }

    /// Sends a close frame and waits briefly for the client's reply.
    async fn close(&mut self, code: u16, reason: &'static str) {
        let frame = Message::Close(Some(CloseFrame { code, reason: Utf8Bytes::from_static(reason) }));
        if self.send(frame).await.is_err() {
            return;
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            while let Some(Ok(message)) = self.socket.recv().await {
                if matches!(message, Message::Close(_)) {
                    break;
                }
            }
        })
        .await;
    }
}

/// A socket write, given up after `limit`: a client whose socket will not
/// drain is abandoned rather than allowed to pin memory.
async fn bounded<E>(limit: Duration, write: impl std::future::Future<Output = Result<(), E>>) -> Result<(), ()> {
    match tokio::time::timeout(limit, write).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) | Err(_) => Err(()),
    }
}

/// A client whose socket would not take its events within the write timeout:
/// abandon it (no close frame could get through either).
fn stuck() -> Exit {
    metrics::counter!(m::SLOW_CLIENT_DROPS).increment(1);
    Exit::Abandon
}

/// A client fell further behind than its queue: close it, it resumes with `since`.
fn lagged(missed: u64) -> Exit {
    metrics::counter!(m::SLOW_CLIENT_DROPS).increment(1);
    tracing::info!(missed, "client lagged; closing with 4000");
    Exit::Close(close::LAGGED, "lagged: reconnect with since")
}

/// A frame over `--max-client-frame` surfaces as tungstenite's capacity
/// error; tell the client why (1009). Anything else means the socket is gone.
fn read_error(err: axum::Error) -> Exit {
    let inner = err.into_inner();
    match inner.downcast_ref::<tungstenite::Error>() {
        Some(tungstenite::Error::Capacity(_)) => {
            metrics::counter!(m::CLIENTS_REJECTED, "reason" => "frame_too_big").increment(1);
            Exit::Close(close::TOO_BIG, "frame too big")
        }
        _ => Exit::Abandon,
    }
}
