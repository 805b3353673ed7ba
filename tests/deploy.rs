//! The deployment material in `deploy/`: the Redis configuration gives a
//! server the ingest and the workers accept without a warning, and the
//! systemd units parse.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use webhook::webhook_worker::redis_check;

fn deploy(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(file)
}

/// `redis-server deploy/redis.conf`, with only the host-specific settings
/// (port, address, directory) overridden; killed on drop.
struct Server(Child, PathBuf);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

#[tokio::test]
async fn the_redis_configuration_passes_the_check_without_a_warning() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = std::env::temp_dir().join(format!("webhook-deploy-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let child = Command::new("redis-server")
        .arg(deploy("redis.conf"))
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--dir"])
        .arg(&dir)
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server on the PATH (apt-get install redis-server)");
    let server = Server(child, dir);
    let url = format!("redis://127.0.0.1:{port}");
    let client = redis::Client::open(url.as_str()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut connection = loop {
        match client.get_multiplexed_async_connection().await {
            Ok(connection) => break connection,
            Err(error) => {
                assert!(
                    Instant::now() < deadline,
                    "redis-server did not start: {error}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    let warnings = redis_check::check(&mut connection).await.unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let policy: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("appendfsync")
        .query_async(&mut connection)
        .await
        .unwrap();
    assert_eq!(policy, ["appendfsync", "everysec"]);
    drop(server);
}

#[test]
fn the_systemd_units_parse() {
    let dir = std::env::temp_dir().join(format!("webhook-units-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (unit, name) in [
        ("webhook-ingest.service", "webhook-ingest.service"),
        ("webhook-worker@.service", "webhook-worker@1.service"),
    ] {
        // The binaries live on a deployed host; point at one that exists
        // here so the check is about the unit's own syntax.
        let text = std::fs::read_to_string(deploy(unit)).unwrap();
        let text = text
            .lines()
            .map(|line| match line.strip_prefix("ExecStart=") {
                Some(_) => "ExecStart=/bin/true".to_owned(),
                None => line.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("\n");
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        let out = Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .arg(&path)
            .output()
            .expect("systemd-analyze on the PATH (apt-get install systemd)");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stderr.trim().is_empty(),
            "{unit}: {stderr}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
