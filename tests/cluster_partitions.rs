//! Partitioned queues on a real local Redis Cluster of three masters: the
//! ingest spreads one queue over several streams (and so masters), a
//! provider's retry is still answered `duplicate`, a worker started before
//! the partitions existed reads them all, the operator commands find every
//! partition's dead letters, and the partition count changes on a live
//! system without losing an event.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderValue, StatusCode};
use support::Case;
use support::redis_cluster::RedisCluster;
use support::running::{Running, until};
use webhook::config::Source;
use webhook::ingest::{Ingest, IngestSettings, serve_on};
use webhook::prelude::*;
use webhook::webhook_worker::cli::{self, DlqCommand, FilterArgs, OpsCommand, RedisArgs};
use webhook::webhook_worker::worker::Worker;

/// Every run: the event id.
static RUNS: Mutex<Vec<String>> = Mutex::new(Vec::new());

#[webhook_handler("*", queue = "parts", name = "parts-record", retries = 0)]
async fn record(event: Event<serde_json::Value>) -> Result<(), HandlerError> {
    RUNS.lock().unwrap().push(event.id().to_owned());
    if event.id().starts_with("bad-") {
        return Err(HandlerError::reject("refused by the test"));
    }
    Ok(())
}

fn runs_of(id: &str) -> usize {
    RUNS.lock().unwrap().iter().filter(|r| *r == id).count()
}

/// An ingest for the GitHub source `gh` storing in `parts` with
/// `partitions` partitions; stops when dropped.
struct Server {
    addr: std::net::SocketAddr,
    client: reqwest::Client,
    key: support::SigningKey,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Server {
    async fn start(cluster: &RedisCluster, partitions: u32) -> Self {
        let (key, secret) = Case::GitHub.key(1);
        let source = Source {
            name: "gh".into(),
            queue: "parts".into(),
            verifier: Case::GitHub.verifier(std::slice::from_ref(&secret)),
            event_types: None,
        };
        let mut settings = IngestSettings::new(cluster.url(), vec![source]);
        settings.partitions = BTreeMap::from([("parts".to_owned(), partitions)]);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(serve_on(listener, Ingest::new(settings).unwrap(), async {
            let _ = stopped.await;
        }));
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        Self {
            addr,
            client,
            key,
            _stop: stop,
        }
    }

    /// Delivers event `id`; the answer's `status` field.
    async fn deliver(&self, id: &str) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let body = Case::GitHub.body();
        let mut headers = Case::GitHub.sign(&self.key, &body, now);
        headers.insert("x-github-delivery", HeaderValue::try_from(id).unwrap());
        let response = self
            .client
            .post(format!("http://{}/webhooks/gh", self.addr))
            .headers(headers)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let answer: serde_json::Value =
            serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        answer["status"].as_str().unwrap().to_owned()
    }
}

fn length(cluster: &RedisCluster, name: &str) -> u64 {
    redis::cmd("XLEN")
        .arg(format!("webhook:{{{name}}}:events"))
        .query(&mut cluster.connection())
        .unwrap()
}

fn worker(cluster: &RedisCluster) -> Running {
    Running::start(
        Worker::builder()
            .redis_url(cluster.url())
            .queue("parts")
            .consumer("w1"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_queue_spreads_over_masters_and_loses_nothing_when_resized() {
    let cluster = RedisCluster::start();
    // The worker starts first: it learns of the partitions from Redis.
    let running = worker(&cluster);
    let ingest = Server::start(&cluster, 4).await;
    for i in 0..40 {
        assert_eq!(ingest.deliver(&format!("a-{i}")).await, "accepted");
    }
    for i in 0..40 {
        assert_eq!(
            ingest.deliver(&format!("a-{i}")).await,
            "duplicate",
            "a retry must land on the partition of the first delivery"
        );
    }
    let lengths: Vec<u64> = (0..4)
        .map(|p| length(&cluster, &format!("parts.{p}")))
        .collect();
    assert_eq!(lengths.iter().sum::<u64>(), 40, "{lengths:?}");
    assert!(
        lengths.iter().all(|&n| n > 0),
        "a partition got nothing: {lengths:?}"
    );
    let masters: BTreeSet<u16> = (0..4)
        .map(|p| cluster.owner_of(&format!("webhook:{{parts.{p}}}:events")))
        .collect();
    assert!(masters.len() > 1, "every partition on one master");
    until("every event ran once", || {
        (0..40).all(|i| runs_of(&format!("a-{i}")) == 1)
    })
    .await;

    // Dead letters land in their partitions; the operator commands find
    // them all under the queue's name.
    for i in 0..6 {
        ingest.deliver(&format!("bad-{i}")).await;
    }
    until("the rejected events ran", || {
        (0..6).all(|i| runs_of(&format!("bad-{i}")) == 1)
    })
    .await;
    let mut listed = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        listed.clear();
        let command = OpsCommand::Dlq {
            command: DlqCommand::List {
                redis: RedisArgs {
                    redis_url: cluster.url(),
                },
                filter: FilterArgs {
                    queues: vec!["parts".into()],
                    ..FilterArgs::default()
                },
                json: true,
            },
        };
        cli::run(command, &mut listed).await.unwrap();
        let letters: serde_json::Value = serde_json::from_slice(&listed).unwrap();
        if letters.as_array().unwrap().len() == 6 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "dead letters: {letters}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Resized while the worker runs: 4 -> 6. The running worker takes in
    // the new partitions by itself.
    drop(ingest);
    let ingest = Server::start(&cluster, 6).await;
    for i in 0..40 {
        ingest.deliver(&format!("b-{i}")).await;
    }
    until("every event after the resize ran once", || {
        (0..40).all(|i| runs_of(&format!("b-{i}")) == 1)
    })
    .await;
    assert!(
        (4..6).all(|p| length(&cluster, &format!("parts.{p}")) > 0),
        "the new partitions got nothing"
    );

    // Shrunk to 2 while no worker runs: what the dropped partitions hold is
    // still read by the next worker.
    running.stop().await;
    for i in 0..40 {
        ingest.deliver(&format!("c-{i}")).await;
    }
    drop(ingest);
    let ingest = Server::start(&cluster, 2).await;
    for i in 0..10 {
        ingest.deliver(&format!("d-{i}")).await;
    }
    let running = worker(&cluster);
    until(
        "every event stored before and after the shrink ran once",
        || {
            (0..40).all(|i| runs_of(&format!("c-{i}")) == 1)
                && (0..10).all(|i| runs_of(&format!("d-{i}")) == 1)
        },
    )
    .await;
    running.stop().await;
    drop(ingest);

    // `webhook stats --queue parts`: a row per partition, then their total.
    let mut out = Vec::new();
    let command = OpsCommand::Stats {
        redis: RedisArgs {
            redis_url: cluster.url(),
        },
        queues: vec!["parts".into()],
        json: false,
        watch: None,
    };
    cli::run(command, &mut out).await.unwrap();
    let out = String::from_utf8(out).unwrap();
    let stream_cell = |row: &str| -> u64 {
        let line = out
            .lines()
            .find(|l| l.split_whitespace().next() == Some(row))
            .unwrap_or_else(|| panic!("no row {row}: {out}"));
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    let parts: u64 = (0..6).map(|p| stream_cell(&format!("parts.{p}"))).sum();
    let total_line = out
        .lines()
        .find(|l| l.starts_with("parts (total)"))
        .unwrap_or_else(|| panic!("no total: {out}"));
    let total: u64 = total_line
        .split_whitespace()
        .nth(2)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(total, parts + stream_cell("parts"), "{out}");
    let dead: u64 = total_line
        .split_whitespace()
        .nth(3)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(dead, 6, "{out}");
}
