//! The RabbitMQ source: a durable RabbitMQ **stream** read over AMQP 0-9-1.
//!
//! The wiki publishes each event, persistent and with publisher confirms, to
//! a durable fanout exchange (`--amqp-exchange`) bound to a stream queue
//! (`--amqp-stream`, `x-queue-type=stream`, retention by `x-max-age` and
//! `x-max-length-bytes`). A stream is an append-only log: reading does not
//! remove anything, so every gateway reads the whole stream on its own, and
//! an entry keeps its offset for as long as it is retained. The offset is
//! the event id (`0-<offset + 1>`, so that `0-0` means "before everything"),
//! the same on every gateway: a client resumes on any of them with `since`,
//! exactly as with the Redis Stream source.
//!
//! On (re)connect the gateway declares the topology (idempotent), finds the
//! stream's tail by reading its last chunk, and consumes from the offset
//! right after what it has (the tail on first start, its last event after a
//! reconnection): nothing skipped, nothing repeated. Retention that removed
//! offsets it had not read shows as a jump in offsets and is told to clients
//! as `lost`. Resumes older than the hub's window are read from the stream
//! itself ([`StreamHistory`]).
//!
//! An event the gateway cannot accept (not JSON, not the schema, too large)
//! is not silently dropped: it is republished, with the reason in its
//! headers, to a dead-letter exchange and queue (`--amqp-dead-letter`) for
//! the operator to inspect, and counted in `rtn_events_dead_lettered_total`.
//! It also stays in the stream until retention removes it.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::uri::AMQPUri;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use tokio_util::sync::CancellationToken;

use super::{ingest, reconnect_backoff, Backoff, Readiness, Running, Source};
use crate::event::EventId;
use crate::history::{Chunk, History, Read};
use crate::hub::{Hub, PublishError};
use crate::metrics as m;

/// How long connecting (TCP, TLS and the AMQP handshake) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a broker may take to answer a declaration or deliver the next
/// message a read knows exists: longer means it is not answering.
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);
/// Unacknowledged deliveries the broker may send ahead (streams require a
/// prefetch). Acknowledging a stream delivery removes nothing: it only
/// grants the consumer credit for more.
const PREFETCH: u16 = 1000;
/// Deliveries acknowledged at once (`multiple`), well below [`PREFETCH`] so
/// the consumer never runs out of credit.
const ACK_EVERY: u64 = 100;
/// While finding the tail: how long to wait for the last chunk's first
/// message, and for each further one before the chunk is taken as read.
const TAIL_WAIT: Duration = Duration::from_secs(2);
const TAIL_QUIET: Duration = Duration::from_millis(100);

/// Where the broker is and what to read, from `--amqp-*`.
#[derive(Clone, PartialEq, Eq)]
pub struct Amqp {
    pub url: AmqpUrl,
    /// The stream queue the gateway reads.
    pub stream: String,
    /// The durable fanout exchange the wiki publishes to, bound to the stream.
    pub exchange: String,
    /// Name of the dead-letter exchange and of the queue bound to it.
    pub dead_letter: String,
    /// Stream retention by age (`x-max-age`: `7D`, `12h`, `30m`, ...).
    pub max_age: String,
    /// Stream retention by size (`x-max-length-bytes`).
    pub max_bytes: u64,
}

impl std::fmt::Debug for Amqp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Amqp({} stream {} exchange {})", self.url, self.stream, self.exchange)
    }
}

/// An `amqp://` or `amqps://` URL. Its password never leaves it: `Display`
/// and `Debug` show `***` instead, so settings and errors can be logged.
#[derive(Clone, PartialEq, Eq)]
pub struct AmqpUrl(String);

impl AmqpUrl {
    pub fn parse(url: &str) -> anyhow::Result<AmqpUrl> {
        let parsed = url.parse::<AMQPUri>().map_err(|err| {
            // The parser's message may quote the URL; say what it was without it.
            let err = if url.contains('@') { "not a valid URL".to_string() } else { err };
            anyhow::anyhow!("bad amqp url {}: {err}", redacted(url))
        })?;
        if parsed.authority.host.is_empty() {
            bail!("bad amqp url {}: no host", redacted(url));
        }
        Ok(AmqpUrl(url.to_string()))
    }

    /// The URL with its credentials, for connecting only.
    fn secret(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for AmqpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&redacted(&self.0))
    }
}

impl std::fmt::Debug for AmqpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AmqpUrl({self})")
    }
}

/// The URL without user and password, for logs.
pub fn redacted(url: &str) -> String {
    crate::broker::redacted(url)
}

/// The event id of stream offset `offset`: `0-(offset + 1)`, so that
/// `EventId::ZERO` is "before the first entry" and ids sort as offsets do.
pub fn id_of(offset: u64) -> EventId {
    EventId::new(0, offset.saturating_add(1))
}

/// The first stream offset after event id `id` (the inverse of [`id_of`],
/// plus one). Ids of another source (a millisecond part) lie after every
/// offset of this one.
fn offset_after(id: EventId) -> u64 {
    if id.ms > 0 {
        u64::MAX
    } else {
        id.seq
    }
}

pub struct RabbitMq {
    amqp: Amqp,
    history: Arc<StreamHistory>,
}

impl RabbitMq {
    pub fn new(amqp: Amqp) -> RabbitMq {
        let history = Arc::new(StreamHistory { amqp: amqp.clone(), conn: Default::default() });
        RabbitMq { amqp, history }
    }

    /// Follows the stream until `shutdown`, reconnecting with backoff.
    async fn follow_until(self, hub: Arc<Hub>, ready: Readiness, shutdown: CancellationToken) {
        let mut backoff = reconnect_backoff();
        // The offset of the last entry handed to the hub (or found as the tail).
        let mut last: Option<Position> = None;
        while !shutdown.is_cancelled() {
            match self.follow(&hub, &ready, &shutdown, &mut last, &mut backoff).await {
                Ok(()) => break,
                Err(err) => tracing::warn!(error = %format!("{err:#}"), broker = %self.amqp.url,
                    stream = %self.amqp.stream, last = ?last, "rabbitmq source interrupted; retrying"),
            }
            ready.set(false);
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(backoff.next_delay()) => {}
            }
        }
        ready.set(false);
    }

    /// One connection's life: declare, find where to start, consume until an error.
    async fn follow(
        &self,
        hub: &Hub,
        ready: &Readiness,
        shutdown: &CancellationToken,
        last: &mut Option<Position>,
        backoff: &mut Backoff,
    ) -> anyhow::Result<()> {
        let conn = connect(&self.amqp.url).await?;
        let channel = conn.create_channel().await.context("opening a channel")?;
        declare(&channel, &self.amqp).await?;
        let tail = tail(&conn, &self.amqp.stream).await?;
        let start = match (*last, tail) {
            // First start: what is in the stream is history; follow from after the tail.
            (None, tail) => {
                let floor = tail.map_or(EventId::ZERO, id_of);
                hub.load(floor);
                tracing::info!(stream = %self.amqp.stream, floor = %floor, "the stream's history is served from the stream");
                let position = tail.map_or(Position::Empty, Position::At);
                *last = Some(position);
                position
            }
            (Some(Position::At(had)), Some(tail)) if tail < had => {
                bail!(
                    "the stream's newest offset ({tail}) is older than the last one this gateway read ({had}): \
                     was the queue deleted and declared again? Restart the gateways to follow the new stream"
                );
            }
            (Some(position), _) => position,
        };
        let dead = DeadLetters::open(&conn, &self.amqp).await?;
        channel.basic_qos(PREFETCH, BasicQosOptions::default()).await.context("basic.qos")?;
        let mut args = FieldTable::default();
        args.insert("x-stream-offset".into(), start.consume_from());
        let mut consumer = channel
            .basic_consume(
                self.amqp.stream.as_str().into(),
                "realtimenotify".into(),
                BasicConsumeOptions::default(),
                args,
            )
            .await
            .with_context(|| format!("consuming stream {}", self.amqp.stream))?;
        tracing::info!(broker = %self.amqp.url, stream = %self.amqp.stream, from = ?start, "following rabbitmq stream");
        metrics::counter!(m::SOURCE_CONNECTS).increment(1);
        ready.set(true);
        backoff.reset();
        let mut unacked = 0u64;
        loop {
            let delivery = tokio::select! {
                _ = shutdown.cancelled() => {
                    let _ = conn.close(200, "gateway shutting down".into()).await;
                    return Ok(());
                }
                delivery = consumer.next() => delivery,
            };
            let Some(delivery) = delivery else {
                bail!("the broker cancelled the consumer of {} (queue deleted?)", self.amqp.stream);
            };
            let delivery = delivery.with_context(|| format!("reading stream {}", self.amqp.stream))?;
            unacked += 1;
            if unacked >= ACK_EVERY {
                delivery
                    .acker
                    .ack(BasicAckOptions { multiple: true })
                    .await
                    .context("acknowledging deliveries (credit for more)")?;
                unacked = 0;
            }
            let Some(offset) = stream_offset(&delivery.properties) else {
                tracing::warn!(stream = %self.amqp.stream, "delivery without x-stream-offset; skipped");
                continue;
            };
            match *last {
                Some(Position::At(had)) if offset <= had => continue, // read already
                Some(Position::At(had)) if offset > had + 1 => {
                    let upto = id_of(offset - 1);
                    tracing::warn!(stream = %self.amqp.stream, after = had, next = offset,
                        "stream entries were removed (retention) before this gateway read them; clients are told events were lost");
                    hub.resync(upto);
                }
                _ => {}
            }
            *last = Some(Position::At(offset));
            if let Err(PublishError::Invalid(err)) = ingest(hub, "rabbitmq", &delivery.data, Some(id_of(offset))) {
                dead.send(&delivery.data, offset, err.reason(), &err.to_string()).await;
            }
        }
    }
}

impl Source for RabbitMq {
    fn history(&self) -> Option<Arc<dyn History>> {
        Some(self.history.clone())
    }

    fn run(self: Box<Self>, hub: Arc<Hub>, ready: Readiness, shutdown: CancellationToken) -> Running {
        Box::pin(self.follow_until(hub, ready, shutdown))
    }
}

/// Where the gateway is in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Position {
    /// The stream was empty when the gateway started: read from its start.
    Empty,
    /// Everything up to this offset was read (or is history).
    At(u64),
}

impl Position {
    fn consume_from(self) -> AMQPValue {
        match self {
            Position::Empty => AMQPValue::LongString("first".into()),
            Position::At(offset) => AMQPValue::LongLongInt(offset.saturating_add(1).min(i64::MAX as u64) as i64),
        }
    }
}

async fn connect(url: &AmqpUrl) -> anyhow::Result<Connection> {
    let properties = ConnectionProperties::default().with_connection_name("realtimenotify gateway".into());
    match tokio::time::timeout(CONNECT_TIMEOUT, Connection::connect(url.secret(), properties)).await {
        Ok(conn) => conn.with_context(|| format!("connecting to {url}")),
        Err(_) => bail!("connecting to {url} timed out after {CONNECT_TIMEOUT:?}"),
    }
}

/// Waits at most [`REPLY_TIMEOUT`] for a broker's answer.
async fn reply<T>(what: &str, call: impl std::future::Future<Output = lapin::Result<T>>) -> anyhow::Result<T> {
    match tokio::time::timeout(REPLY_TIMEOUT, call).await {
        Ok(answer) => answer.with_context(|| what.to_string()),
        Err(_) => bail!("{what}: no answer from the broker within {REPLY_TIMEOUT:?}"),
    }
}

/// Declares what the gateway and the wiki use: the exchange, the stream
/// bound to it, and the dead-letter exchange and queue. Idempotent; a
/// declaration with other arguments than the existing queue's fails
/// (`PRECONDITION_FAILED`), which the error then says.
pub async fn declare(channel: &Channel, amqp: &Amqp) -> anyhow::Result<()> {
    let durable = ExchangeDeclareOptions { durable: true, ..Default::default() };
    reply(
        &format!("declaring exchange {}", amqp.exchange),
        channel.exchange_declare(amqp.exchange.as_str().into(), ExchangeKind::Fanout, durable, FieldTable::default()),
    )
    .await?;
    let mut args = FieldTable::default();
    args.insert("x-queue-type".into(), AMQPValue::LongString("stream".into()));
    args.insert("x-max-age".into(), AMQPValue::LongString(amqp.max_age.as_str().into()));
    args.insert("x-max-length-bytes".into(), AMQPValue::LongLongInt(amqp.max_bytes.min(i64::MAX as u64) as i64));
    // Retention removes whole segments: keep several per retained size, so
    // a small limit is honoured (RabbitMQ's default segment is 500 MB).
    let segment = (amqp.max_bytes / 4).clamp(1 << 20, 500_000_000);
    args.insert("x-stream-max-segment-size-bytes".into(), AMQPValue::LongLongInt(segment as i64));
    let queue = QueueDeclareOptions { durable: true, ..Default::default() };
    reply(
        &format!("declaring stream {} (an existing queue of that name must have the same arguments)", amqp.stream),
        channel.queue_declare(amqp.stream.as_str().into(), queue, args),
    )
    .await?;
    reply(
        &format!("binding stream {} to exchange {}", amqp.stream, amqp.exchange),
        channel.queue_bind(
            amqp.stream.as_str().into(),
            amqp.exchange.as_str().into(),
            "".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        ),
    )
    .await?;
    reply(
        &format!("declaring exchange {}", amqp.dead_letter),
        channel.exchange_declare(
            amqp.dead_letter.as_str().into(),
            ExchangeKind::Fanout,
            durable,
            FieldTable::default(),
        ),
    )
    .await?;
    // A classic durable queue, bounded so that a flood of bad events cannot
    // fill the broker's disk (the oldest go first).
    let mut args = FieldTable::default();
    args.insert("x-max-length".into(), AMQPValue::LongLongInt(DEAD_LETTER_MAX));
    reply(
        &format!("declaring queue {}", amqp.dead_letter),
        channel.queue_declare(amqp.dead_letter.as_str().into(), queue, args),
    )
    .await?;
    reply(
        &format!("binding queue {} to exchange {}", amqp.dead_letter, amqp.dead_letter),
        channel.queue_bind(
            amqp.dead_letter.as_str().into(),
            amqp.dead_letter.as_str().into(),
            "".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        ),
    )
    .await?;
    Ok(())
}

/// Most messages the dead-letter queue keeps.
const DEAD_LETTER_MAX: i64 = 10_000;

/// The offset of the stream's newest entry, `None` for an empty stream.
///
/// AMQP 0-9-1 has no "length" for a stream (`message_count` of
/// `queue.declare-ok` is a statistic, updated every few seconds), so the
/// tail is read: a consumer attached at `last` gets the newest chunk. Any
/// offset seen is one that exists, so whatever is seen bounds the history;
/// what arrives later comes through the main consumer.
async fn tail(conn: &Connection, stream: &str) -> anyhow::Result<Option<u64>> {
    let channel = conn.create_channel().await.context("opening a channel")?;
    channel.basic_qos(PREFETCH, BasicQosOptions::default()).await.context("basic.qos")?;
    let count = reply(
        &format!("checking stream {stream}"),
        channel.queue_declare(
            stream.into(),
            QueueDeclareOptions { passive: true, durable: true, ..Default::default() },
            FieldTable::default(),
        ),
    )
    .await?
    .message_count();
    let mut args = FieldTable::default();
    args.insert("x-stream-offset".into(), AMQPValue::LongString("last".into()));
    let mut consumer = channel
        .basic_consume(stream.into(), "realtimenotify-tail".into(), BasicConsumeOptions::default(), args)
        .await
        .with_context(|| format!("reading the tail of stream {stream}"))?;
    let mut newest = None;
    let mut wait = TAIL_WAIT;
    while let Ok(next) = tokio::time::timeout(wait, consumer.next()).await {
        let Some(delivery) = next else { break };
        let delivery = delivery.with_context(|| format!("reading the tail of stream {stream}"))?;
        if let Some(offset) = stream_offset(&delivery.properties) {
            newest = newest.max(Some(offset));
        }
        wait = TAIL_QUIET;
    }
    let _ = channel.basic_cancel("realtimenotify-tail".into(), BasicCancelOptions::default()).await;
    let _ = channel.close(200, "tail found".into()).await;
    if newest.is_none() && count > 0 {
        bail!("stream {stream} holds {count} messages but its newest chunk did not arrive within {TAIL_WAIT:?}");
    }
    Ok(newest)
}

/// The offset RabbitMQ puts on each stream delivery.
fn stream_offset(properties: &BasicProperties) -> Option<u64> {
    let headers = properties.headers().as_ref()?;
    let value = headers.inner().get("x-stream-offset")?;
    let offset = match value {
        AMQPValue::LongLongInt(v) => *v,
        AMQPValue::LongInt(v) => i64::from(*v),
        AMQPValue::LongUInt(v) => i64::from(*v),
        AMQPValue::ShortInt(v) => i64::from(*v),
        AMQPValue::ShortShortInt(v) => i64::from(*v),
        _ => return None,
    };
    u64::try_from(offset).ok()
}

/// Where refused events go: the dead-letter exchange, with publisher
/// confirms so that "dead-lettered" means the broker has it.
struct DeadLetters {
    channel: Channel,
    exchange: String,
}

impl DeadLetters {
    async fn open(conn: &Connection, amqp: &Amqp) -> anyhow::Result<DeadLetters> {
        let channel = conn.create_channel().await.context("opening the dead-letter channel")?;
        channel.confirm_select(ConfirmSelectOptions::default()).await.context("confirm.select")?;
        Ok(DeadLetters { channel, exchange: amqp.dead_letter.clone() })
    }

    /// Republishes a refused event with why (`x-rtn-reason`, the metric's
    /// label; `x-rtn-error`, the message) and where it was
    /// (`x-rtn-stream-offset`). A failure is logged: the event is still in
    /// the stream, and the drop was counted.
    async fn send(&self, raw: &[u8], offset: u64, reason: &'static str, error: &str) {
        let mut headers = FieldTable::default();
        headers.insert("x-rtn-reason".into(), AMQPValue::LongString(reason.into()));
        let error: String = error.chars().take(500).collect();
        headers.insert("x-rtn-error".into(), AMQPValue::LongString(LongString::from(error)));
        headers.insert("x-rtn-stream-offset".into(), AMQPValue::LongLongInt(offset.min(i64::MAX as u64) as i64));
        let properties = BasicProperties::default()
            .with_delivery_mode(2)
            .with_headers(headers)
            .with_message_id(ShortString::from(format!("stream-offset-{offset}")));
        let published = async {
            self.channel
                .basic_publish(
                    self.exchange.as_str().into(),
                    "".into(),
                    BasicPublishOptions::default(),
                    raw,
                    properties,
                )
                .await?
                .await
        };
        match tokio::time::timeout(REPLY_TIMEOUT, published).await {
            Ok(Ok(confirmation)) if confirmation.is_ack() => {
                metrics::counter!(m::EVENTS_DEAD_LETTERED, "reason" => reason).increment(1);
                tracing::info!(exchange = %self.exchange, offset, reason, "refused event dead-lettered");
            }
            Ok(Ok(confirmation)) => {
                tracing::error!(exchange = %self.exchange, offset, ?confirmation, "the broker did not take a dead letter")
            }
            Ok(Err(err)) => tracing::error!(exchange = %self.exchange, offset, error = %err, "could not dead-letter"),
            Err(_) => tracing::error!(exchange = %self.exchange, offset, "dead-lettering timed out"),
        }
    }
}

/// The stream as history: pages of entries older than the hub's window,
/// for clients resuming from far back (see [`crate::history`]).
///
/// Each read is a consumer attached at the first offset wanted, on a channel
/// of its own, cancelled once it has the page; every read shares one
/// connection, opened when first needed and again after an error.
pub struct StreamHistory {
    amqp: Amqp,
    conn: tokio::sync::Mutex<Option<Arc<Connection>>>,
}

impl StreamHistory {
    async fn connection(&self) -> anyhow::Result<Arc<Connection>> {
        let mut conn = self.conn.lock().await;
        if let Some(conn) = conn.as_ref().filter(|c| c.status().connected()) {
            return Ok(conn.clone());
        }
        let fresh = Arc::new(connect(&self.amqp.url).await?);
        *conn = Some(fresh.clone());
        Ok(fresh)
    }

    async fn range(&self, after: EventId, upto: EventId, limit: usize) -> anyhow::Result<Chunk> {
        let start = offset_after(after);
        // The offset of `upto` itself: the last one wanted.
        let end = upto.seq.saturating_sub(1);
        if upto.ms > 0 || upto.seq == 0 || start > end || limit == 0 {
            return Ok(Chunk { entries: Vec::new(), gone_upto: EventId::ZERO, complete: true });
        }
        let conn = self.connection().await?;
        let read = self.read(&conn, start, end, limit).await;
        if read.is_err() {
            *self.conn.lock().await = None;
        }
        read
    }

    async fn read(&self, conn: &Connection, start: u64, end: u64, limit: usize) -> anyhow::Result<Chunk> {
        let stream = self.amqp.stream.as_str();
        let channel = conn.create_channel().await.context("opening a channel")?;
        let prefetch = u16::try_from(limit.min(usize::from(PREFETCH))).unwrap_or(PREFETCH);
        channel.basic_qos(prefetch, BasicQosOptions::default()).await.context("basic.qos")?;
        let mut args = FieldTable::default();
        args.insert("x-stream-offset".into(), AMQPValue::LongLongInt(start.min(i64::MAX as u64) as i64));
        let mut consumer = channel
            .basic_consume(stream.into(), "realtimenotify-history".into(), BasicConsumeOptions::default(), args)
            .await
            .with_context(|| format!("reading stream {stream} from offset {start}"))?;
        let mut entries = Vec::new();
        let mut first = None;
        while entries.len() < limit {
            let delivery = match tokio::time::timeout(REPLY_TIMEOUT, consumer.next()).await {
                Ok(Some(delivery)) => delivery.with_context(|| format!("reading stream {stream}"))?,
                Ok(None) => bail!("the broker cancelled the read of stream {stream}"),
                Err(_) => bail!("stream {stream}: offset {start}..={end} did not arrive within {REPLY_TIMEOUT:?}"),
            };
            let Some(offset) = stream_offset(&delivery.properties) else { continue };
            if offset < start {
                continue; // the chunk's entries before the one asked for
            }
            first.get_or_insert(offset);
            if offset > end {
                break;
            }
            entries.push((id_of(offset), delivery.data));
            if offset == end {
                break;
            }
        }
        let _ = channel.basic_cancel("realtimenotify-history".into(), BasicCancelOptions::default()).await;
        let _ = channel.close(200, "read done".into()).await;
        // A consumer asked for a removed offset starts at the oldest one kept.
        let gone_upto = match first {
            Some(first) if first > start => id_of(first - 1),
            _ => EventId::ZERO,
        };
        let complete = entries.len() < limit;
        Ok(Chunk { entries, gone_upto, complete })
    }
}

impl History for StreamHistory {
    fn read(&self, after: EventId, upto: EventId, limit: usize) -> Read<'_> {
        Box::pin(self.range(after, upto, limit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_offsets_plus_one() {
        assert_eq!(id_of(0).to_string(), "0-1");
        assert_eq!(offset_after(id_of(0)), 1);
        assert_eq!(offset_after(EventId::ZERO), 0);
        assert!(id_of(9) < id_of(10));
        // An id of another source (milliseconds) is after every offset.
        assert_eq!(offset_after(EventId::new(1_700_000_000_000, 0)), u64::MAX);
    }

    #[test]
    fn urls_never_show_their_password() {
        let url = AmqpUrl::parse("amqps://rtn:hunter2@broker.example:5671/%2f").unwrap();
        assert_eq!(url.to_string(), "amqps://***@broker.example:5671/%2f");
        assert!(!format!("{url:?}").contains("hunter2"));
        let err = AmqpUrl::parse("amqp://rtn:hunter2@").unwrap_err().to_string();
        assert!(!err.contains("hunter2"), "{err}");
        assert!(AmqpUrl::parse("http://x").is_err());
        assert!(AmqpUrl::parse("amqp://127.0.0.1:5672/%2f").is_ok());
    }

    #[test]
    fn offsets_come_from_the_header() {
        let mut headers = FieldTable::default();
        headers.insert("x-stream-offset".into(), AMQPValue::LongLongInt(41));
        assert_eq!(stream_offset(&BasicProperties::default().with_headers(headers)), Some(41));
        assert_eq!(stream_offset(&BasicProperties::default()), None);
        let mut negative = FieldTable::default();
        negative.insert("x-stream-offset".into(), AMQPValue::LongLongInt(-1));
        assert_eq!(stream_offset(&BasicProperties::default().with_headers(negative)), None);
    }
}
