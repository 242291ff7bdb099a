//! The adapters API and the error shape, through the real `interlink` binary.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn lists_and_describes_the_loaded_adapters() {
    let server = Server::start(&["example"]);
    let http = crate::common::http();

    let health = send(http.get(server.url("/healthz"))).await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.body["adapters"], 1);

    send(http.get(server.url("/v1/adapters")))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "admin_key_missing");
    let admin = server.admin_key();
    let list = send(http.get(server.url("/v1/adapters")).bearer_auth(&admin))
        .await
        .body;
    assert_eq!(list["adapters"][0]["id"], "example");
    assert_eq!(
        list["adapters"][0]["file"], "example.wasm",
        "the file's name, not the host's path to it"
    );
    assert_eq!(
        list["adapters"][0]["entities"],
        json!(["vendors", "items", "purchase-orders"])
    );

    let detail = send(
        http.get(server.url("/v1/adapters/example"))
            .bearer_auth(&admin),
    )
    .await;
    assert_eq!(detail.status, StatusCode::OK);
    let orders = &detail.body["manifest"]["entities"][2];
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

    send(
        http.get(server.url("/v1/adapters/nope"))
            .bearer_auth(&admin),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "adapter_not_found");
}

#[tokio::test]
async fn errors_are_json_with_the_request_id() {
    let server = Server::start(&[]);
    let http = crate::common::http();

    send(http.get(server.url("/no/such/route")))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    send(http.delete(server.url("/v1/adapters")))
        .await
        .assert_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");

    let reply = send(
        http.get(server.url("/no/such/route"))
            .header("x-request-id", "client-chosen-42"),
    )
    .await;
    assert_eq!(
        reply.request_id, "client-chosen-42",
        "a client's own request id is kept"
    );
    assert_eq!(reply.body["error"]["request_id"], "client-chosen-42");
}

#[tokio::test]
async fn uploads_need_the_admin_key_and_a_valid_adapter() {
    let server = Server::start(&["example"]);
    let http = crate::common::http();
    let key = server.admin_key();
    let put = |id: &str, body: Vec<u8>| {
        http.put(server.url(&format!("/v1/adapters/{id}")))
            .body(body)
    };

    send(put("chaos", b"x".to_vec()))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "admin_key_missing");
    send(put("chaos", b"x".to_vec()).bearer_auth("wrong"))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "admin_key_invalid");
    // The key is judged before the body is read: a client that announced
    // 63 MiB and sent none of it gets its 401 (before: the host waited for,
    // and held, every byte of unauthenticated uploads).
    let head = format!(
        "PUT /v1/adapters/example HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n",
        63 << 20
    );
    raw_request(&server.base, &head).assert_error(StatusCode::UNAUTHORIZED, "admin_key_missing");

    let before = send(
        http.get(server.url("/v1/adapters/example"))
            .bearer_auth(&key),
    )
    .await
    .body;
    send(put("example", b"\0asm garbage".to_vec()).bearer_auth(&key))
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_adapter");
    let after = send(
        http.get(server.url("/v1/adapters/example"))
            .bearer_auth(&key),
    )
    .await
    .body;
    assert_eq!(
        before["sha256"], after["sha256"],
        "the old version keeps serving"
    );

    send(put("example", adapter_bytes("chaos")).bearer_auth(&key))
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "adapter_id_mismatch");

    let uploaded = send(put("chaos", adapter_bytes("chaos")).bearer_auth(&key)).await;
    assert_eq!(uploaded.status, StatusCode::OK, "{}", uploaded.body);
    assert_eq!(uploaded.body["manifest"]["version"], "1.0.0");
    assert!(
        server.adapters_dir.join("chaos.wasm").exists(),
        "uploads are kept in the adapters folder"
    );

    let replaced = send(put("chaos", adapter_bytes("chaos-next")).bearer_auth(&key)).await;
    assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.body);
    let list = send(http.get(server.url("/v1/adapters")).bearer_auth(&key))
        .await
        .body;
    let chaos = list["adapters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == "chaos")
        .unwrap();
    assert_eq!(chaos["version"], "2.0.0", "the upload replaced the adapter");
    assert_eq!(list["load_errors"], json!([]));
}
