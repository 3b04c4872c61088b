//! `check-config`, `gen-config`, `--version` and the environment in
//! `--help`, through the real binary as an operator runs it.

use std::path::Path;
use std::process::{Command, Output};

/// The binary with no `RTN_*` variable of the test's own environment (CI
/// may set some), plus `env`.
fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_realtimenotify"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("RTN_") {
            command.env_remove(name);
        }
    }
    command.args(args).envs(env.iter().copied()).output().expect("running realtimenotify")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn repo_file(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|err| panic!("reading {}: {err}", full.display()))
}

fn write(dir: &tempfile::TempDir, name: &str, content: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, content).expect("writing a config file");
    path.to_string_lossy().into_owned()
}

const TOKEN_SECRET: &str = "0123456789abcdef0123456789abcdef-token";
const INGEST_SECRET: &str = "ingest-secret-0123456789";

#[test]
fn gen_config_prints_the_example_file_exactly() {
    let out = run(&["gen-config"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), repo_file("deploy/realtimenotify.example.toml"));
}

/// Every flag of `serve` has a line in the generated file (set, or shown
/// commented out with its default), so the template is complete.
#[test]
fn gen_config_lists_every_setting() {
    let help = text(&run(&["serve", "--help"], &[]).stdout);
    let generated = text(&run(&["gen-config"], &[]).stdout);
    let flags: Vec<&str> = help
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("--"))
        .filter_map(|l| l.split(|c: char| !(c.is_ascii_lowercase() || c == '-')).next())
        .filter(|f| !f.is_empty() && !["config", "help"].contains(f))
        .collect();
    assert!(flags.len() > 20, "flags found in serve --help: {flags:?}");
    let missing: Vec<&&str> = flags
        .iter()
        .filter(|f| !generated.lines().any(|l| l.starts_with(&format!("{f} = ")) || l.starts_with(&format!("#{f} = "))))
        .collect();
    assert!(missing.is_empty(), "settings without a line in gen-config: {missing:?}");
}

#[test]
fn the_generated_file_passes_check_config_as_is_and_with_every_line_switched_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let generated = text(&run(&["gen-config"], &[]).stdout);
    let plain = write(&dir, "plain.toml", &generated);
    let out = run(&["check-config", "--config", &plain], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let all: String = generated
        .lines()
        .map(|l| match l.strip_prefix('#') {
            Some(rest) if rest.starts_with(|c: char| c.is_ascii_lowercase()) && rest.contains(" = ") => rest,
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let all = write(&dir, "all.toml", &all);
    let out = run(&["check-config", "--config", &all], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("auth-mode = \"public\""), "{}", text(&out.stdout));
}

/// The effective settings name where each value ended up, and no secret
/// (nor the Redis password) appears anywhere in the output.
#[test]
fn check_config_prints_effective_settings_with_secrets_redacted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write(
        &dir,
        "gw.toml",
        &format!("source = \"redis-stream\"\nchannel = \"from-file\"\ntoken-secrets = [\"{TOKEN_SECRET}\"]\n"),
    );
    let out = run(
        &["check-config", "--config", &config, "--channel", "from-flag"],
        &[
            ("RTN_INGEST_SECRET", INGEST_SECRET),
            ("RTN_WIKI_ID", "examplewiki"),
            ("RTN_REDIS_URL", "redis://:hunter2-password@10.0.0.5:6380/1"),
            ("RTN_LOG", "info,realtimenotify::client=debug"),
        ],
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    for expected in [
        "source = \"redis-stream\"",
        "channel = \"from-flag\"",
        "wiki-id = \"examplewiki\"",
        "redis-url = \"redis://***@10.0.0.5:6380/1\"",
        &format!("ingest-secret = \"<redacted: {} characters>\"", INGEST_SECRET.len()),
        &format!("token-secrets = [\"<redacted: {} characters>\"]", TOKEN_SECRET.len()),
        "client-queue = 1024",
    ] {
        assert!(stdout.contains(expected), "missing {expected:?} in:\n{stdout}");
    }
    for secret in [TOKEN_SECRET, INGEST_SECRET, "hunter2"] {
        assert!(!stdout.contains(secret) && !stderr.contains(secret), "{secret} leaked:\n{stdout}\n{stderr}");
    }
    // The output is itself a valid config file (TOML).
    let again = write(&dir, "effective.toml", &stdout);
    assert!(std::fs::read_to_string(&again).is_ok_and(|t| t.parse::<toml::Table>().is_ok()), "{stdout}");
    assert!(stderr.contains("configuration OK"), "{stderr}");
}

/// Arguments, environment, and what the error message must say.
type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str);

/// Each kind of mistake: exit status 2, a message that says what is wrong,
/// nothing on stdout.
#[test]
fn check_config_fails_clearly_on_each_problem() {
    let dir = tempfile::tempdir().expect("tempdir");
    let typo = write(&dir, "typo.toml", "lisen = \"127.0.0.1:8080\"\n");
    let broken = write(&dir, "broken.toml", "listen = \n");
    let missing = dir.path().join("absent.toml").to_string_lossy().into_owned();
    let cases: Vec<Case> = vec![
        (vec!["--config", &typo], vec![], "unknown field `lisen`"),
        (vec!["--config", &broken], vec![], "parsing config file"),
        (vec!["--config", &missing], vec![], "reading config file"),
        (vec!["--source", "http"], vec![], "needs --ingest-secret"),
        (vec![], vec![("RTN_INGEST_SECRET", "short")], "at least 16 characters"),
        (vec!["--auth-mode", "private"], vec![], "needs --token-secrets"),
        (vec![], vec![("RTN_TOKEN_SECRETS", TOKEN_SECRET)], "needs --wiki-id"),
        (vec!["--ping-interval", "60", "--idle-timeout", "30"], vec![], "--idle-timeout"),
        (vec!["--redis-url", "http://nope"], vec![], "bad redis url"),
        (vec![], vec![("RTN_SORUCE", "http")], "RTN_SORUCE is not read by the gateway"),
        (vec![], vec![("RTN_LOG", "info,[[[")], "RTN_LOG=\"info,[[[\" is not a log filter"),
    ];
    for (args, env, expected) in cases {
        let mut all = vec!["check-config"];
        all.extend(&args);
        let out = run(&all, &env);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?} {env:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?} {env:?}: expected {expected:?} in:\n{stderr}");
        assert!(out.stdout.is_empty(), "{args:?}: {}", text(&out.stdout));
    }
    // A value clap cannot parse, from the environment, is refused too.
    let out = run(&["check-config"], &[("RTN_LISTEN", "not-an-address")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("not-an-address"), "{}", text(&out.stderr));
}

#[test]
fn version_names_the_crate_version_and_revision() {
    let out = run(&["--version"], &[]);
    assert!(out.status.success());
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with(&format!("realtimenotify {} (revision ", env!("CARGO_PKG_VERSION"))), "{stdout}");
}

/// Every variable the gateway reads, `RTN_LOG` included, is in `--help`
/// (top level, `serve`, `check-config`) and in the README's table.
#[test]
fn every_environment_variable_is_in_help_and_readme() {
    let vars: Vec<String> =
        realtimenotify::config_check::environment_variables().into_iter().map(|(name, _)| name).collect();
    assert!(vars.len() > 25 && vars.contains(&"RTN_LOG".to_string()), "{vars:?}");
    let readme = repo_file("README.md");
    for args in [&["--help"][..], &["serve", "--help"], &["check-config", "--help"]] {
        let help = text(&run(args, &[]).stdout);
        let missing: Vec<&String> = vars.iter().filter(|v| !help.contains(&format!("  {v}  "))).collect();
        assert!(missing.is_empty(), "{args:?} --help misses {missing:?}:\n{help}");
    }
    let missing: Vec<&String> = vars.iter().filter(|v| !readme.contains(&format!("| `{v}` |"))).collect();
    assert!(missing.is_empty(), "README's environment table misses {missing:?}");
}
