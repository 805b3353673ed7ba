//! What a request controls reaches the ingest's log escaped: a path, an
//! event id or type cannot forge a log line or write a terminal escape.
//!
//! One test in this binary: it installs the process's tracing subscriber.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{SystemTime, UNIX_EPOCH};

use http::StatusCode;
use support::Case;
use support::logs::Captured;
use support::redis_server::RedisServer;
use webhook::config::Source;
use webhook::ingest::{Ingest, IngestSettings, serve_on};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_controlled_text_is_logged_escaped() {
    let captured = Captured::install(tracing::Level::DEBUG);

    let redis = RedisServer::start();
    let (key, secret) = Case::Stripe.key(1);
    let source = Source {
        name: "stripe".into(),
        queue: "default".into(),
        verifier: Case::Stripe.verifier(&[secret]),
        event_types: None,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve_on(
        listener,
        Ingest::new(IngestSettings::new(redis.url(), vec![source])).unwrap(),
        async {
            let _ = stopped.await;
        },
    ));
    let client = reqwest::Client::new();

    // A path that decodes to a forged line, and one with a terminal escape.
    for path in [
        "x%0A2026-01-01T00:00:00Z%20INFO%20fake:%20accepted",
        "x%1B[31mred",
    ] {
        let response = client
            .post(format!("http://{addr}/webhooks/{path}"))
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }
    // A signed event whose JSON type holds a right-to-left override and a
    // quote (control characters and whitespace are refused in ids and types
    // before anything is logged).
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let body = br#"{"id":"evt_1","type":"t\u202e\"gnp.exe"}"#;
    let response = client
        .post(format!("http://{addr}/webhooks/stripe"))
        .headers(Case::Stripe.sign(&key, body, now))
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // An unsigned one, rejected (logged with the verifier's reason).
    let response = client
        .post(format!("http://{addr}/webhooks/stripe"))
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    let text = captured.text();
    assert!(text.contains("unknown source"), "{text}");
    assert!(text.contains("accepted"), "{text}");
    assert!(
        !text.contains('\u{1b}'),
        "a terminal escape reached the log:\n{text}"
    );
    assert!(
        !text.contains('\r'),
        "a carriage return reached the log:\n{text}"
    );
    assert!(
        !text.contains('\u{202e}'),
        "a right-to-left override reached the log:\n{text}"
    );
    for line in text.lines() {
        assert!(
            !line.starts_with("2026-01-01T00:00:00Z"),
            "a request forged a log line: {line:?}\n{text}"
        );
    }
}
