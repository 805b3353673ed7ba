//! How the backend connects to Redis: one policy for every path.
//!
//! | path | connection | why |
//! |---|---|---|
//! | the ingest's script calls, the worker's leases, settlements, acks, claims, promotions | [`shared`]: one multiplexed connection (one per node on a cluster), reconnecting by itself | many small calls from many tasks pipeline on one socket: the ingest's 30,000+ calls a second need no pool, and a pool's checkout would cost more than the call |
//! | the worker's blocking `XREADGROUP` | a dedicated connection per read loop ([`Reader`](crate::worker::Reader)), its answer bounded by the block time plus the timeout; one loop for all queues on one server; on a cluster one per queue and partition (one read reaches one hash slot), each with a connection of its own to the master that owns the slot ([`Cluster::owner_of`]), found again after a `MOVED` or a dropped connection | a blocking read on the shared connection would stall every other call behind it |
//! | the worker's settings re-check and queue gauges | a [`shared`] connection each | their few commands never queue behind the handlers' calls |
//! | the operator commands | [`operator`]: the same kind, checked with `PING`, 3 s to connect and 30 s for an answer | fail fast on a wrong URL, wait for a long `SCAN` ([`Shared::scan`] runs it on every master of a cluster) |
//!
//! Every connection disables Nagle's algorithm (small commands, each
//! waited for), and every call is bounded by the caller's timeout.
//!
//! No path uses a pool. The figure that decided it (`cargo bench -p
//! webhook-redis --bench pool`, the ingest's script call from concurrent
//! tasks on one runtime thread, Redis on the same two cores): one
//! multiplexed connection made 55,130 calls/s at 50 tasks (p99 2.0 ms),
//! a deadpool-redis pool with a connection checked out per call 24,965 to
//! 25,980 (p99 3.5 to 3.7 ms), at 256 tasks 50,713 against 17,747 to
//! 22,476, and even one task alone 6,819 against 3,782. Every checkout
//! re-checks its connection with a round trip of its own (`UNWATCH` +
//! `PING`), and pipelining on one socket lets Redis answer many calls per
//! wake-up. The blocking reads own one connection per read loop for its
//! whole life, which a pool would only hand out once; the operator
//! commands make a handful of calls per process. A pool would serve a
//! long-running process that runs `MULTI`/`WATCH` transactions or
//! blocking commands from many requests at once, which none does yet.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// The Redis URL when none is configured.
pub const DEFAULT_URL: &str = "redis://127.0.0.1:6379";

/// What a Redis URL names: one server, or a Redis Cluster.
///
/// A cluster is written `redis+cluster://[user:password@]host:port,host:port,...[/db][?query]`
/// (any of its nodes; the client learns the rest; the credentials, `/db`
/// and query apply to every node), or as a comma-separated list of URLs
/// (`redis://...,redis://...`). Everything else is one server's URL, as
/// the redis crate reads it.
#[derive(Clone)]
pub enum Target {
    /// One Redis server.
    Single(redis::Client),
    /// A Redis Cluster, by its seed nodes.
    Cluster(Box<Cluster>),
}

/// A Redis Cluster: the redis crate's cluster client, and the seed nodes
/// to ask where a slot lives.
#[derive(Clone)]
pub struct Cluster {
    client: redis::cluster::ClusterClient,
    seeds: Vec<redis::ConnectionInfo>,
    /// Every node the last `CLUSTER SLOTS` named, asked after the seeds:
    /// when the seed nodes are down (a URL naming one node that failed
    /// over), the promoted replica is still found.
    known: std::sync::Arc<std::sync::Mutex<Vec<(String, u16)>>>,
}

impl Cluster {
    /// A connection of its own to the master that owns `key`'s slot, found
    /// by asking the seed nodes in turn (`CLUSTER KEYSLOT`, `CLUSTER
    /// SLOTS`), then every node the last answer named; connecting is bounded by `connect` and each answer by
    /// `answer`. It does not follow redirections: when the slot moves, or
    /// the master fails over, its commands fail and the caller asks again.
    pub async fn owner_of(
        &self,
        key: &str,
        connect: Duration,
        answer: Duration,
    ) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(connect))
            .set_response_timeout(Some(answer.max(connect)));
        let mut last = None;
        let known: Vec<redis::ConnectionInfo> = match self.seeds.first() {
            Some(first) => self
                .known
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .iter()
                .map(|(host, port)| {
                    first
                        .clone()
                        .set_addr(redis::ConnectionAddr::Tcp(host.clone(), *port))
                })
                .collect(),
            None => Vec::new(),
        };
        for seed in self.seeds.iter().chain(&known) {
            let owner = async {
                let mut asked = redis::Client::open(seed.clone())?
                    .get_multiplexed_async_connection_with_config(&config)
                    .await?;
                let slot: i64 = redis::cmd("CLUSTER")
                    .arg("KEYSLOT")
                    .arg(key)
                    .query_async(&mut asked)
                    .await?;
                let ranges: Vec<redis::Value> = redis::cmd("CLUSTER")
                    .arg("SLOTS")
                    .query_async(&mut asked)
                    .await?;
                self.remember(&ranges);
                let (host, port) = slot_master(&ranges, slot).ok_or_else(|| {
                    redis::RedisError::from((
                        redis::ErrorKind::Client,
                        "no master owns the slot",
                        format!(
                            "slot {slot} of `{key}` has no master now (a failover in progress?)"
                        ),
                    ))
                })?;
                // An empty host is the node that answered.
                let host = match host.as_str() {
                    "" | "?" => match seed.addr() {
                        redis::ConnectionAddr::Tcp(host, _) => host.clone(),
                        _ => host,
                    },
                    _ => host,
                };
                let info = seed
                    .clone()
                    .set_addr(redis::ConnectionAddr::Tcp(host, port));
                redis::Client::open(info)?
                    .get_multiplexed_async_connection_with_config(&config)
                    .await
            };
            match owner.await {
                Ok(connection) => return Ok(connection),
                Err(error) => last = Some(error),
            }
        }
        Err(last.unwrap_or_else(|| {
            redis::RedisError::from((redis::ErrorKind::InvalidClientConfig, "no seed nodes"))
        }))
    }
}

impl Cluster {
    /// Keeps every node a `CLUSTER SLOTS` reply names (masters and
    /// replicas), for [`owner_of`](Self::owner_of) to ask when the seeds
    /// do not answer.
    fn remember(&self, ranges: &[redis::Value]) {
        let mut nodes = Vec::new();
        for range in ranges {
            let redis::Value::Array(range) = range else {
                continue;
            };
            for node in range.iter().skip(2) {
                if let redis::Value::Array(node) = node
                    && let Some(address) = node_address(node)
                    && !address.0.is_empty()
                    && !nodes.contains(&address)
                {
                    nodes.push(address);
                }
            }
        }
        if !nodes.is_empty() {
            *self
                .known
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = nodes;
        }
    }
}

/// The master `(host, port)` of the range holding `slot` in a `CLUSTER
/// SLOTS` reply.
fn slot_master(ranges: &[redis::Value], slot: i64) -> Option<(String, u16)> {
    use redis::Value;
    ranges.iter().find_map(|range| {
        let Value::Array(range) = range else {
            return None;
        };
        let (Some(Value::Int(low)), Some(Value::Int(high)), Some(Value::Array(node))) =
            (range.first(), range.get(1), range.get(2))
        else {
            return None;
        };
        if !(*low..=*high).contains(&slot) {
            return None;
        }
        node_address(node)
    })
}

/// A `CLUSTER SLOTS` node entry's `(host, port)`.
fn node_address(node: &[redis::Value]) -> Option<(String, u16)> {
    use redis::Value;
    let host = match node.first()? {
        Value::BulkString(host) => String::from_utf8_lossy(host).into_owned(),
        Value::SimpleString(host) => host.clone(),
        _ => return None,
    };
    let Value::Int(port) = node.get(1)? else {
        return None;
    };
    Some((host, u16::try_from(*port).ok()?))
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The clients hold passwords: name the kind only.
        f.write_str(match self {
            Self::Single(_) => "Target::Single",
            Self::Cluster(_) => "Target::Cluster",
        })
    }
}

/// Reads `url` ([`Target`]); a cluster's connections and answers are
/// bounded by `timeout`.
pub fn target(url: &str, timeout: Duration) -> redis::RedisResult<Target> {
    target_bounded(url, timeout, timeout)
}

/// [`target`] with separate bounds for connecting and for an answer.
fn target_bounded(url: &str, connect: Duration, answer: Duration) -> redis::RedisResult<Target> {
    let Some(nodes) = cluster_nodes(url) else {
        return client(url).map(Target::Single);
    };
    let seeds = nodes
        .iter()
        .map(|node| client(node).map(|c| c.get_connection_info().clone()))
        .collect::<redis::RedisResult<Vec<_>>>()?;
    let client = redis::cluster::ClusterClient::builder(nodes)
        .connection_timeout(connect)
        .response_timeout(answer)
        .tcp_settings(redis::io::tcp::TcpSettings::default().set_nodelay(true))
        .build()?;
    Ok(Target::Cluster(Box::new(Cluster {
        client,
        seeds,
        known: std::sync::Arc::default(),
    })))
}

/// The seed nodes' URLs when `url` names a cluster.
fn cluster_nodes(url: &str) -> Option<Vec<String>> {
    if let Some(rest) = url.strip_prefix("redis+cluster://") {
        // Credentials written once, before the first node, apply to all.
        let (credentials, hosts) = match rest.rsplit_once('@') {
            Some((credentials, hosts)) => (format!("{credentials}@"), hosts),
            None => (String::new(), rest),
        };
        // A `/db` or `?query` after the last node applies to every node
        // (the redis crate wants them the same on all).
        let (hosts, suffix) = match hosts.find(['/', '?']) {
            Some(at) => hosts.split_at(at),
            None => (hosts, ""),
        };
        let nodes = hosts
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .map(|host| format!("redis://{credentials}{host}{suffix}"))
            .collect();
        return Some(nodes);
    }
    url_list(url).map(|parts| parts.into_iter().map(str::to_owned).collect())
}

/// The parts of a comma-separated list of URLs: only when every part is a
/// URL of its own (`<scheme>://...`), so a comma inside one URL (in a
/// password, a query) keeps it one URL.
fn url_list(url: &str) -> Option<Vec<&str>> {
    let is_url = |part: &str| {
        part.split_once("://").is_some_and(|(scheme, _)| {
            !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        })
    };
    let parts: Vec<&str> = url.split(',').map(str::trim).collect();
    (parts.len() > 1 && parts.iter().all(|p| is_url(p))).then_some(parts)
}

/// The shared connection: many small calls from many tasks, pipelined on
/// one multiplexed connection per server (per node on a cluster, where the
/// redis crate's cluster client follows `MOVED`/`ASK` and refreshes the
/// topology). Connects on its first call and reconnects by itself.
#[derive(Clone)]
pub struct Shared(SharedInner);

#[derive(Clone)]
enum SharedInner {
    Single(ConnectionManager),
    Cluster(std::sync::Arc<LazyCluster>),
}

/// A cluster connection made on first use (the cluster client connects
/// eagerly), tried again on the next call when it fails.
struct LazyCluster {
    client: redis::cluster::ClusterClient,
    connection: tokio::sync::OnceCell<redis::cluster_async::ClusterConnection>,
}

impl LazyCluster {
    async fn get(&self) -> redis::RedisResult<redis::cluster_async::ClusterConnection> {
        self.connection
            .get_or_try_init(|| self.client.get_async_connection())
            .await
            .cloned()
    }
}

/// The shared connection to `target`, each attempt and each answer
/// bounded by `timeout` (a cluster's bounds are set on its [`Target`]).
pub fn shared(target: &Target, timeout: Duration) -> redis::RedisResult<Shared> {
    shared_bounded(target, timeout, timeout)
}

fn shared_bounded(
    target: &Target,
    connect: Duration,
    answer: Duration,
) -> redis::RedisResult<Shared> {
    match target {
        Target::Single(client) => {
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(connect))
                .set_response_timeout(Some(answer))
                .set_number_of_retries(2)
                .set_max_delay(Duration::from_secs(1));
            Ok(Shared(SharedInner::Single(
                client.get_connection_manager_lazy(config)?,
            )))
        }
        Target::Cluster(cluster) => Ok(Shared(SharedInner::Cluster(std::sync::Arc::new(
            LazyCluster {
                client: cluster.client.clone(),
                connection: tokio::sync::OnceCell::new(),
            },
        )))),
    }
}

impl redis::aio::ConnectionLike for Shared {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        match &mut self.0 {
            SharedInner::Single(connection) => connection.req_packed_command(cmd),
            SharedInner::Cluster(lazy) => Box::pin(async move {
                let mut connection = lazy.get().await?;
                connection.req_packed_command(cmd).await
            }),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        match &mut self.0 {
            SharedInner::Single(connection) => {
                connection.req_packed_commands(pipeline, offset, count)
            }
            SharedInner::Cluster(lazy) => Box::pin(async move {
                let mut connection = lazy.get().await?;
                connection
                    .req_packed_commands(pipeline, offset, count)
                    .await
            }),
        }
    }

    fn get_db(&self) -> i64 {
        match &self.0 {
            SharedInner::Single(connection) => connection.get_db(),
            SharedInner::Cluster(_) => 0,
        }
    }
}

impl Shared {
    /// Whether this is a cluster's connection.
    pub fn is_cluster(&self) -> bool {
        matches!(self.0, SharedInner::Cluster(_))
    }

    /// Sends `pipeline` as one to the server that holds `key` (on a
    /// cluster, its slot's master), over one connection: its replies.
    pub async fn pipeline_on_master_of(
        &mut self,
        key: &str,
        pipeline: &redis::Pipeline,
    ) -> redis::RedisResult<Vec<redis::Value>> {
        match &mut self.0 {
            SharedInner::Single(connection) => pipeline.query_async(connection).await,
            SharedInner::Cluster(lazy) => {
                use redis::cluster_routing::{Route, SingleNodeRoutingInfo, Slot, SlotAddr};
                let mut connection = lazy.get().await?;
                let route = SingleNodeRoutingInfo::SpecificNode(Route::with_slot(
                    Slot::for_key(key),
                    SlotAddr::Master,
                ));
                let count = pipeline.cmd_iter().count();
                connection
                    .route_pipeline(pipeline.clone(), 0, count, route)
                    .await
            }
        }
    }

    /// Runs `command` on the server that holds `key`: on a cluster, its
    /// slot's master, on the same connection the key's writes used (which
    /// `WAIT` needs), instead of where the command itself would be routed.
    pub async fn on_master_of<T: redis::FromRedisValue>(
        &mut self,
        key: &str,
        command: &redis::Cmd,
    ) -> redis::RedisResult<T> {
        match &mut self.0 {
            SharedInner::Single(connection) => command.query_async(connection).await,
            SharedInner::Cluster(lazy) => {
                use redis::cluster_routing::{
                    Route, RoutingInfo, SingleNodeRoutingInfo, Slot, SlotAddr,
                };
                let mut connection = lazy.get().await?;
                let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(
                    Route::with_slot(Slot::for_key(key), SlotAddr::Master),
                ));
                let reply = connection.route_command(command.clone(), route).await?;
                Ok(redis::from_redis_value(reply)?)
            }
        }
    }

    /// Every key matching `pattern` of type `kind`, by `SCAN` (on a
    /// cluster: on every master, each with its own cursor).
    pub async fn scan(&mut self, pattern: &str, kind: &str) -> redis::RedisResult<Vec<String>> {
        let command = |cursor: u64| {
            let mut command = redis::cmd("SCAN");
            command
                .arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(1000)
                .arg("TYPE")
                .arg(kind);
            command
        };
        let mut found = Vec::new();
        match &mut self.0 {
            SharedInner::Single(connection) => {
                let mut cursor = 0u64;
                loop {
                    let (next, keys): (u64, Vec<String>) =
                        command(cursor).query_async(connection).await?;
                    found.extend(keys);
                    if next == 0 {
                        break;
                    }
                    cursor = next;
                }
            }
            SharedInner::Cluster(lazy) => {
                use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
                let mut connection = lazy.get().await?;
                for (host, port) in masters(&mut connection).await? {
                    let mut cursor = 0u64;
                    loop {
                        let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                            host: host.clone(),
                            port,
                        });
                        let reply = connection.route_command(command(cursor), route).await?;
                        let (next, keys): (u64, Vec<String>) = redis::from_redis_value(reply)?;
                        found.extend(keys);
                        if next == 0 {
                            break;
                        }
                        cursor = next;
                    }
                }
            }
        }
        Ok(found)
    }
}

/// The masters of a cluster, as `CLUSTER SLOTS` names them (the names its
/// client routes by).
async fn masters(
    connection: &mut redis::cluster_async::ClusterConnection,
) -> redis::RedisResult<Vec<(String, u16)>> {
    use redis::Value;
    let reply: Vec<Value> = redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query_async(connection)
        .await?;
    let mut masters = Vec::new();
    for range in reply {
        // [start, end, [host, port, id, ...], replicas...]
        let Value::Array(range) = range else { continue };
        let Some(Value::Array(node)) = range.get(2) else {
            continue;
        };
        if let Some(address) = node_address(node)
            && !masters.contains(&address)
        {
            masters.push(address);
        }
    }
    if masters.is_empty() {
        return Err(redis::RedisError::from((
            redis::ErrorKind::Client,
            "the cluster named no masters",
            "CLUSTER SLOTS answered no slot ranges; is every slot assigned?".to_owned(),
        )));
    }
    Ok(masters)
}

/// A connection for operator commands on `url` (one server or a cluster),
/// checked with `PING`: connecting may take 3 s, an answer 30 s (a long
/// `SCAN`).
pub async fn operator(url: &str) -> redis::RedisResult<Shared> {
    let (connect, answer) = (Duration::from_secs(3), Duration::from_secs(30));
    let mut connection = shared_bounded(&target_bounded(url, connect, answer)?, connect, answer)?;
    let _: redis::Value = redis::cmd("PING").query_async(&mut connection).await?;
    Ok(connection)
}

/// A Redis client for one server's `url` whose connections disable
/// Nagle's algorithm: the ingest and the worker send small commands and
/// wait for each answer, so delayed small packets would add latency to
/// every event.
fn client(url: &str) -> redis::RedisResult<redis::Client> {
    use redis::IntoConnectionInfo as _;
    let info = url.into_connection_info()?;
    let tcp = info.tcp_settings().clone().set_nodelay(true);
    redis::Client::open(info.set_tcp_settings(tcp))
}

/// `url` with any password replaced by `***` (in the user-info part and in
/// a `pass`/`password` query parameter), for logs and errors.
pub fn redact_url(url: &str) -> String {
    match url_list(url) {
        // A list of seed nodes: each URL has its own credentials.
        Some(parts) => parts
            .into_iter()
            .map(redact_one)
            .collect::<Vec<_>>()
            .join(","),
        None => redact_one(url),
    }
}

fn redact_one(url: &str) -> String {
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
    fn cluster_urls_name_every_seed_node_with_shared_credentials() {
        assert_eq!(
            super::cluster_nodes("redis+cluster://u:p@10.0.0.1:7000,10.0.0.2:7001"),
            Some(vec![
                "redis://u:p@10.0.0.1:7000".to_owned(),
                "redis://u:p@10.0.0.2:7001".to_owned()
            ])
        );
        assert_eq!(
            super::cluster_nodes("redis://a:1, redis://b:2"),
            Some(vec!["redis://a:1".to_owned(), "redis://b:2".to_owned()])
        );
        assert_eq!(
            super::cluster_nodes("rediss://a:1,rediss://b:2").map(|n| n.len()),
            Some(2),
            "a list of TLS URLs is a cluster too"
        );
        assert_eq!(
            super::cluster_nodes("redis+cluster://a:1,b:2?protocol=resp3"),
            Some(vec![
                "redis://a:1?protocol=resp3".to_owned(),
                "redis://b:2?protocol=resp3".to_owned()
            ]),
            "a query applies to every node"
        );
        assert_eq!(super::cluster_nodes("redis://a:6379/0"), None);
        assert_eq!(
            super::cluster_nodes("redis://:pa,ss@a:6379"),
            None,
            "a comma in a password is not a list"
        );
        assert!(matches!(
            super::target(
                "redis+cluster://127.0.0.1:7000",
                std::time::Duration::from_secs(1)
            ),
            Ok(super::Target::Cluster(_))
        ));
    }

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

    #[test]
    fn hides_every_password_of_a_cluster_url() {
        assert_eq!(
            redact_url("redis://:s1@a:7000?protocol=resp3,redis://:s2@b:7001"),
            "redis://:***@a:7000?protocol=resp3,redis://:***@b:7001"
        );
        assert_eq!(
            redact_url("redis+cluster://u:s,1@a:7000,b:7001"),
            "redis+cluster://u:***@a:7000,b:7001"
        );
        assert_eq!(
            redact_url("redis://:pa,ss@a:6379"),
            "redis://:***@a:6379",
            "a comma in one URL's password"
        );
    }
}
