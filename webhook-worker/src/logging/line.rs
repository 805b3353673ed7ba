//! Log lines written straight into the batch of
//! [`init_non_blocking`](super::init_non_blocking), for the one line per
//! request: the same bytes the subscriber would write, without its
//! per-field formatting machinery (about 2 µs a line, a tenth of what the
//! ingest spends on a request).

use std::fmt::{self, Write as _};
use std::sync::{Arc, OnceLock};

use super::{Batch, LogFormat};

/// The batch and format lines go to; set once the batched subscriber is
/// installed with plain text or JSON (coloured text keeps the subscriber).
static DIRECT: OnceLock<(Arc<Batch>, LogFormat)> = OnceLock::new();

pub(super) fn direct_to(batch: Arc<Batch>, format: LogFormat) {
    let _ = DIRECT.set((batch, format));
}

/// One log line built in the subscriber's format: text as
/// `<time> <LEVEL> <target>: name=value ...`, JSON as
/// `{"timestamp":..,"level":..,"fields":{..},"target":..}`.
///
/// The caller checks the level first (`tracing::enabled!` at its own call
/// site, so `RUST_LOG` directives for its module apply), and logs through
/// `tracing` when [`Line::start`] gives `None`: another subscriber is
/// installed, or the output is coloured.
pub(crate) struct Line {
    out: String,
    format: LogFormat,
    batch: &'static Batch,
    target: &'static str,
    fields: usize,
}

impl Line {
    /// A line at `level` from `target`, when lines go straight to the batch.
    pub(crate) fn start(level: tracing::Level, target: &'static str) -> Option<Self> {
        let (batch, format) = DIRECT.get()?;
        Some(Self::with(
            batch,
            *format,
            level,
            target,
            std::time::SystemTime::now(),
        ))
    }

    fn with(
        batch: &'static Batch,
        format: LogFormat,
        level: tracing::Level,
        target: &'static str,
        at: std::time::SystemTime,
    ) -> Self {
        let mut out = String::with_capacity(256);
        let time = humantime::format_rfc3339_micros(at);
        // Writing into a String cannot fail.
        let _ = match format {
            LogFormat::Text => write!(out, "{time} {level:>5} {target}: "),
            LogFormat::Json => {
                write!(
                    out,
                    r#"{{"timestamp":"{time}","level":"{level}","fields":{{"#
                )
            }
        };
        Self {
            out,
            format,
            batch,
            target,
            fields: 0,
        }
    }

    fn name(&mut self, name: &str) {
        let first = self.fields == 0;
        self.fields += 1;
        match (self.format, first) {
            (LogFormat::Text, true) => self.out.push_str(name),
            (LogFormat::Text, false) => {
                self.out.push(' ');
                self.out.push_str(name);
            }
            (LogFormat::Json, first) => {
                if !first {
                    self.out.push(',');
                }
                self.out.push('"');
                self.out.push_str(name);
                self.out.push('"');
            }
        }
        self.out.push(if self.format == LogFormat::Text {
            '='
        } else {
            ':'
        });
    }

    /// A field logged as `%value` (its `Display`, bare in text).
    pub(crate) fn display(mut self, name: &str, value: impl fmt::Display) -> Self {
        self.name(name);
        match self.format {
            LogFormat::Text => {
                let _ = write!(self.out, "{value}");
            }
            LogFormat::Json => {
                let at = self.out.len();
                let _ = write!(self.out, "{value}");
                let text = self.out.split_off(at);
                json_string(&mut self.out, &text);
            }
        }
        self
    }

    /// A field logged as a `&str` (quoted, as `tracing` writes it).
    pub(crate) fn str(mut self, name: &str, value: &str) -> Self {
        self.name(name);
        match self.format {
            LogFormat::Text => {
                let _ = write!(self.out, "{value:?}");
            }
            LogFormat::Json => json_string(&mut self.out, value),
        }
        self
    }

    /// A field logged as a number.
    pub(crate) fn u64(mut self, name: &str, value: u64) -> Self {
        self.name(name);
        let _ = write!(self.out, "{value}");
        self
    }

    /// Ends the line and hands it to the batch.
    pub(crate) fn write(mut self) {
        self.finish();
        self.batch.push(self.out.as_bytes());
    }

    fn finish(&mut self) {
        if self.format == LogFormat::Json {
            self.out.push_str(r#"},"target":"#);
            json_string(&mut self.out, self.target);
            self.out.push('}');
        }
        self.out.push('\n');
    }
}

/// `text` as a JSON string.
fn json_string(out: &mut String, text: &str) {
    // serde_json's escaping, as the JSON subscriber writes it; into a
    // String it cannot fail.
    if let Ok(quoted) = serde_json::to_string(text) {
        out.push_str(&quoted);
    }
}

#[cfg(test)]
mod tests {
    use super::{Line, LogFormat};
    use crate::ingest::log::Escaped;
    use std::sync::{Arc, Mutex};

    /// What a `tracing` subscriber writes, captured.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The subscriber's line and ours for the same fields, without the
    /// timestamps (the subscriber reads the clock itself).
    fn both(format: LogFormat) -> (String, String) {
        let captured = Captured::default();
        let writer = captured.clone();
        let builder = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false);
        let id = "x\n2026 INFO fake\u{1b}[31m\"é";
        let emit = || {
            tracing::info!(target: "webhook_worker::ingest::routes", source = %Escaped("github"), event_id = %Escaped(id), outcome = "accepted", latency_us = 1167u64);
        };
        match format {
            LogFormat::Text => tracing::subscriber::with_default(builder.finish(), emit),
            LogFormat::Json => tracing::subscriber::with_default(builder.json().finish(), emit),
        }
        let theirs =
            String::from_utf8(captured.0.lock().unwrap_or_else(|e| e.into_inner()).clone())
                .unwrap_or_default();
        let batch: &'static super::Batch = Box::leak(Box::new(super::Batch::new(1 << 20)));
        let mut line = Line::with(
            batch,
            format,
            tracing::Level::INFO,
            "webhook_worker::ingest::routes",
            std::time::SystemTime::now(),
        )
        .display("source", Escaped("github"))
        .display("event_id", Escaped(id))
        .str("outcome", "accepted")
        .u64("latency_us", 1167);
        line.finish();
        // The timestamps (27 characters) start the text line and follow
        // `{"timestamp":"` in JSON.
        let at = match format {
            LogFormat::Text => 0,
            LogFormat::Json => 14,
        };
        let strip = |text: &str| {
            let mut text = text.to_owned();
            text.replace_range(at..at + 27, "");
            text
        };
        (strip(&theirs), strip(&line.out))
    }

    #[test]
    fn text_lines_are_the_subscribers_bytes() {
        let (theirs, ours) = both(LogFormat::Text);
        assert!(theirs.contains("event_id=x\\n2026"), "{theirs}");
        assert_eq!(ours, theirs);
    }

    #[test]
    fn json_lines_are_the_subscribers_object() {
        let (theirs, ours) = both(LogFormat::Json);
        assert!(theirs.contains(r#""latency_us":1167"#), "{theirs}");
        assert_eq!(ours, theirs);
    }

    #[test]
    fn the_timestamp_has_the_subscribers_shape() {
        let batch: &'static super::Batch = Box::leak(Box::new(super::Batch::new(1 << 20)));
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_micros(1_764_770_926_303_128);
        let line = Line::with(batch, LogFormat::Text, tracing::Level::WARN, "t", at);
        assert_eq!(line.out, "2025-12-03T14:08:46.303128Z  WARN t: ");
    }
}
