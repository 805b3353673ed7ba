//! The fault suite (`tests/suites/crash.rs`) on a real local Redis Cluster
//! of three masters: workers killed with SIGKILL mid-batch. The test that
//! restarts Redis itself runs on one server only (tests/crash.rs); a
//! master's loss on a cluster is the failover test's.
//!
//! The workers are this test binary run again as a child.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

/// The backend of this run of the suite.
type Redis = support::redis_cluster::RedisCluster;

include!("suites/crash.rs");
