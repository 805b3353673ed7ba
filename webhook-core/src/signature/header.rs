//! Reading signatures (and Stripe's timestamp) out of a signature header.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::HeaderName;

use super::VerifyError;
use super::scheme::{Algorithm, Encoding, SignatureFormat, Version};

/// The most signatures one header may carry; bounds the work per request.
const MAX_SIGNATURES: usize = 16;

/// One decoded signature.
pub(crate) struct Signature {
    pub(crate) algorithm: Algorithm,
    bytes: [u8; 64],
}

impl Signature {
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes[..self.algorithm.signature_len()]
    }
}

/// What a signature header holds.
pub(crate) struct Parsed<'a> {
    /// The timestamp, for formats that carry it in the signature header.
    pub(crate) timestamp: Option<&'a str>,
    /// The signatures of checked versions; never empty.
    pub(crate) signatures: Vec<Signature>,
}

pub(crate) fn parse<'a>(
    header: &HeaderName,
    value: &'a str,
    format: &SignatureFormat,
    encoding: Encoding,
) -> Result<Parsed<'a>, VerifyError> {
    let malformed = |reason| VerifyError::MalformedHeader {
        header: header.clone(),
        reason,
    };
    let mut parsed = Parsed {
        timestamp: None,
        signatures: Vec::new(),
    };
    // Signatures of a checked version that do not decode are skipped, as the
    // providers' own libraries do (they can only fail to match); a header
    // whose every such signature is unreadable is malformed.
    let mut listed = 0usize;
    let mut push = |algorithm: Algorithm, text: &str| {
        listed += 1;
        if listed > MAX_SIGNATURES {
            return Err(malformed("it lists more than 16 signatures"));
        }
        if let Some(signature) = decode(algorithm, text, encoding) {
            parsed.signatures.push(signature);
        }
        Ok(())
    };
    let version = |versions: &[Version], tag: &str| {
        versions.iter().find(|v| v.tag == tag).map(|v| v.algorithm)
    };
    match format {
        SignatureFormat::Single { prefix, algorithm } => {
            let text = value.trim().strip_prefix(prefix.as_str()).ok_or_else(|| {
                malformed("the signature does not start with the expected prefix")
            })?;
            push(*algorithm, text)?;
        }
        SignatureFormat::Pairs {
            timestamp_key,
            versions,
        } => {
            let mut timestamp = None;
            // Items that are not `key=value` (a trailing comma, say) are
            // skipped, as Stripe's libraries do.
            for (key, text) in value
                .split(',')
                .filter_map(|item| item.trim().split_once('='))
            {
                if key == timestamp_key {
                    if timestamp.replace(text).is_some() {
                        return Err(malformed("it carries more than one timestamp"));
                    }
                } else if let Some(algorithm) = version(versions, key) {
                    push(algorithm, text)?;
                }
            }
            parsed.timestamp = Some(timestamp.ok_or_else(|| malformed("it carries no timestamp"))?);
        }
        SignatureFormat::Spaced { versions } => {
            for item in value.split_ascii_whitespace() {
                // Items of an unknown shape or version are skipped, as the
                // Standard Webhooks libraries do.
                if let Some((tag, text)) = item.split_once(',')
                    && let Some(algorithm) = version(versions, tag)
                {
                    push(algorithm, text)?;
                }
            }
        }
    }
    if parsed.signatures.is_empty() {
        if listed > 0 {
            return Err(malformed(
                "no signature is valid hex or base64 of the expected length",
            ));
        }
        return Err(VerifyError::NoSupportedSignature {
            header: header.clone(),
            accepted: accepted(format),
        });
    }
    Ok(parsed)
}

fn decode(algorithm: Algorithm, text: &str, encoding: Encoding) -> Option<Signature> {
    let len = algorithm.signature_len();
    let mut bytes = [0u8; 64];
    match encoding {
        Encoding::Hex => hex::decode_to_slice(text, &mut bytes[..len]).ok()?,
        Encoding::Base64 => {
            // Room for any over-long input, so only the exact length passes.
            let mut buffer = [0u8; 96];
            if text.len() > 128 || STANDARD.decode_slice(text, &mut buffer).ok()? != len {
                return None;
            }
            bytes[..len].copy_from_slice(&buffer[..len]);
        }
    }
    Some(Signature { algorithm, bytes })
}

fn accepted(format: &SignatureFormat) -> String {
    match format {
        SignatureFormat::Single { prefix, .. } if prefix.is_empty() => "a bare signature".into(),
        SignatureFormat::Single { prefix, .. } => format!("`{prefix}`"),
        SignatureFormat::Pairs { versions, .. } | SignatureFormat::Spaced { versions } => versions
            .iter()
            .map(|v| format!("`{}`", v.tag))
            .collect::<Vec<_>>()
            .join(", "),
    }
}
