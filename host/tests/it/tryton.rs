//! The Tryton adapter against a real Tryton 8.2 server (started by
//! `tests/tryton/harness.py`), through the real binary.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use crate::common::*;
use base64::Engine;
use reqwest::{Method as M, StatusCode};
use serde_json::{Value, json};

/// A Tryton server from the harness; stopped when dropped.
struct Tryton {
    child: Child,
    info: Value,
    http: reqwest::Client,
}

impl Tryton {
    fn start() -> Tryton {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut child = Command::new("python3")
            .arg(root.join("tests/tryton/harness.py"))
            .arg("serve")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let info = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("the harness did not start Tryton ({e}): {line}"));
        Tryton {
            child,
            info,
            http: crate::common::http(),
        }
    }

    fn base_url(&self) -> &str {
        self.info["base_url"].as_str().unwrap()
    }

    fn key(&self, user: &str) -> String {
        self.info[format!("{user}_key")]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// The requests Tryton served so far, one line each, as it logged
    /// them: `<JSONRequest buyer@127.0.0.1 'http://.../model/party.party' [GET]> in 3 ms`.
    fn served(&self) -> Vec<String> {
        let log = std::fs::read_to_string(self.info["log"].as_str().unwrap()).unwrap();
        log.lines()
            .filter(|l| l.contains(" trytond.wsgi "))
            .map(str::to_string)
            .collect()
    }

    /// Tryton's REST API directly, as the buyer.
    async fn rest(&self, method: M, path: &str, body: Option<Value>) -> Value {
        let context = base64::engine::general_purpose::STANDARD
            .encode(json!({"company": self.info["company"]}).to_string());
        let mut request = self
            .http
            .request(method, format!("{}/erp/rest/{path}", self.base_url()))
            .bearer_auth(self.key("buyer"))
            .header("X-Tryton-Context", context);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        response.json().await.unwrap()
    }

    /// A JSON-RPC call as the admin.
    async fn admin(&self, method: &str, params: Value) -> Value {
        let body = json!({"id": 1, "method": method, "params": params});
        let url = format!("{}/erp/rpc/", self.base_url());
        let password = self.info["admin_password"].as_str().unwrap();
        let reply: Value = self
            .http
            .post(url)
            .basic_auth("admin", Some(password))
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(reply.get("error").is_none(), "{reply}");
        reply
    }
}

impl Drop for Tryton {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

struct Setup {
    tryton: Tryton,
    server: Server,
    http: reqwest::Client,
}

impl Setup {
    fn start() -> Setup {
        Setup {
            tryton: Tryton::start(),
            server: Server::start(&["tryton"]),
            http: crate::common::http(),
        }
    }

    async fn connect(&self, user: &str) -> Reply {
        let body = json!({
            "adapter": "tryton",
            "config": {"base_url": self.tryton.base_url(), "database": "erp", "invoice_method": "manual"},
            "credentials": {"api_key": self.tryton.key(user)},
        });
        send(
            self.http
                .post(self.server.url("/v1/connections"))
                .bearer_auth(self.server.admin_key())
                .json(&body),
        )
        .await
    }

    async fn call(&self, token: &str, method: M, path: &str, body: Option<Value>) -> Reply {
        call(&self.http, method, self.server.url(path), token, body).await
    }
}

fn token(reply: &Reply) -> String {
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["token"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purchase_order_goes_through_its_workflow_in_tryton() {
    let s = Setup::start();
    let connected = s.connect("buyer").await;
    let token = token(&connected);
    assert!(
        connected.body["connection"]["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("Purchase"))
    );

    let order = json!({
        "vendor_id": s.tryton.info["supplier"].to_string(),
        "memo": "first", "reference": "R-1",
        "lines": [
            {"description": "hex bolts", "quantity": 5, "unit_price": "7.50"},
            {"description": "hex nuts", "quantity": 10, "unit_price": "0.20"},
        ],
    });
    let created = s
        .call(&token, M::POST, "/v1/purchase-orders", Some(order))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["status"], "draft");
    assert_eq!(created.body["total"], "39.50");
    let id = created.body["id"].as_str().unwrap().to_string();

    let path = format!(
        "model/purchase.purchase/{id}?f=description&f=reference&f=state&f=write_date&f=lines.description"
    );
    let in_tryton = s.tryton.rest(M::GET, &path, None).await;
    assert_eq!(in_tryton["description"], "first");
    assert_eq!(
        in_tryton["lines"].as_array().unwrap().len(),
        2,
        "the lines were created with the purchase"
    );

    let updated = s
        .call(
            &token,
            M::PATCH,
            &format!("/v1/purchase-orders/{id}"),
            Some(json!({"memo": "second"})),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    assert_eq!(
        s.tryton.rest(M::GET, &path, None).await["description"],
        "second"
    );
    // `null` clears a field (the typed handler gets it in `Patch::cleared`).
    let cleared = s
        .call(
            &token,
            M::PATCH,
            &format!("/v1/purchase-orders/{id}"),
            Some(json!({"memo": null})),
        )
        .await;
    assert_eq!(cleared.status, StatusCode::OK, "{}", cleared.body);
    assert_eq!(cleared.body["memo"], Value::Null);
    assert_eq!(
        s.tryton.rest(M::GET, &path, None).await["description"],
        Value::Null
    );

    // Confirmed in Tryton itself.
    for action in ["quote", "confirm"] {
        s.tryton
            .rest(
                M::POST,
                &format!("model/purchase.purchase/{id}/{action}"),
                Some(json!({})),
            )
            .await;
    }
    let confirmed = s.tryton.rest(M::GET, &path, None).await;
    let state = confirmed["state"].as_str().unwrap().to_string();
    assert!(
        ["confirmed", "processing"].contains(&state.as_str()),
        "{state}"
    );

    let locked = s
        .call(
            &token,
            M::PATCH,
            &format!("/v1/purchase-orders/{id}"),
            Some(json!({"memo": "third"})),
        )
        .await;
    locked.assert_error(StatusCode::CONFLICT, "state_locked");
    assert_eq!(locked.body["error"]["details"]["state"], "open");
    assert_eq!(
        locked.body["error"]["details"]["locked_fields"],
        json!(["memo"])
    );
    let untouched = s.tryton.rest(M::GET, &path, None).await;
    assert_eq!(untouched["description"], Value::Null, "still cleared");
    assert_eq!(
        untouched["write_date"], confirmed["write_date"],
        "no write reached Tryton"
    );

    let reference = s
        .call(
            &token,
            M::PATCH,
            &format!("/v1/purchase-orders/{id}"),
            Some(json!({"reference": "R-2"})),
        )
        .await;
    assert_eq!(reference.status, StatusCode::OK, "{}", reference.body);
    assert_eq!(
        s.tryton.rest(M::GET, &path, None).await["reference"],
        "R-2",
        "the reference stays writable"
    );

    s.call(
        &token,
        M::DELETE,
        &format!("/v1/purchase-orders/{id}"),
        None,
    )
    .await
    .assert_error(StatusCode::CONFLICT, "state_locked");

    let listed = s.call(&token, M::GET, "/v1/purchase-orders", None).await;
    let listed = listed.body["data"].as_array().unwrap().clone();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (
            listed[0]["status"].clone(),
            listed[0]["remote_status"].clone()
        ),
        (json!("open"), json!(state))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_outside_the_purchase_group_is_refused_before_tryton_is_called() {
    let s = Setup::start();
    let token = token(&s.connect("viewer").await);
    // Tryton logs a request before it answers it, so every request of the
    // connect is in its log now, and any the create made would be when the
    // refusal comes back.
    let before = s.tryton.served();
    let order = json!({"vendor_id": "2", "lines": [{"description": "x", "quantity": 1}]});
    let refused = s
        .call(&token, M::POST, "/v1/purchase-orders", Some(order))
        .await;
    refused.assert_error(StatusCode::FORBIDDEN, "insufficient_permissions");
    assert_eq!(
        refused.body["error"]["details"]["missing_permissions"],
        json!(["Purchase"])
    );
    // Not one request between the connect and the refusal. Catches a host
    // that lets the adapter start the create (which first reads units and
    // addresses from Tryton) and leaves the refusal to Tryton or to the
    // adapter's own check.
    let after = s.tryton.served();
    assert_eq!(
        after[before.len()..],
        [] as [String; 0],
        "Tryton was called between the connect and the refusal"
    );
    // The token itself works: the same user reads vendors, and Tryton
    // logs that read.
    let vendors = s.call(&token, M::GET, "/v1/vendors", None).await;
    assert_eq!(vendors.status, StatusCode::OK, "{}", vendors.body);
    assert!(
        vendors.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["name"] == "Acme Supplies")
    );
    let read = s.tryton.served();
    assert!(
        read[after.len()..]
            .iter()
            .any(|l| l.contains("party.party") && l.contains("[GET]")),
        "Tryton logged the vendors read: {read:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revoked_in_tryton_requires_reauthorization() {
    let s = Setup::start();
    let connected = s.connect("buyer").await;
    let token = token(&connected);
    assert_eq!(
        s.call(&token, M::GET, "/v1/purchase-orders", None)
            .await
            .status,
        StatusCode::OK
    );

    s.tryton
        .admin(
            "model.res.user.application.delete",
            json!([[s.tryton.info["buyer_application"]], {}]),
        )
        .await;
    let rejected = s.call(&token, M::GET, "/v1/purchase-orders", None).await;
    rejected.assert_error(
        StatusCode::UNAUTHORIZED,
        "connection_requires_reauthorization",
    );
    let id = connected.body["connection"]["id"].as_str().unwrap();
    let status = send(
        s.http
            .get(s.server.url(&format!("/v1/connections/{id}")))
            .bearer_auth(s.server.admin_key()),
    )
    .await;
    assert_eq!(status.body["status"], "requires_reauthorization");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tryton_errors_come_back_unified_with_trytons_message() {
    let s = Setup::start();
    let token = token(&s.connect("buyer").await);
    // Only Tryton knows that its unit "u" takes whole quantities.
    let order = json!({"vendor_id": s.tryton.info["supplier"].to_string(), "lines": [{"description": "x", "quantity": 1.5}]});
    let refused = s
        .call(&token, M::POST, "/v1/purchase-orders", Some(order))
        .await;
    refused.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let error = &refused.body["error"]["details"]["errors"][0];
    assert_eq!(error["code"], "tryton_user_error");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("exceeds the limit"),
        "Tryton's message is kept: {error}"
    );
}

/// The adapter against its recorded session, with no Tryton server: the
/// requests it sends and what it answers (two vendors, and an order with two
/// description lines whose memo a PATCH cleared, as Tryton 8.2 answered
/// them) must stay as recorded, and
/// its answers are records of the unified model. It runs in a fraction of a
/// second; the live tests above keep checking against a real server.
///
/// To record again after a deliberate change to the adapter's requests:
/// start `tests/tryton/harness.py serve`, create such an order through
/// Interlink, then run `interlink adapter test target/adapters/tryton.wasm
/// --record --cassette adapters/tryton/tests/session.cassette.json --config
/// base_url=<its URL> --config database=erp --secret api_key=<buyer key>
/// --outbound-allow-network 127.0.0.0/8` (the tool runs one adapter: the
/// flag allows the network to it).
#[test]
fn the_recorded_session_replays_without_a_server() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let cassette = root.join("adapters/tryton/tests/session.cassette.json");
    let replay = Command::new(env!("CARGO_BIN_EXE_interlink"))
        .args(["adapter", "test"])
        .arg(adapter_path("tryton"))
        .arg("--cassette")
        .arg(&cassette)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&replay.stdout);
    assert!(
        replay.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&replay.stderr)
    );
    assert!(said.contains("the answers match"), "{said}");

    let recorded: Value = serde_json::from_slice(&std::fs::read(&cassette).unwrap()).unwrap();
    let entities = &recorded["results"]["entities"];
    let order: interlink_model::PurchaseOrder =
        serde_json::from_value(entities["purchase-orders"]["get"].clone()).unwrap();
    let lines = order.lines.unwrap();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        order.total,
        Some(interlink_model::Decimal::Text("39.50".into()))
    );
    let vendors: Vec<interlink_model::Vendor> =
        serde_json::from_value(entities["vendors"]["list"]["records"].clone()).unwrap();
    assert_eq!(vendors[0].name.as_deref(), Some("Acme Supplies"));
}

/// The conformance suite (`interlink adapter conform`) against the real
/// server, as the buyer: reads, cursors, filters, typed errors, writes as
/// dry runs (Tryton changes nothing), and a wrong key as `unauthorized`.
/// (The buyer may not create parties: the purchases are what pages.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tryton_conforms_against_a_real_server() {
    let s = Setup::start();
    // Enough purchases for several pages, created through Interlink.
    // Tryton's times reach the adapter to the second: the clock moves on
    // to the next second before the last two, which makes at least two
    // distinct update times, so that `modified-after` has a time to filter
    // on however fast the first go.
    let token = token(&s.connect("buyer").await);
    let second = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    };
    let mut third_at = 0;
    for i in 0..5 {
        if i == 3 {
            // Until the clock Tryton stamps with has moved to the next second.
            while second() <= third_at {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
        // Parties and products too, at the same two seconds, so that every
        // rule has records to check: the run allows no skip.
        s.tryton
            .admin(
                "model.party.party.create",
                json!([[{"name": format!("Conformance Supplier {i}")}], {}]),
            )
            .await;
        s.tryton
            .admin(
                "model.product.template.create",
                json!([[{
                    "name": format!("Conformance Bolt {i}"),
                    "default_uom": s.tryton.info["unit"],
                    "products": [["create", [{}]]],
                }], {}]),
            )
            .await;
        let order = json!({
            "vendor_id": s.tryton.info["supplier"].to_string(),
            "reference": format!("CONF-{i}"),
            "lines": [{"description": "bolts", "quantity": 1, "unit_price": "1.00"}],
        });
        let created = s
            .call(&token, M::POST, "/v1/purchase-orders", Some(order))
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        third_at = second();
    }
    let base = format!("base_url={}", s.tryton.base_url());
    let key = format!("api_key={}", s.tryton.key("buyer"));
    let output = tokio::task::spawn_blocking(move || {
        conform(
            "tryton",
            &[
                "--config",
                &base,
                "--config",
                "database=erp",
                "--secret",
                &key,
            ],
        )
    })
    .await
    .unwrap();
    let report = output_text(&output);
    println!("{report}");
    assert!(output.status.success(), "{report}");
    for line in [
        "pass  vendors: list",
        "pass  vendors: get",
        "pass  purchase-orders: pagination",
        "pass  purchase-orders: modified-after",
        "pass  purchase-orders: get",
        "pass  purchase-orders: writes",
        "pass  purchase-orders: read-only-fields",
        "pass  unauthorized",
    ] {
        assert!(report.contains(line), "`{line}` in\n{report}");
    }
    assert!(report.contains(" 0 failed, 0 skipped"), "{report}");
}

/// Per-connection field mappings on a real Tryton: Tryton's comment and
/// description under the customer's names, written through to Tryton; a
/// dry run shows the mapped request; once the purchase leaves draft, the
/// mapped description is locked like the description itself (before Tryton
/// is called) while the mapped comment stays writable, as Tryton's is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mapped_fields_keep_trytons_rules_and_reach_tryton() {
    let s = Setup::start();
    let connected = s.connect("buyer").await;
    let token = token(&connected);
    let mappings = s.server.url(&format!(
        "/v1/connections/{}/mappings",
        connected.body["connection"]["id"].as_str().unwrap()
    ));
    let key = s.server.admin_key();
    let put = |body: Value| call(&s.http, M::PUT, mappings.clone(), &key, Some(body));
    let refused = put(json!({"mappings": [
        {"entity": "purchase-orders", "source": "total", "target": "custom.grand_total",
         "writable": true},
    ]}))
    .await;
    refused.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "mapping_source_read_only");
    let set = put(json!({"mappings": [
        {"entity": "purchase-orders", "source": "custom_fields.comment", "target": "custom.note",
         "writable": true},
        {"entity": "purchase-orders", "source": "memo", "target": "custom.description",
         "writable": true},
        {"entity": "purchase-orders", "source": "total", "target": "custom.grand_total"},
    ]}))
    .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);

    let order = json!({
        "vendor_id": s.tryton.info["supplier"].to_string(),
        "custom": {"note": "deliver to dock 4", "description": "bolts"},
        "lines": [{"description": "hex bolts", "quantity": 5, "unit_price": "7.50"}],
    });
    let created = s
        .call(&token, M::POST, "/v1/purchase-orders", Some(order))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["custom"]["note"], "deliver to dock 4");
    assert_eq!(created.body["custom"]["grand_total"], "37.50");
    let id = created.body["id"].as_str().unwrap().to_string();
    let in_tryton = format!("model/purchase.purchase/{id}?f=comment&f=description&f=write_date");
    let stored = s.tryton.rest(M::GET, &in_tryton, None).await;
    assert_eq!(stored["comment"], "deliver to dock 4");
    assert_eq!(stored["description"], "bolts");

    let path = format!("/v1/purchase-orders/{id}");
    let held = call_with(
        &s.http,
        M::PATCH,
        s.server.url(&path),
        &token,
        Some(json!({"custom": {"note": "dock 5"}})),
        &[("prefer", "dry-run")],
    )
    .await;
    assert_eq!(held.status, StatusCode::OK, "{}", held.body);
    let requests = held.body["requests"].to_string();
    assert!(
        requests.contains("dock 5") && requests.contains("comment"),
        "{requests}"
    );
    assert_eq!(
        s.tryton.rest(M::GET, &in_tryton, None).await["comment"],
        "deliver to dock 4"
    );

    for action in ["quote", "confirm"] {
        s.tryton
            .rest(
                M::POST,
                &format!("model/purchase.purchase/{id}/{action}"),
                Some(json!({})),
            )
            .await;
    }
    let confirmed = s.tryton.rest(M::GET, &in_tryton, None).await;
    let locked = s
        .call(
            &token,
            M::PATCH,
            &path,
            Some(json!({"custom": {"description": "nuts"}})),
        )
        .await;
    locked.assert_error(StatusCode::CONFLICT, "state_locked");
    assert_eq!(
        locked.body["error"]["details"]["locked_fields"],
        json!(["custom.description"])
    );
    assert_eq!(
        s.tryton.rest(M::GET, &in_tryton, None).await["write_date"],
        confirmed["write_date"],
        "no write reached Tryton"
    );
    let noted = s
        .call(
            &token,
            M::PATCH,
            &path,
            Some(json!({"custom": {"note": "dock 6"}})),
        )
        .await;
    assert_eq!(noted.status, StatusCode::OK, "{}", noted.body);
    assert_eq!(noted.body["custom"]["note"], "dock 6");
    assert_eq!(
        s.tryton.rest(M::GET, &in_tryton, None).await["comment"],
        "dock 6"
    );
}
