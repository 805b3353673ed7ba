//! Compile-fail tests of `#[webhook_handler]`: every error points at the
//! offending token and says what to write instead.
//!
//! The expected compiler output (`tests/ui/fail/*.stderr`) is recorded with
//! the toolchain named below; other compilers word and lay out diagnostics
//! differently. On another toolchain this test fails and says so; set
//! `WEBHOOK_SKIP_UI_TESTS=1` to skip it deliberately, or regenerate the
//! files with `TRYBUILD=overwrite` and review the diff.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

const PINNED_RUSTC: &str = "rustc 1.95.";

#[test]
fn compile_errors_point_at_the_offending_token() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let output = Command::new(&rustc)
        .arg("--version")
        .output()
        .expect("rustc runs");
    let version = String::from_utf8_lossy(&output.stdout).into_owned();
    if !version.starts_with(PINNED_RUSTC) {
        if std::env::var_os("WEBHOOK_SKIP_UI_TESTS").is_some() {
            eprintln!(
                "skipping the UI tests as asked: they are recorded with {PINNED_RUSTC}x, this is {version}"
            );
            return;
        }
        panic!(
            "the UI tests are recorded with {PINNED_RUSTC}x, but this is {version}: run them with that toolchain, \
             set WEBHOOK_SKIP_UI_TESTS=1 to skip them, or regenerate with TRYBUILD=overwrite and review the diff"
        );
    }
    trybuild::TestCases::new().compile_fail("tests/ui/fail/*.rs");
}
