//! `realtimenotify check-config` and `gen-config`, and the list of
//! environment variables shown by `--help`.
//!
//! An operator wants to know before a deploy, not after a restart loop,
//! whether a configuration holds: `check-config` resolves flags, `RTN_*`
//! environment and the `--config` file exactly as `serve` does, reports
//! every problem it finds (a bad file, a bad combination, an `RTN_*`
//! variable nobody reads, an unreadable `RTN_LOG`), and prints the settings
//! `serve` would run with, every secret redacted, so that the output can be
//! pasted into a ticket.
//!
//! `gen-config` prints `deploy/realtimenotify.example.toml` itself
//! (embedded at build time): one file is the documented, tested example and
//! the generated template, so the two cannot drift apart.

use std::fmt::Write as _;

use clap::{Args, Command};

use crate::config::{AuthMode, LogFormat, Options, Settings, SourceKind};

/// The complete commented configuration, as `gen-config` prints it.
pub const EXAMPLE_CONFIG: &str = include_str!("../../deploy/realtimenotify.example.toml");

/// The one variable that is no setting of [`Options`]: the log filter,
/// read by [`crate::logging::init`].
pub const LOG_VARIABLE: &str = "RTN_LOG";

/// Every environment variable the gateway reads, with a one-line help:
/// each setting's (taken from [`Options`] itself, so a new setting is listed
/// without anyone remembering to) and [`LOG_VARIABLE`].
pub fn environment_variables() -> Vec<(String, String)> {
    let command = Options::augment_args(Command::new("serve"));
    let mut vars: Vec<(String, String)> = command
        .get_arguments()
        .filter_map(|arg| {
            let env = arg.get_env()?.to_string_lossy().into_owned();
            let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
            let first = help.split(" [default").next().unwrap_or_default().trim().to_string();
            Some((env, format!("--{}: {first}", arg.get_long().unwrap_or_default())))
        })
        .collect();
    vars.push((
        LOG_VARIABLE.to_string(),
        "log verbosity: error, warn, info, debug, trace, or a filter such as \
         `info,realtimenotify::client=debug` [default: info]"
            .to_string(),
    ));
    vars
}

/// The `Environment:` section of `--help`.
pub fn environment_help() -> String {
    let vars = environment_variables();
    let width = vars.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
    let mut text = String::from(
        "Environment (flags win over the environment, which wins over the --config file;\n\
         a secret belongs here or in the file, never on the command line):\n",
    );
    for (name, help) in vars {
        let _ = writeln!(text, "  {name:width$}  {help}");
    }
    text
}

/// What `check-config` found wrong; each entry is one problem, said so that
/// the operator knows what to change.
pub type Problems = Vec<String>;

/// Checks `options` (already holding flags and environment) with its
/// `--config` file and the rest of the `RTN_*` environment (`environment`,
/// given so tests need not touch the process's own). Returns the effective
/// settings as TOML, secrets redacted.
pub fn check(options: Options, environment: &[(String, String)]) -> Result<String, Problems> {
    let mut problems = Problems::new();
    let known: Vec<String> = environment_variables().into_iter().map(|(name, _)| name).collect();
    for (name, value) in environment {
        if !name.starts_with("RTN_") {
            continue;
        }
        if !known.contains(name) {
            problems.push(format!(
                "environment variable {name} is not read by the gateway (a typo?); known ones: {}",
                known.join(", ")
            ));
        } else if name == LOG_VARIABLE {
            if let Err(err) = tracing_subscriber::EnvFilter::try_new(value) {
                problems.push(format!("{LOG_VARIABLE}={value:?} is not a log filter: {err}"));
            }
        }
    }
    let settings = options.with_file().and_then(Settings::try_from);
    match settings {
        Ok(settings) if problems.is_empty() => Ok(effective(&settings)),
        Ok(_) => Err(problems),
        Err(err) => {
            problems.insert(0, format!("{err:#}"));
            Err(problems)
        }
    }
}

/// A secret as `check-config` shows it: that it is set and how long it is
/// (too short is a common mistake), never any of its characters.
fn redacted(secret: &str) -> String {
    format!("\"<redacted: {} characters>\"", secret.chars().count())
}

/// A TOML string literal (TOML basic strings escape like JSON).
fn quoted(text: &str) -> String {
    serde_json::Value::String(text.to_string()).to_string()
}

fn list(items: impl IntoIterator<Item = String>) -> String {
    format!("[{}]", items.into_iter().collect::<Vec<_>>().join(", "))
}

/// The settings `serve` would run with, as TOML with the config file's key
/// names; secrets redacted (see [`redacted`]), the Redis password too.
pub fn effective(s: &Settings) -> String {
    let source = match s.source {
        SourceKind::Redis => "redis",
        SourceKind::RedisStream => "redis-stream",
        SourceKind::Http => "http",
        SourceKind::Rabbitmq => "rabbitmq",
    };
    let auth_mode = match s.auth_mode {
        AuthMode::Public => "public",
        AuthMode::Private => "private",
    };
    let log_format = match s.log_format {
        LogFormat::Human => "human",
        LogFormat::Json => "json",
    };
    let mut lines: Vec<(&str, String)> = vec![("listen", quoted(&s.listen.to_string())), ("source", quoted(source))];
    if let Some(broker) = &s.broker {
        // Display leaves the password out.
        lines.push(("redis-url", quoted(&broker.to_string())));
    }
    lines.extend([
        ("channel", quoted(&s.channel)),
        ("stream-key", quoted(&s.stream_key)),
        (
            "ingest-secret",
            s.ingest_secret.as_deref().map_or_else(|| "# unset: POST /v1/events is off".into(), redacted),
        ),
        ("auth-mode", quoted(auth_mode)),
        ("token-secrets", list(s.token_secrets.iter().map(|k| redacted(k)))),
        ("wiki-id", s.wiki_id.as_deref().map_or_else(|| "# unset".into(), quoted)),
        ("token-leeway", s.token_leeway.to_string()),
        ("allowed-origins", list(s.allowed_origins.iter().map(|o| quoted(o)))),
        ("trusted-proxies", list(s.trusted_proxies.iter().map(|p| quoted(&p.to_string())))),
        ("max-connections-per-ip", s.max_connections_per_ip.to_string()),
        (
            "max-connections",
            s.max_connections.map_or_else(
                || "# unset: the open-files limit less a reserve, read at start".into(),
                |n| n.to_string(),
            ),
        ),
        ("client-queue", s.client_queue.to_string()),
        ("replay-window", s.replay_window.to_string()),
        ("max-event-bytes", s.max_event_bytes.to_string()),
        ("ping-interval", s.ping_interval.as_secs().to_string()),
        ("idle-timeout", s.idle_timeout.as_secs().to_string()),
        ("write-timeout", s.write_timeout.as_secs().to_string()),
        ("max-lag", s.max_lag.as_secs().to_string()),
        ("handshake-timeout", s.handshake_timeout.as_secs().to_string()),
        ("max-client-frame", s.max_client_frame.to_string()),
        ("client-rate", s.client_rate.to_string()),
        ("shutdown-grace", s.shutdown_grace.as_secs().to_string()),
        ("log-format", quoted(log_format)),
        ("listen-backlog", s.listen_backlog.to_string()),
    ]);
    if let Some(amqp) = &s.amqp {
        // Display leaves the user and password out.
        lines.extend([
            ("amqp-url", quoted(&amqp.url.to_string())),
            ("amqp-stream", quoted(&amqp.stream)),
            ("amqp-exchange", quoted(&amqp.exchange)),
            ("amqp-dead-letter", quoted(&amqp.dead_letter)),
            ("amqp-max-age", quoted(&amqp.max_age)),
            ("amqp-max-bytes", amqp.max_bytes.to_string()),
        ]);
    }
    let mut text = String::from("# The settings `realtimenotify serve` would run with; secrets redacted.\n");
    for (name, value) in lines {
        match value.strip_prefix("# ") {
            // Unset and without a default: a comment, so the output stays valid TOML.
            Some(note) => writeln!(text, "# {name}: {note}"),
            None => writeln!(text, "{name} = {value}"),
        }
        .unwrap_or(());
    }
    text
}
