//! `wrk` as the load generator for the shipped ingest, when it is
//! installed (Debian's package `wrk`): a second, independent generator
//! written in C, so the figures are not only this benchmark's own client.
//!
//! A Lua script gives every request a new `X-GitHub-Delivery` id (the
//! signature covers the body only, so one signed body serves all) and
//! prints the totals and percentiles in one line this module reads.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail};

use crate::Measured;

/// `wrk`'s version line, when it is installed.
pub(crate) fn version() -> Option<String> {
    let output = Command::new("wrk")
        .arg("-v")
        .stdin(Stdio::null())
        .output()
        .ok()?;
    // `wrk -v` prints its version first and exits with 1.
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text.lines().next()?.trim();
    line.starts_with("wrk ")
        .then(|| line.split(" Copyright").next().unwrap_or(line).to_owned())
}

/// The script: each request a new delivery id, and one result line.
fn script(run: &str) -> String {
    let (body, signature) = crate::ingest::signed_body();
    // Lua long strings take the body as it is (it holds no `]]`).
    format!(
        r#"local body = [[{body}]]
local headers = {{
  ["Content-Type"] = "application/json",
  ["X-GitHub-Event"] = "pull_request",
  ["X-Hub-Signature-256"] = "{signature}",
}}
local threads = 0
local counter = 0
function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end
function request()
  counter = counter + 1
  headers["X-GitHub-Delivery"] = string.format("{run}-%d-%d", thread_id, counter)
  return wrk.format("POST", "/webhooks/github", headers, body)
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK-RESULT %d %d %d %d %d %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9),
    e.status + e.connect + e.read + e.write + e.timeout))
end
"#
    )
}

/// Drives `addr` with `wrk` (one thread, `connections` keep-alive
/// connections) for `duration`; the script goes to `dir`.
pub(crate) fn load(
    addr: SocketAddr,
    connections: usize,
    duration: Duration,
    dir: &Path,
) -> anyhow::Result<Measured> {
    let run = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    );
    let path = dir.join(format!("wrk-{run}.lua"));
    std::fs::write(&path, script(&run)).with_context(|| format!("write {}", path.display()))?;
    let output = Command::new("wrk")
        .args(["-t1", &format!("-c{connections}")])
        .arg(format!("-d{}s", duration.as_secs().max(1)))
        .arg("-s")
        .arg(&path)
        .arg(format!("http://{addr}"))
        .stdin(Stdio::null())
        .output()
        .context("run wrk")?;
    let _ = std::fs::remove_file(&path);
    let text = String::from_utf8_lossy(&output.stdout);
    let Some(line) = text.lines().find_map(|l| l.strip_prefix("WRK-RESULT ")) else {
        bail!(
            "wrk printed no result (exit {}): {}{}",
            output.status,
            text,
            String::from_utf8_lossy(&output.stderr)
        );
    };
    parse(line)
}

/// `requests duration_us p50_us p99_us p999_us errors`.
fn parse(line: &str) -> anyhow::Result<Measured> {
    let numbers: Vec<f64> = line
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .with_context(|| format!("wrk's result line `{line}`"))?;
    let &[requests, duration_us, p50, p99, p999, errors] = numbers.as_slice() else {
        bail!("wrk's result line `{line}` does not have six numbers");
    };
    let elapsed_secs = duration_us / 1e6;
    Ok(Measured {
        elapsed_secs,
        requests_per_sec: if elapsed_secs > 0.0 {
            requests / elapsed_secs
        } else {
            0.0
        },
        p50_ms: p50 / 1e3,
        p99_ms: p99 / 1e3,
        p999_ms: p999 / 1e3,
        errors: errors as u64,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_the_result_line() {
        let m = super::parse("175814 5099937 1290 3116 6929 2").unwrap_or_else(|e| panic!("{e}"));
        assert!((m.requests_per_sec - 34473.7).abs() < 1.0);
        assert!((m.p99_ms - 3.116).abs() < 1e-9);
        assert_eq!(m.errors, 2);
        assert!(super::parse("1 2 3").is_err());
    }
}
