//! The stream encoding of the envelope: round trips and refusals.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use bytes::Bytes;
use proptest::prelude::*;
use webhook::Envelope;
use webhook::envelope::DecodeError;
use webhook::layout::field;

fn fields_of(envelope: &Envelope) -> Vec<(Vec<u8>, Vec<u8>)> {
    envelope
        .encode()
        .fields()
        .iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.to_vec()))
        .collect()
}

fn without(fields: &[(Vec<u8>, Vec<u8>)], name: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    fields
        .iter()
        .filter(|(k, _)| k != name.as_bytes())
        .cloned()
        .collect()
}

fn envelope_strategy() -> impl Strategy<Value = Envelope> {
    (
        "[a-zA-Z0-9_.:-]{1,64}",
        "[a-z_./]{1,64}",
        "[a-z0-9_-]{1,32}",
        any::<u64>(),
        1u32..1000,
        proptest::collection::btree_map("[a-z-]{1,20}", any::<String>(), 0..6),
        proptest::collection::vec(any::<u8>(), 0..4096),
    )
        .prop_map(
            |(id, event_type, source, received, attempt, headers, body)| {
                let mut envelope = Envelope::new(id, event_type, source, body)
                    .with_headers(headers)
                    .with_attempt(attempt);
                envelope.received_at_ms = received;
                envelope
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn round_trips_arbitrary_envelopes(envelope in envelope_strategy()) {
        let decoded = Envelope::decode(fields_of(&envelope)).unwrap();
        prop_assert_eq!(&decoded, &envelope);
        prop_assert_eq!(&decoded.body[..], &envelope.body[..]);
    }
}

#[test]
fn keeps_empty_and_invalid_utf8_bodies_byte_for_byte() {
    for body in [
        &b""[..],
        &b"\xff\xfe\x00\x80 not utf-8 \xc3\x28"[..],
        &[0u8; 3][..],
    ] {
        let envelope = Envelope::new("id", "t", "s", body.to_vec());
        let decoded = Envelope::decode(fields_of(&envelope)).unwrap();
        assert_eq!(&decoded.body[..], body);
    }
}

#[test]
fn writes_the_fields_in_a_readable_order() {
    let envelope = Envelope::new("evt_1", "a.b", "stripe", &b"{}"[..]).with_headers(
        BTreeMap::from([("content-type".to_owned(), "application/json".to_owned())]),
    );
    let encoded = envelope.encode();
    let names: Vec<&str> = encoded.fields().iter().map(|(k, _)| *k).collect();
    assert_eq!(
        names,
        [
            "v",
            "id",
            "type",
            "source",
            "received_at",
            "attempt",
            "headers",
            "body"
        ]
    );
    let headers = encoded.fields()[6].1.to_vec();
    assert_eq!(headers, br#"{"content-type":"application/json"}"#);
}

#[test]
fn takes_the_body_without_a_copy() {
    let envelope = Envelope::new("id", "t", "s", vec![7u8; 1024]);
    let fields: Vec<(Vec<u8>, Bytes)> = fields_of(&envelope)
        .into_iter()
        .map(|(k, v)| (k, Bytes::from(v)))
        .collect();
    let body_ptr = fields.last().unwrap().1.as_ptr();
    let decoded = Envelope::decode(fields).unwrap();
    assert_eq!(decoded.body.as_ptr(), body_ptr);
}

#[test]
fn refuses_incomplete_or_foreign_entries() {
    let fields = fields_of(&Envelope::new("id", "t", "s", &b"x"[..]));
    for name in [
        field::VERSION,
        field::ID,
        field::TYPE,
        field::SOURCE,
        field::RECEIVED_AT,
        field::ATTEMPT,
        field::HEADERS,
        field::BODY,
    ] {
        assert_eq!(
            Envelope::decode(without(&fields, name)),
            Err(DecodeError::Missing(name)),
            "{name}"
        );
    }

    let mut newer = without(&fields, field::VERSION);
    newer.push((b"v".to_vec(), b"2".to_vec()));
    assert_eq!(
        Envelope::decode(newer),
        Err(DecodeError::UnsupportedVersion("2".into()))
    );

    let mut twice = fields.clone();
    twice.push((b"id".to_vec(), b"other".to_vec()));
    assert_eq!(
        Envelope::decode(twice),
        Err(DecodeError::Duplicate(field::ID))
    );

    let mut bad_number = without(&fields, field::ATTEMPT);
    bad_number.push((b"attempt".to_vec(), b"first".to_vec()));
    assert!(matches!(
        Envelope::decode(bad_number),
        Err(DecodeError::Invalid {
            field: "attempt",
            ..
        })
    ));

    let mut bad_headers = without(&fields, field::HEADERS);
    bad_headers.push((b"headers".to_vec(), b"[1]".to_vec()));
    assert!(matches!(
        Envelope::decode(bad_headers),
        Err(DecodeError::Invalid {
            field: "headers",
            ..
        })
    ));

    // Fields added by a newer writer are ignored.
    let mut extra = fields.clone();
    extra.push((b"trace_id".to_vec(), b"abc".to_vec()));
    assert!(Envelope::decode(extra).is_ok());
}

#[test]
fn generated_ids_are_unique_and_sort_by_time() {
    let ids: Vec<String> = (0..1000).map(|_| Envelope::generate_id()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), ids.len());
    assert_eq!(
        sorted, ids,
        "UUIDv7 ids created in sequence sort in that order"
    );
}

#[test]
fn debug_shows_the_body_length_not_the_body() {
    let envelope = Envelope::new("id", "t", "s", &b"card=4242424242424242"[..]);
    let shown = format!("{envelope:?}");
    assert!(shown.contains("<21 bytes>"), "{shown}");
    assert!(!shown.contains("4242"), "{shown}");
}

#[test]
fn header_lookup_ignores_case() {
    let envelope = Envelope::new("id", "t", "s", &b""[..]).with_headers(BTreeMap::from([(
        "x-github-event".to_owned(),
        "push".to_owned(),
    )]));
    assert_eq!(envelope.header("X-GitHub-Event"), Some("push"));
    assert_eq!(envelope.header("x-github-event"), Some("push"));
    assert_eq!(envelope.header("x-other"), None);
}
