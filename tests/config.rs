//! Source configuration: parsing, secrets from the environment and files,
//! and errors that name the source and the field.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use support::{Case, NOW, at};
use webhook::config::{ConfigError, Source, SourcesConfig};

fn env(name: &str) -> Option<String> {
    match name {
        "STRIPE_SECRET" => Some("whsec_current\n".into()),
        "STRIPE_OLD" => Some("whsec_previous".into()),
        "EMPTY" => Some("  \n".into()),
        "BAD_B64" => Some("whsec_not*base64".into()),
        "SVIX_SECRET" => Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()),
        _ => None,
    }
}

fn resolve(toml: &str) -> Result<Vec<Source>, ConfigError> {
    SourcesConfig::from_toml(toml)?.resolve_with(env)
}

fn error(toml: &str) -> String {
    resolve(toml).unwrap_err().to_string()
}

#[test]
fn parses_every_provider_with_defaults() {
    let sources = resolve(
        r#"
        [sources.stripe]
        provider = "stripe"
        secrets = [{ env = "STRIPE_SECRET" }, { env = "STRIPE_OLD" }]
        queue = "payments"
        tolerance = "2m"
        event_types = ["payment_intent.*", "charge.refunded"]

        [sources.gh]
        provider = "github"
        secrets = [{ env = "STRIPE_SECRET" }]

        [sources.slack]
        provider = "slack"
        secrets = [{ env = "STRIPE_SECRET" }]

        [sources.shop]
        provider = "shopify"
        secrets = [{ env = "STRIPE_SECRET" }]

        [sources.svix]
        provider = "svix"
        secrets = [{ env = "SVIX_SECRET" }]

        [sources.internal]
        provider = "hmac"
        secrets = [{ env = "STRIPE_SECRET" }]
        signature_header = "X-Signature"
        prefix = "sha256="
        timestamp_header = "X-Timestamp"
        signed_content = "{id}.{timestamp}.{body}"
        event_id = { header = "X-Delivery" }
        event_type = { json = "/type" }
        "#,
    )
    .unwrap();
    let names: Vec<&str> = sources.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["gh", "internal", "shop", "slack", "stripe", "svix"]);

    let stripe = &sources[4];
    assert_eq!(stripe.queue, "payments");
    assert_eq!(
        stripe.verifier.scheme().tolerance,
        Some(Duration::from_secs(120))
    );
    assert!(stripe.accepts("payment_intent.succeeded"));
    assert!(stripe.accepts("charge.refunded"));
    assert!(!stripe.accepts("charge.succeeded"));
    assert_eq!(sources[0].queue, "default");
    assert!(sources[0].accepts("anything"));
    assert_eq!(sources[5].verifier.scheme().name, "standard-webhooks");
    assert_eq!(
        sources[1].verifier.scheme().tolerance,
        Some(Duration::from_secs(300))
    );
}

#[test]
fn secrets_from_the_environment_are_trimmed_and_rotation_works() {
    let sources = resolve(
        r#"
        [sources.stripe]
        provider = "stripe"
        secrets = [{ env = "STRIPE_OLD" }, { env = "STRIPE_SECRET" }]
        "#,
    )
    .unwrap();
    // Sign with the current secret as Stripe would; the trailing newline of
    // the variable is not part of the key.
    let body = br#"{"id":"evt_1","type":"a.b"}"#;
    let signature = hex::encode(support::hmac_sha256(
        b"whsec_current",
        &[NOW.to_string().as_bytes(), b".", body],
    ));
    let h = support::headers(&[("stripe-signature", &format!("t={NOW},v1={signature}"))]);
    let verified = sources[0].verifier.verify_at(&h, body, at(NOW)).unwrap();
    assert_eq!(verified.secret_index(), 1);
}

#[test]
fn secrets_from_files() {
    let dir = std::env::temp_dir().join(format!("webhook-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("github-secret");
    std::fs::write(&path, "It's a Secret to Everybody\n").unwrap();
    let toml = format!(
        "[sources.gh]\nprovider = \"github\"\nsecrets = [{{ file = {:?} }}]\n",
        path.display().to_string()
    );
    let sources = resolve(&toml).unwrap();
    let h = support::headers(&[
        (
            "x-hub-signature-256",
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        ),
        ("x-github-delivery", "d"),
        ("x-github-event", "ping"),
    ]);
    sources[0].verifier.verify(&h, b"Hello, World!").unwrap();

    let missing = format!(
        "[sources.gh]\nprovider = \"github\"\nsecrets = [{{ file = {:?} }}]\n",
        dir.join("nope").display().to_string()
    );
    let message = error(&missing);
    assert!(
        message.starts_with("source `gh`: `secrets` item 1 names a file that cannot be read"),
        "{message}"
    );
    assert!(!message.contains("nope"), "{message}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn errors_name_the_source_and_the_field() {
    let cases: &[(&str, &str)] = &[
        (
            "[sources.stripe]\nprovider = \"strip\"\nsecrets = []",
            "invalid configuration at `sources.stripe.provider`: line 2, column 12: unknown variant `...`, expected one of `stripe`",
        ),
        (
            "[sources.stripe]\nprovider = \"stripe\"\nsecrets = [{ env = \"STRIPE_SECRET\" }]\ntolerance = \"soon\"",
            "invalid configuration at `sources.stripe.tolerance`: line 4, column 13: not a duration",
        ),
        (
            "[sources.stripe]\nprovider = \"stripe\"\nsecrets = [{ env = \"STRIPE_SECRET\" }]\ntolerence = \"5m\"",
            "invalid configuration at `sources.stripe....`: line 4, column 1: unknown field `...`, expected one of `provider`",
        ),
        (
            "[sources.stripe]\nprovider = \"stripe\"\nsecrets = [{ value = \"whsec_literal\" }]",
            "invalid configuration at `sources.stripe.secrets[0]`: line 3, column 14: each secret is { env = \"VARIABLE\" } or { file = \"/path\" }",
        ),
        (
            "[sources.stripe]\nprovider = \"stripe\"\nsecrets = [{ env = \"UNSET\" }]",
            "source `stripe`: `secrets` item 1 names an environment variable that is not set; export it",
        ),
        (
            "[sources.stripe]\nprovider = \"stripe\"\nsecrets = [{ env = \"EMPTY\" }]",
            "source `stripe`: `secrets` item 1 names an environment variable that is empty",
        ),
        (
            "[sources.stripe]\nprovider = \"stripe\"\nsecrets = []",
            "source `stripe`: `secrets` no secret is configured; give at least one",
        ),
        (
            "[sources.gh]\nprovider = \"github\"\nsecrets = [{ env = \"STRIPE_SECRET\" }]\ntolerance = \"5m\"",
            "source `gh`: `tolerance` has no effect: github signs no timestamp",
        ),
        (
            "[sources.gh]\nprovider = \"github\"\nsecrets = [{ env = \"STRIPE_SECRET\" }]\nsignature_header = \"x\"",
            "source `gh`: `signature_header` only applies to provider = \"hmac\"",
        ),
        (
            "[sources.svix]\nprovider = \"standard-webhooks\"\nsecrets = [{ env = \"BAD_B64\" }]",
            "source `svix`: `secrets` secret 1 is not valid base64 after its `whsec_` prefix",
        ),
        (
            "[sources.x]\nprovider = \"hmac\"\nsecrets = [{ env = \"STRIPE_SECRET\" }]\nevent_type = { value = \"t\" }",
            "source `x`: `signature_header` is required for provider = \"hmac\"",
        ),
        (
            "[sources.x]\nprovider = \"hmac\"\nsecrets = [{ env = \"STRIPE_SECRET\" }]\nsignature_header = \"X-Sig\"",
            "source `x`: `event_type` is required for provider = \"hmac\"",
        ),
        (
            "[sources.x]\nprovider = \"hmac\"\nsecrets = [{ env = \"STRIPE_SECRET\" }]\nsignature_header = \"X-Sig\"\nevent_type = { value = \"t\" }\nsigned_content = \"{timestamp}.{body}\"",
            "source `x`: `signed_content` the signed content uses `{timestamp}`, but no `timestamp_header` is set",
        ),
        (
            "[sources.x]\nprovider = \"hmac\"\nsecrets = [{ env = \"STRIPE_SECRET\" }]\nsignature_header = \"X-Sig\"\nevent_type = { json = \"type\" }",
            "source `x`: `event_type` is not a JSON pointer",
        ),
        (
            "[sources.\"bad name\"]\nprovider = \"github\"\nsecrets = [{ env = \"STRIPE_SECRET\" }]",
            "source `bad name`: `name` must be 1 to 64 letters",
        ),
        (
            "[sources.gh]\nprovider = \"github\"\nsecrets = [{ env = \"STRIPE_SECRET\" }]\nqueue = \"{q}\"",
            "source `gh`: `queue` must be 1 to 64 letters",
        ),
        (
            "[sources.gh]\nprovider = \"github\"\nsecrets = [{ env = \"STRIPE_SECRET\" }]\nevent_types = [\"push*\"]",
            "source `gh`: `event_types` has an invalid pattern (item 1)",
        ),
        (
            "[sources.gh\nprovider = 1",
            "invalid configuration at `.`: line 1, column",
        ),
        (
            "[sources.stripe]\nprovider = \"stripe\"\nsecrets = \"whsec_literal\"",
            "invalid configuration at `sources.stripe.secrets`: line 3, column 11: each secret is",
        ),
    ];
    for (toml, expected) in cases {
        let message = error(toml);
        assert!(
            message.starts_with(expected),
            "\n got: {message}\nwant: {expected}"
        );
        for secret in [
            "whsec_current",
            "whsec_previous",
            "whsec_literal",
            "not*base64",
        ] {
            assert!(
                !message.contains(secret),
                "the error shows a secret: {message}"
            );
        }
    }
}

#[test]
fn a_generic_source_from_config_verifies_like_the_independent_signer() {
    let (key, _) = Case::GenericTimestamped.key(1);
    let support::SigningKey::Hmac(raw) = &key else {
        unreachable!()
    };
    let secret = String::from_utf8(raw.clone()).unwrap();
    let sources = SourcesConfig::from_toml(
        r#"
        [sources.internal]
        provider = "hmac"
        secrets = [{ env = "INTERNAL" }]
        signature_header = "X-Signature"
        prefix = "sha256="
        timestamp_header = "X-Timestamp"
        signed_content = "{id}.{timestamp}.{body}"
        tolerance = "30s"
        event_id = { header = "X-Delivery" }
        event_type = { json = "/type" }
        "#,
    )
    .unwrap()
    .resolve_with(|name| (name == "INTERNAL").then(|| secret.clone()))
    .unwrap();
    let body = Case::GenericTimestamped.body();
    let h = Case::GenericTimestamped.sign(&key, &body, NOW - 30);
    let verified = sources[0].verifier.verify_at(&h, &body, at(NOW)).unwrap();
    assert_eq!(verified.event_meta().unwrap().id.as_deref(), Some("g-1"));
    assert!(
        sources[0]
            .verifier
            .verify_at(&h, &body, at(NOW + 1))
            .is_err()
    );
}

const DEMO: &str = r#"
[sources.demo]
provider = "hmac"
secrets = [{ env = "STRIPE_SECRET" }]
signature_header = "X-Signature"
prefix = "sha256="
timestamp_header = "X-Timestamp"
"#;

fn demo(extra: &str) -> Result<Vec<Source>, ConfigError> {
    resolve(&format!(
        "{DEMO}{extra}\nevent_type = {{ json = \"/type\" }}\n"
    ))
}

fn sign_demo(id: &str, ts: u64, signed: &[&[u8]]) -> http::HeaderMap {
    let sig = hex::encode(support::hmac_sha256(b"whsec_current", signed));
    support::headers(&[
        ("x-signature", &format!("sha256={sig}")),
        ("x-timestamp", &ts.to_string()),
        ("x-event-id", id),
    ])
}

#[test]
fn an_event_id_from_an_unsigned_header_is_refused_with_the_fix() {
    let message =
        demo("signed_content = \"{timestamp}.{body}\"\nevent_id = { header = \"X-Event-Id\" }")
            .unwrap_err()
            .to_string();
    assert!(
        message.starts_with("source `demo`: `event_id` "),
        "{message}"
    );
    assert!(message.contains("{id}"), "{message}");
    assert!(message.contains("signed-digest"), "{message}");

    // An id header that is signed, but not the one the id is read from.
    let message = demo(
        "id_header = \"X-Other\"\nsigned_content = \"{id}.{timestamp}.{body}\"\nevent_id = { header = \"X-Event-Id\" }",
    )
    .unwrap_err()
    .to_string();
    assert!(
        message.starts_with("source `demo`: `event_id` "),
        "{message}"
    );
}

#[test]
fn a_signed_event_id_header_cannot_be_changed_on_a_captured_request() {
    let sources = demo(
        "signed_content = \"{id}.{timestamp}.{body}\"\nevent_id = { header = \"X-Event-Id\" }",
    )
    .unwrap();
    let verifier = &sources[0].verifier;
    let body = br#"{"type":"order.created","order":1}"#;
    let ts = NOW.to_string();
    let h = sign_demo("order-1", NOW, &[b"order-1.", ts.as_bytes(), b".", body]);
    let verified = verifier.verify_at(&h, body, at(NOW)).unwrap();
    assert_eq!(
        verified.event_meta().unwrap().id.as_deref(),
        Some("order-1")
    );

    // The same request re-sent under another id does not verify.
    let mut replayed = h.clone();
    replayed.insert("x-event-id", http::HeaderValue::from_static("order-2"));
    assert!(verifier.verify_at(&replayed, body, at(NOW)).is_err());
}

#[test]
fn an_explicit_signed_digest_dedupes_on_the_signed_bytes() {
    let sources =
        demo("signed_content = \"{timestamp}.{body}\"\nevent_id = \"signed-digest\"").unwrap();
    let verifier = &sources[0].verifier;
    let ts = NOW.to_string();
    let id_of = |event_id: &str, body: &[u8]| {
        let h = sign_demo(event_id, NOW, &[ts.as_bytes(), b".", body]);
        let verified = verifier.verify_at(&h, body, at(NOW)).unwrap();
        verified.event_meta().unwrap().id.unwrap()
    };
    let body = br#"{"type":"order.created","order":1}"#;
    let first = id_of("order-1", body);
    assert!(first.starts_with("sha256:"), "{first}");
    assert_eq!(first.len(), "sha256:".len() + 64);
    // A captured request re-sent with another unsigned id is the same event.
    assert_eq!(id_of("order-2", body), first);
    assert_eq!(id_of("order-3", body), first);
    // Other signed bytes are another event.
    assert_ne!(
        id_of("order-1", br#"{"type":"order.created","order":2}"#),
        first
    );

    let message = resolve(&format!(
        "{DEMO}signed_content = \"{{timestamp}}.{{body}}\"\nevent_type = \"signed-digest\"\n"
    ))
    .unwrap_err()
    .to_string();
    assert!(message.contains("event_type"), "{message}");
}

#[test]
fn a_secret_pasted_into_any_field_is_never_echoed() {
    const PASTED: &str = "whsec_Pasted0Secret0Value";
    let base = "[sources.s]\nprovider = \"hmac\"\nsecrets = [{ env = \"STRIPE_SECRET\" }]\nsignature_header = \"X-Sig\"\nevent_type = { json = \"/type\" }\n";
    let github = "[sources.s]\nprovider = \"github\"\nsecrets = [{ env = \"STRIPE_SECRET\" }]\n";
    let cases = [
        format!("[sources.s]\nprovider = \"github\"\nsecrets = [{{ env = \"{PASTED}\" }}]"),
        format!(
            "[sources.s]\nprovider = \"github\"\nsecrets = [{{ file = \"/nonexistent/{PASTED}\" }}]"
        ),
        format!("[sources.s]\nprovider = \"github\"\nsecrets = [{{ value = \"{PASTED}\" }}]"),
        format!("[sources.s]\nprovider = \"github\"\nsecrets = [\"{PASTED}\"]"),
        format!("[sources.s]\nprovider = \"github\"\nsecrets = {PASTED}"),
        format!("[sources.s]\nprovider = \"{PASTED}\"\nsecrets = []"),
        format!("[sources.s]\nprovider = {PASTED}\nsecrets = []"),
        format!("{github}tolerance = \"{PASTED}\""),
        format!("{github}tolerance = \"5{PASTED}\""),
        format!("{github}queue = \"{PASTED}!\""),
        format!("{github}queue = [\"{PASTED}\"]"),
        format!("{github}event_types = [\"{PASTED} *\"]"),
        format!("{github}event_types = \"{PASTED}\""),
        format!("{github}prefix = \"{PASTED}\""),
        format!("{github}{PASTED} = 1"),
        format!("{github}\"{PASTED}\" = \"x\""),
        format!("{base}encoding = \"{PASTED}\""),
        format!(
            "[sources.s]\nprovider = \"hmac\"\nsecrets = [{{ env = \"STRIPE_SECRET\" }}]\nsignature_header = \"{PASTED} x\"\nevent_type = {{ json = \"/type\" }}"
        ),
        format!("{base}timestamp_header = \"{PASTED}:\""),
        format!("{base}id_header = \"{PASTED}:\""),
        format!("{base}signed_content = \"{{{PASTED}}}.{{body}}\""),
        format!("{base}event_id = {{ header = \"{PASTED}\" }}"),
        format!("{base}event_id = \"{PASTED}\""),
        format!("{base}event_id = {{ {PASTED} = \"x\" }}"),
        format!("{base}event_id = {{ json = \"{PASTED}\" }}"),
        format!("{github}event_types = [\"a.*\", \"{PASTED}*\"]"),
        format!("{base}queue = {PASTED}1"),
        format!("{base}queue = 1{PASTED}"),
        format!("{base}max = \"{PASTED}\""),
        format!("{base}[sources.s.{PASTED}]"),
        // The parser's own word, and quotes, inside what was typed.
        format!("[sources.s]\nprovider = \"x, expected {PASTED}\"\nsecrets = []"),
        format!("{github}tolerance = \"expected`{PASTED}\""),
        format!("{github}queue = [\"a\\\"b, expected {PASTED}\"]"),
        format!("{base}encoding = \"'expected' {PASTED}\""),
    ];
    for toml in &cases {
        let error = match resolve(toml) {
            Err(error) => error,
            Ok(_) => panic!("accepted:\n{toml}"),
        };
        let display = error.to_string();
        let debug = format!("{error:?}");
        for shown in [&display, &debug] {
            assert!(
                !shown.contains("Pasted0Secret"),
                "the error shows what was typed:\n{toml}\n---\n{shown}"
            );
        }
        assert!(
            display.contains("line") || display.starts_with("source `s`"),
            "{display}"
        );
    }

    // Nor does the Debug of the configuration as read.
    let config = SourcesConfig::from_toml(&format!(
        "[sources.s]\nprovider = \"github\"\nsecrets = [{{ env = \"{PASTED}\" }}, {{ file = \"/{PASTED}\" }}]"
    ))
    .unwrap();
    let debug = format!("{config:?}");
    assert!(!debug.contains("Pasted0Secret"), "{debug}");
}
