//! The NetSuite adapter through the real binary, against the NetSuite
//! simulator (`tests/netsuite-sim`): both certificate options, key pairs
//! made by the real `openssl` as Oracle documents, paging, the write rules
//! and the concurrency limit.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::common::*;
use netsuite_sim::{Level, Permissions, Simulator, full_role};
use reqwest::{Method as M, StatusCode};
use serde_json::{Value, json};

const ACCOUNT: &str = "1234567";
const CLIENT_ID: &str = "client-abc";

struct Setup {
    sim: Simulator,
    server: Server,
    http: reqwest::Client,
    vendor: u64,
    item: u64,
}

impl Setup {
    async fn start() -> Setup {
        Setup::start_with(&[]).await
    }

    /// [`Setup::start`], the host started with `args`.
    async fn start_with(args: &[&str]) -> Setup {
        let sim = Simulator::start(ACCOUNT).await.unwrap();
        let vendor = sim.insert("vendor", json!({"companyName": "Acme Supplies"}));
        let item = sim.insert(
            "inventoryItem",
            json!({"itemId": "BOLT-10", "displayName": "Bolt M10", "cost": 0.25}),
        );
        Setup {
            sim,
            server: Server::start_with(ServerOptions {
                adapters: &["netsuite"],
                args,
                ..Default::default()
            }),
            http: crate::common::http(),
            vendor,
            item,
        }
    }

    async fn admin(&self, method: M, path: &str, body: Option<Value>) -> Reply {
        let key = self.server.admin_key();
        call(&self.http, method, self.server.url(path), &key, body).await
    }

    /// Connects with `certificate_id` and `private_key` (a PEM or "platform").
    async fn connect(&self, certificate_id: &str, private_key: &str, extra: Value) -> Reply {
        let mut config = json!({
            "account_id": ACCOUNT, "client_id": CLIENT_ID,
            "certificate_id": certificate_id, "base_url": self.sim.url(),
        });
        config
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let body = json!({
            "adapter": "netsuite",
            "config": config,
            "credentials": {"private_key": private_key},
        });
        self.admin(M::POST, "/v1/connections", Some(body)).await
    }

    /// Registers the host's platform certificate in the simulator, for a
    /// role with `permissions`, as `platform-cert`.
    async fn register_platform(&self, permissions: Permissions) {
        let cert = self.admin(M::GET, "/v1/certificates/platform", None).await;
        assert_eq!(cert.status, StatusCode::OK, "{}", cert.body);
        self.sim
            .register_certificate(
                "platform-cert",
                CLIENT_ID,
                cert.body["certificate"].as_str().unwrap(),
                permissions,
            )
            .unwrap();
    }

    /// Registers the platform certificate in the simulator and connects with it.
    async fn connect_with_platform(&self, permissions: Permissions) -> String {
        self.register_platform(permissions).await;
        token(&self.connect("platform-cert", "platform", json!({})).await)
    }

    async fn call(&self, token: &str, method: M, path: &str, body: Option<Value>) -> Reply {
        call(&self.http, method, self.server.url(path), token, body).await
    }

    /// [`Self::call`] with `Prefer: dry-run`; answers the one request held.
    async fn dry_run(&self, token: &str, method: M, path: &str, body: Value) -> Value {
        let prefer = [("prefer", "dry-run")];
        let url = self.server.url(path);
        let reply = call_with(&self.http, method, url, token, Some(body), &prefer).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(reply.headers["preference-applied"], "dry-run");
        assert_eq!(reply.body["dry_run"], true);
        let [held] = reply.body["requests"].as_array().unwrap().as_slice() else {
            panic!("one request is held: {}", reply.body);
        };
        held.clone()
    }

    /// Uploads `dir/public.pem` to the simulator as `certificate_id`, then
    /// connects with `dir/private.pem`.
    async fn connect_with_pair(&self, certificate_id: &str, dir: &Path) -> Reply {
        self.sim
            .register_certificate(
                certificate_id,
                CLIENT_ID,
                &read(dir, "public.pem"),
                full_role(),
            )
            .unwrap();
        self.connect(certificate_id, &read(dir, "private.pem"), json!({}))
            .await
    }

    fn order(&self) -> Value {
        json!({
            "vendor_id": self.vendor.to_string(),
            "memo": "first",
            "lines": [
                {"item_id": self.item.to_string(), "quantity": 4, "unit_price": "2.50"},
                {"item_id": self.item.to_string(), "quantity": 10},
            ],
        })
    }

    fn requests(&self, prefix: &str) -> usize {
        self.sim
            .requests()
            .iter()
            .filter(|r| r.starts_with(prefix))
            .count()
    }
}

fn token(reply: &Reply) -> String {
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["token"].as_str().unwrap().to_string()
}

/// Runs `openssl` with `args` in `dir`, answering its prompts for the
/// certificate's subject with the defaults (Enter), as a person would.
fn openssl(dir: &Path, args: &str) {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new("openssl")
        .args(args.split_whitespace())
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl is installed");
    child.stdin.take().unwrap().write_all(&[b'\n'; 16]).unwrap();
    assert!(child.wait().unwrap().success(), "openssl {args}");
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap()
}

/// Oracle's documented commands (NetSuite help, "OAuth 2.0 Client
/// Credentials Setup"), verbatim.
const OPENSSL_ES256: &str = "req -new -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -pkeyopt ec_param_enc:named_curve -nodes -days 365 -out public.pem -keyout private.pem";
const OPENSSL_PS256: &str = "req -new -x509 -newkey rsa:4096 -keyout private.pem -sigopt rsa_padding_mode:pss -sha256 -sigopt rsa_pss_saltlen:64 -out public.pem -nodes -days 365";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_platform_certificate_signs_in_and_a_purchase_order_goes_through_its_rules() {
    let s = Setup::start().await;

    let pem = s
        .http
        .get(s.server.url("/v1/certificates/platform?format=pem"))
        .bearer_auth(s.server.admin_key())
        .send()
        .await
        .unwrap();
    assert_eq!(pem.status(), StatusCode::OK);
    assert_eq!(pem.headers()["content-type"], "application/x-pem-file");
    let pem = pem.text().await.unwrap();
    let info = s.admin(M::GET, "/v1/certificates/platform", None).await;
    assert_eq!(info.body["algorithm"], "ES256");
    assert_eq!(info.body["certificate"], pem.as_str());
    assert!(info.body["days_left"].as_u64().unwrap() >= 729);

    let token = s.connect_with_platform(full_role()).await;
    let connection = s.admin(M::GET, "/v1/connections", None).await;
    let connection = &connection.body["connections"][0];
    assert_eq!(connection["config"]["private_key.algorithm"], "ES256");
    assert!(
        connection["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("Purchase Order: Create")),
        "{connection}"
    );
    assert!(
        !s.server.logs().contains("BEGIN PRIVATE KEY"),
        "no key in the logs"
    );

    // Created with its lines in one upstream request.
    let created = s
        .call(&token, M::POST, "/v1/purchase-orders", Some(s.order()))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(s.requests("POST /services/rest/record/v1/purchaseOrder"), 1);
    assert_eq!(created.body["status"], "open");
    assert_eq!(created.body["total"], 12.5);
    assert_eq!(created.body["lines"].as_array().unwrap().len(), 2);
    let id: u64 = created.body["id"].as_str().unwrap().parse().unwrap();
    let upstream = s.sim.record("purchaseOrder", id).unwrap();
    assert_eq!(upstream["item"]["items"].as_array().unwrap().len(), 2);
    assert_eq!(upstream["memo"], "first");

    // Read-only fields and the vendor after creation are refused by the
    // host, before NetSuite is asked.
    let refused = s
        .call(
            &token,
            M::PATCH,
            &format!("/v1/purchase-orders/{id}"),
            Some(json!({"total": 1, "vendor_id": "9"})),
        )
        .await;
    refused.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "field_read_only");
    assert_eq!(
        refused.body["error"]["details"]["errors"][1]["code"],
        "field_create_only"
    );

    // An update while open.
    let updated = s
        .call(
            &token,
            M::PATCH,
            &format!("/v1/purchase-orders/{id}"),
            Some(json!({"memo": "second"})),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    assert_eq!(s.sim.record("purchaseOrder", id).unwrap()["memo"], "second");
    let patches = s.requests("PATCH ");
    assert_eq!(patches, 1);

    // Fully Billed in NetSuite: the host refuses, and NetSuite never sees a PATCH.
    s.sim.set_purchase_order_status(id, "G");
    let locked = s
        .call(
            &token,
            M::PATCH,
            &format!("/v1/purchase-orders/{id}"),
            Some(json!({"memo": "third"})),
        )
        .await;
    locked.assert_error(StatusCode::CONFLICT, "state_locked");
    assert_eq!(s.requests("PATCH "), patches);
    assert_eq!(s.sim.record("purchaseOrder", id).unwrap()["memo"], "second");

    // The access token is cached; an expired one is renewed once.
    let minted = s.sim.token_requests();
    s.sim.expire_tokens();
    let read = s
        .call(&token, M::GET, &format!("/v1/purchase-orders/{id}"), None)
        .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    assert_eq!(read.body["status"], "billed");
    assert_eq!(s.sim.token_requests(), minted + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_key_pairs_made_by_openssl_as_oracle_documents_sign_in() {
    let s = Setup::start().await;
    for (alg, command) in [("ES256", OPENSSL_ES256), ("PS256", OPENSSL_PS256)] {
        let dir = tempfile::tempdir().unwrap();
        openssl(dir.path(), command);
        let connected = s
            .connect_with_pair(&format!("cert-{alg}"), dir.path())
            .await;
        let token = token(&connected);
        assert_eq!(
            connected.body["connection"]["config"]["private_key.algorithm"],
            alg
        );
        let vendors = s.call(&token, M::GET, "/v1/vendors", None).await;
        assert_eq!(vendors.status, StatusCode::OK, "{alg}: {}", vendors.body);
        assert_eq!(vendors.body["data"][0]["name"], "Acme Supplies");
    }

    // `interlink cert generate` makes pairs NetSuite accepts, for both
    // algorithms, and refuses validities NetSuite would refuse.
    let generate = |dir: &Path, alg: &str, days: &str| {
        Command::new(env!("CARGO_BIN_EXE_interlink"))
            .args(["cert", "generate", "--alg", alg, "--days", days])
            .current_dir(dir)
            .output()
            .unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let too_long = generate(dir.path(), "es256", "800");
    assert!(!too_long.status.success());
    assert!(String::from_utf8_lossy(&too_long.stderr).contains("at most two years"));
    for (alg, algorithm) in [("es256", "ES256"), ("ps256", "PS256")] {
        let dir = tempfile::tempdir().unwrap();
        assert!(generate(dir.path(), alg, "365").status.success());
        let connected = s
            .connect_with_pair(&format!("cert-cli-{alg}"), dir.path())
            .await;
        token(&connected);
        assert_eq!(
            connected.body["connection"]["config"]["private_key.algorithm"],
            algorithm
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_netsuite_would_refuse_are_refused_with_a_clear_error() {
    let s = Setup::start().await;
    let dir = tempfile::tempdir().unwrap();
    openssl(
        dir.path(),
        "req -new -x509 -newkey rsa:2048 -nodes -days 365 -subj /CN=short -out public.pem -keyout private.pem",
    );
    assert!(
        s.sim
            .register_certificate(
                "short",
                CLIENT_ID,
                &read(dir.path(), "public.pem"),
                full_role()
            )
            .is_err(),
        "NetSuite refuses RSA 2048"
    );
    let refused = s
        .connect("short", &read(dir.path(), "private.pem"), json!({}))
        .await;
    refused.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_config");
    let error = &refused.body["error"]["details"]["errors"][0];
    assert_eq!(
        error["path"], "/credentials/private_key",
        "{}",
        refused.body
    );
    assert_eq!(error["code"], "key_refused");
    assert!(
        error["message"].as_str().unwrap().contains("3072"),
        "{error}"
    );

    // A certificate valid for three years, given with its key.
    let dir = tempfile::tempdir().unwrap();
    openssl(
        dir.path(),
        "req -new -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1095 -subj /CN=long -out public.pem -keyout private.pem",
    );
    let bundle = format!(
        "{}{}",
        read(dir.path(), "private.pem"),
        read(dir.path(), "public.pem")
    );
    let refused = s.connect("long", &bundle, json!({})).await;
    let error = &refused.body["error"]["details"]["errors"][0];
    assert_eq!(error["code"], "key_refused", "{}", refused.body);
    assert!(
        error["message"].as_str().unwrap().contains("two years"),
        "{error}"
    );
    assert_eq!(s.sim.token_requests(), 0, "nothing reached NetSuite");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_spans_several_pages_and_filters_on_modification_time() {
    let s = Setup::start().await;
    for n in 0..44 {
        s.sim
            .insert("vendor", json!({"companyName": format!("Vendor {n}")}));
    }
    let token = s.connect_with_platform(full_role()).await;
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut path = "/v1/vendors?page_size=20".to_string();
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = s.call(&token, M::GET, &path, None).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        pages += 1;
        for record in page.body["data"].as_array().unwrap() {
            names.push(record["name"].as_str().unwrap().to_string());
        }
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(names.len(), 45);
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 45, "no record twice");
    assert!(
        s.requests("GET /services/rest/record/v1/vendor?limit=20&offset=40")
            .eq(&1)
    );

    let future = "2999-01-01T00:00:00Z";
    let none = s
        .call(
            &token,
            M::GET,
            &format!("/v1/vendors?modified_after={future}"),
            None,
        )
        .await;
    assert_eq!(none.status, StatusCode::OK, "{}", none.body);
    assert_eq!(none.body["data"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_revoked_in_netsuite_requires_reauthorization() {
    let s = Setup::start().await;
    let token = s.connect_with_platform(full_role()).await;
    assert_eq!(
        s.call(&token, M::GET, "/v1/vendors", None).await.status,
        StatusCode::OK
    );

    s.sim.revoke_certificate("platform-cert");
    let rejected = s.call(&token, M::GET, "/v1/vendors", None).await;
    rejected.assert_error(
        StatusCode::UNAUTHORIZED,
        "connection_requires_reauthorization",
    );
    assert!(
        rejected.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("invalid_client"),
        "{}",
        rejected.body
    );
    let connections = s.admin(M::GET, "/v1/connections", None).await;
    assert_eq!(
        connections.body["connections"][0]["status"],
        "requires_reauthorization"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_without_purchase_order_create_is_refused_naming_the_permission() {
    let s = Setup::start().await;
    let role: Permissions = full_role()
        .into_iter()
        .map(|(name, level)| {
            let level = if name == "Purchase Order" {
                Level::View
            } else {
                level
            };
            (name, level)
        })
        .collect();
    let token = s.connect_with_platform(role).await;
    let refused = s
        .call(&token, M::POST, "/v1/purchase-orders", Some(s.order()))
        .await;
    refused.assert_error(StatusCode::FORBIDDEN, "insufficient_permissions");
    assert_eq!(
        refused.body["error"]["details"]["missing_permissions"],
        json!(["Purchase Order: Create"])
    );
    assert_eq!(s.requests("POST /services/rest/record"), 0);

    // Taken away after connecting: NetSuite's own refusal names it too.
    s.sim.set_permissions(
        "platform-cert",
        full_role()
            .into_iter()
            .filter(|(n, _)| n != "Vendors")
            .collect(),
    );
    let refused = s.call(&token, M::GET, "/v1/vendors", None).await;
    refused.assert_error(StatusCode::FORBIDDEN, "insufficient_permissions");
    assert_eq!(
        refused.body["error"]["details"]["missing_permissions"],
        json!(["Vendors: View"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn netsuite_validation_errors_come_back_with_the_unified_path() {
    let s = Setup::start().await;
    let token = s.connect_with_platform(full_role()).await;
    let mut order = s.order();
    order["lines"][1]["item_id"] = json!("999999");
    let refused = s
        .call(&token, M::POST, "/v1/purchase-orders", Some(order))
        .await;
    refused.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let error = &refused.body["error"]["details"]["errors"][0];
    assert_eq!(error["path"], "/lines/1/item_id", "{}", refused.body);
    assert_eq!(error["code"], "user_error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writable_custom_fields_come_from_the_connection_config() {
    let s = Setup::start().await;
    s.register_platform(full_role()).await;
    let token = token(
        &s.connect(
            "platform-cert",
            "platform",
            json!({"writable_custom_fields": "custbody_approver"}),
        )
        .await,
    );
    let mut order = s.order();
    order["custom_fields"] = json!({"custbody_approver": "ann", "custbody_internal": "x"});
    let refused = s
        .call(&token, M::POST, "/v1/purchase-orders", Some(order.clone()))
        .await;
    refused.assert_error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "custom_field_not_writable",
    );
    assert_eq!(
        refused.body["error"]["details"]["errors"][0]["path"],
        "/custom_fields/custbody_internal"
    );
    order["custom_fields"] = json!({"custbody_approver": "ann"});
    let created = s
        .call(&token, M::POST, "/v1/purchase-orders", Some(order))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["custom_fields"]["custbody_approver"], "ann");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_parallel_requests_never_exceed_the_accounts_concurrency_limit() {
    let s = Setup::start().await;
    let token = s.connect_with_platform(full_role()).await;
    // Warm the token cache, then make every NetSuite request take a while.
    assert_eq!(
        s.call(&token, M::GET, "/v1/vendors", None).await.status,
        StatusCode::OK
    );
    s.sim.set_delay(Duration::from_millis(100));
    let path = format!("/v1/vendors/{}", s.vendor);
    let replies =
        futures::future::join_all((0..20).map(|_| s.call(&token, M::GET, &path, None))).await;
    for reply in &replies {
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
    assert_eq!(
        s.sim.max_in_flight(),
        5,
        "requests overlapped up to the limit"
    );
    assert_eq!(s.sim.refused_for_concurrency(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn netsuite_429s_are_retried_with_backoff_then_answered_429() {
    let s = Setup::start().await;
    let token = s.connect_with_platform(full_role()).await;
    s.sim.set_concurrency_limit(0);
    let refused = s
        .call(&token, M::POST, "/v1/purchase-orders", Some(s.order()))
        .await;
    refused.assert_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert_eq!(
        s.requests("POST /services/rest/record/v1/purchaseOrder"),
        4,
        "the first attempt and three retries"
    );
    assert_eq!(
        s.sim.record("purchaseOrder", s.item + 1),
        None,
        "nothing was created"
    );
}

/// `Prefer: dry-run` against NetSuite: the token request (a POST the
/// adapter marks read-only) and the reads go out, no record is written, and
/// the answer is the write held; the real write then sends exactly it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_sends_the_token_request_and_reads_and_answers_the_write_it_holds() {
    let s = Setup::start().await;
    s.sim.set_token_lifetime(Duration::from_secs(1));
    let token = s.connect_with_platform(full_role()).await;
    // The adapter caches the access token for its one-second lifetime; dry
    // runs (which change nothing) are repeated until the cached token has
    // expired and one had to ask for a new one, which it sent.
    let held = eventually(
        Duration::from_secs(5),
        "a dry run that asked for a token",
        || async {
            let tokens = s.sim.token_requests();
            let held = s
                .dry_run(&token, M::POST, "/v1/purchase-orders", s.order())
                .await;
            (s.sim.token_requests() == tokens + 1).then_some(held)
        },
    )
    .await;
    assert_eq!(s.sim.writes(), vec![], "no record was written");
    assert_eq!(held["method"], "POST");
    let authorization = held["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == "Authorization")
        .expect("the held request carries its token");
    assert_eq!(authorization["value"], "[redacted]");

    s.sim.set_token_lifetime(Duration::from_secs(3600));
    let created = s
        .call(&token, M::POST, "/v1/purchase-orders", Some(s.order()))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let writes = s.sim.writes();
    let [create] = writes.as_slice() else {
        panic!("one write: {writes:?}")
    };
    assert_eq!(held["method"], create.method);
    assert_eq!(held["url"], format!("{}{}", s.sim.url(), create.path));
    assert_eq!(held["body"], create.body);

    // An update: the host reads the order for its state locks; the PATCH
    // is held.
    let id = created.body["id"].as_str().unwrap();
    let read = format!("GET /services/rest/record/v1/purchaseOrder/{id}");
    let reads = s.requests(&read);
    let path = format!("/v1/purchase-orders/{id}");
    let patch = json!({"memo": "dry"});
    let held = s.dry_run(&token, M::PATCH, &path, patch.clone()).await;
    assert!(s.requests(&read) > reads, "the order was read");
    assert_eq!(s.sim.writes().len(), 1, "no PATCH reached NetSuite");
    assert_eq!(
        s.sim.record("purchaseOrder", id.parse().unwrap()).unwrap()["memo"],
        "first"
    );

    let updated = s.call(&token, M::PATCH, &path, Some(patch)).await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    let update = s.sim.writes().pop().unwrap();
    assert_eq!(held["method"], "PATCH");
    assert_eq!(held["method"], update.method);
    assert_eq!(held["url"], format!("{}{}", s.sim.url(), update.path));
    assert_eq!(held["body"], update.body);
}

/// One access token serves many calls, each on a fresh instance: the adapter
/// caches it in the connection's kv store between calls. Broken
/// implementation this catches: a kv store that keeps nothing between calls
/// (or an adapter that does not cache), which asks NetSuite for a token on
/// every call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_access_token_serves_many_calls_in_fresh_instances() {
    let s = Setup::start().await;
    let token = s.connect_with_platform(full_role()).await;
    assert_eq!(s.sim.token_requests(), 1, "connecting asked for one token");
    for path in [
        "/v1/vendors",
        "/v1/items",
        "/v1/purchase-orders",
        "/v1/vendors",
    ] {
        let reply = s.call(&token, M::GET, path, None).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
    assert_eq!(
        s.sim.token_requests(),
        1,
        "every call used the cached token"
    );
}

/// When NetSuite rejects the cached access token, the calls that were
/// refused together fetch one new token between them: the host lets one call
/// at a time fill a missing kv key, and the adapter renews only the token it
/// sent. Broken implementation this catches: a kv store where every call that
/// misses fetches its own token (a refresh race, on one node or several).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_refused_together_fetch_one_new_access_token() {
    let s = Setup::start().await;
    let token = s.connect_with_platform(full_role()).await;
    assert_eq!(s.sim.token_requests(), 1);
    s.sim.expire_tokens();
    let calls = (0..12).map(|_| s.call(&token, M::GET, "/v1/vendors", None));
    for reply in futures::future::join_all(calls).await {
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
    assert_eq!(
        s.sim.token_requests(),
        2,
        "one new token for the twelve calls"
    );
}

/// What is secret never reaches the database in clear: a customer's
/// private key, a webhook secret, the connection token. The stored
/// credentials open with the data folder's key and with no other. And a
/// restart with another secret key is refused with a clear error, leaving
/// everything as it was: the right key then opens it all. Catches
/// credentials or webhook secrets stored unsealed (or only encoded, which
/// the grep alone would pass), a host that starts with the wrong key (and
/// then fails every call, or seals new data under the wrong key), and one
/// that cannot open the customer's key or its cached token after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_stored_sealed_and_a_restart_with_another_secret_key_is_refused() {
    let s = Setup::start().await;
    let keys = tempfile::tempdir().unwrap();
    openssl(keys.path(), OPENSSL_ES256);
    let token = token(&s.connect_with_pair("cert-sealed", keys.path()).await);
    let hook = receiver(0).await;
    let webhook_secret = "whsec_YSB3ZWJob29rIHNlY3JldCBvZiAzMiBieXRlcyEhISE=";
    let subscribed = s
        .call(
            &token,
            M::POST,
            "/v1/webhooks",
            Some(json!({"url": hook.url, "events": ["records.changed"], "secret": webhook_secret})),
        )
        .await;
    assert_eq!(
        subscribed.status,
        StatusCode::CREATED,
        "{}",
        subscribed.body
    );
    let vendors = s.call(&token, M::GET, "/v1/vendors", None).await;
    assert_eq!(vendors.status, StatusCode::OK, "{}", vendors.body);
    let token_requests = s.sim.token_requests();

    let Setup {
        sim, server, http, ..
    } = s;
    let (data_dir, adapters_dir, _dirs) = server.stop();
    let credentials = stored_credentials(&data_dir).await;
    let private_pem = read(keys.path(), "private.pem");
    let key_line = private_pem
        .lines()
        .max_by_key(|l| l.len())
        .expect("a PEM body");
    let stored = [
        std::fs::read(data_dir.join("interlink.db")).unwrap(),
        std::fs::read(data_dir.join("interlink.db-wal")).unwrap_or_default(),
    ];
    for secret in [key_line, webhook_secret, token.as_str()] {
        for file in &stored {
            assert!(
                !file.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "`{secret}` is stored in clear"
            );
        }
    }

    // Sealed, not encoded: the data folder's key opens the stored
    // credentials to the customer's private key; another key does not.
    let right = interlink::secret_box::SecretBox::load(None, &data_dir).unwrap();
    let wrong = interlink::secret_box::SecretBox::new([0x11; 32]);
    for (connection, sealed) in &credentials {
        let opened = right.open(sealed, connection).expect("the right key opens");
        assert!(String::from_utf8_lossy(&opened).contains(key_line));
        assert!(wrong.open(sealed, connection).is_err(), "another key opens");
        assert!(
            right.open(sealed, "another-connection").is_err(),
            "the credentials open for another connection"
        );
    }
    assert_eq!(credentials.len(), 1, "one connection");

    let key_file = data_dir.join("secret.key");
    let original = std::fs::read_to_string(&key_file).unwrap();
    std::fs::write(&key_file, "11".repeat(32)).unwrap();
    let stderr = refused_start(&data_dir, &adapters_dir, &[]).await;
    assert!(
        stderr.contains(
            "the secret key is not the one this data folder's secrets were encrypted with"
        ),
        "{stderr}"
    );

    std::fs::write(&key_file, original).unwrap();
    let server = Server::start_with(ServerOptions {
        data_dir: Some(data_dir),
        adapters_dir: Some(adapters_dir),
        ..Default::default()
    });
    let vendors = call(&http, M::GET, server.url("/v1/vendors"), &token, None).await;
    assert_eq!(
        vendors.status,
        StatusCode::OK,
        "the key decrypts: {}",
        vendors.body
    );
    let hooks = call(&http, M::GET, server.url("/v1/webhooks"), &token, None).await;
    assert_eq!(
        hooks.body["subscriptions"].as_array().map(Vec::len),
        Some(1),
        "{}",
        hooks.body
    );
    // The access token cached before the restart, sealed in the adapter's
    // store, opened with the right key: no sign-in yet.
    assert_eq!(sim.token_requests(), token_requests, "the cached token");
    // Once NetSuite drops it, the customer's key, opened with the right
    // key, signs exactly one new sign-in for the next calls.
    sim.expire_tokens();
    for _ in 0..2 {
        let vendors = call(&http, M::GET, server.url("/v1/vendors"), &token, None).await;
        assert_eq!(vendors.status, StatusCode::OK, "{}", vendors.body);
    }
    assert_eq!(sim.token_requests(), token_requests + 1, "one new sign-in");
}

/// Each connection's id and sealed credentials, read from the SQLite
/// database in `data_dir` of a stopped host.
async fn stored_credentials(data_dir: &Path) -> Vec<(String, Vec<u8>)> {
    use sqlx::Connection;
    let url = format!("sqlite://{}", data_dir.join("interlink.db").display());
    let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let rows: Vec<(String, Vec<u8>)> = sqlx::query_as("SELECT id, credentials FROM connections")
        .fetch_all(&mut db)
        .await
        .unwrap();
    db.close().await.unwrap();
    rows
}

/// Submits the NetSuite connect form at `link` with the platform
/// certificate, naming `account` if given (the link presets the rest);
/// answers the status and the page.
async fn connect_page_with_platform(
    s: &Setup,
    link: &str,
    account: Option<&str>,
) -> (StatusCode, String) {
    let mut form = reqwest::multipart::Form::new()
        .text("client_id", CLIENT_ID)
        .text("certificate_id", "platform-cert")
        .text("private_key__source", "platform");
    if let Some(account) = account {
        form = form.text("account_id", account.to_string());
    }
    let reply = s.http.post(link).multipart(form).send().await.unwrap();
    (reply.status(), reply.text().await.unwrap())
}

/// A connect link made through the API with `body`; answers its URL.
async fn connect_link(s: &Setup, body: Value) -> String {
    let created = s.admin(M::POST, "/v1/connect-sessions", Some(body)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    created.body["url"].as_str().unwrap().to_string()
}

/// Before: the platform key was offered to every customer on the connect
/// page, and the account's identifiers were free text: a customer who knew
/// another NetSuite account's ids connected to it, signed with the platform
/// key that account trusts. Now the operator binds the platform key to the
/// customer's account on the link. Catches a host that lets a link use the
/// platform key for any account: the simulator would see a token request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_uses_the_platform_key_only_for_the_account_the_operator_bound_it_to() {
    let s = Setup::start().await;
    // Account A (the simulator's) trusts the platform certificate.
    s.register_platform(full_role()).await;

    // Customer B's link, bound to B's account, naming A's.
    let b = connect_link(
        &s,
        json!({"adapter": "netsuite",
            "platform_key_for": {"account_id": "7654321", "base_url": s.sim.url()}}),
    )
    .await;
    let form = s.http.get(&b).send().await.unwrap().text().await.unwrap();
    assert!(form.contains("value=\"platform\""), "offered to B: {form}");
    assert!(
        !form.contains("name=\"account_id\""),
        "the bound account is shown, not asked: {form}"
    );
    let (status, page) = connect_page_with_platform(&s, &b, Some(ACCOUNT)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains("set by whoever sent this link"), "{page}");
    // A link the operator did not bind offers no platform key, and takes none.
    let unbound = connect_link(
        &s,
        json!({"adapter": "netsuite", "presets": {"base_url": {"value": s.sim.url()}}}),
    )
    .await;
    let form = s
        .http
        .get(&unbound)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!form.contains("value=\"platform\""), "not offered: {form}");
    let (status, page) = connect_page_with_platform(&s, &unbound, Some(ACCOUNT)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains("does not offer the service"), "{page}");
    let certificate = format!("{unbound}/platform-certificate.pem");
    let download = s.http.get(&certificate).send().await.unwrap();
    assert_eq!(download.status(), StatusCode::NOT_FOUND);
    assert_eq!(s.sim.token_requests(), 0, "NetSuite was never asked");

    // A binding names the fields that pick the system, and nothing else.
    let wrong = s
        .admin(
            M::POST,
            "/v1/connect-sessions",
            Some(json!({"adapter": "netsuite", "platform_key_for": {"client_id": CLIENT_ID}})),
        )
        .await;
    wrong.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");

    // A's own link, bound to A: connects.
    let a = connect_link(
        &s,
        json!({"adapter": "netsuite",
            "platform_key_for": {"account_id": ACCOUNT, "base_url": s.sim.url()}}),
    )
    .await;
    let (status, page) = connect_page_with_platform(&s, &a, None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("is connected"), "{page}");
    assert!(s.sim.token_requests() >= 1);
}

/// A reconnect link keeps, hidden, what the operator set for the old
/// connection (its address, the custom fields it may write), binds the
/// platform key to the old account, and connects again through the page
/// with the customer's credentials only. A preset of a field that picks
/// the system must be in the binding, or the platform key would refuse it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_link_keeps_what_the_operator_set() {
    let s = Setup::start().await;
    s.register_platform(full_role()).await;
    let old = s
        .connect(
            "platform-cert",
            "platform",
            json!({"writable_custom_fields": "custbody_cc"}),
        )
        .await;
    assert_eq!(old.status, StatusCode::CREATED, "{}", old.body);
    let old_id = old.body["connection"]["id"].as_str().unwrap();
    let created = s
        .admin(
            M::POST,
            "/v1/connect-sessions",
            Some(json!({"adapter": "netsuite", "replaces": old_id})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let presets = &created.body["session"]["presets"];
    assert_eq!(
        presets["base_url"],
        json!({"value": s.sim.url(), "visible": false}),
        "{presets}"
    );
    assert_eq!(
        presets["writable_custom_fields"],
        json!({"value": "custbody_cc", "visible": false})
    );
    assert_eq!(
        presets["account_id"],
        json!({"value": ACCOUNT, "visible": true})
    );
    let link = created.body["url"].as_str().unwrap();
    let form = s.http.get(link).send().await.unwrap().text().await.unwrap();
    assert!(!form.contains(&s.sim.url()), "hidden: {form}");
    assert!(!form.contains("custbody_cc"), "hidden: {form}");
    let (status, page) = connect_page_with_platform(&s, link, None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("is connected"), "{page}");

    // With the platform key bound to the account alone, the address
    // cannot be preset: the key would be refused.
    let refused = s
        .admin(
            M::POST,
            "/v1/connect-sessions",
            Some(json!({"adapter": "netsuite",
                "platform_key_for": {"account_id": ACCOUNT},
                "presets": {"base_url": {"value": s.sim.url()}}})),
        )
        .await;
    refused.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_config");
    assert!(
        refused.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("name it in `platform_key_for`"),
        "{}",
        refused.body
    );
}

/// Per-connection field mappings on NetSuite: the account's custom body
/// fields come from its metadata catalog; a mapped field reads and writes
/// under the customer's name with NetSuite's rules (access, type, state
/// locks), a dry run shows the request NetSuite would get, and a field the
/// account drops shows as the connection's issue and fails only where it
/// is mapped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mapped_custom_field_reads_writes_and_keeps_netsuites_rules() {
    let s = Setup::start().await;
    s.register_platform(full_role()).await;
    let connected = s
        .connect(
            "platform-cert",
            "platform",
            json!({"writable_custom_fields": "custbody_cc"}),
        )
        .await;
    let token = token(&connected);
    let mappings = format!(
        "/v1/connections/{}/mappings",
        connected.body["connection"]["id"].as_str().unwrap()
    );
    let meta = s
        .call(&token, M::GET, "/v1/purchase-orders/meta", None)
        .await;
    let field = |name: &str| {
        meta.body["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} in {}", meta.body))
    };
    assert_eq!(field("custom_fields.custbody_cc")["access"], "updatable");
    assert_eq!(
        field("custom_fields.custbody_cc")["description"],
        "Cost Center"
    );
    assert_eq!(
        field("custom_fields.custbody_approver")["access"],
        "read_only"
    );

    // A mapping never makes a read-only field writable.
    let refused = s
        .admin(
            M::PUT,
            &mappings,
            Some(json!({"mappings": [
                {"entity": "purchase-orders", "source": "custom_fields.custbody_approver",
                 "target": "custom.approver", "writable": true},
                {"entity": "purchase-orders", "source": "total",
                 "target": "custom.order_total", "writable": true},
            ]})),
        )
        .await;
    refused.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "mapping_source_read_only");
    let violations = &refused.body["error"]["details"]["violations"];
    assert_eq!(
        violations[0]["path"], "/mappings/0/writable",
        "{violations}"
    );
    assert_eq!(
        violations[1]["path"], "/mappings/1/writable",
        "{violations}"
    );
    let set = s
        .admin(
            M::PUT,
            &mappings,
            Some(json!({"mappings": [
                {"entity": "purchase-orders", "source": "custom_fields.custbody_cc",
                 "target": "custom.cost_center", "writable": true},
                {"entity": "purchase-orders", "source": "total", "target": "custom.order_total"},
            ]})),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    assert_eq!(set.body["issues"], json!([]));

    // Written under its mapped name, sent to NetSuite as custbody_cc.
    let mut order = s.order();
    order["custom"] = json!({"cost_center": "CC-7"});
    let created = s
        .call(&token, M::POST, "/v1/purchase-orders", Some(order))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["custom"]["cost_center"], "CC-7");
    assert_eq!(created.body["custom"]["order_total"], 12.5);
    let id: u64 = created.body["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        s.sim.record("purchaseOrder", id).unwrap()["custbody_cc"],
        "CC-7"
    );
    let path = format!("/v1/purchase-orders/{id}");
    let read = s.call(&token, M::GET, &path, None).await;
    assert_eq!(read.body["custom"]["cost_center"], "CC-7", "{}", read.body);
    let meta = s
        .call(&token, M::GET, "/v1/purchase-orders/meta", None)
        .await;
    let mapped = &meta.body["mapped_fields"];
    assert_eq!(mapped[0]["field"]["name"], "custom.cost_center", "{mapped}");
    assert_eq!(mapped[0]["field"]["access"], "updatable");
    assert_eq!(mapped[0]["source"], "custom_fields.custbody_cc");
    assert_eq!(mapped[1]["field"]["access"], "read_only");

    // The source's rules, at the mapped names.
    let refused = s
        .call(
            &token,
            M::PATCH,
            &path,
            Some(json!({"custom": {"order_total": 1, "colour": "red"}})),
        )
        .await;
    refused.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "unknown_field");
    let errors = &refused.body["error"]["details"]["errors"];
    assert_eq!(errors[0]["path"], "/custom/colour", "{errors}");
    assert_eq!(errors[1]["path"], "/custom/order_total", "{errors}");
    assert_eq!(errors[1]["code"], "field_read_only", "{errors}");
    let refused = s
        .call(
            &token,
            M::PATCH,
            &path,
            Some(json!({"custom": {"cost_center": 5}})),
        )
        .await;
    refused.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_type");
    assert_eq!(
        refused.body["error"]["details"]["errors"][0]["path"],
        "/custom/cost_center"
    );

    // A dry run shows the request NetSuite would get.
    let held = s
        .dry_run(
            &token,
            M::PATCH,
            &path,
            json!({"custom": {"cost_center": "CC-8"}}),
        )
        .await;
    assert_eq!(held["body"]["custbody_cc"], "CC-8", "{held}");
    assert_eq!(
        s.sim.record("purchaseOrder", id).unwrap()["custbody_cc"],
        "CC-7"
    );

    // Fully Billed: the lock holds for the mapped field, before NetSuite.
    s.sim.set_purchase_order_status(id, "G");
    let patches = s.requests("PATCH ");
    let locked = s
        .call(
            &token,
            M::PATCH,
            &path,
            Some(json!({"custom": {"cost_center": "CC-9"}})),
        )
        .await;
    locked.assert_error(StatusCode::CONFLICT, "state_locked");
    assert_eq!(s.requests("PATCH "), patches, "NetSuite saw no PATCH");

    // The account drops the field: once the connection is described again,
    // the mapping is its issue, and only the mapped field fails.
    s.sim.drop_custom_field("custbody_cc");
    let id_path = mappings.trim_end_matches("/mappings");
    let refreshed = s.admin(M::POST, &format!("{id_path}/refresh"), None).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.body);
    let issues = &refreshed.body["mapping_issues"];
    assert_eq!(issues[0]["target"], "custom.cost_center", "{issues}");
    assert_eq!(issues[0]["code"], "mapping_drift");
    assert_eq!(issues.as_array().unwrap().len(), 1, "{issues}");
    let listed = s.admin(M::GET, &mappings, None).await;
    assert_eq!(listed.body["issues"], *issues);
    let read = s.call(&token, M::GET, &path, None).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    assert_eq!(read.body["custom"]["cost_center"], Value::Null);
    assert_eq!(read.body["custom"]["order_total"], 12.5);
    assert_eq!(
        read.body["mapping_errors"][0]["field"],
        "custom.cost_center"
    );
    assert_eq!(read.body["mapping_errors"][0]["code"], "mapping_drift");
    s.sim.set_purchase_order_status(id, "B");
    let drifted = s
        .call(
            &token,
            M::PATCH,
            &path,
            Some(json!({"custom": {"cost_center": "CC-10"}})),
        )
        .await;
    drifted.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "mapping_drift");
}

/// A field the account drops shows as the connection's mapping issue
/// without anyone asking: the host describes mapped connections again
/// every `--describe-every`. Broken once (the periodic task not started),
/// the test failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_mapped_field_shows_as_drift_on_the_hosts_own_schedule() {
    let s = Setup::start_with(&["--describe-every", "1s"]).await;
    s.register_platform(full_role()).await;
    let connected = s.connect("platform-cert", "platform", json!({})).await;
    let id = connected.body["connection"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let set = s
        .admin(
            M::PUT,
            &format!("/v1/connections/{id}/mappings"),
            Some(json!({"mappings": [{"entity": "purchase-orders",
                "source": "custom_fields.custbody_cc", "target": "custom.cost_center"}]})),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    s.sim.drop_custom_field("custbody_cc");
    let issues = eventually(Duration::from_secs(20), "the drift", || async {
        let c = s
            .admin(M::GET, &format!("/v1/connections/{id}"), None)
            .await;
        let issues = c.body["mapping_issues"].clone();
        (issues.as_array().is_some_and(|i| !i.is_empty())).then_some(issues)
    })
    .await;
    assert_eq!(issues[0]["target"], "custom.cost_center", "{issues}");
}
