//! Prometheus metrics: what the ingest and the workers record, and the
//! `/metrics` endpoint that exposes it.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `webhook_ingest_requests_total` | counter | `source` (`unknown` before a source is reached), `outcome` (`accepted`, `duplicate`, `ignored`, `handshake`, `unauthorized`, `bad_request`, `unknown_source`, `backlog_full`, `unavailable`, `busy`, `too_large`, `body_unreadable`, `not_found`, `method_not_allowed`, `uri_too_long`, `header_too_large`, `malformed`, `header_timeout`) |
//! | `webhook_ingest_headers_dropped_total` | counter | `source` (headers left out of stored events for the size limits) |
//! | `webhook_ingest_request_duration_seconds` | histogram | `source` |
//! | `webhook_handler_runs_total` | counter | `handler`, `outcome` (`succeeded`, `retry_scheduled`, `dead_lettered`, `lease_lost`, `unsettled`) |
//! | `webhook_handler_duration_seconds` | histogram | `handler` |
//! | `webhook_dead_letters_total` | counter | `queue`, `reason` |
//! | `webhook_events_lost_total` | counter | `stream` (a pending entry deleted from its stream) |
//! | `webhook_queue_length` | gauge | `queue` |
//! | `webhook_queue_pending` | gauge | `queue`, `group` |
//! | `webhook_queue_lag` | gauge | `queue`, `group` |
//! | `webhook_queue_oldest_pending_seconds` | gauge | `queue`, `group` |
//! | `webhook_retries_scheduled` | gauge | `queue`, `group` |
//! | `webhook_dead_letters` | gauge | `queue` |
//!
//! The recorder is installed once per process; if the application installed
//! its own `metrics` recorder first, everything goes there instead and
//! `/metrics` answers 404.

use std::net::SocketAddr;
use std::sync::OnceLock;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Requests by source and outcome.
pub const INGEST_REQUESTS: &str = "webhook_ingest_requests_total";
/// Request headers left out of stored events for the header limits, by source.
pub const INGEST_HEADERS_DROPPED: &str = "webhook_ingest_headers_dropped_total";
/// Request latency by source.
pub const INGEST_DURATION: &str = "webhook_ingest_request_duration_seconds";
/// Handler runs by handler and outcome.
pub const HANDLER_RUNS: &str = "webhook_handler_runs_total";
/// Handler run time by handler.
pub const HANDLER_DURATION: &str = "webhook_handler_duration_seconds";
/// Dead letters written, by queue and reason.
pub const DEAD_LETTERS_TOTAL: &str = "webhook_dead_letters_total";
/// Pending entries found deleted from their stream.
pub const EVENTS_LOST: &str = "webhook_events_lost_total";
/// Stream length by queue.
pub const QUEUE_LENGTH: &str = "webhook_queue_length";
/// Pending entries by queue and group.
pub const QUEUE_PENDING: &str = "webhook_queue_pending";
/// Undelivered entries by queue and group.
pub const QUEUE_LAG: &str = "webhook_queue_lag";
/// Age of the oldest pending entry by queue and group.
pub const QUEUE_OLDEST_PENDING: &str = "webhook_queue_oldest_pending_seconds";
/// Scheduled retries by queue and group.
pub const RETRIES_SCHEDULED: &str = "webhook_retries_scheduled";
/// Dead letters waiting, by queue.
pub const DEAD_LETTERS: &str = "webhook_dead_letters";

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The process's Prometheus handle, installing the recorder on first use;
/// `None` when the application installed another recorder.
pub fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_duration_seconds".into()), LATENCY_BUCKETS)
                .ok()?;
            match builder.install_recorder() {
                Ok(handle) => {
                    spawn_upkeep(handle.clone());
                    Some(handle)
                }
                Err(error) => {
                    tracing::warn!(%error, "a metrics recorder is already installed; /metrics stays empty");
                    None
                }
            }
        })
        .as_ref()
}

/// How often histogram samples are folded into their buckets.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Folds histogram samples into their buckets every [`UPKEEP_EVERY`]. The
/// recorder keeps every sample until then: without it, a process that is
/// never scraped grows by 8 bytes per sample (two per ingest request),
/// without bound.
fn spawn_upkeep(handle: PrometheusHandle) {
    let spawned = std::thread::Builder::new()
        .name("webhook-metrics".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_EVERY);
                handle.run_upkeep();
            }
        });
    if let Err(error) = spawned {
        tracing::warn!(%error, "cannot start the metrics upkeep thread; histograms grow until /metrics is scraped");
    }
}

/// The `/metrics` response.
pub async fn render() -> Response {
    match handle() {
        Some(handle) => {
            handle.run_upkeep();
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                handle.render(),
            )
                .into_response()
        }
        None => (
            StatusCode::NOT_FOUND,
            "metrics go to the application's own recorder\n",
        )
            .into_response(),
    }
}

/// Serves `/metrics` alone on `addr` (for workers) until `shutdown`.
pub async fn serve(
    addr: SocketAddr,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    handle();
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, "metrics listening");
    let app = Router::new().route("/metrics", get(render));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
