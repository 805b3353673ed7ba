//! Stream entries as the worker reads them: their fields keep the order
//! they were written in, into the dead letters, and an entry that cannot be
//! read as text field names and string values is dead-lettered as
//! `undecodable` with the reason, instead of being read with a field
//! emptied or stopping the worker's reads.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Mutex;

use support::redis_server::RedisServer;
use support::running::{Running, until};
use webhook::Envelope;
use webhook::backend::extra;
use webhook::layout::field;
use webhook::prelude::*;
use webhook::webhook_worker::worker::{Unhandled, Worker, WorkerBuilder};

static RUNS: Mutex<Vec<String>> = Mutex::new(Vec::new());

#[webhook_handler("known.type", queue = "order", name = "order-known")]
async fn order_known(event: Event<serde_json::Value>) -> Result<(), HandlerError> {
    RUNS.lock().unwrap().push(event.id().to_owned());
    Ok(())
}

#[webhook_handler("known.type", queue = "malformed", name = "malformed-known")]
async fn malformed_known(event: Event<serde_json::Value>) -> Result<(), HandlerError> {
    RUNS.lock().unwrap().push(event.id().to_owned());
    Ok(())
}

// ---- helpers ----------------------------------------------------------------------

/// `XADD`s an event with `more` field/value pairs after its own.
fn add(redis: &RedisServer, queue: &str, id: &str, event_type: &str, more: &[(&[u8], &[u8])]) {
    let envelope = Envelope::new(id, event_type, "test", br#"{"n":1}"#.to_vec());
    let encoded = envelope.encode();
    let mut command = redis::cmd("XADD");
    command.arg(format!("webhook:{{{queue}}}:events")).arg("*");
    for (field, value) in encoded.fields() {
        command.arg(field).arg(value);
    }
    for (field, value) in more {
        command.arg(*field).arg(*value);
    }
    let _: String = command.query(&mut redis.connection()).unwrap();
}

fn builder(redis: &RedisServer, queue: &str) -> WorkerBuilder {
    Worker::builder()
        .redis_url(redis.url())
        .queue(queue)
        .consumer("w1")
        .unhandled(Unhandled::DeadLetter)
}

/// The dead letters of `queue`, each as its fields in stored order.
fn dead_letters(redis: &RedisServer, queue: &str) -> Vec<Vec<(Vec<u8>, Vec<u8>)>> {
    let raw: Vec<(String, Vec<Vec<u8>>)> = redis::cmd("XRANGE")
        .arg(format!("webhook:{{{queue}}}:dead"))
        .arg("-")
        .arg("+")
        .query(&mut redis.connection())
        .unwrap();
    raw.into_iter()
        .map(|(_, flat)| {
            flat.chunks(2)
                .map(|pair| (pair[0].clone(), pair[1].clone()))
                .collect()
        })
        .collect()
}

fn names(letter: &[(Vec<u8>, Vec<u8>)]) -> Vec<String> {
    letter
        .iter()
        .map(|(name, _)| String::from_utf8_lossy(name).into_owned())
        .collect()
}

fn value<'a>(letter: &'a [(Vec<u8>, Vec<u8>)], name: &str) -> &'a str {
    letter
        .iter()
        .find(|(n, _)| n == name.as_bytes())
        .map(|(_, v)| std::str::from_utf8(v).unwrap())
        .unwrap_or_else(|| panic!("no field {name} in {:?}", names(letter)))
}

const ENVELOPE_ORDER: [&str; 8] = [
    field::VERSION,
    field::ID,
    field::TYPE,
    field::SOURCE,
    field::RECEIVED_AT,
    field::ATTEMPT,
    field::HEADERS,
    field::BODY,
];

// ---- tests ------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_keeps_the_event_fields_in_the_order_of_the_layout() {
    let redis = RedisServer::start();
    for i in 0..5 {
        add(&redis, "order", &format!("e-{i}"), "unknown.type", &[]);
    }
    let worker = Running::start(builder(&redis, "order"));
    until("every event was dead-lettered", || {
        dead_letters(&redis, "order").len() == 5
    })
    .await;
    worker.stop().await;
    let mut expected: Vec<String> = [
        extra::HANDLER,
        extra::GROUP,
        extra::REASON,
        extra::ERROR,
        extra::ATTEMPTS,
        extra::LAST_FAILED_AT,
        extra::ORIGIN,
    ]
    .map(str::to_owned)
    .to_vec();
    expected.extend(ENVELOPE_ORDER.map(str::to_owned));
    for letter in dead_letters(&redis, "order") {
        assert_eq!(names(&letter), expected);
        assert_eq!(value(&letter, extra::REASON), "no_handler");
        assert_eq!(value(&letter, field::BODY), r#"{"n":1}"#);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_with_a_field_name_that_is_not_text_is_dead_lettered_as_undecodable() {
    let redis = RedisServer::start();
    add(
        &redis,
        "malformed",
        "bad-1",
        "known.type",
        &[(b"trace\xff\xfe", b"x")],
    );
    add(&redis, "malformed", "good-1", "known.type", &[]);
    let worker = Running::start(builder(&redis, "malformed"));
    until(
        "the bad entry was dead-lettered and the good one ran",
        || {
            dead_letters(&redis, "malformed").len() == 1
                && RUNS.lock().unwrap().contains(&"good-1".to_owned())
        },
    )
    .await;
    worker.stop().await;
    assert!(!RUNS.lock().unwrap().contains(&"bad-1".to_owned()));
    let letter = &dead_letters(&redis, "malformed")[0];
    assert_eq!(value(letter, extra::REASON), "undecodable");
    let error = value(letter, extra::ERROR);
    assert!(error.contains("UTF-8"), "{error}");
    // The event's own fields are kept, in order, with nothing emptied.
    let kept: Vec<String> = names(letter)
        .into_iter()
        .filter(|n| ENVELOPE_ORDER.contains(&n.as_str()))
        .collect();
    assert_eq!(kept, ENVELOPE_ORDER.map(str::to_owned));
    assert_eq!(value(letter, field::ID), "bad-1");
    assert!(
        letter.iter().all(|(_, v)| !v.is_empty()),
        "a field was emptied: {:?}",
        names(letter)
    );
}
