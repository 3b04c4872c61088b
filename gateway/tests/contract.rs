//! The gateway against `contract/`: the limits, names and example events that
//! the wiki (PHPUnit) and the browser module (node tests) check too. A rule
//! changed on one side only fails here.

use std::path::{Path, PathBuf};

use realtimenotify::config::{Options, Settings, MIN_INGEST_SECRET, MIN_TOKEN_SECRET};
use realtimenotify::event::{self, Event, EventType};
use serde_json::Value;

fn contract_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../contract")
}

fn read_json(name: &str) -> Value {
    let path = contract_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

fn number(v: &Value, path: &str) -> usize {
    let found = path.split('.').fold(v, |v, key| &v[key]);
    found.as_u64().unwrap_or_else(|| panic!("contract has no number at {path}")) as usize
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("contract has no string at {key}"))
}

/// Every `*.json` in `contract/events/<kind>/`, as (file name, bytes).
fn examples(kind: &str) -> Vec<(String, Vec<u8>)> {
    let dir = contract_dir().join("events").join(kind);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "too few {kind} examples in {}", dir.display());
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()));
            (p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(), bytes)
        })
        .collect()
}

#[test]
fn limits_match_the_contract() {
    let limits = read_json("limits.json");
    assert_eq!(number(&limits, "event.schema"), event::SCHEMA_VERSION as usize);
    assert_eq!(number(&limits, "event.page_title_max_bytes"), event::MAX_TITLE_BYTES);
    assert_eq!(number(&limits, "event.user_name_max_bytes"), event::MAX_USER_BYTES);
    assert_eq!(number(&limits, "event.summary_max_chars"), event::MAX_SUMMARY_CHARS);
    assert_eq!(number(&limits, "event.wiki_max_bytes"), event::MAX_WIKI_BYTES);
    assert_eq!(number(&limits, "event.url_max_bytes"), event::MAX_URL_BYTES);
    assert_eq!(number(&limits, "event.reasons_max"), event::MAX_REASONS);
    assert_eq!(number(&limits, "event.audience_rights_max"), event::MAX_AUDIENCE_RIGHTS);
    assert_eq!(number(&limits, "event.audience_right_max_bytes"), event::MAX_RIGHT_BYTES);
    assert_eq!(number(&limits, "token.secret_min_length"), MIN_TOKEN_SECRET);
    assert_eq!(number(&limits, "ingest.secret_min_length"), MIN_INGEST_SECRET);
    assert_eq!(number(&limits, "filter.titles_max"), realtimenotify::filter::MAX_TITLES);
    assert_eq!(number(&limits, "filter.namespaces_max"), realtimenotify::filter::MAX_NAMESPACES);
    let defaults = Settings::try_from(Options::default()).expect("defaults are valid");
    assert_eq!(number(&limits, "event.max_event_bytes_default"), defaults.max_event_bytes);
}

#[test]
fn reason_codes_follow_the_contract_pattern() {
    let limits = read_json("limits.json");
    assert_eq!(text(&limits["event"], "reason_code_pattern"), "^[a-z0-9_]{1,32}$", "is_code() implements this pattern");
    for ok in ["a", "blanking", "new_user_watched", "x1_2", &"a".repeat(32)] {
        assert!(event::is_code(ok), "{ok} should be a code");
    }
    for bad in ["", "Blanking", "large-removal", "a b", &"a".repeat(33), "é"] {
        assert!(!event::is_code(bad), "{bad:?} should not be a code");
    }
    let names = read_json("names.json");
    for reason in names["alert_reasons"].as_array().expect("alert_reasons") {
        assert!(event::is_code(reason.as_str().unwrap_or("")), "{reason} is not a valid code");
    }
}

#[test]
fn names_match_the_contract() {
    let names = read_json("names.json");
    let defaults = Settings::try_from(Options::default()).expect("defaults are valid");
    assert_eq!(text(&names, "pubsub_channel"), defaults.channel);
    assert_eq!(text(&names, "stream_key"), defaults.stream_key);
    assert_eq!(text(&names, "stream_field"), realtimenotify::source::redis_stream::FIELD);
    assert_eq!(text(&names, "token_issuer"), realtimenotify::auth::ISSUER);
    assert_eq!(text(&names, "subprotocol"), realtimenotify::protocol::PROTOCOL);
    assert_eq!(text(&names, "token_subprotocol_prefix"), realtimenotify::protocol::TOKEN_PROTOCOL_PREFIX);
    let types: Vec<&str> =
        names["event_types"].as_array().expect("event_types").iter().filter_map(Value::as_str).collect();
    for t in &types {
        let parsed: EventType = serde_json::from_value(Value::from(*t)).unwrap_or_else(|e| panic!("type {t}: {e}"));
        assert_eq!(serde_json::to_value(parsed).ok(), Some(Value::from(*t)));
    }
    assert!(serde_json::from_value::<EventType>(Value::from("nuke")).is_err());
    let codes = &names["close_codes"];
    use realtimenotify::protocol::close;
    let ours = [
        ("normal", close::NORMAL),
        ("going_away", close::GOING_AWAY),
        ("policy", close::POLICY),
        ("too_big", close::TOO_BIG),
        ("try_again_later", close::TRY_AGAIN_LATER),
        ("lagged", close::LAGGED),
        ("token_expired", close::TOKEN_EXPIRED),
        ("bad_request", close::BAD_REQUEST),
        ("unauthorized", close::UNAUTHORIZED),
        ("forbidden", close::FORBIDDEN),
        ("too_many_connections", close::TOO_MANY),
    ];
    for (name, code) in ours {
        assert_eq!(number(codes, name), code as usize, "close code {name}");
    }
    assert_eq!(
        codes.as_object().map(|o| o.len()),
        Some(ours.len()),
        "every close code of the contract is the gateway's"
    );
}

#[test]
fn valid_examples_are_accepted() {
    for (name, raw) in examples("valid") {
        if let Err(err) = Event::parse(&raw, event::DEFAULT_MAX_EVENT_BYTES) {
            panic!("contract/events/valid/{name} refused: {err}");
        }
    }
}

#[test]
fn invalid_examples_are_refused() {
    for (name, raw) in examples("invalid") {
        if let Ok(event) = Event::parse(&raw, event::DEFAULT_MAX_EVENT_BYTES) {
            panic!("contract/events/invalid/{name} accepted: {event:?}");
        }
    }
}
