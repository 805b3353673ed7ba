//! The dead-letter commands across queues: which queues they read, what they
//! say when none matches, and the errors for a queue or reason that does
//! not exist.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

/// The backend of this run of the suite.
type Redis = support::redis_server::RedisServer;

include!("suites/ops_queues.rs");
