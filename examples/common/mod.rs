//! What the runnable examples share: logging, a Redis (or a throwaway
//! one), and the ingest serving in the same process as the worker.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use webhook::config::Source;
use webhook::ingest::{Ingest, IngestSettings, serve_on};

/// Logs at `info` unless `RUST_LOG` says otherwise, on standard error,
/// in colour only on a terminal.
pub fn init_logging() {
    webhook::webhook_worker::logging::init();
}

/// The listen address: `WEBHOOK_LISTEN`, default `127.0.0.1:8080`.
pub fn listen() -> SocketAddr {
    std::env::var("WEBHOOK_LISTEN")
        .ok()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)))
}

/// Starts the ingest for `sources` on `listen`; stops when the returned
/// sender is dropped or sent to.
pub async fn start_ingest(
    redis_url: &str,
    sources: Vec<Source>,
    listen: SocketAddr,
) -> Result<tokio::sync::oneshot::Sender<()>, Box<dyn std::error::Error>> {
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| {
        format!("cannot listen on {listen} ({e}); set WEBHOOK_LISTEN to a free address")
    })?;
    let ingest = Ingest::new(IngestSettings::new(redis_url, sources))?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve_on(listener, ingest, async {
        let _ = stopped.await;
    }));
    Ok(stop)
}

/// The Redis at `REDIS_URL`, or a throwaway `redis-server` when none answers.
pub fn redis_or_throwaway() -> Result<(String, Option<Throwaway>), Box<dyn std::error::Error>> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    if ping(&url) {
        return Ok((url, None));
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let dir = std::env::temp_dir().join(format!("webhook-example-{port}"));
    std::fs::create_dir_all(&dir)?;
    let shown = webhook::webhook_worker::redact_url(&url);
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .args(["--dir", &dir.display().to_string()])
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("nothing answers at {shown} and redis-server cannot be started ({e}); start Redis or set REDIS_URL"))?;
    let throwaway = Throwaway { child, dir };
    let local = format!("redis://127.0.0.1:{port}");
    for _ in 0..100 {
        if ping(&local) {
            eprintln!(
                "Nothing answers at {shown}: started a throwaway redis-server on port {port} (its data goes when this exits).\n\
                 Use `redis-cli -p {port}` for the commands below."
            );
            return Ok((local, Some(throwaway)));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err("the throwaway redis-server did not start".into())
}

fn ping(url: &str) -> bool {
    redis::Client::open(url)
        .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(500)))
        .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
        .is_ok()
}

/// A `redis-server` this process started; stopped and removed on drop.
pub struct Throwaway {
    child: Child,
    dir: std::path::PathBuf,
}

impl Drop for Throwaway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
