//! The HTTP side: one route per source, health and readiness.

use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt as _;
use tokio::sync::OwnedSemaphorePermit;
use webhook_core::Envelope;
use webhook_core::config::Source;

use super::Ingest;
use super::log::Escaped;
use webhook_redis::ingest::Stored;

/// `POST /webhooks/{source}`: check the declared size, read the body within
/// the limits, verify, read id and type, store, answer; counts each request
/// by source and outcome.
pub(crate) async fn receive(
    State(ingest): State<Arc<Ingest>>,
    path: Result<Path<String>, PathRejection>,
    request: Request,
) -> Response {
    let started = Instant::now();
    let Ok(Path(name)) = path else {
        let response = ingest.reject(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the source in the path is not valid UTF-8",
            request.uri(),
        );
        count("unknown".to_owned(), "bad_request", started);
        return response;
    };
    let Some(source) = ingest.sources.get(&name) else {
        tracing::debug!(source = %Escaped(&name), "unknown source");
        let body = br#"{"error":"unknown source"}"#.to_vec();
        count("unknown".to_owned(), "unknown_source", started);
        return json(StatusCode::NOT_FOUND, body);
    };
    if let Some(refusal) = ingest.redis_refusal() {
        count(name, "unavailable", started);
        return ingest.unavailable(message("error", &refusal));
    }
    let (parts, body) = request.into_parts();
    let (response, outcome) = match ingest.read_body(&parts.headers, &parts.uri, body).await {
        Ok((body, _budget)) => handle(&ingest, source, parts.headers, body, started).await,
        Err(rejected) => rejected,
    };
    count(name, outcome, started);
    response
}

/// Counts a request by source and outcome, with its latency.
fn count(source: String, outcome: &'static str, started: Instant) {
    metrics::counter!(crate::metrics::INGEST_REQUESTS, "source" => source.clone(), "outcome" => outcome)
        .increment(1);
    metrics::histogram!(crate::metrics::INGEST_DURATION, "source" => source)
        .record(started.elapsed().as_secs_f64());
}

async fn handle(
    ingest: &Ingest,
    source: &Source,
    headers: HeaderMap,
    body: Bytes,
    started: Instant,
) -> (Response, &'static str) {
    let name = &source.name;
    let verified = match source.verifier.verify(&headers, &body) {
        Ok(verified) => verified,
        Err(error) => {
            if let Some(suppressed) = ingest.logs.allow("unauthorized") {
                tracing::warn!(source = %Escaped(name), reason = %Escaped(&error.to_string()), times_since_last_log = suppressed, "rejected");
            }
            return (
                // Every verification failure is the same 401: the answer
                // tells a forger nothing about which check failed.
                json(
                    StatusCode::UNAUTHORIZED,
                    br#"{"error":"unauthorized"}"#.to_vec(),
                ),
                "unauthorized",
            );
        }
    };
    let meta = match verified.event_meta() {
        Ok(meta) => meta,
        Err(error) => {
            if let Some(suppressed) = ingest.logs.allow("bad_request") {
                tracing::warn!(source = %Escaped(name), reason = %Escaped(&error.to_string()), times_since_last_log = suppressed, "unreadable event");
            }
            return (
                json(
                    StatusCode::BAD_REQUEST,
                    message("error", &error.to_string()),
                ),
                "bad_request",
            );
        }
    };
    let empty_acknowledgement = verified.empty_acknowledgement();
    let acknowledge = |status: &str, id: &str| {
        if empty_acknowledgement {
            StatusCode::OK.into_response()
        } else {
            json(StatusCode::OK, status_body(status, id))
        }
    };
    if let Some(answer) = verified.handshake_answer(&meta.event_type) {
        tracing::info!(source = %Escaped(name), event_type = %Escaped(&meta.event_type), "handshake answered");
        return (json(StatusCode::OK, answer), "handshake");
    }
    let (dedupe, id) = match meta.id {
        Some(id) => (true, id),
        None => (false, Envelope::generate_id()),
    };
    if !source.accepts(&meta.event_type) {
        tracing::debug!(source = %Escaped(name), event_id = %Escaped(&id), event_type = %Escaped(&meta.event_type), "ignored by the source's event_types");
        return (acknowledge("ignored", &id), "ignored");
    }
    let retained = source.verifier.retain_headers(&headers);
    if retained.dropped > 0 {
        metrics::counter!(crate::metrics::INGEST_HEADERS_DROPPED, "source" => name.clone())
            .increment(retained.dropped as u64);
    }
    let envelope = Envelope::new(id, meta.event_type, name, body).with_headers(retained.headers);
    let outcome = ingest.store.store(&source.queue, &envelope, dedupe).await;
    let latency_us = started.elapsed().as_micros() as u64;
    let (source, id, ty) = (
        Escaped(&envelope.source),
        Escaped(&envelope.id),
        Escaped(&envelope.event_type),
    );
    match outcome {
        Ok(Stored::Accepted(_)) => {
            log_stored(source, id, ty, "accepted", latency_us);
            (acknowledge("accepted", &envelope.id), "accepted")
        }
        Ok(Stored::Duplicate(_)) => {
            log_stored(source, id, ty, "duplicate", latency_us);
            (acknowledge("duplicate", &envelope.id), "duplicate")
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

/// The line per stored event, at `info`: straight into the log batch when
/// the `webhook` command's own output is installed (the same bytes, a
/// fraction of the cost), through `tracing` otherwise.
fn log_stored(
    source: Escaped<'_>,
    id: Escaped<'_>,
    ty: Escaped<'_>,
    outcome: &'static str,
    latency_us: u64,
) {
    if !tracing::enabled!(tracing::Level::INFO) {
        return;
    }
    match crate::logging::Line::start(tracing::Level::INFO, module_path!()) {
        Some(line) => line
            .display("source", source)
            .display("event_id", id)
            .display("event_type", ty)
            .str("outcome", outcome)
            .u64("latency_us", latency_us)
            .write(),
        None => {
            tracing::info!(source = %source, event_id = %id, event_type = %ty, outcome, latency_us);
        }
    }
}

/// `GET /healthz`: the process is alive.
pub(crate) async fn healthz() -> Response {
    json(StatusCode::OK, br#"{"status":"ok"}"#.to_vec())
}

/// `GET /readyz`: Redis accepts writes (a tiny `SET` with a short expiry;
/// at `maxmemory` with `noeviction` it is refused while `PING` answers) and
/// its eviction policy cannot delete events.
pub(crate) async fn readyz(State(ingest): State<Arc<Ingest>>) -> Response {
    ingest.refresh_for_readiness().await;
    if let Some(refusal) = ingest.redis_refusal() {
        if let Some(suppressed) = ingest.logs.allow("not_ready") {
            tracing::warn!(reason = %refusal, times_since_last_log = suppressed, "not ready");
        }
        return ingest.unavailable(message("error", &refusal));
    }
    match ingest.store.probe_write().await {
        Ok(()) => json(StatusCode::OK, br#"{"status":"ready"}"#.to_vec()),
        Err(error) => {
            if let Some(suppressed) = ingest.logs.allow("not_ready") {
                tracing::warn!(reason = %error, times_since_last_log = suppressed, "not ready: Redis refuses writes");
            }
            let text = format!("Redis does not accept writes: {error}");
            ingest.unavailable(message("error", &text))
        }
    }
}

/// The fallback for paths without a route: 404, counted and logged.
pub(crate) async fn not_found(State(ingest): State<Arc<Ingest>>, uri: Uri) -> Response {
    let started = Instant::now();
    let response = ingest.reject(StatusCode::NOT_FOUND, "not_found", "no such path", &uri);
    count("unknown".to_owned(), "not_found", started);
    response
}

/// The fallback for a known path with the wrong method: 405, counted and
/// logged.
pub(crate) async fn method_not_allowed(
    State(ingest): State<Arc<Ingest>>,
    method: Method,
    uri: Uri,
) -> Response {
    let started = Instant::now();
    let (text, allow) = if uri.path().starts_with("/webhooks/") {
        ("webhooks are sent with POST", "POST")
    } else {
        ("this path answers GET", "GET, HEAD")
    };
    let mut response = ingest.reject(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        text,
        &uri,
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    tracing::trace!(method = %Escaped(method.as_str()), "method not allowed");
    count("unknown".to_owned(), "method_not_allowed", started);
    response
}

/// Refuses a request target longer than [`super::MAX_URI_BYTES`] with 414
/// before any route sees it.
pub(crate) async fn limit_uri(
    State(ingest): State<Arc<Ingest>>,
    request: Request,
    next: Next,
) -> Response {
    let length = request
        .uri()
        .path_and_query()
        .map_or(0, |target| target.as_str().len());
    if length > super::MAX_URI_BYTES {
        let started = Instant::now();
        let text = format!(
            "the request target is {length} bytes, over the limit of {}",
            super::MAX_URI_BYTES
        );
        let response = ingest.reject(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            &text,
            request.uri(),
        );
        count("unknown".to_owned(), "uri_too_long", started);
        return response;
    }
    next.run(request).await
}

impl Ingest {
    /// Reads a request body within the limits: the declared
    /// `Content-Length` is checked before the body is touched (so a client
    /// sending `Expect: 100-continue` is refused before it uploads), and
    /// each chunk's bytes are taken from the shared budget as they arrive
    /// (503 when it is spent), so a client holds only what it has really
    /// sent, not what it declared. The budget is given back when the
    /// returned permit is dropped, after the request.
    async fn read_body(
        &self,
        headers: &HeaderMap,
        uri: &Uri,
        mut body: Body,
    ) -> Result<(Bytes, Option<OwnedSemaphorePermit>), (Response, &'static str)> {
        let limit = self.max_body_bytes;
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        if let Some(length) = declared
            && length > limit as u64
        {
            let text = format!("the body is {length} bytes, over the limit of {limit}");
            return Err(self.too_large(&text, uri));
        }
        // No allocation from the declared length: memory follows what has
        // arrived, as the budget does. A body of one chunk is not copied.
        let mut first: Option<Bytes> = None;
        let mut rest = bytes::BytesMut::new();
        let mut budget: Option<OwnedSemaphorePermit> = None;
        while let Some(frame) = body.frame().await {
            let frame = match frame {
                Ok(frame) => frame,
                Err(error) => {
                    tracing::debug!(path = %Escaped(uri.path()), reason = %Escaped(&error.to_string()), "the request body could not be read");
                    let text = "the request body could not be read";
                    return Err((
                        json(StatusCode::BAD_REQUEST, message("error", text)),
                        "body_unreadable",
                    ));
                }
            };
            let Ok(chunk) = frame.into_data() else {
                continue; // trailers
            };
            let so_far = first.as_ref().map_or(0, Bytes::len) + rest.len();
            if so_far + chunk.len() > limit {
                let text = format!("the body is over the limit of {limit} bytes");
                return Err(self.too_large(&text, uri));
            }
            let wanted = u32::try_from(chunk.len()).unwrap_or(u32::MAX);
            let Ok(permit) = self.body_budget.clone().try_acquire_many_owned(wanted) else {
                if let Some(suppressed) = self.logs.allow("busy") {
                    tracing::warn!(
                        path = %Escaped(uri.path()),
                        times_since_last_log = suppressed,
                        "too many request bodies being read at once: answering 503; raise `max_buffered_body_bytes` if real senders see this"
                    );
                }
                let text = "too many requests being read at once; retry later";
                return Err((self.unavailable(message("error", text)), "busy"));
            };
            match budget.as_mut() {
                Some(held) => held.merge(permit),
                None => budget = Some(permit),
            }
            match &first {
                None => first = Some(chunk),
                Some(head) => {
                    if rest.is_empty() {
                        rest.extend_from_slice(head);
                    }
                    rest.extend_from_slice(&chunk);
                }
            }
        }
        let body = if rest.is_empty() {
            first.unwrap_or_default()
        } else {
            rest.freeze()
        };
        Ok((body, budget))
    }

    fn too_large(&self, text: &str, uri: &Uri) -> (Response, &'static str) {
        let response = self.reject(StatusCode::PAYLOAD_TOO_LARGE, "too_large", text, uri);
        (response, "too_large")
    }

    /// A JSON error answer for a request refused before it reached a source,
    /// logged at most once per interval per kind.
    fn reject(&self, status: StatusCode, kind: &'static str, text: &str, uri: &Uri) -> Response {
        if let Some(suppressed) = self.logs.allow(kind) {
            tracing::warn!(
                status = status.as_u16(),
                outcome = kind,
                path = %Escaped(uri.path()),
                reason = %Escaped(text),
                times_since_last_log = suppressed,
                "request refused"
            );
        }
        json(status, message("error", text))
    }

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
