//! The ingest's configuration file: defaults, overrides and refusals.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use webhook::ingest::{DEFAULT_LISTEN, DEFAULT_REDIS_URL, IngestConfig, IngestSettings};

const GITHUB: &str = "[sources.github]\nprovider = \"github\"\nsecrets = [{ env = \"GH\" }]\n";

fn resolve(text: &str, overrides: &[(&str, &str)]) -> Result<IngestSettings, String> {
    let env = |name: &str| {
        if name == "GH" {
            return Some("secret".to_owned());
        }
        overrides
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    };
    IngestConfig::from_toml(text)
        .and_then(|c| c.resolve(&env))
        .map_err(|e| e.to_string())
}

#[test]
fn defaults_apply_and_the_environment_overrides_the_file() {
    let settings = resolve(GITHUB, &[]).unwrap();
    assert_eq!(settings.redis_url, DEFAULT_REDIS_URL);
    assert_eq!(settings.listen, DEFAULT_LISTEN);
    assert_eq!(settings.max_body_bytes, 1024 * 1024);
    assert_eq!(settings.dedupe_ttl, Duration::from_secs(3 * 86_400));
    assert_eq!(
        settings.wait_replicas, 0,
        "no waiting for replicas by default"
    );

    let text = format!(
        "redis_url = \"redis://file:6379\"\nlisten = \"127.0.0.1:9000\"\nmax_backlog = 10\nwait_replicas = 2\n{GITHUB}"
    );
    let settings = resolve(&text, &[]).unwrap();
    assert_eq!(
        (
            settings.redis_url.as_str(),
            settings.listen.port(),
            settings.max_backlog,
            settings.wait_replicas
        ),
        ("redis://file:6379", 9000, 10, 2)
    );

    let settings = resolve(
        &text,
        &[
            ("REDIS_URL", "redis://env:6380"),
            ("WEBHOOK_LISTEN", "0.0.0.0:7000"),
        ],
    )
    .unwrap();
    assert_eq!(
        (settings.redis_url.as_str(), settings.listen.port()),
        ("redis://env:6380", 7000)
    );
}

#[test]
fn bad_settings_are_refused_with_what_to_change() {
    type Case<'a> = (String, &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case<'_>] = &[
        (String::new(), &[], "invalid configuration at `sources`: no source is configured"),
        (GITHUB.to_owned(), &[("WEBHOOK_LISTEN", "everywhere")], "invalid configuration at `WEBHOOK_LISTEN`"),
        (format!("redis_url = \"http://x\"\n{GITHUB}"), &[], "invalid configuration at `redis_url`"),
        (format!("dedupe_ttl = \"500ms\"\n{GITHUB}"), &[], "invalid configuration at `dedupe_ttl`: must be at least 1s"),
        (format!("retry_after = \"0s\"\n{GITHUB}"), &[], "invalid configuration at `retry_after`: must be longer than zero"),
        (format!("listen = 8080\n{GITHUB}"), &[], "invalid configuration at `listen`"),
        (format!("{GITHUB}[queues.default]\npartitions = 0\n"), &[], "invalid configuration at `queues.default.partitions`: must be 1 to 1024"),
        (format!("{GITHUB}[queues.orders]\npartitions = 4\n"), &[], "invalid configuration at `queues.orders`: no source stores in this queue"),
        (format!("colour = \"red\"\n{GITHUB}"), &[], "invalid configuration at `...`: line 1, column 1: unknown field `...`, expected one of `redis_url`"),
        (
            "dedupe_ttl = \"10m\"\n[sources.stripe]\nprovider = \"stripe\"\nsecrets = [{ env = \"GH\" }]\ntolerance = \"10m\"\n".to_owned(),
            &[],
            "invalid configuration at `sources.stripe.tolerance`: must be shorter than `dedupe_ttl`",
        ),
    ];
    for (text, overrides, expected) in cases {
        let message = resolve(text, overrides).unwrap_err();
        assert!(
            message.starts_with(expected),
            "\n got: {message}\nwant: {expected}"
        );
    }
}

#[test]
fn a_queue_may_be_partitioned() {
    let settings = resolve(&format!("{GITHUB}[queues.default]\npartitions = 6\n"), &[]).unwrap();
    assert_eq!(
        settings.partitions,
        std::collections::BTreeMap::from([("default".to_owned(), 6)])
    );
    assert!(resolve(GITHUB, &[]).unwrap().partitions.is_empty());
}

#[test]
fn a_cluster_url_is_a_redis_url() {
    let cluster = "redis+cluster://:pw@10.0.0.1:7000,10.0.0.2:7000";
    let settings = resolve(&format!("redis_url = \"{cluster}\"\n{GITHUB}"), &[]).unwrap();
    assert_eq!(settings.redis_url, cluster);
    let settings = resolve(GITHUB, &[("REDIS_URL", "redis://a:1,redis://b:2")]).unwrap();
    assert_eq!(settings.redis_url, "redis://a:1,redis://b:2");
}

#[test]
fn a_password_in_the_redis_url_is_never_shown() {
    let message =
        resolve(&format!("redis_url = \"http://:hunter2@x\"\n{GITHUB}"), &[]).unwrap_err();
    assert!(!message.contains("hunter2"), "{message}");
}

#[test]
fn the_example_configuration_is_valid() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/webhooks.toml"
    ))
    .unwrap();
    let env = |name: &str| name.ends_with("_SECRET").then(|| format!("{name}-value"));
    let settings = IngestConfig::from_toml(&text)
        .unwrap()
        .resolve(&env)
        .unwrap();
    let names: Vec<&str> = settings.sources.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["demo", "github", "stripe"]);
}
