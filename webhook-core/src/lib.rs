//! Core types of the webhook framework.
//!
//! - [`signature`]: verification of provider signatures (Stripe, GitHub,
//!   Slack, Shopify, Standard Webhooks / Svix, generic HMAC) on the raw bytes.
//! - [`extract`]: the event id and type of a verified request.
//! - [`Envelope`]: a verified event and its encoding as name/value pairs, as
//!   stored in a Redis stream entry ([`layout`]).
//! - [`Event`]: an envelope with its body deserialized into a handler's type.
//! - [`config`]: source configuration from TOML, secrets from the environment or files.
//!
//! Verifying a Stripe webhook and turning it into an envelope:
//!
//! ```
//! use http::{HeaderMap, HeaderValue};
//! use webhook_core::signature::{Provider, Verifier};
//! use webhook_core::{Envelope, Secret};
//! # use hmac::{Hmac, KeyInit, Mac};
//! # let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
//! # let body = br#"{"id":"evt_1","type":"payment_intent.succeeded"}"#;
//! # let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"whsec_test")?;
//! # mac.update(format!("{now}.").as_bytes());
//! # mac.update(body);
//! # let signature = hex::encode(mac.finalize().into_bytes());
//! # let mut headers = HeaderMap::new();
//! # headers.insert("stripe-signature", HeaderValue::from_str(&format!("t={now},v1={signature}"))?);
//!
//! let scheme = Provider::Stripe.scheme().expect("built-in");
//! let verifier = Verifier::new(scheme, &[Secret::from("whsec_test")])?;
//!
//! // `headers` and `body` come straight from the HTTP request.
//! let verified = verifier.verify(&headers, body)?;
//! let meta = verified.event_meta()?;
//! let envelope = Envelope::new(
//!     meta.id.unwrap_or_else(Envelope::generate_id),
//!     meta.event_type,
//!     "stripe",
//!     body.to_vec(),
//! )
//! .with_headers(verifier.retained_headers(&headers));
//! assert_eq!(envelope.event_type, "payment_intent.succeeded");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub use http;

pub mod config;
mod document;
pub mod envelope;
pub mod event;
pub mod extract;
pub mod handler;
pub mod layout;
mod pattern;
pub mod payload;
mod secret;
pub mod signature;
pub mod testing;

pub use envelope::Envelope;
pub use event::{Event, RawBody};
pub use pattern::{EventPattern, PatternError};
pub use secret::Secret;

/// What the `#[webhook_handler]` macro expands to refers to these; not a
/// public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::handler::{
        Backoff, BoxFuture, FromContext, HandlerContext, HandlerError, HandlerOptions,
        IntoHandlerResult, Registration,
    };
    pub use inventory;
    pub use std::boxed::Box;
    pub use std::time::Duration;
}
