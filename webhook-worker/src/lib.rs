//! The runtime of the webhook framework: the [`ingest`] server, the
//! [`worker`], the operator tools ([`ops`], [`cli`]) and [`metrics`].
//!
//! Start an ingest from a configuration file:
//!
//! ```no_run
//! use webhook_worker::ingest::{self, IngestConfig};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = IngestConfig::load("webhooks.toml".as_ref())?;
//! let settings = config.resolve(&|name| std::env::var(name).ok())?;
//! ingest::serve(settings, webhook_worker::shutdown_signal()).await?;
//! # Ok(())
//! # }
//! ```

pub mod cli;
pub mod ingest;
pub mod logging;
pub mod metrics;
pub mod ops;
pub mod redis_check;
pub mod scaffold;
mod signal;
pub mod worker;

pub use signal::shutdown_signal;
pub use webhook_core;

/// A Redis client for `url` whose connections disable Nagle's algorithm:
/// the ingest and the worker send small commands and wait for each answer,
/// so delayed small packets would add latency to every event.
pub fn redis_client(url: &str) -> redis::RedisResult<redis::Client> {
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
