//! The `ops_queues` suite (`tests/suites/ops_queues.rs`) on a real local Redis Cluster of
//! three masters, where the queues a test makes sit on different masters
//! and listing them scans every master.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

/// The backend of this run of the suite.
type Redis = support::redis_cluster::RedisCluster;

include!("suites/ops_queues.rs");

// ---- a cluster only ---------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queues_of_every_master_are_listed() {
    let redis = Redis::start();
    let queues = ["orders", "payments", "emails", "audit", "search", "billing"];
    let owners: std::collections::BTreeSet<u16> = queues
        .iter()
        .map(|q| redis.owner_of(&key::events(q)))
        .collect();
    assert!(owners.len() > 1, "the queues all landed on one master");
    for queue in queues {
        dead_letter(&redis, queue, "e-1");
    }
    let mut connection = webhook::webhook_worker::ops::connect(&redis.url())
        .await
        .unwrap();
    let mut listed = webhook::webhook_worker::ops::queues(&mut connection)
        .await
        .unwrap();
    listed.sort();
    let mut expected = queues.map(str::to_owned).to_vec();
    expected.sort();
    assert_eq!(listed, expected, "a master's queues were missed");
}
