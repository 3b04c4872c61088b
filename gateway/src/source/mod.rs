//! Event sources: tasks that feed the [`Hub`](crate::hub::Hub).
//!
//! Each source runs until the shutdown token fires, reconnecting by itself
//! with backoff, and reports whether it is connected through [`Readiness`]
//! (behind `GET /readyz`).

pub mod redis_pubsub;
pub mod redis_stream;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::hub::{Hub, PublishError};
use crate::metrics as m;

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
pub fn ingest(
    hub: &Hub,
    source: &'static str,
    raw: &[u8],
    id: Option<crate::event::EventId>,
) -> Result<crate::event::EventId, PublishError> {
    match hub.publish(raw, id) {
        Ok(id) => {
            metrics::counter!(m::EVENTS_RECEIVED, "source" => source).increment(1);
            Ok(id)
        }
        Err(err) => {
            metrics::counter!(m::EVENTS_DROPPED, "reason" => err.reason()).increment(1);
            let preview = String::from_utf8_lossy(&raw[..raw.len().min(200)]).into_owned();
            tracing::warn!(source, error = %err, preview, "dropped event");
            Err(err)
        }
    }
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
