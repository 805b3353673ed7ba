// The body of the `crash` suite, included by tests/crash.rs (one Redis)
// and by tests/cluster_crash.rs (a Redis Cluster); `Redis` is the backend.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use webhook::backend::connect::Shared;
use webhook::Envelope;
use webhook::prelude::*;
use webhook::webhook_worker::worker::Worker;

const EVENTS: usize = 2000;
const CHILD_CONCURRENCY: usize = 16;

/// The side effect: counts every run of an event, and writes the effect
/// keyed by the idempotency key, as the docs tell handlers to.
#[webhook_handler("*", queue = "crash", name = "crash-effect", timeout = "1s")]
async fn crash_effect(
    event: Event<RawBody>,
    redis: State<Shared>,
    key: IdempotencyKey,
) -> Result<(), HandlerError> {
    let mut connection = (*redis).clone();
    // Widen the window in which a kill lands mid-run.
    tokio::time::sleep(Duration::from_millis(2)).await;
    let _: i64 = redis::cmd("HINCRBY")
        .arg("test:runs")
        .arg(event.id())
        .arg(1)
        .query_async(&mut connection)
        .await?;
    // One atomic, idempotent write keyed by the idempotency key.
    let _: i64 = redis::cmd("SADD")
        .arg("test:effects")
        .arg(&*key)
        .query_async(&mut connection)
        .await?;
    Ok(())
}

/// A worker process: runs when a parent test starts this binary with
/// `WEBHOOK_CHILD_REDIS` set.
#[test]
#[ignore = "started as a child process by the fault tests"]
fn child_worker() {
    let Ok(url) = std::env::var("WEBHOOK_CHILD_REDIS") else {
        return;
    };
    let name = std::env::var("WEBHOOK_CHILD_NAME").unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        // The handler's own connection must reconnect after a Redis restart.
        let timeout = Duration::from_secs(1);
        let connection = webhook::backend::connect::target(&url, timeout)
            .and_then(|target| webhook::backend::connect::shared(&target, timeout))
            .unwrap();
        Worker::builder()
            .redis_url(url)
            .queue("crash")
            .consumer(name)
            .concurrency(CHILD_CONCURRENCY)
            .visibility_timeout(Duration::from_secs(2))
            .state(connection)
            .build()
            .unwrap()
            .run(webhook::webhook_worker::shutdown_signal())
            .await
            .unwrap();
    });
}

fn spawn_worker(redis: &Redis, name: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "child_worker",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("WEBHOOK_CHILD_REDIS", redis.url())
        .env("WEBHOOK_CHILD_NAME", name)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn add_events(redis: &Redis, count: usize) {
    // One command at a time: a cluster connection does not pipeline.
    let mut connection = redis.connection();
    for i in 0..count {
        let envelope = Envelope::new(format!("e-{i}"), "crash.test", "test", b"{}".to_vec());
        let encoded = envelope.encode();
        let mut command = redis::cmd("XADD");
        command.arg("webhook:{crash}:events").arg("*");
        for (field, value) in encoded.fields() {
            command.arg(field).arg(value);
        }
        let _: String = command.query(&mut connection).unwrap();
    }
}

fn settled(redis: &Redis) -> bool {
    let mut c = redis.connection();
    let effects: u64 = redis::cmd("SCARD")
        .arg("test:effects")
        .query(&mut c)
        .unwrap();
    let pending: redis::Value = redis::cmd("XPENDING")
        .arg("webhook:{crash}:events")
        .arg("workers")
        .query(&mut c)
        .unwrap_or(redis::Value::Nil);
    let pending = match pending {
        redis::Value::Array(items) => matches!(items.first(), Some(redis::Value::Int(0))),
        _ => false,
    };
    effects == EVENTS as u64 && pending
}

fn wait_settled(redis: &Redis, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !settled(redis) {
        assert!(
            Instant::now() < deadline,
            "timed out waiting until {what}: {}",
            state(redis)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What the queue looks like, for failure messages.
fn state(redis: &Redis) -> String {
    let mut c = redis.connection();
    let effects: u64 = redis::cmd("SCARD")
        .arg("test:effects")
        .query(&mut c)
        .unwrap();
    let pending: redis::Value = redis::cmd("XPENDING")
        .arg("webhook:{crash}:events")
        .arg("workers")
        .query(&mut c)
        .unwrap_or(redis::Value::Nil);
    let groups: redis::Value = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg("webhook:{crash}:events")
        .query(&mut c)
        .unwrap_or(redis::Value::Nil);
    let retries: u64 = redis::cmd("ZCARD")
        .arg("webhook:{crash}:retry:workers")
        .query(&mut c)
        .unwrap();
    let dead: u64 = redis::cmd("XLEN")
        .arg("webhook:{crash}:dead")
        .query(&mut c)
        .unwrap();
    let ran = ran_at_least(redis);
    format!(
        "effects {effects}, events that ran {ran}, retries {retries}, dead {dead}, pending {pending:?}, groups {groups:?}"
    )
}

fn run_counts(redis: &Redis) -> Vec<u64> {
    let runs: std::collections::HashMap<String, u64> = redis::cmd("HGETALL")
        .arg("test:runs")
        .query(&mut redis.connection())
        .unwrap();
    (0..EVENTS)
        .map(|i| runs.get(&format!("e-{i}")).copied().unwrap_or(0))
        .collect()
}

fn ran_at_least(redis: &Redis) -> u64 {
    let runs: std::collections::HashMap<String, u64> = redis::cmd("HGETALL")
        .arg("test:runs")
        .query(&mut redis.connection())
        .unwrap();
    runs.len() as u64
}

#[test]
fn workers_killed_mid_batch_lose_nothing_and_rerun_only_what_was_in_flight() {
    let redis = Redis::start();
    add_events(&redis, EVENTS);
    let mut steady = spawn_worker(&redis, "steady");
    let mut victim = spawn_worker(&redis, "victim-0");
    let mut kills = 0;
    for round in 1..=4 {
        // Let it get into the batch, then kill it without warning.
        let before = ran_at_least(&redis);
        let deadline = Instant::now() + Duration::from_secs(30);
        while ran_at_least(&redis) < before + 100 && ran_at_least(&redis) < EVENTS as u64 {
            assert!(Instant::now() < deadline, "no progress");
            std::thread::sleep(Duration::from_millis(5));
        }
        victim.kill().unwrap();
        victim.wait().unwrap();
        kills += 1;
        victim = spawn_worker(&redis, &format!("victim-{round}"));
    }
    wait_settled(&redis, "every event had its effect and nothing is pending");
    for child in [&mut steady, &mut victim] {
        child.kill().unwrap();
        child.wait().unwrap();
    }

    let runs = run_counts(&redis);
    assert!(runs.iter().all(|r| *r >= 1), "an event never ran");
    let reruns: u64 = runs.iter().map(|r| r - 1).sum();
    // Only entries in flight at a kill can run twice: at most the killed
    // worker's concurrency per kill.
    assert!(
        reruns <= (kills * CHILD_CONCURRENCY) as u64,
        "{reruns} re-runs after {kills} kills"
    );
    let effects: u64 = redis::cmd("SCARD")
        .arg("test:effects")
        .query(&mut redis.connection())
        .unwrap();
    assert_eq!(effects, EVENTS as u64, "each event's effect exactly once");
    let dead: u64 = redis::cmd("XLEN")
        .arg("webhook:{crash}:dead")
        .query(&mut redis.connection())
        .unwrap();
    assert_eq!(dead, 0);
}
