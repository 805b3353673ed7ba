//! Property tests: for random bodies and secrets, sign-then-verify passes and
//! tamper-then-verify fails, for every provider.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use proptest::prelude::*;
use support::{ALL, Case, NOW, SigningKey, at};
use webhook::Secret;
use webhook::signature::VerifyError;

fn key_for(case: Case, raw: &[u8]) -> (SigningKey, Secret) {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    match case {
        Case::StandardV1 | Case::SvixV1 => (
            SigningKey::Hmac(raw.to_vec()),
            Secret::from(format!("whsec_{}", b64.encode(raw))),
        ),
        Case::StandardV1a => {
            // Distinct inputs give distinct seeds.
            let seed: [u8; 32] = support::hmac_sha256(b"seed", &[raw]).try_into().unwrap();
            let key = ed25519_dalek::SigningKey::from_bytes(&seed);
            let public = b64.encode(key.verifying_key().to_bytes());
            (
                SigningKey::Ed25519(key),
                Secret::from(format!("whpk_{public}")),
            )
        }
        // Raw-key providers: any bytes are a key, so use them as they are.
        _ => (SigningKey::Hmac(raw.to_vec()), Secret::new(raw.to_vec())),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn sign_then_verify_passes(
        body in proptest::collection::vec(any::<u8>(), 0..2048),
        raw in proptest::collection::vec(any::<u8>(), 1..64),
        skew in -300i64..=300,
    ) {
        for case in ALL {
            let (key, secret) = key_for(case, &raw);
            let signed_at = NOW.checked_add_signed(skew).unwrap();
            let h = case.sign(&key, &body, signed_at);
            let verifier = case.verifier(&[secret]);
            let result = verifier.verify_at(&h, &body, at(NOW)).map(|v| v.secret_index());
            prop_assert!(result.is_ok(), "{:?}: {:?}", case, result.err());
        }
    }

    #[test]
    fn tamper_then_verify_fails(
        body in proptest::collection::vec(any::<u8>(), 1..2048),
        raw in proptest::collection::vec(any::<u8>(), 1..64),
        position in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        for case in ALL {
            let (key, secret) = key_for(case, &raw);
            let h = case.sign(&key, &body, NOW);
            let mut tampered = body.clone();
            tampered[position.index(body.len())] ^= flip;
            let verifier = case.verifier(&[secret]);
            let result = verifier.verify_at(&h, &tampered, at(NOW)).map(|v| v.secret_index());
            prop_assert_eq!(result.err(), Some(VerifyError::NoMatch { secrets: 1 }), "{:?}", case);
        }
    }

    #[test]
    fn another_secret_fails(
        body in proptest::collection::vec(any::<u8>(), 0..512),
        raw in proptest::collection::vec(any::<u8>(), 1..64),
        other in proptest::collection::vec(any::<u8>(), 1..64),
    ) {
        // HMAC pads short keys with zeros: `[7]` and `[7, 0]` are one key.
        let trimmed = |k: &[u8]| k.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
        prop_assume!(raw[..trimmed(&raw)] != other[..trimmed(&other)]);
        for case in ALL {
            let (key, _) = key_for(case, &raw);
            let (_, wrong) = key_for(case, &other);
            let h = case.sign(&key, &body, NOW);
            let verifier = case.verifier(&[wrong]);
            let result = verifier.verify_at(&h, &body, at(NOW)).map(|v| v.secret_index());
            prop_assert_eq!(result.err(), Some(VerifyError::NoMatch { secrets: 1 }), "{:?}", case);
        }
    }

    #[test]
    fn outside_the_window_fails(
        body in proptest::collection::vec(any::<u8>(), 0..256),
        raw in proptest::collection::vec(any::<u8>(), 1..64),
        skew in prop_oneof![301i64..1_000_000, -1_000_000i64..-300],
    ) {
        for case in ALL.into_iter().filter(|c| c.timestamped()) {
            let (key, secret) = key_for(case, &raw);
            let signed_at = NOW.checked_add_signed(-skew).unwrap();
            let h = case.sign(&key, &body, signed_at);
            let verifier = case.verifier(&[secret]);
            let result = verifier.verify_at(&h, &body, at(NOW)).map(|v| v.secret_index());
            let is_window_error = matches!(result, Err(VerifyError::TimestampOutsideWindow { .. }));
            prop_assert!(is_window_error, "{:?}: {:?}", case, result);
        }
    }
}
