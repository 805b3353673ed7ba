//! The ingest's limits on what a client can hold before its request is
//! verified: slow and idle connections, open connections, bodies being read
//! at once, and how long shutdown waits for a stalled client.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderValue, StatusCode};
use support::Case;
use support::redis_server::RedisServer;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use webhook::config::Source;
use webhook::ingest::{Ingest, IngestSettings, serve_on};

/// A bound on waits that would otherwise hang the test when a limit does not
/// hold; far above every timeout the tests configure.
const HANG: Duration = Duration::from_secs(60);

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn github(secret: webhook::Secret) -> Source {
    Source {
        name: "github".into(),
        queue: "default".into(),
        verifier: Case::GitHub.verifier(&[secret]),
        event_types: None,
    }
}

async fn start(
    settings: IngestSettings,
) -> (
    SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), webhook::ingest::IngestError>>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let ingest = Ingest::new(settings).unwrap();
    let serving = tokio::spawn(serve_on(listener, ingest, async {
        let _ = rx.await;
    }));
    (addr, tx, serving)
}

/// Waits until the server closes `stream`, writing a byte every 200 ms when
/// `trickle` (a client sending its headers a byte at a time).
async fn until_closed(mut stream: TcpStream, trickle: bool) {
    let mut buf = [0u8; 4096];
    loop {
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            },
            () = tokio::time::sleep(Duration::from_millis(200)), if trickle => {
                if stream.write_all(b"x").await.is_err() {
                    return;
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_connections_are_closed_and_real_requests_are_still_served() {
    let redis = RedisServer::start();
    let (key, secret) = Case::GitHub.key(1);
    let mut settings = IngestSettings::new(redis.url(), vec![github(secret)]);
    settings.header_read_timeout = Duration::from_secs(1);
    settings.max_connections = 100;
    let (addr, _stop, _serving) = start(settings).await;

    // 500 hostile connections, five times the connection limit: silent,
    // trickling headers a byte at a time, and idle after one request.
    let mut hostile = tokio::task::JoinSet::new();
    for i in 0..500 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        match i % 3 {
            0 => {
                hostile.spawn(until_closed(stream, false));
            }
            1 => {
                stream
                    .write_all(b"POST /webhooks/github HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                    .await
                    .unwrap();
                hostile.spawn(until_closed(stream, true));
            }
            _ => {
                hostile.spawn(async move {
                    stream
                        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                        .await
                        .unwrap();
                    // The answer arrives once the connection is accepted;
                    // then it sits idle on keep-alive until closed.
                    until_closed(stream, false).await;
                });
            }
        }
    }

    // Real senders still get through, and their events are stored.
    let client = reqwest::Client::builder().timeout(HANG).build().unwrap();
    let body = Case::GitHub.body();
    for i in 0..5 {
        let mut headers = Case::GitHub.sign(&key, &body, now());
        headers.insert(
            "x-github-delivery",
            HeaderValue::try_from(format!("real-{i}")).unwrap(),
        );
        let response = client
            .post(format!("http://{addr}/webhooks/github"))
            .headers(headers)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }

    // Every hostile connection was closed by the server.
    tokio::time::timeout(HANG, async {
        while let Some(done) = hostile.join_next().await {
            done.unwrap();
        }
    })
    .await
    .expect("slow or idle connections were left open");
    let length: u64 = redis::cmd("XLEN")
        .arg("webhook:{default}:events")
        .query(&mut redis.connection())
        .unwrap();
    assert_eq!(length, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_with_a_stalled_client_ends_after_the_shutdown_timeout() {
    let redis = RedisServer::start();
    let (_key, secret) = Case::GitHub.key(1);
    let mut settings = IngestSettings::new(redis.url(), vec![github(secret)]);
    settings.request_timeout = Duration::from_secs(300);
    settings.header_read_timeout = Duration::from_secs(300);
    settings.shutdown_timeout = Duration::from_secs(1);
    let (addr, stop, serving) = start(settings).await;

    // One client stalls in its body, one in its headers.
    let mut in_body = TcpStream::connect(addr).await.unwrap();
    in_body
        .write_all(
            b"POST /webhooks/github HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"a\":",
        )
        .await
        .unwrap();
    let mut in_headers = TcpStream::connect(addr).await.unwrap();
    in_headers
        .write_all(b"POST /webhooks/github HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    stop.send(()).unwrap();
    tokio::time::timeout(HANG, serving)
        .await
        .expect("shutdown waited on a stalled client")
        .unwrap()
        .unwrap();
    tokio::time::timeout(HANG, until_closed(in_body, false))
        .await
        .unwrap();
    tokio::time::timeout(HANG, until_closed(in_headers, false))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_beyond_the_buffering_budget_get_503_until_the_budget_is_free() {
    let redis = RedisServer::start();
    let (key, secret) = Case::GitHub.key(1);
    let mut settings = IngestSettings::new(redis.url(), vec![github(secret)]);
    settings.max_body_bytes = 4096;
    settings.max_buffered_body_bytes = 8192;
    settings.request_timeout = Duration::from_secs(300);
    let (addr, _stop, _serving) = start(settings).await;

    let client = reqwest::Client::builder().timeout(HANG).build().unwrap();
    let upload = |sent: usize| async move {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let mut request =
            b"POST /webhooks/github HTTP/1.1\r\nHost: x\r\nContent-Length: 4096\r\n\r\n".to_vec();
        request.extend(std::iter::repeat_n(b'x', sent));
        stream.write_all(&request).await.unwrap();
        stream
    };

    // Declaring large bodies and sending almost nothing holds nothing:
    // the budget counts bytes that arrived, not promises.
    let mut promises = Vec::new();
    for _ in 0..8 {
        promises.push(upload(2).await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let body = Case::GitHub.body();
    let send = |id: &'static str| {
        let mut headers = Case::GitHub.sign(&key, &body, now());
        headers.insert("x-github-delivery", HeaderValue::from_static(id));
        client
            .post(format!("http://{addr}/webhooks/github"))
            .headers(headers)
            .body(body.clone())
            .send()
    };
    let served = send("while-promised").await.unwrap();
    assert_eq!(
        served.status(),
        StatusCode::OK,
        "promised bytes held the budget"
    );
    drop(promises);

    // Two uploads that really sent most of the largest body, then stall,
    // hold the whole budget.
    let mut uploads = Vec::new();
    for _ in 0..2 {
        uploads.push(upload(4090).await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = send("while-full").await.unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(refused.headers().contains_key("retry-after"));
    assert!(refused.text().await.unwrap().contains("retry later"));

    // The uploaders give up: their budget comes back.
    drop(uploads);
    let mut stored = false;
    for _ in 0..100 {
        let response = send("after").await.unwrap();
        if response.status() == StatusCode::OK {
            stored = true;
            break;
        }
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(stored, "the budget of abandoned uploads was not given back");
}

#[test]
fn limit_settings_are_read_from_the_file_and_impossible_ones_refused() {
    use webhook::ingest::IngestConfig;
    let source = "[sources.github]\nprovider = \"github\"\nsecrets = [{ env = \"GH\" }]\n";
    let env = |name: &str| (name == "GH").then(|| "secret".to_owned());
    let resolve = |settings: &str| {
        IngestConfig::from_toml(&format!("{settings}\n{source}"))
            .and_then(|config| config.resolve(&env))
    };
    let settings = resolve(
        "header_read_timeout = \"3s\"\nmax_header_bytes = 16384\nmax_connections = 7\n\
         max_buffered_body_bytes = 2097152\nshutdown_timeout = \"4s\"",
    )
    .unwrap();
    assert_eq!(settings.header_read_timeout, Duration::from_secs(3));
    assert_eq!(settings.max_header_bytes, 16384);
    assert_eq!(settings.max_connections, 7);
    assert_eq!(settings.max_buffered_body_bytes, 2 * 1024 * 1024);
    assert_eq!(settings.shutdown_timeout, Duration::from_secs(4));

    for (bad, names) in [
        ("max_buffered_body_bytes = 1000", "max_buffered_body_bytes"),
        ("max_header_bytes = 100", "max_header_bytes"),
        ("max_connections = 0", "max_connections"),
        ("header_read_timeout = \"0s\"", "header_read_timeout"),
        ("shutdown_timeout = \"0s\"", "shutdown_timeout"),
    ] {
        let message = resolve(bad).unwrap_err().to_string();
        assert!(message.contains(names), "{bad}: {message}");
    }
}
