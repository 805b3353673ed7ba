//! The event envelope: what an event is once verified, and its stream encoding.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use crate::layout::{ENVELOPE_VERSION, field};

/// A verified event as the ingest stores it and the worker reads it.
///
/// The body is kept exactly as received (it need not be UTF-8); `Debug`
/// shows its length only.
///
/// ```
/// use webhook_core::Envelope;
///
/// let envelope = Envelope::new("evt_1", "payment_intent.succeeded", "stripe", &b"{}"[..]);
/// let encoded = envelope.encode();
/// let fields = encoded.fields().map(|(k, v)| (k.as_bytes().to_vec(), v.to_vec()));
/// assert_eq!(Envelope::decode(fields)?, envelope);
/// # Ok::<(), webhook_core::envelope::DecodeError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Envelope {
    /// The provider's event or delivery id, or a generated one.
    pub id: String,
    /// The event type, e.g. `payment_intent.succeeded`.
    pub event_type: String,
    /// The name of the source it came in through.
    pub source: String,
    /// When the ingest received it, in Unix milliseconds.
    pub received_at_ms: u64,
    /// The delivery attempt, from 1.
    pub attempt: u32,
    /// The request headers kept with the event (lower-case names).
    pub headers: BTreeMap<String, String>,
    /// The raw request body.
    pub body: Bytes,
}

impl Envelope {
    /// An envelope received now, at attempt 1, without headers.
    pub fn new(
        id: impl Into<String>,
        event_type: impl Into<String>,
        source: impl Into<String>,
        body: impl Into<Bytes>,
    ) -> Self {
        Self {
            id: id.into(),
            event_type: event_type.into(),
            source: source.into(),
            received_at_ms: unix_ms(SystemTime::now()),
            attempt: 1,
            headers: BTreeMap::new(),
            body: body.into(),
        }
    }

    /// Sets the retained headers.
    pub fn with_headers(mut self, headers: BTreeMap<String, String>) -> Self {
        self.headers = headers;
        self
    }

    /// Sets the time of receipt.
    pub fn with_received_at(mut self, at: SystemTime) -> Self {
        self.received_at_ms = unix_ms(at);
        self
    }

    /// Sets the delivery attempt.
    pub fn with_attempt(mut self, attempt: u32) -> Self {
        self.attempt = attempt;
        self
    }

    /// A new, unique event id for events whose provider sent none: a UUIDv7,
    /// so ids sort by time of creation.
    pub fn generate_id() -> String {
        uuid::Uuid::now_v7().to_string()
    }

    /// When the ingest received the event.
    pub fn received_at(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.received_at_ms)
    }

    /// A retained header by name (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        if name.bytes().any(|b| b.is_ascii_uppercase()) {
            self.headers
                .get(&name.to_ascii_lowercase())
                .map(String::as_str)
        } else {
            self.headers.get(name).map(String::as_str)
        }
    }

    /// Encodes the envelope for a stream entry; see [`EncodedEnvelope::fields`].
    pub fn encode(&self) -> EncodedEnvelope<'_> {
        EncodedEnvelope {
            envelope: self,
            received_at: self.received_at_ms.to_string(),
            attempt: self.attempt.to_string(),
            // A map of strings always serializes.
            headers: serde_json::to_vec(&self.headers).unwrap_or_default(),
        }
    }

    /// Decodes the fields of a stream entry. The body is taken without a copy
    /// where the value type allows (`Vec<u8>`, `Bytes`); unknown fields are
    /// ignored so newer writers can add some.
    pub fn decode<K, V>(fields: impl IntoIterator<Item = (K, V)>) -> Result<Self, DecodeError>
    where
        K: AsRef<[u8]>,
        V: AsRef<[u8]> + Into<Bytes>,
    {
        let mut version = None;
        let mut id = None;
        let mut event_type = None;
        let mut source = None;
        let mut received_at = None;
        let mut attempt = None;
        let mut headers = None;
        let mut body = None;
        for (name, value) in fields {
            let (name, slot) = match std::str::from_utf8(name.as_ref()) {
                Ok(field::VERSION) => (field::VERSION, &mut version),
                Ok(field::ID) => (field::ID, &mut id),
                Ok(field::TYPE) => (field::TYPE, &mut event_type),
                Ok(field::SOURCE) => (field::SOURCE, &mut source),
                Ok(field::RECEIVED_AT) => (field::RECEIVED_AT, &mut received_at),
                Ok(field::ATTEMPT) => (field::ATTEMPT, &mut attempt),
                Ok(field::HEADERS) => (field::HEADERS, &mut headers),
                Ok(field::BODY) => (field::BODY, &mut body),
                _ => continue,
            };
            if slot.replace(value.into()).is_some() {
                return Err(DecodeError::Duplicate(name));
            }
        }
        let version = utf8(field::VERSION, required(field::VERSION, version)?)?;
        if version != ENVELOPE_VERSION {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        let headers = required(field::HEADERS, headers)?;
        Ok(Self {
            id: utf8(field::ID, required(field::ID, id)?)?,
            event_type: utf8(field::TYPE, required(field::TYPE, event_type)?)?,
            source: utf8(field::SOURCE, required(field::SOURCE, source)?)?,
            received_at_ms: number(field::RECEIVED_AT, received_at)?,
            attempt: number(field::ATTEMPT, attempt)?,
            headers: serde_json::from_slice(&headers).map_err(|_| DecodeError::Invalid {
                field: field::HEADERS,
                reason: "not a JSON object of strings",
            })?,
            body: required(field::BODY, body)?,
        })
    }
}

impl fmt::Debug for Envelope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Envelope")
            .field("id", &self.id)
            .field("event_type", &self.event_type)
            .field("source", &self.source)
            .field("received_at_ms", &self.received_at_ms)
            .field("attempt", &self.attempt)
            .field("headers", &self.headers)
            .field("body", &format_args!("<{} bytes>", self.body.len()))
            .finish()
    }
}

/// An envelope's stream fields, borrowed from the envelope where possible.
#[derive(Debug)]
pub struct EncodedEnvelope<'a> {
    envelope: &'a Envelope,
    received_at: String,
    attempt: String,
    headers: Vec<u8>,
}

impl EncodedEnvelope<'_> {
    /// The `(field, value)` pairs to write with `XADD`, in order; the names
    /// are those of [`layout::field`](crate::layout::field).
    pub fn fields(&self) -> [(&'static str, &[u8]); 8] {
        let e = self.envelope;
        [
            (field::VERSION, ENVELOPE_VERSION.as_bytes()),
            (field::ID, e.id.as_bytes()),
            (field::TYPE, e.event_type.as_bytes()),
            (field::SOURCE, e.source.as_bytes()),
            (field::RECEIVED_AT, self.received_at.as_bytes()),
            (field::ATTEMPT, self.attempt.as_bytes()),
            (field::HEADERS, &self.headers),
            (field::BODY, &e.body),
        ]
    }
}

/// Why stream fields do not decode into an envelope.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// A required field is missing.
    #[error("the stream entry has no `{0}` field; it was not written by this project's ingest")]
    Missing(&'static str),
    /// A field appears twice.
    #[error("the stream entry has the `{0}` field twice")]
    Duplicate(&'static str),
    /// A field's value is unusable.
    #[error("the `{field}` field of the stream entry is invalid: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// The entry was written in a format version this build does not read.
    #[error(
        "the stream entry has envelope version `{0}`, but this build reads version 1; upgrade the worker"
    )]
    UnsupportedVersion(String),
}

fn required(field: &'static str, value: Option<Bytes>) -> Result<Bytes, DecodeError> {
    value.ok_or(DecodeError::Missing(field))
}

fn utf8(field: &'static str, value: Bytes) -> Result<String, DecodeError> {
    String::from_utf8(value.into()).map_err(|_| DecodeError::Invalid {
        field,
        reason: "not UTF-8",
    })
}

fn number<N: std::str::FromStr>(
    field: &'static str,
    value: Option<Bytes>,
) -> Result<N, DecodeError> {
    std::str::from_utf8(&required(field, value)?)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or(DecodeError::Invalid {
            field,
            reason: "not a decimal number",
        })
}

fn unix_ms(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |since| {
        u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
    })
}
