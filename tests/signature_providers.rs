//! For every provider: what passes and what fails, with which error.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use http::{HeaderName, HeaderValue};
use support::{ALL, Case, NOW, at};
use webhook::signature::VerifyError;

#[test]
fn a_valid_request_passes_and_gives_id_and_type() {
    for case in ALL {
        let (key, secret) = case.key(1);
        let body = case.body();
        let h = case.sign(&key, &body, NOW);
        let verifier = case.verifier(&[secret]);
        let verified = verifier
            .verify_at(&h, &body, at(NOW))
            .unwrap_or_else(|e| panic!("{case:?}: {e}"));
        assert_eq!(verified.secret_index(), 0, "{case:?}");
        assert_eq!(
            verified.timestamp(),
            case.timestamped().then_some(NOW),
            "{case:?}"
        );
        let meta = verified.event_meta().unwrap();
        let (id, event_type) = case.expected_meta();
        assert_eq!(meta.id.as_deref(), id, "{case:?}");
        assert_eq!(meta.event_type, event_type, "{case:?}");
    }
}

#[test]
fn a_flipped_body_byte_fails() {
    for case in ALL {
        let (key, secret) = case.key(1);
        let body = case.body();
        let h = case.sign(&key, &body, NOW);
        let verifier = case.verifier(&[secret]);
        for index in [0, body.len() / 2, body.len() - 1] {
            let mut tampered = body.clone();
            tampered[index] ^= 0x01;
            assert_eq!(
                verifier.verify_at(&h, &tampered, at(NOW)).unwrap_err(),
                VerifyError::NoMatch { secrets: 1 },
                "{case:?} byte {index}"
            );
        }
        // One byte more or less fails too.
        let mut longer = body.clone();
        longer.push(b' ');
        assert!(
            verifier.verify_at(&h, &longer, at(NOW)).is_err(),
            "{case:?}"
        );
        assert!(
            verifier.verify_at(&h, &body[1..], at(NOW)).is_err(),
            "{case:?}"
        );
    }
}

#[test]
fn a_wrong_secret_fails() {
    for case in ALL {
        let (key, _) = case.key(1);
        let (_, other) = case.key(2);
        let body = case.body();
        let h = case.sign(&key, &body, NOW);
        assert_eq!(
            case.verifier(&[other])
                .verify_at(&h, &body, at(NOW))
                .unwrap_err(),
            VerifyError::NoMatch { secrets: 1 },
            "{case:?}"
        );
    }
}

#[test]
fn a_rotated_second_secret_passes() {
    for case in ALL {
        let (_, old) = case.key(1);
        let (new_key, new) = case.key(2);
        let body = case.body();
        let h = case.sign(&new_key, &body, NOW);
        let verified = case
            .verifier(&[old, new])
            .verify_at(&h, &body, at(NOW))
            .map(|v| v.secret_index())
            .unwrap_or_else(|e| panic!("{case:?}: {e}"));
        assert_eq!(verified, 1, "{case:?}");
    }
}

#[test]
fn a_missing_signature_header_fails() {
    for case in ALL {
        let (key, secret) = case.key(1);
        let body = case.body();
        let mut h = case.sign(&key, &body, NOW);
        h.remove(case.signature_header());
        let error = case
            .verifier(&[secret])
            .verify_at(&h, &body, at(NOW))
            .unwrap_err();
        let VerifyError::MissingHeader { header } = error else {
            panic!("{case:?}: {error}")
        };
        // Standard Webhooks names its primary header family.
        let expected = match case {
            Case::SvixV1 => "webhook-signature",
            _ => case.signature_header(),
        };
        assert_eq!(header, expected, "{case:?}");
    }
}

#[test]
fn a_missing_timestamp_header_fails() {
    for case in ALL {
        let Some(name) = case.timestamp_header() else {
            continue;
        };
        let (key, secret) = case.key(1);
        let body = case.body();
        let mut h = case.sign(&key, &body, NOW);
        h.remove(name);
        assert_eq!(
            case.verifier(&[secret])
                .verify_at(&h, &body, at(NOW))
                .unwrap_err(),
            VerifyError::MissingHeader {
                header: HeaderName::from_static(name)
            },
            "{case:?}"
        );
    }
}

#[test]
fn a_missing_signed_message_id_fails() {
    for (case, name) in [(Case::StandardV1, "webhook-id"), (Case::SvixV1, "svix-id")] {
        let (key, secret) = case.key(1);
        let body = case.body();
        let mut h = case.sign(&key, &body, NOW);
        h.remove(name);
        assert_eq!(
            case.verifier(&[secret])
                .verify_at(&h, &body, at(NOW))
                .unwrap_err(),
            VerifyError::MissingHeader {
                header: HeaderName::from_static(name)
            },
            "{case:?}"
        );
    }
}

#[test]
fn a_malformed_signature_header_fails() {
    for case in ALL {
        let (key, secret) = case.key(1);
        let body = case.body();
        let verifier = case.verifier(&[secret]);
        let mut h = case.sign(&key, &body, NOW);
        h.insert(
            case.signature_header(),
            HeaderValue::from_static(case.malformed_signature()),
        );
        let error = verifier.verify_at(&h, &body, at(NOW)).unwrap_err();
        assert!(
            matches!(&error, VerifyError::MalformedHeader { header, .. } if header == case.signature_header()),
            "{case:?}: {error}"
        );
        // The message never repeats the header's value.
        assert!(
            !error.to_string().contains(case.malformed_signature()),
            "{case:?}: {error}"
        );

        // Bytes that are not visible ASCII.
        h.insert(
            case.signature_header(),
            HeaderValue::from_bytes(b"\xff\xfe").unwrap(),
        );
        assert!(
            matches!(
                verifier.verify_at(&h, &body, at(NOW)),
                Err(VerifyError::MalformedHeader { .. })
            ),
            "{case:?}"
        );
    }
}

#[test]
fn a_malformed_timestamp_fails() {
    for case in ALL {
        let Some(name) = case.timestamp_header() else {
            continue;
        };
        let (key, secret) = case.key(1);
        let body = case.body();
        let mut h = case.sign(&key, &body, NOW);
        for bad in ["soon", "-5", "+1700000000", "1.5", ""] {
            h.insert(name, HeaderValue::from_static(bad));
            assert!(
                matches!(
                    case.verifier(std::slice::from_ref(&secret))
                        .verify_at(&h, &body, at(NOW)),
                    Err(VerifyError::MalformedHeader { .. })
                ),
                "{case:?} {bad:?}"
            );
        }
    }
    // Stripe carries it inside the signature header.
    let (key, secret) = Case::Stripe.key(1);
    let body = Case::Stripe.body();
    let mut h = Case::Stripe.sign(&key, &body, NOW);
    let value = h["stripe-signature"].to_str().unwrap().replace("t=", "t=x");
    h.insert("stripe-signature", HeaderValue::try_from(value).unwrap());
    assert!(matches!(
        Case::Stripe
            .verifier(&[secret])
            .verify_at(&h, &body, at(NOW)),
        Err(VerifyError::MalformedHeader { .. })
    ));
}

#[test]
fn stale_and_future_timestamps_fail_and_the_edge_passes() {
    for case in ALL.into_iter().filter(|c| c.timestamped()) {
        let (key, secret) = case.key(1);
        let body = case.body();
        let verifier = case.verifier(&[secret]);
        for (signed_at, skew) in [(NOW - 301, 301), (NOW + 301, -301), (NOW - 86_400, 86_400)] {
            let h = case.sign(&key, &body, signed_at);
            assert_eq!(
                verifier.verify_at(&h, &body, at(NOW)).unwrap_err(),
                VerifyError::TimestampOutsideWindow {
                    skew_secs: skew,
                    tolerance_secs: 300
                },
                "{case:?} signed at {signed_at}"
            );
        }
        for signed_at in [NOW - 300, NOW + 300] {
            let h = case.sign(&key, &body, signed_at);
            verifier
                .verify_at(&h, &body, at(NOW))
                .unwrap_or_else(|e| panic!("{case:?} signed at {signed_at}: {e}"));
        }
    }
}

#[test]
fn schemes_without_a_timestamp_ignore_the_clock() {
    for case in ALL.into_iter().filter(|c| !c.timestamped()) {
        let (key, secret) = case.key(1);
        let body = case.body();
        let h = case.sign(&key, &body, NOW);
        case.verifier(&[secret])
            .verify_at(&h, &body, at(NOW + 10 * 365 * 86_400))
            .unwrap_or_else(|e| panic!("{case:?}: {e}"));
    }
}

#[test]
fn the_tolerance_is_configurable() {
    let case = Case::Stripe;
    let (key, secret) = case.key(1);
    let body = case.body();
    let mut scheme = case.scheme();
    scheme.tolerance = Some(std::time::Duration::from_secs(10));
    let verifier = webhook::signature::Verifier::new(scheme, &[secret]).unwrap();
    verifier
        .verify_at(&case.sign(&key, &body, NOW - 10), &body, at(NOW))
        .unwrap();
    assert!(matches!(
        verifier.verify_at(&case.sign(&key, &body, NOW - 11), &body, at(NOW)),
        Err(VerifyError::TimestampOutsideWindow {
            skew_secs: 11,
            tolerance_secs: 10
        })
    ));
}

#[test]
fn standard_webhooks_checks_every_listed_signature_and_skips_unknown_versions() {
    let case = Case::StandardV1;
    let (key, secret) = case.key(1);
    let (other_key, _) = case.key(2);
    let body = case.body();
    let good = case.sign(&key, &body, NOW)["webhook-signature"]
        .to_str()
        .unwrap()
        .to_owned();
    let wrong = case.sign(&other_key, &body, NOW)["webhook-signature"]
        .to_str()
        .unwrap()
        .to_owned();
    let mut h = case.sign(&key, &body, NOW);
    h.insert(
        "webhook-signature",
        HeaderValue::try_from(format!("v2,abc {wrong} garbage {good}")).unwrap(),
    );
    case.verifier(&[secret])
        .verify_at(&h, &body, at(NOW))
        .unwrap();
}

#[test]
fn headers_kept_with_the_event_leave_out_credentials_and_signatures() {
    let case = Case::GitHub;
    let (key, secret) = case.key(1);
    let body = case.body();
    let mut h = case.sign(&key, &body, NOW);
    h.insert("authorization", HeaderValue::from_static("Bearer t0ken"));
    h.insert("cookie", HeaderValue::from_static("session=1"));
    h.append("x-forwarded-for", HeaderValue::from_static("10.0.0.1"));
    h.append("x-forwarded-for", HeaderValue::from_static("10.0.0.2"));
    let kept = case.verifier(&[secret]).retained_headers(&h);
    assert_eq!(
        kept.get("x-github-event").map(String::as_str),
        Some("thing")
    );
    assert_eq!(
        kept.get("x-forwarded-for").map(String::as_str),
        Some("10.0.0.1, 10.0.0.2")
    );
    for dropped in ["authorization", "cookie", "x-hub-signature-256"] {
        assert!(!kept.contains_key(dropped), "{dropped} kept");
    }
}

#[test]
fn standard_webhooks_takes_the_event_id_from_the_verified_header_family() {
    // A valid svix-* request with an extra, unsigned `webhook-id`: the id
    // must be the signed one, or replays could pass dedupe under new ids.
    let case = Case::SvixV1;
    let (key, secret) = case.key(1);
    let body = case.body();
    let mut h = case.sign(&key, &body, NOW);
    h.insert("webhook-id", HeaderValue::from_static("attacker-chosen"));
    let verifier = case.verifier(&[secret]);
    let verified = verifier.verify_at(&h, &body, at(NOW)).unwrap();
    assert_eq!(verified.event_meta().unwrap().id.as_deref(), Some("msg_1"));
}

#[test]
fn signature_lists_are_bounded_and_lenient_like_the_official_libraries() {
    let case = Case::Stripe;
    let (key, secret) = case.key(1);
    let body = case.body();
    let verifier = case.verifier(&[secret]);
    let good = case.sign(&key, &body, NOW)["stripe-signature"]
        .to_str()
        .unwrap()
        .to_owned();
    let with = |value: String| {
        let mut h = case.sign(&key, &body, NOW);
        h.insert("stripe-signature", HeaderValue::try_from(value).unwrap());
        verifier
            .verify_at(&h, &body, at(NOW))
            .map(|v| v.secret_index())
    };
    // A trailing comma, a bare item and an unreadable v1 beside a good one pass.
    assert_eq!(with(format!("{good},")), Ok(0));
    assert_eq!(with(format!("junk,{good}")), Ok(0));
    assert_eq!(with(format!("{good},v1=not-hex")), Ok(0));
    // Two timestamps are ambiguous; seventeen signatures are too many.
    assert!(matches!(
        with(format!("t={NOW},{good}")),
        Err(VerifyError::MalformedHeader { .. })
    ));
    let many = format!("{good}{}", ",v1=00".repeat(16));
    assert!(matches!(
        with(many),
        Err(VerifyError::MalformedHeader { .. })
    ));
}

#[test]
fn a_verified_request_debug_shows_neither_headers_nor_body() {
    let case = Case::GitHub;
    let (key, secret) = case.key(1);
    let body = br#"{"card":"4242424242424242"}"#.to_vec();
    let mut h = case.sign(&key, &body, NOW);
    h.insert("authorization", HeaderValue::from_static("Bearer t0ken"));
    let verifier = case.verifier(&[secret]);
    let verified = verifier.verify_at(&h, &body, at(NOW)).unwrap();
    let shown = format!("{verified:?} {verified:#?}");
    let signature = h[case.signature_header()].to_str().unwrap();
    for hidden in ["4242", "t0ken", &signature[7..]] {
        assert!(!shown.contains(hidden), "{shown}");
    }
}

#[test]
fn handshakes_are_recognised_only_for_their_provider_and_type() {
    use webhook::signature::Handshake;
    let challenge = br#"{"type":"url_verification","challenge":"abc"}"#;
    assert_eq!(
        Handshake::SlackUrlVerification
            .answer("url_verification", challenge)
            .as_deref(),
        Some(&br#"{"challenge":"abc"}"#[..])
    );
    assert_eq!(
        Handshake::SlackUrlVerification.answer("url_verification", b"{}"),
        None
    );
    assert_eq!(
        Handshake::SlackUrlVerification.answer("message", challenge),
        None
    );
    assert_eq!(
        Handshake::GitHubPing.answer("ping", b"{}").as_deref(),
        Some(&br#"{"status":"pong"}"#[..])
    );
    assert_eq!(Handshake::GitHubPing.answer("push", b"{}"), None);
}

#[test]
fn debug_output_of_a_verifier_shows_no_key() {
    let (_, secret) = Case::Stripe.key(1);
    let shown = format!("{:?}", Case::Stripe.verifier(std::slice::from_ref(&secret)));
    let value = std::str::from_utf8(secret.expose()).unwrap();
    assert!(!shown.contains(value), "{shown}");
    assert!(!shown.contains(&value[6..20]), "{shown}");
}

#[test]
fn numeric_json_ids_and_types_keep_their_exact_text() {
    let case = Case::Stripe;
    let (key, secret) = case.key(1);
    let verifier = case.verifier(&[secret]);
    let meta = |body: &str| {
        let h = case.sign(&key, body.as_bytes(), NOW);
        verifier
            .verify_at(&h, body.as_bytes(), at(NOW))
            .unwrap()
            .event_meta()
            .unwrap()
    };
    // Beyond f64 and u64: both used to read as 9.876543210987655e+22.
    let a = meta(r#"{"id":98765432109876543210001,"type":"t"}"#);
    let b = meta(r#"{"id":98765432109876543210002,"type":"t"}"#);
    assert_eq!(a.id.as_deref(), Some("98765432109876543210001"));
    assert_eq!(b.id.as_deref(), Some("98765432109876543210002"));
    assert_eq!(meta(r#"{"id":2.0,"type":"t"}"#).id.as_deref(), Some("2.0"));
    assert_eq!(
        meta(r#"{"id":2.00000000000000001,"type":"t"}"#)
            .id
            .as_deref(),
        Some("2.00000000000000001")
    );
    assert_eq!(
        meta(r#"{"id": -17 ,"type":12345678901234567890123}"#),
        webhook::extract::EventMeta {
            id: Some("-17".into()),
            event_type: "12345678901234567890123".into(),
        }
    );
    // Strings are unescaped as before.
    assert_eq!(
        meta(r#"{"id":"evt_\u0031","type":"a.b"}"#).id.as_deref(),
        Some("evt_1")
    );
}

#[test]
fn every_signature_header_of_a_provider_is_left_out_legacy_ones_too() {
    let extra: &[(Case, &[&str])] = &[
        (Case::GitHub, &["x-hub-signature", "x-hub-signature-256"]),
        (Case::StandardV1, &["webhook-signature", "svix-signature"]),
        (Case::SvixV1, &["webhook-signature", "svix-signature"]),
        (Case::Stripe, &["stripe-signature"]),
        (Case::Slack, &["x-slack-signature"]),
        (Case::Shopify, &["x-shopify-hmac-sha256"]),
    ];
    for (case, names) in extra {
        let (key, secret) = case.key(1);
        let body = case.body();
        let mut h = case.sign(&key, &body, NOW);
        for name in *names {
            h.insert(
                HeaderName::from_static(name),
                HeaderValue::from_static("sha1=0123456789abcdef"),
            );
        }
        let retained = case.verifier(&[secret]).retain_headers(&h);
        for name in *names {
            assert!(
                !retained.headers.contains_key(*name),
                "{case:?}: {name} kept"
            );
        }
        assert_eq!(retained.dropped, 0, "{case:?}");
    }
}

#[test]
fn retained_headers_are_bounded_and_say_how_many_were_dropped() {
    use webhook::signature::{DROPPED_HEADERS_MARKER, HeaderLimits};
    let case = Case::GitHub;
    let (key, secret) = case.key(1);
    let body = case.body();
    let verifier = case.verifier(&[secret]);
    let limits = HeaderLimits::default();
    assert_eq!(
        (
            limits.max_value_bytes,
            limits.max_total_bytes,
            limits.max_count
        ),
        (8 * 1024, 32 * 1024, 64)
    );

    // 400 headers of 1 KiB each (about 390 KiB), the ones the event needs last.
    let mut h = http::HeaderMap::new();
    let kib = "v".repeat(1024);
    for i in 0..400 {
        h.insert(
            HeaderName::try_from(format!("x-junk-{i:03}")).unwrap(),
            HeaderValue::try_from(kib.as_str()).unwrap(),
        );
    }
    h.insert(
        "x-huge",
        HeaderValue::try_from("h".repeat(9 * 1024)).unwrap(),
    );
    h.insert(DROPPED_HEADERS_MARKER, HeaderValue::from_static("0"));
    h.extend(case.sign(&key, &body, NOW));
    h.insert(
        "content-type",
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );

    let retained = verifier.retain_headers(&h);
    let kept = &retained.headers;
    let total: usize = kept.iter().map(|(k, v)| k.len() + v.len()).sum();
    assert!(total <= limits.max_total_bytes + 64, "{total} bytes kept");
    assert!(
        kept.len() <= limits.max_count + 1,
        "{} headers kept",
        kept.len()
    );
    assert!(!kept.contains_key("x-huge"));
    // What the event needs comes first, whatever the order of the request.
    for needed in ["content-type", "x-github-event", "x-github-delivery"] {
        assert!(kept.contains_key(needed), "{needed} dropped");
    }
    // Everything else sent is either kept or counted.
    let sent_other = h.keys_len() - 1; // the signature header
    assert_eq!(kept.len() - 1 + retained.dropped, sent_other);
    assert_eq!(
        kept.get(DROPPED_HEADERS_MARKER).map(String::as_str),
        Some(retained.dropped.to_string().as_str())
    );
    assert_eq!(verifier.retained_headers(&h), retained.headers);

    // Within the limits nothing is dropped and there is no marker.
    let small = case.sign(&key, &body, NOW);
    let retained = verifier.retain_headers(&small);
    assert_eq!(retained.dropped, 0);
    assert!(!retained.headers.contains_key(DROPPED_HEADERS_MARKER));
}
