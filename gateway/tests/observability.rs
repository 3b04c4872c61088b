//! What operators watch: `/metrics` right after start, and the shipped
//! Grafana dashboard and Prometheus alert rules, which must only name metrics
//! the gateway really exports.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::redis_gateway;

/// Metric names in an exposition (`# TYPE name kind` lines and samples).
fn exported_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let name = match line.strip_prefix("# TYPE ") {
            Some(rest) => rest.split_whitespace().next(),
            None if line.starts_with('#') || line.is_empty() => None,
            None => line.split(['{', ' ']).next(),
        };
        if let Some(name) = name {
            names.insert(name.to_string());
        }
    }
    names
}

/// `rtn_*` and `process_*` identifiers in a file's text (PromQL inside JSON or YAML).
fn referenced_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let rest = &text[i..];
        let starts_word = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        if starts_word && (rest.starts_with("rtn_") || rest.starts_with("process_")) {
            let len = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
            names.insert(rest[..len].to_string());
            i += len;
        } else {
            i += rest.chars().next().map_or(1, char::len_utf8);
        }
    }
    names
}

/// A histogram is exported as `name_bucket`, `name_sum` and `name_count`.
fn is_exported(name: &str, exported: &BTreeSet<String>) -> bool {
    exported.contains(name)
        || ["_bucket", "_sum", "_count"]
            .iter()
            .any(|suffix| name.strip_suffix(suffix).is_some_and(|base| exported.contains(&format!("{base}_bucket"))))
}

fn read(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

#[tokio::test]
async fn metrics_answer_from_the_start_with_build_and_process_information() {
    let (_redis, gateway) = redis_gateway(&[]).await;
    let (status, text) = gateway.get("/metrics").await;
    assert_eq!(status, 200, "{text}");
    let version = format!("version=\"{}\"", env!("CARGO_PKG_VERSION"));
    let build =
        text.lines().find(|l| l.starts_with("rtn_build_info{")).unwrap_or_else(|| panic!("no build info:\n{text}"));
    assert!(build.contains(&version) && build.contains("revision=\"") && build.ends_with(" 1"), "{build}");
    for name in ["process_resident_memory_bytes", "process_open_fds", "process_max_fds"] {
        let value = gateway.metric(name).await;
        assert!(value > 0.0, "{name} is {value}");
    }
    assert!(text.lines().any(|l| l.starts_with("process_cpu_seconds_total ")), "no CPU time:\n{text}");
    assert!(gateway.metric("process_open_fds").await < gateway.metric("process_max_fds").await);
}

#[tokio::test]
async fn every_counter_is_there_at_zero_before_anything_happened() {
    let (_redis, gateway) = redis_gateway(&[]).await;
    let (_, text) = gateway.get("/metrics").await;
    let expected =
        ["rtn_events_received_total{source=\"redis\"} 0", "rtn_slow_client_drops_total 0", "rtn_messages_sent_total 0"]
            .into_iter()
            .map(String::from)
            .chain(
                realtimenotify::metrics::DROP_REASONS
                    .iter()
                    .map(|r| format!("rtn_events_dropped_total{{reason=\"{r}\"}} 0")),
            )
            .chain(
                realtimenotify::metrics::REJECT_REASONS
                    .iter()
                    .map(|r| format!("rtn_clients_rejected_total{{reason=\"{r}\"}} 0")),
            );
    for line in expected {
        assert!(text.lines().any(|l| l == line), "missing `{line}` in:\n{text}");
    }
}

#[tokio::test]
async fn the_dashboard_and_the_alert_rules_name_only_exported_metrics() {
    let (_redis, gateway) = redis_gateway(&[]).await;
    let (_, text) = gateway.get("/metrics").await;
    let exported = exported_names(&text);
    for file in ["deploy/grafana/realtimenotify.json", "deploy/prometheus/realtimenotify.rules.yml"] {
        let referenced = referenced_names(&read(file));
        assert!(referenced.len() >= 5, "{file} names too few metrics: {referenced:?}");
        let missing: Vec<_> = referenced.iter().filter(|name| !is_exported(name, &exported)).collect();
        assert!(
            missing.is_empty(),
            "{file} names metrics the gateway does not export: {missing:?}\nexported: {exported:?}"
        );
    }
}

#[test]
fn the_name_scanner_finds_names_in_promql() {
    let found = referenced_names(
        r#"{"expr": "sum(rate(rtn_events_received_total{a=\"b\"}[5m])) / process_max_fds", "x": "my_rtn_not"}"#,
    );
    assert_eq!(found, BTreeSet::from(["process_max_fds".to_string(), "rtn_events_received_total".to_string()]));
    let exported = exported_names("# TYPE rtn_x_bucket histogram\nrtn_x_bucket{le=\"1\"} 2\nrtn_y 1\n");
    assert!(is_exported("rtn_x_sum", &exported) && is_exported("rtn_y", &exported) && !is_exported("rtn_z", &exported));
}
