//! The seed design's source: SUBSCRIBE to a Redis pub/sub channel.
//!
//! Pub/sub keeps nothing: what is published while no gateway listens is
//! gone. That is why ids here come from the hub (clock-based) and why the
//! `redis-stream` source exists for operators who need durability.

use std::time::Duration;

use anyhow::Context;
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use super::{ingest, Backoff, Readiness};
use crate::broker::Broker;
use crate::hub::Hub;
use crate::metrics as m;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub struct RedisPubSub {
    pub broker: Broker,
    pub channel: String,
}

impl RedisPubSub {
    /// Subscribes and feeds the hub until `shutdown`, reconnecting with
    /// backoff whenever Redis goes away. Never returns an error: a broker
    /// outage must not take the gateway (and its connected clients) down.
    pub async fn run(self, hub: std::sync::Arc<Hub>, ready: Readiness, shutdown: CancellationToken) {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(10));
        while !shutdown.is_cancelled() {
            match self.connect().await {
                Ok(pubsub) => {
                    tracing::info!(broker = %self.broker, channel = %self.channel, "subscribed to redis");
                    metrics::counter!(m::SOURCE_CONNECTS).increment(1);
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
