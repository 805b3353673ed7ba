//! What `#[webhook_handler]` registers: a pattern, a name, options and an
//! entry point.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use super::{HandlerContext, HandlerError, Requirement};

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The type-erased entry point of a handler: builds its parameters from the
/// context and runs it.
pub type HandlerFn = fn(HandlerContext) -> BoxFuture<'static, Result<(), HandlerError>>;

/// Per-handler options, set on the macro.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HandlerOptions {
    /// How many times a failed run is retried before the event is
    /// dead-lettered (so at most `retries + 1` runs).
    pub retries: u32,
    /// The delay between retries.
    pub backoff: Backoff,
    /// How long one run may take before it counts as a (retryable) failure.
    pub timeout: Duration,
}

impl HandlerOptions {
    /// The defaults: 8 retries, backoff from 1 s up to 10 min, 30 s timeout.
    pub const DEFAULT: Self = Self {
        retries: 8,
        backoff: Backoff {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(600),
        },
        timeout: Duration::from_secs(30),
    };

    /// Options with these values.
    pub const fn new(retries: u32, backoff: Backoff, timeout: Duration) -> Self {
        Self {
            retries,
            backoff,
            timeout,
        }
    }
}

impl Default for HandlerOptions {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Exponential backoff with jitter and a cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The delay before the first retry (before jitter).
    pub base: Duration,
    /// The longest delay.
    pub cap: Duration,
}

impl Backoff {
    /// A backoff from `base` doubling up to `cap`.
    pub const fn new(base: Duration, cap: Duration) -> Self {
        Self { base, cap }
    }

    /// The delay before retry number `retry` (from 1): `base * 2^(retry-1)`,
    /// capped, of which the upper half is scaled by `jitter` (a random number
    /// in `[0, 1)`), so retries of many events spread out without ever
    /// coming sooner than half the nominal delay.
    ///
    /// ```
    /// use std::time::Duration;
    /// use webhook_core::handler::Backoff;
    ///
    /// let backoff = Backoff::new(Duration::from_secs(2), Duration::from_secs(60));
    /// assert_eq!(backoff.delay(1, 0.0), Duration::from_secs(1));
    /// assert_eq!(backoff.delay(3, 0.5), Duration::from_secs(6));
    /// assert_eq!(backoff.delay(30, 0.0), Duration::from_secs(30));
    /// ```
    pub fn delay(&self, retry: u32, jitter: f64) -> Duration {
        let nominal = 2u32
            .checked_pow(retry.saturating_sub(1))
            .and_then(|factor| self.base.checked_mul(factor))
            .map_or(self.cap, |delay| delay.min(self.cap));
        let half = nominal / 2;
        let jitter = if jitter.is_finite() {
            jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        half + half.mul_f64(jitter)
    }
}

/// One handler, as registered by `#[webhook_handler]`.
///
/// Built by the macro in a `const` context (`inventory` requires it); use
/// the accessors to read it.
pub struct Registration {
    pattern: &'static str,
    name: &'static str,
    queue: &'static str,
    options: HandlerOptions,
    requires: &'static [Option<Requirement>],
    call: HandlerFn,
    location: &'static str,
}

inventory::collect!(Registration);

impl Registration {
    /// A registration; the macro calls this.
    #[allow(clippy::too_many_arguments)]
    pub const fn new(
        pattern: &'static str,
        name: &'static str,
        queue: &'static str,
        options: HandlerOptions,
        requires: &'static [Option<Requirement>],
        call: HandlerFn,
        location: &'static str,
    ) -> Self {
        Self {
            pattern,
            name,
            queue,
            options,
            requires,
            call,
            location,
        }
    }

    /// The event-type pattern, e.g. `customer.*`.
    pub fn pattern(&self) -> &'static str {
        self.pattern
    }

    /// The handler's stable name; part of its idempotency key, so renaming
    /// a handler makes it run again for events it already handled.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The queue whose workers run it.
    pub fn queue(&self) -> &'static str {
        self.queue
    }

    /// Retries, backoff and timeout.
    pub fn options(&self) -> HandlerOptions {
        self.options
    }

    /// The state types its parameters need.
    pub fn requirements(&self) -> impl Iterator<Item = Requirement> + '_ {
        self.requires.iter().flatten().copied()
    }

    /// Where it is defined (`src/payments.rs:12`).
    pub fn location(&self) -> &'static str {
        self.location
    }

    /// Starts one run; the future builds the parameters and calls the
    /// function. [`invoke`](super::invoke) adds the timeout and catches panics.
    pub fn call(&self, context: HandlerContext) -> BoxFuture<'static, Result<(), HandlerError>> {
        (self.call)(context)
    }
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("pattern", &self.pattern)
            .field("name", &self.name)
            .field("queue", &self.queue)
            .field("options", &self.options)
            .field("requires", &self.requires)
            .field("location", &self.location)
            .finish()
    }
}
