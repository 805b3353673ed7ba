//! The benchmark's own `redis-server`.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

/// The benchmark's own `redis-server`.
pub(crate) struct BenchRedis {
    child: Child,
    pub(crate) port: u16,
    dir: std::path::PathBuf,
}

impl BenchRedis {
    pub(crate) fn start(extra: &[&str]) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let dir = std::env::temp_dir().join(format!("webhook-bench-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(["--dir", &dir.display().to_string()])
            .args(extra)
            .stdout(Stdio::null())
            .spawn()
            .context("start redis-server (install it: apt-get install redis-server)")?;
        let redis = Self { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while redis.cli::<String>(&["PING"]).is_err() {
            if Instant::now() > deadline {
                bail!("redis-server did not start on port {port}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(redis)
    }

    /// The server's process id, for its CPU time.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub(crate) fn cli<T: redis::FromRedisValue>(&self, args: &[&str]) -> anyhow::Result<T> {
        let mut connection = redis::Client::open(self.url())?.get_connection()?;
        let mut command = redis::cmd(args[0]);
        for arg in &args[1..] {
            command.arg(*arg);
        }
        Ok(command.query(&mut connection)?)
    }

    /// Entries pending in a group.
    pub(crate) fn pending(&self, stream: &str, group: &str) -> anyhow::Result<u64> {
        let reply: redis::Value = self.cli(&["XPENDING", stream, group])?;
        Ok(match reply {
            redis::Value::Array(items) => match items.first() {
                Some(redis::Value::Int(n)) => u64::try_from(*n).unwrap_or(0),
                _ => 0,
            },
            _ => 0,
        })
    }

    /// Redis's `used_memory`, in bytes.
    pub(crate) fn used_memory(&self) -> anyhow::Result<u64> {
        let info: String = self.cli(&["INFO", "memory"])?;
        info.lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse().ok())
            .context("INFO memory has no used_memory")
    }

    /// Calls per command since the last `CONFIG RESETSTAT`.
    pub(crate) fn command_calls(&self) -> anyhow::Result<std::collections::BTreeMap<String, u64>> {
        let info: String = self.cli(&["INFO", "commandstats"])?;
        Ok(info
            .lines()
            .filter_map(|line| {
                let (name, stats) = line.strip_prefix("cmdstat_")?.split_once(':')?;
                let calls = stats
                    .split(',')
                    .find_map(|s| s.strip_prefix("calls="))?
                    .parse()
                    .ok()?;
                Some((name.to_owned(), calls))
            })
            .collect())
    }

    pub(crate) fn flush(&self) -> anyhow::Result<()> {
        self.cli::<String>(&["FLUSHALL"]).map(|_| ())
    }
}

impl Drop for BenchRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
