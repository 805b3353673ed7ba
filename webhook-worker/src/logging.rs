//! Log output for the shipped binaries and worker binaries.

use std::io::IsTerminal as _;

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
#[non_exhaustive]
pub enum LogFormat {
    /// One human-readable line per event (the default).
    #[default]
    Text,
    /// One JSON object per line, for log shippers: `timestamp`, `level`,
    /// `target`, `fields` (the message and every field).
    Json,
}

impl LogFormat {
    /// The format `WEBHOOK_LOG_FORMAT` names (`text` or `json`); the
    /// default when it is unset. An unknown value is an error naming the
    /// choices.
    pub fn from_env() -> Result<Self, String> {
        match std::env::var("WEBHOOK_LOG_FORMAT") {
            Err(_) => Ok(Self::default()),
            Ok(text) => match text.trim() {
                "" | "text" => Ok(Self::Text),
                "json" => Ok(Self::Json),
                other => Err(format!(
                    "WEBHOOK_LOG_FORMAT is `{}`; set it to `text` or `json`",
                    other.escape_debug()
                )),
            },
        }
    }
}

/// Installs the default log output in the format `WEBHOOK_LOG_FORMAT`
/// names ([`init_with`]); an unknown format falls back to text and says so.
pub fn init() {
    match LogFormat::from_env() {
        Ok(format) => init_with(format),
        Err(problem) => {
            init_with(LogFormat::Text);
            tracing::warn!("{problem}; writing text logs");
        }
    }
}

/// Keeps the buffered log output of [`init_non_blocking`] alive; dropping
/// it writes what is still buffered (waiting at most about a second).
/// Hold it in `main` until the process ends.
#[must_use = "dropping the guard stops the log output; hold it until the process ends"]
pub struct LogGuard {
    _guard: Option<tracing_appender::non_blocking::WorkerGuard>,
}

impl std::fmt::Debug for LogGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogGuard")
            .field("buffered", &self._guard.is_some())
            .finish()
    }
}

/// The lines [`init_non_blocking`] buffers before it drops (and counts)
/// new ones; `WEBHOOK_LOG_BUFFER_LINES` changes it.
pub const DEFAULT_BUFFER_LINES: usize = 16_384;

/// How often dropped lines are reported.
const DROP_REPORT_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// Like [`init_with`], but the lines are written to standard error by a
/// thread of their own, in batches: a request that logs only formats its
/// line and hands it over, and many lines cost one write. For processes
/// that log a line per request (the ingest).
///
/// When the reader of standard error falls behind by more than
/// `WEBHOOK_LOG_BUFFER_LINES` lines (default [`DEFAULT_BUFFER_LINES`]),
/// new lines are dropped rather than slowing the process down; they are
/// counted in `webhook_log_lines_dropped_total` and reported every 10 s
/// in a warning line. Lines still buffered when the process is killed
/// (SIGKILL) are lost; a normal exit writes them when the guard drops.
pub fn init_non_blocking(format: LogFormat) -> LogGuard {
    if tracing::dispatcher::has_been_set() {
        // An embedding application's own subscriber stays.
        return LogGuard { _guard: None };
    }
    let lines = std::env::var("WEBHOOK_LOG_BUFFER_LINES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|&n: &usize| n > 0)
        .unwrap_or(DEFAULT_BUFFER_LINES);
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(lines)
        .thread_name("webhook-log")
        .finish(Batched::default());
    let dropped = writer.error_counter();
    install(format, writer);
    let reported = std::thread::Builder::new()
        .name("webhook-log-drops".into())
        .spawn(move || report_drops(&|| dropped.dropped_lines()));
    if reported.is_err() {
        tracing::warn!("cannot start the thread that reports dropped log lines");
    }
    LogGuard {
        _guard: Some(guard),
    }
}

/// Every [`DROP_REPORT_EVERY`], counts and logs the lines dropped since
/// the last report.
fn report_drops(dropped: &dyn Fn() -> usize) {
    let mut reported = 0usize;
    loop {
        std::thread::sleep(DROP_REPORT_EVERY);
        let now = dropped();
        if now > reported {
            let new = now - reported;
            metrics::counter!("webhook_log_lines_dropped_total").increment(new as u64);
            tracing::warn!(
                dropped = new,
                total = now,
                "log lines dropped: the reader of standard error is slower than the lines written"
            );
            reported = now;
        }
    }
}

/// Standard error behind a buffer that the log thread flushes once per
/// batch; errors (standard error closed) cost the lines, never the process.
#[derive(Default)]
struct Batched {
    buffer: Vec<u8>,
}

impl std::io::Write for Batched {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.buffer.len() + buf.len() > 64 * 1024 {
            self.flush()?;
        }
        self.buffer.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().lock().write_all(&self.buffer);
        self.buffer.clear();
        Ok(())
    }
}

/// Installs the default log output, unless the process already has one:
/// lines on standard error (standard output stays the commands' own), the
/// level from `RUST_LOG` (default `info`), in `format`; text in colour only
/// when standard error is a terminal and `NO_COLOR` is not set, so files
/// and pipes get plain text. Lines that cannot be written (standard error
/// closed) are dropped; the process goes on.
pub fn init_with(format: LogFormat) {
    install(format, std::io::stderr);
}

/// Installs the subscriber writing through `writer`, unless the process
/// has one.
fn install<W>(format: LogFormat, writer: W)
where
    W: for<'a> tracing_subscriber::fmt::MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        // A closed standard error (the log reader went away) must cost the
        // lines, not the process: by default a failed write is reported
        // with `eprintln!`, which panics on that same closed stream.
        .log_internal_errors(false);
    // An embedding application that installed its own subscriber keeps it.
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(colour(
                std::io::stderr().is_terminal(),
                std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
            ))
            .try_init(),
        LogFormat::Json => builder.json().with_ansi(false).try_init(),
    };
}

/// Whether to write colour: only to a terminal, and never with `NO_COLOR`.
fn colour(terminal: bool, no_color: bool) -> bool {
    terminal && !no_color
}

#[cfg(test)]
mod tests {
    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(super::colour(true, false));
        assert!(!super::colour(false, false));
        assert!(!super::colour(true, true));
    }
}
