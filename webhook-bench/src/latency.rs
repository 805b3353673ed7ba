//! Ingest-to-handler latency at a steady rate, and how late retries fire
//! after their due time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use hmac::{Hmac, KeyInit as _, Mac as _};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use webhook_core::Secret;
use webhook_core::config::Source;
use webhook_core::handler::HandlerError;
use webhook_core::signature::{Provider, Verifier};
use webhook_core::{Event, RawBody};
use webhook_macros::webhook_handler;
use webhook_worker::ingest::{Ingest, IngestSettings, serve_on};
use webhook_worker::worker::Worker;

use crate::redis_server::BenchRedis;

const SECRET: &str = "latency-secret";
/// The delay a failing handler asks for before its retry.
const RETRY_AFTER: Duration = Duration::from_millis(200);

static LATENCIES_US: Mutex<Vec<u64>> = Mutex::new(Vec::new());
static FAILED_AT_US: Mutex<Option<HashMap<String, u64>>> = Mutex::new(None);
static LATENESS_US: Mutex<Vec<u64>> = Mutex::new(Vec::new());

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Records how long the event took from the client's send to here; the
/// body is the send time in Unix microseconds.
#[webhook_handler(
    "latency",
    queue = "latency",
    name = "bench-latency",
    crate = "webhook_worker::webhook_core"
)]
async fn measure(event: Event<RawBody>) -> Result<(), HandlerError> {
    let sent: u64 = std::str::from_utf8(&event.payload().0)
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0);
    if let Ok(mut latencies) = LATENCIES_US.lock() {
        latencies.push(now_us().saturating_sub(sent));
    }
    Ok(())
}

/// Fails the first attempt asking for a retry after `RETRY_AFTER`, and on
/// the second records how long after the due time it ran.
#[webhook_handler(
    "retry",
    queue = "latency",
    name = "bench-retry",
    crate = "webhook_worker::webhook_core"
)]
async fn retry_once(event: Event<RawBody>) -> Result<(), HandlerError> {
    let now = now_us();
    if event.attempt() == 1 {
        if let Ok(mut failed) = FAILED_AT_US.lock() {
            failed
                .get_or_insert_with(HashMap::new)
                .insert(event.id().to_owned(), now);
        }
        return Err(HandlerError::retry_after(
            RETRY_AFTER,
            "measuring retry lateness",
        ));
    }
    let failed = FAILED_AT_US
        .lock()
        .ok()
        .and_then(|f| f.as_ref().and_then(|f| f.get(event.id()).copied()));
    if let (Some(failed), Ok(mut lateness)) = (failed, LATENESS_US.lock()) {
        lateness.push(now.saturating_sub(failed + RETRY_AFTER.as_micros() as u64));
    }
    Ok(())
}

/// Percentiles in milliseconds.
pub(crate) struct Latency {
    pub(crate) rate: u64,
    pub(crate) samples: usize,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) retry_samples: usize,
    pub(crate) retry_p50_ms: f64,
    pub(crate) retry_p99_ms: f64,
    /// RSS of this process with the ingest and a worker started and idle, in MB.
    pub(crate) idle_mb: Option<f64>,
}

/// Sends signed events at `rate` per second for `duration` through the
/// ingest to a worker (both in this process), plus `retries` events that
/// fail once, and reports both latencies.
pub(crate) fn measure_latency(
    redis: &BenchRedis,
    rate: u64,
    duration: Duration,
    retries: usize,
) -> anyhow::Result<Latency> {
    redis.flush()?;
    LATENCIES_US
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .clear();
    LATENESS_US
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .clear();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let idle_mb = runtime.block_on(async {
        let source = Source {
            name: "github".into(),
            queue: "latency".into(),
            verifier: Verifier::new(
                Provider::GitHub.scheme().context("built-in")?,
                &[Secret::from(SECRET)],
            )?,
            event_types: None,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let ingest = Ingest::new(IngestSettings::new(redis.url(), vec![source]))?;
        let worker = Worker::builder()
            .redis_url(redis.url())
            .queue("latency")
            .consumer("bench")
            .build()?;
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut ingest_stopped = stopped.clone();
        let serving = tokio::spawn(serve_on(listener, ingest, async move {
            let _ = ingest_stopped.changed().await;
        }));
        let mut worker_stopped = stopped;
        let working = tokio::spawn(worker.run(async move {
            let _ = worker_stopped.changed().await;
        }));
        // Let the worker create its group before timing.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let idle_mb = crate::memory::current_mb();

        // About a thousand requests a second per connection, so each has
        // time for its answer before the next is due.
        let connections = (rate / 1000).clamp(8, 64);
        let per_connection = Duration::from_secs_f64(connections as f64 / rate as f64);
        let deadline = Instant::now() + duration;
        let mut senders = Vec::new();
        for connection in 0..connections {
            senders.push(tokio::spawn(async move {
                let mut stream = TcpStream::connect(addr).await?;
                stream.set_nodelay(true)?;
                let mut tick = tokio::time::interval(per_connection);
                let mut buffer = vec![0u8; 4096];
                let mut sequence = 0u64;
                while Instant::now() < deadline {
                    tick.tick().await;
                    let id = format!("l-{connection}-{sequence}");
                    sequence += 1;
                    let body = now_us().to_string();
                    stream
                        .write_all(&request(addr, &id, "latency", &body))
                        .await?;
                    read_status(&mut stream, &mut buffer).await?;
                }
                Ok::<_, anyhow::Error>(())
            }));
        }
        let mut stream = TcpStream::connect(addr).await?;
        let mut buffer = vec![0u8; 4096];
        for i in 0..retries {
            stream
                .write_all(&request(addr, &format!("r-{i}"), "retry", "0"))
                .await?;
            read_status(&mut stream, &mut buffer).await?;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        for sender in senders {
            sender.await??;
        }
        let settle = Instant::now() + Duration::from_secs(10);
        while LATENESS_US.lock().map(|l| l.len()).unwrap_or(0) < retries && Instant::now() < settle
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = stop.send(true);
        serving.await??;
        working.await??;
        Ok::<_, anyhow::Error>(idle_mb)
    })?;
    let latencies = std::mem::take(
        &mut *LATENCIES_US
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?,
    );
    let lateness = std::mem::take(
        &mut *LATENESS_US
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?,
    );
    if latencies.is_empty() {
        bail!("no event reached the handler");
    }
    let (p50_ms, p99_ms) = percentiles(latencies.clone());
    let (retry_p50_ms, retry_p99_ms) = percentiles(lateness.clone());
    Ok(Latency {
        rate,
        samples: latencies.len(),
        p50_ms,
        p99_ms,
        retry_samples: lateness.len(),
        retry_p50_ms,
        retry_p99_ms,
        idle_mb,
    })
}

fn percentiles(mut values: Vec<u64>) -> (f64, f64) {
    if values.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    values.sort_unstable();
    let at =
        |q: f64| values[((values.len() as f64 * q) as usize).min(values.len() - 1)] as f64 / 1000.0;
    (at(0.50), at(0.99))
}

fn request(addr: std::net::SocketAddr, id: &str, event: &str, body: &str) -> Vec<u8> {
    let mut mac =
        Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap_or_else(|_| unreachable!());
    mac.update(body.as_bytes());
    let signature = hex::encode(mac.finalize().into_bytes());
    format!(
        "POST /webhooks/github HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nX-GitHub-Event: {event}\r\n\
         X-GitHub-Delivery: {id}\r\nX-Hub-Signature-256: sha256={signature}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

async fn read_status(stream: &mut TcpStream, buffer: &mut [u8]) -> anyhow::Result<()> {
    // Responses are small and come whole; read until the JSON body closes.
    let mut filled = 0;
    loop {
        let read = stream.read(&mut buffer[filled..]).await?;
        if read == 0 {
            bail!("the ingest closed the connection");
        }
        filled += read;
        if buffer[..filled].ends_with(b"}") {
            return Ok(());
        }
    }
}
