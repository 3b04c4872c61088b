//! The seed design's source: SUBSCRIBE to a Redis pub/sub channel.
//!
//! Pub/sub keeps nothing: what is published while no gateway listens is
//! gone. That is why ids here come from the hub (clock-based) and why the
//! `redis-stream` source exists for operators who need durability. It is
//! also why every (re)subscription is a [`Hub::resync`]: what was published
//! while the gateway was not subscribed is gone, and clients are told.

use std::time::Duration;

use anyhow::Context;
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use super::{ingest, reconnect_backoff, Readiness, Running, Source};
use crate::broker::Broker;
use crate::hub::Hub;
use crate::metrics as m;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub struct RedisPubSub {
    pub broker: Broker,
    pub channel: String,
}

impl Source for RedisPubSub {
    fn run(self: Box<Self>, hub: std::sync::Arc<Hub>, ready: Readiness, shutdown: CancellationToken) -> Running {
        Box::pin(self.follow(hub, ready, shutdown))
    }
}

impl RedisPubSub {
    /// Subscribes and feeds the hub until `shutdown`, reconnecting with
    /// backoff whenever Redis goes away. Never returns an error: a broker
    /// outage must not take the gateway (and its connected clients) down.
    async fn follow(self, hub: std::sync::Arc<Hub>, ready: Readiness, shutdown: CancellationToken) {
        let mut backoff = reconnect_backoff();
        while !shutdown.is_cancelled() {
            match self.connect().await {
                Ok(pubsub) => {
                    tracing::info!(broker = %self.broker, channel = %self.channel, "subscribed to redis");
                    metrics::counter!(m::SOURCE_CONNECTS).increment(1);
                    // Anything published before this moment and not received
                    // is gone: clients behind it are told.
                    let now = Hub::now_floor();
                    hub.resync(hub.last_id().map_or(now, |last| last.next().max(now)));
                    ready.set(true);
                    backoff.reset();
                    let mut messages = pubsub.into_on_message();
                    loop {
                        tokio::select! {
                            _ = shutdown.cancelled() => break,
                            msg = messages.next() => match msg {
                                Some(msg) => {
                                    let _ = ingest(&hub, "redis", msg.get_payload_bytes(), None);
                                }
                                None => {
                                    tracing::warn!("redis connection lost; reconnecting");
                                    break;
                                }
                            },
                        }
                    }
                    ready.set(false);
                }
                Err(err) => tracing::warn!(error = %format!("{err:#}"), "cannot subscribe to redis; retrying"),
            }
            let delay = backoff.next_delay();
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(delay) => {}
            }
        }
    }

    async fn connect(&self) -> anyhow::Result<redis::aio::PubSub> {
        let client = self.broker.client().await?;
        let mut pubsub = tokio::time::timeout(CONNECT_TIMEOUT, client.get_async_pubsub())
            .await
            .context("connecting to redis timed out")?
            .with_context(|| format!("connecting to {}", self.broker))?;
        pubsub.subscribe(&self.channel).await.with_context(|| format!("subscribing to {}", self.channel))?;
        Ok(pubsub)
    }
}
