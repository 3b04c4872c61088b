//! One WebSocket client: replay what it missed, then stream live events
//! through its filter, answer its messages, keep it alive, and close it
//! cleanly (1001 on shutdown, 4000 when it cannot keep up).
//!
//! Each client is one task that owns its socket, so a slow or dead socket
//! only ever blocks its own task; the hub's broadcast channel never waits.
//!
//! "Cannot keep up" is bounded in time, not only in events: a client whose
//! oldest undelivered event is older than `--max-lag` is closed with 4000,
//! and so is one whose socket does not take a write within what is left of
//! that (or `--write-timeout`). The kernel's buffers would hide the lag
//! otherwise; `listener::accept` keeps them small for the same reason.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::broadcast::Receiver;
use tokio::time::Sleep;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::{Message, Utf8Bytes};

use crate::admission::Slot;
use crate::auth::{self, Identity, Verifier};
use crate::event::{Envelope, Event, EventId};
use crate::filter::Filter;
use crate::history::{Replay, Step};
use crate::hub::{Hub, Item};
use crate::metrics as m;
use crate::protocol::{close, Refusal};
use crate::socket::{text_frame, Socket};

/// Per-connection limits, from [`Settings`](crate::config::Settings).
#[derive(Debug, Clone)]
pub struct Limits {
    pub idle_timeout: Duration,
    pub write_timeout: Duration,
    /// How old a client's oldest undelivered event may get before the
    /// client is closed with 4000.
    pub max_lag: Duration,
    pub messages_per_second: u32,
}

/// How long a lagging client's close frame may take to go out: its socket
/// is likely full, and it is being dropped for being slow.
const LAGGED_CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// What every client shares, held once by the gateway instead of once per
/// connection.
pub struct Shared {
    pub limits: Limits,
    /// Checks fresh tokens (`auth` messages); `None` when tokens are off.
    pub verifier: Option<Arc<Verifier>>,
    /// Where events come from, and the history behind them.
    pub hub: Arc<Hub>,
    /// When the gateway started: [`Shared::now`] counts from here.
    started: Instant,
    connected: metrics::Gauge,
    sent: metrics::Counter,
    latency: metrics::Histogram,
}

impl Shared {
    /// The clients' clock: milliseconds since the gateway started, in four
    /// bytes. It wraps every 49 days, which is fine for what it times (gaps
    /// of seconds to minutes, taken with `wrapping_sub`).
    fn now(&self) -> u32 {
        self.started.elapsed().as_millis() as u32
    }

    /// The token verifier; without one, this gateway takes no tokens at
    /// all (the one place that says so, for the handshake and `auth` alike).
    pub fn tokens(&self) -> Result<&Verifier, Refusal> {
        self.verifier.as_deref().ok_or_else(|| Refusal::Unauthorized("this gateway does not accept tokens".into()))
    }

    pub fn new(limits: Limits, verifier: Option<Arc<Verifier>>, hub: Arc<Hub>) -> Shared {
        Shared {
            limits,
            verifier,
            hub,
            started: Instant::now(),
            connected: metrics::gauge!(m::CLIENTS_CONNECTED),
            sent: metrics::counter!(m::MESSAGES_SENT),
            latency: metrics::histogram!(m::DELIVERY_LATENCY),
        }
    }
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
    Auth {
        token: String,
    },
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

/// The `addressed` filter picks events by who the client is, so it needs a
/// token: the one place that says so, for the handshake's `?filter=` and for
/// `subscribe` alike.
pub fn check_filter(filter: &Filter, identity: Option<&Identity>) -> Result<(), Refusal> {
    if filter.addressed && identity.is_none() {
        return Err(Refusal::Unauthorized("the `addressed` filter needs a token".into()));
    }
    Ok(())
}

/// What the handshake established: who connects, and what it asked for.
pub struct Request {
    pub peer: SocketAddr,
    /// Resume after this event id (`?since=`).
    pub since: Option<EventId>,
    /// The filter in force from the first event on (`?filter=`), so that a
    /// resuming client's replay is filtered too; `subscribe` replaces it.
    pub filter: Filter,
    /// From the token, if the client presented one.
    pub identity: Option<Identity>,
    /// Held for the connection's life: the per-IP limit.
    pub slot: Slot,
}

/// What woke an idle client.
enum Wake {
    Expiry,
    Hub(Result<Item, RecvError>),
    Socket(Option<Result<Message, tungstenite::Error>>),
}

/// Why the client loop ended: decides the close frame, if any.
enum Exit {
    Close(u16, &'static str),
    /// The client fell behind: close 4000, and log why.
    Lagged(Lag),
    /// The socket is gone; do not try to write to it again.
    Abandon,
}

/// How a client fell behind.
#[derive(Debug, Clone, Copy)]
enum Lag {
    /// More than `--client-queue` events behind: this many were waiting.
    Queue(u64),
    /// Its oldest undelivered event was this old, more than `--max-lag`
    /// (found when taking it, or while its write waited for the socket).
    Behind(Duration),
    /// Its socket did not take a write within `--write-timeout`.
    Stalled,
}

impl Lag {
    fn reason(self) -> &'static str {
        match self {
            Lag::Queue(_) => "queue_overflow",
            Lag::Behind(_) => "max_lag",
            Lag::Stalled => "write_stalled",
        }
    }
}

/// Why a write did not complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WriteError {
    /// Its deadline passed: the socket would not drain.
    Stalled,
    /// The connection is gone.
    Gone,
}

impl From<WriteError> for Exit {
    fn from(err: WriteError) -> Exit {
        match err {
            WriteError::Stalled => Exit::Lagged(Lag::Stalled),
            WriteError::Gone => Exit::Abandon,
        }
    }
}

/// One connected client: its socket, its live stream, who it is, what it
/// asked for.
///
/// This struct is most of what an idle connection costs. So whatever most
/// clients lack is boxed behind an `Option` (an identity, a filter, a token
/// timer), whatever all share sits in [`Shared`], and times are four-byte
/// stamps on the gateway's clock ([`Shared::now`]), not 16-byte `Instant`s.
pub struct Client {
    socket: Socket,
    live: Receiver<Item>,
    shared: Arc<Shared>,
    peer: SocketAddr,
    identity: Option<Box<Identity>>,
    /// Fires when the token runs out; only for authenticated clients.
    expiry: Option<Pin<Box<Sleep>>>,
    /// `None` takes everything.
    filter: Option<Box<Filter>>,
    _slot: Slot,
    /// Where the client is: the newest id it was sent, or the one it resumed
    /// after (or, for a new client, the newest it may see). Events at or
    /// below it are not sent (again); only ids the client may see get here.
    last_sent: Option<EventId>,
    /// When the client last sent a frame (for the idle timeout).
    heard_at: u32,
    /// When the current one-second window for counting its messages began,
    /// and how many it sent in it.
    window_at: u32,
    window_count: u32,
}

impl Client {
    /// Makes a client of an upgraded connection: subscribes it to the hub and
    /// sends the opening frames (`hello`, then, when resuming, the replay,
    /// with `lost` where events are gone). `None` if the socket failed
    /// meanwhile, or the replay ended the connection (closed with its code).
    pub async fn open(socket: Socket, request: Request, shared: Arc<Shared>) -> Option<Client> {
        let Request { peer, since, filter, identity, slot } = request;
        let sub = shared.hub.subscribe(identity.as_ref());
        shared.connected.increment(1.0);
        tracing::debug!(%peer, "client connected");
        let now = shared.now();
        let mut client = Client {
            socket,
            live: sub.live,
            shared,
            peer,
            identity: None,
            expiry: None,
            filter: None,
            _slot: slot,
            last_sent: since.or(sub.last_visible),
            heard_at: now,
            window_at: now,
            window_count: 0,
        };
        client.set_filter(filter);
        if let Some(identity) = identity {
            client.sign_in(identity);
        }
        let mut opened = client.hello(sub.last_visible).await.map_err(Exit::from);
        if let (Ok(()), Some(since)) = (&opened, since) {
            // Boxed: a rare path, and a big future.
            opened = Box::pin(client.replay(since, sub.last_id.unwrap_or(since))).await;
        }
        match opened {
            Ok(()) => Some(client),
            Err(exit) => {
                Box::pin(client.exit(exit)).await;
                None
            }
        }
    }

    /// Takes `identity` and (re)arms the token timer for it.
    fn sign_in(&mut self, identity: Identity) {
        self.identity = Some(Box::new(identity));
        let at = self.expiry_at();
        match (&mut self.expiry, at) {
            (Some(timer), Some(at)) => timer.as_mut().reset(at),
            (expiry, at) => *expiry = at.map(|at| Box::pin(tokio::time::sleep_until(at))),
        }
    }

    fn set_filter(&mut self, filter: Filter) {
        self.filter = (filter != Filter::default()).then(|| Box::new(filter));
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.shared.connected.decrement(1.0);
        tracing::debug!(peer = %self.peer, "client left");
    }
}

/// How a connection becomes a client: the upgrade and [`Client::open`];
/// `None` when the connection failed on the way.
pub type Opening = Pin<Box<dyn std::future::Future<Output = Option<Client>> + Send>>;

/// A connection's task: opens the client, then runs it until it leaves,
/// misbehaves, lags, or the hub closes.
///
/// This future lives as long as the connection, and idle connections are
/// most of a gateway's memory. So the opening comes boxed (its room is
/// freed once the client is open) and so do the bulky, rarer steps; what
/// stays is the client and the loop. Not an `async fn` on purpose: rustc
/// would give the parameter a second slot.
#[allow(clippy::manual_async_fn)]
pub fn serve(opening: Opening) -> impl std::future::Future<Output = ()> + Send {
    async move {
        let Some(mut client) = opening.await else {
            return;
        };
        let exit = client.run().await;
        Box::pin(client.exit(exit)).await;
    }
}

/// Most events one client takes from its queue before it flushes and lets
/// the other branches of its loop (and other tasks) have a turn.
const BATCH: usize = 64;

impl Client {
    async fn run(&mut self) -> Exit {
        loop {
            // An idle client waits here on three things: its token's expiry
            // (if it has one), the hub (events, clock ticks, the close), its
            // socket. What woke it is handled after the wait, in boxed
            // futures: a future reserves room for its largest state for as
            // long as it lives, and this one is idle most of the time.
            let woken = tokio::select! {
                biased;
                _ = expired(&mut self.expiry) => Wake::Expiry,
                item = self.live.recv() => Wake::Hub(item),
                incoming = self.socket.next() => Wake::Socket(incoming),
            };
            if let Some(exit) = Box::pin(self.on_wake(woken)).await {
                return exit;
            }
        }
    }

    async fn on_wake(&mut self, woken: Wake) -> Option<Exit> {
        match woken {
            Wake::Expiry => self.on_expiry(),
            Wake::Hub(item) => self.take_queued(item).await.err(),
            Wake::Socket(Some(Ok(message))) => self.on_message(message).await,
            Wake::Socket(Some(Err(err))) => Some(read_error(err)),
            Wake::Socket(None) => Some(Exit::Abandon),
        }
    }

    /// The first frame. `last_id` is the newest id this client may see, so
    /// a new client has a position to resume from without learning of
    /// events it may not see.
    async fn hello(&mut self, last_id: Option<EventId>) -> Result<(), WriteError> {
        let mut hello = json!({"op": "hello", "protocol": crate::protocol::VERSION,
            "server": concat!("realtimenotify/", env!("CARGO_PKG_VERSION"))});
        if let Some(id) = last_id {
            hello["last_id"] = id.to_string().into();
        }
        self.send_json(hello).await
    }

    /// Sends what the client missed after `since`, up to `upto` (where its
    /// live stream starts), then `resumed`. Page by page: the next page is
    /// read only once the last one was written, so a client that does not
    /// read holds one page (and then is dropped by the write timeout). The
    /// replayed events are old by nature: `--max-lag` is not applied to them.
    ///
    /// Where events are gone, the client gets `lost` right before the next
    /// event it is sent: `resume_after` is then the id before that event,
    /// so a client that resumes from it gets that event again and no
    /// `lost` again; and no id of an event it may not see reaches it.
    async fn replay(&mut self, since: EventId, upto: EventId) -> Result<(), Exit> {
        let mut replay = Replay::new(self.shared.hub.clone(), since, upto);
        let mut count = 0usize;
        loop {
            let until = self.write_deadline();
            let page = match replay.next().await {
                Ok(Step::Events(page)) => page,
                Ok(Step::Done) => break,
                Err(err) => {
                    tracing::warn!(peer = %self.peer, error = %format!("{err:#}"), "replay from the source's history failed");
                    return Err(Exit::Close(close::TRY_AGAIN_LATER, "history unavailable: reconnect with since"));
                }
            };
            let mut frames = Vec::new();
            for envelope in &page {
                if !self.fresh(envelope) {
                    continue;
                }
                if let Some(gone) = replay.take_lost() {
                    let lost = lost_frame(self.last_sent.unwrap_or(gone.since), envelope.id.prev(), Some(envelope.id));
                    frames.push(json_frame(&lost));
                }
                count += usize::from(self.take(envelope, &mut frames));
            }
            self.write(&frames, until).await?;
            drop(frames);
            drop(page);
            if self.shared.hub.is_closed() {
                return Err(going_away());
            }
            // Live events queue up while the client replays; past its queue
            // it is told to come back, from where it got.
            if self.live.len() > self.shared.hub.client_queue() {
                return Err(Exit::Lagged(Lag::Queue(self.live.len() as u64)));
            }
        }
        if let Some(gone) = replay.take_lost() {
            // Nothing after the loss for this client: resume after it.
            let lost = lost_frame(self.last_sent.unwrap_or(gone.since), gone.upto, Some(gone.upto.next()));
            self.last_sent = self.last_sent.max(Some(gone.upto));
            let until = self.write_deadline();
            self.write(&[json_frame(&lost)], until).await?;
        }
        let resumed = json!({"op": "resumed", "since": since.to_string(), "count": count});
        Ok(self.send_json(resumed).await?)
    }

    /// Takes `first` and then whatever else is queued already (up to
    /// [`BATCH`]), and writes once: under a burst a client costs one wake-up
    /// and one `writev` per batch instead of one per event, and at any rate
    /// an event costs a client a reference to the frame every client shares
    /// (see [`crate::socket`]).
    ///
    /// Everything taken before went out with the last flush, so the first
    /// event taken here is the client's oldest undelivered one: its age is
    /// how far behind the client is, and the writes of this batch get only
    /// what is left of `--max-lag` (see [`Client::lag_deadline`]).
    async fn take_queued(&mut self, first: Result<Item, RecvError>) -> Result<(), Exit> {
        let mut item = first.map_err(|err| match err {
            RecvError::Lagged(missed) => Exit::Lagged(Lag::Queue(missed)),
            RecvError::Closed => going_away(),
        })?;
        // When the oldest event of the batch arrived, and the deadline it sets.
        let mut oldest: Option<(std::time::Instant, tokio::time::Instant)> = None;
        let mut frames = Vec::new();
        for taken in 1..=BATCH {
            match item {
                Item::Event(envelope) => {
                    if oldest.is_none() {
                        oldest = Some((envelope.received_at, self.lag_deadline(&envelope)?));
                    }
                    self.take(&envelope, &mut frames);
                }
                // The ping is queued in tungstenite, and so goes out before
                // the frames taken so far: a control frame may come anywhere.
                Item::Tick => self.on_tick().await?,
                Item::Gap(floor) => frames.extend(self.on_gap(floor)),
            }
            if taken == BATCH {
                break; // the rest waits for the next turn of the loop
            }
            item = match self.live.try_recv() {
                Ok(item) => item,
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Lagged(missed)) => return Err(Exit::Lagged(Lag::Queue(missed))),
                Err(TryRecvError::Closed) => return Err(going_away()),
            };
        }
        let until = oldest.map_or_else(|| self.write_deadline(), |(_, until)| until);
        self.write(&frames, until).await.map_err(|err| self.write_failed(err, oldest))
    }

    /// The deadline for writing `oldest`, the oldest event this client has
    /// not been written yet: when it turns `--max-lag` old (or after
    /// `--write-timeout`, if that comes first). An error if it is that old
    /// already.
    fn lag_deadline(&self, oldest: &Envelope) -> Result<tokio::time::Instant, Exit> {
        let age = oldest.received_at.elapsed();
        let left = self.shared.limits.max_lag.checked_sub(age).ok_or(Exit::Lagged(Lag::Behind(age)))?;
        Ok(self.write_deadline().min(tokio::time::Instant::now() + left))
    }

    /// Why a write of a batch whose oldest event arrived at `oldest` failed:
    /// its socket was stuck until that event was `--max-lag` old, or for
    /// `--write-timeout`, or it is gone.
    fn write_failed(&self, err: WriteError, oldest: Option<(std::time::Instant, tokio::time::Instant)>) -> Exit {
        match (err, oldest) {
            (WriteError::Stalled, Some((received, _))) if received.elapsed() >= self.shared.limits.max_lag => {
                Exit::Lagged(Lag::Behind(received.elapsed()))
            }
            (err, _) => err.into(),
        }
    }

    /// The deadline of a write that starts now: `--write-timeout` away.
    fn write_deadline(&self) -> tokio::time::Instant {
        tokio::time::Instant::now() + self.shared.limits.write_timeout
    }

    /// The clock ticked (see [`Item::Tick`]): close a client that has been
    /// silent too long, else queue a ping (its pong keeps it alive).
    async fn on_tick(&mut self) -> Result<(), Exit> {
        let silent = self.shared.now().wrapping_sub(self.heard_at);
        if u128::from(silent) > self.shared.limits.idle_timeout.as_millis() {
            return Err(Exit::Close(close::NORMAL, "idle timeout"));
        }
        let until = self.write_deadline();
        Ok(self.feed(Message::Ping(Default::default()), until).await?)
    }

    /// The source may have lost events up to `floor` (see [`Item::Gap`]):
    /// tell a client whose position is older, mid-stream (the frame to
    /// send), and move it on.
    fn on_gap(&mut self, floor: EventId) -> Option<Bytes> {
        let since = self.last_sent.filter(|&last| last < floor)?;
        self.last_sent = Some(floor);
        Some(json_frame(&lost_frame(since, floor, None)))
    }

    /// The token timer fired: close the connection if its token is really
    /// out (a refresh may have moved the expiry on), else re-arm.
    fn on_expiry(&mut self) -> Option<Exit> {
        match self.expiry_at() {
            Some(at) if at > tokio::time::Instant::now() => {
                if let Some(timer) = &mut self.expiry {
                    timer.as_mut().reset(at);
                }
                None
            }
            Some(_) => Some(Exit::Close(close::TOKEN_EXPIRED, "token expired: reconnect with a new one")),
            None => {
                self.expiry = None;
                None
            }
        }
    }

    /// Whether the client should be sent `envelope`: newer than its
    /// position, one it may see, and one its filter wants.
    fn fresh(&self, envelope: &Envelope) -> bool {
        !self.last_sent.is_some_and(|last| envelope.id <= last) && self.wants(&envelope.event)
    }

    /// Adds the event's frame to `frames` if the client should be sent it
    /// ([`Client::fresh`]); `true` when it was taken (it goes out with the
    /// next [`Client::write`]).
    fn take(&mut self, envelope: &Envelope, frames: &mut Vec<Bytes>) -> bool {
        if !self.fresh(envelope) {
            return false;
        }
        self.last_sent = Some(envelope.id);
        frames.push(envelope.wire.clone());
        self.shared.sent.increment(1);
        self.shared.latency.record(envelope.received_at.elapsed().as_secs_f64());
        true
    }

    /// Whether this client may see `event` and asked for it.
    fn wants(&self, event: &Event) -> bool {
        let who = self.identity.as_deref();
        auth::may_see(who, event)
            && self
                .filter
                .as_deref()
                .map_or(true, |filter| filter.matches(event) && (!filter.addressed || auth::addressed_to(who, event)))
    }

    async fn on_message(&mut self, message: Message) -> Option<Exit> {
        let now = self.shared.now();
        self.heard_at = now;
        if now.wrapping_sub(self.window_at) >= 1000 {
            self.window_at = now;
            self.window_count = 0;
        }
        self.window_count += 1;
        if self.window_count > self.shared.limits.messages_per_second {
            metrics::counter!(m::CLIENTS_REJECTED, "reason" => "rate").increment(1);
            return Some(Exit::Close(close::POLICY, "too many messages"));
        }
        let reply = match message {
            Message::Text(text) => self.on_text(&text),
            Message::Binary(_) => json!({"op": "error", "message": "binary frames are not supported"}),
            Message::Close(_) => {
                // tungstenite queued the answering close frame; send it, so
                // the client sees a clean close (its code) rather than 1006.
                let until = self.write_deadline();
                let _ = self.flush(until).await;
                return Some(Exit::Abandon);
            }
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => return None,
        };
        self.send_json(reply).await.err().map(Exit::from)
    }

    fn on_text(&mut self, text: &str) -> serde_json::Value {
        match ClientMessage::parse(text) {
            Ok(ClientMessage::Subscribe { filter }) => match check_filter(&filter, self.identity.as_deref()) {
                Ok(()) => {
                    let reply = json!({"op": "subscribed", "filter": filter});
                    self.set_filter(filter);
                    reply
                }
                Err(refusal) => json!({"op": "error", "message": refusal.message()}),
            },
            Ok(ClientMessage::Ping) => json!({"op": "pong"}),
            Ok(ClientMessage::Auth { token }) => self.on_auth(&token),
            Err(problem) => json!({"op": "error", "message": format!("bad message: {problem}")}),
        }
    }

    /// Takes a fresh token. A failed refresh keeps the current identity
    /// (until it expires): the client may retry with another token.
    fn on_auth(&mut self, token: &str) -> serde_json::Value {
        let verifier = match self.shared.tokens() {
            Ok(verifier) => verifier,
            Err(refusal) => return json!({"op": "error", "message": refusal.message()}),
        };
        let checked = match self.identity.as_deref() {
            Some(current) => verifier.verify_refresh(token, current),
            None => verifier.verify_new(token),
        };
        match checked {
            Ok(identity) => {
                let reply = json!({"op": "authenticated", "user": identity.name, "expires": identity.expires});
                self.sign_in(identity);
                reply
            }
            Err(err) => json!({"op": "error", "message": err.to_string()}),
        }
    }

    /// When the connection's token runs out (with the skew leeway); `None`
    /// for an anonymous connection.
    fn expiry_at(&self) -> Option<tokio::time::Instant> {
        let (identity, verifier) = (self.identity.as_deref()?, self.shared.verifier.as_deref()?);
        // Saturating and capped: `exp` comes from a token, and an absurd one
        // must not overflow the clock arithmetic.
        let left = identity.expires.saturating_add(verifier.leeway()).saturating_sub(auth::now_secs());
        Some(tokio::time::Instant::now() + Duration::from_secs(left.min(365 * 24 * 3600)))
    }

    /// Writes one JSON frame, within `--write-timeout`.
    async fn send_json(&mut self, value: serde_json::Value) -> Result<(), WriteError> {
        let until = self.write_deadline();
        self.write(&[json_frame(&value)], until).await
    }

    /// Writes `frames` after whatever is queued (a ping), and all of that.
    async fn write(&mut self, frames: &[Bytes], until: tokio::time::Instant) -> Result<(), WriteError> {
        let socket = &mut self.socket;
        bounded(until, async move {
            socket.write_frames(frames).await?;
            socket.flush().await
        })
        .await
    }

    /// Writes one frame and flushes.
    async fn send(&mut self, message: Message, until: tokio::time::Instant) -> Result<(), WriteError> {
        bounded(until, self.socket.send(message)).await
    }

    /// Queues one frame; it goes out when the write buffer fills or at the
    /// next [`Client::flush`] (or `send`).
    async fn feed(&mut self, message: Message, until: tokio::time::Instant) -> Result<(), WriteError> {
        bounded(until, self.socket.feed(message)).await
    }

    async fn flush(&mut self, until: tokio::time::Instant) -> Result<(), WriteError> {
        bounded(until, self.socket.flush()).await
    }

    /// Ends the connection as `exit` says: a close frame with its code, a
    /// lagging client's 4000, or nothing for a socket that is gone.
    async fn exit(&mut self, exit: Exit) {
        match exit {
            Exit::Close(code, reason) => {
                let until = self.write_deadline();
                self.close(code, reason, until).await;
            }
            Exit::Lagged(lag) => self.lagged(lag).await,
            Exit::Abandon => {}
        }
    }

    /// Sends a close frame (by `until`) and waits briefly for the client's
    /// reply; whether the frame went out.
    async fn close(&mut self, code: u16, reason: &'static str, until: tokio::time::Instant) -> bool {
        let frame =
            Message::Close(Some(CloseFrame { code: CloseCode::from(code), reason: Utf8Bytes::from_static(reason) }));
        if self.send(frame, until).await.is_err() {
            return false;
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            while let Some(Ok(message)) = self.socket.next().await {
                if matches!(message, Message::Close(_)) {
                    break;
                }
            }
        })
        .await;
        true
    }

    /// Closes a client that fell behind with 4000 (it resumes with
    /// `since`), and says so in the log. Its socket may be full: the close
    /// frame gets [`LAGGED_CLOSE_TIMEOUT`], and if it cannot go out, the
    /// connection is reset rather than left to drain stale events.
    async fn lagged(&mut self, lag: Lag) {
        metrics::counter!(m::SLOW_CLIENT_DROPS).increment(1);
        let until = tokio::time::Instant::now() + LAGGED_CLOSE_TIMEOUT;
        let sent = self.close(close::LAGGED, "lagged: reconnect with since", until).await;
        if !sent {
            self.socket.reset_on_close();
        }
        let (missed, lag_ms) = match lag {
            Lag::Queue(missed) => (Some(missed), None),
            Lag::Behind(age) => (None, Some(age.as_millis() as u64)),
            Lag::Stalled => (None, None),
        };
        tracing::info!(peer = %self.peer, reason = lag.reason(), missed, lag_ms, close_sent = sent,
            "client lagged; closed with 4000");
    }
}

/// `{"op":"lost"}` (`docs/protocol.md`): after `since`, events are gone up
/// to `resume_after`, the id to resume after from now on; `oldest`, kept
/// for older browsers, is the first id still there.
fn lost_frame(since: EventId, resume_after: EventId, oldest: Option<EventId>) -> serde_json::Value {
    let mut lost = json!({"op": "lost", "since": since.to_string(), "resume_after": resume_after.to_string()});
    if let Some(oldest) = oldest {
        lost["oldest"] = oldest.to_string().into();
    }
    lost
}

/// A text frame of `value` ([`crate::socket::text_frame`]).
fn json_frame(value: &serde_json::Value) -> Bytes {
    text_frame(value.to_string().as_bytes())
}

/// A socket write, given up at `until`: a client whose socket will not
/// drain is closed rather than allowed to pin memory or fall further behind.
async fn bounded<E>(
    until: tokio::time::Instant,
    write: impl std::future::Future<Output = Result<(), E>>,
) -> Result<(), WriteError> {
    match tokio::time::timeout_at(until, write).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(WriteError::Gone),
        Err(_) => Err(WriteError::Stalled),
    }
}

/// The hub closed: the gateway is stopping.
fn going_away() -> Exit {
    Exit::Close(close::GOING_AWAY, "server shutting down")
}

/// Waits until the token timer fires; forever for a client without one.
async fn expired(timer: &mut Option<Pin<Box<Sleep>>>) {
    match timer {
        Some(timer) => timer.as_mut().await,
        None => std::future::pending().await,
    }
}

/// A frame over `--max-client-frame` surfaces as tungstenite's capacity
/// error; tell the client why (1009). Anything else means the socket is gone.
fn read_error(err: tungstenite::Error) -> Exit {
    match err {
        tungstenite::Error::Capacity(_) => {
            metrics::counter!(m::CLIENTS_REJECTED, "reason" => "frame_too_big").increment(1);
            Exit::Close(close::TOO_BIG, "frame too big")
        }
        _ => Exit::Abandon,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(verifier: Option<Arc<Verifier>>) -> Shared {
        let limits = Limits {
            idle_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(10),
            max_lag: Duration::from_secs(5),
            messages_per_second: 20,
        };
        Shared::new(limits, verifier, Arc::new(Hub::new(16, 16, 16384, None)))
    }

    /// What an idle connection costs is mostly these (see `bench/run.sh`,
    /// scenario idle): the client, its socket, and the task's future, which
    /// keeps room for the largest state of its loop. The bounds are what
    /// they measure today, so a change that makes every connection bigger
    /// fails here first, and says by how much.
    #[test]
    fn what_each_connection_holds_stays_small() {
        use std::mem::size_of;
        let opening: Opening = Box::pin(async { None });
        let task = serve(opening);
        // Raised by 8 bytes each when the SSE feed's `wikis` filter joined `Filter` and the
        // RabbitMQ source's crates joined the build (issue 11, 13): growth is allowed, but
        // only on purpose, with the bound moved here.
        let sizes = [
            ("Client", size_of::<Client>(), 472),
            ("Socket", size_of::<Socket>(), 320),
            ("client::serve future", std::mem::size_of_val(&task), 656),
        ];
        for (what, size, _) in sizes {
            eprintln!("{what}: {size} bytes");
        }
        for (what, size, bound) in sizes {
            assert!(size <= bound, "{what} is {size} bytes, more than {bound}");
        }
    }

    /// The handshake (`server::admit`) and the messages (`Client::on_text`,
    /// `Client::on_auth`) ask the same two functions, so they cannot drift.
    #[test]
    fn the_token_rules_live_in_one_place() {
        let addressed = Filter { addressed: true, ..Filter::default() };
        let refusal = check_filter(&addressed, None).unwrap_err();
        assert_eq!((refusal.code(), refusal.message()), (4401, "the `addressed` filter needs a token"));
        assert!(check_filter(&Filter::default(), None).is_ok());
        let alice = Identity { user_id: 1, name: "Alice".into(), rights: Default::default(), expires: u64::MAX };
        assert!(check_filter(&addressed, Some(&alice)).is_ok());

        let without = shared(None);
        let refusal = without.tokens().err().expect("no verifier, no tokens");
        assert_eq!((refusal.code(), refusal.message()), (4401, "this gateway does not accept tokens"));
        let verifier = Arc::new(Verifier::new(&["0123456789abcdef0123456789abcdef".into()], "testwiki", 0));
        assert!(shared(Some(verifier)).tokens().is_ok());
    }
}
