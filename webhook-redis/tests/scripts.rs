//! The worker's Lua scripts on their own, against a real Redis: every
//! settling step refuses a token that does not hold the lease, a scheduled
//! retry owns its handler, and trimming never passes what a group needs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::redis_server::RedisServer;
use common::{create_group, deliver, eval, get, xadd, xlen};
use redis::Value;
use webhook_redis::script;

const KEY: &str = "webhook:{q}:done:g:src/h/e1";

#[test]
fn only_the_lease_holder_can_renew_complete_schedule_or_bury() {
    let redis = RedisServer::start();
    let c = &mut redis.connection();
    let lease = |c: &mut redis::Connection, token: &str, carried: &str| -> Vec<String> {
        eval(c, script::LEASE, &[KEY], &["60000", token, carried])
    };
    assert_eq!(lease(c, "A", ""), ["ok"]);
    assert_eq!(lease(c, "B", ""), ["busy"]);
    assert_eq!(
        lease(c, "A", ""),
        ["ok"],
        "a lease sent again by its own token (the reply was lost) is still that token's"
    );
    assert_eq!(lease(c, "B", ""), ["busy"]);

    let renewed: i64 = eval(c, script::RENEW, &[KEY], &["B", "60000"]);
    assert_eq!(renewed, 0);
    let completed: Vec<i64> = eval(c, script::COMPLETE, &[KEY], &["600000", "B"]);
    assert_eq!(completed, [0]);
    assert_eq!(get(c, KEY).as_deref(), Some("lease:A"));

    let record = ["handler", "h", "attempt", "2"];
    let mut schedule_args = vec!["B", "1000", "src/h/e1", "retry:2", "600000", "60000"];
    schedule_args.extend(record);
    let keys = [
        KEY,
        "webhook:{q}:retry:g",
        "webhook:{q}:retry:g:src/h/e1",
        "webhook:{q}:receipt:g:src/h/e1",
    ];
    let scheduled: i64 = eval(c, script::SCHEDULE, &keys, &schedule_args);
    assert_eq!(scheduled, 0);
    let zcard: i64 = redis::cmd("ZCARD")
        .arg("webhook:{q}:retry:g")
        .query(c)
        .unwrap();
    assert_eq!(zcard, 0, "a refused schedule wrote a retry");

    let buried: i64 = eval(
        c,
        script::BURY,
        &[KEY, "webhook:{q}:dead"],
        &["B", "600000", "reason", "rejected"],
    );
    assert_eq!(buried, 0);
    let dead: i64 = redis::cmd("XLEN").arg("webhook:{q}:dead").query(c).unwrap();
    assert_eq!(dead, 0, "a refused bury wrote a dead letter");

    // The holder can.
    schedule_args[0] = "A";
    let scheduled: i64 = eval(c, script::SCHEDULE, &keys, &schedule_args);
    assert_eq!(scheduled, 1);
    assert_eq!(get(c, KEY).as_deref(), Some("retry:2"));
    // A redelivered original finds the retry owning the handler; only the
    // retry it carries may lease it.
    assert_eq!(lease(c, "C", ""), ["scheduled"]);
    assert_eq!(lease(c, "C", "retry:1"), ["scheduled"]);
    assert_eq!(lease(c, "C", "retry:2"), ["ok"]);
    let completed: Vec<i64> = eval(c, script::COMPLETE, &[KEY], &["600000", "C"]);
    assert_eq!(completed, [1]);
    assert_eq!(lease(c, "D", "retry:2"), ["done"]);
}

#[test]
fn leases_and_completions_in_one_call_are_checked_one_by_one() {
    let redis = RedisServer::start();
    let c = &mut redis.connection();
    let keys = [
        "webhook:{q}:done:g:a",
        "webhook:{q}:done:g:b",
        "webhook:{q}:done:g:a",
    ];
    let replies: Vec<String> = eval(
        c,
        script::LEASE,
        &keys,
        &["60000", "T1", "", "T2", "", "T3", ""],
    );
    assert_eq!(replies, ["ok", "ok", "busy"]);
    let completed: Vec<i64> = eval(c, script::COMPLETE, &keys[..2], &["600000", "T1", "wrong"]);
    assert_eq!(completed, [1, 0]);
}

#[test]
fn every_settling_script_run_again_by_its_token_answers_as_the_first_run() {
    let redis = RedisServer::start();
    let c = &mut redis.connection();
    let lease = |c: &mut redis::Connection, key: &str, token: &str, carried: &str| -> Vec<String> {
        eval(c, script::LEASE, &[key], &["60000", token, carried])
    };

    // Lease, then success.
    let done = "webhook:{q}:done:g:src/h/done";
    assert_eq!(lease(c, done, "A", ""), ["ok"]);
    assert_eq!(lease(c, done, "A", ""), ["ok"]);
    for _ in 0..2 {
        let completed: Vec<i64> = eval(c, script::COMPLETE, &[done], &["600000", "A"]);
        assert_eq!(completed, [1], "a success sent twice is a success twice");
    }
    let other: Vec<i64> = eval(c, script::COMPLETE, &[done], &["600000", "B"]);
    assert_eq!(other, [0], "another token did not complete it");
    assert_eq!(lease(c, done, "A", ""), ["done"]);
    assert_eq!(lease(c, done, "B", ""), ["done"]);
    let renewed: i64 = eval(c, script::RENEW, &[done], &["A", "60000"]);
    assert_eq!(renewed, 0, "a done marker is not a lease");

    // Lease, then a retry: written once, answered twice.
    let retried = "webhook:{q}:done:g:src/h/retried";
    let keys = [
        retried,
        "webhook:{q}:retry:g",
        "webhook:{q}:retry:g:src/h/retried",
        "webhook:{q}:receipt:g:src/h/retried",
    ];
    assert_eq!(lease(c, retried, "A", ""), ["ok"]);
    let args = [
        "A",
        "1000",
        "src/h/retried",
        "retry:2",
        "600000",
        "60000",
        "handler",
        "h",
        "attempt",
        "2",
    ];
    for _ in 0..2 {
        let scheduled: i64 = eval(c, script::SCHEDULE, &keys, &args);
        assert_eq!(scheduled, 1);
    }
    let zcard = |c: &mut redis::Connection| -> i64 {
        redis::cmd("ZCARD")
            .arg("webhook:{q}:retry:g")
            .query(c)
            .unwrap()
    };
    assert_eq!(zcard(c), 1);
    // Only the retry it carries may lease it; the original finds it scheduled.
    assert_eq!(lease(c, retried, "B", ""), ["scheduled"]);
    assert_eq!(lease(c, retried, "B", "retry:1"), ["scheduled"]);
    // The retry comes due and runs (leased by another token) before the
    // lost reply's second run arrives: still answered 1, nothing re-written.
    let _: Vec<i64> = eval(
        c,
        script::PROMOTE,
        &[
            "webhook:{q}:retry:g",
            "webhook:{q}:due:g",
            "webhook:{q}:retry:g:src/h/retried",
        ],
        &["2000", "src/h/retried"],
    );
    assert_eq!(lease(c, retried, "B", "retry:2"), ["ok"]);
    let scheduled: i64 = eval(c, script::SCHEDULE, &keys, &args);
    assert_eq!(scheduled, 1);
    assert_eq!(
        zcard(c),
        0,
        "a second run of a schedule re-scheduled the retry"
    );
    assert_eq!(get(c, retried).as_deref(), Some("lease:B"));
    // Another token's schedule is still refused.
    let mut other = args;
    other[0] = "C";
    let scheduled: i64 = eval(c, script::SCHEDULE, &keys, &other);
    assert_eq!(scheduled, 0);

    // Lease, then a dead letter: written once, answered twice.
    let buried = "webhook:{q}:done:g:src/h/buried";
    assert_eq!(lease(c, buried, "A", ""), ["ok"]);
    for _ in 0..2 {
        let written: i64 = eval(
            c,
            script::BURY,
            &[buried, "webhook:{q}:dead"],
            &["A", "600000", "reason", "rejected"],
        );
        assert_eq!(written, 1);
    }
    assert_eq!(xlen(c, "webhook:{q}:dead"), 1);
    assert_eq!(lease(c, buried, "B", ""), ["dead"]);

    // A whole entry dead-lettered: once, and only by the consumer it is
    // pending for.
    xadd(c, "s", &["v", "9"]);
    create_group(c, "s", "g");
    let id = deliver(c, "s", "g", "c", 1).remove(0);
    let dead = |c: &mut redis::Connection, consumer: &str| -> i64 {
        eval(
            c,
            script::DEAD,
            &["webhook:{q}:dead", "s"],
            &["g", &id, "0", consumer, "reason", "undecodable"],
        )
    };
    assert_eq!(dead(c, "someone-else"), 0, "not pending for that consumer");
    assert_eq!(xlen(c, "webhook:{q}:dead"), 1);
    assert_eq!(dead(c, "c"), 1);
    assert_eq!(dead(c, "c"), 0, "settled already: nothing written twice");
    assert_eq!(xlen(c, "webhook:{q}:dead"), 2);
}

#[test]
fn markers_written_before_they_carried_tokens_still_read_the_same() {
    let redis = RedisServer::start();
    let c = &mut redis.connection();
    let lease = |c: &mut redis::Connection, value: &str, carried: &str| -> Vec<String> {
        let _: () = redis::cmd("SET").arg(KEY).arg(value).query(c).unwrap();
        eval(c, script::LEASE, &[KEY], &["60000", "T", carried])
    };
    assert_eq!(lease(c, "done", ""), ["done"]);
    assert_eq!(lease(c, "dead", ""), ["dead"]);
    assert_eq!(lease(c, "retry:3", ""), ["scheduled"]);
    assert_eq!(lease(c, "retry:3", "retry:3"), ["ok"]);
}

fn ids(c: &mut redis::Connection) -> Vec<String> {
    let entries: Vec<(String, Value)> = redis::cmd("XRANGE")
        .arg("s")
        .arg("-")
        .arg("+")
        .query(c)
        .unwrap();
    entries.into_iter().map(|(id, _)| id).collect()
}

fn trim(c: &mut redis::Connection) -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        .to_string();
    eval(c, script::TRIM, &["s"], &[&now, "0", "="])
}

#[test]
fn trimming_keeps_everything_a_lagging_group_still_needs() {
    let redis = RedisServer::start();
    let c = &mut redis.connection();
    for i in 0..10 {
        let _: String = redis::cmd("XADD")
            .arg("s")
            .arg("*")
            .arg("n")
            .arg(i)
            .query(c)
            .unwrap();
    }
    assert_eq!(trim(c), 0, "a stream without groups is never trimmed");
    for group in ["fast", "slow"] {
        let _: () = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg("s")
            .arg(group)
            .arg("0")
            .query(c)
            .unwrap();
    }
    let all = ids(c);
    let fast = deliver(c, "s", "fast", "c", 10);
    let _: i64 = redis::cmd("XACK")
        .arg("s")
        .arg("fast")
        .arg(&fast)
        .query(c)
        .unwrap();
    let slow = deliver(c, "s", "slow", "c", 3);
    for _ in 0..3 {
        trim(c);
        assert_eq!(
            ids(c),
            all,
            "an entry the slow group still holds was trimmed"
        );
    }

    // The slow group acknowledges its first two: only the third is needed.
    let _: i64 = redis::cmd("XACK")
        .arg("s")
        .arg("slow")
        .arg(&slow[..2])
        .query(c)
        .unwrap();
    for _ in 0..3 {
        trim(c);
        let left = ids(c);
        assert!(
            left.starts_with(&[]) && left.ends_with(&all[2..]),
            "trimmed too far: {left:?}"
        );
    }
    assert_eq!(ids(c), all[2..]);

    // Everything read and acknowledged: the last entry given stays.
    let rest = deliver(c, "s", "slow", "c", 10);
    let _: i64 = redis::cmd("XACK")
        .arg("s")
        .arg("slow")
        .arg(&slow[2..])
        .arg(&rest)
        .query(c)
        .unwrap();
    for _ in 0..3 {
        trim(c);
    }
    assert_eq!(ids(c), all[9..]);
}

#[test]
fn pruning_removes_only_idle_consumers_that_own_nothing_and_never_the_caller() {
    let redis = RedisServer::start();
    let c = &mut redis.connection();
    xadd(c, "s", &["v", "1"]);
    create_group(c, "s", "g");
    // `c` owns the entry; `idle` and `me` own nothing.
    assert_eq!(deliver(c, "s", "g", "c", 1).len(), 1);
    for name in ["idle", "me"] {
        let _: i64 = redis::cmd("XGROUP")
            .arg("CREATECONSUMER")
            .arg("s")
            .arg("g")
            .arg(name)
            .query(c)
            .unwrap();
    }
    std::thread::sleep(std::time::Duration::from_millis(50));
    let removed: i64 = eval(c, script::PRUNE, &["s"], &["g", "10", "me"]);
    assert_eq!(removed, 1);
    let consumers: Vec<std::collections::HashMap<String, Value>> = redis::cmd("XINFO")
        .arg("CONSUMERS")
        .arg("s")
        .arg("g")
        .query(c)
        .unwrap();
    let mut names: Vec<String> = consumers
        .into_iter()
        .map(|info| redis::from_redis_value(info["name"].clone()).unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["c", "me"]);
    let removed: i64 = eval(c, script::PRUNE, &["s"], &["g", "600000", "me"]);
    assert_eq!(removed, 0, "nothing is idle that long");
}
