//! The ingest suite (`tests/suites/ingest.rs`) on a real local Redis
//! Cluster of three masters the test starts itself, where `REDIS_URL` names
//! the cluster; and what only a cluster has: queues in different slots
//! stored on the nodes that own them, and an evicting policy on any one
//! master refused. The tests that stop or slow the one Redis run on one
//! server only (tests/ingest.rs).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

/// The backend of this run of the suite.
type Redis = support::redis_cluster::RedisCluster;

include!("suites/ingest.rs");

// ---- a cluster only ---------------------------------------------------------

/// A GitHub source `gh-<queue>` storing in each of `queues`.
fn github_sources(queues: &[&str], secret: &webhook::Secret) -> Vec<Source> {
    queues
        .iter()
        .map(|queue| Source {
            name: format!("gh-{queue}"),
            queue: (*queue).to_owned(),
            verifier: Case::GitHub.verifier(std::slice::from_ref(secret)),
            event_types: None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ingest_stores_and_dedupes_on_a_cluster() {
    let cluster = Redis::start();
    // Queues whose hash tags fall on different masters.
    let queues = ["orders", "payments", "emails", "audit", "search", "billing"];
    let owners: std::collections::BTreeSet<u16> = queues
        .iter()
        .map(|q| cluster.owner_of(&format!("webhook:{{{q}}}:events")))
        .collect();
    assert!(owners.len() > 1, "the queues all landed on one node");

    let (key, secret) = Case::GitHub.key(1);
    let sources = github_sources(&queues, &secret);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve_on(
        listener,
        Ingest::new(IngestSettings::new(cluster.url(), sources)).unwrap(),
        async {
            let _ = stopped.await;
        },
    ));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for queue in queues {
        let body = Case::GitHub.body();
        let headers = Case::GitHub.sign(&key, &body, now);
        for expected in ["accepted", "duplicate"] {
            let response = client
                .post(format!("http://{addr}/webhooks/gh-{queue}"))
                .headers(headers.clone())
                .body(body.clone())
                .send()
                .await
                .unwrap();
            let status = response.status();
            let text = response.text().await.unwrap();
            assert_eq!(status, StatusCode::OK, "{queue}: {text}");
            assert!(
                text.contains(&format!(r#""status":"{expected}""#)),
                "{queue}: {text}"
            );
        }
        let stored = entries(&cluster, queue);
        assert_eq!(stored.len(), 1, "{queue}");
        assert_eq!(stored[0].source, format!("gh-{queue}"));
        assert_eq!(&stored[0].body[..], &body[..]);
    }
    let ready = client
        .get(format!("http://{addr}/readyz"))
        .send()
        .await
        .unwrap();
    let status = ready.status();
    assert_eq!(status, StatusCode::OK, "{}", ready.text().await.unwrap());

    // One master starts evicting: the ingest's re-check (every 5 s) sees it
    // on that node and refuses events, as on one Redis.
    let evicting = cluster.ports()[1];
    cluster.config_set(evicting, "maxmemory-policy", "allkeys-lru");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let answer = loop {
        let ready = client
            .get(format!("http://{addr}/readyz"))
            .send()
            .await
            .unwrap();
        if ready.status() == StatusCode::SERVICE_UNAVAILABLE {
            break ready.text().await.unwrap();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "an evicting master was not refused"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(answer.contains("allkeys-lru"), "{answer}");
    let body = Case::GitHub.body();
    let refused = client
        .post(format!("http://{addr}/webhooks/gh-orders"))
        .headers(Case::GitHub.sign(&key, &body, now))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_fails_when_any_master_of_the_queues_refuses_writes() {
    let cluster = Redis::start();
    let queues = ["orders", "payments", "emails", "audit", "search", "billing"];
    let probe_owner = cluster.owner_of(webhook::ingest::READY_PROBE_KEY);
    let full = queues
        .iter()
        .map(|q| cluster.owner_of(&format!("webhook:{{{q}}}:events")))
        .find(|&port| port != probe_owner)
        .expect("a queue on another master than the probe key's");
    let (_, secret) = Case::GitHub.key(1);
    let sources = github_sources(&queues, &secret);
    let server = Server::start(IngestSettings::new(cluster.url(), sources)).await;
    assert_eq!(server.get("/readyz").await, StatusCode::OK);
    // That master is full: with noeviction it refuses every write.
    cluster.config_set(full, "maxmemory", "1");
    assert_eq!(
        server.get("/readyz").await,
        StatusCode::SERVICE_UNAVAILABLE,
        "a full master of a queue went unnoticed"
    );
    cluster.config_set(full, "maxmemory", "0");
    assert_eq!(server.get("/readyz").await, StatusCode::OK);
}
