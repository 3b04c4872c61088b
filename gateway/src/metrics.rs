//! Prometheus metrics. Names live here so the `/metrics` page and the
//! README describe the same things.
//!
//! The `metrics` facade keeps the hot path to an atomic add; the exporter
//! renders text on `GET /metrics`.

use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Gauge: WebSocket clients connected now.
pub const CLIENTS_CONNECTED: &str = "rtn_clients_connected";
/// Counter: events accepted from the source, labelled `source`.
pub const EVENTS_RECEIVED: &str = "rtn_events_received_total";
/// Counter: events refused, labelled `reason` (`invalid`, `too_large`, `stale`, `duplicate`).
pub const EVENTS_DROPPED: &str = "rtn_events_dropped_total";
/// Counter: event frames written to client sockets.
pub const MESSAGES_SENT: &str = "rtn_messages_sent_total";
/// Counter: clients closed because they could not keep up (close code 4000).
pub const SLOW_CLIENT_DROPS: &str = "rtn_slow_client_drops_total";
/// Counter: clients closed for misbehaving, labelled `reason`.
pub const CLIENTS_REJECTED: &str = "rtn_clients_rejected_total";
/// Histogram: seconds from receiving an event to handing it to a client's
/// socket (which writes the batch it belongs to at once).
pub const DELIVERY_LATENCY: &str = "rtn_delivery_latency_seconds";
/// Gauge: 1 while the source is connected.
pub const SOURCE_UP: &str = "rtn_source_up";
/// Counter: source (re)connections.
pub const SOURCE_CONNECTS: &str = "rtn_source_connects_total";
/// Gauge, always 1: which gateway this is (`version`, `revision`), so
/// dashboards can list the instances and spot one left on an old build.
pub const BUILD_INFO: &str = "rtn_build_info";

/// Every `reason` of [`EVENTS_DROPPED`], so each series exists (at 0) from
/// the start and an alert on it can be written before the first drop.
pub const DROP_REASONS: &[&str] = &["invalid", "too_large", "stale", "duplicate"];
/// Every `reason` of [`CLIENTS_REJECTED`], likewise.
pub const REJECT_REASONS: &[&str] = &[
    "origin",
    "bad_request",
    "token",
    "per_ip",
    "max_connections",
    "descriptors",
    "not_loaded",
    "rate",
    "frame_too_big",
];

/// The git revision the binary was built from (`build.rs`), or `unknown`.
pub const REVISION: &str = env!("RTN_REVISION");

const LATENCY_BUCKETS: &[f64] =
    &[0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

/// What `GET /metrics` renders: the gateway's own metrics, and the process's
/// (`process_resident_memory_bytes`, `process_open_fds`, `process_max_fds`,
/// `process_cpu_seconds_total`, ...) read afresh at each scrape.
#[derive(Clone)]
pub struct Exporter {
    handle: PrometheusHandle,
    process: metrics_process::Collector,
}

impl Exporter {
    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        self.process.collect();
        self.handle.render()
    }

    /// Like [`Exporter::render`], without reading the process's metrics
    /// afresh: for `/v1/status` (see [`crate::status`]), which needs only
    /// the gateway's own counters.
    pub fn render_own(&self) -> String {
        self.handle.render()
    }
}

/// Installs the global recorder, with every counter present at zero (`source`
/// is the label events from this gateway's source are counted under).
/// Returns `None` when one is installed already (only one per process), in
/// which case metrics go to that one.
pub fn install(source: &'static str) -> Option<Exporter> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(DELIVERY_LATENCY.into()), LATENCY_BUCKETS)
        .ok()?
        .install_recorder()
        .ok()?;
    describe();
    let process = metrics_process::Collector::default();
    process.describe();
    metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION"), "revision" => REVISION).set(1.0);
    register_at_zero(source);
    // Histogram samples are buffered until folded in; fold them regularly so
    // an unscraped gateway does not grow.
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            upkeep.run_upkeep();
        }
    });
    Some(Exporter { handle, process })
}

/// Registers each counter (each label value of the labelled ones) at 0: a
/// series that only appears after its first increment cannot be alerted on.
fn register_at_zero(source: &'static str) {
    metrics::counter!(EVENTS_RECEIVED, "source" => source).increment(0);
    for reason in DROP_REASONS {
        metrics::counter!(EVENTS_DROPPED, "reason" => *reason).increment(0);
    }
    for reason in REJECT_REASONS {
        metrics::counter!(CLIENTS_REJECTED, "reason" => *reason).increment(0);
    }
    for name in [MESSAGES_SENT, SLOW_CLIENT_DROPS, SOURCE_CONNECTS] {
        metrics::counter!(name).increment(0);
    }
    metrics::gauge!(CLIENTS_CONNECTED).increment(0.0);
    metrics::gauge!(SOURCE_UP).increment(0.0);
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_gauge!(CLIENTS_CONNECTED, "WebSocket clients connected now");
    describe_counter!(EVENTS_RECEIVED, "Events accepted from the source");
    describe_counter!(EVENTS_DROPPED, "Events refused (malformed, too large, repeated id or uuid)");
    describe_counter!(MESSAGES_SENT, "Event frames written to client sockets");
    describe_counter!(SLOW_CLIENT_DROPS, "Clients closed with 4000 for falling behind");
    describe_counter!(CLIENTS_REJECTED, "Clients closed for misbehaving");
    describe_histogram!(DELIVERY_LATENCY, Unit::Seconds, "Event received to written to a socket");
    describe_gauge!(SOURCE_UP, "1 while the event source is connected");
    describe_counter!(SOURCE_CONNECTS, "Event source (re)connections");
    describe_gauge!(BUILD_INFO, "Always 1; the labels say which build this gateway runs");
}
