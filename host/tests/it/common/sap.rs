//! mock-sap (PyPI), the SAP S/4HANA stand-in of the SAP adapter's tests:
//! the pinned release that `cargo xtask test` installs into
//! `target/mock-sap` (`xtask/src/test.rs`), started on a port of the
//! system's choosing on loopback, ready once it answers OData. Also a small
//! proxy that stands between the host and mock-sap, for what mock-sap
//! cannot do by itself: a change made in SAP between the adapter's read and
//! its write, and S/4HANA's fields that mock-sap 0.22 does not have.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use futures::future::BoxFuture;
use serde_json::{Value, json};

/// The release `xtask/src/test.rs` installs.
pub const VERSION: &str = "0.22.0";
/// The basic-authentication user every mock-sap here requires.
pub const USER: &str = "INTERLINK";
pub const PASSWORD: &str = "Interlink-S3cret";
/// mock-sap's clock is pinned: the dates it stamps are the same each run.
pub const CLOCK: &str = "2026-01-15T10:00";
/// The services, as mock-sap serves them (its business partner service
/// has the `_SRV` suffix that S/4HANA's does not).
pub const PURCHASE_ORDERS: &str = "/sap/opu/odata/sap/API_PURCHASEORDER_PROCESS_SRV";
pub const BUSINESS_PARTNERS: &str = "/sap/opu/odata/sap/API_BUSINESS_PARTNER_SRV";
pub const PRODUCTS: &str = "/sap/opu/odata/sap/API_PRODUCT_SRV";

/// `USER:PASSWORD` in base64: the connection's `credentials`.
pub fn credentials(user: &str, password: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

/// A running mock-sap, stopped when dropped; its [`SapClient`] through
/// `Deref`.
pub struct MockSap {
    child: Child,
    client: SapClient,
}

impl std::ops::Deref for MockSap {
    type Target = SapClient;

    fn deref(&self) -> &SapClient {
        &self.client
    }
}

/// mock-sap's API, as a user of SAP and as a test reads its logs.
#[derive(Clone)]
pub struct SapClient {
    /// `http://127.0.0.1:<port>`
    pub base: String,
    pub http: reqwest::Client,
}

impl MockSap {
    /// Starts mock-sap with basic authentication (`USER`, `PASSWORD`), its
    /// clock pinned, and `args` (`--oauth ID:SECRET`, ...).
    ///
    /// Panics, saying how to install it, when mock-sap is not installed;
    /// when it is not the pinned release; when it does not answer OData
    /// within 30 s.
    pub async fn start(args: &[&str]) -> MockSap {
        let command = super::target_dir().join("mock-sap/bin/mock-sap");
        assert!(
            command.exists(),
            "mock-sap is not installed ({} is missing): `cargo xtask test` installs mock-sap=={VERSION} there, \
             or run `python3 -m venv target/mock-sap && target/mock-sap/bin/pip install mock-sap=={VERSION}`",
            command.display()
        );
        let auth = format!("{USER}:{PASSWORD}");
        let mut child = Command::new(&command)
            .args(["--host", "127.0.0.1", "--port", "0", "--auth", &auth])
            .args(["--clock", CLOCK, "-q"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", command.display()));
        // The first line names the port the system chose: `mock-sap 0.22.0
        // listening on http://127.0.0.1:41234  (client 100, db :memory:)`.
        // The rest of the banner is read (and dropped) so that the pipe
        // never fills.
        let (lines, banner) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        let first = match banner.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                let output = child.wait_with_output().unwrap();
                panic!(
                    "mock-sap did not start: {}",
                    String::from_utf8_lossy(&output.stderr)
                );
            }
        };
        let expected = format!("mock-sap {VERSION} listening on ");
        let Some(rest) = first.strip_prefix(&expected) else {
            let _ = child.kill();
            panic!(
                "not mock-sap {VERSION}: {first:?} (`cargo xtask test` installs the pinned release)"
            );
        };
        let base = rest.split_whitespace().next().unwrap().to_string();
        let mock = MockSap {
            child,
            client: SapClient {
                base,
                http: super::http(),
            },
        };
        mock.wait_until_it_answers_odata().await;
        mock
    }
}

impl Drop for MockSap {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SapClient {
    async fn wait_until_it_answers_odata(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let probe = format!("{PURCHASE_ORDERS}/A_PurchaseOrder?$top=1");
        loop {
            let answer = self.authed(reqwest::Method::GET, &probe).send().await;
            if let Ok(answer) = answer
                && answer.status() == 200
                && let Ok(body) = answer.json::<Value>().await
                && body["d"]["results"].is_array()
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "mock-sap at {} did not answer OData within 30 s",
                self.base
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn authed(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(path))
            .basic_auth(USER, Some(PASSWORD))
            .header("Accept", "application/json")
    }

    /// `GET path` from SAP directly: its `d`.
    pub async fn get(&self, path: &str) -> Value {
        let answer = self
            .authed(reqwest::Method::GET, path)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "GET {path}");
        let mut body: Value = answer.json().await.unwrap();
        body["d"].take()
    }

    /// A change made in SAP by someone else: `PATCH path` with `body`, with
    /// the ETag SAP answers now and a CSRF token of its own.
    pub async fn change(&self, service: &str, resource: &str, body: Value) {
        let path = format!("{service}/{resource}");
        let current = self.get(&path).await;
        let fetched = self
            .authed(reqwest::Method::GET, &format!("{service}/"))
            .header("X-CSRF-Token", "Fetch")
            .send()
            .await
            .unwrap();
        let token = fetched.headers()["x-csrf-token"]
            .to_str()
            .unwrap()
            .to_string();
        let mut request = self
            .authed(reqwest::Method::PATCH, &path)
            .header("X-CSRF-Token", token)
            .json(&body);
        if let Some(etag) = current["__metadata"]["etag"].as_str() {
            request = request.header("If-Match", etag);
        }
        let answer = request.send().await.unwrap();
        assert_eq!(
            answer.status(),
            204,
            "PATCH {path}: {}",
            answer.text().await.unwrap()
        );
    }

    /// `method /_mock/<path>` (mock-sap's control plane).
    pub async fn control(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self
            .http
            .request(method, self.url(&format!("/_mock/{path}")));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer = request.send().await.unwrap();
        assert!(
            answer.status().is_success(),
            "/_mock/{path}: {}",
            answer.status()
        );
        answer.json().await.unwrap()
    }

    /// Every request mock-sap served (its request log), oldest first: each
    /// with `id`, `method`, `path`, `query` and `status`.
    pub async fn requests(&self) -> Vec<Value> {
        let log: Value = self
            .http
            .get(self.url("/_mock/requests?limit=100000"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut rows = log["results"].as_array().unwrap().clone();
        rows.reverse();
        rows
    }

    /// The requests served after the request log's row `after` (see
    /// [`MockSap::mark`]).
    pub async fn requests_since(&self, after: u64) -> Vec<Value> {
        let mut rows = self.requests().await;
        rows.retain(|r| r["id"].as_u64().unwrap() > after);
        rows
    }

    /// The id of the last request served so far.
    pub async fn mark(&self) -> u64 {
        self.requests()
            .await
            .last()
            .map_or(0, |r| r["id"].as_u64().unwrap())
    }
}

/// Whether a logged request may have changed something.
pub fn is_write(request: &Value) -> bool {
    !matches!(request["method"].as_str(), Some("GET" | "HEAD"))
}

type Hook = Box<dyn FnOnce() -> BoxFuture<'static, ()> + Send>;
type Rewrite = Arc<dyn Fn(&mut Value) + Send + Sync>;

/// What the proxy does besides forwarding.
#[derive(Default)]
struct Meddling {
    /// Runs once, before the first request with this method whose path
    /// and query contain this text is forwarded.
    before: Option<(reqwest::Method, String, Hook)>,
    /// Rewrites the JSON answers to `GET`s whose path and query contain
    /// this text.
    rewrite: Option<(String, Rewrite)>,
}

struct Forward {
    target: String,
    http: reqwest::Client,
    meddling: Mutex<Meddling>,
}

/// A proxy in front of mock-sap, for the connection's `base_url`.
pub struct Proxy {
    pub url: String,
    forward: Arc<Forward>,
}

impl Proxy {
    pub async fn start(target: &str) -> Proxy {
        let forward = Arc::new(Forward {
            target: target.to_string(),
            http: super::http(),
            meddling: Mutex::default(),
        });
        let app = axum::Router::new()
            .fallback(forward_request)
            .with_state(forward.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Proxy { url, forward }
    }

    /// Runs `hook` once, before the first `method` request whose path and
    /// query contain `matching` reaches mock-sap.
    pub fn before(
        &self,
        method: reqwest::Method,
        matching: &str,
        hook: impl FnOnce() -> BoxFuture<'static, ()> + Send + 'static,
    ) {
        self.forward.meddling.lock().unwrap().before =
            Some((method, matching.to_string(), Box::new(hook)));
    }

    /// Rewrites the JSON answers of `GET`s whose path and query contain
    /// `matching`.
    pub fn rewrite(&self, matching: &str, rewrite: impl Fn(&mut Value) + Send + Sync + 'static) {
        self.forward.meddling.lock().unwrap().rewrite =
            Some((matching.to_string(), Arc::new(rewrite)));
    }
}

async fn forward_request(
    axum::extract::State(forward): axum::extract::State<Arc<Forward>>,
    request: axum::extract::Request,
) -> axum::response::Response {
    use axum::http::header;
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let hook = {
        let mut meddling = forward.meddling.lock().unwrap();
        let due = meddling
            .before
            .as_ref()
            .is_some_and(|(method, matching, _)| {
                *method == parts.method && target.contains(matching.as_str())
            });
        if due {
            meddling.before.take().map(|(_, _, hook)| hook)
        } else {
            None
        }
    };
    if let Some(hook) = hook {
        hook().await;
    }
    let mut out = forward
        .http
        .request(parts.method.clone(), format!("{}{target}", forward.target));
    for (name, value) in &parts.headers {
        if name != header::HOST && name != header::CONTENT_LENGTH {
            out = out.header(name, value);
        }
    }
    let answer = out.body(body).send().await.unwrap();
    let (status, headers) = (answer.status(), answer.headers().clone());
    let mut bytes = answer.bytes().await.unwrap().to_vec();
    let rewrite = forward.meddling.lock().unwrap().rewrite.clone();
    if let Some((matching, rewrite)) = rewrite
        && parts.method == reqwest::Method::GET
        && target.contains(matching.as_str())
        && let Ok(mut json) = serde_json::from_slice::<Value>(&bytes)
    {
        rewrite(&mut json);
        bytes = serde_json::to_vec(&json).unwrap();
    }
    let mut response = axum::response::Response::builder().status(status);
    for (name, value) in &headers {
        if ![
            header::CONTENT_LENGTH,
            header::TRANSFER_ENCODING,
            header::CONNECTION,
        ]
        .contains(name)
        {
            response = response.header(name, value);
        }
    }
    response.body(axum::body::Body::from(bytes)).unwrap()
}

/// The connection config for mock-sap (or a proxy of it) at `base`: its
/// client, where it serves business partners, and the defaults new orders
/// need.
pub fn config(base: &str) -> Value {
    json!({
        "base_url": base,
        "sap_client": "100",
        "business_partner_service": BUSINESS_PARTNERS,
        "company_code": "1710",
        "purchasing_organization": "1710",
        "purchasing_group": "001",
        "plant": "1710",
    })
}
