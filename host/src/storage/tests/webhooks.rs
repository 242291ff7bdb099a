//! Webhook subscriptions and deliveries.

use super::*;

fn subscription(id: &str) -> Subscription {
    Subscription {
        id: id.into(),
        connection_id: "c1".into(),
        url: "http://127.0.0.1:9/hook".into(),
        events: vec!["records.changed".into()],
        entities: None,
        sealed_secret: vec![1],
        previous: None,
        created_at: at(0),
    }
}

async fn webhook_deliveries_round_trip(db: Backend) {
    let store = db.node().await;
    assert!(insert(store.as_ref(), "c1", 7, 1).await);
    store
        .insert_subscription(&subscription("s1"), 16)
        .await
        .unwrap();
    assert!(
        store
            .rotate_secret("c1", "s1", &[2], Some(at(50)))
            .await
            .unwrap()
    );
    let stored = &store.subscriptions("c1").await.unwrap()[0];
    assert_eq!(
        (&stored.sealed_secret, &stored.previous),
        (&vec![2], &Some((vec![1], at(50))))
    );
    assert!(!store.rotate_secret("c2", "s1", &[3], None).await.unwrap());

    assert_eq!(store.pending_deliveries().await.unwrap(), 0);
    assert_eq!(
        store
            .enqueue("c1", "records.changed", None, "{}", at(1))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store.pending_deliveries().await.unwrap(),
        1,
        "what /metrics shows"
    );
    let claimed = store.claim_deliveries(at(2), at(32), 10, 4).await.unwrap();
    assert_eq!(claimed.len(), 1);
    let (delivery, with) = &claimed[0];
    assert_eq!(
        (delivery.status, with.id.as_str()),
        (DeliveryStatus::Pending, "s1")
    );
    assert!(
        store
            .claim_deliveries(at(3), at(33), 10, 4)
            .await
            .unwrap()
            .is_empty(),
        "claimed until 32"
    );
    let attempt = Attempt {
        attempt: 1,
        at: at(3),
        status_code: Some(500),
        error: None,
        duration_ms: 4,
    };
    store
        .record_attempt(&delivery.id, &attempt, Outcome::RetryAt(at(10)))
        .await
        .unwrap();
    assert!(
        store
            .claim_deliveries(at(9), at(39), 10, 4)
            .await
            .unwrap()
            .is_empty(),
        "not due before 10"
    );
    let again = store.claim_deliveries(at(10), at(40), 10, 4).await.unwrap();
    assert_eq!(again.len(), 1);
    let attempt = Attempt {
        attempt: 2,
        at: at(11),
        status_code: Some(200),
        ..attempt
    };
    store
        .record_attempt(&delivery.id, &attempt, Outcome::Delivered)
        .await
        .unwrap();
    assert_eq!(store.pending_deliveries().await.unwrap(), 0);
    let listed = store.deliveries("s1", 10).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].0.status, DeliveryStatus::Delivered);
    assert_eq!(listed[0].0.attempts, 2);
    let codes: Vec<_> = listed[0].1.iter().map(|a| a.status_code).collect();
    assert_eq!(codes, [Some(500), Some(200)]);

    assert!(
        store
            .replay_delivery("s1", &delivery.id, at(20))
            .await
            .unwrap()
    );
    assert_eq!(store.drop_deliveries("c1").await.unwrap(), 1);
    assert!(
        !store
            .replay_delivery("s1", &delivery.id, at(21))
            .await
            .unwrap(),
        "a dropped delivery stays dropped"
    );
    assert_eq!(store.all_subscriptions().await.unwrap().len(), 1);
    assert!(store.delete_subscription("c1", "s1").await.unwrap());
    assert!(store.subscriptions("c1").await.unwrap().is_empty());
}

async fn events_reach_only_subscriptions_told_of_their_entity(db: Backend) {
    let store = db.node().await;
    assert!(insert(store.as_ref(), "c1", 7, 1).await);
    store
        .insert_subscription(&subscription("s1"), 16)
        .await
        .unwrap();
    let vendors_only = Subscription {
        entities: Some(vec!["vendors".into()]),
        ..subscription("s2")
    };
    assert!(store.insert_subscription(&vendors_only, 16).await.unwrap());
    let stored = store.subscriptions("c1").await.unwrap();
    assert_eq!(stored[1].entities, vendors_only.entities);
    let enqueue = |event, entity| store.enqueue("c1", event, entity, "{}", at(1));
    assert_eq!(
        enqueue("records.changed", Some("vendors")).await.unwrap(),
        2
    );
    assert_eq!(
        enqueue("records.changed", None).await.unwrap(),
        2,
        "an event about no entity reaches both"
    );
    assert_eq!(
        enqueue("records.changed", Some("items")).await.unwrap(),
        1,
        "s2 is not told of items"
    );
    assert_eq!(enqueue("other", None).await.unwrap(), 0);
    let claimed = store.claim_deliveries(at(2), at(32), 10, 10).await.unwrap();
    let to_s2 = claimed.iter().filter(|(_, s)| s.id == "s2").count();
    assert_eq!((claimed.len(), to_s2), (5, 2));
}

async fn each_delivery_goes_to_one_node(db: Backend) {
    let nodes = db.nodes(3).await;
    assert!(insert(nodes[0].as_ref(), "c1", 7, 1).await);
    nodes[0]
        .insert_subscription(&subscription("s1"), 16)
        .await
        .unwrap();
    for i in 0..30 {
        nodes[0]
            .enqueue(
                "c1",
                "records.changed",
                None,
                &format!("{{\"n\":{i}}}"),
                at(1),
            )
            .await
            .unwrap();
    }
    // Three dispatchers claim at once, again and again, until none is left.
    let dispatchers = nodes.iter().map(|node| {
        let node = node.clone();
        async move {
            let mut mine = Vec::new();
            loop {
                let claimed = node.claim_deliveries(at(2), at(600), 4, 100).await.unwrap();
                if claimed.is_empty() {
                    return mine;
                }
                mine.extend(claimed.into_iter().map(|(d, _)| d.payload));
            }
        }
    });
    let claimed: Vec<String> = join_all(dispatchers).await.into_iter().flatten().collect();
    let mut distinct = claimed.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(claimed.len(), 30, "each delivery once");
    assert_eq!(distinct.len(), 30);
}

/// Of subscriptions made at once on three nodes, no more are stored than
/// the cap allows.
async fn a_connections_subscriptions_stay_within_the_cap_across_nodes(db: Backend) {
    let nodes = db.nodes(3).await;
    assert!(insert(nodes[0].as_ref(), "c1", 7, 1).await);
    let subscribes = (0..24).map(|i| {
        let node = nodes[i % nodes.len()].clone();
        async move {
            node.insert_subscription(&subscription(&format!("s{i}")), 5)
                .await
                .unwrap()
        }
    });
    let stored = join_all(subscribes).await;
    assert_eq!(stored.iter().filter(|s| **s).count(), 5, "{stored:?}");
    let kept = nodes[1].subscriptions("c1").await.unwrap();
    assert_eq!(kept.len(), 5);
    assert!(
        nodes[2]
            .delete_subscription("c1", &kept[0].id)
            .await
            .unwrap()
    );
    assert!(
        nodes[0]
            .insert_subscription(&subscription("late"), 5)
            .await
            .unwrap(),
        "a deleted subscription frees its place"
    );
    assert!(
        !nodes[0]
            .insert_subscription(&subscription("later"), 5)
            .await
            .unwrap()
    );
}

on_both_backends!(
    a_connections_subscriptions_stay_within_the_cap_across_nodes,
    webhook_deliveries_round_trip,
    events_reach_only_subscriptions_told_of_their_entity,
    each_delivery_goes_to_one_node,
);
