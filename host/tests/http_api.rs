//! The HTTP API, through the real `interlink` binary.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::Value;

async fn json(response: reqwest::Response) -> (StatusCode, String, Value) {
    let status = response.status();
    let id = response
        .headers()
        .get("x-request-id")
        .expect("every response has x-request-id")
        .to_str()
        .unwrap()
        .to_string();
    (
        status,
        id,
        serde_json::from_slice(&response.bytes().await.unwrap()).unwrap(),
    )
}

/// Asserts an error body with `code` that carries the response's request id.
fn assert_error(
    status: StatusCode,
    id: &str,
    body: &Value,
    expected_status: StatusCode,
    code: &str,
) {
    assert_eq!(status, expected_status, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert_eq!(body["error"]["request_id"], id, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
}

#[tokio::test]
async fn lists_and_describes_the_loaded_adapters() {
    let server = Server::start(&["example"]);
    let http = reqwest::Client::new();

    let (status, _, health) = json(http.get(server.url("/healthz")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health["adapters"], 1);

    let (_, _, list) = json(http.get(server.url("/v1/adapters")).send().await.unwrap()).await;
    assert_eq!(list["adapters"][0]["id"], "example");
    assert_eq!(
        list["adapters"][0]["entities"],
        serde_json::json!(["vendors", "items", "purchase-orders"])
    );

    let (status, _, detail) = json(
        http.get(server.url("/v1/adapters/example"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let orders = &detail["manifest"]["entities"][2];
    assert_eq!(orders["name"], "purchase-orders");
    assert_eq!(orders["children"][0]["name"], "lines");
    assert_eq!(orders["children"][0]["create_with_parent"], true);
    assert_eq!(
        orders["state_locks"][0]["locked_fields"]["kind"],
        "all_except"
    );
    let number = orders["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "number")
        .unwrap();
    assert_eq!(number["access"], "read_only");

    let (status, id, body) = json(
        http.get(server.url("/v1/adapters/nope"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(
        status,
        &id,
        &body,
        StatusCode::NOT_FOUND,
        "adapter_not_found",
    );
}

#[tokio::test]
async fn errors_are_json_with_the_request_id() {
    let server = Server::start(&[]);
    let http = reqwest::Client::new();

    let (status, id, body) =
        json(http.get(server.url("/no/such/route")).send().await.unwrap()).await;
    assert_error(status, &id, &body, StatusCode::NOT_FOUND, "not_found");

    let (status, id, body) = json(
        http.delete(server.url("/v1/adapters"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(
        status,
        &id,
        &body,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );

    let response = http
        .get(server.url("/nope"))
        .header("x-request-id", "client-chosen-42")
        .send()
        .await
        .unwrap();
    let (_, id, body) = json(response).await;
    assert_eq!(id, "client-chosen-42", "a client's own request id is kept");
    assert_eq!(body["error"]["request_id"], "client-chosen-42");
}

#[tokio::test]
async fn uploads_need_the_admin_key_and_a_valid_adapter() {
    let server = Server::start(&["example"]);
    let http = reqwest::Client::new();
    let key = server.admin_key();
    let put = |id: &str, body: Vec<u8>| {
        http.put(server.url(&format!("/v1/adapters/{id}")))
            .body(body)
    };

    let (status, id, body) = json(put("chaos", adapter_bytes("chaos")).send().await.unwrap()).await;
    assert_error(
        status,
        &id,
        &body,
        StatusCode::UNAUTHORIZED,
        "admin_key_missing",
    );
    let (status, id, body) = json(
        put("chaos", adapter_bytes("chaos"))
            .bearer_auth("wrong")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(
        status,
        &id,
        &body,
        StatusCode::UNAUTHORIZED,
        "admin_key_invalid",
    );

    let (_, _, before) = json(
        http.get(server.url("/v1/adapters/example"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let (status, id, body) = json(
        put("example", b"\0asm garbage".to_vec())
            .bearer_auth(&key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(
        status,
        &id,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_adapter",
    );
    let (_, _, after) = json(
        http.get(server.url("/v1/adapters/example"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        before["sha256"], after["sha256"],
        "the old version keeps serving"
    );

    let (status, id, body) = json(
        put("example", adapter_bytes("chaos"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(
        status,
        &id,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "adapter_id_mismatch",
    );

    let (status, _, body) = json(
        put("chaos", adapter_bytes("chaos"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["manifest"]["version"], "1.0.0");
    assert!(
        server.adapters_dir.path().join("chaos.wasm").exists(),
        "uploads are kept in the adapters folder"
    );

    let (status, _, body) = json(
        put("chaos", adapter_bytes("chaos-next"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, _, list) = json(http.get(server.url("/v1/adapters")).send().await.unwrap()).await;
    let chaos = list["adapters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == "chaos")
        .unwrap();
    assert_eq!(chaos["version"], "2.0.0", "the upload replaced the adapter");
    assert_eq!(list["load_errors"], serde_json::json!([]));
}
