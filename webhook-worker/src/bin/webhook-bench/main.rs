//! The benchmark: the ingest against Redis's own limit, and the worker's
//! drain rate, on this machine, in one run.
//!
//! `cargo run --release -p webhook-worker --bin webhook-bench [-- --quick]`
//!
//! Starts its own `redis-server` (persistence off, then AOF `everysec`).
//! The ingest runs in this process, driven by a built-in HTTP/1.1 load
//! generator over keep-alive connections (signed 1 KiB GitHub deliveries
//! with distinct delivery ids); beside it, `redis-benchmark` runs the exact
//! script call one request costs. The worker drains queued 1 KiB events
//! through a no-op handler at several concurrencies, and the Redis
//! commands per event are counted. Prints Markdown tables; numbers are
//! never asserted.

mod drain;
mod ingest;
mod latency;
mod redis_server;

use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;

use redis_server::BenchRedis;

#[derive(Parser)]
#[command(about = "Measure the ingest beside Redis's own limit, and the worker's drain rate")]
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
    /// Run only one part: `ingest` or `drain` (for profiling).
    #[arg(long, value_parser = ["ingest", "drain", "latency"])]
    only: Option<String>,
    /// Write the tables to this file too.
    #[arg(long)]
    output: Option<std::path::PathBuf>,
}

pub(crate) const BODY_BYTES: usize = 1024;

/// Throughput and latency of one load.
pub(crate) struct Measured {
    pub(crate) requests_per_sec: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) p999_ms: f64,
    pub(crate) errors: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let seconds = if args.quick { 1 } else { args.seconds };
    let part = |name: &str| args.only.as_deref().is_none_or(|only| only == name);
    let mut rows = Vec::new();
    for (label, extra) in [
        ("no persistence", &[][..]),
        (
            "AOF everysec",
            &["--appendonly", "yes", "--appendfsync", "everysec"][..],
        ),
    ] {
        if !part("ingest") {
            break;
        }
        let redis = BenchRedis::start(extra)?;
        let measured =
            ingest::measure_ingest(&redis, args.connections, Duration::from_secs(seconds))?;
        redis.flush()?;
        let limit = ingest::redis_benchmark(
            &redis,
            args.connections,
            if args.quick { 20_000 } else { 200_000 },
        )?;
        rows.push((label, measured, limit));
    }
    let mut drains = Vec::new();
    let redis = BenchRedis::start(&[])?;
    let runs: &[(u64, usize)] = if args.quick {
        &[(2_000, 1), (10_000, 64)]
    } else {
        &[(20_000, 1), (100_000, 64), (100_000, 256)]
    };
    for &(events, concurrency) in runs.iter().filter(|_| part("drain")) {
        drains.push(drain::measure_drain(&redis, events, concurrency)?);
    }
    let mut latencies = Vec::new();
    if part("latency") {
        let seconds = if args.quick { 2 } else { 10 };
        let retries = if args.quick { 20 } else { 200 };
        latencies.push(latency::measure_latency(
            &redis,
            2_000,
            Duration::from_secs(seconds),
            retries,
        )?);
    }
    let report = format!(
        "{}\n{}\n{}",
        render_ingest(&rows, args.connections),
        render_drain(&drains),
        render_latency(&latencies)
    );
    #[allow(clippy::print_stdout)] // the report is the program's output
    {
        println!("{report}");
    }
    if let Some(path) = args.output {
        std::fs::write(&path, &report).with_context(|| format!("write {}", path.display()))?;
    }
    Ok(())
}

fn render_ingest(rows: &[(&str, Measured, Measured)], connections: usize) -> String {
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

fn render_drain(drains: &[drain::Drained]) -> String {
    let mut out = String::from(
        "Worker drain: queued 1 KiB events through a no-op handler (Redis without persistence, \
         worker in this process on a one-thread runtime), until every entry is acknowledged. Commands per event count \
         what the worker sends and, inside its scripts, what they run (`get`, `set`).\n\n\
         | events | concurrency | events/s | Redis commands per event |\n|---|---|---|---|\n",
    );
    for drain in drains {
        let total: f64 = drain.commands.values().sum();
        let detail: Vec<String> = drain
            .commands
            .iter()
            .filter(|(_, per)| **per >= 0.01)
            .map(|(name, per)| format!("{name} {per:.2}"))
            .collect();
        out.push_str(&format!(
            "| {} | {} | {:.0} | {total:.2} ({}) |\n",
            drain.events,
            drain.concurrency,
            drain.events_per_sec,
            detail.join(", ")
        ));
    }
    out
}

fn render_latency(rows: &[latency::Latency]) -> String {
    let mut out = String::from(
        "End to end: signed requests sent at a steady rate over 8 keep-alive connections, through \
         the ingest to a no-op handler (ingest and worker in this process, Redis without \
         persistence), timed from the client's send to the handler's start. Retry lateness: \
         handlers that ask for a retry after 200 ms, timed from the failure plus 200 ms to the \
         retry's start.\n\n\
         | rate/s | events | p50 ms | p99 ms | retries | retry lateness p50 ms | p99 ms |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for row in rows {
        out.push_str(&format!(
            "| {} | {} | {:.2} | {:.2} | {} | {:.1} | {:.1} |\n",
            row.rate,
            row.samples,
            row.p50_ms,
            row.p99_ms,
            row.retry_samples,
            row.retry_p50_ms,
            row.retry_p99_ms
        ));
    }
    out
}
