//! The audit trail: appended in order, read by filter and page both ways,
//! purged by age; a connection's body setting.

use super::*;
use crate::storage::audit::{
    AuditEntry, AuditFilter, AuditKind, AuditOutcome, AuditPage, from_micros,
};

fn entry(at_us: i64, kind: AuditKind, connection: &str, request: &str) -> AuditEntry {
    AuditEntry {
        seq: 0,
        at_us,
        kind,
        outcome: AuditOutcome::Ok,
        request_id: request.into(),
        connection_id: Some(connection.into()),
        token_id: Some(format!("tok_{connection}")),
        actor: format!("token:tok_{connection}"),
        action: "list vendor".into(),
        detail: serde_json::json!({"status": 200, "path": "/vendors"}),
    }
}

async fn audit_trail_appends_pages_filters_and_purges(db: Backend) {
    let store = db.node().await;
    let mut entries: Vec<AuditEntry> = (0..25)
        .map(|i| {
            let kind = if i % 5 == 0 {
                AuditKind::Upstream
            } else {
                AuditKind::Call
            };
            let connection = if i % 2 == 0 { "c1" } else { "c2" };
            entry(1_000 + i, kind, connection, &format!("r{}", i / 3))
        })
        .collect();
    entries[7].outcome = AuditOutcome::Refused;
    // Two appends, numbered in order.
    store.append_audit(&entries[..5]).await.unwrap();
    store.append_audit(&entries[5..]).await.unwrap();

    let all = AuditFilter::default();
    let newest = store
        .audit(&all, AuditPage::Before(None), 10)
        .await
        .unwrap();
    assert_eq!(newest.len(), 10);
    assert_eq!(newest[0].at_us, 1_024, "newest first");
    assert_eq!(newest[0].detail, entries[24].detail);
    assert_eq!(newest[0].token_id.as_deref(), Some("tok_c1"));
    let older = store
        .audit(&all, AuditPage::Before(Some(newest[9].seq)), 100)
        .await
        .unwrap();
    assert_eq!(older.len(), 15);
    assert_eq!(older[0].at_us, 1_014);

    let oldest = store.audit(&all, AuditPage::After(0), 3).await.unwrap();
    let times: Vec<i64> = oldest.iter().map(|e| e.at_us).collect();
    assert_eq!(times, [1_000, 1_001, 1_002], "oldest first");
    let next = store
        .audit(&all, AuditPage::After(oldest[2].seq), 1)
        .await
        .unwrap();
    assert_eq!(next[0].at_us, 1_003);

    let filter = AuditFilter {
        connection_id: Some("c1".into()),
        kind: Some(AuditKind::Upstream),
        ..AuditFilter::default()
    };
    let found = store
        .audit(&filter, AuditPage::Before(None), 100)
        .await
        .unwrap();
    let times: Vec<i64> = found.iter().map(|e| e.at_us).collect();
    assert_eq!(times, [1_020, 1_010, 1_000]);
    let filter = AuditFilter {
        outcome: Some(AuditOutcome::Refused),
        ..AuditFilter::default()
    };
    let found = store
        .audit(&filter, AuditPage::Before(None), 100)
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].at_us, 1_007);
    let filter = AuditFilter {
        request_id: Some("r2".into()),
        from_us: Some(1_007),
        to_us: Some(1_009),
        ..AuditFilter::default()
    };
    let found = store
        .audit(&filter, AuditPage::After(0), 100)
        .await
        .unwrap();
    let times: Vec<i64> = found.iter().map(|e| e.at_us).collect();
    assert_eq!(times, [1_007, 1_008]);

    let purged = store.purge_audit(from_micros(1_010)).await.unwrap();
    assert_eq!(purged, 10);
    let left = store.audit(&all, AuditPage::After(0), 100).await.unwrap();
    assert_eq!(left.len(), 15);
    assert_eq!(left[0].at_us, 1_010);
}

async fn a_connections_audit_bodies_setting_is_kept(db: Backend) {
    let store = db.node().await;
    assert!(insert(store.as_ref(), "c1", 1, 5).await);
    assert!(!store.connection("c1").await.unwrap().unwrap().audit_bodies);
    assert!(store.set_audit_bodies("c1", true).await.unwrap());
    assert!(store.connection("c1").await.unwrap().unwrap().audit_bodies);
    assert!(!store.set_audit_bodies("nope", true).await.unwrap());
}

async fn batches_of_every_length_leave_no_statement_behind(db: Backend) {
    let (store, pool) = db.node_with_pool().await;
    let batch = |len: i64| -> Vec<AuditEntry> {
        (0..len)
            .map(|i| entry(i, AuditKind::Call, "c1", "r1"))
            .collect()
    };
    let _one_connection = pool.all_but_one().await;
    store.append_audit(&batch(1)).await.unwrap();
    let kept = pool.kept_statements().await;
    for len in 2..=20 {
        store.append_audit(&batch(len)).await.unwrap();
    }
    assert_eq!(
        pool.kept_statements().await,
        kept,
        "an INSERT of n rows is a statement of its own: none may stay prepared"
    );
    let all = store
        .audit(&AuditFilter::default(), AuditPage::After(0), 1_000)
        .await
        .unwrap();
    assert_eq!(all.len(), (1..=20).sum::<usize>());
}

async fn reading_page_after_page_leaves_no_statement_behind(db: Backend) {
    let (store, pool) = db.node_with_pool().await;
    let entries: Vec<AuditEntry> = (0..30)
        .map(|i| entry(i, AuditKind::Call, "c1", "r1"))
        .collect();
    store.append_audit(&entries).await.unwrap();
    let _one_connection = pool.all_but_one().await;
    let all = AuditFilter::default();
    store.audit(&all, AuditPage::After(0), 3).await.unwrap();
    store.audit(&all, AuditPage::Before(None), 3).await.unwrap();
    let kept = pool.kept_statements().await;
    let (mut after, mut before) = (0, None);
    for _ in 0..10 {
        let older = store
            .audit(&all, AuditPage::Before(before), 3)
            .await
            .unwrap();
        before = Some(older[2].seq);
        let newer = store.audit(&all, AuditPage::After(after), 3).await.unwrap();
        after = newer[2].seq;
    }
    assert_eq!(after, 30, "every page read, oldest first");
    assert_eq!(before, Some(1), "and newest first");
    assert_eq!(
        pool.kept_statements().await,
        kept,
        "a page's cursor is a parameter: no statement may stay prepared per page"
    );
}

on_both_backends!(
    audit_trail_appends_pages_filters_and_purges,
    reading_page_after_page_leaves_no_statement_behind,
    a_connections_audit_bodies_setting_is_kept,
    batches_of_every_length_leave_no_statement_behind,
);
