//! Event sources: tasks that feed the [`Hub`](crate::hub::Hub).
//!
//! Every source plugs into the hub the same way ([`Source`]): it may hand
//! the hub its log of past events ([`History`], for clients resuming from
//! further back than the hub's window), and it runs until the shutdown
//! token fires, reconnecting by itself with backoff. It tells the hub when
//! it has loaded ([`Hub::load`]) and whenever it cannot prove it missed
//! nothing ([`Hub::resync`]), and reports whether it is connected through
//! [`Readiness`] (behind `GET /readyz`).

pub mod http;
pub mod rabbitmq;
pub mod redis_pubsub;
pub mod redis_stream;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::config::{Settings, SourceKind};
use crate::event::EventId;
use crate::history::History;
use crate::hub::{Hub, PublishError};
use crate::metrics as m;

/// Where events come from: what the hub needs of every source.
pub trait Source: Send + 'static {
    /// The source's own log, if it keeps one; the hub serves resumes older
    /// than its window from it. Asked once, before the hub is built.
    fn history(&self) -> Option<Arc<dyn History>> {
        None
    }

    /// Feeds the hub until `shutdown`. Must call [`Hub::load`] or
    /// [`Hub::resync`] once it knows where its history starts (resuming
    /// clients wait for that), and [`Hub::resync`] after any reconnection
    /// that may have missed events.
    fn run(self: Box<Self>, hub: Arc<Hub>, ready: Readiness, shutdown: CancellationToken) -> Running;
}

/// A source's task.
pub type Running = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The source `settings` ask for.
pub fn from_settings(settings: &Settings) -> anyhow::Result<Box<dyn Source>> {
    let broker =
        || settings.broker.clone().ok_or_else(|| anyhow::anyhow!("--source {:?} needs --redis-url", settings.source));
    Ok(match settings.source {
        SourceKind::Redis => {
            Box::new(redis_pubsub::RedisPubSub { broker: broker()?, channel: settings.channel.clone() })
        }
        SourceKind::RedisStream => {
            Box::new(redis_stream::RedisStream::new(broker()?, settings.stream_key.clone(), settings.replay_window))
        }
        SourceKind::Http => Box::new(http::HttpSource),
        SourceKind::Rabbitmq => Box::new(rabbitmq::RabbitMq::new(
            settings.amqp.clone().ok_or_else(|| anyhow::anyhow!("--source rabbitmq needs --amqp-url"))?,
        )),
    })
}

/// Whether the source is connected, shared with `/readyz`.
#[derive(Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    pub fn set(&self, up: bool) {
        self.0.store(up, Ordering::Relaxed);
        metrics::gauge!(m::SOURCE_UP).set(if up { 1.0 } else { 0.0 });
    }

    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Hands one raw event to the hub, counting and logging the outcome. A bad
/// event is the sender's problem, never the gateway's: it is dropped here.
pub fn ingest(hub: &Hub, source: &'static str, raw: &[u8], id: Option<EventId>) -> Result<EventId, PublishError> {
    counted(source, raw, hub.publish(raw, id))
}

/// Like [`ingest`], into the window only (see [`Hub::preload`]).
pub fn preload(hub: &Hub, source: &'static str, raw: &[u8], id: EventId) -> Result<EventId, PublishError> {
    counted(source, raw, hub.preload(raw, id))
}

fn counted(source: &'static str, raw: &[u8], outcome: Result<EventId, PublishError>) -> Result<EventId, PublishError> {
    match &outcome {
        Ok(_) => metrics::counter!(m::EVENTS_RECEIVED, "source" => source).increment(1),
        Err(err) => {
            metrics::counter!(m::EVENTS_DROPPED, "reason" => err.reason()).increment(1);
            // `?` formatting: the preview is the sender's bytes, escaped.
            let preview = String::from_utf8_lossy(&raw[..raw.len().min(200)]).into_owned();
            if err.reason() == "skipped" {
                // Core's RCFeed sends these by design (`categorize`): no news.
                tracing::debug!(source, error = ?err.to_string(), ?preview, "skipped event");
            } else {
                tracing::warn!(source, error = ?err.to_string(), ?preview, "dropped event");
            }
        }
    }
    outcome
}

/// Reconnection backoff of the Redis sources: from 100 ms, at most about a
/// second, so the gateway is ready again within a second of Redis coming
/// back (with jitter, so a fleet of gateways does not arrive in lockstep).
pub fn reconnect_backoff() -> Backoff {
    Backoff::new(Duration::from_millis(100), Duration::from_millis(700))
}

/// Exponential backoff with full jitter, so a fleet of gateways does not
/// reconnect to a restarted Redis in lockstep.
pub struct Backoff {
    attempt: u32,
    base: Duration,
    cap: Duration,
}

impl Backoff {
    pub fn new(base: Duration, cap: Duration) -> Backoff {
        Backoff { attempt: 0, base, cap }
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    pub fn next_delay(&mut self) -> Duration {
        let exp = self.base.saturating_mul(1u32 << self.attempt.min(16)).min(self.cap);
        self.attempt = self.attempt.saturating_add(1);
        exp.mul_f64(0.5 + fastrand::f64() * 0.5)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnecting_never_waits_more_than_a_second() {
        let mut b = reconnect_backoff();
        for _ in 0..40 {
            assert!(b.next_delay() < Duration::from_secs(1));
        }
        assert!(b.next_delay() >= Duration::from_millis(350), "still jittered, but not hammering");
    }

    #[test]
    fn backoff_grows_to_the_cap() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let first = b.next_delay();
        assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
        for _ in 0..20 {
            assert!(b.next_delay() <= Duration::from_secs(2));
        }
        assert!(b.next_delay() >= Duration::from_secs(1));
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }
}
