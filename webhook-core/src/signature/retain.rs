//! Which request headers are stored with an event, within which limits.

use std::collections::BTreeMap;

use http::header as h;
use http::{HeaderMap, HeaderName};

use super::Scheme;
use crate::extract::Field;

/// The header the stored event carries when headers were left out for the
/// [`HeaderLimits`]: its value is how many header names were dropped. A
/// request's own header of this name is never kept.
pub const DROPPED_HEADERS_MARKER: &str = "x-webhook-headers-dropped";

/// Bounds on the headers stored with an event; a header that does not fit
/// is left out whole (never cut), and counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HeaderLimits {
    /// The longest value kept (repeated headers joined with `, `), in bytes.
    pub max_value_bytes: usize,
    /// The most bytes kept in all, names and values.
    pub max_total_bytes: usize,
    /// The most header names kept.
    pub max_count: usize,
}

impl Default for HeaderLimits {
    /// 8 KiB per value, 32 KiB in all, 64 headers.
    fn default() -> Self {
        Self {
            max_value_bytes: 8 * 1024,
            max_total_bytes: 32 * 1024,
            max_count: 64,
        }
    }
}

impl HeaderLimits {
    /// Limits with these bounds.
    pub fn new(max_value_bytes: usize, max_total_bytes: usize, max_count: usize) -> Self {
        Self {
            max_value_bytes,
            max_total_bytes,
            max_count,
        }
    }
}

/// The headers to store with an event, and how many were left out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetainedHeaders {
    /// Lower-case names to values; carries [`DROPPED_HEADERS_MARKER`] when
    /// `dropped` is not 0.
    pub headers: BTreeMap<String, String>,
    /// Header names left out because of the limits (credentials, hop-by-hop
    /// and signature headers are never kept and not counted).
    pub dropped: usize,
}

const NEVER_KEPT: [HeaderName; 9] = [
    h::AUTHORIZATION,
    h::PROXY_AUTHORIZATION,
    h::COOKIE,
    h::CONNECTION,
    h::CONTENT_LENGTH,
    h::TE,
    h::TRAILER,
    h::TRANSFER_ENCODING,
    h::UPGRADE,
];

pub(super) fn retain(
    scheme: &Scheme,
    headers: &HeaderMap,
    limits: &HeaderLimits,
) -> RetainedHeaders {
    let secret = |name: &HeaderName| {
        NEVER_KEPT.contains(name)
            || scheme.signature_headers.contains(name)
            || scheme.headers.iter().any(|set| set.signature == name)
    };
    // What the event is read with comes first, so a request cannot push it
    // out with headers of its own.
    let mut first: Vec<&HeaderName> = vec![&h::CONTENT_TYPE];
    for set in &scheme.headers {
        first.extend(set.timestamp.iter().chain(set.id.iter()));
    }
    for field in [&scheme.fields.id, &scheme.fields.event_type] {
        field.visit(&mut |part| {
            if let Field::Header(name) = part {
                first.push(name);
            }
        });
    }
    let mut order: Vec<&HeaderName> = Vec::with_capacity(headers.keys_len());
    for name in first {
        if headers.contains_key(name) && !order.contains(&name) {
            order.push(name);
        }
    }
    let prefix = order.len();
    for name in headers.keys() {
        if !order[..prefix].contains(&name) {
            order.push(name);
        }
    }

    let mut kept = RetainedHeaders::default();
    let mut total = 0;
    for name in order {
        if secret(name) {
            continue;
        }
        let mut value = String::new();
        for (i, part) in headers.get_all(name).iter().enumerate() {
            if i > 0 {
                value.push_str(", ");
            }
            value.push_str(&String::from_utf8_lossy(part.as_bytes()));
        }
        let size = name.as_str().len() + value.len();
        if name == DROPPED_HEADERS_MARKER
            || value.len() > limits.max_value_bytes
            || total + size > limits.max_total_bytes
            || kept.headers.len() >= limits.max_count
        {
            kept.dropped += 1;
            continue;
        }
        total += size;
        kept.headers.insert(name.as_str().to_owned(), value);
    }
    if kept.dropped > 0 {
        kept.headers
            .insert(DROPPED_HEADERS_MARKER.to_owned(), kept.dropped.to_string());
    }
    kept
}
