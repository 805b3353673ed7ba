//! Worker drain: queued events through a no-op handler, and the Redis
//! commands each event costs.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use webhook_core::handler::HandlerError;
use webhook_core::{Envelope, Event, RawBody};
use webhook_macros::webhook_handler;
use webhook_worker::worker::Worker;

use crate::BODY_BYTES;
use crate::redis_server::BenchRedis;

static HANDLED: AtomicU64 = AtomicU64::new(0);

#[webhook_handler(
    "bench.noop",
    queue = "drain",
    name = "bench-noop",
    crate = "webhook_worker::webhook_core"
)]
async fn noop(_event: Event<RawBody>) -> Result<(), HandlerError> {
    HANDLED.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// One drain measurement.
pub(crate) struct Drained {
    pub(crate) events: u64,
    pub(crate) concurrency: usize,
    pub(crate) events_per_sec: f64,
    /// Redis commands per event, by command (the benchmark's own probes excluded).
    pub(crate) commands: BTreeMap<String, f64>,
    /// Redis memory per queued event, in bytes.
    pub(crate) redis_bytes_per_event: f64,
    /// Peak RSS of this process (the worker) while draining, in MB.
    pub(crate) peak_mb: Option<f64>,
}

/// Queues `events` 1 KiB events, then times a worker at `concurrency`
/// until every one is handled and acknowledged.
pub(crate) fn measure_drain(
    redis: &BenchRedis,
    events: u64,
    concurrency: usize,
) -> anyhow::Result<Drained> {
    redis.flush()?;
    let before = redis.used_memory()?;
    fill(redis, events)?;
    let redis_bytes_per_event = redis.used_memory()?.saturating_sub(before) as f64 / events as f64;
    crate::memory::reset_peak();
    redis.cli::<String>(&["CONFIG", "RESETSTAT"])?;
    let elapsed = run_worker(&redis.url(), events, concurrency, || {
        redis.pending("webhook:{drain}:events", "workers")
    })?;
    let peak_mb = crate::memory::peak_mb();
    let mut commands = redis.command_calls()?;
    for probe in ["info", "config|resetstat", "xpending", "ping"] {
        commands.remove(probe);
    }
    Ok(Drained {
        events,
        concurrency,
        events_per_sec: events as f64 / elapsed.as_secs_f64(),
        commands: commands
            .into_iter()
            .map(|(name, calls)| (name, calls as f64 / events as f64))
            .collect(),
        redis_bytes_per_event,
        peak_mb,
    })
}

/// Times a worker on `url` at `concurrency` (on a one-thread runtime)
/// until it handled `events` and `pending` says nothing is left pending.
pub(crate) fn run_worker(
    url: &str,
    events: u64,
    concurrency: usize,
    pending: impl Fn() -> anyhow::Result<u64>,
) -> anyhow::Result<Duration> {
    HANDLED.store(0, Ordering::Relaxed);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let worker = Worker::builder()
            .redis_url(url)
            .queue("drain")
            .consumer("bench")
            .concurrency(concurrency)
            .build()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let started = Instant::now();
        let running = tokio::spawn(worker.run(async {
            let _ = stopped.await;
        }));
        while HANDLED.load(Ordering::Relaxed) < events {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        while pending()? > 0 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let elapsed = started.elapsed();
        let _ = stop.send(());
        running.await??;
        Ok::<_, anyhow::Error>(elapsed)
    })
}

pub(crate) fn fill(redis: &BenchRedis, events: u64) -> anyhow::Result<()> {
    let mut connection = redis::Client::open(redis.url())?.get_connection()?;
    let body = vec![b'x'; BODY_BYTES];
    for chunk in 0..events.div_ceil(1000) {
        let mut pipe = redis::pipe();
        for i in chunk * 1000..((chunk + 1) * 1000).min(events) {
            let envelope = Envelope::new(format!("e-{i}"), "bench.noop", "bench", body.clone());
            let encoded = envelope.encode();
            let command = pipe.cmd("XADD").arg("webhook:{drain}:events").arg("*");
            for (field, value) in encoded.fields() {
                command.arg(field).arg(value);
            }
            command.ignore();
        }
        let _: () = pipe.query(&mut connection).context("queue the events")?;
    }
    Ok(())
}
