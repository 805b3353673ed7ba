// The body of the `ops_queues` suite, included by tests/ops_queues.rs (one Redis)
// and by tests/cluster_ops_queues.rs (a Redis Cluster); `Redis` is the backend.

use webhook::Envelope;
use webhook::backend::{extra, key, reason};
use webhook::webhook_worker::cli::{self, DlqCommand, FilterArgs, OpsCommand, RedisArgs};

/// Writes an event into `queue`'s stream and a dead letter for it, as the
/// worker lays one out.
fn dead_letter(redis: &Redis, queue: &str, event_id: &str) {
    dead_letter_with_error(redis, queue, event_id, "no");
}

fn dead_letter_with_error(redis: &Redis, queue: &str, event_id: &str, error: &str) {
    dead_letter_with(redis, queue, event_id, error, b"{}");
}

fn dead_letter_with(redis: &Redis, queue: &str, event_id: &str, error: &str, body: &[u8]) {
    let envelope = Envelope::new(event_id, "t.x", "test", body.to_vec());
    let encoded = envelope.encode();
    let mut event = redis::cmd("XADD");
    event.arg(key::events(queue)).arg("*");
    for (field, value) in encoded.fields() {
        event.arg(field).arg(value);
    }
    let _: String = event.query(&mut redis.connection()).unwrap();
    let mut dead = redis::cmd("XADD");
    dead.arg(key::dead(queue))
        .arg("*")
        .arg(extra::HANDLER)
        .arg("h")
        .arg(extra::GROUP)
        .arg("workers")
        .arg(extra::REASON)
        .arg(reason::REJECTED)
        .arg(extra::ERROR)
        .arg(error)
        .arg(extra::ATTEMPTS)
        .arg(1);
    for (field, value) in encoded.fields() {
        dead.arg(field).arg(value);
    }
    let _: String = dead.query(&mut redis.connection()).unwrap();
}

fn list(redis: &Redis, queues: &[&str]) -> Result<String, cli::CliError> {
    let mut out = Vec::new();
    let command = OpsCommand::Dlq {
        command: DlqCommand::List {
            redis: RedisArgs {
                redis_url: redis.url(),
            },
            filter: FilterArgs {
                queues: queues.iter().map(|q| (*q).to_owned()).collect(),
                ..FilterArgs::default()
            },
            json: false,
        },
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(cli::run(command, &mut out))?;
    Ok(String::from_utf8(out).unwrap())
}

#[test]
fn list_without_a_queue_reads_every_queue_and_names_them() {
    let redis = Redis::start();
    dead_letter(&redis, "billing", "evt-1");
    dead_letter(&redis, "billing", "evt-2");
    dead_letter(&redis, "shipping", "evt-3");
    let _: String = redis::cmd("XADD")
        .arg(key::events("quiet"))
        .arg("*")
        .arg("v")
        .arg("1")
        .query(&mut redis.connection())
        .unwrap();

    let all = list(&redis, &[]).unwrap();
    for id in ["evt-1", "evt-2", "evt-3"] {
        assert!(all.contains(id), "{all}");
    }
    assert!(
        all.contains("3 dead letter(s) in queues `billing`, `quiet`, `shipping`"),
        "{all}"
    );

    let quiet = list(&redis, &["quiet"]).unwrap();
    assert_eq!(quiet.trim(), "no dead letters match in queue `quiet`");

    let shipping = list(&redis, &["shipping"]).unwrap();
    assert!(shipping.contains("evt-3") && !shipping.contains("evt-1"));

    // Dead letters outlive a deleted events stream, and are still listed.
    let _: i64 = redis::cmd("DEL")
        .arg(key::events("shipping"))
        .query(&mut redis.connection())
        .unwrap();
    let all = list(&redis, &[]).unwrap();
    assert!(all.contains("evt-3"), "{all}");
    let mut out = Vec::new();
    let stats = OpsCommand::Stats {
        redis: RedisArgs {
            redis_url: redis.url(),
        },
        queues: vec![],
        json: false,
        watch: None,
    };
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(cli::run(stats, &mut out))
        .unwrap();
    let out = String::from_utf8(out).unwrap();
    // A queue with dead letters only has its row, under the headers.
    let row = out.lines().find(|l| l.starts_with("shipping ")).unwrap();
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(&cells[..4], ["shipping", "0", "1", "(none"], "{out}");
}

#[test]
fn a_queue_that_does_not_exist_is_an_error_not_an_empty_list() {
    let redis = Redis::start();
    dead_letter(&redis, "billing", "evt-1");
    let error = list(&redis, &["default"]).unwrap_err().to_string();
    assert!(error.contains("there is no queue `default`"), "{error}");
    assert!(
        error.contains("`webhook stats` lists the queues"),
        "{error}"
    );
}

#[test]
fn an_id_is_found_in_whichever_queue_has_it() {
    let redis = Redis::start();
    dead_letter(&redis, "billing", "evt-1");
    let id: Vec<(String, Vec<Vec<u8>>)> = redis::cmd("XRANGE")
        .arg(key::dead("billing"))
        .arg("-")
        .arg("+")
        .query(&mut redis.connection())
        .unwrap();
    let id = id[0].0.clone();
    let show = |queue: Option<&str>, id: &str| {
        let mut out = Vec::new();
        let command = OpsCommand::Dlq {
            command: DlqCommand::Show {
                redis: RedisArgs {
                    redis_url: redis.url(),
                },
                queue: queue.map(str::to_owned),
                id: id.to_owned(),
                json: false,
                pretty: false,
            },
        };
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(cli::run(command, &mut out))
            .map(|()| String::from_utf8(out).unwrap())
    };
    let shown = show(None, &id).unwrap();
    assert!(shown.contains("in queue billing"), "{shown}");
    let missing = show(None, "1-1").unwrap_err().to_string();
    assert!(
        missing.contains("queue `billing` has no dead letter `1-1`"),
        "{missing}"
    );
    let not_an_id = show(Some("billing"), "evt-1").unwrap_err().to_string();
    assert!(
        not_an_id.contains("has no dead letter `evt-1`"),
        "{not_an_id}"
    );
}

#[test]
fn an_unknown_reason_or_an_id_with_a_filter_is_a_usage_error() {
    use clap::Parser as _;
    use webhook::webhook_worker::cli::WorkerCli;

    let error = WorkerCli::try_parse_from(["w", "dlq", "list", "--reason", "rejceted"])
        .unwrap_err()
        .to_string();
    assert!(error.contains("unknown reason `rejceted`"), "{error}");
    assert!(error.contains("retries_exhausted"), "{error}");
    for known in reason::ALL {
        assert!(WorkerCli::try_parse_from(["w", "dlq", "list", "--reason", known]).is_ok());
    }

    let redis = Redis::start();
    dead_letter(&redis, "billing", "evt-1");
    let mut out = Vec::new();
    let command = OpsCommand::Dlq {
        command: DlqCommand::Purge {
            redis: RedisArgs {
                redis_url: redis.url(),
            },
            filter: FilterArgs {
                handler: Some("h".into()),
                ..FilterArgs::default()
            },
            id: Some("1-1".into()),
            all: false,
            yes: true,
        },
    };
    let error = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(cli::run(command, &mut out))
        .unwrap_err()
        .to_string();
    assert!(error.contains("not both"), "{error}");
}

#[test]
fn stored_text_cannot_drive_the_operators_terminal() {
    let redis = Redis::start();
    dead_letter_with_error(
        &redis,
        "billing",
        "evt-1",
        "boom\u{1b}[2J\u{9b}31m\nfake line",
    );
    let listed = list(&redis, &["billing"]).unwrap();
    assert!(
        !listed.contains('\u{1b}') && !listed.contains('\u{9b}'),
        "{listed:?}"
    );
    assert!(listed.contains("boom\\u{1b}[2J"), "{listed}");
    assert!(!listed.contains("\nfake line"), "{listed}");
}

fn show(redis: &Redis, id: &str, json: bool, pretty: bool) -> String {
    let mut out = Vec::new();
    let command = OpsCommand::Dlq {
        command: DlqCommand::Show {
            redis: RedisArgs {
                redis_url: redis.url(),
            },
            queue: None,
            id: id.to_owned(),
            json,
            pretty,
        },
    };
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(cli::run(command, &mut out))
        .unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn show_prints_the_body_as_received_and_json_gives_numbers() {
    let redis = Redis::start();
    let body = br#"{"zeta":1.50,"alpha":[1,2]}"#;
    dead_letter_with(&redis, "billing", "evt-1", &"e".repeat(80), body);
    let ids: Vec<(String, Vec<Vec<u8>>)> = redis::cmd("XRANGE")
        .arg(key::dead("billing"))
        .arg("-")
        .arg("+")
        .query(&mut redis.connection())
        .unwrap();
    let id = &ids[0].0;

    let text = show(&redis, id, false, false);
    assert!(text.contains(r#"{"zeta":1.50,"alpha":[1,2]}"#), "{text}");
    let pretty = show(&redis, id, false, true);
    assert!(
        pretty.contains("{\n  \"zeta\": 1.50,\n  \"alpha\": [\n    1,\n    2\n  ]\n}"),
        "{pretty}"
    );

    let json: serde_json::Value = serde_json::from_str(&show(&redis, id, true, false)).unwrap();
    assert_eq!(json["attempts"], 1);
    assert!(json["received_at"].is_u64(), "{json}");
    assert!(
        json["received_at_iso"].as_str().unwrap().ends_with('Z'),
        "{json}"
    );

    let listed = list(&redis, &[]).unwrap();
    assert!(listed.contains(&format!("{}…", "e".repeat(59))), "{listed}");
}
