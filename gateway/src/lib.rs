//! RealTimeNotify gateway: receives MediaWiki change events (from Redis or
//! over HTTP) and pushes each one to every connected WebSocket client.
//!
//! The pieces, each in its own module:
//!
//! - [`config`]: flags, `RTN_*` environment and TOML file → [`config::Settings`];
//! - [`config_check`]: `check-config`, `gen-config`, the environment in `--help`;
//! - [`event`]: the event schema, validation, ids, and the shared frame;
//! - [`hub`]: fan-out (a broadcast channel) plus the replay window;
//! - [`history`]: what a resuming client missed: the window, then the
//!   source's own log ([`history::History`]), page by page;
//! - [`source`]: tasks that feed the hub (Redis pub/sub, Redis Streams,
//!   `POST /v1/events`), each plugged in as a [`source::Source`];
//! - [`broker`]: one Redis server, Sentinel or Cluster;
//! - [`admission`]: Origin allow-list and per-IP limits at the handshake;
//! - [`auth`]: connection tokens and who may see which event;
//! - [`client`]: one task per WebSocket client;
//! - [`filter`]: per-client subscription filters;
//! - [`server`]: HTTP routes, health, metrics, shutdown;
//! - [`listener`]: the accept loop: connection limits, the handshake
//!   deadline, running out of file descriptors;
//! - [`protocol`]: the protocol's names, close codes and refusals;
//! - [`upgrade`]: the WebSocket handshake, down to the bare TCP stream;
//! - [`socket`]: tungstenite on that stream, driven by tokio's readiness;
//! - [`metrics`]: metric names and the Prometheus exporter;
//! - [`status`]: `GET /v1/status` for the wiki's status page, behind a status token;
//! - [`logging`]: log output, with every field escaped.
//!
//! Shutdown is one [`CancellationToken`](tokio_util::sync::CancellationToken)
//! handed to every task: the signal handler cancels it, sources stop, the
//! hub closes (so clients close with 1001), and [`server::run`] returns.

pub mod admission;
pub mod auth;
pub mod broker;
pub mod client;
pub mod config;
pub mod config_check;
pub mod event;
pub mod filter;
pub mod history;
pub mod hub;
pub mod listener;
pub mod logging;
pub mod metrics;
pub mod protocol;
pub mod server;
pub mod socket;
pub mod source;
pub mod status;
pub mod upgrade;
