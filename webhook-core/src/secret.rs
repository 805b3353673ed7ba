//! Signing secrets that never print their value.

use std::fmt;

use zeroize::Zeroizing;

/// A signing secret or public key as configured for a source.
///
/// The value is only reachable through [`Secret::expose`]; `Debug` prints
/// `Secret(***)`, there is no `Display` and no `Serialize`, and the bytes are
/// zeroed when the secret is dropped.
#[derive(Clone)]
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    /// Wraps the bytes of a secret.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(Zeroizing::new(bytes.into()))
    }

    /// The secret's bytes, exactly as configured.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Whether the secret holds no bytes at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self::new(value.as_bytes())
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self::new(value.into_bytes())
    }
}

impl From<Vec<u8>> for Secret {
    fn from(value: Vec<u8>) -> Self {
        Self::new(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_value() {
        let secret = Secret::from("whsec_top_secret_value");
        let shown = format!("{secret:?} {secret:#?}");
        assert!(!shown.contains("top_secret"), "{shown}");
        assert_eq!(format!("{secret:?}"), "Secret(***)");
        assert_eq!(secret.expose(), b"whsec_top_secret_value");
    }
}
