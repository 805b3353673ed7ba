//! Serving connections with limits on what a client can hold: how many
//! connections are open, how long a request's headers may take, how long a
//! keep-alive connection may sit idle, and how long shutdown waits.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::IngestError;
use super::log::RateLimit;

/// The connection-level limits, from the settings.
#[derive(Debug, Clone)]
pub(crate) struct ConnectionLimits {
    pub(crate) header_read_timeout: Duration,
    pub(crate) max_header_bytes: usize,
    pub(crate) max_connections: usize,
    pub(crate) shutdown_timeout: Duration,
}

/// How often the same kind of connection-level problem is logged.
const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Accepts connections on `listener` and serves `router` on each until
/// `shutdown` completes; then stops accepting, asks every connection to
/// finish its request in flight, and closes what is left after
/// `shutdown_timeout`.
pub(crate) async fn run(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), IngestError> {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        // hyper starts this timer whenever it waits for a request head: on
        // a new connection and again after each response on a keep-alive
        // one, so it is the idle timeout as well.
        .header_read_timeout(limits.header_read_timeout)
        .max_header_size(limits.max_header_bytes)
        // The read buffer, so a client cannot park more than this many
        // bytes per connection while its headers are incomplete.
        .max_buf_size(limits.max_header_bytes.max(super::config::MIN_HEADER_BYTES))
        .keep_alive(true);
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    let logs = Arc::new(RateLimit::new(LOG_INTERVAL));
    let graceful = GracefulShutdown::new();
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        // Taken before accepting: clients beyond the limit wait in the
        // kernel's accept queue, costing this process nothing.
        let permit = match connections.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                if let Some(suppressed) = logs.allow("connection_limit") {
                    tracing::warn!(
                        max_connections = limits.max_connections,
                        times_since_last_log = suppressed,
                        "at the connection limit: new connections wait until one closes; raise `max_connections` if real senders are waiting"
                    );
                }
                tokio::select! {
                    permit = connections.clone().acquire_owned() => match permit {
                        Ok(permit) => permit,
                        Err(_) => break,
                    },
                    () = &mut shutdown => break,
                    Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
                }
            }
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors, or a connection reset before it
                // was accepted: wait a moment rather than spin.
                if let Some(suppressed) = logs.allow("accept") {
                    tracing::error!(%error, times_since_last_log = suppressed, "cannot accept a connection; check the file-descriptor limit (`ulimit -n`) against `max_connections`");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        let logs = logs.clone();
        tasks.spawn(async move {
            let _permit = permit;
            if let Err(error) = connection.await {
                connection_failed(&error, peer, &logs);
            }
        });
        // Reap finished connections so the set stays the size of the open ones.
        while tasks.try_join_next().is_some() {}
    }
    drop(listener);
    let open = graceful.count();
    tracing::info!(
        open_connections = open,
        "ingest stopping: finishing requests in flight"
    );
    let drained = tokio::time::timeout(limits.shutdown_timeout, async {
        graceful.shutdown().await;
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open_connections = tasks.len(),
            shutdown_timeout = ?limits.shutdown_timeout,
            "closing the connections still open after `shutdown_timeout`; their requests get no answer and the senders retry"
        );
        tasks.shutdown().await;
    }
    Ok(())
}

/// Counts and logs a connection that ended in an error: hyper's own answers
/// to requests it could not parse (400, 431), a client too slow with its
/// headers, or a broken connection.
fn connection_failed(error: &hyper::Error, peer: SocketAddr, logs: &RateLimit) {
    let outcome = if error.is_timeout() {
        "header_timeout"
    } else if error.is_parse_too_large() {
        "header_too_large"
    } else if error.is_parse() || error.is_parse_status() {
        "malformed"
    } else {
        // The client went away mid-request; nothing was answered.
        tracing::debug!(%peer, %error, "connection closed with an error");
        return;
    };
    metrics::counter!(crate::metrics::INGEST_REQUESTS, "source" => "unknown", "outcome" => outcome)
        .increment(1);
    if let Some(suppressed) = logs.allow(outcome) {
        tracing::warn!(%peer, outcome, reason = %error, times_since_last_log = suppressed, "connection refused before routing");
    }
}
