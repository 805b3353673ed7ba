//! `dlq list/show/replay/purge`.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::time::Duration;

use super::report::{write_letter, write_list};
use super::{CliError, DlqCommand, FilterArgs, Output};
use crate::ops::{self, DeadLetter, ReplayOutcome};

pub(super) async fn dlq(command: DlqCommand, out: &mut Output<'_>) -> Result<(), CliError> {
    match command {
        DlqCommand::List {
            redis,
            filter,
            json,
        } => {
            let mut connection = ops::connect(&redis.redis_url).await?;
            let queues = ops::resolve_queues(&mut connection, &filter.queues).await?;
            let letters = ops::list_queues(&mut connection, &queues, &filter.filter()?).await?;
            if json {
                let all: Vec<_> = letters.iter().map(DeadLetter::to_json).collect();
                writeln!(
                    out,
                    "{}",
                    serde_json::to_string_pretty(&all).unwrap_or_default()
                )?;
            } else {
                write_list(out, &letters, &queues)?;
            }
            Ok(())
        }
        DlqCommand::Show {
            redis,
            queue,
            id,
            json,
            pretty,
        } => {
            let mut connection = ops::connect(&redis.redis_url).await?;
            let queues = ops::resolve_queues(&mut connection, queue.as_slice()).await?;
            let letter = ops::find(&mut connection, &queues, &id).await?;
            if json {
                writeln!(
                    out,
                    "{}",
                    serde_json::to_string_pretty(&letter.to_json()).unwrap_or_default()
                )?;
            } else {
                write_letter(out, &letter, pretty)?;
            }
            Ok(())
        }
        DlqCommand::Replay {
            redis,
            filter,
            id,
            all,
            dry_run,
        } => {
            let mut connection = ops::connect(&redis.redis_url).await?;
            let (letters, queues) = select(&mut connection, &filter, id.as_deref(), all).await?;
            if dry_run {
                writeln!(out, "would replay {} dead letter(s):", letters.len())?;
                return write_list(out, &letters, &queues).map_err(Into::into);
            }
            let mut counts: std::collections::BTreeMap<&str, usize> =
                std::collections::BTreeMap::new();
            for (done, letter) in letters.iter().enumerate() {
                let outcome =
                    ops::replay(&mut connection, letter, Duration::from_secs(7 * 86_400)).await?;
                let label = match outcome {
                    ReplayOutcome::Replayed => "replayed",
                    ReplayOutcome::Gone => "already gone",
                    ReplayOutcome::AlreadyDone => "handler already done (removed)",
                    ReplayOutcome::Running => "handler running now (left)",
                    ReplayOutcome::NoGroup => "group no longer reads the queue (left)",
                    _ => "event does not decode (left)",
                };
                *counts.entry(label).or_default() += 1;
                if letters.len() >= 100 && (done + 1) % 100 == 0 {
                    eprint!("\rreplayed {}/{}", done + 1, letters.len());
                }
                if let (Some(id), false) = (
                    &id,
                    matches!(
                        outcome,
                        ReplayOutcome::Replayed | ReplayOutcome::AlreadyDone
                    ),
                ) {
                    return Err(CliError::Usage(format!(
                        "dead letter `{id}` was not replayed: {label}"
                    )));
                }
            }
            if letters.len() >= 100 {
                eprintln!();
            }
            let summary: Vec<String> = counts
                .iter()
                .map(|(label, n)| format!("{label} {n}"))
                .collect();
            writeln!(
                out,
                "{}",
                if summary.is_empty() {
                    format!("nothing to replay in {}", queue_names(&queues))
                } else {
                    summary.join("; ")
                }
            )?;
            Ok(())
        }
        DlqCommand::Purge {
            redis,
            filter,
            id,
            all,
            yes,
        } => {
            let mut connection = ops::connect(&redis.redis_url).await?;
            let (letters, queues) = select(&mut connection, &filter, id.as_deref(), all).await?;
            if letters.is_empty() {
                writeln!(out, "nothing to purge in {}", queue_names(&queues))?;
                return Ok(());
            }
            let mut by_queue: std::collections::BTreeMap<&str, Vec<String>> =
                std::collections::BTreeMap::new();
            for letter in &letters {
                by_queue
                    .entry(letter.queue.as_str())
                    .or_default()
                    .push(letter.id.clone());
            }
            let touched: Vec<String> = by_queue.keys().map(|q| (*q).to_owned()).collect();
            if !yes
                && !confirm(&format!(
                    "Delete {} dead letter(s) from {} for good?",
                    letters.len(),
                    queue_names(&touched)
                ))?
            {
                writeln!(out, "nothing purged")?;
                return Ok(());
            }
            let mut deleted = 0;
            for (queue, ids) in &by_queue {
                deleted += ops::purge(&mut connection, queue, ids).await?;
            }
            writeln!(out, "purged {deleted}")?;
            Ok(())
        }
    }
}

/// The dead letters a replay or purge applies to (one id, or a filter),
/// and the queues that were read.
async fn select(
    connection: &mut webhook_redis::connect::Shared,
    filter: &FilterArgs,
    id: Option<&str>,
    all: bool,
) -> Result<(Vec<DeadLetter>, Vec<String>), CliError> {
    if id.is_some() && (!filter.is_empty() || all) {
        return Err(CliError::Usage(
            "give either a dead letter's id or a filter (--handler, --type, --reason, ..., --all), not both".into(),
        ));
    }
    if id.is_none() && filter.is_empty() && !all {
        return Err(CliError::Usage(
            "name a dead letter's id, narrow with a filter (--handler, --type, --reason, ...), or pass --all".into(),
        ));
    }
    let queues = ops::resolve_queues(connection, &filter.queues).await?;
    let letters = match id {
        Some(id) => vec![ops::find(connection, &queues, id).await?],
        None => ops::list_queues(connection, &queues, &filter.filter()?).await?,
    };
    Ok((letters, queues))
}

/// `queue `a``, `queues `a`, `b``, or `no queue` (none exists yet).
pub(super) fn queue_names(queues: &[String]) -> String {
    match queues {
        [] => "no queue (this Redis has none yet)".to_owned(),
        [queue] => format!("queue `{queue}`"),
        _ => format!("queues `{}`", queues.join("`, `")),
    }
}

fn confirm(question: &str) -> Result<bool, CliError> {
    if !std::io::stdin().is_terminal() {
        return Err(CliError::Usage(
            "confirmation needs a terminal; pass --yes to purge without asking".into(),
        ));
    }
    eprint!("{question} [y/N] ");
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}
