//! The MCP door (`/mcp`) through an independent client: the Python MCP SDK
//! (`mcp` 2.3.0, which `cargo xtask test` installs into `target/mcp`),
//! driven command by command through `tests/mcp/driver.py` against the real
//! binary, while the test watches what reached the demo upstream (it counts
//! requests and writes) and compares with what the HTTP API answers.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::*;
use reqwest::{Method as M, StatusCode};
use serde_json::{Value, json};

/// How long one command of the driver may take.
const COMMAND_DEADLINE: Duration = Duration::from_secs(60);

/// The Python SDK, connected to a host's `/mcp` with a token; killed on
/// drop.
struct Driver {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
}

impl Driver {
    /// Starts the driver; `args` are its flags (`--mode legacy`,
    /// `--elicit accept`).
    fn start(server: &Server, token: &str, args: &[&str]) -> Driver {
        let python = target_dir().join("mcp/bin/python");
        assert!(
            python.exists(),
            "{} is not installed: run `cargo xtask test`",
            python.display()
        );
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/mcp/driver.py");
        let mut child = Command::new(python)
            .arg(script)
            .arg(server.url("/mcp"))
            .arg(token)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    return;
                }
            }
        });
        Driver {
            child,
            stdin,
            lines,
        }
    }

    /// Sends one command and waits (at most [`COMMAND_DEADLINE`]) for its
    /// answer.
    fn send(&mut self, command: Value) -> Value {
        writeln!(self.stdin, "{command}").unwrap();
        self.stdin.flush().unwrap();
        let line = tokio::task::block_in_place(|| self.lines.recv_timeout(COMMAND_DEADLINE))
            .unwrap_or_else(|e| panic!("the driver did not answer {command}: {e}"));
        serde_json::from_str(&line).unwrap()
    }

    fn tools(&mut self) -> Vec<Value> {
        let answer = self.send(json!({"op": "tools"}));
        answer["tools"]
            .as_array()
            .unwrap_or_else(|| panic!("{answer}"))
            .clone()
    }

    fn names(&mut self) -> Vec<String> {
        let mut names: Vec<String> = self
            .tools()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect();
        names.sort();
        names
    }

    /// Calls a tool; answers its result (`isError` and `structuredContent`),
    /// or the JSON-RPC error as `{"error": ...}`.
    fn call(&mut self, name: &str, arguments: Value) -> Value {
        let answer = self.send(json!({"op": "call", "name": name, "arguments": arguments}));
        match answer.get("result") {
            Some(result) => result.clone(),
            None => answer,
        }
    }

    /// `call`, which must succeed: its structured content.
    fn ok(&mut self, name: &str, arguments: Value) -> Value {
        let result = self.call(name, arguments);
        assert_eq!(result["isError"], false, "{name}: {result}");
        result["structuredContent"].clone()
    }

    /// `call`, which must fail as a tool: its error body.
    fn refused(&mut self, name: &str, arguments: Value) -> Value {
        let result = self.call(name, arguments);
        assert_eq!(result["isError"], true, "{name}: {result}");
        result["structuredContent"]["error"].clone()
    }

    /// The tools/list_changed notifications seen so far.
    fn changes(&mut self) -> u64 {
        self.send(json!({"op": "changes"}))["changes"]
            .as_u64()
            .unwrap()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `check` (which asks the driver, blocking) until it holds, for up
/// to 30 s.
fn until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::task::block_in_place(|| std::thread::sleep(Duration::from_millis(50)));
    }
}

/// Leaves out what differs between two answers of the same error: its
/// request id.
fn without_request_id(mut error: Value) -> Value {
    error.as_object_mut().unwrap().remove("request_id");
    error.as_object_mut().unwrap().remove("retry_after_seconds");
    error
}

/// The tools of the example adapter (whose manifest declares no delete of
/// items), what they are annotated with, and reads that answer what the
/// HTTP API answers: a page cut by a cursor, a record, an entity's rules.
/// Without a token, `/mcp` answers the HTTP API's 401.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_lists_the_tools_and_reads_what_the_http_api_reads() {
    let demo = Demo::example().await;
    let mut agent = Driver::start(&demo.server, &demo.token, &[]);
    assert_eq!(
        agent.send(json!({"op": "info"}))["protocol_version"],
        "2026-07-28"
    );

    let tools = agent.tools();
    let tool = |name: &str| {
        tools
            .iter()
            .find(|t| t["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {tools:?}"))
            .clone()
    };
    for entity in ["vendors", "items", "purchase-orders"] {
        for verb in ["list", "get", "meta", "create", "update"] {
            tool(&format!("{entity}_{verb}"));
        }
    }
    tool("vendors_delete");
    tool("sync_status");
    assert!(
        !tools.iter().any(|t| t["name"] == "items_delete"),
        "the manifest declares no delete of items"
    );
    assert_eq!(tool("vendors_list")["annotations"]["readOnlyHint"], true);
    assert_eq!(
        tool("vendors_delete")["annotations"]["destructiveHint"],
        true
    );
    assert_eq!(
        tool("vendors_create")["annotations"]["idempotentHint"],
        true
    );
    assert_eq!(tool("vendors_create")["annotations"]["readOnlyHint"], false);
    let create = tool("vendors_create");
    assert!(
        create["description"]
            .as_str()
            .unwrap()
            .contains("Suppliers"),
        "the manifest's description: {create}"
    );
    let record = &create["inputSchema"]["properties"]["record"];
    assert_eq!(record["required"], json!(["name"]), "{record}");
    assert_eq!(record["properties"]["id"]["readOnly"], true, "{record}");
    assert!(
        record["properties"]["status"]
            .to_string()
            .contains("\"#/$defs/ActiveStatus\""),
        "the unified model's schema: {record}"
    );
    assert!(create["inputSchema"]["$defs"]["ActiveStatus"].is_object());

    let first = agent.ok("vendors_list", json!({"page_size": 2}));
    let http = demo.call(M::GET, "/v1/vendors?page_size=3", None).await;
    assert_eq!(
        first["data"].as_array().unwrap()[..],
        http.body["data"].as_array().unwrap()[..2]
    );
    let rest = agent.ok("vendors_list", json!({"cursor": first["next_cursor"]}));
    assert_eq!(rest["data"][0], http.body["data"][2], "the cursor goes on");

    let id = http.body["data"][0]["id"].as_str().unwrap();
    let got = agent.ok("vendors_get", json!({"id": id}));
    assert_eq!(got, http.body["data"][0]);
    let meta = agent.ok("vendors_meta", json!({}));
    assert_eq!(meta, demo.call(M::GET, "/v1/vendors/meta", None).await.body);
    let status = agent.ok("sync_status", json!({}));
    assert_eq!(
        status,
        demo.call(M::GET, "/v1/sync-status", None).await.body
    );

    let missing = agent.refused("vendors_get", json!({"id": "999999"}));
    let http_missing = demo.call(M::GET, "/v1/vendors/999999", None).await;
    assert_eq!(
        without_request_id(missing),
        without_request_id(http_missing.body["error"].clone())
    );
    let unknown = agent.call("vendors_frobnicate", json!({}));
    assert_eq!(unknown["error"]["code"], -32602, "{unknown}");

    let anonymous = send(
        demo.http
            .post(demo.server.url("/mcp"))
            .header("accept", "application/json, text/event-stream")
            .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})),
    )
    .await;
    anonymous.assert_error(StatusCode::UNAUTHORIZED, "token_missing");
}

/// An answer is at most 64 KiB of JSON: a page of the system larger than
/// that is cut, and the cursors go on from the cut until every record was
/// answered once, in the HTTP API's order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_larger_than_an_answer_is_cut_and_its_cursor_goes_on() {
    let demo = Demo::example().await;
    let filler = "x".repeat(400);
    for n in 0..300 {
        demo.up.insert(
            "suppliers",
            json!({"displayName": format!("Supplier {n} {filler}"), "isActive": true}),
        );
    }
    let http = demo.call(M::GET, "/v1/vendors?page_size=500", None).await;
    assert_eq!(http.status, StatusCode::OK, "{}", http.body);
    let expected: Vec<Value> = http.body["data"].as_array().unwrap().clone();
    assert!(expected.len() > 300, "{}", expected.len());

    let mut agent = Driver::start(&demo.server, &demo.token, &[]);
    let mut answered = Vec::new();
    let mut arguments = json!({"page_size": 500});
    let mut answers = 0;
    loop {
        let result = agent.call("vendors_list", arguments.clone());
        assert_eq!(result["isError"], false, "{result}");
        let size = result["structuredContent"].to_string().len();
        assert!(size <= 64 << 10, "an answer of {size} bytes");
        let page = &result["structuredContent"];
        answered.extend(page["data"].as_array().unwrap().iter().cloned());
        answers += 1;
        assert!(answers < 20, "the cursors go on forever");
        match page["next_cursor"].as_str() {
            Some(cursor) => arguments = json!({"cursor": cursor}),
            None => break,
        }
    }
    assert!(answers >= 3, "cut into {answers} answers");
    assert_eq!(answered, expected, "every record once, in order");

    let forged = agent.refused("vendors_list", json!({"cursor": "not-a-cursor"}));
    assert_eq!(forged["code"], "invalid_cursor", "{forged}");
}

/// A write with a read-only field is refused by the rules with the error
/// `POST /v1/vendors` answers (the same code, message and JSON pointers),
/// and nothing reaches the system.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_the_rules_refuse_is_the_http_apis_error_and_reaches_nothing() {
    let demo = Demo::example().await;
    let mut agent = Driver::start(&demo.server, &demo.token, &[]);
    let before = demo.up.requests();
    let body = json!({"name": "Globex", "id": "42"});
    let refused = agent.refused(
        "vendors_create",
        json!({"record": body, "idempotency_key": "globex-1"}),
    );
    assert_eq!(refused["code"], "field_read_only", "{refused}");
    assert_eq!(refused["details"]["errors"][0]["path"], "/id", "{refused}");
    assert_eq!(demo.up.requests(), before, "the system saw nothing");
    let http = demo.call(M::POST, "/v1/vendors", Some(body)).await;
    http.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "field_read_only");
    assert_eq!(
        without_request_id(refused.clone()),
        without_request_id(http.body["error"].clone())
    );
    assert_eq!(demo.up.writes(), 0);

    // The audit trail has the tool call, refused, and under its request the
    // write's decision naming the rule.
    let admin = demo.server.admin_key();
    let url = demo.server.url("/v1/audit?kind=mcp");
    let tool = eventually(Duration::from_secs(10), "the tool call's entry", || {
        let (http, url, admin) = (&demo.http, url.clone(), admin.clone());
        async move {
            let trail = call(http, M::GET, url, &admin, None).await;
            trail.body["entries"].as_array().unwrap().first().cloned()
        }
    })
    .await;
    assert_eq!(tool["action"], "tool vendors_create", "{tool}");
    assert_eq!(tool["outcome"], "refused", "{tool}");
    assert_eq!(tool["detail"]["code"], "field_read_only", "{tool}");
    assert_eq!(tool["request_id"], refused["request_id"], "{tool}");
    let url = demo.server.url(&format!(
        "/v1/audit?request_id={}&kind=write",
        tool["request_id"].as_str().unwrap()
    ));
    let decision = call(&demo.http, M::GET, url, &admin, None).await;
    assert_eq!(
        decision.body["entries"][0]["detail"]["rule"],
        "field_read_only"
    );
}

/// A valid write is first a plan (the held request, redacted as the HTTP
/// dry run shows it) with a confirm token; the token bound to other
/// arguments is refused; the right one sends the write exactly once, and
/// its replay is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_is_planned_then_sent_once_with_its_confirm_token() {
    let demo = Demo::example().await;
    let mut agent = Driver::start(&demo.server, &demo.token, &[]);
    let arguments = json!({"record": {"name": "Globex", "email": "buy@globex.example"},
        "idempotency_key": "globex-1"});

    let plan = agent.ok("vendors_create", arguments.clone());
    assert_eq!(plan["dry_run"], true, "{plan}");
    let http = call_with(
        &demo.http,
        M::POST,
        demo.server.url("/v1/vendors"),
        &demo.token,
        Some(arguments["record"].clone()),
        &[("prefer", "dry-run")],
    )
    .await;
    assert_eq!(
        plan["requests"], http.body["requests"],
        "the HTTP dry run's plan"
    );
    assert_eq!(plan["requests"][0]["method"], "POST", "{plan}");
    let authorization = plan["requests"][0]["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| {
            h["name"]
                .as_str()
                .unwrap()
                .eq_ignore_ascii_case("authorization")
        })
        .expect("the credential header");
    assert_eq!(authorization["value"], "[redacted]");
    assert_eq!(demo.up.writes(), 0, "a plan sends nothing");

    let token = plan["confirm_token"].as_str().unwrap().to_string();
    let mut changed = arguments.clone();
    changed["record"]["name"] = "Globex Corporation".into();
    changed["confirm_token"] = token.clone().into();
    let refused = agent.refused("vendors_create", changed);
    assert_eq!(refused["code"], "confirm_token_mismatch", "{refused}");
    assert_eq!(demo.up.writes(), 0);

    // Another token of the same connection, with the same scopes, cannot
    // send what this one planned: the confirm token is bound to the API
    // token (and is spent by the attempt).
    let connection = demo.connection_id().await;
    let issued = demo
        .issue_token(
            &connection,
            json!({"name": "other agent", "scopes": ["read", "write"]}),
        )
        .await;
    assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.body);
    let mut other = Driver::start(&demo.server, issued.body["token"].as_str().unwrap(), &[]);
    let plan = agent.ok("vendors_create", arguments.clone());
    let mut borrowed = arguments.clone();
    borrowed["confirm_token"] = plan["confirm_token"].clone();
    let refused = other.refused("vendors_create", borrowed);
    assert_eq!(refused["code"], "confirm_token_mismatch", "{refused}");
    assert_eq!(demo.up.writes(), 0);

    let plan = agent.ok("vendors_create", arguments.clone());
    let mut confirmed = arguments.clone();
    confirmed["confirm_token"] = plan["confirm_token"].clone();
    let written = agent.ok("vendors_create", confirmed.clone());
    assert_eq!(written["written"], true, "{written}");
    assert_eq!(written["record"]["name"], "Globex", "{written}");
    assert_eq!(demo.up.writes(), 1);

    let replayed = agent.refused("vendors_create", confirmed);
    assert_eq!(replayed["code"], "confirm_token_invalid", "{replayed}");
    assert_eq!(demo.up.writes(), 1, "sent exactly once");
}

/// A token without the write scope sees no write tool and cannot call one
/// by name; with `--mcp-read-only`, neither can a token that has it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_tools_are_neither_listed_nor_callable_without_write() {
    let demo = Demo::example().await;
    let connection = demo.connection_id().await;
    let issued = demo
        .issue_token(&connection, json!({"name": "agent", "scopes": ["read"]}))
        .await;
    assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.body);
    let reader = issued.body["token"].as_str().unwrap();
    let mut agent = Driver::start(&demo.server, reader, &[]);
    let names = agent.names();
    assert!(names.contains(&"vendors_list".to_string()), "{names:?}");
    let writes: Vec<&String> = names
        .iter()
        .filter(|n| n.ends_with("_create") || n.ends_with("_update") || n.ends_with("_delete"))
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
    assert!(
        !names.contains(&"sync_status".to_string()),
        "no syncs scope"
    );
    let refused = agent.refused(
        "vendors_create",
        json!({"record": {"name": "Globex"}, "idempotency_key": "k"}),
    );
    assert_eq!(refused["code"], "insufficient_scope", "{refused}");
    assert_eq!(refused["details"]["required_scope"], "vendors:write");
    assert_eq!(demo.up.writes(), 0);

    let up = demo_upstream::DemoUpstream::start("127.0.0.1:0".parse().unwrap(), Default::default())
        .await
        .unwrap();
    let server = Server::start_with(ServerOptions {
        adapters: &["example"],
        args: &["--mcp-read-only"],
        ..Default::default()
    });
    let (_, token) = connect_example(&demo.http, &server, &up.base_url()).await;
    let mut agent = Driver::start(&server, &token, &[]);
    let names = agent.names();
    assert!(names.contains(&"vendors_list".to_string()), "{names:?}");
    assert!(!names.iter().any(|n| n.ends_with("_delete")), "{names:?}");
    let refused = agent.refused("vendors_delete", json!({"id": "1"}));
    assert_eq!(refused["code"], "mcp_read_only", "{refused}");
    assert_eq!(up.writes(), 0);
}

/// A client that can ask its user is asked, with the plan, instead of
/// being given a confirm token: the user's yes sends the write once, a no
/// sends nothing. On 2026-07-28 the question is an input request; in a
/// session of an earlier version, a request within the call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_can_ask_its_user_confirms_through_elicitation() {
    let demo = Demo::example().await;
    let create = |key: &str| json!({"record": {"name": "Initech"}, "idempotency_key": key});
    for (mode, answer, key, writes) in [
        ("auto", "decline", "k1", 0),
        ("auto", "accept", "k2", 1),
        ("legacy", "decline", "k3", 1),
        ("legacy", "accept", "k4", 2),
    ] {
        let mut agent = Driver::start(
            &demo.server,
            &demo.token,
            &["--mode", mode, "--elicit", answer],
        );
        let result = agent.ok("vendors_create", create(key));
        assert_eq!(
            result["written"],
            answer == "accept",
            "{mode} {answer}: {result}"
        );
        assert!(result.get("confirm_token").is_none(), "{result}");
        assert_eq!(demo.up.writes(), writes, "{mode} {answer}");
        let asked = agent.send(json!({"op": "asked"}));
        let question = asked["asked"][0].as_str().unwrap_or_default();
        assert!(
            question.contains("vendors_create") && question.contains("/api/suppliers"),
            "{mode}: the user sees the plan: {asked}"
        );
    }
}

/// Swapping the chaos adapter for its next version, which serves one more
/// entity, tells a subscription (2026-07-28) and a session (before it) of
/// a connection of it that the tools changed, and the new tool works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hot_swap_that_adds_an_entity_announces_it_and_the_new_tool_works() {
    let up = demo_upstream::DemoUpstream::start("127.0.0.1:0".parse().unwrap(), Default::default())
        .await
        .unwrap();
    let server = Server::start(&["chaos"]);
    let http = http();
    let connected = call(
        &http,
        M::POST,
        server.url("/v1/connections"),
        &server.admin_key(),
        Some(
            json!({"adapter": "chaos", "config": {"base_url": up.base_url(), "account_id": "a1"},
            "credentials": {}}),
        ),
    )
    .await;
    assert_eq!(connected.status, StatusCode::CREATED, "{}", connected.body);
    let token = connected.body["token"].as_str().unwrap();

    let mut subscribed = Driver::start(&server, token, &[]);
    assert_eq!(subscribed.send(json!({"op": "listen"}))["listening"], true);
    let mut session = Driver::start(&server, token, &["--mode", "legacy"]);
    assert!(!session.names().contains(&"added_list".to_string()));
    assert!(!subscribed.names().contains(&"added_list".to_string()));

    std::fs::write(
        server.adapters_dir.join("chaos.wasm"),
        adapter_bytes("chaos-next"),
    )
    .unwrap();
    until("the subscription to hear of the change", || {
        subscribed.changes() > 0
    });
    until("the session to hear of the change", || {
        session.changes() > 0
    });
    for agent in [&mut subscribed, &mut session] {
        assert!(agent.names().contains(&"added_list".to_string()));
        let page = agent.ok("added_list", json!({}));
        assert_eq!(page["data"], json!([{"added": "2.0.0"}]));
    }
}
