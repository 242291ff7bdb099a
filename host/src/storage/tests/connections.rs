//! Connections, tokens, credits and idempotency keys.

use super::*;

async fn connections_and_tokens_round_trip(db: Backend) {
    let store = db.node().await;
    assert!(insert(store.as_ref(), "c1", 7, 2).await);
    let (token, stored) = store.token_by_hash(&[7; 32]).await.unwrap().unwrap();
    assert_eq!(token, self::token("tok_c1", "c1"));
    assert_eq!(stored.config, connection("c1").config);
    assert_eq!(stored.permissions, ["vendors.read"]);
    assert_eq!(stored.created_at, at(0));
    assert!(store.token_by_hash(&[8; 32]).await.unwrap().is_none());
    assert_eq!(
        store.token_state(&[7; 32]).await.unwrap(),
        Some((Status::Active, false))
    );
    assert_eq!(store.token_state(&[8; 32]).await.unwrap(), None);

    let second = StoredToken {
        name: "reports".into(),
        expires_at: Some(at(100)),
        created_at: at(1),
        ..self::token("tok_2", "c1")
    };
    assert!(store.insert_token(&second, &[9; 32], 50).await.unwrap());
    store
        .touch_tokens(&[("tok_2".into(), at(5)), ("tok_c1".into(), at(6))])
        .await
        .unwrap();
    // A later note of an earlier use does not move the time back.
    store
        .touch_tokens(&[("tok_2".into(), at(4))])
        .await
        .unwrap();
    assert!(store.revoke_token("c1", "tok_2", at(7)).await.unwrap());
    assert!(!store.revoke_token("c1", "tok_2", at(8)).await.unwrap());
    let tokens = store.tokens("c1").await.unwrap();
    assert_eq!(tokens.len(), 2);
    assert_eq!(tokens[1].last_used_at, Some(at(5)));
    assert_eq!(tokens[1].revoked_at, Some(at(7)));
    assert_eq!(tokens[1].expires_at, Some(at(100)));
    assert_eq!(
        store.token_state(&[9; 32]).await.unwrap(),
        Some((Status::Active, true))
    );

    store
        .set_status("c1", Status::RequiresReauthorization, "401", at(10))
        .await
        .unwrap();
    let error = LastError {
        code: "unauthorized".into(),
        message: "rejected".into(),
        at: at(10),
        request_id: "req_1".into(),
    };
    store.record_error("c1", &error).await.unwrap();
    let stored = store.connection("c1").await.unwrap().unwrap();
    assert_eq!(stored.status, Status::RequiresReauthorization);
    assert_eq!(stored.last_error, Some(error));
    assert_eq!(store.credits_used().await.unwrap(), 1);

    assert!(store.disconnect("c1", at(11)).await.unwrap());
    assert!(!store.disconnect("c1", at(12)).await.unwrap());
    let stored = store.connection("c1").await.unwrap().unwrap();
    assert_eq!(
        (stored.status, stored.disconnected_at),
        (Status::Disconnected, Some(at(11)))
    );
    assert_eq!(
        store.token_state(&[7; 32]).await.unwrap(),
        Some((Status::Disconnected, false))
    );
    // A disconnected connection stays so.
    store
        .set_status("c1", Status::Active, "", at(13))
        .await
        .unwrap();
    assert_eq!(
        store.connection("c1").await.unwrap().unwrap().status,
        Status::Disconnected
    );
    assert_eq!(store.credits_used().await.unwrap(), 0);
    assert!(insert(store.as_ref(), "c2", 10, 1).await);
    let ids: Vec<_> = store
        .connections()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(ids, ["c1", "c2"], "same creation time: by id");

    store.insert_setting("check", b"one").await.unwrap();
    store.insert_setting("check", b"two").await.unwrap();
    assert_eq!(
        store.setting("check").await.unwrap().as_deref(),
        Some(&b"one"[..])
    );
    assert_eq!(store.setting("other").await.unwrap(), None);
}

/// Of tokens issued at once by three nodes, no more are stored than the
/// cap allows; a revoked token frees its place.
async fn a_connections_tokens_stay_within_the_cap_across_nodes(db: Backend) {
    let nodes = db.nodes(3).await;
    assert!(insert(nodes[0].as_ref(), "c1", 1, 10).await);
    let issues = (0..20u8).map(|i| {
        let node = nodes[usize::from(i) % nodes.len()].clone();
        async move {
            let token = token(&format!("tok_{i}"), "c1");
            node.insert_token(&token, &[100 + i; 32], 5).await.unwrap()
        }
    });
    let stored = join_all(issues).await.into_iter().filter(|s| *s).count();
    assert_eq!(stored, 4, "with the connection's first token, 5");
    assert_eq!(nodes[1].tokens("c1").await.unwrap().len(), 5);
    assert!(nodes[2].revoke_token("c1", "tok_c1", at(1)).await.unwrap());
    assert!(
        nodes[0]
            .insert_token(&token("tok_a", "c1"), &[200; 32], 5)
            .await
            .unwrap()
    );
    assert!(
        !nodes[1]
            .insert_token(&token("tok_b", "c1"), &[201; 32], 5)
            .await
            .unwrap()
    );
}

async fn credits_are_never_oversold(db: Backend) {
    let nodes = db.nodes(3).await;
    let creates = (0..24u8).map(|i| {
        let node = nodes[usize::from(i) % nodes.len()].clone();
        async move { insert(node.as_ref(), &format!("c{i}"), i, 5).await }
    });
    let made = join_all(creates).await.into_iter().filter(|m| *m).count();
    assert_eq!(made, 5);
    assert_eq!(nodes[0].credits_used().await.unwrap(), 5);
}

/// A replace takes the replaced connection's credit, whatever creates race
/// it on other nodes for the last one: the old connection is disconnected
/// and the new one stored, or, when no credit is free even so, nothing
/// changes.
async fn a_replace_keeps_its_credit_against_racing_creates(db: Backend) {
    let nodes = db.nodes(3).await;
    assert!(insert(nodes[0].as_ref(), "old", 1, 2).await);
    let replace = {
        let node = nodes[0].clone();
        async move {
            node.create_connection(
                &connection("new"),
                &token("tok_new", "new"),
                &[2; 32],
                2,
                Some("old"),
            )
            .await
            .unwrap()
        }
    };
    let creates = (0..12u8).map(|i| {
        let node = nodes[1 + usize::from(i) % 2].clone();
        async move { insert(node.as_ref(), &format!("c{i}"), 10 + i, 2).await }
    });
    let (replaced, made) = futures::join!(replace, join_all(creates));
    assert!(replaced, "the old connection's credit is the replace's");
    assert_eq!(made.iter().filter(|m| **m).count(), 1, "the free credit");
    let old = nodes[1].connection("old").await.unwrap().unwrap();
    assert_eq!(old.status, Status::Disconnected);
    assert_eq!(nodes[2].credits_used().await.unwrap(), 2);

    // No credit free even with the old one's: nothing changes.
    let refused = nodes[0]
        .create_connection(
            &connection("newer"),
            &token("tok_newer", "newer"),
            &[3; 32],
            1,
            Some("new"),
        )
        .await
        .unwrap();
    assert!(!refused);
    let new = nodes[1].connection("new").await.unwrap().unwrap();
    assert_eq!(new.status, Status::Active, "still the customer's");
    assert!(nodes[1].connection("newer").await.unwrap().is_none());
}

async fn idempotency_claims_replay_refuse_and_expire(db: Backend) {
    let store = db.node().await;
    assert!(insert(store.as_ref(), "c1", 7, 1).await);
    let t0 = SystemTime::now();
    let day = Duration::from_secs(86_400);
    let claim = |hash: &'static str, at: SystemTime| {
        let store = store.clone();
        async move {
            store
                .claim_idempotency_key("c1", "k", hash, at, at - day)
                .await
                .unwrap()
        }
    };
    assert_eq!(claim("h1", t0).await, IdempotencyClaim::Claimed);
    assert_eq!(claim("h1", t0).await, IdempotencyClaim::InFlight);
    assert_eq!(claim("h2", t0).await, IdempotencyClaim::Mismatch);
    // A claim whose request died is given up after a while.
    assert_eq!(
        claim("h1", t0 + STALE_CLAIM + Duration::from_secs(1)).await,
        IdempotencyClaim::Claimed
    );
    store
        .complete_idempotency_key("c1", "k", 201, "{\"id\":\"1\"}")
        .await
        .unwrap();
    let later = t0 + STALE_CLAIM * 2;
    assert_eq!(
        claim("h1", later).await,
        IdempotencyClaim::Replay {
            status: 201,
            response: "{\"id\":\"1\"}".into()
        }
    );
    // A finished answer lasts the whole window, then the key is free.
    assert_eq!(claim("h2", t0 + day * 2).await, IdempotencyClaim::Claimed);
    // A released claim may run again.
    store.release_idempotency_key("c1", "k").await.unwrap();
    assert_eq!(claim("h3", t0 + day * 2).await, IdempotencyClaim::Claimed);
}

async fn one_claim_per_idempotency_key(db: Backend) {
    let nodes = db.nodes(3).await;
    assert!(insert(nodes[0].as_ref(), "c1", 7, 1).await);
    let now = SystemTime::now();
    let claims = (0..12).map(|i| {
        let node = nodes[i % nodes.len()].clone();
        async move {
            node.claim_idempotency_key("c1", "k", "h", now, now - Duration::from_secs(60))
                .await
                .unwrap()
        }
    });
    let claims = join_all(claims).await;
    let claimed = claims
        .iter()
        .filter(|c| **c == IdempotencyClaim::Claimed)
        .count();
    assert_eq!(claimed, 1, "{claims:?}");
    assert!(
        claims
            .iter()
            .all(|c| matches!(c, IdempotencyClaim::Claimed | IdempotencyClaim::InFlight))
    );
}

on_both_backends!(
    connections_and_tokens_round_trip,
    a_connections_tokens_stay_within_the_cap_across_nodes,
    credits_are_never_oversold,
    a_replace_keeps_its_credit_against_racing_creates,
    idempotency_claims_replay_refuse_and_expire,
    one_claim_per_idempotency_key,
);
