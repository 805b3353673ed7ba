//! The envelope's encoding as name/value pairs: the one module that spells
//! its field names. Redis keys, scripts and the fields that retry records
//! and dead letters add live in the `webhook-redis` crate.

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
