//! The ingest server: verified webhooks into Redis streams.
//!
//! `POST /webhooks/{source}` reads the raw body (up to `max_body_bytes`),
//! verifies the source's signature, reads the event id and type, and stores
//! the event with one atomic script (dedupe key, backlog check, `XADD`). It
//! answers 2xx only once Redis confirmed the write or that the event is a
//! known duplicate:
//!
//! | case | status | body |
//! |---|---|---|
//! | stored | 200 | `{"status":"accepted","id":"<event id>"}` |
//! | stored before (same source and event id) | 200 | `{"status":"duplicate","id":...}` |
//! | type not in the source's `event_types` | 200 | `{"status":"ignored","id":...}` (not stored) |
//! | Slack `url_verification`, GitHub `ping` | 200 | the challenge / `{"status":"pong"}` (not stored) |
//! | unknown source | 404 | `{"error":"unknown source"}` |
//! | missing or invalid signature, timestamp outside the window | 401 | `{"error":"unauthorized"}` |
//! | body (or its `Content-Length`, checked before reading, so no `100 Continue`) over `max_body_bytes` | 413 | `{"error":"..."}` |
//! | verified, but no event id or type can be read | 400 | `{"error":"..."}` |
//! | Redis unavailable, slow, refusing writes or evicting, or the stream at `max_backlog`, or more than `max_buffered_body_bytes` being read | 503 + `Retry-After` | `{"error":"..."}` |
//! | no route / wrong method / target over [`MAX_URI_BYTES`] | 404 / 405 / 414 | `{"error":"..."}` |
//! | headers over `max_header_bytes` / not HTTP | 431 / 400 (from the HTTP parser) | none |
//!
//! Each is counted in `webhook_ingest_requests_total` and logged, repeated
//! rejections at most once per 10 s per kind; every request-controlled
//! string is logged escaped.
//!
//! [`serve_on`] serves connections with hyper directly, for the limits
//! `axum::serve` lacks: `header_read_timeout` (hyper restarts it whenever it
//! waits for a request head, so it is the keep-alive idle timeout too),
//! `max_header_bytes`, `max_connections` (taken before `accept`, so excess
//! clients wait in the kernel's queue) and `shutdown_timeout`.
//!
//! `GET /healthz` answers while the process runs; `GET /readyz` while Redis
//! accepts a write to [`READY_PROBE_KEY`] and its eviction policy is safe
//! (see [`crate::redis_check`], also run at start and every few seconds);
//! `GET /metrics` serves Prometheus metrics (see [`crate::metrics`]).

mod config;
pub(crate) mod log;
mod routes;
mod serve;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, StatusCode};
use axum::routing::{get, post};
use tokio::sync::Semaphore;
use tower_http::timeout::TimeoutLayer;
use webhook_core::config::Source;

pub use config::{
    DEFAULT_LISTEN, DEFAULT_REDIS_URL, IngestConfig, IngestSettings, MAX_PARTITIONS,
    MIN_HEADER_BYTES, QueueConfig,
};
pub use webhook_redis::ingest::READY_PROBE_KEY;

/// The longest request target (path and query) accepted; longer gets 414.
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// How often the same kind of rejection is logged; the lines in between are
/// counted in the next one's `times_since_last_log`.
const REJECTION_LOG_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

/// A running ingest's shared state.
pub struct Ingest {
    sources: HashMap<String, Source>,
    store: webhook_redis::ingest::EventStore,
    retry_after: HeaderValue,
    max_body_bytes: usize,
    /// Bytes of request bodies that may be read at once; a request holds
    /// the bytes that have arrived until it is answered.
    body_budget: Arc<Semaphore>,
    request_timeout: std::time::Duration,
    limits: serve::ConnectionLimits,
    logs: log::RateLimit,
    /// Why Redis must not be written to right now (an evicting policy
    /// found by the last settings check), or `None`.
    redis_refusal: std::sync::Mutex<Option<String>>,
    /// When `/readyz` last ran the settings check: at most once a second,
    /// so the public endpoint cannot multiply Redis commands.
    readyz_checked: std::sync::Mutex<Option<std::time::Instant>>,
}

impl std::fmt::Debug for Ingest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingest")
            .field("sources", &self.sources.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Why the ingest could not start or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// The Redis client could not be built.
    #[error("cannot use the Redis URL {url}: {error}")]
    Redis {
        /// The URL, with any password hidden.
        url: String,
        /// The client's error.
        error: redis::RedisError,
    },
    /// The listen address could not be bound.
    #[error(
        "cannot listen on {addr}: {error}; is another process using it? set `listen` or WEBHOOK_LISTEN"
    )]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// The error.
        error: std::io::Error,
    },
    /// The server failed.
    #[error("the HTTP server failed: {0}")]
    Serve(std::io::Error),
    /// Redis is configured so that acknowledged events can be lost.
    #[error("{0}")]
    UnsafeRedis(crate::redis_check::Refusal),
}

impl Ingest {
    /// Builds the ingest; Redis is connected lazily, so it starts (and
    /// answers 503) while Redis is down. Call it inside a Tokio runtime: the
    /// Redis connection manager starts a task.
    pub fn new(settings: IngestSettings) -> Result<Self, IngestError> {
        crate::metrics::handle();
        let store = webhook_redis::ingest::EventStore::new(
            &settings.redis_url,
            settings.redis_timeout,
            settings.dedupe_ttl,
            settings.max_backlog,
        )
        .map(|store| {
            let mut queues: Vec<String> =
                settings.sources.iter().map(|s| s.queue.clone()).collect();
            queues.sort();
            queues.dedup();
            store
                .wait_replicas(settings.wait_replicas)
                .partitioned(settings.partitions.clone())
                .storing_in(queues)
        })
        .map_err(|error| IngestError::Redis {
            url: crate::redact_url(&settings.redis_url),
            error,
        })?;
        let retry_after = HeaderValue::from(settings.retry_after.as_secs().max(1));
        Ok(Self {
            sources: settings
                .sources
                .into_iter()
                .map(|source| (source.name.clone(), source))
                .collect(),
            store,
            retry_after,
            max_body_bytes: settings.max_body_bytes,
            body_budget: Arc::new(Semaphore::new(
                settings
                    .max_buffered_body_bytes
                    .min(u32::MAX as usize)
                    .max(settings.max_body_bytes.min(u32::MAX as usize)),
            )),
            request_timeout: settings.request_timeout,
            limits: serve::ConnectionLimits {
                header_read_timeout: settings.header_read_timeout,
                max_header_bytes: settings.max_header_bytes.max(MIN_HEADER_BYTES),
                max_connections: settings.max_connections.max(1),
                shutdown_timeout: settings.shutdown_timeout,
            },
            logs: log::RateLimit::new(REJECTION_LOG_INTERVAL),
            redis_refusal: std::sync::Mutex::new(None),
            readyz_checked: std::sync::Mutex::new(None),
        })
    }

    /// The HTTP routes. Serve them with [`serve_on`], which adds the
    /// connection limits and the checks of Redis's settings; the router
    /// alone has the per-request limits.
    pub fn router(self) -> Router {
        Self::router_of(Arc::new(self))
    }

    fn router_of(state: Arc<Self>) -> Router {
        let timeout = state.request_timeout;
        Router::new()
            .route("/webhooks/{source}", post(routes::receive))
            .route("/healthz", get(routes::healthz))
            .route("/readyz", get(routes::readyz))
            .route("/metrics", get(crate::metrics::render))
            .fallback(routes::not_found)
            .method_not_allowed_fallback(routes::method_not_allowed)
            .layer(axum::middleware::from_fn_with_state(
                state.clone(),
                routes::limit_uri,
            ))
            .layer(TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                timeout,
            ))
            .with_state(state)
    }
}

impl Ingest {
    /// Runs the settings check and records whether Redis must not be
    /// written to; returns what was found when Redis answered with a usable
    /// policy (`None` when it is evicting or did not answer).
    async fn refresh_redis_state(&self) -> Option<crate::redis_check::Findings> {
        let (found, refusal) = match self.store.check_settings().await {
            Ok(found) => (Some(found), None),
            Err(refusal @ crate::redis_check::Refusal::Evicting { .. }) => {
                (None, Some(refusal.to_string()))
            }
            Err(_) => return None,
        };
        let mut current = self
            .redis_refusal
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if refusal.is_some() && current.is_none() {
            tracing::error!(
                reason = refusal.as_deref().unwrap_or_default(),
                "Redis now evicts events: answering 503 until it is fixed"
            );
        } else if refusal.is_none() && current.is_some() {
            tracing::info!("Redis's eviction policy is safe again: accepting events");
        }
        *current = refusal;
        found
    }

    /// Runs the settings check for `/readyz` unless it ran within the last
    /// second (the background check runs every few seconds anyway).
    pub(crate) async fn refresh_for_readiness(&self) {
        let due = {
            let mut last = self
                .readyz_checked
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let now = std::time::Instant::now();
            let due =
                last.is_none_or(|at| now.duration_since(at) >= std::time::Duration::from_secs(1));
            if due {
                *last = Some(now);
            }
            due
        };
        if due {
            self.refresh_redis_state().await;
        }
    }

    /// Why events must not be written now, if they must not.
    fn redis_refusal(&self) -> Option<String> {
        self.redis_refusal
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// Runs the ingest on `settings.listen` until `shutdown` completes, then
/// finishes the requests in flight.
pub async fn serve(
    settings: IngestSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), IngestError> {
    let addr = settings.listen;
    let sources: Vec<String> = settings.sources.iter().map(|s| s.name.clone()).collect();
    let redis = crate::redact_url(&settings.redis_url);
    let ingest = Ingest::new(settings)?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|error| IngestError::Bind { addr, error })?;
    // The bound address: with port 0 in `listen`, the one the OS chose.
    let addr = listener.local_addr().unwrap_or(addr);
    tracing::info!(%addr, ?sources, %redis, "ingest listening");
    serve_on(listener, ingest, shutdown).await
}

/// Runs `ingest` on an already bound listener (for tests and embedding:
/// bind `127.0.0.1:0` and read the address from the listener), with the
/// settings' connection limits. When `shutdown` completes it stops
/// accepting, lets the requests in flight finish and closes idle
/// connections; connections still open after `shutdown_timeout` are closed.
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    ingest: Ingest,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), IngestError> {
    let limits = ingest.limits.clone();
    let ingest = Arc::new(ingest);
    // The settings check runs beside the server (a slow Redis must not
    // keep requests waiting unaccepted); an evicting policy stops it.
    let (refused, refusal) = tokio::sync::oneshot::channel();
    let watcher = tokio::spawn(watch_redis(ingest.clone(), refused));
    let stop = async move {
        tokio::select! {
            () = shutdown => None,
            Ok(refusal) = refusal => Some(refusal),
        }
    };
    let (stopped, result) = tokio::sync::oneshot::channel();
    let served = serve::run(listener, Ingest::router_of(ingest), limits, async move {
        let _ = stopped.send(stop.await);
    })
    .await;
    watcher.abort();
    served?;
    if let Ok(Some(refusal)) = result.await {
        return Err(IngestError::UnsafeRedis(refusal));
    }
    tracing::info!("ingest stopped");
    Ok(())
}

/// How often a running ingest re-checks Redis's settings; a change (or a
/// restarted Redis, seen by its run id) is logged again.
const REDIS_CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// Checks Redis's settings at start, sending an evicting policy to
/// `refused` (which stops the ingest), then again every
/// [`REDIS_CHECK_INTERVAL`]: the connection manager reconnects silently,
/// possibly to a restarted or different server.
async fn watch_redis(
    ingest: Arc<Ingest>,
    refused: tokio::sync::oneshot::Sender<crate::redis_check::Refusal>,
) {
    // Workers learn a queue's partitions from Redis: record them at start,
    // and again with every check (Redis may have restarted empty).
    if let Err(error) = ingest.store.publish_partitions().await {
        tracing::warn!(%error, "cannot record the queues' partition counts in Redis yet; trying again every {REDIS_CHECK_INTERVAL:?}");
    }
    let mut last = match ingest.store.check_settings().await {
        Ok(found) => {
            found.log_warnings();
            Some(found)
        }
        Err(refusal @ crate::redis_check::Refusal::Evicting { .. }) => {
            tracing::error!(reason = %refusal, "refusing to run on this Redis");
            *ingest
                .redis_refusal
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(refusal.to_string());
            let _ = refused.send(refusal);
            return;
        }
        Err(error) => {
            tracing::warn!(%error, "could not check Redis's eviction policy and persistence at start; checking again every {REDIS_CHECK_INTERVAL:?}");
            None
        }
    };
    loop {
        tokio::time::sleep(REDIS_CHECK_INTERVAL).await;
        if let Err(error) = ingest.store.publish_partitions().await {
            tracing::debug!(%error, "cannot record the queues' partition counts");
        }
        if let Some(found) = ingest.refresh_redis_state().await {
            found.log_if_changed(last.as_ref());
            last = Some(found);
        }
    }
}
