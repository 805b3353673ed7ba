//! A provider's signature scheme, described as data.
//!
//! One [`Verifier`](super::Verifier) reads a [`Scheme`]; the built-in
//! providers are just values of it (see [`Provider::scheme`](super::Provider::scheme)),
//! so adding a provider means writing one more value, not another verifier.

use std::time::Duration;

use http::HeaderName;

use crate::extract::EventFields;

/// How a provider signs its requests and names its events.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Scheme {
    /// A short name for messages and logs (`"stripe"`, `"github"`, ...).
    pub name: &'static str,
    /// The header families this scheme may arrive under, tried in order; the
    /// first whose signature header is present is used for the whole request
    /// (Standard Webhooks sends `webhook-*` or `svix-*`).
    pub headers: Vec<HeaderSet>,
    /// Every header in which the provider sends a signature, legacy ones
    /// included (GitHub's SHA-1 `x-hub-signature`): none is ever stored
    /// with an event or a dead letter.
    pub signature_headers: Vec<HeaderName>,
    /// How the signature header lists its signatures.
    pub format: SignatureFormat,
    /// How signatures are written (hex or base64).
    pub encoding: Encoding,
    /// How the configured secrets become keys.
    pub key_format: KeyFormat,
    /// The signed bytes, in order.
    pub signed_content: Vec<Part>,
    /// The accepted distance between the signed timestamp and now, in both
    /// directions; `None` for schemes that sign no timestamp.
    pub tolerance: Option<Duration>,
    /// Where the event id and type come from.
    pub fields: EventFields,
    /// How the ids a [`Signer`](super::Signer) generates begin
    /// (`evt_test_` for Stripe, `msg_test_` for Standard Webhooks), so that
    /// test events look like the provider's own and are told apart from
    /// them; empty for providers whose ids are UUIDs (GitHub, Shopify).
    pub test_id_prefix: &'static str,
    /// A handshake request the ingest answers itself, if the provider has one.
    pub handshake: Option<Handshake>,
    /// What body the ingest answers a stored event with.
    pub acknowledgement: Acknowledgement,
}

/// The body of the ingest's 200 for a stored (or duplicate) event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Acknowledgement {
    /// `{"status":"accepted"|"duplicate","id":...}`.
    Status,
    /// The status body, except for form-encoded deliveries, which get an
    /// empty body: Slack shows the body of a slash command's answer to the
    /// user who typed it, and reads an interactivity answer as the
    /// modal's `response_action`.
    EmptyForForms,
}

/// A verified request that the ingest answers itself instead of storing it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Handshake {
    /// Slack's `url_verification` (event type `url_verification`): answered
    /// with `{"challenge": <the challenge>}`.
    SlackUrlVerification,
    /// GitHub's `ping` (event type `ping`, sent when a hook is created):
    /// answered with `{"status":"pong"}`.
    GitHubPing,
}

impl Handshake {
    /// The answer to a request of `event_type` with `body`, when it is this
    /// handshake.
    pub fn answer(self, event_type: &str, body: &[u8]) -> Option<Vec<u8>> {
        match self {
            Self::GitHubPing if event_type == "ping" => Some(br#"{"status":"pong"}"#.to_vec()),
            Self::SlackUrlVerification if event_type == "url_verification" => {
                #[derive(serde::Deserialize)]
                struct Challenge {
                    challenge: String,
                }
                let Challenge { challenge } = serde_json::from_slice(body).ok()?;
                serde_json::to_vec(&serde_json::json!({ "challenge": challenge })).ok()
            }
            _ => None,
        }
    }
}

/// The header names of one header family of a scheme.
#[derive(Clone, Debug)]
pub struct HeaderSet {
    /// The header that carries the signature(s).
    pub signature: HeaderName,
    /// The header that carries the signed timestamp, if the scheme has one
    /// outside the signature header.
    pub timestamp: Option<HeaderName>,
    /// The header that carries a message id that is part of the signed content.
    pub id: Option<HeaderName>,
}

/// How a signature header lists its signatures.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum SignatureFormat {
    /// The whole value is one signature, after an optional fixed prefix
    /// (GitHub `sha256=<hex>`, Slack `v0=<hex>`, Shopify `<base64>`).
    Single {
        /// Text that must precede the signature (may be empty).
        prefix: String,
        /// The algorithm of the signature.
        algorithm: Algorithm,
    },
    /// Comma-separated `key=value` pairs carrying the timestamp under one key
    /// and signatures under version keys (Stripe `t=..,v1=..,v1=..`).
    Pairs {
        /// The key of the timestamp (`t`).
        timestamp_key: String,
        /// The versions that are checked; every other key is skipped.
        versions: Vec<Version>,
    },
    /// Space-separated `version,signature` items (Standard Webhooks
    /// `v1,<b64> v1a,<b64>`).
    Spaced {
        /// The versions that are checked; every other version is skipped.
        versions: Vec<Version>,
    },
}

/// A signature version tag and the algorithm it means.
#[derive(Clone, Debug)]
pub struct Version {
    /// The tag as written in the header (`v1`, `v1a`).
    pub tag: String,
    /// The algorithm of signatures with this tag.
    pub algorithm: Algorithm,
}

impl Version {
    /// A version tag meaning `algorithm`.
    pub fn new(tag: impl Into<String>, algorithm: Algorithm) -> Self {
        Self {
            tag: tag.into(),
            algorithm,
        }
    }
}

/// A signature algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Algorithm {
    /// HMAC with SHA-256; 32-byte signatures.
    HmacSha256,
    /// Ed25519; 64-byte signatures, verified with a public key.
    Ed25519,
}

impl Algorithm {
    /// The length of a signature of this algorithm, in bytes.
    pub const fn signature_len(self) -> usize {
        match self {
            Self::HmacSha256 => 32,
            Self::Ed25519 => 64,
        }
    }
}

/// How signature bytes are written in the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Encoding {
    /// Hexadecimal, either case.
    Hex,
    /// Standard base64 with padding.
    Base64,
}

/// How a configured secret becomes a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyFormat {
    /// The secret's bytes as written are the HMAC key (Stripe: the whole
    /// `whsec_...` string; GitHub, Slack, Shopify, generic HMAC).
    Raw,
    /// Standard Webhooks: `whsec_<base64>` is an HMAC key (the base64 decoding
    /// of the part after the prefix; the prefix may be left out) and
    /// `whpk_<base64>` is an Ed25519 public key for `v1a` signatures.
    StandardWebhooks,
}

/// One piece of the signed content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    /// Fixed bytes, such as `.` or `v0:`.
    Literal(Vec<u8>),
    /// The signed timestamp, as sent.
    Timestamp,
    /// The message id header of the header set, as sent.
    Id,
    /// The raw request body.
    Body,
}

/// Why a signed-content template is invalid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// The template does not contain `{body}` exactly once.
    #[error(
        "the signed content must contain `{{body}}` exactly once, e.g. \"{{timestamp}}.{{body}}\""
    )]
    Body,
    /// The template names a placeholder other than `{body}`, `{timestamp}` and `{id}`.
    ///
    /// The message does not repeat the placeholder: a secret pasted into
    /// the template would otherwise end up in a log.
    #[error(
        "has a placeholder other than `{{body}}`, `{{timestamp}}` and `{{id}}`; use only those"
    )]
    UnknownPlaceholder(String),
    /// A `{` is not closed.
    #[error("a `{{` is not closed by `}}`")]
    Unclosed,
}

impl Part {
    /// Parses a template such as `{timestamp}.{body}` into parts.
    pub fn parse_template(template: &str) -> Result<Vec<Part>, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = template;
        while !rest.is_empty() {
            match rest.find('{') {
                Some(0) => {
                    let end = rest.find('}').ok_or(TemplateError::Unclosed)?;
                    parts.push(match &rest[1..end] {
                        "body" => Part::Body,
                        "timestamp" => Part::Timestamp,
                        "id" => Part::Id,
                        other => return Err(TemplateError::UnknownPlaceholder(other.to_owned())),
                    });
                    rest = &rest[end + 1..];
                }
                Some(start) => {
                    parts.push(Part::Literal(rest.as_bytes()[..start].to_vec()));
                    rest = &rest[start..];
                }
                None => {
                    parts.push(Part::Literal(rest.as_bytes().to_vec()));
                    rest = "";
                }
            }
        }
        if parts.iter().filter(|p| **p == Part::Body).count() != 1 {
            return Err(TemplateError::Body);
        }
        Ok(parts)
    }
}

impl Scheme {
    /// Whether the signed content or the window needs a timestamp.
    pub(crate) fn needs_timestamp(&self) -> bool {
        self.tolerance.is_some() || self.signed_content.contains(&Part::Timestamp)
    }

    /// Whether any signature of this scheme can use `algorithm`.
    pub(crate) fn uses(&self, algorithm: Algorithm) -> bool {
        match &self.format {
            SignatureFormat::Single { algorithm: a, .. } => *a == algorithm,
            SignatureFormat::Pairs { versions, .. } | SignatureFormat::Spaced { versions } => {
                versions.iter().any(|v| v.algorithm == algorithm)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_templates() {
        assert_eq!(
            Part::parse_template("{timestamp}.{body}").unwrap(),
            vec![Part::Timestamp, Part::Literal(b".".to_vec()), Part::Body]
        );
        assert_eq!(
            Part::parse_template("v0:{timestamp}:{body}").unwrap(),
            vec![
                Part::Literal(b"v0:".to_vec()),
                Part::Timestamp,
                Part::Literal(b":".to_vec()),
                Part::Body
            ]
        );
        assert_eq!(Part::parse_template("{body}").unwrap(), vec![Part::Body]);
    }

    #[test]
    fn rejects_bad_templates() {
        assert_eq!(
            Part::parse_template("{timestamp}"),
            Err(TemplateError::Body)
        );
        assert_eq!(
            Part::parse_template("{body}{body}"),
            Err(TemplateError::Body)
        );
        assert_eq!(
            Part::parse_template("{nonce}.{body}"),
            Err(TemplateError::UnknownPlaceholder("nonce".into()))
        );
        assert_eq!(Part::parse_template("{body"), Err(TemplateError::Unclosed));
    }
}
