//! The ingest, dead-letter, replay, promote and partitions Lua scripts on their own,
//! against a real Redis: ingest stores an event once, refuses a full backlog
//! without writing anything, and keeps the dedupe key with its event; a
//! whole entry is dead-lettered only by the consumer it is pending for; a
//! replay answers every outcome it promises and wins once of two; and
//! promotion moves exactly the retries that came due, with their records;
//! a partition count never lowers the highest one workers read.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use common::redis_server::RedisServer;
use common::{create_group, deliver, eval, exists, get, try_eval, xadd, xlen};
use redis::Value;
use webhook_redis::script;

const EVENTS: &str = "webhook:{q}:events";
const DEAD: &str = "webhook:{q}:dead";
const DUE: &str = "webhook:{q}:due:g";
const DONE: &str = "webhook:{q}:done:g:src/h/evt_1";
const RETRIES: &str = "webhook:{q}:retry:g";
const RECORD_PREFIX: &str = "webhook:{q}:retry:g:";

fn set(c: &mut redis::Connection, key: &str, value: &str, ttl_ms: u64) {
    let _: () = redis::cmd("SET")
        .arg(key)
        .arg(value)
        .arg("PX")
        .arg(ttl_ms)
        .query(c)
        .unwrap();
}

fn pttl(c: &mut redis::Connection, key: &str) -> i64 {
    redis::cmd("PTTL").arg(key).query(c).unwrap()
}

/// A stream entry: its id and its field/value pairs, flat, in stored order.
type Entry = (String, Vec<String>);

fn entries(c: &mut redis::Connection, key: &str) -> Vec<Entry> {
    redis::cmd("XRANGE")
        .arg(key)
        .arg("-")
        .arg("+")
        .query(c)
        .unwrap()
}

fn ids(c: &mut redis::Connection, key: &str) -> Vec<String> {
    entries(c, key).into_iter().map(|(id, _)| id).collect()
}

fn owned(pairs: &[&str]) -> Vec<String> {
    pairs.iter().map(|s| (*s).to_owned()).collect()
}

/// Flat field/value pairs as a map, for records whose field order Redis
/// does not promise.
fn fields(pairs: &[String]) -> BTreeMap<String, String> {
    pairs
        .chunks(2)
        .map(|pair| (pair[0].clone(), pair[1].clone()))
        .collect()
}

/// The pending entries of a group: (id, consumer) each.
fn pending(c: &mut redis::Connection, stream: &str, group: &str) -> Vec<(String, String)> {
    let rows: Vec<(String, String, i64, i64)> = redis::cmd("XPENDING")
        .arg(stream)
        .arg(group)
        .arg("-")
        .arg("+")
        .arg(100)
        .query(c)
        .unwrap();
    rows.into_iter()
        .map(|(id, consumer, _, _)| (id, consumer))
        .collect()
}

fn seen(event_id: &str) -> String {
    format!("webhook:{{q}}:seen:src:{event_id}")
}

fn envelope(event_id: &str) -> [&str; 6] {
    ["v", "1", "id", event_id, "body", "{\"n\":1}"]
}

fn ingest(
    c: &mut redis::Connection,
    seen: &str,
    ttl_ms: &str,
    dedupe: &str,
    limit: &str,
    pairs: &[&str],
) -> Vec<String> {
    let mut args = vec![ttl_ms, dedupe, limit];
    args.extend(pairs);
    eval(c, script::INGEST, &[seen, EVENTS], &args)
}

#[test]
fn ingest_stores_a_new_event_with_its_pairs_and_a_seen_key_that_expires() {
    let redis = RedisServer::start();
    let c = &mut redis.connection();
    let key = seen("evt_1");
    let pairs = envelope("evt_1");

    let reply = ingest(c, &key, "60000", "1", "0", &pairs);
    assert_eq!(reply.len(), 2, "{reply:?}");
    assert_eq!(reply[0], "accepted");
    let id = reply[1].clone();

    assert_eq!(entries(c, EVENTS), [(id.clone(), owned(&pairs))]);
    assert_eq!(get(c, &key), Some(id), "the seen key holds the stored id");
    let ttl = pttl(c, &key);
    assert!(
        ttl > 0 && ttl <= 60_000,
        "the seen key expires within its TTL: {ttl}"
    );
}

#[test]
fn ingest_answers_a_duplicate_with_the_first_id_and_writes_nothing() {
    let redis = RedisServer::start();
    let c = &mut redis.connection();
    let key = seen("evt_1");
    let pairs = envelope("evt_1");

    let first = ingest(c, &key, "60000", "1", "0", &pairs);
    assert_eq!(first[0], "accepted");
    let id = first[1].clone();

    // Sent again, with another body and a longer TTL.
    let again = ingest(
        c,
        &key,
        "600000",
        "1",
        "0",
        &["v", "1", "id", "evt_1", "body", "other"],
    );
    assert_eq!(again, ["duplicate", id.as_str()]);
    assert_eq!(
        entries(c, EVENTS),
        [(id.clone(), owned(&pairs))],
        "a duplicate wrote an entry"
    );
    assert_eq!(get(c, &key), Some(id));
    assert!(
        pttl(c, &key) <= 60_000,
        "a duplicate re-armed the seen key with its own TTL"
    );

    // Another event id is its own event.
    let other = ingest(c, &seen("evt_2"), "60000", "1", "0", &envelope("evt_2"));
    assert_eq!(other[0], "accepted");
    assert_eq!(xlen(c, EVENTS), 2);
}

#[test]
fn ingest_without_dedupe_stores_the_same_event_twice_and_keeps_no_seen_key() {
    let redis = RedisServer::start();
    let c = &mut redis.connection();
    let key = seen("evt_1");
    let pairs = envelope("evt_1");

    let first = ingest(c, &key, "60000", "0", "0", &pairs);
    let second = ingest(c, &key, "60000", "0", "0", &pairs);
    assert_eq!(first[0], "accepted");
    assert_eq!(second[0], "accepted");
    assert_ne!(first[1], second[1]);
    assert_eq!(
        entries(c, EVENTS),
        [
            (first[1].clone(), owned(&pairs)),
            (second[1].clone(), owned(&pairs)),
        ]
    );
    assert!(!exists(c, &key), "no dedupe, yet a seen key was written");

    // A seen key left by an earlier run is neither read nor rewritten.
    set(c, &key, "1-1", 60_000);
    let third = ingest(c, &key, "60000", "0", "0", &pairs);
    assert_eq!(third[0], "accepted");
    assert_eq!(xlen(c, EVENTS), 3);
    assert_eq!(get(c, &key).as_deref(), Some("1-1"));

    // The TTL only matters when deduping.
    let fourth = ingest(c, &seen("evt_2"), "0", "0", "0", &envelope("evt_2"));
    assert_eq!(fourth[0], "accepted");
}

#[test]
fn ingest_refuses_a_dedupe_ttl_below_one_ms_before_writing_anything() {
    let redis = RedisServer::start();
    let c = &mut redis.connection();
    let key = seen("evt_1");
    let mut args = vec!["0", "1", "0"];
    args.extend(envelope("evt_1"));
    let refused: redis::RedisResult<Value> = try_eval(c, script::INGEST, &[&key, EVENTS], &args);
    assert!(refused.is_err(), "a TTL of 0 ms was taken: {refused:?}");
    assert_eq!(xlen(c, EVENTS), 0, "the refused event was stored");
    assert!(!exists(c, &key));
}

#[test]
fn ingest_refuses_a_full_backlog_without_writing_and_zero_is_no_limit() {
    let redis = RedisServer::start();
    let c = &mut redis.connection();
    let mut stored = Vec::new();
    for n in 1..=2 {
        let event = format!("evt_{n}");
        let reply = ingest(c, &seen(&event), "60000", "1", "2", &envelope(&event));
        assert_eq!(reply[0], "accepted", "{reply:?}");
        stored.push(reply[1].clone());
    }

    let full = ingest(c, &seen("evt_3"), "60000", "1", "2", &envelope("evt_3"));
    assert_eq!(full, ["full"]);
    assert_eq!(ids(c, EVENTS), stored, "a full backlog took an entry");
    assert!(
        !exists(c, &seen("evt_3")),
        "a refused event left a seen key"
    );
    let full = ingest(c, &seen("evt_3"), "60000", "0", "2", &envelope("evt_3"));
    assert_eq!(full, ["full"], "the limit holds without dedupe too");
    assert_eq!(xlen(c, EVENTS), 2);

    // With room, the refused event is taken: it left nothing that would make
    // it a duplicate.
    let taken = ingest(c, &seen("evt_3"), "60000", "1", "3", &envelope("evt_3"));
    assert_eq!(taken[0], "accepted", "{taken:?}");
    assert_eq!(xlen(c, EVENTS), 3);
    // Reached exactly is full.
    let full = ingest(c, &seen("evt_4"), "60000", "1", "3", &envelope("evt_4"));
    assert_eq!(full, ["full"]);
    assert_eq!(xlen(c, EVENTS), 3);
    // A duplicate is still answered as one, full or not.
    let duplicate = ingest(c, &seen("evt_1"), "60000", "1", "3", &envelope("evt_1"));
    assert_eq!(duplicate, ["duplicate", stored[0].as_str()]);

    // 0: no limit at all.
    for n in 4..=10 {
        let event = format!("evt_{n}");
        let reply = ingest(c, &seen(&event), "60000", "1", "0", &envelope(&event));
        assert_eq!(reply[0], "accepted", "{reply:?}");
    }
    assert_eq!(xlen(c, EVENTS), 10);
}

fn dead(c: &mut redis::Connection, stream: &str, id: &str, delete: &str, consumer: &str) -> i64 {
    eval(
        c,
        script::DEAD,
        &[DEAD, stream],
        &[
            "g",
            id,
            delete,
            consumer,
            "reason",
            "undecodable",
            "origin",
            id,
        ],
    )
}

#[test]
fn dead_letters_an_entry_and_acks_it_only_while_it_is_pending_for_the_caller() {
    let redis = RedisServer::start();
    let c = &mut redis.connection();
    create_group(c, EVENTS, "g");
    create_group(c, EVENTS, "other-group");
    let first = xadd(c, EVENTS, &["v", "1"]);
    let second = xadd(c, EVENTS, &["v", "2"]);
    assert_eq!(deliver(c, EVENTS, "g", "c", 1), [first.as_str()]);
    assert_eq!(deliver(c, EVENTS, "other-group", "c", 1), [first.as_str()]);

    assert_eq!(
        dead(c, EVENTS, &first, "0", "someone-else"),
        0,
        "pending for another consumer"
    );
    assert_eq!(dead(c, EVENTS, &second, "0", "c"), 0, "never delivered");
    assert_eq!(dead(c, EVENTS, "1-1", "0", "c"), 0, "no such entry");
    assert_eq!(xlen(c, DEAD), 0, "a refused call wrote a dead letter");
    assert_eq!(pending(c, EVENTS, "g"), [(first.clone(), "c".to_owned())]);

    assert_eq!(dead(c, EVENTS, &first, "0", "c"), 1);
    let letters = entries(c, DEAD);
    assert_eq!(letters.len(), 1);
    assert_eq!(
        letters[0].1,
        owned(&["reason", "undecodable", "origin", &first])
    );
    assert!(
        pending(c, EVENTS, "g").is_empty(),
        "the dead letter was not acked"
    );
    assert_eq!(
        pending(c, EVENTS, "other-group"),
        [(first.clone(), "c".to_owned())],
        "another group's delivery was acked"
    );
    assert_eq!(
        ids(c, EVENTS),
        [first.clone(), second],
        "without the delete flag the entry stays for the other groups"
    );

    assert_eq!(
        dead(c, EVENTS, &first, "0", "c"),
        0,
        "settled already: nothing written twice"
    );
    assert_eq!(xlen(c, DEAD), 1);
}

#[test]
fn dead_is_refused_to_the_consumer_an_entry_was_claimed_from_and_deletes_a_due_entry() {
    let redis = RedisServer::start();
    let c = &mut redis.connection();
    create_group(c, DUE, "g");
    let id = xadd(c, DUE, &["handler", "h", "attempt", "2"]);
    assert_eq!(deliver(c, DUE, "g", "c", 1), [id.as_str()]);
    let claimed: Vec<Entry> = redis::cmd("XCLAIM")
        .arg(DUE)
        .arg("g")
        .arg("c2")
        .arg(0)
        .arg(&id)
        .query(c)
        .unwrap();
    assert_eq!(claimed.len(), 1);

    assert_eq!(dead(c, DUE, &id, "1", "c"), 0, "claimed away from c");
    assert_eq!(xlen(c, DEAD), 0);
    assert_eq!(xlen(c, DUE), 1, "a refused call deleted the entry");
    assert_eq!(pending(c, DUE, "g"), [(id.clone(), "c2".to_owned())]);

    assert_eq!(dead(c, DUE, &id, "1", "c2"), 1);
    assert_eq!(xlen(c, DEAD), 1);
    assert!(pending(c, DUE, "g").is_empty());
    assert_eq!(xlen(c, DUE), 0, "the delete flag left the due entry");
}

/// A dead letter as written for handler `h` of group `g`.
const LETTER: [&str; 8] = [
    "handler", "h", "group", "g", "reason", "rejected", "id", "evt_1",
];
/// The due entry a replay writes.
const REPLAYED: [&str; 8] = ["handler", "h", "origin", "1-1", "v", "1", "attempt", "1"];

fn replay(c: &mut redis::Connection, letter: &str, group: &str, single: &str) -> i64 {
    let mut args = vec![letter, group, single, "60000"];
    args.extend(REPLAYED);
    eval(c, script::REPLAY, &[DEAD, DUE, DONE, EVENTS], &args)
}

#[test]
fn replay_of_one_handler_puts_it_in_due_marked_retry_1_and_removes_the_dead_letter() {
    let redis = RedisServer::start();
    let c = &mut redis.connection();
    create_group(c, EVENTS, "g");

    // The marker a dead letter leaves, and none at all (it expired).
    for marker in [Some("dead:A"), None] {
        let _: () = redis::cmd("DEL").arg(DONE).arg(DUE).query(c).unwrap();
        if let Some(marker) = marker {
            set(c, DONE, marker, 600_000);
        }
        let letter = xadd(c, DEAD, &LETTER);
        assert_eq!(replay(c, &letter, "g", "1"), 1, "marker {marker:?}");

        let due = entries(c, DUE);
        assert_eq!(due.len(), 1, "marker {marker:?}");
        assert_eq!(due[0].1, owned(&REPLAYED));
        assert_eq!(xlen(c, DEAD), 0, "the dead letter stayed");
        assert_eq!(get(c, DONE).as_deref(), Some("retry:1"));
        let ttl = pttl(c, DONE);
        assert!(ttl > 0 && ttl <= 60_000, "the marker's TTL: {ttl}");
    }

    // Only the replay may lease the handler; a redelivered original may not.
    let lease = |c: &mut redis::Connection, carried: &str| -> Vec<String> {
        eval(c, script::LEASE, &[DONE], &["60000", "T", carried])
    };
    assert_eq!(lease(c, ""), ["scheduled"]);
    assert_eq!(lease(c, "retry:1"), ["ok"]);
}

#[test]
fn replay_of_a_whole_entry_puts_it_in_due_and_leaves_the_done_key_alone() {
    let redis = RedisServer::start();
    let c = &mut redis.connection();
    create_group(c, EVENTS, "g");
    let letter = xadd(c, DEAD, &LETTER);
    assert_eq!(replay(c, &letter, "g", "0"), 1);
    assert_eq!(entries(c, DUE).len(), 1);
    assert_eq!(entries(c, DUE)[0].1, owned(&REPLAYED));
    assert_eq!(xlen(c, DEAD), 0);
    assert!(!exists(c, DONE), "a whole-entry replay marked one handler");

    set(c, DONE, "done:A", 600_000);
    let letter = xadd(c, DEAD, &LETTER);
    assert_eq!(replay(c, &letter, "g", "0"), 1);
    assert_eq!(xlen(c, DUE), 2);
    assert_eq!(get(c, DONE).as_deref(), Some("done:A"));
}

#[test]
fn replay_answers_0_when_the_dead_letter_is_gone() {
    let redis = RedisServer::start();
    let c = &mut redis.connection();
    create_group(c, EVENTS, "g");
    let kept = xadd(c, DEAD, &LETTER);
    assert_eq!(replay(c, "1-1", "g", "1"), 0);
    assert_eq!(replay(c, "1-1", "g", "0"), 0);
    assert_eq!(xlen(c, DUE), 0, "a replay of nothing wrote a due entry");
    assert!(!exists(c, DONE), "a replay of nothing marked the handler");
    assert_eq!(ids(c, DEAD), [kept], "another dead letter was touched");
}

#[test]
fn replay_answers_2_and_drops_the_dead_letter_when_the_handler_is_done() {
    let redis = RedisServer::start();
    let c = &mut redis.connection();
    create_group(c, EVENTS, "g");
    // As workers write it now, and as older ones did.
    for marker in ["done:A", "done"] {
        set(c, DONE, marker, 600_000);
        let letter = xadd(c, DEAD, &LETTER);
        assert_eq!(replay(c, &letter, "g", "1"), 2, "marker {marker}");
        assert_eq!(xlen(c, DEAD), 0, "marker {marker}: the dead letter stayed");
        assert_eq!(xlen(c, DUE), 0, "marker {marker}: a done handler re-runs");
        assert_eq!(get(c, DONE).as_deref(), Some(marker));
    }
}

#[test]
fn replay_answers_3_and_leaves_everything_while_the_handler_runs() {
    let redis = RedisServer::start();
    let c = &mut redis.connection();
    create_group(c, EVENTS, "g");
    set(c, DONE, "lease:A", 30_000);
    let letter = xadd(c, DEAD, &LETTER);
    assert_eq!(replay(c, &letter, "g", "1"), 3);
    assert_eq!(entries(c, DEAD), [(letter, owned(&LETTER))]);
    assert_eq!(xlen(c, DUE), 0);
    assert_eq!(get(c, DONE).as_deref(), Some("lease:A"));
    assert!(pttl(c, DONE) <= 30_000, "the lease's TTL was rewritten");
}

#[test]
fn replay_answers_minus_1_and_leaves_everything_when_the_group_does_not_read_the_queue() {
    let redis = RedisServer::start();
    let c = &mut redis.connection();
    create_group(c, EVENTS, "g");
    let letter = xadd(c, DEAD, &LETTER);
    assert_eq!(replay(c, &letter, "other", "1"), -1);
    assert_eq!(replay(c, &letter, "other", "0"), -1);

    // The group was removed: the stream has no group left.
    let _: i64 = redis::cmd("XGROUP")
        .arg("DESTROY")
        .arg(EVENTS)
        .arg("g")
        .query(c)
        .unwrap();
    assert_eq!(replay(c, &letter, "g", "1"), -1);

    // The events stream itself is gone (deleted while dead letters remain).
    let _: i64 = redis::cmd("DEL").arg(EVENTS).query(c).unwrap();
    assert_eq!(replay(c, &letter, "g", "1"), -1);

    assert_eq!(entries(c, DEAD), [(letter, owned(&LETTER))]);
    assert_eq!(xlen(c, DUE), 0);
    assert!(
        !exists(c, DONE),
        "the handler was marked for a replay nobody reads"
    );
}

#[test]
fn of_two_replays_of_one_dead_letter_only_one_replays_it() {
    let redis = RedisServer::start();
    let c = &mut redis.connection();
    create_group(c, EVENTS, "g");
    let letter = xadd(c, DEAD, &LETTER);
    let answers = [replay(c, &letter, "g", "1"), replay(c, &letter, "g", "1")];
    assert_eq!(answers, [1, 0]);
    assert_eq!(xlen(c, DUE), 1);

    // Racing, from two connections, over many dead letters.
    let letters: Vec<String> = (0..50).map(|_| xadd(c, DEAD, &LETTER)).collect();
    let run = |letters: Vec<String>| {
        let mut c = redis.connection();
        letters
            .iter()
            .map(|letter| replay(&mut c, letter, "g", "0"))
            .collect::<Vec<i64>>()
    };
    let (a, b) = std::thread::scope(|scope| {
        let a = scope.spawn(|| run(letters.clone()));
        let b = scope.spawn(|| run(letters.clone()));
        (a.join().unwrap(), b.join().unwrap())
    });
    for (i, (a, b)) in a.iter().zip(&b).enumerate() {
        let mut both = [*a, *b];
        both.sort_unstable();
        assert_eq!(both, [0, 1], "dead letter {i}");
    }
    assert_eq!(xlen(c, DUE), 51);
    assert_eq!(xlen(c, DEAD), 0);
}

fn schedule_retry(c: &mut redis::Connection, id: &str, due_ms: u64, pairs: &[&str]) {
    let _: i64 = redis::cmd("ZADD")
        .arg(RETRIES)
        .arg(due_ms)
        .arg(id)
        .query(c)
        .unwrap();
    let _: i64 = redis::cmd("HSET")
        .arg(format!("{RECORD_PREFIX}{id}"))
        .arg(pairs)
        .query(c)
        .unwrap();
}

fn record(event_id: &str) -> [&str; 6] {
    ["handler", "h", "attempt", "2", "id", event_id]
}

/// As the backend calls it: the due ids first, then the script with each
/// id and its record's key.
fn promote(c: &mut redis::Connection, now_ms: &str, most: &str) -> Vec<i64> {
    let due: Vec<String> = redis::cmd("ZRANGEBYSCORE")
        .arg(RETRIES)
        .arg("-inf")
        .arg(now_ms)
        .arg("LIMIT")
        .arg(0)
        .arg(most)
        .query(c)
        .unwrap();
    promote_ids(c, now_ms, &due)
}

fn promote_ids(c: &mut redis::Connection, now_ms: &str, ids: &[String]) -> Vec<i64> {
    let records: Vec<String> = ids
        .iter()
        .map(|id| format!("{RECORD_PREFIX}{id}"))
        .collect();
    let mut keys = vec![RETRIES, DUE];
    keys.extend(records.iter().map(String::as_str));
    let mut args = vec![now_ms];
    args.extend(ids.iter().map(String::as_str));
    eval(c, script::PROMOTE, &keys, &args)
}

#[test]
fn promote_moves_only_ids_still_scheduled_and_due() {
    let redis = RedisServer::start();
    let c = &mut redis.connection();
    schedule_retry(c, "r1", 1000, &record("e1"));
    schedule_retry(c, "r2", 5000, &record("e2"));
    let ids = ["r1".to_owned(), "r2".to_owned(), "gone".to_owned()];
    // r2 is passed but not due; `gone` is not scheduled at all.
    assert_eq!(promote_ids(c, "2000", &ids), [1, 5000]);
    assert_eq!(due_records(c), [as_map(&record("e1"))]);
    assert!(exists(c, &format!("{RECORD_PREFIX}r2")));
    // Another worker passing the same ids (it read them before the first
    // moved them) moves nothing again.
    assert_eq!(promote_ids(c, "2000", &ids), [0, 5000]);
    assert_eq!(xlen(c, DUE), 1);
}

fn retry_ids(c: &mut redis::Connection) -> Vec<String> {
    redis::cmd("ZRANGE")
        .arg(RETRIES)
        .arg(0)
        .arg(-1)
        .query(c)
        .unwrap()
}

/// The due entries' fields as maps, in stream order.
fn due_records(c: &mut redis::Connection) -> Vec<BTreeMap<String, String>> {
    entries(c, DUE)
        .iter()
        .map(|(_, pairs)| fields(pairs))
        .collect()
}

fn as_map(pairs: &[&str]) -> BTreeMap<String, String> {
    fields(&owned(pairs))
}

#[test]
fn promote_moves_only_the_retries_that_came_due_with_their_records() {
    let redis = RedisServer::start();
    let c = &mut redis.connection();
    schedule_retry(c, "r1", 1000, &record("e1"));
    schedule_retry(c, "r2", 2000, &record("e2"));
    schedule_retry(c, "r3", 3000, &record("e3"));

    assert_eq!(promote(c, "999", "10"), [0, 1000], "nothing due yet");
    assert_eq!(xlen(c, DUE), 0);

    assert_eq!(promote(c, "2000", "10"), [2, 3000]);
    assert_eq!(
        due_records(c),
        [as_map(&record("e1")), as_map(&record("e2"))]
    );
    assert!(!exists(c, &format!("{RECORD_PREFIX}r1")));
    assert!(!exists(c, &format!("{RECORD_PREFIX}r2")));
    assert!(
        exists(c, &format!("{RECORD_PREFIX}r3")),
        "a retry not due was deleted"
    );
    assert_eq!(retry_ids(c), ["r3"]);

    assert_eq!(promote(c, "2999", "10"), [0, 3000]);
    assert_eq!(xlen(c, DUE), 2, "moved twice");

    assert_eq!(promote(c, "3000", "10"), [1, -1]);
    assert_eq!(due_records(c)[2], as_map(&record("e3")));
    assert!(!exists(c, &format!("{RECORD_PREFIX}r3")));
    assert_eq!(retry_ids(c), Vec::<String>::new());
    assert_eq!(promote(c, "9999", "10"), [0, -1]);
    assert_eq!(xlen(c, DUE), 3);
}

#[test]
fn promote_moves_no_more_than_asked_earliest_first() {
    let redis = RedisServer::start();
    let c = &mut redis.connection();
    // Scheduled out of order.
    schedule_retry(c, "r3", 1200, &record("e3"));
    schedule_retry(c, "r4", 5000, &record("e4"));
    schedule_retry(c, "r1", 1000, &record("e1"));
    schedule_retry(c, "r2", 1100, &record("e2"));

    // The next due is not after now: there is more to move.
    assert_eq!(promote(c, "2000", "2"), [2, 1200]);
    assert_eq!(
        due_records(c),
        [as_map(&record("e1")), as_map(&record("e2"))]
    );
    assert_eq!(retry_ids(c), ["r3", "r4"]);
    assert!(exists(c, &format!("{RECORD_PREFIX}r3")));

    assert_eq!(promote(c, "2000", "2"), [1, 5000]);
    assert_eq!(due_records(c)[2], as_map(&record("e3")));
    assert_eq!(retry_ids(c), ["r4"]);
}

#[test]
fn promote_drops_a_retry_whose_record_is_missing_without_writing_an_entry() {
    let redis = RedisServer::start();
    let c = &mut redis.connection();
    let _: i64 = redis::cmd("ZADD")
        .arg(RETRIES)
        .arg(1000)
        .arg("lost")
        .query(c)
        .unwrap();
    schedule_retry(c, "r1", 1500, &record("e1"));

    assert_eq!(promote(c, "2000", "10"), [1, -1]);
    assert_eq!(due_records(c), [as_map(&record("e1"))]);
    assert_eq!(retry_ids(c), Vec::<String>::new(), "the lost retry stayed");

    let _: i64 = redis::cmd("ZADD")
        .arg(RETRIES)
        .arg(1000)
        .arg("lost-again")
        .query(c)
        .unwrap();
    assert_eq!(promote(c, "2000", "10"), [0, -1]);
    assert_eq!(xlen(c, DUE), 1, "a missing record wrote an entry");
    assert_eq!(retry_ids(c), Vec::<String>::new());
}

#[test]
fn partitions_records_the_count_and_never_lowers_the_highest() {
    let redis = RedisServer::start();
    let c = &mut redis.connection();
    let key = webhook_redis::key::partitions("orders");
    let run = |c: &mut redis::Connection, count: &str| -> (u32, u32) {
        eval(c, webhook_redis::script::PARTITIONS, &[&key], &[count])
    };
    assert_eq!(run(c, "4"), (4, 4));
    assert_eq!(run(c, "6"), (6, 6));
    // Shrunk: the ingest stores in 2, workers still read all 6.
    assert_eq!(run(c, "2"), (2, 6));
    let stored: BTreeMap<String, String> = redis::cmd("HGETALL").arg(&key).query(c).unwrap();
    assert_eq!(
        stored,
        BTreeMap::from([
            ("count".to_owned(), "2".to_owned()),
            ("highest".to_owned(), "6".to_owned())
        ])
    );
}
