//! The states of a handler's done key (see the crate docs).

use std::fmt;

/// The value of a handler's done key: the only Rust spelling of the
/// states the scripts write and read.
///
/// ```
/// use webhook_redis::Marker;
///
/// assert_eq!(Marker::Retry(2).to_string(), "retry:2");
/// assert_eq!(Marker::parse("lease:t1"), Some(Marker::Lease("t1".into())));
/// assert_eq!(Marker::parse("done"), Some(Marker::Done(None)));
/// assert_eq!(Marker::parse("retry:x"), None);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Marker {
    /// A worker runs the handler under this token's lease.
    Lease(String),
    /// A retry, the handler's attempt `n`, owns the handler; only a run
    /// carrying this marker may lease it.
    Retry(u32),
    /// The handler succeeded, in the run with this token (`None`: written
    /// by an older version, without a token).
    Done(Option<String>),
    /// The handler was dead-lettered, by the run with this token (`None`:
    /// written by an older version).
    Dead(Option<String>),
}

impl Marker {
    /// Reads a done key's value; `None` for anything the scripts never
    /// write.
    pub fn parse(value: &str) -> Option<Self> {
        let token = |rest: &str| (!rest.is_empty()).then(|| rest.to_owned());
        match value.split_once(':') {
            None if value == "done" => Some(Self::Done(None)),
            None if value == "dead" => Some(Self::Dead(None)),
            None => None,
            Some(("lease", token_)) => token(token_).map(Self::Lease),
            Some(("retry", n)) => n.parse().ok().map(Self::Retry),
            Some(("done", rest)) => token(rest).map(|t| Self::Done(Some(t))),
            Some(("dead", rest)) => token(rest).map(|t| Self::Dead(Some(t))),
            Some(_) => None,
        }
    }
}

impl fmt::Display for Marker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Lease(token) => write!(f, "lease:{token}"),
            Self::Retry(n) => write!(f, "retry:{n}"),
            Self::Done(None) => f.write_str("done"),
            Self::Done(Some(token)) => write!(f, "done:{token}"),
            Self::Dead(None) => f.write_str("dead"),
            Self::Dead(Some(token)) => write!(f, "dead:{token}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Marker;

    #[test]
    fn every_state_reads_back_as_written() {
        for marker in [
            Marker::Lease("01a2".into()),
            Marker::Retry(7),
            Marker::Done(Some("t".into())),
            Marker::Done(None),
            Marker::Dead(Some("t".into())),
            Marker::Dead(None),
        ] {
            assert_eq!(Marker::parse(&marker.to_string()), Some(marker));
        }
        for value in [
            "", "lease:", "retry:", "retry:-1", "busy", "done:", "other:x",
        ] {
            assert_eq!(Marker::parse(value), None, "{value}");
        }
    }
}
