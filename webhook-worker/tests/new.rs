//! `webhook new`: the crate it writes builds, its tests pass and its worker
//! lists its handler; the mistakes a user makes first get a clear error.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A directory of its own under the system's temporary directory,
/// removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("webhook-new-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn webhook(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_webhook"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn checkout() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn the_new_crate_builds_passes_its_tests_and_lists_its_handler() {
    let scratch = Scratch::new("app");
    let app = scratch.0.join("shop-worker");
    let out = webhook(&["new", app.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("created shop-worker"), "{stdout}");
    for file in [
        "Cargo.toml",
        "Cargo.lock",
        "src/main.rs",
        "webhooks.toml",
        "event.json",
        "README.md",
        ".gitignore",
    ] {
        assert!(app.join(file).is_file(), "{file} missing");
    }
    let manifest = std::fs::read_to_string(app.join("Cargo.toml")).unwrap();
    assert!(manifest.contains("name = \"shop-worker\""), "{manifest}");
    assert!(manifest.contains("webhook-kit = { path ="), "{manifest}");

    // The ingest accepts the configuration as written, once its secret is set.
    let config = webhook_worker::ingest::IngestConfig::load(&app.join("webhooks.toml")).unwrap();
    config
        .resolve(&|name| (name == "STRIPE_WEBHOOK_SECRET").then(|| "whsec_test".to_owned()))
        .unwrap();

    // Its tests, offline: its Cargo.lock is the framework's, so every
    // crate is already in the local registry. Its own target directory,
    // kept between runs, so only the first build is slow.
    let target = checkout().join("target").join("scaffold-check");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let test = Command::new(&cargo)
        .args(["test", "--offline", "--quiet"])
        .current_dir(&app)
        .env("CARGO_TARGET_DIR", &target)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let test_out = text(&test.stdout);
    assert!(test.status.success(), "{test_out}\n{}", text(&test.stderr));
    assert!(test_out.contains("2 passed"), "{test_out}");

    let fmt = Command::new(&cargo)
        .args(["fmt", "--check"])
        .current_dir(&app)
        .output()
        .unwrap();
    assert!(
        fmt.status.success(),
        "the new crate is formatted: {}",
        text(&fmt.stdout)
    );

    let handlers = Command::new(&cargo)
        .args(["run", "--offline", "--quiet", "--", "handlers"])
        .current_dir(&app)
        .env("CARGO_TARGET_DIR", &target)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(handlers.status.success(), "{}", text(&handlers.stderr));
    let listed = text(&handlers.stdout);
    assert!(
        listed.contains("payment-succeeded  pattern=payment_intent.succeeded"),
        "{listed}"
    );
}

#[test]
fn a_directory_with_files_is_left_alone() {
    let scratch = Scratch::new("busy");
    std::fs::write(scratch.0.join("notes.txt"), "mine").unwrap();
    let out = webhook(&["new", scratch.0.to_str().unwrap(), "--name", "app"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("already exists and is not empty; choose a new directory"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(std::fs::read_dir(&scratch.0).unwrap().count(), 1);
}

#[test]
fn a_bad_name_or_a_wrong_checkout_says_what_to_pass() {
    let scratch = Scratch::new("names");
    let out = webhook(&["new", scratch.0.join("My App").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("is not a valid package name"), "{stderr}");
    assert!(stderr.contains("pass --name"), "{stderr}");

    let out = webhook(&[
        "new",
        scratch.0.join("app").to_str().unwrap(),
        "--path",
        scratch.0.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("is not a checkout of this framework"),
        "{stderr}"
    );
    assert!(!scratch.0.join("app").exists());
}

#[test]
fn a_git_framework_is_written_as_a_git_dependency() {
    let scratch = Scratch::new("git");
    let app = scratch.0.join("app");
    let out = webhook(&[
        "new",
        app.to_str().unwrap(),
        "--git",
        "https://example.com/webhook.git",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let manifest = std::fs::read_to_string(app.join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains(r#"webhook-kit = { git = "https://example.com/webhook.git" }"#),
        "{manifest}"
    );
    assert!(!app.join("Cargo.lock").exists());
}
