//! A worker's settings: built in code, or read from flags and environment.

use std::time::Duration;

/// What to do with an event no handler matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
#[non_exhaustive]
pub enum Unhandled {
    /// Acknowledge it and count it in the log (the default).
    Ack,
    /// Dead-letter it with reason `no_handler`.
    DeadLetter,
}

/// Everything a worker is configured with. [`WorkerBuilder`](super::WorkerBuilder)
/// fills it; every field has a default. `Debug` hides any password in the
/// Redis URL.
#[derive(Clone)]
#[non_exhaustive]
pub struct WorkerSettings {
    /// The Redis URL.
    pub redis_url: String,
    /// The queues to consume; empty means every queue a registered handler names.
    pub queues: Vec<String>,
    /// The consumer group; each group sees every event once.
    pub group: String,
    /// This worker's consumer name in the group; default `<host>-<pid>`.
    pub consumer: String,
    /// How many entries are handled at once (the handlers of one event run
    /// together within its slot); reads are sized by the free slots.
    pub concurrency: usize,
    /// How long an entry may go without a heartbeat before another worker
    /// claims it; `None`: the longest handler timeout plus 30 s, at least 60 s.
    pub visibility_timeout: Option<Duration>,
    /// Deliveries after which an entry that keeps killing workers is
    /// dead-lettered as poison.
    pub max_deliveries: u64,
    /// How long shutdown waits for runs in flight.
    pub shutdown_timeout: Duration,
    /// How long a handler's success is remembered per event.
    pub done_ttl: Duration,
    /// How long processed entries stay in the stream (for inspection);
    /// default none. They count against the ingest's `max_backlog`, which
    /// limits the stream's length: rate × retention entries are kept.
    pub retention: Duration,
    /// What to do with events no handler matches.
    pub unhandled: Unhandled,
    /// The longest a Redis command may take.
    pub redis_timeout: Duration,
    /// How long one blocking read waits for new entries.
    pub block: Duration,
    /// Where to serve Prometheus `/metrics`; `None` serves none.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// How often a running worker checks Redis's eviction policy and
    /// persistence again (its connections reconnect by themselves, possibly
    /// to a restarted or reconfigured server); default 30 s.
    pub redis_check_interval: Duration,
}

/// Entries a worker handles at once unless told otherwise. Chosen by
/// measurement (BENCHMARKS.md): a no-op drain on two cores reaches its
/// plateau at 256 on a current-thread runtime (about 87,000 events/s
/// against 52,000 at 64) and passes 50,000 events/s at 256 on the
/// multi-thread runtime too (33,000 at 64). Each entry in flight holds its
/// body in memory, so 256 entries of the ingest's largest (1 MiB) bodies
/// hold 256 MiB.
pub const DEFAULT_CONCURRENCY: usize = 256;

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            redis_url: std::env::var("REDIS_URL")
                .unwrap_or_else(|_| webhook_redis::connect::DEFAULT_URL.to_owned()),
            queues: Vec::new(),
            group: "workers".to_owned(),
            consumer: default_consumer(),
            concurrency: DEFAULT_CONCURRENCY,
            visibility_timeout: None,
            max_deliveries: 10,
            shutdown_timeout: Duration::from_secs(30),
            done_ttl: Duration::from_secs(7 * 86_400),
            retention: Duration::ZERO,
            unhandled: Unhandled::Ack,
            redis_timeout: Duration::from_secs(5),
            block: Duration::from_secs(1),
            metrics_listen: None,
            redis_check_interval: Duration::from_secs(30),
        }
    }
}

/// `<host>-<pid>`: unique per process on a host, stable for its lifetime.
pub fn default_consumer() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".to_owned());
    format!("{host}-{}", std::process::id())
}

/// The worker's command-line flags; each also reads an environment variable.
#[derive(Clone, clap::Args)]
pub struct WorkerArgs {
    /// The Redis URL.
    #[arg(long, env = "REDIS_URL", hide_env_values = true, default_value = webhook_redis::connect::DEFAULT_URL)]
    pub redis_url: String,
    /// Queues to consume (comma-separated); default: every queue a handler names.
    #[arg(long = "queue", env = "WEBHOOK_QUEUES", value_delimiter = ',')]
    pub queues: Vec<String>,
    /// The consumer group.
    #[arg(long, env = "WEBHOOK_GROUP", default_value = "workers")]
    pub group: String,
    /// This worker's name in the group; default `<host>-<pid>`.
    #[arg(long, env = "WEBHOOK_CONSUMER")]
    pub consumer: Option<String>,
    /// Entries handled at once (an event's handlers share its slot).
    #[arg(long, env = "WEBHOOK_CONCURRENCY", default_value_t = DEFAULT_CONCURRENCY)]
    pub concurrency: usize,
    /// Idle time after which another worker claims an entry (e.g. `2m`).
    #[arg(long, env = "WEBHOOK_VISIBILITY_TIMEOUT", value_parser = humantime::parse_duration)]
    pub visibility_timeout: Option<Duration>,
    /// Deliveries after which an entry is dead-lettered as poison.
    #[arg(long, env = "WEBHOOK_MAX_DELIVERIES", default_value_t = 10)]
    pub max_deliveries: u64,
    /// How long shutdown waits for runs in flight.
    #[arg(long, env = "WEBHOOK_SHUTDOWN_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub shutdown_timeout: Duration,
    /// How long processed entries stay in the stream.
    #[arg(long, env = "WEBHOOK_RETENTION", default_value = "0s", value_parser = humantime::parse_duration)]
    pub retention: Duration,
    /// What to do with events no handler matches.
    #[arg(long, env = "WEBHOOK_UNHANDLED", value_enum, default_value = "ack")]
    pub unhandled: Unhandled,
    /// How long a handler's success is remembered per event.
    #[arg(long, env = "WEBHOOK_DONE_TTL", default_value = "7d", value_parser = humantime::parse_duration)]
    pub done_ttl: Duration,
    /// The longest a Redis command may take.
    #[arg(long, env = "WEBHOOK_REDIS_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub redis_timeout: Duration,
    /// Serve Prometheus `/metrics` on this address (e.g. `0.0.0.0:9100`).
    #[arg(long, env = "WEBHOOK_METRICS_LISTEN")]
    pub metrics_listen: Option<std::net::SocketAddr>,
}

impl From<WorkerArgs> for WorkerSettings {
    fn from(args: WorkerArgs) -> Self {
        Self {
            redis_url: args.redis_url,
            queues: args.queues,
            group: args.group,
            consumer: args.consumer.unwrap_or_else(default_consumer),
            concurrency: args.concurrency,
            visibility_timeout: args.visibility_timeout,
            max_deliveries: args.max_deliveries,
            shutdown_timeout: args.shutdown_timeout,
            retention: args.retention,
            unhandled: args.unhandled,
            done_ttl: args.done_ttl,
            redis_timeout: args.redis_timeout,
            metrics_listen: args.metrics_listen,
            ..Self::default()
        }
    }
}

impl std::fmt::Debug for WorkerSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerSettings")
            .field("redis_url", &crate::redact_url(&self.redis_url))
            .field("queues", &self.queues)
            .field("group", &self.group)
            .field("consumer", &self.consumer)
            .field("concurrency", &self.concurrency)
            .field("visibility_timeout", &self.visibility_timeout)
            .field("max_deliveries", &self.max_deliveries)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("done_ttl", &self.done_ttl)
            .field("retention", &self.retention)
            .field("unhandled", &self.unhandled)
            .field("redis_timeout", &self.redis_timeout)
            .field("block", &self.block)
            .field("metrics_listen", &self.metrics_listen)
            .field("redis_check_interval", &self.redis_check_interval)
            .finish()
    }
}

impl std::fmt::Debug for WorkerArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&WorkerSettings::from(self.clone()), f)
    }
}
