//! The HTTP side: routes, the WebSocket upgrade, health and metrics (and
//! the `http` source's ingest route, from [`crate::source::http`]), and the
//! orderly shutdown of all of it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_service::Service;
use tungstenite::protocol::WebSocketConfig;

use crate::admission::Admission;
use crate::auth::Verifier;
use crate::client::{self, Limits, Shared};
use crate::config::{AuthMode, Settings};
use crate::event::EventId;
use crate::filter::Filter;
use crate::hub::Hub;
use crate::source::{self, Readiness};
use crate::upgrade::{self, Upgrade};

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

/// The subprotocol the gateway speaks; browsers offer it beside the token.
pub const PROTOCOL: &str = "realtimenotify.v1";
/// Prefix of the subprotocol entry that carries a token, so the token does
/// not have to sit in the URL (and in proxy logs).
pub const TOKEN_PROTOCOL_PREFIX: &str = "realtimenotify.token.";

#[derive(Clone)]
struct AppState {
    hub: Arc<Hub>,
    ready: Readiness,
    /// Limits, token verifier and the hub, for every client.
    shared: Arc<Shared>,
    auth_mode: AuthMode,
    admission: Arc<Admission>,
    websocket: WebSocketConfig,
    /// How long a resuming handshake may wait for the source to load.
    handshake_timeout: Duration,
    metrics: Option<crate::metrics::Exporter>,
    shutdown: CancellationToken,
    clients: TaskTracker,
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
        messages_per_second: settings.client_rate,
    };
    let verifier = match (&settings.wiki_id, settings.token_secrets.is_empty()) {
        (Some(wiki), false) => Some(Arc::new(Verifier::new(&settings.token_secrets, wiki, settings.token_leeway))),
        _ => None,
    };
    let clock = tokio::spawn(clock(hub.clone(), settings.ping_interval, shutdown.clone()));
    let state = AppState {
        hub: hub.clone(),
        ready,
        shared: Arc::new(Shared::new(limits, verifier, hub.clone())),
        auth_mode: settings.auth_mode,
        admission: Arc::new(Admission::new(
            settings.allowed_origins.clone(),
            settings.trusted_proxies.clone(),
            settings.max_connections_per_ip,
        )),
        websocket: WebSocketConfig::default()
            .read_buffer_size(READ_BUFFER)
            .write_buffer_size(WRITE_BUFFER)
            .max_message_size(Some(settings.max_client_frame))
            .max_frame_size(Some(settings.max_client_frame)),
        handshake_timeout: settings.handshake_timeout,
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
    tracing::info!(%addr, source = ?settings.source, "listening");
    let server = tokio::spawn(accept(listener, app, settings.handshake_timeout, shutdown.clone()));

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

/// Accepts HTTP connections until `shutdown`, then lets open requests
/// finish. Written out instead of `axum::serve` for what that lacks: a bound
/// on how long a client may take to send its request headers (slowloris),
/// and `TCP_NODELAY`, so small event frames are not held back by Nagle's
/// algorithm.
async fn accept(listener: TcpListener, app: Router, handshake_timeout: Duration, shutdown: CancellationToken) {
    let mut builder = Builder::new(TokioExecutor::new()).http1_only();
    builder.http1().timer(TokioTimer::new()).header_read_timeout(handshake_timeout);
    let graceful = GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors, usually: back off instead of spinning.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            app.clone().call(request)
        });
        let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(%peer, error = %err, "http connection ended with an error");
            }
        });
    }
    graceful.shutdown().await;
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
        .with_state(state)
}

/// The handshake: every check that can refuse a client happens here,
/// before the upgrade, so a refused client never sees a single event.
async fn websocket(
    State(st): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    upgrade: Upgrade,
) -> Response {
    // Behind a trusted proxy, the client's own address (for the per-IP limit and the logs).
    let ip = st.admission.client_ip(peer.ip(), &headers);
    let refuse = |status: StatusCode, reason: &'static str, message: String| {
        metrics::counter!(crate::metrics::CLIENTS_REJECTED, "reason" => reason).increment(1);
        tracing::info!(%peer, client = %ip, reason, %message, "handshake refused");
        (status, Json(json!({"error": message}))).into_response()
    };
    if st.shutdown.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
    }
    if !st.admission.origin_allowed(&headers) {
        return refuse(StatusCode::FORBIDDEN, "origin", "this origin may not connect".into());
    }
    let since = match query.get("since").map(|s| s.parse::<EventId>()) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(err)) => return refuse(StatusCode::BAD_REQUEST, "bad_request", err.to_string()),
    };
    let filter = match query.get("filter").map(|f| Filter::from_query(f)) {
        None => Filter::default(),
        Some(Ok(filter)) => filter,
        Some(Err(err)) => return refuse(StatusCode::BAD_REQUEST, "bad_request", err),
    };
    let token = token_from(&headers).or_else(|| query.get("token").cloned());
    let identity = match (token, &st.shared.verifier) {
        (Some(token), Some(verifier)) => match verifier.verify_new(&token) {
            Ok(identity) => Some(identity),
            Err(err) => return refuse(StatusCode::UNAUTHORIZED, "token", err.to_string()),
        },
        (Some(_), None) => {
            return refuse(StatusCode::UNAUTHORIZED, "token", "this gateway does not accept tokens".into())
        }
        (None, _) if st.auth_mode == AuthMode::Private => {
            return refuse(StatusCode::UNAUTHORIZED, "token", "a token is required to connect".into())
        }
        (None, _) => None,
    };
    if filter.addressed && identity.is_none() {
        return refuse(StatusCode::UNAUTHORIZED, "token", "the `addressed` filter needs a token".into());
    }
    let Some(slot) = st.admission.acquire(ip) else {
        return refuse(StatusCode::TOO_MANY_REQUESTS, "per_ip", format!("too many connections from {ip}"));
    };
    if since.is_some() && !st.hub.is_loaded() {
        // A replay now could not be backed: hold the handshake until the
        // source has loaded, or refuse it (the client retries with `since`).
        if tokio::time::timeout(st.handshake_timeout, st.hub.wait_loaded()).await.is_err() {
            return refuse(StatusCode::SERVICE_UNAVAILABLE, "not_loaded", "the event source is not loaded yet".into());
        }
    }
    let request = client::Request { peer, since, filter, identity, slot };
    let (response, pending) = upgrade.accept();
    let clients = st.clients.clone();
    let opening: client::Opening = Box::pin(async move {
        let socket = pending.socket(st.websocket).await?;
        client::Client::open(socket, request, st.shared).await
    });
    clients.spawn(client::serve(opening));
    response
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
