//! History: what a resuming client missed, whichever source it came from.
//!
//! The hub keeps the newest events in memory (its window). A source that
//! keeps a log of its own (the Redis Stream; a RabbitMQ stream next) plugs
//! it in behind [`History`], so a client resuming from further back is
//! served from there, page by page. A client never knows which source is
//! behind the hub: it walks a [`Replay`], which reads the window while the
//! window still holds its position and the source's log once it does not.
//!
//! A replay is pulled, not pushed: the client asks for the next page only
//! after it has written the previous one to its socket, so a client that
//! does not read holds one page, not the whole gap. Reads from a source's
//! log wait for one of a few global permits ([`Hub::backfills`]), so many
//! resuming clients cannot make the gateway read the log all at once.

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::OwnedSemaphorePermit;

use crate::event::{Envelope, Event, EventId, Uuid};
use crate::hub::{Hub, Window};

/// Entries read from a source's log per page, and events taken from the
/// window per page: what one resuming client holds at a time.
pub const PAGE: usize = 100;

/// A source's log of past events, older than the hub's window.
///
/// Ids must be ordered as the log is: the Redis Stream's entry ids are; an
/// offset-based log (a RabbitMQ stream, a Kafka partition) can use
/// `EventId::new(0, offset)` or `EventId::new(timestamp_ms, offset)` as
/// long as it hands the hub the same ids live, and reads "after `after`"
/// from offset `after.seq + 1`.
pub trait History: Send + Sync + 'static {
    /// Entries with `after < id <= upto`, oldest first, at most `limit`.
    fn read(&self, after: EventId, upto: EventId, limit: usize) -> Read<'_>;
}

/// What [`History::read`] returns.
pub type Read<'a> = Pin<Box<dyn Future<Output = anyhow::Result<Chunk>> + Send + 'a>>;

/// One read from a source's log.
#[derive(Debug)]
pub struct Chunk {
    /// Raw entries, oldest first (the hub parses and checks them as it
    /// does live ones; a bad entry is skipped, but still moves the reader on).
    pub entries: Vec<(EventId, Vec<u8>)>,
    /// Every id up to this one is gone from the log (retention, deletion):
    /// a reader whose position is older has lost what lay in between.
    /// `EventId::ZERO` when the log never dropped anything.
    pub gone_upto: EventId,
    /// The read reached `upto`: fewer than `limit` entries were left.
    pub complete: bool,
}

/// One step of a [`Replay`].
pub enum Step {
    /// Events to send, oldest first (possibly none the client may see).
    Events(Vec<Arc<Envelope>>),
    /// The replay has reached where the client's live stream begins.
    Done,
}

/// Events lost for a client: everything after `since` up to `upto` is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gone {
    pub since: EventId,
    pub upto: EventId,
}

/// A client's walk from its `since` to where its live stream starts.
///
/// Lives only while the client replays (inside a boxed future), so what it
/// holds costs nothing to an idle connection.
pub struct Replay {
    hub: Arc<Hub>,
    /// Everything up to here was read (sent or skipped).
    cursor: EventId,
    /// The newest id at subscription: later events come through the live
    /// receiver, so the replay stops here.
    upto: EventId,
    /// Set when some of the range was lost; the client says so before the
    /// next event it sends.
    lost: Option<Gone>,
    /// Held while reading the source's log.
    permit: Option<OwnedSemaphorePermit>,
    /// Uuids of the log's events already replayed, so a duplicate publish
    /// is sent once here as on the live path (bounded like the window).
    seen: Option<Box<Seen>>,
}

impl Replay {
    pub fn new(hub: Arc<Hub>, since: EventId, upto: EventId) -> Replay {
        Replay { hub, cursor: since, upto, lost: None, permit: None, seen: None }
    }

    /// Takes the loss noted so far, if any.
    pub fn take_lost(&mut self) -> Option<Gone> {
        self.lost.take()
    }

    /// The next page of the replay. Errors only when the source's log could
    /// not be read: the replay cannot go on without a hole, so the caller
    /// must not pretend it can.
    pub async fn next(&mut self) -> anyhow::Result<Step> {
        loop {
            if self.cursor >= self.upto {
                self.permit = None;
                return Ok(Step::Done);
            }
            let below = match self.hub.read(self.cursor, self.upto, PAGE) {
                Window::Events(events) => {
                    self.permit = None;
                    self.cursor = events.last().map_or(self.upto, |e| e.id);
                    return Ok(Step::Events(events));
                }
                Window::Gap(gap) => {
                    self.mark_lost(gap);
                    self.cursor = gap;
                    continue;
                }
                Window::Below(floor) => floor.min(self.upto),
            };
            let Some(history) = self.hub.history() else {
                // Nothing keeps what fell out of the window.
                self.mark_lost(below);
                self.cursor = below;
                continue;
            };
            if self.permit.is_none() {
                self.permit = self.hub.backfill_permit().await;
            }
            let chunk = history.read(self.cursor, below, PAGE).await?;
            if chunk.gone_upto > self.cursor {
                self.mark_lost(chunk.gone_upto.min(below));
            }
            let next = match (chunk.complete, chunk.entries.last()) {
                (false, Some((id, _))) => *id,
                _ => below,
            };
            let events = self.parse(chunk.entries, next);
            self.cursor = next.max(self.cursor);
            if !events.is_empty() {
                return Ok(Step::Events(events));
            }
        }
    }

    fn mark_lost(&mut self, upto: EventId) {
        let since = self.lost.map_or(self.cursor, |l| l.since);
        self.lost = Some(Gone { since, upto: self.lost.map_or(upto, |l| l.upto.max(upto)) });
    }

    /// Entries of the log as the hub would have taken them live: valid,
    /// within the size limit, in order, each uuid once.
    fn parse(&mut self, entries: Vec<(EventId, Vec<u8>)>, upto: EventId) -> Vec<Arc<Envelope>> {
        let now = Instant::now();
        let max_bytes = self.hub.max_event_bytes();
        let window = self.hub.window_size();
        let seen = self.seen.get_or_insert_with(|| Box::new(Seen::new(window)));
        let mut last = self.cursor;
        let mut events = Vec::with_capacity(entries.len());
        for (id, raw) in entries {
            if id <= last || id > upto {
                continue; // out of order or out of range: the log misbehaved
            }
            last = id;
            let Ok(event) = Event::parse_input(&raw, max_bytes) else {
                continue; // dropped (and counted) when it came in live
            };
            if event.uuid.is_some_and(|uuid| !seen.insert(uuid)) {
                continue;
            }
            events.push(Arc::new(Envelope::new(id, event, now)));
        }
        events
    }
}

/// The most recent uuids seen, at most `capacity` of them.
pub struct Seen {
    set: HashSet<Uuid>,
    order: VecDeque<Uuid>,
    capacity: usize,
}

impl Seen {
    pub fn new(capacity: usize) -> Seen {
        Seen { set: HashSet::new(), order: VecDeque::new(), capacity: capacity.max(1) }
    }

    /// Remembers `uuid`; false when it is remembered already.
    pub fn insert(&mut self, uuid: Uuid) -> bool {
        if !self.set.insert(uuid) {
            return false;
        }
        if self.order.len() == self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        self.order.push_back(uuid);
        true
    }
}
