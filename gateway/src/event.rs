//! Wiki change events: the schema in `docs/events.md`, its validation, and the
//! one-time serialization that every client shares.
//!
//! An event arrives as untrusted bytes (from Redis or `POST /v1/events`). It is
//! parsed into [`Event`], checked, and re-serialized once into an [`Envelope`]:
//! re-serializing (instead of forwarding the raw bytes as the seed design did)
//! means nothing the schema does not know about can reach a browser.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;
use std::time::Instant;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// The only schema version this gateway speaks.
pub const SCHEMA_VERSION: u32 = 1;

// Field limits. `contract/limits.json` is where they are decided, for the
// wiki and the browser as well; `tests/contract.rs` keeps these equal to it.
pub const MAX_TITLE_BYTES: usize = 512;
pub const MAX_USER_BYTES: usize = 255;
pub const MAX_SUMMARY_CHARS: usize = 1000;
pub const MAX_WIKI_BYTES: usize = 64;
pub const MAX_URL_BYTES: usize = 2048;
pub const MAX_REASONS: usize = 8;
pub const MAX_AUDIENCE_RIGHTS: usize = 16;
pub const MAX_RIGHT_BYTES: usize = 64;
/// The default `--max-event-bytes`; the wiki's `$wgRealTimeNotifyMaxEventBytes` must match it.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 16 * 1024;

/// A reason code: what the browser looks up in its messages, so a strict
/// alphabet keeps anything else out.
pub fn is_code(s: &str) -> bool {
    (1..=32).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// What happened to the page.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    #[default]
    Edit,
    Create,
    Delete,
    Move,
    Upload,
    Alert,
    /// An alerted edit was dealt with (patrolled, reverted): addressed like alerts, the
    /// browser updates the open alerts it covers.
    Handled,
    /// Another log entry (block, protect, rights, patrol, new user, ...): `log_type` and
    /// `log_action` say which. Core's RCFeed brings them (issue 11).
    Log,
    /// The status page's "send a test event" (Special:RealTimeNotifyStatus): addressed to the
    /// administrator who sent it, never shown as a popup; it only measures the round trip.
    Test,
    /// A notification (Echo's) for one user: only its recipient may receive it.
    Notification,
    /// That user's notifications were marked read: the new counts, for their other tabs.
    #[serde(rename = "notification_read")]
    NotificationRead,
}

impl EventType {
    /// Events that belong to one user (their notifications): they must be addressed to
    /// users only, never public, never to a right.
    pub fn is_personal(self) -> bool {
        matches!(self, EventType::Notification | EventType::NotificationRead)
    }
}

/// One change on the wiki, as documented in `docs/events.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    #[serde(default = "schema_v1")]
    pub schema: u32,
    #[serde(default, rename = "type")]
    pub kind: EventType,
    pub page_title: String,
    pub user_name: String,
    pub timestamp: String,
    pub summary: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wiki: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rev_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_rev_id: Option<u64>,
    #[serde(default)]
    pub bot: bool,
    #[serde(default)]
    pub minor: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_delta: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_title: Option<String>,
    /// For `alert` events: why the change looks suspicious (`blanking`,
    /// `large_removal`, ...), short codes the browser translates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    /// Who may receive it (absent: everyone the gateway admits). Never sent
    /// to clients: a watcher list is private. `null` is refused rather than
    /// read as "absent": a targeted event must never fail open.
    #[serde(default, skip_serializing, deserialize_with = "present")]
    pub audience: Option<Audience>,
    /// One per change, set by the wiki: a publish retried after a broker
    /// outage carries the same uuid, and the hub delivers it once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<Uuid>,
    // Editors' experience (issue 12): the performer's gender for the browser's {{GENDER}},
    // and what a `handled` event says.
    /// `male` or `female` (absent: unknown), as the user set it on the wiki.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_gender: Option<String>,
    /// For `handled` events: how (`patrolled`, `reverted`, ...), a code like the reasons.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handled: Option<String>,
    /// For `handled` events covering several revisions (a revert): the oldest one; `rev_id`
    /// is the newest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_rev_id: Option<u64>,
    // The recentchange shape (issue 11, `crate::recentchange`): what core's RCFeed knows and
    // our own events may carry, for the SSE feed's `mediawiki/recentchange` events.
    /// The change's `rc_id` on the wiki.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rc_id: Option<u64>,
    /// Page sizes in bytes before and after (`length.old`, `length.new`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patrolled: Option<bool>,
    /// `$wgCanonicalServer`, `$wgServerName`, `$wgScriptPath` and the page's canonical URL;
    /// derived from `url` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_script_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title_url: Option<String>,
    /// The wiki request that made the change (`meta.request_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// For log entries: the log's id, type, action and parameters (as the log stores them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_params: Option<serde_json::Value>,
    // Notifications (issue 17): what Echo shows its recipient, and their unread counts.
    /// Echo's category of the notification (`edit-user-talk`, `mention`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Echo's section: `alert` or `message` (the notices badge).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub section: Option<String>,
    /// The notification's header, plain text, in the recipient's language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// Echo's event id of the notification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_id: Option<u64>,
    /// The recipient's unread alerts after this event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unread_alerts: Option<u64>,
    /// The recipient's unread notices (Echo's `message` section) after this event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unread_notices: Option<u64>,
}

/// The longest notification header, in characters (as a summary).
pub const MAX_HEADER_CHARS: usize = MAX_SUMMARY_CHARS;
/// The longest notification category, in bytes.
pub const MAX_CATEGORY_BYTES: usize = 64;

/// A key that is present must hold a value: `null` is an error, not `None`
/// (serde's default for an `Option`). Absent keys still take the default.
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A change's UUID (RFC 9562 text form, any version), kept as 16 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Uuid(pub u128);

impl FromStr for Uuid {
    type Err = &'static str;

    /// Accepts the hyphenated form `8-4-4-4-12` of hex digits, either case.
    fn from_str(s: &str) -> Result<Uuid, &'static str> {
        let b = s.as_bytes();
        if b.len() != 36 || [8, 13, 18, 23].iter().any(|&i| b[i] != b'-') {
            return Err("is not a UUID (8-4-4-4-12 hex digits)");
        }
        let mut value = 0u128;
        for (i, c) in b.iter().enumerate() {
            if [8, 13, 18, 23].contains(&i) {
                continue;
            }
            let digit = (*c as char).to_digit(16).ok_or("is not a UUID (8-4-4-4-12 hex digits)")?;
            value = value << 4 | u128::from(digit);
        }
        Ok(Uuid(value))
    }
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex = format!("{:032x}", self.0);
        write!(f, "{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
    }
}

impl Serialize for Uuid {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Uuid {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Uuid, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Who may receive a targeted event, and to whom it is addressed.
///
/// A `public` event goes to everyone the gateway admits, and its addressees
/// (`users`, holders of `rights`) are only marked: a client that subscribed
/// with `addressed` gets just those. This is how "my watchlist" works without
/// sending each change twice. `visible_to` widens who may *see* an event
/// without addressing it: a change on a private wiki is visible to every
/// holder of `read` but addressed only to those who watch the page.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Audience {
    #[serde(default)]
    pub users: HashSet<u64>,
    #[serde(default)]
    pub rights: Vec<String>,
    #[serde(default)]
    pub public: bool,
    #[serde(default)]
    pub visible_to: Vec<String>,
}

fn schema_v1() -> u32 {
    SCHEMA_VERSION
}

/// Why an incoming event was refused. The variant name is the `reason`
/// label of `rtn_events_dropped_total`.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("event is {size} bytes, more than the limit of {max}")]
    TooLarge { size: usize, max: usize },
    #[error("event is not valid JSON for schema {SCHEMA_VERSION}: {0}")]
    Json(#[from] serde_json::Error),
    #[error("event field `{field}` {problem}")]
    Field { field: &'static str, problem: &'static str },
    /// A message of core's RCFeed that could not be taken, or is not a change to forward.
    #[error(transparent)]
    RcFeed(#[from] crate::recentchange::RcFeedError),
}

impl EventError {
    /// Short label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            EventError::TooLarge { .. } => "too_large",
            EventError::Json(_) | EventError::Field { .. } => "invalid",
            EventError::RcFeed(crate::recentchange::RcFeedError::Skipped(_)) => "skipped",
            EventError::RcFeed(_) => "invalid",
        }
    }
}

fn field(field: &'static str, problem: &'static str) -> EventError {
    EventError::Field { field, problem }
}

impl Event {
    /// Parses and validates what a source received: one of our events, or
    /// a message of MediaWiki core's RCFeed (`$wgRCFeeds` with the JSON
    /// formatter), turned into one here ([`crate::recentchange::from_rcfeed`]),
    /// the one place where the two are told apart.
    pub fn parse_input(raw: &[u8], max_bytes: usize) -> Result<Event, EventError> {
        if raw.len() > max_bytes {
            return Err(EventError::TooLarge { size: raw.len(), max: max_bytes });
        }
        if crate::recentchange::is_rcfeed(raw) {
            let converted = crate::recentchange::from_rcfeed(raw)?;
            // Converted, it may have grown a little (field names); the raw size was checked.
            return Event::parse(&converted, max_bytes.saturating_mul(2));
        }
        Event::parse(raw, max_bytes)
    }

    /// Parses and validates untrusted bytes.
    pub fn parse(raw: &[u8], max_bytes: usize) -> Result<Event, EventError> {
        if raw.len() > max_bytes {
            return Err(EventError::TooLarge { size: raw.len(), max: max_bytes });
        }
        let event: Event = serde_json::from_slice(raw)?;
        event.validate()?;
        check_keys(raw)?;
        Ok(event)
    }

    fn validate(&self) -> Result<(), EventError> {
        if self.schema != SCHEMA_VERSION {
            return Err(field("schema", "is not a supported version"));
        }
        check_len("page_title", &self.page_title, 1, MAX_TITLE_BYTES)?;
        check_len("user_name", &self.user_name, 1, MAX_USER_BYTES)?;
        if self.summary.chars().count() > MAX_SUMMARY_CHARS {
            return Err(field("summary", "is longer than 1000 characters"));
        }
        if !is_rfc3339(&self.timestamp) {
            return Err(field("timestamp", "is not an RFC 3339 date-time"));
        }
        if let Some(wiki) = &self.wiki {
            check_len("wiki", wiki, 1, MAX_WIKI_BYTES)?;
        }
        if let Some(target) = &self.target_title {
            check_len("target_title", target, 1, MAX_TITLE_BYTES)?;
        }
        if let Some(audience) = &self.audience {
            let bad = |rights: &[String]| {
                rights.len() > MAX_AUDIENCE_RIGHTS || rights.iter().any(|r| r.is_empty() || r.len() > MAX_RIGHT_BYTES)
            };
            if bad(&audience.rights) || bad(&audience.visible_to) {
                return Err(field("audience", "lists too many or malformed rights"));
            }
        }
        if self.reasons.len() > MAX_REASONS || !self.reasons.iter().all(|r| is_code(r)) {
            return Err(field("reasons", "must be at most 8 codes of 1 to 32 characters a-z, 0-9, _"));
        }
        if let Some(gender) = &self.user_gender {
            if gender != "male" && gender != "female" {
                return Err(field("user_gender", "must be male or female"));
            }
        }
        if let Some(how) = &self.handled {
            if !is_code(how) {
                return Err(field("handled", "must be a code of 1 to 32 characters a-z, 0-9, _"));
            }
        }
        for (name, url) in [("server_url", &self.server_url), ("title_url", &self.title_url)] {
            if let Some(url) = url {
                check_http_url(name, url)?;
            }
        }
        for (name, text) in [
            ("server_name", &self.server_name),
            ("server_script_path", &self.server_script_path),
            ("request_id", &self.request_id),
        ] {
            if let Some(text) = text {
                check_len(name, text, 0, MAX_URL_BYTES)?;
            }
        }
        for (name, code) in [("log_type", &self.log_type), ("log_action", &self.log_action)] {
            if code.as_ref().is_some_and(|c| !is_log_code(c)) {
                return Err(field(name, "must be 1 to 64 characters a-z, A-Z, 0-9, _, -"));
            }
        }
        self.validate_notification()?;
        if let Some(url) = &self.url {
            check_len("url", url, 1, MAX_URL_BYTES)?;
            let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
            if !(lower.starts_with("http://") || lower.starts_with("https://")) {
                return Err(field("url", "is not an http(s) URL"));
            }
        }
        Ok(())
    }
}

/// A URL field other than `url`: `http(s)://` only, like it.
fn check_http_url(name: &'static str, url: &str) -> Result<(), EventError> {
    check_len(name, url, 1, MAX_URL_BYTES)?;
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        Ok(())
    } else {
        Err(field(name, "is not an http(s) URL"))
    }
}

/// A log type or action as MediaWiki names them (`block`, `reblock`,
/// `move_redir`, `create2`, ...).
fn is_log_code(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl Event {
    /// The fields of notifications, and their one rule that matters most: a notification is
    /// its recipient's alone, so it must name its users and nobody else (no `public`, no
    /// rights), or it is refused rather than sent to every socket.
    fn validate_notification(&self) -> Result<(), EventError> {
        if let Some(category) = &self.category {
            let ok = (1..=MAX_CATEGORY_BYTES).contains(&category.len())
                && category.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !ok {
                return Err(field("category", "must be 1 to 64 characters A-Z, a-z, 0-9, -, _"));
            }
        }
        if let Some(section) = &self.section {
            if section != "alert" && section != "message" {
                return Err(field("section", "must be alert or message"));
            }
        }
        if let Some(header) = &self.header {
            if header.chars().count() > MAX_HEADER_CHARS || header.chars().any(char::is_control) {
                return Err(field("header", "is longer than 1000 characters or has control characters"));
            }
        }
        if self.kind.is_personal() {
            let personal = self
                .audience
                .as_ref()
                .is_some_and(|a| !a.public && !a.users.is_empty() && a.rights.is_empty() && a.visible_to.is_empty());
            if !personal {
                return Err(field("audience", "of a notification must name its users only"));
            }
        }
        Ok(())
    }
}

/// Refuses a top-level key that looks like a misspelt `audience`
/// (`Audience`, `audiences`, `audeince`, ...): the event would otherwise be
/// read as having no audience, and reach everyone. Other unknown keys stay
/// ignored, so the wiki can add fields before the gateway knows them.
fn check_keys(raw: &[u8]) -> Result<(), EventError> {
    struct Keys;
    impl<'de> serde::de::Visitor<'de> for Keys {
        type Value = bool;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
            let mut suspicious = false;
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                map.next_value::<serde::de::IgnoredAny>()?;
                suspicious |= key != "audience" && looks_like_audience(&key);
            }
            Ok(suspicious)
        }
    }
    struct Check;
    impl<'de> Deserialize<'de> for Check {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Check, D::Error> {
            match d.deserialize_map(Keys)? {
                false => Ok(Check),
                true => Err(serde::de::Error::custom("misspelt")),
            }
        }
    }
    serde_json::from_slice::<Check>(raw)
        .map(|_| ())
        .map_err(|_| field("audience", "is misspelt (refused: it would fail open)"))
}

/// Whether `key` is `audience` give or take case, punctuation and two typos.
fn looks_like_audience(key: &str) -> bool {
    let norm: Vec<u8> = key.bytes().filter(u8::is_ascii_alphanumeric).map(|b| b.to_ascii_lowercase()).collect();
    norm.len() <= 16 && edit_distance(&norm, b"audience") <= 2
}

/// Levenshtein distance, with a swap of neighbours counting once
/// (optimal string alignment); for short keys only.
fn edit_distance(a: &[u8], b: &[u8]) -> usize {
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

fn check_len(name: &'static str, value: &str, min: usize, max: usize) -> Result<(), EventError> {
    if value.len() < min {
        Err(field(name, "is empty"))
    } else if value.len() > max {
        Err(field(name, "is too long"))
    } else if value.chars().any(|c| c.is_control()) {
        Err(field(name, "contains control characters"))
    } else {
        Ok(())
    }
}

/// Checks the RFC 3339 `date-time` grammar (what MediaWiki's `TS_ISO_8601`
/// produces), including calendar ranges; leap seconds are accepted as `60`.
fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = b.get(r)?;
        if part.iter().all(u8::is_ascii_digit) {
            std::str::from_utf8(part).ok()?.parse().ok()
        } else {
            None
        }
    };
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    let (Some(year), Some(month), Some(day)) = (digits(0..4), digits(5..7), digits(8..10)) else {
        return false;
    };
    let (Some(hour), Some(min), Some(sec)) = (digits(11..13), digits(14..16), digits(17..19)) else {
        return false;
    };
    if !(at(4, b'-') && at(7, b'-') && (at(10, b'T') || at(10, b't')) && at(13, b':') && at(16, b':')) {
        return false;
    }
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    if day == 0 || day > days || hour > 23 || min > 59 || sec > 60 {
        return false;
    }
    let mut i = 19;
    if at(i, b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    match b.get(i) {
        Some(b'Z' | b'z') => i + 1 == b.len(),
        Some(b'+' | b'-') => {
            let (Some(oh), Some(om)) = (digits(i + 1..i + 3), digits(i + 4..i + 6)) else {
                return false;
            };
            at(i + 3, b':') && oh <= 23 && om <= 59 && i + 6 == b.len()
        }
        _ => false,
    }
}

/// An event id, `"<milliseconds>-<sequence>"`: the shape of a Redis stream
/// entry id, so ids from every source compare the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventId {
    pub ms: u64,
    pub seq: u64,
}

impl EventId {
    pub const ZERO: EventId = EventId { ms: 0, seq: 0 };

    pub fn new(ms: u64, seq: u64) -> EventId {
        EventId { ms, seq }
    }

    /// The id right before `self` (zero stays zero).
    pub fn prev(self) -> EventId {
        match (self.ms, self.seq) {
            (0, 0) => self,
            (ms, 0) => EventId::new(ms - 1, u64::MAX),
            (ms, seq) => EventId::new(ms, seq - 1),
        }
    }

    /// The id that comes right after `self` (for exclusive ranges).
    /// The smallest id after this one; the largest id is its own successor
    /// (saturating rather than wrapping back to an older id).
    pub fn next(self) -> EventId {
        match (self.seq.checked_add(1), self.ms.checked_add(1)) {
            (Some(seq), _) => EventId::new(self.ms, seq),
            (None, Some(ms)) => EventId::new(ms, 0),
            (None, None) => self,
        }
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not an event id (expected <milliseconds>-<sequence>)")]
pub struct BadEventId(String);

impl FromStr for EventId {
    type Err = BadEventId;

    /// Accepts `ms-seq`, or a bare `ms` (sequence 0), as Redis does.
    fn from_str(s: &str) -> Result<EventId, BadEventId> {
        let bad = || BadEventId(s.chars().take(64).collect());
        let (ms, seq) = s.split_once('-').unwrap_or((s, "0"));
        let num = |p: &str| {
            if p.is_empty() || p.len() > 20 || !p.bytes().all(|c| c.is_ascii_digit()) {
                None
            } else {
                p.parse::<u64>().ok()
            }
        };
        Ok(EventId::new(num(ms).ok_or_else(bad)?, num(seq).ok_or_else(bad)?))
    }
}

/// A validated event with its id and the frame every client is sent.
#[derive(Debug)]
pub struct Envelope {
    pub id: EventId,
    pub event: Event,
    /// The WebSocket frame of `{"op":"event","id":...}`, built once and
    /// written as it is to every client ([`crate::socket::text_frame`]).
    pub wire: Bytes,
    /// When the gateway received it, for the delivery-latency histogram.
    pub received_at: Instant,
    /// The SSE feed's message for it (`crate::sse`), made by the first SSE
    /// reader that needs it and shared with the others; `None` inside for
    /// an event that is not a recent change.
    pub sse: std::sync::OnceLock<Option<bytes::Bytes>>,
}

#[derive(Serialize)]
struct EventFrame<'a> {
    op: &'static str,
    id: String,
    #[serde(flatten)]
    event: &'a Event,
}

impl Envelope {
    pub fn new(id: EventId, event: Event, received_at: Instant) -> Envelope {
        let frame = EventFrame { op: "event", id: id.to_string(), event: &event };
        // Serializing a struct of strings, numbers and bools cannot fail.
        let json = serde_json::to_string(&frame).expect("event serializes");
        Envelope {
            id,
            event,
            wire: crate::socket::text_frame(json.as_bytes()),
            received_at,
            sse: std::sync::OnceLock::new(),
        }
    }

    /// The JSON every client is sent for this event.
    pub fn frame(&self) -> &str {
        std::str::from_utf8(crate::socket::frame_payload(&self.wire)).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str =
        r#"{"page_title":"Main Page","user_name":"Alice","timestamp":"2026-11-25T01:02:03Z","summary":"hi"}"#;

    #[test]
    fn seed_payload_is_a_valid_event() {
        let e = Event::parse(SEED.as_bytes(), 16384).expect("valid");
        assert_eq!(e.kind, EventType::Edit);
        assert_eq!(e.page_title, "Main Page");
        assert_eq!(e.schema, 1);
    }

    #[test]
    fn rejects_bad_input_with_reasons() {
        let cases = [
            (r#"[1,2]"#, "invalid"),
            (r#"{"page_title":"x","user_name":"u","timestamp":"yesterday","summary":""}"#, "invalid"),
            (r#"{"page_title":"","user_name":"u","timestamp":"2026-11-25T01:02:03Z","summary":""}"#, "invalid"),
            (r#"{"page_title":"x","user_name":"u","timestamp":"2026-02-30T01:02:03Z","summary":""}"#, "invalid"),
            (
                r#"{"page_title":"x","user_name":"u","timestamp":"2026-11-25T01:02:03Z","summary":"","url":"javascript:alert(1)"}"#,
                "invalid",
            ),
            (
                r#"{"page_title":"x","user_name":"u","timestamp":"2026-11-25T01:02:03Z","summary":"","type":"nuke"}"#,
                "invalid",
            ),
            (
                r#"{"page_title":"x","user_name":"u","timestamp":"2026-11-25T01:02:03Z","summary":"","schema":2}"#,
                "invalid",
            ),
            (r#"{"page_title":"x","user_name":"u","timestamp":"2026-11-25T01:02:03Z"}"#, "invalid"),
        ];
        for (raw, reason) in cases {
            let err = Event::parse(raw.as_bytes(), 16384).expect_err(raw);
            assert_eq!(err.reason(), reason, "{raw}: {err}");
        }
        let err = Event::parse(SEED.as_bytes(), 10).expect_err("too large");
        assert_eq!(err.reason(), "too_large");
    }

    #[test]
    fn timestamps() {
        for ok in ["2026-11-25T01:02:03Z", "2024-02-29T23:59:60.123+05:30", "2026-01-01t00:00:00-00:00"] {
            assert!(is_rfc3339(ok), "{ok}");
        }
        for bad in [
            "2026-11-25 01:02:03Z",
            "2025-02-29T00:00:00Z",
            "2026-11-25T24:00:00Z",
            "2026-11-25T01:02:03",
            "2026-11-25T01:02:03.Z",
            "2026-11-25T01:02:03+0100",
            "",
        ] {
            assert!(!is_rfc3339(bad), "{bad}");
        }
    }

    #[test]
    fn unknown_fields_are_not_forwarded() {
        let raw = r#"{"page_title":"P","user_name":"U","timestamp":"2026-11-25T01:02:03Z","summary":"<b>s</b>","email":"a@b.c"}"#;
        let env = Envelope::new(EventId::new(5, 1), Event::parse(raw.as_bytes(), 16384).unwrap(), Instant::now());
        let v: serde_json::Value = serde_json::from_str(env.frame()).unwrap();
        assert_eq!(v["op"], "event");
        assert_eq!(v["id"], "5-1");
        assert_eq!(v["summary"], "<b>s</b>");
        assert!(v.get("email").is_none());
    }

    #[test]
    fn the_audience_is_read_but_never_forwarded() {
        let raw = r#"{"page_title":"P","user_name":"U","timestamp":"2026-11-25T01:02:03Z","summary":"","audience":{"users":[3,4],"rights":["patrol"]}}"#;
        let event = Event::parse(raw.as_bytes(), 16384).unwrap();
        assert_eq!(event.audience.as_ref().unwrap().users, HashSet::from([3, 4]));
        let env = Envelope::new(EventId::new(1, 0), event, Instant::now());
        assert!(!env.frame().contains("audience"), "{}", env.frame());
        assert!(!env.frame().contains("patrol"));
    }

    #[test]
    fn a_null_or_misspelt_audience_fails_closed() {
        let with = |extra: &str| {
            let raw = format!(
                r#"{{"page_title":"P","user_name":"U","timestamp":"2026-11-25T01:02:03Z","summary":""{extra}}}"#
            );
            Event::parse(raw.as_bytes(), 16384)
        };
        for bad in [
            r#","audience":null"#,
            r#","Audience":{"rights":["patrol"]}"#,
            r#","AUDIENCE":{"rights":["patrol"]}"#,
            r#","audiences":{"rights":["patrol"]}"#,
            r#","audeince":{"rights":["patrol"]}"#,
            r#","_audience":{"rights":["patrol"]}"#,
            r#","audience":{"rights":["patrol"]},"Audience":null"#,
        ] {
            assert_eq!(with(bad).map_err(|e| e.reason()).err(), Some("invalid"), "{bad} accepted");
        }
        for ok in ["", r#","audience":{"rights":["patrol"]}"#, r#","editor":"x","audit":1,"meta":{"audience":null}"#] {
            assert!(with(ok).is_ok(), "{ok} refused");
        }
    }

    #[test]
    fn uuids_are_checked_and_forwarded_in_lower_case() {
        let with = |uuid: &str| {
            let raw = format!(
                r#"{{"page_title":"P","user_name":"U","timestamp":"2026-11-25T01:02:03Z","summary":"","uuid":{uuid}}}"#
            );
            Event::parse(raw.as_bytes(), 16384)
        };
        let event = with(r#""4F1C2D3E-0A1B-4C2D-8E3F-405162738495""#).unwrap();
        assert_eq!(event.uuid.map(|u| u.to_string()).as_deref(), Some("4f1c2d3e-0a1b-4c2d-8e3f-405162738495"));
        let env = Envelope::new(EventId::new(1, 0), event, Instant::now());
        assert!(env.frame().contains(r#""uuid":"4f1c2d3e-0a1b-4c2d-8e3f-405162738495""#));
        for bad in [r#""""#, r#""not-a-uuid""#, "12", r#""4f1c2d3e0a1b4c2d8e3f405162738495""#] {
            assert!(with(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn alert_reasons_are_short_codes() {
        let with = |reasons: &str| {
            let raw = format!(
                r#"{{"type":"alert","page_title":"P","user_name":"U","timestamp":"2026-11-25T01:02:03Z","summary":"","reasons":{reasons}}}"#
            );
            Event::parse(raw.as_bytes(), 16384)
        };
        assert_eq!(with(r#"["blanking","large_removal"]"#).unwrap().reasons, ["blanking", "large_removal"]);
        for bad in [
            r#"["<b>"]"#,
            r#"[""]"#,
            r#"["Blanking"]"#,
            &format!(r#"["{}"]"#, "a".repeat(33)),
            &format!("[{}]", [r#""a""#; 9].join(",")),
        ] {
            assert!(with(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn notifications_are_for_their_users_only() {
        let base = r#"{"type":"notification","page_title":"User talk:Alice","user_name":"Bob","timestamp":"2026-11-25T01:02:03Z","summary":"","category":"edit-user-talk","section":"message","header":"Bob left a message on your talk page.","notification_id":7,"unread_alerts":0,"unread_notices":1"#;
        let with = |audience: &str| format!("{base}{audience}}}");
        let e = Event::parse(with(r#","audience":{"users":[3]}"#).as_bytes(), 4096).expect("valid");
        assert_eq!(e.kind, EventType::Notification);
        let out = serde_json::to_string(&e).expect("serializes");
        assert!(out.contains(r#""header":"Bob left a message on your talk page.""#), "{out}");
        assert!(out.contains(r#""unread_notices":1"#) && !out.contains("audience"), "{out}");
        for bad in [
            "",
            r#","audience":{"users":[]}"#,
            r#","audience":{"public":true,"users":[3]}"#,
            r#","audience":{"users":[3],"rights":["read"]}"#,
            r#","audience":{"users":[3],"visible_to":["read"]}"#,
        ] {
            assert!(Event::parse(with(bad).as_bytes(), 4096).is_err(), "accepted {bad}");
        }
        let read = r#"{"type":"notification_read","page_title":"Special:Notifications","user_name":"Alice","timestamp":"2026-11-25T01:02:03Z","summary":"","unread_alerts":0,"unread_notices":0,"audience":{"users":[3]}}"#;
        assert_eq!(Event::parse(read.as_bytes(), 4096).expect("valid").kind, EventType::NotificationRead);
        let good: serde_json::Value = serde_json::from_str(&with(r#","audience":{"users":[3]}"#)).expect("json");
        for (name, value) in [("section", "notices"), ("category", "a b"), ("header", "a\u{7}b")] {
            let mut bad = good.clone();
            bad[name] = serde_json::Value::from(value);
            assert!(Event::parse(bad.to_string().as_bytes(), 4096).is_err(), "accepted {name} {value:?}");
        }
    }

    #[test]
    fn the_largest_id_is_its_own_successor() {
        let max = EventId::new(u64::MAX, u64::MAX);
        assert_eq!(max.next(), max);
        assert_eq!(EventId::new(5, u64::MAX).next(), EventId::new(6, 0));
    }

    #[test]
    fn event_ids_parse_order_and_print() {
        let a: EventId = "1700000000000-3".parse().unwrap();
        let b: EventId = "1700000000001".parse().unwrap();
        assert!(a < b);
        assert_eq!(b.to_string(), "1700000000001-0");
        assert_eq!(a.next(), EventId::new(1700000000000, 4));
        assert_eq!(a.next().prev(), a);
        assert_eq!(b.prev().next(), b);
        for bad in ["", "-", "1-", "a-1", "1-2-3", "+1-0", "99999999999999999999999-0"] {
            assert!(bad.parse::<EventId>().is_err(), "{bad}");
        }
    }
}
