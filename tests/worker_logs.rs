//! A worker started with `Worker::builder()...run()` and nothing else logs
//! by itself: a start line saying what runs where, and each dead letter;
//! an application that installed its own subscriber keeps it.
//!
//! The workers are this test binary run again as a child (`child_worker`
//! below, ignored unless a parent starts it), so each has a process, and a
//! global subscriber, of its own.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Command;

use support::child::Watched;
use support::redis_server::RedisServer;
use webhook::Envelope;
use webhook::prelude::*;
use webhook::webhook_worker::worker::Worker;

#[webhook_handler("logged.thing", queue = "logged", name = "logged-reject")]
async fn logged_reject(_event: Event<serde_json::Value>) -> Result<(), HandlerError> {
    Err(HandlerError::reject("this event cannot succeed"))
}

/// A worker process: runs when a parent test starts this binary with
/// `WEBHOOK_CHILD_REDIS` set; with `WEBHOOK_CHILD_OWN_LOGS` it installs a
/// subscriber of its own first (warnings and errors only, no timestamps).
#[test]
#[ignore = "started as a child process by the tests below"]
fn child_worker() {
    let Ok(url) = std::env::var("WEBHOOK_CHILD_REDIS") else {
        return;
    };
    if std::env::var_os("WEBHOOK_CHILD_OWN_LOGS").is_some() {
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .without_time()
            .with_ansi(false)
            .with_writer(std::io::stderr)
            .init();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        Worker::builder()
            .redis_url(url)
            .queue("logged")
            .consumer("logs-child")
            .build()
            .unwrap()
            .run(webhook::webhook_worker::shutdown_signal())
            .await
            .unwrap();
    });
}

/// This binary run again as a worker (`child_worker`), with its own
/// subscriber when `own_logs`.
fn spawn_worker(redis: &RedisServer, own_logs: bool) -> Watched {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--ignored",
            "--exact",
            "child_worker",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("WEBHOOK_CHILD_REDIS", redis.url())
        .env_remove("RUST_LOG")
        .env_remove("WEBHOOK_LOG_FORMAT");
    if own_logs {
        command.env("WEBHOOK_CHILD_OWN_LOGS", "1");
    }
    Watched::spawn(&mut command)
}

fn add_event(redis: &RedisServer, id: &str) {
    let envelope = Envelope::new(id, "logged.thing", "test", b"{}".to_vec());
    let mut command = redis::cmd("XADD");
    command.arg("webhook:{logged}:events").arg("*");
    for (field, value) in envelope.encode().fields() {
        command.arg(field).arg(value);
    }
    let _: String = command.query(&mut redis.connection()).unwrap();
}

fn line<'a>(text: &'a str, what: &str) -> &'a str {
    text.lines().find(|l| l.contains(what)).unwrap()
}

#[test]
fn a_builder_run_logs_its_start_and_every_dead_letter() {
    let redis = RedisServer::start();
    add_event(&redis, "evt-logged-1");
    let worker = spawn_worker(&redis, false);
    let text = worker.until("dead-lettered");
    let start = line(&text, "worker starting");
    for part in [
        r#"queues=["logged"]"#,
        r#"handlers=["logged-reject"]"#,
        "group=workers",
        "consumer=logs-child",
        "redis=redis://127.0.0.1:",
    ] {
        assert!(start.contains(part), "{part} not in {start}");
    }
    let dead = line(&text, "dead-lettered");
    for part in [
        "handler=\"logged-reject\"",
        "event_id=evt-logged-1",
        "reason=\"rejected\"",
        "this event cannot succeed",
    ] {
        assert!(dead.contains(part), "{part} not in {dead}");
    }
    // Standard error is a pipe here: no colour codes.
    assert!(!text.contains('\u{1b}'), "{text}");
}

#[test]
fn an_application_subscriber_is_kept() {
    let redis = RedisServer::start();
    add_event(&redis, "evt-logged-2");
    let worker = spawn_worker(&redis, true);
    let text = worker.until("dead-lettered");
    // The application's subscriber: warnings and up only, no timestamps.
    assert!(!text.contains("worker starting"), "{text}");
    assert!(line(&text, "dead-lettered").starts_with("ERROR"), "{text}");
}
