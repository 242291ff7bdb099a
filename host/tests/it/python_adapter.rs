//! The example adapter written in Python (`adapters/example-python`, built
//! by componentize-py) through the real binary over HTTP: loaded from the
//! adapters folder like the Rust ones, connected, read, written, held to
//! the same rules, and swapped while calls are in flight.

use crate::common::*;
use demo_upstream::Options;
use reqwest::{Method as M, StatusCode};
use serde_json::json;

async fn python_demo() -> Demo {
    let server = ServerOptions {
        adapters: &["example-python"],
        ..Default::default()
    };
    Demo::start_adapter("example-python", Options::default(), server).await
}

/// Every vendor, page by page through the cursors, as names.
async fn every_vendor(demo: &Demo, page_size: u32) -> Vec<String> {
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            None => format!("/v1/vendors?page_size={page_size}"),
            Some(c) => format!("/v1/vendors?page_size={page_size}&cursor={c}"),
        };
        let page = demo.call(M::GET, &path, None).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let data = page.body["data"].as_array().unwrap();
        assert!(data.len() <= page_size as usize);
        names.extend(data.iter().map(|v| v["name"].as_str().unwrap().to_string()));
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return names,
        }
    }
}

#[tokio::test]
async fn a_python_adapter_connects_reads_pages_and_writes_under_the_hosts_rules() {
    let demo = python_demo().await;

    // Served like any adapter, and kept warm: it embeds an interpreter.
    let adapters = call(
        &demo.http,
        M::GET,
        demo.server.url("/v1/adapters"),
        &demo.server.admin_key(),
        None,
    )
    .await;
    let listed = &adapters.body["adapters"][0];
    assert_eq!(listed["id"], "example-python");
    assert_eq!(listed["contract_version"], "0.4.0");

    // Pages: three seeded suppliers and five more, by pages of 3, each once.
    for i in 0..5 {
        demo.up.insert(
            "suppliers",
            json!({"displayName": format!("Supplier {i}"), "isActive": i % 2 == 0}),
        );
    }
    let names = every_vendor(&demo, 3).await;
    assert_eq!(names.len(), 8, "{names:?}");
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 8, "no vendor twice: {names:?}");
    assert_eq!(names[0], "Acme Industrial Supply");

    // One record, mapped to the unified model.
    let vendor = demo.call(M::GET, "/v1/vendors/2", None).await;
    assert_eq!(vendor.status, StatusCode::OK, "{}", vendor.body);
    assert_eq!(vendor.body["id"], "2");
    assert_eq!(vendor.body["name"], "Nordic Fasteners AB");
    assert_eq!(vendor.body["currency"], "SEK");
    assert_eq!(vendor.body["status"], "active");
    demo.call(M::GET, "/v1/vendors/999", None)
        .await
        .assert_error(StatusCode::NOT_FOUND, "record_not_found");

    // An order with its lines: one upstream request, in the system's shape.
    let writes = demo.up.writes();
    let order = json!({"vendor_id": "2", "reference": "PY-1", "lines": [
        {"item_id": "1", "quantity": 10, "unit_price": "0.42"},
        {"description": "freight", "quantity": 1},
    ]});
    let created = demo.call(M::POST, "/v1/purchase-orders", Some(order)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["vendor_id"], "2");
    assert_eq!(created.body["lines"].as_array().unwrap().len(), 2);
    assert_eq!(demo.up.writes(), writes + 1);
    let sent = demo.up.received_writes().pop().unwrap();
    assert_eq!(sent.path, "/api/orders");
    assert_eq!(sent.body["supplierId"], 2);
    assert_eq!(sent.body["lines"][0]["productId"], 1);
    assert_eq!(sent.body["externalRef"], "PY-1");

    // The Python adapter's own typed error: a reference that is no id.
    let bad = json!({"vendor_id": "acme", "lines": [{"quantity": 1}]});
    let refused = demo.call(M::POST, "/v1/purchase-orders", Some(bad)).await;
    refused.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(
        refused.body["error"]["details"]["errors"][0]["code"], "invalid_reference",
        "{}",
        refused.body
    );

    // A billed order is locked: the host refuses before calling the adapter.
    let billed = demo.up.insert(
        "orders",
        json!({"supplierId": 1, "state": "billed", "notes": "n", "lines": [{"qty": 1}]}),
    );
    let writes = demo.up.writes();
    let locked = demo
        .call(
            M::PATCH,
            &format!("/v1/purchase-orders/{billed}"),
            Some(json!({"reference": "changed"})),
        )
        .await;
    locked.assert_error(StatusCode::CONFLICT, "state_locked");
    assert_eq!(locked.body["error"]["details"]["state"], "billed");
    assert_eq!(demo.up.writes(), writes, "no write reached the system");
    let memo = demo
        .call(
            M::PATCH,
            &format!("/v1/purchase-orders/{billed}"),
            Some(json!({"memo": "still allowed"})),
        )
        .await;
    assert_eq!(memo.status, StatusCode::OK, "{}", memo.body);
    assert_eq!(memo.body["memo"], "still allowed");

    // Passthrough: the demo API as it is, with the connection's key.
    let raw = demo
        .call(M::GET, "/v1/passthrough/api/suppliers?limit=1", None)
        .await;
    assert_eq!(raw.status, StatusCode::OK, "{}", raw.body);
    assert_eq!(
        raw.body["items"][0]["displayName"],
        "Acme Industrial Supply"
    );

    // The connection is still active: nothing above was a credential failure.
    let id = demo.connection_id().await;
    let connection = call(
        &demo.http,
        M::GET,
        demo.server.url(&format!("/v1/connections/{id}")),
        &demo.server.admin_key(),
        None,
    )
    .await;
    assert_eq!(connection.body["status"], "active", "{}", connection.body);
}

/// The version of `example-python` the server lists.
async fn served_version(demo: &Demo) -> String {
    let reply = call(
        &demo.http,
        M::GET,
        demo.server.url("/v1/adapters/example-python"),
        &demo.server.admin_key(),
        None,
    )
    .await;
    reply.body["version"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Four calls are held in the upstream when 0.2.0 of the Python adapter is
/// uploaded: all four finish (on the instances they started on), and the
/// next call is served by the new version. Catches an upload that waits for
/// calls to drain, a swap that fails calls in flight, and a warm instance
/// of the old version serving after the swap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_adapter_is_swapped_while_calls_are_in_flight() {
    let demo = python_demo().await;
    assert_eq!(served_version(&demo).await, "0.1.0");
    // Warm instances of 0.1.0 wait for the connection's next calls (the
    // first call of the scenario leaves one).
    let uploaded =
        swap_while_four_calls_are_held(&demo, "example-python", "example-python-next").await;
    assert_eq!(uploaded.body["version"], "0.2.0", "{}", uploaded.body);
    assert_eq!(served_version(&demo).await, "0.2.0");
    let logs = demo.server.logs();
    assert!(!logs.contains("panicked"), "{logs}");
}
