//! `HandlerError`: what a handler returns when it did not succeed.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

/// Whether and when a failed handler runs again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Retry {
    /// Run again after the handler's exponential backoff.
    Backoff,
    /// Run again after this delay (a downstream `429 Retry-After`, say),
    /// still within the handler's retry budget.
    After(Duration),
    /// Never again: dead-letter the event now.
    Never,
}

impl Retry {
    /// Whether the handler runs again (budget permitting).
    pub fn is_retryable(self) -> bool {
        match self {
            Self::Backoff | Self::After(_) => true,
            Self::Never => false,
        }
    }
}

/// The error a handler returns.
///
/// `?` on any `std::error::Error` makes a retryable `HandlerError`: most
/// failures (a database hiccup, a timeout downstream) pass with time. Say
/// otherwise explicitly:
///
/// ```
/// use std::time::Duration;
/// use webhook_core::handler::{HandlerError, Retry};
///
/// let later = HandlerError::retry_after(Duration::from_secs(30), "rate limited by the CRM");
/// assert_eq!(later.retry_policy(), Retry::After(Duration::from_secs(30)));
///
/// let never = HandlerError::reject("order 42 does not exist");
/// assert!(!never.retry_policy().is_retryable());
///
/// fn parse(text: &str) -> Result<u32, HandlerError> {
///     Ok(text.parse::<u32>()?) // retryable by default
/// }
/// assert_eq!(parse("x").unwrap_err().retry_policy(), Retry::Backoff);
/// ```
///
/// `HandlerError` deliberately does not implement `std::error::Error`, so
/// that `From` can take every error type (as `anyhow::Error` does).
pub struct HandlerError {
    retry: Retry,
    error: Box<dyn StdError + Send + Sync + 'static>,
}

impl HandlerError {
    /// A failure worth retrying after the handler's backoff.
    pub fn retry(error: impl Into<Box<dyn StdError + Send + Sync + 'static>>) -> Self {
        Self {
            retry: Retry::Backoff,
            error: error.into(),
        }
    }

    /// A failure worth retrying after `delay` rather than the backoff.
    pub fn retry_after(
        delay: Duration,
        error: impl Into<Box<dyn StdError + Send + Sync + 'static>>,
    ) -> Self {
        Self {
            retry: Retry::After(delay),
            error: error.into(),
        }
    }

    /// A permanent failure: retrying cannot help, dead-letter the event now.
    pub fn reject(error: impl Into<Box<dyn StdError + Send + Sync + 'static>>) -> Self {
        Self {
            retry: Retry::Never,
            error: error.into(),
        }
    }

    /// Whether and when to run the handler again.
    pub fn retry_policy(&self) -> Retry {
        self.retry
    }

    /// The underlying error.
    pub fn error(&self) -> &(dyn StdError + Send + Sync + 'static) {
        &*self.error
    }
}

impl<E: StdError + Send + Sync + 'static> From<E> for HandlerError {
    fn from(error: E) -> Self {
        Self::retry(error)
    }
}

impl fmt::Display for HandlerError {
    /// The error and its chain of sources, separated by `: `.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.error)?;
        let mut source = self.error.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

impl fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerError")
            .field("retry", &self.retry)
            .field("error", &self.error)
            .finish()
    }
}

/// What a handler function may return: `Result<(), E>` for any `E` that
/// converts into [`HandlerError`].
#[diagnostic::on_unimplemented(
    message = "a webhook handler must return `Result<(), HandlerError>`, not `{Self}`",
    label = "the handler's return type",
    note = "any `Result<(), E>` where `E: Into<HandlerError>` works too"
)]
pub trait IntoHandlerResult {
    /// Converts the handler's return value.
    fn into_handler_result(self) -> Result<(), HandlerError>;
}

impl<E: Into<HandlerError>> IntoHandlerResult for Result<(), E> {
    fn into_handler_result(self) -> Result<(), HandlerError> {
        self.map_err(Into::into)
    }
}
