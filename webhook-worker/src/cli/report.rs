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
        let error: String = l.error.chars().take(60).collect();
        let error = inert(&error, false);
        writeln!(
            out,
            "{:<17}  {:<12}  {:<20}  {:<24}  {:<17}  {:>3}  {:<24}  {:<24}  {}",
            l.id,
            l.queue,
            l.last_failed_at.map(time).unwrap_or_default(),
            inert(&l.handler, false),
            inert(&l.reason, false),
            l.attempts,
            inert(event, false),
            inert(event_type, false),
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

pub(super) fn write_letter(out: &mut dyn Write, letter: &DeadLetter) -> std::io::Result<()> {
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
    match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(json) => writeln!(
            out,
            "{}",
            inert(
                &serde_json::to_string_pretty(&json).unwrap_or_default(),
                true
            )
        ),
        Err(_) => writeln!(out, "{}", inert(&String::from_utf8_lossy(&body), true)),
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
