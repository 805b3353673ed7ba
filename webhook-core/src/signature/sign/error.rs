//! Why a request cannot be signed.

use http::HeaderName;

use crate::extract::ExtractError;
use crate::signature::{KeyError, VerifyError};

/// Why a request cannot be signed. Messages never contain a secret or a
/// signature.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// A configured secret is not a usable key.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Every secret is an Ed25519 public key, which cannot sign.
    #[error(
        "none of the {secrets} configured secret(s) can sign: each is a Standard Webhooks Ed25519 public key (`whpk_`), which can only verify `v1a` signatures, and its private key stays with the sender; to send test requests, add the source's `whsec_` signing secret to its `secrets`"
    )]
    NoSigningSecret {
        /// How many secrets are configured.
        secrets: usize,
    },
    /// The scheme signs a message id, but none was given.
    #[error("the scheme signs a message id (the `{header}` header), but none was given")]
    MissingMessageId {
        /// The header that carries it.
        header: HeaderName,
    },
    /// A value cannot be sent in a header.
    #[error("the {what} cannot be sent in the `{header}` header: use visible ASCII without spaces")]
    InvalidHeader {
        /// `"event id"`, `"event type"` or `"message id"`.
        what: &'static str,
        /// The header.
        header: HeaderName,
    },
    /// The value is needed, was not given and cannot be generated.
    #[error("no {what} was given, and the request carries none in {place}; give the {what}")]
    Missing {
        /// `"event type"` or `"event id"`.
        what: &'static str,
        /// Where the source reads it.
        place: String,
    },
    /// The body already carries another value than the one given.
    #[error(
        "the body already carries the {what} `{found}` (in {place}), not `{wanted}`; a body is never rewritten, so change the one or the other"
    )]
    Mismatch {
        /// `"event type"` or `"event id"`.
        what: &'static str,
        /// The value in the request.
        found: String,
        /// The value given.
        wanted: String,
        /// Where the source reads it.
        place: String,
    },
    /// The source does not let the sender choose the value.
    #[error("the {what} of this source cannot be chosen: it is {place}")]
    NotSettable {
        /// `"event type"` or `"event id"`.
        what: &'static str,
        /// What the source reads instead.
        place: String,
    },
    /// The value does not have the prefix the source adds to it.
    #[error(
        "the {what} `{wanted}` does not start with `{prefix}`, as every {what} of {place} does"
    )]
    Prefix {
        /// `"event type"` or `"event id"`.
        what: &'static str,
        /// The value given.
        wanted: String,
        /// The prefix, e.g. `slash_command.`.
        prefix: String,
        /// Where the source reads it.
        place: String,
    },
    /// A form body lacks a value, and forms are sent as given.
    #[error(
        "the form body has no {what} (`{pointer}`); a body that is not JSON is sent exactly as given, so add the field to it"
    )]
    FormLacks {
        /// `"event type"` or `"event id"`.
        what: &'static str,
        /// Where it is read, as a JSON pointer (`/command`).
        pointer: String,
    },
    /// The value goes into a JSON body that is not an object there.
    #[error(
        "the {what} goes at `{pointer}` of the JSON body, but {at} is not a JSON object; send an object"
    )]
    NotAnObject {
        /// `"event type"` or `"event id"`.
        what: &'static str,
        /// Where it goes.
        pointer: String,
        /// The part that is not an object (`the body`, `` `/event` ``).
        at: String,
    },
    /// The body holds `null` where the value goes.
    #[error(
        "the body has `null` at `{pointer}`, where the {what} goes; put the {what} there or remove the member"
    )]
    Null {
        /// `"event type"` or `"event id"`.
        what: &'static str,
        /// Where.
        pointer: String,
    },
    /// The ingest could not read the event id or type of the request.
    #[error("the ingest would refuse this request: {0}")]
    Event(#[from] ExtractError),
    /// The signed request does not verify: a bug.
    #[error(
        "the signed request does not verify ({0}); this is a bug in the signer, please report it"
    )]
    SelfCheck(VerifyError),
    /// The scheme is of a shape this signer cannot produce.
    #[error("this scheme cannot be signed: {0}")]
    Unsignable(&'static str),
}
