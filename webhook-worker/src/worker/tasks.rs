//! The worker's loops: read, reclaim, promote retries, trim.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, mpsc, oneshot, watch};
use webhook_redis::key;

use super::Runtime;
use super::process::now_ms;
use super::store::{Lease, Reader, Store};

/// The most entries one read asks for.
const MAX_BATCH: usize = 256;
/// The longest the retry scheduler sleeps when it knows of no due time.
const SCHEDULER_POLL: Duration = Duration::from_millis(100);

/// Starts the read loops: on one server a single loop over every stream the
/// worker reads, taking in partitions found later (`names` is not used);
/// on a cluster, where one read reaches one hash slot, a loop per name of
/// `names`.
pub(crate) fn spawn_read_loops(
    rt: &Arc<Runtime>,
    target: &webhook_redis::connect::Target,
    names: &[String],
    stop: &watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let spawn = |streams: Option<Vec<String>>| {
        let reader = Reader::new(target, rt.settings.redis_timeout);
        tokio::spawn(read_loop(Arc::clone(rt), streams, reader, stop.clone()))
    };
    match target {
        webhook_redis::connect::Target::Single(_) => vec![spawn(None)],
        webhook_redis::connect::Target::Cluster(_) => names
            .iter()
            .map(|name| spawn(Some(rt.streams_of(std::slice::from_ref(name)))))
            .collect(),
    }
}

/// Reads the partitions of the worker's queues from Redis and adds those
/// not read yet, with their consumer groups; the names added.
pub(crate) async fn find_partitions(rt: &Runtime) -> Result<Vec<String>, redis::RedisError> {
    let mut queues: Vec<&String> = rt.registries.keys().collect();
    queues.sort_unstable();
    let known = rt.names();
    let mut found = Vec::new();
    for queue in queues {
        let partitions = rt.store.partitions(queue).await?;
        found.extend(
            partitions
                .names(queue)
                .into_iter()
                .filter(|name| !known.contains(name)),
        );
    }
    if found.is_empty() {
        return Ok(found);
    }
    rt.store
        .create_groups(&rt.streams_of(&found), &rt.settings.group)
        .await?;
    let added = rt.add_names(found);
    if !added.is_empty() {
        tracing::info!(partitions = ?added, "reading partitions");
    }
    Ok(added)
}

/// How often a running worker looks for partitions added to its queues.
const PARTITION_POLL: Duration = Duration::from_secs(5);

/// Every [`PARTITION_POLL`], takes in the partitions added to the worker's
/// queues (the ingest was given a higher count), so a worker started
/// before them reads them without a restart. Ends, with the read loops it
/// started, when `stop` changes.
pub(crate) async fn partition_loop(
    rt: Arc<Runtime>,
    target: webhook_redis::connect::Target,
    mut stop: watch::Receiver<bool>,
) {
    // Aborted with this loop when the worker's stop deadline passes, so
    // none outlives the worker.
    let mut loops = AbortOnDrop(Vec::new());
    loop {
        tokio::select! {
            _ = tokio::time::sleep(PARTITION_POLL) => {}
            _ = stop.changed() => break,
        }
        match find_partitions(&rt).await {
            Ok(added) if !added.is_empty() => {
                if matches!(target, webhook_redis::connect::Target::Cluster(_)) {
                    loops
                        .0
                        .extend(spawn_read_loops(&rt, &target, &added, &stop));
                }
            }
            Ok(_) => {}
            Err(error) => tracing::debug!(%error, "cannot look for new partitions"),
        }
    }
    for handle in &mut loops.0 {
        let _ = handle.await;
    }
}

/// Tasks aborted when this is dropped.
struct AbortOnDrop(Vec<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.iter().for_each(tokio::task::JoinHandle::abort);
    }
}

/// Reads new entries in batches sized by the free concurrency slots: from
/// `streams`, or, when `None`, from every stream the worker reads (read
/// again for each batch, so partitions found later are read too). A loop
/// reads once a slot is free and holds none while its read blocks, so the
/// other loops (one per name on a cluster) and the runs keep every slot;
/// each loop asks for its share of the free slots, and what a read returns
/// beyond them waits for slots to free up.
pub(crate) async fn read_loop(
    rt: Arc<Runtime>,
    fixed: Option<Vec<String>>,
    mut reader: Reader,
    mut stop: watch::Receiver<bool>,
) {
    let mut failures = 0u32;
    loop {
        let streams = match &fixed {
            Some(streams) => streams.clone(),
            None => rt.streams(),
        };
        // Read only once a slot is free, but hold none while the read
        // blocks: on a cluster, other loops (one per name) and the runs
        // need them.
        let first = tokio::select! {
            permit = Arc::clone(&rt.slots).acquire_owned() => match permit { Ok(permit) => permit, Err(_) => return },
            _ = stop.changed() => return,
        };
        let free = 1 + rt.slots.available_permits();
        drop(first);
        // Loops read at once: each asks for its share of the free slots, so
        // together they take about as many entries as can start. COUNT
        // applies per stream: split the share between them.
        let loops = if fixed.is_some() {
            rt.name_count().max(1)
        } else {
            1
        };
        let count = (free / loops).clamp(1, MAX_BATCH).div_ceil(streams.len());
        // A read in flight is not cancelled on stop (it blocks at most
        // `block`): what it returns was already delivered to this consumer.
        let result = reader
            .read(
                &streams,
                &rt.settings.group,
                &rt.settings.consumer,
                count,
                rt.settings.block,
            )
            .await;
        match result {
            Ok(entries) if *stop.borrow() => {
                // Stopping: hand back what was read but not started, so
                // other workers can claim it at once.
                release(&rt, entries).await;
                return;
            }
            Ok(entries) => {
                failures = 0;
                // Every entry read is handled; one beyond the free slots
                // waits for one (it is already delivered to us), unless the
                // worker stops first: then it and the rest are handed back.
                let mut permits = Vec::new();
                while permits.len() < entries.len() {
                    match Arc::clone(&rt.slots).try_acquire_owned() {
                        Ok(permit) => permits.push(permit),
                        Err(_) => break,
                    }
                }
                let mut entries = entries.into_iter();
                while let Some(entry) = entries.next() {
                    match next_permit(&rt, &mut permits, &mut stop).await {
                        Some(permit) => rt.spawn_run(entry, 1, permit),
                        None => {
                            release(&rt, std::iter::once(entry).chain(entries).collect()).await;
                            return;
                        }
                    }
                }
            }
            Err(error) if error.code() == Some("NOGROUP") => {
                tracing::warn!(
                    "the consumer group is missing (Redis restarted without its data?); re-creating it"
                );
                if let Err(error) = rt.store.create_groups(&streams, &rt.settings.group).await {
                    tracing::warn!(%error, "cannot re-create the consumer group");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = stop.changed() => return,
                    }
                }
            }
            Err(error) => {
                failures += 1;
                let pause = Duration::from_millis(100 * u64::from(failures.min(20)));
                tracing::warn!(%error, retry_in_ms = pause.as_millis() as u64, "cannot read from Redis");
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = stop.changed() => return,
                }
            }
        }
    }
}

/// A concurrency slot for the next entry: one already taken, else the next
/// one freed; `None` once the worker is stopping, so nothing new starts
/// after the signal.
async fn next_permit(
    rt: &Arc<Runtime>,
    taken: &mut Vec<OwnedSemaphorePermit>,
    stop: &mut watch::Receiver<bool>,
) -> Option<OwnedSemaphorePermit> {
    if *stop.borrow() {
        return None;
    }
    if let Some(permit) = taken.pop() {
        return Some(permit);
    }
    tokio::select! {
        permit = Arc::clone(&rt.slots).acquire_owned() => permit.ok(),
        _ = stop.changed() => None,
    }
}

/// Makes entries this worker read but will not start claimable by others
/// right away, instead of after the visibility timeout.
async fn release(rt: &Runtime, entries: Vec<super::store::Entry>) {
    for entry in entries {
        if let Err(error) = rt
            .store
            .release(
                &entry.stream,
                &rt.settings.group,
                &rt.settings.consumer,
                &entry.id,
                rt.visibility,
            )
            .await
        {
            tracing::warn!(%error, id = %entry.id, "cannot release an unstarted entry; it will be claimed after the visibility timeout");
        }
    }
}

/// Claims entries that another worker left idle past the visibility
/// timeout (it crashed, or hangs) and handles them here. Every
/// visibility/4 (at least 500 ms) it claims as many as it has free slots
/// for, and comes back at once while a claim came back full, so a crashed
/// worker's backlog is taken in one period, not one batch per period. Then
/// it removes the group's consumers that own nothing and were idle longer
/// than [`CONSUMER_IDLE_LIMIT`] visibility timeouts.
pub(crate) async fn reclaim_loop(rt: Arc<Runtime>, mut stop: watch::Receiver<bool>) {
    let every = (rt.visibility / 4).max(Duration::from_millis(500));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        let streams = rt.streams();
        let mut more = true;
        while more {
            more = false;
            for stream in &streams {
                match reclaim_round(&rt, stream, &mut stop).await {
                    Some(full) => more |= full,
                    None => return,
                }
            }
        }
        for stream in &streams {
            match rt
                .store
                .prune_consumers(
                    stream,
                    &rt.settings.group,
                    &rt.settings.consumer,
                    rt.visibility * CONSUMER_IDLE_LIMIT,
                )
                .await
            {
                Ok(0) => {}
                Ok(removed) => {
                    tracing::info!(%stream, removed, "removed consumers that own nothing and were long idle")
                }
                Err(error) if error.code() == Some("NOGROUP") => {}
                Err(error) => tracing::warn!(%error, %stream, "cannot remove idle consumers"),
            }
        }
    }
}

/// Consumers owning no entry and idle longer than this many visibility
/// timeouts are removed from the group. A live worker reads at least every
/// block period (1 s), so it is never that idle; and it is only ever
/// removed while it owns nothing.
pub(crate) const CONSUMER_IDLE_LIMIT: u32 = 2;

/// Claims as many idle entries of `stream` as there are free slots (waiting
/// for one), and starts them; `Some(true)` when the claim came back full
/// (there may be more), `None` when the worker is stopping.
async fn reclaim_round(
    rt: &Arc<Runtime>,
    stream: &str,
    stop: &mut watch::Receiver<bool>,
) -> Option<bool> {
    let first = next_permit(rt, &mut Vec::new(), stop).await?;
    let mut permits = vec![first];
    while permits.len() < MAX_BATCH {
        match Arc::clone(&rt.slots).try_acquire_owned() {
            Ok(permit) => permits.push(permit),
            Err(_) => break,
        }
    }
    let count = permits.len();
    let claimed = rt
        .store
        .claim_idle(
            stream,
            &rt.settings.group,
            &rt.settings.consumer,
            rt.visibility,
            count,
        )
        .await;
    let (entries, deleted) = match claimed {
        Ok(claimed) => claimed,
        Err(error) if error.code() == Some("NOGROUP") => return Some(false),
        Err(error) => {
            tracing::warn!(%error, %stream, "cannot claim idle entries");
            return Some(false);
        }
    };
    let full = entries.len() + deleted.len() >= count;
    for id in deleted {
        // The entry left the stream while pending: an event was lost.
        tracing::error!(%stream, %id, "a pending entry was deleted from the stream before it was handled; the event is lost");
        metrics::counter!(crate::metrics::EVENTS_LOST, "stream" => stream.to_owned()).increment(1);
    }
    let mut entries = entries.into_iter();
    while let Some((entry, deliveries)) = entries.next() {
        let Some(permit) = next_permit(rt, &mut permits, stop).await else {
            // Stopping: hand back what was claimed but not started, so
            // another worker claims it at once.
            let unstarted = std::iter::once(entry)
                .chain(entries.map(|(entry, _)| entry))
                .collect();
            release(rt, unstarted).await;
            return None;
        };
        tracing::info!(%stream, id = %entry.id, deliveries, "claimed an idle entry");
        rt.spawn_run(entry, deliveries, permit);
    }
    Some(full)
}

/// Moves due retries into the group's due streams; wakes for the next due
/// time, when this worker schedules a retry, or every 100 ms for retries
/// other workers scheduled.
pub(crate) async fn schedule_loop(rt: Arc<Runtime>, mut stop: watch::Receiver<bool>) {
    loop {
        let now = now_ms();
        let mut next_due: Option<u64> = None;
        for queue in &rt.names() {
            match rt
                .store
                .promote(queue, &rt.settings.group, now, MAX_BATCH)
                .await
            {
                Ok((moved, next)) => {
                    if moved as usize >= MAX_BATCH {
                        next_due = Some(now);
                    } else if let Ok(next) = u64::try_from(next) {
                        next_due = Some(next_due.map_or(next, |due| due.min(next)));
                    }
                }
                Err(error) => tracing::warn!(%error, %queue, "cannot promote due retries"),
            }
        }
        let wait = next_due
            .map_or(SCHEDULER_POLL, |due| {
                Duration::from_millis(due.saturating_sub(now_ms()))
            })
            .min(SCHEDULER_POLL);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = rt.retry_scheduled.notified() => {}
            _ = stop.changed() => return,
        }
    }
}

/// Trims each queue's stream below what every group still needs.
pub(crate) async fn trim_loop(rt: Arc<Runtime>, mut stop: watch::Receiver<bool>) {
    loop {
        for queue in &rt.names() {
            match rt
                .store
                .trim(&key::events(queue), now_ms(), rt.settings.retention)
                .await
            {
                Ok(0) => {}
                Ok(removed) => tracing::debug!(%queue, removed, "trimmed processed entries"),
                Err(error) => tracing::warn!(%error, %queue, "cannot trim the stream"),
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => return,
        }
    }
}

/// A settled entry to acknowledge, or a request to confirm that everything
/// sent before it was acknowledged.
pub(crate) enum AckMessage {
    Ack {
        stream: String,
        id: String,
        delete: bool,
    },
    Flush(oneshot::Sender<()>),
}

/// The most acknowledgements sent in one batch.
const MAX_ACKS: usize = 1024;

/// Acknowledges settled entries in batches: whatever queued up while the
/// previous batch was in flight goes in one `XACK` per stream. Delaying an
/// acknowledgement is safe: the entry's handlers are already settled, so a
/// redelivery only finds them done.
pub(crate) async fn ack_loop(
    store: Store,
    group: String,
    mut messages: mpsc::UnboundedReceiver<AckMessage>,
) {
    while let Some(first) = messages.recv().await {
        let mut batch: BTreeMap<(String, bool), Vec<String>> = BTreeMap::new();
        let mut flushed = Vec::new();
        let mut take = |message| match message {
            AckMessage::Ack { stream, id, delete } => {
                batch.entry((stream, delete)).or_default().push(id)
            }
            AckMessage::Flush(done) => flushed.push(done),
        };
        take(first);
        for _ in 1..MAX_ACKS {
            match messages.try_recv() {
                Ok(message) => take(message),
                Err(_) => break,
            }
        }
        for ((stream, delete), ids) in batch {
            let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
            if let Err(error) = store.ack(&stream, &group, &ids, delete).await {
                tracing::warn!(%error, %stream, entries = ids.len(), "cannot acknowledge; those entries will be claimed again and their handlers found done");
            }
        }
        for done in flushed {
            let _ = done.send(());
        }
    }
}

/// A lease to take or a success to record, waiting to go to Redis in one
/// script call with the others of its queue.
pub(crate) enum Settle {
    Lease {
        queue: String,
        key: String,
        token: String,
        /// `retry:<attempt>` for a due retry, empty for a new event.
        carried: String,
        reply: oneshot::Sender<Option<Lease>>,
    },
    Complete {
        queue: String,
        key: String,
        token: String,
        reply: oneshot::Sender<Option<bool>>,
    },
}

/// The most leases or completions sent in one script call.
const MAX_SETTLES: usize = 512;

type Waiting<I, T> = BTreeMap<String, Vec<(I, oneshot::Sender<Option<T>>)>>;

/// Takes leases and records successes in batches: what queued up while the
/// previous batch was in flight goes in one script call per queue, so a
/// busy worker spends a few Redis calls per batch rather than two per event.
/// Each item is still checked against its own token inside the script.
pub(crate) async fn settle_loop(
    store: Store,
    lease: Duration,
    done_ttl: Duration,
    mut requests: mpsc::UnboundedReceiver<Settle>,
) {
    while let Some(first) = requests.recv().await {
        let mut leases: Waiting<(String, String, String), Lease> = BTreeMap::new();
        let mut completes: Waiting<(String, String), bool> = BTreeMap::new();
        let mut take = |request| match request {
            Settle::Lease {
                queue,
                key,
                token,
                carried,
                reply,
            } => leases
                .entry(queue)
                .or_default()
                .push(((key, token, carried), reply)),
            Settle::Complete {
                queue,
                key,
                token,
                reply,
            } => completes
                .entry(queue)
                .or_default()
                .push(((key, token), reply)),
        };
        take(first);
        for _ in 1..MAX_SETTLES {
            match requests.try_recv() {
                Ok(request) => take(request),
                Err(_) => break,
            }
        }
        let lease_calls = leases.into_values().map(|waiting| {
            let store = store.clone();
            async move {
                let (items, replies): (Vec<_>, Vec<_>) = waiting.into_iter().unzip();
                answer(
                    store.lease_many(&items, lease).await,
                    replies,
                    "take leases",
                );
            }
        });
        let complete_calls = completes.into_values().map(|waiting| {
            let store = store.clone();
            async move {
                let (items, replies): (Vec<_>, Vec<_>) = waiting.into_iter().unzip();
                answer(
                    store.complete_many(&items, done_ttl).await,
                    replies,
                    "record successes",
                );
            }
        });
        futures_util::future::join(
            futures_util::future::join_all(lease_calls),
            futures_util::future::join_all(complete_calls),
        )
        .await;
    }
}

fn answer<T>(
    result: redis::RedisResult<Vec<T>>,
    replies: Vec<oneshot::Sender<Option<T>>>,
    what: &str,
) {
    match result {
        Ok(values) if values.len() == replies.len() => {
            for (reply, value) in replies.into_iter().zip(values) {
                let _ = reply.send(Some(value));
            }
        }
        Ok(values) => {
            tracing::error!(
                expected = replies.len(),
                got = values.len(),
                "cannot {what}: the script answered a wrong number of items"
            );
            for reply in replies {
                let _ = reply.send(None);
            }
        }
        Err(error) => {
            tracing::warn!(%error, items = replies.len(), "cannot {what}; those entries stay pending and run again");
            for reply in replies {
                let _ = reply.send(None);
            }
        }
    }
}

/// Publishes queue gauges (length, pending, lag, oldest pending, retries,
/// dead letters) every five seconds, for `/metrics`.
pub(crate) async fn gauge_loop(
    rt: Arc<Runtime>,
    target: webhook_redis::connect::Target,
    mut stop: watch::Receiver<bool>,
) {
    // A connection of its own, reconnecting by itself, so the gauges'
    // commands never queue behind the handlers' calls.
    let mut connection = match webhook_redis::connect::shared(&target, rt.settings.redis_timeout) {
        Ok(connection) => connection,
        Err(error) => {
            tracing::warn!(%error, "cannot publish queue gauges");
            return;
        }
    };
    loop {
        for queue in &rt.names() {
            let read = webhook_redis::stats::stats(&mut connection, queue);
            match tokio::time::timeout(rt.settings.redis_timeout * 4, read).await {
                Ok(Ok(stats)) => publish(&stats),
                Ok(Err(webhook_redis::stats::StatsError::UnknownQueue(_))) => {}
                Ok(Err(error)) => {
                    tracing::debug!(%error, "cannot read queue statistics");
                    break;
                }
                Err(_) => {
                    tracing::debug!("queue statistics took too long");
                    break;
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            _ = stop.changed() => return,
        }
    }
}

fn publish(stats: &webhook_redis::stats::QueueStats) {
    use crate::metrics as m;
    let queue = stats.queue.clone();
    metrics::gauge!(m::QUEUE_LENGTH, "queue" => queue.clone()).set(stats.length as f64);
    metrics::gauge!(m::DEAD_LETTERS, "queue" => queue.clone()).set(stats.dead_letters as f64);
    for group in &stats.groups {
        let labels = [("queue", queue.clone()), ("group", group.name.clone())];
        metrics::gauge!(m::QUEUE_PENDING, &labels).set(group.pending as f64);
        if let Some(lag) = group.lag {
            metrics::gauge!(m::QUEUE_LAG, &labels).set(lag as f64);
        }
        let oldest = group.oldest_pending_age_ms.unwrap_or(0) as f64 / 1000.0;
        metrics::gauge!(m::QUEUE_OLDEST_PENDING, &labels).set(oldest);
        metrics::gauge!(m::RETRIES_SCHEDULED, &labels).set(group.retries_scheduled as f64);
    }
}
