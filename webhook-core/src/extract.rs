//! Reading the event id and event type of a verified request.
//!
//! Each provider names its events in its own place: a header (`X-GitHub-Delivery`),
//! a JSON field (Stripe's `id`), or both (GitHub's type is the `X-GitHub-Event`
//! header plus the JSON `action`). A [`Field`] says where; the body is parsed as
//! JSON at most once, and only when a field needs it, always after the
//! signature was verified.

use std::cell::OnceCell;

use http::{HeaderMap, HeaderName, header::CONTENT_TYPE};

use crate::document::{self, Document, Scalar};

/// The longest event id or event type accepted, in bytes. Both end up in Redis
/// keys and in logs, so they are bounded.
pub const MAX_FIELD_LEN: usize = 256;

/// Where a scheme finds the event id and the event type.
#[derive(Clone, Debug)]
pub struct EventFields {
    /// Where the event id is.
    pub id: Field,
    /// Whether a request without an id is refused (`true`) or gets a
    /// generated id (`false`). Providers that sign no timestamp require it:
    /// it is what dedupes their retries.
    pub id_required: bool,
    /// Where the event type is; always required.
    pub event_type: Field,
}

/// A place to read a value from.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Field {
    /// A request header.
    Header(HeaderName),
    /// A JSON value of the body, by JSON pointer (`/id`, `/event/type`); a
    /// string, or a number taken as its exact text. For a form-encoded
    /// request (`content-type: application/x-www-form-urlencoded`, and a
    /// body that is not itself JSON) the document is the JSON in its `payload` field, or, without one, the
    /// form's fields (`/command`).
    Json(String),
    /// Always this value.
    Fixed(String),
    /// The message id that was part of the signed content, from the header
    /// family the request was verified with (Standard Webhooks
    /// `webhook-id` / `svix-id`): the id is then as authentic as the body.
    SignedId,
    /// `sha256:<hex>`, the SHA-256 digest of the signed content (every
    /// signed part, in order): for senders whose own id is not signed. A
    /// captured request re-sent unchanged is then a duplicate, and it cannot
    /// be stored again under a new id; a sender's retry that signs a new
    /// timestamp is a new event.
    SignedDigest,
    /// The first of these that is present.
    FirstOf(Vec<Field>),
    /// `{first}.{second}` when the second is present, else `{first}`
    /// (GitHub: `pull_request.opened` from `X-GitHub-Event` and the JSON
    /// `action`; `push` when there is no action).
    Dotted(Box<Field>, Box<Field>),
    /// `{prefix}{value}` when the field is present (Slack slash commands:
    /// `slash_command./deploy` from the form field `command`).
    Prefixed(String, Box<Field>),
    /// Nowhere: the value is never present.
    Absent,
}

impl Field {
    /// Calls `f` on this field and on every field it is made of, depth
    /// first.
    pub(crate) fn visit<'a>(&'a self, f: &mut dyn FnMut(&'a Field)) {
        f(self);
        match self {
            Self::FirstOf(fields) => fields.iter().for_each(|field| field.visit(f)),
            Self::Dotted(first, second) => {
                first.visit(f);
                second.visit(f);
            }
            Self::Prefixed(_, field) => field.visit(f),
            Self::Header(_)
            | Self::Json(_)
            | Self::Fixed(_)
            | Self::SignedId
            | Self::SignedDigest
            | Self::Absent => {}
        }
    }

    fn any(&self, test: impl Fn(&Field) -> bool) -> bool {
        let mut found = false;
        self.visit(&mut |field| found |= test(field));
        found
    }

    /// Whether this field, or one it is made of, is read from a request
    /// header (which a signature may not cover).
    pub fn reads_header(&self) -> bool {
        self.any(|field| matches!(field, Self::Header(_)))
    }

    /// Whether this field, or one it is made of, is [`Field::SignedDigest`].
    pub(crate) fn needs_digest(&self) -> bool {
        self.any(|field| matches!(field, Self::SignedDigest))
    }
}

/// The id and type of an event, read from a verified request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventMeta {
    /// The provider's event or delivery id; `None` where the provider sent
    /// none and the scheme allows that (the ingest then generates one).
    pub id: Option<String>,
    /// The event type, e.g. `payment_intent.succeeded`.
    pub event_type: String,
}

/// Why the id or type of a verified request could not be read (HTTP 400).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExtractError {
    /// The value is read from the JSON body, but the body is not JSON.
    #[error("the {what} is read from the JSON body, but the body is not valid JSON: {error}")]
    NotJson {
        /// `"event id"` or `"event type"`.
        what: &'static str,
        /// The JSON parser's message (position and kind; no body content).
        error: String,
    },
    /// The value is not where the provider puts it.
    #[error("the request has no {what}: expected {place}")]
    Missing {
        /// `"event id"` or `"event type"`.
        what: &'static str,
        /// Where it was looked for.
        place: String,
    },
    /// The value is present but unusable.
    #[error("the {what} is unusable: {reason}")]
    Invalid {
        /// `"event id"` or `"event type"`.
        what: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// What the verifier learnt from the signed content of a request.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Signed<'a> {
    /// The message id header that was part of the signed content.
    pub(crate) id: Option<&'a str>,
    /// The [`Field::SignedDigest`] of the signed content, when computed.
    pub(crate) digest: Option<&'a str>,
}

/// Reads fields from one request, parsing the body as JSON at most once.
pub(crate) struct Request<'a> {
    headers: &'a HeaderMap,
    body: &'a [u8],
    signed: Signed<'a>,
    document: OnceCell<Result<Document<'a>, String>>,
}

enum Lookup {
    Found(String),
    NotFound,
    NotJson(String),
    Unusable(&'static str),
}

impl<'a> Request<'a> {
    pub(crate) fn new(headers: &'a HeaderMap, body: &'a [u8], signed: Signed<'a>) -> Self {
        Self {
            headers,
            body,
            signed,
            document: OnceCell::new(),
        }
    }

    /// Reads the id and the type as `fields` says.
    pub(crate) fn event_meta(&self, fields: &EventFields) -> Result<EventMeta, ExtractError> {
        let id = self.read("event id", &fields.id, fields.id_required)?;
        let event_type = self
            .read("event type", &fields.event_type, true)?
            .ok_or_else(|| ExtractError::Missing {
                what: "event type",
                place: describe(&fields.event_type),
            })?;
        Ok(EventMeta { id, event_type })
    }

    /// The value of `field` in this request, if it is there: what the
    /// ingest would read, before the request is signed (used to fill in
    /// what a request to send lacks).
    pub(crate) fn find(
        &self,
        what: &'static str,
        field: &Field,
    ) -> Result<Option<String>, ExtractError> {
        self.read(what, field, false)
    }

    fn read(
        &self,
        what: &'static str,
        field: &Field,
        required: bool,
    ) -> Result<Option<String>, ExtractError> {
        match self.lookup(field) {
            Lookup::Found(value) => check(what, value).map(Some),
            Lookup::NotFound if required => Err(ExtractError::Missing {
                what,
                place: describe(field),
            }),
            Lookup::NotFound => Ok(None),
            Lookup::NotJson(error) => Err(ExtractError::NotJson { what, error }),
            Lookup::Unusable(reason) => Err(ExtractError::Invalid { what, reason }),
        }
    }

    fn lookup(&self, field: &Field) -> Lookup {
        match field {
            Field::Header(name) => match self.headers.get(name) {
                None => Lookup::NotFound,
                Some(value) => match value.to_str() {
                    Ok(text) => Lookup::Found(text.to_owned()),
                    Err(_) => Lookup::Unusable("the header is not visible ASCII"),
                },
            },
            Field::Json(pointer) => match self.document() {
                Err(error) => Lookup::NotJson(error.clone()),
                Ok(document) => match document.pointer(pointer) {
                    Scalar::Missing => Lookup::NotFound,
                    Scalar::Text(text) => Lookup::Found(text),
                    Scalar::Unusable => {
                        Lookup::Unusable("the JSON value is neither a string nor a number")
                    }
                },
            },
            Field::Fixed(value) => Lookup::Found(value.clone()),
            Field::SignedId => match self.signed.id {
                Some(id) => Lookup::Found(id.to_owned()),
                None => Lookup::NotFound,
            },
            Field::SignedDigest => match self.signed.digest {
                Some(digest) => Lookup::Found(digest.to_owned()),
                None => Lookup::NotFound,
            },
            Field::FirstOf(fields) => {
                let mut first_problem = None;
                for field in fields {
                    match self.lookup(field) {
                        Lookup::NotFound => {}
                        found @ Lookup::Found(_) => return found,
                        problem => {
                            first_problem.get_or_insert(problem);
                        }
                    }
                }
                first_problem.unwrap_or(Lookup::NotFound)
            }
            Field::Dotted(first, second) => match self.lookup(first) {
                Lookup::Found(first) => match self.lookup(second) {
                    Lookup::Found(second) => Lookup::Found(format!("{first}.{second}")),
                    // A body that is not JSON simply has no second part
                    // (GitHub can deliver form-encoded payloads).
                    Lookup::NotFound | Lookup::NotJson(_) => Lookup::Found(first),
                    unusable @ Lookup::Unusable(_) => unusable,
                },
                other => other,
            },
            Field::Prefixed(prefix, field) => match self.lookup(field) {
                Lookup::Found(value) => Lookup::Found(format!("{prefix}{value}")),
                other => other,
            },
            Field::Absent => Lookup::NotFound,
        }
    }

    fn document(&self) -> &Result<Document<'a>, String> {
        self.document.get_or_init(|| {
            let content_type = self.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
            // serde_json's messages name the position and the kind of
            // problem, never the content of the body.
            Document::read(self.body, document::reads_as_form(content_type, self.body))
        })
    }
}

fn check(what: &'static str, value: String) -> Result<String, ExtractError> {
    let reason = if value.is_empty() {
        "it is empty"
    } else if value.len() > MAX_FIELD_LEN {
        "it is longer than 256 bytes"
    } else if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        "it contains whitespace or control characters"
    } else {
        return Ok(value);
    };
    Err(ExtractError::Invalid { what, reason })
}

pub(crate) fn describe(field: &Field) -> String {
    match field {
        Field::Header(name) => format!("header `{name}`"),
        Field::Json(pointer) => format!("JSON value at `{pointer}`"),
        Field::Fixed(value) => format!("the fixed value `{value}`"),
        Field::SignedId => "the signed message id header".to_owned(),
        Field::SignedDigest => "the digest of the signed content".to_owned(),
        Field::FirstOf(fields) => fields.iter().map(describe).collect::<Vec<_>>().join(" or "),
        Field::Dotted(first, _) | Field::Prefixed(_, first) => describe(first),
        Field::Absent => "nothing (this source has no such field)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    HeaderName::from_static(k),
                    http::HeaderValue::from_static(v),
                )
            })
            .collect()
    }

    fn github() -> EventFields {
        EventFields {
            id: Field::Header(HeaderName::from_static("x-github-delivery")),
            id_required: true,
            event_type: Field::Dotted(
                Box::new(Field::Header(HeaderName::from_static("x-github-event"))),
                Box::new(Field::Json("/action".into())),
            ),
        }
    }

    #[test]
    fn github_type_includes_the_action_when_there_is_one() {
        let h = headers(&[
            ("x-github-delivery", "d-1"),
            ("x-github-event", "pull_request"),
        ]);
        let meta = Request::new(&h, br#"{"action":"opened"}"#, Signed::default())
            .event_meta(&github())
            .unwrap();
        assert_eq!(meta.id.as_deref(), Some("d-1"));
        assert_eq!(meta.event_type, "pull_request.opened");

        let meta = Request::new(&h, br#"{"ref":"main"}"#, Signed::default())
            .event_meta(&github())
            .unwrap();
        assert_eq!(meta.event_type, "pull_request");
        let meta = Request::new(&h, b"payload=%7B%7D", Signed::default())
            .event_meta(&github())
            .unwrap();
        assert_eq!(meta.event_type, "pull_request");
    }

    #[test]
    fn missing_required_id_names_the_place() {
        let h = headers(&[("x-github-event", "push")]);
        let err = Request::new(&h, b"{}", Signed::default())
            .event_meta(&github())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the request has no event id: expected header `x-github-delivery`"
        );
    }

    #[test]
    fn json_fields_parse_the_body_once_and_report_non_json() {
        let fields = EventFields {
            id: Field::Json("/id".into()),
            id_required: true,
            event_type: Field::FirstOf(vec![
                Field::Json("/event/type".into()),
                Field::Json("/type".into()),
            ]),
        };
        let h = HeaderMap::new();
        let meta = Request::new(
            &h,
            br#"{"id":42,"type":"outer","event":{"type":"inner"}}"#,
            Signed::default(),
        )
        .event_meta(&fields)
        .unwrap();
        assert_eq!(
            meta,
            EventMeta {
                id: Some("42".into()),
                event_type: "inner".into()
            }
        );

        let err = Request::new(&h, b"not json", Signed::default())
            .event_meta(&fields)
            .unwrap_err();
        assert!(
            matches!(
                err,
                ExtractError::NotJson {
                    what: "event id",
                    ..
                }
            ),
            "{err}"
        );
        assert!(!err.to_string().contains("not json"), "{err}");
    }

    #[test]
    fn unusable_values_are_refused() {
        let fields = EventFields {
            id: Field::Json("/id".into()),
            id_required: false,
            event_type: Field::Json("/type".into()),
        };
        let h = HeaderMap::new();
        for body in [
            r#"{"type":""}"#.to_owned(),
            r#"{"type":"a b"}"#.to_owned(),
            r#"{"type":{"nested":1}}"#.to_owned(),
            format!(r#"{{"type":"{}"}}"#, "x".repeat(MAX_FIELD_LEN + 1)),
        ] {
            let err = Request::new(&h, body.as_bytes(), Signed::default())
                .event_meta(&fields)
                .unwrap_err();
            assert!(
                matches!(
                    err,
                    ExtractError::Invalid {
                        what: "event type",
                        ..
                    }
                ),
                "{err}"
            );
        }
        let meta = Request::new(&h, br#"{"type":"t"}"#, Signed::default())
            .event_meta(&fields)
            .unwrap();
        assert_eq!(meta.id, None);
    }
}
