//! Operations on queues: dead letters (list, show, replay, purge) and
//! statistics. The `webhook` command's `dlq` and `stats` subcommands call
//! these; so can an operator's own tooling.

mod dead;
mod stats;

pub use dead::{
    DeadFilter, DeadLetter, ReplayOutcome, find, list, list_queues, purge, replay, show,
};
pub use stats::{
    ConsumerStats, GroupStats, QueueStats, queues, require_queue, resolve_queues, stats,
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

/// A connection for operator commands, failing fast on a wrong URL.
pub async fn connect(url: &str) -> Result<redis::aio::MultiplexedConnection, OpsError> {
    let fail = |error| OpsError::Redis {
        url: crate::redact_url(url),
        error,
    };
    let client = crate::redis_client(url).map_err(fail)?;
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(std::time::Duration::from_secs(3)))
        .set_response_timeout(Some(std::time::Duration::from_secs(30)));
    let mut connection = client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .map_err(fail)?;
    let _: String = redis::cmd("PING")
        .query_async(&mut connection)
        .await
        .map_err(fail)?;
    Ok(connection)
}
