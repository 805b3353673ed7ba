//! What the script tests share: a throwaway `redis-server` and the
//! commands they read and write with.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

#[path = "../../../tests/support/redis_server.rs"]
pub mod redis_server;

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
