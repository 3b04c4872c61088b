//! The `realtimenotify` command.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use realtimenotify::config::{Options, Settings};
use tokio_util::sync::CancellationToken;

/// mimalloc instead of glibc's malloc: a gateway holds many thousands of
/// small per-connection allocations, and mimalloc packs them tighter
/// (measured in `bench/`, idle scenario).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Real-time push notifications for MediaWiki: a WebSocket gateway fed by
/// Redis (pub/sub or Streams) or by HTTP POSTs from the wiki.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    ///
    /// Examples:
    ///   realtimenotify serve                                  # Redis on 127.0.0.1:6379, ws://127.0.0.1:8080/v1/ws
    ///   RTN_INGEST_SECRET=... realtimenotify serve --source http
    ///   realtimenotify serve --config /etc/realtimenotify.toml
    #[command(verbatim_doc_comment)]
    Serve(Options),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let Command::Serve(options) = cli.command;
    let settings = match options.with_file().and_then(Settings::try_from) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("realtimenotify: {err:#}");
            return ExitCode::from(2);
        }
    };
    realtimenotify::logging::init(settings.log_format);
    // The TLS library behind `rediss://` needs its crypto picked once per process.
    let _ = rustls::crypto::ring::default_provider().install_default();
    match serve(settings) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %format!("{err:#}"), "gateway failed");
            ExitCode::FAILURE
        }
    }
}

#[tokio::main]
async fn serve(settings: Settings) -> anyhow::Result<()> {
    let listener = realtimenotify::listener::bind(settings.listen, settings.listen_backlog)
        .with_context(|| format!("binding {}", settings.listen))?;
    let shutdown = CancellationToken::new();
    tokio::spawn(stop_on_signal(shutdown.clone()));
    realtimenotify::server::run(settings, listener, shutdown).await
}

/// Cancels `shutdown` on SIGTERM or SIGINT (Ctrl-C).
async fn stop_on_signal(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = ctrl_c => {},
                _ = term.recv() => {},
            },
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM; only Ctrl-C stops the gateway");
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("signal received");
    shutdown.cancel();
}
