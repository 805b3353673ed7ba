//! Why a request or a secret was refused.

use http::HeaderName;

/// Why a request's signature was refused (HTTP 401).
///
/// Messages name the header and the problem, never a secret, a signature or
/// a header's value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// A header the scheme needs is not in the request.
    #[error(
        "the request has no `{header}` header; check that the source is configured with the provider that sends to it"
    )]
    MissingHeader {
        /// The header that is missing.
        header: HeaderName,
    },
    /// A header is present but cannot be read.
    #[error("the `{header}` header is malformed: {reason}")]
    MalformedHeader {
        /// The malformed header.
        header: HeaderName,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The signature header holds only signatures of versions this source
    /// does not check (Stripe `v0`, for example).
    #[error(
        "the `{header}` header holds no signature of a version this source checks ({accepted})"
    )]
    NoSupportedSignature {
        /// The signature header.
        header: HeaderName,
        /// The versions that would have been checked, e.g. `v1`.
        accepted: String,
    },
    /// No signature matched any configured secret.
    #[error(
        "no signature matched any of the {secrets} configured secret(s); check that the source's secret is the provider's current signing secret"
    )]
    NoMatch {
        /// How many secrets were tried.
        secrets: usize,
    },
    /// The signed timestamp is too far from the server's clock.
    #[error(
        "the signed timestamp is {skew_secs} s away from the server's clock (positive: in the past), outside the {tolerance_secs} s window; a replayed request, or a clock to fix"
    )]
    TimestampOutsideWindow {
        /// Server time minus signed time, in seconds.
        skew_secs: i64,
        /// The accepted distance in either direction, in seconds.
        tolerance_secs: u64,
    },
}

/// Why a configured secret cannot be used as a key.
///
/// Secrets are named by their position (1 for the first), never by value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// No secret was given.
    #[error("no secret is configured; give at least one")]
    NoSecrets,
    /// A secret is empty.
    #[error("secret {index} is empty")]
    Empty {
        /// The secret's position, from 1.
        index: usize,
    },
    /// A Standard Webhooks secret is not base64 after its prefix.
    #[error(
        "secret {index} is not valid base64 after its `{prefix}` prefix; copy the whole secret from the provider's dashboard"
    )]
    NotBase64 {
        /// The secret's position, from 1.
        index: usize,
        /// The prefix that was stripped (`whsec_`, `whpk_`, or empty).
        prefix: &'static str,
    },
    /// A `whpk_` public key is not a valid Ed25519 public key.
    #[error("secret {index} is not a valid Ed25519 public key (32 bytes after `whpk_`)")]
    BadPublicKey {
        /// The secret's position, from 1.
        index: usize,
    },
    /// A private signing key (`whsk_`) was configured where a public key belongs.
    #[error(
        "secret {index} is a private signing key (`whsk_`); configure its public key (`whpk_`) instead and keep the private key with the sender"
    )]
    PrivateKey {
        /// The secret's position, from 1.
        index: usize,
    },
    /// The secret is of a kind this scheme never uses.
    #[error("secret {index} is an {kind} key, but this provider sends no {kind} signatures")]
    Unused {
        /// The secret's position, from 1.
        index: usize,
        /// The key kind, e.g. `Ed25519`.
        kind: &'static str,
    },
}
