//! Per-client filters, set with a `subscribe` message (`docs/protocol.md`).
//!
//! Filtering happens in the gateway, not the browser, so a client that only
//! wants its watchlisted titles does not pay for every edit on a busy wiki.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::event::{Event, EventType};

/// Most titles one filter may list: bounds the memory a client can make us hold.
pub const MAX_TITLES: usize = 500;
/// Most namespaces one filter may list.
pub const MAX_NAMESPACES: usize = 64;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespaces: Option<Vec<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub types: Option<Vec<EventType>>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exclude_bots: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exclude_minor: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub titles: Option<HashSet<String>>,
    /// Only events addressed to this client (its watchlist, its talk page,
    /// alerts for its rights). Needs an authenticated client; the caller
    /// checks it with [`crate::auth::addressed_to`].
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub addressed: bool,
    /// Only events of these wikis (their `wiki` id): one gateway fed by several wikis (core's
    /// RCFeed of each, issue 11) serves them all at once, like EventStreams, or one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wikis: Option<HashSet<String>>,
}

impl Filter {
    /// Checks limits a client could abuse.
    pub fn check(&self) -> Result<(), String> {
        if self.titles.as_ref().is_some_and(|t| t.len() > MAX_TITLES) {
            return Err(format!("a filter may list at most {MAX_TITLES} titles"));
        }
        if self.wikis.as_ref().is_some_and(|w| w.len() > MAX_NAMESPACES) {
            return Err(format!("a filter may list at most {MAX_NAMESPACES} wikis"));
        }
        if self.namespaces.as_ref().is_some_and(|n| n.len() > MAX_NAMESPACES) {
            return Err(format!("a filter may list at most {MAX_NAMESPACES} namespaces"));
        }
        Ok(())
    }

    /// Parses the `?filter=` handshake parameter: the same JSON object as
    /// in a `subscribe` message.
    pub fn from_query(json: &str) -> Result<Filter, String> {
        let filter: Filter = serde_json::from_str(json).map_err(|e| format!("bad filter: {e}"))?;
        filter.check()?;
        Ok(filter)
    }

    pub fn matches(&self, e: &Event) -> bool {
        if self.exclude_bots && e.bot || self.exclude_minor && e.minor {
            return false;
        }
        if let Some(types) = &self.types {
            if !types.contains(&e.kind) {
                return false;
            }
        }
        if let Some(namespaces) = &self.namespaces {
            if !e.namespace.is_some_and(|ns| namespaces.contains(&ns)) {
                return false;
            }
        }
        if let Some(wikis) = &self.wikis {
            if !e.wiki.as_ref().is_some_and(|w| wikis.contains(w)) {
                return false;
            }
        }
        if let Some(titles) = &self.titles {
            let target = e.target_title.as_ref().is_some_and(|t| titles.contains(t));
            if !titles.contains(&e.page_title) && !target {
                return false;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(json: &str) -> Event {
        Event::parse(json.as_bytes(), 16384).expect("valid event")
    }

    #[test]
    fn empty_filter_matches_everything() {
        let e =
            event(r#"{"page_title":"A","user_name":"U","timestamp":"2026-11-25T01:02:03Z","summary":"","bot":true}"#);
        assert!(Filter::default().matches(&e));
    }

    #[test]
    fn each_part_filters() {
        let e = event(
            r#"{"page_title":"A","user_name":"U","timestamp":"2026-11-25T01:02:03Z","summary":"","namespace":1,"bot":true,"minor":true,"type":"move","target_title":"B"}"#,
        );
        let f = |j: &str| serde_json::from_str::<Filter>(j).expect(j);
        assert!(!f(r#"{"exclude_bots":true}"#).matches(&e));
        assert!(!f(r#"{"exclude_minor":true}"#).matches(&e));
        assert!(!f(r#"{"namespaces":[0]}"#).matches(&e));
        assert!(f(r#"{"namespaces":[0,1]}"#).matches(&e));
        assert!(!f(r#"{"types":["edit"]}"#).matches(&e));
        assert!(f(r#"{"types":["move"]}"#).matches(&e));
        assert!(f(r#"{"titles":["B"]}"#).matches(&e));
        assert!(!f(r#"{"titles":["C"]}"#).matches(&e));
        assert!(serde_json::from_str::<Filter>(r#"{"bogus":1}"#).is_err());
        assert_eq!(Filter::from_query(r#"{"addressed":true}"#).map(|f| f.addressed), Ok(true));
        assert!(Filter::from_query("{").is_err());
        assert!(Filter::from_query(&format!(
            r#"{{"titles":[{}]}}"#,
            (0..501).map(|i| format!("\"{i}\"")).collect::<Vec<_>>().join(",")
        ))
        .is_err());
    }
}
