//! The `realtimenotify` command.

use std::process::ExitCode;

use anyhow::Context;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use realtimenotify::config::{Options, Settings};
use realtimenotify::config_check;
use tokio_util::sync::CancellationToken;

/// mimalloc instead of glibc's malloc: a gateway holds many thousands of
/// small per-connection allocations, and mimalloc packs them tighter
/// (measured in `bench/`, idle scenario).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Real-time push notifications for MediaWiki: a WebSocket gateway fed by
/// Redis (pub/sub or Streams) or by HTTP POSTs from the wiki.
#[derive(Parser)]
#[command(version = VERSION, about, long_about = None)]
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
    /// Check a configuration before a deploy: the --config file, the RTN_*
    /// environment and the flags, as `serve` would take them. Prints the
    /// effective settings (secrets redacted); exits 2 on any problem.
    ///
    /// Example:
    ///   sudo -u realtimenotify env $(cat /etc/realtimenotify/gw1.env) \
    ///     realtimenotify check-config --config /etc/realtimenotify/gw1.toml
    #[command(verbatim_doc_comment)]
    CheckConfig(Options),
    /// Print a complete, commented configuration file (every setting, its
    /// default and what it is for) to start from.
    ///
    /// Example:
    ///   realtimenotify gen-config > /etc/realtimenotify/gw1.toml
    #[command(verbatim_doc_comment)]
    GenConfig,
}

/// `--version`: the crate version and the git revision it was built from,
/// as `rtn_build_info` reports them.
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (revision ", env!("RTN_REVISION"), ")");

/// The command line, with the list of environment variables (built from
/// the settings themselves, see [`config_check::environment_help`]) under
/// `--help` of the command and of each subcommand that reads them.
fn parse() -> Cli {
    let environment = config_check::environment_help();
    let command = Cli::command()
        .after_help(environment.clone())
        .mut_subcommand("serve", |c| c.after_help(environment.clone()))
        .mut_subcommand("check-config", |c| c.after_help(environment.clone()));
    match Cli::from_arg_matches(&command.get_matches()) {
        Ok(cli) => cli,
        Err(err) => err.exit(),
    }
}

fn main() -> ExitCode {
    let options = match parse().command {
        Command::Serve(options) => options,
        Command::CheckConfig(options) => return check_config(options),
        Command::GenConfig => {
            print!("{}", config_check::EXAMPLE_CONFIG);
            return ExitCode::SUCCESS;
        }
    };
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

/// `check-config`: the effective settings on stdout, or every problem on
/// stderr and exit status 2 (as `serve` exits on a bad configuration).
fn check_config(options: Options) -> ExitCode {
    let environment: Vec<(String, String)> = std::env::vars_os()
        .map(|(k, v)| (k.to_string_lossy().into_owned(), v.to_string_lossy().into_owned()))
        .collect();
    match config_check::check(options, &environment) {
        Ok(effective) => {
            print!("{effective}");
            eprintln!("realtimenotify: configuration OK");
            ExitCode::SUCCESS
        }
        Err(problems) => {
            for problem in &problems {
                eprintln!("realtimenotify: error: {problem}");
            }
            eprintln!("realtimenotify: configuration has {} problem(s)", problems.len());
            ExitCode::from(2)
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
