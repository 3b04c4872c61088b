//! The hub: where sources hand in events and clients pick them up.
//!
//! Fan-out uses a `tokio::sync::broadcast` channel: one send reaches every
//! client, the sender never waits for a slow receiver, and a receiver that
//! falls more than the channel's capacity behind learns it lagged. That
//! capacity is therefore each client's bounded outgoing queue.
//!
//! Beside it the hub keeps a window of recent events so a client that
//! reconnects with `since` gets exactly what it missed. Publishing and
//! subscribing take the same lock, so a new subscriber's replay and its live
//! stream meet without a gap or an overlap.
//!
//! The same channel carries the gateway's clock and its shutdown, so that an
//! idle client waits on one thing only (see [`Item`]): a clock tick every
//! ping interval, and, when the hub closes, the end of the stream.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::broadcast;

use crate::event::{Envelope, Event, EventError, EventId};

pub struct Hub {
    window: Mutex<Window>,
    max_event_bytes: usize,
}

/// What the hub broadcasts to every client.
#[derive(Debug, Clone)]
pub enum Item {
    Event(Arc<Envelope>),
    /// The gateway's clock, every ping interval: time to ping and to check
    /// the idle timeout. One clock for all clients instead of a timer each,
    /// which an idle connection would carry for its whole life.
    Tick,
}

struct Window {
    /// The fan-out; `None` once the hub is closed, which ends every
    /// client's live stream.
    tx: Option<broadcast::Sender<Item>>,
    events: VecDeque<Arc<Envelope>>,
    capacity: usize,
    /// Newest id handed out or accepted.
    last_id: Option<EventId>,
    /// Every event with an id at or below the floor is gone from the window
    /// (evicted, or from before this gateway knew of it).
    floor: EventId,
}

/// What a new client starts from.
pub struct Subscription {
    /// Events after `since`, oldest first, to send before live ones.
    pub replay: Vec<Arc<Envelope>>,
    /// Set when `since` was older than the window: events were lost.
    pub lost: Option<Lost>,
    /// Live events published after the replay was taken, and clock ticks;
    /// it reports `Closed` once the hub closes.
    pub live: broadcast::Receiver<Item>,
    /// The newest id at subscription time.
    pub last_id: Option<EventId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lost {
    pub since: EventId,
    /// Everything at or below this id is gone from the window.
    pub floor: EventId,
}

/// The outcome of [`Hub::publish`].
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    Invalid(#[from] EventError),
    #[error("event id {id} is not newer than {last}; skipped as a repeat")]
    Stale { id: EventId, last: EventId },
}

impl PublishError {
    pub fn reason(&self) -> &'static str {
        match self {
            PublishError::Invalid(e) => e.reason(),
            PublishError::Stale { .. } => "stale",
        }
    }
}

impl Hub {
    /// `client_queue` bounds each client's backlog, `window` the replay
    /// history; `floor` says which ids are already unknowable (see
    /// [`Hub::now_floor`]).
    pub fn new(client_queue: usize, window: usize, max_event_bytes: usize, floor: EventId) -> Hub {
        let (tx, _) = broadcast::channel(client_queue.max(1));
        Hub {
            window: Mutex::new(Window {
                tx: Some(tx),
                events: VecDeque::with_capacity(window.min(4096)),
                capacity: window.max(1),
                last_id: None,
                floor,
            }),
            max_event_bytes,
        }
    }

    /// The floor for a source that keeps no history: whatever happened
    /// before this moment may have been missed.
    pub fn now_floor() -> EventId {
        EventId::new(now_ms().saturating_sub(1), u64::MAX)
    }

    fn lock(&self) -> MutexGuard<'_, Window> {
        // A panic while holding the lock cannot leave the window half-updated
        // in a way that matters (each step is a single push/pop), so carry on.
        self.window.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Validates raw bytes and fans the event out. `id` is the source's own id
    /// (a stream entry id); without one the hub assigns the next id.
    pub fn publish(&self, raw: &[u8], id: Option<EventId>) -> Result<EventId, PublishError> {
        let received_at = Instant::now();
        let event = Event::parse(raw, self.max_event_bytes)?;
        self.publish_event(event, id, received_at)
    }

    pub fn publish_event(
        &self,
        event: Event,
        id: Option<EventId>,
        received_at: Instant,
    ) -> Result<EventId, PublishError> {
        let mut w = self.lock();
        let id = match (id, w.last_id) {
            (Some(id), Some(last)) if id <= last => return Err(PublishError::Stale { id, last }),
            (Some(id), _) => id,
            (None, last) => next_id(last.max(Some(w.floor))),
        };
        let envelope = Arc::new(Envelope::new(id, event, received_at));
        if w.events.len() == w.capacity {
            if let Some(old) = w.events.pop_front() {
                w.floor = old.id;
            }
        }
        w.events.push_back(envelope.clone());
        w.last_id = Some(id);
        if let Some(tx) = &w.tx {
            // No receivers is fine: nobody is listening yet.
            let _ = tx.send(Item::Event(envelope));
        }
        Ok(id)
    }

    /// Sends every client a clock tick (see [`Item::Tick`]).
    pub fn tick(&self) {
        if let Some(tx) = &self.lock().tx {
            let _ = tx.send(Item::Tick);
        }
    }

    /// Ends every client's live stream: each one gets what is queued for
    /// it, then `Closed`. Clients that subscribe later start closed, so
    /// none can slip in during shutdown.
    pub fn close(&self) {
        self.lock().tx = None;
    }

    /// Starts a client: its replay after `since` and its live receiver.
    pub fn subscribe(&self, since: Option<EventId>) -> Subscription {
        let w = self.lock();
        let live = match &w.tx {
            Some(tx) => tx.subscribe(),
            // Closed: a receiver whose sender is already gone.
            None => broadcast::channel(1).1,
        };
        let (replay, lost) = match since {
            None => (Vec::new(), None),
            Some(since) => {
                let lost = (since < w.floor).then_some(Lost { since, floor: w.floor });
                let start = w.events.partition_point(|e| e.id <= since);
                (w.events.range(start..).cloned().collect(), lost)
            }
        };
        Subscription { replay, lost, live, last_id: w.last_id }
    }

    /// Declares every id up to `floor` unreachable (a source learned that
    /// its history starts later). Never lowers the floor.
    pub fn raise_floor(&self, floor: EventId) {
        let mut w = self.lock();
        w.floor = w.floor.max(floor);
    }

    pub fn last_id(&self) -> Option<EventId> {
        self.lock().last_id
    }

    /// Number of live receivers (connected clients).
    pub fn receivers(&self) -> usize {
        self.lock().tx.as_ref().map_or(0, |tx| tx.receiver_count())
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// The next id after `last`, from the wall clock but never going backwards.
fn next_id(last: Option<EventId>) -> EventId {
    let now = now_ms();
    match last {
        Some(last) if last.ms >= now => last.next(),
        _ => EventId::new(now, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(n: u32) -> Vec<u8> {
        format!(r#"{{"page_title":"P{n}","user_name":"U","timestamp":"2026-11-25T01:02:03Z","summary":""}}"#)
            .into_bytes()
    }

    #[test]
    fn ids_increase_and_replay_is_exact() {
        let hub = Hub::new(16, 100, 16384, EventId::ZERO);
        let ids: Vec<_> = (0..5).map(|n| hub.publish(&raw(n), None).unwrap()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        let sub = hub.subscribe(Some(ids[1]));
        let got: Vec<_> = sub.replay.iter().map(|e| e.id).collect();
        assert_eq!(got, ids[2..]);
        assert!(sub.lost.is_none());
        assert_eq!(sub.last_id, Some(ids[4]));
    }

    #[test]
    fn eviction_raises_the_floor_and_reports_loss() {
        let hub = Hub::new(16, 3, 16384, EventId::ZERO);
        let ids: Vec<_> = (0..5).map(|n| hub.publish(&raw(n), None).unwrap()).collect();
        let sub = hub.subscribe(Some(ids[0]));
        assert_eq!(sub.lost, Some(Lost { since: ids[0], floor: ids[1] }));
        assert_eq!(sub.replay.len(), 3);
        // A client that saw the newest evicted event lost nothing.
        assert!(hub.subscribe(Some(ids[1])).lost.is_none());
    }

    #[test]
    fn source_ids_must_increase() {
        let hub = Hub::new(16, 3, 16384, EventId::ZERO);
        hub.publish(&raw(0), Some(EventId::new(10, 0))).unwrap();
        let err = hub.publish(&raw(1), Some(EventId::new(10, 0))).unwrap_err();
        assert_eq!(err.reason(), "stale");
        assert!(hub.publish(&raw(1), Some(EventId::new(10, 1))).is_ok());
    }

    #[tokio::test]
    async fn live_follows_replay_without_gap() {
        let hub = Hub::new(16, 100, 16384, EventId::ZERO);
        let first = hub.publish(&raw(0), None).unwrap();
        let mut sub = hub.subscribe(Some(EventId::ZERO));
        let second = hub.publish(&raw(1), None).unwrap();
        assert_eq!(sub.replay.iter().map(|e| e.id).collect::<Vec<_>>(), [first]);
        match sub.live.recv().await.unwrap() {
            Item::Event(e) => assert_eq!(e.id, second),
            Item::Tick => panic!("expected the event"),
        }
    }

    #[tokio::test]
    async fn close_ends_live_streams_after_what_is_queued() {
        let hub = Hub::new(16, 100, 16384, EventId::ZERO);
        let mut early = hub.subscribe(None);
        let id = hub.publish(&raw(0), None).unwrap();
        hub.tick();
        hub.close();
        assert!(matches!(early.live.recv().await, Ok(Item::Event(e)) if e.id == id));
        assert!(matches!(early.live.recv().await, Ok(Item::Tick)));
        assert!(matches!(early.live.recv().await, Err(broadcast::error::RecvError::Closed)));
        // Subscribing after the close gets a closed stream, not a silent one.
        let mut late = hub.subscribe(None);
        assert!(matches!(late.live.recv().await, Err(broadcast::error::RecvError::Closed)));
        // Publishing after the close is not an error: sources stop on their own.
        assert!(hub.publish(&raw(1), None).is_ok());
    }
}
