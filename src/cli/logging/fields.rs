//! The text log's fields, written so that no value can forge a line.
//!
//! tracing-subscriber's default field formatter writes `name=value` with the value's `Debug`
//! (for `%` fields its `Display`) as it comes, escaping only the message. `/mutate` is reachable
//! without credentials, and the admission line records the review's `uid`, `kind` and
//! `operation` as sent: a `uid` holding a line break and a made-up timestamp became a second,
//! forged line in the log, and an escape sequence reached the terminal reading it. Here every
//! value, the message included, has its control characters and Unicode line separators written
//! as `\n`, `\u{1b}`…, as `str`'s `Debug` writes them, so a line is one event; values without
//! them are written exactly as tracing-subscriber writes them (a table test holds the two
//! together). The JSON format needs none of this: serde_json escapes strings itself.

use std::error::Error;
use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing_subscriber::field::{MakeVisitor, VisitFmt, VisitOutput};
use tracing_subscriber::fmt::format::Writer;

/// tracing-subscriber's styles for field names and `=` on a terminal, as nu_ansi_term writes them.
const ITALIC: &str = "\x1b[3m";
const DIMMED: &str = "\x1b[2m";
const RESET: &str = "\x1b[0m";

/// Formats fields as `name=value`, space-separated, the message first without its name, every
/// value escaped (see the module documentation). Use with `fmt().fmt_fields(EscapedFields)`.
#[derive(Clone, Copy, Debug, Default)]
pub struct EscapedFields;

impl<'writer> MakeVisitor<Writer<'writer>> for EscapedFields {
    type Visitor = EscapedVisitor<'writer>;

    fn make_visitor(&self, target: Writer<'writer>) -> Self::Visitor {
        EscapedVisitor {
            writer: target,
            is_empty: true,
            result: Ok(()),
        }
    }
}

/// Writes one event's or span's fields for [`EscapedFields`].
#[derive(Debug)]
pub struct EscapedVisitor<'writer> {
    writer: Writer<'writer>,
    is_empty: bool,
    result: fmt::Result,
}

impl Visit for EscapedVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        // The message's text as written; any other `&str` quoted, as tracing-subscriber does.
        match field.name() {
            "message" => self.record_debug(field, &format_args!("{value}")),
            name if plain_ascii(value) => {
                if !self.skips(name) {
                    self.result = self.write_quoted(name, value);
                }
            }
            _ => self.record_debug(field, &value),
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn Error + 'static)) {
        if self.skips(field.name()) {
            return;
        }
        self.result = self.write_error(field.name(), value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let name = field.name();
        if self.skips(name) {
            return;
        }
        self.result = self.write_field(name, value);
    }
}

impl EscapedVisitor<'_> {
    /// Whether field `name` is left out: after a failed write, or tracing-log's metadata of a
    /// `log` record (`log.*`), already written as the event's own.
    fn skips(&self, name: &str) -> bool {
        self.result.is_err() || name.starts_with("log.")
    }

    /// `name="value"` for a [`plain_ascii`] value: what `str`'s `Debug` writes for it, without
    /// its test of every character for an escape (the admission line's uid, kind, namespace,
    /// name and operation are such values).
    fn write_quoted(&mut self, name: &str, value: &str) -> fmt::Result {
        self.write_name(name)?;
        self.writer.write_char('"')?;
        self.writer.write_str(value)?;
        self.writer.write_char('"')
    }

    fn write_field(&mut self, name: &str, value: &dyn fmt::Debug) -> fmt::Result {
        self.write_name(name)?;
        write!(Escaping(&mut self.writer), "{value:?}")
    }

    /// An error, then its sources as `name.sources=[…]`, as tracing-subscriber writes them.
    fn write_error(&mut self, name: &str, error: &(dyn Error + 'static)) -> fmt::Result {
        self.write_name(name)?;
        write!(Escaping(&mut self.writer), "{error}")?;
        let Some(source) = error.source() else {
            return Ok(());
        };
        let name = strip_raw(name);
        match self.writer.has_ansi_escapes() {
            true => write!(
                self.writer,
                " {ITALIC}{name}{RESET}{ITALIC}.sources{RESET}{DIMMED}={RESET}"
            )?,
            false => write!(self.writer, " {name}.sources=")?,
        }
        write!(Escaping(&mut self.writer), "{}", Sources(source))
    }

    /// The separating space and `name=` (nothing for the message).
    fn write_name(&mut self, name: &str) -> fmt::Result {
        if !std::mem::take(&mut self.is_empty) {
            self.writer.write_char(' ')?;
        }
        if name == "message" {
            return Ok(());
        }
        let name = strip_raw(name);
        // Written piece by piece: `write!` would pad-check the name for nothing.
        match self.writer.has_ansi_escapes() {
            true => {
                self.writer.write_str(ITALIC)?;
                self.writer.write_str(name)?;
                self.writer.write_str(RESET)?;
                self.writer.write_str(DIMMED)?;
                self.writer.write_char('=')?;
                self.writer.write_str(RESET)
            }
            false => {
                self.writer.write_str(name)?;
                self.writer.write_char('=')
            }
        }
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

/// A field name without the `r#` of a raw identifier (`r#type`).
fn strip_raw(name: &str) -> &str {
    name.strip_prefix("r#").unwrap_or(name)
}

/// An error's sources, `[first, second]`, as tracing-subscriber lists them.
struct Sources<'a>(&'a (dyn Error + 'static));

impl fmt::Display for Sources<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = formatter.debug_list();
        let mut current = Some(self.0);
        while let Some(error) = current {
            list.entry(&format_args!("{error}"));
            current = error.source();
        }
        list.finish()
    }
}

/// Whether `str`'s `Debug` writes `value` between quotes unchanged: printable ASCII without a
/// quote or a backslash.
fn plain_ascii(value: &str) -> bool {
    value
        .bytes()
        .all(|byte| matches!(byte, b' '..=b'~') && byte != b'"' && byte != b'\\')
}

/// Passes text through with each character that could end or rewrite a line escaped.
struct Escaping<'a, W: fmt::Write>(&'a mut W);

impl<W: fmt::Write> fmt::Write for Escaping<'_, W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let bytes = text.as_bytes();
        let mut clean_from = 0;
        let mut at = 0;
        while at < bytes.len() {
            // Bytes, not chars: almost every byte is printable ASCII, and every character
            // escaped starts with a byte below 0x20, 0x7f, 0xc2 (C1) or 0xe2 (U+2028, U+2029).
            if !matches!(bytes[at], 0..=0x1f | 0x7f | 0xc2 | 0xe2) {
                at += 1;
                continue;
            }
            let character = text[at..].chars().next().unwrap_or_default();
            let next = at + character.len_utf8();
            if needs_escape(character) {
                self.0.write_str(&text[clean_from..at])?;
                write!(self.0, "{}", character.escape_debug())?;
                clean_from = next;
            }
            at = next;
        }
        self.0.write_str(&text[clean_from..])
    }
}

/// Control characters (C0, DEL, C1: line feed, carriage return, escape…) and the Unicode line
/// and paragraph separators.
fn needs_escape(character: char) -> bool {
    character.is_control() || matches!(character, '\u{2028}' | '\u{2029}')
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex, PoisonError};

    use tracing_subscriber::fmt::format::DefaultFields;
    use tracing_subscriber::fmt::MakeWriter;
    use tracing_subscriber::EnvFilter;

    use super::*;
    use crate::cli::logging::{subscriber, LogFormat};

    /// Everything written, shared with the test.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Captured {
        fn text(&self) -> String {
            let bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            String::from_utf8(bytes.clone()).expect("log text is UTF-8")
        }
    }

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let mut bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            bytes.extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;

        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    #[derive(Debug, thiserror::Error)]
    #[error("the store refused the write")]
    struct Outer(#[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("disk full")]
    struct Inner;

    /// The admission line's shape, with `uid` as the caller sent it.
    fn admission_line(uid: &str) {
        tracing::info!(
            uid = %uid,
            kind = %"Pod",
            namespace = "shop",
            name = "web",
            r#type = "CREATE",
            outcome = ?Some("Patched"),
            rewrites = 2usize,
            allowed = true,
            ratio = 0.5f64,
            "admission"
        );
    }

    fn error_line() {
        let error = Outer(Inner);
        tracing::warn!(error = &error as &(dyn Error + 'static), "write failed");
    }

    /// What `emit` logs through a text subscriber without timestamps, with `fields`.
    fn logged<F>(fields: F, ansi: bool, emit: impl FnOnce()) -> String
    where
        F: for<'w> tracing_subscriber::fmt::FormatFields<'w> + Send + Sync + 'static,
    {
        let captured = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .without_time()
            .with_ansi(ansi)
            .fmt_fields(fields)
            .with_writer(captured.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, emit);
        captured.text()
    }

    /// What the webhook's admission line says for a review whose `uid` is `uid`.
    fn webhook_line(uid: &str) -> String {
        let review = serde_json::json!({"apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {"uid": uid, "kind": {"group": "", "version": "v1", "kind": "Pod"},
                "resource": {"group": "", "version": "v1", "resource": "pods"},
                "operation": "CREATE", "namespace": "shop", "name": "web", "object": {}}});
        let body = review.to_string();
        let request = crate::webhook::review::parse(body.as_bytes()).unwrap();
        let decision = crate::admission::Decision::default();
        let outcome = crate::metrics::Outcome::Allowed;
        let started = std::time::Instant::now();
        logged(EscapedFields, false, || {
            crate::webhook::log_admission(&request, outcome, &decision, started)
        })
    }

    #[test]
    fn a_uid_with_spaces_and_quotes_cannot_add_fields_to_the_admission_line() {
        let forged = r#"x kind=Deployment namespace="kube-system" outcome=Denied"#;
        let line = webhook_line(forged);
        let uid = r#"uid="x kind=Deployment namespace=\"kube-system\" outcome=Denied""#;
        assert!(
            line.contains(&format!(r#"{uid} kind="Pod" namespace="shop""#)),
            "{line}"
        );
        // Outside the quoted uid, only the real fields.
        let rest = line.replace(uid, "");
        assert!(
            !rest.contains("kube-system") && !rest.contains("Denied"),
            "{line}"
        );
        assert!(rest.contains(" outcome=Allowed "), "{line}");
        // A megabyte of uid is not a megabyte of log.
        let line = webhook_line(&"u".repeat(1 << 20));
        assert!(line.len() < 1024, "{} bytes", line.len());
        assert!(
            line.contains(&format!("uid=\"{}…\"", "u".repeat(128))),
            "{line}"
        );
    }

    #[test]
    fn plain_ascii_is_exactly_what_str_debug_writes_unchanged_between_quotes() {
        for byte in 0u8..=0x7f {
            let text = format!("a{}b", byte as char);
            let unchanged = format!("{text:?}") == format!("\"{text}\"");
            assert_eq!(plain_ascii(&text), unchanged, "byte {byte:#x}");
        }
        assert!(!plain_ascii("é"), "non-ASCII takes the escaping path");
        assert!(plain_ascii(""));
    }

    #[test]
    fn values_without_control_characters_are_written_as_tracing_subscriber_writes_them() {
        let plain = || admission_line("705ab4f5-6393-11e8-b7cc-42010a800002");
        for ansi in [false, true] {
            let ours = logged(EscapedFields, ansi, plain);
            let theirs = logged(DefaultFields::new(), ansi, plain);
            assert_eq!(ours, theirs, "ansi {ansi}");
            assert!(
                ours.contains("type") && !ours.contains("r#"),
                "r# stripped: {ours}"
            );
            let ours = logged(EscapedFields, ansi, error_line);
            let theirs = logged(DefaultFields::new(), ansi, error_line);
            assert_eq!(ours, theirs, "ansi {ansi}");
        }
    }

    #[test]
    fn a_value_with_a_line_break_and_an_escape_sequence_stays_one_escaped_line() {
        let forged = "abc\n2026-12-02T00:00:00Z  INFO imagelookup::webhook: admission \
                      uid=forged\r\u{1b}[31m\u{85}\u{2028}end";
        for ansi in [false, true] {
            let text = logged(EscapedFields, ansi, || admission_line(forged));
            assert_eq!(text.matches('\n').count(), 1, "one line: {text:?}");
            assert!(text.ends_with('\n'), "{text:?}");
            assert!(
                text.contains(
                    "abc\\n2026-12-02T00:00:00Z  INFO imagelookup::webhook: admission \
                     uid=forged\\r\\u{1b}[31m\\u{85}\\u{2028}end"
                ),
                "{text:?}"
            );
            let escapes = text.matches('\u{1b}').count();
            let styling = if ansi {
                text.matches("\u{1b}[").count()
            } else {
                0
            };
            assert_eq!(escapes, styling, "no raw escape from the value: {text:?}");
        }
    }

    #[test]
    fn serves_text_and_json_logs_keep_a_value_with_a_line_break_on_one_line() {
        for format in [LogFormat::Text, LogFormat::Json] {
            let captured = Captured::default();
            let filter = EnvFilter::new("info");
            let subscriber = subscriber(format, filter, false, captured.clone());
            tracing::subscriber::with_default(subscriber, || admission_line("abc\nforged"));
            let text = captured.text();
            assert_eq!(text.matches('\n').count(), 1, "{format:?}: {text:?}");
            assert!(text.contains("abc\\nforged"), "{format:?}: {text:?}");
        }
    }

    #[test]
    fn a_message_with_a_line_break_is_escaped() {
        let text = logged(EscapedFields, false, || {
            tracing::info!("{}", "first\nsecond");
        });
        assert!(text.ends_with("first\\nsecond\n"), "{text:?}");
    }

    #[test]
    fn escaping_copies_clean_runs_and_escapes_each_control_character() {
        let cases = [
            ("", ""),
            ("plain", "plain"),
            ("a\nb", "a\\nb"),
            ("\n", "\\n"),
            ("tab\there", "tab\\there"),
            ("é\u{7f}ü", "é\\u{7f}ü"),
            ("\u{9f}x\u{2029}", "\\u{9f}x\\u{2029}"),
            ("quote\"s", "quote\"s"),
            (
                "\u{2027}\u{20ac}\u{a0}\u{c0}",
                "\u{2027}\u{20ac}\u{a0}\u{c0}",
            ),
            ("\u{1b}[31m\u{1b}", "\\u{1b}[31m\\u{1b}"),
        ];
        for (text, expected) in cases {
            let mut written = String::new();
            Escaping(&mut written)
                .write_str(text)
                .expect("a String takes it");
            assert_eq!(written, expected, "{text:?}");
        }
    }
}
