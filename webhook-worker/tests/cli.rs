//! The `webhook` command's exit codes and messages for the mistakes an
//! operator makes first: a wrong Redis URL, an unknown id, a vague replay.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn webhook(args: &[&str], redis_url: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_webhook"))
        .args(args)
        .env("REDIS_URL", redis_url)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// A throwaway redis-server, killed on drop.
struct Redis(std::process::Child, u16);

impl Redis {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
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
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server on the PATH (apt-get install redis-server)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self(child, port)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.1)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_wrong_redis_url_exits_1_and_says_what_to_check() {
    let out = webhook(&["stats"], "redis://:hunter2@127.0.0.1:1");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("check --redis-url / REDIS_URL"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[test]
fn an_unknown_id_or_a_vague_replay_exits_1_with_what_to_do() {
    let redis = Redis::start();
    let out = webhook(&["dlq", "show", "1-1"], &redis.url());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("there are no queues in this Redis, so no dead letter `1-1`")
    );

    let out = webhook(&["dlq", "replay"], &redis.url());
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("pass --all"));

    let out = webhook(&["dlq", "purge", "--all"], &redis.url());
    assert_eq!(
        out.status.code(),
        Some(0),
        "nothing to purge is not an error"
    );

    let out = webhook(&["stats"], &redis.url());
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("no queues"));

    let out = webhook(&["dlq", "list", "--bogus"], &redis.url());
    assert_eq!(out.status.code(), Some(2), "usage errors exit 2");
}

/// Starts `webhook` with stdout and stderr piped (neither is a terminal).
fn spawn(args: &[&str], redis_url: &str) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_webhook"))
        .args(args)
        .env("REDIS_URL", redis_url)
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn wait(child: &mut std::process::Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("webhook did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `webhook [global flags] ingest` on a config of `settings` plus a `github`
/// source, listening on `listen`, with stderr read up to its "ingest
/// listening" line; killed on drop.
struct RunningIngest {
    child: std::process::Child,
    dir: std::path::PathBuf,
    /// The "ingest listening" log line.
    started: String,
    /// The lines after it, when [`RunningIngest::start_reading`] started it.
    logs: std::sync::Arc<std::sync::Mutex<String>>,
    config: std::path::PathBuf,
}

impl RunningIngest {
    /// Started; its standard error closes once it is up.
    fn start(redis: &Redis, settings: &str, global: &[&str], listen: &str) -> Self {
        Self::launch(redis, settings, global, listen, &[], false)
    }

    /// Started with `env`; its later log lines are read into `logs`.
    fn start_reading(redis: &Redis, global: &[&str], env: &[(&str, &str)]) -> Self {
        Self::launch(redis, "", global, "127.0.0.1:0", env, true)
    }

    fn launch(
        redis: &Redis,
        settings: &str,
        global: &[&str],
        listen: &str,
        env: &[(&str, &str)],
        keep_reading: bool,
    ) -> Self {
        use std::io::{BufRead as _, BufReader};
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("webhook-cli-ingest-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("webhooks.toml");
        std::fs::write(
            &config,
            format!(
                "{settings}\n[sources.github]\nprovider = \"github\"\n\
                 secrets = [{{ env = \"TEST_GITHUB_SECRET\" }}]\n"
            ),
        )
        .unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_webhook"))
            .args(global)
            .args(["ingest", "--config"])
            .arg(&config)
            .env("REDIS_URL", redis.url())
            .env("WEBHOOK_LISTEN", listen)
            .env("TEST_GITHUB_SECRET", "s3cret")
            .env_remove("NO_COLOR")
            .env_remove("RUST_LOG")
            .env_remove("WEBHOOK_LOG_FORMAT")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let started = loop {
            let line = lines.next().expect("the ingest logs").unwrap();
            if line.contains("ingest listening") {
                break line;
            }
        };
        let logs = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        if keep_reading {
            let sink = std::sync::Arc::clone(&logs);
            std::thread::spawn(move || {
                for line in lines.map_while(Result::ok) {
                    let mut logs = sink.lock().unwrap();
                    logs.push_str(&line);
                    logs.push('\n');
                }
            });
        }
        Self {
            child,
            dir,
            started,
            logs,
            config,
        }
    }

    /// The address from the "ingest listening" line (text or JSON).
    fn addr(&self) -> String {
        let line = &self.started;
        let at = match line.find("addr=") {
            Some(at) => at + 5,
            None => {
                line.find(r#""addr":""#)
                    .expect("the address in the start line")
                    + 8
            }
        };
        let rest = &line[at..];
        rest.split([' ', '"', ',']).next().unwrap().to_owned()
    }

    /// Sends `count` signed `push` deliveries with `webhook send`.
    fn send(&self, count: u32) {
        let sent = Command::new(env!("CARGO_BIN_EXE_webhook"))
            .args(["send", "--config"])
            .arg(&self.config)
            .args(["--source", "github", "--type", "push", "--repeat"])
            .arg(count.to_string())
            .args(["--url", &format!("http://{}/webhooks/github", self.addr())])
            .env("TEST_GITHUB_SECRET", "s3cret")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            sent.status.success(),
            "{}",
            String::from_utf8_lossy(&sent.stderr)
        );
    }

    /// Waits until `count` log lines contain `needle`; the log so far.
    fn wait_for_lines(&self, needle: &str, count: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let logs = self.logs.lock().unwrap().clone();
            if logs.lines().filter(|l| l.contains(needle)).count() >= count {
                return logs;
            }
            assert!(
                Instant::now() < deadline,
                "fewer than {count} lines with {needle}:\n{logs}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RunningIngest {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn a_reader_that_goes_away_ends_stats_watch_quietly() {
    use std::io::Read as _;
    let redis = Redis::start();
    let mut child = spawn(&["stats", "--watch", "50ms", "--json"], &redis.url());
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 1];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout); // like `| head -1` exiting
    let status = wait(&mut child);
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "{status:?}: {stderr}");
    assert_eq!(stderr, "", "nothing is said about the closed pipe");
}

#[test]
fn pipes_and_files_get_no_terminal_codes() {
    use std::io::Read as _;
    let redis = Redis::start();

    // `stats --watch` into a pipe: refreshes, no screen clearing.
    let mut child = spawn(&["stats", "--watch", "50ms"], &redis.url());
    let mut stdout = child.stdout.take().unwrap();
    let mut text = vec![0u8; 200];
    stdout.read_exact(&mut text).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let text = String::from_utf8_lossy(&text);
    assert!(text.contains("no queues in this Redis yet"), "{text}");
    assert!(!text.contains('\x1b'), "terminal codes in a pipe: {text:?}");

    // The ingest's log lines on stderr (a pipe): plain text, and not on
    // stdout.
    let mut ingest = RunningIngest::start(&redis, "", &[], "127.0.0.1:0");
    let line = ingest.started.clone();
    let _ = ingest.child.kill();
    let mut stdout = String::new();
    ingest
        .child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    assert_eq!(stdout, "", "log lines on stdout");
    assert!(!line.contains('\x1b'), "colour in a pipe: {line:?}");
}

#[test]
fn sigterm_with_a_stalled_client_ends_the_ingest_within_its_shutdown_timeout() {
    use std::io::Write as _;
    let redis = Redis::start();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // The request may take a minute; shutdown waits one second for it.
    let mut ingest = RunningIngest::start(
        &redis,
        "request_timeout = \"60s\"\nshutdown_timeout = \"1s\"",
        &[],
        &format!("127.0.0.1:{port}"),
    );
    // A client that sends its headers and part of its body, then stalls.
    let mut stalled = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stalled
        .write_all(
            b"POST /webhooks/github HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\
              X-GitHub-Event: push\r\n\r\n{\"a\":",
        )
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let killed = Command::new("kill")
        .args(["-TERM", &ingest.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    // Far below the request's own 60 s: only the shutdown deadline ends it.
    let status = wait(&mut ingest.child);
    assert!(status.success(), "{status:?}");
    drop(stalled);
}

#[test]
fn json_logs_are_one_object_per_line() {
    let redis = Redis::start();
    let ingest = RunningIngest::start(&redis, "", &["--log-format", "json"], "127.0.0.1:0");
    let line = &ingest.started;
    let object: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(object["level"], "INFO", "{line}");
    assert_eq!(object["fields"]["message"], "ingest listening", "{line}");
}

#[test]
fn each_stored_event_gets_one_access_line_in_text_or_json() {
    let redis = Redis::start();
    let text = RunningIngest::start_reading(&redis, &[], &[]);
    // `--repeat` sends the same delivery again, as a provider's retry.
    text.send(3);
    let logs = text.wait_for_lines("outcome=", 3);
    let outcomes: Vec<&str> = logs
        .lines()
        .filter_map(|l| l.split("outcome=").nth(1)?.split(' ').next())
        .collect();
    assert_eq!(
        outcomes,
        ["\"accepted\"", "\"duplicate\"", "\"duplicate\""],
        "{logs}"
    );
    let line = logs.lines().find(|l| l.contains("outcome=")).unwrap();
    // `<time>  INFO <target>: source=github event_id=<id> event_type=push ...`
    let (time, rest) = line.split_once(' ').unwrap();
    assert!(time.ends_with('Z') && time.len() == 27, "{line}");
    assert!(
        rest.starts_with(" INFO webhook_worker::ingest::routes: source=github event_id="),
        "{line}"
    );
    assert!(
        rest.contains(" event_type=push outcome=\"accepted\" latency_us="),
        "{line}"
    );

    let json = RunningIngest::start_reading(&redis, &["--log-format", "json"], &[]);
    json.send(1);
    let logs = json.wait_for_lines(r#""outcome":"accepted""#, 1);
    let line = logs.lines().find(|l| l.contains("outcome")).unwrap();
    let object: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(object["level"], "INFO", "{line}");
    assert_eq!(object["target"], "webhook_worker::ingest::routes", "{line}");
    assert_eq!(object["fields"]["source"], "github", "{line}");
    assert_eq!(object["fields"]["event_type"], "push", "{line}");
    assert!(object["fields"]["latency_us"].is_u64(), "{line}");
}

#[test]
fn rust_log_turns_the_access_lines_off_for_their_module() {
    let redis = Redis::start();
    let ingest = RunningIngest::start_reading(
        &redis,
        &[],
        &[("RUST_LOG", "info,webhook_worker::ingest::routes=warn")],
    );
    ingest.send(2);
    // A line after the sends shows the log is flowing: the ingest's own
    // stop line.
    let killed = Command::new("kill")
        .args(["-TERM", &ingest.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let logs = ingest.wait_for_lines("ingest stopped", 1);
    assert!(!logs.contains("outcome="), "{logs}");
}

#[test]
fn a_closed_stderr_costs_log_lines_not_the_ingest() {
    use std::io::{Read as _, Write as _};
    let redis = Redis::start();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // `start` stops reading stderr once the ingest is up: the log reader
    // has gone away, as when a log pipe's consumer dies.
    let mut ingest = RunningIngest::start(&redis, "", &[], &format!("127.0.0.1:{port}"));
    let exchange = |request: &[u8]| {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.write_all(request).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    };
    // Each of these writes a log line into the closed stderr.
    for _ in 0..3 {
        let answer = exchange(
            b"POST /webhooks/github HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
        );
        assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    }
    let answer = exchange(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let killed = Command::new("kill")
        .args(["-TERM", &ingest.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = wait(&mut ingest.child);
    assert!(status.success(), "the ingest ended with {status:?}");
}

#[test]
fn lines_a_stalled_log_reader_cannot_take_are_dropped_counted_and_reported() {
    use std::io::{BufRead as _, BufReader, Read as _, Write as _};
    use std::sync::{Arc, Mutex, mpsc};
    let redis = Redis::start();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = std::env::temp_dir().join(format!("webhook-cli-drops-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("webhooks.toml");
    std::fs::write(
        &config,
        "[sources.github]\nprovider = \"github\"\nsecrets = [{ env = \"TEST_GITHUB_SECRET\" }]\n",
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_webhook"))
        .args(["ingest", "--config"])
        .arg(&config)
        .env("REDIS_URL", redis.url())
        .env("WEBHOOK_LISTEN", format!("127.0.0.1:{port}"))
        .env("TEST_GITHUB_SECRET", "s3cret")
        .env("WEBHOOK_LOG_BUFFER_BYTES", "4096")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The log reader: reads up to the start line, then stalls until told
    // to go on, as a log collector that fell behind.
    let text = Arc::new(Mutex::new(String::new()));
    let (started_tx, started) = mpsc::channel::<()>();
    let (resume, resumed) = mpsc::channel::<()>();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let sink = Arc::clone(&text);
    std::thread::spawn(move || {
        for line in lines.by_ref() {
            let line = line.unwrap_or_default();
            if line.contains("ingest listening") {
                break;
            }
        }
        let _ = started_tx.send(());
        let _ = resumed.recv();
        for line in lines {
            let Ok(line) = line else { break };
            let mut text = sink.lock().unwrap();
            text.push_str(&line);
            text.push('\n');
        }
    });
    started.recv_timeout(Duration::from_secs(20)).unwrap();

    // Far more lines than the pipe (64 KiB) and the 4 KiB buffer hold.
    let send = Command::new(env!("CARGO_BIN_EXE_webhook"))
        .args(["send", "--config"])
        .arg(&config)
        .args(["--source", "github", "--type", "push", "--repeat", "2000"])
        .args(["--url", &format!("http://127.0.0.1:{port}/webhooks/github")])
        .env("TEST_GITHUB_SECRET", "s3cret")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        send.status.success(),
        "the ingest kept answering: {}",
        String::from_utf8_lossy(&send.stderr)
    );
    resume.send(()).unwrap();

    // Reported within the report interval (10 s), and counted.
    let deadline = Instant::now() + Duration::from_secs(30);
    let report = loop {
        let seen = text.lock().unwrap().clone();
        if let Some(line) = seen.lines().find(|l| l.contains("log lines dropped")) {
            break line.to_owned();
        }
        assert!(Instant::now() < deadline, "no drop report:\n{seen}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let dropped: u64 = report
        .split("dropped=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(dropped > 100, "{report}");
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut metrics = String::new();
    stream.read_to_string(&mut metrics).unwrap();
    let counted: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("webhook_log_lines_dropped_total "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    assert_eq!(counted, dropped, "{metrics}");
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
