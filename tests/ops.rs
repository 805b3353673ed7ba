//! Operator tools against a real Redis and a running worker: replay, purge,
//! statistics and the CLI's errors.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

/// The backend of this run of the suite.
type Redis = support::redis_server::RedisServer;

include!("suites/ops.rs");
