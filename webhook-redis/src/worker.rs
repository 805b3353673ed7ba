//! The worker's Redis commands: every key and script it uses goes through here.

use std::time::Duration;

use crate::{key, script};
use bytes::Bytes;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Script, Value};

use crate::reply;

/// One stream entry as read: its stream, id and fields in stored order.
#[derive(Debug)]
pub struct Entry {
    /// The stream it was read from (an events stream or a due stream).
    pub stream: String,
    /// Its stream id.
    pub id: String,
    /// Its fields, in stored order.
    pub fields: Vec<(String, Bytes)>,
    /// Why some field could not be read (a name that is not UTF-8, a value
    /// that is not a string); such an entry is dead-lettered as
    /// `undecodable`, with the readable fields.
    pub malformed: Option<String>,
}

/// What a lease attempt found.
#[derive(Debug, PartialEq, Eq)]
pub enum Lease {
    /// The caller's token holds the lease now (or already did).
    Taken,
    /// The handler already succeeded for this event.
    Done,
    /// The handler was dead-lettered for this event.
    Dead,
    /// A retry owns the handler for this event.
    Scheduled,
    /// Another run holds the lease.
    Busy,
}

/// Commands on the shared, multiplexed connection (pipelined by concurrency).
#[derive(Clone)]
pub struct Store {
    connection: crate::connect::Shared,
    timeout: Duration,
    lease: Script,
    renew: Script,
    complete: Script,
    schedule: Script,
    bury: Script,
    dead: Script,
    promote: Script,
    prune: Script,
    trim: Script,
}

/// What every call returns: the redis crate's error, classified by it.
pub type Result<T> = std::result::Result<T, redis::RedisError>;

fn timeout_error(timeout: Duration) -> redis::RedisError {
    redis::RedisError::from(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("Redis did not answer within {timeout:?}"),
    ))
}

impl Store {
    /// The store on `target` (one server or a cluster); every command is
    /// bounded by `timeout`. Connects lazily, on the first command.
    pub fn new(target: &crate::connect::Target, timeout: Duration) -> Result<Self> {
        Ok(Self {
            connection: crate::connect::shared(target, timeout)?,
            timeout,
            lease: Script::new(script::LEASE),
            renew: Script::new(script::RENEW),
            complete: Script::new(script::COMPLETE),
            schedule: Script::new(script::SCHEDULE),
            bury: Script::new(script::BURY),
            dead: Script::new(script::DEAD),
            promote: Script::new(script::PROMOTE),
            prune: Script::new(script::PRUNE),
            trim: Script::new(script::TRIM),
        })
    }

    /// Runs a script, again after an I/O error or a timeout (see
    /// [`retried`]): each script answers a second run with the same token
    /// as it answered the first, so a reply lost on the wire neither stalls
    /// the work nor makes it look taken over.
    async fn run<T: redis::FromRedisValue>(
        &self,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T> {
        retried(|| async {
            let mut connection = self.connection.clone();
            tokio::time::timeout(self.timeout, invocation.invoke_async(&mut connection))
                .await
                .map_err(|_| timeout_error(self.timeout))?
        })
        .await
    }

    async fn query<T: redis::FromRedisValue>(&self, command: &redis::Cmd) -> Result<T> {
        let mut connection = self.connection.clone();
        tokio::time::timeout(self.timeout, command.query_async(&mut connection))
            .await
            .map_err(|_| timeout_error(self.timeout))?
    }

    /// Takes the leases of `(done key, token, carried retry marker)` items
    /// of one queue at once.
    pub async fn lease_many(
        &self,
        items: &[(String, String, String)],
        lease: Duration,
    ) -> Result<Vec<Lease>> {
        let mut invocation = self.lease.prepare_invoke();
        invocation.arg(millis(lease));
        for (key, token, carried) in items {
            invocation.key(key).arg(token).arg(carried);
        }
        let replies: Vec<String> = self.run(&invocation).await?;
        Ok(replies
            .iter()
            .map(|reply| match reply.as_str() {
                "ok" => Lease::Taken,
                "done" => Lease::Done,
                "dead" => Lease::Dead,
                "scheduled" => Lease::Scheduled,
                _ => Lease::Busy,
            })
            .collect())
    }

    /// Extends the lease `token` holds on `done_key` to `lease`; `false`
    /// when the token no longer holds it.
    pub async fn renew(&self, done_key: &str, token: &str, lease: Duration) -> Result<bool> {
        self.run(self.renew.key(done_key).arg(token).arg(millis(lease)))
            .await
    }

    /// Marks `(done key, token)` pairs of one queue done where the token
    /// still holds the lease; `true` for each one marked.
    pub async fn complete_many(
        &self,
        items: &[(String, String)],
        ttl: Duration,
    ) -> Result<Vec<bool>> {
        let mut invocation = self.complete.prepare_invoke();
        invocation.arg(millis(ttl));
        for (key, token) in items {
            invocation.key(key).arg(token);
        }
        let replies: Vec<i64> = self.run(&invocation).await?;
        Ok(replies.into_iter().map(|r| r == 1).collect())
    }

    /// Schedules retry `retry_id` of a handler due at `due_ms` (its record
    /// the envelope's fields plus the [`extra`](crate::extra) fields), marks
    /// the handler `marker` ([`Marker::Retry`](crate::Marker::Retry)) and
    /// leaves a receipt, while `token` holds the lease; `false` when it no
    /// longer does.
    #[allow(clippy::too_many_arguments)]
    pub async fn schedule(
        &self,
        done_key: &str,
        token: &str,
        queue: &str,
        group: &str,
        retry_id: &str,
        due_ms: u64,
        marker: &crate::Marker,
        marker_ttl: Duration,
        record: &[(&str, &[u8])],
    ) -> Result<bool> {
        let record_key = key::retry_record(queue, group, retry_id);
        // The receipt outlives every resend of this call (three tries, each
        // within the timeout), and no more.
        let receipt_ttl = self.timeout * 3 + Duration::from_secs(1);
        let mut invocation = self.schedule.prepare_invoke();
        invocation
            .key(done_key)
            .key(key::retries(queue, group))
            .key(record_key)
            .key(key::receipt(queue, group, retry_id))
            .arg(token)
            .arg(due_ms)
            .arg(retry_id)
            .arg(marker.to_string())
            .arg(millis(marker_ttl))
            .arg(millis(receipt_ttl));
        for (field, value) in record {
            invocation.arg(*field).arg(*value);
        }
        self.run(&invocation).await
    }

    /// Dead-letters under the lease of `token`.
    pub async fn bury(
        &self,
        done_key: &str,
        token: &str,
        queue: &str,
        marker_ttl: Duration,
        record: &[(&str, &[u8])],
    ) -> Result<bool> {
        let mut invocation = self.bury.prepare_invoke();
        invocation
            .key(done_key)
            .key(key::dead(queue))
            .arg(token)
            .arg(millis(marker_ttl));
        for (field, value) in record {
            invocation.arg(*field).arg(*value);
        }
        self.run(&invocation).await
    }

    /// Dead-letters a whole entry and acknowledges it, atomically, while
    /// it is still pending for `consumer`; `false` when it no longer is
    /// (settled already, or claimed by another worker).
    pub async fn dead_letter_entry(
        &self,
        queue: &str,
        entry: &Entry,
        group: &str,
        consumer: &str,
        delete: bool,
        record: &[(&str, &[u8])],
    ) -> Result<bool> {
        let mut invocation = self.dead.prepare_invoke();
        invocation
            .key(key::dead(queue))
            .key(&entry.stream)
            .arg(group)
            .arg(&entry.id)
            .arg(if delete { "1" } else { "0" })
            .arg(consumer);
        for (field, value) in record {
            invocation.arg(*field).arg(*value);
        }
        self.run(&invocation).await
    }

    /// Acknowledges entries of a stream; due-stream entries are also deleted,
    /// since only one group ever reads them.
    pub async fn ack(&self, stream: &str, group: &str, ids: &[&str], delete: bool) -> Result<()> {
        let mut pipe = redis::pipe();
        pipe.cmd("XACK").arg(stream).arg(group).arg(ids).ignore();
        if delete {
            pipe.cmd("XDEL").arg(stream).arg(ids).ignore();
        }
        retried(|| async {
            let mut connection = self.connection.clone();
            tokio::time::timeout(self.timeout, pipe.query_async::<()>(&mut connection))
                .await
                .map_err(|_| timeout_error(self.timeout))?
        })
        .await
    }

    /// Resets an entry's idle time, so no other worker claims it while a
    /// handler still runs.
    pub async fn touch(&self, stream: &str, group: &str, consumer: &str, id: &str) -> Result<()> {
        let _: Value = self
            .query(
                redis::cmd("XCLAIM")
                    .arg(stream)
                    .arg(group)
                    .arg(consumer)
                    .arg(0)
                    .arg(id)
                    .arg("JUSTID"),
            )
            .await?;
        Ok(())
    }

    /// Marks an entry of this consumer as idle for `idle`, so any worker's
    /// reclaim takes it at once (used for entries read but not started
    /// when stopping).
    pub async fn release(
        &self,
        stream: &str,
        group: &str,
        consumer: &str,
        id: &str,
        idle: Duration,
    ) -> Result<()> {
        let _: Value = self
            .query(
                redis::cmd("XCLAIM")
                    .arg(stream)
                    .arg(group)
                    .arg(consumer)
                    .arg(0)
                    .arg(id)
                    .arg("IDLE")
                    .arg(millis(idle))
                    .arg("JUSTID"),
            )
            .await?;
        Ok(())
    }

    /// Moves up to `limit` of the group's retries due by `now_ms` into its
    /// due stream: how many moved, and when the next one is due (Unix ms,
    /// `-1`: none left). Reads the due ids first, so the script is given
    /// every key it touches.
    pub async fn promote(
        &self,
        queue: &str,
        group: &str,
        now_ms: u64,
        limit: usize,
    ) -> Result<(u64, i64)> {
        let retries = key::retries(queue, group);
        let mut read = redis::cmd("ZRANGEBYSCORE");
        read.arg(&retries)
            .arg("-inf")
            .arg(now_ms)
            .arg("LIMIT")
            .arg(0)
            .arg(limit);
        // A read: retried on a blip like the script after it.
        let due: Vec<String> = retried(|| self.query(&read)).await?;
        let mut invocation = self.promote.prepare_invoke();
        invocation
            .key(&retries)
            .key(key::due(queue, group))
            .arg(now_ms);
        for id in &due {
            invocation.key(key::retry_record(queue, group, id)).arg(id);
        }
        self.run(&invocation).await
    }

    /// Removes the group's consumers on `stream` that own no entry and were
    /// idle longer than `idle`, never `consumer`; the number removed.
    pub async fn prune_consumers(
        &self,
        stream: &str,
        group: &str,
        consumer: &str,
        idle: Duration,
    ) -> Result<u64> {
        self.run(
            self.prune
                .key(stream)
                .arg(group)
                .arg(millis(idle))
                .arg(consumer),
        )
        .await
    }

    /// Trims `stream` below what every consumer group still needs, keeping
    /// entries younger than `retention`: the number removed.
    pub async fn trim(&self, stream: &str, now_ms: u64, retention: Duration) -> Result<u64> {
        self.run(
            self.trim
                .key(stream)
                .arg(now_ms)
                .arg(millis(retention))
                .arg("~"),
        )
        .await
    }

    /// `queue`'s partition counts ([`crate::partitions::read`]).
    pub async fn partitions(&self, queue: &str) -> Result<crate::partitions::Partitions> {
        let mut connection = self.connection.clone();
        tokio::time::timeout(
            self.timeout,
            crate::partitions::read(&mut connection, queue),
        )
        .await
        .map_err(|_| timeout_error(self.timeout))?
    }

    /// Creates the group on each stream (and the stream) if missing, from the
    /// stream's start, so events stored before the first worker are handled.
    pub async fn create_groups(&self, streams: &[String], group: &str) -> Result<()> {
        for stream in streams {
            let created: Result<Value> = self
                .query(
                    redis::cmd("XGROUP")
                        .arg("CREATE")
                        .arg(stream)
                        .arg(group)
                        .arg("0")
                        .arg("MKSTREAM"),
                )
                .await;
            match created {
                Ok(_) => tracing::info!(%stream, %group, "consumer group created"),
                Err(error) if error.code() == Some("BUSYGROUP") => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    /// Claims entries idle longer than `min_idle` anywhere in the group's
    /// pending list; returns them with their delivery counts, and the ids of
    /// pending entries that no longer exist in the stream (lost events).
    pub async fn claim_idle(
        &self,
        stream: &str,
        group: &str,
        consumer: &str,
        min_idle: Duration,
        count: usize,
    ) -> Result<(Vec<(Entry, u64)>, Vec<String>)> {
        // id, consumer, idle ms, deliveries so far
        let idle: Vec<(String, String, u64, u64)> = self
            .query(
                redis::cmd("XPENDING")
                    .arg(stream)
                    .arg(group)
                    .arg("IDLE")
                    .arg(millis(min_idle))
                    .arg("-")
                    .arg("+")
                    .arg(count),
            )
            .await?;
        if idle.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let ids: Vec<&str> = idle.iter().map(|(id, ..)| id.as_str()).collect();
        // Only entries still idle move: another worker may have claimed some.
        let claimed: Value = self
            .query(
                redis::cmd("XCLAIM")
                    .arg(stream)
                    .arg(group)
                    .arg(consumer)
                    .arg(millis(min_idle))
                    .arg(&ids),
            )
            .await?;
        let claimed = reply::entries_reply(stream, claimed)?;
        let mut missing = Vec::new();
        for (id, ..) in &idle {
            if !claimed.iter().any(|entry| entry.id == *id) {
                let exists: Vec<Value> = self
                    .query(redis::cmd("XRANGE").arg(stream).arg(id).arg(id))
                    .await?;
                if exists.is_empty() {
                    missing.push(id.clone());
                }
            }
        }
        let entries = claimed
            .into_iter()
            .map(|entry| {
                let deliveries = idle
                    .iter()
                    .find(|(id, ..)| *id == entry.id)
                    .map_or(1, |(.., deliveries)| deliveries + 1);
                (entry, deliveries)
            })
            .collect();
        Ok((entries, missing))
    }
}

/// The dedicated connection for blocking reads: a blocking command on the
/// shared connection would stall every other command. Its answers may take
/// the whole block time, so it has a response timeout of its own.
///
/// On a cluster every stream of one read must be in one hash slot (all of a
/// queue's streams are, by their hash tag): the worker runs one reader per
/// queue (and partition) there, each with a connection of its own to the
/// master that owns the slot. When the slot moves or the master fails
/// over, a read fails (`MOVED`, or the connection drops) and the next one
/// asks the cluster again where the slot is.
pub struct Reader {
    target: crate::connect::Target,
    connection: Option<MultiplexedConnection>,
    timeout: Duration,
}

impl Reader {
    /// A reader on `target`; connects on the first read, within `timeout`.
    pub fn new(target: &crate::connect::Target, timeout: Duration) -> Self {
        Self {
            target: target.clone(),
            connection: None,
            timeout,
        }
    }

    async fn connect(&self, streams: &[String], block: Duration) -> Result<MultiplexedConnection> {
        let answer = block + self.timeout;
        match &self.target {
            crate::connect::Target::Single(client) => {
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(self.timeout))
                    .set_response_timeout(Some(answer));
                client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await
            }
            crate::connect::Target::Cluster(cluster) => {
                let key = streams.first().map_or("", String::as_str);
                cluster.owner_of(key, self.timeout, answer).await
            }
        }
    }

    /// `XREADGROUP ... BLOCK` over `streams` (on a cluster: of one hash
    /// slot), at most `count` entries from each.
    pub async fn read(
        &mut self,
        streams: &[String],
        group: &str,
        consumer: &str,
        count: usize,
        block: Duration,
    ) -> Result<Vec<Entry>> {
        let connection = match &mut self.connection {
            Some(connection) => connection,
            None => self.connection.insert(self.connect(streams, block).await?),
        };
        let mut command = redis::cmd("XREADGROUP");
        command
            .arg("GROUP")
            .arg(group)
            .arg(consumer)
            .arg("COUNT")
            .arg(count)
            .arg("BLOCK")
            .arg(millis(block))
            .arg("STREAMS")
            .arg(streams);
        for _ in streams {
            command.arg(">");
        }
        let reply: std::result::Result<Value, _> = command.query_async(connection).await;
        match reply {
            Ok(reply) => reply::read_reply(reply),
            Err(error) => {
                // A dropped connection (the crate's own classification) or a
                // read that timed out may have left the connection unusable,
                // and a cluster's redirection means the slot is elsewhere
                // now: start a new one next time. A server's answer
                // (NOGROUP, say) leaves it as it is.
                if error.is_unrecoverable_error()
                    || error.is_timeout()
                    || error.is_cluster_error()
                    || error.redirect_node().is_some()
                {
                    self.connection = None;
                }
                Err(error)
            }
        }
    }
}

/// Runs a Redis call up to three times, 100 ms apart, when the redis
/// crate classifies its failure as worth retrying (an I/O error, a
/// timeout, a dropped connection, or a server still loading its data or
/// without a master for the moment): a blip must not make a handler that
/// succeeded run again, or an acknowledgement go missing. The call may have
/// taken effect with only its reply lost, so only idempotent calls come
/// here: the scripts, which answer a second run by the same token as the
/// first, and `XACK`/`XDEL`.
async fn retried<T, F: std::future::Future<Output = Result<T>>>(
    mut call: impl FnMut() -> F,
) -> Result<T> {
    let mut attempt = 1;
    loop {
        match call().await {
            Err(error) if attempt < 3 && worth_retrying(&error) => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            result => return result,
        }
    }
}

/// Whether [`retried`] tries a failed call again: by the redis crate's own
/// classification, a call that may succeed on the same or a new
/// connection. Redirections are the cluster client's to follow.
fn worth_retrying(error: &redis::RedisError) -> bool {
    matches!(
        error.retry_method(),
        redis::RetryMethod::Reconnect
            | redis::RetryMethod::RetryImmediately
            | redis::RetryMethod::WaitAndRetry
    )
}

/// `duration` in whole milliseconds, at least 1 (Redis refuses a TTL of 0).
pub fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::worth_retrying;

    #[test]
    fn only_failures_that_may_pass_on_a_second_try_are_retried() {
        let io = |kind| redis::RedisError::from(std::io::Error::new(kind, "x"));
        assert!(worth_retrying(&io(std::io::ErrorKind::TimedOut)));
        assert!(worth_retrying(&io(std::io::ErrorKind::ConnectionReset)));
        assert!(!worth_retrying(&io(std::io::ErrorKind::PermissionDenied)));
        let answered = |kind| redis::RedisError::from((kind, "x"));
        assert!(!worth_retrying(&answered(
            redis::ErrorKind::UnexpectedReturnType
        )));
        assert!(!worth_retrying(&answered(redis::ErrorKind::Client)));
    }
}
