//! Signing requests as a source's provider does: the inverse of the
//! [`Verifier`], for test deliveries (`webhook send`).
//!
//! Nothing here knows a provider: the [`Scheme`] says which bytes are signed
//! (its signed-content template), how the signature is written (format,
//! prefix, version tag, encoding) and in which headers, and its
//! [`EventFields`](crate::extract::EventFields) say where the event id and
//! type go. Every signed request is verified with the source's own
//! [`Verifier`] before it is handed out, so a request that would not pass
//! the ingest is never returned.
//!
//! ```
//! use webhook_core::Secret;
//! use webhook_core::signature::{Draft, Provider, Signer};
//!
//! let scheme = Provider::Stripe.scheme().unwrap();
//! let signer = Signer::new(scheme, &[Secret::from("whsec_test")])?;
//! let request = signer.sign_event(&Draft {
//!     event_type: Some("payment_intent.succeeded".into()),
//!     ..Draft::default()
//! })?;
//! // `{}` plus what Stripe's ingest reads: a fresh `id` and the `type`.
//! assert!(request.event_id.as_deref().is_some_and(|id| id.starts_with("evt_test_")));
//! assert_eq!(request.event_type, "payment_intent.succeeded");
//! assert!(request.headers.contains_key("stripe-signature"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod compose;
mod error;

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::Mac as _;
use http::{HeaderMap, HeaderName, HeaderValue};

use super::Verifier;
use super::key::Key;
use super::scheme::{Algorithm, Encoding, Part, Scheme, SignatureFormat};
use crate::Secret;
use crate::extract;

use compose::Role;
pub use compose::{Composed, Draft, Filled};
pub use error::SignError;

/// The content type of a JSON body.
pub const JSON_CONTENT_TYPE: &str = "application/json";

/// The content type of a body that is not JSON (Slack slash commands and
/// interactivity, GitHub's `content_type: form`).
pub const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// Signs requests for one source: its scheme and the first of its secrets
/// that can sign.
///
/// HMAC secrets sign; a Standard Webhooks `whpk_` secret is an Ed25519
/// *public* key, which can only verify, and is skipped. `Debug` shows the
/// scheme and the secret's position, never the key.
#[derive(Clone)]
pub struct Signer {
    /// The source's scheme, with only the signing key.
    verifier: Verifier,
    secret_index: usize,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("scheme", &self.verifier.scheme.name)
            .field("secret_index", &self.secret_index)
            .finish_non_exhaustive()
    }
}

/// A signed request, verified with the source's own verifier.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SignedRequest {
    /// Every header to send: content type, event headers, signature (and
    /// timestamp and message id, where the scheme has them).
    pub headers: HeaderMap,
    /// The body, exactly as signed.
    pub body: Vec<u8>,
    /// The event id the ingest will read; `None` where the source carries
    /// none (the ingest then generates one for each request).
    pub event_id: Option<String>,
    /// The event type the ingest will read.
    pub event_type: String,
    /// The signed timestamp (Unix seconds), for schemes that sign one.
    pub timestamp: Option<u64>,
    /// What was added to the body.
    pub filled: Vec<Filled>,
}

impl Verifier {
    /// A signer with this verifier's scheme and the first of its secrets
    /// that can sign (the first HMAC key; `whpk_` public keys cannot).
    pub fn signer(&self) -> Result<Signer, SignError> {
        let (index, key) = self
            .keys
            .iter()
            .enumerate()
            .find(|(_, key)| matches!(key, Key::Hmac(_)))
            .ok_or(SignError::NoSigningSecret {
                secrets: self.keys.len(),
            })?;
        Ok(Signer {
            verifier: Verifier {
                scheme: self.scheme.clone(),
                keys: vec![key.clone()],
                digest_id: self.digest_id,
            },
            secret_index: index,
        })
    }
}

impl Signer {
    /// A signer for `scheme` with the first of `secrets` that can sign.
    pub fn new(scheme: Scheme, secrets: &[Secret]) -> Result<Self, SignError> {
        Verifier::new(scheme, secrets)?.signer()
    }

    /// The scheme this signer signs for.
    pub fn scheme(&self) -> &Scheme {
        &self.verifier.scheme
    }

    /// The position (from 0) of the configured secret it signs with.
    pub fn secret_index(&self) -> usize {
        self.secret_index
    }

    /// A fresh event id in the provider's style: `evt_test_<hex>` for
    /// Stripe (see [`Scheme::test_id_prefix`]), a UUID where the provider
    /// uses UUIDs.
    pub fn fresh_id(&self) -> String {
        let uuid = uuid::Uuid::now_v7();
        match self.verifier.scheme.test_id_prefix {
            "" => uuid.to_string(),
            prefix => format!("{prefix}{}", uuid.simple()),
        }
    }

    /// The signature headers for `body` at `timestamp`: the signature
    /// header of the scheme's first header family, and its timestamp and
    /// message-id headers where the scheme signs them. `message_id` is
    /// required exactly when the signed content has `{id}`.
    pub fn sign_at(
        &self,
        body: &[u8],
        message_id: Option<&str>,
        timestamp: SystemTime,
    ) -> Result<HeaderMap, SignError> {
        let scheme = &self.verifier.scheme;
        let set = scheme
            .headers
            .first()
            .ok_or(SignError::Unsignable("it names no signature header"))?;
        let timestamp = timestamp
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs())
            .to_string();
        let signs_id = scheme.signed_content.contains(&Part::Id);
        let id = match (signs_id, message_id, &set.id) {
            (false, _, _) => None,
            (true, Some(id), Some(_)) => Some(id),
            (true, None, Some(header)) => {
                return Err(SignError::MissingMessageId {
                    header: header.clone(),
                });
            }
            (true, _, None) => {
                return Err(SignError::Unsignable("it signs an id but has no id header"));
            }
        };
        let Some(Key::Hmac(key)) = self.verifier.keys.first() else {
            return Err(SignError::NoSigningSecret { secrets: 0 });
        };
        let mut mac = key.clone();
        for part in &scheme.signed_content {
            match part {
                Part::Literal(bytes) => mac.update(bytes),
                Part::Timestamp => mac.update(timestamp.as_bytes()),
                Part::Id => mac.update(id.unwrap_or_default().as_bytes()),
                Part::Body => mac.update(body),
            }
        }
        let tag = mac.finalize().into_bytes();
        let signature = match scheme.encoding {
            Encoding::Hex => hex::encode(tag),
            Encoding::Base64 => STANDARD.encode(tag),
        };
        let hmac_tag = |versions: &[super::Version]| {
            versions
                .iter()
                .find(|v| v.algorithm == Algorithm::HmacSha256)
                .map(|v| v.tag.clone())
                .ok_or(SignError::Unsignable(
                    "it has no HMAC-SHA256 signature version",
                ))
        };
        let (value, timestamp_in_signature) = match &scheme.format {
            SignatureFormat::Single { prefix, .. } => (format!("{prefix}{signature}"), false),
            SignatureFormat::Pairs {
                timestamp_key,
                versions,
            } => (
                format!(
                    "{timestamp_key}={timestamp},{}={signature}",
                    hmac_tag(versions)?
                ),
                true,
            ),
            SignatureFormat::Spaced { versions } => {
                (format!("{},{signature}", hmac_tag(versions)?), false)
            }
        };
        let mut headers = HeaderMap::new();
        let header_value = |what, header: &HeaderName, value: &str| {
            HeaderValue::from_str(value).map_err(|_| SignError::InvalidHeader {
                what,
                header: header.clone(),
            })
        };
        headers.insert(
            set.signature.clone(),
            header_value("signature", &set.signature, &value)?,
        );
        if scheme.needs_timestamp() && !timestamp_in_signature {
            let header = set.timestamp.as_ref().ok_or(SignError::Unsignable(
                "it signs a timestamp but has no timestamp header",
            ))?;
            headers.insert(
                header.clone(),
                header_value("timestamp", header, &timestamp)?,
            );
        }
        if let (Some(id), Some(header)) = (id, &set.id) {
            headers.insert(header.clone(), header_value("message id", header, id)?);
        }
        Ok(headers)
    }

    /// Places the event id and type where the source reads them, without
    /// signing:
    ///
    /// - a value read from a header is set from the draft (a fresh id when
    ///   none is given; a type must be given);
    /// - a value read from the JSON body is checked when the body has it
    ///   (a different value is [`SignError::Mismatch`]; the body is never
    ///   rewritten), and added when it lacks it (a fresh id, or the given
    ///   one; the body must then be a JSON object), keeping every byte of
    ///   the body and adding the member after the object's `{`;
    /// - a GitHub-style `event.action` type is split: `pull_request.opened`
    ///   sets `X-GitHub-Event: pull_request` and needs the body's `action`
    ///   to be `opened` (added when absent);
    /// - a body that is not JSON is a form, sent exactly as given: its
    ///   fields are only checked (an optional id it lacks is left to the
    ///   ingest, which then generates one per request).
    pub fn compose(&self, draft: &Draft) -> Result<Composed, SignError> {
        compose::compose(self, draft)
    }

    /// [`compose`](Self::compose)s the draft and signs it at the current
    /// time.
    pub fn sign_event(&self, draft: &Draft) -> Result<SignedRequest, SignError> {
        self.sign_event_at(draft, SystemTime::now())
    }

    /// [`compose`](Self::compose)s the draft and signs it at `timestamp`,
    /// then verifies the result with the source's verifier and reads its
    /// event id and type as the ingest will; a given id or type that the
    /// ingest would not read is an error.
    pub fn sign_event_at(
        &self,
        draft: &Draft,
        timestamp: SystemTime,
    ) -> Result<SignedRequest, SignError> {
        let Composed {
            mut headers,
            body,
            message_id,
            filled,
        } = self.compose(draft)?;
        let signature = self.sign_at(&body, message_id.as_deref(), timestamp)?;
        for (name, value) in &signature {
            headers.insert(name.clone(), value.clone());
        }
        let verified = self
            .verifier
            .verify_at(&headers, &body, timestamp)
            .map_err(SignError::SelfCheck)?;
        let meta = verified.event_meta()?;
        let signed_timestamp = verified.timestamp();
        let fields = &self.verifier.scheme.fields;
        for (role, wanted, read, field) in [
            (
                Role::Type,
                draft.event_type.as_deref(),
                Some(meta.event_type.as_str()),
                &fields.event_type,
            ),
            (
                Role::Id,
                draft.event_id.as_deref(),
                meta.id.as_deref(),
                &fields.id,
            ),
        ] {
            if let Some(wanted) = wanted
                && read != Some(wanted)
            {
                return Err(SignError::Mismatch {
                    what: role.what(),
                    found: read.unwrap_or("(none)").to_owned(),
                    wanted: wanted.to_owned(),
                    place: extract::describe(field),
                });
            }
        }
        Ok(SignedRequest {
            headers,
            body,
            event_id: meta.id,
            event_type: meta.event_type,
            timestamp: signed_timestamp,
            filled,
        })
    }
}

#[cfg(test)]
mod tests;
