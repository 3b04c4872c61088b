//! Untrusted event bytes (Redis pub/sub, Redis Streams, `POST /v1/events`).
//!
//! Checks, for any input:
//! - `Event::parse(data, 16384)` never panics;
//! - an event that parsed always serializes (`Envelope::new` never panics),
//!   into a JSON object with `"op":"event"`, the envelope's `"id"`, and no
//!   `"audience"` key (a watcher list must never reach a browser);
//! - that frame, read back as an event, is the same event minus its audience
//!   (so re-serializing neither loses nor invents anything);
//! - `EventId::from_str` never panics, accepts only `<digits>[-<digits>]`,
//!   accepts every such id that fits in u64 (parts of at most 20 digits), and
//!   round-trips through Display.

#![no_main]

use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use realtimenotify::event::{Envelope, Event, EventId};

const MAX_EVENT_BYTES: usize = 16384;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        check_id(text);
        // Also each line, so short id-like inputs inside bigger ones get tried.
        for line in text.lines().take(8) {
            check_id(line);
        }
    }

    match Event::parse(data, MAX_EVENT_BYTES) {
        Ok(event) => check_envelope(data, event),
        Err(err) => {
            let _ = err.to_string();
            assert!(matches!(err.reason(), "too_large" | "invalid"));
            if data.len() > MAX_EVENT_BYTES {
                assert_eq!(err.reason(), "too_large");
            }
        }
    }
});

fn check_envelope(data: &[u8], event: Event) {
    assert!(data.len() <= MAX_EVENT_BYTES);
    assert_eq!(event.schema, 1);
    assert!(!event.page_title.is_empty() && event.page_title.len() <= 512);
    assert!(!event.user_name.is_empty() && event.user_name.len() <= 255);
    assert!(event.summary.chars().count() <= 1000);

    // Ids at both ends of the range, picked from the input so both get used.
    let n = data.len() as u64;
    let id = match data.first().map(|b| b % 3) {
        Some(0) => EventId::new(u64::MAX, u64::MAX - n),
        Some(1) => EventId::new(n, 0),
        _ => EventId::new(1_764_032_523_000 + n, n),
    };
    let envelope = Envelope::new(id, event.clone(), Instant::now());
    let frame = envelope.frame.as_str();
    let value: serde_json::Value = serde_json::from_str(frame).expect("frame is valid JSON");
    let object = value.as_object().expect("frame is a JSON object");
    assert_eq!(object.get("op").and_then(|v| v.as_str()), Some("event"), "{frame}");
    let printed = object.get("id").and_then(|v| v.as_str()).expect("frame has a string id");
    assert_eq!(printed.parse::<EventId>().expect("frame id parses"), id);
    assert!(!object.contains_key("audience"), "audience leaked: {frame}");
    for key in object.keys() {
        assert!(KNOWN_KEYS.contains(&key.as_str()), "unexpected key {key:?} in {frame}");
    }

    // The frame is itself a valid event (op/id are ignored as unknown fields)
    // and carries exactly what was parsed, minus the audience.
    let reparsed = Event::parse(frame.as_bytes(), usize::MAX).expect("frame re-parses as an event");
    let mut expected = event;
    expected.audience = None;
    assert_eq!(reparsed, expected);
}

const KNOWN_KEYS: &[&str] = &[
    "op",
    "id",
    "schema",
    "type",
    "page_title",
    "user_name",
    "timestamp",
    "summary",
    "wiki",
    "namespace",
    "page_id",
    "rev_id",
    "old_rev_id",
    "bot",
    "minor",
    "size_delta",
    "url",
    "target_title",
];

fn check_id(s: &str) {
    let parsed = s.parse::<EventId>();
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    let (ms, seq) = s.split_once('-').unwrap_or((s, "0"));
    let well_formed = digits(ms) && digits(seq);
    match parsed {
        Ok(id) => {
            assert!(well_formed, "{s:?} accepted as {id}");
            assert_eq!(ms.parse::<u64>().ok(), Some(id.ms));
            assert_eq!(seq.parse::<u64>().ok(), Some(id.seq));
            assert_eq!(id.to_string().parse::<EventId>().expect("printed id parses"), id);
            // next/prev are exact neighbours, except at the ends of the range,
            // where they saturate (the largest id is its own successor).
            if id != EventId::new(u64::MAX, u64::MAX) {
                assert!(id.next() > id, "{id}.next() = {}", id.next());
                assert_eq!(id.next().prev(), id);
            } else {
                assert_eq!(id.next(), id);
            }
            if id != EventId::ZERO {
                assert!(id.prev() < id, "{id}.prev() = {}", id.prev());
                assert_eq!(id.prev().next(), id);
            }
        }
        Err(err) => {
            let _ = err.to_string();
            // Everything well formed (parts of at most 20 digits, the
            // parser's own cap) that fits in u64 must be accepted.
            if well_formed && ms.len() <= 20 && seq.len() <= 20 {
                assert!(ms.parse::<u64>().is_err() || seq.parse::<u64>().is_err(), "{s:?} rejected");
            }
        }
    }
}
