//! The typed provider envelopes read real-shaped payloads.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use serde::Deserialize;
use webhook::payload::{SlackEventCallback, StandardEvent, StripeEvent};
use webhook::{Envelope, Event};

fn read<T: serde::de::DeserializeOwned>(
    body: &str,
) -> Result<Event<T>, webhook::event::PayloadError> {
    Event::from_envelope(Arc::new(Envelope::new(
        "id",
        "t",
        "s",
        body.as_bytes().to_vec(),
    )))
}

#[derive(Debug, Deserialize, PartialEq)]
struct PaymentIntent {
    id: String,
    amount: i64,
}

#[test]
fn stripe_event_unwraps_data_object() {
    let body = r#"{"id":"evt_1","object":"event","api_version":"2024-06-20","created":1700000000,
        "data":{"object":{"id":"pi_1","object":"payment_intent","amount":2000,"currency":"eur"}},
        "livemode":false,"pending_webhooks":1,"type":"payment_intent.succeeded"}"#;
    let event = read::<StripeEvent<PaymentIntent>>(body).unwrap();
    assert_eq!(
        event.object(),
        &PaymentIntent {
            id: "pi_1".into(),
            amount: 2000
        }
    );
    assert_eq!(event.event_type, "payment_intent.succeeded");
    assert_eq!(event.api_version.as_deref(), Some("2024-06-20"));

    let error = read::<StripeEvent<PaymentIntent>>(&body.replace("2000", "\"2000\""))
        .err()
        .unwrap();
    assert_eq!(error.path(), "data.object.amount");
}

#[test]
fn slack_callback_unwraps_the_inner_event() {
    #[derive(Debug, Deserialize)]
    struct Message {
        #[serde(rename = "type")]
        kind: String,
        text: String,
    }
    let body = r#"{"token":"x","team_id":"T1","api_app_id":"A1","type":"event_callback","event_id":"Ev1",
        "event_time":1700000000,"event":{"type":"message","text":"hi","user":"U1"}}"#;
    let event = read::<SlackEventCallback<Message>>(body).unwrap();
    assert_eq!(
        (event.event.kind.as_str(), event.event.text.as_str()),
        ("message", "hi")
    );
    assert_eq!(event.event_id, "Ev1");
}

#[test]
fn standard_event_unwraps_data() {
    let body = r#"{"type":"invoice.paid","timestamp":"2024-01-01T00:00:00Z","data":{"total":5}}"#;
    let event = read::<StandardEvent<serde_json::Value>>(body).unwrap();
    assert_eq!(event.data["total"], 5);
    assert_eq!(event.event_type, "invoice.paid");
}
