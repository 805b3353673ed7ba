//! The ingest's writes: one script call per verified event.

use std::time::Duration;

use crate::worker::millis;
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
    wait_replicas: u32,
    partitions: std::sync::Arc<std::collections::BTreeMap<String, u32>>,
    queues: std::sync::Arc<Vec<String>>,
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
    /// Stored on the master, but fewer replicas than asked for confirmed
    /// the write in time ([`EventStore::wait_replicas`]). The sender's
    /// retry is answered `duplicate` once the replicas have it.
    #[error(
        "the event is stored on the master, but only {confirmed} of {wanted} replicas confirmed it \
         within {timeout:?}; check the replicas (INFO replication) or lower wait_replicas"
    )]
    NotReplicated {
        /// Replicas that confirmed.
        confirmed: i64,
        /// Replicas asked for.
        wanted: u32,
        /// How long the ingest waited.
        timeout: Duration,
    },
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
            wait_replicas: 0,
            partitions: std::sync::Arc::default(),
            queues: std::sync::Arc::default(),
        })
    }

    /// Names the queues the ingest stores in, so that on a cluster
    /// [`probe_write`](Self::probe_write) reaches the master of each.
    #[must_use]
    pub fn storing_in(mut self, queues: Vec<String>) -> Self {
        self.queues = std::sync::Arc::new(queues);
        self
    }

    /// Spreads each queue named in `partitions` over that many partitions
    /// ([`crate::partitions`]); the others stay one stream.
    #[must_use]
    pub fn partitioned(mut self, partitions: std::collections::BTreeMap<String, u32>) -> Self {
        self.partitions = std::sync::Arc::new(partitions);
        self
    }

    /// Records every configured partition count in Redis, for the workers
    /// ([`crate::partitions::publish`]).
    pub async fn publish_partitions(&self) -> Result<(), StoreError> {
        let mut connection = self.connection.clone();
        for (queue, &count) in self.partitions.iter() {
            tokio::time::timeout(
                self.timeout,
                crate::partitions::publish(&mut connection, queue, count),
            )
            .await
            .map_err(|_| StoreError::Timeout(self.timeout))??;
        }
        Ok(())
    }

    /// Confirms each stored event (and each duplicate, whose first store
    /// may not have reached them) only once `replicas` replicas of its
    /// master have it, by a `WAIT` sent with the script in one pipeline,
    /// waiting at most half the store's timeout; otherwise
    /// [`StoreError::NotReplicated`]. `WAIT` blocks the connection it is
    /// sent on until it answers, so while it waits the other requests'
    /// calls on that connection wait too: the price of the guarantee. Redis replicates
    /// asynchronously: without this a failover can lose events the ingest
    /// already acknowledged. `0` (the default) does not wait.
    #[must_use]
    pub fn wait_replicas(mut self, replicas: u32) -> Self {
        self.wait_replicas = replicas;
        self
    }

    /// Stores `envelope` in `queue`'s stream (its partition's, for a
    /// partitioned queue) unless its id was seen (when `dedupe`) or the
    /// stream is full; atomic.
    pub async fn store(
        &self,
        queue: &str,
        envelope: &webhook_core::Envelope,
        dedupe: bool,
    ) -> Result<Stored, StoreError> {
        let partition;
        let queue = match self.partitions.get(queue) {
            Some(&count) if count > 1 => {
                let index = key::partition_of(&envelope.source, &envelope.id, count);
                partition = key::partition(queue, index);
                partition.as_str()
            }
            _ => queue,
        };
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
        let (reply, confirmed) = if self.wait_replicas > 0 {
            let (reply, confirmed) = self
                .store_and_wait(&key::events(queue), &invocation)
                .await?;
            (reply, Some(confirmed))
        } else {
            let reply: Vec<String> =
                tokio::time::timeout(self.timeout, invocation.invoke_async(&mut connection))
                    .await
                    .map_err(|_| StoreError::Timeout(self.timeout))??;
            (reply, None)
        };
        let stored = match reply.as_slice() {
            [status, id] if status == "accepted" => Stored::Accepted(id.clone()),
            [status, id] if status == "duplicate" => Stored::Duplicate(id.clone()),
            [status] if status == "full" => return Ok(Stored::Full),
            _ => return Err(StoreError::Unexpected(reply)),
        };
        if let Some(confirmed) = confirmed
            && confirmed < i64::from(self.wait_replicas)
        {
            return Err(StoreError::NotReplicated {
                confirmed,
                wanted: self.wait_replicas,
                timeout: self.timeout / 2,
            });
        }
        Ok(stored)
    }

    /// The script and a `WAIT` in one pipeline, sent together over one
    /// connection to the master that holds `key`: `WAIT` counts the
    /// replicas that have every write of its connection, so only this
    /// way is it sure to cover this write (a `WAIT` sent on its own could
    /// go out on a connection made since, and confirm nothing). Redis
    /// answers it within half the timeout, so a missing replica is
    /// reported as such, not as a slow Redis.
    async fn store_and_wait(
        &self,
        key: &str,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<(Vec<String>, i64), StoreError> {
        let patience = self.timeout / 2;
        let mut pipe = redis::pipe();
        pipe.invoke_script(invocation)
            .cmd("WAIT")
            .arg(self.wait_replicas)
            .arg(millis(patience));
        let mut connection = self.connection.clone();
        let mut loaded = false;
        loop {
            let sent =
                tokio::time::timeout(self.timeout, connection.pipeline_on_master_of(key, &pipe))
                    .await
                    .map_err(|_| StoreError::Timeout(self.timeout))?;
            // A pipeline does not load scripts by itself, and answers a
            // missing one in its place: load it on that master once, and
            // send again.
            let missing = |values: &[redis::Value]| {
                matches!(
                    values.first(),
                    Some(redis::Value::ServerError(e)) if e.code() == "NOSCRIPT"
                )
            };
            match sent {
                Ok(values) if !loaded && missing(&values) => {
                    self.load_on_master_of(&mut connection, key).await?;
                    loaded = true;
                }
                Ok(values) => {
                    let mut values = values.into_iter();
                    let (Some(reply), Some(confirmed)) = (values.next(), values.next()) else {
                        return Err(StoreError::Unexpected(Vec::new()));
                    };
                    let reply: Vec<String> =
                        redis::from_redis_value(reply).map_err(|e| StoreError::Redis(e.into()))?;
                    let confirmed: i64 = redis::from_redis_value(confirmed)
                        .map_err(|e| StoreError::Redis(e.into()))?;
                    return Ok((reply, confirmed));
                }
                Err(error) if !loaded && error.code() == Some("NOSCRIPT") => {
                    self.load_on_master_of(&mut connection, key).await?;
                    loaded = true;
                }
                Err(error) => return Err(error.into()),
            }
        }
    }

    /// Loads the ingest script on the server that holds `key`.
    async fn load_on_master_of(
        &self,
        connection: &mut crate::connect::Shared,
        key: &str,
    ) -> Result<(), StoreError> {
        let mut load = redis::cmd("SCRIPT");
        load.arg("LOAD").arg(script::INGEST);
        let _: String = tokio::time::timeout(self.timeout, connection.on_master_of(key, &load))
            .await
            .map_err(|_| StoreError::Timeout(self.timeout))??;
        Ok(())
    }

    /// Whether Redis accepts a write: a tiny `SET` that expires at once. On
    /// a cluster, one under the hash tag of every queue and partition the
    /// ingest stores in (one per slot), so each master that holds one of
    /// them is asked ([`storing_in`](Self::storing_in)).
    pub async fn probe_write(&self) -> Result<(), StoreError> {
        let keys = if self.connection.is_cluster() {
            self.probe_keys()
        } else {
            vec![READY_PROBE_KEY.to_owned()]
        };
        let probes = keys.iter().map(|key| async move {
            let mut connection = self.connection.clone();
            let _: () = tokio::time::timeout(
                self.timeout,
                redis::cmd("SET")
                    .arg(key)
                    .arg("1")
                    .arg("PX")
                    .arg(1000)
                    .query_async(&mut connection),
            )
            .await
            .map_err(|_| StoreError::Timeout(self.timeout))??;
            Ok::<(), StoreError>(())
        });
        for probed in futures_util::future::join_all(probes).await {
            probed?;
        }
        Ok(())
    }

    /// The probe keys of a cluster: [`READY_PROBE_KEY`], and
    /// `webhook:{<name>}:ready-probe` for each queue and partition, one
    /// per slot.
    fn probe_keys(&self) -> Vec<String> {
        use redis::cluster_routing::Slot;
        let mut slots = std::collections::HashSet::from([Slot::for_key(READY_PROBE_KEY)]);
        let mut keys = vec![READY_PROBE_KEY.to_owned()];
        for queue in self.queues.iter() {
            let names: Vec<String> = match self.partitions.get(queue) {
                Some(&count) if count > 1 => (0..count).map(|i| key::partition(queue, i)).collect(),
                _ => vec![queue.clone()],
            };
            for name in names {
                let probe = key::ready_probe(&name);
                if slots.insert(Slot::for_key(&probe)) {
                    keys.push(probe);
                }
            }
        }
        keys
    }

    /// The server's settings check ([`crate::check::findings`]), on the
    /// store's connection.
    pub async fn check_settings(&self) -> Result<crate::check::Findings, crate::check::Refusal> {
        let mut connection = self.connection.clone();
        crate::check::findings(&mut connection, self.timeout).await
    }
}
