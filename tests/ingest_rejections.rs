//! Requests refused before they reach a source (413, 431, 414, 405, 404,
//! unparseable requests) are answered JSON where the ingest writes the
//! answer, counted in `webhook_ingest_requests_total`, and an oversized
//! `Expect: 100-continue` upload is refused before the client sends it.
//!
//! One test in this binary: the counters are process-wide.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use support::Case;
use support::redis_server::RedisServer;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use webhook::config::Source;
use webhook::ingest::{Ingest, IngestSettings, serve_on};

/// Sends `request` on a new connection and reads until the server closes
/// it or `until` appears in the answer.
async fn exchange(addr: SocketAddr, request: &[u8], until: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 8192];
    let read = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
            if String::from_utf8_lossy(&answer).contains(until) {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .expect("no answer");
    String::from_utf8_lossy(&answer).into_owned()
}

fn counted(metrics: &str, source: &str, outcome: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("webhook_ingest_requests_total{"))
        .filter(|l| {
            l.contains(&format!(r#"source="{source}""#))
                && l.contains(&format!(r#"outcome="{outcome}""#))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejections_before_the_route_are_json_counted_and_refused_before_upload() {
    let redis = RedisServer::start();
    let (_key, secret) = Case::GitHub.key(1);
    let source = Source {
        name: "github".into(),
        queue: "default".into(),
        verifier: Case::GitHub.verifier(&[secret]),
        event_types: None,
    };
    let mut settings = IngestSettings::new(redis.url(), vec![source]);
    settings.max_body_bytes = 2048;
    settings.max_header_bytes = 16 * 1024;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve_on(listener, Ingest::new(settings).unwrap(), async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    let scrape = || async {
        client
            .get(format!("http://{addr}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let before = scrape().await;

    // An upload announced over the limit is refused at once: no
    // `100 Continue`, a JSON 413.
    let answer = exchange(
        addr,
        b"POST /webhooks/github HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\nExpect: 100-continue\r\n\r\n",
        "}",
    )
    .await;
    assert!(!answer.contains("100 Continue"), "{answer}");
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("application/json"), "{answer}");
    assert!(answer.contains(r#"{"error":"#), "{answer}");

    // A body over the limit without a Content-Length (chunked).
    let mut chunked =
        b"POST /webhooks/github HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    chunked.extend_from_slice(format!("{:x}\r\n", 4096).as_bytes());
    chunked.extend_from_slice(&[b'x'; 4096]);
    chunked.extend_from_slice(b"\r\n0\r\n\r\n");
    let answer = exchange(addr, &chunked, "}").await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains(r#"{"error":"#), "{answer}");

    // The wrong method on a webhook path, and a path without a route.
    let answer = exchange(
        addr,
        b"GET /webhooks/github HTTP/1.1\r\nHost: x\r\n\r\n",
        "}",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 405"), "{answer}");
    assert!(answer.contains(r#"{"error":"#), "{answer}");
    let answer = exchange(addr, b"GET /nothing/here HTTP/1.1\r\nHost: x\r\n\r\n", "}").await;
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    assert!(answer.contains(r#"{"error":"#), "{answer}");

    // A request target over the limit.
    let long = format!(
        "GET /webhooks/{} HTTP/1.1\r\nHost: x\r\n\r\n",
        "a".repeat(webhook::ingest::MAX_URI_BYTES + 1)
    );
    let answer = exchange(addr, long.as_bytes(), "}").await;
    assert!(answer.starts_with("HTTP/1.1 414"), "{answer}");
    assert!(answer.contains(r#"{"error":"#), "{answer}");

    // Headers over the limit, and a request that is not HTTP: answered by
    // the HTTP parser itself, then counted.
    let huge = format!(
        "POST /webhooks/github HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "b".repeat(17_000)
    );
    let answer = exchange(addr, huge.as_bytes(), "\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    let answer = exchange(addr, b"NOT HTTP AT ALL\x01\r\n\r\n", "\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");

    // Counted by outcome; the parser's rejections are counted once the
    // connection's task has seen them, a moment after the answer.
    let expected = [
        ("github", "too_large", 2.0),
        ("unknown", "method_not_allowed", 1.0),
        ("unknown", "not_found", 1.0),
        ("unknown", "uri_too_long", 1.0),
        ("unknown", "header_too_large", 1.0),
        ("unknown", "malformed", 1.0),
    ];
    let mut after = String::new();
    for _ in 0..100 {
        after = scrape().await;
        if expected
            .iter()
            .all(|(s, o, n)| counted(&after, s, o) - counted(&before, s, o) == *n)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for (source, outcome, n) in expected {
        assert_eq!(
            counted(&after, source, outcome) - counted(&before, source, outcome),
            n,
            "{source} {outcome}: {after}"
        );
    }
}
