//! The macro, the registry, extractors, errors and the test harness, end to
//! end in one binary (plus a second crate of handlers).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Mutex;
use std::time::Duration;

use serde::Deserialize;
use webhook::handler::{FailureKind, Outcome, Registry, RegistryError, Retry};
use webhook::prelude::*;

// Linked only if referenced: this is how an application pulls in handlers
// that live in another crate.
use webhook_test_handlers as _;

static CALLS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn calls_for(id: &str) -> Vec<String> {
    CALLS
        .lock()
        .unwrap()
        .iter()
        .filter(|c| c.ends_with(id))
        .cloned()
        .collect()
}

mod payments {
    use super::*;

    #[derive(Debug, Deserialize)]
    pub(crate) struct Charge {
        pub(crate) amount: i64,
        pub(crate) currency: String,
    }

    #[webhook_handler(
        "registry.charge.succeeded",
        retries = 3,
        backoff = "2s..1m",
        timeout = "5s",
        queue = "payments"
    )]
    pub(crate) async fn charge_succeeded(event: Event<Charge>) -> Result<(), HandlerError> {
        CALLS.lock().unwrap().push(format!(
            "charge_succeeded {} {}",
            event.currency,
            event.id()
        ));
        if event.amount < 0 {
            return Err(HandlerError::reject("negative amount"));
        }
        Ok(())
    }

    #[webhook_handler("registry.charge.*", name = "charge-audit")]
    pub(crate) async fn charge_audit(event: Event<serde_json::Value>) -> Result<(), HandlerError> {
        CALLS
            .lock()
            .unwrap()
            .push(format!("charge_audit {}", event.id()));
        Ok(())
    }
}

mod everything {
    use super::*;

    #[webhook_handler("*")]
    pub(crate) async fn log_all(
        event: Event<RawBody>,
        key: IdempotencyKey,
    ) -> Result<(), HandlerError> {
        assert_eq!(
            &*key,
            format!(
                "{}/{}::log_all/{}",
                event.source(),
                module_path!(),
                event.id()
            )
        );
        CALLS
            .lock()
            .unwrap()
            .push(format!("log_all {}", event.id()));
        Ok(())
    }

    #[webhook_handler("registry.*")]
    pub(crate) async fn registry_prefix(
        _event: Event<serde_json::Value>,
    ) -> Result<(), HandlerError> {
        Ok(())
    }
}

struct Settings {
    currency: &'static str,
}

#[webhook_handler("registry.stateful")]
async fn stateful(
    event: Event<serde_json::Value>,
    settings: State<Settings>,
) -> Result<(), HandlerError> {
    CALLS
        .lock()
        .unwrap()
        .push(format!("stateful {} {}", settings.currency, event.id()));
    Ok(())
}

#[webhook_handler("registry.fanout")]
async fn fanout_here(_event: Event<serde_json::Value>) -> Result<(), HandlerError> {
    Ok(())
}

#[webhook_handler("registry.fail.retry")]
async fn fails_with_io(_event: Event<serde_json::Value>) -> Result<(), HandlerError> {
    let error = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "database down");
    Err(error)?
}

#[webhook_handler("registry.fail.later")]
async fn rate_limited(_event: Event<serde_json::Value>) -> Result<(), HandlerError> {
    Err(HandlerError::retry_after(
        Duration::from_secs(42),
        "rate limited downstream",
    ))
}

#[webhook_handler("registry.fail.panic")]
async fn panics(_event: Event<serde_json::Value>) -> Result<(), HandlerError> {
    panic!("handler bug");
}

#[webhook_handler("registry.fail.slow", timeout = "50ms")]
async fn too_slow(_event: Event<serde_json::Value>) -> Result<(), HandlerError> {
    tokio::time::sleep(Duration::from_secs(30)).await;
    Ok(())
}

// A handler written by a user's own macro: the expansion's names must not
// collide with, or be hidden from, the macro's hygiene.
macro_rules! counting_handler {
    ($name:ident, $pattern:literal) => {
        #[webhook_handler($pattern)]
        async fn $name(event: Event<serde_json::Value>) -> Result<(), HandlerError> {
            CALLS
                .lock()
                .unwrap()
                .push(format!("{} {}", stringify!($name), event.id()));
            Ok(())
        }
    };
}

counting_handler!(from_macro_rules, "registry.generated");

fn harness() -> TestHarness {
    TestHarness::new()
        .unwrap()
        .state(Settings { currency: "eur" })
}

fn envelope(event_type: &str, id: &str, body: &str) -> Envelope {
    Envelope::new(id, event_type, "test", body.as_bytes().to_vec())
}

#[test]
fn handlers_from_two_modules_and_another_crate_are_all_found() {
    let registry = Registry::collect().unwrap();
    let names: Vec<&str> = registry.handlers().iter().map(|h| h.name()).collect();
    for expected in [
        "handlers::payments::charge_succeeded",
        "charge-audit",
        "handlers::everything::log_all",
        "handlers::stateful",
        "webhook_test_handlers::from_another_crate",
    ] {
        assert!(names.contains(&expected), "{expected} not in {names:?}");
    }
    let charge = registry
        .get("handlers::payments::charge_succeeded")
        .unwrap();
    assert_eq!(charge.pattern(), "registry.charge.succeeded");
    assert_eq!(charge.queue(), "payments");
    assert_eq!(charge.options().retries, 3);
    assert_eq!(charge.options().backoff.base, Duration::from_secs(2));
    assert_eq!(charge.options().backoff.cap, Duration::from_secs(60));
    assert_eq!(charge.options().timeout, Duration::from_secs(5));
    assert!(
        charge.location().starts_with("tests/handlers.rs:"),
        "{}",
        charge.location()
    );
    let audit = registry.get("charge-audit").unwrap();
    assert_eq!(audit.queue(), "default");
    assert_eq!(audit.options(), webhook::handler::HandlerOptions::DEFAULT);
}

#[test]
fn dispatch_orders_exact_then_longest_prefix_then_any() {
    let registry = Registry::collect().unwrap();
    let names =
        |t: &str| -> Vec<&str> { registry.handlers_for(t).iter().map(|h| h.name()).collect() };
    assert_eq!(
        names("registry.charge.succeeded"),
        [
            "handlers::payments::charge_succeeded",
            "charge-audit",
            "handlers::everything::registry_prefix",
            "handlers::everything::log_all"
        ]
    );
    assert_eq!(
        names("registry.charge.refunded"),
        [
            "charge-audit",
            "handlers::everything::registry_prefix",
            "handlers::everything::log_all"
        ]
    );
    assert_eq!(names("registry"), ["handlers::everything::log_all"]);
    assert_eq!(names("unrelated.type"), ["handlers::everything::log_all"]);
    let fanout = names("registry.fanout");
    assert!(
        fanout.contains(&"handlers::fanout_here")
            && fanout.contains(&"webhook_test_handlers::from_another_crate"),
        "{fanout:?}"
    );
}

#[test]
fn a_queue_sees_only_its_handlers() {
    let payments = Registry::collect().unwrap().for_queue("payments");
    let names: Vec<&str> = payments.handlers().iter().map(|h| h.name()).collect();
    assert_eq!(names, ["handlers::payments::charge_succeeded"]);
    assert!(payments.handlers_for("unrelated").is_empty());
}

#[tokio::test]
async fn the_harness_fans_out_to_every_matching_handler() {
    let delivery = harness()
        .deliver(envelope(
            "registry.charge.succeeded",
            "evt-fanout",
            r#"{"amount": 5, "currency": "usd"}"#,
        ))
        .await;
    assert!(delivery.all_succeeded(), "{delivery:?}");
    assert_eq!(delivery.handlers().len(), 4);
    let mut calls = calls_for("evt-fanout");
    calls.sort();
    assert_eq!(
        calls,
        [
            "charge_audit evt-fanout",
            "charge_succeeded usd evt-fanout",
            "log_all evt-fanout"
        ]
    );
}

#[tokio::test]
async fn a_payload_that_does_not_fit_is_rejected_with_the_field_path() {
    let delivery = harness()
        .deliver(envelope(
            "registry.charge.succeeded",
            "evt-badpayload",
            r#"{"amount": "five", "currency": "usd"}"#,
        ))
        .await;
    let failure = delivery
        .outcome("charge_succeeded")
        .unwrap()
        .failure()
        .unwrap();
    assert_eq!(failure.kind, FailureKind::Error);
    assert_eq!(failure.retry, Retry::Never);
    assert!(
        failure.message.contains("at `amount`"),
        "{}",
        failure.message
    );
    assert!(
        failure.message.contains("expected i64"),
        "{}",
        failure.message
    );
    // The handler was not called; the others were.
    assert!(
        calls_for("evt-badpayload")
            .iter()
            .all(|c| !c.starts_with("charge_succeeded"))
    );
    assert!(delivery.outcome("charge-audit").unwrap().is_success());

    let not_json = harness()
        .deliver(envelope(
            "registry.charge.succeeded",
            "evt-notjson",
            "amount=5",
        ))
        .await;
    let failure = not_json
        .outcome("charge_succeeded")
        .unwrap()
        .failure()
        .unwrap();
    assert_eq!(failure.retry, Retry::Never);
    // RawBody takes any bytes.
    assert!(not_json.outcome("log_all").unwrap().is_success());
}

#[tokio::test]
async fn errors_panics_and_timeouts_become_failures_of_that_handler_only() {
    let h = harness();
    let run = |t: &'static str| {
        let h = &h;
        async move { h.deliver(envelope(t, "evt-fail", "{}")).await }
    };

    let io = run("registry.fail.retry").await;
    let failure = io
        .outcome("fails_with_io")
        .unwrap()
        .failure()
        .unwrap()
        .clone();
    assert_eq!(
        (failure.kind, failure.retry),
        (FailureKind::Error, Retry::Backoff)
    );
    assert_eq!(failure.message, "database down");
    let outcome = io.outcome("fails_with_io").unwrap();
    assert!(outcome.is_retryable() && !outcome.is_rejected());

    let later = run("registry.fail.later").await;
    let failure = later
        .outcome("rate_limited")
        .unwrap()
        .failure()
        .unwrap()
        .clone();
    assert_eq!(failure.retry, Retry::After(Duration::from_secs(42)));

    let panicked = run("registry.fail.panic").await;
    let failure = panicked
        .outcome("panics")
        .unwrap()
        .failure()
        .unwrap()
        .clone();
    assert_eq!(
        (failure.kind, failure.retry),
        (FailureKind::Panic, Retry::Backoff)
    );
    assert!(
        failure.message.contains("handler bug"),
        "{}",
        failure.message
    );
    assert!(
        panicked.outcome("log_all").unwrap().is_success(),
        "other handlers still ran"
    );

    let slow = run("registry.fail.slow").await;
    let failure = slow.outcome("too_slow").unwrap().failure().unwrap().clone();
    assert_eq!(
        (failure.kind, failure.retry),
        (FailureKind::Timeout, Retry::Backoff)
    );
    assert!(failure.message.contains("50ms"), "{}", failure.message);

    let rejected = h
        .deliver(envelope(
            "registry.charge.succeeded",
            "evt-neg",
            r#"{"amount": -1, "currency": "eur"}"#,
        ))
        .await;
    let failure = rejected
        .outcome("charge_succeeded")
        .unwrap()
        .failure()
        .unwrap()
        .clone();
    assert_eq!(
        (failure.kind, failure.retry),
        (FailureKind::Error, Retry::Never)
    );
    let outcome = rejected.outcome("charge_succeeded").unwrap();
    assert!(outcome.is_rejected() && !outcome.is_retryable());
    assert!(!Outcome::Succeeded.is_rejected() && !Outcome::Succeeded.is_retryable());
}

#[webhook_handler("registry.sees.context")]
async fn sees_context(
    event: Event<serde_json::Value>,
    key: IdempotencyKey,
) -> Result<(), HandlerError> {
    CALLS.lock().unwrap().push(format!(
        "context {} {} {:?} {}",
        &*key,
        event.attempt(),
        event.header("stripe-account"),
        event.id()
    ));
    Ok(())
}

/// What the README's harness section shows: a fixed id, headers and a
/// later attempt reach the handler as given.
#[tokio::test]
async fn a_test_delivery_carries_a_fixed_id_headers_and_an_attempt() {
    let envelope = Envelope::new("evt-ctx", "registry.sees.context", "stripe", &b"{}"[..])
        .with_headers(std::collections::BTreeMap::from([(
            "stripe-account".to_owned(),
            "acct_1".to_owned(),
        )]))
        .with_attempt(3);
    let delivery = harness().deliver(envelope).await;
    assert!(delivery.outcome("sees_context").unwrap().is_success());
    assert_eq!(
        calls_for("evt-ctx"),
        [
            r#"context stripe/handlers::sees_context/evt-ctx 3 Some("acct_1") evt-ctx"#,
            "log_all evt-ctx"
        ]
    );
}

#[tokio::test]
async fn state_is_handed_to_handlers_and_missing_state_is_a_start_up_error() {
    let delivery = harness()
        .deliver(envelope("registry.stateful", "evt-state", "{}"))
        .await;
    assert!(delivery.all_succeeded(), "{delivery:?}");
    assert!(calls_for("evt-state").contains(&"stateful eur evt-state".to_owned()));

    let bare = TestHarness::new().unwrap();
    let error = bare.check().unwrap_err();
    assert!(
        matches!(&error, RegistryError::MissingState { handler: "handlers::stateful", type_name, .. } if type_name.ends_with("Settings")),
        "{error}"
    );
    assert!(
        error.to_string().contains("add it with `.state(...)`"),
        "{error}"
    );
    // Without the check, the run fails clearly (and retryably) instead of panicking.
    let delivery = bare
        .deliver(envelope("registry.stateful", "evt-nostate", "{}"))
        .await;
    let failure = delivery.outcome("stateful").unwrap().failure().unwrap();
    assert_eq!(failure.retry, Retry::Backoff);
    assert!(failure.message.contains("Settings"), "{}", failure.message);
}

#[tokio::test]
async fn a_handler_written_by_macro_rules_runs() {
    let delivery = harness()
        .deliver(envelope("registry.generated", "evt-macro", "{}"))
        .await;
    assert!(
        delivery.outcome("from_macro_rules").unwrap().is_success(),
        "{delivery:?}"
    );
    assert!(calls_for("evt-macro").contains(&"from_macro_rules evt-macro".to_owned()));
}

#[tokio::test]
async fn a_handler_is_still_a_plain_function() {
    let event = Event::from_envelope(std::sync::Arc::new(envelope(
        "registry.charge.succeeded",
        "evt-direct",
        r#"{"amount": 1, "currency": "chf"}"#,
    )))
    .unwrap();
    payments::charge_succeeded(event).await.unwrap();
    assert_eq!(calls_for("evt-direct"), ["charge_succeeded chf evt-direct"]);
}

#[test]
fn two_handlers_with_one_name_are_a_start_up_error() {
    use webhook::handler::{BoxFuture, HandlerContext, HandlerOptions, Registration};
    fn entry(_: HandlerContext) -> BoxFuture<'static, Result<(), HandlerError>> {
        Box::pin(async { Ok(()) })
    }
    static FIRST: Registration = Registration::new(
        "a",
        "same",
        "default",
        HandlerOptions::DEFAULT,
        &[],
        entry,
        "src/a.rs:1",
    );
    static SECOND: Registration = Registration::new(
        "b",
        "same",
        "default",
        HandlerOptions::DEFAULT,
        &[],
        entry,
        "src/b.rs:2",
    );
    let error = Registry::from_registrations([&FIRST, &SECOND]).unwrap_err();
    assert_eq!(
        error.to_string(),
        "two handlers are named `same` (src/a.rs:1 and src/b.rs:2); give one of them another `name = \"...\"`"
    );

    static BAD: Registration = Registration::new(
        "a*",
        "bad",
        "default",
        HandlerOptions::DEFAULT,
        &[],
        entry,
        "src/c.rs:3",
    );
    assert!(matches!(
        Registry::from_registrations([&BAD]),
        Err(RegistryError::InvalidPattern { .. })
    ));
}

#[test]
fn handler_names_with_a_separator_are_refused() {
    use webhook::handler::{BoxFuture, HandlerContext, HandlerOptions, Registration};
    fn entry(_: HandlerContext) -> BoxFuture<'static, Result<(), HandlerError>> {
        Box::pin(async { Ok(()) })
    }
    static SLASHED: Registration = Registration::new(
        "a",
        "a/b",
        "default",
        HandlerOptions::DEFAULT,
        &[],
        entry,
        "src/d.rs:4",
    );
    assert!(matches!(
        Registry::from_registrations([&SLASHED]),
        Err(RegistryError::InvalidName { name: "a/b", .. })
    ));
}

mod backoff {
    use std::time::Duration;

    use proptest::prelude::*;
    use webhook::handler::Backoff;

    proptest! {
        #[test]
        fn delays_grow_stay_capped_and_jitter_within_the_upper_half(
            base_ms in 1u64..10_000,
            cap_factor in 1u64..10_000,
            retry in 1u32..200,
            jitter in 0.0f64..1.0,
        ) {
            let backoff = Backoff::new(Duration::from_millis(base_ms), Duration::from_millis(base_ms * cap_factor));
            let nominal = |retry: u32| backoff.delay(retry, 1.0);
            let delay = backoff.delay(retry, jitter);
            prop_assert!(delay >= nominal(retry) / 2 && delay <= nominal(retry));
            prop_assert!(nominal(retry) <= backoff.cap);
            prop_assert!(nominal(retry + 1) >= nominal(retry));
            if retry < 10 {
                let exact = Duration::from_millis(base_ms) * 2u32.pow(retry - 1);
                prop_assert_eq!(nominal(retry), exact.min(backoff.cap));
            }
        }
    }

    #[test]
    fn a_jitter_that_is_not_a_number_does_not_panic() {
        let backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        assert_eq!(backoff.delay(2, f64::NAN), Duration::from_secs(1));
        assert_eq!(backoff.delay(2, f64::INFINITY), Duration::from_secs(1));
        assert_eq!(backoff.delay(u32::MAX, 0.0), Duration::from_secs(30));
        assert_eq!(backoff.delay(0, 0.0), Duration::from_millis(500));
    }
}
