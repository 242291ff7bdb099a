//! Sync schedules, runs and the records they commit.

use super::*;

/// Connection `c1` with a schedule of vendors, and `run` started on it.
async fn started(store: &dyn Store, run: &Run) {
    assert!(insert(store, "c1", 7, 1).await);
    store
        .put_schedule(&schedule("vendors", SystemTime::now()))
        .await
        .unwrap();
    assert!(
        store
            .start_run(run, SystemTime::now(), lease())
            .await
            .unwrap()
    );
}

async fn pages_tell_added_updated_and_unchanged_and_full_runs_mark_the_rest_deleted(db: Backend) {
    let store = db.node().await;
    let store = store.as_ref();
    let first = Run::sample("run1", RunKind::Full);
    started(store, &first).await;
    assert!(
        !store
            .start_run(
                &Run::sample("run1b", RunKind::Full),
                SystemTime::now(),
                lease()
            )
            .await
            .unwrap(),
        "one run at a time"
    );
    let counts = commit(
        store,
        &first,
        &[
            ("1", r#"{"id":"1"}"#),
            ("2", r#"{"id":"2"}"#),
            ("3", r#"{"id":"3"}"#),
        ],
    )
    .await
    .unwrap();
    assert_eq!((counts.added, counts.updated, counts.unchanged), (3, 0, 0));
    store
        .finish_run(
            &first,
            RunStatus::Succeeded,
            None,
            Some("t1"),
            SystemTime::now(),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .schedule("c1", "vendors")
            .await
            .unwrap()
            .unwrap()
            .modified_after
            .as_deref(),
        Some("t1")
    );

    let second = Run::sample("run2", RunKind::Full);
    assert!(
        store
            .start_run(&second, SystemTime::now(), lease())
            .await
            .unwrap()
    );
    let counts = commit(
        store,
        &second,
        &[("1", r#"{"id":"1"}"#), ("2", r#"{"id":"2","x":1}"#)],
    )
    .await
    .unwrap();
    assert_eq!((counts.added, counts.updated, counts.unchanged), (0, 1, 1));
    assert_eq!(
        store
            .mark_unseen_deleted(&second, SystemTime::now())
            .await
            .unwrap(),
        1
    );
    let mut changes = store.run_changes("run2").await.unwrap();
    changes.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        changes,
        [
            ("2".to_string(), Change::Updated),
            ("3".to_string(), Change::Deleted)
        ]
    );
    let stored = store.run("run2").await.unwrap().unwrap();
    assert_eq!(
        (
            stored.pages,
            stored.cursor.as_deref(),
            stored.counts.deleted
        ),
        (1, Some("next"), 1)
    );

    // Stored records in pages ordered by modification, deleted ones marked.
    let page = store
        .synced_records("c1", "vendors", None, None, 2)
        .await
        .unwrap();
    assert_eq!(page.len(), 2);
    let last = page.last().unwrap();
    let rest = store
        .synced_records(
            "c1",
            "vendors",
            Some((&last.last_modified_at, &last.id)),
            None,
            10,
        )
        .await
        .unwrap();
    let mut ids: Vec<_> = page.iter().chain(&rest).map(|r| r.id.clone()).collect();
    ids.sort();
    assert_eq!(ids, ["1", "2", "3"]);
    let deleted = page.iter().chain(&rest).find(|r| r.id == "3").unwrap();
    assert_eq!(
        deleted.deleted_at.as_deref(),
        Some(deleted.last_modified_at.as_str())
    );
    let modified_after = store
        .synced_records("c1", "vendors", None, Some(&deleted.last_modified_at), 10)
        .await
        .unwrap();
    assert!(modified_after.is_empty(), "nothing changed after the last");
    assert_eq!(store.record_counts("c1").await.unwrap()["vendors"], 3);

    // Once disconnected, nothing more is stored and no run starts.
    store.disconnect("c1", SystemTime::now()).await.unwrap();
    assert_eq!(commit(store, &second, &[("4", "{}")]).await, None);
    assert!(
        !store
            .start_run(
                &Run::sample("run3", RunKind::Full),
                SystemTime::now(),
                lease()
            )
            .await
            .unwrap()
    );
    assert!(
        store
            .due_schedules(SystemTime::now() + Duration::from_secs(3600))
            .await
            .unwrap()
            .is_empty()
    );
    // The records stay until the customer deletes them.
    assert_eq!(store.delete_records("c1").await.unwrap(), 3);
    assert!(store.record_counts("c1").await.unwrap().is_empty());
}

/// A scheduled run at `at(seconds)`, driven by `node`.
fn scheduled(id: &str, seconds: u64, node: &str) -> Run {
    Run {
        trigger: Trigger::Schedule,
        started_at: at(seconds),
        lease_owner: Some(node.into()),
        ..Run::sample(id, RunKind::Incremental)
    }
}

async fn a_due_schedule_starts_one_run_per_interval_across_nodes(db: Backend) {
    let nodes = db.nodes(3).await;
    assert!(insert(nodes[0].as_ref(), "c1", 7, 1).await);
    nodes[0]
        .put_schedule(&schedule("vendors", at(0)))
        .await
        .unwrap();
    let due = nodes[1].due_schedules(at(1)).await.unwrap();
    assert_eq!(due.len(), 1);
    let starts = (0..12).map(|i| {
        let node = nodes[i % nodes.len()].clone();
        async move {
            let run = scheduled(&format!("run{i}"), 1, &format!("node{}", i % 3));
            node.start_run(&run, at(60), at(31)).await.unwrap()
        }
    });
    let started = join_all(starts).await.into_iter().filter(|s| *s).count();
    assert_eq!(started, 1);
    assert!(nodes[2].due_schedules(at(1)).await.unwrap().is_empty());
    let first = nodes[2].runs("c1", 10).await.unwrap().remove(0);
    assert_eq!(first.status, RunStatus::Running);

    // Once the run ended, a node that read the schedule as due before it
    // started starts nothing until the next interval.
    let ended = nodes[0]
        .finish_run(&first, RunStatus::Succeeded, None, None, at(2))
        .await
        .unwrap();
    assert!(ended);
    let late = scheduled("late", 3, "node1");
    assert!(!nodes[1].start_run(&late, at(63), at(33)).await.unwrap());
    let next = scheduled("next", 60, "node1");
    assert!(nodes[1].start_run(&next, at(120), at(90)).await.unwrap());
}

async fn a_run_whose_node_died_is_taken_over_from_its_last_page(db: Backend) {
    let nodes = db.nodes(2).await;
    let (a, b) = (nodes[0].as_ref(), nodes[1].as_ref());
    assert!(insert(a, "c1", 7, 1).await);
    a.put_schedule(&schedule("vendors", at(0))).await.unwrap();
    let run = Run {
        lease_owner: Some("node-a".into()),
        ..Run::sample("run1", RunKind::Full)
    };
    let now = SystemTime::now();
    assert!(a.start_run(&run, now, now + LEASE).await.unwrap());
    assert!(commit(a, &run, &[("1", "{}"), ("2", "{}")]).await.is_some());

    // While node A renews its lease, node B takes nothing over.
    a.renew_leases("node-a", now + LEASE * 2).await.unwrap();
    assert!(
        b.claim_runs(
            "node-b",
            now + LEASE + Duration::from_secs(1),
            now + LEASE * 3,
            false
        )
        .await
        .unwrap()
        .is_empty()
    );
    // Node A died: once its lease lapsed, B takes the run over where A's
    // last page left it.
    let later = now + LEASE * 2 + Duration::from_secs(1);
    let taken = b
        .claim_runs("node-b", later, later + LEASE, false)
        .await
        .unwrap();
    assert_eq!(taken.len(), 1);
    let taken = &taken[0];
    assert_eq!(
        (
            taken.lease_owner.as_deref(),
            taken.pages,
            taken.cursor.as_deref()
        ),
        (Some("node-b"), 1, Some("next"))
    );
    assert_eq!(taken.counts.added, 2);
    // A (not dead after all, only slow) can neither commit nor end the run.
    assert_eq!(commit(a, &run, &[("3", "{}")]).await, None);
    assert!(
        !a.finish_run(&run, RunStatus::Cancelled, None, None, later)
            .await
            .unwrap()
    );
    assert!(commit(b, taken, &[("3", "{}")]).await.is_some());
    assert!(
        b.finish_run(taken, RunStatus::Succeeded, None, None, later)
            .await
            .unwrap()
    );
    let done = a.run("run1").await.unwrap().unwrap();
    assert_eq!((done.status, done.counts.added), (RunStatus::Succeeded, 3));

    // A node restarted under its name takes its own runs back at once.
    let mine = Run {
        lease_owner: Some("node-a".into()),
        ..Run::sample("run2", RunKind::Full)
    };
    assert!(a.start_run(&mine, later, later + LEASE).await.unwrap());
    assert!(
        b.claim_runs("node-b", later, later + LEASE, true)
            .await
            .unwrap()
            .is_empty(),
        "not another node's, while leased"
    );
    let resumed = a
        .claim_runs("node-a", later, later + LEASE, true)
        .await
        .unwrap();
    assert_eq!(resumed.len(), 1);
    // Otherwise a node never takes its own run again, even once its lease
    // lapsed (its driver may still be at work); another node does.
    let lapsed = later + LEASE * 2;
    assert!(
        a.claim_runs("node-a", lapsed, lapsed + LEASE, false)
            .await
            .unwrap()
            .is_empty()
    );
    let taken = b
        .claim_runs("node-b", lapsed, lapsed + LEASE, false)
        .await
        .unwrap();
    assert_eq!(taken.len(), 1);
}

async fn latest_runs_are_the_newest_of_each_schedule(db: Backend) {
    let store = db.node().await;
    assert!(insert(store.as_ref(), "c1", 7, 1).await);
    let t0 = at(0);
    for entity in ["items", "vendors"] {
        store.put_schedule(&schedule(entity, t0)).await.unwrap();
        for i in 0..4u64 {
            let run = Run {
                id: format!("{entity}{i}"),
                entity: entity.into(),
                started_at: t0 + Duration::from_secs(i * 10 + u64::from(entity == "items")),
                ..Run::sample("", RunKind::Full)
            };
            assert!(store.start_run(&run, t0, t0 + LEASE).await.unwrap());
            let at = run.started_at + Duration::from_secs(1);
            store
                .finish_run(&run, RunStatus::Succeeded, None, None, at)
                .await
                .unwrap();
        }
    }
    assert_eq!(store.all_schedules().await.unwrap().len(), 2);
    assert_eq!(store.schedules("c1").await.unwrap().len(), 2);
    let ids = |runs: Vec<Run>| runs.into_iter().map(|r| r.id).collect::<Vec<_>>();
    let latest = store.latest_runs(None, 2).await.unwrap();
    assert_eq!(ids(latest), ["items3", "vendors3", "items2", "vendors2"]);
    let of_c1 = store.latest_runs(Some("c1"), 1).await.unwrap();
    assert_eq!(ids(of_c1), ["items3", "vendors3"]);
    let of_other = store.latest_runs(Some("c2"), 5).await.unwrap();
    assert!(of_other.is_empty());
    let newest = store.runs("c1", 3).await.unwrap();
    assert_eq!(ids(newest), ["items3", "vendors3", "items2"]);
    assert!(store.delete_schedule("c1", "items").await.unwrap());
    assert!(!store.delete_schedule("c1", "items").await.unwrap());
}

async fn pages_of_every_length_leave_no_statement_behind(db: Backend) {
    let (store, pool) = db.node_with_pool().await;
    let store = store.as_ref();
    let run = Run::sample("run1", RunKind::Full);
    started(store, &run).await;
    // Each page: `len` records the store has not seen, and record `0`
    // again, unchanged.
    let page = |len: usize| -> Vec<(String, String)> {
        (0..=len)
            .map(|i| {
                let id = format!("{len}-{i}");
                let id = if i == len { "0".to_string() } else { id };
                let json = format!(r#"{{"id":"{id}"}}"#);
                (id, json)
            })
            .collect()
    };
    let run = &run;
    let commit_page = |len: usize| {
        let records = page(len);
        async move {
            let records: Vec<(&str, &str)> = records
                .iter()
                .map(|(id, json)| (id.as_str(), json.as_str()))
                .collect();
            commit(store, run, &records).await.unwrap()
        }
    };
    let _one_connection = pool.all_but_one().await;
    // Every statement of a fixed shape, prepared once: a page of new
    // records, then one of the same records, unchanged.
    commit_page(1).await;
    commit_page(1).await;
    let kept = pool.kept_statements().await;
    for len in 2..=12 {
        let counts = commit_page(len).await;
        assert_eq!((counts.added, counts.unchanged), (len as u64, 1));
    }
    assert_eq!(
        pool.kept_statements().await,
        kept,
        "a statement of n records is one of its own: none may stay prepared"
    );
}

on_both_backends!(
    pages_tell_added_updated_and_unchanged_and_full_runs_mark_the_rest_deleted,
    pages_of_every_length_leave_no_statement_behind,
    a_due_schedule_starts_one_run_per_interval_across_nodes,
    a_run_whose_node_died_is_taken_over_from_its_last_page,
    latest_runs_are_the_newest_of_each_schedule,
);
