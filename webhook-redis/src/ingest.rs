//! The ingest's writes: one script call per verified event.

use std::time::Duration;

use crate::{key, script};
use redis::Script;

/// The key `/readyz` writes (`SET ... PX`) to learn whether Redis accepts
/// writes: at `maxmemory` with `noeviction` it answers `OOM` to this while
/// `PING` still succeeds.
pub const READY_PROBE_KEY: &str = "webhook:ready-probe";

/// Where verified events go.
#[derive(Clone)]
pub struct EventStore {
    connection: crate::connect::Shared,
    script: Script,
    timeout: Duration,
    dedupe_ttl_ms: u64,
    max_backlog: u64,
}

/// What happened to an event handed to the store.
#[derive(Debug, PartialEq, Eq)]
pub enum Stored {
    /// Stored under this stream id.
    Accepted(String),
    /// Already stored under this stream id.
    Duplicate(String),
    /// Not stored: the stream is at its length limit.
    Full,
}

/// Redis did not confirm the write.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No answer within the store's timeout.
    #[error("Redis did not answer within {0:?}")]
    Timeout(Duration),
    /// Redis answered with an error, or the connection failed.
    #[error("Redis failed: {0}")]
    Redis(#[from] redis::RedisError),
    /// The script's answer is none of the documented ones.
    #[error("the ingest script answered something unexpected: {0:?}")]
    Unexpected(Vec<String>),
}

impl EventStore {
    /// A store on `url`; connects lazily and reconnects by itself.
    pub fn new(
        url: &str,
        timeout: Duration,
        dedupe_ttl: Duration,
        max_backlog: u64,
    ) -> Result<Self, redis::RedisError> {
        let target = crate::connect::target(url, timeout)?;
        Ok(Self {
            connection: crate::connect::shared(&target, timeout)?,
            script: Script::new(script::INGEST),
            timeout,
            dedupe_ttl_ms: u64::try_from(dedupe_ttl.as_millis()).unwrap_or(u64::MAX),
            max_backlog,
        })
    }

    /// Stores `envelope` in `queue`'s stream unless its id was seen (when
    /// `dedupe`) or the stream is full; atomic.
    pub async fn store(
        &self,
        queue: &str,
        envelope: &webhook_core::Envelope,
        dedupe: bool,
    ) -> Result<Stored, StoreError> {
        let mut invocation = self.script.prepare_invoke();
        invocation
            .key(key::seen(queue, &envelope.source, &envelope.id))
            .key(key::events(queue))
            .arg(self.dedupe_ttl_ms)
            .arg(if dedupe { "1" } else { "0" })
            .arg(self.max_backlog);
        for (field, value) in envelope.encode().fields() {
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
    pub async fn probe_write(&self) -> Result<(), StoreError> {
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

    /// The server's settings check ([`crate::check::findings`]), on the
    /// store's connection.
    pub async fn check_settings(&self) -> Result<crate::check::Findings, crate::check::Refusal> {
        let mut connection = self.connection.clone();
        crate::check::findings(&mut connection, self.timeout).await
    }
}
