//! A reply lost on the wire after Redis ran the command: the worker sees an
//! I/O error and sends the same script again, which must answer as the first
//! run did. Each test puts a proxy between the worker and its Redis that
//! swallows one script's reply and closes the connection, then checks that
//! the event is handled exactly once and settled without waiting for the
//! visibility timeout (five minutes here, far beyond the tests' wait).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use support::proxy::Proxy;
use support::redis_server::RedisServer;
use support::running::{Running, until};
use webhook::Envelope;
use webhook::backend::script;
use webhook::prelude::*;
use webhook::webhook_worker::worker::{Unhandled, Worker, WorkerBuilder};

/// Every handler run: (handler, event id, attempt).
static RUNS: Mutex<Vec<(&'static str, String, u32)>> = Mutex::new(Vec::new());

fn record(handler: &'static str, event: &Event<impl Sized>) {
    RUNS.lock()
        .unwrap()
        .push((handler, event.id().to_owned(), event.attempt()));
}

fn runs(handler: &str) -> Vec<u32> {
    RUNS.lock()
        .unwrap()
        .iter()
        .filter(|(h, ..)| *h == handler)
        .map(|(.., attempt)| *attempt)
        .collect()
}

#[webhook_handler("*", queue = "lost-lease", name = "lost-lease")]
async fn lost_lease(event: Event<serde_json::Value>) -> Result<(), HandlerError> {
    record("lost-lease", &event);
    Ok(())
}

#[webhook_handler("*", queue = "lost-complete", name = "lost-complete")]
async fn lost_complete(event: Event<serde_json::Value>) -> Result<(), HandlerError> {
    record("lost-complete", &event);
    Ok(())
}

#[webhook_handler(
    "*",
    queue = "lost-schedule",
    name = "lost-schedule",
    backoff = "10ms..20ms"
)]
async fn lost_schedule(event: Event<serde_json::Value>) -> Result<(), HandlerError> {
    record("lost-schedule", &event);
    if event.attempt() == 1 {
        return Err(HandlerError::retry(std::io::Error::other(
            "first try fails",
        )));
    }
    Ok(())
}

#[webhook_handler("*", queue = "lost-bury", name = "lost-bury")]
async fn lost_bury(event: Event<serde_json::Value>) -> Result<(), HandlerError> {
    record("lost-bury", &event);
    Err(HandlerError::reject("no such order"))
}

#[webhook_handler("known.type", queue = "lost-dead", name = "lost-dead")]
async fn lost_dead(event: Event<serde_json::Value>) -> Result<(), HandlerError> {
    record("lost-dead", &event);
    Ok(())
}

// ---- helpers ----------------------------------------------------------------------

const VISIBILITY: Duration = Duration::from_secs(300);

fn add(redis: &RedisServer, queue: &str, id: &str, event_type: &str) {
    let envelope = Envelope::new(id, event_type, "test", b"{}".to_vec());
    let encoded = envelope.encode();
    let mut command = redis::cmd("XADD");
    command.arg(format!("webhook:{{{queue}}}:events")).arg("*");
    for (field, value) in encoded.fields() {
        command.arg(field).arg(value);
    }
    let _: String = command.query(&mut redis.connection()).unwrap();
}

/// Loads every worker script, so the first `EVALSHA` runs it (rather than
/// answering `NOSCRIPT`), and returns the SHA1 of `source`.
fn loaded(redis: &RedisServer, source: &str) -> String {
    let mut c = redis.connection();
    for each in [
        script::LEASE,
        script::RENEW,
        script::COMPLETE,
        script::SCHEDULE,
        script::BURY,
        script::DEAD,
        script::PROMOTE,
        script::TRIM,
    ] {
        let _: String = redis::cmd("SCRIPT")
            .arg("LOAD")
            .arg(each)
            .query(&mut c)
            .unwrap();
    }
    redis::Script::new(source).get_hash().to_owned()
}

async fn proxy(redis: &RedisServer) -> Proxy {
    Proxy::start(SocketAddr::from(([127, 0, 0, 1], redis.port()))).await
}

fn builder(proxy: &Proxy, queue: &str) -> WorkerBuilder {
    // Install the recorder, so the worker's counters can be read back.
    let _ = webhook::metrics::handle();
    Worker::builder()
        .redis_url(proxy.url())
        .queue(queue)
        .consumer("w1")
        .visibility_timeout(VISIBILITY)
}

/// Entries pending in the group `workers`; `u64::MAX` before it exists.
fn pending(redis: &RedisServer, stream: &str) -> u64 {
    let reply: Result<(u64, redis::Value, redis::Value, redis::Value), _> = redis::cmd("XPENDING")
        .arg(stream)
        .arg("workers")
        .query(&mut redis.connection());
    reply.map_or(u64::MAX, |(n, ..)| n)
}

fn settled(redis: &RedisServer, queue: &str) -> bool {
    pending(redis, &format!("webhook:{{{queue}}}:events")) == 0
        && pending(redis, &format!("webhook:{{{queue}}}:due:workers")) == 0
}

fn dead_letters(redis: &RedisServer, queue: &str) -> usize {
    redis::cmd("XLEN")
        .arg(format!("webhook:{{{queue}}}:dead"))
        .query(&mut redis.connection())
        .unwrap()
}

/// The worker's count of runs of `handler` with `outcome`, from its metrics.
fn outcomes(handler: &str, outcome: &str) -> u64 {
    let rendered = webhook::metrics::handle().unwrap().render();
    rendered
        .lines()
        .filter(|line| line.starts_with("webhook_handler_runs_total{"))
        .filter(|line| {
            line.contains(&format!("handler=\"{handler}\""))
                && line.contains(&format!("outcome=\"{outcome}\""))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

fn assert_no_lost_leases(handler: &str) {
    for outcome in ["lease_lost", "unsettled"] {
        assert_eq!(outcomes(handler, outcome), 0, "{handler}: {outcome}");
    }
}

// ---- tests ------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_lease_reply_is_retried_and_the_lease_is_still_ours() {
    let redis = RedisServer::start();
    let proxy = proxy(&redis).await;
    proxy.lose_reply_to(loaded(&redis, script::LEASE));
    add(&redis, "lost-lease", "e-1", "any");
    let worker = Running::start(builder(&proxy, "lost-lease"));
    until("the event ran and was acknowledged", || {
        runs("lost-lease") == [1] && settled(&redis, "lost-lease")
    })
    .await;
    worker.stop().await;
    assert_eq!(proxy.dropped(), 1, "the proxy lost no reply");
    assert_eq!(runs("lost-lease"), [1]);
    assert_eq!(outcomes("lost-lease", "succeeded"), 1);
    assert_no_lost_leases("lost-lease");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_success_reply_is_retried_and_counts_as_success() {
    let redis = RedisServer::start();
    let proxy = proxy(&redis).await;
    proxy.lose_reply_to(loaded(&redis, script::COMPLETE));
    add(&redis, "lost-complete", "e-1", "any");
    let worker = Running::start(builder(&proxy, "lost-complete"));
    until("the event ran and was acknowledged", || {
        runs("lost-complete") == [1] && settled(&redis, "lost-complete")
    })
    .await;
    worker.stop().await;
    assert_eq!(proxy.dropped(), 1, "the proxy lost no reply");
    assert_eq!(runs("lost-complete"), [1]);
    assert_eq!(outcomes("lost-complete", "succeeded"), 1);
    assert_no_lost_leases("lost-complete");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_schedule_reply_is_retried_and_the_retry_is_kept_once() {
    let redis = RedisServer::start();
    let proxy = proxy(&redis).await;
    proxy.lose_reply_to(loaded(&redis, script::SCHEDULE));
    add(&redis, "lost-schedule", "e-1", "any");
    let worker = Running::start(builder(&proxy, "lost-schedule"));
    until("the retry ran and everything was acknowledged", || {
        runs("lost-schedule") == [1, 2] && settled(&redis, "lost-schedule")
    })
    .await;
    // Long enough for a doubled retry (backoff at most 20 ms) to show.
    tokio::time::sleep(Duration::from_millis(300)).await;
    worker.stop().await;
    assert_eq!(proxy.dropped(), 1, "the proxy lost no reply");
    assert_eq!(runs("lost-schedule"), [1, 2]);
    assert_eq!(outcomes("lost-schedule", "retry_scheduled"), 1);
    assert_eq!(outcomes("lost-schedule", "succeeded"), 1);
    assert_no_lost_leases("lost-schedule");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_dead_letter_reply_is_retried_and_writes_one_dead_letter() {
    let redis = RedisServer::start();
    let proxy = proxy(&redis).await;
    proxy.lose_reply_to(loaded(&redis, script::BURY));
    add(&redis, "lost-bury", "e-1", "any");
    let worker = Running::start(builder(&proxy, "lost-bury"));
    until("the event was dead-lettered and acknowledged", || {
        dead_letters(&redis, "lost-bury") >= 1 && settled(&redis, "lost-bury")
    })
    .await;
    worker.stop().await;
    assert_eq!(proxy.dropped(), 1, "the proxy lost no reply");
    assert_eq!(runs("lost-bury"), [1]);
    assert_eq!(dead_letters(&redis, "lost-bury"), 1);
    assert_eq!(outcomes("lost-bury", "dead_lettered"), 1);
    assert_no_lost_leases("lost-bury");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_reply_to_a_whole_entry_dead_letter_writes_it_once() {
    let redis = RedisServer::start();
    let proxy = proxy(&redis).await;
    proxy.lose_reply_to(loaded(&redis, script::DEAD));
    add(&redis, "lost-dead", "e-1", "unknown.type");
    let worker = Running::start(builder(&proxy, "lost-dead").unhandled(Unhandled::DeadLetter));
    until("the entry was dead-lettered and acknowledged", || {
        dead_letters(&redis, "lost-dead") >= 1 && settled(&redis, "lost-dead")
    })
    .await;
    worker.stop().await;
    assert_eq!(proxy.dropped(), 1, "the proxy lost no reply");
    assert_eq!(dead_letters(&redis, "lost-dead"), 1);
}
