//! Limits shared between nodes: write budgets and upstream call slots.

use super::*;

async fn a_write_budget_holds_across_nodes(db: Backend) {
    let nodes = db.nodes(3).await;
    let now = at(0);
    let takes = (0..24).map(|i| {
        let node = nodes[i % nodes.len()].clone();
        async move { node.spend_budget("c1", 5, now, 1.0).await.unwrap() }
    });
    let taken = join_all(takes).await;
    assert_eq!(taken.iter().filter(|t| t.is_ok()).count(), 5, "{taken:?}");
    let wait = nodes[1].spend_budget("c1", 5, now, 0.0).await.unwrap();
    let wait = wait.unwrap_err().as_secs_f64();
    assert!(
        (11.9..12.1).contains(&wait),
        "one refills every 12 s, not {wait}"
    );
    assert!(
        nodes[2]
            .spend_budget("c2", 5, now, 1.0)
            .await
            .unwrap()
            .is_ok()
    );
    // A check takes nothing.
    let later = at(13);
    for _ in 0..3 {
        assert!(
            nodes[0]
                .spend_budget("c1", 5, later, 0.0)
                .await
                .unwrap()
                .is_ok()
        );
    }
    let left = nodes[0].spend_budget("c1", 5, later, 1.0).await.unwrap();
    assert_eq!(left.map(|l| l.now), Ok(0));
    assert!(
        nodes[0]
            .spend_budget("c1", 5, later, 1.0)
            .await
            .unwrap()
            .is_err()
    );
}

async fn upstream_slots_hold_across_nodes(db: Backend) {
    let nodes = db.nodes(3).await;
    let now = SystemTime::now();
    let until = now + Duration::from_secs(60);
    // Twelve takes by three nodes at once, for three slots.
    let takes = (0..12).map(|i| {
        let node = nodes[i % nodes.len()].clone();
        let holder = format!("node{}", i % nodes.len());
        async move {
            let taken = node
                .take_upstream_slot("c1", 3, &holder, now, until)
                .await
                .unwrap();
            taken.map(|slot| (holder, slot))
        }
    });
    let holding: Vec<(String, u32)> = join_all(takes).await.into_iter().flatten().collect();
    assert_eq!(holding.len(), 3, "{holding:?}");
    let mut slots: Vec<u32> = holding.iter().map(|(_, slot)| *slot).collect();
    slots.sort();
    assert_eq!(slots, [0, 1, 2], "each slot is taken once");
    let take = |holder: &'static str, now: SystemTime| {
        let node = nodes[0].clone();
        async move {
            node.take_upstream_slot("c1", 3, holder, now, now + Duration::from_secs(60))
                .await
                .unwrap()
        }
    };
    assert_eq!(take("x", now).await, None);
    assert!(
        nodes[1]
            .take_upstream_slot("c2", 3, "y", now, until)
            .await
            .unwrap()
            .is_some(),
        "slots are per connection"
    );
    // A freed slot is taken again; freeing another holder's slot frees
    // nothing.
    let (holder, slot) = &holding[0];
    nodes[2]
        .free_upstream_slots("c1", "someone else", &[*slot])
        .await
        .unwrap();
    assert_eq!(take("x", now).await, None);
    nodes[2]
        .free_upstream_slots("c1", holder, &[*slot])
        .await
        .unwrap();
    assert_eq!(take("x", now).await, Some(*slot));
    assert_eq!(take("z", now).await, None);
    // So is a slot whose holder's time ran out (its node died), unless
    // its holder renewed it: one renewal covers all of a holder's slots.
    assert_eq!(
        nodes[1]
            .renew_upstream_slots("x", until + Duration::from_secs(1))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        nodes[1].renew_upstream_slots("gone", until).await.unwrap(),
        0
    );
    assert!(take("z", until).await.is_some());
    assert!(take("w", until).await.is_some());
    assert_eq!(take("v", until).await, None, "x renewed its slot");
}

on_both_backends!(
    a_write_budget_holds_across_nodes,
    upstream_slots_hold_across_nodes,
);
