//! The data-plane service on its own, without HTTP: the example adapter, a
//! real demo upstream over loopback, SQLite in a temporary folder. API
//! requests and sync runs are both callers of this one service; these tests
//! show that its checks, its failure recording and its fairness hold for
//! either.

use std::sync::Arc;
use std::time::Duration;

use crate::common::*;
use demo_upstream::{DemoUpstream, Options};
use interlink::connections::{NewConnection, PlatformKeyUse, Status, TokenOwner, token_hash};
use interlink::dataplane::{Caller, DataError, DataPlane, Limits, Mode, Wait, Written};
use interlink::host::{Config, Host};
use interlink::outbound::network;
use interlink::runtime::{ListRequest, RuntimeConfig};
use interlink::storage::syncs::RunStatus;
use interlink::sync::ScheduleRequest;
use serde_json::json;

/// The service, in a host of its own.
struct Plane {
    dataplane: Arc<DataPlane>,
    host: Host,
    _dir: tempfile::TempDir,
}

/// A host in a new data folder, with the example adapter, allowed to reach
/// loopback (adapters and webhook receivers alike).
async fn plane(runtime: RuntimeConfig, limits: Limits) -> Plane {
    let dir = tempfile::tempdir().unwrap();
    let adapters = dir.path().join("adapters");
    std::fs::create_dir_all(&adapters).unwrap();
    std::fs::copy(adapter_path("example"), adapters.join("example.wasm")).unwrap();
    let host = Host::open(Config {
        runtime,
        limits,
        adapter_grants: vec![network::parse_adapter_grant("*=127.0.0.0/8").unwrap()],
        webhooks: interlink::webhooks::Limits {
            network: crate::common::loopback(),
            ..Default::default()
        },
        ..Config::new(dir.path())
    })
    .await
    .unwrap();
    host.load_adapters().await;
    Plane {
        dataplane: host.dataplane().clone(),
        host,
        _dir: dir,
    }
}

async fn upstream(options: Options) -> DemoUpstream {
    DemoUpstream::start("127.0.0.1:0".parse().unwrap(), options)
        .await
        .unwrap()
}

impl Plane {
    /// Connects the example adapter to `up`; answers the connection's token.
    async fn connect(&self, up: &DemoUpstream) -> String {
        let (_, token) = self
            .host
            .connections()
            .create(NewConnection {
                adapter: "example".into(),
                config: json!({"base_url": up.base_url()})
                    .as_object()
                    .unwrap()
                    .clone(),
                credentials: json!({"api_key": "demo-key"}).as_object().unwrap().clone(),
                replaces: None,
                platform_key: PlatformKeyUse::Operator,
            })
            .await
            .unwrap();
        token
    }

    async fn owner(&self, token: &str) -> TokenOwner {
        self.host
            .connections()
            .by_token(&token_hash(token))
            .await
            .unwrap()
            .expect("a known token")
            .owner
    }

    /// `count` lists of one vendor, started at once for `caller`.
    fn spawn_lists(
        &self,
        caller: &Caller,
        count: usize,
    ) -> Vec<tokio::task::JoinHandle<Result<interlink::runtime::Page, DataError>>> {
        (0..count)
            .map(|_| {
                let (dataplane, caller) = (self.dataplane.clone(), caller.clone());
                tokio::spawn(async move { dataplane.list(&caller, &vendors(1)).await })
            })
            .collect()
    }

    /// An API caller for the connection of `token`.
    async fn caller(&self, token: &str, request_id: &str) -> Caller {
        let TokenOwner::Active(open) = self.owner(token).await else {
            panic!("the connection is not active");
        };
        let actor = ("test".to_string(), None);
        Caller::new(
            open,
            request_id.into(),
            actor,
            Default::default(),
            Wait::Refuse,
        )
    }
}

fn vendors(page_size: u32) -> ListRequest {
    ListRequest {
        entity: "vendors".into(),
        page_size,
        ..Default::default()
    }
}

#[tokio::test]
async fn permissions_and_write_rules_are_checked_before_the_system_is_called() {
    let up = upstream(Options {
        permissions: vec!["suppliers:read".into(), "orders:read".into()],
        ..Options::default()
    })
    .await;
    let plane = plane(RuntimeConfig::default(), Limits::default()).await;
    let token = plane.connect(&up).await;
    let caller = plane.caller(&token, "req-1").await;
    let before = up.requests();

    let order = json!({"vendor_id": "1", "lines": [{"quantity": 1}]});
    let refused = plane
        .dataplane
        .create(&caller, "purchase-orders", order, None, Mode::Send)
        .await
        .unwrap_err();
    assert_eq!(refused.code().as_str(), "insufficient_permissions");
    assert_eq!(
        refused.details().unwrap()["missing_permissions"],
        json!(["orders:write"])
    );
    let bad = plane
        .dataplane
        .update(&caller, "vendors", "1", json!({"id": "9"}), Mode::Send)
        .await
        .unwrap_err();
    assert_eq!(
        bad.code().as_str(),
        "insufficient_permissions",
        "permissions come first"
    );
    let unknown = plane
        .dataplane
        .list(
            &caller,
            &ListRequest {
                entity: "invoices".into(),
                page_size: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(unknown.code().as_str(), "unknown_entity");
    assert_eq!(up.requests(), before, "nothing reached the system");

    let page = plane.dataplane.list(&caller, &vendors(2)).await.unwrap();
    assert_eq!(page.records.len(), 2);
    assert_eq!(up.requests(), before + 1);
}

#[tokio::test]
async fn a_rejected_credential_is_recorded_the_same_for_api_calls_and_sync_runs() {
    let plane = plane(RuntimeConfig::default(), Limits::default()).await;
    let (up_api, up_sync) = (
        upstream(Options::default()).await,
        upstream(Options::default()).await,
    );
    let (api_token, sync_token) = (plane.connect(&up_api).await, plane.connect(&up_sync).await);
    let caller = plane.caller(&api_token, "req-api").await;
    up_api.set_api_key("revoked");
    up_sync.set_api_key("revoked");

    let error = plane
        .dataplane
        .list(&caller, &vendors(10))
        .await
        .unwrap_err();
    assert_eq!(error.code().as_str(), "connection_requires_reauthorization");
    assert!(matches!(error, DataError::Call(_)));
    // The token's next lookup sees the new status, although it was cached.
    let TokenOwner::Inactive(connection) = plane.owner(&api_token).await else {
        panic!("still active");
    };
    assert_eq!(connection.status, Status::RequiresReauthorization);
    let last = connection.last_error.as_ref().unwrap();
    assert_eq!(
        (last.code.as_str(), last.request_id.as_str()),
        ("connection_requires_reauthorization", "req-api")
    );

    // A sync run reads through the same service, so its failure is recorded
    // on the connection in the same way, under the run's request id.
    let TokenOwner::Active(open) = plane.owner(&sync_token).await else {
        panic!("not active");
    };
    let syncs = plane.host.syncs();
    let schedule = ScheduleRequest {
        interval: None,
        page_size: None,
        backfill_since: None,
    };
    syncs
        .put_schedule(&open.connection, "vendors", schedule)
        .await
        .unwrap();
    let run = syncs
        .trigger(&open.connection, "vendors", true, "req-sync")
        .await
        .unwrap();
    let finished = eventually(Duration::from_secs(30), "the run to fail", || async {
        let run = plane.host.store().run(&run.id).await.unwrap()?;
        (run.status != RunStatus::Running).then_some(run)
    })
    .await;
    assert_eq!(finished.status, RunStatus::Failed);
    assert_eq!(
        finished.error.as_ref().unwrap().code,
        "connection_requires_reauthorization"
    );
    let TokenOwner::Inactive(connection) = plane.owner(&sync_token).await else {
        panic!("still active");
    };
    assert_eq!(connection.status, Status::RequiresReauthorization);
    assert_eq!(
        connection.last_error.as_ref().unwrap().request_id,
        "req-sync"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_past_its_share_is_refused_and_other_connections_are_served() {
    let plane = plane(
        RuntimeConfig::default(),
        Limits {
            max_calls_per_connection: 2,
            ..Limits::default()
        },
    )
    .await;
    let (slow, fast) = (
        upstream(Options::default()).await,
        upstream(Options::default()).await,
    );
    slow.set_delay(2000);
    let (slow_token, fast_token) = (plane.connect(&slow).await, plane.connect(&fast).await);
    let slow_caller = plane.caller(&slow_token, "slow").await;

    let in_flight = plane.spawn_lists(&slow_caller, 2);
    eventually(
        Duration::from_secs(5),
        "two slow calls in flight",
        || async { (slow.max_in_flight() >= 2).then_some(()) },
    )
    .await;

    let refused = plane
        .dataplane
        .list(&slow_caller, &vendors(1))
        .await
        .unwrap_err();
    assert_eq!(refused.code().as_str(), "too_many_requests");
    assert_eq!(refused.retry_after(), Some(Duration::from_secs(1)));
    assert_eq!(
        slow.in_flight(),
        2,
        "refused at once, while both slow calls are in flight, not after waiting for one"
    );
    let fast_caller = plane.caller(&fast_token, "fast").await;
    assert!(
        plane
            .dataplane
            .list(&fast_caller, &vendors(1))
            .await
            .is_ok()
    );

    // A background caller (a sync run) waits for the share instead.
    let queued = Caller {
        wait: Wait::Queue,
        ..slow_caller.clone()
    };
    assert!(plane.dataplane.list(&queued, &vendors(1)).await.is_ok());
    for call in in_flight {
        assert!(call.await.unwrap().is_ok());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_waiting_for_their_upstream_gate_hold_no_instance() {
    // Five instances in all; the example adapter allows 4 requests in flight
    // per connection. Without the gate in front of the instance pool, the 20
    // waiting calls of the slow connection would take every instance.
    let plane = plane(
        RuntimeConfig {
            max_instances: 5,
            ..RuntimeConfig::default()
        },
        Limits::default(),
    )
    .await;
    let (slow, fast) = (
        upstream(Options::default()).await,
        upstream(Options::default()).await,
    );
    slow.set_delay(300);
    let (slow_token, fast_token) = (plane.connect(&slow).await, plane.connect(&fast).await);
    let slow_caller = plane.caller(&slow_token, "slow").await;
    let flood = plane.spawn_lists(&slow_caller, 20);
    eventually(Duration::from_secs(5), "the slow gate to fill", || async {
        (slow.max_in_flight() >= 4).then_some(())
    })
    .await;
    let fast_caller = plane.caller(&fast_token, "fast").await;
    for _ in 0..5 {
        let page = plane.dataplane.list(&fast_caller, &vendors(1)).await;
        assert!(page.is_ok(), "{:?}", page.err());
    }
    for call in flood {
        assert!(call.await.unwrap().is_ok(), "queued calls all finish");
    }
    assert_eq!(slow.max_in_flight(), 4, "the gate held");
}

/// A dry run passes the write's checks and runs the adapter, but nothing
/// reaches the system, the write budget is untouched and the idempotency key
/// is not claimed; the answer is the request the write then sends.
#[tokio::test]
async fn a_dry_run_holds_the_write_and_takes_nothing() {
    let up = upstream(Options::default()).await;
    let limits = Limits {
        max_writes_per_minute: Some(1),
        ..Limits::default()
    };
    let plane = plane(RuntimeConfig::default(), limits).await;
    let token = plane.connect(&up).await;
    let caller = plane.caller(&token, "req-dry").await;
    let vendor = json!({"name": "Dry Run Supplies"});

    for _ in 0..3 {
        let written = plane
            .dataplane
            .create(
                &caller,
                "vendors",
                vendor.clone(),
                Some("key-1"),
                Mode::DryRun,
            )
            .await
            .unwrap();
        let Written::DryRun(held) = written else {
            panic!("a dry run answered a record: {written:?}");
        };
        let [request] = held.as_slice() else {
            panic!("one write is held: {held:?}");
        };
        assert_eq!(request.method, "POST");
        assert_eq!(request.url, format!("{}/api/suppliers", up.base_url()));
        let body = request.body.as_deref().unwrap();
        assert!(body.contains("\"Dry Run Supplies\""), "{body}");
        assert!(
            request
                .headers
                .contains(&("Authorization".into(), "[redacted]".into())),
            "{:?}",
            request.headers
        );
    }
    assert_eq!(up.writes(), 0, "nothing reached the system");

    let refused = plane
        .dataplane
        .create(&caller, "vendors", json!({}), None, Mode::DryRun)
        .await
        .unwrap_err();
    assert_eq!(
        refused.code().as_str(),
        "field_required",
        "a dry run checks the rules"
    );

    // The budget of one write a minute and the key are still unspent.
    let other = json!({"name": "Real Supplies"});
    let written = plane
        .dataplane
        .create(&caller, "vendors", other, Some("key-1"), Mode::Send)
        .await
        .unwrap();
    assert!(matches!(written, Written::Done(ref c) if c.status == 201 && !c.replayed));
    assert_eq!(up.writes(), 1);
}
