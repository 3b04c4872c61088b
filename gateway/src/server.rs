//! The HTTP side: routes, the WebSocket upgrade, the `http` source's ingest
//! endpoint, health and metrics, and the orderly shutdown of all of it.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tungstenite::{Message, Utf8Bytes};

use crate::admission::{Admission, Slot};
use crate::auth::Verifier;
use crate::broker::Broker;
use crate::client::{self, Limits, Shared};
use crate::config::{AuthMode, Settings, SourceKind};
use crate::event::EventId;
use crate::filter::Filter;
use crate::hub::Hub;
use crate::listener::{self, Edge, Held};
use crate::protocol::{Refusal, TOKEN_PROTOCOL_PREFIX};
use crate::source::redis_pubsub::RedisPubSub;
use crate::source::redis_stream::{RedisStream, StreamHistory};
use crate::source::{self, Readiness};
use crate::upgrade::{self, Pending, Upgrade};

/// Per-connection read buffer, and the most read from a socket at once.
/// Clients send little: a pong is 6 bytes, a `subscribe` a few hundred, and
/// `--max-client-frame` caps any frame (4 KiB by default, so at most 64
/// reads). Every idle connection holds this buffer; tungstenite's default
/// (128 KiB) would cost more than everything else a connection holds.
const READ_BUFFER: usize = 64;

/// Frames queued before tungstenite writes them out: a client taking a batch
/// of events (see `client::BATCH`) gets them in a few writes, not one each.
/// Its capacity stays with the connection once used, so it is kept small.
const WRITE_BUFFER: usize = 4096;

/// How long a refused handshake's connection waits for the client to
/// answer its close frame.
const REFUSAL_LINGER: Duration = Duration::from_secs(1);

#[derive(Clone)]
struct AppState {
    hub: Arc<Hub>,
    ready: Readiness,
    /// Limits, token verifier and stream history, for every client.
    shared: Arc<Shared>,
    auth_mode: AuthMode,
    admission: Arc<Admission>,
    websocket: WebSocketConfig,
    ingest_secret: Option<Arc<str>>,
    metrics: Option<crate::metrics::Exporter>,
    shutdown: CancellationToken,
    clients: TaskTracker,
}

/// Serves until `shutdown` fires, then closes every client with 1001 and
/// returns once they are gone or `shutdown_grace` has passed.
pub async fn run(settings: Settings, listener: TcpListener, shutdown: CancellationToken) -> anyhow::Result<()> {
    let metrics = crate::metrics::install(settings.source.label());
    // Sources without history cannot vouch for anything before now; the
    // stream source sets its own floor from what Redis still keeps.
    let floor = match settings.source {
        SourceKind::RedisStream => EventId::ZERO,
        SourceKind::Redis | SourceKind::Http => Hub::now_floor(),
    };
    let hub = Arc::new(Hub::new(settings.client_queue, settings.replay_window, settings.max_event_bytes, floor));
    let ready = Readiness::default();
    let clients = TaskTracker::new();

    let mut history = None;
    let source = match settings.source {
        SourceKind::Redis => {
            let source = RedisPubSub { broker: Broker::parse(&settings.redis_url)?, channel: settings.channel.clone() };
            Some(tokio::spawn(source.run(hub.clone(), ready.clone(), shutdown.clone())))
        }
        SourceKind::RedisStream => {
            let source = RedisStream {
                broker: Broker::parse(&settings.redis_url)?,
                key: settings.stream_key.clone(),
                window: settings.replay_window,
                max_event_bytes: settings.max_event_bytes,
            };
            history = Some(Arc::new(StreamHistory::new(source.clone())));
            Some(tokio::spawn(source.run(hub.clone(), ready.clone(), shutdown.clone())))
        }
        SourceKind::Http => {
            ready.set(true);
            None
        }
    };

    let limits = Limits {
        idle_timeout: settings.idle_timeout,
        write_timeout: settings.write_timeout,
        max_lag: settings.max_lag,
        messages_per_second: settings.client_rate,
    };
    let verifier = match (&settings.wiki_id, settings.token_secrets.is_empty()) {
        (Some(wiki), false) => Some(Arc::new(Verifier::new(&settings.token_secrets, wiki, settings.token_leeway))),
        _ => None,
    };
    let clock = tokio::spawn(clock(hub.clone(), settings.ping_interval, shutdown.clone()));
    let (budget, overflow) = listener::descriptor_budget();
    let max_connections = settings.max_connections.unwrap_or(budget);
    if max_connections == 0 || max_connections > budget {
        tracing::warn!(
            max_connections,
            budget,
            "--max-connections allows more connections than file descriptors \
            (less a reserve): raise the limit (LimitNOFILE, ulimit -n) or lower --max-connections"
        );
    }
    let admission = Arc::new(Admission::new(
        settings.allowed_origins.clone(),
        settings.trusted_proxies.clone(),
        settings.max_connections_per_ip,
        max_connections,
    ));
    let state = AppState {
        hub: hub.clone(),
        ready,
        shared: Arc::new(Shared::new(limits, verifier, history)),
        auth_mode: settings.auth_mode,
        admission: admission.clone(),
        websocket: WebSocketConfig::default()
            .read_buffer_size(READ_BUFFER)
            .write_buffer_size(WRITE_BUFFER)
            .max_message_size(Some(settings.max_client_frame))
            .max_frame_size(Some(settings.max_client_frame)),
        ingest_secret: settings.ingest_secret.as_deref().map(Arc::from),
        metrics,
        shutdown: shutdown.clone(),
        clients: clients.clone(),
    };
    let app = router(state, settings.max_event_bytes);

    let addr = listener.local_addr().context("reading the listening address")?;
    tracing::info!(%addr, source = ?settings.source, max_connections, "listening");
    let edge = Edge { admission, handshake_timeout: settings.handshake_timeout, overflow };
    let server = tokio::spawn(listener::accept(listener, app, edge, shutdown.clone()));

    shutdown.cancelled().await;
    tracing::info!(clients = clients.len(), "shutting down: closing clients with 1001");
    // Every client gets what is queued for it, then its stream ends: 1001.
    hub.close();
    let _ = clock.await;
    clients.close();
    let deadline = tokio::time::Instant::now() + settings.shutdown_grace;
    if tokio::time::timeout_at(deadline, clients.wait()).await.is_err() {
        tracing::warn!(left = clients.len(), "clients did not close in time");
    }
    if tokio::time::timeout_at(deadline, server).await.is_err() {
        tracing::warn!("HTTP connections did not finish in time");
    }
    if let Some(source) = source {
        let _ = tokio::time::timeout_at(deadline, source).await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// The gateway's clock: a tick to every client each ping interval (see
/// [`crate::hub::Item::Tick`]), until shutdown.
async fn clock(hub: Arc<Hub>, every: Duration, shutdown: CancellationToken) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticks.tick() => hub.tick(),
        }
    }
}

fn router(state: AppState, max_event_bytes: usize) -> Router {
    let mut app = Router::new()
        .route("/", get(websocket))
        .route("/v1/ws", get(websocket))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics));
    if state.ingest_secret.is_some() {
        // A little headroom so oversized events reach the handler and are
        // counted as `too_large` instead of vanishing in the extractor.
        app = app.route("/v1/events", post(ingest).layer(DefaultBodyLimit::max(max_event_bytes.saturating_mul(4))));
    }
    app.with_state(state)
}

/// The handshake: every check that can refuse a client happens here,
/// before any event can flow. A request that is a proper WebSocket upgrade
/// but refused is answered `101` and closed at once with a 44xx code (see
/// [`Refusal`]), which a browser can read where an HTTP status would reach it
/// as 1006; one that is not a WebSocket upgrade never gets here ([`Upgrade`]
/// answers it with HTTP 4xx).
async fn websocket(
    State(st): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(held): Extension<Held>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    upgrade: Upgrade,
) -> Response {
    // A proxy retries a 503 on another instance.
    if st.shutdown.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
    }
    let Some(mut slot) = held.take() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "this connection was upgraded already\n").into_response();
    };
    // Behind a trusted proxy, the client's own address (for the per-IP limit and the logs).
    let ip = st.admission.client_ip(peer.ip(), &headers);
    let request = match admit(&st, &query, &headers, ip, &mut slot) {
        Ok(request) => request,
        Err(refusal) => return refuse(&st, upgrade, peer, ip, refusal, slot),
    };
    let request =
        client::Request { peer, since: request.since, filter: request.filter, identity: request.identity, slot };
    let (response, pending) = upgrade.accept();
    let clients = st.clients.clone();
    let opening: client::Opening = Box::pin(async move {
        let socket = pending.socket(st.websocket).await?;
        client::Client::open(socket, request, &st.hub, st.shared).await
    });
    clients.spawn(client::serve(opening));
    response
}

/// What an admitted handshake asked for.
struct Admitted {
    since: Option<EventId>,
    filter: Filter,
    identity: Option<crate::auth::Identity>,
}

/// The handshake's checks, in order: origin, `since`, `filter`, token, the
/// client address's connection limit (which `slot` then counts against).
fn admit(
    st: &AppState,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    ip: IpAddr,
    slot: &mut Slot,
) -> Result<Admitted, Refusal> {
    if !st.admission.origin_allowed(headers) {
        return Err(Refusal::Forbidden("this origin may not connect".into()));
    }
    let since = match query.get("since").map(|s| s.parse::<EventId>()) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(err)) => return Err(Refusal::BadRequest(err.to_string())),
    };
    let filter = match query.get("filter").map(|f| Filter::from_query(f)) {
        None => Filter::default(),
        Some(Ok(filter)) => filter,
        Some(Err(err)) => return Err(Refusal::BadRequest(err)),
    };
    let identity = match token_from(headers).or_else(|| query.get("token").cloned()) {
        Some(token) => Some(verify(st.shared.tokens()?, &token)?),
        None if st.auth_mode == AuthMode::Private => {
            return Err(Refusal::Unauthorized("a token is required to connect".into()))
        }
        None => None,
    };
    client::check_filter(&filter, identity.as_ref())?;
    if !st.admission.count(slot, ip) {
        return Err(Refusal::TooMany(format!("too many connections from {ip}")));
    }
    Ok(Admitted { since, filter, identity })
}

fn verify(verifier: &Verifier, token: &str) -> Result<crate::auth::Identity, Refusal> {
    verifier.verify_new(token).map_err(|err| Refusal::Unauthorized(err.to_string()))
}

/// Answers a refused handshake: `101`, then at once a close frame with the
/// refusal's code and message, nothing else. The connection keeps its slot
/// until it is closed.
fn refuse(st: &AppState, upgrade: Upgrade, peer: SocketAddr, ip: IpAddr, refusal: Refusal, slot: Slot) -> Response {
    metrics::counter!(crate::metrics::CLIENTS_REJECTED, "reason" => refusal.metric()).increment(1);
    tracing::info!(%peer, client = %ip, reason = refusal.metric(), code = refusal.code(), detail = ?refusal.message(),
        "handshake refused");
    let (response, pending) = upgrade.accept();
    st.clients.spawn(close_refused(pending, st.websocket, refusal, slot));
    response
}

async fn close_refused(pending: Pending, config: WebSocketConfig, refusal: Refusal, slot: Slot) {
    let Some(mut socket) = pending.socket(config).await else {
        return;
    };
    let frame = Message::Close(Some(CloseFrame {
        code: CloseCode::from(refusal.code()),
        reason: Utf8Bytes::from(refusal.close_reason().to_string()),
    }));
    let _ = tokio::time::timeout(REFUSAL_LINGER, async {
        socket.send(frame).await?;
        // Until the client's answering close frame (or it goes away).
        while let Some(message) = socket.next().await {
            if matches!(message?, Message::Close(_)) {
                break;
            }
        }
        Ok::<(), tungstenite::Error>(())
    })
    .await;
    drop(slot);
}

/// The token offered as a `Sec-WebSocket-Protocol` entry, if any.
fn token_from(headers: &HeaderMap) -> Option<String> {
    upgrade::list(headers, header::SEC_WEBSOCKET_PROTOCOL)
        .find_map(|p| p.strip_prefix(TOKEN_PROTOCOL_PREFIX).map(str::to_string))
}

async fn readyz(State(st): State<AppState>) -> (StatusCode, &'static str) {
    if st.shutdown.is_cancelled() {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n")
    } else if st.ready.is_ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "source not connected\n")
    }
}

async fn metrics(State(st): State<AppState>) -> Response {
    match &st.metrics {
        Some(handle) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render()).into_response(),
        None => (StatusCode::NOT_FOUND, "metrics recorder not installed\n").into_response(),
    }
}

/// `POST /v1/events`: the `http` source. One JSON event per request,
/// authenticated with the shared secret.
async fn ingest(State(st): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let started = Instant::now();
    let Some(secret) = &st.ingest_secret else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !constant_time_eq(presented.as_bytes(), secret.as_bytes()) {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": "missing or wrong bearer secret"}))).into_response();
    }
    match source::ingest(&st.hub, "http", &body, None) {
        Ok(id) => {
            tracing::debug!(%id, elapsed = ?started.elapsed(), "event accepted over http");
            (StatusCode::ACCEPTED, Json(json!({"id": id.to_string()}))).into_response()
        }
        Err(err) => {
            let status =
                if err.reason() == "too_large" { StatusCode::PAYLOAD_TOO_LARGE } else { StatusCode::BAD_REQUEST };
            (status, Json(json!({"error": err.to_string()}))).into_response()
        }
    }
}

/// Compares secrets without leaking, through timing, how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
