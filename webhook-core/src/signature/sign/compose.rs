//! Placing the event id and type where a source reads them.

use std::fmt;

use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue};

use super::{FORM_CONTENT_TYPE, JSON_CONTENT_TYPE, SignError, Signer};
use crate::document::{self, InsertError};
use crate::extract::{self, Field, Request, Signed};
use crate::signature::Part;

/// What to send: a body and the event id and type as the caller wants
/// them; what is left out is filled in (see [`Signer::compose`]).
#[derive(Clone, Default)]
pub struct Draft {
    /// The body; `None` sends `{}` plus what is filled in. A body that is
    /// JSON is sent as `application/json`, any other as
    /// `application/x-www-form-urlencoded`.
    pub body: Option<Vec<u8>>,
    /// The event type, e.g. `payment_intent.succeeded` or (GitHub)
    /// `pull_request.opened`.
    pub event_type: Option<String>,
    /// The event id; a fresh one is generated where the id is sent in a
    /// header or must be filled into the body.
    pub event_id: Option<String>,
}

impl fmt::Debug for Draft {
    /// The id and type, and the body's length only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Draft")
            .field(
                "body",
                &self.body.as_ref().map(|b| format!("<{} bytes>", b.len())),
            )
            .field("event_type", &self.event_type)
            .field("event_id", &self.event_id)
            .finish()
    }
}

/// A member added to the JSON body of a [`Draft`] because the body lacked it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filled {
    /// `"event id"` or `"event type"`.
    pub what: &'static str,
    /// Where in the body, as a JSON pointer (`/id`, `/event/type`).
    pub pointer: String,
    /// The value added (a JSON string).
    pub value: String,
}

impl fmt::Display for Filled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "added {:?} at `{}` of the body (for the {})",
            self.value, self.pointer, self.what
        )
    }
}

/// A request ready to sign: the body with what was filled in, and the
/// headers that carry the content type, the event id and the event type.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Composed {
    /// `content-type` and the event headers (no signature yet).
    pub headers: HeaderMap,
    /// The body to sign and send.
    pub body: Vec<u8>,
    /// The message id the signature covers, for schemes that sign one
    /// (Standard Webhooks `webhook-id`, a generic `{id}`).
    pub message_id: Option<String>,
    /// What was added to the body.
    pub filled: Vec<Filled>,
}

/// The role of a value, for messages.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    Id,
    Type,
}

impl Role {
    pub(super) fn what(self) -> &'static str {
        match self {
            Self::Id => "event id",
            Self::Type => "event type",
        }
    }
}

pub(super) fn compose(signer: &Signer, draft: &Draft) -> Result<Composed, SignError> {
    let body = draft.body.clone().unwrap_or_else(|| b"{}".to_vec());
    let form = serde_json::from_slice::<serde::de::IgnoredAny>(&body).is_err();
    let mut headers = HeaderMap::new();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(if form {
            FORM_CONTENT_TYPE
        } else {
            JSON_CONTENT_TYPE
        }),
    );
    let mut compose = Compose {
        signer,
        composed: Composed {
            headers,
            body,
            message_id: None,
            filled: Vec::new(),
        },
        form,
    };
    let fields = &signer.verifier.scheme.fields;
    compose.place(Role::Type, &fields.event_type, draft.event_type.as_deref())?;
    compose.place(Role::Id, &fields.id, draft.event_id.as_deref())?;
    let mut composed = compose.composed;
    if composed.message_id.is_none() && signer.verifier.scheme.signed_content.contains(&Part::Id) {
        composed.message_id = Some(signer.fresh_id());
    }
    Ok(composed)
}

/// A request being composed.
struct Compose<'s> {
    signer: &'s Signer,
    composed: Composed,
    form: bool,
}

impl Compose<'_> {
    /// What the ingest would read for `field` now.
    fn read(&self, role: Role, field: &Field) -> Result<Option<String>, SignError> {
        let signed = Signed {
            id: self.composed.message_id.as_deref(),
            digest: None,
        };
        Ok(
            Request::new(&self.composed.headers, &self.composed.body, signed)
                .find(role.what(), field)?,
        )
    }

    /// The value to put in place: the wanted one, or a fresh id.
    fn value(&self, role: Role, wanted: Option<&str>, field: &Field) -> Result<String, SignError> {
        match (wanted, role) {
            (Some(wanted), _) => Ok(wanted.to_owned()),
            (None, Role::Id) => Ok(self.signer.fresh_id()),
            (None, Role::Type) => Err(SignError::Missing {
                what: role.what(),
                place: extract::describe(field),
            }),
        }
    }

    fn agree(
        &self,
        role: Role,
        wanted: Option<&str>,
        found: String,
        field: &Field,
    ) -> Result<(), SignError> {
        match wanted {
            Some(wanted) if wanted != found => Err(SignError::Mismatch {
                what: role.what(),
                found,
                wanted: wanted.to_owned(),
                place: extract::describe(field),
            }),
            _ => Ok(()),
        }
    }

    fn place(&mut self, role: Role, field: &Field, wanted: Option<&str>) -> Result<(), SignError> {
        match field {
            Field::Header(name) => {
                let value = self.value(role, wanted, field)?;
                let value =
                    HeaderValue::from_str(&value).map_err(|_| SignError::InvalidHeader {
                        what: role.what(),
                        header: name.clone(),
                    })?;
                self.composed.headers.insert(name.clone(), value);
            }
            Field::SignedId => {
                self.composed.message_id = Some(self.value(role, wanted, field)?);
            }
            Field::Json(pointer) => match self.read(role, field)? {
                Some(found) => self.agree(role, wanted, found, field)?,
                None => self.fill(role, pointer, wanted, field)?,
            },
            Field::Fixed(value) => self.agree(role, wanted, value.clone(), field)?,
            Field::SignedDigest | Field::Absent => {
                if wanted.is_some() {
                    return Err(SignError::NotSettable {
                        what: role.what(),
                        place: match field {
                            Field::Absent => {
                                "not sent at all (the ingest generates one for each request)"
                                    .to_owned()
                            }
                            _ => extract::describe(field),
                        },
                    });
                }
            }
            Field::FirstOf(fields) => match self.read(role, field)? {
                Some(found) => self.agree(role, wanted, found, field)?,
                None => {
                    // A prefixed alternative that the value fits (Slack's
                    // `slash_command.` types), else the first plain one.
                    let fits = |f: &&Field| match f {
                        Field::Prefixed(prefix, _) => {
                            wanted.is_some_and(|w| w.starts_with(prefix.as_str()))
                        }
                        _ => false,
                    };
                    let chosen = fields
                        .iter()
                        .find(fits)
                        .or_else(|| fields.iter().find(|f| !matches!(f, Field::Prefixed(..))))
                        .or(fields.first());
                    if let Some(chosen) = chosen {
                        self.place(role, chosen, wanted)?;
                    }
                }
            },
            Field::Dotted(first, second) => {
                let (head, tail) = match wanted.map(|w| w.split_once('.').ok_or(w)) {
                    Some(Ok((head, tail))) => (Some(head), Some(tail)),
                    Some(Err(whole)) => (Some(whole), None),
                    None => (None, None),
                };
                self.place(role, first, head)?;
                match tail {
                    Some(tail) => self.place(role, second, Some(tail))?,
                    None => {
                        if let (Some(wanted), Some(found)) = (wanted, self.read(role, second)?) {
                            return Err(SignError::Mismatch {
                                what: role.what(),
                                found: format!("{wanted}.{found}"),
                                wanted: wanted.to_owned(),
                                place: extract::describe(second),
                            });
                        }
                    }
                }
            }
            Field::Prefixed(prefix, inner) => match wanted {
                Some(wanted) => match wanted.strip_prefix(prefix.as_str()) {
                    Some(rest) => self.place(role, inner, Some(rest))?,
                    None => {
                        return Err(SignError::Prefix {
                            what: role.what(),
                            wanted: wanted.to_owned(),
                            prefix: prefix.clone(),
                            place: extract::describe(inner),
                        });
                    }
                },
                None => self.place(role, inner, None)?,
            },
        }
        Ok(())
    }

    /// Adds the value at `pointer` of the JSON body.
    fn fill(
        &mut self,
        role: Role,
        pointer: &str,
        wanted: Option<&str>,
        field: &Field,
    ) -> Result<(), SignError> {
        if self.form {
            let optional = role == Role::Id
                && wanted.is_none()
                && !self.signer.verifier.scheme.fields.id_required;
            if optional {
                return Ok(());
            }
            return Err(SignError::FormLacks {
                what: role.what(),
                pointer: pointer.to_owned(),
            });
        }
        let value = self.value(role, wanted, field)?;
        let text = std::str::from_utf8(&self.composed.body)
            .map_err(|_| SignError::Unsignable("the JSON body is not UTF-8"))?;
        let body = document::insert_member(text, pointer, &value).map_err(|error| match error {
            InsertError::NotAnObject(at) => SignError::NotAnObject {
                what: role.what(),
                pointer: pointer.to_owned(),
                at: if at.is_empty() {
                    "the body".to_owned()
                } else {
                    format!("`{at}`")
                },
            },
            InsertError::Present => SignError::Null {
                what: role.what(),
                pointer: pointer.to_owned(),
            },
            InsertError::NotJson | InsertError::BadPointer => {
                SignError::Unsignable("the source's JSON pointer does not name a member")
            }
        })?;
        self.composed.body = body.into_bytes();
        self.composed.filled.push(Filled {
            what: role.what(),
            pointer: pointer.to_owned(),
            value,
        });
        Ok(())
    }
}
