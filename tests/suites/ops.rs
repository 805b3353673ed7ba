// The body of the `ops` suite, included by tests/ops.rs (one Redis)
// and by tests/cluster_ops.rs (a Redis Cluster); `Redis` is the backend.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use webhook::Envelope;
use webhook::prelude::*;
use webhook::webhook_worker::cli::{self, CliError, DlqCommand, FilterArgs, OpsCommand, RedisArgs};
use webhook::webhook_worker::ops::{self, DeadFilter, ReplayOutcome};
use webhook::webhook_worker::worker::Worker;

static FIXED: AtomicBool = AtomicBool::new(false);
static RUNS: Mutex<Vec<String>> = Mutex::new(Vec::new());

#[webhook_handler("o.flaky", queue = "ops", name = "ops-flaky")]
async fn ops_flaky(event: Event<serde_json::Value>) -> Result<(), HandlerError> {
    RUNS.lock().unwrap().push(format!("flaky {}", event.id()));
    if FIXED.load(Ordering::SeqCst) {
        Ok(())
    } else {
        Err(HandlerError::reject("the bug is not fixed yet"))
    }
}

#[webhook_handler("o.other", queue = "ops", name = "ops-other")]
async fn ops_other(event: Event<serde_json::Value>) -> Result<(), HandlerError> {
    RUNS.lock().unwrap().push(format!("other {}", event.id()));
    Err(HandlerError::reject("always"))
}

fn add(redis: &Redis, id: &str, event_type: &str) {
    let envelope = Envelope::new(id, event_type, "test", b"{}".to_vec());
    let encoded = envelope.encode();
    let mut command = redis::cmd("XADD");
    command.arg("webhook:{ops}:events").arg("*");
    for (field, value) in encoded.fields() {
        command.arg(field).arg(value);
    }
    let _: String = command.query(&mut redis.connection()).unwrap();
}

fn runs(prefix: &str) -> usize {
    RUNS.lock()
        .unwrap()
        .iter()
        .filter(|r| r.starts_with(prefix))
        .count()
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn dead_count(redis: &Redis) -> u64 {
    redis::cmd("XLEN")
        .arg("webhook:{ops}:dead")
        .query(&mut redis.connection())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_reruns_the_handler_once_even_when_replays_race_and_purge_follows_the_filter() {
    let redis = Redis::start();
    for i in 0..3 {
        add(&redis, &format!("f-{i}"), "o.flaky");
    }
    for i in 0..2 {
        add(&redis, &format!("x-{i}"), "o.other");
    }
    let worker = Worker::builder()
        .redis_url(redis.url())
        .queue("ops")
        .consumer("w1")
        .build()
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    support::logs::quiet();
    let running = tokio::spawn(worker.run(async {
        let _ = stopped.await;
    }));
    until("five dead letters", || dead_count(&redis) == 5).await;

    // The bug is fixed; replay what that handler dead-lettered, twice at once.
    FIXED.store(true, Ordering::SeqCst);
    let mut connection = ops::connect(&redis.url()).await.unwrap();
    let mut filter = DeadFilter::default();
    filter.handler = Some("ops-flaky".into());
    let letters = ops::list(&mut connection, "ops", &filter).await.unwrap();
    assert_eq!(letters.len(), 3);
    for letter in &letters {
        let mut a = connection.clone();
        let mut b = connection.clone();
        let ttl = Duration::from_secs(3600);
        let (first, second) = tokio::join!(
            ops::replay(&mut a, letter, ttl),
            ops::replay(&mut b, letter, ttl)
        );
        let mut outcomes = [first.unwrap(), second.unwrap()];
        outcomes.sort_by_key(|o| *o == ReplayOutcome::Gone);
        assert_eq!(outcomes, [ReplayOutcome::Replayed, ReplayOutcome::Gone]);
    }
    until("each replayed event ran once more", || runs("flaky") == 6).await;
    until("the replayed dead letters are gone", || {
        dead_count(&redis) == 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(runs("flaky"), 6, "a replay ran twice");
    assert_eq!(
        runs("other"),
        2,
        "a replay touched a dead letter outside the filter"
    );

    // Purge with a filter removes only what matches.
    let mut out = Vec::new();
    cli::run(
        OpsCommand::Dlq {
            command: DlqCommand::Purge {
                redis: RedisArgs {
                    redis_url: redis.url(),
                },
                filter: FilterArgs {
                    queues: vec!["ops".into()],
                    handler: Some("nobody".into()),
                    ..FilterArgs::default()
                },
                id: None,
                all: false,
                yes: true,
            },
        },
        &mut out,
    )
    .await
    .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out).trim(),
        "nothing to purge in queue `ops`"
    );
    assert_eq!(dead_count(&redis), 2);
    let mut out = Vec::new();
    cli::run(
        OpsCommand::Dlq {
            command: DlqCommand::Purge {
                redis: RedisArgs {
                    redis_url: redis.url(),
                },
                filter: FilterArgs {
                    queues: vec!["ops".into()],
                    reason: Some("rejected".into()),
                    ..FilterArgs::default()
                },
                id: None,
                all: false,
                yes: true,
            },
        },
        &mut out,
    )
    .await
    .unwrap();
    assert_eq!(String::from_utf8_lossy(&out).trim(), "purged 2");
    assert_eq!(dead_count(&redis), 0);

    let _ = stop.send(());
    running.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_report_what_is_in_redis() {
    let redis = Redis::start();
    let c = &mut redis.connection();
    for i in 0..5 {
        let _: String = redis::cmd("XADD")
            .arg("webhook:{shop}:events")
            .arg("*")
            .arg("n")
            .arg(i)
            .query(c)
            .unwrap();
    }
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg("webhook:{shop}:events")
        .arg("workers")
        .arg("0")
        .query(c)
        .unwrap();
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("workers")
        .arg("w1")
        .arg("COUNT")
        .arg(2)
        .arg("STREAMS")
        .arg("webhook:{shop}:events")
        .arg(">")
        .query(c)
        .unwrap();
    let _: () = redis::cmd("ZADD")
        .arg("webhook:{shop}:retry:workers")
        .arg(4_000_000_000_000u64)
        .arg("a")
        .arg(4_000_000_001_000u64)
        .arg("b")
        .query(c)
        .unwrap();
    let _: String = redis::cmd("XADD")
        .arg("webhook:{shop}:dead")
        .arg("*")
        .arg("reason")
        .arg("rejected")
        .query(c)
        .unwrap();

    let mut connection = ops::connect(&redis.url()).await.unwrap();
    assert_eq!(ops::queues(&mut connection).await.unwrap(), ["shop"]);
    let stats = ops::stats(&mut connection, "shop").await.unwrap();
    assert_eq!((stats.length, stats.dead_letters), (5, 1));
    let group = &stats.groups[0];
    assert_eq!(
        (group.name.as_str(), group.pending, group.lag),
        ("workers", 2, Some(3))
    );
    assert_eq!(
        (group.retries_scheduled, group.next_retry_due_ms),
        (2, Some(4_000_000_000_000))
    );
    assert!(group.oldest_pending_age_ms.is_some());
    assert_eq!(group.consumers.len(), 1);
    assert_eq!(
        (group.consumers[0].name.as_str(), group.consumers[0].pending),
        ("w1", 2)
    );

    // The text report: a row per group, then a row per consumer, each
    // value under its column's header.
    let mut text = Vec::new();
    cli::run(
        OpsCommand::Stats {
            redis: RedisArgs {
                redis_url: redis.url(),
            },
            queues: Vec::new(),
            json: false,
            watch: None,
        },
        &mut text,
    )
    .await
    .unwrap();
    let text = String::from_utf8(text).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("QUEUE  STREAM  DEAD  GROUP    PENDING"),
        "{text}"
    );
    assert!(
        lines[1].starts_with("shop        5     1  workers        2"),
        "{text}"
    );
    let cells: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(cells[6], "3", "the lag: {text}");
    assert!(lines[1].ends_with("2096-10-02T07:06:40Z"), "{text}");
    assert_eq!(
        lines[3], "QUEUE  GROUP    CONSUMER  PENDING  IDLE",
        "{text}"
    );
    assert!(
        lines[4].starts_with("shop   workers  w1              2  "),
        "{text}"
    );

    let unknown = ops::stats(&mut connection, "nope").await.unwrap_err();
    assert!(unknown.to_string().contains("no queue `nope`"), "{unknown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_says_what_to_do_for_a_wrong_url_and_an_unknown_id() {
    let mut out = Vec::new();
    let wrong = cli::run(
        OpsCommand::Stats {
            redis: RedisArgs {
                redis_url: "redis://:hunter2@127.0.0.1:1".into(),
            },
            queues: vec![],
            json: false,
            watch: None,
        },
        &mut out,
    )
    .await
    .unwrap_err();
    let message = wrong.to_string();
    assert!(
        message.contains("check --redis-url / REDIS_URL"),
        "{message}"
    );
    assert!(!message.contains("hunter2"), "{message}");

    let redis = Redis::start();
    add(&redis, "e-1", "o.flaky");
    let unknown = cli::run(
        OpsCommand::Dlq {
            command: DlqCommand::Show {
                redis: RedisArgs {
                    redis_url: redis.url(),
                },
                queue: Some("ops".into()),
                id: "1-1".into(),
                json: false,
                pretty: false,
            },
        },
        &mut out,
    )
    .await
    .unwrap_err();
    assert!(matches!(unknown, CliError::Ops(_)));
    assert!(
        unknown.to_string().contains("has no dead letter `1-1`"),
        "{unknown}"
    );

    let vague = cli::run(
        OpsCommand::Dlq {
            command: DlqCommand::Replay {
                redis: RedisArgs {
                    redis_url: redis.url(),
                },
                filter: FilterArgs {
                    queues: vec!["ops".into()],
                    ..FilterArgs::default()
                },
                id: None,
                all: false,
                dry_run: false,
            },
        },
        &mut out,
    )
    .await
    .unwrap_err();
    assert!(vague.to_string().contains("pass --all"), "{vague}");
}

#[tokio::test]
async fn a_worker_binary_offers_the_operator_commands_and_lists_its_handlers() {
    use clap::Parser as _;
    use webhook::webhook_worker::cli::WorkerCli;

    let run_worker =
        WorkerCli::try_parse_from(["my-worker", "--concurrency", "8", "--queue", "ops"]).unwrap();
    assert!(run_worker.command.is_none());
    assert_eq!(
        (
            run_worker.worker.concurrency,
            run_worker.worker.queues.as_slice()
        ),
        (8, &["ops".to_owned()][..])
    );
    let ops = WorkerCli::try_parse_from(["my-worker", "dlq", "list", "--queue", "ops"]).unwrap();
    assert!(matches!(ops.command, Some(OpsCommand::Dlq { .. })));

    let mut out = Vec::new();
    cli::run(OpsCommand::Handlers, &mut out).await.unwrap();
    let listed = String::from_utf8(out).unwrap();
    assert!(
        listed.contains("ops-flaky  pattern=o.flaky  queue=ops  retries=8"),
        "{listed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_never_reruns_a_done_handler_nor_parks_an_event_no_group_reads() {
    let redis = Redis::start();
    let c = &mut redis.connection();
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg("webhook:{ops}:events")
        .arg("workers")
        .arg("0")
        .arg("MKSTREAM")
        .query(c)
        .unwrap();
    let bury = |c: &mut dyn redis::ConnectionLike, id: &str, group: &str| -> String {
        let envelope = Envelope::new(id, "o.flaky", "test", b"{}".to_vec());
        let encoded = envelope.encode();
        let mut command = redis::cmd("XADD");
        command
            .arg("webhook:{ops}:dead")
            .arg("*")
            .arg("handler")
            .arg("ops-flaky")
            .arg("group")
            .arg(group)
            .arg("reason")
            .arg("poison");
        for (field, value) in encoded.fields() {
            command.arg(field).arg(value);
        }
        command.query(c).unwrap()
    };
    let done_id = bury(c, "done-1", "workers");
    let orphan_id = bury(c, "orphan-1", "gone");
    // The handler succeeded after all (its acknowledgement was what got lost).
    let _: () = redis::cmd("SET")
        .arg("webhook:{ops}:done:workers:test/ops-flaky/done-1")
        .arg("done")
        .query(c)
        .unwrap();

    let mut connection = ops::connect(&redis.url()).await.unwrap();
    let ttl = Duration::from_secs(3600);
    let done = ops::show(&mut connection, "ops", &done_id).await.unwrap();
    assert_eq!(
        ops::replay(&mut connection, &done, ttl).await.unwrap(),
        ReplayOutcome::AlreadyDone
    );
    let orphan = ops::show(&mut connection, "ops", &orphan_id).await.unwrap();
    assert_eq!(
        ops::replay(&mut connection, &orphan, ttl).await.unwrap(),
        ReplayOutcome::NoGroup
    );

    let marker: String = redis::cmd("GET")
        .arg("webhook:{ops}:done:workers:test/ops-flaky/done-1")
        .query(c)
        .unwrap();
    assert_eq!(marker, "done", "a replay overwrote a done marker");
    let due: u64 = redis::cmd("XLEN")
        .arg("webhook:{ops}:due:workers")
        .query(c)
        .unwrap();
    assert_eq!(due, 0, "nothing was re-queued");
    let left: Vec<String> = ops::list(&mut connection, "ops", &DeadFilter::default())
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.id)
        .collect();
    assert_eq!(
        left,
        [orphan_id],
        "the done one is removed, the orphan kept"
    );

    // Named on the command line, a letter that cannot be replayed is an error.
    let mut out = Vec::new();
    let refused = cli::run(
        OpsCommand::Dlq {
            command: DlqCommand::Replay {
                redis: RedisArgs {
                    redis_url: redis.url(),
                },
                filter: FilterArgs {
                    queues: vec!["ops".into()],
                    ..FilterArgs::default()
                },
                id: Some(left[0].clone()),
                all: false,
                dry_run: false,
            },
        },
        &mut out,
    )
    .await
    .unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("group no longer reads the queue"),
        "{refused}"
    );
}
