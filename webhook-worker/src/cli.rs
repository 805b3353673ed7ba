//! The operator subcommands (`dlq list/show/replay/purge`, `stats`,
//! `handlers`), shared by the `webhook` command and by worker binaries,
//! which can add [`OpsCommand`] to their own `clap` parser. Each only
//! parses arguments and calls [`crate::ops`].

use std::io::{BufRead as _, IsTerminal as _, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use webhook_core::EventPattern;
use webhook_core::handler::Registry;
use webhook_core::layout::reason;

use crate::ops::{self, DeadFilter, DeadLetter, OpsError, ReplayOutcome};

/// Operator subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum OpsCommand {
    /// Inspect, replay and purge dead letters.
    Dlq {
        /// What to do.
        #[command(subcommand)]
        command: DlqCommand,
    },
    /// Show each queue's stream, groups, consumers, retries and dead letters.
    Stats {
        /// Where Redis is.
        #[command(flatten)]
        redis: RedisArgs,
        /// Queues to show (default: every queue in this Redis).
        #[arg(long = "queue")]
        queues: Vec<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Refresh every this often (e.g. `2s`) until interrupted.
        #[arg(long, value_parser = humantime::parse_duration)]
        watch: Option<Duration>,
    },
    /// List the handlers registered in this binary, with their options.
    Handlers,
}

/// Dead-letter subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum DlqCommand {
    /// List dead letters, oldest first.
    List {
        /// Where Redis is.
        #[command(flatten)]
        redis: RedisArgs,
        /// Which dead letters.
        #[command(flatten)]
        filter: FilterArgs,
        /// Print JSON (one array) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show every field of one dead letter; a JSON body is pretty-printed.
    Show {
        /// Where Redis is.
        #[command(flatten)]
        redis: RedisArgs,
        /// The queue (default: whichever queue has a dead letter with this id).
        #[arg(long)]
        queue: Option<String>,
        /// The dead letter's id (from `dlq list`).
        id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Put dead letters back for the handler that failed, attempts reset;
    /// each leaves the dead letters only once re-queued.
    Replay {
        /// Where Redis is.
        #[command(flatten)]
        redis: RedisArgs,
        /// Which dead letters.
        #[command(flatten)]
        filter: FilterArgs,
        /// One dead letter's id.
        id: Option<String>,
        /// Every dead letter matching the filter (required without an id or filter).
        #[arg(long)]
        all: bool,
        /// Say what would be replayed, and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Delete dead letters for good.
    Purge {
        /// Where Redis is.
        #[command(flatten)]
        redis: RedisArgs,
        /// Which dead letters.
        #[command(flatten)]
        filter: FilterArgs,
        /// One dead letter's id.
        id: Option<String>,
        /// Every dead letter matching the filter (required without an id or filter).
        #[arg(long)]
        all: bool,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

/// Where Redis is.
#[derive(clap::Args)]
pub struct RedisArgs {
    /// The Redis URL.
    #[arg(long, env = "REDIS_URL", hide_env_values = true, default_value = crate::ingest::DEFAULT_REDIS_URL)]
    pub redis_url: String,
}

impl std::fmt::Debug for RedisArgs {
    /// The URL with any password hidden.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisArgs")
            .field("redis_url", &crate::redact_url(&self.redis_url))
            .finish()
    }
}

/// Which dead letters.
#[derive(Debug, Default, clap::Args)]
pub struct FilterArgs {
    /// Only these queues (repeat the flag for several; default: every queue
    /// in this Redis).
    #[arg(long = "queue")]
    pub queues: Vec<String>,
    /// Only this handler's.
    #[arg(long)]
    pub handler: Option<String>,
    /// Only events of this type or pattern (`customer.*`).
    #[arg(long = "type")]
    pub event_type: Option<String>,
    /// Only events from this source.
    #[arg(long)]
    pub source: Option<String>,
    /// Only this reason: `rejected`, `retries_exhausted`, `poison`,
    /// `no_handler`, `undecodable` or `unknown_handler`.
    #[arg(long, value_parser = parse_reason)]
    pub reason: Option<String>,
    /// Only those whose error contains this text.
    #[arg(long)]
    pub error: Option<String>,
    /// Only those that last failed within this long (e.g. `2h`).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub since: Option<Duration>,
    /// Only those that last failed longer ago than this (e.g. `1d`).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub before: Option<Duration>,
}

fn parse_reason(text: &str) -> Result<String, String> {
    if reason::ALL.contains(&text) {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "unknown reason `{}`; dead letters have one of: {}",
            text.escape_debug(),
            reason::ALL.join(", ")
        ))
    }
}

impl FilterArgs {
    fn is_empty(&self) -> bool {
        self.handler.is_none()
            && self.event_type.is_none()
            && self.source.is_none()
            && self.reason.is_none()
            && self.error.is_none()
            && self.since.is_none()
            && self.before.is_none()
    }

    fn filter(&self) -> Result<DeadFilter, CliError> {
        let ago = |d: Duration| now_ms().saturating_sub(d.as_millis() as u64);
        let event_type = match &self.event_type {
            Some(p) => {
                Some(EventPattern::parse(p).map_err(|e| CliError::Usage(format!("--type: {e}")))?)
            }
            None => None,
        };
        Ok(DeadFilter {
            handler: self.handler.clone(),
            event_type,
            source: self.source.clone(),
            reason: self.reason.clone(),
            error_contains: self.error.clone(),
            since_ms: self.since.map(ago),
            until_ms: self.before.map(ago),
        })
    }
}

/// Why a subcommand failed; the message says what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// An operation failed.
    #[error(transparent)]
    Ops(#[from] OpsError),
    /// The arguments do not say what to do.
    #[error("{0}")]
    Usage(String),
    /// Writing the output failed.
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
}

/// Where a subcommand writes its report, and whether that is a terminal
/// (only a terminal gets control codes: `stats --watch` clears the screen
/// between refreshes).
struct Output<'a> {
    writer: &'a mut dyn Write,
    terminal: bool,
}

impl Write for Output<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.writer.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.writer.flush()
    }
}

/// Runs an operator subcommand on the process's standard output: the
/// terminal, a file or a pipe. A reader that goes away (`| head`) ends the
/// command quietly and successfully.
pub async fn run_stdout(command: OpsCommand) -> Result<(), CliError> {
    let mut stdout = std::io::stdout();
    let terminal = stdout.is_terminal();
    let mut out = Output {
        writer: &mut stdout,
        terminal,
    };
    match execute(command, &mut out).await {
        Err(CliError::Output(error)) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Runs an operator subcommand, writing its report to `out` as plain text
/// (no terminal control codes).
pub async fn run(command: OpsCommand, out: &mut dyn Write) -> Result<(), CliError> {
    let mut out = Output {
        writer: out,
        terminal: false,
    };
    execute(command, &mut out).await
}

async fn execute(command: OpsCommand, out: &mut Output<'_>) -> Result<(), CliError> {
    match command {
        OpsCommand::Dlq { command } => dlq(command, out).await,
        OpsCommand::Stats {
            redis,
            queues,
            json,
            watch,
        } => {
            let mut connection = ops::connect(&redis.redis_url).await?;
            loop {
                let names = if queues.is_empty() {
                    ops::queues(&mut connection).await?
                } else {
                    queues.clone()
                };
                let mut all = Vec::new();
                for queue in &names {
                    all.push(ops::stats(&mut connection, queue).await?);
                }
                if watch.is_some() && !json && out.terminal {
                    write!(out, "\x1b[2J\x1b[H")?;
                }
                if json {
                    writeln!(
                        out,
                        "{}",
                        serde_json::to_string_pretty(&all).unwrap_or_default()
                    )?;
                } else if all.is_empty() {
                    writeln!(out, "no queues in this Redis yet")?;
                } else {
                    for stats in &all {
                        write_stats(out, stats)?;
                    }
                }
                out.flush()?;
                match watch {
                    Some(every) => tokio::time::sleep(every).await,
                    None => return Ok(()),
                }
            }
        }
        OpsCommand::Handlers => {
            let registry = Registry::collect().map_err(|e| CliError::Usage(e.to_string()))?;
            if registry.handlers().is_empty() {
                writeln!(
                    out,
                    "no handlers are registered in this binary; run `handlers` from your worker binary"
                )?;
            }
            for h in registry.handlers() {
                let o = h.options();
                writeln!(
                    out,
                    "{}  pattern={}  queue={}  retries={}  backoff={}..{}  timeout={}  ({})",
                    h.name(),
                    h.pattern(),
                    h.queue(),
                    o.retries,
                    humantime::format_duration(o.backoff.base),
                    humantime::format_duration(o.backoff.cap),
                    humantime::format_duration(o.timeout),
                    h.location()
                )?;
            }
            Ok(())
        }
    }
}

async fn dlq(command: DlqCommand, out: &mut Output<'_>) -> Result<(), CliError> {
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
                write_letter(out, &letter)?;
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
    connection: &mut redis::aio::MultiplexedConnection,
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
fn queue_names(queues: &[String]) -> String {
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

fn write_list(
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
        writeln!(
            out,
            "{:<17}  {:<12}  {:<20}  {:<24}  {:<17}  {:>3}  {:<24}  {:<24}  {}",
            l.id,
            l.queue,
            l.last_failed_at.map(time).unwrap_or_default(),
            l.handler,
            l.reason,
            l.attempts,
            event,
            event_type,
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

fn write_letter(out: &mut dyn Write, letter: &DeadLetter) -> std::io::Result<()> {
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
        writeln!(out, "{name:>16}: {shown}")?;
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
            serde_json::to_string_pretty(&json).unwrap_or_default()
        ),
        Err(_) => writeln!(out, "{}", String::from_utf8_lossy(&body)),
    }
}

fn write_stats(out: &mut dyn Write, stats: &ops::QueueStats) -> std::io::Result<()> {
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

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A worker binary's command line: the worker's flags, or one of the
/// operator subcommands (which, from a worker binary, know its handlers).
#[derive(Debug, clap::Parser)]
#[command(about = "A webhook worker, and the operator tools for its queues")]
// The worker's flags belong to running the worker; a subcommand takes its
// own (`my-worker dlq list --redis-url ...`), never the worker's silently.
#[command(args_conflicts_with_subcommands = true)]
pub struct WorkerCli {
    /// An operator subcommand; without one, the worker runs.
    #[command(subcommand)]
    pub command: Option<OpsCommand>,
    /// The worker's settings.
    #[command(flatten)]
    pub worker: crate::worker::WorkerArgs,
}

/// The whole `main` of a worker binary: parses [`WorkerCli`], installs the
/// default log output ([`crate::logging::init`]; a subscriber installed
/// before keeps its place), then runs the worker until SIGINT/SIGTERM
/// (after `configure` adds state or overrides settings) or the operator
/// subcommand, and returns the exit code.
///
/// ```no_run
/// # struct Pool;
/// # async fn connect() -> Pool { Pool }
/// #[tokio::main]
/// async fn main() -> std::process::ExitCode {
///     let pool = connect().await;
///     webhook_worker::cli::worker_main(|worker| worker.state(pool)).await
/// }
/// ```
pub async fn worker_main(
    configure: impl FnOnce(crate::worker::WorkerBuilder) -> crate::worker::WorkerBuilder,
) -> std::process::ExitCode {
    use clap::Parser as _;
    let cli = WorkerCli::parse();
    crate::logging::init();
    let result: Result<(), String> = match cli.command {
        Some(command) => run_stdout(command).await.map_err(|e| e.to_string()),
        None => {
            let builder = crate::worker::Worker::builder().settings(cli.worker.into());
            match configure(builder).build() {
                Ok(worker) => worker
                    .run(crate::shutdown_signal())
                    .await
                    .map_err(|e| e.to_string()),
                Err(error) => Err(error.to_string()),
            }
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("error: {error}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}
