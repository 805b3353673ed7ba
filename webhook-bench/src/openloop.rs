//! Open-loop load at a fixed rate, corrected for coordinated omission:
//! every request has a scheduled send time, and its latency runs from that
//! time, so a server that stalls is charged for the requests it kept
//! waiting, not only for the one it was answering.
//!
//! Each connection is an OS thread with a blocking socket (its sleeps are
//! exact to tens of microseconds, where an async timer rounds to a
//! millisecond). The same generator is run against a trivial HTTP server
//! in the same run: its tail is what the machine and the generator add.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

/// Set to an address in the environment of this benchmark run again as
/// the trivial server.
pub(crate) const TRIVIAL_MODE: &str = "WEBHOOK_BENCH_TRIVIAL";

/// Latency percentiles of one fixed-rate load, in milliseconds.
pub(crate) struct Tail {
    pub(crate) rate: u64,
    pub(crate) sent: u64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) p999_ms: f64,
    pub(crate) max_ms: f64,
    /// The p99 of each one-second window of scheduled send times: the
    /// median window and the worst. A pause of the machine spoils one or
    /// two windows and the whole run's p99; the median window shows the
    /// server's steady tail.
    pub(crate) window_p99_median_ms: f64,
    pub(crate) window_p99_worst_ms: f64,
    pub(crate) errors: u64,
    /// The server process's CPU microseconds per request, when measured.
    pub(crate) cpu_us: Option<f64>,
}

/// One answered request: the second of its scheduled send time, and its
/// latency in microseconds.
type Sample = (u32, u32);

/// Sends `rate` requests a second for `duration` over `connections`
/// keep-alive connections; `request(n)` is the n-th request's bytes.
pub(crate) fn run(
    addr: SocketAddr,
    rate: u64,
    duration: Duration,
    connections: usize,
    request: &(dyn Fn(u64) -> Vec<u8> + Sync),
) -> anyhow::Result<Tail> {
    let total = rate * duration.as_secs();
    let interval = Duration::from_secs_f64(connections as f64 / rate as f64);
    // Every connection's first send is staggered, so sends are spread evenly.
    let start = Instant::now() + Duration::from_millis(100);
    let results: Vec<anyhow::Result<(Vec<Sample>, u64)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..connections)
            .map(|c| {
                scope.spawn(move || {
                    let mut stream = TcpStream::connect(addr)?;
                    stream.set_nodelay(true)?;
                    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
                    let mut buffer = vec![0u8; 16 * 1024];
                    let mut latencies = Vec::new();
                    let mut errors = 0;
                    let offset = interval.mul_f64(c as f64 / connections as f64);
                    let mut k = 0u64;
                    loop {
                        let n = k * connections as u64 + c as u64;
                        if n >= total {
                            break;
                        }
                        let due = start + offset + interval.mul_f64(k as f64);
                        let now = Instant::now();
                        if due > now {
                            std::thread::sleep(due - now);
                        }
                        stream.write_all(&request(n))?;
                        let status = read_response(&mut stream, &mut buffer)?;
                        // From the scheduled time: waiting behind a slow
                        // answer counts.
                        let latency = due.elapsed().as_micros().min(u32::MAX as u128) as u32;
                        let window = due.duration_since(start).as_secs() as u32;
                        latencies.push((window, latency));
                        if !(200..300).contains(&status) {
                            errors += 1;
                        }
                        k += 1;
                    }
                    Ok((latencies, errors))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a load thread panicked")))
            })
            .collect()
    });
    let mut latencies = Vec::new();
    let mut errors = 0;
    for result in results {
        let (mine, failed) = result?;
        latencies.extend(mine);
        errors += failed;
    }
    if latencies.is_empty() {
        bail!("no request completed");
    }
    // Per-window p99s, then the whole run's percentiles.
    latencies.sort_unstable();
    let mut window_p99s: Vec<f64> = latencies
        .chunk_by(|a, b| a.0 == b.0)
        .map(|window| percentile(window, 0.99))
        .collect();
    window_p99s.sort_by(f64::total_cmp);
    let mut all: Vec<Sample> = latencies.iter().map(|&(_, l)| (0, l)).collect();
    all.sort_unstable();
    Ok(Tail {
        rate,
        sent: all.len() as u64,
        p50_ms: percentile(&all, 0.50),
        p99_ms: percentile(&all, 0.99),
        p999_ms: percentile(&all, 0.999),
        max_ms: percentile(&all, 1.0),
        window_p99_median_ms: window_p99s[window_p99s.len() / 2],
        window_p99_worst_ms: window_p99s[window_p99s.len() - 1],
        errors,
        cpu_us: None,
    })
}

/// The `q` quantile of sorted, non-empty samples of one window, in
/// milliseconds.
fn percentile(sorted: &[Sample], q: f64) -> f64 {
    let at = ((sorted.len() as f64 * q) as usize).min(sorted.len() - 1);
    f64::from(sorted[at].1) / 1000.0
}

/// Reads one HTTP/1.1 response with a `content-length`; returns its status.
fn read_response(stream: &mut TcpStream, buffer: &mut [u8]) -> anyhow::Result<u16> {
    let mut filled = 0;
    loop {
        let read = stream.read(&mut buffer[filled..])?;
        if read == 0 {
            bail!("the server closed the connection");
        }
        filled += read;
        let Some(end) = buffer[..filled].windows(4).position(|w| w == b"\r\n\r\n") else {
            if filled == buffer.len() {
                bail!("a response head larger than the buffer");
            }
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
            let read = stream.read(&mut buffer[filled..])?;
            if read == 0 {
                bail!("the server closed the connection mid-response");
            }
            filled += read;
        }
        return Ok(status);
    }
}

/// The trivial server: answers every request with a fixed 200 and a small
/// JSON body, on the runtime and HTTP stack the ingest uses (hyper, a
/// multi-thread runtime), after reading the whole body. With `redis_url`
/// it first makes the ingest's one Redis call (the backend's
/// `EventStore::store`, a new delivery id each time) on one multiplexed
/// connection, as the ingest does: what the machine and one Redis round
/// trip add, without the ingest's own work. Runs until killed.
pub(crate) fn serve_trivial(addr: &str, redis_url: Option<String>) -> anyhow::Result<()> {
    use http_body_util::BodyExt as _;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let store = match redis_url {
            Some(url) => Some(webhook_redis::ingest::EventStore::new(
                &url,
                std::time::Duration::from_secs(5),
                std::time::Duration::from_secs(3 * 86_400),
                0,
            )?),
            None => None,
        };
        let body = bytes::Bytes::from("x".repeat(crate::BODY_BYTES));
        let next = Arc::new(AtomicU64::new(0));
        let listener = tokio::net::TcpListener::bind(addr).await?;
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            let (store, body, next) = (store.clone(), body.clone(), next.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |request: hyper::Request<hyper::body::Incoming>| {
                        let (store, body, next) = (store.clone(), body.clone(), next.clone());
                        async move {
                            let _ = request.into_body().collect().await;
                            if let Some(store) = store {
                                let n = next.fetch_add(1, Ordering::Relaxed).to_string();
                                let envelope = webhook_core::Envelope::new(
                                    n,
                                    "pull_request.opened",
                                    "github",
                                    body,
                                );
                                let _ = store.store("trivial", &envelope, true).await;
                            }
                            Ok::<_, std::convert::Infallible>(
                                hyper::Response::builder()
                                    .header("content-type", "application/json")
                                    .body(http_body_util::Full::new(bytes::Bytes::from_static(
                                        br#"{"status":"accepted","id":"00000000000000000000"}"#,
                                    )))
                                    .unwrap_or_default(),
                            )
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}
