//! Provider signature verification on the raw request bytes.
//!
//! A [`Verifier`] holds one source's [`Scheme`] and its keys. It checks the
//! signature over the exact bytes received, before anything parses them, and
//! only a [`Verified`] request can be asked for its event id and type.
//!
//! A [`Signer`] does the opposite, from the same [`Scheme`]: it signs test
//! requests exactly as the provider does (`webhook send`).
//!
//! ```
//! use http::{HeaderMap, HeaderValue};
//! use webhook_core::Secret;
//! use webhook_core::signature::{Provider, Verifier};
//!
//! // GitHub's documented example.
//! let scheme = Provider::GitHub.scheme().unwrap();
//! let verifier = Verifier::new(scheme, &[Secret::from("It's a Secret to Everybody")])?;
//!
//! let mut headers = HeaderMap::new();
//! headers.insert(
//!     "x-hub-signature-256",
//!     HeaderValue::from_static(
//!         "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
//!     ),
//! );
//! headers.insert("x-github-delivery", HeaderValue::from_static("72d3162e-cc78-11e3-81ab-4c9367dc0958"));
//! headers.insert("x-github-event", HeaderValue::from_static("ping"));
//!
//! let verified = verifier.verify(&headers, b"Hello, World!")?;
//! let meta = verified.event_meta()?;
//! assert_eq!(meta.event_type, "ping");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
mod header;
mod key;
mod providers;
mod retain;
mod scheme;
mod sign;

use std::collections::BTreeMap;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use hmac::Mac as _;
use http::{HeaderMap, HeaderName};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

pub use error::{KeyError, VerifyError};
pub use providers::{DEFAULT_TOLERANCE, GenericHmac, GenericHmacError, Provider};
pub use retain::{DROPPED_HEADERS_MARKER, HeaderLimits, RetainedHeaders};
pub use scheme::{
    Acknowledgement, Algorithm, Encoding, Handshake, HeaderSet, KeyFormat, Part, Scheme,
    SignatureFormat, TemplateError, Version,
};
pub use sign::{
    Composed, Draft, FORM_CONTENT_TYPE, Filled, JSON_CONTENT_TYPE, SignError, SignedRequest, Signer,
};

use crate::Secret;
use crate::extract::{EventMeta, ExtractError, Request, Signed};
use key::Key;

/// Verifies requests of one source: a scheme and its keys.
///
/// Keys are derived once, when the verifier is built; several secrets may be
/// given at once (rotation), and a request passes when any of its signatures
/// matches any of them.
#[derive(Clone)]
pub struct Verifier {
    scheme: Scheme,
    keys: Vec<Key>,
    /// Whether the event id is [`Field::SignedDigest`](crate::extract::Field::SignedDigest)
    /// (then each verified request's signed content is digested once).
    digest_id: bool,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("scheme", &self.scheme.name)
            .field("secrets", &self.keys.len())
            .finish_non_exhaustive()
    }
}

/// A request whose signature checked out.
pub struct Verified<'a> {
    verifier: &'a Verifier,
    headers: &'a HeaderMap,
    body: &'a [u8],
    signed_id: Option<&'a str>,
    signed_digest: Option<String>,
    secret_index: usize,
    timestamp: Option<u64>,
}

impl fmt::Debug for Verified<'_> {
    /// The scheme, the matching secret's position, the timestamp and the
    /// body's length: never headers (signatures, credentials) or the body.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verified")
            .field("scheme", &self.verifier.scheme.name)
            .field("secret_index", &self.secret_index)
            .field("timestamp", &self.timestamp)
            .field("body", &format_args!("<{} bytes>", self.body.len()))
            .finish()
    }
}

impl Verifier {
    /// Builds a verifier, deriving a key from each secret.
    pub fn new(scheme: Scheme, secrets: &[Secret]) -> Result<Self, KeyError> {
        if secrets.is_empty() {
            return Err(KeyError::NoSecrets);
        }
        let keys = secrets
            .iter()
            .enumerate()
            .map(|(i, secret)| key::derive(&scheme, i + 1, secret))
            .collect::<Result<_, _>>()?;
        let digest_id = scheme.fields.id.needs_digest();
        Ok(Self {
            scheme,
            keys,
            digest_id,
        })
    }

    /// The scheme this verifier checks.
    pub fn scheme(&self) -> &Scheme {
        &self.scheme
    }

    /// Verifies a request against the system clock.
    pub fn verify<'a>(
        &'a self,
        headers: &'a HeaderMap,
        body: &'a [u8],
    ) -> Result<Verified<'a>, VerifyError> {
        self.verify_at(headers, body, SystemTime::now())
    }

    /// Verifies a request as if the time were `now` (for tests and replays of
    /// recorded traffic).
    pub fn verify_at<'a>(
        &'a self,
        headers: &'a HeaderMap,
        body: &'a [u8],
        now: SystemTime,
    ) -> Result<Verified<'a>, VerifyError> {
        let scheme = &self.scheme;
        let set = scheme
            .headers
            .iter()
            .find(|set| headers.contains_key(&set.signature))
            .ok_or_else(|| VerifyError::MissingHeader {
                header: scheme.headers[0].signature.clone(),
            })?;
        let value = text(headers, &set.signature)?;
        let parsed = header::parse(&set.signature, value, &scheme.format, scheme.encoding)?;

        let timestamp_text = match (parsed.timestamp, &set.timestamp) {
            (Some(text), _) => Some(text),
            (None, Some(name)) if scheme.needs_timestamp() => Some(text(headers, name)?),
            (None, _) => None,
        };
        let timestamp = match timestamp_text {
            Some(text) => Some(self.check_window(set, text, now)?),
            None => None,
        };
        let id = match &set.id {
            Some(name) if scheme.signed_content.contains(&Part::Id) => Some(text(headers, name)?),
            _ => None,
        };

        let content = |sink: &mut dyn FnMut(&[u8])| {
            for part in &scheme.signed_content {
                match part {
                    Part::Literal(bytes) => sink(bytes),
                    Part::Timestamp => sink(timestamp_text.unwrap_or_default().as_bytes()),
                    Part::Id => sink(id.unwrap_or_default().as_bytes()),
                    Part::Body => sink(body),
                }
            }
        };
        let mut message = None;
        for (index, key) in self.keys.iter().enumerate() {
            let matched = match key {
                Key::Hmac(keyed) => {
                    let mut mac = keyed.clone();
                    content(&mut |bytes| mac.update(bytes));
                    let tag = mac.finalize().into_bytes();
                    parsed
                        .signatures
                        .iter()
                        .filter(|s| s.algorithm == Algorithm::HmacSha256)
                        .any(|s| bool::from(tag.as_slice().ct_eq(s.bytes())))
                }
                Key::Ed25519(public) => {
                    let message: &Vec<u8> = message.get_or_insert_with(|| {
                        let mut buffer = Vec::with_capacity(body.len() + 64);
                        content(&mut |bytes| buffer.extend_from_slice(bytes));
                        buffer
                    });
                    parsed
                        .signatures
                        .iter()
                        .filter(|s| s.algorithm == Algorithm::Ed25519)
                        .any(|s| {
                            ed25519_dalek::Signature::from_slice(s.bytes())
                                .is_ok_and(|sig| public.verify_strict(message, &sig).is_ok())
                        })
                }
            };
            if matched {
                let signed_digest = self.digest_id.then(|| {
                    let mut digest = Sha256::new();
                    content(&mut |bytes| digest.update(bytes));
                    format!("sha256:{}", hex::encode(digest.finalize()))
                });
                return Ok(Verified {
                    verifier: self,
                    headers,
                    body,
                    signed_id: id,
                    signed_digest,
                    secret_index: index,
                    timestamp,
                });
            }
        }
        Err(VerifyError::NoMatch {
            secrets: self.keys.len(),
        })
    }

    fn check_window(
        &self,
        set: &HeaderSet,
        text: &str,
        now: SystemTime,
    ) -> Result<u64, VerifyError> {
        let header = set.timestamp.as_ref().unwrap_or(&set.signature).clone();
        let timestamp: u64 = text
            .parse()
            .ok()
            .filter(|_| text.bytes().all(|b| b.is_ascii_digit()))
            .ok_or(VerifyError::MalformedHeader {
                header,
                reason: "the timestamp is not a whole number of seconds",
            })?;
        if let Some(tolerance) = self.scheme.tolerance {
            let now = match now.duration_since(UNIX_EPOCH) {
                Ok(since) => i128::from(since.as_secs()),
                Err(before) => -i128::from(before.duration().as_secs()),
            };
            let skew = now - i128::from(timestamp);
            if skew.unsigned_abs() > u128::from(tolerance.as_secs()) {
                return Err(VerifyError::TimestampOutsideWindow {
                    skew_secs: i64::try_from(skew).unwrap_or(if skew < 0 {
                        i64::MIN
                    } else {
                        i64::MAX
                    }),
                    tolerance_secs: tolerance.as_secs(),
                });
            }
        }
        Ok(timestamp)
    }

    /// The request headers worth keeping with the event, within the
    /// default [`HeaderLimits`]; see [`retain_headers`](Self::retain_headers).
    pub fn retained_headers(&self, headers: &HeaderMap) -> BTreeMap<String, String> {
        self.retain_headers(headers).headers
    }

    /// The request headers worth keeping with the event, and how many were
    /// left out: everything but credentials (`authorization`, `cookie`,
    /// ...), hop-by-hop headers and every signature header of the provider
    /// (legacy ones too, such as GitHub's SHA-1 `x-hub-signature`), with
    /// lower-case names; repeated headers are joined with `, ` and values
    /// that are not UTF-8 are converted lossily.
    ///
    /// Within the default [`HeaderLimits`] (8 KiB per value, 32 KiB and 64
    /// headers in all): `content-type` and the headers the scheme reads
    /// come first, then the rest in request order; a header that does not
    /// fit is left out whole and counted in
    /// [`RetainedHeaders::dropped`], and the kept headers then carry
    /// [`DROPPED_HEADERS_MARKER`] with that count.
    pub fn retain_headers(&self, headers: &HeaderMap) -> RetainedHeaders {
        self.retain_headers_within(headers, &HeaderLimits::default())
    }

    /// Like [`retain_headers`](Self::retain_headers), within `limits`.
    pub fn retain_headers_within(
        &self,
        headers: &HeaderMap,
        limits: &HeaderLimits,
    ) -> RetainedHeaders {
        retain::retain(&self.scheme, headers, limits)
    }
}

impl Verified<'_> {
    /// The position (from 0) of the configured secret that matched; a
    /// rotation is complete when only the newest one still matches.
    pub fn secret_index(&self) -> usize {
        self.secret_index
    }

    /// The signed timestamp (Unix seconds), for schemes that sign one.
    pub fn timestamp(&self) -> Option<u64> {
        self.timestamp
    }

    /// The answer to a handshake request (Slack `url_verification`, GitHub
    /// `ping`) with event type `event_type`, which the ingest sends instead
    /// of storing the request; `None` for every other request.
    pub fn handshake_answer(&self, event_type: &str) -> Option<Vec<u8>> {
        self.verifier
            .scheme
            .handshake?
            .answer(event_type, self.body)
    }

    /// Whether the ingest answers this request, once stored, with an empty
    /// 200 rather than its status body ([`Acknowledgement::EmptyForForms`]:
    /// Slack's form-encoded slash commands and interactivity payloads).
    pub fn empty_acknowledgement(&self) -> bool {
        match self.verifier.scheme.acknowledgement {
            Acknowledgement::Status => false,
            Acknowledgement::EmptyForForms => {
                let content_type = self
                    .headers
                    .get(http::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok());
                crate::document::reads_as_form(content_type, self.body)
            }
        }
    }

    /// Reads the event id and type, from headers or the JSON body as the
    /// provider puts them. The body is parsed only here, after verification.
    pub fn event_meta(&self) -> Result<EventMeta, ExtractError> {
        let signed = Signed {
            id: self.signed_id,
            digest: self.signed_digest.as_deref(),
        };
        Request::new(self.headers, self.body, signed).event_meta(&self.verifier.scheme.fields)
    }
}

fn text<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Result<&'a str, VerifyError> {
    headers
        .get(name)
        .ok_or_else(|| VerifyError::MissingHeader {
            header: name.clone(),
        })?
        .to_str()
        .map_err(|_| VerifyError::MalformedHeader {
            header: name.clone(),
            reason: "it is not visible ASCII",
        })
}
