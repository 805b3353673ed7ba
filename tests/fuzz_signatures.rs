//! Fuzz targets for what the verifier reads from a request: every
//! provider's signature header, its timestamp and id headers, and the body.
//! They run as ordinary tests on stable (proptest), a few hundred cases
//! each. Properties: the verifier never panics, never accepts a signature it
//! did not verify (random signatures fail, and so does a correctly signed
//! request with any signed byte changed), and gives the same answer for the
//! same input.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use std::sync::OnceLock;

use support::{ALL, Case, NOW, SigningKey, at};
use webhook::signature::Verifier;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Header values shaped like every provider's signature header, plus noise.
fn signature_value() -> impl Strategy<Value = String> {
    let hex = "[0-9a-fA-F]{0,70}";
    let b64 = "[A-Za-z0-9+/=]{0,100}";
    prop_oneof![
        "[ -~]{0,200}",
        hex.prop_map(|h| format!("sha256={h}")),
        hex.prop_map(|h| format!("v0={h}")),
        ("[0-9]{0,12}", hex, hex).prop_map(|(t, a, b)| format!("t={t},v1={a},v0={b},v1={a}")),
        proptest::collection::vec(("v1a?|v2|", b64), 0..20).prop_map(|items| items
            .into_iter()
            .map(|(v, s)| format!("{v},{s}"))
            .collect::<Vec<_>>()
            .join(" ")),
        b64.prop_map(String::from),
        "[,= ]{0,40}",
    ]
}

/// Timestamps as text: numbers in and out of range, signs, junk.
fn timestamp_value() -> impl Strategy<Value = String> {
    prop_oneof![
        (NOW - 400..NOW + 400).prop_map(|t| t.to_string()),
        "[0-9]{0,40}",
        "[-+ 0-9.eE]{0,20}",
        "[ -~]{0,30}",
    ]
}

fn set(h: &mut HeaderMap, name: &str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        h.insert(HeaderName::try_from(name).unwrap(), value);
    }
}

/// Each case's signing key and verifier, built once.
fn fixture(case: Case) -> &'static (SigningKey, Verifier) {
    static FIXTURES: OnceLock<Vec<(SigningKey, Verifier)>> = OnceLock::new();
    let all = FIXTURES.get_or_init(|| {
        ALL.iter()
            .map(|case| {
                let (key, secret) = case.key(1);
                (key, case.verifier(&[secret]))
            })
            .collect()
    });
    &all[ALL.iter().position(|c| *c == case).unwrap()]
}

/// Verifies twice; both answers must be equal. `Ok` carries the secret index.
fn verify_twice(case: Case, h: &HeaderMap, body: &[u8]) -> Result<usize, String> {
    let verifier = &fixture(case).1;
    let first = verifier
        .verify_at(h, body, at(NOW))
        .map(|v| v.secret_index());
    let second = verifier
        .verify_at(h, body, at(NOW))
        .map(|v| v.secret_index());
    assert_eq!(first, second, "{case:?}: not deterministic");
    first.map_err(|e| e.to_string())
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn random_signature_headers_are_rejected(
        body in proptest::collection::vec(any::<u8>(), 0..512),
        signature in signature_value(),
        timestamp in timestamp_value(),
        id in "[ -~]{0,40}",
    ) {
        for case in ALL {
            let key = &fixture(case).0;
            // Every other header as a real sender sends it; the signature random.
            let mut h = case.sign(key, &body, NOW);
            set(&mut h, case.signature_header(), &signature);
            if let Some(name) = case.timestamp_header() {
                set(&mut h, name, &timestamp);
            }
            for name in ["webhook-id", "svix-id", "x-delivery"] {
                if h.contains_key(name) {
                    set(&mut h, name, &id);
                }
            }
            let result = verify_twice(case, &h, &body);
            prop_assert!(result.is_err(), "{:?} accepted a random signature {:?}", case, signature);
        }
    }

    #[test]
    fn any_changed_signed_byte_is_rejected(
        body in proptest::collection::vec(any::<u8>(), 1..512),
        target in 0usize..4,
        position in any::<prop::sample::Index>(),
        replacement in 0x20u8..0x7f,
        flip in 1u8..=255,
    ) {
        for case in ALL {
            let key = &fixture(case).0;
            let h = case.sign(key, &body, NOW);

            // The body, the signature header, the timestamp header or the
            // signed id header: each is covered by the signature.
            let header = match target {
                0 => None,
                1 => Some(case.signature_header()),
                2 => case.timestamp_header(),
                _ => ["webhook-id", "svix-id", "x-delivery"].into_iter().find(|n| h.contains_key(*n)),
            };
            let result = match header {
                None => {
                    let mut changed = body.clone();
                    changed[position.index(body.len())] ^= flip;
                    verify_twice(case, &h, &changed)
                }
                Some(name) => {
                    let mut value = h.get(name).unwrap().as_bytes().to_vec();
                    let at = position.index(value.len());
                    // Hex signatures are read in either case: a case change
                    // is the same signature, not a changed byte.
                    value[at] = if value[at].eq_ignore_ascii_case(&replacement) {
                        if value[at] == b'!' { b'#' } else { b'!' }
                    } else {
                        replacement
                    };
                    let mut changed = h.clone();
                    changed.insert(
                        HeaderName::try_from(name).unwrap(),
                        HeaderValue::from_bytes(&value).unwrap(),
                    );
                    verify_twice(case, &changed, &body)
                }
            };
            prop_assert!(result.is_err(), "{:?}: a changed {:?} passed", case, header);
        }
    }
}
