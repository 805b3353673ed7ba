//! Log output for the shipped binaries and worker binaries.

use std::io::IsTerminal as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

mod line;

pub(crate) use line::Line;

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

/// Keeps the batched log output of [`init_non_blocking`] alive; dropping
/// it writes what is still buffered (waiting at most a second for
/// standard error to take it). Hold it in `main` until the process ends.
#[must_use = "dropping the guard stops the log output; hold it until the process ends"]
pub struct LogGuard {
    batch: Option<Arc<Batch>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for LogGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogGuard")
            .field("batched", &self.batch.is_some())
            .finish()
    }
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        let Some(batch) = self.batch.take() else {
            return;
        };
        batch.stop.store(true, Ordering::Release);
        batch.wake.notify_one();
        // The last write can block on a reader that stalled: wait for it
        // a second at most, then let the process end without it.
        let deadline = Instant::now() + Duration::from_secs(1);
        while self.thread.as_ref().is_some_and(|t| !t.is_finished()) {
            if Instant::now() >= deadline {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The bytes of log lines [`init_non_blocking`] holds before it drops (and
/// counts) new ones; `WEBHOOK_LOG_BUFFER_BYTES` changes it.
pub const DEFAULT_BUFFER_BYTES: usize = 4 * 1024 * 1024;

/// How often the log thread writes what has queued up.
const WRITE_EVERY: Duration = Duration::from_millis(20);

/// How often dropped lines are reported.
const DROP_REPORT_EVERY: Duration = Duration::from_secs(10);

/// Like [`init_with`], but lines are batched: the thread that logs
/// formats its line and appends it to a buffer (no system call, no
/// wake-up), and a log thread writes the buffer to standard error every
/// 20 ms, in one write. For processes that log a line per request (the
/// ingest): at 16,000 requests a second, a thread woken per line cost as
/// much CPU as a tenth of the requests.
///
/// When the reader of standard error falls behind by more than
/// `WEBHOOK_LOG_BUFFER_BYTES` (default [`DEFAULT_BUFFER_BYTES`]), new
/// lines are dropped rather than slowing the process down; they are
/// counted in `webhook_log_lines_dropped_total` and reported in a warning
/// line at most every 10 s. Lines are written at most 20 ms after they
/// were logged; those still buffered when the process is killed (SIGKILL)
/// are lost, and a normal exit writes them when the guard drops.
pub fn init_non_blocking(format: LogFormat) -> LogGuard {
    if tracing::dispatcher::has_been_set() {
        // An embedding application's own subscriber stays.
        return LogGuard {
            batch: None,
            thread: None,
        };
    }
    let limit = std::env::var("WEBHOOK_LOG_BUFFER_BYTES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|&n: &usize| n > 0)
        .unwrap_or(DEFAULT_BUFFER_BYTES);
    let batch = Arc::new(Batch::new(limit));
    let writer = Arc::clone(&batch);
    let thread = std::thread::Builder::new()
        .name("webhook-log".into())
        .spawn(move || writer.run(&mut std::io::stderr()));
    match thread {
        Ok(thread) => {
            if install(format, BatchWriter(Arc::clone(&batch))) {
                line::direct_to(Arc::clone(&batch), format);
            }
            LogGuard {
                batch: Some(batch),
                thread: Some(thread),
            }
        }
        Err(_) => {
            // No thread for the batches: write each line directly.
            init_with(format);
            tracing::warn!("cannot start the log thread; writing log lines directly");
            LogGuard {
                batch: None,
                thread: None,
            }
        }
    }
}

/// The lines waiting for the log thread, and what was dropped.
struct Batch {
    lines: Mutex<Vec<u8>>,
    limit: usize,
    dropped: AtomicU64,
    stop: AtomicBool,
    wake: Condvar,
}

impl Batch {
    fn new(limit: usize) -> Self {
        Self {
            lines: Mutex::new(Vec::new()),
            limit,
            dropped: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            wake: Condvar::new(),
        }
    }

    /// Appends one formatted line, or counts it dropped when the buffer
    /// is full.
    fn push(&self, line: &[u8]) {
        let mut lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        if lines.len() + line.len() > self.limit {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        } else {
            lines.extend_from_slice(line);
        }
    }

    /// The log thread: every [`WRITE_EVERY`] (or when stopped) writes what
    /// queued up; errors (standard error closed) cost the lines, never the
    /// process. Reports dropped lines at most every [`DROP_REPORT_EVERY`].
    fn run(&self, out: &mut dyn std::io::Write) {
        let mut spare = Vec::new();
        let mut reported = 0u64;
        let mut last_report = Instant::now();
        loop {
            let stopping = {
                let lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
                let (mut lines, _) = self
                    .wake
                    .wait_timeout_while(lines, WRITE_EVERY, |_| !self.stop.load(Ordering::Acquire))
                    .unwrap_or_else(PoisonError::into_inner);
                std::mem::swap(&mut *lines, &mut spare);
                self.stop.load(Ordering::Acquire)
            };
            if !spare.is_empty() {
                let _ = out.write_all(&spare);
                let _ = out.flush();
                spare.clear();
            }
            if stopping {
                return;
            }
            let dropped = self.dropped.load(Ordering::Relaxed);
            if dropped > reported && last_report.elapsed() >= DROP_REPORT_EVERY {
                let new = dropped - reported;
                metrics::counter!("webhook_log_lines_dropped_total").increment(new);
                tracing::warn!(
                    dropped = new,
                    total = dropped,
                    "log lines dropped: the reader of standard error is slower than the lines written"
                );
                reported = dropped;
                last_report = Instant::now();
            }
        }
    }
}

/// What the subscriber writes each line through.
struct BatchWriter(Arc<Batch>);

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for BatchWriter {
    type Writer = BatchLine<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        BatchLine(&self.0)
    }
}

/// One line: the subscriber formats it whole and writes it in one call.
struct BatchLine<'a>(&'a Batch);

impl std::io::Write for BatchLine<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.push(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
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
    let _ = install(format, std::io::stderr);
}

/// Installs the subscriber writing through `writer`, unless the process
/// has one; whether it did, and writes plain text (no colour) or JSON.
fn install<W>(format: LogFormat, writer: W) -> bool
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
    match format {
        LogFormat::Text => {
            let ansi = colour(
                std::io::stderr().is_terminal(),
                std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
            );
            builder.with_ansi(ansi).try_init().is_ok() && !ansi
        }
        LogFormat::Json => builder.json().with_ansi(false).try_init().is_ok(),
    }
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
