//! The quickstart: the ingest and a worker with two example handlers, in
//! one process.
//!
//! `cargo run --example quickstart`
//!
//! Uses the Redis at `REDIS_URL` (default `redis://127.0.0.1:6379`); if
//! none answers and `redis-server` is on the PATH, starts a throwaway one
//! and says so. Prints a `curl` line that sends a signed event, and the
//! `redis-cli` lines that show what happened.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;
use webhook::config::Source;
use webhook::extract::Field;
use webhook::http::HeaderName;
use webhook::prelude::*;
use webhook::signature::{Encoding, GenericHmac};
use webhook::webhook_worker::worker::Worker;

#[derive(Debug, Deserialize)]
struct Order {
    order: u64,
    #[serde(default)]
    fail: bool,
}

/// Confirms an order; rejects orders numbered 0 (dead-lettered at once).
#[webhook_handler("order.created", name = "confirm-order")]
async fn confirm_order(event: Event<Order>, key: IdempotencyKey) -> Result<(), HandlerError> {
    if event.order == 0 {
        return Err(HandlerError::reject("order 0 does not exist"));
    }
    tracing::info!(order = event.order, %key, "order confirmed");
    Ok(())
}

/// Audits every order event; fails while `"fail": true`, so you can watch
/// it retry twice and then land in the dead letters.
#[webhook_handler(
    "order.*",
    name = "audit-orders",
    retries = 2,
    backoff = "1s..4s",
    timeout = "5s"
)]
async fn audit_orders(event: Event<Order>) -> Result<(), HandlerError> {
    if event.fail {
        return Err(HandlerError::retry(std::io::Error::other(
            "the audit service is unavailable",
        )));
    }
    tracing::info!(
        order = event.order,
        attempt = event.attempt(),
        "order audited"
    );
    Ok(())
}

const SECRET_VAR: &str = "DEMO_WEBHOOK_SECRET";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    common::init_logging();
    let (redis_url, _throwaway) = common::redis_or_throwaway()?;
    let secret = std::env::var(SECRET_VAR).unwrap_or_else(|_| "demo-secret".to_owned());
    let listen = common::listen();

    let scheme = GenericHmac {
        signature_header: HeaderName::from_static("x-signature"),
        encoding: Encoding::Hex,
        prefix: "sha256=".into(),
        timestamp_header: Some(HeaderName::from_static("x-timestamp")),
        id_header: None,
        // The event id is signed too, so a captured request cannot be
        // re-sent under another id.
        signed_content: "{id}.{timestamp}.{body}".into(),
        tolerance: None,
        event_id: Field::Header(HeaderName::from_static("x-event-id")),
        event_type: Field::Json("/type".into()),
    }
    .scheme()?;
    let source = Source {
        name: "demo".into(),
        queue: "default".into(),
        verifier: Verifier::new(scheme, &[Secret::from(secret.as_str())])?,
        event_types: None,
    };
    let stop_ingest = common::start_ingest(&redis_url, vec![source], listen).await?;

    print_instructions(listen);

    Worker::builder()
        .redis_url(redis_url)
        .shutdown_timeout(Duration::from_secs(10))
        .build()?
        .run(webhook::webhook_worker::shutdown_signal())
        .await?;
    let _ = stop_ingest.send(());
    Ok(())
}

fn print_instructions(listen: SocketAddr) {
    let send = |id: &str, body: &str| {
        format!(
            "  ts=$(date +%s); body='{body}'\n  \
             sig=$(printf '%s.%s.%s' {id} \"$ts\" \"$body\" | openssl dgst -sha256 -hmac \"${{DEMO_WEBHOOK_SECRET:-demo-secret}}\" -hex | sed 's/.*= //')\n  \
             curl -s http://{listen}/webhooks/demo -H \"X-Timestamp: $ts\" -H \"X-Signature: sha256=$sig\" -H 'X-Event-Id: {id}' -d \"$body\"; echo"
        )
    };
    eprintln!(
        "\nReady. Send a signed event (both handlers run once):\n\n{}\n\n\
         One that the audit handler fails on (two retries, then a dead letter):\n\n{}\n\n\
         Then look in Redis:\n\n  \
         redis-cli XRANGE 'webhook:{{default}}:events' - +          # stored events\n  \
         redis-cli ZRANGE 'webhook:{{default}}:retry:workers' 0 -1 WITHSCORES   # scheduled retries\n  \
         redis-cli XRANGE 'webhook:{{default}}:dead' - +            # dead letters, with the error\n  \
         redis-cli XINFO GROUPS 'webhook:{{default}}:events'         # the consumer group's progress\n\n\
         Ctrl-C stops the worker and the ingest.\n",
        send("order-1", r#"{"type":"order.created","order":1}"#),
        send(
            "order-2",
            r#"{"type":"order.created","order":2,"fail":true}"#
        ),
    );
}
