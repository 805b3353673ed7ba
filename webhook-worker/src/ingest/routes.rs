//! The HTTP side: one route per source, health and readiness.

use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use webhook_core::Envelope;

use super::Ingest;
use super::store::Stored;

/// `POST /webhooks/{source}`: verify, read id and type, store, answer;
/// counts each request by source and outcome.
pub(crate) async fn receive(
    state: State<Arc<Ingest>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let (response, outcome) = handle(state, name.clone(), headers, body, started).await;
    // Unknown paths share one label, so they cannot explode the series count.
    let source = if outcome == "unknown_source" {
        "unknown".to_owned()
    } else {
        name
    };
    metrics::counter!(crate::metrics::INGEST_REQUESTS, "source" => source.clone(), "outcome" => outcome)
        .increment(1);
    metrics::histogram!(crate::metrics::INGEST_DURATION, "source" => source)
        .record(started.elapsed().as_secs_f64());
    response
}

async fn handle(
    State(ingest): State<Arc<Ingest>>,
    name: String,
    headers: HeaderMap,
    body: Bytes,
    started: Instant,
) -> (Response, &'static str) {
    let Some(source) = ingest.sources.get(&name) else {
        tracing::debug!(source = %name, "unknown source");
        let body = br#"{"error":"unknown source"}"#.to_vec();
        return (json(StatusCode::NOT_FOUND, body), "unknown_source");
    };
    let verified = match source.verifier.verify(&headers, &body) {
        Ok(verified) => verified,
        Err(error) => {
            tracing::warn!(source = %name, reason = %error, "rejected");
            return (
                json(error.status(), br#"{"error":"unauthorized"}"#.to_vec()),
                "unauthorized",
            );
        }
    };
    let meta = match verified.event_meta() {
        Ok(meta) => meta,
        Err(error) => {
            tracing::warn!(source = %name, reason = %error, "unreadable event");
            return (
                json(error.status(), message("error", &error.to_string())),
                "bad_request",
            );
        }
    };
    if let Some(answer) = verified.handshake_answer(&meta.event_type) {
        tracing::info!(source = %name, event_type = %meta.event_type, "handshake answered");
        return (json(StatusCode::OK, answer), "handshake");
    }
    let (dedupe, id) = match meta.id {
        Some(id) => (true, id),
        None => (false, Envelope::generate_id()),
    };
    if !source.accepts(&meta.event_type) {
        tracing::debug!(source = %name, event_id = %id, event_type = %meta.event_type, "ignored by the source's event_types");
        return (json(StatusCode::OK, status_body("ignored", &id)), "ignored");
    }
    let retained = source.verifier.retain_headers(&headers);
    if retained.dropped > 0 {
        metrics::counter!(crate::metrics::INGEST_HEADERS_DROPPED, "source" => name.clone())
            .increment(retained.dropped as u64);
    }
    let envelope = Envelope::new(id, meta.event_type, name, body).with_headers(retained.headers);
    let outcome = ingest.store.store(&source.queue, &envelope, dedupe).await;
    let latency_us = started.elapsed().as_micros() as u64;
    let (source, id, ty) = (&envelope.source, &envelope.id, &envelope.event_type);
    match outcome {
        Ok(Stored::Accepted(_)) => {
            tracing::info!(source = %source, event_id = %id, event_type = %ty, outcome = "accepted", latency_us);
            (
                json(StatusCode::OK, status_body("accepted", id)),
                "accepted",
            )
        }
        Ok(Stored::Duplicate(_)) => {
            tracing::info!(source = %source, event_id = %id, event_type = %ty, outcome = "duplicate", latency_us);
            (
                json(StatusCode::OK, status_body("duplicate", id)),
                "duplicate",
            )
        }
        Ok(Stored::Full) => {
            tracing::warn!(source = %source, event_id = %id, event_type = %ty, outcome = "backlog_full", latency_us);
            (
                ingest.unavailable(message("error", "the queue's backlog is full; retry later")),
                "backlog_full",
            )
        }
        Err(error) => {
            tracing::error!(source = %source, event_id = %id, event_type = %ty, outcome = "unavailable", reason = %error, latency_us);
            (
                ingest.unavailable(message("error", "storage unavailable; retry later")),
                "unavailable",
            )
        }
    }
}

/// `GET /healthz`: the process is alive.
pub(crate) async fn healthz() -> Response {
    json(StatusCode::OK, br#"{"status":"ok"}"#.to_vec())
}

/// `GET /readyz`: Redis answers.
pub(crate) async fn readyz(State(ingest): State<Arc<Ingest>>) -> Response {
    match ingest.store.ping().await {
        Ok(()) => json(StatusCode::OK, br#"{"status":"ready"}"#.to_vec()),
        Err(error) => {
            tracing::warn!(reason = %error, "not ready");
            ingest.unavailable(message("error", "Redis does not answer"))
        }
    }
}

impl Ingest {
    fn unavailable(&self, body: Vec<u8>) -> Response {
        let mut response = json(StatusCode::SERVICE_UNAVAILABLE, body);
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, self.retry_after.clone());
        response
    }
}

fn json(status: StatusCode, body: Vec<u8>) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        Body::from(body),
    )
        .into_response()
}

fn status_body(status: &str, id: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "status": status, "id": id })).unwrap_or_default()
}

fn message(key: &str, text: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ key: text })).unwrap_or_default()
}
