//! Running one handler once: timeout, panics caught, outcome classified.

use std::any::Any;
use std::fmt;
use std::panic::AssertUnwindSafe;

use futures_util::FutureExt as _;

use super::{HandlerContext, Registration, Retry};

/// How one run of a handler ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The handler returned `Ok(())`.
    Succeeded,
    /// The handler failed.
    Failed(Failure),
}

impl Outcome {
    /// Whether the run succeeded.
    pub fn is_success(&self) -> bool {
        matches!(self, Self::Succeeded)
    }

    /// Whether the run failed for good: `HandlerError::reject`, or a body
    /// that did not deserialize. The worker dead-letters it at once.
    pub fn is_rejected(&self) -> bool {
        self.failure().is_some_and(|f| f.retry == Retry::Never)
    }

    /// Whether the run failed and the worker would run it again (after
    /// its backoff, or the delay of `HandlerError::retry_after`), while the
    /// handler's `retries` last: an error from `?`, a panic, a timeout.
    pub fn is_retryable(&self) -> bool {
        self.failure().is_some_and(|f| f.retry.is_retryable())
    }

    /// The failure, if the run failed.
    pub fn failure(&self) -> Option<&Failure> {
        match self {
            Self::Succeeded => None,
            Self::Failed(failure) => Some(failure),
        }
    }
}

/// A failed run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// How it failed.
    pub kind: FailureKind,
    /// Whether and when to run it again.
    pub retry: Retry,
    /// What happened, for logs and dead letters.
    pub message: String,
}

/// How a run failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureKind {
    /// The handler returned an error (including a payload that did not
    /// deserialize, which is a rejection).
    Error,
    /// The handler panicked; retryable.
    Panic,
    /// The handler ran past its timeout and was dropped; retryable.
    Timeout,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Runs `registration` once in `context`, under its timeout, with panics
/// caught: a bad handler fails its own run and nothing else.
pub async fn invoke(registration: &Registration, context: HandlerContext) -> Outcome {
    let timeout = registration.options().timeout;
    // The call itself is inside the caught future too: a hand-written entry
    // point that panics before returning its future fails only this run.
    let run = AssertUnwindSafe(async move { registration.call(context).await }).catch_unwind();
    match tokio::time::timeout(timeout, run).await {
        Ok(Ok(Ok(()))) => Outcome::Succeeded,
        Ok(Ok(Err(error))) => Outcome::Failed(Failure {
            kind: FailureKind::Error,
            retry: error.retry_policy(),
            message: error.to_string(),
        }),
        Ok(Err(panic)) => Outcome::Failed(Failure {
            kind: FailureKind::Panic,
            retry: Retry::Backoff,
            message: format!("the handler panicked: {}", panic_message(&*panic)),
        }),
        Err(_) => Outcome::Failed(Failure {
            kind: FailureKind::Timeout,
            retry: Retry::Backoff,
            message: format!(
                "the handler did not finish within its timeout of {}",
                humantime::format_duration(timeout)
            ),
        }),
    }
}

fn panic_message(panic: &(dyn Any + Send)) -> &str {
    if let Some(text) = panic.downcast_ref::<&'static str>() {
        text
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text
    } else {
        "a panic payload that is not a string"
    }
}
