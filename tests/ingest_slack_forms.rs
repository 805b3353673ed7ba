//! Slack's form-encoded deliveries (slash commands, interactivity) through
//! the ingest: stored, and answered with an empty 200, since Slack shows the
//! answer's body to the user or reads it as a modal's response; Slack's
//! JSON events keep the status body.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{SystemTime, UNIX_EPOCH};

use http::HeaderValue;
use support::Case;
use support::redis_server::RedisServer;
use webhook::EventPattern;
use webhook::config::Source;
use webhook::ingest::{Ingest, IngestSettings, serve_on};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_forms_get_an_empty_answer_and_json_events_a_status() {
    let redis = RedisServer::start();
    let (key, secret) = Case::Slack.key(1);
    let settings = IngestSettings::new(
        redis.url(),
        vec![
            Source {
                name: "slack".into(),
                queue: "default".into(),
                verifier: Case::Slack.verifier(std::slice::from_ref(&secret)),
                event_types: None,
            },
            Source {
                name: "mentions".into(),
                queue: "default".into(),
                verifier: Case::Slack.verifier(&[secret]),
                event_types: Some(vec![EventPattern::parse("app_mention").unwrap()]),
            },
        ],
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_on(listener, Ingest::new(settings).unwrap(), async {
        let _ = stopped.await;
    }));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let client = reqwest::Client::new();
    let post_to = |source: &'static str, body: &'static [u8], content_type: &'static str| {
        let mut headers = Case::Slack.sign(&key, body, now);
        headers.insert("content-type", HeaderValue::from_static(content_type));
        client
            .post(format!("http://{addr}/webhooks/{source}"))
            .headers(headers)
            .body(body)
            .send()
    };
    let post = |body, content_type| post_to("slack", body, content_type);

    let command = b"command=%2Fdeploy&text=prod&team_id=T1&trigger_id=13345224609.738474920.8088930838d88f008e0";
    let answer = post(command, "application/x-www-form-urlencoded")
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.text().await.unwrap(), "", "Slack would show a body");
    let again = post(command, "application/x-www-form-urlencoded")
        .await
        .unwrap();
    assert_eq!(
        (again.status().as_u16(), again.text().await.unwrap()),
        (200, String::new()),
        "a duplicate is acknowledged the same way"
    );

    // A command the source's `event_types` leave out is answered the same
    // way, not stored.
    let ignored = post_to("mentions", command, "application/x-www-form-urlencoded")
        .await
        .unwrap();
    assert_eq!(
        (ignored.status().as_u16(), ignored.text().await.unwrap()),
        (200, String::new())
    );

    let event = br#"{"type":"event_callback","event_id":"Ev1","event":{"type":"app_mention"}}"#;
    let answer = post(event, "application/json").await.unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(
        answer.text().await.unwrap(),
        r#"{"id":"Ev1","status":"accepted"}"#
    );

    let stored: u64 = redis::cmd("XLEN")
        .arg("webhook:{default}:events")
        .query(&mut redis.connection())
        .unwrap();
    assert_eq!(stored, 2, "the command once, the event once");
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
