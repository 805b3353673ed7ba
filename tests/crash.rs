//! Fault tests with real processes: workers killed with SIGKILL in the
//! middle of a batch, and Redis restarted (AOF on) under a running worker.
//!
//! The workers are this test binary run again as a child (`child_worker`
//! below, ignored unless a parent starts it), so they are separate
//! processes that can be killed without a trace.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

/// The backend of this run of the suite.
type Redis = support::redis_server::RedisServer;

include!("suites/crash.rs");

// ---- one Redis only: these restart or reconfigure the server ---------------

#[test]
fn a_redis_restart_with_aof_mid_run_loses_nothing() {
    let mut redis = Redis::start_with(&["--appendonly", "yes", "--appendfsync", "always"]);
    add_events(&redis, EVENTS);
    let mut worker = spawn_worker(&redis, "survivor");
    let deadline = Instant::now() + Duration::from_secs(30);
    while ran_at_least(&redis) < 300 {
        assert!(Instant::now() < deadline, "no progress");
        std::thread::sleep(Duration::from_millis(5));
    }
    redis.restart(); // SIGKILL; every write was fsynced
    wait_settled(&redis, "the run completed after the restart");
    worker.kill().unwrap();
    worker.wait().unwrap();
    let runs = run_counts(&redis);
    assert!(runs.iter().all(|r| *r >= 1), "an event never ran");
    // Only runs in flight around the restart can repeat: at most the
    // worker's concurrency of them, twice (before and during the outage).
    let reruns: u64 = runs.iter().map(|r| r - 1).sum();
    assert!(
        reruns <= 2 * CHILD_CONCURRENCY as u64,
        "{reruns} re-runs after one Redis restart"
    );
    let effects: u64 = redis::cmd("SCARD")
        .arg("test:effects")
        .query(&mut redis.connection())
        .unwrap();
    assert_eq!(effects, EVENTS as u64);
}
