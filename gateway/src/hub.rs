//! The hub: where sources hand in events and clients pick them up.
//!
//! Fan-out uses a `tokio::sync::broadcast` channel: one send reaches every
//! client, the sender never waits for a slow receiver, and a receiver that
//! falls more than the channel's capacity behind learns it lagged. That
//! capacity is therefore each client's bounded outgoing queue.
//!
//! Beside it the hub keeps a window of recent events, and owns the source's
//! [`History`] (its log, if it keeps one), so a client that reconnects with
//! `since` gets exactly what it missed from one place, whatever the source
//! (see [`crate::history`]). Publishing and subscribing take the same lock:
//! a new subscriber's replay runs up to the newest id at that moment, its
//! live stream starts right after it, without a gap or an overlap.
//!
//! The hub also drops a repeated publish of one change (same `uuid`) while
//! the first is in the window, and hears from the source when continuity
//! broke ([`Hub::resync`]), which every client is told ([`Item::Gap`]).
//!
//! The same channel carries the gateway's clock and its shutdown, so that an
//! idle client waits on one thing only (see [`Item`]): a clock tick every
//! ping interval, and, when the hub closes, the end of the stream.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::{broadcast, watch, OwnedSemaphorePermit, Semaphore};

use crate::auth::{self, Identity};
use crate::event::{Envelope, Event, EventError, EventId, Uuid};
use crate::history::History;

/// Most clients reading a source's log at once (see [`crate::history`]);
/// the others wait their turn.
pub const MAX_BACKFILLS: usize = 16;

pub struct Hub {
    window: Mutex<State>,
    max_event_bytes: usize,
    client_queue: usize,
    /// The source's own log, for resumes older than the window.
    history: Option<Arc<dyn History>>,
    /// Permits to read `history`, one per client reading it.
    backfills: Arc<Semaphore>,
    /// True once the source has told the hub where its history starts
    /// (see [`Hub::loaded`]); resuming clients wait for it.
    loaded: watch::Sender<bool>,
}

/// What the hub broadcasts to every client.
#[derive(Debug, Clone)]
pub enum Item {
    Event(Arc<Envelope>),
    /// The gateway's clock, every ping interval: time to ping and to check
    /// the idle timeout. One clock for all clients instead of a timer each,
    /// which an idle connection would carry for its whole life.
    Tick,
    /// The source could not prove that it missed nothing (pub/sub
    /// re-subscribed, a stream was trimmed past where the source was):
    /// every id up to this one may be gone. Clients say so (`lost`).
    Gap(EventId),
}

struct State {
    /// The fan-out; `None` once the hub is closed, which ends every
    /// client's live stream.
    tx: Option<broadcast::Sender<Item>>,
    events: VecDeque<Arc<Envelope>>,
    capacity: usize,
    /// Uuids of the events in `events`: a repeat of one is dropped.
    uuids: HashSet<Uuid>,
    /// Newest id handed out or accepted.
    last_id: Option<EventId>,
    /// Every event with an id at or below the floor is gone from the window
    /// (evicted, or from before this gateway knew of it).
    floor: EventId,
    /// Holes in the window, oldest first: where the source lost continuity
    /// ([`Hub::resync`]), events between the window's previous event and
    /// this id may be gone.
    gaps: VecDeque<EventId>,
}

/// What a new client starts from.
pub struct Subscription {
    /// Live events published after the subscription, and clock ticks; it
    /// reports `Closed` once the hub closes.
    pub live: broadcast::Receiver<Item>,
    /// The newest id at subscription time: a replay runs up to it, live
    /// events follow it.
    pub last_id: Option<EventId>,
    /// The newest id of an event this client may see: all that `hello`
    /// may tell it (an id of an event it may not see would reveal that
    /// event, and when it happened).
    pub last_visible: Option<EventId>,
}

/// What the window holds after a client's position (see [`Hub::read`]).
pub enum Window {
    /// Events after the position, oldest first.
    Events(Vec<Arc<Envelope>>),
    /// The position is older than the window, whose events start after
    /// this id.
    Below(EventId),
    /// Right after the position, events up to this id may be gone (the
    /// source lost continuity there); the window goes on after it.
    Gap(EventId),
}

/// The outcome of [`Hub::publish`].
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    Invalid(#[from] EventError),
    #[error("event id {id} is not newer than {last}; skipped as a repeat")]
    Stale { id: EventId, last: EventId },
    #[error("event uuid {0} was delivered already; skipped as a repeat")]
    Duplicate(Uuid),
}

impl PublishError {
    pub fn reason(&self) -> &'static str {
        match self {
            PublishError::Invalid(e) => e.reason(),
            PublishError::Stale { .. } => "stale",
            PublishError::Duplicate(_) => "duplicate",
        }
    }
}

impl Hub {
    /// `client_queue` bounds each client's backlog, `window` the replay
    /// history; `history` is the source's own log, if it keeps one.
    ///
    /// The hub starts unloaded, its floor at the current time: until the
    /// source says otherwise ([`Hub::load`], [`Hub::resync`]), it cannot
    /// vouch for anything before now.
    pub fn new(client_queue: usize, window: usize, max_event_bytes: usize, history: Option<Arc<dyn History>>) -> Hub {
        let (tx, _) = broadcast::channel(client_queue.max(1));
        Hub {
            window: Mutex::new(State {
                tx: Some(tx),
                events: VecDeque::with_capacity(window.min(4096)),
                capacity: window.max(1),
                uuids: HashSet::new(),
                last_id: None,
                floor: Hub::now_floor(),
                gaps: VecDeque::new(),
            }),
            max_event_bytes,
            client_queue: client_queue.max(1),
            history,
            backfills: Arc::new(Semaphore::new(MAX_BACKFILLS)),
            loaded: watch::Sender::new(false),
        }
    }

    /// The floor for a source that keeps no history: whatever happened
    /// before this moment may have been missed.
    pub fn now_floor() -> EventId {
        EventId::new(now_ms().saturating_sub(1), u64::MAX)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
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
        self.add(event, id, received_at, true)
    }

    /// Like [`Hub::publish`], into the window only: for a source filling
    /// the window with what happened before it started, which no connected
    /// client asked for.
    pub fn preload(&self, raw: &[u8], id: EventId) -> Result<EventId, PublishError> {
        let event = Event::parse(raw, self.max_event_bytes)?;
        self.add(event, Some(id), Instant::now(), false)
    }

    fn add(
        &self,
        event: Event,
        id: Option<EventId>,
        received_at: Instant,
        fan_out: bool,
    ) -> Result<EventId, PublishError> {
        let mut w = self.lock();
        let id = match (id, w.last_id) {
            (Some(id), Some(last)) if id <= last => return Err(PublishError::Stale { id, last }),
            (Some(id), _) => id,
            (None, last) => next_id(last.max(Some(w.floor))),
        };
        if let Some(uuid) = event.uuid {
            if w.uuids.contains(&uuid) {
                return Err(PublishError::Duplicate(uuid));
            }
            w.uuids.insert(uuid);
        }
        let envelope = Arc::new(Envelope::new(id, event, received_at));
        if w.events.len() == w.capacity {
            if let Some(old) = w.events.pop_front() {
                w.floor = w.floor.max(old.id);
                if let Some(uuid) = &old.event.uuid {
                    w.uuids.remove(uuid);
                }
                while w.gaps.front().is_some_and(|&gap| gap <= old.id) {
                    w.gaps.pop_front();
                }
            }
        }
        w.events.push_back(envelope.clone());
        w.last_id = Some(id);
        if let (Some(tx), true) = (&w.tx, fan_out) {
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

    pub fn is_closed(&self) -> bool {
        self.lock().tx.is_none()
    }

    /// Starts a client: its live receiver, and where its replay ends.
    pub fn subscribe(&self, who: Option<&Identity>) -> Subscription {
        let w = self.lock();
        let live = match &w.tx {
            Some(tx) => tx.subscribe(),
            // Closed: a receiver whose sender is already gone.
            None => broadcast::channel(1).1,
        };
        let last_visible = w.events.iter().rev().find(|e| auth::may_see(who, &e.event)).map(|e| e.id);
        Subscription { live, last_id: w.last_id, last_visible }
    }

    /// Events after `after` up to `upto`, at most `limit`, if the window
    /// still holds `after`'s successors.
    pub fn read(&self, after: EventId, upto: EventId, limit: usize) -> Window {
        let w = self.lock();
        if after < w.floor {
            return Window::Below(w.floor);
        }
        let gap = w.gaps.iter().copied().find(|&gap| gap > after && gap <= upto);
        let start = w.events.partition_point(|e| e.id <= after);
        let events: Vec<_> = w
            .events
            .range(start..)
            .take_while(|e| e.id <= upto && gap.map_or(true, |gap| e.id < gap))
            .take(limit)
            .cloned()
            .collect();
        match gap {
            Some(gap) if events.is_empty() => Window::Gap(gap),
            _ => Window::Events(events),
        }
    }

    /// The source has loaded what it keeps: ids up to `floor` are beyond
    /// reach (of the window; a source's [`History`] may still have them).
    /// Resuming clients are let in from now on.
    pub fn load(&self, floor: EventId) {
        self.lock().floor = floor;
        self.loaded.send_replace(true);
    }

    /// The source (re)connected and cannot prove it missed nothing up to
    /// `upto`: notes a hole after the newest event (the window before it
    /// stays good) and tells every client ([`Item::Gap`]); ids from now on
    /// are newer than `upto`. Also marks the hub loaded.
    pub fn resync(&self, upto: EventId) {
        let mut w = self.lock();
        if upto > w.floor && w.last_id.map_or(true, |last| upto > last) {
            w.gaps.push_back(upto);
            w.last_id = Some(upto);
            if let Some(tx) = &w.tx {
                let _ = tx.send(Item::Gap(upto));
            }
        }
        drop(w);
        self.loaded.send_replace(true);
    }

    /// Whether the source has loaded (see [`Hub::load`]).
    pub fn is_loaded(&self) -> bool {
        *self.loaded.borrow()
    }

    /// Waits until the source has loaded.
    pub async fn wait_loaded(&self) {
        let mut loaded = self.loaded.subscribe();
        // Err only if the sender is gone, which it cannot be while `self` lives.
        let _ = loaded.wait_for(|l| *l).await;
    }

    /// Waits for a permit to read the source's log (see [`MAX_BACKFILLS`]).
    /// `None` only if the semaphore were closed, which it never is.
    pub async fn backfill_permit(&self) -> Option<OwnedSemaphorePermit> {
        self.backfills.clone().acquire_owned().await.ok()
    }

    pub fn history(&self) -> Option<&dyn History> {
        self.history.as_deref()
    }

    pub fn max_event_bytes(&self) -> usize {
        self.max_event_bytes
    }

    pub fn window_size(&self) -> usize {
        self.lock().capacity
    }

    /// Events a client may fall behind (`--client-queue`).
    pub fn client_queue(&self) -> usize {
        self.client_queue
    }

    pub fn last_id(&self) -> Option<EventId> {
        self.lock().last_id
    }

    /// When the newest event in the window was received (a preloaded one:
    /// when it was loaded), for the status page's "age of the last event".
    pub fn last_received_at(&self) -> Option<Instant> {
        self.lock().events.back().map(|e| e.received_at)
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

    fn hub(queue: usize, window: usize) -> Hub {
        let hub = Hub::new(queue, window, 16384, None);
        hub.load(EventId::ZERO);
        hub
    }

    fn ids(window: Window) -> Vec<EventId> {
        match window {
            Window::Events(events) => events.iter().map(|e| e.id).collect(),
            Window::Below(floor) => panic!("below the window (floor {floor})"),
            Window::Gap(gap) => panic!("a gap up to {gap}"),
        }
    }

    #[test]
    fn ids_increase_and_reads_are_exact() {
        let hub = hub(16, 100);
        let ids_: Vec<_> = (0..5).map(|n| hub.publish(&raw(n), None).unwrap()).collect();
        assert!(ids_.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(ids(hub.read(ids_[1], ids_[4], 100)), ids_[2..]);
        assert_eq!(ids(hub.read(ids_[1], ids_[3], 100)), ids_[2..4], "up to `upto` only");
        assert_eq!(ids(hub.read(ids_[1], ids_[4], 2)), ids_[2..4], "at most `limit`");
        assert_eq!(hub.subscribe(None).last_id, Some(ids_[4]));
    }

    #[test]
    fn eviction_raises_the_floor() {
        let hub = hub(16, 3);
        let ids_: Vec<_> = (0..5).map(|n| hub.publish(&raw(n), None).unwrap()).collect();
        assert!(matches!(hub.read(ids_[0], ids_[4], 100), Window::Below(floor) if floor == ids_[1]));
        // A client that saw the newest evicted event lost nothing.
        assert_eq!(ids(hub.read(ids_[1], ids_[4], 100)), ids_[2..]);
    }

    #[test]
    fn source_ids_must_increase() {
        let hub = hub(16, 3);
        hub.publish(&raw(0), Some(EventId::new(10, 0))).unwrap();
        let err = hub.publish(&raw(1), Some(EventId::new(10, 0))).unwrap_err();
        assert_eq!(err.reason(), "stale");
        assert!(hub.publish(&raw(1), Some(EventId::new(10, 1))).is_ok());
    }

    #[test]
    fn a_uuid_is_taken_once_while_its_event_is_in_the_window() {
        let hub = hub(16, 2);
        let with = |n: u32| {
            format!(r#"{{"page_title":"P{n}","user_name":"U","timestamp":"2026-11-25T01:02:03Z","summary":"","uuid":"00000000-0000-4000-8000-00000000000{n}"}}"#).into_bytes()
        };
        hub.publish(&with(1), None).unwrap();
        assert_eq!(hub.publish(&with(1), None).unwrap_err().reason(), "duplicate");
        hub.publish(&with(2), None).unwrap();
        hub.publish(&with(3), None).unwrap(); // evicts 1
        assert!(hub.publish(&with(1), None).is_ok(), "out of the window, a uuid is new again");
    }

    #[test]
    fn hello_names_only_what_the_client_may_see() {
        let hub = hub(16, 10);
        let public = hub.publish(&raw(0), None).unwrap();
        let alert = br#"{"type":"alert","page_title":"P","user_name":"U","timestamp":"2026-11-25T01:02:03Z","summary":"","audience":{"rights":["patrol"]}}"#;
        let hidden = hub.publish(alert, None).unwrap();
        let patroller =
            Identity { user_id: 1, name: "P".into(), rights: HashSet::from(["patrol".to_owned()]), expires: 0 };
        assert_eq!(hub.subscribe(None).last_visible, Some(public));
        assert_eq!(hub.subscribe(Some(&patroller)).last_visible, Some(hidden));
        assert_eq!(hub.subscribe(None).last_id, Some(hidden), "the replay still runs to the newest id");
    }

    #[tokio::test]
    async fn live_follows_the_subscription_without_gap() {
        let hub = hub(16, 100);
        hub.publish(&raw(0), None).unwrap();
        let mut sub = hub.subscribe(None);
        let second = hub.publish(&raw(1), None).unwrap();
        match sub.live.recv().await.unwrap() {
            Item::Event(e) => assert_eq!(e.id, second),
            other => panic!("expected the event, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn preloaded_events_are_kept_but_not_broadcast() {
        let hub = Hub::new(16, 100, 16384, None);
        let mut sub = hub.subscribe(None);
        hub.preload(&raw(0), EventId::new(5, 0)).unwrap();
        hub.load(EventId::new(4, 0));
        assert!(hub.is_loaded());
        assert_eq!(ids(hub.read(EventId::new(4, 0), EventId::new(5, 0), 10)), [EventId::new(5, 0)]);
        assert!(matches!(sub.live.try_recv(), Err(broadcast::error::TryRecvError::Empty)));
    }

    #[tokio::test]
    async fn a_resync_raises_the_floor_and_tells_clients_in_order() {
        let hub = hub(16, 100);
        let mut sub = hub.subscribe(None);
        let before = hub.publish(&raw(0), None).unwrap();
        let floor = EventId::new(before.ms + 5, u64::MAX);
        hub.resync(floor);
        let after = hub.publish(&raw(1), None).unwrap();
        assert!(after > floor);
        assert!(matches!(sub.live.recv().await, Ok(Item::Event(e)) if e.id == before));
        assert!(matches!(sub.live.recv().await, Ok(Item::Gap(f)) if f == floor));
        assert!(matches!(sub.live.recv().await, Ok(Item::Event(e)) if e.id == after));
        hub.resync(floor); // no news: no gap
        assert!(matches!(sub.live.try_recv(), Err(broadcast::error::TryRecvError::Empty)));
        // The window before the hole still serves; the hole is reported, then what follows.
        assert_eq!(ids(hub.read(EventId::ZERO, after, 10)), [before]);
        assert!(matches!(hub.read(before, after, 10), Window::Gap(g) if g == floor));
        assert_eq!(ids(hub.read(floor, after, 10)), [after]);
    }

    #[tokio::test]
    async fn close_ends_live_streams_after_what_is_queued() {
        let hub = hub(16, 100);
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
