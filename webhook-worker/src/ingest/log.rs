//! What the ingest writes to its logs about a request: request-controlled
//! text escaped, and repeated rejections summarised instead of flooding.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Request-controlled text for a log field: control characters, double
/// quotes, backslashes and non-ASCII are written as escapes (`\n`,
/// `\u{1b}`, `\"`), so a request cannot forge a log line or write a
/// terminal escape; an apostrophe stays one.
#[derive(Clone, Copy)]
pub(crate) struct Escaped<'a>(pub(crate) &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Runs of printable ASCII other than `"` and `\` are written as
        // they are, in one call; the rest one escape at a time.
        let text = self.0;
        let mut start = 0;
        for (at, c) in text.char_indices() {
            if matches!(c, ' '..='~') && c != '"' && c != '\\' {
                continue;
            }
            f.write_str(&text[start..at])?;
            fmt::Display::fmt(&c.escape_default(), f)?;
            start = at + c.len_utf8();
        }
        f.write_str(&text[start..])
    }
}

impl fmt::Debug for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

/// Lets one log line per kind through per interval, and counts the rest, so
/// a client repeating a rejected request cannot flood the log.
pub(crate) struct RateLimit {
    interval: Duration,
    kinds: Mutex<HashMap<&'static str, (Instant, u64)>>,
}

impl RateLimit {
    /// At most one line per kind every `interval`.
    pub(crate) fn new(interval: Duration) -> Self {
        Self {
            interval,
            kinds: Mutex::new(HashMap::new()),
        }
    }

    /// `Some(n)` when a line of `kind` may be written now, `n` being the
    /// lines of that kind left out since the last one; `None` to stay quiet.
    pub(crate) fn allow(&self, kind: &'static str) -> Option<u64> {
        let now = Instant::now();
        let mut kinds = self
            .kinds
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match kinds.get_mut(kind) {
            Some((last, suppressed)) if now.duration_since(*last) < self.interval => {
                *suppressed += 1;
                None
            }
            Some((last, suppressed)) => {
                *last = now;
                Some(std::mem::take(suppressed))
            }
            None => {
                kinds.insert(kind, (now, 0));
                Some(0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Escaped, RateLimit};
    use std::time::Duration;

    #[test]
    fn escapes_what_could_forge_a_line_or_a_terminal_code() {
        assert_eq!(
            Escaped("x\n2026 INFO fake\u{1b}[31m\"é source's").to_string(),
            "x\\n2026 INFO fake\\u{1b}[31m\\\"\\u{e9} source's"
        );
    }

    #[test]
    fn lets_one_line_per_kind_through_per_interval() {
        let limit = RateLimit::new(Duration::from_secs(3600));
        assert_eq!(limit.allow("a"), Some(0));
        assert_eq!(limit.allow("a"), None);
        assert_eq!(limit.allow("b"), Some(0));
    }
}
