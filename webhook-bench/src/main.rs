//! The benchmark: the ingest against Redis's own limit, and the worker's
//! drain rate, on this machine, in one run.
//!
//! `cargo run --release -p webhook-bench [-- --quick]`
//!
//! Starts its own `redis-server` (persistence off, then AOF `everysec`).
//! The ingest runs in this process, driven by a built-in HTTP/1.1 load
//! generator over keep-alive connections (signed 1 KiB GitHub deliveries
//! with distinct delivery ids); beside it, `redis-benchmark` runs the exact
//! script call one request costs. The worker drains queued 1 KiB events
//! through a no-op handler at several concurrencies, and the Redis
//! commands per event are counted. The `cluster` part runs the ingest and
//! a drain on one Redis and on a local three-master Redis Cluster (the
//! queue in one stream, then in six partitions). Prints Markdown tables;
//! numbers are never asserted.

mod cluster;
mod drain;
mod ingest;
mod latency;
mod memory;
mod openloop;
mod redis_server;
mod shipped;
mod wrk;

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
    /// Concurrent connections (and redis-benchmark clients); default 1, 50
    /// and 256 (50 alone with --quick).
    #[arg(long)]
    connections: Option<usize>,
    /// Seconds of load per ingest measurement.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Run only one part: `shipped` (the binaries from outside), `ingest`,
    /// `drain` or `latency` (in-process, for profiling), or `cluster` (one
    /// Redis against a local Redis Cluster).
    #[arg(long, value_parser = ["shipped", "ingest", "drain", "latency", "cluster"])]
    only: Option<String>,
    /// Seconds of each fixed-rate tail measurement (default 20; 2 with --quick).
    #[arg(long)]
    tail_seconds: Option<u64>,
    /// Write the tables to this file too.
    #[arg(long)]
    output: Option<std::path::PathBuf>,
}

pub(crate) const BODY_BYTES: usize = 1024;

/// One ingest measurement beside Redis's limit.
struct IngestRow {
    label: &'static str,
    connections: usize,
    measured: Measured,
    limit: Measured,
    /// Peak RSS of this process (ingest and load generator) during the load.
    peak_mb: Option<f64>,
}

/// Throughput and latency of one load.
pub(crate) struct Measured {
    /// How long the load ran, in seconds.
    pub(crate) elapsed_secs: f64,
    pub(crate) requests_per_sec: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) p999_ms: f64,
    pub(crate) errors: u64,
}

fn main() -> anyhow::Result<std::process::ExitCode> {
    // Run again as a worker binary by the `shipped` part: exactly what an
    // application's `main` on `cli::worker_main` does, with its runtime.
    if let Ok(addr) = std::env::var(openloop::TRIVIAL_MODE) {
        openloop::serve_trivial(&addr, std::env::var("WEBHOOK_BENCH_TRIVIAL_REDIS").ok())?;
        return Ok(std::process::ExitCode::SUCCESS);
    }
    if let Some(mode) = std::env::var_os(shipped::WORKER_MODE) {
        let runtime = if mode == "current-thread" {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
        } else {
            tokio::runtime::Runtime::new()?
        };
        return Ok(runtime.block_on(webhook_worker::cli::worker_main(async |worker| Ok(worker))));
    }
    let args = Args::parse();
    // The engine's figures, as before: warnings only (RUST_LOG changes it),
    // not the line per request and run the worker would log by default.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    let seconds = if args.quick { 1 } else { args.seconds };
    let part = |name: &str| args.only.as_deref().is_none_or(|only| only == name);
    let connection_counts: Vec<usize> = match args.connections {
        Some(n) => vec![n],
        None if args.quick => vec![50],
        None => vec![1, 50, 256],
    };
    let mut shipped_rows = Vec::new();
    let mut shipped_limit = None;
    let mut shipped_drains = Vec::new();
    let mut shipped_tails = Vec::new();
    if part("shipped") {
        let webhook = shipped::webhook_binary()?;
        let duration = Duration::from_secs(seconds);
        let rounds = if args.quick { 1 } else { 3 };
        let redis = BenchRedis::start(&[])?;
        for round in 1..=rounds {
            for log in [None, Some("warn")] {
                shipped_rows.push(shipped::measure_ingest(
                    &webhook,
                    &redis,
                    &format!("no persistence, round {round}"),
                    log,
                    None,
                    50,
                    duration,
                )?);
                redis.flush()?;
            }
        }
        shipped_limit = Some(ingest::redis_benchmark(
            &redis,
            50,
            if args.quick { 10_000 } else { 200_000 },
        )?);
        redis.flush()?;
        let aof = BenchRedis::start(&["--appendonly", "yes", "--appendfsync", "everysec"])?;
        shipped_rows.push(shipped::measure_ingest(
            &webhook,
            &aof,
            "AOF everysec",
            None,
            None,
            50,
            duration,
        )?);
        drop(aof);
        if !args.quick {
            shipped_rows.push(shipped::measure_ingest(
                &webhook,
                &redis,
                "TOKIO_WORKER_THREADS=1, no persistence",
                None,
                Some("1"),
                50,
                duration,
            )?);
            redis.flush()?;
        }
        // Tails at a quarter and a half of the shipped ingest's median
        // rate (default log level, no persistence).
        let mut rates: Vec<f64> = shipped_rows
            .iter()
            .filter(|r| r.log == "info (default)" && r.label.starts_with("no persistence"))
            .map(|r| r.measured.requests_per_sec)
            .collect();
        rates.sort_by(f64::total_cmp);
        if let Some(&max) = rates.get(rates.len() / 2) {
            let fractions: &[f64] = if args.quick { &[0.5] } else { &[0.25, 0.5] };
            let tail_seconds = args.tail_seconds.unwrap_or(if args.quick { 2 } else { 20 });
            for &fraction in fractions {
                let rate = (max * fraction) as u64;
                shipped_tails.push(shipped::measure_tails(
                    &webhook,
                    &redis,
                    rate,
                    Duration::from_secs(tail_seconds),
                )?);
            }
        }
        let events = if args.quick { 10_000 } else { 100_000 };
        let runs: &[(&'static str, &[&str])] = if args.quick {
            &[("current-thread", &[])]
        } else {
            &[
                ("multi-thread", &[]),
                ("current-thread", &[]),
                ("multi-thread", &["--concurrency", "64"]),
                ("current-thread", &["--concurrency", "64"]),
            ]
        };
        for &(runtime, flags) in runs {
            shipped_drains.push(shipped::measure_drain(&redis, events, runtime, flags)?);
        }
    }
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
        for &connections in &connection_counts {
            memory::reset_peak();
            let measured =
                ingest::measure_ingest(&redis, connections, Duration::from_secs(seconds))?;
            let peak = memory::peak_mb();
            redis.flush()?;
            // redis-benchmark at one client is slow: fewer requests keep the run short.
            let requests = match (args.quick, connections) {
                (true, _) => 10_000,
                (false, 1) => 30_000,
                (false, _) => 200_000,
            };
            let limit = ingest::redis_benchmark(&redis, connections, requests)?;
            redis.flush()?;
            rows.push(IngestRow {
                label,
                connections,
                measured,
                limit,
                peak_mb: peak,
            });
        }
    }
    let mut drains = Vec::new();
    let redis = BenchRedis::start(&[])?;
    let runs: &[(u64, usize)] = if args.quick {
        &[(2_000, 1), (10_000, 64)]
    } else {
        &[(100_000, 1), (100_000, 64), (100_000, 256)][..]
    };
    for &(events, concurrency) in runs.iter().filter(|_| part("drain")) {
        drains.push(drain::measure_drain(&redis, events, concurrency)?);
    }
    let mut latencies = Vec::new();
    if part("latency") {
        let seconds = if args.quick { 2 } else { 10 };
        let retries = if args.quick { 20 } else { 200 };
        // Half the measured maximum (no persistence, 50 connections), as
        // the targets ask; 2,000/s when the ingest part did not run.
        let rate = rows
            .iter()
            .find(|r| r.label == "no persistence" && r.connections == 50)
            .map_or(2_000, |r| (r.measured.requests_per_sec / 2.0) as u64);
        let mut rates = vec![rate];
        if rate != 2_000 {
            rates.push(2_000);
        }
        for rate in rates {
            latencies.push(latency::measure_latency(
                &redis,
                rate,
                Duration::from_secs(seconds),
                retries,
            )?);
        }
    }
    let mut clustered = Vec::new();
    if part("cluster") {
        let events = if args.quick { 5_000 } else { 100_000 };
        let duration = Duration::from_secs(seconds);
        let redis = BenchRedis::start(&[])?;
        clustered.push(cluster::measure(
            &cluster::Place::Single(&redis),
            duration,
            events,
        )?);
        drop(redis);
        let nodes = cluster::BenchCluster::start(3)?;
        for partitions in [1, 6] {
            clustered.push(cluster::measure(
                &cluster::Place::Cluster(&nodes, partitions),
                duration,
                events,
            )?);
        }
    }
    let report = format!(
        "{}\n{}\n{}\n{}\n{}",
        render_shipped(&shipped_rows, shipped_limit.as_ref(), &shipped_drains)
            + &render_tails(&shipped_tails),
        render_ingest(&rows),
        render_drain(&drains),
        render_latency(&latencies),
        render_cluster(&clustered)
    );
    #[allow(clippy::print_stdout)] // the report is the program's output
    {
        println!("{report}");
    }
    if let Some(path) = args.output {
        std::fs::write(&path, &report).with_context(|| format!("write {}", path.display()))?;
    }
    Ok(std::process::ExitCode::SUCCESS)
}

fn render_cluster(rows: &[cluster::ClusterRow]) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "One Redis against a local Redis Cluster of three masters on the same machine, in the \
         same run: the ingest in process at 50 connections (the built-in generator), then a \
         worker on a one-thread runtime at concurrency 256 draining queued 1 KiB events through \
         a no-op handler. Redis commands are counted on every master from its `INFO commandstats`, \
         which counts each command a script runs as well as the script call (`evalsha`) itself; \
         the cluster client's own topology reads and the benchmark's probes are left out.\n\n\
         | where | ingest req/s | p50 ms | p99 ms | Redis commands per stored event | drain events/s | Redis commands per drained event | of which |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for row in rows {
        let total: f64 = row.drain_calls.values().sum();
        let mut top: Vec<(&String, &f64)> = row.drain_calls.iter().collect();
        top.sort_by(|a, b| b.1.total_cmp(a.1));
        let top: Vec<String> = top
            .iter()
            .take(5)
            .map(|(name, n)| format!("{name} {n:.2}"))
            .collect();
        out.push_str(&format!(
            "| {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.0} | {:.2} | {} |\n",
            row.label,
            row.ingest.requests_per_sec,
            row.ingest.p50_ms,
            row.ingest.p99_ms,
            row.ingest_calls,
            row.drain_events_per_sec,
            total,
            top.join(", ")
        ));
    }
    out
}

/// Which load generator drives the shipped ingest: `wrk` when it is
/// installed, the built-in one otherwise.
fn generator_note() -> String {
    match wrk::version() {
        Some(version) => {
            format!("`{version}`, one thread, a Lua script giving every request a new delivery id")
        }
        None => "this benchmark's built-in HTTP/1.1 load generator, on one thread; \
                 `wrk` is not installed (`apt-get install wrk` makes it the generator)"
            .to_owned(),
    }
}

fn render_tails(tails: &[shipped::Tails]) -> String {
    if tails.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "\nTails at fixed rates: an open-loop load (each request has a scheduled send time and its \
         latency runs from that time, so a stall is charged for every request it delays; one OS \
         thread per connection, 50 keep-alive connections) against a trivial HTTP server (hyper \
         on a multi-thread runtime, a fixed 200 after reading the body; this benchmark run again \
         in that role), the same server making the ingest's one Redis call per request (its \
         script on one multiplexed connection, as the ingest makes it), then `webhook ingest` \
         with its defaults and at `RUST_LOG=warn`, in the same run; CPU per request is each \
         server process's. The \
         rates are a quarter and a half of the shipped ingest's median rate above.\n\n\
         The two window columns are the p99 of each second of scheduled send times: the median \
         second, and the worst; a pause of the machine spoils a second or two and the whole \
         run's p99, while the median second shows the server's steady tail.\n\n\
         | rate/s | server | requests | p50 ms | p99 ms | p99.9 ms | max ms | p99 median second ms | p99 worst second ms | non-2xx | server CPU µs/req |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for tails in tails {
        for (name, t) in [
            ("trivial server", &tails.baseline),
            (
                "trivial server + the ingest's Redis call",
                &tails.with_redis,
            ),
            ("`webhook ingest`", &tails.ingest),
            ("`webhook ingest`, `RUST_LOG=warn`", &tails.ingest_at_warn),
        ] {
            out.push_str(&format!(
                "| {} | {name} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} |\n",
                t.rate,
                t.sent,
                t.p50_ms,
                t.p99_ms,
                t.p999_ms,
                t.max_ms,
                t.window_p99_median_ms,
                t.window_p99_worst_ms,
                t.errors,
                t.cpu_us
                    .map_or_else(|| "?".to_owned(), |us| format!("{us:.1}")),
            ));
        }
    }
    out
}

fn render_shipped(
    rows: &[shipped::ShippedIngest],
    limit: Option<&Measured>,
    drains: &[shipped::ShippedDrain],
) -> String {
    if rows.is_empty() && drains.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "The shipped binaries, measured from outside: `webhook ingest` as its own process with \
         its default settings (one `github` source), its log lines read from a pipe as a log \
         collector would, driven by {} \
         over 50 keep-alive connections, every request a new signed 1 KiB delivery. CPU \
         per request is each process's user and system time over the load, divided by the \
         requests. Load generator, ingest and Redis share this machine ({} cores).\n\n\
         | Redis | log level | req/s | p50 ms | p99 ms | p99.9 ms | non-200 | ingest CPU µs/req | Redis CPU µs/req | log bytes/req | RSS MB idle / after |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n",
        generator_note(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    for row in rows {
        let m = &row.measured;
        out.push_str(&format!(
            "| {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {} | {:.1} | {:.1} | {:.0} | {} / {} |\n",
            row.label,
            row.log,
            m.requests_per_sec,
            m.p50_ms,
            m.p99_ms,
            m.p999_ms,
            m.errors,
            row.ingest_cpu_us,
            row.redis_cpu_us,
            row.log_bytes,
            row.idle_mb
                .map_or_else(|| "?".to_owned(), |mb| format!("{mb:.1}")),
            row.after_mb
                .map_or_else(|| "?".to_owned(), |mb| format!("{mb:.1}")),
        ));
    }
    let median = |log: &str| {
        let mut rates: Vec<f64> = rows
            .iter()
            .filter(|r| r.log == log && r.label.starts_with("no persistence"))
            .map(|r| r.measured.requests_per_sec)
            .collect();
        rates.sort_by(f64::total_cmp);
        rates.get(rates.len() / 2).copied()
    };
    if let (Some(info), Some(warn)) = (median("info (default)"), median("warn")) {
        out.push_str(&format!(
            "\nMedian without persistence: {info:.0} req/s at the default log level, {warn:.0} at `warn` \
             (the default costs {:.1}%).",
            100.0 * (1.0 - info / warn)
        ));
        if let Some(limit) = limit {
            out.push_str(&format!(
                " `redis-benchmark`, the same script at 50 clients, in the same Redis: {:.0} calls/s; \
                 the shipped ingest reaches {:.0}% of it.",
                limit.requests_per_sec,
                100.0 * info / limit.requests_per_sec
            ));
        }
        if let Some(aof) = rows.iter().find(|r| r.label.starts_with("AOF")) {
            out.push_str(&format!(
                " AOF `everysec`: {:.0}% of no persistence.",
                100.0 * aof.measured.requests_per_sec / info
            ));
        }
        out.push('\n');
    }
    if !drains.is_empty() {
        out.push_str(
            "\nA worker binary from outside: `cli::worker_main` with one no-op handler (this \
             benchmark run again in that role) on the runtime `#[tokio::main]` builds \
             (`multi-thread`) or `#[tokio::main(flavor = \"current_thread\")]` builds, its default \
             flags plus those shown, \
             draining queued 1 KiB events until every entry is acknowledged; the time includes \
             its start-up.\n\n\
             | events | runtime | flags | events/s | worker CPU µs/event | Redis CPU µs/event | worker peak RSS MB |\n\
             |---|---|---|---|---|---|---|\n",
        );
        for d in drains {
            out.push_str(&format!(
                "| {} | {} | {} | {:.0} | {:.1} | {:.1} | {} |\n",
                d.events,
                d.runtime,
                d.flags,
                d.events_per_sec,
                d.worker_cpu_us,
                d.redis_cpu_us,
                d.peak_mb
                    .map_or_else(|| "?".to_owned(), |mb| format!("{mb:.1}")),
            ));
        }
    }
    out
}

fn render_ingest(rows: &[IngestRow]) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "Ingest of signed 1 KiB GitHub deliveries over keep-alive connections (built-in HTTP/1.1 load \
         generator in this process), beside `redis-benchmark` running the same script call (`EVALSHA` \
         ingest.lua: GET + XLEN + XADD + SET) with as many clients. Server, load generator and Redis \
         share this machine ({} cores). Peak RSS is this benchmark process's high-water mark so far \
         (ingest, load generator, and whatever earlier phases left allocated).\n\n\
         | Redis | connections | ingest req/s | p50 ms | p99 ms | p99.9 ms | non-200 | redis-benchmark req/s | its p50 ms | its p99 ms | ingest / limit | peak RSS MB |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|\n",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    for row in rows {
        let (ingest, limit) = (&row.measured, &row.limit);
        out.push_str(&format!(
            "| {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {} | {:.0} | {:.2} | {:.2} | {:.0}% | {} |\n",
            row.label,
            row.connections,
            ingest.requests_per_sec,
            ingest.p50_ms,
            ingest.p99_ms,
            ingest.p999_ms,
            ingest.errors,
            limit.requests_per_sec,
            limit.p50_ms,
            limit.p99_ms,
            100.0 * ingest.requests_per_sec / limit.requests_per_sec,
            row.peak_mb.map_or_else(|| "?".to_owned(), |mb| format!("{mb:.1}")),
        ));
    }
    out
}

fn render_drain(drains: &[drain::Drained]) -> String {
    if drains.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "Worker drain: queued 1 KiB events through a no-op handler (Redis without persistence, \
         worker in this process on a one-thread runtime), until every entry is acknowledged. Commands per event count \
         what the worker sends and, inside its scripts, what they run (`get`, `set`). Peak RSS as \
         above: the process's high-water mark so far.\n\n\
         | events | concurrency | events/s | Redis commands per event | Redis bytes per queued event | peak RSS MB |\n|---|---|---|---|---|---|\n",
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
            "| {} | {} | {:.0} | {total:.2} ({}) | {:.0} | {} |\n",
            drain.events,
            drain.concurrency,
            drain.events_per_sec,
            detail.join(", "),
            drain.redis_bytes_per_event,
            drain
                .peak_mb
                .map_or_else(|| "?".to_owned(), |mb| format!("{mb:.1}")),
        ));
    }
    out
}

fn render_latency(rows: &[latency::Latency]) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "End to end: signed requests sent at a steady rate over keep-alive connections (about \
         one per thousand requests a second), through the ingest to a no-op handler (ingest and \
         worker in this process, Redis without persistence), timed from the client's send to the \
         handler's start (worker at its default concurrency, {}); the rate is half the ingest's measured maximum (no persistence, 50 \
         connections), and a moderate 2,000/s. Retry lateness: handlers that ask for a retry after 200 ms, timed from the \
         failure plus 200 ms to the retry's start. Idle RSS: this process with the ingest and a \
         worker started, before the load (it includes what earlier phases left allocated; run \
         `--only latency` for a clean figure).\n\n\
         | rate/s | events | p50 ms | p99 ms | retries | retry lateness p50 ms | p99 ms | idle RSS MB |\n\
         |---|---|---|---|---|---|---|---|\n",
        webhook_worker::worker::DEFAULT_CONCURRENCY
    );
    for row in rows {
        out.push_str(&format!(
            "| {} | {} | {:.2} | {:.2} | {} | {:.1} | {:.1} | {} |\n",
            row.rate,
            row.samples,
            row.p50_ms,
            row.p99_ms,
            row.retry_samples,
            row.retry_p50_ms,
            row.retry_p99_ms,
            row.idle_mb
                .map_or_else(|| "?".to_owned(), |mb| format!("{mb:.1}")),
        ));
    }
    out
}
