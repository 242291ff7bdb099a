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
    let holders: Vec<String> = (0..12).map(|i| format!("h{i}")).collect();
    let takes = holders.iter().enumerate().map(|(i, holder)| {
        let node = nodes[i % nodes.len()].clone();
        async move {
            let taken = node
                .take_upstream_slot("c1", 3, holder, now, until)
                .await
                .unwrap();
            taken.then_some(holder.as_str())
        }
    });
    let holding: Vec<&str> = join_all(takes).await.into_iter().flatten().collect();
    assert_eq!(holding.len(), 3, "{holding:?}");
    let take = |holder: &'static str, now: SystemTime| {
        let node = nodes[0].clone();
        async move {
            node.take_upstream_slot("c1", 3, holder, now, now + Duration::from_secs(60))
                .await
                .unwrap()
        }
    };
    assert!(!take("x", now).await);
    assert!(
        nodes[1]
            .take_upstream_slot("c2", 3, "y", now, until)
            .await
            .unwrap(),
        "slots are per connection"
    );
    // A freed slot is taken again.
    nodes[2].free_upstream_slot("c1", holding[0]).await.unwrap();
    assert!(take("x", now).await);
    assert!(!take("z", now).await);
    // So is a slot whose holder's time ran out (its node died), unless
    // its holder renewed it.
    assert!(
        nodes[1]
            .renew_upstream_slot("c1", "x", until + Duration::from_secs(1))
            .await
            .unwrap()
    );
    assert!(
        !nodes[1]
            .renew_upstream_slot("c1", "gone", until)
            .await
            .unwrap()
    );
    assert!(take("z", until).await);
    assert!(take("w", until).await);
    assert!(!take("v", until).await, "x renewed its slot");
}

on_both_backends!(
    a_write_budget_holds_across_nodes,
    upstream_slots_hold_across_nodes,
);
