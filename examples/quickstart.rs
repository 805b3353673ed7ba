//! The quickstart: the ingest and a worker with two example handlers, in
//! one process.
//!
//! `cargo run --example quickstart`
//!
//! Uses the Redis at `REDIS_URL` (default `redis://127.0.0.1:6379`); if
//! none answers and `redis-server` is on the PATH, starts a throwaway one
//! and says so. Prints the `webhook send` lines that send signed events
//! (accepted, tampered, rejected, failing), and the commands that show
//! what happened.

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
/// it retry twice (about 10 s, then 20 s later: long enough to see the
/// retry in Redis) and then land in the dead letters.
#[webhook_handler(
    "order.*",
    name = "audit-orders",
    retries = 2,
    backoff = "10s..20s",
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
    let url = if listen.to_string() == "127.0.0.1:8080" {
        String::new()
    } else {
        format!(" --url http://{listen}/webhooks/demo")
    };
    let send = |id: &str, body: &str, extra: &str| {
        format!(
            "  webhook send --config examples/webhooks.toml --source demo{url} --id {id} --data '{body}'{extra}"
        )
    };
    eprintln!(
        "\nReady. In another terminal, with the `webhook` command installed \
         (cargo install --path webhook-worker --bin webhook):\n\n  \
         export DEMO_WEBHOOK_SECRET=${{DEMO_WEBHOOK_SECRET:-demo-secret}}\n\n\
         A signed event (both handlers run once; again, and it is a duplicate):\n\n{}\n\n\
         The same with a byte changed after signing (401):\n\n{}\n\n\
         One that confirm-order rejects (dead-lettered at once), and one that \
         audit-orders fails on (two retries, then a dead letter):\n\n{}\n{}\n\n\
         Then look:\n\n  \
         webhook stats\n  \
         webhook dlq list\n  \
         redis-cli ZRANGE 'webhook:{{default}}:retry:workers' 0 -1 WITHSCORES   # scheduled retries\n  \
         redis-cli XRANGE 'webhook:{{default}}:events' - +          # stored events\n\n\
         Ctrl-C stops the worker and the ingest.\n",
        send("order-1", r#"{"type":"order.created","order":1}"#, ""),
        send(
            "order-1b",
            r#"{"type":"order.created","order":1}"#,
            " --tamper"
        ),
        send("order-0", r#"{"type":"order.created","order":0}"#, ""),
        send(
            "order-2",
            r#"{"type":"order.created","order":2,"fail":true}"#,
            ""
        ),
    );
}
