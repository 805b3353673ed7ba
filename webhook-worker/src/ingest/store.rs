//! Writing verified events into Redis: one script call per event.

use std::time::Duration;

use redis::Script;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use webhook_core::Envelope;
use webhook_redis::{key, script};

/// The key `/readyz` writes (`SET ... PX`) to learn whether Redis accepts
/// writes: at `maxmemory` with `noeviction` it answers `OOM` to this while
/// `PING` still succeeds.
pub const READY_PROBE_KEY: &str = "webhook:ready-probe";

/// Where verified events go.
#[derive(Clone)]
pub(crate) struct Store {
    connection: ConnectionManager,
    script: Script,
    timeout: Duration,
    dedupe_ttl_ms: u64,
    max_backlog: u64,
}

/// What happened to an event handed to the store.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Stored {
    /// Stored under this stream id.
    Accepted(String),
    /// Already stored under this stream id.
    Duplicate(String),
    /// Not stored: the stream is at its length limit.
    Full,
}

/// Redis did not confirm the write.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    #[error("Redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("Redis failed: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("the ingest script answered something unexpected: {0:?}")]
    Unexpected(Vec<String>),
}

impl Store {
    /// A store on `url`; connects lazily and reconnects by itself.
    pub(crate) fn new(
        url: &str,
        timeout: Duration,
        dedupe_ttl: Duration,
        max_backlog: u64,
    ) -> Result<Self, redis::RedisError> {
        let client = crate::redis_client(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        Ok(Self {
            connection: client.get_connection_manager_lazy(config)?,
            script: Script::new(script::INGEST),
            timeout,
            dedupe_ttl_ms: u64::try_from(dedupe_ttl.as_millis()).unwrap_or(u64::MAX),
            max_backlog,
        })
    }

    /// Stores `envelope` in `queue`'s stream unless its id was seen (when
    /// `dedupe`) or the stream is full; atomic.
    pub(crate) async fn store(
        &self,
        queue: &str,
        envelope: &Envelope,
        dedupe: bool,
    ) -> Result<Stored, StoreError> {
        let encoded = envelope.encode();
        let mut invocation = self.script.prepare_invoke();
        invocation
            .key(key::seen(queue, &envelope.source, &envelope.id))
            .key(key::events(queue))
            .arg(self.dedupe_ttl_ms)
            .arg(if dedupe { "1" } else { "0" })
            .arg(self.max_backlog);
        for (field, value) in encoded.fields() {
            invocation.arg(field).arg(value);
        }
        let mut connection = self.connection.clone();
        let reply: Vec<String> =
            tokio::time::timeout(self.timeout, invocation.invoke_async(&mut connection))
                .await
                .map_err(|_| StoreError::Timeout(self.timeout))??;
        match reply.as_slice() {
            [status, id] if status == "accepted" => Ok(Stored::Accepted(id.clone())),
            [status, id] if status == "duplicate" => Ok(Stored::Duplicate(id.clone())),
            [status] if status == "full" => Ok(Stored::Full),
            _ => Err(StoreError::Unexpected(reply)),
        }
    }

    /// Whether Redis accepts a write: a tiny `SET` that expires at once.
    pub(crate) async fn probe_write(&self) -> Result<(), StoreError> {
        let mut connection = self.connection.clone();
        let _: () = tokio::time::timeout(
            self.timeout,
            redis::cmd("SET")
                .arg(READY_PROBE_KEY)
                .arg("1")
                .arg("PX")
                .arg(1000)
                .query_async(&mut connection),
        )
        .await
        .map_err(|_| StoreError::Timeout(self.timeout))??;
        Ok(())
    }

    /// The server's settings check ([`crate::redis_check::findings`]), on
    /// the store's connection.
    pub(crate) async fn check_settings(
        &self,
    ) -> Result<crate::redis_check::Findings, crate::redis_check::Refusal> {
        let mut connection = self.connection.clone();
        crate::redis_check::findings(&mut connection, self.timeout).await
    }
}
