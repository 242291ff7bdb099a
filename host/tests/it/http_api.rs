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

/// The upload route's own refusals, with the admin key, each a JSON error
/// with its request id, the served version unchanged after each: a body
/// announced past the 64 MiB limit is a 413 `payload_too_large` before a
/// byte of it is sent; a body of exactly 64 MiB is read whole and judged
/// (422 `invalid_adapter`: not a component); an empty body is a 400
/// `empty_body`. Then a valid upload still works. Catches a limit checked
/// only while reading (the announced upload hangs), and an upload route
/// under the JSON routes' 2 MiB. Broken once (the upload route without its
/// `RequestBodyLimitLayer`): the announced 64 MiB + 1 was waited for, no
/// answer came, and the test failed.
#[tokio::test]
async fn uploads_past_the_limit_or_empty_are_refused_with_their_codes() {
    let server = Server::start(&["chaos"]);
    let http = crate::common::http();
    let key = server.admin_key();
    let served = || async {
        send(http.get(server.url("/v1/adapters/chaos")).bearer_auth(&key))
            .await
            .body["sha256"]
            .clone()
    };
    let before = served().await;
    assert!(before.is_string(), "{before}");
    const LIMIT: usize = 64 << 20;

    let head = format!(
        "PUT /v1/adapters/chaos HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n\
         Content-Length: {}\r\n",
        LIMIT + 1
    );
    raw_request(&server.base, &head)
        .assert_error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    assert_eq!(served().await, before);

    let put = |body: Vec<u8>| {
        http.put(server.url("/v1/adapters/chaos"))
            .bearer_auth(&key)
            .body(body)
    };
    send(put(vec![b'x'; LIMIT]))
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_adapter");
    assert_eq!(served().await, before);
    send(put(Vec::new()))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "empty_body");
    assert_eq!(served().await, before);

    let uploaded = send(put(adapter_bytes("chaos-next"))).await;
    assert_eq!(uploaded.status, StatusCode::OK, "{}", uploaded.body);
    assert_eq!(uploaded.body["manifest"]["version"], "2.0.0");
}

/// An upload of an adapter served from a file of another name replaces
/// that file (no second file serves it, no 409); a second file dropped in
/// for an adapter already served is refused and listed under
/// `load_errors`, and the first keeps serving. Catches an upload that
/// writes `<id>.wasm` beside the serving file (two files for one adapter,
/// the next start refusing one) and a dropped duplicate that takes over.
/// Broken once (uploads always wrote `<id>.wasm`): the upload wrote a
/// stray `chaos.wasm` and was refused (the id was taken), and the test
/// failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_replaces_the_file_that_serves_the_adapter() {
    let adapters = tempfile::tempdir().unwrap();
    std::fs::write(
        adapters.path().join("my-chaos.wasm"),
        adapter_bytes("chaos"),
    )
    .unwrap();
    let server = Server::start_with(ServerOptions {
        adapters_dir: Some(adapters.path().to_path_buf()),
        ..Default::default()
    });
    let http = crate::common::http();
    let key = server.admin_key();
    let next = adapter_bytes("chaos-next");
    let uploaded = send(
        http.put(server.url("/v1/adapters/chaos"))
            .bearer_auth(&key)
            .body(next.clone()),
    )
    .await;
    assert_eq!(uploaded.status, StatusCode::OK, "{}", uploaded.body);
    assert_eq!(uploaded.body["file"], "my-chaos.wasm");
    assert_eq!(
        std::fs::read(adapters.path().join("my-chaos.wasm")).unwrap(),
        next
    );
    assert!(!adapters.path().join("chaos.wasm").exists());

    std::fs::write(adapters.path().join("other.wasm"), adapter_bytes("chaos")).unwrap();
    let errors = crate::common::eventually(
        std::time::Duration::from_secs(30),
        "the second file's load error",
        || async {
            let list = send(http.get(server.url("/v1/adapters")).bearer_auth(&key)).await;
            list.body["load_errors"]
                .as_array()
                .filter(|e| !e.is_empty())
                .cloned()
        },
    )
    .await;
    assert_eq!(errors[0]["file"], "other.wasm", "{errors:?}");
    assert!(
        errors[0]["error"]
            .as_str()
            .unwrap()
            .contains("already served from my-chaos.wasm"),
        "{errors:?}"
    );
    let detail = send(http.get(server.url("/v1/adapters/chaos")).bearer_auth(&key)).await;
    assert_eq!(
        detail.body["version"], "2.0.0",
        "the first file keeps serving"
    );
    assert_eq!(detail.body["file"], "my-chaos.wasm");
}
