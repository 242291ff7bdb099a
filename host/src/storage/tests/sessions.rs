//! Sessions (connect and dashboard), the failed-request log and MCP confirm tokens.

use super::*;

async fn sessions_round_trip(db: Backend) {
    let store = db.node().await;
    assert!(insert(store.as_ref(), "c1", 7, 1).await);
    let session = ConnectSession {
        id: "cs1".into(),
        adapter_id: "example".into(),
        replaces: None,
        created_at: at(0),
        expires_at: at(600),
        used_at: None,
        connection_id: None,
        sealed_token: None,
        failed_attempts: 0,
        platform_key_for: Some([("account_id".to_string(), "123".to_string())].into()),
        field_requests: vec![FieldRequest {
            entity: "vendors".into(),
            target: "custom.region".into(),
            label: "Sales region".into(),
            writable: true,
        }],
        presets: [(
            "base_url".to_string(),
            Preset {
                value: "https://proxy.example".into(),
                visible: false,
            },
        )]
        .into(),
    };
    store
        .insert_connect_session(&session, &[1; 32])
        .await
        .unwrap();
    let read = store
        .connect_session_by_secret(&[1; 32])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.id, "cs1");
    assert_eq!(read.platform_key_for, session.platform_key_for);
    assert_eq!(read.field_requests, session.field_requests);
    assert_eq!(read.presets, session.presets);
    assert!(store.use_connect_session("cs1", at(5), 2).await.unwrap());
    assert!(!store.use_connect_session("cs1", at(6), 2).await.unwrap());
    store.fail_connect_session("cs1").await.unwrap();
    assert!(store.use_connect_session("cs1", at(6), 2).await.unwrap());
    store.fail_connect_session("cs1").await.unwrap();
    let failed = store.connect_session("cs1").await.unwrap().unwrap();
    assert_eq!((failed.failed_attempts, failed.used_at), (2, None));
    assert!(
        !store.use_connect_session("cs1", at(7), 2).await.unwrap(),
        "no attempt past the limit"
    );
    assert!(store.use_connect_session("cs1", at(7), 3).await.unwrap());
    store
        .complete_connect_session("cs1", "c1", &[9, 9])
        .await
        .unwrap();
    let stored = store.connect_session("cs1").await.unwrap().unwrap();
    assert_eq!(
        (stored.used_at, stored.connection_id.as_deref()),
        (Some(at(7)), Some("c1"))
    );
    assert_eq!(
        store.take_connect_token("cs1").await.unwrap(),
        Some(vec![9, 9])
    );
    assert_eq!(store.take_connect_token("cs1").await.unwrap(), None);

    let dashboard = DashboardSession {
        csrf_token: "csrf".into(),
        expires_at: at(100),
    };
    store
        .insert_dashboard_session(&[2; 32], &dashboard, at(0))
        .await
        .unwrap();
    let found = store.dashboard_session(&[2; 32], at(50)).await.unwrap();
    assert_eq!(
        found.map(|s| (s.csrf_token, s.expires_at)),
        Some(("csrf".into(), at(100)))
    );
    assert!(
        store
            .dashboard_session(&[2; 32], at(100))
            .await
            .unwrap()
            .is_none(),
        "expired"
    );
    store
        .delete_dashboard_session(&[2; 32], at(0))
        .await
        .unwrap();
    assert!(
        store
            .dashboard_session(&[2; 32], at(50))
            .await
            .unwrap()
            .is_none()
    );
}

fn failed(request_id: &str, connection: Option<&str>, t: SystemTime) -> FailedRequest {
    FailedRequest {
        request_id: request_id.into(),
        at: t,
        method: "GET".into(),
        path: "/v1/vendors".into(),
        status: 502,
        code: "upstream_error".into(),
        message: "the system answered 500".into(),
        connection_id: connection.map(Into::into),
        duration_ms: 12,
    }
}

async fn failed_requests_keep_the_newest_and_are_found_by_request_and_connection(db: Backend) {
    let store = db.node().await;
    let batch: Vec<_> = (0..5)
        .map(|i| {
            let connection = (i % 2 == 0).then_some("c1");
            failed(&format!("r{i}"), connection, at(i))
        })
        .collect();
    store.record_failed_requests(&batch[..3], 4).await.unwrap();
    store.record_failed_requests(&batch[3..], 4).await.unwrap();

    let all = store
        .failed_requests(FailedRequestFilter::default(), 10)
        .await
        .unwrap();
    let ids: Vec<_> = all.iter().map(|r| r.request_id.as_str()).collect();
    assert_eq!(ids, ["r4", "r3", "r2", "r1"], "newest first, r0 forgotten");
    assert_eq!(all[0], batch[4], "stored as given");

    let by_id = FailedRequestFilter {
        request_id: Some("r3"),
        ..Default::default()
    };
    let found = store.failed_requests(by_id, 10).await.unwrap();
    assert_eq!(found, [batch[3].clone()]);

    let of_c1 = FailedRequestFilter {
        connection_id: Some("c1"),
        ..Default::default()
    };
    let found = store.failed_requests(of_c1, 1).await.unwrap();
    assert_eq!(found, [batch[4].clone()], "limited to 1");
}

/// A confirm token of the MCP door is taken once (of two nodes racing for
/// it, one gets it), only by its own connection, and only before it
/// expires.
async fn confirm_tokens_are_taken_once_before_they_expire(db: Backend) {
    use super::confirmations::Confirmation;
    let nodes = db.nodes(2).await;
    let confirmation = |n: u8, expires_at| Confirmation {
        token_hash: [n; 32],
        connection_id: "c1".into(),
        binding: format!("binding {n}"),
        expires_at,
    };
    nodes[0]
        .insert_confirmation(&confirmation(1, at(300)), at(0))
        .await
        .unwrap();
    let other = nodes[1].take_confirmation(&[1; 32], "c2", at(1));
    assert_eq!(other.await.unwrap(), None, "another connection's token");
    let raced = join_all(
        nodes
            .iter()
            .map(|node| node.take_confirmation(&[1; 32], "c1", at(1))),
    )
    .await;
    let taken: Vec<String> = raced.into_iter().filter_map(|t| t.unwrap()).collect();
    assert_eq!(taken, ["binding 1"], "taken once");
    nodes[0]
        .insert_confirmation(&confirmation(2, at(10)), at(0))
        .await
        .unwrap();
    let late = nodes[0].take_confirmation(&[2; 32], "c1", at(10));
    assert_eq!(late.await.unwrap(), None, "expired");
}

on_both_backends!(
    sessions_round_trip,
    failed_requests_keep_the_newest_and_are_found_by_request_and_connection,
    confirm_tokens_are_taken_once_before_they_expire,
);
