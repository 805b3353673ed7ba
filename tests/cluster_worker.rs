//! The worker suite (`tests/suites/worker.rs`) on a real local Redis
//! Cluster of three masters: every test of tests/worker.rs but the one
//! that restarts the server (a cluster node restarted without persistence
//! comes back without its slots, which is a failover's test, not this one's).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

/// The backend of this run of the suite.
type Redis = support::redis_cluster::RedisCluster;

include!("suites/worker.rs");
