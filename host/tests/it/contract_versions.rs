//! Every contract version through the real binary. The bundled adapters
//! implement 0.4.0. Builds of the example adapter made by the SDK before
//! 0.4.0 and 0.3.0 (kept in `tests/fixtures` as operators have such builds
//! deployed) are still served: 0.3.0 with passthrough, its config fields
//! labelled from their names; 0.2.0 without passthrough. A 0.1.0 build (the SDK's
//! `contract-0-1-0` feature) is too, and since a 0.1.0 request cannot be
//! marked read-only, a dry run holds each of its requests that is not a
//! `GET`.

use crate::common::*;
use demo_upstream::Options;
use reqwest::{Method as M, StatusCode};
use serde_json::{Value, json};

/// The example adapter built as `adapter_file`, against the demo upstream.
async fn start(adapter_file: &str) -> Demo {
    let server = ServerOptions {
        adapters: &[adapter_file],
        ..Default::default()
    };
    Demo::start(Options::default(), server).await
}

/// `method path` with `Prefer: dry-run`; answers the one request held.
async fn dry_run(f: &Demo, method: M, path: &str, body: Option<Value>) -> Value {
    let url = f.server.url(path);
    let prefer = [("prefer", "dry-run")];
    let reply = call_with(&f.http, method, url, &f.token, body, &prefer).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.headers["preference-applied"], "dry-run");
    let [held] = reply.body["requests"].as_array().unwrap().as_slice() else {
        panic!("one request is held: {}", reply.body);
    };
    held.clone()
}

async fn contract_version(f: &Demo) -> Value {
    let url = f.server.url("/v1/adapters/example");
    let adapter = call(&f.http, M::GET, url, &f.server.admin_key(), None).await;
    adapter.body["contract_version"].clone()
}

/// Asserts that `held` is the request the upstream received last.
fn assert_sent_as_held(f: &Demo, held: &Value) {
    let received = f.up.received_writes();
    let sent = received.last().expect("the upstream received a write");
    assert_eq!(held["method"], sent.method);
    assert_eq!(held["url"], format!("{}{}", f.up.base_url(), sent.path));
    assert_eq!(held["body"], sent.body);
}

#[tokio::test]
async fn a_0_1_0_adapter_is_served_and_a_dry_run_holds_each_of_its_writes() {
    let f = start("example-v0_1_0").await;
    assert_eq!(contract_version(&f).await, "0.1.0");
    let page = f.call(M::GET, "/v1/vendors?page_size=2", None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);

    // A create: held, redacted, and exactly what the real create sends.
    let vendor = json!({"name": "Versioned Supplies", "email": "orders@versioned.example"});
    let held = dry_run(&f, M::POST, "/v1/vendors", Some(vendor.clone())).await;
    assert_eq!(f.up.writes(), 0, "nothing reached the upstream");
    assert_eq!(held["method"], "POST");
    assert!(
        held["headers"]
            .as_array()
            .unwrap()
            .contains(&json!({"name": "Authorization", "value": "[redacted]"})),
        "{held}"
    );
    assert!(!held.to_string().contains("demo-key"), "{held}");
    let created = f.call(M::POST, "/v1/vendors", Some(vendor)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_sent_as_held(&f, &held);

    // An update and a delete, likewise.
    let path = format!("/v1/vendors/{}", created.body["id"].as_str().unwrap());
    let patch = json!({"name": "Versioned Supplies Ltd"});
    let held = dry_run(&f, M::PATCH, &path, Some(patch.clone())).await;
    assert_eq!(f.up.writes(), 1, "the dry run wrote nothing");
    let updated = f.call(M::PATCH, &path, Some(patch)).await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    assert_sent_as_held(&f, &held);

    let held = dry_run(&f, M::DELETE, &path, None).await;
    assert_eq!(held["method"], "DELETE");
    assert_eq!(
        held["url"],
        format!(
            "{}/api/suppliers/{}",
            f.up.base_url(),
            created.body["id"].as_str().unwrap()
        )
    );
    assert_eq!(f.up.writes(), 2, "the dry run deleted nothing");
    assert_eq!(f.call(M::GET, &path, None).await.status, StatusCode::OK);
    let deleted = f.call(M::DELETE, &path, None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(
        f.call(M::GET, &path, None).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_0_2_0_adapter_is_still_served_without_passthrough() {
    let f = start("example-contract-0.2.0").await;
    assert_eq!(contract_version(&f).await, "0.2.0");
    let page = f.call(M::GET, "/v1/vendors?page_size=2", None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(page.body["data"].as_array().unwrap().len(), 2);
    let one = f.call(M::GET, "/v1/vendors/1", None).await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.body);

    let vendor = json!({"name": "Older Build Supplies"});
    let created = f.call(M::POST, "/v1/vendors", Some(vendor)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(f.up.writes(), 1);
    let path = format!("/v1/vendors/{}", created.body["id"].as_str().unwrap());
    let patch = json!({"name": "Older Build Supplies Ltd"});
    let held = dry_run(&f, M::PATCH, &path, Some(patch)).await;
    assert_eq!(held["method"], "PATCH");
    assert_eq!(f.up.writes(), 1, "the dry run wrote nothing");

    // Passthrough came with 0.3.0.
    f.call(M::GET, "/v1/passthrough/api/suppliers", None)
        .await
        .assert_error(StatusCode::NOT_IMPLEMENTED, "passthrough_not_supported");
}

/// Each config field of `manifest` as the connect page shows it: its
/// name, label, group and who sets it.
fn presentation(manifest: &Value) -> Vec<(&str, &str, &str, &str)> {
    manifest["config"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let text = |key: &str| c[key].as_str().unwrap();
            (text("name"), text("label"), text("group"), text("set_by"))
        })
        .collect()
}

#[tokio::test]
async fn a_0_3_0_adapter_is_served_with_labels_made_from_its_config_names() {
    let f = start("example-contract-0.3.0").await;
    assert_eq!(contract_version(&f).await, "0.3.0");
    let page = f.call(M::GET, "/v1/vendors?page_size=2", None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let passed = f.call(M::GET, "/v1/passthrough/api/suppliers", None).await;
    assert_eq!(passed.status, StatusCode::OK, "{}", passed.body);

    let url = f.server.url("/v1/adapters/example");
    let adapter = call(&f.http, M::GET, url, &f.server.admin_key(), None).await;
    let manifest = &adapter.body["manifest"];
    assert_eq!(
        presentation(manifest),
        [
            ("base_url", "Base URL", "", "customer"),
            ("api_key", "API key", "", "customer")
        ]
    );
    assert_eq!(manifest["setup_steps"], json!([]));
}

#[tokio::test]
async fn the_bundled_adapters_implement_0_4_0_and_label_their_config() {
    let server = Server::start(&["example", "netsuite", "tryton"]);
    let http = crate::common::http();
    let url = server.url("/v1/adapters");
    let list = call(&http, M::GET, url, &server.admin_key(), None).await;
    let versions: Vec<(&str, &str)> = list.body["adapters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let version = a["contract_version"].as_str().unwrap();
            (a["id"].as_str().unwrap(), version)
        })
        .collect();
    assert_eq!(
        versions,
        [
            ("example", "0.4.0"),
            ("netsuite", "0.4.0"),
            ("tryton", "0.4.0")
        ]
    );
    let url = server.url("/v1/adapters/netsuite");
    let detail = call(&http, M::GET, url, &server.admin_key(), None).await;
    let netsuite = &detail.body["manifest"];
    assert_eq!(
        presentation(netsuite),
        [
            ("account_id", "Account ID", "", "customer"),
            ("client_id", "Client ID", "Credentials", "customer"),
            (
                "certificate_id",
                "Certificate ID",
                "Credentials",
                "customer"
            ),
            ("private_key", "Private key", "Credentials", "customer"),
            ("base_url", "API address", "Advanced", "operator"),
            (
                "writable_custom_fields",
                "Writable custom fields",
                "Advanced",
                "operator"
            ),
        ]
    );
    assert_eq!(netsuite["config"][0]["placeholder"], "1234567");
    assert_eq!(netsuite["setup_steps"].as_array().unwrap().len(), 4);
}
