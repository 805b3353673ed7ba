//! The registry: every registered handler, and which run for an event type.

use std::collections::HashMap;
use std::fmt;

use super::{Registration, StateMap};
use crate::EventPattern;

/// The handlers of a process, indexed by pattern once at start-up.
///
/// Finding the handlers of an event type costs one hash look-up for the
/// exact type, one per `.` in it for prefix patterns, and none for `*`; it
/// never scans the handlers.
pub struct Registry {
    handlers: Vec<&'static Registration>,
    exact: HashMap<&'static str, Vec<usize>>,
    prefix: HashMap<String, Vec<usize>>,
    any: Vec<usize>,
}

/// Why the registered handlers cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// Two handlers share a name (which is part of the idempotency key).
    #[error(
        "two handlers are named `{name}` ({first} and {second}); give one of them another `name = \"...\"`"
    )]
    DuplicateName {
        /// The shared name.
        name: &'static str,
        /// Where the first is defined.
        first: &'static str,
        /// Where the second is defined.
        second: &'static str,
    },
    /// A handler's pattern is invalid (only possible for registrations not
    /// made by the macro, which checks patterns at compile time).
    #[error("handler `{name}` has an invalid event pattern `{pattern}`: {reason}")]
    InvalidPattern {
        /// The handler's name.
        name: &'static str,
        /// The pattern.
        pattern: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A handler name is empty, too long, or has characters other than
    /// letters, digits and `_ . : # -` (only possible for registrations not
    /// made by the macro, which checks names at compile time).
    #[error(
        "handler name `{name}` ({location}) must be 1 to 200 letters, digits, `_`, `.`, `:`, `#` or `-`"
    )]
    InvalidName {
        /// The name.
        name: &'static str,
        /// Where the handler is defined.
        location: &'static str,
    },
    /// A handler takes `State<T>` but no `T` was added.
    #[error(
        "handler `{handler}` ({location}) takes `State<{type_name}>`, but no `{type_name}` was added; add it with `.state(...)` before starting"
    )]
    MissingState {
        /// The handler's name.
        handler: &'static str,
        /// Where it is defined.
        location: &'static str,
        /// The missing type.
        type_name: &'static str,
    },
}

impl Registry {
    /// Every handler registered with `#[webhook_handler]` in the binary,
    /// whatever its queue.
    ///
    /// Handlers in another crate are found when that crate is linked into
    /// the binary; a crate nothing else refers to is not linked, so refer to
    /// it (`use my_handlers as _;`).
    pub fn collect() -> Result<Self, RegistryError> {
        Self::from_registrations(inventory::iter::<Registration>)
    }

    /// A registry of the given handlers.
    pub fn from_registrations(
        registrations: impl IntoIterator<Item = &'static Registration>,
    ) -> Result<Self, RegistryError> {
        let mut handlers: Vec<&'static Registration> = registrations.into_iter().collect();
        handlers.sort_by_key(|r| r.name());
        if let Some(pair) = handlers.windows(2).find(|w| w[0].name() == w[1].name()) {
            return Err(RegistryError::DuplicateName {
                name: pair[0].name(),
                first: pair[0].location(),
                second: pair[1].location(),
            });
        }
        let mut registry = Self {
            handlers: Vec::new(),
            exact: HashMap::new(),
            prefix: HashMap::new(),
            any: Vec::new(),
        };
        for (index, handler) in handlers.iter().enumerate() {
            if !valid_handler_name(handler.name()) {
                return Err(RegistryError::InvalidName {
                    name: handler.name(),
                    location: handler.location(),
                });
            }
            let pattern = EventPattern::parse(handler.pattern()).map_err(|error| {
                RegistryError::InvalidPattern {
                    name: handler.name(),
                    pattern: handler.pattern(),
                    reason: error.to_string(),
                }
            })?;
            match pattern {
                EventPattern::Exact(_) => registry
                    .exact
                    .entry(handler.pattern())
                    .or_default()
                    .push(index),
                EventPattern::Prefix(prefix) => {
                    registry.prefix.entry(prefix).or_default().push(index)
                }
                EventPattern::Any => registry.any.push(index),
            }
        }
        registry.handlers = handlers;
        Ok(registry)
    }

    /// The handlers of one queue only.
    pub fn for_queue(&self, queue: &str) -> Self {
        let handlers = self.handlers.iter().copied().filter(|h| h.queue() == queue);
        // A subset of a valid registry is valid.
        Self::from_registrations(handlers).unwrap_or_else(|_| Self::empty())
    }

    fn empty() -> Self {
        Self {
            handlers: Vec::new(),
            exact: HashMap::new(),
            prefix: HashMap::new(),
            any: Vec::new(),
        }
    }

    /// Every handler, sorted by name.
    pub fn handlers(&self) -> &[&'static Registration] {
        &self.handlers
    }

    /// The handler with this name.
    pub fn get(&self, name: &str) -> Option<&'static Registration> {
        self.handlers
            .binary_search_by(|h| h.name().cmp(name))
            .ok()
            .map(|i| self.handlers[i])
    }

    /// The handlers that run for `event_type`: exact matches, then prefix
    /// patterns from the longest prefix to the shortest, then `*`; within
    /// each, by name.
    pub fn handlers_for(&self, event_type: &str) -> Vec<&'static Registration> {
        let mut found = Vec::new();
        if let Some(indices) = self.exact.get(event_type) {
            found.extend(indices.iter().map(|&i| self.handlers[i]));
        }
        if !self.prefix.is_empty() {
            for (position, _) in event_type.rmatch_indices('.') {
                if let Some(indices) = self.prefix.get(&event_type[..=position]) {
                    found.extend(indices.iter().map(|&i| self.handlers[i]));
                }
            }
        }
        found.extend(self.any.iter().map(|&i| self.handlers[i]));
        found
    }

    /// Checks that every `State<T>` a handler takes was added; call it when
    /// the worker starts, so a missing state is a start-up error rather than
    /// a failure at the first event.
    pub fn check_state(&self, state: &StateMap) -> Result<(), RegistryError> {
        for handler in &self.handlers {
            for requirement in handler.requirements() {
                if !state.contains((requirement.type_id)()) {
                    return Err(RegistryError::MissingState {
                        handler: handler.name(),
                        location: handler.location(),
                        type_name: (requirement.type_name)(),
                    });
                }
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.handlers).finish()
    }
}

/// Handler names are part of Redis keys and of idempotency keys, where `/`
/// separates them from the source and the event id.
pub(crate) fn valid_handler_name(name: &str) -> bool {
    (1..=200).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'#' | b'-'))
}
