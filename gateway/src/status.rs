//! `GET /v1/status`: the gateway's health in a few numbers, for the wiki's
//! Special:RealTimeNotifyStatus (an administrator who runs no Prometheus).
//!
//! The numbers are those of `/metrics`, read back from the same exporter
//! (so the page and Prometheus never disagree), sampled every
//! [`SAMPLE_EVERY`] into a short in-memory series: "in the last minutes"
//! is the difference to the sample from [`RECENT`] ago, and the chart is the
//! series itself. Nothing is kept on disk; a restart starts the series anew.
//!
//! It says more than `/readyz` does to whoever may reach the gateway's port
//! (the public, through the proxy), so it answers only a status token: a JWT
//! signed by the wiki with one of `--token-secrets`, audience
//! `<wiki-id>/status` (an audience no connection token has, so neither kind
//! of token is taken for the other), short-lived. Anything else gets 401 and
//! an empty body, also when no secret is configured: a stranger learns
//! nothing, not even whether status is set up.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::hub::Hub;
use crate::metrics as m;
use crate::source::Readiness;

/// How often the series takes a sample.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(10);
/// Samples kept: ten minutes.
pub const SAMPLES: usize = 60;
/// What "recent" means for the counts and the latency quantiles.
pub const RECENT: Duration = Duration::from_secs(300);
/// The audience suffix of a status token (after the wiki id).
pub const AUDIENCE_SUFFIX: &str = "/status";

/// The counters at one moment, as `/metrics` has them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counters {
    pub clients: f64,
    pub received: f64,
    pub delivered: f64,
    pub slow_drops: f64,
    /// Cumulative `(le, count)` of the delivery-latency histogram.
    pub latency: Vec<(f64, f64)>,
}

impl Counters {
    /// Reads the counters from the Prometheus text exposition.
    pub fn parse(text: &str) -> Counters {
        let mut c = Counters::default();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some((series, value)) = line.rsplit_once(' ') else { continue };
            let Ok(value) = value.trim().parse::<f64>() else { continue };
            let (name, labels) = series.split_once('{').unwrap_or((series, ""));
            match name {
                m::CLIENTS_CONNECTED => c.clients += value,
                m::EVENTS_RECEIVED => c.received += value,
                m::MESSAGES_SENT => c.delivered += value,
                m::SLOW_CLIENT_DROPS => c.slow_drops += value,
                _ if name.strip_suffix("_bucket") == Some(m::DELIVERY_LATENCY) => {
                    let le = labels.split("le=\"").nth(1).and_then(|rest| rest.split('"').next());
                    let le = match le {
                        Some("+Inf") => f64::INFINITY,
                        Some(le) => match le.parse() {
                            Ok(le) => le,
                            Err(_) => continue,
                        },
                        None => continue,
                    };
                    c.latency.push((le, value));
                }
                _ => {}
            }
        }
        c.latency.sort_by(|a, b| a.0.total_cmp(&b.0));
        c
    }
}

/// One point of the series.
#[derive(Debug, Clone)]
struct Sample {
    at: Instant,
    unix: u64,
    counters: Counters,
}

/// One point of the chart: what happened in the interval ending at `t`.
#[derive(Debug, Serialize)]
pub struct Point {
    /// Unix seconds.
    pub t: u64,
    pub clients: f64,
    pub received: f64,
    pub delivered: f64,
}

/// The status answer.
#[derive(Debug, Serialize)]
pub struct Report {
    pub ready: bool,
    pub version: &'static str,
    pub revision: &'static str,
    pub uptime_seconds: u64,
    pub source: Part,
    pub broker: Part,
    pub clients: f64,
    /// Seconds the `recent` numbers cover (less than [`RECENT`] just after a start).
    pub recent_seconds: u64,
    pub events_received: f64,
    pub events_delivered: f64,
    pub slow_client_drops: f64,
    pub slow_client_drops_total: f64,
    pub latency_p50_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    pub last_event_age_seconds: Option<f64>,
    pub sample_seconds: u64,
    pub series: Vec<Point>,
}

/// The source or the broker: what kind, and whether it is connected.
#[derive(Debug, Serialize)]
pub struct Part {
    pub kind: &'static str,
    pub up: bool,
}

/// What `/v1/status` needs; cheap to clone.
#[derive(Clone)]
pub struct Status {
    samples: Arc<Mutex<VecDeque<Sample>>>,
    started: Instant,
    source: &'static str,
    /// `none` for the `http` source.
    broker: &'static str,
    ready: Readiness,
    hub: Arc<Hub>,
    metrics: Option<m::Exporter>,
    verifier: Option<Arc<StatusVerifier>>,
}

impl Status {
    pub fn new(
        settings: &crate::config::Settings,
        ready: Readiness,
        hub: Arc<Hub>,
        metrics: Option<m::Exporter>,
    ) -> Status {
        use crate::broker::Broker;
        let broker = match &settings.broker {
            None => "none",
            Some(Broker::Single(_)) => "redis",
            Some(Broker::Sentinel { .. }) => "redis-sentinel",
            Some(Broker::Cluster { .. }) => "redis-cluster",
        };
        let verifier = match (&settings.wiki_id, settings.token_secrets.is_empty()) {
            (Some(wiki), false) => {
                Some(Arc::new(StatusVerifier::new(&settings.token_secrets, wiki, settings.token_leeway)))
            }
            _ => None,
        };
        Status {
            samples: Arc::new(Mutex::new(VecDeque::with_capacity(SAMPLES + 1))),
            started: Instant::now(),
            source: settings.source.label(),
            broker,
            ready,
            hub,
            metrics,
            verifier,
        }
    }

    fn counters(&self) -> Option<Counters> {
        self.metrics.as_ref().map(|exporter| Counters::parse(&exporter.render_own()))
    }

    fn sample(&self) {
        let Some(counters) = self.counters() else { return };
        let mut samples = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        samples.push_back(Sample { at: Instant::now(), unix: unix_now(), counters });
        while samples.len() > SAMPLES + 1 {
            samples.pop_front();
        }
    }

    /// Samples the counters every [`SAMPLE_EVERY`], from now until shutdown.
    pub async fn run_sampler(self, shutdown: CancellationToken) {
        let mut ticks = tokio::time::interval(SAMPLE_EVERY);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticks.tick() => self.sample(),
            }
        }
    }

    /// The report as of now.
    pub fn report(&self) -> Report {
        let now = self.counters().unwrap_or_default();
        let samples = self.samples.lock().unwrap_or_else(|p| p.into_inner()).clone();
        // The oldest sample at most RECENT old (or the oldest there is).
        let base = samples.iter().find(|s| s.at.elapsed() <= RECENT + SAMPLE_EVERY / 2).or(samples.front());
        let (recent_seconds, base) = match base {
            Some(s) => (s.at.elapsed().as_secs(), s.counters.clone()),
            None => (0, Counters::default()),
        };
        let latency = delta_buckets(&now.latency, &base.latency);
        let mut series = Vec::with_capacity(samples.len());
        for pair in samples.iter().collect::<Vec<_>>().windows(2) {
            let (a, b) = (&pair[0].counters, &pair[1].counters);
            series.push(Point {
                t: pair[1].unix,
                clients: b.clients,
                received: (b.received - a.received).max(0.0),
                delivered: (b.delivered - a.delivered).max(0.0),
            });
        }
        let ready = self.ready.is_ready();
        Report {
            ready,
            version: env!("CARGO_PKG_VERSION"),
            revision: m::REVISION,
            uptime_seconds: self.started.elapsed().as_secs(),
            source: Part { kind: self.source, up: ready },
            broker: Part { kind: self.broker, up: self.broker != "none" && ready },
            clients: self.hub.receivers() as f64,
            recent_seconds,
            events_received: (now.received - base.received).max(0.0),
            events_delivered: (now.delivered - base.delivered).max(0.0),
            slow_client_drops: (now.slow_drops - base.slow_drops).max(0.0),
            slow_client_drops_total: now.slow_drops,
            latency_p50_ms: quantile(0.5, &latency).map(|s| round3(s * 1000.0)),
            latency_p99_ms: quantile(0.99, &latency).map(|s| round3(s * 1000.0)),
            last_event_age_seconds: self.hub.last_received_at().map(|at| round3(at.elapsed().as_secs_f64())),
            sample_seconds: SAMPLE_EVERY.as_secs(),
            series,
        }
    }

    /// Whether `headers` carry a valid status token.
    pub fn authorized(&self, headers: &HeaderMap) -> bool {
        let Some(verifier) = &self.verifier else { return false };
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        token.is_some_and(|t| verifier.verify(t))
    }
}

/// `GET /v1/status`.
pub async fn handler(status: Status, headers: HeaderMap) -> Response {
    if !status.authorized(&headers) {
        return (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], "").into_response();
    }
    ([(header::CACHE_CONTROL, "no-store")], Json(status.report())).into_response()
}

/// Checks status tokens (see the module's documentation).
pub struct StatusVerifier {
    keys: Vec<DecodingKey>,
    validation: Validation,
}

impl StatusVerifier {
    pub fn new(secrets: &[String], wiki_id: &str, leeway_secs: u64) -> StatusVerifier {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[format!("{wiki_id}{AUDIENCE_SUFFIX}")]);
        validation.set_issuer(&[crate::auth::ISSUER]);
        validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = leeway_secs;
        StatusVerifier { keys: secrets.iter().map(|s| DecodingKey::from_secret(s.as_bytes())).collect(), validation }
    }

    /// Valid under any of the secrets (old and new during a rotation). The
    /// claims themselves need no reading: audience, issuer, times and a
    /// subject are what [`Validation`] checks.
    pub fn verify(&self, token: &str) -> bool {
        self.keys.iter().any(|key| jsonwebtoken::decode::<serde_json::Value>(token, key, &self.validation).is_ok())
    }
}

/// Per-bucket counts of `now - base` (cumulative buckets stay cumulative).
fn delta_buckets(now: &[(f64, f64)], base: &[(f64, f64)]) -> Vec<(f64, f64)> {
    now.iter()
        .map(|&(le, count)| {
            let before = base.iter().find(|(b, _)| *b == le).map_or(0.0, |(_, c)| *c);
            (le, (count - before).max(0.0))
        })
        .collect()
}

/// The `q` quantile of cumulative buckets, interpolated within a bucket as
/// Prometheus's `histogram_quantile` does; `None` without observations.
pub fn quantile(q: f64, buckets: &[(f64, f64)]) -> Option<f64> {
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let mut lower = (0.0, 0.0);
    for &(le, count) in buckets {
        if count >= rank {
            if le.is_infinite() {
                // Beyond the largest finite bucket: its bound is the best answer.
                return Some(lower.0);
            }
            let width = count - lower.1;
            let within = if width > 0.0 { (rank - lower.1) / width } else { 1.0 };
            return Some(lower.0 + (le - lower.0) * within);
        }
        lower = (le, count);
    }
    Some(lower.0)
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_counters_from_the_exposition() {
        let text = "# TYPE rtn_clients_connected gauge\nrtn_clients_connected 3\n\
            rtn_events_received_total{source=\"redis\"} 7\nrtn_messages_sent_total 20\n\
            rtn_slow_client_drops_total 1\n\
            rtn_delivery_latency_seconds_bucket{le=\"0.001\"} 5\n\
            rtn_delivery_latency_seconds_bucket{le=\"0.01\"} 9\n\
            rtn_delivery_latency_seconds_bucket{le=\"+Inf\"} 10\n\
            rtn_delivery_latency_seconds_sum 0.5\n";
        let c = Counters::parse(text);
        assert_eq!((c.clients, c.received, c.delivered, c.slow_drops), (3.0, 7.0, 20.0, 1.0));
        assert_eq!(c.latency, vec![(0.001, 5.0), (0.01, 9.0), (f64::INFINITY, 10.0)]);
        let p50 = quantile(0.5, &c.latency).unwrap();
        assert!((p50 - 0.001).abs() < 1e-9, "{p50}");
        assert_eq!(quantile(0.99, &c.latency), Some(0.01));
        assert_eq!(quantile(0.5, &[(0.1, 0.0), (f64::INFINITY, 0.0)]), None);
    }
}
