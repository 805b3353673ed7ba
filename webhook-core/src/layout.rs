//! The Redis encoding of the project: the one module that spells field names.
//!
//! Nothing else writes a stream field name as a literal.

/// The version written in every envelope; a reader refuses other versions
/// rather than misreading them.
pub const ENVELOPE_VERSION: &str = "1";

/// Field names of an event envelope in a stream entry, in the order written.
///
/// An entry reads well in `redis-cli XRANGE`: metadata first, the raw body
/// last.
pub mod field {
    /// The envelope format version ([`ENVELOPE_VERSION`](super::ENVELOPE_VERSION)).
    pub const VERSION: &str = "v";
    /// The event id (the provider's, or generated).
    pub const ID: &str = "id";
    /// The event type.
    pub const TYPE: &str = "type";
    /// The name of the source the event came in through.
    pub const SOURCE: &str = "source";
    /// When the ingest received it: Unix time in milliseconds, decimal.
    pub const RECEIVED_AT: &str = "received_at";
    /// The delivery attempt, from 1, decimal.
    pub const ATTEMPT: &str = "attempt";
    /// The retained request headers: a JSON object of lower-case names to values.
    pub const HEADERS: &str = "headers";
    /// The raw request body, byte for byte.
    pub const BODY: &str = "body";
}

/// Redis key names. Every key of a queue carries the queue name in braces,
/// a Redis Cluster hash tag, so all of a queue's keys live in one slot and
/// one Lua script may touch them together.
///
/// | key | type | holds |
/// |---|---|---|
/// | `webhook:{q}:events` | stream | verified events (the [`field`]s) |
/// | `webhook:{q}:seen:<source>:<event id>` | string, TTL | ingest dedupe: the stream id of the stored event |
pub mod key {
    /// The stream of verified events of `queue`.
    pub fn events(queue: &str) -> String {
        format!("webhook:{{{queue}}}:events")
    }

    /// The dedupe key of an event id from a source.
    pub fn seen(queue: &str, source: &str, event_id: &str) -> String {
        format!("webhook:{{{queue}}}:seen:{source}:{event_id}")
    }
}

/// The Lua scripts, each touching the keys of one queue only.
pub mod script {
    /// Stores an event unless it is a duplicate or the stream is full, in one
    /// atomic step.
    ///
    /// `KEYS[1]` the `seen` key, `KEYS[2]` the `events` stream;
    /// `ARGV[1]` the dedupe TTL in ms, `ARGV[2]` `1` to dedupe or `0`,
    /// `ARGV[3]` the longest stream allowed (`0`: no limit), `ARGV[4..]` the
    /// envelope's field/value pairs. Returns `{"accepted", stream id}`,
    /// `{"duplicate", stream id of the first}` or `{"full"}`.
    pub const INGEST: &str = include_str!("scripts/ingest.lua");
}

#[cfg(test)]
mod tests {
    use super::key;

    #[test]
    fn every_key_of_a_queue_shares_its_hash_tag() {
        assert_eq!(key::events("payments"), "webhook:{payments}:events");
        assert_eq!(
            key::seen("payments", "stripe", "evt_1"),
            "webhook:{payments}:seen:stripe:evt_1"
        );
    }
}
