//! The ingest under load, beside `redis-benchmark` running the same script.

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use hmac::{Hmac, KeyInit as _, Mac as _};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use webhook_core::Secret;
use webhook_core::config::Source;
use webhook_core::signature::{Provider, Verifier};
use webhook_redis::script;
use webhook_worker::ingest::{Ingest, IngestSettings, serve_on};

use crate::redis_server::BenchRedis;
use crate::{BODY_BYTES, Measured};

pub(crate) const SECRET: &str = "bench-secret";

pub(crate) fn measure_ingest(
    redis: &BenchRedis,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<Measured> {
    measure_ingest_at(
        &redis.url(),
        std::collections::BTreeMap::new(),
        connections,
        duration,
    )
}

/// The ingest on the Redis (or cluster) at `url`, its `bench` queue spread
/// over `partitions`, under `connections` connections for `duration`.
pub(crate) fn measure_ingest_at(
    url: &str,
    partitions: std::collections::BTreeMap<String, u32>,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<Measured> {
    // The server gets its own runtime; the load generator another. Both
    // share this machine's cores, as the report says.
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let source = Source {
        name: "github".into(),
        queue: "bench".into(),
        verifier: Verifier::new(
            Provider::GitHub.scheme().context("built-in")?,
            &[Secret::from(SECRET)],
        )?,
        event_types: None,
    };
    let mut settings = IngestSettings::new(url, vec![source]);
    settings.max_backlog = 0;
    settings.partitions = partitions;
    let listener = server.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    let ingest = {
        let _runtime = server.enter();
        Ingest::new(settings)?
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    server.spawn(serve_on(listener, ingest, async {
        let _ = stopped.await;
    }));

    let client = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let result = client.block_on(load(addr, connections, duration));
    let _ = stop.send(());
    server.shutdown_timeout(Duration::from_secs(2));
    result
}

/// The 1 KiB body every delivery carries, and its `X-Hub-Signature-256`
/// value: the signature covers the body only, so each request is made new
/// by its `X-GitHub-Delivery` id alone.
pub(crate) fn signed_body() -> (String, String) {
    let mut body = String::from(r#"{"action":"opened","pull_request":{"title":""#);
    while body.len() < BODY_BYTES - 4 {
        body.push('x');
    }
    body.push_str(r#""}}"#);
    let mut mac =
        Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap_or_else(|_| unreachable!());
    mac.update(body.as_bytes());
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    (body, signature)
}

pub(crate) fn signed_request(addr: SocketAddr) -> (Vec<u8>, usize) {
    let (body, signature) = signed_body();
    // The delivery id is the last header and has a fixed width, so each
    // request is the template with the id bytes overwritten.
    let head = format!(
        "POST /webhooks/github HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nX-GitHub-Event: pull_request\r\nX-Hub-Signature-256: {signature}\r\n\
         X-GitHub-Delivery: ",
        body.len()
    );
    let id_at = head.len();
    let request = format!("{head}{:020}\r\n\r\n{body}", 0);
    (request.into_bytes(), id_at)
}

pub(crate) async fn load(
    addr: SocketAddr,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<Measured> {
    let (template, id_at) = signed_request(addr);
    let running = Arc::new(AtomicBool::new(true));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for connection in 0..connections {
        let (mut request, running) = (template.clone(), running.clone());
        tasks.push(tokio::spawn(async move {
            let mut stream = TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            let mut latencies = Vec::with_capacity(1 << 16);
            let mut errors = 0u64;
            let mut buffer = vec![0u8; 4096];
            let mut sequence = 0u64;
            while running.load(Ordering::Relaxed) {
                let id = format!("{:020}", (connection as u64) << 40 | sequence);
                request[id_at..id_at + 20].copy_from_slice(id.as_bytes());
                sequence += 1;
                let sent = Instant::now();
                stream.write_all(&request).await?;
                let status = read_response(&mut stream, &mut buffer).await?;
                latencies.push(sent.elapsed().as_micros() as u32);
                if status != 200 {
                    errors += 1;
                }
            }
            Ok::<_, anyhow::Error>((latencies, errors))
        }));
    }
    tokio::time::sleep(duration).await;
    running.store(false, Ordering::Relaxed);
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (mine, failed) = task.await??;
        latencies.extend(mine);
        errors += failed;
    }
    let elapsed = started.elapsed().as_secs_f64();
    if latencies.is_empty() {
        bail!("no request completed");
    }
    latencies.sort_unstable();
    let at = |q: f64| {
        latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)] as f64 / 1000.0
    };
    Ok(Measured {
        elapsed_secs: elapsed,
        requests_per_sec: latencies.len() as f64 / elapsed,
        p50_ms: at(0.50),
        p99_ms: at(0.99),
        p999_ms: at(0.999),
        errors,
    })
}

/// Reads one HTTP/1.1 response with a `content-length`; returns its status.
async fn read_response(stream: &mut TcpStream, buffer: &mut [u8]) -> anyhow::Result<u16> {
    let mut filled = 0;
    loop {
        let read = stream.read(&mut buffer[filled..]).await?;
        if read == 0 {
            bail!("the ingest closed the connection");
        }
        filled += read;
        let Some(end) = buffer[..filled].windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = std::str::from_utf8(&buffer[..end])?;
        let status: u16 = head.get(9..12).context("status line")?.parse()?;
        let length: usize = head
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().ok())?
            })
            .unwrap_or(0);
        while filled < end + 4 + length {
            let read = stream.read(&mut buffer[filled..]).await?;
            if read == 0 {
                bail!("the ingest closed the connection mid-response");
            }
            filled += read;
        }
        return Ok(status);
    }
}

/// `redis-benchmark` running the ingest script with a 1 KiB body.
pub(crate) fn redis_benchmark(
    redis: &BenchRedis,
    clients: usize,
    requests: usize,
) -> anyhow::Result<Measured> {
    let sha: String = redis.cli(&["SCRIPT", "LOAD", script::INGEST])?;
    let body = "x".repeat(BODY_BYTES);
    let port = redis.port.to_string();
    let (clients, requests) = (clients.to_string(), requests.to_string());
    let output = Command::new("redis-benchmark")
        .args([
            "-p",
            &port,
            "-c",
            &clients,
            "-n",
            &requests,
            "-r",
            "1000000000",
            "--csv",
            "EVALSHA",
            &sha,
            "2",
        ])
        .args([
            "webhook:{bench}:seen:github:__rand_int__",
            "webhook:{bench}:events",
            "259200000",
            "1",
            "0",
        ])
        .args([
            "v",
            "1",
            "id",
            "__rand_int__",
            "type",
            "pull_request.opened",
            "source",
            "github",
        ])
        .args([
            "received_at",
            "1795000000000",
            "attempt",
            "1",
            "headers",
            "{\"content-type\":\"application/json\"}",
            "body",
            &body,
        ])
        .output()
        .context("run redis-benchmark (it comes with redis-server)")?;
    let csv = String::from_utf8_lossy(&output.stdout);
    // "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
    let line = csv
        .lines()
        .last()
        .context("redis-benchmark printed nothing")?;
    let fields: Vec<f64> = line
        .split(',')
        .skip(1)
        .map(|f| f.trim_matches('"').parse().unwrap_or(f64::NAN))
        .collect();
    if fields.len() < 6 {
        bail!("unexpected redis-benchmark output: {csv}");
    }
    Ok(Measured {
        elapsed_secs: f64::NAN,
        requests_per_sec: fields[0],
        p50_ms: fields[3],
        p99_ms: fields[5],
        p999_ms: f64::NAN,
        errors: 0,
    })
}
