//! The ingest against a real `redis-server`: what is stored, what is
//! refused, and what happens when Redis fails.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

/// The backend of this run of the suite.
type Redis = support::redis_server::RedisServer;

include!("suites/ingest.rs");

// ---- one Redis only: these restart or reconfigure the server ---------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_gives_503_and_the_ingest_recovers_when_it_is_back() {
    let mut redis = Redis::start();
    let (key, secret) = Case::GitHub.key(1);
    let mut settings = IngestSettings::new(redis.url(), vec![source(Case::GitHub, secret)]);
    settings.redis_timeout = Duration::from_millis(500);
    let server = Server::start(settings).await;
    let body = Case::GitHub.body();
    let request = |id: &str| {
        let mut headers = Case::GitHub.sign(&key, &body, now());
        headers.insert("x-github-delivery", HeaderValue::try_from(id).unwrap());
        headers
    };

    let (status, _, _) = server.post("github", request("before"), body.clone()).await;
    assert_eq!(status, StatusCode::OK);

    redis.kill();
    for attempt in 0..3 {
        // The client's own 20 s timeout would fail this if the ingest hung.
        let (status, headers, answer) =
            server.post("github", request("during"), body.clone()).await;
        assert_eq!(
            status,
            StatusCode::SERVICE_UNAVAILABLE,
            "attempt {attempt}: {answer}"
        );
        assert_eq!(headers.get("retry-after").unwrap(), "5");
    }
    assert_eq!(server.get("/readyz").await, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(server.get("/healthz").await, StatusCode::OK);

    redis.restart();
    // Reconnection happens in the background; the first request after the
    // restart may still see the old connection fail, never a 2xx without a write.
    let mut recovered = false;
    for _ in 0..50 {
        let (status, _, _) = server.post("github", request("after"), body.clone()).await;
        if status == StatusCode::OK {
            recovered = true;
            break;
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        recovered,
        "the ingest did not recover after Redis came back"
    );
    let ids: Vec<String> = entries(&redis, "default")
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(
        ids,
        ["after"],
        "the restarted Redis kept nothing, and nothing was written while it was down"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_redis_gives_503_and_shutdown_finishes_requests_in_flight() {
    let redis = Redis::start_with(&["--enable-debug-command", "yes"]);
    let (key, secret) = Case::GitHub.key(1);
    let body = Case::GitHub.body();
    let request = |id: &str| {
        let mut headers = Case::GitHub.sign(&key, &body, now());
        headers.insert("x-github-delivery", HeaderValue::try_from(id).unwrap());
        headers
    };
    let stall = |seconds: &'static str| {
        let url = redis.url();
        std::thread::spawn(move || {
            let mut connection = redis::Client::open(url).unwrap().get_connection().unwrap();
            let _: () = redis::cmd("DEBUG")
                .arg("SLEEP")
                .arg(seconds)
                .query(&mut connection)
                .unwrap();
        })
    };

    // Slower than the Redis timeout: 503, not a hang and never a 2xx.
    let mut settings = IngestSettings::new(redis.url(), vec![source(Case::GitHub, secret.clone())]);
    settings.redis_timeout = Duration::from_millis(300);
    let server = Server::start(settings).await;
    let stalled = stall("1.5");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, headers, _) = server.post("github", request("slow"), body.clone()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(headers.contains_key("retry-after"));
    stalled.join().unwrap();

    // Shutdown while a request waits on Redis: the request still completes.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let ingest = Ingest::new(IngestSettings::new(
        redis.url(),
        vec![source(Case::GitHub, secret)],
    ))
    .unwrap();
    let serving = tokio::spawn(serve_on(listener, ingest, async {
        let _ = stopped.await;
    }));
    let stalled = stall("0.8");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let client = reqwest::Client::new();
    let in_flight = tokio::spawn(
        client
            .post(format!("http://{addr}/webhooks/github"))
            .headers(request("in-flight"))
            .body(body.clone())
            .send(),
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.send(()).unwrap();
    let response = in_flight.await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    serving.await.unwrap().unwrap();
    stalled.join().unwrap();
    assert!(
        entries(&redis, "default")
            .iter()
            .any(|e| e.id == "in-flight")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_replicas_acknowledges_only_what_a_replica_has() {
    let primary = Redis::start();
    let mut replica = Redis::start_with(&["--replicaof", "127.0.0.1", &primary.port().to_string()]);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let info: String = redis::cmd("INFO")
            .arg("replication")
            .query(&mut replica.connection())
            .unwrap();
        if info.contains("master_link_status:up") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the replica never synced"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (key, secret) = Case::GitHub.key(1);
    let mut settings = IngestSettings::new(primary.url(), vec![source(Case::GitHub, secret)]);
    settings.wait_replicas = 1;
    settings.redis_timeout = Duration::from_millis(400);
    let server = Server::start(settings).await;
    let body = Case::GitHub.body();
    let signed = |id: &str| {
        let mut headers = Case::GitHub.sign(&key, &body, now());
        headers.insert("x-github-delivery", HeaderValue::try_from(id).unwrap());
        headers
    };
    let (status, _, answer) = server.post("github", signed("r-1"), body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let on_replica = support::envelopes(&mut replica.connection(), "webhook:{default}:events");
    assert_eq!(
        on_replica.len(),
        1,
        "acknowledged before the replica had it"
    );

    // Without its replica the primary still stores the event, but the
    // ingest does not acknowledge it; the sender's retry is answered once
    // a replica has it.
    replica.kill();
    let (status, headers, answer) = server.post("github", signed("r-2"), body.clone()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
    assert!(headers.contains_key("retry-after"));
    assert_eq!(entries(&primary, "default").len(), 2);
    replica.restart();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (status, _, answer) = server.post("github", signed("r-2"), body.clone()).await;
        if status == StatusCode::OK {
            assert!(answer.contains("duplicate"), "{answer}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never acknowledged: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
