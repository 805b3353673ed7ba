//! The runtime of the webhook framework: the [`ingest`] server, the
//! [`worker`], the operator tools ([`ops`], [`cli`]) and [`metrics`].
//!
//! Start an ingest from a configuration file:
//!
//! ```no_run
//! use webhook_worker::ingest::{self, IngestConfig};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = IngestConfig::load("webhooks.toml".as_ref())?;
//! let settings = config.resolve(&|name| std::env::var(name).ok())?;
//! ingest::serve(settings, webhook_worker::shutdown_signal()).await?;
//! # Ok(())
//! # }
//! ```

pub mod cli;
pub mod ingest;
pub mod logging;
pub mod metrics;
pub use webhook_redis::ops;
pub mod scaffold;
mod signal;
pub mod worker;

pub use signal::shutdown_signal;
pub use webhook_core;
/// Redis's settings that can lose or repeat work, checked at start and again.
pub use webhook_redis::check as redis_check;

pub use webhook_redis::connect::redact_url;
