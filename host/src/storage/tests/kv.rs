//! The adapters' kv store: expiry, fills, quota.

use super::*;

async fn kv_values_expire_and_one_call_fills_a_missing_key(db: Backend) {
    let nodes = db.nodes(2).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let get = |node: &Arc<dyn Store>, holder: &'static str, now: u64| {
        let node = node.clone();
        async move {
            node.kv_get("c1", "token", holder, at(now), at(now + 10), 8)
                .await
                .unwrap()
        }
    };
    // A missing key: the first reader fills it, the others wait for it.
    assert_eq!(get(a, "h1", 0).await, KvRead::Fill);
    assert_eq!(
        get(a, "h1", 0).await,
        KvRead::Fill,
        "a filler may read again"
    );
    assert_eq!(get(b, "h2", 1).await, KvRead::Filling);
    assert!(
        a.kv_set("c1", "token", b"t1", Some(at(30)), at(2), 8)
            .await
            .unwrap()
    );
    assert_eq!(get(b, "h2", 3).await, KvRead::Value(b"t1".to_vec()));
    assert_eq!(get(b, "h2", 3).await, KvRead::Value(b"t1".to_vec()));
    // It expires; then one reader fills it again.
    assert_eq!(get(b, "h2", 30).await, KvRead::Fill);
    assert_eq!(get(a, "h3", 31).await, KvRead::Filling);
    // A filler that never sets the key is waited for until its time ends...
    assert_eq!(get(a, "h3", 40).await, KvRead::Fill);
    // ... or until its call ends and it gives the fill up.
    a.kv_release("c1", "h3").await.unwrap();
    assert_eq!(get(b, "h4", 41).await, KvRead::Fill);
    // A delete removes the value, not the fill in progress.
    assert!(
        b.kv_set("c1", "token", b"t2", None, at(42), 8)
            .await
            .unwrap()
    );
    assert_eq!(get(a, "h5", 43).await, KvRead::Value(b"t2".to_vec()));
    a.kv_delete("c1", "token").await.unwrap();
    assert_eq!(get(a, "h5", 44).await, KvRead::Fill);
    assert_eq!(
        b.kv_get("c2", "token", "h6", at(44), at(54), 8)
            .await
            .unwrap(),
        KvRead::Fill,
        "keys are per connection"
    );

    // A bounded number of live keys per connection.
    for key in ["k1", "k2"] {
        assert!(a.kv_set("c3", key, b"v", None, at(50), 2).await.unwrap());
    }
    assert!(!a.kv_set("c3", "k3", b"v", None, at(50), 2).await.unwrap());
    assert!(a.kv_set("c3", "k2", b"w", None, at(50), 2).await.unwrap());
    a.kv_set("c3", "k1", b"v", Some(at(60)), at(50), 2)
        .await
        .unwrap();
    assert!(
        a.kv_set("c3", "k3", b"v", None, at(61), 2).await.unwrap(),
        "k1 expired"
    );

    // Readers racing on every node for a missing key: one fills it.
    let holders: Vec<String> = (0..12).map(|i| format!("r{i}")).collect();
    let reads = holders.iter().enumerate().map(|(i, holder)| {
        let node = nodes[i % nodes.len()].clone();
        async move {
            node.kv_get("c4", "token", holder, at(70), at(80), 8)
                .await
                .unwrap()
        }
    });
    let reads = join_all(reads).await;
    let fills = reads.iter().filter(|r| **r == KvRead::Fill).count();
    assert_eq!(fills, 1, "{reads:?}");
}

/// Before: a miss made a row outside the quota, which only a later write
/// of the same key removed, and a connection's store outlived it.
async fn kv_fills_count_in_the_quota_and_rows_no_call_reads_go(db: Backend) {
    let store = db.node().await;
    let get = |connection: &'static str, key: &'static str, holder: &'static str, now: u64| {
        let store = store.clone();
        async move {
            store
                .kv_get(connection, key, holder, at(now), at(now + 10), 2)
                .await
                .unwrap()
        }
    };
    // Fills count: two misses fill a store of two keys, for reads and writes.
    assert_eq!(get("c1", "a", "h1", 0).await, KvRead::Fill);
    assert_eq!(get("c1", "b", "h1", 0).await, KvRead::Fill);
    assert_eq!(get("c1", "c", "h2", 0).await, KvRead::Full);
    assert!(!store.kv_set("c1", "c", b"v", None, at(0), 2).await.unwrap());
    assert!(
        store.kv_set("c1", "a", b"v", None, at(1), 2).await.unwrap(),
        "a fill's own key is written"
    );
    // A fill given up leaves no row: there is room again.
    store.kv_release("c1", "h1").await.unwrap();
    assert_eq!(get("c1", "c", "h2", 2).await, KvRead::Fill);
    // So does a fill whose time ran out, at the next miss.
    assert_eq!(get("c1", "d", "h3", 12).await, KvRead::Fill);
    // A delete leaves no row.
    store.kv_delete("c1", "a").await.unwrap();
    assert_eq!(get("c1", "e", "h3", 13).await, KvRead::Fill);

    // The purge: expired values, fills whose time ran out, and the
    // stores of disconnected connections; live rows stay.
    assert!(
        store
            .kv_set("c2", "x", b"v", Some(at(20)), at(14), 2)
            .await
            .unwrap()
    );
    assert!(
        store
            .kv_set("c2", "y", b"v", None, at(14), 2)
            .await
            .unwrap()
    );
    assert!(insert(store.as_ref(), "c3", 1, 10).await);
    assert!(
        store
            .kv_set("c3", "t", b"v", None, at(14), 2)
            .await
            .unwrap()
    );
    assert_eq!(store.kv_purge(at(15)).await.unwrap(), 0, "all live");
    assert!(store.disconnect("c3", at(16)).await.unwrap());
    // c1's fills of d and e (until 22 and 23), c2's x (20), c3's store.
    assert_eq!(store.kv_purge(at(30)).await.unwrap(), 4);
    assert_eq!(get("c2", "y", "h4", 31).await, KvRead::Value(b"v".to_vec()));

    // A connection's whole store, on disconnect or deletion of its data.
    assert_eq!(store.kv_clear("c2").await.unwrap(), 1);
    assert_eq!(store.kv_purge(at(40)).await.unwrap(), 0, "nothing left");
}

/// New keys written and missed at once on three nodes: the connection
/// holds the quota, no more; a key it holds is written again although the
/// store is full.
async fn a_kv_quota_holds_across_nodes(db: Backend) {
    let nodes = db.nodes(3).await;
    let now = SystemTime::now();
    let adds = (0..48).map(|i| {
        let node = nodes[i % nodes.len()].clone();
        async move {
            let key = format!("k{i}");
            if i % 2 == 0 {
                node.kv_set("c1", &key, b"v", None, now, 8).await.unwrap()
            } else {
                let until = now + Duration::from_secs(60);
                node.kv_get("c1", &key, "h", now, until, 8).await.unwrap() == KvRead::Fill
            }
        }
    });
    let added = join_all(adds).await;
    assert_eq!(added.iter().filter(|a| **a).count(), 8, "{added:?}");
    // The values stored are written again, the others still refused.
    for i in (0..48).step_by(2) {
        let key = format!("k{i}");
        let written = nodes[1].kv_set("c1", &key, b"w", None, now, 8);
        assert_eq!(written.await.unwrap(), added[i], "{key}");
    }
    assert_eq!(nodes[2].kv_clear("c1").await.unwrap(), 8);
}

on_both_backends!(
    a_kv_quota_holds_across_nodes,
    kv_values_expire_and_one_call_fills_a_missing_key,
    kv_fills_count_in_the_quota_and_rows_no_call_reads_go,
);
