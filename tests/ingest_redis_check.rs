//! Redis settings that lose acknowledged events are refused, ones that
//! repeat work are warned about, and readiness follows whether Redis accepts
//! writes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderValue, StatusCode};
use support::Case;
use support::redis_server::RedisServer;
use webhook::config::Source;
use webhook::ingest::{Ingest, IngestError, IngestSettings, serve_on};
use webhook::prelude::*;
use webhook::webhook_worker::redis_check::{self, Refusal, Warning};
use webhook::webhook_worker::worker::Worker;

/// Far above anything the tests wait for: a bound on a hang.
const HANG: Duration = Duration::from_secs(30);

#[webhook_handler("checked.thing", queue = "checked", name = "checked-noop")]
async fn checked_noop(_event: Event<serde_json::Value>) -> Result<(), HandlerError> {
    Ok(())
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn settings(redis: &RedisServer, secret: webhook::Secret) -> IngestSettings {
    let source = Source {
        name: "github".into(),
        queue: "default".into(),
        verifier: Case::GitHub.verifier(&[secret]),
        event_types: None,
    };
    IngestSettings::new(redis.url(), vec![source])
}

async fn start(
    settings: IngestSettings,
) -> (
    SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), IngestError>>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(serve_on(listener, Ingest::new(settings).unwrap(), async {
        let _ = rx.await;
    }));
    (addr, tx, serving)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allkeys_policy_is_refused_at_start_by_the_ingest_and_the_worker() {
    let redis = RedisServer::start_with(&["--maxmemory-policy", "allkeys-lru"]);
    let (_key, secret) = Case::GitHub.key(1);
    let (_addr, _stop, serving) = start(settings(&redis, secret)).await;
    let error = tokio::time::timeout(HANG, serving)
        .await
        .expect("the ingest started on an evicting Redis")
        .unwrap()
        .unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, IngestError::UnsafeRedis(_)), "{message}");
    assert!(message.contains("allkeys-lru"), "{message}");
    assert!(message.contains("maxmemory-policy noeviction"), "{message}");

    let worker = Worker::builder()
        .redis_url(redis.url())
        .queue("checked")
        .consumer("w1")
        .build()
        .unwrap();
    support::logs::quiet();
    let error = tokio::time::timeout(HANG, worker.run(std::future::pending()))
        .await
        .expect("the worker ran on an evicting Redis")
        .unwrap_err()
        .to_string();
    assert!(error.contains("maxmemory-policy noeviction"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn volatile_eviction_and_no_append_only_file_are_warned_about() {
    let redis = RedisServer::start_with(&["--maxmemory-policy", "volatile-lru"]);
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let warnings = redis_check::check(&mut conn).await.unwrap();
    assert!(
        warnings.contains(&Warning::VolatileEviction {
            policy: "volatile-lru".into()
        }),
        "{warnings:?}"
    );
    // The test server runs without the append-only file and snapshots.
    assert!(
        warnings.contains(&Warning::NoAppendOnly {
            snapshots: Some(false)
        }),
        "{warnings:?}"
    );
    for warning in &warnings {
        let text = warning.to_string();
        assert!(
            text.contains("appendonly yes") || text.contains("maxmemory-policy noeviction"),
            "{text}"
        );
    }

    let safe = RedisServer::start_with(&["--appendonly", "yes"]);
    let client = redis::Client::open(safe.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    assert_eq!(redis_check::check(&mut conn).await.unwrap(), []);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_or_evicting_redis_fails_readiness_and_requests_until_it_is_fixed() {
    let redis = RedisServer::start_with(&["--maxmemory-policy", "noeviction"]);
    let (key, secret) = Case::GitHub.key(1);
    let (addr, _stop, _serving) = start(settings(&redis, secret)).await;
    let client = reqwest::Client::builder().timeout(HANG).build().unwrap();
    let body = Case::GitHub.body();
    let readyz = || async {
        client
            .get(format!("http://{addr}/readyz"))
            .send()
            .await
            .unwrap()
            .status()
    };
    // The settings check behind `/readyz` runs at most once a second.
    let readyz_becomes = |expected: StatusCode| async move {
        let deadline = std::time::Instant::now() + HANG;
        loop {
            let status = readyz().await;
            if status == expected {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "readyz stayed {status}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let post = |id: &'static str| {
        let mut headers = Case::GitHub.sign(&key, &body, now());
        headers.insert("x-github-delivery", HeaderValue::from_static(id));
        let request = client
            .post(format!("http://{addr}/webhooks/github"))
            .headers(headers)
            .body(body.clone());
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(readyz().await, StatusCode::OK);

    // Fill Redis past its maxmemory: 1.6 MB of data, then a maxmemory
    // half a megabyte below what it uses, so every write gets OOM.
    let mut conn = redis.connection();
    let filler = vec![b'f'; 16 * 1024];
    for i in 0..100 {
        let _: () = redis::cmd("SET")
            .arg(format!("filler:{i}"))
            .arg(&filler)
            .query(&mut conn)
            .unwrap();
    }
    let info: redis::InfoDict = redis::cmd("INFO").arg("memory").query(&mut conn).unwrap();
    let used: u64 = info.get("used_memory").unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg(used - 512 * 1024)
        .query(&mut conn)
        .unwrap();
    let refused: redis::RedisResult<()> =
        redis::cmd("SET").arg("one-more").arg("x").query(&mut conn);
    assert!(refused.is_err(), "Redis still accepts writes");
    assert_eq!(readyz().await, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(post("while-full").await, StatusCode::SERVICE_UNAVAILABLE);

    // Memory freed: ready again, and events are stored.
    let _: () = redis::cmd("FLUSHALL").query(&mut conn).unwrap();
    assert_eq!(readyz().await, StatusCode::OK);
    assert_eq!(post("after-flush").await, StatusCode::OK);

    // Someone switches the policy to one that evicts streams.
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory-policy")
        .arg("allkeys-lru")
        .query(&mut conn)
        .unwrap();
    readyz_becomes(StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(
        post("while-evicting").await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory-policy")
        .arg("noeviction")
        .query(&mut conn)
        .unwrap();
    readyz_becomes(StatusCode::OK).await;
    assert_eq!(post("after-fix").await, StatusCode::OK);

    let ids: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg("webhook:{default}:events")
        .arg("-")
        .arg("+")
        .query(&mut conn)
        .unwrap();
    assert_eq!(ids.len(), 2, "only the two accepted events are stored");
    let _ = Refusal::Timeout(Duration::ZERO);
}
