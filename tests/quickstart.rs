//! The README's quickstart as a new user runs it: the quickstart example
//! as its own process, and each `webhook send` line of the README typed
//! into a shell, answered with the status the README says.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use support::child::Watched;
use support::redis_server::RedisServer;

/// The directory `cargo test --workspace` builds binaries and examples in.
fn build_dir() -> PathBuf {
    let mut path = std::env::current_exe().unwrap();
    path.pop();
    if path.ends_with("deps") {
        path.pop();
    }
    path
}

fn built(path: PathBuf) -> PathBuf {
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test --workspace`, which builds the \
         examples and the `webhook` command",
        path.display()
    );
    path
}

/// The `webhook send` lines of the README's quickstart, each with the
/// status its comment promises.
fn readme_sends() -> Vec<(String, u16)> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let quickstart = &readme[readme.find("## Quickstart").unwrap()..];
    let quickstart = &quickstart[..quickstart.find("\n## ").unwrap()];
    let lines: Vec<&str> = quickstart.lines().collect();
    let mut sends = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.starts_with("webhook send ") {
            let status = lines[i + 1]
                .strip_prefix("# ")
                .and_then(|c| c.get(..3))
                .and_then(|c| c.parse().ok())
                .unwrap_or_else(|| panic!("no `# <status>` comment after {line}"));
            sends.push(((*line).to_owned(), status));
        }
    }
    assert!(
        sends.len() >= 4,
        "the quickstart shows its sends: {sends:?}"
    );
    sends
}

/// The quickstart example as its own process.
fn start_quickstart(redis: &RedisServer, listen: &str) -> Watched {
    Watched::spawn(
        Command::new(built(build_dir().join("examples").join("quickstart")))
            .env("REDIS_URL", redis.url())
            .env("WEBHOOK_LISTEN", listen)
            .env_remove("DEMO_WEBHOOK_SECRET")
            .env_remove("RUST_LOG"),
    )
}

/// Runs `line` in a shell from the checkout, with the built `webhook`
/// first on the `PATH`, as the README's `export` line leaves it.
fn shell(line: &str, redis: &RedisServer, listen: &str) -> std::process::Output {
    let bin = built(build_dir().join("webhook"));
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new("sh")
        .arg("-c")
        .arg(line)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("PATH", path)
        .env("REDIS_URL", redis.url())
        .env("WEBHOOK_LISTEN", listen)
        .env("DEMO_WEBHOOK_SECRET", "demo-secret")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn the_readme_quickstart_answers_as_it_says() {
    let redis = RedisServer::start();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let quickstart = start_quickstart(&redis, &listen);
    let printed = quickstart.until("worker starting");
    // It prints `webhook send` lines for its own address.
    assert!(
        printed.contains(&format!(
            "webhook send --config examples/webhooks.toml --source demo --url http://{listen}/webhooks/demo"
        )),
        "{printed}"
    );

    for (line, status) in readme_sends() {
        let out = shell(&line, &redis, &listen);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.starts_with(&format!("{status} ")),
            "{line}\nexpected {status}, got: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.success(), status < 300, "{line}: exit status");
    }

    // The rejected order is a dead letter, as the README says.
    quickstart.until("dead-lettered");
    let out = shell("webhook dlq list --reason rejected", &redis, &listen);
    let list = String::from_utf8_lossy(&out.stdout);
    assert!(
        list.contains("confirm-order") && list.contains("order 0 does not exist"),
        "{list}"
    );
    // And the failing audit has a retry scheduled, visible for seconds.
    quickstart.until("retry scheduled");
    let out = shell("webhook stats --json", &redis, &listen);
    let stats: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        stats[0]["groups"][0]["retries_scheduled"], 1,
        "one retry scheduled: {stats}"
    );
}
