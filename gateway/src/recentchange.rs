//! Wikimedia's `mediawiki/recentchange` 1.0.1 event shape, both ways.
//!
//! Out: tools and bots already read EventStreams, whose `recentchange`
//! stream carries that schema (`contract/recentchange-1.0.1.schema.json`).
//! [`to_recentchange`] renders one of our events in it, once per event
//! (the SSE feed shares the bytes with every reader, like the WebSocket
//! frame). What our event does not know is left out rather than invented;
//! what can be derived (the server from the event's URL, the Unix time from
//! its timestamp) is derived; `docs/events.md` maps every field.
//!
//! In: MediaWiki core publishes the same shape itself (`$wgRCFeeds` with
//! `JSONRCFeedFormatter`, through `RedisPubSubFeedEngine`), integers and
//! all. [`from_rcfeed`] turns such a message into one of our events, so a
//! wiki without the extension can feed the gateway its public changes.
//! The one place that tells the two apart is [`is_rcfeed`].

use serde_json::{json, Map, Value};

use crate::event::{Event, EventId, EventType};

/// The `$schema` of what we emit.
pub const SCHEMA: &str = "/mediawiki/recentchange/1.0.1";
/// `meta.stream`, as EventStreams names it.
pub const STREAM: &str = "mediawiki.recentchange";

/// Whether `raw` is a message of core's RCFeed (JSON with `server_name`
/// and an integer `timestamp`) rather than one of our events (which have a
/// `page_title` and an RFC 3339 `timestamp`). Cheap enough for every
/// message: a key probe, not a parse of the whole thing, when it is ours.
pub fn is_rcfeed(raw: &[u8]) -> bool {
    // Our events always have `page_title`; core's never do.
    !contains(raw, b"\"page_title\"") && contains(raw, b"\"server_name\"")
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Why an RCFeed message could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum RcFeedError {
    #[error("RCFeed message is not a JSON object: {0}")]
    Json(#[from] serde_json::Error),
    #[error("RCFeed message lacks `{0}` (or it has the wrong type)")]
    Missing(&'static str),
    #[error("RCFeed message of type `{0}` is not a change the gateway forwards")]
    Skipped(String),
}

/// Turns a message of core's RCFeed into one of our events (JSON bytes, to
/// be parsed and checked like any other: the caller feeds them to
/// [`Event::parse`]). Core's feed carries only what anyone may read on
/// RecentChanges, so the event is public (no `audience`).
///
/// `categorize` entries are skipped: they repeat an edit already sent.
pub fn from_rcfeed(raw: &[u8]) -> Result<Vec<u8>, RcFeedError> {
    let rc: Map<String, Value> = serde_json::from_slice(raw)?;
    let str_of = |key: &'static str| rc.get(key).and_then(Value::as_str);
    let int_of = |key: &'static str| rc.get(key).and_then(Value::as_i64);
    let title = str_of("title").ok_or(RcFeedError::Missing("title"))?;
    let user = str_of("user").ok_or(RcFeedError::Missing("user"))?;
    let seconds = int_of("timestamp").ok_or(RcFeedError::Missing("timestamp"))?;
    let rc_type = str_of("type").unwrap_or("edit");
    let log_type = str_of("log_type");
    let kind = match (rc_type, log_type) {
        ("edit", _) => "edit",
        ("new", _) => "create",
        ("log", Some("delete")) if str_of("log_action") == Some("delete") => "delete",
        ("log", Some("move")) => "move",
        ("log", Some("upload")) => "upload",
        ("log", _) => "log",
        (other, _) => return Err(RcFeedError::Skipped(other.chars().take(32).collect())),
    };
    let mut event = json!({
        "type": kind,
        "page_title": title,
        "user_name": user,
        "timestamp": format_rfc3339(seconds.saturating_mul(1000), false),
        // Core's summary is unbounded; ours is at most 1000 characters.
        "summary": str_of("comment").unwrap_or("").chars().take(crate::event::MAX_SUMMARY_CHARS).collect::<String>(),
    });
    let out = event.as_object_mut().ok_or(RcFeedError::Missing("object"))?;
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(value) = value.filter(|v| !v.is_null()) {
            out.insert(key.to_string(), value);
        }
    };
    let get = |key: &str| rc.get(key).cloned();
    put("wiki", get("wiki"));
    put("namespace", get("namespace"));
    put("bot", get("bot").filter(Value::is_boolean));
    put("minor", get("minor").filter(Value::is_boolean));
    put("patrolled", get("patrolled").filter(Value::is_boolean));
    put("rc_id", get("id").filter(Value::is_u64));
    let nested = |outer: &str, inner: &str| rc.get(outer).and_then(|o| o.get(inner)).filter(|v| v.is_u64()).cloned();
    put("rev_id", nested("revision", "new"));
    put("old_rev_id", nested("revision", "old"));
    put("new_size", nested("length", "new"));
    put("old_size", nested("length", "old"));
    if let (Some(new), Some(old)) = (nested("length", "new"), nested("length", "old")) {
        let delta = new.as_i64().unwrap_or(0) - old.as_i64().unwrap_or(0);
        put("size_delta", Some(delta.into()));
    }
    for key in ["server_url", "server_name", "server_script_path", "title_url"] {
        put(key, get(key).filter(Value::is_string));
    }
    put("url", get("notify_url").filter(Value::is_string).or_else(|| get("title_url").filter(Value::is_string)));
    if rc_type == "log" {
        put("log_id", get("log_id").filter(Value::is_u64));
        put("log_type", get("log_type").filter(Value::is_string));
        put("log_action", get("log_action").filter(Value::is_string));
        put("log_params", get("log_params"));
        if kind == "move" {
            let target = rc.get("log_params").and_then(|p| p.get("target")).and_then(Value::as_str);
            put("target_title", target.map(Value::from));
        }
    }
    Ok(serde_json::to_vec(&event)?)
}

/// One event in the `mediawiki/recentchange` 1.0.1 shape; `None` for the
/// kinds that are not recent changes (patrol alerts and their `handled`
/// news, which go to WebSocket clients only).
pub fn to_recentchange(id: EventId, e: &Event) -> Option<Value> {
    let (rc_type, log) = match e.kind {
        EventType::Edit => ("edit", None),
        EventType::Create => ("new", None),
        EventType::Delete => ("log", Some(("delete", "delete"))),
        EventType::Move => ("log", Some(("move", "move"))),
        EventType::Upload => ("log", Some(("upload", "upload"))),
        EventType::Log => ("log", Some(("", ""))),
        EventType::Alert | EventType::Handled | EventType::Test => return None,
    };
    let server = Server::of(e);
    let title_url = e.title_url.clone().or_else(|| server.title_url(&e.page_title));
    let mut rc = json!({
        "$schema": SCHEMA,
        "meta": {
            "uri": title_url.clone().or_else(|| e.url.clone()).unwrap_or_else(|| format!("urn:realtimenotify:{id}")),
            "id": e.uuid.map_or_else(|| id_uuid(id), |u| u.to_string()),
            "dt": format_rfc3339(id.ms as i64, true),
            "domain": server.name.clone().unwrap_or_else(|| e.wiki.clone().unwrap_or_else(|| "unknown".into())),
            "stream": STREAM,
            "topic": "realtimenotify.recentchange",
            "partition": 0,
        },
        "type": rc_type,
        "namespace": e.namespace.unwrap_or(0),
        "title": e.page_title,
        "comment": e.summary,
        "parsedcomment": escape_html(&e.summary),
        "timestamp": parse_rfc3339_ms(&e.timestamp).map_or(id.ms as i64 / 1000, |ms| ms.div_euclid(1000)),
        "user": e.user_name,
        "bot": e.bot,
    });
    let out = rc.as_object_mut()?;
    if let Some(request_id) = &e.request_id {
        out["meta"]["request_id"] = request_id.clone().into();
    }
    let mut put = |key: &str, value: Value| {
        out.insert(key.to_string(), value);
    };
    if let Some(rc_id) = e.rc_id {
        put("id", rc_id.into());
    }
    if let Some(url) = title_url {
        put("title_url", url.into());
    }
    if let Some(wiki) = &e.wiki {
        put("wiki", wiki.clone().into());
    }
    if let Some(url) = &server.url {
        put("server_url", url.clone().into());
    }
    if let Some(name) = &server.name {
        put("server_name", name.clone().into());
    }
    if let Some(path) = &server.script_path {
        put("server_script_path", path.clone().into());
    }
    if let Some(patrolled) = e.patrolled {
        put("patrolled", patrolled.into());
    }
    match log {
        None => {
            put("minor", e.minor.into());
            put("length", json!({"old": e.old_size, "new": e.new_size}));
            put("revision", json!({"old": e.old_rev_id.filter(|&r| r > 0), "new": e.rev_id}));
            if let Some(url) = &e.url {
                put("notify_url", url.clone().into());
            }
        }
        Some((log_type, log_action)) => {
            let log_type = e.log_type.as_deref().unwrap_or(log_type);
            let log_action = e.log_action.as_deref().unwrap_or(log_action);
            put("log_type", log_type.into());
            put("log_action", log_action.into());
            if let Some(log_id) = e.log_id {
                put("log_id", log_id.into());
            }
            let params = match (&e.log_params, &e.target_title) {
                (Some(params), _) => params.clone(),
                (None, Some(target)) => json!({"target": target, "noredir": "0"}),
                (None, None) => json!([]),
            };
            put("log_params", params);
            put("log_action_comment", e.summary.clone().into());
        }
    }
    Some(rc)
}

/// Where the wiki is, from what the event says: its own fields when it has
/// them (core's RCFeed does), else the event's `url`
/// (`https://host/w/index.php?diff=...` gives `https://host`, `host`, `/w`).
struct Server {
    url: Option<String>,
    name: Option<String>,
    script_path: Option<String>,
}

impl Server {
    fn of(e: &Event) -> Server {
        let from_url = e.url.as_deref().and_then(split_url);
        let url = e.server_url.clone().or_else(|| from_url.as_ref().map(|u| u.0.clone()));
        let name = e.server_name.clone().or_else(|| from_url.as_ref().map(|u| u.1.clone()));
        let script_path = e.server_script_path.clone().or_else(|| from_url.map(|u| u.2));
        Server { url, name, script_path }
    }

    /// `SERVER/SCRIPT/index.php?title=Title_with_underscores` (percent-encoded).
    fn title_url(&self, title: &str) -> Option<String> {
        let (url, path) = (self.url.as_ref()?, self.script_path.as_ref()?);
        // `$wgScriptPath` is `/` on a wiki at the root, `` or `/w` elsewhere.
        Some(format!("{url}{}/index.php?title={}", path.trim_end_matches('/'), encode_title(title)))
    }
}

/// `scheme://host[:port]`, the host without its port, and the path up to the
/// script (`/w` for `/w/index.php`, `` for `/index.php`).
fn split_url(url: &str) -> Option<(String, String, String)> {
    let (scheme, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let host = match authority.strip_prefix('[') {
        // An IPv6 literal keeps its brackets, as `$wgServerName` would.
        Some(v6) => v6.split_once(']').map_or(authority, |(inner, _)| &authority[..inner.len() + 2]),
        None => match authority.rsplit_once(':') {
            Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
            _ => authority,
        },
    };
    let path = rest[end..].split(['?', '#']).next().unwrap_or("");
    let dir = path.rsplit_once('/').map_or("", |(dir, _)| dir);
    Some((format!("{scheme}://{authority}"), host.to_string(), dir.to_string()))
}

/// A title as MediaWiki puts it in a URL: spaces as `_`, the rest
/// percent-encoded except what `wfUrlencode` keeps.
fn encode_title(title: &str) -> String {
    let mut out = String::with_capacity(title.len());
    for b in title.replace(' ', "_").bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()/:;,@$".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The summary as HTML: escaped text. Core's `parsedcomment` renders links
/// and section markers; ours is the plain summary, safe to put in a page
/// as it is (never markup from the wiki's side).
fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#039;"),
            c => out.push(c),
        }
    }
    out
}

/// A stable UUID-shaped `meta.id` for an event that came without a
/// `uuid` (core's feed, older wikis): from its id, so every gateway reading
/// the same stream names it alike. Version 8 (custom), RFC 9562 variant.
fn id_uuid(id: EventId) -> String {
    let ms = id.ms & 0xffff_ffff_ffff;
    let seq = id.seq & 0x0fff_ffff_ffff_ffff;
    format!(
        "{:08x}-{:04x}-8{:03x}-{:04x}-{:012x}",
        ms >> 16,
        ms & 0xffff,
        (seq >> 50) & 0xfff,
        0x8000 | ((seq >> 36) & 0x3fff),
        seq & 0xffff_ffff_ffff
    )
}

/// Milliseconds since the epoch of an RFC 3339 date-time (the event's
/// `timestamp`, a `?since=`); `None` when it is not one.
pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(r)?;
        part.iter().all(u8::is_ascii_digit).then(|| std::str::from_utf8(part).ok()?.parse().ok())?
    };
    let sep = |i: usize, c: &[u8]| b.get(i).is_some_and(|x| c.contains(x));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, min, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut millis = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let digits = std::str::from_utf8(b.get(start..i)?).ok()?;
        if digits.is_empty() {
            return None;
        }
        let first3 = format!("{:0<3}", &digits[..digits.len().min(3)]);
        millis = first3.parse::<i64>().ok()?;
    }
    let offset_min = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) if i + 6 == b.len() && sep(i + 3, b":") => {
            let m = num(i + 1..i + 3)? * 60 + num(i + 4..i + 6)?;
            if *sign == b'+' {
                m
            } else {
                -m
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + min * 60 + sec - offset_min * 60;
    Some(secs * 1000 + millis)
}

/// `YYYY-MM-DDTHH:MM:SSZ` (with `.mmm` when `millis`) of a time in
/// milliseconds since the epoch.
pub fn format_rfc3339(ms: i64, millis: bool) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (rem / 3600, rem % 3600 / 60, rem % 60);
    if millis {
        format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{:03}Z", ms.rem_euclid(1000))
    } else {
        format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(json: &str) -> Event {
        Event::parse(json.as_bytes(), 16384).expect("valid event")
    }

    #[test]
    fn times_both_ways() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339_ms("2026-11-25T01:02:03Z"), Some(1_795_568_523_000));
        assert_eq!(parse_rfc3339_ms("2026-11-25T02:02:03.5+01:00"), Some(1_795_568_523_500));
        assert_eq!(format_rfc3339(1_795_568_523_000, false), "2026-11-25T01:02:03Z");
        assert_eq!(format_rfc3339(1_795_568_523_042, true), "2026-11-25T01:02:03.042Z");
        for bad in ["", "2026-11-25", "2026-13-01T00:00:00Z", "2026-11-25T01:02:03", "yesterday"] {
            assert_eq!(parse_rfc3339_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn an_edit_in_the_recentchange_shape() {
        let e = event(
            r#"{"type":"edit","page_title":"Main Page","user_name":"Alice","timestamp":"2026-11-25T01:02:03Z",
                "summary":"<b>fix</b>","wiki":"testwiki","namespace":0,"rev_id":42,"old_rev_id":41,"minor":true,
                "url":"http://127.0.0.1:8090/w/index.php?diff=42&oldid=41"}"#,
        );
        let rc = to_recentchange(EventId::new(1_795_568_523_000, 7), &e).unwrap();
        assert_eq!(rc["$schema"], SCHEMA);
        assert_eq!(rc["type"], "edit");
        assert_eq!(rc["timestamp"], 1_795_568_523);
        assert_eq!(rc["server_url"], "http://127.0.0.1:8090");
        assert_eq!(rc["server_name"], "127.0.0.1");
        assert_eq!(rc["server_script_path"], "/w");
        assert_eq!(rc["title_url"], "http://127.0.0.1:8090/w/index.php?title=Main_Page");
        assert_eq!(rc["notify_url"], "http://127.0.0.1:8090/w/index.php?diff=42&oldid=41");
        assert_eq!(rc["revision"], json!({"old": 41, "new": 42}));
        assert_eq!(rc["parsedcomment"], "&lt;b&gt;fix&lt;/b&gt;");
        assert_eq!(rc["meta"]["domain"], "127.0.0.1");
        assert_eq!(rc["meta"]["dt"], "2026-11-25T01:02:03.000Z");
        assert_eq!(rc["meta"]["id"].as_str().map(str::len), Some(36));
        assert!(rc.get("log_type").is_none());
    }

    #[test]
    fn a_move_is_a_log_entry_and_alerts_are_not_recent_changes() {
        let e = event(
            r#"{"type":"move","page_title":"A","target_title":"B","user_name":"U","timestamp":"2026-11-25T01:02:03Z","summary":"s"}"#,
        );
        let rc = to_recentchange(EventId::new(1, 0), &e).unwrap();
        assert_eq!((rc["type"].as_str(), rc["log_type"].as_str()), (Some("log"), Some("move")));
        assert_eq!(rc["log_params"]["target"], "B");
        let alert = event(
            r#"{"type":"alert","page_title":"A","user_name":"U","timestamp":"2026-11-25T01:02:03Z","summary":""}"#,
        );
        assert!(to_recentchange(EventId::new(1, 0), &alert).is_none());
    }

    #[test]
    fn core_rcfeed_messages_become_events() {
        let raw = br#"{"id":12,"type":"edit","namespace":0,"title":"Main Page","title_url":"http://w.example/index.php?title=Main_Page",
            "comment":"hi","timestamp":1795568523,"user":"Alice","bot":false,"notify_url":"http://w.example/index.php?diff=5&oldid=4",
            "minor":false,"patrolled":true,"length":{"old":10,"new":15},"revision":{"old":4,"new":5},
            "server_url":"http://w.example","server_name":"w.example","server_script_path":"","wiki":"wexample","parsedcomment":"hi"}"#;
        assert!(is_rcfeed(raw));
        let converted = from_rcfeed(raw).unwrap();
        assert!(!is_rcfeed(&converted));
        let e = Event::parse(&converted, 16384).unwrap();
        assert_eq!(
            (e.page_title.as_str(), e.user_name.as_str(), e.timestamp.as_str()),
            ("Main Page", "Alice", "2026-11-25T01:02:03Z")
        );
        assert_eq!((e.rev_id, e.old_rev_id, e.size_delta, e.rc_id), (Some(5), Some(4), Some(5), Some(12)));
        assert!(e.audience.is_none(), "core's feed is public");
        let rc = to_recentchange(EventId::new(1_795_568_523_000, 0), &e).unwrap();
        assert_eq!(rc["id"], 12);
        assert_eq!(rc["length"], json!({"old": 10, "new": 15}));
        assert_eq!(rc["server_script_path"], "");
        assert_eq!(rc["title_url"], "http://w.example/index.php?title=Main_Page");

        let block =
            br#"{"id":13,"type":"log","namespace":2,"title":"User:Vandal","comment":"spam","timestamp":1795568524,
            "user":"Admin","bot":false,"log_id":3,"log_type":"block","log_action":"block",
            "log_params":{"duration":"1 day","flags":[]},"log_action_comment":"blocked","server_url":"http://w.example",
            "server_name":"w.example","server_script_path":"","wiki":"wexample"}"#;
        let e = Event::parse(&from_rcfeed(block).unwrap(), 16384).unwrap();
        assert_eq!(e.kind, EventType::Log);
        let rc = to_recentchange(EventId::new(2, 0), &e).unwrap();
        assert_eq!(
            (rc["log_type"].as_str(), rc["log_action"].as_str(), rc["log_id"].as_u64()),
            (Some("block"), Some("block"), Some(3))
        );
        assert_eq!(rc["log_params"]["duration"], "1 day");

        let categorize = br#"{"type":"categorize","title":"Category:X","user":"U","timestamp":1,"server_name":"w"}"#;
        assert!(matches!(from_rcfeed(categorize), Err(RcFeedError::Skipped(_))));
        assert!(matches!(from_rcfeed(br#"{"server_name":"w"}"#), Err(RcFeedError::Missing("title"))));
    }
}
