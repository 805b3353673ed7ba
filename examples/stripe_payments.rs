//! Stripe payments into PostgreSQL, idempotently.
//!
//! `cargo run --example stripe_payments`
//!
//! Runs the ingest (a `stripe` source) and a worker whose handlers write
//! typed Stripe events to PostgreSQL at `DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`). The Stripe event id is the
//! table's primary key, so a second run of a handler for the same event
//! (a crash after the write, before the worker recorded success) inserts
//! nothing: effectively once.

mod common;

use serde::Deserialize;
use webhook::config::Source;
use webhook::payload::StripeEvent;
use webhook::prelude::*;
use webhook::webhook_worker::worker::Worker;

#[derive(Debug, Deserialize)]
struct PaymentIntent {
    id: String,
    amount: i64,
    currency: String,
}

#[derive(Debug, Deserialize)]
struct Charge {
    id: String,
    amount_refunded: i64,
}

/// Records a successful payment once per Stripe event.
#[webhook_handler(
    "payment_intent.succeeded",
    queue = "payments",
    name = "record-payment",
    retries = 5
)]
async fn record_payment(
    event: Event<StripeEvent<PaymentIntent>>,
    db: State<tokio_postgres::Client>,
) -> Result<(), HandlerError> {
    let intent = event.object();
    if intent.amount <= 0 {
        return Err(HandlerError::reject(format!(
            "payment {} has no amount",
            intent.id
        )));
    }
    // `?` on a database error retries with backoff.
    let inserted = db
        .execute(
            "INSERT INTO payments (event_id, payment_intent, amount, currency) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (event_id) DO NOTHING",
            &[&event.id, &intent.id, &intent.amount, &intent.currency],
        )
        .await?;
    tracing::info!(event = %event.id, payment = %intent.id, amount = intent.amount, inserted, "payment recorded");
    Ok(())
}

/// Records a refund once per Stripe event.
#[webhook_handler("charge.refunded", queue = "payments", name = "record-refund")]
async fn record_refund(
    event: Event<StripeEvent<Charge>>,
    db: State<tokio_postgres::Client>,
) -> Result<(), HandlerError> {
    let charge = event.object();
    db.execute(
        "INSERT INTO refunds (event_id, charge, amount_refunded) VALUES ($1, $2, $3) ON CONFLICT (event_id) DO NOTHING",
        &[&event.id, &charge.id, &charge.amount_refunded],
    )
    .await?;
    tracing::info!(event = %event.id, charge = %charge.id, "refund recorded");
    Ok(())
}

const SECRET_VAR: &str = "STRIPE_WEBHOOK_SECRET";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    common::init_logging();
    let (redis_url, _throwaway) = common::redis_or_throwaway()?;
    let database = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let (db, connection) = tokio_postgres::connect(&database, tokio_postgres::NoTls)
        .await
        .map_err(|e| format!("cannot connect to PostgreSQL ({e}); set DATABASE_URL"))?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::error!(%error, "the PostgreSQL connection failed");
        }
    });
    db.batch_execute(
        "CREATE TABLE IF NOT EXISTS payments (event_id text PRIMARY KEY, payment_intent text NOT NULL, \
         amount bigint NOT NULL, currency text NOT NULL, recorded_at timestamptz NOT NULL DEFAULT now());
         CREATE TABLE IF NOT EXISTS refunds (event_id text PRIMARY KEY, charge text NOT NULL, \
         amount_refunded bigint NOT NULL, recorded_at timestamptz NOT NULL DEFAULT now());",
    )
    .await?;

    let secret = std::env::var(SECRET_VAR).unwrap_or_else(|_| "whsec_example".to_owned());
    let source = Source {
        name: "stripe".into(),
        queue: "payments".into(),
        verifier: Verifier::new(
            Provider::Stripe.scheme().ok_or("built-in")?,
            &[Secret::from(secret.as_str())],
        )?,
        event_types: Some(vec![
            "payment_intent.*".parse()?,
            "charge.refunded".parse()?,
        ]),
    };
    let listen = common::listen();
    let stop_ingest = common::start_ingest(&redis_url, vec![source], listen).await?;

    let shown_database = webhook::webhook_worker::redact_url(&database);
    let body = r#"{"id":"evt_example_1","type":"payment_intent.succeeded","created":1700000000,"data":{"object":{"id":"pi_1","amount":2000,"currency":"eur"}}}"#;
    eprintln!(
        "\nReady. Send a signed Stripe event (the signature is HMAC-SHA256 of `<t>.<body>` keyed by the whole whsec_ secret):\n\n  \
         t=$(date +%s); body='{body}'\n  \
         sig=$(printf '%s.%s' \"$t\" \"$body\" | openssl dgst -sha256 -hmac \"${{STRIPE_WEBHOOK_SECRET:-whsec_example}}\" -hex | sed 's/.*= //')\n  \
         curl -s http://{listen}/webhooks/stripe -H \"Stripe-Signature: t=$t,v1=$sig\" -d \"$body\"; echo\n\n\
         Then: psql {shown_database} -c 'SELECT * FROM payments'\n\
         Send it again: the ingest answers \"duplicate\"; and even a second run of the handler would insert nothing.\n\
         Or forward real events with the Stripe CLI: stripe listen --forward-to {listen}/webhooks/stripe (and set {SECRET_VAR}).\n"
    );

    Worker::builder()
        .redis_url(redis_url)
        .queue("payments")
        .state(db)
        .build()?
        .run(webhook::webhook_worker::shutdown_signal())
        .await?;
    let _ = stop_ingest.send(());
    Ok(())
}
