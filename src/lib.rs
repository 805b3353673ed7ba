//! Verified webhooks into Redis streams, processed by typed async handlers.
//!
//! This crate is the one dependency an application needs. Handlers are
//! plain `async fn`s anywhere in the crate (or in crates it links):
//!
//! ```
//! use webhook::prelude::*;
//! use webhook::payload::StripeEvent;
//!
//! #[derive(serde::Deserialize)]
//! struct PaymentIntent {
//!     id: String,
//!     amount: i64,
//!     currency: String,
//! }
//!
//! struct Orders; // your database pool, HTTP client, ...
//!
//! #[webhook_handler("payment_intent.succeeded", retries = 5, timeout = "30s")]
//! async fn fulfil_order(
//!     event: Event<StripeEvent<PaymentIntent>>,
//!     orders: State<Orders>,
//!     key: IdempotencyKey,
//! ) -> Result<(), HandlerError> {
//!     let intent = event.object();
//!     if intent.amount <= 0 {
//!         return Err(HandlerError::reject("a succeeded payment without an amount"));
//!     }
//!     // write with `key` as a unique key, so a re-run is a no-op ...
//!     Ok(())
//! }
//!
//! #[webhook_handler("customer.*")] // every `customer.` event
//! async fn audit(event: Event<serde_json::Value>) -> Result<(), HandlerError> {
//!     Ok(())
//! }
//!
//! // Unit-test handlers without Redis:
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let harness = TestHarness::new()?.state(Orders);
//! harness.check()?; // every `State<T>` is provided
//! let delivery = harness
//!     .deliver_json("stripe", "payment_intent.succeeded", &serde_json::json!({
//!         "id": "evt_1", "type": "payment_intent.succeeded", "created": 1700000000,
//!         "data": {"object": {"id": "pi_1", "amount": 2000, "currency": "eur"}}
//!     }))
//!     .await;
//! assert!(delivery.all_succeeded());
//! # Ok(())
//! # }
//! ```
//!
//! The parts: [`signature`] verifies providers' signatures, [`config`]
//! reads sources, [`Envelope`] is a stored event, [`handler`] holds the
//! registry and the handler types, [`testing`] runs handlers in tests,
//! [`ingest`] serves providers, [`worker`] runs handlers from Redis, and
//! [`ops`], [`cli`] and [`metrics`] are for operators; [`backend`] spells
//! the Redis protocol (keys, scripts, the done-key states).

pub use webhook_core::{
    Envelope, Event, EventPattern, RawBody, Secret, config, envelope, event, extract, handler,
    http, layout, payload, signature, testing,
};
pub use webhook_macros::webhook_handler;
/// The Redis backend: key names, scripts, the done-key states ([`backend::Marker`]).
pub use webhook_redis as backend;
pub use webhook_worker::{cli, ingest, metrics, ops, worker};
pub use {webhook_core, webhook_worker};

#[doc(hidden)]
pub use webhook_core::__private;

/// The names most applications use.
pub mod prelude {
    pub use webhook_core::config::{Source, SourcesConfig};
    pub use webhook_core::handler::{HandlerError, IdempotencyKey, State};
    pub use webhook_core::signature::{Provider, Verifier, VerifyError};
    pub use webhook_core::testing::TestHarness;
    pub use webhook_core::{Envelope, Event, EventPattern, RawBody, Secret};
    pub use webhook_macros::webhook_handler;
    pub use webhook_worker::worker::Worker;
}
