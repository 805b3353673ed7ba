//! The built-in providers, each a [`Scheme`] value.
//!
//! Checked against each provider's published documentation and official
//! libraries; the tests carry their published vectors.

use std::time::Duration;

use http::HeaderName;

use super::scheme::{
    Acknowledgement, Algorithm, Encoding, Handshake, HeaderSet, KeyFormat, Part, Scheme,
    SignatureFormat, TemplateError, Version,
};
use crate::extract::{EventFields, Field};

/// The default timestamp window: five minutes either way.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// A provider whose signature scheme is built in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Provider {
    /// Stripe: `Stripe-Signature: t=<ts>,v1=<hex>`.
    Stripe,
    /// GitHub: `X-Hub-Signature-256: sha256=<hex>`.
    #[serde(rename = "github")]
    GitHub,
    /// Slack: `X-Slack-Signature: v0=<hex>` with `X-Slack-Request-Timestamp`.
    Slack,
    /// Shopify: `X-Shopify-Hmac-SHA256: <base64>`.
    Shopify,
    /// Standard Webhooks and Svix: `webhook-signature: v1,<b64> v1a,<b64>`
    /// (or the `svix-*` headers).
    #[serde(alias = "svix")]
    StandardWebhooks,
    /// A configurable HMAC-SHA256 sender; see [`GenericHmac`].
    Hmac,
}

impl Provider {
    /// The provider's name as written in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stripe => "stripe",
            Self::GitHub => "github",
            Self::Slack => "slack",
            Self::Shopify => "shopify",
            Self::StandardWebhooks => "standard-webhooks",
            Self::Hmac => "hmac",
        }
    }

    /// The scheme of a built-in provider; `None` for [`Provider::Hmac`],
    /// whose scheme comes from [`GenericHmac::scheme`].
    pub fn scheme(self) -> Option<Scheme> {
        Some(match self {
            Self::Stripe => stripe(),
            Self::GitHub => github(),
            Self::Slack => slack(),
            Self::Shopify => shopify(),
            Self::StandardWebhooks => standard_webhooks(),
            Self::Hmac => return None,
        })
    }
}

fn header(name: &'static str) -> HeaderName {
    HeaderName::from_static(name)
}

fn json(pointer: &str) -> Field {
    Field::Json(pointer.to_owned())
}

fn literal(text: &str) -> Part {
    Part::Literal(text.as_bytes().to_vec())
}

fn stripe() -> Scheme {
    Scheme {
        name: "stripe",
        test_id_prefix: "evt_test_",
        headers: vec![HeaderSet {
            signature: header("stripe-signature"),
            timestamp: None,
            id: None,
        }],
        signature_headers: vec![header("stripe-signature")],
        // Only `v1` is checked: `v0` is Stripe's test-mode SHA-1 scheme and
        // must never be accepted.
        format: SignatureFormat::Pairs {
            timestamp_key: "t".into(),
            versions: vec![Version::new("v1", Algorithm::HmacSha256)],
        },
        encoding: Encoding::Hex,
        // The key is the bytes of the whole `whsec_...` string.
        key_format: KeyFormat::Raw,
        signed_content: vec![Part::Timestamp, literal("."), Part::Body],
        tolerance: Some(DEFAULT_TOLERANCE),
        fields: EventFields {
            id: json("/id"),
            id_required: true,
            event_type: json("/type"),
        },
        handshake: None,
        acknowledgement: Acknowledgement::Status,
    }
}

fn github() -> Scheme {
    Scheme {
        name: "github",
        test_id_prefix: "",
        headers: vec![HeaderSet {
            signature: header("x-hub-signature-256"),
            timestamp: None,
            id: None,
        }],
        // `x-hub-signature` is the legacy SHA-1 of the body, sent beside
        // the SHA-256 one; never checked, never stored.
        signature_headers: vec![header("x-hub-signature-256"), header("x-hub-signature")],
        format: SignatureFormat::Single {
            prefix: "sha256=".into(),
            algorithm: Algorithm::HmacSha256,
        },
        encoding: Encoding::Hex,
        key_format: KeyFormat::Raw,
        signed_content: vec![Part::Body],
        // GitHub signs neither a timestamp nor the delivery id: a captured
        // request can be replayed under a new `X-GitHub-Delivery`, which
        // dedupe cannot see. Handlers stay idempotent on the payload's ids.
        tolerance: None,
        fields: EventFields {
            id: Field::Header(header("x-github-delivery")),
            id_required: true,
            event_type: Field::Dotted(
                Box::new(Field::Header(header("x-github-event"))),
                Box::new(json("/action")),
            ),
        },
        handshake: Some(Handshake::GitHubPing),
        acknowledgement: Acknowledgement::Status,
    }
}

fn slack() -> Scheme {
    Scheme {
        name: "slack",
        test_id_prefix: "EvTEST",
        headers: vec![HeaderSet {
            signature: header("x-slack-signature"),
            timestamp: Some(header("x-slack-request-timestamp")),
            id: None,
        }],
        signature_headers: vec![header("x-slack-signature")],
        format: SignatureFormat::Single {
            prefix: "v0=".into(),
            algorithm: Algorithm::HmacSha256,
        },
        encoding: Encoding::Hex,
        key_format: KeyFormat::Raw,
        signed_content: vec![literal("v0:"), Part::Timestamp, literal(":"), Part::Body],
        tolerance: Some(DEFAULT_TOLERANCE),
        fields: EventFields {
            // Events API callbacks carry `event_id`; interactivity payloads
            // (JSON in a form's `payload` field) and slash commands (form
            // fields) only the per-invocation `trigger_id`; `url_verification`
            // neither (an id is then generated). All are in the signed body.
            id: Field::FirstOf(vec![json("/event_id"), json("/trigger_id")]),
            id_required: false,
            // `event_callback` by its inner type, interactivity by its
            // `type` (`block_actions`, `view_submission`), a slash command
            // as `slash_command.<command>` (`slash_command./deploy`).
            event_type: Field::FirstOf(vec![
                json("/event/type"),
                json("/type"),
                Field::Prefixed("slash_command.".into(), Box::new(json("/command"))),
            ]),
        },
        handshake: Some(Handshake::SlackUrlVerification),
        acknowledgement: Acknowledgement::EmptyForForms,
    }
}

fn shopify() -> Scheme {
    Scheme {
        name: "shopify",
        test_id_prefix: "",
        headers: vec![HeaderSet {
            signature: header("x-shopify-hmac-sha256"),
            timestamp: None,
            id: None,
        }],
        signature_headers: vec![header("x-shopify-hmac-sha256")],
        format: SignatureFormat::Single {
            prefix: String::new(),
            algorithm: Algorithm::HmacSha256,
        },
        encoding: Encoding::Base64,
        key_format: KeyFormat::Raw,
        signed_content: vec![Part::Body],
        tolerance: None,
        fields: EventFields {
            // Per delivery; `X-Shopify-Event-Id` is shared by every delivery
            // of one action and would merge distinct webhooks.
            id: Field::Header(header("x-shopify-webhook-id")),
            id_required: true,
            event_type: Field::Header(header("x-shopify-topic")),
        },
        handshake: None,
        acknowledgement: Acknowledgement::Status,
    }
}

fn standard_webhooks() -> Scheme {
    let set = |signature, timestamp, id| HeaderSet {
        signature: header(signature),
        timestamp: Some(header(timestamp)),
        id: Some(header(id)),
    };
    Scheme {
        name: "standard-webhooks",
        test_id_prefix: "msg_test_",
        headers: vec![
            set("webhook-signature", "webhook-timestamp", "webhook-id"),
            set("svix-signature", "svix-timestamp", "svix-id"),
        ],
        // Both families, whichever the request was verified with.
        signature_headers: vec![header("webhook-signature"), header("svix-signature")],
        format: SignatureFormat::Spaced {
            versions: vec![
                Version::new("v1", Algorithm::HmacSha256),
                Version::new("v1a", Algorithm::Ed25519),
            ],
        },
        encoding: Encoding::Base64,
        key_format: KeyFormat::StandardWebhooks,
        signed_content: vec![
            Part::Id,
            literal("."),
            Part::Timestamp,
            literal("."),
            Part::Body,
        ],
        tolerance: Some(DEFAULT_TOLERANCE),
        fields: EventFields {
            // The id of the header family that was verified, never another.
            id: Field::SignedId,
            id_required: true,
            event_type: json("/type"),
        },
        handshake: None,
        acknowledgement: Acknowledgement::Status,
    }
}

/// The settings of a home-grown HMAC-SHA256 sender.
///
/// ```
/// use http::HeaderName;
/// use webhook_core::signature::{Encoding, GenericHmac};
/// use webhook_core::extract::Field;
///
/// let scheme = GenericHmac {
///     signature_header: HeaderName::from_static("x-signature"),
///     encoding: Encoding::Hex,
///     prefix: "sha256=".into(),
///     timestamp_header: Some(HeaderName::from_static("x-timestamp")),
///     id_header: None,
///     // The delivery id is signed too: an id header outside the signed
///     // content is refused.
///     signed_content: "{id}.{timestamp}.{body}".into(),
///     tolerance: None,
///     event_id: Field::Header(HeaderName::from_static("x-delivery")),
///     event_type: Field::Json("/type".into()),
/// }
/// .scheme()
/// .unwrap();
/// assert_eq!(scheme.name, "hmac");
/// ```
#[derive(Clone, Debug)]
pub struct GenericHmac {
    /// The header carrying the signature.
    pub signature_header: HeaderName,
    /// How the signature is written.
    pub encoding: Encoding,
    /// Text before the signature, such as `sha256=` (may be empty).
    pub prefix: String,
    /// A header carrying a Unix timestamp in seconds; when set, it is
    /// required, must be signed (`{timestamp}` in the template) and is
    /// checked against the window.
    pub timestamp_header: Option<HeaderName>,
    /// A header carrying a message id that the template signs as `{id}`;
    /// when unset and the template signs `{id}`, it is the header
    /// [`event_id`](Self::event_id) names.
    pub id_header: Option<HeaderName>,
    /// The signed bytes, with `{body}` once and optionally `{timestamp}` and
    /// `{id}`; the default is `{body}`.
    pub signed_content: String,
    /// The timestamp window; default [`DEFAULT_TOLERANCE`] when a timestamp
    /// header is set.
    pub tolerance: Option<Duration>,
    /// Where the event id is; [`Field::Absent`] to generate one.
    ///
    /// The id is what dedupes deliveries, so it must come from signed bytes:
    /// a JSON value of a signed body, [`Field::SignedDigest`], or a header
    /// that the template signs as `{id}` (then read as [`Field::SignedId`]).
    /// Any other header is refused ([`GenericHmacError::UnsignedEventId`]):
    /// whoever saw one request could re-send it under new ids, each stored
    /// as a new event, and the real events with those ids would then be
    /// answered as duplicates and dropped.
    pub event_id: Field,
    /// Where the event type is.
    pub event_type: Field,
}

/// Why [`GenericHmac`] settings do not make a scheme.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GenericHmacError {
    /// The signed-content template is invalid.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// The template signs `{timestamp}` but no timestamp header is set.
    #[error("the signed content uses `{{timestamp}}`, but no `timestamp_header` is set")]
    NoTimestampHeader,
    /// The template signs `{id}` but no id header is set.
    #[error("the signed content uses `{{id}}`, but no `id_header` is set")]
    NoIdHeader,
    /// A window is set but there is no timestamp to check it against.
    #[error("a `tolerance` is set, but no `timestamp_header` gives a timestamp to check")]
    ToleranceWithoutTimestamp,
    /// A timestamp header is set but the signed content does not include it,
    /// so anyone could change it: checking its window would protect nothing.
    #[error(
        "a `timestamp_header` is set, but the signed content does not contain `{{timestamp}}`, so the timestamp is not signed; add `{{timestamp}}` to `signed_content` or remove `timestamp_header`"
    )]
    UnsignedTimestamp,
    /// The event id is read from a header the signature does not cover.
    #[error(
        "reads the event id from a header that is not signed, so one captured request could be re-sent under new ids and make the real events look like duplicates; sign it (`{{id}}` in `signed_content`, e.g. \"{{id}}.{{timestamp}}.{{body}}\"), read it from the signed body ({{ json = \"/id\" }}), or set event_id = \"signed-digest\" to dedupe on a digest of the signed bytes"
    )]
    UnsignedEventId,
    /// The event id is read from a header other than the signed `id_header`.
    #[error(
        "reads the event id from another header than `id_header`, the one signed as `{{id}}`; name the same header in both, or leave `id_header` out"
    )]
    EventIdNotIdHeader,
    /// The signed digest is used for something other than the event id.
    #[error("can be \"signed-digest\" only for `event_id`")]
    MisplacedDigest,
}

impl GenericHmacError {
    /// The configuration field at fault.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Template(_) | Self::NoTimestampHeader | Self::NoIdHeader => "signed_content",
            Self::ToleranceWithoutTimestamp => "tolerance",
            Self::UnsignedTimestamp => "timestamp_header",
            Self::UnsignedEventId | Self::EventIdNotIdHeader => "event_id",
            Self::MisplacedDigest => "event_type",
        }
    }
}

impl GenericHmac {
    /// Builds the scheme, checking that the settings fit together.
    pub fn scheme(mut self) -> Result<Scheme, GenericHmacError> {
        let signed_content = Part::parse_template(&self.signed_content)?;
        if signed_content.contains(&Part::Timestamp) && self.timestamp_header.is_none() {
            return Err(GenericHmacError::NoTimestampHeader);
        }
        if self.event_type.needs_digest() {
            return Err(GenericHmacError::MisplacedDigest);
        }
        if let Field::Header(name) = &self.event_id {
            if !signed_content.contains(&Part::Id) {
                return Err(GenericHmacError::UnsignedEventId);
            }
            match &self.id_header {
                None => self.id_header = Some(name.clone()),
                Some(signed) if signed == name => {}
                Some(_) => return Err(GenericHmacError::EventIdNotIdHeader),
            }
            self.event_id = Field::SignedId;
        } else if self.event_id.reads_header() {
            return Err(GenericHmacError::UnsignedEventId);
        }
        if signed_content.contains(&Part::Id) && self.id_header.is_none() {
            return Err(GenericHmacError::NoIdHeader);
        }
        if self.timestamp_header.is_some() && !signed_content.contains(&Part::Timestamp) {
            return Err(GenericHmacError::UnsignedTimestamp);
        }
        let tolerance = match (&self.timestamp_header, self.tolerance) {
            (None, Some(_)) => return Err(GenericHmacError::ToleranceWithoutTimestamp),
            (None, None) => None,
            (Some(_), tolerance) => Some(tolerance.unwrap_or(DEFAULT_TOLERANCE)),
        };
        let id_required = !matches!(self.event_id, Field::Absent);
        Ok(Scheme {
            name: "hmac",
            test_id_prefix: "",
            signature_headers: vec![self.signature_header.clone()],
            headers: vec![HeaderSet {
                signature: self.signature_header,
                timestamp: self.timestamp_header,
                id: self.id_header,
            }],
            format: SignatureFormat::Single {
                prefix: self.prefix,
                algorithm: Algorithm::HmacSha256,
            },
            encoding: self.encoding,
            key_format: KeyFormat::Raw,
            signed_content,
            tolerance,
            fields: EventFields {
                id: self.event_id,
                id_required,
                event_type: self.event_type,
            },
            handshake: None,
            acknowledgement: Acknowledgement::Status,
        })
    }
}
