//! The runtime, through real components: the manifest crosses the WIT, calls
//! reach a real HTTP server through the host, and the sandbox holds.

use std::time::{Duration, Instant};

use crate::common::*;
use demo_upstream::{DemoUpstream, Options};
use interlink::contract::AdapterError;
use interlink::runtime::{
    CallContext, CallError, InstanceReuse, ListRequest, LoadError, RuntimeConfig,
};
use serde_json::{Value, json};

fn list(entity: &str) -> ListRequest {
    ListRequest {
        entity: entity.into(),
        page_size: 50,
        ..Default::default()
    }
}

async fn upstream() -> DemoUpstream {
    DemoUpstream::start("127.0.0.1:0".parse().unwrap(), Options::default())
        .await
        .unwrap()
}

fn values(page: &interlink::runtime::Page) -> Vec<Value> {
    page.records
        .iter()
        .map(|r| serde_json::from_str(r.get()).unwrap())
        .collect()
}

#[tokio::test]
async fn the_manifest_crosses_the_wit_intact() {
    let rt = runtime(RuntimeConfig::default());
    let chaos = load(&rt, "chaos").await;
    let manifest = serde_json::to_value(chaos.manifest()).unwrap();
    let expected: Value = serde_json::from_str(include_str!("chaos-manifest.json")).unwrap();
    assert_eq!(manifest, expected);
}

#[tokio::test]
async fn connect_reports_the_account_and_its_custom_fields() {
    let rt = runtime(RuntimeConfig::default());
    let chaos = load(&rt, "chaos").await;
    let account = chaos.connect(ctx(&[], &[])).await.unwrap();
    assert_eq!(account.id, "chaos-1");
    assert_eq!(account.permissions, ["REST Web Services"]);
    assert_eq!(
        account.custom_fields[0].field.name,
        "custom_fields.custbody_extra"
    );
    assert!(account.custom_fields[0].field.custom);
}

#[tokio::test]
async fn a_list_goes_through_the_host_to_a_real_server_and_back() {
    let up = upstream().await;
    let rt = runtime(RuntimeConfig::default());
    let example = load(&rt, "example").await;
    let ctx = ctx(&[("base_url", &up.base_url())], &[("api_key", "demo-key")]);

    let first = example
        .list(
            ctx.clone(),
            &ListRequest {
                page_size: 2,
                ..list("vendors")
            },
        )
        .await
        .unwrap();
    let records = values(&first);
    assert_eq!(records.len(), 2);
    assert_eq!(records[0]["id"], "1");
    assert_eq!(records[0]["name"], "Acme Industrial Supply");
    assert_eq!(records[0]["email"], "orders@acme.example");
    assert_eq!(records[0]["status"], "active");
    assert_eq!(first.next_cursor.as_deref(), Some("2"));

    let second = example
        .list(
            ctx.clone(),
            &ListRequest {
                page_size: 2,
                cursor: first.next_cursor,
                ..list("vendors")
            },
        )
        .await
        .unwrap();
    assert_eq!(values(&second).len(), 1);
    assert_eq!(second.next_cursor, None);
    assert_eq!(up.requests(), 2);
}

/// An adapter built with the SDK takes its first MiB of heap from its own
/// initial memory, so a call that needs less grows no memory: growing it
/// would cost the host an `mprotect` to take it back before the slot's next
/// instance (docs/benchmarks.md).
#[tokio::test]
async fn a_small_call_of_an_sdk_adapter_grows_no_memory() {
    let up = upstream().await;
    let rt = runtime(RuntimeConfig::default());
    let example = load(&rt, "example").await;
    let ctx = ctx(&[("base_url", &up.base_url())], &[("api_key", "demo-key")]);
    let mut instance = example.instantiate(ctx).await.unwrap();
    let initial = instance.memory();
    assert!(initial > 2 << 20, "the heap's arena is initial memory");
    let page = instance.list(&list("vendors")).await.unwrap();
    assert_eq!(values(&page).len(), 3);
    assert_eq!(instance.memory(), initial, "the call grew memory");
}

#[tokio::test]
async fn writes_map_both_ways() {
    let up = upstream().await;
    let rt = runtime(RuntimeConfig::default());
    let example = load(&rt, "example").await;
    let ctx = ctx(&[("base_url", &up.base_url())], &[("api_key", "demo-key")]);

    let order =
        json!({"vendor_id": "1", "memo": "rush", "lines": [{"item_id": "2", "quantity": 10}]});
    let created = example
        .create(ctx.clone(), "purchase-orders", order.to_string())
        .await
        .unwrap();
    let created: Value = serde_json::from_str(created.get()).unwrap();
    assert_eq!(created["number"], "PO00001");
    assert_eq!(created["status"], "draft");
    assert_eq!(created["lines"][0]["item_id"], "2");

    let id = created["id"].as_str().unwrap();
    let patch = json!({"memo": "not so rush"}).to_string();
    example
        .update(ctx.clone(), "purchase-orders", id, patch)
        .await
        .unwrap();
    let read = example
        .get(ctx.clone(), "purchase-orders", id)
        .await
        .unwrap();
    let read: Value = serde_json::from_str(read.get()).unwrap();
    assert_eq!(read["memo"], "not so rush");

    example
        .delete(ctx.clone(), "purchase-orders", id)
        .await
        .unwrap();
    let gone = example.get(ctx, "purchase-orders", id).await.unwrap_err();
    assert!(
        matches!(gone, CallError::Adapter(AdapterError::NotFound { .. })),
        "{gone:?}"
    );
}

#[tokio::test]
async fn rejected_credentials_are_a_typed_error() {
    let up = upstream().await;
    let rt = runtime(RuntimeConfig::default());
    let example = load(&rt, "example").await;
    let ctx = ctx(&[("base_url", &up.base_url())], &[("api_key", "wrong")]);
    let err = example.connect(ctx).await.unwrap_err();
    assert!(
        matches!(err, CallError::Adapter(AdapterError::Unauthorized { .. })),
        "{err:?}"
    );
}

/// Catches a runtime whose endless guest holds a worker thread (no epoch
/// interruption, or a wasm call that never yields to the executor): with
/// one worker, the echo calls spawned beside it could not run until the
/// spinning one is killed, and would all finish after it. Three calls
/// within the spinning call's two seconds, not a rate: it holds under a
/// loaded machine. Broken once (the epoch callback went on without a
/// yield: `UpdateDeadline::Continue`): the spinning call finished first,
/// and the test failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn an_endless_loop_is_stopped_while_other_calls_go_on() {
    let up = upstream().await;
    let rt = runtime(RuntimeConfig {
        call_timeout: Duration::from_secs(2),
        ..RuntimeConfig::default()
    });
    let chaos = load(&rt, "chaos").await;

    let spinning = tokio::spawn({
        let chaos = chaos.clone();
        let ctx = ctx(&[("base_url", &up.base_url())], &[]);
        async move { chaos.list(ctx, &list("spin")).await }
    });
    // The guest says it started spinning with one request upstream.
    eventually(
        Duration::from_secs(30),
        "the spinning call to start",
        || {
            let started = up.requests() == 1;
            async move { started.then_some(()) }
        },
    )
    .await;
    let echoes = tokio::spawn(async move {
        for _ in 0..3 {
            let page = chaos.list(ctx(&[], &[]), &list("echo")).await.unwrap();
            assert_eq!(values(&page)[0]["version"], "1.0.0");
        }
    });
    tokio::time::timeout(Duration::from_secs(30), echoes)
        .await
        .expect("the echo calls finished")
        .unwrap();
    assert!(
        !spinning.is_finished(),
        "three calls were served while the loop ran"
    );
    let err = tokio::time::timeout(Duration::from_secs(30), spinning)
        .await
        .expect("the spinning call was stopped")
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, CallError::DeadlineExceeded(_)), "{err:?}");
}

#[tokio::test]
async fn unbounded_allocation_is_stopped_by_the_memory_limit() {
    let rt = runtime(RuntimeConfig {
        memory_limit: 32 << 20,
        ..RuntimeConfig::default()
    });
    let chaos = load(&rt, "chaos").await;
    let err = chaos.list(ctx(&[], &[]), &list("hog")).await.unwrap_err();
    assert!(
        matches!(err, CallError::MemoryLimitExceeded(limit) if limit == 32 << 20),
        "{err:?}"
    );
    // The next call gets a fresh instance and works.
    chaos.list(ctx(&[], &[]), &list("echo")).await.unwrap();
}

#[tokio::test]
async fn a_host_outside_the_allow_list_is_refused_before_anything_is_sent() {
    let allowed = upstream().await;
    let other = upstream().await;
    let rt = runtime(RuntimeConfig::default());
    let chaos = load(&rt, "chaos").await;
    let ctx = ctx(
        &[
            ("base_url", &allowed.base_url()),
            ("other_url", &format!("{}/api/me", other.base_url())),
        ],
        &[],
    );
    let err = chaos.list(ctx, &list("escape")).await.unwrap_err();
    assert_eq!(
        err.code(),
        "outbound_denied",
        "not the adapter's `upstream`"
    );
    let CallError::OutboundDenied(message) = err else {
        panic!("{err:?}")
    };
    assert!(message.contains("outbound hosts"), "{message}");
    assert!(message.contains(&other.base_url()), "{message}");
    assert_eq!(other.requests(), 0, "no request reached the other host");
}

fn openssl(args: &[&str], input: Option<&str>) -> String {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the openssl command line");
    if let Some(input) = input {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn kv_clock_log_and_jwt_signing_serve_the_adapter() {
    let private = openssl(
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ],
        None,
    );
    let public = openssl(&["pkey", "-pubout"], Some(&private));
    let rt = runtime(RuntimeConfig::default());
    let chaos = load(&rt, "chaos").await;

    let page = chaos
        .list(
            ctx(
                &[("account_id", "client"), ("base_url", "http://127.0.0.1:9")],
                &[("signing_key", &private)],
            ),
            &list("imports"),
        )
        .await
        .unwrap();
    let record = &values(&page)[0];
    assert_eq!(record["cached"], "cached");
    assert_eq!(record["calls"], 1);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(record["now"].as_u64().unwrap().abs_diff(now) < 5);

    let jwt = record["jwt"].as_str().expect("a signed JWT");
    let header = jsonwebtoken::decode_header(jwt).unwrap();
    assert_eq!(header.kid.as_deref(), Some("cert-1"));
    let key = jsonwebtoken::DecodingKey::from_ec_pem(public.as_bytes()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.required_spec_claims.clear();
    validation.set_audience(&["http://127.0.0.1:9/token"]);
    let claims = jsonwebtoken::decode::<Value>(jwt, &key, &validation)
        .unwrap()
        .claims;
    assert_eq!(claims["iss"], "client");
}

/// The kv store outlives the instance (every call has a fresh one) and is
/// the connection's own. Catches a store kept in the instance's state (the
/// count stays at 1) and one shared between connections.
#[tokio::test]
async fn kv_values_last_across_calls_and_belong_to_their_connection() {
    let rt = runtime(RuntimeConfig::default());
    let chaos = load(&rt, "chaos").await;
    let calls = |connection: &'static str| {
        let chaos = chaos.clone();
        async move {
            let mut ctx = ctx(
                &[("account_id", "client"), ("base_url", "http://127.0.0.1:9")],
                &[],
            );
            ctx.connection_id = connection.into();
            let page = chaos.list(ctx, &list("imports")).await.unwrap();
            values(&page)[0]["calls"].as_u64().unwrap()
        }
    };
    assert_eq!(calls("conn-a").await, 1);
    assert_eq!(calls("conn-a").await, 2);
    assert_eq!(calls("conn-b").await, 1, "another connection's store");
    assert_eq!(calls("conn-a").await, 3);
}

#[tokio::test]
async fn garbage_and_core_modules_are_not_adapters() {
    let rt = runtime(RuntimeConfig::default());
    let err = rt
        .load(b"definitely not wasm".to_vec())
        .await
        .err()
        .unwrap();
    assert!(matches!(err, LoadError::Invalid(_)), "{err}");
    let core_module = b"\0asm\x01\0\0\0".to_vec();
    let err = rt.load(core_module).await.err().unwrap();
    assert!(matches!(err, LoadError::Invalid(_)), "{err}");
}

#[tokio::test]
async fn compiled_adapters_are_cached_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let services = crate::common::services;
    let first =
        interlink::runtime::Runtime::new(RuntimeConfig::default(), services(), Some(dir.path()))
            .unwrap();
    assert!(!load(&first, "chaos").await.from_cache());
    // A second runtime, as after a restart.
    let second =
        interlink::runtime::Runtime::new(RuntimeConfig::default(), services(), Some(dir.path()))
            .unwrap();
    let started = Instant::now();
    let chaos = load(&second, "chaos").await;
    assert!(chaos.from_cache());
    eprintln!("loaded from the cache in {:?}", started.elapsed());
    chaos.list(ctx(&[], &[]), &list("echo")).await.unwrap();
}

/// A pool too large to count (with its spares, or its core instances per
/// instance) is refused with an error, not wrapped around into a small one.
#[test]
fn a_pool_too_large_to_count_is_refused() {
    for max_instances in [u32::MAX - 1, u32::MAX / 4] {
        let services = crate::common::services();
        let config = RuntimeConfig {
            max_instances,
            ..RuntimeConfig::default()
        };
        let refused = interlink::runtime::Runtime::new(config, services, None)
            .err()
            .expect("refused");
        assert!(
            format!("{refused:#}").contains("too large"),
            "{max_instances}: {refused:#}"
        );
    }
}

/// The `memory` entity's count of calls on the instance that served it.
async fn calls_on_instance(adapter: &interlink::runtime::Adapter, ctx: CallContext) -> u64 {
    let page = adapter.list(ctx, &list("memory")).await.unwrap();
    values(&page)[0]["calls_on_this_instance"].as_u64().unwrap()
}

fn for_connection(id: &str, secret: &str) -> CallContext {
    CallContext {
        connection_id: id.into(),
        ..ctx(&[], &[("api_key", secret)])
    }
}

#[tokio::test]
async fn a_small_adapter_gets_a_fresh_instance_for_every_call_by_default() {
    let rt = runtime(RuntimeConfig::default());
    let chaos = load(&rt, "chaos").await;
    assert!(
        !chaos.reuses_instances(),
        "0.2 MB: no interpreter to keep warm"
    );
    for _ in 0..3 {
        assert_eq!(calls_on_instance(&chaos, for_connection("a", "k")).await, 1);
    }
}

/// A spare instance, made ahead of a call, is as fresh as one made for it,
/// and acts for the connection of the call that takes it: its origins, its
/// secrets, nothing of the connection before.
#[tokio::test]
async fn a_spare_instance_is_fresh_and_acts_for_the_call_that_takes_it() {
    let up = upstream().await;
    let rt = runtime(RuntimeConfig::default());
    let example = load(&rt, "example").await;
    let chaos = load(&rt, "chaos").await;
    let for_up = |key: &str| ctx(&[("base_url", &up.base_url())], &[("api_key", key)]);

    for _ in 0..2 {
        chaos.make_spare().await;
        assert!(chaos.has_spare());
        assert_eq!(calls_on_instance(&chaos, for_connection("a", "k")).await, 1);
        assert!(!chaos.has_spare(), "the call took the spare");
    }

    // The spare was made with no origin allowed; the call binds its own.
    example.make_spare().await;
    let page = example
        .list(for_up("demo-key"), &list("vendors"))
        .await
        .unwrap();
    assert_eq!(values(&page)[0]["name"], "Acme Industrial Supply");
    example.make_spare().await;
    let err = example
        .list(for_up("wrong"), &list("vendors"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, CallError::Adapter(AdapterError::Unauthorized { .. })),
        "the second spare sent the second call's key: {err:?}"
    );
    assert_eq!(up.requests(), 2);
}

/// What a warm instance may serve: the same connection, with the same
/// config and secrets, after calls that finished cleanly.
#[tokio::test]
async fn a_warm_instance_serves_only_its_connection_and_only_after_clean_calls() {
    let rt = runtime(RuntimeConfig {
        instance_reuse: InstanceReuse::Always,
        memory_limit: 32 << 20,
        ..RuntimeConfig::default()
    });
    let chaos = load(&rt, "chaos").await;
    assert!(chaos.reuses_instances());
    let a = || for_connection("a", "key-a");
    assert_eq!(calls_on_instance(&chaos, a()).await, 1);
    assert_eq!(calls_on_instance(&chaos, a()).await, 2, "kept warm");
    assert_eq!(
        calls_on_instance(&chaos, for_connection("b", "key-b")).await,
        1,
        "another connection never gets a's instance"
    );
    assert_eq!(
        calls_on_instance(&chaos, for_connection("a", "rotated")).await,
        1,
        "nor does a after its credentials changed"
    );
    assert_eq!(calls_on_instance(&chaos, a()).await, 3);

    // A call that traps retires the instance it ran on.
    let err = chaos.list(a(), &list("hog")).await.unwrap_err();
    assert!(matches!(err, CallError::MemoryLimitExceeded(_)), "{err:?}");
    assert_eq!(
        calls_on_instance(&chaos, a()).await,
        1,
        "fresh after a trap"
    );

    // So does a call abandoned half-way (its future dropped mid-call).
    let up = upstream().await;
    let slow_ctx = || CallContext {
        connection_id: "s".into(),
        ..ctx(&[("base_url", &up.base_url())], &[("api_key", "demo-key")])
    };
    assert_eq!(calls_on_instance(&chaos, slow_ctx()).await, 1);
    let abandoned = tokio::time::timeout(
        Duration::from_millis(100),
        chaos.list(slow_ctx(), &list("slow")),
    )
    .await;
    assert!(abandoned.is_err(), "the slow call was cut short");
    assert_eq!(
        calls_on_instance(&chaos, slow_ctx()).await,
        1,
        "fresh after an abandoned call"
    );
}
