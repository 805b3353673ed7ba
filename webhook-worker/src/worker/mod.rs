//! The worker: reads the queues' streams through a consumer group and runs
//! the registered handlers, with retries, dead letters, idempotency and
//! crash recovery.
//!
//! ```no_run
//! use webhook_worker::worker::Worker;
//!
//! struct Db; // your pool
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! Worker::builder()
//!     .from_env()            // --redis-url / REDIS_URL, --queue, --group, ...
//!     .state(Db)
//!     .build()?
//!     .run(webhook_worker::shutdown_signal())
//!     .await?;
//! # Ok(())
//! # }
//! ```
//!
//! What is guaranteed: every (event, handler) pair of a queue runs until it
//! succeeds, is dead-lettered, or its retry is durably scheduled, before the
//! entry is acknowledged. A handler that succeeded for an event does not run
//! for it again in the same group (within `done_ttl`). A crash between a
//! handler's side effect and the record of its success runs it again: runs
//! are at-least-once, and effectively once where the handler's own write is
//! keyed by its [`IdempotencyKey`](webhook_core::handler::IdempotencyKey).

mod process;
mod settings;
mod tasks;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use clap::Parser;
use tokio::sync::{Notify, Semaphore, watch};
use webhook_core::handler::{Registry, RegistryError, StateMap};
use webhook_redis::key;
use webhook_redis::worker as store;

pub use settings::{DEFAULT_CONCURRENCY, Unhandled, WorkerArgs, WorkerSettings, default_consumer};

/// A worker ready to run.
pub struct Worker {
    settings: WorkerSettings,
    visibility: Duration,
    registries: HashMap<String, Registry>,
    state: StateMap,
    target: webhook_redis::connect::Target,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("queues", &self.registries.keys().collect::<Vec<_>>())
            .field("group", &self.settings.group)
            .field("consumer", &self.settings.consumer)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Worker`]; every setting has a default (see [`WorkerSettings`]).
#[derive(Default)]
pub struct WorkerBuilder {
    settings: WorkerSettings,
    registry: Option<Registry>,
    state: StateMap,
}

/// Why a worker cannot start or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkerError {
    /// No handler is registered for the queues to consume.
    #[error(
        "no handler is registered{0}; annotate async fns with #[webhook_handler(\"...\")] and link the crate that has them"
    )]
    NoHandlers(String),
    /// The handlers cannot run (duplicate names, missing state, ...).
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The visibility timeout would let another worker re-run live handlers.
    #[error(
        "the visibility timeout ({visibility:?}) must be longer than the longest handler timeout ({timeout:?}, handler `{handler}`), or other workers would re-run handlers that are still running; raise --visibility-timeout / WEBHOOK_VISIBILITY_TIMEOUT or lower that handler's `timeout`"
    )]
    VisibilityTooShort {
        /// The configured visibility timeout.
        visibility: Duration,
        /// The longest handler timeout.
        timeout: Duration,
        /// The handler with that timeout.
        handler: &'static str,
    },
    /// A setting is invalid.
    #[error("invalid worker setting `{setting}`: {problem}")]
    Setting {
        /// The setting.
        setting: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// Redis is configured to evict keys, which would delete events and
    /// their dedupe keys; the message names the setting to change.
    #[error("refusing to run on this Redis: {0}")]
    UnsafeRedis(crate::redis_check::Refusal),
    /// The Redis URL is unusable.
    #[error("cannot use the Redis URL {url}: {error}")]
    Redis {
        /// The URL, password hidden.
        url: String,
        /// The client's error.
        error: redis::RedisError,
    },
}

/// A `clap` wrapper so `from_env` can parse the process's own arguments.
#[derive(Parser)]
#[command(about = "A webhook worker: runs the registered handlers for the queued events")]
struct Cli {
    #[command(flatten)]
    args: WorkerArgs,
}

impl Worker {
    /// A builder with default settings.
    pub fn builder() -> WorkerBuilder {
        WorkerBuilder::default()
    }

    /// Runs until `shutdown` completes, then stops reading and claiming,
    /// starts nothing new, hands back entries read or claimed but not
    /// started, lets handler runs in flight finish until the shutdown
    /// timeout (one deadline for the whole stop), aborts those still going,
    /// and returns; anything unfinished stays pending for other workers to
    /// claim.
    ///
    /// It installs the default log output ([`crate::logging::init`]:
    /// standard error, `RUST_LOG`, `WEBHOOK_LOG_FORMAT`) unless the process
    /// already has a `tracing` subscriber, which then gets every line; an
    /// application that wants none installs one that drops them.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), WorkerError> {
        crate::logging::init();
        // An evicting Redis deletes events and done markers: refuse it (the
        // check logs warnings and why it refuses).
        let findings = crate::redis_check::at_start(&self.target, self.settings.redis_timeout)
            .await
            .map_err(WorkerError::UnsafeRedis)?;
        let target = self.target.clone();
        let (acks, ack_queue) = tokio::sync::mpsc::unbounded_channel();
        let (settles, settle_queue) = tokio::sync::mpsc::unbounded_channel();
        let rt = Arc::new(self.into_runtime(acks, settles)?);
        let settler = tokio::spawn(tasks::settle_loop(
            rt.store.clone(),
            rt.visibility,
            rt.settings.done_ttl,
            settle_queue,
        ));
        let acker = tokio::spawn(tasks::ack_loop(
            rt.store.clone(),
            rt.settings.group.clone(),
            ack_queue,
        ));
        let mut handlers: Vec<&str> = rt
            .registries
            .values()
            .flat_map(|registry| registry.handlers().iter().map(|h| h.name()))
            .collect();
        handlers.sort_unstable();
        let mut queues: Vec<&String> = rt.registries.keys().collect();
        queues.sort_unstable();
        tracing::info!(
            ?queues,
            ?handlers,
            redis = %crate::redact_url(&rt.settings.redis_url),
            group = %rt.settings.group,
            consumer = %rt.settings.consumer,
            concurrency = rt.settings.concurrency,
            visibility_ms = rt.visibility.as_millis() as u64,
            "worker starting"
        );
        let (stop_tx, stop_rx) = watch::channel(false);
        tokio::pin!(shutdown);
        // Redis may not be up yet: keep trying until it is, or until asked to stop.
        let mut pause = Duration::from_millis(100);
        loop {
            let started = async {
                tasks::find_partitions(&rt).await?;
                rt.store
                    .create_groups(&rt.streams(), &rt.settings.group)
                    .await
            };
            match started.await {
                Ok(()) => break,
                Err(error) => {
                    tracing::warn!(%error, "cannot reach Redis to create the consumer groups; retrying")
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = &mut shutdown => return Ok(()),
            }
            pause = (pause * 2).min(Duration::from_secs(5));
        }
        let mut loops = tasks::spawn_read_loops(&rt, &target, &rt.names(), &stop_rx);
        loops.extend([
            tokio::spawn(tasks::partition_loop(
                Arc::clone(&rt),
                target.clone(),
                stop_rx.clone(),
            )),
            tokio::spawn(tasks::reclaim_loop(Arc::clone(&rt), stop_rx.clone())),
            tokio::spawn(tasks::schedule_loop(Arc::clone(&rt), stop_rx.clone())),
            tokio::spawn(tasks::trim_loop(Arc::clone(&rt), stop_rx.clone())),
            tokio::spawn(crate::redis_check::recheck_loop(
                target.clone(),
                rt.settings.redis_timeout,
                rt.settings.redis_check_interval,
                findings,
                stop_rx.clone(),
            )),
        ]);
        if let Some(addr) = rt.settings.metrics_listen {
            let mut stopped = stop_rx.clone();
            loops.push(tokio::spawn(async move {
                let shutdown = async move {
                    let _ = stopped.changed().await;
                };
                if let Err(error) = crate::metrics::serve(addr, shutdown).await {
                    tracing::error!(%error, %addr, "cannot serve /metrics; set another --metrics-listen");
                }
            }));
            loops.push(tokio::spawn(tasks::gauge_loop(
                Arc::clone(&rt),
                target.clone(),
                stop_rx,
            )));
        }
        shutdown.await;
        // One deadline over the whole stop: loops, runs in flight and the
        // last acknowledgements.
        let deadline = tokio::time::Instant::now() + rt.settings.shutdown_timeout;
        tracing::info!("worker stopping: no new reads; waiting for runs in flight");
        let _ = stop_tx.send(true);
        let aborts: Vec<_> = loops.iter().map(|task| task.abort_handle()).collect();
        let joined = futures_util::future::join_all(loops);
        if tokio::time::timeout_at(deadline, joined).await.is_err() {
            // A loop still handing entries back: they stay pending, and are
            // claimed after the visibility timeout.
            aborts.iter().for_each(tokio::task::AbortHandle::abort);
        }
        let all = u32::try_from(rt.settings.concurrency).unwrap_or(u32::MAX);
        match tokio::time::timeout_at(deadline, rt.slots.acquire_many(all)).await {
            Ok(_) => tracing::info!("worker stopped; every run finished"),
            Err(_) => {
                // Abandoned runs must not keep heartbeating (an embedded
                // worker's process goes on): their entries go idle and
                // other workers claim them after the visibility timeout.
                rt.runs
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .abort_all();
                tracing::warn!(
                    "worker stopped with runs still in flight after the shutdown timeout; they were abandoned, their entries stay pending and other workers will claim them"
                );
            }
        }
        // Send the acknowledgements still queued, within what is left.
        let (flushed, done) = tokio::sync::oneshot::channel();
        if rt.acks.send(tasks::AckMessage::Flush(flushed)).is_ok() {
            let _ = tokio::time::timeout_at(deadline, done).await;
        }
        acker.abort();
        settler.abort();
        Ok(())
    }
}

impl WorkerBuilder {
    /// Reads the settings from the process's flags and environment
    /// ([`WorkerArgs`]); exits with a usage message on bad flags.
    pub fn from_env(mut self) -> Self {
        self.settings = Cli::parse().args.into();
        self
    }

    /// Replaces all settings.
    pub fn settings(mut self, settings: WorkerSettings) -> Self {
        self.settings = settings;
        self
    }

    /// The Redis URL.
    pub fn redis_url(mut self, url: impl Into<String>) -> Self {
        self.settings.redis_url = url.into();
        self
    }

    /// Adds a queue to consume (default: every queue a handler names).
    pub fn queue(mut self, queue: impl Into<String>) -> Self {
        self.settings.queues.push(queue.into());
        self
    }

    /// The consumer group.
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.settings.group = group.into();
        self
    }

    /// This worker's consumer name.
    pub fn consumer(mut self, consumer: impl Into<String>) -> Self {
        self.settings.consumer = consumer.into();
        self
    }

    /// Handler runs at once.
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.settings.concurrency = concurrency;
        self
    }

    /// Idle time after which another worker claims an entry.
    pub fn visibility_timeout(mut self, timeout: Duration) -> Self {
        self.settings.visibility_timeout = Some(timeout);
        self
    }

    /// How long shutdown waits for runs in flight.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.settings.shutdown_timeout = timeout;
        self
    }

    /// Deliveries after which an entry is dead-lettered as poison.
    pub fn max_deliveries(mut self, deliveries: u64) -> Self {
        self.settings.max_deliveries = deliveries;
        self
    }

    /// What to do with events no handler matches.
    pub fn unhandled(mut self, unhandled: Unhandled) -> Self {
        self.settings.unhandled = unhandled;
        self
    }

    /// Serves Prometheus `/metrics` on `addr` while running.
    pub fn metrics_listen(mut self, addr: std::net::SocketAddr) -> Self {
        self.settings.metrics_listen = Some(addr);
        self
    }

    /// Uses these handlers instead of every registered one.
    pub fn registry(mut self, registry: Registry) -> Self {
        self.registry = Some(registry);
        self
    }

    /// Adds shared state for `State<T>` parameters.
    pub fn state<T: Send + Sync + 'static>(mut self, value: T) -> Self {
        self.state.insert(value);
        self
    }

    /// Checks everything that can be checked before running: handlers,
    /// state, timeouts, names, the Redis URL.
    pub fn build(self) -> Result<Worker, WorkerError> {
        let settings = self.settings;
        let setting = |setting, problem: &str| WorkerError::Setting {
            setting,
            problem: problem.to_owned(),
        };
        let registry = match self.registry {
            Some(registry) => registry,
            None => Registry::collect()?,
        };
        let mut queues = settings.queues.clone();
        if queues.is_empty() {
            queues = registry
                .handlers()
                .iter()
                .map(|h| h.queue().to_owned())
                .collect();
            queues.sort();
            queues.dedup();
        }
        if queues.is_empty() {
            return Err(WorkerError::NoHandlers(String::new()));
        }
        let valid = |name: &str| {
            (1..=64).contains(&name.len())
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        for queue in &queues {
            if !valid(queue) {
                return Err(setting(
                    "queue",
                    "queue names are 1 to 64 letters, digits, `-` or `_`",
                ));
            }
        }
        if !valid(&settings.group) {
            return Err(setting(
                "group",
                "group names are 1 to 64 letters, digits, `-` or `_`",
            ));
        }
        if settings.consumer.is_empty()
            || settings
                .consumer
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(setting(
                "consumer",
                "consumer names are non-empty, without whitespace",
            ));
        }
        if settings.done_ttl < Duration::from_secs(60) {
            return Err(setting(
                "done_ttl",
                "must be at least 1m: a success forgotten sooner could let a redelivery run the handler again",
            ));
        }
        if settings.redis_timeout.is_zero() || settings.block.is_zero() {
            return Err(setting("redis_timeout", "must be longer than zero"));
        }
        if settings.concurrency == 0 || settings.concurrency > 100_000 {
            return Err(setting("concurrency", "must be from 1 to 100000"));
        }
        let registries: HashMap<String, Registry> = queues
            .iter()
            .map(|queue| (queue.clone(), registry.for_queue(queue)))
            .collect();
        let selected: Vec<_> = registries
            .values()
            .flat_map(|r| r.handlers().iter().copied())
            .collect();
        if selected.is_empty() {
            return Err(WorkerError::NoHandlers(format!(
                " for queue(s) {}",
                queues.join(", ")
            )));
        }
        for registry in registries.values() {
            registry.check_state(&self.state)?;
        }
        let longest = selected
            .iter()
            .max_by_key(|h| h.options().timeout)
            .map(|h| (h.options().timeout, h.name()))
            .unwrap_or((Duration::ZERO, ""));
        let visibility = match settings.visibility_timeout {
            Some(visibility) if visibility <= longest.0 => {
                return Err(WorkerError::VisibilityTooShort {
                    visibility,
                    timeout: longest.0,
                    handler: longest.1,
                });
            }
            Some(visibility) => visibility,
            None => (longest.0 + Duration::from_secs(30)).max(Duration::from_secs(60)),
        };
        let target = webhook_redis::connect::target(&settings.redis_url, settings.redis_timeout)
            .map_err(|error| WorkerError::Redis {
                url: crate::redact_url(&settings.redis_url),
                error,
            })?;
        Ok(Worker {
            settings,
            visibility,
            registries,
            state: self.state,
            target,
        })
    }
}

impl Worker {
    /// The shared state of the running worker. Connects lazily, and only
    /// here, inside the async runtime, so `build` works outside one.
    fn into_runtime(
        self,
        acks: tokio::sync::mpsc::UnboundedSender<tasks::AckMessage>,
        settles: tokio::sync::mpsc::UnboundedSender<tasks::Settle>,
    ) -> Result<Runtime, WorkerError> {
        let settings = self.settings;
        let store = store::Store::new(&self.target, settings.redis_timeout).map_err(|error| {
            WorkerError::Redis {
                url: crate::redact_url(&settings.redis_url),
                error,
            }
        })?;
        let mut queues: Vec<String> = self.registries.keys().cloned().collect();
        queues.sort_unstable();
        let runtime = Runtime {
            slots: Arc::new(Semaphore::new(settings.concurrency)),
            settings,
            visibility: self.visibility,
            registries: self.registries,
            state: Arc::new(self.state),
            store,
            read: std::sync::RwLock::default(),
            tokens: AtomicU64::new(0),
            nonce: webhook_core::Envelope::generate_id(),
            retry_scheduled: Notify::new(),
            runs: std::sync::Mutex::new(tokio::task::JoinSet::new()),
            acks,
            settles,
        };
        runtime.add_names(queues);
        Ok(runtime)
    }
}

/// The names whose keys a worker reads (its queues, and their partitions),
/// and the streams of each.
#[derive(Default)]
struct ReadSet {
    /// In the order they were added: the queues sorted, then partitions as
    /// they were found.
    names: Vec<String>,
    /// Each stream read: the name it belongs to, and its kind.
    streams: HashMap<String, (String, process::Kind)>,
}

/// What every loop and run of a worker shares.
pub(crate) struct Runtime {
    pub(crate) settings: WorkerSettings,
    pub(crate) visibility: Duration,
    pub(crate) registries: HashMap<String, Registry>,
    pub(crate) state: Arc<StateMap>,
    pub(crate) store: store::Store,
    pub(crate) slots: Arc<Semaphore>,
    /// What it reads; partitions found while running are added.
    read: std::sync::RwLock<ReadSet>,
    tokens: AtomicU64,
    nonce: String,
    pub(crate) retry_scheduled: Notify,
    /// The handler runs in flight (an entry's runs each).
    runs: std::sync::Mutex<tokio::task::JoinSet<()>>,
    acks: tokio::sync::mpsc::UnboundedSender<tasks::AckMessage>,
    settles: tokio::sync::mpsc::UnboundedSender<tasks::Settle>,
}

impl Runtime {
    /// The streams of `names`: each one's events and its group's due retries.
    pub(crate) fn streams_of(&self, names: &[String]) -> Vec<String> {
        names
            .iter()
            .flat_map(|name| [key::events(name), key::due(name, &self.settings.group)])
            .collect()
    }

    /// Every name whose keys this worker reads: each queue, and each
    /// partition of it found so far ([`webhook_redis::partitions`]).
    pub(crate) fn names(&self) -> Vec<String> {
        self.read
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .names
            .clone()
    }

    /// How many names this worker reads (without copying them).
    pub(crate) fn name_count(&self) -> usize {
        self.read
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .names
            .len()
    }

    /// Adds names to read (those not read yet); the ones that were new.
    pub(crate) fn add_names(&self, names: Vec<String>) -> Vec<String> {
        let mut read = self
            .read
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut added = Vec::new();
        for name in names {
            if read.names.contains(&name) {
                continue;
            }
            read.streams
                .insert(key::events(&name), (name.clone(), process::Kind::Events));
            read.streams.insert(
                key::due(&name, &self.settings.group),
                (name.clone(), process::Kind::Due),
            );
            read.names.push(name.clone());
            added.push(name);
        }
        added
    }

    /// Every stream this worker reads: each name's events and its group's due retries.
    pub(crate) fn streams(&self) -> Vec<String> {
        self.streams_of(&self.names())
    }

    /// The name a stream belongs to, and its kind.
    pub(crate) fn stream_kind(&self, stream: &str) -> Option<(String, process::Kind)> {
        self.read
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .streams
            .get(stream)
            .cloned()
    }

    /// Queues a settled entry for acknowledgement (sent in batches).
    pub(crate) fn acknowledge(&self, stream: &str, id: &str, delete: bool) {
        let message = tasks::AckMessage::Ack {
            stream: stream.to_owned(),
            id: id.to_owned(),
            delete,
        };
        if self.acks.send(message).is_err() {
            tracing::warn!(%id, "acknowledgements have stopped; the entry will be claimed again and its handlers found done");
        }
    }

    /// Takes the lease of one handler for one event (batched with others);
    /// `None` when Redis could not be asked.
    pub(crate) async fn lease(
        &self,
        queue: &str,
        key: &str,
        token: &str,
        carried: String,
    ) -> Option<store::Lease> {
        self.ask(|reply| tasks::Settle::Lease {
            queue: queue.to_owned(),
            key: key.to_owned(),
            token: token.to_owned(),
            carried,
            reply,
        })
        .await
    }

    /// Records one handler's success if its lease still holds (batched);
    /// `Some(false)` when the lease was lost, `None` when Redis could not be asked.
    pub(crate) async fn complete(&self, queue: &str, key: &str, token: &str) -> Option<bool> {
        self.ask(|reply| tasks::Settle::Complete {
            queue: queue.to_owned(),
            key: key.to_owned(),
            token: token.to_owned(),
            reply,
        })
        .await
    }

    async fn ask<T>(
        &self,
        request: impl FnOnce(tokio::sync::oneshot::Sender<Option<T>>) -> tasks::Settle,
    ) -> Option<T> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.settles.send(request(reply)).ok()?;
        answer.await.ok().flatten()
    }

    /// Starts handling `entry` in its concurrency slot; the run is tracked,
    /// so shutdown can abort it after the deadline.
    pub(crate) fn spawn_run(
        self: &Arc<Self>,
        entry: store::Entry,
        deliveries: u64,
        permit: tokio::sync::OwnedSemaphorePermit,
    ) {
        let rt = Arc::clone(self);
        let mut runs = self
            .runs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Forget the runs that finished, so the set stays as small as the
        // runs in flight.
        while runs.try_join_next().is_some() {}
        runs.spawn(async move {
            process::process(rt, entry, deliveries).await;
            drop(permit);
        });
    }

    /// A lease token unique to this run of this worker.
    pub(crate) fn next_token(&self) -> String {
        // The nonce keeps tokens unique even between two processes that
        // were given the same consumer name.
        format!(
            "{}:{}:{}",
            self.settings.consumer,
            self.nonce,
            self.tokens.fetch_add(1, Ordering::Relaxed)
        )
    }
}

/// Runs a worker configured from flags and environment until SIGINT or
/// SIGTERM: a binary's whole `main` when its handlers need no state. Like
/// [`Worker::run`], it installs the default log output unless the process
/// has a `tracing` subscriber.
///
/// ```no_run
/// #[tokio::main(flavor = "current_thread")]
/// async fn main() -> Result<(), webhook_worker::worker::WorkerError> {
///     webhook_worker::worker::run().await
/// }
/// ```
pub async fn run() -> Result<(), WorkerError> {
    Worker::builder()
        .from_env()
        .build()?
        .run(crate::shutdown_signal())
        .await
}
