//! Handlers in a crate of their own: the registry must find them in any
//! binary that links this crate.

use webhook::prelude::*;

/// Runs for `registry.fanout` alongside the handlers of the test binary.
#[webhook_handler("registry.fanout")]
pub async fn from_another_crate(_event: Event<serde_json::Value>) -> Result<(), HandlerError> {
    Ok(())
}
