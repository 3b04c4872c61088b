//! Log output: human-readable lines or JSON, on stderr.
//!
//! Much of what the gateway logs comes from outside: a client's `?filter=`
//! or `?since=`, its refusal reasons, an event's fields quoted in a parse
//! error. A newline in any of them, written as is, would start a line of the
//! attacker's choosing (log forging); an escape sequence would drive the
//! reader's terminal. So the human format writes every field through
//! [`Escaped`], whatever the call site asked for (`%display` included), and
//! the JSON format is escaped by construction (one JSON object per line).

use std::fmt::{self, Write as _};
use std::io::IsTerminal;

use tracing::field::{Field, Visit};
use tracing_subscriber::field::{MakeVisitor, VisitFmt, VisitOutput};
use tracing_subscriber::fmt::format::Writer;

use crate::config::LogFormat;

/// Installs the global subscriber; verbosity from `RTN_LOG` (default `info`).
pub fn init(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("RTN_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    // A log line that cannot be written (stderr closed: `... | head`) is
    // dropped; by default tracing-subscriber reports it with `eprintln!`,
    // which panics and takes down whichever task logged.
    let builder =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).log_internal_errors(false);
    match format {
        // Colours only on a terminal: escape codes make log files unreadable.
        LogFormat::Human => builder.fmt_fields(Escaped).with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

/// Formats fields as tracing-subscriber's default does (`message`, then
/// `name=value` pairs), with every control character in names and values
/// escaped (`\n`, `\u{1b}`, ...), so that nothing a field holds can end the
/// line or reach a terminal as a control sequence.
#[derive(Debug, Clone, Copy, Default)]
pub struct Escaped;

impl<'w> MakeVisitor<Writer<'w>> for Escaped {
    type Visitor = EscapedVisitor<'w>;

    fn make_visitor(&self, writer: Writer<'w>) -> EscapedVisitor<'w> {
        EscapedVisitor { writer, first: true, result: Ok(()) }
    }
}

pub struct EscapedVisitor<'w> {
    writer: Writer<'w>,
    first: bool,
    result: fmt::Result,
}

impl EscapedVisitor<'_> {
    fn field(&mut self, field: &Field, value: fmt::Arguments<'_>) {
        if self.result.is_err() {
            return;
        }
        let separator = if std::mem::take(&mut self.first) { "" } else { " " };
        let name = match field.name() {
            "message" => None,
            name => Some(name.strip_prefix("r#").unwrap_or(name)),
        };
        let writer = &mut self.writer;
        self.result = (|| {
            writer.write_str(separator)?;
            if let Some(name) = name {
                EscapeWriter(&mut *writer).write_str(name)?;
                writer.write_char('=')?;
            }
            EscapeWriter(&mut *writer).write_fmt(value)
        })();
    }
}

impl Visit for EscapedVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        // As the default format: a message as it is, other strings quoted.
        if field.name() == "message" {
            self.field(field, format_args!("{value}"));
        } else {
            self.field(field, format_args!("{value:?}"));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // `%display` fields arrive here too, wrapped so that Debug displays them.
        self.field(field, format_args!("{value:?}"));
    }
}

impl VisitOutput<fmt::Result> for EscapedVisitor<'_> {
    fn finish(self) -> fmt::Result {
        self.result
    }
}

impl VisitFmt for EscapedVisitor<'_> {
    fn writer(&mut self) -> &mut dyn fmt::Write {
        &mut self.writer
    }
}

/// Passes text on with control characters (and the Unicode line and
/// paragraph separators) escaped.
struct EscapeWriter<'a, W: fmt::Write>(&'a mut W);

impl<W: fmt::Write> fmt::Write for EscapeWriter<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut rest = s;
        while let Some(at) = rest.find(|c: char| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')) {
            self.0.write_str(&rest[..at])?;
            let c = rest[at..].chars().next().unwrap_or_default();
            match c {
                '\n' => self.0.write_str("\\n")?,
                '\r' => self.0.write_str("\\r")?,
                '\t' => self.0.write_str("\\t")?,
                c => write!(self.0, "\\u{{{:x}}}", u32::from(c))?,
            }
            rest = &rest[at + c.len_utf8()..];
        }
        self.0.write_str(rest)
    }
}

/// `s` with control characters escaped, as the human log format writes it.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let _ = EscapeWriter(&mut out).write_str(s);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(escape("plain ascii, ünïcödé, \\ and \""), "plain ascii, ünïcödé, \\ and \"");
        assert_eq!(escape("a\nINFO forged\r\n"), "a\\nINFO forged\\r\\n");
        assert_eq!(escape("\u{1b}[31mred\u{7}"), "\\u{1b}[31mred\\u{7}");
        assert_eq!(escape("tab\there \u{85}\u{2028}\u{2029}"), "tab\\there \\u{85}\\u{2028}\\u{2029}");
    }

    /// The whole subscriber, on a buffer: a `%display` field, a `?debug`
    /// field and a formatted message, each carrying a newline, give one line.
    #[test]
    fn every_field_of_a_human_line_is_escaped() {
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Buffer(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buffer {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buffer = Buffer::default();
        let sink = buffer.clone();
        let subscriber =
            tracing_subscriber::fmt().fmt_fields(Escaped).with_ansi(false).with_writer(move || sink.clone()).finish();
        let forged = "x\nINFO realtimenotify::server: forged";
        tracing::subscriber::with_default(subscriber, || {
            let error = std::io::Error::other(forged);
            tracing::info!(shown = %forged, debugged = ?forged, %error, "refused {}", forged);
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(!text.lines().any(|line| line.starts_with("INFO")), "{text}");
        assert!(text.contains("refused x\\nINFO realtimenotify::server: forged"), "{text}");
        assert!(text.contains("shown=x\\nINFO"), "{text}");
        assert!(text.contains(r#"debugged="x\nINFO"#), "{text}");
    }
}
