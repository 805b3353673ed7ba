//! Handlers: the registry of `#[webhook_handler]` functions, their
//! parameters, their errors and how one run is executed.
//!
//! A handler is a plain `async fn` whose parameters implement
//! [`FromContext`] ([`Event<T>`](crate::Event), [`State<T>`],
//! [`IdempotencyKey`]) and which returns `Result<(), HandlerError>`. The
//! macro registers it with its pattern and [`HandlerOptions`]; the worker
//! builds a [`Registry`] at start-up and [`invoke`]s the handlers of each
//! event.

mod context;
mod error;
mod invoke;
mod registration;
mod registry;

pub use context::{
    FromContext, HandlerContext, IdempotencyKey, MissingState, Requirement, State, StateMap,
};
pub use error::{HandlerError, IntoHandlerResult, Retry};
pub use invoke::{Failure, FailureKind, Outcome, invoke};
pub use registration::{Backoff, BoxFuture, HandlerFn, HandlerOptions, Registration};
pub use registry::{Registry, RegistryError};
