//! Shared by the host's integration tests: the built adapters, a runtime,
//! connection contexts, a server, an HTTP client with a deadline.

pub mod kv_flood;
pub mod sap;
pub mod sync_client;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use interlink::outbound::{AdapterGrants, HttpClient, NetworkPolicy, network};
use interlink::runtime::{
    Adapter, CallContext, MemoryKv, Runtime, RuntimeConfig, Secrets, Services,
};

/// The cargo target folder, where `cargo xtask build-adapters` puts components.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// The component `name` (`example`, `chaos`, `chaos-next`): built, or a
/// fixture of `tests/fixtures` (a build by an older SDK, as users have them).
pub fn adapter_path(name: &str) -> PathBuf {
    let file = format!("{name}.wasm");
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures");
    for dir in [
        target_dir().join("adapters"),
        target_dir().join("test-adapters"),
        fixtures,
    ] {
        let path = dir.join(&file);
        if path.exists() {
            return path;
        }
    }
    panic!("{file} is not built: run `cargo xtask test` (or `cargo xtask build-adapters` first)")
}

pub fn adapter_bytes(name: &str) -> Vec<u8> {
    std::fs::read(adapter_path(name)).unwrap()
}

/// The longest any request of a test may take: a server that never answers
/// fails the test that asked, naming it, instead of hanging the run.
pub const REQUEST_DEADLINE: std::time::Duration = std::time::Duration::from_secs(60);

/// The tests' HTTP client: every request bounded by [`REQUEST_DEADLINE`].
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(REQUEST_DEADLINE)
        .build()
        .unwrap()
}

/// The host's HTTP client.
pub fn client() -> HttpClient {
    HttpClient::new(1 << 20, None).unwrap()
}

/// Loopback, where the tests' upstreams run, as a policy that allows it.
pub fn loopback() -> NetworkPolicy {
    NetworkPolicy::allowing(vec![network::parse_network("127.0.0.0/8").unwrap()])
}

/// A runtime's services, with every adapter allowed to reach loopback.
pub fn services() -> Services {
    let loopback = network::parse_network("127.0.0.0/8").unwrap();
    Services::new(Arc::new(client()), Arc::new(MemoryKv::default()))
        .with_adapter_grants(AdapterGrants::every_adapter(vec![loopback]))
}

pub fn runtime(config: RuntimeConfig) -> Runtime {
    Runtime::new(config, services(), None).unwrap()
}

pub async fn load(runtime: &Runtime, name: &str) -> Adapter {
    runtime.load(adapter_bytes(name)).await.unwrap()
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A connection's context with `config` and `secrets`.
pub fn ctx(config: &[(&str, &str)], secrets: &[(&str, &str)]) -> CallContext {
    CallContext {
        connection_id: "conn-1".into(),
        config: map(config),
        secrets: Secrets::new(map(secrets)),
    }
}

/// A running `interlink serve`, killed on drop.
pub struct Server {
    child: std::process::Child,
    pub base: String,
    pub data_dir: PathBuf,
    pub adapters_dir: PathBuf,
    _dirs: Vec<tempfile::TempDir>,
}

/// How to start a [`Server`].
#[derive(Default)]
pub struct ServerOptions<'a> {
    /// Built adapters to copy into a new adapters folder.
    pub adapters: &'a [&'a str],
    /// Reuse this data folder (a restart); a new one otherwise.
    pub data_dir: Option<PathBuf>,
    /// Reuse this adapters folder; a new one otherwise.
    pub adapters_dir: Option<PathBuf>,
    pub credits: Option<u32>,
    pub max_writes_per_minute: Option<u32>,
    pub webhook_retry_base_ms: Option<u64>,
    /// Keep the data in this database (`--database-url`) rather than the
    /// data folder's SQLite file; see [`Backend::database`].
    pub database_url: Option<&'a str>,
    /// More `interlink serve` flags.
    pub args: &'a [&'a str],
    /// Environment variables of the server's process.
    pub env: &'a [(&'a str, &'a str)],
    /// Do not let outbound requests reach loopback, where the tests'
    /// upstreams run (allowed otherwise, to every adapter and to webhook
    /// receivers).
    pub refuse_loopback: bool,
    /// Answer as soon as the server listens, before its adapters are
    /// loaded (by default, `start` waits until `/healthz` says `ok`).
    pub no_wait: bool,
    /// Run the binary in this folder; `adapters_dir` may then be relative
    /// to it, as `cargo xtask serve` passes it.
    pub working_dir: Option<PathBuf>,
    /// Keep compiled adapters in the data folder, as a host does by
    /// default. Otherwise every server of the run shares one compile cache
    /// (`target/test-compile-cache`, through `--cache-dir`), so each
    /// adapter is compiled once per run rather than once per test.
    pub own_compile_cache: bool,
}

impl Server {
    /// Starts the real binary with copies of the built `adapters`.
    pub fn start(adapters: &[&str]) -> Server {
        Self::start_with(ServerOptions {
            adapters,
            ..Default::default()
        })
    }

    pub fn start_with(options: ServerOptions) -> Server {
        use std::process::{Command, Stdio};

        let mut dirs = Vec::new();
        let mut dir = |given: Option<PathBuf>| {
            given.unwrap_or_else(|| {
                let d = tempfile::tempdir().unwrap();
                let path = d.path().to_path_buf();
                dirs.push(d);
                path
            })
        };
        let data_dir = dir(options.data_dir);
        let adapters_arg = dir(options.adapters_dir);
        let adapters_dir = match &options.working_dir {
            Some(cwd) => cwd.join(&adapters_arg),
            None => adapters_arg.clone(),
        };
        for name in options.adapters {
            std::fs::copy(
                adapter_path(name),
                adapters_dir.join(format!("{name}.wasm")),
            )
            .unwrap();
        }
        let mut command = Command::new(env!("CARGO_BIN_EXE_interlink"));
        command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(&data_dir)
            .arg("--adapters-dir")
            .arg(&adapters_arg)
            .env_remove("INTERLINK_SECRET_KEY")
            .stdout(Stdio::piped())
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stderr(std::fs::File::create(data_dir.join("interlink.log")).unwrap());
        if let Some(max) = options.max_writes_per_minute {
            command.arg("--max-writes-per-minute").arg(max.to_string());
        }
        if let Some(ms) = options.webhook_retry_base_ms {
            command.arg("--webhook-retry-base").arg(format!("{ms}ms"));
        }
        if let Some(credits) = options.credits {
            command.arg("--credits").arg(credits.to_string());
        }
        if let Some(url) = options.database_url {
            command.arg("--database-url").arg(url);
        }
        if !options.refuse_loopback {
            command.args([
                "--adapter-allow-network",
                "*=127.0.0.0/8",
                "--webhook-allow-network",
                "127.0.0.0/8",
            ]);
        }
        if !options.own_compile_cache {
            command
                .arg("--cache-dir")
                .arg(target_dir().join("test-compile-cache"));
        }
        command.args(options.args);
        command.envs(options.env.iter().copied());
        if let Some(cwd) = &options.working_dir {
            command.current_dir(cwd);
        }
        let (child, base) = spawn_listening(&mut command);
        if !options.no_wait {
            wait_ready(&base);
        }
        Server {
            child,
            base,
            data_dir,
            adapters_dir,
            _dirs: dirs,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn admin_key(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("admin.key"))
            .unwrap()
            .trim()
            .to_string()
    }

    /// Sends the server SIGTERM: it stops accepting and shuts down.
    pub fn terminate(&self) {
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32).unwrap();
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    }

    /// How the server exited, if it has.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().unwrap()
    }

    /// The files the server has open now (its sockets among them).
    pub fn open_files(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .unwrap()
            .count()
    }

    /// The clients' connections the server holds open now: its sockets on
    /// its listening port, other than the listener (from `/proc`).
    pub fn connections(&self) -> usize {
        let pid = self.child.id();
        let port: u16 = self.base.rsplit(':').next().unwrap().parse().unwrap();
        let sockets: std::collections::HashSet<String> =
            std::fs::read_dir(format!("/proc/{pid}/fd"))
                .unwrap()
                .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
                .filter_map(|link| {
                    let link = link.to_string_lossy().into_owned();
                    Some(
                        link.strip_prefix("socket:[")?
                            .strip_suffix(']')?
                            .to_string(),
                    )
                })
                .collect();
        let mut held = 0;
        for table in ["tcp", "tcp6"] {
            let text =
                std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
            for line in text.lines().skip(1) {
                // sl local_address rem_address st ... inode (the 10th)
                let fields: Vec<&str> = line.split_whitespace().collect();
                let local_port = fields[1]
                    .rsplit(':')
                    .next()
                    .and_then(|p| u16::from_str_radix(p, 16).ok());
                const LISTEN: &str = "0A";
                if local_port == Some(port) && fields[3] != LISTEN && sockets.contains(fields[9]) {
                    held += 1;
                }
            }
        }
        held
    }

    /// The server's resident memory now, in bytes.
    pub fn rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/PID/status");
        kib << 10
    }

    /// What the server has logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("interlink.log")).unwrap_or_default()
    }

    /// Stops the server and waits for it to exit, keeping its folders.
    pub fn stop(mut self) -> (PathBuf, PathBuf, Vec<tempfile::TempDir>) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        (
            self.data_dir.clone(),
            self.adapters_dir.clone(),
            std::mem::take(&mut self._dirs),
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The status `GET /healthz` answers now.
pub fn health(base: &str) -> u16 {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(base.trim_start_matches("http://")) else {
        return 0;
    };
    let _ = stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut reply = String::new();
    let _ = stream.read_to_string(&mut reply);
    reply
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Waits until the server at `base` has loaded its adapters.
pub fn wait_ready(base: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while health(base) != 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "the server never became ready"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// What the API answered.
#[derive(Debug)]
pub struct Reply {
    pub status: reqwest::StatusCode,
    pub request_id: String,
    pub headers: reqwest::header::HeaderMap,
    /// The JSON body; `Null` when empty.
    pub body: serde_json::Value,
}

impl Reply {
    /// Asserts an error with `code` whose body carries the response's request id.
    pub fn assert_error(&self, status: reqwest::StatusCode, code: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.body["error"]["code"], code, "{}", self.body);
        assert_eq!(
            self.body["error"]["request_id"],
            self.request_id.as_str(),
            "{}",
            self.body
        );
        assert!(
            self.body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{}",
            self.body
        );
    }
}

/// Sends `method url` with a bearer key or token, and a JSON body if given.
pub async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    bearer: &str,
    body: Option<serde_json::Value>,
) -> Reply {
    call_with(http, method, url, bearer, body, &[]).await
}

/// Connects the example adapter to the demo upstream at `base_url` through
/// the admin API; answers the connection's (id, token).
pub async fn connect_example(
    http: &reqwest::Client,
    server: &Server,
    base_url: &str,
) -> (String, String) {
    connect_demo(http, server, "example", base_url).await
}

/// Connects `adapter`, an adapter of the demo API (the example, in Rust or
/// Python), to the demo upstream at `base_url`; answers (id, token).
pub async fn connect_demo(
    http: &reqwest::Client,
    server: &Server,
    adapter: &str,
    base_url: &str,
) -> (String, String) {
    connect_demo_with_key(http, server, adapter, base_url, "demo-key").await
}

/// [`connect_demo`] with the API key `key`.
pub async fn connect_demo_with_key(
    http: &reqwest::Client,
    server: &Server,
    adapter: &str,
    base_url: &str,
    key: &str,
) -> (String, String) {
    let body = serde_json::json!({"adapter": adapter, "config": {"base_url": base_url},
        "credentials": {"api_key": key}});
    let url = server.url("/v1/connections");
    let reply = call(
        http,
        reqwest::Method::POST,
        url,
        &server.admin_key(),
        Some(body),
    )
    .await;
    assert_eq!(reply.status, reqwest::StatusCode::CREATED, "{}", reply.body);
    (
        reply.body["connection"]["id"].as_str().unwrap().to_string(),
        reply.body["token"].as_str().unwrap().to_string(),
    )
}

/// A demo upstream and a host serving the example adapter, connected.
pub struct Demo {
    pub up: demo_upstream::DemoUpstream,
    pub server: Server,
    pub http: reqwest::Client,
    /// The connection's token.
    pub token: String,
}

impl Demo {
    /// Starts the upstream with `options` and the host with `server` (whose
    /// adapters hold a build of the example adapter), and connects them.
    pub async fn start(options: demo_upstream::Options, server: ServerOptions<'_>) -> Demo {
        Demo::start_adapter("example", options, server).await
    }

    /// [`Demo::start`] with another adapter of the demo API, `adapter`.
    pub async fn start_adapter(
        adapter: &str,
        options: demo_upstream::Options,
        server: ServerOptions<'_>,
    ) -> Demo {
        let up = demo_upstream::DemoUpstream::start("127.0.0.1:0".parse().unwrap(), options)
            .await
            .unwrap();
        let server = Server::start_with(server);
        let http = http();
        let (_, token) = connect_demo(&http, &server, adapter, &up.base_url()).await;
        Demo {
            up,
            server,
            http,
            token,
        }
    }

    /// The example adapter, with the host's `args`, against a demo
    /// upstream whose API key is `key`; answers the demo and the
    /// connection's id.
    pub async fn with_key(key: &str, args: &'static [&'static str]) -> (Demo, String) {
        let options = demo_upstream::Options {
            api_key: key.into(),
            ..Default::default()
        };
        let up = demo_upstream::DemoUpstream::start("127.0.0.1:0".parse().unwrap(), options)
            .await
            .unwrap();
        let server = Server::start_with(ServerOptions {
            adapters: &["example"],
            args,
            ..Default::default()
        });
        let http = http();
        let base_url = up.base_url();
        let (id, token) = connect_demo_with_key(&http, &server, "example", &base_url, key).await;
        let demo = Demo {
            up,
            server,
            http,
            token,
        };
        (demo, id)
    }

    /// The example adapter against a demo upstream with its defaults.
    pub async fn example() -> Demo {
        let server = ServerOptions {
            adapters: &["example"],
            ..Default::default()
        };
        Demo::start(demo_upstream::Options::default(), server).await
    }

    /// The connection's id, as the admin API lists it.
    pub async fn connection_id(&self) -> String {
        let url = self.server.url("/v1/connections");
        let list = call(
            &self.http,
            reqwest::Method::GET,
            url,
            &self.server.admin_key(),
            None,
        )
        .await;
        list.body["connections"][0]["id"]
            .as_str()
            .expect("a connection")
            .to_string()
    }

    /// `POST /v1/connections/{id}/tokens` with `body`, as the admin.
    pub async fn issue_token(&self, connection: &str, body: serde_json::Value) -> Reply {
        let url = self
            .server
            .url(&format!("/v1/connections/{connection}/tokens"));
        call(
            &self.http,
            reqwest::Method::POST,
            url,
            &self.server.admin_key(),
            Some(body),
        )
        .await
    }

    /// `method path` with the connection's token.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Reply {
        call(&self.http, method, self.server.url(path), &self.token, body).await
    }
}

/// [`call`] with more request headers.
pub async fn call_with(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    bearer: &str,
    body: Option<serde_json::Value>,
    headers: &[(&str, &str)],
) -> Reply {
    let mut request = http.request(method, url).bearer_auth(bearer);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    send(request).await
}

/// Sends a request and reads the reply, checking that it has a request id.
pub async fn send(request: reqwest::RequestBuilder) -> Reply {
    let response = request.send().await.unwrap();
    let status = response.status();
    let request_id = response
        .headers()
        .get("x-request-id")
        .expect("every response has x-request-id")
        .to_str()
        .unwrap()
        .to_string();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.unwrap();
    let body = if bytes.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    Reply {
        status,
        request_id,
        headers,
        body,
    }
}

/// Sends `head` (request line and headers, no body) over a plain socket and
/// reads the reply: for requests a client library would not send, such as a
/// `Content-Length` the server must refuse before any body arrives.
pub fn raw_request(base: &str, head: &str) -> Reply {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(b"\r\n").unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).unwrap_or(0);
        raw.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&raw);
        if let Some((headers, body)) = text.split_once("\r\n\r\n") {
            let length = headers
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if body.len() >= length || n == 0 {
                let status = headers.split(' ').nth(1).unwrap().parse::<u16>().unwrap();
                let request_id = headers
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .starts_with("x-request-id:")
                            .then(|| l[13..].trim().to_string())
                    })
                    .expect("x-request-id");
                return Reply {
                    status: reqwest::StatusCode::from_u16(status).unwrap(),
                    request_id,
                    headers: headers
                        .lines()
                        .skip(1)
                        .filter_map(|l| l.split_once(':'))
                        .map(|(name, value)| {
                            (
                                reqwest::header::HeaderName::from_bytes(name.trim().as_bytes())
                                    .unwrap(),
                                value.trim().parse().unwrap(),
                            )
                        })
                        .collect(),
                    body: serde_json::from_str(&body[..length]).unwrap(),
                };
            }
        }
        assert!(n > 0, "the connection closed before a whole reply: {text}");
    }
}

/// Polls `check` every 20 ms until it answers `Some`, failing after
/// `within`: state is awaited, never slept for.
pub async fn eventually<T, F, Fut>(within: std::time::Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Schedules a sync of `entity` for the token's connection (its first run
/// starts at once) and waits for that run to end; answers the run.
pub async fn sync_once(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    entity: &str,
) -> serde_json::Value {
    let put = call(
        http,
        reqwest::Method::PUT,
        format!("{base}/v1/syncs/{entity}"),
        token,
        Some(serde_json::json!({})),
    )
    .await;
    assert_eq!(put.status, reqwest::StatusCode::OK, "{}", put.body);
    eventually(
        std::time::Duration::from_secs(60),
        "the first sync run",
        || async {
            let status = call(
                http,
                reqwest::Method::GET,
                format!("{base}/v1/sync-status"),
                token,
                None,
            )
            .await;
            status.body["runs"]
                .as_array()?
                .iter()
                .find(|r| r["entity"] == entity && r["status"] != "running")
                .cloned()
        },
    )
    .await
}

/// Subscribes the token's connection to `events` at `url`; answers the
/// subscription's id.
pub async fn subscribe(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    url: &str,
    events: &[&str],
) -> String {
    let subscribed = call(
        http,
        reqwest::Method::POST,
        format!("{base}/v1/webhooks"),
        token,
        Some(serde_json::json!({"url": url, "events": events})),
    )
    .await;
    assert_eq!(
        subscribed.status,
        reqwest::StatusCode::CREATED,
        "{}",
        subscribed.body
    );
    subscribed.body["subscription"]["id"]
        .as_str()
        .expect("a subscription id")
        .to_string()
}

/// A webhook receiver that fails its first `failures` deliveries.
pub struct Receiver {
    pub url: String,
    pub received: Arc<std::sync::Mutex<Vec<(axum::http::HeaderMap, String)>>>,
}

pub async fn receiver(failures: usize) -> Receiver {
    use axum::routing::post;
    let received: Arc<std::sync::Mutex<Vec<(axum::http::HeaderMap, String)>>> = Default::default();
    let seen = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        post(move |headers: axum::http::HeaderMap, body: String| {
            let seen = seen.clone();
            async move {
                let mut seen = seen.lock().unwrap();
                seen.push((headers, body));
                if seen.len() <= failures {
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    axum::http::StatusCode::NO_CONTENT
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Receiver { url, received }
}

/// `interlink adapter conform` (the conformance suite) on a built adapter
/// with `args`, allowed to reach loopback.
pub fn conform(adapter: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_interlink"))
        .args(["adapter", "conform"])
        .arg(adapter_path(adapter))
        .args(["--outbound-allow-network", "127.0.0.0/8"])
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap()
}

/// What a command printed, stdout then stderr.
pub fn output_text(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// How many vendors `GET /v1/vendors?page_size=3` answers through `demo`.
pub async fn first_vendor_page(demo: &Demo) -> usize {
    let reply = demo
        .call(reqwest::Method::GET, "/v1/vendors?page_size=3", None)
        .await;
    assert_eq!(reply.status, reqwest::StatusCode::OK, "{}", reply.body);
    reply.body["data"].as_array().unwrap().len()
}

/// The hot swap under load, for an adapter of the demo API whose `next`
/// build asks for pages with `count=` instead of `limit=`: four calls are
/// held in the upstream when `next` is uploaded as `adapter` (the upload
/// answers while the upstream still holds all four); see
/// [`four_calls_held_across`]. Catches an upload that waits for calls to
/// drain, besides what that catches. Answers the upload's reply.
pub async fn swap_while_four_calls_are_held(demo: &Demo, adapter: &str, next: &str) -> Reply {
    four_calls_held_across(demo, async {
        let uploaded = send(
            demo.http
                .put(demo.server.url(&format!("/v1/adapters/{adapter}")))
                .bearer_auth(demo.server.admin_key())
                .body(adapter_bytes(next)),
        )
        .await;
        assert_eq!(
            uploaded.status,
            reqwest::StatusCode::OK,
            "{}",
            uploaded.body
        );
        uploaded
    })
    .await
}

/// The hot swap under load: `swap` runs once the upstream holds four calls
/// of `demo`'s connection, and must return once a build that asks for
/// pages with `count=` instead of `limit=` serves; the upstream still holds
/// all four then. All four must succeed on the version they started with
/// (`limit=3`), and the next call run the new one (`count=3`). Catches a
/// swap that waits for calls to drain, one that fails or moves calls in
/// flight, and an old version (or a warm instance of it) serving after the
/// swap. Answers what `swap` answered.
pub async fn four_calls_held_across<T>(
    demo: &Demo,
    swap: impl std::future::Future<Output = T>,
) -> T {
    assert_eq!(first_vendor_page(demo).await, 3);
    demo.up.pause();
    let calls = futures::future::join_all((0..4).map(|_| first_vendor_page(demo)));
    let swap = async {
        eventually(
            std::time::Duration::from_secs(30),
            "four calls held by the upstream",
            || async { (demo.up.in_flight() == 4).then_some(()) },
        )
        .await;
        let swapped = swap.await;
        assert_eq!(
            demo.up.in_flight(),
            4,
            "the swap landed while they were held"
        );
        demo.up.resume();
        swapped
    };
    let (pages, swapped) = tokio::join!(calls, swap);
    assert_eq!(pages, [3, 3, 3, 3], "no call in flight fails");
    assert_eq!(first_vendor_page(demo).await, 3);
    let asked: Vec<String> = demo
        .up
        .pages_served("suppliers")
        .into_iter()
        .map(|p| p.query)
        .collect();
    assert_eq!(
        asked[1..],
        ["offset=0&limit=3"; 4]
            .into_iter()
            .chain(["offset=0&count=3"])
            .collect::<Vec<_>>(),
        "each call in flight on the version it started with, the next on the new one"
    );
    swapped
}

/// Starts `command` (an `interlink serve`) with its stdout piped, and
/// answers it with the base URL its first line says it listens on.
pub fn spawn_listening(command: &mut std::process::Command) -> (std::process::Child, String) {
    use std::io::{BufRead, BufReader};

    let mut child = command
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("interlink listening on ")
        .unwrap_or_else(|| panic!("no listening line: {line:?}"))
        .to_string();
    (child, base)
}

/// Runs `interlink serve` on `data_dir` and `adapters_dir` with `args`
/// (on `127.0.0.1:0` unless they say `--listen`), expecting it to refuse to
/// start: answers what it wrote to stderr once it exited with a failure.
/// Panics if it still runs after 30 s, exits successfully, or listens.
pub async fn refused_start(data_dir: &Path, adapters_dir: &Path, args: &[&str]) -> String {
    let listen: &[&str] = if args.contains(&"--listen") {
        &[]
    } else {
        &["--listen", "127.0.0.1:0"]
    };
    let mut starting = std::process::Command::new(env!("CARGO_BIN_EXE_interlink"))
        .arg("serve")
        .args(listen)
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--adapters-dir")
        .arg(adapters_dir)
        .args(args)
        .env_remove("INTERLINK_SECRET_KEY")
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let exited = loop {
        if let Some(status) = starting.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = starting.kill();
            panic!("the host is still running after 30 s with {args:?}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let refused = starting.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr).into_owned();
    assert!(!exited.success(), "started with {args:?}: {stderr}");
    assert!(refused.stdout.is_empty(), "it listened with {args:?}");
    stderr
}

/// A new, empty database on the test PostgreSQL server (whose admin URL
/// `cargo xtask test` hands over in `INTERLINK_TEST_POSTGRES_URL`): its URL.
pub async fn postgres_database() -> String {
    let admin = std::env::var("INTERLINK_TEST_POSTGRES_URL").expect(
        "the PostgreSQL tests need a server: run them with `cargo xtask test`, \
         or set INTERLINK_TEST_POSTGRES_URL to a server's admin URL",
    );
    interlink::storage::postgres::PostgresStorage::new_database(&admin)
        .await
        .unwrap()
}

/// Where a test's host keeps its data: the data folder's SQLite file, or a
/// database on the test PostgreSQL server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The database for one host, as [`ServerOptions::database_url`] takes
    /// it: none on SQLite (the data folder's own), a new, empty one on
    /// PostgreSQL (see [`postgres_database`], which fails the test when no
    /// server was handed over: a PostgreSQL test never passes unrun).
    pub async fn database(self) -> Option<String> {
        match self {
            Backend::Sqlite => None,
            Backend::Postgres => Some(postgres_database().await),
        }
    }

    /// Starts a host with `options` on a new database of this backend.
    pub async fn start(self, options: ServerOptions<'_>) -> Server {
        let database = self.database().await;
        Server::start_with(ServerOptions {
            database_url: database.as_deref(),
            ..options
        })
    }

    /// Starts a host serving `adapters` on a new database of this backend.
    pub async fn serve(self, adapters: &[&str]) -> Server {
        self.start(ServerOptions {
            adapters,
            ..Default::default()
        })
        .await
    }
}

/// Runs each named test on both backends: beside `async fn NAME(backend:
/// Backend)`, `on_both_backends!(NAME)` makes the tests `NAME::sqlite` and
/// `NAME::postgres`.
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(crate::common::Backend::Sqlite).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(crate::common::Backend::Postgres).await
            }
        }
    )+};
}
pub(crate) use on_both_backends;
