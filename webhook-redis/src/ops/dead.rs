//! Dead letters: list, show, replay, purge.

use std::time::Duration;

use crate::connect::Shared;
use crate::{extra, key, script};
use bytes::Bytes;
use webhook_core::layout::field;
use webhook_core::{Envelope, EventPattern};

use super::OpsError;

/// One dead letter as stored in `webhook:{q}:dead`.
#[derive(Clone, Debug)]
pub struct DeadLetter {
    /// Its id in the dead-letter stream.
    pub id: String,
    /// The queue.
    pub queue: String,
    /// The handler that failed, or `*` for a whole entry.
    pub handler: String,
    /// The consumer group it failed in.
    pub group: String,
    /// `rejected`, `retries_exhausted`, `poison`, `no_handler`, ...
    pub reason: String,
    /// The last failure's message.
    pub error: String,
    /// Failed runs.
    pub attempts: u32,
    /// Unix ms of the first failure, when known.
    pub first_failed_at: Option<u64>,
    /// Unix ms of the last failure.
    pub last_failed_at: Option<u64>,
    /// The event, when its fields decode.
    pub envelope: Option<Envelope>,
    /// Every field as stored.
    pub fields: Vec<(String, Bytes)>,
}

impl DeadLetter {
    fn from_fields(queue: &str, id: String, fields: Vec<(String, Bytes)>) -> Self {
        let text = |name: &str| {
            fields
                .iter()
                .find(|(f, _)| f == name)
                .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default()
        };
        let number = |name: &str| text(name).parse::<u64>().ok();
        let envelope = Envelope::decode(fields.iter().map(|(k, v)| (k.as_str(), v.clone()))).ok();
        Self {
            queue: queue.to_owned(),
            handler: text(extra::HANDLER),
            group: text(extra::GROUP),
            reason: text(extra::REASON),
            error: text(extra::ERROR),
            attempts: text(extra::ATTEMPTS).parse().unwrap_or(0),
            first_failed_at: number(extra::FIRST_FAILED_AT),
            last_failed_at: number(extra::LAST_FAILED_AT),
            envelope,
            fields,
            id,
        }
    }

    /// The event id, type and source, when the event decodes.
    pub fn event(&self) -> (&str, &str, &str) {
        match &self.envelope {
            Some(e) => (&e.id, &e.event_type, &e.source),
            None => ("?", "?", "?"),
        }
    }

    /// Everything as JSON, for `--json`: the body as text when it is UTF-8,
    /// else as `body_base64`; times, `attempt` and `attempts` as numbers,
    /// each time also as an RFC 3339 `<field>_iso` string.
    pub fn to_json(&self) -> serde_json::Value {
        let mut out = serde_json::Map::new();
        // `id` is the event's (from the fields below); the dead letter's own
        // id, which `dlq show/replay/purge` take, is `dead_letter_id`.
        out.insert("dead_letter_id".into(), self.id.clone().into());
        out.insert("queue".into(), self.queue.clone().into());
        for (name, value) in &self.fields {
            if name == field::BODY {
                match std::str::from_utf8(value) {
                    Ok(text) => out.insert("body".into(), text.into()),
                    Err(_) => {
                        use base64::Engine as _;
                        out.insert(
                            "body_base64".into(),
                            base64::engine::general_purpose::STANDARD
                                .encode(value)
                                .into(),
                        )
                    }
                };
            } else if name == field::HEADERS {
                let headers = serde_json::from_slice(value)
                    .unwrap_or_else(|_| String::from_utf8_lossy(value).into());
                out.insert(name.clone(), headers);
            } else if let Some(number) = numeric(name, value) {
                out.insert(name.clone(), number.into());
                if TIMES.contains(&name.as_str()) {
                    let at = std::time::UNIX_EPOCH + Duration::from_millis(number);
                    let iso = humantime::format_rfc3339_millis(at).to_string();
                    out.insert(format!("{name}_iso"), iso.into());
                }
            } else {
                out.insert(name.clone(), String::from_utf8_lossy(value).into());
            }
        }
        serde_json::Value::Object(out)
    }
}

/// Fields holding Unix milliseconds: `--json` gives them as numbers and,
/// beside each, an RFC 3339 `<field>_iso`.
const TIMES: [&str; 3] = [
    field::RECEIVED_AT,
    extra::FIRST_FAILED_AT,
    extra::LAST_FAILED_AT,
];

/// The value of a numeric field (a time, `attempt`, `attempts`) as a number;
/// `None` for other fields and for values that are not whole numbers.
fn numeric(name: &str, value: &[u8]) -> Option<u64> {
    let numeric = TIMES.contains(&name) || name == field::ATTEMPT || name == extra::ATTEMPTS;
    numeric
        .then(|| std::str::from_utf8(value).ok()?.parse().ok())
        .flatten()
}

/// Which dead letters an operation applies to; every set criterion must match.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct DeadFilter {
    /// The failed handler's name.
    pub handler: Option<String>,
    /// The event type.
    pub event_type: Option<EventPattern>,
    /// The event's source.
    pub source: Option<String>,
    /// The reason (`rejected`, `retries_exhausted`, ...).
    pub reason: Option<String>,
    /// Text the error contains.
    pub error_contains: Option<String>,
    /// Last failure at or after this Unix ms.
    pub since_ms: Option<u64>,
    /// Last failure before this Unix ms.
    pub until_ms: Option<u64>,
}

impl DeadFilter {
    /// Whether `letter` passes every set criterion.
    pub fn matches(&self, letter: &DeadLetter) -> bool {
        let (_, event_type, source) = letter.event();
        let at = letter.last_failed_at.unwrap_or(0);
        self.handler.as_ref().is_none_or(|h| *h == letter.handler)
            && self
                .event_type
                .as_ref()
                .is_none_or(|p| p.matches(event_type))
            && self.source.as_ref().is_none_or(|s| s == source)
            && self.reason.as_ref().is_none_or(|r| *r == letter.reason)
            && self
                .error_contains
                .as_ref()
                .is_none_or(|t| letter.error.contains(t.as_str()))
            && self.since_ms.is_none_or(|since| at >= since)
            && self.until_ms.is_none_or(|until| at < until)
    }
}

/// XRANGE reply: (id, flat field/value list).
type Range = Vec<(String, Vec<Vec<u8>>)>;

fn pairs(flat: Vec<Vec<u8>>) -> Vec<(String, Bytes)> {
    let mut out = Vec::with_capacity(flat.len() / 2);
    let mut items = flat.into_iter();
    while let (Some(name), Some(value)) = (items.next(), items.next()) {
        out.push((
            String::from_utf8_lossy(&name).into_owned(),
            Bytes::from(value),
        ));
    }
    out
}

/// The dead letters of `queue` that match `filter`, oldest first.
pub async fn list(
    connection: &mut Shared,
    queue: &str,
    filter: &DeadFilter,
) -> Result<Vec<DeadLetter>, OpsError> {
    let stream = key::dead(queue);
    let mut out = Vec::new();
    let mut start = "-".to_owned();
    loop {
        let page: Range = redis::cmd("XRANGE")
            .arg(&stream)
            .arg(&start)
            .arg("+")
            .arg("COUNT")
            .arg(500)
            .query_async(connection)
            .await?;
        let last = page.last().map(|(id, _)| id.clone());
        for (id, flat) in page {
            let letter = DeadLetter::from_fields(queue, id, pairs(flat));
            if filter.matches(&letter) {
                out.push(letter);
            }
        }
        match last {
            Some(id) => start = format!("({id}"),
            None => return Ok(out),
        }
    }
}

/// The dead letters of every queue in `queues` that match `filter`, queue
/// by queue, oldest first within each.
pub async fn list_queues(
    connection: &mut Shared,
    queues: &[String],
    filter: &DeadFilter,
) -> Result<Vec<DeadLetter>, OpsError> {
    let mut out = Vec::new();
    for queue in queues {
        out.extend(list(connection, queue, filter).await?);
    }
    Ok(out)
}

/// One dead letter by id.
pub async fn show(connection: &mut Shared, queue: &str, id: &str) -> Result<DeadLetter, OpsError> {
    let missing = || OpsError::NoSuchDeadLetter {
        queues: vec![queue.to_owned()],
        id: id.to_owned(),
    };
    // Anything but `<ms>-<seq>` is no id of ours; checking here keeps real
    // Redis errors from being reported as a missing dead letter.
    if !is_stream_id(id) {
        return Err(missing());
    }
    let page: Range = redis::cmd("XRANGE")
        .arg(key::dead(queue))
        .arg(id)
        .arg(id)
        .query_async(connection)
        .await?;
    page.into_iter()
        .next()
        .map(|(id, flat)| DeadLetter::from_fields(queue, id, pairs(flat)))
        .ok_or_else(missing)
}

/// The dead letter `id` in whichever of `queues` has it: an error when none
/// does ([`OpsError::NoSuchDeadLetter`]) or when several do
/// ([`OpsError::AmbiguousDeadLetter`]).
pub async fn find(
    connection: &mut Shared,
    queues: &[String],
    id: &str,
) -> Result<DeadLetter, OpsError> {
    let mut found = Vec::new();
    for queue in queues {
        match show(connection, queue, id).await {
            Ok(letter) => found.push(letter),
            Err(OpsError::NoSuchDeadLetter { .. }) => {}
            Err(error) => return Err(error),
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(OpsError::NoSuchDeadLetter {
            queues: queues.to_vec(),
            id: id.to_owned(),
        }),
        _ => Err(OpsError::AmbiguousDeadLetter {
            id: id.to_owned(),
            queues: found.into_iter().map(|l| l.queue).collect(),
        }),
    }
}

fn is_stream_id(id: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit());
    match id.split_once('-') {
        Some((ms, seq)) => digits(ms) && digits(seq),
        None => digits(id),
    }
}

/// What a replay did to one dead letter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReplayOutcome {
    /// Put back for its handler (or, for a whole entry, every handler) and
    /// removed from the dead letters.
    Replayed,
    /// Already gone (replayed or purged by someone else meanwhile).
    Gone,
    /// The handler is already done for the event (it succeeded after the
    /// dead letter was written): the dead letter was removed, nothing re-runs.
    AlreadyDone,
    /// The handler is running for the event right now: left as it is.
    Running,
    /// The dead letter's consumer group does not read the queue (any more):
    /// left as it is, since nothing would read the replay.
    NoGroup,
    /// Not replayable: the event does not decode.
    Undecodable,
}

/// Puts a dead letter back in its group's due stream with attempts reset,
/// and removes it from the dead letters, atomically: of two racing
/// replays, one wins. The worker runs it for the handler that failed (or
/// every matching handler for a whole-entry dead letter); handlers already
/// done for the event are not run again.
pub async fn replay(
    connection: &mut Shared,
    letter: &DeadLetter,
    marker_ttl: Duration,
) -> Result<ReplayOutcome, OpsError> {
    let Some(envelope) = &letter.envelope else {
        return Ok(ReplayOutcome::Undecodable);
    };
    let fresh = envelope.clone().with_attempt(1);
    let encoded = fresh.encode();
    let origin = letter
        .fields
        .iter()
        .find(|(f, _)| f == extra::ORIGIN)
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let single = letter.handler != "*";
    let idempotency =
        webhook_core::handler::IdempotencyKey::new(&envelope.source, &letter.handler, &envelope.id);
    let script = redis::Script::new(script::REPLAY);
    let mut invocation = script.prepare_invoke();
    invocation
        .key(key::dead(&letter.queue))
        .key(key::due(&letter.queue, &letter.group))
        .key(key::done(&letter.queue, &letter.group, &idempotency))
        .key(key::events(&letter.queue))
        .arg(&letter.id)
        .arg(&letter.group)
        .arg(if single { "1" } else { "0" })
        .arg(
            u64::try_from(marker_ttl.as_millis())
                .unwrap_or(u64::MAX)
                .max(1),
        )
        .arg(extra::HANDLER)
        .arg(&letter.handler)
        .arg(extra::ORIGIN)
        .arg(&origin[..]);
    for (name, value) in encoded.fields() {
        invocation.arg(name).arg(value);
    }
    let replayed: i64 = invocation.invoke_async(connection).await?;
    Ok(match replayed {
        1 => ReplayOutcome::Replayed,
        2 => ReplayOutcome::AlreadyDone,
        3 => ReplayOutcome::Running,
        -1 => ReplayOutcome::NoGroup,
        _ => ReplayOutcome::Gone,
    })
}

/// Deletes dead letters; returns how many were still there.
pub async fn purge(connection: &mut Shared, queue: &str, ids: &[String]) -> Result<u64, OpsError> {
    if ids.is_empty() {
        return Ok(0);
    }
    let mut deleted = 0;
    for chunk in ids.chunks(500) {
        let n: u64 = redis::cmd("XDEL")
            .arg(key::dead(queue))
            .arg(chunk)
            .query_async(connection)
            .await?;
        deleted += n;
    }
    Ok(deleted)
}
