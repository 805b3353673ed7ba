use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderName;

use super::*;
use crate::extract::{EventMeta, Field};
use crate::signature::{GenericHmac, Provider, Verifier};

const NOW: u64 = 1_700_000_000;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn draft(body: Option<&str>, event_type: Option<&str>, event_id: Option<&str>) -> Draft {
    Draft {
        body: body.map(|b| b.as_bytes().to_vec()),
        event_type: event_type.map(str::to_owned),
        event_id: event_id.map(str::to_owned),
    }
}

fn header(name: &'static str) -> HeaderName {
    HeaderName::from_static(name)
}

/// `{id}.{timestamp}.{body}` with the id in `x-delivery`, hex with a prefix.
fn hmac_timestamped() -> Scheme {
    GenericHmac {
        signature_header: header("x-signature"),
        encoding: Encoding::Hex,
        prefix: "sha256=".into(),
        timestamp_header: Some(header("x-timestamp")),
        id_header: None,
        signed_content: "{id}.{timestamp}.{body}".into(),
        tolerance: None,
        event_id: Field::Header(header("x-delivery")),
        event_type: Field::Json("/type".into()),
    }
    .scheme()
    .unwrap()
}

/// Base64 over the body, the type in a header, the id the signed digest.
fn hmac_digest() -> Scheme {
    GenericHmac {
        signature_header: header("x-signature"),
        encoding: Encoding::Base64,
        prefix: String::new(),
        timestamp_header: None,
        id_header: None,
        signed_content: "{body}".into(),
        tolerance: None,
        event_id: Field::SignedDigest,
        event_type: Field::Header(header("x-event")),
    }
    .scheme()
    .unwrap()
}

fn secret_for(scheme: &Scheme) -> Secret {
    match scheme.key_format {
        KeyFormat::StandardWebhooks => Secret::from("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        KeyFormat::Raw => Secret::from("whsec_test_secret"),
    }
}

use super::super::KeyFormat;

/// Signs with a signer, verifies with a verifier built separately.
fn round_trip(scheme: Scheme, draft: &Draft) -> (SignedRequest, EventMeta) {
    let secrets = [secret_for(&scheme)];
    let signer = Signer::new(scheme.clone(), &secrets).unwrap();
    let signed = signer.sign_event_at(draft, at(NOW)).unwrap();
    let verifier = Verifier::new(scheme, &secrets).unwrap();
    let verified = verifier
        .verify_at(&signed.headers, &signed.body, at(NOW + 10))
        .unwrap();
    let meta = verified.event_meta().unwrap();
    assert_eq!(meta.event_type, signed.event_type);
    assert_eq!(meta.id, signed.event_id);
    (signed, meta)
}

fn body(signed: &SignedRequest) -> &str {
    std::str::from_utf8(&signed.body).unwrap()
}

fn get<'a>(signed: &'a SignedRequest, name: &str) -> Option<&'a str> {
    signed.headers.get(name).map(|v| v.to_str().unwrap())
}

#[test]
fn every_provider_round_trips() {
    let t = Some("thing.happened");
    for (scheme, d) in [
        (Provider::Stripe.scheme().unwrap(), draft(None, t, None)),
        (Provider::GitHub.scheme().unwrap(), draft(None, t, None)),
        (Provider::Slack.scheme().unwrap(), draft(None, t, None)),
        (Provider::Shopify.scheme().unwrap(), draft(None, t, None)),
        (
            Provider::StandardWebhooks.scheme().unwrap(),
            draft(None, t, None),
        ),
        (hmac_timestamped(), draft(None, t, None)),
        (hmac_digest(), draft(Some(r#"{"n":1}"#), t, None)),
    ] {
        let name = scheme.name;
        let (signed, meta) = round_trip(scheme, &d);
        assert_eq!(meta.event_type, "thing.happened", "{name}");
        if name == "hmac"
            && meta
                .id
                .as_deref()
                .is_some_and(|id| id.starts_with("sha256:"))
        {
            continue;
        }
        assert!(meta.id.is_some(), "{name}: a fresh id");
        assert_eq!(
            get(&signed, "content-type"),
            Some(JSON_CONTENT_TYPE),
            "{name}"
        );
    }
}

#[test]
fn the_ids_given_are_the_ids_read() {
    for scheme in [
        Provider::Stripe.scheme().unwrap(),
        Provider::GitHub.scheme().unwrap(),
        Provider::Slack.scheme().unwrap(),
        Provider::Shopify.scheme().unwrap(),
        Provider::StandardWebhooks.scheme().unwrap(),
        hmac_timestamped(),
    ] {
        let name = scheme.name;
        let (_, meta) = round_trip(scheme, &draft(None, Some("a.b"), Some("id-42")));
        assert_eq!(meta.id.as_deref(), Some("id-42"), "{name}");
    }
}

#[test]
fn headers_are_written_as_each_provider_writes_them() {
    let d = draft(None, Some("x.y"), Some("m-1"));
    let (stripe, _) = round_trip(Provider::Stripe.scheme().unwrap(), &d);
    let value = get(&stripe, "stripe-signature").unwrap();
    assert!(value.starts_with(&format!("t={NOW},v1=")), "{value}");
    assert_eq!(stripe.timestamp, Some(NOW));

    let (slack, _) = round_trip(Provider::Slack.scheme().unwrap(), &d);
    assert!(get(&slack, "x-slack-signature").unwrap().starts_with("v0="));
    assert_eq!(get(&slack, "x-slack-request-timestamp"), Some("1700000000"));

    let (shopify, _) = round_trip(Provider::Shopify.scheme().unwrap(), &d);
    assert_eq!(get(&shopify, "x-shopify-topic"), Some("x.y"));
    assert_eq!(get(&shopify, "x-shopify-webhook-id"), Some("m-1"));
    assert_eq!(get(&shopify, "x-shopify-hmac-sha256").unwrap().len(), 44);

    let (standard, _) = round_trip(Provider::StandardWebhooks.scheme().unwrap(), &d);
    assert_eq!(get(&standard, "webhook-id"), Some("m-1"));
    assert_eq!(get(&standard, "webhook-timestamp"), Some("1700000000"));
    assert!(
        get(&standard, "webhook-signature")
            .unwrap()
            .starts_with("v1,")
    );
    assert_eq!(body(&standard), r#"{"type":"x.y"}"#);

    let (generic, _) = round_trip(hmac_timestamped(), &d);
    assert_eq!(get(&generic, "x-delivery"), Some("m-1"));
    assert_eq!(get(&generic, "x-timestamp"), Some("1700000000"));
    assert!(get(&generic, "x-signature").unwrap().starts_with("sha256="));
}

#[test]
fn sign_at_matches_githubs_documented_example() {
    let signer = Signer::new(
        Provider::GitHub.scheme().unwrap(),
        &[Secret::from("It's a Secret to Everybody")],
    )
    .unwrap();
    let headers = signer.sign_at(b"Hello, World!", None, at(NOW)).unwrap();
    assert_eq!(
        headers["x-hub-signature-256"],
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    );
    assert_eq!(headers.len(), 1, "GitHub signs no timestamp");
}

#[test]
fn sign_at_needs_the_message_id_that_is_signed() {
    let scheme = Provider::StandardWebhooks.scheme().unwrap();
    let signer = Signer::new(scheme.clone(), &[secret_for(&scheme)]).unwrap();
    let err = signer.sign_at(b"{}", None, at(NOW)).unwrap_err();
    assert!(matches!(err, SignError::MissingMessageId { .. }), "{err}");
}

#[test]
fn stripe_fills_what_the_body_lacks_and_never_rewrites_it() {
    let scheme = Provider::Stripe.scheme().unwrap();
    let (signed, meta) = round_trip(scheme.clone(), &draft(None, Some("charge.refunded"), None));
    let id = meta.id.unwrap();
    assert!(id.starts_with("evt_test_"), "{id}");
    assert_eq!(
        body(&signed),
        format!(r#"{{"id":"{id}","type":"charge.refunded"}}"#)
    );
    assert_eq!(signed.filled.len(), 2);
    assert_eq!(
        signed.filled[0].to_string(),
        r#"added "charge.refunded" at `/type` of the body (for the event type)"#
    );

    // A body that has both is sent byte for byte.
    let given = r#"{ "type": "charge.refunded",  "id": "evt_1" }"#;
    for d in [
        draft(Some(given), None, None),
        draft(Some(given), Some("charge.refunded"), Some("evt_1")),
    ] {
        let (signed, _) = round_trip(scheme.clone(), &d);
        assert_eq!(body(&signed), given);
        assert!(signed.filled.is_empty());
    }

    let signer = Signer::new(scheme.clone(), &[secret_for(&scheme)]).unwrap();
    let err = signer
        .sign_event_at(&draft(Some(given), Some("charge.failed"), None), at(NOW))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the body already carries the event type `charge.refunded` (in JSON value at `/type`), not `charge.failed`; a body is never rewritten, so change the one or the other"
    );
    let err = signer
        .sign_event_at(&draft(Some(given), None, Some("evt_2")), at(NOW))
        .unwrap_err();
    assert!(
        matches!(
            err,
            SignError::Mismatch {
                what: "event id",
                ..
            }
        ),
        "{err}"
    );
    let err = signer
        .sign_event_at(&draft(None, None, None), at(NOW))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "no event type was given, and the request carries none in JSON value at `/type`; give the event type"
    );
    let err = signer
        .sign_event_at(&draft(Some("[1]"), Some("a"), None), at(NOW))
        .unwrap_err();
    assert!(matches!(err, SignError::NotAnObject { .. }), "{err}");
    let err = signer
        .sign_event_at(&draft(Some(r#"{"type":null}"#), Some("a"), None), at(NOW))
        .unwrap_err();
    assert!(matches!(err, SignError::Null { .. }), "{err}");
}

#[test]
fn github_splits_the_type_into_the_event_header_and_the_action() {
    let scheme = Provider::GitHub.scheme().unwrap();
    let (signed, meta) = round_trip(
        scheme.clone(),
        &draft(None, Some("pull_request.opened"), None),
    );
    assert_eq!(meta.event_type, "pull_request.opened");
    assert_eq!(get(&signed, "x-github-event"), Some("pull_request"));
    assert_eq!(body(&signed), r#"{"action":"opened"}"#);
    let delivery = get(&signed, "x-github-delivery").unwrap();
    assert_eq!(delivery.len(), 36, "a UUID: {delivery}");

    let (signed, _) = round_trip(
        scheme.clone(),
        &draft(
            Some(r#"{"action":"opened","number":1}"#),
            Some("pull_request.opened"),
            None,
        ),
    );
    assert_eq!(body(&signed), r#"{"action":"opened","number":1}"#);
    let (signed, meta) = round_trip(
        scheme.clone(),
        &draft(Some(r#"{"ref":"x"}"#), Some("push"), None),
    );
    assert_eq!(meta.event_type, "push");
    assert_eq!(body(&signed), r#"{"ref":"x"}"#);

    let signer = Signer::new(scheme.clone(), &[secret_for(&scheme)]).unwrap();
    let closed = Some(r#"{"action":"closed"}"#);
    let err = signer
        .sign_event_at(&draft(closed, Some("pull_request.opened"), None), at(NOW))
        .unwrap_err();
    assert!(
        matches!(err, SignError::Mismatch { ref found, .. } if found == "closed"),
        "{err}"
    );
    let err = signer
        .sign_event_at(&draft(closed, Some("pull_request"), None), at(NOW))
        .unwrap_err();
    assert!(
        matches!(err, SignError::Mismatch { ref found, .. } if found == "pull_request.closed"),
        "{err}"
    );
    let err = signer
        .sign_event_at(&draft(closed, None, None), at(NOW))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "no event type was given, and the request carries none in header `x-github-event`; give the event type"
    );
}

#[test]
fn slack_sends_forms_as_given_and_fills_json_events() {
    let scheme = Provider::Slack.scheme().unwrap();
    let form = "command=%2Fdeploy&text=prod&trigger_id=13345224609.738474920.8088930838d88f008e0";
    for t in [None, Some("slash_command./deploy")] {
        let (signed, meta) = round_trip(scheme.clone(), &draft(Some(form), t, None));
        assert_eq!(body(&signed), form);
        assert_eq!(get(&signed, "content-type"), Some(FORM_CONTENT_TYPE));
        assert_eq!(meta.event_type, "slash_command./deploy");
        assert_eq!(
            meta.id.as_deref(),
            Some("13345224609.738474920.8088930838d88f008e0")
        );
    }
    // A form without an id: the ingest generates one.
    let (_, meta) = round_trip(
        scheme.clone(),
        &draft(Some("command=%2Fdeploy"), None, None),
    );
    assert_eq!(meta.id, None);

    let signer = Signer::new(scheme.clone(), &[secret_for(&scheme)]).unwrap();
    let err = signer
        .sign_event_at(
            &draft(Some(form), Some("slash_command./other"), None),
            at(NOW),
        )
        .unwrap_err();
    assert!(matches!(err, SignError::Mismatch { .. }), "{err}");
    let err = signer
        .sign_event_at(
            &draft(Some("text=prod"), Some("slash_command./deploy"), None),
            at(NOW),
        )
        .unwrap_err();
    assert!(matches!(err, SignError::FormLacks { .. }), "{err}");

    let (signed, meta) = round_trip(scheme.clone(), &draft(None, Some("app_mention"), None));
    let id = meta.id.unwrap();
    assert!(id.starts_with("EvTEST"), "{id}");
    assert_eq!(
        body(&signed),
        format!(r#"{{"event_id":"{id}","event":{{"type":"app_mention"}}}}"#)
    );
    // An envelope whose type is read as `event_callback` is not an
    // `app_mention`: filling `/event/type` would change what it says.
    let err = signer
        .sign_event_at(
            &draft(
                Some(r#"{"type":"event_callback"}"#),
                Some("app_mention"),
                None,
            ),
            at(NOW),
        )
        .unwrap_err();
    assert!(
        matches!(err, SignError::Mismatch { ref found, .. } if found == "event_callback"),
        "{err}"
    );
}

#[test]
fn generic_sources_refuse_values_they_do_not_read() {
    let scheme = hmac_digest();
    let signer = Signer::new(scheme.clone(), &[secret_for(&scheme)]).unwrap();
    let err = signer
        .sign_event_at(&draft(None, Some("a"), Some("id-1")), at(NOW))
        .unwrap_err();
    assert!(
        matches!(
            err,
            SignError::NotSettable {
                what: "event id",
                ..
            }
        ),
        "{err}"
    );

    let fixed = GenericHmac {
        signature_header: header("x-signature"),
        encoding: Encoding::Hex,
        prefix: String::new(),
        timestamp_header: None,
        id_header: None,
        signed_content: "{body}".into(),
        tolerance: None,
        event_id: Field::Absent,
        event_type: Field::Fixed("invoice.paid".into()),
    }
    .scheme()
    .unwrap();
    let (_, meta) = round_trip(fixed.clone(), &draft(None, None, None));
    assert_eq!((meta.id, meta.event_type.as_str()), (None, "invoice.paid"));
    let signer = Signer::new(fixed.clone(), &[secret_for(&fixed)]).unwrap();
    let err = signer
        .sign_event_at(&draft(None, Some("invoice.sent"), None), at(NOW))
        .unwrap_err();
    assert!(matches!(err, SignError::Mismatch { .. }), "{err}");
    let err = signer
        .sign_event_at(&draft(None, None, Some("x")), at(NOW))
        .unwrap_err();
    assert!(
        err.to_string().contains("the ingest generates one"),
        "{err}"
    );
}

#[test]
fn public_keys_cannot_sign_and_are_skipped() {
    let scheme = Provider::StandardWebhooks.scheme().unwrap();
    use base64::Engine as _;
    let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key();
    let public = Secret::from(format!(
        "whpk_{}",
        base64::engine::general_purpose::STANDARD.encode(key.to_bytes())
    ));
    let err = Signer::new(scheme.clone(), std::slice::from_ref(&public)).unwrap_err();
    assert_eq!(err, SignError::NoSigningSecret { secrets: 1 });
    assert!(err.to_string().contains("`whpk_`"), "{err}");
    let signer = Signer::new(scheme.clone(), &[public, secret_for(&scheme)]).unwrap();
    assert_eq!(signer.secret_index(), 1);
    let shown = format!("{signer:?}");
    assert!(!shown.contains("MfKQ9r8"), "{shown}");
}

#[test]
fn a_stale_timestamp_is_signed_as_given() {
    let scheme = Provider::Slack.scheme().unwrap();
    let signer = Signer::new(scheme.clone(), &[secret_for(&scheme)]).unwrap();
    let signed = signer
        .sign_event_at(&draft(None, Some("a"), None), at(NOW))
        .unwrap();
    let verifier = Verifier::new(scheme, &[secret_for(&signer.verifier.scheme)]).unwrap();
    let err = verifier
        .verify_at(&signed.headers, &signed.body, at(NOW + 3600))
        .unwrap_err();
    assert!(matches!(
        err,
        crate::signature::VerifyError::TimestampOutsideWindow { .. }
    ));
}
