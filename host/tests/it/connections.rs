//! Connections through the real binary, the example adapter and a real
//! upstream over HTTP: the whole lifecycle, isolation, restarts, bad input.

use std::time::Duration;

use crate::common::*;
use demo_upstream::{DemoUpstream, Options};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn upstream(options: Options) -> DemoUpstream {
    DemoUpstream::start("127.0.0.1:0".parse().unwrap(), options)
        .await
        .unwrap()
}

/// A client of one server, with its admin key.
struct Client<'a> {
    server: &'a Server,
    http: reqwest::Client,
    admin_key: String,
}

impl<'a> Client<'a> {
    fn new(server: &'a Server) -> Self {
        Client {
            server,
            http: crate::common::http(),
            admin_key: server.admin_key(),
        }
    }

    fn admin(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.server.url(path))
            .bearer_auth(&self.admin_key)
    }

    fn data(&self, method: reqwest::Method, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.server.url(path))
            .bearer_auth(token)
    }

    async fn connect(&self, up: &DemoUpstream, api_key: &str, replaces: Option<&str>) -> Reply {
        let body = json!({
            "adapter": "example",
            "config": {"base_url": up.base_url()},
            "credentials": {"api_key": api_key},
            "replaces": replaces,
        });
        send(
            self.admin(reqwest::Method::POST, "/v1/connections")
                .json(&body),
        )
        .await
    }

    async fn status(&self, id: &str) -> Value {
        send(self.admin(reqwest::Method::GET, &format!("/v1/connections/{id}")))
            .await
            .body
    }

    async fn credits(&self) -> Value {
        send(self.admin(reqwest::Method::GET, "/v1/credits"))
            .await
            .body
    }
}

use reqwest::Method as M;

#[tokio::test]
async fn the_whole_lifecycle() {
    let up = upstream(Options::default()).await;
    let server = Server::start_with(ServerOptions {
        adapters: &["example"],
        credits: Some(2),
        ..Default::default()
    });
    let c = Client::new(&server);

    // Connect.
    let created = c.connect(&up, "demo-key", None).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["connection"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let token = created.body["token"].as_str().unwrap().to_string();
    assert_eq!(created.body["connection"]["status"], "active");
    assert_eq!(created.body["connection"]["account"]["id"], "demo-1");
    assert!(
        created.body["connection"]["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("orders:write"))
    );
    assert!(
        created.body["connection"].get("credentials").is_none(),
        "secrets are never shown"
    );
    assert_eq!(
        c.credits().await,
        json!({"total": 2, "used": 1, "available": 1})
    );

    // Read and write.
    let vendors = send(c.data(M::GET, "/v1/vendors?page_size=2", &token)).await;
    assert_eq!(vendors.status, StatusCode::OK, "{}", vendors.body);
    assert_eq!(vendors.body["data"].as_array().unwrap().len(), 2);
    assert_eq!(vendors.body["data"][0]["name"], "Acme Industrial Supply");
    let cursor = vendors.body["next_cursor"].as_str().unwrap();
    let rest = send(c.data(
        M::GET,
        &format!("/v1/vendors?page_size=2&cursor={cursor}"),
        &token,
    ))
    .await;
    assert_eq!(rest.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(rest.body["next_cursor"], Value::Null);

    let order =
        json!({"vendor_id": "1", "memo": "rush", "lines": [{"item_id": "1", "quantity": 100}]});
    let po = send(c.data(M::POST, "/v1/purchase-orders", &token).json(&order)).await;
    assert_eq!(po.status, StatusCode::CREATED, "{}", po.body);
    let po_id = po.body["id"].as_str().unwrap();
    let patched = send(
        c.data(M::PATCH, &format!("/v1/purchase-orders/{po_id}"), &token)
            .json(&json!({"memo": "calm"})),
    )
    .await;
    assert_eq!(patched.body["memo"], "calm", "{}", patched.body);
    let read = send(c.data(M::GET, &format!("/v1/purchase-orders/{po_id}"), &token)).await;
    assert_eq!(read.body["lines"][0]["quantity"], 100);
    assert_eq!(
        c.status(&id).await["stored_records"],
        json!({}),
        "live reads and writes store nothing"
    );
    let run = sync_once(&c.http, &server.base, &token, "purchase-orders").await;
    assert_eq!(
        (run["status"].as_str(), run["added"].as_u64()),
        (Some("succeeded"), Some(1)),
        "{run}"
    );
    assert_eq!(
        c.status(&id).await["stored_records"],
        json!({"purchase-orders": 1}),
        "the stored data is what syncs copied"
    );

    // The system starts rejecting the credentials.
    up.set_api_key("rotated-key");
    let rejected = send(c.data(M::GET, "/v1/vendors", &token)).await;
    rejected.assert_error(
        StatusCode::UNAUTHORIZED,
        "connection_requires_reauthorization",
    );
    let status = c.status(&id).await;
    assert_eq!(status["status"], "requires_reauthorization");
    assert!(
        status["status_reason"]
            .as_str()
            .unwrap()
            .contains("rejected the credentials"),
        "{status}"
    );
    assert_eq!(
        status["last_error"]["code"],
        "connection_requires_reauthorization"
    );
    assert_eq!(
        status["last_error"]["request_id"],
        rejected.request_id.as_str(),
        "the status names the request"
    );
    let logged = server.logs();
    let line = logged
        .lines()
        .find(|l| l.contains(&rejected.request_id))
        .expect("the request is in the logs");
    assert!(
        line.contains(&id) && line.contains("adapter=\"example\""),
        "with its connection and adapter: {line}"
    );
    let again = send(c.data(M::GET, "/v1/vendors", &token)).await;
    again.assert_error(
        StatusCode::UNAUTHORIZED,
        "connection_requires_reauthorization",
    );
    assert_eq!(again.body["error"]["details"]["connection_id"], id.as_str());

    // Reconnect: a new connection and token; the old one is disconnected.
    let wrong = c.connect(&up, "demo-key", Some(&id)).await;
    wrong.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "credentials_rejected");
    let renewed = c.connect(&up, "rotated-key", Some(&id)).await;
    assert_eq!(renewed.status, StatusCode::CREATED, "{}", renewed.body);
    let new_id = renewed.body["connection"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let new_token = renewed.body["token"].as_str().unwrap().to_string();
    assert_ne!(new_id, id);
    assert_ne!(new_token, token);
    assert_eq!(c.status(&id).await["status"], "disconnected");
    send(c.data(M::GET, "/v1/vendors", &token))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "connection_disconnected");
    assert_eq!(
        send(c.data(M::GET, "/v1/vendors", &new_token)).await.status,
        StatusCode::OK
    );
    assert_eq!(
        c.credits().await["used"],
        1,
        "the credit passed to the new connection"
    );

    // Disconnect: the token is dead at once, the credit is back, the data stays.
    let run = sync_once(&c.http, &server.base, &new_token, "vendors").await;
    assert_eq!(run["added"], 3, "{run}");
    let disconnected =
        send(c.admin(M::POST, &format!("/v1/connections/{new_id}/disconnect"))).await;
    assert_eq!(disconnected.body["status"], "disconnected");
    assert!(disconnected.body["disconnected_at"].is_string());
    send(c.data(M::GET, "/v1/vendors", &new_token))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "connection_disconnected");
    assert_eq!(
        c.credits().await,
        json!({"total": 2, "used": 0, "available": 2})
    );
    assert_eq!(
        c.status(&new_id).await["stored_records"]["vendors"],
        3,
        "synced data stays after a disconnect"
    );

    let deleted = send(c.admin(M::DELETE, &format!("/v1/connections/{new_id}/data"))).await;
    assert_eq!(deleted.body["deleted_records"], 3);
    assert_eq!(c.status(&new_id).await["stored_records"], json!({}));
    assert_eq!(
        c.status(&id).await["stored_records"]["purchase-orders"],
        1,
        "only that connection's data went"
    );
}

#[tokio::test]
async fn credits_run_out_and_come_back() {
    let up = upstream(Options::default()).await;
    let server = Server::start_with(ServerOptions {
        adapters: &["example"],
        credits: Some(1),
        ..Default::default()
    });
    let c = Client::new(&server);
    let first = c.connect(&up, "demo-key", None).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let requests = up.requests();
    c.connect(&up, "demo-key", None)
        .await
        .assert_error(StatusCode::PAYMENT_REQUIRED, "no_credits");
    assert_eq!(up.requests(), requests, "no credit, no call to the system");
    let id = first.body["connection"]["id"].as_str().unwrap();
    send(c.admin(M::POST, &format!("/v1/connections/{id}/disconnect"))).await;
    assert_eq!(
        c.connect(&up, "demo-key", None).await.status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn a_token_reaches_only_its_own_connection() {
    let up_a = upstream(Options::default()).await;
    let up_b = upstream(Options::default()).await;
    let server = Server::start(&["example"]);
    let c = Client::new(&server);
    let a = c.connect(&up_a, "demo-key", None).await.body;
    let b = c.connect(&up_b, "demo-key", None).await.body;
    let (token_a, token_b) = (a["token"].as_str().unwrap(), b["token"].as_str().unwrap());

    let created = send(
        c.data(M::POST, "/v1/vendors", token_a)
            .json(&json!({"name": "Only in A"})),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let vendor = created.body["id"].as_str().unwrap();

    let listed_b = send(c.data(M::GET, "/v1/vendors", token_b)).await;
    assert!(
        listed_b.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["name"] != "Only in A")
    );
    send(c.data(M::GET, &format!("/v1/vendors/{vendor}"), token_b))
        .await
        .assert_error(StatusCode::NOT_FOUND, "record_not_found");
    let patched = send(
        c.data(M::PATCH, &format!("/v1/vendors/{vendor}"), token_b)
            .json(&json!({"name": "Hijacked"})),
    )
    .await;
    patched.assert_error(StatusCode::NOT_FOUND, "record_not_found");
    let read_a = send(c.data(M::GET, &format!("/v1/vendors/{vendor}"), token_a)).await;
    assert_eq!(read_a.body["name"], "Only in A");

    sync_once(&c.http, &server.base, token_a, "vendors").await;
    sync_once(&c.http, &server.base, token_b, "vendors").await;
    let names = synced_names(&c, token_b).await;
    assert_eq!(
        names.len(),
        3,
        "B stores only what it synced from B: {names:?}"
    );
    assert!(!names.contains(&"Only in A".to_string()));
    let status_a = c.status(a["connection"]["id"].as_str().unwrap()).await;
    assert_eq!(status_a["stored_records"]["vendors"], 4);
}

/// Syncs and webhooks stay with their connection: B sees none of A's
/// subscriptions, deliveries, runs or stored records (a synced record read
/// by B's token is B's own even where the ids collide), and A's event goes
/// only to A's receiver. Catches a webhook list, delete or deliveries route
/// not scoped to the token's connection, an event queued for every
/// subscriber, and synced pages or sync status read without the connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syncs_and_webhooks_stay_with_their_connection() {
    let up_a = upstream(Options::default()).await;
    let up_b = upstream(Options::default()).await;
    up_a.insert("suppliers", json!({"displayName": "Only in A"}));
    let server = Server::start(&["example"]);
    let c = Client::new(&server);
    let a = c.connect(&up_a, "demo-key", None).await.body;
    let b = c.connect(&up_b, "demo-key", None).await.body;
    let (token_a, token_b) = (a["token"].as_str().unwrap(), b["token"].as_str().unwrap());
    let (hook_a, hook_b) = (receiver(0).await, receiver(0).await);
    let sub_a = subscribe(
        &c.http,
        &server.base,
        token_a,
        &hook_a.url,
        &["records.changed"],
    )
    .await;
    subscribe(
        &c.http,
        &server.base,
        token_b,
        &hook_b.url,
        &["records.changed"],
    )
    .await;

    let listed = send(c.data(M::GET, "/v1/webhooks", token_b)).await;
    let ids: Vec<&Value> = listed.body["subscriptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["id"])
        .collect();
    assert!(!ids.contains(&&json!(sub_a)), "{}", listed.body);
    assert_eq!(ids.len(), 1);
    send(c.data(M::GET, &format!("/v1/webhooks/{sub_a}/deliveries"), token_b))
        .await
        .assert_error(StatusCode::NOT_FOUND, "subscription_not_found");
    send(c.data(M::DELETE, &format!("/v1/webhooks/{sub_a}"), token_b))
        .await
        .assert_error(StatusCode::NOT_FOUND, "subscription_not_found");

    sync_once(&c.http, &server.base, token_a, "vendors").await;
    let event_a = first_event(&hook_a).await;
    assert_eq!(event_a["connection_id"], a["connection"]["id"]);
    assert_eq!(event_a["added"].as_array().unwrap().len(), 4);

    let status_b = send(c.data(M::GET, "/v1/sync-status", token_b)).await;
    assert_eq!(status_b.body["runs"], json!([]), "{}", status_b.body);
    let synced_b = send(c.data(M::GET, "/v1/synced/vendors", token_b)).await;
    assert_eq!(synced_b.body["data"], json!([]), "{}", synced_b.body);

    sync_once(&c.http, &server.base, token_b, "vendors").await;
    let event_b = first_event(&hook_b).await;
    assert_eq!(event_b["connection_id"], b["connection"]["id"]);
    assert_eq!(event_b["added"].as_array().unwrap().len(), 3);
    let names = synced_names(&c, token_b).await;
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(!names.contains(&"Only in A".to_string()));
    assert_eq!(
        hook_a.received.lock().unwrap().len(),
        1,
        "B's event is not A's"
    );
    assert_eq!(hook_b.received.lock().unwrap().len(), 1);
}

/// The names of the vendors `token`'s connection has stored.
async fn synced_names(c: &Client<'_>, token: &str) -> Vec<String> {
    let synced = send(c.data(M::GET, "/v1/synced/vendors", token)).await;
    synced.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["record"]["name"].as_str().unwrap().to_string())
        .collect()
}

/// The first event `hook` received.
async fn first_event(hook: &Receiver) -> Value {
    let body = eventually(Duration::from_secs(30), "an event", || async {
        let received = hook.received.lock().unwrap();
        received.first().map(|(_, body)| body.clone())
    })
    .await;
    serde_json::from_str(&body).unwrap()
}

#[tokio::test]
async fn connections_tokens_and_statuses_survive_a_restart_and_no_secret_is_stored_in_clear() {
    let up = upstream(Options {
        api_key: "sk-live-8f3b2c91d4e7".into(),
        ..Options::default()
    })
    .await;
    let server = Server::start(&["example"]);
    let c = Client::new(&server);
    let kept = c.connect(&up, "sk-live-8f3b2c91d4e7", None).await.body;
    let failed = c.connect(&up, "sk-live-8f3b2c91d4e7", None).await.body;
    let kept_token = kept["token"].as_str().unwrap().to_string();
    let failed_token = failed["token"].as_str().unwrap().to_string();
    send(c.data(M::GET, "/v1/items", &kept_token)).await;
    up.set_api_key("sk-live-rotated");
    send(c.data(M::GET, "/v1/items", &failed_token)).await;
    up.set_api_key("sk-live-8f3b2c91d4e7");
    let admin_key = c.admin_key.clone();
    let (data_dir, adapters_dir, dirs) = server.stop();

    let database = std::fs::read(data_dir.join("interlink.db")).unwrap();
    let wal = std::fs::read(data_dir.join("interlink.db-wal")).unwrap_or_default();
    for file in [&database, &wal] {
        for secret in [
            "sk-live-8f3b2c91d4e7",
            kept_token.as_str(),
            failed_token.as_str(),
        ] {
            assert!(
                !file.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "`{secret}` is stored in clear"
            );
        }
    }

    let server = Server::start_with(ServerOptions {
        data_dir: Some(data_dir),
        adapters_dir: Some(adapters_dir),
        ..Default::default()
    });
    let c = Client::new(&server);
    assert_eq!(c.admin_key, admin_key);
    let items = send(c.data(M::GET, "/v1/items", &kept_token)).await;
    assert_eq!(
        items.status,
        StatusCode::OK,
        "the token still works: {}",
        items.body
    );
    assert_eq!(
        items.body["data"][0]["code"], "BLT-M8",
        "and its credentials still decrypt"
    );
    send(c.data(M::GET, "/v1/items", &failed_token))
        .await
        .assert_error(
            StatusCode::UNAUTHORIZED,
            "connection_requires_reauthorization",
        );
    let listed = send(c.admin(M::GET, "/v1/connections")).await.body;
    assert_eq!(listed["connections"].as_array().unwrap().len(), 2);
    drop(dirs);
}

#[tokio::test]
async fn bad_input_gets_a_json_error_with_a_code_never_a_500() {
    let up = upstream(Options::default()).await;
    let server = Server::start(&["example"]);
    let c = Client::new(&server);
    let token = c.connect(&up, "demo-key", None).await.body["token"]
        .as_str()
        .unwrap()
        .to_string();

    send(c.http.get(server.url("/v1/vendors")))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "token_missing");
    send(c.data(M::GET, "/v1/vendors", "ilk_conn_nope"))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "token_invalid");

    let malformed = c
        .data(M::POST, "/v1/vendors", &token)
        .header("content-type", "application/json")
        .body("{\"name\": ");
    send(malformed)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_json");
    let wrong_type = c
        .data(M::POST, "/v1/vendors", &token)
        .header("content-type", "text/plain")
        .body("{}");
    send(wrong_type)
        .await
        .assert_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    let not_object = c.data(M::POST, "/v1/vendors", &token).json(&json!([1, 2]));
    send(not_object)
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
    // An oversized body is refused on its Content-Length, before it is sent.
    let head = format!(
        "POST /v1/vendors HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n",
        3 << 20
    );
    raw_request(&server.base, &head)
        .assert_error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");

    let unknown = send(c.data(M::GET, "/v1/invoices", &token)).await;
    unknown.assert_error(StatusCode::NOT_FOUND, "unknown_entity");
    assert_eq!(
        unknown.body["error"]["details"]["entities"],
        json!(["vendors", "items", "purchase-orders"])
    );
    send(c.data(M::DELETE, "/v1/items/1", &token))
        .await
        .assert_error(StatusCode::METHOD_NOT_ALLOWED, "operation_not_supported");
    send(c.data(M::GET, "/v1/vendors?page_size=0", &token))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_query");
    send(c.data(M::GET, "/v1/vendors?modified_after=yesterday", &token))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_query");

    let unknown_adapter = json!({"adapter": "sap", "config": {}, "credentials": {}});
    send(c.admin(M::POST, "/v1/connections").json(&unknown_adapter))
        .await
        .assert_error(StatusCode::NOT_FOUND, "adapter_not_found");
    let bad_config = json!({"adapter": "example", "config": {"base_url": "not a url", "colour": "red"}, "credentials": {}});
    let refused = send(c.admin(M::POST, "/v1/connections").json(&bad_config)).await;
    refused.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_config");
    let paths: Vec<&str> = refused.body["error"]["details"]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        ["/config/base_url", "/credentials/api_key", "/config/colour"]
    );
    let extra = json!({"adapter": "example", "surprise": true});
    send(c.admin(M::POST, "/v1/connections").json(&extra))
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
    send(c.admin(M::GET, "/v1/connections/conn_nope"))
        .await
        .assert_error(StatusCode::NOT_FOUND, "connection_not_found");
}

#[tokio::test]
async fn missing_permissions_are_refused_before_the_system_is_called() {
    let read_only = Options {
        permissions: vec!["suppliers:read".into(), "orders:read".into()],
        ..Options::default()
    };
    let up = upstream(read_only).await;
    let server = Server::start(&["example"]);
    let c = Client::new(&server);
    let token = c.connect(&up, "demo-key", None).await.body["token"]
        .as_str()
        .unwrap()
        .to_string();
    let before = up.requests();
    let order = json!({"vendor_id": "1", "lines": [{"quantity": 1}]});
    let refused = send(c.data(M::POST, "/v1/purchase-orders", &token).json(&order)).await;
    refused.assert_error(StatusCode::FORBIDDEN, "insufficient_permissions");
    assert_eq!(
        refused.body["error"]["details"]["missing_permissions"],
        json!(["orders:write"])
    );
    assert_eq!(up.requests(), before, "nothing reached the system");
}

/// Every route the API router serves, read from its source
/// (`host/src/api/mod.rs`), is in the OpenAPI document with each of its
/// methods. Catches a route added without its `#[utoipa::path]`, or left out
/// of `ApiDoc` (shown once by leaving out `syncs::run`), which a fixed list
/// of paths would not notice. An `any(..)` route needs all five methods:
/// catches passthrough documented for GET and POST only (shown once by
/// removing `put` from its `#[utoipa::path]`).
#[tokio::test]
async fn the_openapi_document_covers_every_route_and_the_error_schema() {
    let server = Server::start(&[]);
    let doc = send(crate::common::http().get(server.url("/openapi.json")))
        .await
        .body;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let routes = routes(include_str!("../../src/api/mod.rs"));
    assert!(routes.len() >= 25, "the router's routes: {routes:?}");
    for (path, methods) in routes {
        if path == "/openapi.json" {
            continue; // the document itself
        }
        for method in methods {
            assert!(
                doc["paths"][&path][method].is_object(),
                "{} {path} is documented",
                method.to_uppercase()
            );
        }
    }
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
}

/// Catches: a client-visible error code missing from what clients read:
/// the OpenAPI document's enum of `error.code` (made from `Code::ALL`) and
/// the README's table of errors (shown once by deleting a row of it).
#[tokio::test]
async fn every_error_code_is_in_the_openapi_document_and_the_readme() {
    let server = Server::start(&[]);
    let doc = send(crate::common::http().get(server.url("/openapi.json")))
        .await
        .body;
    let code = &doc["components"]["schemas"]["ErrorDetail"]["properties"]["code"];
    let schema = match code["$ref"].as_str() {
        Some(reference) => {
            let name = reference.trim_start_matches("#/components/schemas/");
            &doc["components"]["schemas"][name]
        }
        None => code,
    };
    let listed: Vec<&str> = schema["enum"]
        .as_array()
        .unwrap_or_else(|| panic!("error.code is an enum: {code}"))
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let readme = include_str!("../../../README.md");
    for code in interlink::code::Code::ALL {
        assert!(
            listed.contains(&code.as_str()),
            "{code} in the OpenAPI document"
        );
        assert!(
            readme.contains(&format!("`{code}`")),
            "{code} in the README's table of errors"
        );
    }
    assert_eq!(listed.len(), interlink::code::Code::ALL.len());
}

/// The path and methods of each `.route("/path", get(..).post(..))` in
/// `source`.
fn routes(source: &str) -> Vec<(String, Vec<&'static str>)> {
    source
        .split(".route(")
        .skip(1)
        .map(|rest| {
            let mut depth = 1;
            let end = rest
                .char_indices()
                .find(|&(_, c)| {
                    depth += match c {
                        '(' => 1,
                        ')' => -1,
                        _ => 0,
                    };
                    depth == 0
                })
                .map(|(i, _)| i)
                .expect("a closed .route(...) call");
            let call = &rest[..end];
            // `{*rest}` in axum is `{rest}` in OpenAPI.
            let path = call.split('"').nth(1).expect("a path literal");
            let path = path.replace("{*", "{");
            let called = |name: &str| {
                call.match_indices(&format!("{name}("))
                    .any(|(at, _)| !call[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_'))
            };
            // `any(..)` serves every method: each must be documented.
            let methods = ["get", "post", "put", "patch", "delete"]
                .into_iter()
                .filter(|m| called("any") || called(m))
                .collect();
            (path, methods)
        })
        .collect()
}
