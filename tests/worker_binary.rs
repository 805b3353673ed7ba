//! A worker binary built on `worker_main` (`examples/worker_binary.rs`):
//! its set-up runs only for the worker, so its operator commands work
//! while its database is down, and a failing set-up exits 1 saying so.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use support::redis_server::RedisServer;

/// The example's binary, which `cargo test` builds beside this test.
fn example() -> PathBuf {
    let mut path = std::env::current_exe().unwrap();
    path.pop();
    if path.ends_with("deps") {
        path.pop();
    }
    let path = path.join("examples").join("worker_binary");
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test`, which builds the examples",
        path.display()
    );
    path
}

fn run(args: &[&str], redis_url: &str) -> Output {
    Command::new(example())
        .args(args)
        .env("REDIS_URL", redis_url)
        // Nothing listens there: the database is down.
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/test")
        .env("WEBHOOK_SHUTDOWN_TIMEOUT", "1s")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn operator_commands_work_while_the_database_is_down() {
    let redis = RedisServer::start();
    let handlers = run(&["handlers"], &redis.url());
    assert!(handlers.status.success(), "{handlers:?}");
    let listed = String::from_utf8_lossy(&handlers.stdout);
    assert!(
        listed.contains("record-order  pattern=order.created  queue=orders"),
        "{listed}"
    );

    let _: String = redis::cmd("XADD")
        .arg("webhook:{orders}:events")
        .arg("*")
        .arg("v")
        .arg("1")
        .query(&mut redis.connection())
        .unwrap();
    let dlq = run(&["dlq", "list"], &redis.url());
    assert!(dlq.status.success(), "{dlq:?}");
    assert!(
        String::from_utf8_lossy(&dlq.stdout).contains("no dead letters match in queue `orders`")
    );
}

#[test]
fn a_failing_set_up_exits_1_and_says_what_failed() {
    let redis = RedisServer::start();
    let worker = run(&[], &redis.url());
    assert_eq!(worker.status.code(), Some(1), "{worker:?}");
    let stderr = String::from_utf8_lossy(&worker.stderr);
    assert!(
        stderr.contains(
            "error: the worker's set-up failed: cannot connect to PostgreSQL (DATABASE_URL)"
        ),
        "{stderr}"
    );
}
