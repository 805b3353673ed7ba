//! The event-pattern rules, checked at compile time.
//!
//! The same rules as `webhook_core::EventPattern::parse`, which checks them
//! again when the registry is built; the tests of both crates pin them.

/// `Ok` when `pattern` is `a.b`, `a.*` or `*`; otherwise why not.
pub(crate) fn check(pattern: &str) -> Result<(), &'static str> {
    if pattern.is_empty() {
        return Err(
            "the event pattern is empty; write an event type such as \"payment_intent.succeeded\", a prefix such as \"customer.*\", or \"*\"",
        );
    }
    if pattern.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("event patterns cannot contain whitespace or control characters");
    }
    if pattern == "*" {
        return Ok(());
    }
    match pattern.strip_suffix('*') {
        Some(prefix) if prefix.contains('*') || !prefix.ends_with('.') => Err(MISPLACED),
        Some(prefix) if prefix.split('.').rev().skip(1).any(str::is_empty) => Err(
            "the prefix of a wildcard pattern has an empty segment; write it like \"customer.*\"",
        ),
        Some(_) => Ok(()),
        None if pattern.contains('*') => Err(MISPLACED),
        None => Ok(()),
    }
}

const MISPLACED: &str =
    "`*` may only stand alone (\"*\") or as the last segment of a prefix (\"customer.*\")";

#[cfg(test)]
mod tests {
    use super::check;

    // The same cases as `webhook_core::EventPattern`'s tests: the two must agree.
    #[test]
    fn accepts_what_the_registry_accepts() {
        for ok in [
            "payment_intent.succeeded",
            "customer.*",
            "a.b.*",
            "*",
            "orders/create",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn refuses_what_the_registry_refuses() {
        for bad in ["", "a*", "*.a", "a.*.*", ".*", "a..*", "a b", "a\tb"] {
            assert!(check(bad).is_err(), "{bad}");
        }
    }
}
