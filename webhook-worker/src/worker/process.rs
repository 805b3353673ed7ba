//! One stream entry: find its handlers, lease, run, settle, acknowledge.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use webhook_core::Envelope;
use webhook_core::handler::{
    Failure, HandlerContext, IdempotencyKey, Outcome, Registration, Retry, invoke,
};
use webhook_redis::{Marker, extra, key, reason};

use super::Runtime;
use super::settings::Unhandled;
use super::store::{Entry, Lease};

/// The `handler` of a whole-entry dead letter (poison, no handler,
/// undecodable) and of its replay: every matching handler.
pub(crate) const ALL_HANDLERS: &str = "*";

/// Which kind of stream an entry came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The queue's events: every matching handler runs.
    Events,
    /// The group's due retries: only the entry's `handler` runs.
    Due,
}

/// Handles one entry delivered `deliveries` times; acknowledges it once
/// every handler is settled (done, dead-lettered or scheduled to retry).
pub(crate) async fn process(runtime: Arc<Runtime>, entry: Entry, deliveries: u64) {
    let Some((queue, kind)) = runtime.stream_kind(&entry.stream) else {
        tracing::error!(stream = %entry.stream, "an entry from a stream this worker does not read");
        return;
    };
    let rt = &runtime;
    if deliveries > rt.settings.max_deliveries {
        let error = format!(
            "delivered {deliveries} times without being settled: a worker crashed or was killed while handling it"
        );
        return dead_letter_entry(
            rt,
            &queue,
            kind,
            &entry,
            reason::POISON,
            ALL_HANDLERS,
            &error,
        )
        .await;
    }
    if let Some(problem) = &entry.malformed {
        let error = format!("the entry cannot be read: {problem}");
        return dead_letter_entry(
            rt,
            &queue,
            kind,
            &entry,
            reason::UNDECODABLE,
            ALL_HANDLERS,
            &error,
        )
        .await;
    }
    let envelope = match Envelope::decode(entry.fields.iter().map(|(k, v)| (k.as_str(), v.clone())))
    {
        Ok(envelope) => Arc::new(envelope),
        Err(error) => {
            return dead_letter_entry(
                rt,
                &queue,
                kind,
                &entry,
                reason::UNDECODABLE,
                ALL_HANDLERS,
                &error.to_string(),
            )
            .await;
        }
    };
    // A partition's entries run the handlers of its queue.
    let Some(registry) = rt.registries.get(key::queue_of(&queue)) else {
        tracing::error!(%queue, "an entry of a queue this worker has no handlers for");
        return;
    };
    // A due entry names its handler; read it once for the whole entry.
    let due_handler = match kind {
        Kind::Due => Some(field_text(&entry, extra::HANDLER).unwrap_or_default()),
        Kind::Events => None,
    };
    let handlers: Vec<&'static Registration> = match due_handler.as_deref() {
        None => registry.handlers_for(&envelope.event_type),
        Some(ALL_HANDLERS) => {
            // A replayed whole-entry dead letter: every matching handler
            // runs, as for a new event; those already done are skipped.
            registry.handlers_for(&envelope.event_type)
        }
        Some(name) => match registry.get(name) {
            Some(handler) => vec![handler],
            None => {
                let error = format!(
                    "a retry for handler `{name}`, which this worker does not have (renamed or removed?)"
                );
                return dead_letter_entry(
                    rt,
                    &queue,
                    kind,
                    &entry,
                    reason::UNKNOWN_HANDLER,
                    name,
                    &error,
                )
                .await;
            }
        },
    };
    if handlers.is_empty() {
        // A replayed whole entry that no handler matches any more goes back
        // to the dead letters rather than vanishing.
        let unhandled = if kind == Kind::Due {
            Unhandled::DeadLetter
        } else {
            rt.settings.unhandled
        };
        match unhandled {
            Unhandled::Ack => {
                tracing::debug!(queue = %queue, event_id = %envelope.id, event_type = %envelope.event_type, "no handler; acknowledged");
                ack(rt, kind, &entry).await;
            }
            Unhandled::DeadLetter => {
                let error = format!("no handler matches event type `{}`", envelope.event_type);
                dead_letter_entry(
                    rt,
                    &queue,
                    kind,
                    &entry,
                    reason::NO_HANDLER,
                    ALL_HANDLERS,
                    &error,
                )
                .await;
            }
        }
        return;
    }
    let first_failed_at = field_text(&entry, extra::FIRST_FAILED_AT).and_then(|t| t.parse().ok());
    let origin = field_text(&entry, extra::ORIGIN).unwrap_or_else(|| entry.id.clone());
    // A retry may only run under the marker its schedule left; a new event
    // or a replayed whole entry carries none.
    let carried = match due_handler.as_deref() {
        Some(name) if name != ALL_HANDLERS => Marker::Retry(envelope.attempt).to_string(),
        _ => String::new(),
    };
    let job = Job {
        queue: &queue,
        carried: &carried,
        entry: &entry,
        envelope: &envelope,
        first_failed_at,
        origin: &origin,
    };
    let runs = handlers
        .into_iter()
        .map(|handler| run_one(rt, &job, handler));
    // Handlers of one event run concurrently.
    let settled = futures_util::future::join_all(runs).await;
    if settled.iter().all(|s| *s) {
        ack(rt, kind, &entry).await;
    } else {
        tracing::debug!(stream = %entry.stream, id = %entry.id, "left pending: a handler is not settled yet");
    }
}

/// One entry's event, as its handlers' runs share it.
struct Job<'a> {
    queue: &'a str,
    /// The retry marker the entry carries (`retry:<attempt>`), or empty.
    carried: &'a str,
    entry: &'a Entry,
    envelope: &'a Arc<Envelope>,
    first_failed_at: Option<u64>,
    origin: &'a str,
}

/// Runs one handler for one event under its lease; `true` once settled.
async fn run_one(rt: &Runtime, job: &Job<'_>, handler: &'static Registration) -> bool {
    let Job {
        queue,
        carried,
        entry,
        envelope,
        first_failed_at,
        origin,
    } = *job;
    let idempotency = IdempotencyKey::new(&envelope.source, handler.name(), &envelope.id);
    let done_key = key::done(queue, &rt.settings.group, &idempotency);
    let token = rt.next_token();
    match rt.lease(queue, &done_key, &token, carried.to_owned()).await {
        Some(Lease::Taken) => {}
        Some(Lease::Done | Lease::Dead | Lease::Scheduled) => return true,
        Some(Lease::Busy) | None => return false,
    }
    let context = HandlerContext::new(Arc::clone(envelope), Arc::clone(&rt.state), handler.name());
    let started = std::time::Instant::now();
    let outcome = with_heartbeat(rt, invoke(handler, context), &done_key, &token, entry).await;
    metrics::histogram!(crate::metrics::HANDLER_DURATION, "handler" => handler.name())
        .record(started.elapsed().as_secs_f64());
    let label = match &outcome {
        Outcome::Succeeded => "succeeded",
        Outcome::Failed(failure) if will_retry(failure, envelope, handler) => "retry_scheduled",
        Outcome::Failed(_) => "dead_lettered",
    };
    let fields = Fields {
        queue,
        envelope,
        handler,
        origin,
    };
    let settled = match outcome {
        Outcome::Succeeded => {
            tracing::debug!(handler = handler.name(), event_id = %envelope.id, attempt = envelope.attempt, "handler succeeded");
            // A Redis failure was already logged by the batch.
            rt.complete(queue, &done_key, &token).await.ok_or(None)
        }
        Outcome::Failed(failure) => {
            settle_failure(rt, &fields, &done_key, &token, &failure, first_failed_at)
                .await
                .map_err(Some)
        }
    };
    let label = match settled {
        Ok(true) => label,
        Ok(false) => "lease_lost",
        Err(_) => "unsettled",
    };
    metrics::counter!(crate::metrics::HANDLER_RUNS, "handler" => handler.name(), "outcome" => label).increment(1);
    match settled {
        Ok(true) => true,
        Err(None) => false,
        Ok(false) => {
            tracing::warn!(handler = handler.name(), event_id = %envelope.id, "the lease expired and another worker took it over; not settling");
            false
        }
        Err(Some(error)) => {
            tracing::warn!(%error, handler = handler.name(), event_id = %envelope.id, "cannot record the outcome; the entry stays pending and will run again");
            false
        }
    }
}

/// Whether a failed run gets a retry: retryable, and within the budget.
fn will_retry(failure: &Failure, envelope: &Envelope, handler: &'static Registration) -> bool {
    failure.retry.is_retryable() && envelope.attempt <= handler.options().retries
}

struct Fields<'a> {
    queue: &'a str,
    envelope: &'a Envelope,
    handler: &'static Registration,
    origin: &'a str,
}

async fn settle_failure(
    rt: &Runtime,
    fields: &Fields<'_>,
    done_key: &str,
    token: &str,
    failure: &Failure,
    first_failed_at: Option<u64>,
) -> Result<bool, redis::RedisError> {
    let Fields {
        queue,
        envelope,
        handler,
        origin,
    } = *fields;
    let now = now_ms();
    let first_failed_at = first_failed_at.unwrap_or(now).to_string();
    let attempt = envelope.attempt;
    let options = handler.options();
    let group = rt.settings.group.as_str();
    if will_retry(failure, envelope, handler) {
        let delay = match failure.retry {
            Retry::After(delay) => delay,
            _ => options.backoff.delay(attempt, jitter()),
        };
        let due = now + super::store::millis(delay);
        let next = envelope.clone().with_attempt(attempt + 1);
        let encoded = next.encode();
        let mut record: Vec<(&str, &[u8])> = vec![
            (extra::HANDLER, handler.name().as_bytes()),
            (extra::GROUP, group.as_bytes()),
            (extra::ERROR, failure.message.as_bytes()),
            (extra::FIRST_FAILED_AT, first_failed_at.as_bytes()),
            (extra::ORIGIN, origin.as_bytes()),
        ];
        record.extend(encoded.fields());
        let retry_id = IdempotencyKey::new(&envelope.source, handler.name(), &envelope.id);
        tracing::warn!(handler = handler.name(), event_id = %envelope.id, attempt, retry_in_ms = due - now, error = %failure.message, "handler failed; retry scheduled");
        let marker = Marker::Retry(attempt + 1);
        let scheduled = rt
            .store
            .schedule(
                done_key,
                token,
                queue,
                group,
                &retry_id,
                due,
                &marker,
                rt.settings.done_ttl,
                &record,
            )
            .await;
        rt.retry_scheduled.notify_one();
        scheduled
    } else {
        let reason = if failure.retry.is_retryable() {
            reason::RETRIES_EXHAUSTED
        } else {
            reason::REJECTED
        };
        let (attempts, last) = (attempt.to_string(), now.to_string());
        let encoded = envelope.encode();
        let mut record: Vec<(&str, &[u8])> = vec![
            (extra::HANDLER, handler.name().as_bytes()),
            (extra::GROUP, group.as_bytes()),
            (extra::REASON, reason.as_bytes()),
            (extra::ERROR, failure.message.as_bytes()),
            (extra::ATTEMPTS, attempts.as_bytes()),
            (extra::FIRST_FAILED_AT, first_failed_at.as_bytes()),
            (extra::LAST_FAILED_AT, last.as_bytes()),
            (extra::ORIGIN, origin.as_bytes()),
        ];
        record.extend(encoded.fields());
        tracing::error!(handler = handler.name(), event_id = %envelope.id, attempts = attempt, reason, error = %failure.message, "handler failed; dead-lettered");
        metrics::counter!(crate::metrics::DEAD_LETTERS_TOTAL, "queue" => queue.to_owned(), "reason" => reason)
            .increment(1);
        rt.store
            .bury(done_key, token, queue, rt.settings.done_ttl, &record)
            .await
    }
}

/// Runs `run` while renewing the lease and the entry's idle time, so no
/// other worker takes over a handler that is still running.
async fn with_heartbeat<F: Future>(
    rt: &Runtime,
    run: F,
    done_key: &str,
    token: &str,
    entry: &Entry,
) -> F::Output {
    let period = (rt.visibility / 3).max(Duration::from_millis(1));
    // The first beat is one period away. (Awaiting an interval's immediate
    // first tick costs up to a millisecond of timer granularity per run.)
    let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(run);
    let mut held = true;
    loop {
        tokio::select! {
            output = &mut run => return output,
            _ = beat.tick(), if held => {
                match rt.store.renew(done_key, token, rt.visibility).await {
                    Ok(true) => {}
                    Ok(false) => {
                        // Another worker took over: stop pulling the entry
                        // back; this run's outcome will not be recorded.
                        tracing::warn!(id = %entry.id, "the lease was taken over while the handler ran");
                        held = false;
                        continue;
                    }
                    Err(error) => tracing::warn!(%error, "cannot renew a lease"),
                }
                if let Err(error) = rt.store.touch(&entry.stream, &rt.settings.group, &rt.settings.consumer, &entry.id).await {
                    tracing::warn!(%error, "cannot refresh a pending entry");
                }
            }
        }
    }
}

async fn dead_letter_entry(
    rt: &Runtime,
    queue: &str,
    kind: Kind,
    entry: &Entry,
    reason: &str,
    handler: &str,
    error: &str,
) {
    let now = now_ms().to_string();
    // A due retry keeps its own handler, origin and first failure; its
    // attempts so far are its attempt number minus one.
    let carried = |name| field_text(entry, name);
    let handler = carried(extra::HANDLER).unwrap_or_else(|| handler.to_owned());
    let origin = carried(extra::ORIGIN).unwrap_or_else(|| entry.id.clone());
    let attempts = carried(webhook_core::layout::field::ATTEMPT)
        .and_then(|a| a.parse::<u32>().ok())
        .map_or(0, |a| a.saturating_sub(1))
        .to_string();
    let mut record: Vec<(&str, &[u8])> = vec![
        (extra::HANDLER, handler.as_bytes()),
        (extra::GROUP, rt.settings.group.as_bytes()),
        (extra::REASON, reason.as_bytes()),
        (extra::ERROR, error.as_bytes()),
        (extra::ATTEMPTS, attempts.as_bytes()),
        (extra::LAST_FAILED_AT, now.as_bytes()),
        (extra::ORIGIN, origin.as_bytes()),
    ];
    let known = |name: &str| record_has(&record, name);
    let original: Vec<(&str, &[u8])> = entry
        .fields
        .iter()
        .filter(|(name, _)| !known(name))
        .map(|(name, value)| (name.as_str(), &value[..]))
        .collect();
    record.extend(original);
    match rt
        .store
        .dead_letter_entry(
            queue,
            entry,
            &rt.settings.group,
            &rt.settings.consumer,
            kind == Kind::Due,
            &record,
        )
        .await
    {
        Ok(true) => {
            tracing::error!(stream = %entry.stream, id = %entry.id, reason, %error, "entry dead-lettered");
            metrics::counter!(crate::metrics::DEAD_LETTERS_TOTAL, "queue" => queue.to_owned(), "reason" => reason.to_owned())
                .increment(1);
        }
        Ok(false) => {
            tracing::warn!(stream = %entry.stream, id = %entry.id, "the entry was claimed by another worker or settled meanwhile; not dead-lettered here");
        }
        Err(error) => tracing::warn!(%error, "cannot dead-letter the entry; it stays pending"),
    }
}

fn record_has(record: &[(&str, &[u8])], name: &str) -> bool {
    record.iter().any(|(field, _)| *field == name)
}

async fn ack(rt: &Runtime, kind: Kind, entry: &Entry) {
    rt.acknowledge(&entry.stream, &entry.id, kind == Kind::Due);
}

fn field_text(entry: &Entry, name: &str) -> Option<String> {
    entry
        .fields
        .iter()
        .find(|(field, _)| field == name)
        .and_then(|(_, value)| std::str::from_utf8(value).ok())
        .map(str::to_owned)
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A number in `[0, 1)` for backoff jitter; needs no cryptographic quality.
fn jitter() -> f64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static STATE: AtomicU64 = AtomicU64::new(0);
    let seed = STATE.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
        ^ u64::from(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos()),
        );
    // splitmix64
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}
