//! Run handlers in-process, without Redis, to unit-test them.
//!
//! ```
//! use webhook_core::testing::TestHarness;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let harness = TestHarness::new()?.state(String::from("shared settings"));
//! let delivery = harness
//!     .deliver_json("stripe", "payment_intent.succeeded", &serde_json::json!({"id": "evt_1"}))
//!     .await;
//! // No handler is registered in this doc test, so none ran.
//! assert!(delivery.runs().is_empty());
//! # Ok(())
//! # }
//! ```
//!
//! Every handler matching the event runs once, in the order the worker
//! would run them, with its timeout and with panics caught; retries are the
//! worker's business and do not happen here.

use std::sync::Arc;

use crate::Envelope;
use crate::handler::{HandlerContext, Outcome, Registry, RegistryError, StateMap, invoke};

/// Runs registered handlers for test events.
#[derive(Debug)]
pub struct TestHarness {
    registry: Registry,
    state: StateMap,
}

/// The outcome of each handler that ran for one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    runs: Vec<(&'static str, Outcome)>,
}

impl TestHarness {
    /// A harness over every handler registered in the test binary.
    pub fn new() -> Result<Self, RegistryError> {
        Ok(Self::with_registry(Registry::collect()?))
    }

    /// A harness over the given registry (for example one queue's:
    /// `Registry::collect()?.for_queue("payments")`).
    pub fn with_registry(registry: Registry) -> Self {
        Self {
            registry,
            state: StateMap::new(),
        }
    }

    /// Adds shared state for `State<T>` parameters.
    pub fn state<T: Send + Sync + 'static>(mut self, value: T) -> Self {
        self.state.insert(value);
        self
    }

    /// The registry in use.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Checks, as the worker does at start-up, that every state a handler
    /// needs was added.
    pub fn check(&self) -> Result<(), RegistryError> {
        self.registry.check_state(&self.state)
    }

    /// Runs every handler matching the envelope's type.
    pub async fn deliver(&self, envelope: Envelope) -> Delivery {
        let envelope = Arc::new(envelope);
        let state = Arc::new(self.state.clone());
        let mut runs = Vec::new();
        for handler in self.registry.handlers_for(&envelope.event_type) {
            let context =
                HandlerContext::new(Arc::clone(&envelope), Arc::clone(&state), handler.name());
            runs.push((handler.name(), invoke(handler, context).await));
        }
        Delivery { runs }
    }

    /// Runs every handler matching `event_type` for a JSON body, with a
    /// generated event id.
    pub async fn deliver_json(
        &self,
        source: &str,
        event_type: &str,
        body: &serde_json::Value,
    ) -> Delivery {
        let body = serde_json::to_vec(body).unwrap_or_default();
        self.deliver(Envelope::new(
            Envelope::generate_id(),
            event_type,
            source,
            body,
        ))
        .await
    }
}

impl Delivery {
    /// Each handler that ran, with its outcome, in order.
    pub fn runs(&self) -> &[(&'static str, Outcome)] {
        &self.runs
    }

    /// The names of the handlers that ran.
    pub fn handlers(&self) -> Vec<&'static str> {
        self.runs.iter().map(|(name, _)| *name).collect()
    }

    /// The outcome of the handler named `name`, or whose name ends with
    /// `::name` (so the function name alone is enough).
    pub fn outcome(&self, name: &str) -> Option<&Outcome> {
        self.runs
            .iter()
            .find(|(full, _)| {
                *full == name
                    || full
                        .strip_suffix(name)
                        .is_some_and(|rest| rest.ends_with("::"))
            })
            .map(|(_, outcome)| outcome)
    }

    /// Whether at least one handler ran and all succeeded.
    pub fn all_succeeded(&self) -> bool {
        !self.runs.is_empty() && self.runs.iter().all(|(_, o)| o.is_success())
    }
}
