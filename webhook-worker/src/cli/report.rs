//! The text reports of the operator subcommands.

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::dlq::queue_names;
use crate::ops::{self, DeadLetter};

pub(super) fn write_list(
    out: &mut dyn Write,
    letters: &[DeadLetter],
    queues: &[String],
) -> std::io::Result<()> {
    if letters.is_empty() {
        return writeln!(out, "no dead letters match in {}", queue_names(queues));
    }
    writeln!(
        out,
        "{:<17}  {:<12}  {:<20}  {:<24}  {:<17}  {:>3}  {:<24}  {:<24}  ERROR",
        "ID", "QUEUE", "LAST FAILED", "HANDLER", "REASON", "TRY", "EVENT", "TYPE"
    )?;
    for l in letters {
        let (event, event_type, _) = l.event();
        let error = cut(&inert(&l.error, false), 60);
        writeln!(
            out,
            "{:<17}  {:<12}  {:<20}  {:<24}  {:<17}  {:>3}  {:<24}  {:<24}  {}",
            l.id,
            cut(&l.queue, 12),
            l.last_failed_at.map(time).unwrap_or_default(),
            cut(&inert(&l.handler, false), 24),
            cut(&inert(&l.reason, false), 17),
            l.attempts,
            cut(&inert(event, false), 24),
            cut(&inert(event_type, false), 24),
            error
        )?;
    }
    writeln!(
        out,
        "{} dead letter(s) in {}",
        letters.len(),
        queue_names(queues)
    )
}

pub(super) fn write_letter(
    out: &mut dyn Write,
    letter: &DeadLetter,
    pretty: bool,
) -> std::io::Result<()> {
    writeln!(out, "dead letter {} in queue {}", letter.id, letter.queue)?;
    for (name, value) in &letter.fields {
        if name == webhook_core::layout::field::BODY {
            continue;
        }
        let text = String::from_utf8_lossy(value);
        let shown = match name.as_str() {
            "first_failed_at" | "last_failed_at" | "received_at" => text
                .parse()
                .map(time)
                .map(|t| format!("{text} ({t})"))
                .unwrap_or_else(|_| text.into_owned()),
            _ => text.into_owned(),
        };
        writeln!(out, "{:>16}: {}", inert(name, false), inert(&shown, false))?;
    }
    let body = letter
        .fields
        .iter()
        .find(|(n, _)| n == webhook_core::layout::field::BODY)
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    writeln!(out, "{:>16}:", "body")?;
    let text = String::from_utf8_lossy(&body);
    let shown = match pretty.then(|| indent_json(&text)).flatten() {
        Some(indented) => indented,
        None => text.into_owned(),
    };
    writeln!(out, "{}", inert(&shown, true))
}

/// `text` indented by two spaces per level when it is valid JSON, without
/// re-encoding anything: keys keep their order and numbers and strings
/// their exact text. `None` when it is not JSON.
fn indent_json(text: &str) -> Option<String> {
    serde_json::from_str::<serde::de::IgnoredAny>(text).ok()?;
    let mut out = String::with_capacity(text.len() * 2);
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.extend(std::iter::repeat_n("  ", depth));
    };
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                // An empty object or array stays on one line.
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
                if matches!(chars.peek(), Some('}' | ']')) {
                    if let Some(close) = chars.next() {
                        out.push(close);
                    }
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    Some(out)
}

/// `text` cut to `width` characters, the last one an ellipsis when cut, so
/// a table's columns stay aligned and a cut value says so.
fn cut(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_owned()
    } else {
        text.chars()
            .take(width.saturating_sub(1))
            .chain(['…'])
            .collect()
    }
}

/// `text` with every control character escaped (`\u{1b}`, and `\n` unless
/// `lines`), so what a sender stored cannot move the cursor, recolour or
/// rewrite the operator's terminal. JSON escapes C0 controls in strings,
/// but not C1 ones (U+0080 to U+009F) nor any outside strings.
pub(super) fn inert(text: &str, lines: bool) -> std::borrow::Cow<'_, str> {
    let keep = |c: char| !c.is_control() || (lines && (c == '\n' || c == '\t'));
    if text.chars().all(keep) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if keep(c) {
            out.push(c);
        } else {
            out.extend(c.escape_default());
        }
    }
    std::borrow::Cow::Owned(out)
}

pub(super) fn write_stats(out: &mut dyn Write, stats: &ops::QueueStats) -> std::io::Result<()> {
    writeln!(
        out,
        "queue {}: {} entries in the stream, {} dead letter(s)",
        stats.queue, stats.length, stats.dead_letters
    )?;
    if stats.groups.is_empty() {
        writeln!(out, "  no consumer group yet (no worker has started on it)")?;
    }
    for g in &stats.groups {
        let oldest = g
            .oldest_pending_age_ms
            .map(|ms| format!(" (oldest {})", ms_text(ms)))
            .unwrap_or_default();
        let lag = g
            .lag
            .map_or_else(|| "unknown".to_owned(), |l| l.to_string());
        let next = g
            .next_retry_due_ms
            .map(|due| format!(", next due {}", time(due)))
            .unwrap_or_default();
        writeln!(
            out,
            "  group {}: pending {}{oldest}, lag {lag}, retries scheduled {}{next}, due {}",
            g.name, g.pending, g.retries_scheduled, g.retries_due
        )?;
        for c in &g.consumers {
            writeln!(
                out,
                "    consumer {}: pending {}, idle {}",
                c.name,
                c.pending,
                ms_text(c.idle_ms)
            )?;
        }
    }
    Ok(())
}

fn ms_text(ms: u64) -> String {
    humantime::format_duration(Duration::from_millis(ms - ms % 100)).to_string()
}

fn time(ms: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

pub(super) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn json_is_indented_without_reordering_or_re_encoding() {
        let body = r#"{"z":1.50,"a":[],"s":"x,{\"y\":[1]}","n":{"k":[1, 2]}}"#;
        assert_eq!(
            super::indent_json(body).unwrap(),
            "{\n  \"z\": 1.50,\n  \"a\": [],\n  \"s\": \"x,{\\\"y\\\":[1]}\",\n  \"n\": {\n    \"k\": [\n      1,\n      2\n    ]\n  }\n}"
        );
        assert_eq!(super::indent_json("not json"), None);
    }

    #[test]
    fn cut_text_ends_in_an_ellipsis() {
        assert_eq!(super::cut("short", 8), "short");
        assert_eq!(super::cut("exactly8", 8), "exactly8");
        assert_eq!(super::cut("much longer", 8), "much lo…");
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(super::inert("plain", false), "plain");
        assert_eq!(
            super::inert("a\u{1b}[31mb\u{9b}c", false),
            "a\\u{1b}[31mb\\u{9b}c"
        );
        assert_eq!(super::inert("a\nb", false), "a\\nb");
        assert_eq!(super::inert("a\nb\tc\rd", true), "a\nb\tc\\rd");
    }
}
