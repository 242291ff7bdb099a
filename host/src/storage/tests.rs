//! The storage conformance suite: every case runs against SQLite and
//! against PostgreSQL, including the guarantees that must hold when several
//! nodes share one database (each node is a [`Store`] of its own on the
//! same database, racing the others).
//!
//! The PostgreSQL cases need a server: `cargo xtask test` starts one and
//! hands its admin URL over in `INTERLINK_TEST_POSTGRES_URL`; each case makes
//! a database of its own there.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::future::join_all;

use super::requests::{FailedRequest, FailedRequestFilter};
use super::sessions::{ConnectSession, DashboardSession};
use super::syncs::*;
use super::webhooks::{Attempt, DeliveryStatus, Outcome, Subscription};
use super::*;

/// One database, and how to open it again as another node would.
enum Backend {
    Sqlite(tempfile::TempDir),
    Postgres(String),
}

impl Backend {
    async fn sqlite() -> Backend {
        Backend::Sqlite(tempfile::tempdir().unwrap())
    }

    async fn postgres() -> Backend {
        let admin = std::env::var("INTERLINK_TEST_POSTGRES_URL").expect(
            "the PostgreSQL tests need a server: run them with `cargo xtask test`, \
             or set INTERLINK_TEST_POSTGRES_URL to a server's admin URL",
        );
        Backend::Postgres(
            postgres::PostgresStorage::new_database(&admin)
                .await
                .unwrap(),
        )
    }

    /// A node: the database, opened (and migrated) once more.
    async fn node(&self) -> Arc<dyn Store> {
        match self {
            Backend::Sqlite(dir) => Arc::new(
                sqlite::SqliteStorage::open(&dir.path().join("test.db"))
                    .await
                    .unwrap(),
            ),
            Backend::Postgres(url) => Arc::new(postgres::PostgresStorage::open(url).await.unwrap()),
        }
    }

    async fn nodes(&self, n: usize) -> Vec<Arc<dyn Store>> {
        let mut nodes = Vec::new();
        for _ in 0..n {
            nodes.push(self.node().await);
        }
        nodes
    }
}

/// A time the database keeps exactly (whole microseconds).
fn at(seconds: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + seconds)
}

fn connection(id: &str) -> Connection {
    Connection {
        id: id.into(),
        adapter_id: "example".into(),
        adapter_version: "1.0.0".into(),
        status: Status::Active,
        config: [("base_url".to_string(), "http://127.0.0.1:1".to_string())].into(),
        credentials: vec![1, 2, 3],
        account_id: "a".into(),
        account_name: "A".into(),
        permissions: vec!["vendors.read".into()],
        custom_fields: vec![],
        status_reason: None,
        status_changed_at: at(0),
        last_error: None,
        created_at: at(0),
        disconnected_at: None,
    }
}

fn token(id: &str, connection: &str) -> StoredToken {
    StoredToken {
        id: id.into(),
        connection_id: connection.into(),
        name: "default".into(),
        scopes: vec!["read".into()],
        expires_at: None,
        created_at: at(0),
        last_used_at: None,
        revoked_at: None,
    }
}

/// `id` with its first token (whose hash is `[n; 32]`), in a pool of
/// `credits`.
async fn insert(store: &dyn Store, id: &str, n: u8, credits: u32) -> bool {
    store
        .insert_connection(
            &connection(id),
            &token(&format!("tok_{id}"), id),
            &[n; 32],
            credits,
        )
        .await
        .unwrap()
}

fn schedule(entity: &str, t: SystemTime) -> Schedule {
    Schedule {
        connection_id: "c1".into(),
        entity: entity.into(),
        interval: Duration::from_secs(60),
        page_size: 10,
        backfill_since: None,
        modified_after: None,
        next_run_at: t,
        created_at: t,
    }
}

/// How long the tests' runs are leased.
const LEASE: Duration = Duration::from_secs(30);

/// A lease from now on.
fn lease() -> SystemTime {
    SystemTime::now() + LEASE
}

async fn commit(store: &dyn Store, run: &Run, records: &[(&str, &str)]) -> Option<Counts> {
    let records: Vec<PageRecord> = records
        .iter()
        .map(|(id, json)| PageRecord {
            id,
            json,
            content_hash: content_hash(json),
        })
        .collect();
    let page = PageCommit {
        run,
        records: &records,
        next_cursor: Some("next"),
        high_water: None,
        at: SystemTime::now(),
    };
    store.commit_page(&page).await.unwrap()
}

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

async fn pages_tell_added_updated_and_unchanged_and_full_runs_mark_the_rest_deleted(db: Backend) {
    let store = db.node().await;
    let store = store.as_ref();
    assert!(insert(store, "c1", 7, 1).await);
    store
        .put_schedule(&schedule("vendors", SystemTime::now()))
        .await
        .unwrap();

    let first = Run::sample("run1", RunKind::Full);
    assert!(
        store
            .start_run(&first, SystemTime::now(), lease())
            .await
            .unwrap()
    );
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
        .insert_subscription(&subscription("s1"))
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

    assert_eq!(
        store
            .enqueue("c1", "records.changed", None, "{}", at(1))
            .await
            .unwrap(),
        1
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
        .insert_subscription(&subscription("s1"))
        .await
        .unwrap();
    let vendors_only = Subscription {
        entities: Some(vec!["vendors".into()]),
        ..subscription("s2")
    };
    store.insert_subscription(&vendors_only).await.unwrap();
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
        .insert_subscription(&subscription("s1"))
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

/// Each case, once on SQLite and once on PostgreSQL.
macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(super::Backend::sqlite().await).await
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(super::Backend::postgres().await).await
                }
            )*
        }
    };
}

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

async fn uploaded_adapters_are_kept_by_content(db: Backend) {
    let nodes = db.nodes(2).await;
    assert!(nodes[0].adapter_versions().await.unwrap().is_empty());
    nodes[0]
        .put_adapter("chaos", "aa", b"v1", at(0))
        .await
        .unwrap();
    nodes[1]
        .put_adapter("example", "bb", b"ex", at(1))
        .await
        .unwrap();
    nodes[1]
        .put_adapter("chaos", "cc", b"v2", at(2))
        .await
        .unwrap();
    nodes[0]
        .put_adapter("again", "cc", b"v2", at(3))
        .await
        .unwrap();
    assert_eq!(
        nodes[0].adapter_versions().await.unwrap(),
        [("again", "cc"), ("chaos", "cc"), ("example", "bb")]
            .map(|(id, sha)| (id.to_string(), sha.to_string()))
    );
    assert_eq!(
        nodes[1].adapter_component("aa").await.unwrap(),
        Some(b"v1".to_vec())
    );
    assert_eq!(
        nodes[1].adapter_component("cc").await.unwrap(),
        Some(b"v2".to_vec())
    );
    assert_eq!(nodes[1].adapter_component("dd").await.unwrap(), None);
}

on_both_backends!(
    connections_and_tokens_round_trip,
    a_connections_tokens_stay_within_the_cap_across_nodes,
    credits_are_never_oversold,
    idempotency_claims_replay_refuse_and_expire,
    one_claim_per_idempotency_key,
    pages_tell_added_updated_and_unchanged_and_full_runs_mark_the_rest_deleted,
    a_due_schedule_starts_one_run_per_interval_across_nodes,
    a_run_whose_node_died_is_taken_over_from_its_last_page,
    latest_runs_are_the_newest_of_each_schedule,
    webhook_deliveries_round_trip,
    events_reach_only_subscriptions_told_of_their_entity,
    each_delivery_goes_to_one_node,
    sessions_round_trip,
    confirm_tokens_are_taken_once_before_they_expire,
    failed_requests_keep_the_newest_and_are_found_by_request_and_connection,
    kv_values_expire_and_one_call_fills_a_missing_key,
    kv_fills_count_in_the_quota_and_rows_no_call_reads_go,
    a_write_budget_holds_across_nodes,
    upstream_slots_hold_across_nodes,
    uploaded_adapters_are_kept_by_content,
);
