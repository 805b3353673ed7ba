//! The `webhook` command's exit codes and messages for the mistakes an
//! operator makes first: a wrong Redis URL, an unknown id, a vague replay.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn webhook(args: &[&str], redis_url: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_webhook"))
        .args(args)
        .env("REDIS_URL", redis_url)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// A throwaway redis-server, killed on drop.
struct Redis(std::process::Child, u16);

impl Redis {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server on the PATH (apt-get install redis-server)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self(child, port)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.1)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_wrong_redis_url_exits_1_and_says_what_to_check() {
    let out = webhook(&["stats"], "redis://:hunter2@127.0.0.1:1");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("check --redis-url / REDIS_URL"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[test]
fn an_unknown_id_or_a_vague_replay_exits_1_with_what_to_do() {
    let redis = Redis::start();
    let out = webhook(&["dlq", "show", "1-1"], &redis.url());
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("has no dead letter `1-1`"));

    let out = webhook(&["dlq", "replay"], &redis.url());
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("pass --all"));

    let out = webhook(&["dlq", "purge", "--all"], &redis.url());
    assert_eq!(
        out.status.code(),
        Some(0),
        "nothing to purge is not an error"
    );

    let out = webhook(&["stats"], &redis.url());
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("no queues"));

    let out = webhook(&["dlq", "list", "--bogus"], &redis.url());
    assert_eq!(out.status.code(), Some(2), "usage errors exit 2");
}
