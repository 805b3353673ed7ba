//! The shipped binaries measured from outside: `webhook ingest` and a
//! worker binary on `cli::worker_main`, each its own process with its
//! default settings and log level, driven by this process.
//!
//! CPU per request and per event come from `/proc/<pid>/stat` (user and
//! system time of each process), which stays steady on a shared machine
//! where rates do not.

use std::io::Read as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::Measured;
use crate::redis_server::BenchRedis;

/// Set in the environment of this benchmark run again as a worker binary.
pub(crate) const WORKER_MODE: &str = "WEBHOOK_BENCH_WORKER";

/// The `webhook` command beside this benchmark, built first when the
/// benchmark runs under `cargo run` (so it is never stale).
pub(crate) fn webhook_binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe.parent().context("the benchmark's directory")?;
    if let Ok(cargo) = std::env::var("CARGO") {
        let profile = if dir.ends_with("release") {
            &["--release"][..]
        } else {
            &[][..]
        };
        let status = Command::new(cargo)
            .args([
                "build",
                "--quiet",
                "-p",
                "webhook-worker",
                "--bin",
                "webhook",
            ])
            .args(profile)
            .status()
            .context("run cargo build for the `webhook` command")?;
        if !status.success() {
            bail!("cargo build of the `webhook` command failed");
        }
    }
    let path = dir.join("webhook");
    if !path.exists() {
        bail!(
            "{} is missing: build it with `cargo build --release -p webhook-worker --bin webhook`",
            path.display()
        );
    }
    Ok(path)
}

/// A process under measurement; its standard error is read (and
/// discarded, as a log collector would take it) and counted.
pub(crate) struct Process {
    child: Child,
    stderr_bytes: Arc<AtomicU64>,
}

impl Process {
    fn spawn(mut command: Command) -> anyhow::Result<Self> {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("start a measured process")?;
        let stderr_bytes = Arc::new(AtomicU64::new(0));
        if let Some(mut pipe) = child.stderr.take() {
            let counter = Arc::clone(&stderr_bytes);
            std::thread::spawn(move || {
                let mut buffer = [0u8; 64 * 1024];
                while let Ok(n) = pipe.read(&mut buffer) {
                    if n == 0 {
                        break;
                    }
                    counter.fetch_add(n as u64, Ordering::Relaxed);
                }
            });
        }
        Ok(Self {
            child,
            stderr_bytes,
        })
    }

    /// User plus system CPU seconds the process has used.
    fn cpu_seconds(&self) -> f64 {
        cpu_seconds(self.child.id())
    }

    fn stderr_bytes(&self) -> u64 {
        self.stderr_bytes.load(Ordering::Relaxed)
    }

    /// The resident set (`VmRSS:`) or its peak (`VmHWM:`), in MB.
    fn rss_mb(&self, field: &str) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let kb: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix(field))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kb / 1024.0)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// User plus system CPU seconds of process `pid` (Linux; 0 elsewhere).
pub(crate) fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces) in parentheses.
    let Some(rest) = stat.rsplit_once(')').map(|(_, rest)| rest) else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 here.
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<f64>().ok())
        .sum();
    // USER_HZ, which Linux exports as 100 on every architecture it runs on.
    ticks / 100.0
}

/// One measurement of `webhook ingest` from outside.
pub(crate) struct ShippedIngest {
    pub(crate) label: String,
    pub(crate) log: &'static str,
    pub(crate) measured: Measured,
    /// CPU microseconds per request: the ingest's, and Redis's.
    pub(crate) ingest_cpu_us: f64,
    pub(crate) redis_cpu_us: f64,
    /// Log bytes the ingest wrote per request.
    pub(crate) log_bytes: f64,
    /// The ingest's RSS before and after the load, in MB.
    pub(crate) idle_mb: Option<f64>,
    pub(crate) after_mb: Option<f64>,
}

/// Starts `webhook ingest` with a one-source config on a free port, at
/// the log level `rust_log` (`None`: the default, `info`).
fn start_ingest(
    webhook: &Path,
    redis: &BenchRedis,
    rust_log: Option<&str>,
    threads: Option<&str>,
    dir: &Path,
) -> anyhow::Result<(Process, SocketAddr)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let config = dir.join(format!("webhooks-{port}.toml"));
    std::fs::write(
        &config,
        format!(
            "listen = \"{addr}\"\nredis_url = \"{}\"\n\n[sources.github]\nprovider = \"github\"\n\
             secrets = [{{ env = \"BENCH_GITHUB_SECRET\" }}]\nqueue = \"bench\"\n",
            redis.url()
        ),
    )?;
    let mut command = Command::new(webhook);
    command
        .args(["ingest", "--config"])
        .arg(&config)
        .env("BENCH_GITHUB_SECRET", crate::ingest::SECRET)
        .env_remove("REDIS_URL")
        .env_remove("WEBHOOK_LISTEN")
        .env_remove("WEBHOOK_LOG_FORMAT");
    match rust_log {
        Some(level) => command.env("RUST_LOG", level),
        None => command.env_remove("RUST_LOG"),
    };
    // Tokio's own setting for the multi-thread runtime's worker threads.
    match threads {
        Some(threads) => command.env("TOKIO_WORKER_THREADS", threads),
        None => command.env_remove("TOKIO_WORKER_THREADS"),
    };
    let process = Process::spawn(command)?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ready(addr) {
        if Instant::now() > deadline {
            bail!("`webhook ingest` did not become ready on {addr}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok((process, addr))
}

/// Whether `GET /readyz` answers 200.
fn ready(addr: SocketAddr) -> bool {
    use std::io::Write as _;
    let Ok(mut stream) = std::net::TcpStream::connect(addr) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /readyz HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut answer = [0u8; 12];
    stream.read_exact(&mut answer).is_ok() && &answer[9..12] == b"200"
}

/// The tails of one rate.
pub(crate) struct Tails {
    pub(crate) baseline: crate::openloop::Tail,
    pub(crate) with_redis: crate::openloop::Tail,
    pub(crate) ingest: crate::openloop::Tail,
    pub(crate) ingest_at_warn: crate::openloop::Tail,
}

/// The open-loop tail of the trivial server, of the trivial server making
/// the ingest's Redis call, and of `webhook ingest` (its defaults, a fresh
/// process; then at `RUST_LOG=warn`) at `rate`, one after the other.
pub(crate) fn measure_tails(
    webhook: &Path,
    redis: &BenchRedis,
    rate: u64,
    duration: Duration,
) -> anyhow::Result<Tails> {
    let connections = 50;
    let requests = |addr: SocketAddr| {
        let (template, id_at) = crate::ingest::signed_request(addr);
        move |n: u64| {
            let mut request = template.clone();
            request[id_at..id_at + 20].copy_from_slice(format!("{n:020}").as_bytes());
            request
        }
    };
    // The trivial servers: this benchmark run again in that role, without
    // and with the ingest's Redis call.
    let mut baselines = Vec::new();
    for with_redis in [false, true] {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let mut command = Command::new(std::env::current_exe()?);
        command.env(crate::openloop::TRIVIAL_MODE, addr.to_string());
        if with_redis {
            command.env("WEBHOOK_BENCH_TRIVIAL_REDIS", redis.url());
        }
        let trivial = Process::spawn(command)?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(addr).is_err() {
            if Instant::now() > deadline {
                bail!("the trivial server did not start on {addr}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let before = trivial.cpu_seconds();
        let mut tail = crate::openloop::run(addr, rate, duration, connections, &requests(addr))?;
        tail.cpu_us = Some((trivial.cpu_seconds() - before) * 1e6 / tail.sent as f64);
        baselines.push(tail);
        drop(trivial);
        redis.flush()?;
    }
    let dir = std::env::temp_dir().join(format!("webhook-bench-tails-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut ingests = Vec::new();
    for level in [None, Some("warn")] {
        redis.flush()?;
        let (ingest, addr) = start_ingest(webhook, redis, level, None, &dir)?;
        let before = ingest.cpu_seconds();
        let mut measured =
            crate::openloop::run(addr, rate, duration, connections, &requests(addr))?;
        measured.cpu_us = Some((ingest.cpu_seconds() - before) * 1e6 / measured.sent as f64);
        ingests.push(measured);
        drop(ingest);
    }
    redis.flush()?;
    let _ = std::fs::remove_dir_all(&dir);
    let at_warn = ingests.pop().context("two ingest runs")?;
    let measured = ingests.pop().context("two ingest runs")?;
    let with_redis = baselines.pop().context("two baselines")?;
    let baseline = baselines.pop().context("two baselines")?;
    Ok(Tails {
        baseline,
        with_redis,
        ingest: measured,
        ingest_at_warn: at_warn,
    })
}

/// Measures `webhook ingest` at `connections`, every request a new
/// delivery, for `duration`.
pub(crate) fn measure_ingest(
    webhook: &Path,
    redis: &BenchRedis,
    label: &str,
    rust_log: Option<&'static str>,
    threads: Option<&str>,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<ShippedIngest> {
    let dir = std::env::temp_dir().join(format!("webhook-bench-shipped-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let (ingest, addr) = start_ingest(webhook, redis, rust_log, threads, &dir)?;
    std::thread::sleep(Duration::from_millis(200));
    let idle_mb = ingest.rss_mb("VmRSS:");
    let redis_pid = redis.pid();
    let (cpu_before, redis_before, log_before) = (
        ingest.cpu_seconds(),
        cpu_seconds(redis_pid),
        ingest.stderr_bytes(),
    );
    let measured = if crate::wrk::version().is_some() {
        crate::wrk::load(addr, connections, duration, &dir)?
    } else {
        let client = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        client.block_on(crate::ingest::load(addr, connections, duration))?
    };
    let requests = measured.requests_per_sec * measured.elapsed_secs;
    let result = ShippedIngest {
        label: label.to_owned(),
        log: rust_log.unwrap_or("info (default)"),
        ingest_cpu_us: (ingest.cpu_seconds() - cpu_before) * 1e6 / requests,
        redis_cpu_us: (cpu_seconds(redis_pid) - redis_before) * 1e6 / requests,
        log_bytes: (ingest.stderr_bytes() - log_before) as f64 / requests,
        measured,
        idle_mb,
        after_mb: ingest.rss_mb("VmRSS:"),
    };
    drop(ingest);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(result)
}

/// One drain by a worker binary from outside.
pub(crate) struct ShippedDrain {
    pub(crate) events: u64,
    /// `multi-thread` (`#[tokio::main]`) or `current-thread`.
    pub(crate) runtime: &'static str,
    pub(crate) flags: String,
    pub(crate) events_per_sec: f64,
    pub(crate) worker_cpu_us: f64,
    pub(crate) redis_cpu_us: f64,
    /// The worker's peak RSS, in MB.
    pub(crate) peak_mb: Option<f64>,
}

/// Queues `events`, then times this benchmark run again as a worker
/// binary (`cli::worker_main` on a `runtime` as `#[tokio::main]` builds
/// it, default flags plus `flags`) until every entry is acknowledged.
pub(crate) fn measure_drain(
    redis: &BenchRedis,
    events: u64,
    runtime: &'static str,
    flags: &[&str],
) -> anyhow::Result<ShippedDrain> {
    redis.flush()?;
    crate::drain::fill(redis, events)?;
    let mut command = Command::new(std::env::current_exe()?);
    command
        .args(flags)
        .env(WORKER_MODE, runtime)
        .env("REDIS_URL", redis.url())
        .env_remove("RUST_LOG")
        .env_remove("WEBHOOK_CONCURRENCY")
        .env_remove("WEBHOOK_QUEUES");
    let redis_pid = redis.pid();
    let redis_before = cpu_seconds(redis_pid);
    let started = Instant::now();
    let worker = Process::spawn(command)?;
    let deadline = started + Duration::from_secs(600);
    loop {
        if drained(redis, events)? {
            break;
        }
        if Instant::now() > deadline {
            bail!("the worker binary did not drain {events} events within 10 minutes");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let elapsed = started.elapsed().as_secs_f64();
    let result = ShippedDrain {
        events,
        runtime,
        flags: if flags.is_empty() {
            "(defaults)".to_owned()
        } else {
            flags.join(" ")
        },
        events_per_sec: events as f64 / elapsed,
        worker_cpu_us: worker.cpu_seconds() * 1e6 / events as f64,
        redis_cpu_us: (cpu_seconds(redis_pid) - redis_before) * 1e6 / events as f64,
        peak_mb: worker.rss_mb("VmHWM:"),
    };
    drop(worker);
    Ok(result)
}

/// Whether the worker group read all `events` and has none pending.
fn drained(redis: &BenchRedis, events: u64) -> anyhow::Result<bool> {
    let groups: redis::Value = match redis.cli(&["XINFO", "GROUPS", "webhook:{drain}:events"]) {
        Ok(groups) => groups,
        Err(_) => return Ok(false),
    };
    let redis::Value::Array(groups) = groups else {
        return Ok(false);
    };
    for group in groups {
        let fields: Vec<(String, redis::Value)> = match group {
            redis::Value::Array(items) => items
                .chunks(2)
                .filter_map(|pair| match pair {
                    [redis::Value::BulkString(k), v] => {
                        Some((String::from_utf8_lossy(k).into_owned(), v.clone()))
                    }
                    [redis::Value::SimpleString(k), v] => Some((k.clone(), v.clone())),
                    _ => None,
                })
                .collect(),
            redis::Value::Map(items) => items
                .into_iter()
                .filter_map(|(k, v)| match k {
                    redis::Value::BulkString(k) => {
                        Some((String::from_utf8_lossy(&k).into_owned(), v))
                    }
                    redis::Value::SimpleString(k) => Some((k, v)),
                    _ => None,
                })
                .collect(),
            _ => continue,
        };
        let int = |name: &str| {
            fields.iter().find_map(|(k, v)| match (k == name, v) {
                (true, redis::Value::Int(n)) => Some(*n),
                _ => None,
            })
        };
        if int("entries-read").is_some_and(|n| n as u64 >= events) && int("pending") == Some(0) {
            return Ok(true);
        }
    }
    Ok(false)
}
