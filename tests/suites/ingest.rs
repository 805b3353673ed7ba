// The body of the `ingest` suite, included by tests/ingest.rs (one Redis)
// and by tests/cluster_ingest.rs (a Redis Cluster); `Redis` is the backend.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderValue, StatusCode};
use support::{ALL, Case};
use webhook::Envelope;
use webhook::config::Source;
use webhook::ingest::{Ingest, IngestSettings, serve_on};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn source(case: Case, secret: webhook::Secret) -> Source {
    Source {
        name: format!("{case:?}").to_lowercase(),
        queue: "default".into(),
        verifier: case.verifier(&[secret]),
        event_types: None,
    }
}

struct Server {
    addr: SocketAddr,
    client: reqwest::Client,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl Server {
    async fn start(settings: IngestSettings) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let ingest = Ingest::new(settings).unwrap();
        tokio::spawn(serve_on(listener, ingest, async {
            let _ = rx.await;
        }));
        Self {
            addr,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .pool_max_idle_per_host(64)
                .build()
                .unwrap(),
            _shutdown: tx,
        }
    }

    async fn post(
        &self,
        source: &str,
        headers: HeaderMap,
        body: Vec<u8>,
    ) -> (StatusCode, HeaderMap, String) {
        let response = self
            .client
            .post(format!("http://{}/webhooks/{source}", self.addr))
            .headers(headers)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        (status, headers, response.text().await.unwrap())
    }

    async fn get(&self, path: &str) -> StatusCode {
        self.client
            .get(format!("http://{}{path}", self.addr))
            .send()
            .await
            .unwrap()
            .status()
    }
}

fn entries(redis: &Redis, queue: &str) -> Vec<Envelope> {
    support::envelopes(
        &mut redis.connection(),
        &format!("webhook:{{{queue}}}:events"),
    )
}

fn key_count(redis: &Redis) -> u64 {
    redis::cmd("DBSIZE").query(&mut redis.connection()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_provider_stores_valid_requests_byte_for_byte_and_answers_duplicates() {
    let redis = Redis::start();
    let mut sources = Vec::new();
    let mut requests = Vec::new();
    for case in ALL {
        let (key, secret) = case.key(1);
        sources.push(source(case, secret));
        // Providers that read id and type from headers may send any bytes:
        // a body that is not UTF-8 must come out exactly as it went in.
        let body = match case {
            Case::GitHub | Case::Shopify => b"\xff\xfe\x00 not utf-8 \xc3\x28".to_vec(),
            _ => case.body(),
        };
        requests.push((case, case.sign(&key, &body, now()), body));
    }
    let server = Server::start(IngestSettings::new(redis.url(), sources)).await;

    for (case, headers, body) in &requests {
        let name = format!("{case:?}").to_lowercase();
        let (status, _, answer) = server.post(&name, headers.clone(), body.clone()).await;
        assert_eq!(status, StatusCode::OK, "{case:?}: {answer}");
        assert!(
            answer.contains(r#""status":"accepted""#),
            "{case:?}: {answer}"
        );
        // The provider retries the same delivery.
        let (status, _, answer) = server.post(&name, headers.clone(), body.clone()).await;
        assert_eq!(status, StatusCode::OK, "{case:?}");
        let expected_duplicate = case.expected_meta().0.is_some();
        assert_eq!(
            answer.contains(r#""status":"duplicate""#),
            expected_duplicate,
            "{case:?}: {answer}"
        );
    }

    let stored = entries(&redis, "default");
    for (case, _, body) in &requests {
        let name = format!("{case:?}").to_lowercase();
        let mine: Vec<&Envelope> = stored.iter().filter(|e| e.source == name).collect();
        let (id, event_type) = case.expected_meta();
        // Sources without a provider id cannot dedupe: both deliveries are stored.
        assert_eq!(mine.len(), if id.is_some() { 1 } else { 2 }, "{case:?}");
        let envelope = mine[0];
        assert_eq!(&envelope.body[..], &body[..], "{case:?}");
        let event_type = if *case == Case::GitHub {
            "thing"
        } else {
            event_type
        };
        assert_eq!(envelope.event_type, event_type, "{case:?}");
        if let Some(id) = id {
            assert_eq!(envelope.id, id, "{case:?}");
        }
        assert_eq!(envelope.attempt, 1);
        assert!(
            !envelope.headers.contains_key(case.signature_header()),
            "{case:?} kept its signature"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_tampered_stale_and_unsigned_requests_get_401_and_leave_redis_untouched() {
    let redis = Redis::start();
    let mut sources = Vec::new();
    let mut cases = Vec::new();
    for case in ALL {
        let (key, secret) = case.key(1);
        sources.push(source(case, secret));
        cases.push((case, key));
    }
    let server = Server::start(IngestSettings::new(redis.url(), sources)).await;
    for (case, key) in &cases {
        let name = format!("{case:?}").to_lowercase();
        let body = case.body();
        let (forger, _) = case.key(9);
        let mut tampered = body.clone();
        tampered[3] ^= 1;
        let mut unsigned = case.sign(key, &body, now());
        unsigned.remove(case.signature_header());
        let mut attempts = vec![
            ("forged", case.sign(&forger, &body, now()), body.clone()),
            ("tampered", case.sign(key, &body, now()), tampered),
            ("unsigned", unsigned, body.clone()),
        ];
        if case.timestamped() {
            attempts.push(("stale", case.sign(key, &body, now() - 600), body.clone()));
            attempts.push(("future", case.sign(key, &body, now() + 600), body.clone()));
        }
        for (what, headers, body) in attempts {
            let (status, _, answer) = server.post(&name, headers, body).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{case:?} {what}");
            assert_eq!(answer, r#"{"error":"unauthorized"}"#, "{case:?} {what}");
        }
    }
    assert_eq!(key_count(&redis), 0, "a refused request wrote to Redis");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn size_unknown_source_and_unreadable_events_get_413_404_and_400() {
    let redis = Redis::start();
    let (key, secret) = Case::Stripe.key(1);
    let mut settings = IngestSettings::new(redis.url(), vec![source(Case::Stripe, secret)]);
    settings.max_body_bytes = 2048;
    let server = Server::start(settings).await;

    let big = vec![b'x'; 4096];
    let (status, _, _) = server
        .post("stripe", Case::Stripe.sign(&key, &big, now()), big)
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    let body = Case::Stripe.body();
    let (status, _, answer) = server
        .post("nope", Case::Stripe.sign(&key, &body, now()), body)
        .await;
    assert_eq!(
        (status, answer.as_str()),
        (StatusCode::NOT_FOUND, r#"{"error":"unknown source"}"#)
    );

    // Verified, but Stripe's id and type are read from JSON.
    for (body, says) in [
        (&br#"{"id":"evt_1"}"#[..], "event type"),
        (&b"not json"[..], "not valid JSON"),
    ] {
        let (status, _, answer) = server
            .post(
                "stripe",
                Case::Stripe.sign(&key, body, now()),
                body.to_vec(),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert!(answer.contains(says), "{answer}");
    }
    assert_eq!(key_count(&redis), 0);
    assert_eq!(server.get("/healthz").await, StatusCode::OK);
    assert_eq!(server.get("/readyz").await, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_deliveries_store_exactly_once_each() {
    let redis = Redis::start();
    let (key, secret) = Case::GitHub.key(1);
    let server = std::sync::Arc::new(
        Server::start(IngestSettings::new(
            redis.url(),
            vec![source(Case::GitHub, secret)],
        ))
        .await,
    );
    let body = Case::GitHub.body();
    let signed = Case::GitHub.sign(&key, &body, now());

    let send_all = |ids: Vec<String>| {
        let tasks: Vec<_> = ids
            .into_iter()
            .map(|id| {
                let (server, body) = (server.clone(), body.clone());
                let mut headers = signed.clone();
                headers.insert("x-github-delivery", HeaderValue::try_from(id).unwrap());
                tokio::spawn(async move { server.post("github", headers, body).await.0 })
            })
            .collect();
        async move {
            for task in tasks {
                assert_eq!(task.await.unwrap(), StatusCode::OK);
            }
        }
    };

    send_all((0..1000).map(|i| format!("distinct-{i}")).collect()).await;
    assert_eq!(entries(&redis, "default").len(), 1000);

    send_all((0..1000).map(|_| "one-delivery".to_owned()).collect()).await;
    let stored = entries(&redis, "default");
    assert_eq!(stored.len(), 1001);
    assert_eq!(stored.iter().filter(|e| e.id == "one-delivery").count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_backlog_gives_503_with_retry_after() {
    let redis = Redis::start();
    let (key, secret) = Case::GitHub.key(1);
    let mut settings = IngestSettings::new(redis.url(), vec![source(Case::GitHub, secret)]);
    settings.max_backlog = 3;
    settings.retry_after = Duration::from_secs(30);
    let server = Server::start(settings).await;
    let body = Case::GitHub.body();
    for i in 0..5 {
        let mut headers = Case::GitHub.sign(&key, &body, now());
        headers.insert(
            "x-github-delivery",
            HeaderValue::try_from(format!("d-{i}")).unwrap(),
        );
        let (status, response_headers, answer) = server.post("github", headers, body.clone()).await;
        if i < 3 {
            assert_eq!(status, StatusCode::OK, "{answer}");
        } else {
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
            assert_eq!(response_headers.get("retry-after").unwrap(), "30");
            assert!(answer.contains("backlog"), "{answer}");
        }
    }
    assert_eq!(entries(&redis, "default").len(), 3);
    // A refused event left no dedupe key behind: it is accepted once there is room.
    let seen: Vec<String> = redis::cmd("KEYS")
        .arg("*seen*")
        .query(&mut redis.connection())
        .unwrap();
    assert_eq!(seen.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshakes_are_answered_and_filtered_types_are_not_stored() {
    let redis = Redis::start();
    let (slack_key, slack_secret) = Case::Slack.key(1);
    let (gh_key, gh_secret) = Case::GitHub.key(1);
    let (stripe_key, stripe_secret) = Case::Stripe.key(1);
    let mut stripe = source(Case::Stripe, stripe_secret);
    stripe.event_types = Some(vec!["payment_intent.*".parse().unwrap()]);
    let server = Server::start(IngestSettings::new(
        redis.url(),
        vec![
            source(Case::Slack, slack_secret),
            source(Case::GitHub, gh_secret),
            stripe,
        ],
    ))
    .await;

    let challenge = br#"{"token":"t","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    let (status, _, answer) = server
        .post(
            "slack",
            Case::Slack.sign(&slack_key, challenge, now()),
            challenge.to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        answer,
        r#"{"challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}"#
    );
    // An unsigned challenge is refused like anything else.
    let (status, _, _) = server
        .post("slack", HeaderMap::new(), challenge.to_vec())
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let ping = br#"{"zen":"Keep it logically awesome.","hook_id":1}"#;
    let mut headers = Case::GitHub.sign(&gh_key, ping, now());
    headers.insert("x-github-event", HeaderValue::from_static("ping"));
    let (status, _, answer) = server.post("github", headers, ping.to_vec()).await;
    assert_eq!(
        (status, answer.as_str()),
        (StatusCode::OK, r#"{"status":"pong"}"#)
    );

    let charge = br#"{"id":"evt_c","type":"charge.succeeded"}"#;
    let (status, _, answer) = server
        .post(
            "stripe",
            Case::Stripe.sign(&stripe_key, charge, now()),
            charge.to_vec(),
        )
        .await;
    assert_eq!(
        (status, answer.as_str()),
        (StatusCode::OK, r#"{"id":"evt_c","status":"ignored"}"#)
    );
    assert_eq!(key_count(&redis), 0);

    let intent = br#"{"id":"evt_p","type":"payment_intent.succeeded"}"#;
    let (status, _, _) = server
        .post(
            "stripe",
            Case::Stripe.sign(&stripe_key, intent, now()),
            intent.to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(entries(&redis, "default").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_by_source_and_outcome() {
    let redis = Redis::start();
    let (key, secret) = Case::GitHub.key(1);
    let mut metered = source(Case::GitHub, secret);
    metered.name = "metered".into();
    let server = Server::start(IngestSettings::new(redis.url(), vec![metered])).await;
    let body = Case::GitHub.body();
    let request = |id: &str| {
        let mut headers = Case::GitHub.sign(&key, &body, now());
        headers.insert("x-github-delivery", HeaderValue::try_from(id).unwrap());
        headers
    };
    let count = |text: &str, outcome: &str| -> f64 {
        text.lines()
            .filter(|l| l.starts_with("webhook_ingest_requests_total{"))
            .filter(|l| {
                l.contains(r#"source="metered""#) && l.contains(&format!(r#"outcome="{outcome}""#))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    let scrape = || async {
        server
            .client
            .get(format!("http://{}/metrics", server.addr))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let before = scrape().await;

    server.post("metered", request("m-1"), body.clone()).await;
    server.post("metered", request("m-1"), body.clone()).await;
    server.post("metered", request("m-2"), body.clone()).await;
    let mut forged = request("m-3");
    forged.insert("x-hub-signature-256", HeaderValue::from_static("sha256=00"));
    server.post("metered", forged, body.clone()).await;

    let after = scrape().await;
    assert_eq!(
        count(&after, "accepted") - count(&before, "accepted"),
        2.0,
        "{after}"
    );
    assert_eq!(
        count(&after, "duplicate") - count(&before, "duplicate"),
        1.0,
        "{after}"
    );
    assert_eq!(
        count(&after, "unauthorized") - count(&before, "unauthorized"),
        1.0,
        "{after}"
    );
    assert!(
        after.contains("webhook_ingest_request_duration_seconds_bucket"),
        "{after}"
    );
}
