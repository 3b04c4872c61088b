//! The HTTP side: routes, the WebSocket upgrade, health and metrics (and
//! the `http` source's ingest route, from [`crate::source::http`]), and the
//! orderly shutdown of all of it.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
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
use crate::client::{self, Limits, Shared};
use crate::config::{AuthMode, Settings};
use crate::event::EventId;
use crate::filter::Filter;
use crate::hub::Hub;
use crate::listener::{self, Edge, Held};
use crate::protocol::{Refusal, TOKEN_PROTOCOL_PREFIX};
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
    /// Limits, token verifier and the hub, for every client.
    shared: Arc<Shared>,
    auth_mode: AuthMode,
    admission: Arc<Admission>,
    websocket: WebSocketConfig,
    metrics: Option<crate::metrics::Exporter>,
    shutdown: CancellationToken,
    clients: TaskTracker,
    /// `GET /v1/status` (see [`crate::status`]).
    status: crate::status::Status,
}

/// Serves until `shutdown` fires, then closes every client with 1001 and
/// returns once they are gone or `shutdown_grace` has passed.
pub async fn run(settings: Settings, listener: TcpListener, shutdown: CancellationToken) -> anyhow::Result<()> {
    let metrics = crate::metrics::install(settings.source.label());
    let source = source::from_settings(&settings)?;
    let hub =
        Arc::new(Hub::new(settings.client_queue, settings.replay_window, settings.max_event_bytes, source.history()));
    let ready = Readiness::default();
    let clients = TaskTracker::new();
    let source = tokio::spawn(source.run(hub.clone(), ready.clone(), shutdown.clone()));

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
    let status = crate::status::Status::new(&settings, ready.clone(), hub.clone(), metrics.clone());
    tokio::spawn(status.clone().run_sampler(shutdown.clone()));
    let state = AppState {
        status,
        hub: hub.clone(),
        ready,
        shared: Arc::new(Shared::new(limits, verifier, hub.clone())),
        auth_mode: settings.auth_mode,
        admission: admission.clone(),
        websocket: WebSocketConfig::default()
            .read_buffer_size(READ_BUFFER)
            .write_buffer_size(WRITE_BUFFER)
            .max_message_size(Some(settings.max_client_frame))
            .max_frame_size(Some(settings.max_client_frame)),
        metrics,
        shutdown: shutdown.clone(),
        clients: clients.clone(),
    };
    let mut app = router(state);
    if let Some(secret) = &settings.ingest_secret {
        let ingest = source::http::router(hub.clone(), secret, settings.max_event_bytes, settings.handshake_timeout);
        app = app.merge(ingest);
    }

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
    let _ = tokio::time::timeout_at(deadline, source).await;
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

fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(websocket))
        .route("/v1/ws", get(websocket))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route(
            "/v1/status",
            get(|State(st): State<AppState>, headers: HeaderMap| crate::status::handler(st.status, headers)),
        )
        .with_state(state)
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
    if request.since.is_some() && !st.hub.is_loaded() {
        // A replay now could not be backed: hold the handshake until the
        // source has loaded, or, when the connection's handshake time is up,
        // refuse it before any upgrade (a proxy may try another instance;
        // the client retries with `since`).
        if tokio::time::timeout_at(held.deadline(), st.hub.wait_loaded()).await.is_err() {
            return unavailable("not_loaded", "the event source is not loaded yet");
        }
    }
    let request =
        client::Request { peer, since: request.since, filter: request.filter, identity: request.identity, slot };
    let (response, pending) = upgrade.accept();
    let clients = st.clients.clone();
    let opening: client::Opening = Box::pin(async move {
        let socket = pending.socket(st.websocket).await?;
        client::Client::open(socket, request, st.shared).await
    });
    clients.spawn(client::serve(opening));
    response
}

/// A handshake refused before any upgrade (HTTP 503): the gateway cannot
/// take it now, another instance or a later try may.
fn unavailable(reason: &'static str, message: &str) -> Response {
    metrics::counter!(crate::metrics::CLIENTS_REJECTED, "reason" => reason).increment(1);
    tracing::info!(reason, detail = ?message, "handshake refused");
    (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"error": message}))).into_response()
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
