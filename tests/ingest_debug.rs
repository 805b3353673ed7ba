//! The `Debug` of the ingest's configuration and settings never shows the
//! Redis password, nor a source's secret.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use webhook::ingest::{IngestConfig, IngestSettings};

const FILE: &str = r#"
redis_url = "redis://user:hunter2@redis.internal:6379/0?password=hunter3"

[sources.github]
provider = "github"
secrets = [{ env = "GITHUB_WEBHOOK_SECRET" }]
"#;

#[test]
fn debug_of_the_config_and_the_settings_hides_credentials() {
    let config = IngestConfig::from_toml(FILE).unwrap();
    let shown = format!("{config:?}");
    assert!(
        !shown.contains("hunter2") && !shown.contains("hunter3"),
        "{shown}"
    );
    assert!(shown.contains("redis.internal"), "{shown}");

    let env = |name: &str| (name == "GITHUB_WEBHOOK_SECRET").then(|| "s3cr3t-value".to_owned());
    let settings: IngestSettings = config.resolve(&env).unwrap();
    for shown in [format!("{settings:?}"), format!("{settings:#?}")] {
        assert!(
            !shown.contains("hunter2") && !shown.contains("hunter3"),
            "{shown}"
        );
        assert!(!shown.contains("s3cr3t-value"), "{shown}");
        assert!(shown.contains("redis.internal"), "{shown}");
    }
}
