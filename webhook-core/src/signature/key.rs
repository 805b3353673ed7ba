//! Turning configured secrets into keys, once, at start-up.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::VerifyingKey;
use hmac::{Hmac, KeyInit as _};
use sha2::Sha256;

use super::KeyError;
use super::scheme::{Algorithm, KeyFormat, Scheme};
use crate::Secret;

/// A key ready to verify with. HMAC keys hold the keyed hash state, so a
/// verification clones it instead of hashing the key again.
#[derive(Clone)]
pub(crate) enum Key {
    Hmac(Hmac<Sha256>),
    Ed25519(VerifyingKey),
}

const WHSEC: &str = "whsec_";
const WHPK: &str = "whpk_";
const WHSK: &str = "whsk_";

/// Derives the key of the secret at `index` (from 1) for `scheme`.
pub(crate) fn derive(scheme: &Scheme, index: usize, secret: &Secret) -> Result<Key, KeyError> {
    if secret.is_empty() {
        return Err(KeyError::Empty { index });
    }
    let key = match scheme.key_format {
        KeyFormat::Raw => hmac_key(secret.expose()),
        KeyFormat::StandardWebhooks => standard_webhooks(index, secret)?,
    };
    let (algorithm, kind) = match key {
        Key::Hmac(_) => (Algorithm::HmacSha256, "HMAC-SHA256"),
        Key::Ed25519(_) => (Algorithm::Ed25519, "Ed25519"),
    };
    if !scheme.uses(algorithm) {
        return Err(KeyError::Unused { index, kind });
    }
    Ok(key)
}

fn hmac_key(bytes: &[u8]) -> Key {
    // HMAC takes keys of any length; this cannot fail.
    match Hmac::<Sha256>::new_from_slice(bytes) {
        Ok(mac) => Key::Hmac(mac),
        Err(_) => unreachable!("HMAC accepts keys of every length"),
    }
}

fn standard_webhooks(index: usize, secret: &Secret) -> Result<Key, KeyError> {
    let text = std::str::from_utf8(secret.expose())
        .map_err(|_| KeyError::NotBase64 { index, prefix: "" })?;
    let text = text.trim();
    if text.starts_with(WHSK) {
        return Err(KeyError::PrivateKey { index });
    }
    if let Some(public) = text.strip_prefix(WHPK) {
        let bytes =
            zeroize::Zeroizing::new(STANDARD.decode(public).map_err(|_| KeyError::NotBase64 {
                index,
                prefix: WHPK,
            })?);
        let bytes: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| KeyError::BadPublicKey { index })?;
        let key = VerifyingKey::from_bytes(&bytes).map_err(|_| KeyError::BadPublicKey { index })?;
        return Ok(Key::Ed25519(key));
    }
    let (encoded, prefix) = match text.strip_prefix(WHSEC) {
        Some(rest) => (rest, WHSEC),
        None => (text, ""),
    };
    let bytes = zeroize::Zeroizing::new(
        STANDARD
            .decode(encoded)
            .map_err(|_| KeyError::NotBase64 { index, prefix })?,
    );
    if bytes.is_empty() {
        return Err(KeyError::Empty { index });
    }
    Ok(hmac_key(&bytes))
}
