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
        err.code().as_str(),
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

/// A host serving the chaos adapter with more `args`, and a connection of
/// it to `up`: the server and the connection's token.
async fn chaos_over_http(up: &DemoUpstream, options: ServerOptions<'_>) -> (Server, String) {
    let server = Server::start_with(ServerOptions {
        adapters: &["chaos"],
        ..options
    });
    let connected = call(
        &http(),
        reqwest::Method::POST,
        server.url("/v1/connections"),
        &server.admin_key(),
        Some(json!({"adapter": "chaos",
            "config": {"base_url": up.base_url(), "account_id": "a1"}, "credentials": {}})),
    )
    .await;
    assert_eq!(
        connected.status,
        reqwest::StatusCode::CREATED,
        "{}",
        connected.body
    );
    let token = connected.body["token"].as_str().unwrap().to_string();
    (server, token)
}

/// `GET /v1/{entity}` fails with `status` and `code`, under the request id
/// that the failed-requests log finds it by; the connection's next call
/// (`echo`) is served. Answers the failed reply.
async fn fails_then_serves(
    server: &Server,
    token: &str,
    entity: &str,
    status: reqwest::StatusCode,
    code: &str,
) -> Reply {
    let http = http();
    let get = |entity: &str| {
        call(
            &http,
            reqwest::Method::GET,
            server.url(&format!("/v1/{entity}")),
            token,
            None,
        )
    };
    let failed = get(entity).await;
    failed.assert_error(status, code);
    let log = server.url(&format!(
        "/v1/failed-requests?request_id={}",
        failed.request_id
    ));
    let logged = eventually(Duration::from_secs(10), "the failed request", || async {
        let reply = call(
            &http,
            reqwest::Method::GET,
            log.clone(),
            &server.admin_key(),
            None,
        )
        .await;
        reply.body["requests"]
            .as_array()
            .filter(|r| !r.is_empty())
            .cloned()
    })
    .await;
    assert_eq!(logged[0]["code"], code, "{logged:?}");
    assert_eq!(logged[0]["status"], status.as_u16(), "{logged:?}");
    let echo = get("echo").await;
    assert_eq!(echo.status, reqwest::StatusCode::OK, "{}", echo.body);
    assert_eq!(
        echo.body["data"][0]["version"], "1.0.0",
        "the host serves on"
    );
    failed
}

/// Through the real binary: an endless loop past `--call-timeout` is a 504
/// `adapter_timeout` with its request id, and the connection's next call is
/// served. Catches a deadline the binary does not enforce (the request
/// hangs until the client gives up) and a timeout answered as a crash or a
/// 500. Broken once (`classify` took the deadline for a trap): answered
/// `adapter_crashed`, and the test failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_http_a_call_past_its_deadline_is_a_504_and_the_host_serves_on() {
    let up = upstream().await;
    let (server, token) = chaos_over_http(
        &up,
        ServerOptions {
            args: &["--call-timeout", "1"],
            ..Default::default()
        },
    )
    .await;
    fails_then_serves(
        &server,
        &token,
        "spin",
        reqwest::StatusCode::GATEWAY_TIMEOUT,
        "adapter_timeout",
    )
    .await;
}

/// Through the real binary: unbounded allocation past
/// `--memory-limit-mib` is a 502 `adapter_memory_limit`, and the next call
/// is served. Catches a limit the binary does not pass on, and a refused
/// grow the guest turns into an abort (answered as a crash). Broken once
/// (the limiter refused the grow with `Ok(false)`): the guest aborted,
/// answered `adapter_crashed`, and the test failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_http_a_call_past_its_memory_limit_is_a_502_and_the_host_serves_on() {
    let up = upstream().await;
    let (server, token) = chaos_over_http(
        &up,
        ServerOptions {
            args: &["--memory-limit-mib", "32"],
            ..Default::default()
        },
    )
    .await;
    fails_then_serves(
        &server,
        &token,
        "hog",
        reqwest::StatusCode::BAD_GATEWAY,
        "adapter_memory_limit",
    )
    .await;
}

/// Through the real binary: an adapter that panics (a trap) is a 502
/// `adapter_crashed`, and the next call is served on a fresh instance.
/// Catches a trap answered as a 500 or that poisons the adapter. Broken
/// once (`adapter_crashed` left out of the 502 codes): a 422, and the test
/// failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_http_an_adapter_that_traps_is_a_502_and_the_host_serves_on() {
    let up = upstream().await;
    let (server, token) = chaos_over_http(&up, ServerOptions::default()).await;
    let crashed = fails_then_serves(
        &server,
        &token,
        "crash",
        reqwest::StatusCode::BAD_GATEWAY,
        "adapter_crashed",
    )
    .await;
    // Why, not where: the guest's backtrace (its function names) stays in
    // the operator's log. Catches the error's whole chain sent to clients.
    let message = crashed.body["error"]["message"].as_str().unwrap();
    assert_eq!(
        message,
        "the adapter crashed: wasm trap: wasm `unreachable` instruction executed"
    );
    assert!(
        server.logs().contains("wasm backtrace"),
        "{}",
        server.logs()
    );
}

/// Through the real binary: calls of several connections are held in the
/// upstream, one more at a time, until one finds every sandbox of the pool
/// taken (`--max-instances`, and the pool's spare slots, which calls may
/// use): it is a 503 `busy` with its request id, answered at once. It comes
/// no sooner than `--max-instances` calls, which always run; the held
/// calls all finish, and the refused connection's next call is served.
/// Catches a full pool answered as a crash or a hang. Broken once (the
/// pool's concurrency error classified as a trap): answered
/// `adapter_crashed`, and the test failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_http_a_call_that_finds_every_sandbox_taken_is_a_503_busy() {
    const MAX_INSTANCES: usize = 4;
    // Each connection may have this many calls running (the example
    // adapter's max-concurrent-requests, and its share of the host).
    const PER_CONNECTION: usize = 4;
    let slots = MAX_INSTANCES + interlink::runtime::MAX_SPARES as usize;
    let connections = slots / PER_CONNECTION + 2;
    let up = upstream().await;
    let credits = connections.to_string();
    let server = Server::start_with(ServerOptions {
        adapters: &["example"],
        args: &[
            "--max-instances",
            "4",
            "--max-instances-per-connection",
            "4",
            "--credits",
            &credits,
        ],
        ..Default::default()
    });
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(2 * slots)
        .timeout(REQUEST_DEADLINE)
        .build()
        .unwrap();
    let mut tokens = Vec::new();
    for _ in 0..connections {
        tokens.push(connect_example(&http, &server, &up.base_url()).await.1);
    }
    let vendors = |token: String| {
        let (http, url) = (http.clone(), server.url("/v1/vendors?page_size=1"));
        async move { call(&http, reqwest::Method::GET, url, &token, None).await }
    };

    up.pause();
    let mut held = Vec::new();
    let (busy, refused_token) = loop {
        assert!(
            held.len() <= slots,
            "{} calls held, more than the pool's {slots} slots",
            held.len()
        );
        let token = tokens[held.len() / PER_CONNECTION].clone();
        let mut next = Box::pin(vendors(token.clone()));
        let in_upstream = held.len() as u64 + 1;
        // Held in the upstream, or answered at once.
        let answered = tokio::time::timeout(Duration::from_secs(30), async {
            tokio::select! {
                reply = &mut next => Some(reply),
                () = async {
                    while up.in_flight() < in_upstream {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                } => None,
            }
        })
        .await
        .expect("the call was neither held nor answered");
        match answered {
            Some(reply) => break (reply, token),
            None => held.push(tokio::spawn(next)),
        }
    };
    busy.assert_error(reqwest::StatusCode::SERVICE_UNAVAILABLE, "busy");
    assert!(
        held.len() >= MAX_INSTANCES,
        "only {} calls ran before `busy`: --max-instances calls always run",
        held.len()
    );
    up.resume();
    for call in held {
        let reply = call.await.unwrap();
        assert_eq!(reply.status, reqwest::StatusCode::OK, "{}", reply.body);
    }
    let after = vendors(refused_token).await;
    assert_eq!(after.status, reqwest::StatusCode::OK, "{}", after.body);
}

/// The files of the compile cache in `data_dir`: each name with its inode
/// and modification time, which a rewrite changes.
fn cache_entries(data_dir: &std::path::Path) -> Vec<(String, u64, std::time::SystemTime)> {
    use std::os::unix::fs::MetadataExt;
    let mut entries: Vec<_> = std::fs::read_dir(data_dir.join("cache"))
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            let meta = entry.metadata().unwrap();
            (
                entry.file_name().to_string_lossy().into_owned(),
                meta.ino(),
                meta.modified().unwrap(),
            )
        })
        .collect();
    entries.sort();
    entries
}

/// Whether the server logged that it loaded `adapter` and whether that
/// came from the compile cache: the `from_cache` of its `adapter loaded`
/// lines.
fn loaded_from_cache(server: &Server, adapter: &str) -> Vec<bool> {
    server
        .logs()
        .lines()
        .filter(|l| l.contains("adapter loaded") && l.contains(&format!("adapter={adapter} ")))
        .map(|l| {
            if l.contains("from_cache=true") {
                true
            } else {
                assert!(l.contains("from_cache=false"), "{l}");
                false
            }
        })
        .collect()
}

/// Through the real binary (README: "Restarts do not recompile adapters"):
/// the first start compiles the adapter and writes one cache entry; a
/// restart on the same data folder loads it from that entry (its log says
/// `from_cache=true`) and leaves the entry as it was (same inode and
/// modification time: not rewritten), and the adapter it loaded serves the
/// connection made before the restart. Catches a cache the binary does not
/// use (no `--data-dir` cache) and one that misses on every start. Broken
/// once (`ArtifactCache::get` found nothing): the restart compiled again,
/// logged `from_cache=false` and rewrote the entry, and the test failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_http_a_restart_loads_the_compiled_adapter_from_the_cache() {
    let up = upstream().await;
    let own_cache = ServerOptions {
        own_compile_cache: true,
        ..Default::default()
    };
    let (server, token) = chaos_over_http(&up, own_cache).await;
    assert_eq!(loaded_from_cache(&server, "chaos"), [false], "compiled");
    let entries = cache_entries(&server.data_dir);
    assert_eq!(entries.len(), 1, "one entry, for chaos: {entries:?}");
    let (data_dir, adapters_dir, _dirs) = server.stop();

    let server = Server::start_with(ServerOptions {
        data_dir: Some(data_dir),
        adapters_dir: Some(adapters_dir),
        own_compile_cache: true,
        ..Default::default()
    });
    assert_eq!(
        loaded_from_cache(&server, "chaos"),
        [true],
        "from the cache"
    );
    assert_eq!(
        cache_entries(&server.data_dir),
        entries,
        "the entry was read, not written again"
    );
    let echo = call(
        &http(),
        reqwest::Method::GET,
        server.url("/v1/echo"),
        &token,
        None,
    )
    .await;
    assert_eq!(echo.status, reqwest::StatusCode::OK, "{}", echo.body);
    assert_eq!(echo.body["data"][0]["version"], "1.0.0");
}
