//! A webhook worker: runs the handlers below for the events the ingest
//! stored in Redis. `cargo run` runs it; `cargo run -- handlers`,
//! `cargo run -- dlq list` and `cargo run -- stats` are its operator
//! commands.

use std::process::ExitCode;

use webhook::payload::StripeEvent;
use webhook::prelude::*;

/// The part of a Stripe PaymentIntent this app reads; unknown fields are
/// ignored.
#[derive(Debug, serde::Deserialize)]
struct PaymentIntent {
    id: String,
    amount: i64,
    currency: String,
}

/// Runs for every `payment_intent.succeeded` event. An `Err` from `?` is
/// retried with backoff (here three times, about 1 s, 2 s and 4 s apart),
/// then dead-lettered; `HandlerError::reject` dead-letters at once. The
/// `name` is what the worker records successes under: keep it when you
/// rename or move the function, or it runs again for past events.
#[webhook_handler(
    "payment_intent.succeeded",
    name = "payment-succeeded",
    retries = 3,
    backoff = "1s..30s"
)]
async fn payment_succeeded(
    event: Event<StripeEvent<PaymentIntent>>,
    key: IdempotencyKey,
) -> Result<(), HandlerError> {
    let intent = event.object();
    if intent.amount <= 0 {
        return Err(HandlerError::reject(format!(
            "payment {} succeeded without an amount",
            intent.id
        )));
    }
    // Write your side effect keyed by `key` (a unique column, an
    // `Idempotency-Key` header downstream): a re-run is then a no-op.
    tracing::info!(
        payment = %intent.id,
        amount = intent.amount,
        currency = %intent.currency,
        key = %*key,
        "payment succeeded"
    );
    Ok(())
}

// One thread: a worker waits on Redis and on your handlers' I/O, and on
// a current-thread runtime it drains about 1.7 times as many events per
// CPU second as on the multi-thread one (BENCHMARKS.md). Run one process
// per core to use more cores; handlers with heavy CPU work belong in
// `tokio::task::spawn_blocking`.
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    // The set-up runs only when the worker itself runs: connect your
    // database here and add it with `worker.state(pool)` for `State<T>`.
    webhook::cli::worker_main(async |worker| Ok(worker)).await
}

#[cfg(test)]
mod tests {
    use webhook::handler::Retry;
    use webhook::prelude::*;

    fn payment(amount: i64) -> serde_json::Value {
        serde_json::json!({
            "id": "evt_test_1",
            "type": "payment_intent.succeeded",
            "created": 1700000000,
            "data": {"object": {"id": "pi_1", "amount": amount, "currency": "eur"}}
        })
    }

    #[tokio::test]
    async fn a_payment_is_handled() {
        let harness = TestHarness::new().unwrap();
        harness.check().unwrap();
        let delivery = harness
            .deliver_json("stripe", "payment_intent.succeeded", &payment(2000))
            .await;
        assert!(delivery.outcome("payment-succeeded").unwrap().is_success());
    }

    #[tokio::test]
    async fn a_payment_without_an_amount_is_rejected() {
        let harness = TestHarness::new().unwrap();
        let delivery = harness
            .deliver_json("stripe", "payment_intent.succeeded", &payment(0))
            .await;
        let failure = delivery
            .outcome("payment-succeeded")
            .unwrap()
            .failure()
            .unwrap();
        assert_eq!(failure.retry, Retry::Never);
        assert!(failure.message.contains("without an amount"), "{failure}");
    }
}
