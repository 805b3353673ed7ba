//! Which connection serves the ingest's hot path: the ingest's one script
//! call per event from many concurrent tasks, over one multiplexed
//! connection ([`webhook_redis::connect::shared`], what the ingest and the
//! worker use) against a deadpool-redis pool with a connection checked out
//! per call. Starts its own `redis-server`; prints a Markdown table, and
//! asserts nothing.
//!
//! `cargo bench -p webhook-redis --bench pool`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    dead_code,
    unreachable_pub
)]

#[path = "../../tests/support/redis_server.rs"]
mod redis_server;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis_server::RedisServer;
use webhook_redis::{key, script};

/// The ingest's call for one new event, as `EventStore::store` makes it.
fn invocation(id: u64) -> redis::Cmd {
    let body = vec![b'x'; 1024];
    let envelope = webhook_core::Envelope::new(format!("e-{id}"), "bench.event", "bench", body);
    let hash = redis::Script::new(script::INGEST).get_hash().to_owned();
    let mut command = redis::cmd("EVALSHA");
    command
        .arg(hash)
        .arg(2)
        .arg(key::seen("pool", "bench", &envelope.id))
        .arg(key::events("pool"))
        .arg(60_000)
        .arg("1")
        .arg(0);
    for (field, value) in envelope.encode().fields() {
        command.arg(field).arg(value);
    }
    command
}

/// Calls per second and the p50/p99 of one call, in ms.
struct Figure {
    calls_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
}

async fn drive<F, Fut>(tasks: usize, duration: Duration, call: F) -> Figure
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let call = Arc::new(call);
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let (call, next) = (Arc::clone(&call), Arc::clone(&next));
        handles.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while started.elapsed() < duration {
                let id = next.fetch_add(1, Ordering::Relaxed);
                let sent = Instant::now();
                call(id).await;
                latencies.push(sent.elapsed());
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for handle in handles {
        all.extend(handle.await.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    let at = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)].as_secs_f64() * 1e3;
    Figure {
        calls_per_sec: all.len() as f64 / elapsed,
        p50_ms: at(0.5),
        p99_ms: at(0.99),
    }
}

fn main() {
    let redis = RedisServer::start();
    let quick = std::env::args().any(|a| a == "--quick");
    let duration = Duration::from_secs(if quick { 1 } else { 5 });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    // Load the script once, as the ingest's first EVALSHA miss would.
    let _: String = redis::cmd("SCRIPT")
        .arg("LOAD")
        .arg(script::INGEST)
        .query(&mut redis.connection())
        .unwrap();
    let mut rows = Vec::new();
    for tasks in [1, 50, 256] {
        let target = webhook_redis::connect::target(&redis.url(), Duration::from_secs(2)).unwrap();
        let shared = {
            let _entered = runtime.enter();
            webhook_redis::connect::shared(&target, Duration::from_secs(2)).unwrap()
        };
        let multiplexed = runtime.block_on(drive(tasks, duration, move |id| {
            let mut connection = shared.clone();
            async move {
                let _: Vec<String> = invocation(id).query_async(&mut connection).await.unwrap();
            }
        }));
        let _: () = redis::cmd("FLUSHDB")
            .query(&mut redis.connection())
            .unwrap();
        let mut pooled = Vec::new();
        for size in [8, tasks.max(1)] {
            let pool = {
                let _entered = runtime.enter();
                let mut config = deadpool_redis::Config::from_url(redis.url());
                config.pool = Some(deadpool_redis::PoolConfig::new(size));
                config
                    .create_pool(Some(deadpool_redis::Runtime::Tokio1))
                    .unwrap()
            };
            let figure = runtime.block_on(drive(tasks, duration, move |id| {
                let pool = pool.clone();
                async move {
                    let mut connection = pool.get().await.unwrap();
                    let _: Vec<String> = invocation(id).query_async(&mut connection).await.unwrap();
                }
            }));
            let _: () = redis::cmd("FLUSHDB")
                .query(&mut redis.connection())
                .unwrap();
            pooled.push((size, figure));
        }
        rows.push((tasks, multiplexed, pooled));
    }
    println!(
        "The ingest's script call (1 KiB event) from concurrent tasks on a one-thread runtime, \
         {}s each, Redis on the same machine:\n",
        duration.as_secs()
    );
    println!("| tasks | connection | calls/s | p50 ms | p99 ms |\n|---|---|---|---|---|");
    for (tasks, multiplexed, pooled) in &rows {
        println!(
            "| {tasks} | one multiplexed connection | {:.0} | {:.3} | {:.3} |",
            multiplexed.calls_per_sec, multiplexed.p50_ms, multiplexed.p99_ms
        );
        for (size, figure) in pooled {
            println!(
                "| {tasks} | deadpool-redis, {size} connections, one checked out per call | {:.0} | {:.3} | {:.3} |",
                figure.calls_per_sec, figure.p50_ms, figure.p99_ms
            );
        }
    }
}
