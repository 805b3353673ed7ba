//! The Redis backend of the webhook framework: every key name, Lua
//! script and reply of the project's Redis protocol, behind a typed API.
//!
//! - [`key`]: the key names, each carrying its queue in a hash tag
//!   (`webhook:{<queue>}:...`), so all of a queue's keys share one slot.
//! - [`script`]: the Lua scripts; each one's contract (keys, arguments,
//!   replies) is written once, in its header, and its Rust call is in
//!   [`worker::Store`] or the ingest.
//! - [`extra`] and [`reason`]: the fields that retry records and dead
//!   letters add to an envelope's (whose own fields are
//!   `webhook_core::layout::field`).
//! - [`Marker`]: the states of a handler's done key, the only Rust
//!   spelling of them.
//! - [`ingest`]: the ingest's write ([`ingest::EventStore`]): dedupe,
//!   backlog limit and `XADD` in one script call.
//! - [`worker`]: the worker's commands ([`worker::Store`] on one
//!   multiplexed connection, [`worker::Reader`] on a dedicated one for
//!   blocking reads).
//! - [`stats`]: queue statistics, for the operator commands and the
//!   worker's gauges.
//! - [`ops`]: the operator's dead-letter operations (list, show, replay,
//!   purge), which the `webhook dlq` commands call.
//! - [`partitions`]: a queue spread over several streams and slots.
//! - [`check`]: the server settings that can lose or repeat work.
//! - [`connect`]: the one connection policy, and which path uses which
//!   connection.
//!
//! Outside this crate, only the benchmark makes Redis calls of its own
//! (to fill queues and to read what was drained).
//!
//! # A handler's done key
//!
//! One key per handler and event in a group,
//! `webhook:{q}:done:<group>:<source>/<handler>/<event id>`, moves through
//! these states; every move is one script, atomic, and refused unless the
//! caller's token holds the lease:
//!
//! ```text
//!   (no key) --lease.lua--> lease:<token> --complete.lua--> done:<token>
//!                             |    |
//!                             |    +--bury.lua--> dead:<token>
//!                             |
//!                             +--schedule.lua--> retry:<n> --lease.lua, carrying retry:<n>--> lease:<token>
//!
//!   lease:<token> that expires (its worker died)         --> (no key): any worker may lease again
//!   a dead letter replayed for one handler (replay.lua)  --> retry:1
//! ```
//!
//! `done` and `dead` without a token were written by older versions and
//! read the same. A script sent again by the same token after its reply
//! was lost answers as it did the first time.

pub mod check;
pub mod connect;
pub mod ingest;
pub mod ops;
pub mod partitions;
mod reply;
pub mod stats;
pub mod worker;

mod marker;

pub use marker::Marker;

/// Field names that retry records and dead letters add to an envelope's.
pub mod extra {
    /// The handler a retry or dead letter is for.
    pub const HANDLER: &str = "handler";
    /// The consumer group it belongs to.
    pub const GROUP: &str = "group";
    /// How many runs failed (dead letters).
    pub const ATTEMPTS: &str = "attempts";
    /// The last failure's message.
    pub const ERROR: &str = "error";
    /// Why the event was dead-lettered: `rejected`, `retries_exhausted`,
    /// `poison`, `no_handler`, `undecodable`, `unknown_handler`.
    pub const REASON: &str = "reason";
    /// Unix ms of the first failure.
    pub const FIRST_FAILED_AT: &str = "first_failed_at";
    /// Unix ms of the last failure.
    pub const LAST_FAILED_AT: &str = "last_failed_at";
    /// The stream id of the entry the dead letter or retry came from.
    pub const ORIGIN: &str = "origin";
}

/// The values of a dead letter's [`extra::REASON`] field.
pub mod reason {
    /// The handler rejected the event (`HandlerError::reject`, or a payload
    /// that does not deserialize into the handler's type).
    pub const REJECTED: &str = "rejected";
    /// The handler failed on its last allowed retry.
    pub const RETRIES_EXHAUSTED: &str = "retries_exhausted";
    /// The entry was delivered `max_deliveries` times without settling (it
    /// keeps killing workers).
    pub const POISON: &str = "poison";
    /// No handler matches the event's type (with `--unhandled dead-letter`).
    pub const NO_HANDLER: &str = "no_handler";
    /// The stream entry is not an envelope this version can read.
    pub const UNDECODABLE: &str = "undecodable";
    /// A retry names a handler this worker does not have.
    pub const UNKNOWN_HANDLER: &str = "unknown_handler";
    /// Every reason, in the order documented.
    pub const ALL: [&str; 6] = [
        REJECTED,
        RETRIES_EXHAUSTED,
        POISON,
        NO_HANDLER,
        UNDECODABLE,
        UNKNOWN_HANDLER,
    ];
}

/// Redis key names. Every key of a queue carries the queue name in braces,
/// a Redis Cluster hash tag, so all of a queue's keys live in one slot and
/// one Lua script may touch them together.
///
/// | key | type | holds |
/// |---|---|---|
/// | `webhook:{q}:events` | stream | verified events (the envelope's [`field`](webhook_core::layout::field)s) |
/// | `webhook:{q}:seen:<source>:<event id>` | string, TTL | ingest dedupe: the stream id of the stored event |
/// | `webhook:{q}:done:<group>:<idempotency key>` | string, TTL | `lease:<token>` while a worker runs the handler, `retry:<attempt>` while a retry is scheduled, `done:<token>` after it succeeded, `dead:<token>` after it was dead-lettered; the token is the run's that settled it, so a script sent again after its reply was lost answers as it did the first time (`done` and `dead` without a token read the same) |
/// | `webhook:{q}:receipt:<group>:<idempotency key>` | string, short TTL | the token of the run that scheduled the handler's latest retry, so that run's schedule sent again after its reply was lost is recognised once the retry has moved on |
/// | `webhook:{q}:retry:<group>` | sorted set | retry ids scored by due time (Unix ms) |
/// | `webhook:{q}:retry:<group>:<retry id>` | hash | the retry: envelope fields plus [`extra`] fields |
/// | `webhook:{q}:due:<group>` | stream | retries that came due, read by that group only |
/// | `webhook:{q}:dead` | stream | dead letters: envelope fields plus [`extra`] fields |
/// | `webhook:{q}:ready-probe` | string, 1 s TTL | `/readyz`'s write on a cluster, one per slot of the queues it stores in |
/// | `webhook:{q}:partitions` | hash | a partitioned queue's `count` (where the ingest stores) and `highest` (the most it ever had, which workers read) |
///
/// A partitioned queue `q` of N partitions keeps each partition's keys
/// under the name `q.<i>` ([`partition`](key::partition)), each its own
/// hash tag and so its own slot: `webhook:{orders.3}:events`. Queue names cannot contain `.`,
/// so a partition's name never meets another queue's.
pub mod key {
    /// The name partition `index` of `queue` keeps its keys under.
    pub fn partition(queue: &str, index: u32) -> String {
        format!("{queue}.{index}")
    }

    /// The queue a key name belongs to: `orders` for `orders.3`.
    pub fn queue_of(name: &str) -> &str {
        name.split_once('.').map_or(name, |(queue, _)| queue)
    }

    /// Which of `count` partitions the event `id` from `source` goes to:
    /// stable across processes, machines and releases (the first 8 bytes
    /// of SHA-256 of `source`, a zero byte and `id`), so a provider's retry
    /// lands where the first delivery's dedupe key is.
    pub fn partition_of(source: &str, id: &str, count: u32) -> u32 {
        use sha2::Digest as _;
        if count <= 1 {
            return 0;
        }
        let digest = sha2::Sha256::new()
            .chain_update(source.as_bytes())
            .chain_update([0])
            .chain_update(id.as_bytes())
            .finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u32::try_from(u64::from_be_bytes(first) % u64::from(count)).unwrap_or(0)
    }

    /// The key `/readyz` writes, with a short expiry, to learn whether the
    /// master that holds `queue` accepts writes (on a cluster).
    pub fn ready_probe(queue: &str) -> String {
        format!("webhook:{{{queue}}}:ready-probe")
    }

    /// The hash with a partitioned queue's partition counts.
    pub fn partitions(queue: &str) -> String {
        format!("webhook:{{{queue}}}:partitions")
    }

    /// The stream of verified events of `queue`.
    pub fn events(queue: &str) -> String {
        format!("webhook:{{{queue}}}:events")
    }

    /// The dedupe key of an event id from a source.
    pub fn seen(queue: &str, source: &str, event_id: &str) -> String {
        format!("webhook:{{{queue}}}:seen:{source}:{event_id}")
    }

    /// The lease / done marker of one handler for one event in one group;
    /// `idempotency_key` is `<source>/<handler>/<event id>`.
    pub fn done(queue: &str, group: &str, idempotency_key: &str) -> String {
        format!("webhook:{{{queue}}}:done:{group}:{idempotency_key}")
    }

    /// The short-lived receipt of the latest retry scheduled for one handler
    /// and event in one group: the token of the run that scheduled it.
    pub fn receipt(queue: &str, group: &str, idempotency_key: &str) -> String {
        format!("webhook:{{{queue}}}:receipt:{group}:{idempotency_key}")
    }

    /// The sorted set of a group's scheduled retries.
    pub fn retries(queue: &str, group: &str) -> String {
        format!("webhook:{{{queue}}}:retry:{group}")
    }

    /// The record of one retry of a group: the event's fields and the
    /// retry's.
    pub fn retry_record(queue: &str, group: &str, retry_id: &str) -> String {
        format!("webhook:{{{queue}}}:retry:{group}:{retry_id}")
    }

    /// The stream of a group's retries that came due.
    pub fn due(queue: &str, group: &str) -> String {
        format!("webhook:{{{queue}}}:due:{group}")
    }

    /// The dead letters of `queue`.
    pub fn dead(queue: &str) -> String {
        format!("webhook:{{{queue}}}:dead")
    }
}

/// The Lua scripts, each touching the keys of one queue only. Each one's
/// contract (its `KEYS`, `ARGV` and replies) is written once, in the
/// header of its file in `src/scripts/`; the typed call on it is named
/// with each.
pub mod script {
    /// Stores an event unless it is a duplicate or the stream is full, in
    /// one atomic step ([`EventStore::store`](crate::ingest::EventStore::store)).
    pub const INGEST: &str = include_str!("scripts/ingest.lua");
    /// Takes the leases of handlers for events, many in one call
    /// ([`Store::lease_many`](crate::worker::Store::lease_many)).
    pub const LEASE: &str = include_str!("scripts/lease.lua");
    /// Extends a lease still held ([`Store::renew`](crate::worker::Store::renew)).
    pub const RENEW: &str = include_str!("scripts/renew.lua");
    /// Marks handlers done where the lease is still held, many in one call
    /// ([`Store::complete_many`](crate::worker::Store::complete_many)).
    pub const COMPLETE: &str = include_str!("scripts/complete.lua");
    /// Records a retry and marks the handler
    /// [`Marker::Retry`](crate::Marker::Retry)
    /// ([`Store::schedule`](crate::worker::Store::schedule)).
    pub const SCHEDULE: &str = include_str!("scripts/schedule.lua");
    /// Writes a dead letter for one handler and marks it dead
    /// ([`Store::bury`](crate::worker::Store::bury)).
    pub const BURY: &str = include_str!("scripts/bury.lua");
    /// Dead-letters a whole entry and acknowledges it, in one step
    /// ([`Store::dead_letter_entry`](crate::worker::Store::dead_letter_entry)).
    pub const DEAD: &str = include_str!("scripts/dead.lua");
    /// Puts a dead letter back for its handler and removes it from the dead
    /// letters, atomically ([`ops::replay`](crate::ops::replay)).
    pub const REPLAY: &str = include_str!("scripts/replay.lua");
    /// Moves due retries into the group's due stream
    /// ([`Store::promote`](crate::worker::Store::promote)).
    pub const PROMOTE: &str = include_str!("scripts/promote.lua");
    /// Removes a group's idle consumers that own nothing
    /// ([`Store::prune_consumers`](crate::worker::Store::prune_consumers)).
    pub const PRUNE: &str = include_str!("scripts/prune.lua");
    /// Trims a stream below what every consumer group still needs
    /// ([`Store::trim`](crate::worker::Store::trim)).
    pub const TRIM: &str = include_str!("scripts/trim.lua");
    /// Records a queue's partition count
    /// ([`partitions::publish`](crate::partitions::publish)).
    pub const PARTITIONS: &str = include_str!("scripts/partitions.lua");
}

#[cfg(test)]
mod tests {
    use super::key;

    #[test]
    fn every_key_of_a_queue_shares_its_hash_tag() {
        let keys = [
            key::events("payments"),
            key::seen("payments", "stripe", "evt_1"),
            key::done("payments", "workers", "stripe/h/evt_1"),
            key::receipt("payments", "workers", "stripe/h/evt_1"),
            key::retries("payments", "workers"),
            key::retry_record("payments", "workers", "stripe/h/evt_1"),
            key::due("payments", "workers"),
            key::dead("payments"),
        ];
        for key in keys {
            assert!(key.starts_with("webhook:{payments}:"), "{key}");
        }
        assert_eq!(key::events("payments"), "webhook:{payments}:events");
    }
}
