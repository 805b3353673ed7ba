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

/// Installs the default log output, unless the process already has one:
/// lines on standard error (standard output stays the commands' own), the
/// level from `RUST_LOG` (default `info`), in `format`; text in colour only
/// when standard error is a terminal and `NO_COLOR` is not set, so files
/// and pipes get plain text. Lines that cannot be written (standard error
/// closed) are dropped; the process goes on.
pub fn init_with(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
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
