//! Stream entries read from Redis's replies as ordered field/value pairs.
//!
//! The redis crate's stream types read an entry's fields into a `HashMap`,
//! which loses the order the layout writes them in (a dead letter copies
//! them) and gives no place to say that one of them could not be read. Here
//! an entry keeps its fields in order, and a field name that is not UTF-8 or
//! a value that is not a string makes the entry [`Entry::malformed`], to be
//! dead-lettered with that reason, while the other entries of the reply are
//! read as usual.

use bytes::Bytes;
use redis::Value;

use crate::worker::Entry;

fn unexpected(what: &'static str, got: &Value) -> redis::RedisError {
    redis::RedisError::from((
        redis::ErrorKind::UnexpectedReturnType,
        what,
        format!("got {}", kind(got)),
    ))
}

/// A string of a reply (a stream name, an entry id); `what` says what it
/// should have been.
fn text(value: Value, what: &'static str) -> redis::RedisResult<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes)
            .map_err(|_| redis::RedisError::from((redis::ErrorKind::UnexpectedReturnType, what))),
        Value::SimpleString(text) => Ok(text),
        other => Err(unexpected(what, &other)),
    }
}

/// A value's RESP type, for messages (never the value itself, which may be
/// an event's body).
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Nil => "nil",
        Value::Int(_) => "an integer",
        Value::BulkString(_) => "a bulk string",
        Value::Array(_) => "an array",
        Value::SimpleString(_) => "a simple string",
        Value::Okay => "OK",
        Value::Map(_) => "a map",
        Value::Set(_) => "a set",
        Value::Double(_) => "a double",
        Value::Boolean(_) => "a boolean",
        Value::ServerError(_) => "an error",
        _ => "another type",
    }
}

/// An `XREADGROUP` reply: per stream (an array of `[name, entries]` in
/// RESP2, a map in RESP3), its entries; nil when nothing came.
pub(crate) fn read_reply(value: Value) -> redis::RedisResult<Vec<Entry>> {
    let streams: Vec<(Value, Value)> = match value {
        Value::Nil => return Ok(Vec::new()),
        Value::Map(streams) => streams,
        Value::Array(streams) => streams
            .into_iter()
            .map(|stream| match stream {
                Value::Array(pair) if pair.len() == 2 => {
                    let mut pair = pair.into_iter();
                    match (pair.next(), pair.next()) {
                        (Some(name), Some(entries)) => Ok((name, entries)),
                        _ => Err(redis::RedisError::from((
                            redis::ErrorKind::UnexpectedReturnType,
                            "a stream of an XREADGROUP reply is not [name, entries]",
                        ))),
                    }
                }
                other => Err(unexpected(
                    "a stream of an XREADGROUP reply is not [name, entries]",
                    &other,
                )),
            })
            .collect::<redis::RedisResult<_>>()?,
        other => return Err(unexpected("an XREADGROUP reply is not an array", &other)),
    };
    let mut out = Vec::new();
    for (name, entries) in streams {
        let name = text(
            name,
            "a stream name in an XREADGROUP reply is not UTF-8 text",
        )?;
        out.extend(entries_reply(&name, entries)?);
    }
    Ok(out)
}

/// The entries of one stream (`XREADGROUP` per stream, `XCLAIM`, `XRANGE`):
/// an array of `[id, [field, value, ...]]`; an entry deleted meanwhile
/// (nil, or nil fields) is left out.
pub(crate) fn entries_reply(stream: &str, value: Value) -> redis::RedisResult<Vec<Entry>> {
    let entries = match value {
        Value::Nil => return Ok(Vec::new()),
        Value::Array(entries) => entries,
        other => return Err(unexpected("stream entries are not an array", &other)),
    };
    let mut out = Vec::with_capacity(entries.len());
    for entry in entries {
        let mut parts = match entry {
            Value::Nil => continue,
            Value::Array(parts) if parts.len() == 2 => parts.into_iter(),
            other => return Err(unexpected("a stream entry is not [id, fields]", &other)),
        };
        let (Some(id), Some(fields)) = (parts.next(), parts.next()) else {
            continue;
        };
        let id = text(id, "a stream entry id is not UTF-8 text")?;
        let flat = match fields {
            Value::Nil => continue,
            Value::Array(flat) => flat,
            // RESP3 may answer field/value pairs as a map.
            Value::Map(pairs) => pairs.into_iter().flat_map(|(k, v)| [k, v]).collect(),
            other => {
                return Err(unexpected(
                    "a stream entry's fields are not an array",
                    &other,
                ));
            }
        };
        let (fields, malformed) = fields_of(flat);
        out.push(Entry {
            stream: stream.to_owned(),
            id,
            fields,
            malformed,
        });
    }
    Ok(out)
}

/// The field/value pairs of an entry in order, and what made it unreadable,
/// if anything: the first problem found is reported, every readable pair is
/// kept.
fn fields_of(flat: Vec<Value>) -> (Vec<(String, Bytes)>, Option<String>) {
    let mut fields = Vec::with_capacity(flat.len() / 2);
    let mut malformed: Option<String> = None;
    let mut note = |problem: String| {
        malformed.get_or_insert(problem);
    };
    if !flat.len().is_multiple_of(2) {
        note(format!(
            "the entry has {} field names and values, not pairs",
            flat.len()
        ));
    }
    let mut flat = flat.into_iter();
    while let (Some(name), Some(value)) = (flat.next(), flat.next()) {
        let name = match name {
            Value::BulkString(bytes) => match String::from_utf8(bytes) {
                Ok(name) => name,
                Err(error) => {
                    let lossy = String::from_utf8_lossy(error.as_bytes()).into_owned();
                    note(format!(
                        "the field name {} is not UTF-8",
                        lossy.escape_debug()
                    ));
                    lossy
                }
            },
            other => {
                note(format!("a field name is {}, not a string", kind(&other)));
                continue;
            }
        };
        match value {
            Value::BulkString(bytes) => fields.push((name, Bytes::from(bytes))),
            other => note(format!(
                "the value of field {} is {}, not a string",
                name.escape_debug(),
                kind(&other)
            )),
        }
    }
    (fields, malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(text: &[u8]) -> Value {
        Value::BulkString(text.to_vec())
    }

    #[test]
    fn fields_keep_their_order_and_a_bad_value_is_reported_not_emptied() {
        let flat = vec![
            bulk(b"v"),
            bulk(b"1"),
            bulk(b"id"),
            bulk(b"e"),
            bulk(b"odd"),
            Value::Int(7),
            bulk(b"body"),
            bulk(b"{}"),
        ];
        let (fields, malformed) = fields_of(flat);
        let names: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["v", "id", "body"]);
        assert_eq!(
            malformed.as_deref(),
            Some("the value of field odd is an integer, not a string")
        );
    }

    #[test]
    fn a_resp3_map_of_streams_reads_like_the_resp2_array() {
        let entries = Value::Array(vec![Value::Array(vec![
            bulk(b"1-0"),
            Value::Array(vec![bulk(b"a"), bulk(b"1"), bulk(b"b"), bulk(b"2")]),
        ])]);
        let resp2 = read_reply(Value::Array(vec![Value::Array(vec![
            bulk(b"s"),
            entries.clone(),
        ])]))
        .unwrap();
        let resp3 = read_reply(Value::Map(vec![(bulk(b"s"), entries)])).unwrap();
        for read in [resp2, resp3] {
            assert_eq!(read.len(), 1);
            assert_eq!((read[0].stream.as_str(), read[0].id.as_str()), ("s", "1-0"));
            assert_eq!(read[0].fields[1].0, "b");
            assert!(read[0].malformed.is_none());
        }
    }
}
