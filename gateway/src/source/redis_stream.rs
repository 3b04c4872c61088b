//! The durable source: a Redis Stream read with blocking `XREAD`.
//!
//! The wiki appends each event with `XADD <key> MAXLEN ~ N * event <json>`
//! (or `MINID ~`), so events survive a gateway restart and are kept for the
//! stream's retention. Every gateway reads the whole stream on its own (no
//! consumer group: each instance must fan out every event to its clients),
//! and the stream entry id is the event id clients see. Because ids are the
//! same on every instance, a client can resume on any of them.
//!
//! On start the gateway loads the newest `window` entries into the hub, so
//! clients can resume right away, then follows the stream from the newest
//! id. After a Redis restart or network error it carries on from the last id
//! it handed to the hub: nothing is skipped, nothing repeated.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use redis::streams::{StreamId, StreamRangeReply, StreamReadOptions, StreamReadReply};
use redis::{AsyncCommands, Value};
use tokio_util::sync::CancellationToken;

use super::{ingest, Backoff, Readiness};
use crate::broker::{Broker, Connection};
use crate::event::{Envelope, Event, EventId};
use crate::hub::Hub;
use crate::metrics as m;

/// The stream entry field that holds the event JSON.
pub const FIELD: &str = "event";

/// How long one `XREAD` blocks; short enough to notice shutdown promptly.
const BLOCK: Duration = Duration::from_secs(5);
/// Entries fetched per `XREAD`.
const BATCH: usize = 1000;

#[derive(Clone)]
pub struct RedisStream {
    pub broker: Broker,
    pub key: String,
    /// How many recent entries to load into the hub at start.
    pub window: usize,
    pub max_event_bytes: usize,
}

impl RedisStream {
    /// Follows the stream until `shutdown`, reconnecting with backoff.
    pub async fn run(self, hub: Arc<Hub>, ready: Readiness, shutdown: CancellationToken) {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(10));
        let mut last: Option<EventId> = None;
        while !shutdown.is_cancelled() {
            match self.follow(&hub, &ready, &shutdown, &mut last, &mut backoff).await {
                Ok(()) => break,
                Err(err) => {
                    tracing::warn!(error = %format!("{err:#}"), last = ?last.map(|l| l.to_string()), "redis stream source interrupted; retrying")
                }
            }
            ready.set(false);
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(backoff.next_delay()) => {}
            }
        }
        ready.set(false);
    }

    /// One connection's life: load history once, then read until an error.
    async fn follow(
        &self,
        hub: &Hub,
        ready: &Readiness,
        shutdown: &CancellationToken,
        last: &mut Option<EventId>,
        backoff: &mut Backoff,
    ) -> anyhow::Result<()> {
        let mut conn = self.broker.connect(BLOCK + Duration::from_secs(5)).await?;
        if last.is_none() {
            *last = Some(self.preload(&mut conn, hub).await?);
        }
        tracing::info!(broker = %self.broker, key = %self.key, from = %last.unwrap_or(EventId::ZERO), "following redis stream");
        metrics::counter!(m::SOURCE_CONNECTS).increment(1);
        ready.set(true);
        backoff.reset();
        let options = StreamReadOptions::default().block(BLOCK.as_millis() as usize).count(BATCH);
        loop {
            let from = last.unwrap_or(EventId::ZERO).to_string();
            let (keys, ids) = ([&self.key], [&from]);
            let read = conn.xread_options::<_, _, Option<StreamReadReply>>(&keys, &ids, &options);
            let reply = tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                reply = read => reply.with_context(|| format!("XREAD {} {from}", self.key))?,
            };
            for entry in reply.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids) {
                let Ok(id) = entry.id.parse::<EventId>() else {
                    tracing::warn!(id = %entry.id, "stream entry with an unreadable id; skipped");
                    continue;
                };
                *last = Some(id);
                let _ = ingest(hub, "redis-stream", payload(&entry), Some(id));
            }
        }
    }

    /// Loads the newest `window` entries into the hub and tells it which ids
    /// are beyond reach. Returns the id to follow from.
    async fn preload(&self, conn: &mut Connection, hub: &Hub) -> anyhow::Result<EventId> {
        let newest: StreamRangeReply = conn
            .xrevrange_count(&self.key, "+", "-", self.window + 1)
            .await
            .with_context(|| format!("XREVRANGE {}", self.key))?;
        let mut entries = newest.ids;
        // One entry more than the window: it marks the floor and stays out.
        let floor = if entries.len() > self.window {
            entries.pop().and_then(|e| e.id.parse().ok()).unwrap_or(EventId::ZERO)
        } else {
            trimmed_floor(conn, &self.key).await?
        };
        hub.raise_floor(floor);
        let mut last = floor;
        for entry in entries.iter().rev() {
            if let Ok(id) = entry.id.parse::<EventId>() {
                last = last.max(id);
                let _ = ingest(hub, "redis-stream", payload(entry), Some(id));
            }
        }
        tracing::info!(key = %self.key, loaded = entries.len(), floor = %floor, "loaded recent events from the stream");
        Ok(last)
    }
}

/// Reads older entries than the hub holds, for clients resuming from far back.
#[derive(Clone)]
pub struct StreamHistory {
    source: RedisStream,
}

/// What the stream still has between two ids.
pub struct Backfill {
    pub events: Vec<Arc<Envelope>>,
    /// The stream had already trimmed some of the range: events were lost.
    pub trimmed: bool,
    /// Every entry up to `upto` fit within the limit. When false the
    /// backfill must not be used: it would leave a hole before the window.
    pub complete: bool,
}

impl StreamHistory {
    pub fn new(source: RedisStream) -> StreamHistory {
        StreamHistory { source }
    }

    /// Entries with `after < id <= upto`, oldest first, at most `limit`.
    pub async fn between(&self, after: EventId, upto: EventId, limit: usize) -> anyhow::Result<Backfill> {
        let mut conn = self.source.broker.connect(Duration::from_secs(5)).await?;
        let trimmed = trimmed_floor(&mut conn, &self.source.key).await?;
        let start = format!("({after}");
        let range: StreamRangeReply = conn
            .xrange_count(&self.source.key, &start, upto.to_string(), limit)
            .await
            .with_context(|| format!("XRANGE {} {start} {upto}", self.source.key))?;
        let now = Instant::now();
        let events = range
            .ids
            .iter()
            .filter_map(|entry| {
                let id = entry.id.parse().ok()?;
                let event = Event::parse(payload(entry), self.source.max_event_bytes).ok()?;
                Some(Arc::new(Envelope::new(id, event, now)))
            })
            .collect::<Vec<_>>();
        Ok(Backfill { events, trimmed: after < trimmed, complete: range.ids.len() < limit })
    }
}

fn payload(entry: &StreamId) -> &[u8] {
    match entry.map.get(FIELD) {
        Some(Value::BulkString(bytes)) => bytes,
        _ => b"",
    }
}

/// The newest id the stream may have dropped, from `XINFO STREAM`: trimming
/// (`MAXLEN`/`MINID`) removes everything before `first-entry`, which shows as
/// `entries-added` exceeding `length`; `XDEL` shows as `max-deleted-entry-id`.
/// Zero for a stream that never lost an entry or does not exist yet.
async fn trimmed_floor(conn: &mut Connection, key: &str) -> anyhow::Result<EventId> {
    let info: redis::RedisResult<Value> = redis::cmd("XINFO").arg("STREAM").arg(key).query_async(conn).await;
    let info = match info {
        Ok(info) => info,
        Err(err) if err.to_string().contains("no such key") => return Ok(EventId::ZERO),
        Err(err) => return Err(err).with_context(|| format!("XINFO STREAM {key}")),
    };
    let pairs: Vec<(String, Value)> = match info {
        Value::Map(map) => {
            map.into_iter().filter_map(|(k, v)| Some((redis::from_redis_value::<String>(k).ok()?, v))).collect()
        }
        Value::Array(items) => items
            .chunks(2)
            .filter_map(|kv| Some((redis::from_redis_value::<String>(kv.first()?.clone()).ok()?, kv.get(1)?.clone())))
            .collect(),
        _ => Vec::new(),
    };
    let field = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let number = |name: &str| field(name).and_then(|v| redis::from_redis_value::<u64>(v).ok());
    let id = |v: Value| redis::from_redis_value::<String>(v).ok()?.parse::<EventId>().ok();
    let deleted = field("max-deleted-entry-id").and_then(id).unwrap_or(EventId::ZERO);
    let trimmed = match (number("entries-added"), number("length")) {
        (Some(added), Some(length)) if added > length => {
            // `first-entry` is [id, [field, value, ...]]; everything before it is gone.
            let first = match field("first-entry") {
                Some(Value::Array(entry)) => entry.into_iter().next().and_then(id),
                _ => None,
            };
            first.map_or(deleted, EventId::prev)
        }
        _ => EventId::ZERO,
    };
    Ok(deleted.max(trimmed))
}
