//! Log output for the shipped binaries and worker binaries.

use std::io::IsTerminal as _;

/// Installs the default log output, unless the process already has one:
/// lines on standard error (standard output stays the commands' own), the
/// level from `RUST_LOG` (default `info`), and colour only when standard
/// error is a terminal and `NO_COLOR` is not set, so files and pipes get
/// plain text.
pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // An embedding application that installed its own subscriber keeps it.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour(
            std::io::stderr().is_terminal(),
            std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
        ))
        .try_init();
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
