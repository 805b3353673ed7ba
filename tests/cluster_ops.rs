//! The `ops` suite (`tests/suites/ops.rs`) on a real local Redis Cluster of
//! three masters, where the queues a test makes sit on different masters
//! and listing them scans every master.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

/// The backend of this run of the suite.
type Redis = support::redis_cluster::RedisCluster;

include!("suites/ops.rs");
