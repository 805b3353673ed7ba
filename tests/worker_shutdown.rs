//! Stopping a worker: one deadline over the whole stop, runs still going
//! after it abandoned (not left heartbeating in an embedded worker), and
//! entries claimed but not started handed back for others to claim.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use support::redis_server::RedisServer;
use support::running::{Running, until};
use webhook::Envelope;
use webhook::prelude::*;
use webhook::webhook_worker::worker::Worker;

static STARTED: Mutex<Vec<String>> = Mutex::new(Vec::new());
static STUCK_DROPPED: AtomicBool = AtomicBool::new(false);

fn started(id: &str) -> bool {
    STARTED.lock().unwrap().iter().any(|s| s == id)
}

struct SetOnDrop(&'static AtomicBool);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[webhook_handler("*", queue = "stuck", name = "stuck", timeout = "60s")]
async fn stuck(event: Event<serde_json::Value>) -> Result<(), HandlerError> {
    let _guard = SetOnDrop(&STUCK_DROPPED);
    STARTED.lock().unwrap().push(event.id().to_owned());
    tokio::time::sleep(Duration::from_secs(50)).await;
    Ok(())
}

#[webhook_handler("*", queue = "claimed", name = "claimed", timeout = "500ms")]
async fn claimed(event: Event<serde_json::Value>) -> Result<(), HandlerError> {
    STARTED.lock().unwrap().push(event.id().to_owned());
    tokio::time::sleep(Duration::from_millis(300)).await;
    Ok(())
}

// ---- helpers ----------------------------------------------------------------------

fn add(redis: &RedisServer, queue: &str, id: &str) {
    let envelope = Envelope::new(id, "any", "test", b"{}".to_vec());
    let encoded = envelope.encode();
    let mut command = redis::cmd("XADD");
    command.arg(format!("webhook:{{{queue}}}:events")).arg("*");
    for (field, value) in encoded.fields() {
        command.arg(field).arg(value);
    }
    let _: String = command.query(&mut redis.connection()).unwrap();
}

/// Pending entries of a stream in the group `workers`: (id, consumer, idle ms).
fn pending(redis: &RedisServer, stream: &str) -> Vec<(String, String, u64)> {
    let entries: Vec<(String, String, u64, u64)> = redis::cmd("XPENDING")
        .arg(stream)
        .arg("workers")
        .arg("-")
        .arg("+")
        .arg(100)
        .query(&mut redis.connection())
        .unwrap_or_default();
    entries
        .into_iter()
        .map(|(id, consumer, idle, _)| (id, consumer, idle))
        .collect()
}

// ---- tests ------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_past_the_deadline_is_abandoned_and_its_entry_left_pending() {
    let redis = RedisServer::start();
    add(&redis, "stuck", "stuck-1");
    let mut worker = Running::start(
        Worker::builder()
            .redis_url(redis.url())
            .queue("stuck")
            .consumer("w1")
            .visibility_timeout(Duration::from_secs(90))
            .shutdown_timeout(Duration::from_millis(300)),
    );
    until("the run started", || started("stuck-1")).await;
    let _ = worker.stop.take().unwrap().send(());
    // Far beyond the 300 ms deadline, far below the handler's 50 s.
    let stopped = tokio::time::timeout(Duration::from_secs(20), &mut worker.task).await;
    stopped
        .expect("run() did not return after the shutdown deadline")
        .unwrap()
        .unwrap();
    until("the abandoned run was dropped", || {
        STUCK_DROPPED.load(Ordering::SeqCst)
    })
    .await;
    let left = pending(&redis, "webhook:{stuck}:events");
    assert_eq!(left.len(), 1, "the entry was settled: {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_claimed_but_not_started_are_handed_back_on_shutdown() {
    let redis = RedisServer::start();
    let mut c = redis.connection();
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg("webhook:{claimed}:events")
        .arg("workers")
        .arg("0")
        .arg("MKSTREAM")
        .query(&mut c)
        .unwrap();
    for i in 0..3 {
        add(&redis, "claimed", &format!("c-{i}"));
    }
    // A worker that read all three and died.
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("workers")
        .arg("crashed")
        .arg("COUNT")
        .arg(3)
        .arg("STREAMS")
        .arg("webhook:{claimed}:events")
        .arg(">")
        .query(&mut c)
        .unwrap();
    // Longer than the stop takes (a read in flight blocks up to 1 s), so
    // only a hand-back makes the entries this idle.
    let visibility = Duration::from_secs(3);
    let mut worker = Running::start(
        Worker::builder()
            .redis_url(redis.url())
            .queue("claimed")
            .consumer("w1")
            .concurrency(1)
            .visibility_timeout(visibility),
    );
    // The reclaim takes all three at once; one slot runs the first.
    until("the first claimed entry started", || {
        (0..3).any(|i| started(&format!("c-{i}")))
    })
    .await;
    let _ = worker.stop.take().unwrap().send(());
    (&mut worker.task).await.unwrap().unwrap();
    let ran = (0..3).filter(|i| started(&format!("c-{i}"))).count();
    assert_eq!(ran, 1, "a claimed entry started after the stop signal");
    let left = pending(&redis, "webhook:{claimed}:events");
    assert_eq!(left.len(), 2, "{left:?}");
    for (id, _, idle) in &left {
        assert!(
            *idle >= visibility.as_millis() as u64,
            "entry {id} is not claimable at once: idle {idle} ms"
        );
    }
}
