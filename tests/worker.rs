//! The worker against a real `redis-server`: runs, retries, dead letters,
//! fan-out, crash recovery, consumer groups, shutdown and Redis restarts.
//! Each test uses its own queue (and so its own handlers) and its own Redis.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

/// The backend of this run of the suite.
type Redis = support::redis_server::RedisServer;

include!("suites/worker.rs");

// ---- one Redis only: these restart or reconfigure the server ---------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_comes_back_empty_does_not_wedge_the_worker() {
    let mut redis = Redis::start();
    let worker = Running::start(builder(&redis, "restart"));
    add(&redis, "restart", "before", "any", "{}");
    until("the first event ran", || {
        count("restart", "restart-any", "before") == 1
    })
    .await;
    redis.restart(); // no persistence: stream and groups are gone
    add(&redis, "restart", "after", "any", "{}");
    until("the event after the restart ran", || {
        count("restart", "restart-any", "after") == 1
    })
    .await;
    worker.stop().await;
}
