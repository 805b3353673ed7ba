//! The signer of `webhook send` against the independent signers of the
//! tests (written from the providers' docs, not through the crate): the
//! same key, body, timestamp and id give the same signature header.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use support::{ALL, Case, NOW, at};
use webhook::signature::{SignError, Signer};

#[test]
fn signatures_match_the_independent_signers() {
    let body = Case::GitHub.body();
    for case in ALL {
        let (key, secret) = case.key(1);
        let signer = Signer::new(case.scheme(), &[secret]);
        if case == Case::StandardV1a {
            // A `whpk_` public key verifies only.
            assert!(
                matches!(signer, Err(SignError::NoSigningSecret { secrets: 1 })),
                "{case:?}"
            );
            continue;
        }
        let signer = signer.unwrap();
        let message_id = match case {
            Case::StandardV1 | Case::SvixV1 => Some("msg_1"),
            Case::GenericTimestamped => Some("g-1"),
            _ => None,
        };
        let ours = signer.sign_at(&body, message_id, at(NOW)).unwrap();
        let theirs = case.sign(&key, &body, NOW);
        // Svix sends the same signature under `svix-*` names; the signer
        // writes the Standard Webhooks names.
        let name = match case {
            Case::SvixV1 => "webhook-signature",
            _ => case.signature_header(),
        };
        assert_eq!(
            ours[name],
            theirs[case.signature_header()],
            "{case:?}: the signature header"
        );
        if let Some(timestamp) = case.timestamp_header() {
            let ours_name = match case {
                Case::SvixV1 => "webhook-timestamp",
                _ => timestamp,
            };
            assert_eq!(
                ours[ours_name], theirs[timestamp],
                "{case:?}: the timestamp"
            );
        }
    }
}

#[test]
fn signed_events_pass_the_independently_configured_verifier() {
    for case in ALL {
        if case == Case::StandardV1a {
            continue;
        }
        let (_, secret) = case.key(2);
        let signer = Signer::new(case.scheme(), std::slice::from_ref(&secret)).unwrap();
        let draft = webhook::signature::Draft {
            body: Some(case.body()),
            ..Default::default()
        };
        // Header-carried types are given; body-carried ones are read.
        let draft = match case {
            Case::GitHub | Case::Shopify | Case::GenericBase64 => webhook::signature::Draft {
                event_type: Some(case.expected_meta().1.to_owned()),
                ..draft
            },
            _ => draft,
        };
        let signed = signer.sign_event_at(&draft, at(NOW)).unwrap();
        let verifier = case.verifier(&[secret]);
        let verified = verifier
            .verify_at(&signed.headers, &signed.body, at(NOW + 1))
            .unwrap();
        let meta = verified.event_meta().unwrap();
        assert_eq!(meta.event_type, case.expected_meta().1, "{case:?}");
        assert_eq!(signed.body, case.body(), "{case:?}: sent as given");
    }
}
