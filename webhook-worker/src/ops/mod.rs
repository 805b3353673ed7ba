//! Operations on queues: dead letters (list, show, replay, purge) and
//! statistics. The `webhook` command's `dlq` and `stats` subcommands call
//! these; so can an operator's own tooling.

mod dead;
mod stats;

pub use dead::{DeadFilter, DeadLetter, ReplayOutcome, list, purge, replay, show};
pub use stats::{ConsumerStats, GroupStats, QueueStats, queues, stats};

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
    /// No dead letter has this id.
    #[error(
        "queue `{queue}` has no dead letter `{id}`; `webhook dlq list --queue {queue}` shows the ids"
    )]
    NoSuchDeadLetter {
        /// The queue.
        queue: String,
        /// The id asked for.
        id: String,
    },
    /// The queue has never received an event.
    #[error(
        "there is no queue `{0}` in this Redis (no `webhook:{{{0}}}:events` stream); `webhook stats` lists the queues"
    )]
    UnknownQueue(String),
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
