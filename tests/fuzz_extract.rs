//! Fuzz targets for what is read from a verified request: the event id and
//! type extractors (headers, JSON bodies, form bodies) and `Event<T>`.
//! Ordinary tests on stable (proptest), a few hundred cases each. Properties:
//! nothing panics, the same input gives the same answer, numbers keep their
//! exact text, and form fields are read as sent.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::{Arc, OnceLock};

use http::{HeaderMap, HeaderValue};
use proptest::prelude::*;
use support::{ALL, Case, NOW, SigningKey, at};
use webhook::signature::Verifier;
use webhook::{Envelope, Event, RawBody};

const FORM: &str = "application/x-www-form-urlencoded";

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

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

/// Signs and verifies `body` as `case` with `content_type`, and reads id
/// and type twice: both answers must be equal.
fn meta(
    case: Case,
    body: &[u8],
    content_type: Option<&str>,
    extra: &HeaderMap,
) -> Result<(Option<String>, String), String> {
    let (key, verifier) = fixture(case);
    let mut h = case.sign(key, body, NOW);
    if let Some(value) = content_type {
        h.insert("content-type", HeaderValue::from_str(value).unwrap());
    }
    for (name, value) in extra {
        h.insert(name, value.clone());
    }
    let verified = verifier.verify_at(&h, body, at(NOW)).unwrap();
    let first = verified
        .event_meta()
        .map(|m| (m.id, m.event_type))
        .map_err(|e| e.to_string());
    let second = verified
        .event_meta()
        .map(|m| (m.id, m.event_type))
        .map_err(|e| e.to_string());
    assert_eq!(first, second, "{case:?}: not deterministic");
    first
}

fn content_type() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some("application/json".to_owned())),
        Just(Some(FORM.to_owned())),
        Just(Some(format!("{FORM}; charset=utf-8"))),
        "[ -~]{0,40}".prop_map(Some),
    ]
}

/// JSON-ish and form-ish bodies, and plain noise.
fn body() -> impl Strategy<Value = Vec<u8>> {
    let json = any::<u32>().prop_map(|n| {
        format!(r#"{{"id":{n},"type":"t.{n}","event":{{"type":"e"}},"action":"a"}}"#).into_bytes()
    });
    let form = proptest::collection::vec(("[ -~]{0,12}", "[ -~]{0,24}"), 0..8).prop_map(|pairs| {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish()
            .into_bytes()
    });
    let payload = "[ -~]{0,80}".prop_map(|json| {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("payload", &json)
            .finish()
            .into_bytes()
    });
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..256),
        "[{}\\[\\]\",:0-9a-z. -]{0,120}".prop_map(String::into_bytes),
        json,
        form,
        payload,
    ]
}

/// JSON numbers, including ones no float or integer type holds.
fn number() -> impl Strategy<Value = String> {
    "-?(0|[1-9][0-9]{0,40})(\\.[0-9]{1,30})?([eE][+-]?[0-9]{1,3})?"
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn extracting_never_panics_and_is_deterministic(
        body in body(),
        content_type in content_type(),
        header in "[ -~]{0,300}",
    ) {
        let mut extra = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_str(&header) {
            extra.insert("x-github-event", value.clone());
            extra.insert("x-shopify-topic", value.clone());
            extra.insert("x-event", value);
        }
        for case in ALL {
            if let Ok((id, event_type)) = meta(case, &body, content_type.as_deref(), &extra) {
                for value in id.iter().chain([&event_type]) {
                    prop_assert!(!value.is_empty() && value.len() <= 256, "{:?}: {:?}", case, value);
                    prop_assert!(!value.chars().any(|c| c.is_whitespace() || c.is_control()));
                }
            }
        }
        // Event<T> reads the same bodies without panicking, deterministically.
        let mut envelope = Envelope::new("id", "t", "s", body.clone());
        if let Some(value) = &content_type {
            envelope.headers.insert("content-type".into(), value.clone());
        }
        let envelope = Arc::new(envelope);
        let first = Event::<serde_json::Value>::from_envelope(Arc::clone(&envelope)).map(|e| e.into_payload());
        let second = Event::<serde_json::Value>::from_envelope(Arc::clone(&envelope)).map(|e| e.into_payload());
        prop_assert_eq!(first, second);
        let raw = Event::<RawBody>::from_envelope(envelope).unwrap();
        prop_assert_eq!(&raw[..], &body[..]);
    }

    #[test]
    fn json_numbers_keep_their_exact_text(id in number(), event_type in number()) {
        let body = format!(r#"{{"id": {id} ,"type":{event_type}}}"#);
        let (got_id, got_type) = meta(Case::Stripe, body.as_bytes(), None, &HeaderMap::new()).unwrap();
        prop_assert_eq!(got_id.as_deref(), Some(id.as_str()));
        prop_assert_eq!(got_type, event_type);
    }

    #[test]
    fn json_strings_are_unescaped(id in "[!-~\u{c0}-\u{17f}\u{4e00}-\u{4e80}]{1,60}") {
        let body = serde_json::json!({ "id": id, "type": "t" }).to_string();
        let (got, _) = meta(Case::Stripe, body.as_bytes(), None, &HeaderMap::new()).unwrap();
        prop_assert_eq!(got.as_deref(), Some(id.as_str()));
    }

    #[test]
    fn form_fields_are_read_as_sent(
        command in "/[!-~]{1,30}",
        trigger in "[0-9a-z.]{1,40}",
        noise in proptest::collection::vec(("[a-z_]{1,10}", "[ -~]{0,20}"), 0..6),
    ) {
        let mut pairs: Vec<(String, String)> = noise
            .into_iter()
            .filter(|(name, _)| !["command", "trigger_id", "event_id", "type", "payload", "event"].contains(&name.as_str()))
            .collect();
        pairs.push(("command".into(), command.clone()));
        pairs.push(("trigger_id".into(), trigger.clone()));
        let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(&pairs).finish();
        let (id, event_type) = meta(Case::Slack, body.as_bytes(), Some(FORM), &HeaderMap::new()).unwrap();
        prop_assert_eq!(id, Some(trigger));
        prop_assert_eq!(event_type, format!("slash_command.{command}"));
    }
}
