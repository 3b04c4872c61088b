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
//! it handed to the hub: nothing is skipped, nothing repeated (and if the
//! stream was trimmed past that id meanwhile, clients are told). Resumes
//! older than the window are read from the stream itself ([`StreamHistory`]).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use redis::streams::{StreamId, StreamRangeReply, StreamReadOptions, StreamReadReply};
use redis::{AsyncCommands, Value};
use tokio_util::sync::CancellationToken;

use super::{ingest, preload, reconnect_backoff, Backoff, Readiness, Running, Source};
use crate::broker::{Broker, Connection};
use crate::event::EventId;
use crate::history::{Chunk, History, Read};
use crate::hub::Hub;
use crate::metrics as m;

/// The stream entry field that holds the event JSON.
pub const FIELD: &str = "event";

/// How long one `XREAD` blocks; short enough to notice shutdown promptly.
const BLOCK: Duration = Duration::from_secs(5);
/// Entries fetched per `XREAD`.
const BATCH: usize = 1000;

pub struct RedisStream {
    broker: Broker,
    key: String,
    /// How many recent entries to load into the hub at start.
    window: usize,
    /// The same stream, read by resuming clients.
    history: Arc<StreamHistory>,
}

impl Source for RedisStream {
    fn history(&self) -> Option<Arc<dyn History>> {
        Some(self.history.clone())
    }

    fn run(self: Box<Self>, hub: Arc<Hub>, ready: Readiness, shutdown: CancellationToken) -> Running {
        Box::pin(self.follow_until(hub, ready, shutdown))
    }
}

impl RedisStream {
    pub fn new(broker: Broker, key: String, window: usize) -> RedisStream {
        let history = Arc::new(StreamHistory { broker: broker.clone(), key: key.clone(), conn: Default::default() });
        RedisStream { broker, key, window, history }
    }

    /// Follows the stream until `shutdown`, reconnecting with backoff.
    async fn follow_until(self, hub: Arc<Hub>, ready: Readiness, shutdown: CancellationToken) {
        let mut backoff = reconnect_backoff();
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
        match *last {
            None => *last = Some(self.preload(&mut conn, hub).await?),
            Some(from) => {
                // Entries after `from` that the stream trimmed while we were
                // away are gone: clients are told.
                let gone = trimmed_floor(&mut conn, &self.key).await?;
                if gone > from {
                    tracing::warn!(key = %self.key, from = %from, gone = %gone, "the stream was trimmed past where the gateway was; clients are told events were lost");
                    hub.resync(gone);
                    *last = Some(gone);
                }
            }
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
                    tracing::warn!(id = ?entry.id, "stream entry with an unreadable id; skipped");
                    continue;
                };
                *last = Some(id);
                let _ = ingest(hub, "redis-stream", payload(&entry), Some(id));
            }
        }
    }

    /// Loads the newest `window` entries into the hub (without sending them
    /// to anyone) and tells it which ids the window cannot serve. Returns
    /// the id to follow from.
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
        let mut last = floor;
        for entry in entries.iter().rev() {
            if let Ok(id) = entry.id.parse::<EventId>() {
                last = last.max(id);
                let _ = preload(hub, "redis-stream", payload(entry), id);
            }
        }
        hub.load(floor);
        tracing::info!(key = %self.key, loaded = entries.len(), floor = %floor, "loaded recent events from the stream");
        Ok(last)
    }
}

/// The stream as history: pages of entries older than the hub's window,
/// for clients resuming from far back (see [`crate::history`]).
///
/// Every resuming client reads through one connection, opened when first
/// needed and again after an error (a multiplexed connection pipelines the
/// clients' commands): resuming clients never cost Redis a connection each.
pub struct StreamHistory {
    broker: Broker,
    key: String,
    conn: tokio::sync::Mutex<Option<Connection>>,
}

impl StreamHistory {
    /// The shared connection, connecting if there is none.
    async fn connection(&self) -> anyhow::Result<Connection> {
        let mut conn = self.conn.lock().await;
        if let Some(conn) = conn.as_ref() {
            return Ok(conn.clone());
        }
        let fresh = self.broker.connect(Duration::from_secs(5)).await?;
        *conn = Some(fresh.clone());
        Ok(fresh)
    }

    async fn range(&self, after: EventId, upto: EventId, limit: usize) -> anyhow::Result<Chunk> {
        let mut conn = self.connection().await?;
        let read = async {
            let start = format!("({after}");
            let range: StreamRangeReply = conn
                .xrange_count(&self.key, &start, upto.to_string(), limit)
                .await
                .with_context(|| format!("XRANGE {} {start} {upto} COUNT {limit}", self.key))?;
            // After the range: a trim between the two commands then shows as
            // a loss (at worst a false alarm), never as a silent hole.
            let gone_upto = trimmed_floor(&mut conn, &self.key).await?;
            anyhow::Ok((range, gone_upto))
        };
        let (range, gone_upto) = match read.await {
            Ok(read) => read,
            Err(err) => {
                // Reconnect next time: the connection may be what failed.
                *self.conn.lock().await = None;
                return Err(err);
            }
        };
        let complete = range.ids.len() < limit;
        let entries =
            range.ids.iter().filter_map(|entry| Some((entry.id.parse().ok()?, payload(entry).to_vec()))).collect();
        Ok(Chunk { entries, gone_upto, complete })
    }
}

impl History for StreamHistory {
    fn read(&self, after: EventId, upto: EventId, limit: usize) -> Read<'_> {
        Box::pin(self.range(after, upto, limit))
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
