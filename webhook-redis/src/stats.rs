//! Queue statistics: stream, groups, consumers, retries, dead letters.
//! The operator commands and the worker's gauges read them.

use crate::connect::Shared;
use redis::Value;

use crate::key;

/// Why statistics could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StatsError {
    /// The queue has never received an event.
    #[error(
        "there is no queue `{0}` in this Redis (no `webhook:{{{0}}}:events` stream); `webhook stats` lists the queues"
    )]
    UnknownQueue(String),
    /// A command failed.
    #[error("a Redis command failed: {0}")]
    Redis(#[from] redis::RedisError),
}

/// A queue's state.
#[derive(Clone, Debug, serde::Serialize)]
#[non_exhaustive]
pub struct QueueStats {
    /// The queue.
    pub queue: String,
    /// Entries in the events stream (unprocessed plus retained).
    pub length: u64,
    /// Each consumer group reading it.
    pub groups: Vec<GroupStats>,
    /// Dead letters waiting for an operator.
    pub dead_letters: u64,
    /// For a partitioned queue's total ([`total`]): the names it sums (the
    /// partitions, and the unpartitioned stream); empty otherwise.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<String>,
}

/// One consumer group's state on a queue.
#[derive(Clone, Debug, serde::Serialize)]
#[non_exhaustive]
pub struct GroupStats {
    /// The group.
    pub name: String,
    /// Entries delivered but not acknowledged.
    pub pending: u64,
    /// Entries not yet delivered to the group, when Redis knows.
    pub lag: Option<u64>,
    /// Milliseconds since the oldest pending entry was added.
    pub oldest_pending_age_ms: Option<u64>,
    /// The group's consumers.
    pub consumers: Vec<ConsumerStats>,
    /// Retries scheduled.
    pub retries_scheduled: u64,
    /// Unix ms at which the next retry is due.
    pub next_retry_due_ms: Option<u64>,
    /// Retries that came due and wait in the due stream.
    pub retries_due: u64,
}

/// One consumer of a group.
#[derive(Clone, Debug, serde::Serialize)]
#[non_exhaustive]
pub struct ConsumerStats {
    /// Its name (`<host>-<pid>` by default).
    pub name: String,
    /// Entries it holds unacknowledged.
    pub pending: u64,
    /// Milliseconds since it last read or claimed.
    pub idle_ms: u64,
}

/// The queues in this Redis: every queue with a `webhook:{<queue>}:events`
/// stream, or with dead letters (`webhook:{<queue>}:dead`) left after its
/// events stream was deleted.
pub async fn queues(connection: &mut Shared) -> Result<Vec<String>, StatsError> {
    let mut found = Vec::new();
    for suffix in ["events", "dead"] {
        let pattern = format!("webhook:{{*}}:{suffix}");
        let end = format!("}}:{suffix}");
        let keys = connection.scan(&pattern, "stream").await?;
        found.extend(keys.iter().filter_map(|k| {
            k.strip_prefix("webhook:{")?
                .strip_suffix(end.as_str())
                .map(str::to_owned)
        }));
    }
    found.sort();
    found.dedup();
    Ok(found)
}

/// Fails with [`StatsError::UnknownQueue`] unless `queue` exists in this
/// Redis: it has an events stream (or, after someone deleted that, dead
/// letters).
pub async fn require_queue(connection: &mut Shared, queue: &str) -> Result<(), StatsError> {
    let exists: i64 = redis::cmd("EXISTS")
        .arg(key::events(queue))
        .arg(key::dead(queue))
        .query_async(connection)
        .await?;
    if exists == 0 {
        return Err(StatsError::UnknownQueue(queue.to_owned()));
    }
    Ok(())
}

/// `wanted` when it names queues, each checked with [`require_queue`] (a
/// partitioned queue stands for every partition of it that exists, and
/// for its unpartitioned stream if that exists); else every queue and
/// partition in this Redis ([`queues`]).
pub async fn resolve_queues(
    connection: &mut Shared,
    wanted: &[String],
) -> Result<Vec<String>, StatsError> {
    if wanted.is_empty() {
        return queues(connection).await;
    }
    let mut resolved = Vec::new();
    for queue in wanted {
        let partitions = crate::partitions::read(connection, queue).await?;
        if partitions.highest == 0 {
            require_queue(connection, queue).await?;
            resolved.push(queue.clone());
            continue;
        }
        let mut found = false;
        for name in partitions.names(queue) {
            match require_queue(connection, &name).await {
                Ok(()) => {
                    resolved.push(name);
                    found = true;
                }
                Err(StatsError::UnknownQueue(_)) => {}
                Err(error) => return Err(error),
            }
        }
        if !found {
            return Err(StatsError::UnknownQueue(queue.clone()));
        }
    }
    Ok(resolved)
}

/// The state of one queue.
pub async fn stats(connection: &mut Shared, queue: &str) -> Result<QueueStats, StatsError> {
    require_queue(connection, queue).await?;
    let stream = key::events(queue);
    let length: u64 = redis::cmd("XLEN")
        .arg(&stream)
        .query_async(connection)
        .await?;
    let dead_letters: u64 = redis::cmd("XLEN")
        .arg(key::dead(queue))
        .query_async(connection)
        .await?;
    let has_events: bool = redis::cmd("EXISTS")
        .arg(&stream)
        .query_async(connection)
        .await?;
    // A queue left with dead letters only (its events stream deleted) has
    // no groups to show.
    let infos: Vec<Value> = if has_events {
        redis::cmd("XINFO")
            .arg("GROUPS")
            .arg(&stream)
            .query_async(connection)
            .await?
    } else {
        Vec::new()
    };
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let mut groups = Vec::new();
    for info in infos {
        let info = map(info);
        let name = text(&info, "name");
        let pending = number(&info, "pending").unwrap_or(0);
        let oldest_pending_age_ms = if pending > 0 {
            let summary: Vec<Value> = redis::cmd("XPENDING")
                .arg(&stream)
                .arg(&name)
                .query_async(connection)
                .await?;
            match summary.get(1) {
                Some(Value::BulkString(id)) => String::from_utf8_lossy(id)
                    .split('-')
                    .next()
                    .and_then(|ms| ms.parse::<u64>().ok())
                    .map(|ms| now_ms.saturating_sub(ms)),
                _ => None,
            }
        } else {
            None
        };
        let consumers: Vec<Value> = redis::cmd("XINFO")
            .arg("CONSUMERS")
            .arg(&stream)
            .arg(&name)
            .query_async(connection)
            .await?;
        let consumers = consumers
            .into_iter()
            .map(map)
            .map(|c| ConsumerStats {
                name: text(&c, "name"),
                pending: number(&c, "pending").unwrap_or(0),
                idle_ms: number(&c, "idle").unwrap_or(0),
            })
            .collect();
        let retries_scheduled: u64 = redis::cmd("ZCARD")
            .arg(key::retries(queue, &name))
            .query_async(connection)
            .await?;
        let next: Vec<(String, f64)> = redis::cmd("ZRANGE")
            .arg(key::retries(queue, &name))
            .arg(0)
            .arg(0)
            .arg("WITHSCORES")
            .query_async(connection)
            .await?;
        let retries_due: u64 = redis::cmd("XLEN")
            .arg(key::due(queue, &name))
            .query_async(connection)
            .await?;
        groups.push(GroupStats {
            lag: number(&info, "lag"),
            pending,
            oldest_pending_age_ms,
            consumers,
            retries_scheduled,
            next_retry_due_ms: next.first().map(|(_, due)| *due as u64),
            retries_due,
            name,
        });
    }
    Ok(QueueStats {
        queue: queue.to_owned(),
        length,
        groups,
        dead_letters,
        parts: Vec::new(),
    })
}

/// `all` in the order to show them: each queue's stream, then its
/// partitions in partition order, then, for a partitioned queue, their
/// [`total`] (whose `parts` name what it sums).
pub fn with_totals(mut all: Vec<QueueStats>) -> Vec<QueueStats> {
    let partition = |name: &str| {
        name.split_once('.')
            .and_then(|(_, i)| i.parse::<u32>().ok())
    };
    all.sort_by_cached_key(|s| (key::queue_of(&s.queue).to_owned(), partition(&s.queue)));
    let mut out = Vec::with_capacity(all.len());
    for group in all.chunk_by(|a, b| key::queue_of(&a.queue) == key::queue_of(&b.queue)) {
        out.extend_from_slice(group);
        let queue = key::queue_of(&group[0].queue);
        if group.iter().any(|s| s.queue != queue) {
            out.push(total(queue, group));
        }
    }
    out
}

/// The sum of a partitioned queue's `parts` (its partitions' statistics,
/// as [`stats`] reads them): lengths, pending entries, lag, retries and
/// dead letters add up; the oldest pending age is the oldest of any part;
/// a consumer's pending entries add up and its idle time is its least.
pub fn total(queue: &str, parts: &[QueueStats]) -> QueueStats {
    let mut groups: Vec<GroupStats> = Vec::new();
    for part in parts {
        for group in &part.groups {
            let Some(sum) = groups.iter_mut().find(|g| g.name == group.name) else {
                groups.push(group.clone());
                continue;
            };
            sum.pending += group.pending;
            sum.lag = sum.lag.zip(group.lag).map(|(a, b)| a + b);
            sum.oldest_pending_age_ms = sum.oldest_pending_age_ms.max(group.oldest_pending_age_ms);
            sum.retries_scheduled += group.retries_scheduled;
            sum.retries_due += group.retries_due;
            sum.next_retry_due_ms = match (sum.next_retry_due_ms, group.next_retry_due_ms) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            for consumer in &group.consumers {
                match sum.consumers.iter_mut().find(|c| c.name == consumer.name) {
                    Some(c) => {
                        c.pending += consumer.pending;
                        c.idle_ms = c.idle_ms.min(consumer.idle_ms);
                    }
                    None => sum.consumers.push(consumer.clone()),
                }
            }
        }
    }
    QueueStats {
        queue: queue.to_owned(),
        length: parts.iter().map(|p| p.length).sum(),
        groups,
        dead_letters: parts.iter().map(|p| p.dead_letters).sum(),
        parts: parts.iter().map(|p| p.queue.clone()).collect(),
    }
}

/// An `XINFO` reply (a flat name/value array) as pairs.
fn map(value: Value) -> Vec<(String, Value)> {
    match value {
        Value::Array(items) => {
            let mut out = Vec::new();
            let mut items = items.into_iter();
            while let (Some(name), Some(value)) = (items.next(), items.next()) {
                match name {
                    Value::BulkString(name) => {
                        out.push((String::from_utf8_lossy(&name).into_owned(), value))
                    }
                    Value::SimpleString(name) => out.push((name, value)),
                    _ => {}
                }
            }
            out
        }
        Value::Map(pairs) => pairs
            .into_iter()
            .filter_map(|(k, v)| match k {
                Value::BulkString(k) => Some((String::from_utf8_lossy(&k).into_owned(), v)),
                Value::SimpleString(k) => Some((k, v)),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn text(pairs: &[(String, Value)], name: &str) -> String {
    match pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v) {
        Some(Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
        Some(Value::SimpleString(s)) => s.clone(),
        Some(Value::Int(n)) => n.to_string(),
        _ => String::new(),
    }
}

fn number(pairs: &[(String, Value)], name: &str) -> Option<u64> {
    match pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v)? {
        Value::Int(n) => u64::try_from(*n).ok(),
        Value::BulkString(b) => String::from_utf8_lossy(b).parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::{QueueStats, with_totals};

    fn part(queue: &str, length: u64) -> QueueStats {
        QueueStats {
            queue: queue.to_owned(),
            length,
            groups: Vec::new(),
            dead_letters: 1,
            parts: Vec::new(),
        }
    }

    #[test]
    fn partitions_sort_by_number_and_are_followed_by_their_total() {
        let shown = with_totals(vec![
            part("orders.10", 4),
            part("billing", 7),
            part("orders.2", 2),
            part("orders", 1),
        ]);
        let names: Vec<(&str, u64)> = shown.iter().map(|s| (s.queue.as_str(), s.length)).collect();
        assert_eq!(
            names,
            [
                ("billing", 7),
                ("orders", 1),
                ("orders.2", 2),
                ("orders.10", 4),
                ("orders", 7)
            ]
        );
        assert_eq!(shown[4].parts, ["orders", "orders.2", "orders.10"]);
        assert_eq!(shown[4].dead_letters, 3);
        assert!(
            shown[0].parts.is_empty(),
            "an unpartitioned queue gets no total"
        );
    }
}
