//! The runtime of the webhook framework: the ingest server, the workers and
//! the operator CLI.
//!
//! The runtime builds on [`webhook_core`]; its parts arrive with the ingest
//! and worker milestones.

pub use webhook_core;
