//! A throwaway Redis Cluster per test: masters (and replicas) from
//! `redis-server --cluster-enabled yes` on free ports, joined by `redis-cli
//! --cluster create`, all killed on drop. A missing binary fails the test
//! loudly.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A local cluster, owned by one test.
pub struct RedisCluster {
    nodes: Vec<Option<Child>>,
    ports: Vec<u16>,
    dir: PathBuf,
}

impl RedisCluster {
    /// Starts three masters and waits until the cluster is `ok`.
    pub fn start() -> Self {
        Self::start_with(3)
    }

    /// Starts `masters` masters (at least 3, as `redis-cli --cluster
    /// create` requires) and waits until the cluster is `ok`.
    pub fn start_with(masters: usize) -> Self {
        Self::start_replicated(masters, 0)
    }

    /// Starts `masters` masters with `replicas` replicas each, and waits
    /// until the cluster is `ok` and every replica has synced.
    pub fn start_replicated(masters: usize, replicas: usize) -> Self {
        let ports: Vec<u16> = (0..masters * (1 + replicas)).map(|_| free_port()).collect();
        let dir = std::env::temp_dir().join(format!(
            "webhook-test-cluster-{}-{}",
            std::process::id(),
            ports[0]
        ));
        std::fs::create_dir_all(&dir).expect("create the temp dir of the test cluster");
        let mut cluster = Self {
            nodes: Vec::new(),
            ports: ports.clone(),
            dir,
        };
        for &port in &ports {
            let child = cluster.spawn(port);
            cluster.nodes.push(Some(child));
        }
        for &port in &ports {
            wait_for(&format!("node {port} to answer"), || {
                cli(port, &["PING"]).is_some_and(|out| out.trim() == "PONG")
            });
        }
        let addresses: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let created = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .expect("redis-cli on the PATH (apt-get install redis-tools)");
        assert!(
            created.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&created.stdout),
            String::from_utf8_lossy(&created.stderr)
        );
        for &port in &ports {
            wait_for(&format!("node {port} to see the cluster ok"), || {
                cli(port, &["CLUSTER", "INFO"])
                    .is_some_and(|info| info.contains("cluster_state:ok"))
            });
        }
        if replicas > 0 {
            for &port in &ports {
                wait_for(&format!("node {port} to finish its replication"), || {
                    cli(port, &["INFO", "replication"]).is_some_and(|info| {
                        if info.contains("role:master") {
                            info.contains(&format!("connected_slaves:{replicas}"))
                                && !info.contains("state=wait_bgsave")
                        } else {
                            info.contains("master_link_status:up")
                        }
                    })
                });
            }
        }
        cluster
    }

    /// Kills the node at `port` (SIGKILL), as a crashed host would stop.
    pub fn kill(&mut self, port: u16) {
        let at = self
            .ports
            .iter()
            .position(|&p| p == port)
            .expect("a node's port");
        if let Some(mut child) = self.nodes[at].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the node at `port` again, killed before: with its cluster
    /// config file it rejoins, as a replica when its slots moved on.
    pub fn restart(&mut self, port: u16) {
        self.kill(port);
        let at = self
            .ports
            .iter()
            .position(|&p| p == port)
            .expect("a node's port");
        self.nodes[at] = Some(self.spawn(port));
    }

    fn spawn(&self, port: u16) -> Child {
        Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--cluster-enabled", "yes"])
            .args(["--cluster-config-file", &format!("nodes-{port}.conf")])
            .args(["--cluster-node-timeout", "2000"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server on the PATH (apt-get install redis-server)")
    }

    /// The ports of the nodes still running.
    fn alive(&self) -> impl Iterator<Item = u16> + '_ {
        self.ports
            .iter()
            .zip(&self.nodes)
            .filter(|(_, node)| node.is_some())
            .map(|(&port, _)| port)
    }

    /// The URL the project reads for a cluster: `redis+cluster://` and
    /// every node, comma-separated.
    pub fn url(&self) -> String {
        let nodes: Vec<String> = self
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        format!("redis+cluster://{}", nodes.join(","))
    }

    /// `CONFIG SET name value` on the node at `port`.
    pub fn config_set(&self, port: u16, name: &str, value: &str) {
        let out = cli(port, &["CONFIG", "SET", name, value]);
        assert!(
            out.as_deref().is_some_and(|o| o.trim() == "OK"),
            "CONFIG SET {name} {value} on {port}: {out:?}"
        );
    }

    /// The nodes' ports.
    pub fn ports(&self) -> &[u16] {
        &self.ports
    }

    /// The port of the master that owns `key`'s slot.
    pub fn owner_of(&self, key: &str) -> u16 {
        let any = self.alive().next().expect("a running node");
        let slot: i64 = cli(any, &["CLUSTER", "KEYSLOT", key])
            .and_then(|s| s.trim().parse().ok())
            .expect("CLUSTER KEYSLOT");
        let client = redis::Client::open(format!("redis://127.0.0.1:{any}/")).expect("a URL");
        let mut c = client.get_connection().expect("connect to a node");
        let ranges: Vec<Vec<redis::Value>> = redis::cmd("CLUSTER")
            .arg("SLOTS")
            .query(&mut c)
            .expect("CLUSTER SLOTS");
        for range in ranges {
            let (Some(redis::Value::Int(lo)), Some(redis::Value::Int(hi))) =
                (range.first(), range.get(1))
            else {
                continue;
            };
            if (*lo..=*hi).contains(&slot)
                && let Some(redis::Value::Array(master)) = range.get(2)
                && let Some(redis::Value::Int(port)) = master.get(1)
            {
                return u16::try_from(*port).expect("a port");
            }
        }
        panic!("no node owns the slot of {key}");
    }

    /// A synchronous cluster connection for assertions: each command goes
    /// to the node that owns its key's slot.
    pub fn connection(&self) -> redis::cluster::ClusterConnection {
        let nodes: Vec<String> = self
            .alive()
            .map(|p| format!("redis://127.0.0.1:{p}/"))
            .collect();
        redis::cluster::ClusterClient::new(nodes)
            .and_then(|client| client.get_connection())
            .expect("connect to the test cluster")
    }

    /// A plain connection to the node that owns `key`'s slot (for reading
    /// what a test wrote).
    pub fn connection_for(&self, key: &str) -> redis::Connection {
        redis::Client::open(format!("redis://127.0.0.1:{}/", self.owner_of(key)))
            .expect("the owner's URL")
            .get_connection()
            .expect("connect to the slot's owner")
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for mut node in self.nodes.iter_mut().filter_map(Option::take) {
            let _ = node.kill();
            let _ = node.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    // Cluster nodes also listen on port + 10000 (the cluster bus): keep
    // both free.
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

fn cli(port: u16, args: &[&str]) -> Option<String> {
    let out = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("redis-cli on the PATH (apt-get install redis-tools)");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
