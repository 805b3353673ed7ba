//! How the backend connects to Redis: one policy for every path.
//!
//! | path | connection | why |
//! |---|---|---|
//! | the ingest's script calls, the worker's leases, settlements, acks, claims, promotions | [`shared`]: one multiplexed connection, reconnecting by itself | many small calls from many tasks pipeline on one socket: the ingest's 30,000+ calls a second need no pool, and a pool's checkout would cost more than the call |
//! | the worker's blocking `XREADGROUP` | a dedicated multiplexed connection ([`Reader`](crate::worker::Reader)) | a blocking read on the shared connection would stall every other call behind it |
//! | the operator commands and the worker's gauges | [`operator`]: a short-lived connection, checked with `PING` | fail fast on a wrong URL; one command at a time |
//!
//! Every connection disables Nagle's algorithm (small commands, each
//! waited for), and every call is bounded by the caller's timeout.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};

/// The Redis URL when none is configured.
pub const DEFAULT_URL: &str = "redis://127.0.0.1:6379";

/// The shared connection on `client`: connects on its first call and
/// reconnects by itself, each attempt and each answer bounded by
/// `timeout`.
pub fn shared(client: &redis::Client, timeout: Duration) -> redis::RedisResult<ConnectionManager> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        .set_number_of_retries(2)
        .set_max_delay(Duration::from_secs(1));
    client.get_connection_manager_lazy(config)
}

/// A connection for operator commands on `url`, checked with `PING`:
/// connecting may take 3 s, an answer 30 s (a long `SCAN`).
pub async fn operator(url: &str) -> redis::RedisResult<MultiplexedConnection> {
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(3)))
        .set_response_timeout(Some(Duration::from_secs(30)));
    let mut connection = client(url)?
        .get_multiplexed_async_connection_with_config(&config)
        .await?;
    let _: String = redis::cmd("PING").query_async(&mut connection).await?;
    Ok(connection)
}

/// A Redis client for `url` whose connections disable Nagle's algorithm:
/// the ingest and the worker send small commands and wait for each answer,
/// so delayed small packets would add latency to every event.
pub fn client(url: &str) -> redis::RedisResult<redis::Client> {
    use redis::IntoConnectionInfo as _;
    let info = url.into_connection_info()?;
    let tcp = info.tcp_settings().clone().set_nodelay(true);
    redis::Client::open(info.set_tcp_settings(tcp))
}

/// `url` with any password replaced by `***` (in the user-info part and in
/// a `pass`/`password` query parameter), for logs and errors.
pub fn redact_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let base = match (base.find("://"), base.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => match base[scheme + 3..at].split_once(':') {
            Some((user, _)) => format!("{}{user}:***{}", &base[..scheme + 3], &base[at..]),
            None => base.to_owned(),
        },
        _ => base.to_owned(),
    };
    match query {
        None => base,
        Some(query) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((name, _))
                        if name.eq_ignore_ascii_case("pass")
                            || name.eq_ignore_ascii_case("password") =>
                    {
                        format!("{name}=***")
                    }
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{base}?{}", query.join("&"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn hides_passwords_in_urls() {
        assert_eq!(
            redact_url("redis://:hunter2@host:6379/0"),
            "redis://:***@host:6379/0"
        );
        assert_eq!(
            redact_url("redis://user:hunter2@host"),
            "redis://user:***@host"
        );
        assert_eq!(
            redact_url("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
    }
}
