//! `webhook send` against the real `webhook ingest` binary and a test
//! redis-server: every provider is accepted once, a repeat is a duplicate,
//! a tampered body is refused; and the mistakes made first get messages
//! that say what to do.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A throwaway redis-server, killed on drop.
struct Redis(Child, u16);

impl Redis {
    fn start() -> Self {
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
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

/// A temp dir with a config file, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(config: &str) -> Self {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("webhook-send-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("webhooks.toml"), config).unwrap();
        Self(dir)
    }

    fn config(&self) -> PathBuf {
        self.0.join("webhooks.toml")
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const STANDARD_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// The Ed25519 public key of the seed `[7; 32]`.
const PUBLIC_KEY: &str = "whpk_6kpsY+KcUgq+9VB7Ey7F+ZVHdq6+vnuSQh7qaRRG0iw=";

/// Every secret the configs name, as the environment gives them.
const SECRETS: [(&str, &str); 7] = [
    ("T_STRIPE", "whsec_stripe_test_secret"),
    ("T_GITHUB", "github-secret"),
    ("T_SLACK", "8f742231b10e8888abcd99yyyzzz85a5"),
    ("T_SHOPIFY", "shopify-secret"),
    ("T_STANDARD", STANDARD_SECRET),
    ("T_PUBLIC", PUBLIC_KEY),
    ("T_DEMO", "demo-secret"),
];

const EVERY_PROVIDER: &str = r#"
[sources.stripe]
provider = "stripe"
secrets = [{ env = "T_STRIPE" }]

[sources.github]
provider = "github"
secrets = [{ env = "T_GITHUB" }]

[sources.slack]
provider = "slack"
secrets = [{ env = "T_SLACK" }]

[sources.shopify]
provider = "shopify"
secrets = [{ env = "T_SHOPIFY" }]

[sources.standard]
provider = "standard-webhooks"
secrets = [{ env = "T_STANDARD" }]

# The public key cannot sign: the signing secret after it is used.
[sources.svix]
provider = "svix"
secrets = [{ env = "T_PUBLIC" }, { env = "T_STANDARD" }]

[sources.demo]
provider = "hmac"
secrets = [{ env = "T_DEMO" }]
signature_header = "X-Signature"
prefix = "sha256="
timestamp_header = "X-Timestamp"
signed_content = "{id}.{timestamp}.{body}"
event_id = { header = "X-Event-Id" }
event_type = { json = "/type" }
"#;

/// `webhook ingest` on `dir`'s config, listening on `port`; killed on drop.
struct Ingest(Child);

impl Ingest {
    fn start(redis: &Redis, dir: &Dir, port: u16) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_webhook"))
            .args(["ingest", "--config"])
            .arg(dir.config())
            .env("REDIS_URL", redis.url())
            .env("WEBHOOK_LISTEN", format!("127.0.0.1:{port}"))
            .envs(SECRETS)
            .env_remove("RUST_LOG")
            .env_remove("WEBHOOK_LOG_FORMAT")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        loop {
            let line = lines.next().expect("the ingest logs").unwrap();
            assert!(!line.contains("ERROR"), "{line}");
            if line.contains("ingest listening") {
                break;
            }
        }
        Self(child)
    }
}

impl Drop for Ingest {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `webhook send --config <config> <args>`, with the secrets in the
/// environment and the ingest's address in `WEBHOOK_LISTEN`.
fn send(config: &Path, port: u16, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_webhook"))
        .args(["send", "--config"])
        .arg(config)
        .args(args)
        .env("WEBHOOK_LISTEN", format!("127.0.0.1:{port}"))
        .envs(SECRETS)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The `(id, type, source)` of every stored event.
fn stored(redis: &Redis) -> Vec<(String, String, String)> {
    let mut connection = redis::Client::open(redis.url())
        .unwrap()
        .get_connection()
        .unwrap();
    type Entry = (String, Vec<(String, Vec<u8>)>);
    let entries: Vec<Entry> = redis::cmd("XRANGE")
        .arg("webhook:{default}:events")
        .arg("-")
        .arg("+")
        .query(&mut connection)
        .unwrap();
    entries
        .into_iter()
        .map(|(_, fields)| {
            let field = |name: &str| {
                fields
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| text(v))
                    .unwrap_or_default()
            };
            (field("id"), field("type"), field("source"))
        })
        .collect()
}

#[test]
fn every_provider_is_accepted_once_and_a_tampered_body_is_refused() {
    let redis = Redis::start();
    let dir = Dir::new(EVERY_PROVIDER);
    let port = free_port();
    let _ingest = Ingest::start(&redis, &dir, port);
    let order = dir.0.join("order.json");
    std::fs::write(&order, r#"{"type":"order.created","order":1}"#).unwrap();
    let order = format!("@{}", order.display());
    let slash = "command=%2Fdeploy&text=prod&trigger_id=13345224609.738474920.8088930838d88f008e0";

    // (source, arguments, the type the ingest stores)
    let cases: [(&str, Vec<&str>, &str); 8] = [
        (
            "stripe",
            vec!["--type", "payment_intent.succeeded"],
            "payment_intent.succeeded",
        ),
        (
            "github",
            vec!["--type", "pull_request.opened", "--data", r#"{"number":7}"#],
            "pull_request.opened",
        ),
        ("slack", vec!["--type", "app_mention"], "app_mention"),
        ("slack", vec!["--data", slash], "slash_command./deploy"),
        (
            "shopify",
            vec!["--type", "orders/create", "--data", r#"{"id":1}"#],
            "orders/create",
        ),
        ("standard", vec!["--type", "invoice.paid"], "invoice.paid"),
        (
            "svix",
            vec!["--type", "invoice.sent", "--id", "msg_given_1"],
            "invoice.sent",
        ),
        ("demo", vec!["--data", &order], "order.created"),
    ];
    for (source, args, event_type) in &cases {
        let mut all = vec!["--source", source, "--repeat", "2"];
        all.extend(args.iter().copied());
        let out = send(&dir.config(), port, &all);
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert_eq!(
            out.status.code(),
            Some(0),
            "{source} {args:?}: {stdout}{stderr}"
        );
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines.len(), 2, "one line per request: {stdout}");
        if args.contains(&slash) {
            // Slack is answered an empty 200 for its forms.
            assert_eq!(lines, ["200 OK", "200 OK"], "{source}");
        } else {
            assert!(lines[0].starts_with(r#"200 OK {"#), "{source}: {stdout}");
            assert!(
                lines[0].contains(r#""status":"accepted""#),
                "{source}: {stdout}"
            );
            assert!(
                lines[1].contains(r#""status":"duplicate""#),
                "{source}: {stdout}"
            );
        }
        assert!(stderr.contains("note: sending"), "{stderr}");
        for (_, secret) in SECRETS {
            assert!(
                !stderr.contains(secret) && !stdout.contains(secret),
                "a secret in the output"
            );
        }
        let events: Vec<_> = stored(&redis)
            .into_iter()
            .filter(|(_, ty, from)| ty == event_type && from == source)
            .collect();
        assert_eq!(
            events.len(),
            1,
            "{source} {event_type}: stored once: {events:?}"
        );

        let mut tampered = vec!["--source", source, "--tamper"];
        tampered.extend(args.iter().copied());
        let out = send(&dir.config(), port, &tampered);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{source}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stdout).starts_with("401 Unauthorized"),
            "{source}: {}",
            text(&out.stdout)
        );
    }

    let events = stored(&redis);
    assert_eq!(events.len(), cases.len(), "{events:?}");
    let id = |source: &str| events.iter().find(|e| e.2 == source).unwrap().0.clone();
    assert!(id("stripe").starts_with("evt_test_"), "{events:?}");
    assert_eq!(id("svix"), "msg_given_1");
}

#[test]
fn mistakes_exit_1_and_say_what_to_do() {
    let dir = Dir::new(
        r#"
[sources.stripe]
provider = "stripe"
secrets = [{ env = "T_STRIPE" }]

[sources.unset]
provider = "github"
secrets = [{ env = "T_NOT_SET_ANYWHERE" }]

[sources.public]
provider = "standard-webhooks"
secrets = [{ env = "T_PUBLIC" }]
"#,
    );
    // Nothing listens on this port.
    let port = free_port();
    let run = |args: &[&str]| {
        let out = send(&dir.config(), port, args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert_eq!(text(&out.stdout), "", "{args:?}");
        for (_, secret) in SECRETS {
            assert!(!stderr.contains(secret), "a secret in: {stderr}");
        }
        stderr
    };

    let stderr = run(&["--source", "strpe"]);
    assert!(
        stderr.contains("has no source `strpe`; its sources are: public, stripe, unset"),
        "{stderr}"
    );

    let stderr = run(&["--source", "unset", "--type", "push"]);
    assert!(stderr.contains("source `unset`: `secrets` item 1 names an environment variable that is not set; export it"), "{stderr}");

    let stderr = run(&["--source", "public", "--type", "a"]);
    assert!(
        stderr.contains("Ed25519 public key (`whpk_`), which can only verify"),
        "{stderr}"
    );
    assert!(
        stderr.contains("add the source's `whsec_` signing secret"),
        "{stderr}"
    );

    let stderr = run(&[
        "--source",
        "stripe",
        "--type",
        "a",
        "--url",
        "https://example.com/webhooks/stripe",
    ]);
    assert!(stderr.contains("plain-HTTP address"), "{stderr}");

    let stderr = run(&[
        "--source",
        "stripe",
        "--type",
        "a",
        "--data",
        r#"{"type":"b"}"#,
    ]);
    assert!(
        stderr.contains("already carries the event type `b`"),
        "{stderr}"
    );

    let stderr = run(&["--source", "stripe"]);
    assert!(stderr.contains("no --type was given"), "{stderr}");

    let stderr = run(&["--source", "stripe", "--type", "a"]);
    assert!(
        stderr.contains(&format!(
            "cannot connect to http://127.0.0.1:{port}/webhooks/stripe"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("Start it with `webhook ingest --config"),
        "{stderr}"
    );

    let out = send(
        &dir.config(),
        port,
        &["--source", "stripe", "--repeat", "0"],
    );
    assert_eq!(out.status.code(), Some(2), "usage errors exit 2");
}
