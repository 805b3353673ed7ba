//! What a handler can ask for: the event, shared state, its idempotency key.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use super::HandlerError;
use crate::Envelope;
use crate::event::{Event, Payload};

/// Everything a handler invocation can draw its parameters from.
#[derive(Clone)]
pub struct HandlerContext {
    envelope: Arc<Envelope>,
    state: Arc<StateMap>,
    handler: &'static str,
}

impl HandlerContext {
    /// The context of running `handler` for `envelope`.
    pub fn new(envelope: Arc<Envelope>, state: Arc<StateMap>, handler: &'static str) -> Self {
        Self {
            envelope,
            state,
            handler,
        }
    }

    /// The event being handled.
    pub fn envelope(&self) -> &Arc<Envelope> {
        &self.envelope
    }

    /// The shared state.
    pub fn state(&self) -> &StateMap {
        &self.state
    }

    /// The name of the handler being run.
    pub fn handler(&self) -> &'static str {
        self.handler
    }
}

impl fmt::Debug for HandlerContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerContext")
            .field("handler", &self.handler)
            .field("event", &self.envelope.id)
            .finish_non_exhaustive()
    }
}

/// Shared application state, one value per type (a database pool, an HTTP
/// client, settings), added once on the worker and handed to handlers as
/// [`State<T>`].
#[derive(Clone, Default)]
pub struct StateMap {
    values: HashMap<TypeId, (Arc<dyn Any + Send + Sync>, &'static str)>,
}

impl StateMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `value`, replacing a value of the same type.
    pub fn insert<T: Send + Sync + 'static>(&mut self, value: T) {
        self.insert_arc(Arc::new(value));
    }

    /// Adds a value that is already shared.
    pub fn insert_arc<T: Send + Sync + 'static>(&mut self, value: Arc<T>) {
        self.values
            .insert(TypeId::of::<T>(), (value, std::any::type_name::<T>()));
    }

    /// The value of type `T`, if one was added.
    pub fn get<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        let (value, _) = self.values.get(&TypeId::of::<T>())?;
        Arc::clone(value).downcast::<T>().ok()
    }

    /// Whether a value of the type was added.
    pub fn contains(&self, type_id: TypeId) -> bool {
        self.values.contains_key(&type_id)
    }
}

impl fmt::Debug for StateMap {
    /// Lists the types held, never their values.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.values.values().map(|(_, name)| name))
            .finish()
    }
}

/// A state type a handler needs; checked when the worker starts.
#[derive(Clone, Copy)]
pub struct Requirement {
    /// The type's id.
    pub type_id: fn() -> TypeId,
    /// The type's name, for the start-up error.
    pub type_name: fn() -> &'static str,
}

impl fmt::Debug for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str((self.type_name)())
    }
}

/// A type a handler can take as a parameter.
///
/// Implemented by [`Event<T>`], [`State<T>`] and [`IdempotencyKey`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a parameter of a webhook handler",
    label = "not a handler parameter type",
    note = "a handler's parameters are `Event<T>` (T: serde::de::DeserializeOwned, or RawBody), `State<T>` (state added on the worker) and `IdempotencyKey`"
)]
pub trait FromContext: Sized {
    /// The state type this parameter needs, checked at start-up.
    const REQUIRES: Option<Requirement> = None;

    /// Builds the parameter for one invocation.
    fn from_context(context: &HandlerContext) -> Result<Self, HandlerError>;
}

impl<T: Payload> FromContext for Event<T> {
    /// A body that does not fit `T` is rejected: retrying cannot fix it.
    fn from_context(context: &HandlerContext) -> Result<Self, HandlerError> {
        Event::from_envelope(Arc::clone(&context.envelope)).map_err(HandlerError::reject)
    }
}

/// Shared state of type `T`, added on the worker (`Worker::state`) or the
/// test harness. Derefs to `T`.
pub struct State<T>(pub Arc<T>);

impl<T> Clone for State<T> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<T> Deref for State<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: fmt::Debug> fmt::Debug for State<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("State").field(&self.0).finish()
    }
}

impl<T: Send + Sync + 'static> FromContext for State<T> {
    const REQUIRES: Option<Requirement> = Some(Requirement {
        type_id: TypeId::of::<T>,
        type_name: std::any::type_name::<T>,
    });

    fn from_context(context: &HandlerContext) -> Result<Self, HandlerError> {
        context.state.get::<T>().map(State).ok_or_else(|| {
            HandlerError::retry(MissingState {
                handler: context.handler,
                type_name: std::any::type_name::<T>(),
            })
        })
    }
}

/// The state a handler asks for was never added.
#[derive(Debug, thiserror::Error)]
#[error(
    "handler `{handler}` takes `State<{type_name}>`, but no `{type_name}` was added; add it with `.state(...)` on the worker"
)]
pub struct MissingState {
    /// The handler's name.
    pub handler: &'static str,
    /// The missing type.
    pub type_name: &'static str,
}

/// The key under which this handler's work for this event is deduplicated:
/// `<source>/<handler name>/<event id>`.
///
/// Source names and handler names cannot contain `/`, so two different
/// (source, handler, event) triples never share a key; the source is part
/// of it because two sources may use the same event ids.
///
/// The runtime never runs a handler twice for an event once it succeeded,
/// but a crash between a handler's side effect and the runtime's record of
/// success runs it again. Handlers whose side effects are not naturally
/// idempotent should store this key with their write (a unique column, an
/// `Idempotency-Key` header) so a second run is a no-op.
///
/// ```
/// use webhook_core::handler::IdempotencyKey;
///
/// let key = IdempotencyKey::new("stripe", "billing::fulfil", "evt_1");
/// assert_eq!(&*key, "stripe/billing::fulfil/evt_1");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(pub String);

impl IdempotencyKey {
    /// The key of `handler` for the event `event_id` from `source`.
    pub fn new(source: &str, handler: &str, event_id: &str) -> Self {
        Self(format!("{source}/{handler}/{event_id}"))
    }
}

impl Deref for IdempotencyKey {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromContext for IdempotencyKey {
    fn from_context(context: &HandlerContext) -> Result<Self, HandlerError> {
        Ok(Self::new(
            &context.envelope.source,
            context.handler,
            &context.envelope.id,
        ))
    }
}
