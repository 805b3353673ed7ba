//! The operator subcommands (`dlq list/show/replay/purge`, `stats`,
//! `handlers`), shared by the `webhook` command and by worker binaries,
//! which can add [`OpsCommand`] to their own `clap` parser. Each only
//! parses arguments and calls [`crate::ops`].
//!
//! [`send`] is `webhook send`: a signed test request to the ingest.

mod dlq;
mod post;
mod report;
pub mod send;
mod worker_main;

use std::io::{IsTerminal as _, Write};
use std::time::Duration;

use webhook_core::EventPattern;
use webhook_core::handler::Registry;
use webhook_redis::reason;

use crate::ops::{self, DeadFilter, OpsError};

pub use worker_main::{SetupError, WorkerCli, worker_main};

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
    /// Show every field of one dead letter and its body as received.
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
        /// Indent a JSON body (keys and numbers stay as received); without
        /// it the body is printed as received.
        #[arg(long)]
        pretty: bool,
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
        let ago = |d: Duration| report::now_ms().saturating_sub(d.as_millis() as u64);
        let event_type = match &self.event_type {
            Some(p) => {
                Some(EventPattern::parse(p).map_err(|e| CliError::Usage(format!("--type: {e}")))?)
            }
            None => None,
        };
        let mut filter = DeadFilter::default();
        filter.handler = self.handler.clone();
        filter.event_type = event_type;
        filter.source = self.source.clone();
        filter.reason = self.reason.clone();
        filter.error_contains = self.error.clone();
        filter.since_ms = self.since.map(ago);
        filter.until_ms = self.before.map(ago);
        Ok(filter)
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
    /// A test request could not be built or sent (`webhook send`).
    #[error("{0}")]
    Send(String),
    /// Writing the output failed.
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
}

impl From<ops::StatsError> for CliError {
    fn from(error: ops::StatsError) -> Self {
        Self::Ops(error.into())
    }
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
        OpsCommand::Dlq { command } => dlq::dlq(command, out).await,
        OpsCommand::Stats {
            redis,
            queues,
            json,
            watch,
        } => {
            let mut connection = ops::connect(&redis.redis_url).await?;
            loop {
                // A partitioned queue shows a row per partition.
                let names = ops::resolve_queues(&mut connection, &queues).await?;
                let mut all = Vec::new();
                for queue in &names {
                    all.push(ops::stats(&mut connection, queue).await?);
                }
                let all = ops::with_totals(all);
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
                    report::write_stats(out, &all)?;
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
