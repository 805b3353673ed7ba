//! Verified webhooks into Redis streams, processed by typed async handlers.
//!
//! This crate is the one dependency an application needs: it re-exports
//! [`webhook_core`] (envelope, signatures, configuration), and the macro and
//! runtime crates. Most code needs only the [`prelude`].
//!
//! ```
//! use webhook::prelude::*;
//!
//! let scheme = Provider::Shopify.scheme().expect("built-in");
//! let verifier = Verifier::new(scheme, &[Secret::from("shpss_example")])?;
//! let headers = webhook::http::HeaderMap::new();
//! let refused = verifier.verify(&headers, b"{}").unwrap_err();
//! assert_eq!(refused.status(), 401);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub use webhook_core::{
    Envelope, Event, EventPattern, Secret, config, envelope, event, extract, http, layout,
    signature,
};
pub use {webhook_core, webhook_macros, webhook_worker};

/// The names most applications use.
pub mod prelude {
    pub use webhook_core::config::{Source, SourcesConfig};
    pub use webhook_core::signature::{Provider, Verifier, VerifyError};
    pub use webhook_core::{Envelope, Event, EventPattern, Secret};
}
