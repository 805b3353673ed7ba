//! Crash recovery at scale: a dead worker's whole backlog is claimed within
//! one reclaim period, not one batch per period, and consumers that died
//! are removed from the group.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use support::redis_server::RedisServer;
use support::running::Running;
use webhook::Envelope;
use webhook::prelude::*;
use webhook::webhook_worker::worker::Worker;

static RAN: Mutex<Vec<String>> = Mutex::new(Vec::new());

#[webhook_handler("*", queue = "backlog", name = "backlog")]
async fn backlog(event: Event<serde_json::Value>) -> Result<(), HandlerError> {
    RAN.lock().unwrap().push(event.id().to_owned());
    Ok(())
}

#[webhook_handler("*", queue = "consumers", name = "consumers", timeout = "500ms")]
async fn consumers(_event: Event<serde_json::Value>) -> Result<(), HandlerError> {
    Ok(())
}

fn pending(redis: &RedisServer, stream: &str) -> u64 {
    let reply: Result<(u64, redis::Value, redis::Value, redis::Value), _> = redis::cmd("XPENDING")
        .arg(stream)
        .arg("workers")
        .query(&mut redis.connection());
    reply.map_or(u64::MAX, |(n, ..)| n)
}

fn group(redis: &RedisServer, stream: &str) {
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(stream)
        .arg("workers")
        .arg("0")
        .arg("MKSTREAM")
        .query(&mut redis.connection())
        .unwrap();
}

fn consumer_names(redis: &RedisServer, stream: &str) -> Vec<String> {
    let consumers: Vec<HashMap<String, redis::Value>> = redis::cmd("XINFO")
        .arg("CONSUMERS")
        .arg(stream)
        .arg("workers")
        .query(&mut redis.connection())
        .unwrap();
    let mut names: Vec<String> = consumers
        .into_iter()
        .map(|info| redis::from_redis_value(info["name"].clone()).unwrap())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_workers_whole_backlog_is_claimed_within_one_reclaim_period() {
    const ORPHANS: usize = 300;
    let redis = RedisServer::start();
    let stream = "webhook:{backlog}:events";
    group(&redis, stream);
    let mut c = redis.connection();
    let mut pipe = redis::pipe();
    for i in 0..ORPHANS {
        let envelope = Envelope::new(format!("o-{i}"), "any", "test", b"{}".to_vec());
        let encoded = envelope.encode();
        let command = pipe.cmd("XADD").arg(stream).arg("*");
        for (field, value) in encoded.fields() {
            command.arg(field).arg(value);
        }
        command.ignore();
    }
    let () = pipe.query(&mut c).unwrap();
    // A worker that read every entry and died long ago.
    let read: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("workers")
        .arg("crashed")
        .arg("COUNT")
        .arg(ORPHANS)
        .arg("STREAMS")
        .arg(stream)
        .arg(">")
        .query(&mut c)
        .unwrap();
    drop(read);
    let ids: Vec<String> = redis::cmd("XRANGE")
        .arg(stream)
        .arg("-")
        .arg("+")
        .query::<Vec<(String, redis::Value)>>(&mut c)
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let _: redis::Value = redis::cmd("XCLAIM")
        .arg(stream)
        .arg("workers")
        .arg("crashed")
        .arg(0)
        .arg(&ids)
        .arg("IDLE")
        .arg(3_600_000)
        .arg("JUSTID")
        .query(&mut c)
        .unwrap();

    // Reclaim every 10 s (visibility / 4): the first period starts 10 s in,
    // the second 20 s in. Everything must be done before the second.
    let started = Instant::now();
    let worker = Running::start(
        Worker::builder()
            .redis_url(redis.url())
            .queue("backlog")
            .consumer("w1")
            .visibility_timeout(Duration::from_secs(40)),
    );
    let second_period = started + Duration::from_secs(19);
    loop {
        let ran: HashSet<String> = RAN.lock().unwrap().iter().cloned().collect();
        if ran.len() == ORPHANS && pending(&redis, stream) == 0 {
            break;
        }
        assert!(
            Instant::now() < second_period,
            "only {} of {ORPHANS} orphans handled before the second reclaim period",
            ran.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    worker.stop().await;
    assert_eq!(RAN.lock().unwrap().len(), ORPHANS, "an orphan ran twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumers_that_own_nothing_and_stay_idle_are_removed_from_the_group() {
    let redis = RedisServer::start();
    let stream = "webhook:{consumers}:events";
    group(&redis, stream);
    for name in ["gone-1", "gone-2"] {
        let _: i64 = redis::cmd("XGROUP")
            .arg("CREATECONSUMER")
            .arg(stream)
            .arg("workers")
            .arg(name)
            .query(&mut redis.connection())
            .unwrap();
    }
    // Idle past 2 x visibility (2 s here) with nothing pending: removed.
    let worker = Running::start(
        Worker::builder()
            .redis_url(redis.url())
            .queue("consumers")
            .consumer("w1")
            .visibility_timeout(Duration::from_secs(1)),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while consumer_names(&redis, stream)
        .iter()
        .any(|name| name.starts_with("gone-"))
    {
        assert!(
            Instant::now() < deadline,
            "dead consumers are still in the group: {:?}",
            consumer_names(&redis, stream)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    worker.stop().await;
}
