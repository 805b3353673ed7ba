//! Published test vectors of each provider, each with its source named.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::Signer as _;
use support::{at, headers, hmac_sha256};
use webhook::Secret;
use webhook::extract::ExtractError;
use webhook::signature::{Provider, Verifier, VerifyError};

const SW_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SW_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const SW_TS: u64 = 1_614_265_330;
const SW_BODY: &[u8] = br#"{"test": 2432232314}"#;

fn standard_webhooks(secret: &str) -> Verifier {
    Verifier::new(
        Provider::StandardWebhooks.scheme().unwrap(),
        &[Secret::from(secret)],
    )
    .unwrap()
}

/// standard-webhooks, `libraries/javascript/src/webhook.test.ts`: the sign test.
#[test]
fn standard_webhooks_v1_published_vector() {
    let signature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    let verifier = standard_webhooks(SW_SECRET);
    for prefix in ["webhook", "svix"] {
        let h = headers(&[
            (&format!("{prefix}-id"), SW_ID),
            (&format!("{prefix}-timestamp"), &SW_TS.to_string()),
            (&format!("{prefix}-signature"), signature),
        ]);
        let verified = verifier.verify_at(&h, SW_BODY, at(SW_TS)).unwrap();
        assert_eq!(verified.timestamp(), Some(SW_TS));
        // The vector's body has no `type`: verification passes, extraction says why it cannot go on.
        assert!(matches!(
            verified.event_meta(),
            Err(ExtractError::Missing {
                what: "event type",
                ..
            })
        ));
    }
    // The secret without its prefix is accepted as well, as the official libraries do.
    let bare = standard_webhooks(SW_SECRET.trim_start_matches("whsec_"));
    let h = headers(&[
        ("webhook-id", SW_ID),
        ("webhook-timestamp", &SW_TS.to_string()),
        ("webhook-signature", signature),
    ]);
    bare.verify_at(&h, SW_BODY, at(SW_TS)).unwrap();
}

/// svix-webhooks, `server/svix-server/src/worker.rs`: the `v1a` (Ed25519) vector.
#[test]
fn standard_webhooks_v1a_published_vector() {
    let pair = STANDARD
        .decode("6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg==")
        .unwrap();
    let public = "1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4=";
    let expected = "v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg==";

    // The key pair is the seed followed by the public key.
    let signing = ed25519_dalek::SigningKey::from_bytes(&pair[..32].try_into().unwrap());
    assert_eq!(STANDARD.encode(signing.verifying_key().to_bytes()), public);
    assert_eq!(STANDARD.encode(&pair[32..]), public);
    let message = [
        SW_ID.as_bytes(),
        b".",
        SW_TS.to_string().as_bytes(),
        b".",
        SW_BODY,
    ]
    .concat();
    assert_eq!(
        format!("v1a,{}", STANDARD.encode(signing.sign(&message).to_bytes())),
        expected
    );

    let verifier = standard_webhooks(&format!("whpk_{public}"));
    let h = headers(&[
        ("webhook-id", SW_ID),
        ("webhook-timestamp", &SW_TS.to_string()),
        ("webhook-signature", expected),
    ]);
    verifier.verify_at(&h, SW_BODY, at(SW_TS)).unwrap();

    // A `v1` HMAC key does not verify a `v1a` signature, and vice versa.
    let hmac_only = standard_webhooks(SW_SECRET);
    assert_eq!(
        hmac_only.verify_at(&h, SW_BODY, at(SW_TS)).unwrap_err(),
        VerifyError::NoMatch { secrets: 1 }
    );
}

/// GitHub docs, "Validating webhook deliveries": the documented example.
#[test]
fn github_published_vector() {
    let verifier = Verifier::new(
        Provider::GitHub.scheme().unwrap(),
        &[Secret::from("It's a Secret to Everybody")],
    )
    .unwrap();
    let h = headers(&[
        (
            "x-hub-signature-256",
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        ),
        ("x-github-delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
        ("x-github-event", "ping"),
    ]);
    // GitHub signs no timestamp: any clock verifies.
    let verified = verifier.verify_at(&h, b"Hello, World!", at(0)).unwrap();
    let meta = verified.event_meta().unwrap();
    assert_eq!(
        meta.id.as_deref(),
        Some("72d3162e-cc78-11e3-81ab-4c9367dc0958")
    );
    assert_eq!(meta.event_type, "ping");
}

/// Slack docs, "Verifying requests from Slack": the documented example.
#[test]
fn slack_published_vector() {
    let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    let verifier = Verifier::new(
        Provider::Slack.scheme().unwrap(),
        &[Secret::from("8f742231b10e8888abcd99yyyzzz85a5")],
    )
    .unwrap();
    let h = headers(&[
        ("x-slack-request-timestamp", "1531420618"),
        (
            "x-slack-signature",
            "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
        ),
    ]);
    verifier
        .verify_at(&h, body.as_bytes(), at(1_531_420_618))
        .unwrap();
    // The same request five minutes and one second later is a replay.
    assert!(matches!(
        verifier.verify_at(&h, body.as_bytes(), at(1_531_420_618 + 301)),
        Err(VerifyError::TimestampOutsideWindow {
            skew_secs: 301,
            tolerance_secs: 300
        })
    ));
}

/// Stripe publishes no fixed vector: this one is computed here with `hmac`
/// and `sha2` over `{t}.{body}`, keyed by the bytes of the whole `whsec_` string.
#[test]
fn stripe_independently_computed_vector() {
    let secret = "whsec_test_secret_0123456789";
    let body = br#"{"id":"evt_3MtwBwLkdIwHu7ix28a3tqPa","type":"payment_intent.succeeded"}"#;
    let t = 1_700_000_000u64;
    let v1 = hex::encode(hmac_sha256(
        secret.as_bytes(),
        &[t.to_string().as_bytes(), b".", body],
    ));
    let verifier =
        Verifier::new(Provider::Stripe.scheme().unwrap(), &[Secret::from(secret)]).unwrap();

    // Several v1 signatures (one stale), an unknown scheme and a v0: the matching one passes.
    let h = headers(&[(
        "stripe-signature",
        &format!(
            "t={t},v1={},v1={v1},v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39,x9=1",
            "0".repeat(64)
        ),
    )]);
    let verified = verifier.verify_at(&h, body, at(t)).unwrap();
    let meta = verified.event_meta().unwrap();
    assert_eq!(meta.id.as_deref(), Some("evt_3MtwBwLkdIwHu7ix28a3tqPa"));
    assert_eq!(meta.event_type, "payment_intent.succeeded");

    // The key is not the base64 decoding of the part after `whsec_`.
    let decoded_key = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode("test_secret_0123456789")
        .unwrap_or_default();
    let wrong = hex::encode(hmac_sha256(
        &decoded_key,
        &[t.to_string().as_bytes(), b".", body],
    ));
    let h = headers(&[("stripe-signature", &format!("t={t},v1={wrong}"))]);
    assert_eq!(
        verifier.verify_at(&h, body, at(t)).unwrap_err(),
        VerifyError::NoMatch { secrets: 1 }
    );
}

/// `v0` is never accepted, even when it is a correct HMAC of the payload.
#[test]
fn stripe_refuses_a_header_with_only_v0() {
    let secret = "whsec_test_secret_0123456789";
    let body = br#"{"id":"evt_1","type":"x"}"#;
    let t = 1_700_000_000u64;
    let v0 = hex::encode(hmac_sha256(
        secret.as_bytes(),
        &[t.to_string().as_bytes(), b".", body],
    ));
    let verifier =
        Verifier::new(Provider::Stripe.scheme().unwrap(), &[Secret::from(secret)]).unwrap();
    let h = headers(&[("stripe-signature", &format!("t={t},v0={v0}"))]);
    let error = verifier.verify_at(&h, body, at(t)).unwrap_err();
    assert!(
        matches!(error, VerifyError::NoSupportedSignature { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("`v1`"), "{error}");
    assert!(
        !error.to_string().contains(&v0),
        "the error echoes the signature: {error}"
    );
}
