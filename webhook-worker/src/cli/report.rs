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

/// Every queue's stream and groups as one table, then every consumer as a
/// second: one row per group (a queue without a group yet gets one row
/// saying so) and per consumer.
pub(super) fn write_stats(out: &mut dyn Write, all: &[ops::QueueStats]) -> std::io::Result<()> {
    let mut groups = Table::new(&[
        ("QUEUE", Align::Left),
        ("STREAM", Align::Right),
        ("DEAD", Align::Right),
        ("GROUP", Align::Left),
        ("PENDING", Align::Right),
        ("OLDEST PENDING", Align::Right),
        ("LAG", Align::Right),
        ("RETRIES", Align::Right),
        ("DUE NOW", Align::Right),
        ("NEXT RETRY", Align::Left),
    ]);
    let mut consumers = Table::new(&[
        ("QUEUE", Align::Left),
        ("GROUP", Align::Left),
        ("CONSUMER", Align::Left),
        ("PENDING", Align::Right),
        ("IDLE", Align::Right),
    ]);
    for stats in all {
        let queue = if stats.parts.is_empty() {
            inert(&stats.queue, false).into_owned()
        } else {
            format!("{} (total)", inert(&stats.queue, false))
        };
        if stats.groups.is_empty() {
            groups.row(vec![
                queue.clone(),
                stats.length.to_string(),
                stats.dead_letters.to_string(),
                "(none yet: no worker has started on it)".to_owned(),
            ]);
        }
        for g in &stats.groups {
            groups.row(vec![
                queue.clone(),
                stats.length.to_string(),
                stats.dead_letters.to_string(),
                inert(&g.name, false).into_owned(),
                g.pending.to_string(),
                g.oldest_pending_age_ms.map(ms_text).unwrap_or_default(),
                g.lag
                    .map_or_else(|| "unknown".to_owned(), |l| l.to_string()),
                g.retries_scheduled.to_string(),
                g.retries_due.to_string(),
                g.next_retry_due_ms.map(time).unwrap_or_default(),
            ]);
            for c in &g.consumers {
                consumers.row(vec![
                    queue.clone(),
                    inert(&g.name, false).into_owned(),
                    inert(&c.name, false).into_owned(),
                    c.pending.to_string(),
                    ms_text(c.idle_ms),
                ]);
            }
        }
    }
    groups.write(out)?;
    if consumers.rows.is_empty() {
        writeln!(out, "\nno consumers")
    } else {
        writeln!(out)?;
        consumers.write(out)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Align {
    Left,
    Right,
}

/// Columns as wide as their widest cell, two spaces apart; a row shorter
/// than the header leaves its last cell unpadded (it may run over the
/// columns it does not fill).
struct Table {
    columns: Vec<(&'static str, Align)>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(columns: &[(&'static str, Align)]) -> Self {
        Self {
            columns: columns.to_vec(),
            rows: Vec::new(),
        }
    }

    fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    fn write(&self, out: &mut dyn Write) -> std::io::Result<()> {
        // A short row's last cell may run over; its other cells count.
        let width = |i: usize| {
            let cells = self
                .rows
                .iter()
                .filter(|r| i + 1 < r.len() || r.len() == self.columns.len())
                .filter_map(|r| r.get(i));
            cells
                .map(|c| c.chars().count())
                .chain([self.columns[i].0.len()])
                .max()
                .unwrap_or(0)
        };
        let widths: Vec<usize> = (0..self.columns.len()).map(width).collect();
        let header: Vec<String> = self.columns.iter().map(|(h, _)| (*h).to_owned()).collect();
        for cells in std::iter::once(&header).chain(&self.rows) {
            let mut line = String::new();
            for (i, cell) in cells.iter().enumerate() {
                let last = i + 1 == cells.len();
                let pad = widths[i].saturating_sub(cell.chars().count());
                if i > 0 {
                    line.push_str("  ");
                }
                match (self.columns[i].1, last) {
                    (Align::Right, _) => {
                        line.extend(std::iter::repeat_n(' ', pad));
                        line.push_str(cell);
                    }
                    (Align::Left, true) => line.push_str(cell),
                    (Align::Left, false) => {
                        line.push_str(cell);
                        line.extend(std::iter::repeat_n(' ', pad));
                    }
                }
            }
            writeln!(out, "{}", line.trim_end())?;
        }
        Ok(())
    }
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
    fn tables_align_their_columns() {
        use super::{Align, Table};
        let mut table = Table::new(&[
            ("NAME", Align::Left),
            ("N", Align::Right),
            ("NOTE", Align::Left),
        ]);
        table.row(vec!["a".into(), "1234".into(), "x".into()]);
        table.row(vec!["longer".into(), "5".into(), "".into()]);
        table.row(vec!["b".into(), "(short row)".into()]);
        table.row(vec!["widest".into()]);
        let mut out = Vec::new();
        table.write(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "NAME       N  NOTE\na       1234  x\nlonger     5\nb       (short row)\nwidest\n"
        );
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
