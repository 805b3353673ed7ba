//! Event-type patterns: `payment_intent.succeeded`, `customer.*`, `*`.
//!
//! Sources use them to filter which event types they store, and handlers use
//! them to say which events they run for.

use std::fmt;
use std::str::FromStr;

/// A pattern over event types.
///
/// | written | matches |
/// |---|---|
/// | `payment_intent.succeeded` | exactly that type |
/// | `customer.*` | every type that starts with `customer.` (`customer.created`, `customer.subscription.updated`), not `customer` itself |
/// | `*` | every type |
///
/// ```
/// use webhook_core::EventPattern;
///
/// let pattern: EventPattern = "customer.*".parse().unwrap();
/// assert!(pattern.matches("customer.subscription.updated"));
/// assert!(!pattern.matches("customer"));
/// assert!(!pattern.matches("charge.refunded"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum EventPattern {
    /// Exactly this event type.
    Exact(String),
    /// Every event type starting with this prefix; the prefix ends with `.`.
    Prefix(String),
    /// Every event type.
    Any,
}

/// Why a string is not a valid [`EventPattern`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PatternError {
    /// The pattern is empty.
    #[error(
        "the event pattern is empty; write an event type such as `payment_intent.succeeded`, a prefix such as `customer.*`, or `*`"
    )]
    Empty,
    /// A `*` stands somewhere other than alone or after the final `.`.
    #[error("`*` may only stand alone (`*`) or as the last segment of a prefix (`customer.*`)")]
    MisplacedWildcard,
    /// The pattern contains whitespace or a control character.
    #[error("event patterns cannot contain whitespace or control characters")]
    InvalidCharacter,
    /// A prefix pattern has an empty segment, as in `.*` or `a..*`.
    #[error("the prefix of a wildcard pattern has an empty segment; write it like `customer.*`")]
    EmptySegment,
}

impl EventPattern {
    /// Parses a pattern; see the type's docs for the syntax.
    pub fn parse(pattern: &str) -> Result<Self, PatternError> {
        if pattern.is_empty() {
            return Err(PatternError::Empty);
        }
        if pattern.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(PatternError::InvalidCharacter);
        }
        if pattern == "*" {
            return Ok(Self::Any);
        }
        match pattern.strip_suffix('*') {
            Some(prefix) => {
                if prefix.contains('*') || !prefix.ends_with('.') {
                    return Err(PatternError::MisplacedWildcard);
                }
                if prefix.split('.').rev().skip(1).any(str::is_empty) {
                    return Err(PatternError::EmptySegment);
                }
                Ok(Self::Prefix(prefix.to_owned()))
            }
            None if pattern.contains('*') => Err(PatternError::MisplacedWildcard),
            None => Ok(Self::Exact(pattern.to_owned())),
        }
    }

    /// Whether `event_type` is matched by this pattern.
    pub fn matches(&self, event_type: &str) -> bool {
        match self {
            Self::Exact(exact) => exact == event_type,
            Self::Prefix(prefix) => event_type.starts_with(prefix.as_str()),
            Self::Any => true,
        }
    }
}

impl FromStr for EventPattern {
    type Err = PatternError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for EventPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exact(exact) => f.write_str(exact),
            Self::Prefix(prefix) => write!(f, "{prefix}*"),
            Self::Any => f.write_str("*"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_matches() {
        let exact = EventPattern::parse("payment_intent.succeeded").unwrap();
        assert!(exact.matches("payment_intent.succeeded"));
        assert!(!exact.matches("payment_intent.succeeded.x"));

        let prefix = EventPattern::parse("customer.*").unwrap();
        assert!(prefix.matches("customer.created"));
        assert!(!prefix.matches("customer"));
        assert!(!prefix.matches("customers.created"));

        assert!(EventPattern::parse("*").unwrap().matches("anything"));
    }

    #[test]
    fn display_round_trips() {
        for written in ["a.b", "a.*", "a.b.*", "*"] {
            assert_eq!(EventPattern::parse(written).unwrap().to_string(), written);
        }
    }

    #[test]
    fn rejects_malformed_patterns() {
        assert_eq!(EventPattern::parse(""), Err(PatternError::Empty));
        assert_eq!(
            EventPattern::parse("a*"),
            Err(PatternError::MisplacedWildcard)
        );
        assert_eq!(
            EventPattern::parse("*.a"),
            Err(PatternError::MisplacedWildcard)
        );
        assert_eq!(
            EventPattern::parse("a.*.*"),
            Err(PatternError::MisplacedWildcard)
        );
        assert_eq!(EventPattern::parse(".*"), Err(PatternError::EmptySegment));
        assert_eq!(EventPattern::parse("a..*"), Err(PatternError::EmptySegment));
        assert_eq!(
            EventPattern::parse("a b"),
            Err(PatternError::InvalidCharacter)
        );
    }
}
