//! Partitioned queues: a queue spread over N streams, each in a slot of its
//! own, so one queue can use every master of a cluster.
//!
//! The ingest is configured with a queue's partition count, stores each
//! event in partition [`key::partition_of`] of its source and id (a
//! provider's retry lands where the first delivery's dedupe key is), and
//! records the count in Redis ([`publish`]). Workers read it ([`read`]) at
//! start and every few seconds, and handle every partition the queue ever
//! had (`highest`), plus the unpartitioned queue itself (events stored
//! before it was partitioned): [`Partitions::names`].

use crate::connect::Shared;
use crate::{key, script};

/// The most partitions a queue may have; a count read from Redis is
/// capped at it.
pub const MAX_PARTITIONS: u32 = 1024;

/// A queue's partition counts as recorded in Redis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Partitions {
    /// Where the ingest stores now: 1 for an unpartitioned queue.
    pub count: u32,
    /// The most partitions the queue ever had (0: never partitioned).
    pub highest: u32,
}

impl Partitions {
    /// An unpartitioned queue.
    pub const NONE: Self = Self {
        count: 1,
        highest: 0,
    };

    /// The names whose keys hold `queue`'s events, for the worker to read:
    /// the queue itself, then each partition it ever had.
    pub fn names(&self, queue: &str) -> Vec<String> {
        std::iter::once(queue.to_owned())
            .chain((0..self.highest).map(|index| key::partition(queue, index)))
            .collect()
    }
}

/// Records that `queue` has `count` partitions from now on (the ingest, at
/// start and with each settings check); what Redis holds afterwards.
pub async fn publish(
    connection: &mut Shared,
    queue: &str,
    count: u32,
) -> redis::RedisResult<Partitions> {
    let (count, highest): (u32, u32) = redis::Script::new(script::PARTITIONS)
        .key(key::partitions(queue))
        .arg(count.max(1))
        .invoke_async(connection)
        .await?;
    Ok(Partitions { count, highest })
}

/// `queue`'s partition counts; [`Partitions::NONE`] when it was never
/// partitioned.
pub async fn read(connection: &mut Shared, queue: &str) -> redis::RedisResult<Partitions> {
    let (count, highest): (Option<u32>, Option<u32>) = redis::cmd("HMGET")
        .arg(key::partitions(queue))
        .arg("count")
        .arg("highest")
        .query_async(connection)
        .await?;
    Ok(Partitions {
        count: count.unwrap_or(1).clamp(1, MAX_PARTITIONS),
        highest: highest.unwrap_or(0).min(MAX_PARTITIONS),
    })
}

#[cfg(test)]
mod tests {
    use super::Partitions;
    use crate::key;

    #[test]
    fn an_event_always_goes_to_the_same_partition() {
        // Fixed values (SHA-256 of `source \0 id`, first 8 bytes, mod
        // count): a change of the hash would move deduped events.
        assert_eq!(key::partition_of("stripe", "evt_1", 6), 1);
        assert_eq!(key::partition_of("gh", "d-1", 4), 3);
        assert_eq!(key::partition_of("stripe", "evt_1", 1), 0);
        let spread: std::collections::BTreeSet<u32> = (0..200)
            .map(|i| key::partition_of("gh", &format!("d-{i}"), 4))
            .collect();
        assert_eq!(spread.len(), 4, "200 ids left a partition empty");
        assert_ne!(
            key::partition_of("a", "bc", 1 << 20),
            key::partition_of("ab", "c", 1 << 20),
            "source and id are kept apart"
        );
        let partitions = Partitions {
            count: 3,
            highest: 4,
        };
        assert_eq!(
            partitions.names("orders"),
            ["orders", "orders.0", "orders.1", "orders.2", "orders.3"]
        );
        assert_eq!(Partitions::NONE.names("orders"), ["orders"]);
        assert_eq!(key::queue_of("orders.3"), "orders");
        assert_eq!(key::queue_of("orders"), "orders");
    }
}
