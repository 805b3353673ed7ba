//! Source configuration: which providers send to this service, with which
//! secrets, into which queue.
//!
//! Sources are `[sources.<name>]` tables of a TOML file. Secrets are never
//! written in the file: each names an environment variable or a file.
//!
//! ```toml
//! [sources.stripe]
//! provider = "stripe"
//! secrets = [{ env = "STRIPE_WEBHOOK_SECRET" }, { file = "/run/secrets/stripe-previous" }]
//! queue = "payments"              # default "default"
//! tolerance = "5m"                # timestamp window, default 5 minutes
//! event_types = ["payment_intent.*", "charge.refunded"]  # default: all
//!
//! [sources.billing]
//! provider = "hmac"               # a home-grown HMAC-SHA256 sender
//! secrets = [{ env = "BILLING_SECRET" }]
//! signature_header = "X-Signature"
//! encoding = "hex"                # or "base64"; default "hex"
//! prefix = "sha256="              # optional
//! timestamp_header = "X-Timestamp" # optional; must be signed, then checked against `tolerance`
//! signed_content = "{id}.{timestamp}.{body}"  # default "{body}"
//! event_id = { header = "X-Delivery-Id" } # must be signed as `{id}`; or { json = "/id" },
//!                                 # or "signed-digest"; default: generated
//! event_type = { json = "/type" } # or { header = "..." } or { value = "..." }
//! ```
//!
//! ```
//! use webhook_core::config::SourcesConfig;
//!
//! let config = SourcesConfig::from_toml(r#"
//!     [sources.github]
//!     provider = "github"
//!     secrets = [{ env = "GITHUB_WEBHOOK_SECRET" }]
//! "#)?;
//! let sources = config.resolve_with(|name| (name == "GITHUB_WEBHOOK_SECRET").then(|| "s3cret".to_owned()))?;
//! assert_eq!(sources[0].name, "github");
//! assert_eq!(sources[0].queue, "default");
//! # Ok::<(), webhook_core::config::ConfigError>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use http::HeaderName;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use crate::extract::Field;
use crate::signature::{Encoding, GenericHmac, Provider, Verifier};
use crate::{EventPattern, Secret};

/// The widest timestamp window a source may set: one hour.
pub const MAX_TOLERANCE_SECS: u64 = 3600;

/// The queue a source writes to when it names none.
pub const DEFAULT_QUEUE: &str = "default";

/// The `[sources.*]` tables of a configuration file.
#[derive(Debug, Deserialize)]
pub struct SourcesConfig {
    /// Each source by name.
    pub sources: BTreeMap<String, SourceConfig>,
}

/// One `[sources.<name>]` table, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// The provider that sends to this source.
    pub provider: Provider,
    /// Where the secrets are; several are all accepted (rotation).
    pub secrets: Vec<SecretRef>,
    /// The queue its events go to.
    #[serde(default)]
    pub queue: Option<String>,
    /// The timestamp window, e.g. `"5m"`; only for providers that sign a timestamp.
    #[serde(default, deserialize_with = "optional_duration")]
    pub tolerance: Option<Duration>,
    /// Event-type patterns to store; others are answered 200 and dropped.
    #[serde(default)]
    pub event_types: Option<Vec<String>>,
    /// `hmac` only: the signature header.
    #[serde(default)]
    pub signature_header: Option<String>,
    /// `hmac` only: `hex` (default) or `base64`.
    #[serde(default)]
    pub encoding: Option<Encoding>,
    /// `hmac` only: text before the signature, such as `sha256=`.
    #[serde(default)]
    pub prefix: Option<String>,
    /// `hmac` only: a header with a signed Unix timestamp in seconds.
    #[serde(default)]
    pub timestamp_header: Option<String>,
    /// `hmac` only: a header with a message id, signed as `{id}`.
    #[serde(default)]
    pub id_header: Option<String>,
    /// `hmac` only: the signed bytes, e.g. `{timestamp}.{body}`; default `{body}`.
    #[serde(default)]
    pub signed_content: Option<String>,
    /// `hmac` only: where the event id is; generated when absent. A header
    /// must be signed (`{id}` in `signed_content`); `"signed-digest"` dedupes
    /// on a digest of the signed bytes instead.
    #[serde(default)]
    pub event_id: Option<FieldConfig>,
    /// `hmac` only (required there): where the event type is.
    #[serde(default)]
    pub event_type: Option<FieldConfig>,
}

/// Where a secret is read from; never the secret itself.
///
/// `Debug` shows only which kind it is: a secret pasted in place of the
/// variable name or path must not reach a log.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum SecretRef {
    /// An environment variable: `{ env = "STRIPE_WEBHOOK_SECRET" }`.
    Env(String),
    /// A file, e.g. a mounted secret: `{ file = "/run/secrets/stripe" }`.
    File(PathBuf),
}

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Env(_) => f.write_str("Env(..)"),
            Self::File(_) => f.write_str("File(..)"),
        }
    }
}

/// Where a generic HMAC source finds a value.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum FieldConfig {
    /// A request header: `{ header = "X-Event" }`.
    Header(String),
    /// A JSON pointer into the body: `{ json = "/type" }`.
    Json(String),
    /// A fixed value: `{ value = "invoice.paid" }`.
    Value(String),
    /// `event_id` only: `"signed-digest"`, the SHA-256 digest of the signed
    /// bytes ([`Field::SignedDigest`]), for senders whose id is not signed.
    #[serde(rename = "signed-digest")]
    SignedDigest,
}

/// A source ready to verify requests.
#[derive(Debug)]
pub struct Source {
    /// The source's name; requests arrive at `/webhooks/<name>`.
    pub name: String,
    /// The queue its events go to.
    pub queue: String,
    /// The verifier with the source's keys.
    pub verifier: Verifier,
    /// The event types to store; `None` stores all.
    pub event_types: Option<Vec<EventPattern>>,
}

impl Source {
    /// Whether events of this type are stored.
    pub fn accepts(&self, event_type: &str) -> bool {
        self.event_types
            .as_ref()
            .is_none_or(|patterns| patterns.iter().any(|p| p.matches(event_type)))
    }
}

/// An invalid configuration; says where and what to change.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file is not valid TOML or does not have the expected shape.
    #[error("invalid configuration at `{path}`: {message}")]
    Parse {
        /// The dotted path of the offending value (`sources.stripe.tolerance`).
        path: String,
        /// What is wrong, with line and column where known.
        message: String,
    },
    /// A source's settings do not work.
    #[error("source `{name}`: `{field}` {problem}")]
    Source {
        /// The source's name.
        name: String,
        /// The offending field.
        field: &'static str,
        /// What is wrong and what to do.
        problem: String,
    },
}

/// Parses a TOML configuration into `T`; an error names the dotted path of
/// the offending value, such as `sources.stripe.tolerance`.
///
/// Messages give the line and column but never quote the file: a value the
/// user put in the wrong place may be a secret. For the same reason, a
/// problem under `secrets` is described without its value.
pub fn from_toml<T: DeserializeOwned>(text: &str) -> Result<T, ConfigError> {
    let deserializer = toml::Deserializer::parse(text).map_err(|error| ConfigError::Parse {
        path: ".".to_owned(),
        message: describe_toml_error(text, &error),
    })?;
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let inner = error.inner().clone();
        let path = safe_path(error.path(), inner.message());
        let message = if path.contains("secrets") {
            let at = describe_toml_error(text, &inner);
            let at = at.split_once(": ").map_or("", |(at, _)| at);
            format!("{at}: each secret is {{ env = \"VARIABLE\" }} or {{ file = \"/path\" }}; secrets are never written in the file itself")
        } else {
            describe_toml_error(text, &inner)
        };
        ConfigError::Parse { path, message }
    })
}

/// The dotted path of a value, without a key the program does not know: for
/// ``unknown field `x` `` the path ends in `x`, which may be anything.
fn safe_path(path: &serde_path_to_error::Path, message: &str) -> String {
    let unknown = ["unknown field `", "unknown variant `"]
        .iter()
        .find_map(|start| message.strip_prefix(start))
        .and_then(|rest| rest.split_once('`'))
        .map(|(name, _)| name);
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            serde_path_to_error::Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            serde_path_to_error::Segment::Map { key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(if Some(key.as_str()) == unknown {
                    "..."
                } else {
                    key
                });
            }
            serde_path_to_error::Segment::Enum { variant } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(if Some(variant.as_str()) == unknown {
                    "..."
                } else {
                    variant
                });
            }
            serde_path_to_error::Segment::Unknown => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push('?');
            }
        }
    }
    if out.is_empty() { ".".to_owned() } else { out }
}

/// `line L, column C: message`, without the quoted source line and without
/// any value the file holds (see [`hide_typed`]).
fn describe_toml_error(text: &str, error: &toml::de::Error) -> String {
    let message = hide_typed(error.message().trim_end());
    match error.span() {
        Some(span) => {
            let before = &text.as_bytes()[..span.start.min(text.len())];
            let line = before.iter().filter(|b| **b == b'\n').count() + 1;
            let column = before.len()
                - before
                    .iter()
                    .rposition(|b| *b == b'\n')
                    .map_or(0, |i| i + 1)
                + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => format!("line ?, column ?: {message}"),
    }
}

/// The parser's message without what the file holds. serde and toml quote
/// the offending value or key (``unknown variant `whsec_...` ``, `invalid
/// type: string "..."`); a secret pasted in the wrong place would land in a
/// log, so everything quoted before `expected` (which lists what this
/// program accepts) is replaced by `...`, and so is any stray text that is
/// not plain words.
fn hide_typed(message: &str) -> String {
    // The last `, expected` is the parser's own: a typed value comes before
    // it, and may itself contain the word or any quote character.
    let split = message
        .rfind(", expected")
        .or_else(|| message.find("expected"));
    let (typed, expected) = match split {
        Some(at) => message.split_at(at),
        None => (message, ""),
    };
    let quote = |c: char| matches!(c, '`' | '"' | '\'');
    // Everything from the first quote to the last, escapes and all.
    let hidden = match (typed.find(quote), typed.rfind(quote)) {
        (Some(first), Some(last)) if last > first => {
            format!("{}...{}", &typed[..=first], &typed[last..])
        }
        (Some(first), _) => format!("{}...", &typed[..=first]),
        _ => typed.to_owned(),
    };
    hidden + expected
}

impl SourcesConfig {
    /// Parses the `[sources.*]` tables of a TOML file; other tables are ignored.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        from_toml(text)
    }

    /// Reads every source's secrets from the process environment and files,
    /// and builds its verifier.
    pub fn resolve(&self) -> Result<Vec<Source>, ConfigError> {
        self.resolve_with(|name| std::env::var(name).ok())
    }

    /// Like [`resolve`](Self::resolve), reading environment variables through `env`.
    pub fn resolve_with(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Vec<Source>, ConfigError> {
        self.sources
            .iter()
            .map(|(name, config)| config.resolve(name, &env))
            .collect()
    }
}

impl SourceConfig {
    /// Checks the settings of source `name`, reads its secrets and builds
    /// its verifier.
    pub fn resolve(
        &self,
        name: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Source, ConfigError> {
        let fail = |field: &'static str, problem: String| ConfigError::Source {
            name: name.to_owned(),
            field,
            problem,
        };
        if !valid_name(name) {
            return Err(fail(
                "name",
                "must be 1 to 64 letters, digits, `-` or `_` (it is part of the URL and of Redis keys)".into(),
            ));
        }
        let queue = self
            .queue
            .clone()
            .unwrap_or_else(|| DEFAULT_QUEUE.to_owned());
        if !valid_name(&queue) {
            return Err(fail(
                "queue",
                "must be 1 to 64 letters, digits, `-` or `_`".into(),
            ));
        }

        let mut scheme = match self.provider.scheme() {
            Some(scheme) => {
                self.no_hmac_settings().map_err(|field| {
                    fail(
                        field,
                        format!(
                            "only applies to provider = \"hmac\", not \"{}\"; remove it",
                            self.provider.as_str()
                        ),
                    )
                })?;
                scheme
            }
            None => self.generic_hmac(&fail)?,
        };
        if let Some(tolerance) = self.tolerance {
            if tolerance.subsec_nanos() != 0
                || !(1..=MAX_TOLERANCE_SECS).contains(&tolerance.as_secs())
            {
                return Err(fail(
                    "tolerance",
                    "must be whole seconds from 1s to 1h; timestamps are signed in seconds".into(),
                ));
            }
            match &mut scheme.tolerance {
                Some(window) => *window = tolerance,
                None if self.provider == Provider::Hmac => {}
                None => {
                    return Err(fail(
                        "tolerance",
                        format!(
                            "has no effect: {} signs no timestamp; remove it",
                            self.provider.as_str()
                        ),
                    ));
                }
            }
        }

        let event_types = match &self.event_types {
            None => None,
            Some(patterns) if patterns.is_empty() => {
                return Err(fail(
                    "event_types",
                    "is empty, which would drop every event; list patterns, or remove it to store every type".into(),
                ));
            }
            Some(patterns) => Some(
                patterns
                    .iter()
                    .enumerate()
                    .map(|(i, p)| {
                        EventPattern::parse(p).map_err(|e| {
                            fail(
                                "event_types",
                                format!("has an invalid pattern (item {}): {e}", i + 1),
                            )
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };

        let secrets = self
            .secrets
            .iter()
            .enumerate()
            .map(|(i, secret)| {
                read_secret(i + 1, secret, env).map_err(|problem| fail("secrets", problem))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let verifier =
            Verifier::new(scheme, &secrets).map_err(|e| fail("secrets", e.to_string()))?;

        Ok(Source {
            name: name.to_owned(),
            queue,
            verifier,
            event_types,
        })
    }

    /// The first generic-HMAC setting that is set, as an error.
    fn no_hmac_settings(&self) -> Result<(), &'static str> {
        let set = [
            ("signature_header", self.signature_header.is_some()),
            ("encoding", self.encoding.is_some()),
            ("prefix", self.prefix.is_some()),
            ("timestamp_header", self.timestamp_header.is_some()),
            ("id_header", self.id_header.is_some()),
            ("signed_content", self.signed_content.is_some()),
            ("event_id", self.event_id.is_some()),
            ("event_type", self.event_type.is_some()),
        ];
        match set.iter().find(|(_, is_set)| *is_set) {
            Some((field, _)) => Err(field),
            None => Ok(()),
        }
    }

    fn generic_hmac(
        &self,
        fail: &dyn Fn(&'static str, String) -> ConfigError,
    ) -> Result<crate::signature::Scheme, ConfigError> {
        let header = |field: &'static str, name: &str| {
            HeaderName::try_from(name).map_err(|_| fail(field, "is not a valid header name".into()))
        };
        let optional_header =
            |field, name: &Option<String>| name.as_deref().map(|n| header(field, n)).transpose();
        let field = |what: &'static str, config: &FieldConfig| -> Result<Field, ConfigError> {
            Ok(match config {
                FieldConfig::Header(name) => Field::Header(header(what, name)?),
                FieldConfig::Json(pointer) if pointer.is_empty() || pointer.starts_with('/') => {
                    Field::Json(pointer.clone())
                }
                FieldConfig::Json(_) => {
                    return Err(fail(
                        what,
                        "is not a JSON pointer; write it like { json = \"/type\" } or { json = \"/data/event\" }".into(),
                    ));
                }
                FieldConfig::Value(value) => Field::Fixed(value.clone()),
                FieldConfig::SignedDigest => Field::SignedDigest,
            })
        };
        let signature_header = match &self.signature_header {
            Some(name) => header("signature_header", name)?,
            None => return Err(fail(
                "signature_header",
                "is required for provider = \"hmac\": name the header that carries the signature"
                    .into(),
            )),
        };
        let event_type = match &self.event_type {
            Some(config) => field("event_type", config)?,
            None => {
                return Err(fail(
                    "event_type",
                    "is required for provider = \"hmac\": { header = \"...\" }, { json = \"/...\" } or { value = \"...\" }".into(),
                ));
            }
        };
        let generic = GenericHmac {
            signature_header,
            encoding: self.encoding.unwrap_or(Encoding::Hex),
            prefix: self.prefix.clone().unwrap_or_default(),
            timestamp_header: optional_header("timestamp_header", &self.timestamp_header)?,
            id_header: optional_header("id_header", &self.id_header)?,
            signed_content: self
                .signed_content
                .clone()
                .unwrap_or_else(|| "{body}".to_owned()),
            tolerance: self.tolerance,
            event_id: self
                .event_id
                .as_ref()
                .map(|c| field("event_id", c))
                .transpose()?
                .unwrap_or(Field::Absent),
            event_type,
        };
        generic.scheme().map_err(|e| fail(e.field(), e.to_string()))
    }
}

/// Resolves every `[sources.<name>]` table: reads secrets (environment
/// variables through `env`) and builds verifiers.
pub fn resolve_sources(
    sources: &BTreeMap<String, SourceConfig>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<Source>, ConfigError> {
    sources
        .iter()
        .map(|(name, config)| config.resolve(name, env))
        .collect()
}

/// Reads one secret. Errors name the secret by its position, never by the
/// variable name or path written: a secret pasted there by mistake would
/// otherwise end up in a log.
fn read_secret(
    position: usize,
    secret: &SecretRef,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Secret, String> {
    let value = match secret {
        SecretRef::Env(name) => env(name).ok_or_else(|| {
            format!("item {position} names an environment variable that is not set; export it (the name is not repeated here, in case a secret was pasted in its place)")
        })?,
        SecretRef::File(path) => std::fs::read_to_string(path).map_err(|error| {
            format!("item {position} names a file that cannot be read ({error}); check the path and its permissions")
        })?,
    };
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(match secret {
            SecretRef::Env(_) => {
                format!("item {position} names an environment variable that is empty")
            }
            SecretRef::File(_) => format!("item {position} names a file that is empty"),
        });
    }
    Ok(Secret::from(trimmed))
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Deserializes an optional duration written like `"5m"` or `"300s"`; for
/// `#[serde(default, deserialize_with = "...")]` on configuration fields.
pub fn optional_duration<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(deserializer)?;
    // humantime's message quotes the text; it may be anything.
    humantime::parse_duration(&text).map(Some).map_err(|_| {
        serde::de::Error::custom("not a duration: expected one like \"5m\" or \"300s\"")
    })
}
