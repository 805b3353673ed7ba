//! What the script tests share: a throwaway `redis-server` and the
//! commands they read and write with.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

#[path = "../../../tests/support/redis_server.rs"]
pub mod redis_server;

use redis::Value;

pub fn eval<T: redis::FromRedisValue>(
    c: &mut redis::Connection,
    source: &str,
    keys: &[&str],
    args: &[&str],
) -> T {
    try_eval(c, source, keys, args).unwrap()
}

pub fn try_eval<T: redis::FromRedisValue>(
    c: &mut redis::Connection,
    source: &str,
    keys: &[&str],
    args: &[&str],
) -> redis::RedisResult<T> {
    let mut command = redis::cmd("EVAL");
    command.arg(source).arg(keys.len()).arg(keys).arg(args);
    command.query(c)
}

pub fn get(c: &mut redis::Connection, key: &str) -> Option<String> {
    redis::cmd("GET").arg(key).query(c).unwrap()
}

pub fn exists(c: &mut redis::Connection, key: &str) -> bool {
    redis::cmd("EXISTS").arg(key).query(c).unwrap()
}

pub fn xlen(c: &mut redis::Connection, key: &str) -> i64 {
    redis::cmd("XLEN").arg(key).query(c).unwrap()
}

pub fn xadd(c: &mut redis::Connection, key: &str, pairs: &[&str]) -> String {
    redis::cmd("XADD")
        .arg(key)
        .arg("*")
        .arg(pairs)
        .query(c)
        .unwrap()
}

pub fn create_group(c: &mut redis::Connection, stream: &str, group: &str) {
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(stream)
        .arg(group)
        .arg("0")
        .arg("MKSTREAM")
        .query(c)
        .unwrap();
}

/// `XREADGROUP` reply: per stream, its entries as (id, fields).
pub type ReadReply = Option<Vec<(String, Vec<(String, Value)>)>>;

/// Delivers up to `count` new entries of `stream` to `consumer`: their ids.
pub fn deliver(
    c: &mut redis::Connection,
    stream: &str,
    group: &str,
    consumer: &str,
    count: usize,
) -> Vec<String> {
    let reply: ReadReply = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg(group)
        .arg(consumer)
        .arg("COUNT")
        .arg(count)
        .arg("STREAMS")
        .arg(stream)
        .arg(">")
        .query(c)
        .unwrap();
    reply
        .unwrap_or_default()
        .into_iter()
        .flat_map(|(_, entries)| entries.into_iter().map(|(id, _)| id))
        .collect()
}
