//! Checks of the Redis server's settings that decide whether acknowledged
//! events can be lost: the eviction policy and persistence.
//!
//! The ingest answers 2xx once an event is in a stream, and the workers rely
//! on dedupe keys and done markers (keys with a TTL) to run each handler once.
//! Redis at its `maxmemory` evicts keys according to `maxmemory-policy`:
//!
//! | policy | what it evicts | here |
//! |---|---|---|
//! | `noeviction` | nothing: writes fail with `OOM`, the ingest answers 503 and providers retry | fine |
//! | `allkeys-*` | any key, streams included: acknowledged events vanish while their dedupe keys survive, so the provider's retries are answered `duplicate` | **refused**: [`Refusal::Evicting`] |
//! | `volatile-*` | keys with a TTL: dedupe keys, done markers and leases, so duplicates are stored and handlers re-run | warned: [`Warning::VolatileEviction`] |
//!
//! `allkeys-*` is refused because it loses events silently; `volatile-*` only
//! breaks effectively-once (handlers are given their idempotency key for
//! that case), so it is a loud warning. Without the append-only file a
//! restart of Redis loses the events acknowledged since the last snapshot:
//! a warning too ([`Warning::NoAppendOnly`]).
//!
//! Managed Redis services often refuse `CONFIG`; the policy is then read
//! from `INFO memory` (its `maxmemory_policy` field), and if that fails too
//! the check says it could not be made.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use redis::InfoDict;
use redis::aio::ConnectionLike;

/// The setting that keeps every key: what the messages ask for.
pub const SAFE_POLICY: &str = "noeviction";

/// A Redis setting that can lose work without refusing it outright.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Warning {
    /// A `volatile-*` policy: keys with a TTL are evicted at `maxmemory`.
    VolatileEviction {
        /// The policy in force.
        policy: String,
    },
    /// The append-only file is off.
    NoAppendOnly {
        /// Whether RDB snapshots are configured (`None`: `CONFIG` refused).
        snapshots: Option<bool>,
    },
    /// The eviction policy could be read neither from `CONFIG GET` nor from
    /// `INFO memory`.
    PolicyUnknown,
    /// A policy this version does not know.
    UnknownPolicy {
        /// The policy in force.
        policy: String,
    },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::VolatileEviction { policy } => write!(
                f,
                "Redis's maxmemory-policy is `{policy}`: at maxmemory it evicts keys with a TTL \
                 (dedupe keys, done markers, leases), so provider retries are stored twice and \
                 handlers run again; set `maxmemory-policy {SAFE_POLICY}` (CONFIG SET \
                 maxmemory-policy {SAFE_POLICY}, and in redis.conf)"
            ),
            Warning::NoAppendOnly { snapshots } => {
                let snapshots = match snapshots {
                    Some(true) => "only RDB snapshots are taken",
                    Some(false) => "no snapshots are taken either",
                    None => "snapshots could not be checked",
                };
                write!(
                    f,
                    "Redis's append-only file is off ({snapshots}): a Redis restart loses the \
                     events acknowledged since the last snapshot; set `appendonly yes` with \
                     `appendfsync everysec`"
                )
            }
            Warning::PolicyUnknown => write!(
                f,
                "cannot read Redis's maxmemory-policy (CONFIG GET is refused and INFO memory has \
                 no maxmemory_policy): make sure it is `{SAFE_POLICY}`, or acknowledged events can \
                 be evicted"
            ),
            Warning::UnknownPolicy { policy } => write!(
                f,
                "Redis's maxmemory-policy `{policy}` is not one this version knows; \
                 `{SAFE_POLICY}` is the one that never evicts events"
            ),
        }
    }
}

/// Why the Redis server must not be used as it is configured.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// An `allkeys-*` policy: streams of acknowledged events get evicted.
    #[error(
        "Redis's maxmemory-policy is `{policy}`: at maxmemory it evicts any key, so acknowledged \
         events are deleted from their streams while their dedupe keys survive and the providers' \
         retries are answered `duplicate`; set `maxmemory-policy {SAFE_POLICY}` (CONFIG SET \
         maxmemory-policy {SAFE_POLICY}, and in redis.conf) so a full Redis refuses writes and \
         the ingest answers 503 instead"
    )]
    Evicting {
        /// The policy in force.
        policy: String,
    },
    /// Redis could not be asked.
    #[error("cannot check Redis's settings: {0}")]
    Redis(#[from] redis::RedisError),
    /// Redis did not answer in time.
    #[error("cannot check Redis's settings: no answer within {0:?}")]
    Timeout(Duration),
}

/// Checks the eviction policy and persistence of the server behind `conn`
/// (of every master, on a cluster): `Err(Refusal::Evicting)` for an
/// `allkeys-*` policy on any of them, otherwise the warnings to log.
pub async fn check<C: ConnectionLike + Send>(conn: &mut C) -> Result<Vec<Warning>, Refusal> {
    let mut warnings = Vec::new();
    let mut warn = |warning: Warning| {
        if !warnings.contains(&warning) {
            warnings.push(warning);
        }
    };
    // `INFO memory` has the policy on every server since Redis 4; `CONFIG
    // GET` is asked only when a (managed) server leaves it out.
    let mut policies: Vec<Option<String>> = info(conn, "memory")
        .await?
        .iter()
        .map(|node| node.get::<String>("maxmemory_policy"))
        .collect();
    if policies.iter().any(Option::is_none) {
        let configured = config_get(conn, "maxmemory-policy").await;
        for policy in policies.iter_mut().filter(|p| p.is_none()) {
            policy.clone_from(&configured);
        }
    }
    for policy in policies {
        match policy.as_deref() {
            None => warn(Warning::PolicyUnknown),
            Some(SAFE_POLICY) => {}
            Some(policy) if policy.starts_with("allkeys-") => {
                return Err(Refusal::Evicting {
                    policy: policy.to_owned(),
                });
            }
            Some(policy) if policy.starts_with("volatile-") => {
                warn(Warning::VolatileEviction {
                    policy: policy.to_owned(),
                });
            }
            Some(policy) => warn(Warning::UnknownPolicy {
                policy: policy.to_owned(),
            }),
        }
    }
    let persistence = info(conn, "persistence").await?;
    if persistence
        .iter()
        .any(|node| node.get::<i64>("aof_enabled") == Some(0))
    {
        let snapshots = config_get(conn, "save").await.map(|save| !save.is_empty());
        warn(Warning::NoAppendOnly { snapshots });
    }
    Ok(warnings)
}

/// The server's `run_id` (from `INFO server`): it changes when Redis
/// restarts, which is when its settings may have changed. On a cluster,
/// every master's, sorted and joined, so a restart of any one shows.
pub async fn run_id<C: ConnectionLike + Send>(conn: &mut C) -> Result<Option<String>, Refusal> {
    let mut ids: Vec<String> = info(conn, "server")
        .await?
        .iter()
        .filter_map(|node| node.get("run_id"))
        .collect();
    ids.sort();
    Ok((!ids.is_empty()).then(|| ids.join(",")))
}

/// `INFO <section>` of the server behind `conn`: one reply, or on a
/// cluster (where the redis crate sends `INFO` to every master) one per
/// master.
async fn info<C: ConnectionLike + Send>(
    conn: &mut C,
    section: &str,
) -> Result<Vec<InfoDict>, Refusal> {
    use redis::FromRedisValue as _;
    let reply: redis::Value = redis::cmd("INFO").arg(section).query_async(conn).await?;
    let parse = |value| InfoDict::from_redis_value(value).map_err(|e| Refusal::Redis(e.into()));
    match reply {
        redis::Value::Map(nodes) => nodes.into_iter().map(|(_, node)| parse(node)).collect(),
        one => Ok(vec![parse(one)?]),
    }
}

/// What a check found: the server's run id and its warnings, so a later
/// check logs only what changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Findings {
    run_id: Option<String>,
    warnings: Vec<Warning>,
}

impl Findings {
    /// The warnings found.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// Logs each warning at `warn` level.
    pub fn log_warnings(&self) {
        for warning in &self.warnings {
            tracing::warn!(%warning, "Redis setting can lose or repeat work");
        }
    }

    /// Logs these findings when they differ from `last` (Redis restarted,
    /// or a setting changed); nothing when they are the same.
    pub fn log_if_changed(&self, last: Option<&Findings>) {
        if last == Some(self) {
            return;
        }
        if self.warnings.is_empty() {
            tracing::info!(run_id = ?self.run_id, "Redis checked again (restarted, reconnected or reconfigured): eviction policy and persistence are safe");
        } else {
            let settings: Vec<String> = self.warnings.iter().map(ToString::to_string).collect();
            tracing::warn!(run_id = ?self.run_id, settings = %settings.join("; "), "Redis checked again (restarted, reconnected or reconfigured): its settings can lose or repeat work");
        }
    }
}

/// [`check`] and [`run_id`] of the server behind `conn`, within `timeout`.
pub async fn findings<C: ConnectionLike + Send>(
    conn: &mut C,
    timeout: Duration,
) -> Result<Findings, Refusal> {
    tokio::time::timeout(timeout, async {
        let run_id = run_id(conn).await?;
        let warnings = check(conn).await?;
        Ok(Findings { run_id, warnings })
    })
    .await
    .unwrap_or(Err(Refusal::Timeout(timeout)))
}

/// Runs [`findings`] on a new connection to `target` (one server, or every
/// master of a cluster) at start-up, logging each warning, and returns what
/// it found. Returns the refusal for an evicting policy; when Redis does
/// not answer it logs that the check could not be made and returns
/// `Ok(None)` (the process starts, and its Redis errors say the rest).
pub async fn at_start(
    target: &crate::connect::Target,
    timeout: Duration,
) -> Result<Option<Findings>, Refusal> {
    let checked = match crate::connect::shared(target, timeout) {
        Ok(mut conn) => findings(&mut conn, timeout).await,
        Err(error) => Err(error.into()),
    };
    match checked {
        Ok(found) => {
            found.log_warnings();
            Ok(Some(found))
        }
        Err(refusal @ Refusal::Evicting { .. }) => {
            tracing::error!(reason = %refusal, "refusing to use this Redis");
            Err(refusal)
        }
        Err(error) => {
            tracing::warn!(%error, "could not check Redis's eviction policy and persistence at start; they are checked again once Redis answers");
            Ok(None)
        }
    }
}

/// A running worker's re-check: every `every`, checks Redis's settings again
/// on a connection to `target` that reconnects by itself (as the worker's
/// connections do, possibly to a restarted or reconfigured server) and logs
/// when the server restarted (its run id) or what was found changed. An
/// evicting policy is logged as an error at every check: the worker keeps
/// running, since stopping would not bring back what is evicted, but the
/// operator must set `maxmemory-policy noeviction`. `last` is what the
/// start-up check found, if it could check. Ends when `stop` changes.
pub async fn recheck_loop(
    target: crate::connect::Target,
    timeout: Duration,
    every: Duration,
    mut last: Option<Findings>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut conn = match crate::connect::shared(&target, timeout) {
        Ok(conn) => conn,
        Err(error) => {
            tracing::warn!(%error, "cannot check Redis's settings while running");
            return;
        }
    };
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        match findings(&mut conn, timeout).await {
            Ok(found) => {
                found.log_if_changed(last.as_ref());
                last = Some(found);
            }
            Err(refusal @ Refusal::Evicting { .. }) => {
                tracing::error!(reason = %refusal, "Redis now evicts events: acknowledged events and their dedupe keys can vanish");
                last = None;
            }
            Err(error) => {
                tracing::debug!(%error, "could not check Redis's settings again");
            }
        }
    }
}

/// `CONFIG GET name`'s value; `None` when `CONFIG` is refused (managed
/// services often disable it) or the setting is unknown.
async fn config_get<C: ConnectionLike + Send>(conn: &mut C, name: &str) -> Option<String> {
    let reply: redis::RedisResult<HashMap<String, String>> = redis::cmd("CONFIG")
        .arg("GET")
        .arg(name)
        .query_async(conn)
        .await;
    match reply {
        Ok(mut values) => values.remove(name),
        Err(error) => {
            tracing::debug!(%error, setting = name, "CONFIG GET refused");
            None
        }
    }
}
