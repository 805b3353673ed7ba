//! A failover on a real local Redis Cluster (three masters, a replica
//! each): the master of a queue is killed with SIGKILL in the middle of a
//! stream of deliveries. The ingest answers 503 while the slot has no
//! master and accepts again once the replica took over, without a
//! restart; the worker carries on. The test prints what was lost: events
//! answered 2xx that no handler saw. Replication is asynchronous, so
//! without `wait_replicas` a few may be. With `wait_replicas = 1` none
//! may, and the promoted master, left without a replica, gets 503 until the
//! killed node is back as its replica.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http::{HeaderValue, StatusCode};
use support::Case;
use support::redis_cluster::RedisCluster;
use support::running::{Running, until};
use webhook::config::Source;
use webhook::ingest::{Ingest, IngestSettings, serve_on};
use webhook::prelude::*;
use webhook::webhook_worker::worker::Worker;

/// The event ids each queue's handler saw.
static SEEN: Mutex<Vec<(&'static str, String)>> = Mutex::new(Vec::new());

#[webhook_handler("*", queue = "failover-plain", name = "failover-plain", timeout = "1s")]
async fn plain(event: Event<RawBody>) -> Result<(), HandlerError> {
    SEEN.lock()
        .unwrap()
        .push(("failover-plain", event.id().to_owned()));
    Ok(())
}

#[webhook_handler(
    "*",
    queue = "failover-waited",
    name = "failover-waited",
    timeout = "1s"
)]
async fn waited(event: Event<RawBody>) -> Result<(), HandlerError> {
    SEEN.lock()
        .unwrap()
        .push(("failover-waited", event.id().to_owned()));
    Ok(())
}

fn seen(queue: &str) -> HashSet<String> {
    SEEN.lock()
        .unwrap()
        .iter()
        .filter(|(q, _)| *q == queue)
        .map(|(_, id)| id.clone())
        .collect()
}

/// What the deliveries got.
#[derive(Default, Debug)]
struct Outcome {
    /// Ids answered 200, in order.
    accepted: Vec<String>,
    /// Ids answered 200 once the ingest accepted again after the kill.
    accepted_after: Vec<String>,
    /// 503 answers.
    unavailable: usize,
    /// 200 answers after the failover while the killed node was still down.
    accepted_while_down: usize,
    /// 503 answers after the killed node was started again.
    unavailable_after_restart: usize,
    /// Other answers or failed requests.
    other: Vec<String>,
}

/// Delivers events to `queue` through an ingest on a cluster with a
/// replica per master (with `wait_replicas`), kills the queue's master
/// after a second, starts it again 7 s later (it rejoins as the replica of
/// the master that took over), and keeps delivering until the ingest has
/// accepted events again for two seconds.
async fn deliver_through_a_failover(wait_replicas: u32, queue: &'static str) -> Outcome {
    let mut cluster = RedisCluster::start_replicated(3, 1);
    let (key, secret) = Case::GitHub.key(1);
    let source = Source {
        name: "gh".into(),
        queue: queue.into(),
        verifier: Case::GitHub.verifier(std::slice::from_ref(&secret)),
        event_types: None,
    };
    let mut settings = IngestSettings::new(cluster.url(), vec![source]);
    settings.redis_timeout = Duration::from_millis(500);
    settings.wait_replicas = wait_replicas;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (_stop_ingest, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve_on(listener, Ingest::new(settings).unwrap(), async {
        let _ = stopped.await;
    }));
    let victim = cluster.owner_of(&format!("webhook:{{{queue}}}:events"));
    // The worker knows the cluster by the node that will fail alone: it
    // must find the promoted replica through what the cluster told it.
    let worker = Running::start(
        Worker::builder()
            .redis_url(format!("redis+cluster://127.0.0.1:{victim}"))
            .queue(queue)
            .consumer("w1")
            .visibility_timeout(Duration::from_secs(5)),
    );
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let started = Instant::now();
    let mut killed = false;
    let mut back = false;
    let mut recovered: Option<Instant> = None;
    let mut outcome = Outcome::default();
    for i in 0.. {
        if !killed && started.elapsed() > Duration::from_secs(1) {
            cluster.kill(victim);
            killed = true;
        }
        if !back && started.elapsed() > Duration::from_secs(8) {
            cluster.restart(victim);
            back = true;
        }
        if recovered.is_some_and(|at| at.elapsed() > Duration::from_secs(2)) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the ingest did not recover: {outcome:?}"
        );
        let id = format!("{queue}-{i}");
        let body = Case::GitHub.body();
        let mut headers = Case::GitHub.sign(&key, &body, now);
        headers.insert("x-github-delivery", HeaderValue::try_from(&id).unwrap());
        let answer = client
            .post(format!("http://{addr}/webhooks/gh"))
            .headers(headers)
            .body(body)
            .send()
            .await;
        match answer.map(|a| a.status()) {
            Ok(StatusCode::OK) => {
                // The first 200 after a 503: the replica took over.
                if killed && outcome.unavailable > 0 {
                    recovered.get_or_insert_with(Instant::now);
                    outcome.accepted_after.push(id.clone());
                    if !back {
                        outcome.accepted_while_down += 1;
                    }
                }
                outcome.accepted.push(id);
            }
            Ok(StatusCode::SERVICE_UNAVAILABLE) => {
                outcome.unavailable += 1;
                if back {
                    outcome.unavailable_after_restart += 1;
                }
            }
            Ok(status) => outcome.other.push(format!("{id}: {status}")),
            Err(error) => outcome.other.push(format!("{id}: {error}")),
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        outcome.unavailable > 0,
        "no 503 while the slot had no master: {outcome:?}"
    );
    assert!(
        !outcome.accepted_after.is_empty(),
        "nothing accepted after the failover"
    );
    assert!(outcome.other.is_empty(), "{:?}", outcome.other);
    // The worker carries on: everything accepted after the failover runs.
    let after: HashSet<String> = outcome.accepted_after.iter().cloned().collect();
    until("the events accepted after the failover ran", || {
        seen(queue).is_superset(&after)
    })
    .await;
    // Give the events accepted before the kill their chance too (a
    // crashed lease waits for the visibility timeout).
    let all: HashSet<String> = outcome.accepted.iter().cloned().collect();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !seen(queue).is_superset(&all) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    worker.stop().await;
    outcome
}

fn lost(queue: &str, outcome: &Outcome) -> Vec<String> {
    let seen = seen(queue);
    outcome
        .accepted
        .iter()
        .filter(|id| !seen.contains(*id))
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failover_mid_run_gives_503_then_recovers_and_reports_what_was_lost() {
    let queue = "failover-plain";
    let outcome = deliver_through_a_failover(0, queue).await;
    assert!(
        outcome.accepted_while_down > 0,
        "the ingest did not recover before the killed node came back: {outcome:?}"
    );
    let lost = lost(queue, &outcome);
    eprintln!(
        "failover without wait_replicas: {} accepted ({} after the failover), {} answered 503, \
         {} accepted but lost: {lost:?}",
        outcome.accepted.len(),
        outcome.accepted_after.len(),
        outcome.unavailable,
        lost.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_wait_replicas_nothing_acknowledged_is_lost_in_a_failover() {
    let queue = "failover-waited";
    let outcome = deliver_through_a_failover(1, queue).await;
    assert_eq!(
        outcome.accepted_while_down, 0,
        "acknowledged while the promoted master had no replica"
    );
    let lost = lost(queue, &outcome);
    eprintln!(
        "failover with wait_replicas = 1: {} accepted ({} after the failover), {} answered 503, \
         {} accepted but lost",
        outcome.accepted.len(),
        outcome.accepted_after.len(),
        outcome.unavailable,
        lost.len()
    );
    assert!(
        lost.is_empty(),
        "events acknowledged with wait_replicas = 1 were lost: {lost:?}"
    );
}
