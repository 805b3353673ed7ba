//! The ingest's configuration file.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use webhook_core::config::{
    ConfigError, Source, SourceConfig, from_toml, optional_duration, resolve_sources,
};

/// The ingest's TOML file, as written; every setting but the sources has a
/// default. See `examples/webhooks.toml`. Its `Debug` hides the Redis
/// password.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    /// The Redis URL; the `REDIS_URL` environment variable overrides it.
    #[serde(default)]
    pub redis_url: Option<String>,
    /// The listen address; the `WEBHOOK_LISTEN` environment variable overrides it.
    #[serde(default)]
    pub listen: Option<SocketAddr>,
    /// The largest request body accepted, in bytes (default 1 MiB).
    #[serde(default)]
    pub max_body_bytes: Option<usize>,
    /// How long an event id is remembered to answer duplicates (default 3 days,
    /// Stripe's retry window).
    #[serde(default, deserialize_with = "optional_duration")]
    pub dedupe_ttl: Option<Duration>,
    /// The longest a queue's stream may grow before requests get 503 (default 1,000,000 entries; 0: no limit).
    #[serde(default)]
    pub max_backlog: Option<u64>,
    /// The longest a request may take, body included (default 10 s).
    #[serde(default, deserialize_with = "optional_duration")]
    pub request_timeout: Option<Duration>,
    /// The longest a Redis command or connection attempt may take before the
    /// request gets 503 (default 2 s).
    #[serde(default, deserialize_with = "optional_duration")]
    pub redis_timeout: Option<Duration>,
    /// Answer 2xx only once this many replicas of the queue's master have
    /// the event (`WAIT`, at most half of `redis_timeout`; else 503), so a failover
    /// cannot lose an acknowledged event (default 0: do not wait).
    #[serde(default)]
    pub wait_replicas: Option<u32>,
    /// The `Retry-After` sent with 503 answers (default 5 s).
    #[serde(default, deserialize_with = "optional_duration")]
    pub retry_after: Option<Duration>,
    /// The longest a connection may take to send a request's headers, and
    /// the longest a keep-alive connection may sit idle between requests
    /// (default 10 s).
    #[serde(default, deserialize_with = "optional_duration")]
    pub header_read_timeout: Option<Duration>,
    /// The most header bytes (request line included) a request may send
    /// before it gets 431 (default 32 KiB; at least 8 KiB).
    #[serde(default)]
    pub max_header_bytes: Option<usize>,
    /// The most connections open at once; more wait in the kernel's accept
    /// queue (default 1024). Keep it below the process's file-descriptor
    /// limit (`ulimit -n`).
    #[serde(default)]
    pub max_connections: Option<usize>,
    /// The most request-body bytes being read at once, over all requests;
    /// a request whose body does not fit gets 503 (default 64 MiB; at
    /// least `max_body_bytes`).
    #[serde(default)]
    pub max_buffered_body_bytes: Option<usize>,
    /// How long a stopping ingest waits for requests in flight before it
    /// closes the connections left (default 20 s).
    #[serde(default, deserialize_with = "optional_duration")]
    pub shutdown_timeout: Option<Duration>,
    /// The sources, `[sources.<name>]`.
    #[serde(default)]
    pub sources: BTreeMap<String, SourceConfig>,
    /// Settings of queues, `[queues.<name>]`.
    #[serde(default)]
    pub queues: BTreeMap<String, QueueConfig>,
}

/// The ingest's settings with defaults applied and sources resolved. Its
/// `Debug` hides the Redis password.
pub struct IngestSettings {
    /// The Redis URL.
    pub redis_url: String,
    /// The listen address.
    pub listen: SocketAddr,
    /// The largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// How long an event id is remembered.
    pub dedupe_ttl: Duration,
    /// The longest a queue's stream may grow (0: no limit).
    pub max_backlog: u64,
    /// The longest a request may take.
    pub request_timeout: Duration,
    /// The longest a Redis command may take.
    pub redis_timeout: Duration,
    /// Replicas that must have an event before it is acknowledged (0: none).
    pub wait_replicas: u32,
    /// The `Retry-After` of 503 answers.
    pub retry_after: Duration,
    /// The longest a connection may take to send a request's headers, or
    /// stay idle between requests.
    pub header_read_timeout: Duration,
    /// The most header bytes a request may send.
    pub max_header_bytes: usize,
    /// The most connections open at once.
    pub max_connections: usize,
    /// The most request-body bytes being read at once.
    pub max_buffered_body_bytes: usize,
    /// How long shutdown waits for requests in flight.
    pub shutdown_timeout: Duration,
    /// The sources, ready to verify.
    pub sources: Vec<Source>,
    /// The partition count of each queue configured with one.
    pub partitions: BTreeMap<String, u32>,
}

/// A queue's settings, `[queues.<name>]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// Spread the queue over this many streams, each in a hash slot of its
    /// own (1 to 1024; default 1: one stream), so on a Redis Cluster one
    /// queue uses every master. See the README on changing it.
    #[serde(default)]
    pub partitions: Option<u32>,
}

/// The most partitions a queue may have.
pub const MAX_PARTITIONS: u32 = webhook_redis::partitions::MAX_PARTITIONS;

/// The default listen address.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::LOCALHOST,
    8080,
));

/// The smallest `max_header_bytes` (the HTTP parser's own minimum buffer).
pub const MIN_HEADER_BYTES: usize = 8192;

/// The default Redis URL ([`webhook_redis::connect::DEFAULT_URL`]).
pub const DEFAULT_REDIS_URL: &str = webhook_redis::connect::DEFAULT_URL;

impl IngestSettings {
    /// Settings with every default, for `sources` on `redis_url`.
    pub fn new(redis_url: impl Into<String>, sources: Vec<Source>) -> Self {
        Self {
            redis_url: redis_url.into(),
            listen: DEFAULT_LISTEN,
            max_body_bytes: 1024 * 1024,
            dedupe_ttl: Duration::from_secs(3 * 86_400),
            max_backlog: 1_000_000,
            request_timeout: Duration::from_secs(10),
            redis_timeout: Duration::from_secs(2),
            wait_replicas: 0,
            retry_after: Duration::from_secs(5),
            header_read_timeout: Duration::from_secs(10),
            max_header_bytes: 32 * 1024,
            max_connections: 1024,
            max_buffered_body_bytes: 64 * 1024 * 1024,
            shutdown_timeout: Duration::from_secs(20),
            sources,
            partitions: BTreeMap::new(),
        }
    }
}

impl IngestConfig {
    /// Parses a configuration file's text.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        from_toml(text)
    }

    /// Reads and parses a configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Parse {
            path: ".".to_owned(),
            message: format!("cannot read `{}`: {error}", path.display()),
        })?;
        Self::from_toml(&text)
    }

    /// The address the ingest listens on: `WEBHOOK_LISTEN` (read through
    /// `env`) if set, else the file's `listen`, else [`DEFAULT_LISTEN`].
    pub fn listen_address(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<SocketAddr, ConfigError> {
        match env("WEBHOOK_LISTEN") {
            Some(text) => text.parse().map_err(|_| ConfigError::Parse {
                path: "WEBHOOK_LISTEN".to_owned(),
                message: format!("`{text}` is not an address like 127.0.0.1:8080"),
            }),
            None => Ok(self.listen.unwrap_or(DEFAULT_LISTEN)),
        }
    }

    /// Applies defaults and the `REDIS_URL` / `WEBHOOK_LISTEN` overrides, and
    /// resolves the sources, reading environment variables through `env`.
    pub fn resolve(
        self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<IngestSettings, ConfigError> {
        let invalid = |path: &str, message: String| ConfigError::Parse {
            path: path.to_owned(),
            message,
        };
        if self.sources.is_empty() {
            return Err(invalid(
                "sources",
                "no source is configured; add a `[sources.<name>]` table (see examples/webhooks.toml)".into(),
            ));
        }
        let listen = self.listen_address(env)?;
        let redis_url = env("REDIS_URL")
            .or(self.redis_url)
            .unwrap_or_else(|| DEFAULT_REDIS_URL.to_owned());
        // The backend's own reading: one server's URL or a cluster's.
        if let Err(error) = webhook_redis::connect::target(&redis_url, Duration::from_secs(1)) {
            return Err(invalid(
                "redis_url",
                format!(
                    "`{}` is not a Redis URL ({}); write it like redis://127.0.0.1:6379, or \
                     redis+cluster://host:port,host:port for a Redis Cluster",
                    crate::redact_url(&redis_url),
                    error
                ),
            ));
        }
        let positive = |name: &str, value: Option<Duration>, default: Duration| match value {
            Some(value) if value.is_zero() => Err(invalid(name, "must be longer than zero".into())),
            Some(value) => Ok(value),
            None => Ok(default),
        };
        let defaults = IngestSettings::new(redis_url, resolve_sources(&self.sources, env)?);
        let dedupe_ttl = positive("dedupe_ttl", self.dedupe_ttl, defaults.dedupe_ttl)?;
        if dedupe_ttl < Duration::from_secs(1) {
            return Err(invalid("dedupe_ttl", "must be at least 1s".into()));
        }
        // A request replayed after its dedupe key expired but still inside
        // the timestamp window would be stored twice.
        for source in &defaults.sources {
            if let Some(window) = source.verifier.scheme().tolerance
                && window >= dedupe_ttl
            {
                return Err(invalid(
                    &format!("sources.{}.tolerance", source.name),
                    "must be shorter than `dedupe_ttl`, or a replay inside the window would be stored twice".into(),
                ));
            }
        }
        let max_body_bytes = self.max_body_bytes.unwrap_or(defaults.max_body_bytes);
        let max_buffered_body_bytes = self
            .max_buffered_body_bytes
            .unwrap_or(defaults.max_buffered_body_bytes.max(max_body_bytes));
        if max_buffered_body_bytes < max_body_bytes {
            return Err(invalid(
                "max_buffered_body_bytes",
                format!(
                    "must be at least `max_body_bytes` ({max_body_bytes}), or the largest body could never be read"
                ),
            ));
        }
        let max_header_bytes = self.max_header_bytes.unwrap_or(defaults.max_header_bytes);
        if max_header_bytes < MIN_HEADER_BYTES {
            return Err(invalid(
                "max_header_bytes",
                format!("must be at least {MIN_HEADER_BYTES}"),
            ));
        }
        let mut partitions = BTreeMap::new();
        for (queue, settings) in &self.queues {
            let path = format!("queues.{queue}");
            if !defaults.sources.iter().any(|source| source.queue == *queue) {
                return Err(invalid(
                    &path,
                    "no source stores in this queue; set `queue = \"...\"` on a source, or remove the table".into(),
                ));
            }
            match settings.partitions {
                None => {}
                Some(count) if (1..=MAX_PARTITIONS).contains(&count) => {
                    partitions.insert(queue.clone(), count);
                }
                Some(_) => {
                    return Err(invalid(
                        &format!("{path}.partitions"),
                        format!("must be 1 to {MAX_PARTITIONS}"),
                    ));
                }
            }
        }
        let max_connections = self.max_connections.unwrap_or(defaults.max_connections);
        if max_connections == 0 {
            return Err(invalid("max_connections", "must be at least 1".into()));
        }
        Ok(IngestSettings {
            listen,
            max_body_bytes,
            max_buffered_body_bytes,
            max_header_bytes,
            max_connections,
            header_read_timeout: positive(
                "header_read_timeout",
                self.header_read_timeout,
                defaults.header_read_timeout,
            )?,
            shutdown_timeout: positive(
                "shutdown_timeout",
                self.shutdown_timeout,
                defaults.shutdown_timeout,
            )?,
            dedupe_ttl,
            max_backlog: self.max_backlog.unwrap_or(defaults.max_backlog),
            request_timeout: positive(
                "request_timeout",
                self.request_timeout,
                defaults.request_timeout,
            )?,
            redis_timeout: positive("redis_timeout", self.redis_timeout, defaults.redis_timeout)?,
            wait_replicas: self.wait_replicas.unwrap_or(defaults.wait_replicas),
            partitions,
            retry_after: positive("retry_after", self.retry_after, defaults.retry_after)?,
            ..defaults
        })
    }
}

impl std::fmt::Debug for IngestConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestConfig")
            .field(
                "redis_url",
                &self.redis_url.as_deref().map(crate::redact_url),
            )
            .field("listen", &self.listen)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("dedupe_ttl", &self.dedupe_ttl)
            .field("max_backlog", &self.max_backlog)
            .field("request_timeout", &self.request_timeout)
            .field("redis_timeout", &self.redis_timeout)
            .field("wait_replicas", &self.wait_replicas)
            .field("retry_after", &self.retry_after)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("max_header_bytes", &self.max_header_bytes)
            .field("max_connections", &self.max_connections)
            .field("max_buffered_body_bytes", &self.max_buffered_body_bytes)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("sources", &self.sources)
            .field("queues", &self.queues)
            .finish()
    }
}

impl std::fmt::Debug for IngestSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestSettings")
            .field("redis_url", &crate::redact_url(&self.redis_url))
            .field("listen", &self.listen)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("dedupe_ttl", &self.dedupe_ttl)
            .field("max_backlog", &self.max_backlog)
            .field("request_timeout", &self.request_timeout)
            .field("redis_timeout", &self.redis_timeout)
            .field("wait_replicas", &self.wait_replicas)
            .field("retry_after", &self.retry_after)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("max_header_bytes", &self.max_header_bytes)
            .field("max_connections", &self.max_connections)
            .field("max_buffered_body_bytes", &self.max_buffered_body_bytes)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("sources", &self.sources)
            .field("partitions", &self.partitions)
            .finish()
    }
}
