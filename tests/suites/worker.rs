// The body of the `worker` suite, included by tests/worker.rs (one Redis)
// and by tests/cluster_worker.rs (a Redis Cluster); `Redis` is the backend.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde::Deserialize;
use support::running::{Running, until};
use webhook::Envelope;
use webhook::prelude::*;
use webhook::webhook_worker::worker::{
    Unhandled, Worker, WorkerBuilder, WorkerError, WorkerSettings,
};

/// Every handler run: (queue, handler, event id, attempt).
static RUNS: Mutex<Vec<(&'static str, &'static str, String, u32)>> = Mutex::new(Vec::new());

fn record(queue: &'static str, handler: &'static str, event: &Event<impl Sized>) {
    RUNS.lock()
        .unwrap()
        .push((queue, handler, event.id().to_owned(), event.attempt()));
}

fn runs(queue: &str) -> Vec<(&'static str, String, u32)> {
    RUNS.lock()
        .unwrap()
        .iter()
        .filter(|(q, ..)| *q == queue)
        .map(|(_, h, id, attempt)| (*h, id.clone(), *attempt))
        .collect()
}

fn count(queue: &str, handler: &str, id: &str) -> usize {
    runs(queue)
        .iter()
        .filter(|(h, i, _)| *h == handler && i == id)
        .count()
}

// ---- happy path -----------------------------------------------------------

#[webhook_handler("a.created", queue = "happy", name = "happy-a")]
async fn happy_a(event: Event<serde_json::Value>) -> Result<(), HandlerError> {
    record("happy", "happy-a", &event);
    Ok(())
}

#[webhook_handler("a.*", queue = "happy", name = "happy-audit")]
async fn happy_audit(event: Event<serde_json::Value>) -> Result<(), HandlerError> {
    record("happy", "happy-audit", &event);
    Ok(())
}

#[webhook_handler("b.updated", queue = "happy", name = "happy-b")]
async fn happy_b(event: Event<RawBody>) -> Result<(), HandlerError> {
    record("happy", "happy-b", &event);
    Ok(())
}

// ---- retries ----------------------------------------------------------------

#[webhook_handler(
    "r.flaky",
    queue = "retry",
    name = "retry-flaky",
    retries = 5,
    backoff = "20ms..100ms"
)]
async fn retry_flaky(event: Event<serde_json::Value>) -> Result<(), HandlerError> {
    record("retry", "retry-flaky", &event);
    if event.attempt() < 3 {
        return Err(HandlerError::retry(std::io::Error::other("not yet")));
    }
    Ok(())
}

#[webhook_handler("r.later", queue = "retry", name = "retry-later")]
async fn retry_later(event: Event<serde_json::Value>) -> Result<(), HandlerError> {
    record("retry", "retry-later", &event);
    Err(HandlerError::retry_after(
        Duration::from_secs(3600),
        "rate limited downstream",
    ))
}

// ---- dead letters -------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct Typed {
    #[allow(dead_code)]
    amount: i64,
}

#[webhook_handler("d.reject", queue = "dead", name = "dead-reject")]
async fn dead_reject(event: Event<serde_json::Value>) -> Result<(), HandlerError> {
    record("dead", "dead-reject", &event);
    Err(HandlerError::reject("no such order"))
}

#[webhook_handler(
    "d.exhaust",
    queue = "dead",
    name = "dead-exhaust",
    retries = 2,
    backoff = "10ms..20ms"
)]
async fn dead_exhaust(event: Event<serde_json::Value>) -> Result<(), HandlerError> {
    record("dead", "dead-exhaust", &event);
    Err(HandlerError::retry(std::io::Error::other(format!(
        "still down at attempt {}",
        event.attempt()
    ))))
}

#[webhook_handler("d.typed", queue = "dead", name = "dead-typed")]
async fn dead_typed(event: Event<Typed>) -> Result<(), HandlerError> {
    record("dead", "dead-typed", &event);
    Ok(())
}

// ---- panics, timeouts, fan-out --------------------------------------------------

#[webhook_handler(
    "c.panic",
    queue = "chaos",
    name = "chaos-panic",
    backoff = "10ms..20ms"
)]
async fn chaos_panic(event: Event<serde_json::Value>) -> Result<(), HandlerError> {
    record("chaos", "chaos-panic", &event);
    if event.attempt() == 1 {
        panic!("a bug on the first attempt");
    }
    Ok(())
}

#[webhook_handler(
    "c.slow",
    queue = "chaos",
    name = "chaos-slow",
    timeout = "200ms",
    backoff = "10ms..20ms"
)]
async fn chaos_slow(event: Event<serde_json::Value>) -> Result<(), HandlerError> {
    record("chaos", "chaos-slow", &event);
    if event.attempt() == 1 {
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
    Ok(())
}

#[webhook_handler("c.fine", queue = "chaos", name = "chaos-fine")]
async fn chaos_fine(event: Event<serde_json::Value>) -> Result<(), HandlerError> {
    record("chaos", "chaos-fine", &event);
    Ok(())
}

#[webhook_handler("f.x", queue = "fanout", name = "fanout-ok")]
async fn fanout_ok(event: Event<serde_json::Value>) -> Result<(), HandlerError> {
    record("fanout", "fanout-ok", &event);
    Ok(())
}

#[webhook_handler("f.x", queue = "fanout", name = "fanout-flaky", backoff = "10ms..20ms")]
async fn fanout_flaky(event: Event<serde_json::Value>) -> Result<(), HandlerError> {
    record("fanout", "fanout-flaky", &event);
    if event.attempt() == 1 {
        return Err(HandlerError::retry(std::io::Error::other(
            "first try fails",
        )));
    }
    Ok(())
}

// ---- recovery, groups, shutdown, restarts ---------------------------------------

#[webhook_handler("*", queue = "recover", name = "recover-any", timeout = "500ms")]
async fn recover_any(event: Event<serde_json::Value>) -> Result<(), HandlerError> {
    record("recover", "recover-any", &event);
    Ok(())
}

#[webhook_handler("*", queue = "groups", name = "groups-any", backoff = "10ms..20ms")]
async fn groups_any(event: Event<serde_json::Value>) -> Result<(), HandlerError> {
    record("groups", "groups-any", &event);
    if event.id() == "fails-once" && event.attempt() == 1 {
        return Err(HandlerError::retry(std::io::Error::other(
            "first try fails",
        )));
    }
    Ok(())
}

#[webhook_handler("*", queue = "slowq", name = "slowq-any")]
async fn slowq_any(event: Event<serde_json::Value>) -> Result<(), HandlerError> {
    record("slowq", "slowq-started", &event);
    tokio::time::sleep(Duration::from_millis(700)).await;
    record("slowq", "slowq-any", &event);
    Ok(())
}

#[webhook_handler("*", queue = "restart", name = "restart-any")]
async fn restart_any(event: Event<serde_json::Value>) -> Result<(), HandlerError> {
    record("restart", "restart-any", &event);
    Ok(())
}

#[webhook_handler("*", queue = "multi-a", name = "multi-a")]
async fn multi_a(event: Event<serde_json::Value>) -> Result<(), HandlerError> {
    record("multi", "multi-a", &event);
    Ok(())
}

#[webhook_handler("*", queue = "multi-b", name = "multi-b")]
async fn multi_b(event: Event<serde_json::Value>) -> Result<(), HandlerError> {
    record("multi", "multi-b", &event);
    Ok(())
}

struct Needed;

#[webhook_handler("*", queue = "needs-state", name = "needs-state")]
async fn needs_state(
    _event: Event<serde_json::Value>,
    _needed: State<Needed>,
) -> Result<(), HandlerError> {
    Ok(())
}

// ---- helpers ----------------------------------------------------------------------

fn add(redis: &Redis, queue: &str, id: &str, event_type: &str, body: &str) {
    let envelope = Envelope::new(id, event_type, "test", body.as_bytes().to_vec());
    let encoded = envelope.encode();
    let mut command = redis::cmd("XADD");
    command.arg(format!("webhook:{{{queue}}}:events")).arg("*");
    for (field, value) in encoded.fields() {
        command.arg(field).arg(value);
    }
    let _: String = command.query(&mut redis.connection()).unwrap();
}

fn builder(redis: &Redis, queue: &str) -> WorkerBuilder {
    Worker::builder()
        .redis_url(redis.url())
        .queue(queue)
        .consumer("w1")
}

/// Entries pending in a group; `u64::MAX` while the group does not exist yet.
fn pending(redis: &Redis, stream: &str, group: &str) -> u64 {
    let reply: Result<redis::Value, _> = redis::cmd("XPENDING")
        .arg(stream)
        .arg(group)
        .query(&mut redis.connection());
    let Ok(reply) = reply else { return u64::MAX };
    match reply {
        redis::Value::Array(items) => match items.first() {
            Some(redis::Value::Int(n)) => *n as u64,
            _ => 0,
        },
        _ => 0,
    }
}

fn dead_letters(redis: &Redis, queue: &str) -> Vec<HashMap<String, String>> {
    let raw: Vec<(String, Vec<Vec<u8>>)> = redis::cmd("XRANGE")
        .arg(format!("webhook:{{{queue}}}:dead"))
        .arg("-")
        .arg("+")
        .query(&mut redis.connection())
        .unwrap();
    raw.into_iter()
        .map(|(_, flat)| {
            flat.chunks(2)
                .map(|kv| {
                    (
                        String::from_utf8_lossy(&kv[0]).into_owned(),
                        String::from_utf8_lossy(&kv[1]).into_owned(),
                    )
                })
                .collect()
        })
        .collect()
}

// ---- tests ------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_handler_runs_once_per_event_and_everything_is_acknowledged() {
    let redis = Redis::start();
    for i in 0..30 {
        add(&redis, "happy", &format!("a-{i}"), "a.created", "{}");
        add(
            &redis,
            "happy",
            &format!("b-{i}"),
            "b.updated",
            "not json: raw body",
        );
        add(&redis, "happy", &format!("z-{i}"), "z.unhandled", "{}");
    }
    let worker = Running::start(builder(&redis, "happy"));
    until("90 runs", || runs("happy").len() >= 90).await;
    until("nothing pending", || {
        pending(&redis, "webhook:{happy}:events", "workers") == 0
    })
    .await;
    worker.stop().await;
    for i in 0..30 {
        assert_eq!(count("happy", "happy-a", &format!("a-{i}")), 1);
        assert_eq!(count("happy", "happy-audit", &format!("a-{i}")), 1);
        assert_eq!(count("happy", "happy-b", &format!("b-{i}")), 1);
    }
    assert_eq!(
        runs("happy").len(),
        90,
        "a handler ran twice or for an unhandled type"
    );
    assert!(dead_letters(&redis, "happy").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_handler_is_retried_with_growing_attempts_until_it_succeeds() {
    let redis = Redis::start();
    add(&redis, "retry", "flaky-1", "r.flaky", "{}");
    add(&redis, "retry", "later-1", "r.later", "{}");
    let worker = Running::start(builder(&redis, "retry"));
    until("three runs", || {
        count("retry", "retry-flaky", "flaky-1") == 3
    })
    .await;
    until("nothing pending", || {
        pending(&redis, "webhook:{retry}:events", "workers") == 0
            && pending(&redis, "webhook:{retry}:due:workers", "workers") == 0
    })
    .await;
    // `retry after` was honoured: one run, and a retry due in about an hour.
    let score: f64 = redis::cmd("ZSCORE")
        .arg("webhook:{retry}:retry:workers")
        .arg("test/retry-later/later-1")
        .query(&mut redis.connection())
        .unwrap();
    worker.stop().await;
    let attempts: Vec<u32> = runs("retry")
        .iter()
        .filter(|(h, ..)| *h == "retry-flaky")
        .map(|(_, _, a)| *a)
        .collect();
    assert_eq!(attempts, [1, 2, 3]);
    assert_eq!(count("retry", "retry-later", "later-1"), 1);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as f64;
    let due_in = (score - now_ms) / 1000.0;
    assert!((3500.0..=3600.0).contains(&due_in), "due in {due_in} s");
    assert!(dead_letters(&redis, "retry").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_exhausted_and_undeserializable_events_are_dead_lettered_with_every_field() {
    let redis = Redis::start();
    add(&redis, "dead", "rej-1", "d.reject", r#"{"order":1}"#);
    add(&redis, "dead", "exh-1", "d.exhaust", "{}");
    add(&redis, "dead", "typ-1", "d.typed", r#"{"amount":"five"}"#);
    let worker = Running::start(builder(&redis, "dead"));
    until("three dead letters", || {
        dead_letters(&redis, "dead").len() == 3
    })
    .await;
    until("nothing pending", || {
        pending(&redis, "webhook:{dead}:events", "workers") == 0
    })
    .await;
    worker.stop().await;

    let dead = dead_letters(&redis, "dead");
    let find = |handler: &str| {
        dead.iter()
            .find(|d| d["handler"] == handler)
            .unwrap()
            .clone()
    };
    let rejected = find("dead-reject");
    assert_eq!(rejected["reason"], "rejected");
    assert_eq!(rejected["error"], "no such order");
    assert_eq!(rejected["attempts"], "1");
    assert_eq!(rejected["body"], r#"{"order":1}"#);
    for field in [
        "id",
        "type",
        "source",
        "group",
        "first_failed_at",
        "last_failed_at",
        "received_at",
        "headers",
        "origin",
    ] {
        assert!(
            rejected.contains_key(field),
            "missing {field}: {rejected:?}"
        );
    }
    assert_eq!(
        (
            rejected["id"].as_str(),
            rejected["type"].as_str(),
            rejected["group"].as_str()
        ),
        ("rej-1", "d.reject", "workers")
    );
    assert_eq!(
        count("dead", "dead-reject", "rej-1"),
        1,
        "a rejection is not retried"
    );

    let exhausted = find("dead-exhaust");
    assert_eq!(exhausted["reason"], "retries_exhausted");
    assert_eq!(exhausted["attempts"], "3");
    assert_eq!(exhausted["error"], "still down at attempt 3");
    assert!(exhausted["first_failed_at"] <= exhausted["last_failed_at"]);
    assert_eq!(count("dead", "dead-exhaust", "exh-1"), 3);

    let typed = find("dead-typed");
    assert_eq!(typed["reason"], "rejected");
    assert!(typed["error"].contains("at `amount`"), "{}", typed["error"]);
    assert!(
        !typed["error"].contains("five"),
        "the body's value leaked into the error: {}",
        typed["error"]
    );
    assert_eq!(count("dead", "dead-typed", "typ-1"), 0);

    // A dead-lettered handler is not run again if the entry comes back.
    let marker: String = redis::cmd("GET")
        .arg("webhook:{dead}:done:workers:test/dead-reject/rej-1")
        .query(&mut redis.connection())
        .unwrap();
    assert!(marker.starts_with("dead:"), "{marker}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panics_and_timeouts_fail_one_run_and_the_worker_keeps_serving() {
    let redis = Redis::start();
    add(&redis, "chaos", "p-1", "c.panic", "{}");
    add(&redis, "chaos", "s-1", "c.slow", "{}");
    for i in 0..5 {
        add(&redis, "chaos", &format!("f-{i}"), "c.fine", "{}");
    }
    let worker = Running::start(builder(&redis, "chaos"));
    until("the retries ran", || {
        count("chaos", "chaos-panic", "p-1") == 2 && count("chaos", "chaos-slow", "s-1") == 2
    })
    .await;
    until("nothing pending", || {
        pending(&redis, "webhook:{chaos}:events", "workers") == 0
            && pending(&redis, "webhook:{chaos}:due:workers", "workers") == 0
    })
    .await;
    worker.stop().await;
    for i in 0..5 {
        assert_eq!(count("chaos", "chaos-fine", &format!("f-{i}")), 1);
    }
    assert!(dead_letters(&redis, "chaos").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_retry_only_the_handler_that_failed_runs_again() {
    let redis = Redis::start();
    add(&redis, "fanout", "x-1", "f.x", "{}");
    let worker = Running::start(builder(&redis, "fanout"));
    until("the retry ran", || {
        count("fanout", "fanout-flaky", "x-1") == 2
    })
    .await;
    until("nothing pending", || {
        pending(&redis, "webhook:{fanout}:due:workers", "workers") == 0
    })
    .await;
    worker.stop().await;
    assert_eq!(count("fanout", "fanout-ok", "x-1"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_of_a_crashed_worker_are_claimed_and_poison_is_dead_lettered() {
    let redis = Redis::start();
    let mut c = redis.connection();
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg("webhook:{recover}:events")
        .arg("workers")
        .arg("0")
        .arg("MKSTREAM")
        .query(&mut c)
        .unwrap();
    add(&redis, "recover", "orphan", "any", "{}");
    add(&redis, "recover", "poison", "any", "{}");
    // A worker that read both and died without acknowledging either.
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("workers")
        .arg("crashed")
        .arg("COUNT")
        .arg(2)
        .arg("STREAMS")
        .arg("webhook:{recover}:events")
        .arg(">")
        .query(&mut c)
        .unwrap();
    // The poison entry was claimed by crashing workers again and again.
    let ids: Vec<(String, Vec<Vec<u8>>)> = redis::cmd("XRANGE")
        .arg("webhook:{recover}:events")
        .arg("-")
        .arg("+")
        .query(&mut c)
        .unwrap();
    for _ in 0..4 {
        let _: redis::Value = redis::cmd("XCLAIM")
            .arg("webhook:{recover}:events")
            .arg("workers")
            .arg("crashed")
            .arg(0)
            .arg(&ids[1].0)
            .query(&mut c)
            .unwrap();
    }
    let worker = Running::start(
        builder(&redis, "recover")
            .visibility_timeout(Duration::from_secs(1))
            .max_deliveries(3),
    );
    until("the orphan ran and the poison was buried", || {
        count("recover", "recover-any", "orphan") == 1 && dead_letters(&redis, "recover").len() == 1
    })
    .await;
    until("nothing pending", || {
        pending(&redis, "webhook:{recover}:events", "workers") == 0
    })
    .await;
    worker.stop().await;
    assert_eq!(count("recover", "recover-any", "poison"), 0);
    let poison = &dead_letters(&redis, "recover")[0];
    assert_eq!(
        (poison["reason"].as_str(), poison["id"].as_str()),
        ("poison", "poison")
    );
    assert!(poison["error"].contains("delivered"), "{}", poison["error"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_consumer_groups_each_see_every_event_once_and_keep_their_retries() {
    let redis = Redis::start();
    add(&redis, "groups", "ok-1", "any", "{}");
    add(&redis, "groups", "fails-once", "any", "{}");
    let a = Running::start(builder(&redis, "groups").group("alpha"));
    let b = Running::start(builder(&redis, "groups").group("beta").consumer("w2"));
    until(
        "both groups handled both events, with one retry each",
        || {
            count("groups", "groups-any", "ok-1") == 2
                && count("groups", "groups-any", "fails-once") == 4
        },
    )
    .await;
    until("nothing pending", || {
        ["alpha", "beta"].iter().all(|g| {
            pending(&redis, "webhook:{groups}:events", g) == 0
                && pending(&redis, &format!("webhook:{{groups}}:due:{g}"), g) == 0
        })
    })
    .await;
    a.stop().await;
    b.stop().await;
    let attempts: Vec<u32> = runs("groups")
        .iter()
        .filter(|(_, id, _)| id == "fails-once")
        .map(|(.., a)| *a)
        .collect();
    let mut sorted = attempts.clone();
    sorted.sort();
    assert_eq!(sorted, [1, 1, 2, 2], "each group ran its own retry once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_runs_in_flight_finish_and_acknowledges_them() {
    let redis = Redis::start();
    let worker = Running::start(builder(&redis, "slowq"));
    // Let the worker create its group, then give it work that takes a while.
    tokio::time::sleep(Duration::from_millis(300)).await;
    add(&redis, "slowq", "slow-1", "any", "{}");
    // Started, not just delivered: an entry read but not started when the
    // worker stops is handed back to the group instead.
    until("the run started", || {
        count("slowq", "slowq-started", "slow-1") == 1
    })
    .await;
    worker.stop().await;
    assert_eq!(count("slowq", "slowq-any", "slow-1"), 1);
    assert_eq!(pending(&redis, "webhook:{slowq}:events", "workers"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processed_entries_are_trimmed_but_never_unprocessed_ones() {
    const TRIM_EVENTS: u64 = 250;
    let redis = Redis::start();
    let mut c = redis.connection();
    // A second group that never reads: nothing may be trimmed past it.
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg("webhook:{happy}:events")
        .arg("idle")
        .arg("0")
        .arg("MKSTREAM")
        .query(&mut c)
        .unwrap();
    // Enough entries for several stream nodes: the worker trims whole
    // nodes only (cheap, and never more than exact trimming would).
    for i in 0..TRIM_EVENTS {
        add(&redis, "happy", &format!("t-{i}"), "a.created", "{}");
    }
    let mut settings = WorkerSettings::default();
    settings.retention = Duration::from_millis(1);
    let worker = Running::start(
        builder(&redis, "happy")
            .settings(settings)
            .redis_url(redis.url())
            .queue("happy")
            .consumer("w1"),
    );
    until("handled", || {
        pending(&redis, "webhook:{happy}:events", "workers") == 0
            && runs("happy")
                .iter()
                .filter(|(_, id, _)| id.starts_with("t-"))
                .count()
                >= 2 * TRIM_EVENTS as usize
    })
    .await;
    // Several trim rounds (one a second) pass while the idle group holds everything.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let len: u64 = redis::cmd("XLEN")
        .arg("webhook:{happy}:events")
        .query(&mut c)
        .unwrap();
    assert_eq!(
        len, TRIM_EVENTS,
        "entries the idle group has not read were trimmed"
    );
    let _: () = redis::cmd("XGROUP")
        .arg("DESTROY")
        .arg("webhook:{happy}:events")
        .arg("idle")
        .query(&mut c)
        .unwrap();
    until("processed nodes were trimmed", || {
        let len = redis::cmd("XLEN")
            .arg("webhook:{happy}:events")
            .query::<u64>(&mut redis.connection())
            .unwrap();
        (1..TRIM_EVENTS).contains(&len)
    })
    .await;
    worker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_queues_with_backlogs_are_all_served_without_waiting_for_reclaim() {
    // One read over several streams returns up to COUNT entries from each:
    // every one must be handled now, not left for the visibility timeout.
    let redis = Redis::start();
    for i in 0..20 {
        add(&redis, "multi-a", &format!("a-{i}"), "x", "{}");
        add(&redis, "multi-b", &format!("b-{i}"), "x", "{}");
    }
    let worker = Running::start(
        Worker::builder()
            .redis_url(redis.url())
            .queue("multi-a")
            .queue("multi-b")
            .consumer("w1")
            .concurrency(4)
            .visibility_timeout(Duration::from_secs(3600)),
    );
    until("all 40 events ran", || runs("multi").len() == 40).await;
    worker.stop().await;
}

#[test]
fn settings_that_would_break_guarantees_are_refused_at_start() {
    let short = Worker::builder()
        .queue("chaos")
        .visibility_timeout(Duration::from_secs(30))
        .build()
        .unwrap_err();
    assert!(
        matches!(short, WorkerError::VisibilityTooShort { .. }),
        "{short}"
    );
    assert!(
        short.to_string().contains("WEBHOOK_VISIBILITY_TIMEOUT"),
        "{short}"
    );

    let missing = Worker::builder().queue("needs-state").build().unwrap_err();
    assert!(missing.to_string().contains("State<"), "{missing}");
    Worker::builder()
        .queue("needs-state")
        .state(Needed)
        .build()
        .unwrap();

    let none = Worker::builder().queue("nobody-here").build().unwrap_err();
    assert!(matches!(none, WorkerError::NoHandlers(_)), "{none}");

    let bad = Worker::builder()
        .queue("happy")
        .unhandled(Unhandled::Ack)
        .group("a b")
        .build()
        .unwrap_err();
    assert!(bad.to_string().contains("group"), "{bad}");
}
