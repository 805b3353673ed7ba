//! The `#[webhook_handler]` attribute macro of the webhook framework.
//!
//! The macro itself arrives with the handler registry; this crate holds its
//! place in the workspace so the facade's dependency graph is final.
