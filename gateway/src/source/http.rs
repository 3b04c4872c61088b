//! The `http` source: `POST /v1/events`, one JSON event per request,
//! authenticated with a shared secret (`--ingest-secret`). For wikis
//! without Redis; one gateway instance only (a POST reaches one of them).
//!
//! The secret is checked from the headers alone, before a byte of the body
//! is read, and the body must arrive within a deadline: a client without
//! the secret, or one that announces a body and never sends it, gets an
//! answer at once instead of holding a connection open.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::{ingest, Readiness, Running, Source};
use crate::hub::Hub;

/// The `http` source itself: it has no connection to keep, so it is ready
/// (and loaded) at once; its events arrive through [`router`].
pub struct HttpSource;

impl Source for HttpSource {
    fn run(self: Box<Self>, hub: Arc<Hub>, ready: Readiness, _shutdown: CancellationToken) -> Running {
        // Done at once, not when the task first runs: ready from the start.
        // Nothing before now can be vouched for.
        hub.resync(Hub::now_floor());
        ready.set(true);
        Box::pin(async {})
    }
}

/// What the ingest endpoint needs, and nothing else.
#[derive(Clone)]
struct Ingest {
    hub: Arc<Hub>,
    secret: Arc<str>,
    /// Largest body read: a little over `--max-event-bytes`, so an oversized
    /// event is still counted as `too_large` instead of vanishing.
    max_body: usize,
    /// How long the body may take to arrive.
    body_timeout: Duration,
}

/// The `POST /v1/events` route, to merge into the gateway's router.
pub fn router<S>(hub: Arc<Hub>, secret: &str, max_event_bytes: usize, body_timeout: Duration) -> Router<S> {
    let state = Ingest { hub, secret: Arc::from(secret), max_body: max_event_bytes.saturating_mul(4), body_timeout };
    Router::new().route("/v1/events", post(ingest_event)).with_state(state)
}

async fn ingest_event(State(st): State<Ingest>, headers: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !constant_time_eq(presented.as_bytes(), st.secret.as_bytes()) {
        return error(StatusCode::UNAUTHORIZED, "missing or wrong bearer secret");
    }
    let announced = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if announced.is_some_and(|length| length > st.max_body) {
        metrics::counter!(crate::metrics::EVENTS_DROPPED, "reason" => "too_large").increment(1);
        return error(StatusCode::PAYLOAD_TOO_LARGE, "event is larger than the limit");
    }
    let body = match tokio::time::timeout(st.body_timeout, axum::body::to_bytes(body, st.max_body)).await {
        Ok(Ok(body)) => body,
        Ok(Err(err)) => {
            tracing::debug!(error = ?err.to_string(), "unreadable ingest body");
            return error(StatusCode::PAYLOAD_TOO_LARGE, "event body unreadable or larger than the limit");
        }
        Err(_) => return error(StatusCode::REQUEST_TIMEOUT, "the event body did not arrive in time"),
    };
    match ingest(&st.hub, "http", &body, None) {
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

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"error": message}))).into_response()
}

/// Compares secrets without leaking, through timing, how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
