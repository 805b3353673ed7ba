//! The cluster part: the ingest and the worker on one Redis against a
//! local three-master Redis Cluster, with the queue in one stream and
//! spread over six partitions, in one run on this machine.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use webhook_core::Envelope;

use crate::redis_server::BenchRedis;
use crate::{BODY_BYTES, Measured};

/// A local Redis Cluster: masters only, each a [`BenchRedis`] started in
/// cluster mode and joined by `redis-cli --cluster create`.
pub(crate) struct BenchCluster {
    nodes: Vec<BenchRedis>,
}

impl BenchCluster {
    pub(crate) fn start(masters: usize) -> anyhow::Result<Self> {
        let nodes = (0..masters)
            .map(|_| {
                BenchRedis::start(&["--cluster-enabled", "yes", "--cluster-node-timeout", "5000"])
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let addresses: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let created = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .output()
            .context("run redis-cli --cluster create (install it: apt-get install redis-tools)")?;
        if !created.status.success() {
            bail!(
                "redis-cli --cluster create failed: {}",
                String::from_utf8_lossy(&created.stderr)
            );
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        for node in &nodes {
            loop {
                let info: String = node.cli(&["CLUSTER", "INFO"])?;
                if info.contains("cluster_state:ok") {
                    break;
                }
                if Instant::now() > deadline {
                    bail!("the benchmark's cluster did not come up");
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Ok(Self { nodes })
    }

    pub(crate) fn url(&self) -> String {
        let nodes: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        format!("redis+cluster://{}", nodes.join(","))
    }

    /// Calls per command since the last reset, summed over the masters.
    pub(crate) fn command_calls(&self) -> anyhow::Result<BTreeMap<String, u64>> {
        let mut all = BTreeMap::new();
        for node in &self.nodes {
            for (name, calls) in node.command_calls()? {
                *all.entry(name).or_insert(0) += calls;
            }
        }
        Ok(all)
    }

    pub(crate) fn reset_stats(&self) -> anyhow::Result<()> {
        for node in &self.nodes {
            node.cli::<String>(&["CONFIG", "RESETSTAT"])?;
        }
        Ok(())
    }

    pub(crate) fn flush(&self) -> anyhow::Result<()> {
        self.nodes.iter().try_for_each(BenchRedis::flush)
    }

    fn connection(&self) -> anyhow::Result<redis::cluster::ClusterConnection> {
        let nodes: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("redis://127.0.0.1:{}/", n.port))
            .collect();
        Ok(redis::cluster::ClusterClient::new(nodes)?.get_connection()?)
    }
}

/// Where one row ran.
pub(crate) enum Place<'a> {
    /// One Redis.
    Single(&'a BenchRedis),
    /// The cluster, with the queue in this many partitions (1: one stream).
    Cluster(&'a BenchCluster, u32),
}

impl Place<'_> {
    fn url(&self) -> String {
        match self {
            Self::Single(redis) => redis.url(),
            Self::Cluster(cluster, _) => cluster.url(),
        }
    }

    fn partitions(&self) -> u32 {
        match self {
            Self::Single(_) => 1,
            Self::Cluster(_, partitions) => *partitions,
        }
    }

    pub(crate) fn label(&self) -> String {
        match self {
            Self::Single(_) => "one Redis".to_owned(),
            Self::Cluster(_, 1) => "3-master cluster, one stream".to_owned(),
            Self::Cluster(_, n) => format!("3-master cluster, {n} partitions"),
        }
    }

    fn reset_stats(&self) -> anyhow::Result<()> {
        match self {
            Self::Single(redis) => redis.cli::<String>(&["CONFIG", "RESETSTAT"]).map(|_| ()),
            Self::Cluster(cluster, _) => cluster.reset_stats(),
        }
    }

    fn command_calls(&self) -> anyhow::Result<BTreeMap<String, u64>> {
        match self {
            Self::Single(redis) => redis.command_calls(),
            Self::Cluster(cluster, _) => cluster.command_calls(),
        }
    }

    fn flush(&self) -> anyhow::Result<()> {
        match self {
            Self::Single(redis) => redis.flush(),
            Self::Cluster(cluster, _) => cluster.flush(),
        }
    }

    /// The names the queue's keys live under.
    fn names(&self, queue: &str) -> Vec<String> {
        match self.partitions() {
            1 => vec![queue.to_owned()],
            n => (0..n)
                .map(|i| webhook_redis::key::partition(queue, i))
                .collect(),
        }
    }

    /// Queues `events` 1 KiB events in `queue`, spread evenly over its
    /// partitions, and records the partition count as the ingest would.
    fn fill(&self, queue: &str, events: u64) -> anyhow::Result<()> {
        let (cluster, partitions) = match self {
            Self::Single(redis) => return crate::drain::fill(redis, events),
            Self::Cluster(cluster, partitions) => (cluster, *partitions),
        };
        let names = self.names(queue);
        let mut connection = cluster.connection()?;
        if partitions > 1 {
            let _: () = redis::cmd("HSET")
                .arg(webhook_redis::key::partitions(queue))
                .arg("count")
                .arg(partitions)
                .arg("highest")
                .arg(partitions)
                .query(&mut connection)?;
        }
        let body = vec![b'x'; BODY_BYTES];
        for chunk in 0..events.div_ceil(1000) {
            let mut pipe = redis::cluster::cluster_pipe();
            for i in chunk * 1000..((chunk + 1) * 1000).min(events) {
                let envelope = Envelope::new(format!("e-{i}"), "bench.noop", "bench", body.clone());
                let encoded = envelope.encode();
                let name = &names[usize::try_from(i).unwrap_or(0) % names.len()];
                let command = pipe
                    .cmd("XADD")
                    .arg(webhook_redis::key::events(name))
                    .arg("*");
                for (field, value) in encoded.fields() {
                    command.arg(field).arg(value);
                }
                command.ignore();
            }
            let _: () = pipe.query(&mut connection).context("queue the events")?;
        }
        Ok(())
    }

    /// Entries pending in the group over every stream of `queue`.
    fn pending(&self, queue: &str) -> anyhow::Result<u64> {
        let mut total = 0;
        for name in self.names(queue) {
            let stream = webhook_redis::key::events(&name);
            let reply: redis::Value = match self {
                Self::Single(redis) => redis.cli(&["XPENDING", &stream, "workers"])?,
                Self::Cluster(cluster, _) => redis::cmd("XPENDING")
                    .arg(&stream)
                    .arg("workers")
                    .query(&mut cluster.connection()?)?,
            };
            if let redis::Value::Array(items) = reply
                && let Some(redis::Value::Int(n)) = items.first()
            {
                total += u64::try_from(*n).unwrap_or(0);
            }
        }
        Ok(total)
    }
}

/// One place's figures.
pub(crate) struct ClusterRow {
    pub(crate) label: String,
    pub(crate) ingest: Measured,
    /// Redis commands per stored event (script calls and what they run).
    pub(crate) ingest_calls: f64,
    pub(crate) drain_events_per_sec: f64,
    /// Redis commands per drained event, by command, summed over masters.
    pub(crate) drain_calls: BTreeMap<String, f64>,
}

/// The ingest at 50 connections and a drain of `events` at concurrency 256
/// on `place`.
pub(crate) fn measure(
    place: &Place<'_>,
    duration: Duration,
    events: u64,
) -> anyhow::Result<ClusterRow> {
    place.flush()?;
    place.reset_stats()?;
    let partitions = match place.partitions() {
        1 => BTreeMap::new(),
        n => BTreeMap::from([("bench".to_owned(), n)]),
    };
    let ingest = crate::ingest::measure_ingest_at(&place.url(), partitions, 50, duration)?;
    let requests = (ingest.requests_per_sec * ingest.elapsed_secs).max(1.0);
    let ingest_calls = place
        .command_calls()?
        .into_iter()
        .filter(|(name, _)| {
            !matches!(
                name.as_str(),
                "info" | "config|resetstat" | "ping" | "cluster|slots" | "cluster|nodes"
            )
        })
        .map(|(_, calls)| calls as f64)
        .sum::<f64>()
        / requests;
    place.flush()?;
    place.fill("drain", events)?;
    place.reset_stats()?;
    let elapsed = crate::drain::run_worker(&place.url(), events, 256, || place.pending("drain"))?;
    let mut calls = place.command_calls()?;
    for probe in [
        "info",
        "config|resetstat",
        "xpending",
        "ping",
        "cluster|slots",
        "cluster|nodes",
        "hmget",
    ] {
        calls.remove(probe);
    }
    Ok(ClusterRow {
        label: place.label(),
        ingest,
        ingest_calls,
        drain_events_per_sec: events as f64 / elapsed.as_secs_f64(),
        drain_calls: calls
            .into_iter()
            .map(|(name, n)| (name, n as f64 / events as f64))
            .collect(),
    })
}
