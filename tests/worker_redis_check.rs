//! A running worker checks Redis's settings again, so a Redis restarted or
//! reconfigured into evicting events is reported while the worker runs,
//! not only at its start.
//!
//! One test in this binary: it installs the process's log subscriber.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use support::logs::Captured;
use support::redis_server::RedisServer;
use webhook::prelude::*;
use webhook::webhook_worker::worker::{Worker, WorkerSettings};

#[webhook_handler("rechecked.thing", queue = "rechecked", name = "rechecked-noop")]
async fn rechecked_noop(_event: Event<serde_json::Value>) -> Result<(), HandlerError> {
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_reconfigured_to_evict_is_reported_while_the_worker_runs() {
    let captured = Captured::install(tracing::Level::INFO);
    let redis = RedisServer::start_with(&["--appendonly", "yes"]);
    let mut settings = WorkerSettings::default();
    settings.redis_check_interval = Duration::from_millis(100);
    let worker = Worker::builder()
        .settings(settings)
        .redis_url(redis.url())
        .queue("rechecked")
        .consumer("w1")
        .build()
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(worker.run(async {
        let _ = stopped.await;
    }));
    // Several re-checks of an unchanged Redis say nothing more than the start.
    captured.until("worker starting").await;
    // The start line names what runs where (the password hidden).
    let start = captured.text();
    let start = start
        .lines()
        .find(|l| l.contains("worker starting"))
        .unwrap();
    assert!(start.contains(r#"handlers=["rechecked-noop"]"#), "{start}");
    assert!(start.contains(r#"queues=["rechecked"]"#), "{start}");
    assert!(start.contains("redis=redis://127.0.0.1:"), "{start}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !captured.text().contains("checked again"),
        "{}",
        captured.text()
    );

    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory-policy")
        .arg("allkeys-lru")
        .query(&mut redis.connection())
        .unwrap();
    captured.until("Redis now evicts events").await;
    assert!(captured.text().contains("maxmemory-policy noeviction"));

    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory-policy")
        .arg("noeviction")
        .query(&mut redis.connection())
        .unwrap();
    captured
        .until("eviction policy and persistence are safe")
        .await;
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("appendonly")
        .arg("no")
        .query(&mut redis.connection())
        .unwrap();
    captured.until("its settings can lose or repeat work").await;

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .expect("the worker stops")
        .unwrap()
        .unwrap();
}
