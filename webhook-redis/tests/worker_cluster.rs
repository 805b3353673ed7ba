//! Every call of the worker's store on a real local Redis Cluster (three
//! masters the test starts itself): each script is given every key it
//! touches and all of one call's keys share a slot, so the cluster runs
//! them as one Redis does, for queues that live on different masters.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../tests/support/redis_cluster.rs"]
#[allow(dead_code, unreachable_pub)]
mod redis_cluster;

use std::time::Duration;

use redis_cluster::RedisCluster;
use webhook_redis::worker::{Lease, Store};
use webhook_redis::{Marker, connect, key};

const TIMEOUT: Duration = Duration::from_secs(5);

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_store_call_runs_on_a_cluster() {
    let cluster = RedisCluster::start();
    let target = connect::target(&cluster.url(), TIMEOUT).unwrap();
    let store = Store::new(&target, TIMEOUT).unwrap();
    let queues = ["orders", "payments", "emails", "audit", "search", "billing"];
    let owners: std::collections::BTreeSet<u16> = queues
        .iter()
        .map(|q| cluster.owner_of(&key::events(q)))
        .collect();
    assert!(owners.len() > 1, "the queues all landed on one node");

    for queue in queues {
        let events = key::events(queue);
        store
            .create_groups(&[events.clone(), key::due(queue, "g")], "g")
            .await
            .unwrap();
        // An event, delivered to consumer c1 (what the reader does).
        let mut node = cluster.connection_for(&events);
        let id: String = redis::cmd("XADD")
            .arg(&events)
            .arg("*")
            .arg(&["id", "e1", "type", "t", "body", "{}"][..])
            .query(&mut node)
            .unwrap();
        let _: redis::Value = redis::cmd("XREADGROUP")
            .arg(&["GROUP", "g", "c1", "COUNT", "10", "STREAMS"][..])
            .arg(&events)
            .arg(">")
            .query(&mut node)
            .unwrap();

        // Lease, renew, schedule a retry, promote it, lease it as the
        // retry, complete it.
        let done = key::done(queue, "g", "src/h/e1");
        let lease =
            |token: &str, carried: &str| vec![(done.clone(), token.to_owned(), carried.to_owned())];
        assert_eq!(
            store.lease_many(&lease("T1", ""), TIMEOUT).await.unwrap(),
            [Lease::Taken],
            "{queue}"
        );
        assert!(store.renew(&done, "T1", TIMEOUT).await.unwrap());
        let record: Vec<(&str, &[u8])> = vec![
            ("id", b"e1"),
            ("type", b"t"),
            ("attempt", b"2"),
            ("handler", b"h"),
            ("body", b"{}"),
        ];
        let scheduled = store
            .schedule(
                &done,
                "T1",
                queue,
                "g",
                "src/h/e1",
                1,
                &Marker::Retry(2),
                Duration::from_secs(60),
                &record,
            )
            .await
            .unwrap();
        assert!(scheduled, "{queue}");
        let (moved, next) = store.promote(queue, "g", 10, 100).await.unwrap();
        assert_eq!((moved, next), (1, -1), "{queue}");
        assert_eq!(
            store
                .lease_many(&lease("T2", &Marker::Retry(2).to_string()), TIMEOUT)
                .await
                .unwrap(),
            [Lease::Taken],
            "{queue}"
        );
        assert_eq!(
            store
                .complete_many(&[(done.clone(), "T2".to_owned())], Duration::from_secs(60))
                .await
                .unwrap(),
            [true],
            "{queue}"
        );

        // A second handler fails for good: buried.
        let other = key::done(queue, "g", "src/h2/e1");
        let items = vec![(other.clone(), "T3".to_owned(), String::new())];
        assert_eq!(
            store.lease_many(&items, TIMEOUT).await.unwrap(),
            [Lease::Taken]
        );
        assert!(
            store
                .bury(&other, "T3", queue, Duration::from_secs(60), &record)
                .await
                .unwrap()
        );

        // The entry itself: touched, released, claimed back, dead-lettered
        // whole, acknowledged; then the group's upkeep.
        store.touch(&events, "g", "c1", &id).await.unwrap();
        store
            .release(&events, "g", "c1", &id, Duration::from_secs(3600))
            .await
            .unwrap();
        let (claimed, missing) = store
            .claim_idle(&events, "g", "c2", Duration::from_secs(60), 10)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1, "{queue}");
        assert!(missing.is_empty());
        let (entry, _) = claimed.into_iter().next().unwrap();
        assert!(
            store
                .dead_letter_entry(queue, &entry, "g", "c2", false, &record)
                .await
                .unwrap(),
            "{queue}"
        );
        store.ack(&events, "g", &[&id], false).await.unwrap();
        store
            .prune_consumers(&events, "g", "c2", Duration::from_millis(1))
            .await
            .unwrap();
        store
            .trim(&events, now_ms(), Duration::from_millis(1))
            .await
            .unwrap();

        let dead: u64 = redis::cmd("XLEN")
            .arg(key::dead(queue))
            .query(&mut cluster.connection_for(&key::dead(queue)))
            .unwrap();
        assert_eq!(dead, 2, "{queue}: the buried handler and the whole entry");
    }
}
