//! Operations on queues: dead letters (list, show, replay, purge) and
//! statistics. The `webhook` command's `dlq` and `stats` subcommands call
//! these; so can an operator's own tooling.

mod dead;

pub use crate::stats::{
    ConsumerStats, GroupStats, QueueStats, StatsError, queues, require_queue, resolve_queues,
    stats, total, with_totals,
};
pub use dead::{
    DeadFilter, DeadLetter, ReplayOutcome, find, list, list_queues, purge, replay, show,
};

/// Why an operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpsError {
    /// Redis could not be reached or answered with an error.
    #[error("Redis at {url}: {error}; check --redis-url / REDIS_URL and that Redis is running")]
    Redis {
        /// The URL, password hidden.
        url: String,
        /// The error.
        error: redis::RedisError,
    },
    /// A command failed after connecting.
    #[error("a Redis command failed: {0}")]
    Command(#[from] redis::RedisError),
    /// No dead letter has this id in the queues searched.
    #[error("{}", no_such_dead_letter(queues, id))]
    NoSuchDeadLetter {
        /// The queues searched.
        queues: Vec<String>,
        /// The id asked for.
        id: String,
    },
    /// A dead letter id was given without a queue, and several queues have
    /// a dead letter with that id.
    #[error(
        "dead letter `{id}` exists in several queues ({}); say which with --queue",
        queues.join(", ")
    )]
    AmbiguousDeadLetter {
        /// The id asked for.
        id: String,
        /// The queues that have it.
        queues: Vec<String>,
    },
    /// The queue has never received an event.
    #[error(
        "there is no queue `{0}` in this Redis (no `webhook:{{{0}}}:events` stream); `webhook stats` lists the queues"
    )]
    UnknownQueue(String),
}

impl From<StatsError> for OpsError {
    fn from(error: StatsError) -> Self {
        match error {
            StatsError::UnknownQueue(queue) => Self::UnknownQueue(queue),
            StatsError::Redis(error) => Self::Command(error),
        }
    }
}

fn no_such_dead_letter(queues: &[String], id: &str) -> String {
    match queues {
        [] => format!(
            "there are no queues in this Redis, so no dead letter `{id}`; check --redis-url / REDIS_URL"
        ),
        [queue] => format!(
            "queue `{queue}` has no dead letter `{id}`; `webhook dlq list --queue {queue}` shows the ids"
        ),
        _ => format!(
            "no queue has a dead letter `{id}` (searched `{}`); `webhook dlq list` shows the ids",
            queues.join("`, `")
        ),
    }
}

/// A connection for operator commands, failing fast on a wrong URL
/// ([`crate::connect::operator`]).
pub async fn connect(url: &str) -> Result<crate::connect::Shared, OpsError> {
    crate::connect::operator(url)
        .await
        .map_err(|error| OpsError::Redis {
            url: crate::connect::redact_url(url),
            error,
        })
}
