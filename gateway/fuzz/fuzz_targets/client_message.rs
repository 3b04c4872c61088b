//! Untrusted WebSocket text frames from clients.
//!
//! Checks, for any input (as text: WebSocket text frames are UTF-8, so other
//! bytes are decoded lossily):
//! - `ClientMessage::parse` never panics;
//! - a `subscribe` that parses has a filter within its limits, which echoes
//!   (serializes, as in the `subscribed` reply) and reads back unchanged;
//! - `Filter::matches` never panics and agrees, on a fixed set of events,
//!   with the rules written in docs/protocol.md (an independent oracle).

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use realtimenotify::client::ClientMessage;
use realtimenotify::event::Event;
use realtimenotify::filter::{Filter, MAX_TITLES};

const EVENTS: &[&str] = &[
    // The seed design's payload.
    r#"{"page_title":"Main Page","user_name":"Alice","timestamp":"2026-11-25T01:02:03Z","summary":"hi"}"#,
    // Every optional field.
    r#"{"schema":1,"type":"move","page_title":"Talk:Main Page","user_name":"Bot","timestamp":"2026-11-25T01:02:03.5+01:00","summary":"moved","wiki":"testwiki","namespace":1,"page_id":3,"rev_id":42,"old_rev_id":41,"bot":true,"minor":true,"size_delta":-3,"url":"https://example.org/x","target_title":"Talk:New","audience":{"users":[7],"rights":["patrol"]}}"#,
    r#"{"type":"create","page_title":"A","user_name":"U","timestamp":"2026-11-25T01:02:03Z","summary":"","namespace":0,"minor":true}"#,
    r#"{"type":"alert","page_title":"B","user_name":"U","timestamp":"2026-11-25T01:02:03Z","summary":"","namespace":-1,"bot":true}"#,
    r#"{"type":"upload","page_title":"File:X.png","user_name":"U","timestamp":"2026-11-25T01:02:03Z","summary":"","namespace":6}"#,
];

fn events() -> &'static [Event] {
    static CELL: OnceLock<Vec<Event>> = OnceLock::new();
    CELL.get_or_init(|| EVENTS.iter().map(|raw| Event::parse(raw.as_bytes(), 16384).expect("fixed event")).collect())
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match ClientMessage::parse(&text) {
        Ok(ClientMessage::Subscribe { filter }) => check_filter(&filter),
        Ok(ClientMessage::Ping) | Ok(ClientMessage::Auth { .. }) => {}
        Err(message) => assert!(!message.is_empty()),
    }
    // The filter alone too (what a `subscribe` carries), checked or not:
    // `matches` must be total even on a filter that `check` would refuse.
    if let Ok(filter) = serde_json::from_str::<Filter>(&text) {
        for event in events() {
            assert_eq!(filter.matches(event), oracle(&filter, event));
        }
    }
});

fn check_filter(filter: &Filter) {
    assert!(filter.check().is_ok());
    assert!(filter.titles.as_ref().map_or(0, |t| t.len()) <= MAX_TITLES);
    assert!(filter.namespaces.as_ref().map_or(0, |n| n.len()) <= 64);
    let echoed = serde_json::to_string(filter).expect("filter serializes");
    let back: Filter = serde_json::from_str(&echoed).expect("echoed filter parses");
    assert_eq!(&back, filter, "{echoed}");
    for event in events() {
        assert_eq!(filter.matches(event), oracle(filter, event), "{echoed}");
    }
}

/// docs/protocol.md, `subscribe`: every part present must accept the event.
fn oracle(f: &Filter, e: &Event) -> bool {
    let bots = !(f.exclude_bots && e.bot);
    let minor = !(f.exclude_minor && e.minor);
    let types = f.types.as_ref().map_or(true, |t| t.iter().any(|k| *k == e.kind));
    let namespaces = f.namespaces.as_ref().map_or(true, |n| match e.namespace {
        Some(ns) => n.iter().any(|x| *x == ns),
        None => false,
    });
    let titles =
        f.titles.as_ref().map_or(true, |t| t.iter().any(|x| *x == e.page_title || Some(x) == e.target_title.as_ref()));
    bots && minor && types && namespaces && titles
}
