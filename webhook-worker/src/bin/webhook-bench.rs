//! The benchmark: the ingest against Redis's own limit, on this machine, in
//! one run.
//!
//! `cargo run --release -p webhook-worker --bin webhook-bench [-- --quick]`
//!
//! Starts its own `redis-server` (persistence off, then AOF `everysec`),
//! runs the ingest in this process, and drives it with a built-in HTTP/1.1
//! load generator over keep-alive connections: signed 1 KiB GitHub
//! deliveries with distinct delivery ids. Beside it, `redis-benchmark` runs
//! the exact script call one request costs (`EVALSHA` of the ingest script:
//! dedupe `GET` + `XLEN` + `XADD` + `SET`) at the same concurrency. Prints a
//! Markdown table; numbers are never asserted.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use hmac::{Hmac, KeyInit as _, Mac as _};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use webhook_core::Secret;
use webhook_core::config::Source;
use webhook_core::layout::script;
use webhook_core::signature::{Provider, Verifier};
use webhook_worker::ingest::{Ingest, IngestSettings, serve_on};

#[derive(Parser)]
#[command(about = "Measure the ingest beside Redis's own limit")]
struct Args {
    /// A short run (seconds, not minutes) that only checks the benchmark works.
    #[arg(long)]
    quick: bool,
    /// Concurrent connections (and redis-benchmark clients).
    #[arg(long, default_value_t = 50)]
    connections: usize,
    /// Seconds of load per ingest measurement.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Write the table to this file too.
    #[arg(long)]
    output: Option<std::path::PathBuf>,
}

const SECRET: &str = "bench-secret";
const BODY_BYTES: usize = 1024;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let seconds = if args.quick { 1 } else { args.seconds };
    let mut rows = Vec::new();
    for (label, extra) in [
        ("no persistence", &[][..]),
        (
            "AOF everysec",
            &["--appendonly", "yes", "--appendfsync", "everysec"][..],
        ),
    ] {
        let redis = BenchRedis::start(extra)?;
        let ingest = measure_ingest(&redis, args.connections, Duration::from_secs(seconds))?;
        redis.flush()?;
        let limit = redis_benchmark(
            &redis,
            args.connections,
            if args.quick { 20_000 } else { 200_000 },
        )?;
        rows.push((label, ingest, limit));
    }
    let table = render(&rows, args.connections);
    #[allow(clippy::print_stdout)] // the table is the program's output
    {
        println!("{table}");
    }
    if let Some(path) = args.output {
        std::fs::write(&path, &table).with_context(|| format!("write {}", path.display()))?;
    }
    Ok(())
}

struct Measured {
    requests_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    p999_ms: f64,
    errors: u64,
}

fn measure_ingest(
    redis: &BenchRedis,
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
    let mut settings = IngestSettings::new(redis.url(), vec![source]);
    settings.max_backlog = 0;
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

fn signed_request(addr: SocketAddr) -> (Vec<u8>, usize) {
    let mut body = String::from(r#"{"action":"opened","pull_request":{"title":""#);
    while body.len() < BODY_BYTES - 4 {
        body.push('x');
    }
    body.push_str(r#""}}"#);
    let mut mac =
        Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap_or_else(|_| unreachable!());
    mac.update(body.as_bytes());
    let signature = hex::encode(mac.finalize().into_bytes());
    // The delivery id is the last header and has a fixed width, so each
    // request is the template with the id bytes overwritten.
    let head = format!(
        "POST /webhooks/github HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nX-GitHub-Event: pull_request\r\nX-Hub-Signature-256: sha256={signature}\r\n\
         X-GitHub-Delivery: ",
        body.len()
    );
    let id_at = head.len();
    let request = format!("{head}{:020}\r\n\r\n{body}", 0);
    (request.into_bytes(), id_at)
}

async fn load(
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
fn redis_benchmark(
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
        requests_per_sec: fields[0],
        p50_ms: fields[3],
        p99_ms: fields[5],
        p999_ms: f64::NAN,
        errors: 0,
    })
}

fn render(rows: &[(&str, Measured, Measured)], connections: usize) -> String {
    let mut out = format!(
        "Ingest of signed 1 KiB GitHub deliveries at {connections} keep-alive connections, beside \
         `redis-benchmark` running the same script call (`EVALSHA` ingest.lua: GET + XLEN + XADD + SET) \
         with {connections} clients. Server, load generator and Redis share this machine ({} cores).\n\n\
         | Redis | ingest req/s | p50 ms | p99 ms | p99.9 ms | non-200 | redis-benchmark req/s | its p50 ms | its p99 ms | ingest / limit |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    for (label, ingest, limit) in rows {
        out.push_str(&format!(
            "| {label} | {:.0} | {:.2} | {:.2} | {:.2} | {} | {:.0} | {:.2} | {:.2} | {:.0}% |\n",
            ingest.requests_per_sec,
            ingest.p50_ms,
            ingest.p99_ms,
            ingest.p999_ms,
            ingest.errors,
            limit.requests_per_sec,
            limit.p50_ms,
            limit.p99_ms,
            100.0 * ingest.requests_per_sec / limit.requests_per_sec
        ));
    }
    out
}

/// The benchmark's own `redis-server`.
struct BenchRedis {
    child: Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl BenchRedis {
    fn start(extra: &[&str]) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let dir = std::env::temp_dir().join(format!("webhook-bench-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
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
            .args(["--dir", &dir.display().to_string()])
            .args(extra)
            .stdout(Stdio::null())
            .spawn()
            .context("start redis-server (install it: apt-get install redis-server)")?;
        let redis = Self { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while redis.cli::<String>(&["PING"]).is_err() {
            if Instant::now() > deadline {
                bail!("redis-server did not start on port {port}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(redis)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn cli<T: redis::FromRedisValue>(&self, args: &[&str]) -> anyhow::Result<T> {
        let mut connection = redis::Client::open(self.url())?.get_connection()?;
        let mut command = redis::cmd(args[0]);
        for arg in &args[1..] {
            command.arg(*arg);
        }
        Ok(command.query(&mut connection)?)
    }

    fn flush(&self) -> anyhow::Result<()> {
        self.cli::<String>(&["FLUSHALL"]).map(|_| ())
    }
}

impl Drop for BenchRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
