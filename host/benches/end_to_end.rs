//! What Interlink adds to a request: the same page read from the demo
//! upstream directly and through Interlink, at 1 and at 16 requests in flight.
//!
//! `cargo xtask build-adapters && cargo bench -p interlink --bench end_to_end`
//!
//! Four processes on loopback: this one (the load generator), the demo
//! upstream (this binary again, started with `--upstream`), the real
//! `interlink serve` with the example adapter and its default flags (logs at
//! `info`, written to a file), and a bare proxy (this binary again, started
//! with `--proxy`). The load generator is a minimal HTTP/1.1 client over
//! keep-alive connections, one per request in flight, so that it costs
//! little next to what it measures.
//!
//! - Direct: `GET /api/suppliers?limit=10` on the upstream.
//! - Through Interlink: `GET /v1/vendors?page_size=10`, the same ten
//!   suppliers mapped to unified vendors.
//! - Through the bare proxy: the upstream's response, forwarded byte for
//!   byte by a tokio server on the host's runtime (a worker per core) over
//!   one upstream connection per client connection; no HTTP framework, no
//!   work. It is the floor: what any proxy in Interlink's place adds on this
//!   machine (the extra hop and the wakeups it costs).
//!
//! At each level of requests in flight, the paths run in alternating
//! half-second slices (after a warm-up slice each), 10 seconds each in all,
//! so that the machine's drift hits all alike.
//!
//! With `INTERLINK_TEST_POSTGRES_URL` set (`cargo xtask with-postgres cargo
//! bench -p interlink --bench end_to_end`), a node on a new PostgreSQL
//! database is one more path, interleaved with the others: SQLite and
//! PostgreSQL side by side.
//!
//! Then the same page over the HTTP API and as the MCP tool `vendors_list`
//! (`POST /mcp`, a stateless MCP 2026-07-28 request), interleaved on the
//! same host, at 1 and 16 in flight: what the MCP door adds.
//!
//! With PostgreSQL, then the page through the PostgreSQL node alone and
//! through it and a second node on the same database (the requests in
//! flight spread over both), interleaved at 16 in flight, with the CPU the
//! nodes and the database server take per request.
//!
//! Last, the database statements of a read and of a write, on each
//! backend: a node started with `sqlx::query` logged at `debug` counts them
//! in its log (its beats, which do not depend on requests, apart).
//!
//! `INTERLINK_BENCH_SECONDS` changes the measured time of each path;
//! `INTERLINK_BENCH_OTHER=<path to another interlink binary>` adds it as a
//! path, interleaved with the others, to compare two builds.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Suppliers in the upstream.
const SUPPLIERS: usize = 100;
/// How long one path runs before the other takes over.
const SLICE: Duration = Duration::from_millis(500);

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// `--upstream`: serve the demo upstream until stdin closes.
fn upstream() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _up = rt.block_on(async {
        let options = demo_upstream::Options {
            seed: false,
            ..Default::default()
        };
        let up = demo_upstream::DemoUpstream::start("127.0.0.1:0".parse().unwrap(), options)
            .await
            .unwrap();
        for n in 0..SUPPLIERS {
            up.insert(
                "suppliers",
                serde_json::json!({
                    "displayName": format!("Supplier number {n} Industrial Components Ltd."),
                    "contact": {"email": format!("orders{n}@supplier{n}.example"), "phone": "+1 555 0100"},
                    "currencyCode": "USD",
                    "isActive": n % 3 != 0,
                }),
            );
        }
        println!("{}", up.base_url());
        up
    });
    // Serve until the parent closes our stdin (it ends or dies).
    let _ = std::io::Read::read(&mut std::io::stdin(), &mut [0u8; 1]);
}

/// `--proxy <upstream>`: serve the bare proxy until stdin closes.
fn proxy(upstream: String) {
    // The host's runtime: multi-threaded, a worker per core.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("http://{}", listener.local_addr().unwrap());
        listener
    });
    rt.spawn(async move {
        loop {
            let (client, _) = listener.accept().await.unwrap();
            client.set_nodelay(true).unwrap();
            tokio::spawn(forward(client, upstream.clone()));
        }
    });
    let _ = std::io::Read::read(&mut std::io::stdin(), &mut [0u8; 1]);
}

/// Answers each request on `client` with the upstream's page, read on one
/// upstream connection of its own.
async fn forward(mut client: TcpStream, upstream: String) {
    let mut to_upstream = Connection::open(&upstream, "/api/suppliers?limit=10", "demo-key").await;
    let mut request = Vec::with_capacity(4 << 10);
    loop {
        request.clear();
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            if client.read_buf(&mut request).await.unwrap_or(0) == 0 {
                return;
            }
        }
        to_upstream.round_trip().await;
        if client.write_all(&to_upstream.buf).await.is_err() {
            return;
        }
    }
}

/// A child process that is killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn first_line(child: &mut Child) -> String {
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    line.trim().to_string()
}

/// One keep-alive HTTP/1.1 connection sending the same request again and
/// again, reading each response into one reused buffer.
struct Connection {
    stream: TcpStream,
    request: Vec<u8>,
    buf: Vec<u8>,
    /// The `Server-Timing` metrics of the answers so far, summed by name
    /// (ms), and how many answers carried them.
    timing: Vec<(String, f64)>,
    timed: usize,
}

/// Adds the metrics of `header` (a `Server-Timing` value: `name;dur=ms, ...`)
/// to `sums`.
fn add_timing(sums: &mut Vec<(String, f64)>, header: &str) {
    for metric in header.split(',') {
        let Some((name, ms)) = metric.trim().split_once(";dur=") else {
            continue;
        };
        add_metric(sums, name, ms.parse().unwrap_or(0.0));
    }
}

/// Adds `ms` to the sum of metric `name` in `sums`.
fn add_metric(sums: &mut Vec<(String, f64)>, name: &str, ms: f64) {
    match sums.iter_mut().find(|(n, _)| n == name) {
        Some((_, sum)) => *sum += ms,
        None => sums.push((name.to_string(), ms)),
    }
}

/// The value of `Content-Length` in a response head, without allocating.
fn content_length(head: &[u8]) -> usize {
    head.split(|&b| b == b'\n')
        .find_map(|line| {
            let (name, value) = line.split_at(line.iter().position(|&b| b == b':')?);
            name.eq_ignore_ascii_case(b"content-length").then(|| {
                std::str::from_utf8(&value[1..])
                    .unwrap()
                    .trim()
                    .parse()
                    .unwrap()
            })
        })
        .expect("responses carry Content-Length")
}

impl Connection {
    async fn open(base: &str, path: &str, bearer: &str) -> Connection {
        let addr = base.trim_start_matches("http://");
        let stream = TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {bearer}\r\n\r\n"
        )
        .into_bytes();
        Connection {
            stream,
            request,
            buf: Vec::with_capacity(16 << 10),
            timing: Vec::new(),
            timed: 0,
        }
    }

    /// A connection that calls the MCP tool `tool` with `arguments` again
    /// and again: a stateless request of MCP 2026-07-28 over Streamable
    /// HTTP, as the Python SDK sends it, answered with plain JSON.
    async fn open_mcp(base: &str, bearer: &str, tool: &str, arguments: &str) -> Connection {
        let mut connection = Connection::open(base, "/mcp", bearer).await;
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"{tool}","arguments":{arguments},"_meta":{{"io.modelcontextprotocol/protocolVersion":"{MCP_VERSION}","io.modelcontextprotocol/clientInfo":{{"name":"end_to_end","version":"1"}},"io.modelcontextprotocol/clientCapabilities":{{}}}}}}}}"#
        );
        let addr = base.trim_start_matches("http://");
        connection.request = format!(
            "POST /mcp HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {bearer}\r\n\
             Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n\
             MCP-Protocol-Version: {MCP_VERSION}\r\nMcp-Method: tools/call\r\n\
             Mcp-Name: {tool}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes();
        connection
    }

    /// Sends the request and reads the whole response; answers its status.
    async fn round_trip(&mut self) -> u16 {
        self.stream.write_all(&self.request).await.unwrap();
        self.buf.clear();
        let total = loop {
            if self.buf.capacity() == self.buf.len() {
                self.buf.reserve(16 << 10);
            }
            let n = self.stream.read_buf(&mut self.buf).await.unwrap();
            assert!(n > 0, "the server closed the connection");
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let end = end + 4;
                break end + content_length(&self.buf[..end]);
            }
        };
        while self.buf.len() < total {
            self.buf.reserve(total - self.buf.len());
            let n = self.stream.read_buf(&mut self.buf).await.unwrap();
            assert!(n > 0, "the server closed the connection");
        }
        assert_eq!(self.buf.len(), total, "one response at a time");
        self.add_server_timing();
        std::str::from_utf8(&self.buf[9..12])
            .unwrap()
            .parse()
            .unwrap()
    }

    /// Adds the answer's `Server-Timing`, if it has one, to the sums.
    fn add_server_timing(&mut self) {
        let end = self.buf.windows(4).position(|w| w == b"\r\n\r\n");
        let head = std::str::from_utf8(&self.buf[..end.unwrap_or(0)]).unwrap_or("");
        let header = head.split("\r\n").find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("server-timing").then_some(value)
        });
        if let Some(header) = header {
            add_timing(&mut self.timing, header);
            self.timed += 1;
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.buf).into_owned()
    }
}

/// `connections` sending requests back to back for `duration`; answers
/// each request's latency.
async fn load(connections: &mut Vec<Connection>, duration: Duration) -> Vec<Duration> {
    let end = Instant::now() + duration;
    let tasks: Vec<_> = connections
        .drain(..)
        .map(|mut connection| {
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < end {
                    let started = Instant::now();
                    let status = connection.round_trip().await;
                    assert_eq!(status, 200, "{}", connection.text());
                    latencies.push(started.elapsed());
                }
                (connection, latencies)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        let (connection, l) = task.await.unwrap();
        connections.push(connection);
        latencies.extend(l);
    }
    latencies
}

/// Latencies of one path at one level of requests in flight, pooled over
/// the slices it ran.
struct Measured {
    latencies: Vec<Duration>,
    elapsed: Duration,
    /// CPU the server that answered used meanwhile.
    server_cpu: Duration,
    /// The answers' `Server-Timing` metrics, averaged (µs), when they
    /// carry it.
    timing: Vec<(String, f64)>,
}

impl Measured {
    fn percentile(&mut self, p: f64) -> Duration {
        self.latencies.sort_unstable();
        self.latencies[((self.latencies.len() - 1) as f64 * p) as usize]
    }

    fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }

    /// The answering server's CPU time per request.
    fn cpu_per_request(&self) -> Duration {
        self.server_cpu / self.latencies.len().max(1) as u32
    }
}

/// CPU time a process has used so far (user and system; Linux).
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let ticks: u64 = stat
        .rsplit(')')
        .next()
        .map(|rest| {
            rest.split_whitespace()
                .skip(11)
                .take(2)
                .filter_map(|t| t.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0);
    // USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

/// CPU time the processes `pids` have used so far.
fn cpu_times(pids: &[u32]) -> Duration {
    pids.iter().map(|&pid| cpu_time(pid)).sum()
}

/// Every process named `name` (on this machine), such as a database
/// server's.
fn processes_named(name: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .filter(|pid: &u32| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim() == name)
        })
        .collect()
}

/// What one path sends, again and again.
#[derive(Clone, Copy)]
enum Target<'a> {
    /// `GET path` on `base`, with a bearer token.
    Get {
        base: &'a str,
        path: &'a str,
        bearer: &'a str,
    },
    /// `GET path` with a bearer token, the connections spread over the
    /// nodes at `bases` (each keep-alive connection to one).
    Nodes {
        bases: &'a [String],
        path: &'a str,
        bearer: &'a str,
    },
    /// The MCP tool `tool` called with `arguments` (JSON) on `base`'s `/mcp`.
    Mcp {
        base: &'a str,
        bearer: &'a str,
        tool: &'a str,
        arguments: &'a str,
    },
}

impl Target<'_> {
    /// The `n`th connection of this path.
    async fn open(self, n: usize) -> Connection {
        match self {
            Target::Get { base, path, bearer } => Connection::open(base, path, bearer).await,
            Target::Nodes {
                bases,
                path,
                bearer,
            } => Connection::open(&bases[n % bases.len()], path, bearer).await,
            Target::Mcp {
                base,
                bearer,
                tool,
                arguments,
            } => Connection::open_mcp(base, bearer, tool, arguments).await,
        }
    }
}

/// Runs the paths in alternating slices of
/// `SLICE`, `seconds` each in all, after a warm-up slice of each, so that
/// the machine's drift hits all alike. `servers[i]`: the processes that
/// answer path `i`, whose CPU time is its server CPU.
async fn compare(
    paths: &[Target<'_>],
    servers: &[Vec<u32>],
    in_flight: usize,
    seconds: f64,
) -> Vec<Measured> {
    let mut connections = Vec::new();
    for target in paths {
        let mut open = Vec::new();
        for n in 0..in_flight {
            open.push(target.open(n).await);
        }
        connections.push(open);
    }
    for c in connections.iter_mut() {
        load(c, SLICE).await;
        for connection in c.iter_mut() {
            connection.timing.clear();
            connection.timed = 0;
        }
    }
    let mut measured: Vec<Measured> = paths
        .iter()
        .map(|_| Measured {
            latencies: Vec::new(),
            elapsed: Duration::ZERO,
            server_cpu: Duration::ZERO,
            timing: Vec::new(),
        })
        .collect();
    let slices = (seconds / SLICE.as_secs_f64()).ceil() as usize;
    for _ in 0..slices {
        for (i, c) in connections.iter_mut().enumerate() {
            let started = Instant::now();
            let cpu = cpu_times(&servers[i]);
            let latencies = load(c, SLICE).await;
            measured[i].elapsed += started.elapsed();
            measured[i].server_cpu += cpu_times(&servers[i]) - cpu;
            measured[i].latencies.extend(latencies);
        }
    }
    for (m, c) in measured.iter_mut().zip(&connections) {
        let timed: usize = c.iter().map(|c| c.timed).sum();
        for connection in c {
            for (name, ms) in &connection.timing {
                add_metric(&mut m.timing, name, *ms);
            }
        }
        for (_, sum) in &mut m.timing {
            *sum *= 1000.0 / timed.max(1) as f64;
        }
    }
    measured
}

/// The `Server-Timing` averages of `m`, in µs, on one line.
fn breakdown(m: &Measured) -> String {
    m.timing
        .iter()
        .map(|(name, us)| format!("{name} {us:.0}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--upstream") {
        return upstream();
    }
    if let Some(at) = args.iter().position(|a| a == "--proxy") {
        return proxy(args[at + 1].clone());
    }
    let seconds: f64 = std::env::var("INTERLINK_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10.0);
    let example = target_dir().join("adapters/example.wasm");
    assert!(
        example.exists(),
        "{} is missing: run `cargo xtask build-adapters`",
        example.display()
    );

    let mut up = Process(
        Command::new(std::env::current_exe().unwrap())
            .arg("--upstream")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let upstream_base = first_line(&mut up.0);
    let mut bare = Process(
        Command::new(std::env::current_exe().unwrap())
            .args(["--proxy", &upstream_base])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let bare_base = first_line(&mut bare.0);

    let dir = tempfile::tempdir().unwrap();
    let adapters = dir.path().join("adapters");
    std::fs::create_dir_all(&adapters).unwrap();
    std::fs::copy(&example, adapters.join("example.wasm")).unwrap();
    let binary = env!("CARGO_BIN_EXE_interlink");
    let mut hosts = vec![Host::start(binary, &adapters, &dir.path().join("data"))];

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // With PostgreSQL: a node on a new database, the same host as the
    // SQLite one otherwise.
    let database = std::env::var("INTERLINK_TEST_POSTGRES_URL")
        .ok()
        .map(|admin| {
            rt.block_on(interlink::storage::postgres::PostgresStorage::new_database(
                &admin,
            ))
            .unwrap()
        });
    let pg_data = dir.path().join("node1");
    if let Some(database) = &database {
        hosts.push(Host::start_with(
            binary,
            &adapters,
            &pg_data,
            &["--database-url", database],
        ));
    }
    // The SQLite host again, with the audit trail off.
    let audit_off = hosts.len();
    hosts.push(Host::start_with(
        binary,
        &adapters,
        &dir.path().join("audit-off"),
        &["--audit-log", "off"],
    ));
    if let Ok(other) = std::env::var("INTERLINK_BENCH_OTHER") {
        hosts.push(Host::start(&other, &adapters, &dir.path().join("other")));
    }

    rt.block_on(async {
        let mut tokens = Vec::new();
        for host in &hosts {
            tokens.push(host.connect(&upstream_base).await);
        }

        println!(
            "GET a page of 10 suppliers: directly, forwarded by a bare proxy, and as unified \
             vendors through Interlink (example adapter){}; {seconds} s per path and level",
            if database.is_some() {
                ", on SQLite and on PostgreSQL"
            } else {
                ""
            }
        );
        println!(
            "{:<12} {:>9} {:>10} {:>10} {:>10} {:>14}",
            "path", "in flight", "p50 us", "p99 us", "req/s", "server CPU us"
        );
        let mut paths = vec![
            Target::Get {
                base: &upstream_base,
                path: "/api/suppliers?limit=10",
                bearer: "demo-key",
            },
            Target::Get {
                base: &bare_base,
                path: "/v1/vendors?page_size=10",
                bearer: "none",
            },
        ];
        let mut servers = vec![vec![up.0.id()], vec![bare.0.id()]];
        let mut names = vec!["direct", "bare proxy", "interlink"];
        if database.is_some() {
            names.push("postgres");
        }
        names.push("audit off");
        names.push("other");
        for (host, token) in hosts.iter().zip(&tokens) {
            paths.push(Target::Get {
                base: &host.base,
                path: "/v1/vendors?page_size=10",
                bearer: token,
            });
            servers.push(vec![host.process.0.id()]);
        }
        let mut p50 = vec![vec![Duration::ZERO; paths.len()]; 2];
        let mut rates = vec![vec![0.0; paths.len()]; 2];
        let mut breakdowns = Vec::new();
        for (i, in_flight) in [1, 16].into_iter().enumerate() {
            let measured = compare(&paths, &servers, in_flight, seconds).await;
            for (j, (name, mut m)) in names.iter().zip(measured).enumerate() {
                p50[i][j] = m.percentile(0.5);
                rates[i][j] = m.rate();
                println!(
                    "{name:<12} {in_flight:>9} {:>10.0} {:>10.0} {:>10.0} {:>14.0}",
                    us(p50[i][j]),
                    us(m.percentile(0.99)),
                    rates[i][j],
                    us(m.cpu_per_request())
                );
                if !m.timing.is_empty() {
                    breakdowns.push(format!("{name:<12} {in_flight:>9}  {}", breakdown(&m)));
                }
            }
        }
        println!("where a request's time went, by its Server-Timing (mean, us):");
        for line in &breakdowns {
            println!("{line}");
        }
        let (direct, floor, interlink) = (0, 1, 2);
        let added = |path: usize| us(p50[0][path]) - us(p50[0][direct]);
        println!(
            "added latency at 1 in flight: {:.0} us p50 (target <= 200); the bare proxy adds {:.0}",
            added(interlink),
            added(floor),
        );
        println!(
            "through Interlink at 16 in flight: {:.0} req/s (target >= 5000), {:.2}x direct, \
             {:.2}x the bare proxy",
            rates[1][interlink],
            rates[1][interlink] / rates[1][direct],
            rates[1][interlink] / rates[1][floor],
        );
        if database.is_some() {
            let postgres = 3;
            println!(
                "one node on PostgreSQL: {:.0} us added at 1 in flight ({:.2}x SQLite's, target \
                 <= 1.3), {:.0} req/s at 16 in flight ({:.2}x SQLite's, target >= 0.77)",
                added(postgres),
                added(postgres) / added(interlink),
                rates[1][postgres],
                rates[1][postgres] / rates[1][interlink],
            );
        }
        let off = audit_off + 2;
        println!(
            "the audit trail on (the default) against off: {:.0} against {:.0} us added at 1 in \
             flight ({:.2}x, target <= 1.2), {:.0} against {:.0} req/s at 16 ({:.2}x)",
            added(interlink),
            added(off),
            added(interlink) / added(off),
            rates[1][interlink],
            rates[1][off],
            rates[1][off] / rates[1][interlink],
        );
        mcp_next_to_http(&hosts[0], &tokens[0], seconds).await;
        if let Some(database) = &database {
            two_nodes(binary, database, &adapters, &hosts[1], &tokens[1], seconds).await;
        }
        println!();
        println!(
            "database statements per request, counted in a node's log (`sqlx::query` at \
             `debug`) over 5,000 reads and 50 writes, after a warm-up"
        );
        println!(
            "{:<12} {:>12} {:>12} {:>24}",
            "database", "per read", "per write", "beats per node (per s)"
        );
        let sqlite = Counting::start(binary, &adapters, &dir.path().join("count-sqlite"), &[]);
        let token = sqlite.host.connect(&upstream_base).await;
        sqlite.report("sqlite", &token).await;
        drop(sqlite);
        if let Some(database) = &database {
            let counting = dir.path().join("count-postgres");
            share_keys(&pg_data, &counting);
            let node = Counting::start(binary, &adapters, &counting, &["--database-url", database]);
            node.host.wait_ready().await;
            node.report("postgres", &tokens[1]).await;
        }
    });
    drop(hosts);
    drop(bare);
    drop(up);
}

/// The MCP protocol version the MCP path speaks (stateless requests).
const MCP_VERSION: &str = "2026-07-28";

/// The same read over the HTTP API and as an MCP tool call, on one host,
/// interleaved: what the MCP door adds (Streamable HTTP, JSON-RPC, the
/// tool lookup and the bounded page) to the HTTP API's read.
async fn mcp_next_to_http(host: &Host, token: &str, seconds: f64) {
    let paths = [
        Target::Get {
            base: &host.base,
            path: "/v1/vendors?page_size=10",
            bearer: token,
        },
        Target::Mcp {
            base: &host.base,
            bearer: token,
            tool: "vendors_list",
            arguments: r#"{"page_size":10}"#,
        },
    ];
    let mut check = paths[1].open(0).await;
    assert_eq!(check.round_trip().await, 200, "{}", check.text());
    let answer = check.text();
    assert!(
        answer.contains(r#""isError":false"#) && answer.contains("Supplier number"),
        "the MCP read answers the page: {answer}"
    );
    println!();
    println!(
        "the same page (10 vendors) over the HTTP API and as the MCP tool `vendors_list` \
         (one host, interleaved); {seconds} s per path and level"
    );
    println!(
        "{:<12} {:>9} {:>10} {:>10} {:>10} {:>14}",
        "path", "in flight", "p50 us", "p99 us", "req/s", "server CPU us"
    );
    let servers = [vec![host.process.0.id()], vec![host.process.0.id()]];
    for in_flight in [1, 16] {
        let measured = compare(&paths, &servers, in_flight, seconds).await;
        let mut p50 = [0.0; 2];
        for (i, (name, mut m)) in ["http", "mcp"].into_iter().zip(measured).enumerate() {
            p50[i] = us(m.percentile(0.5));
            println!(
                "{name:<12} {in_flight:>9} {:>10.0} {:>10.0} {:>10.0} {:>14.0}",
                p50[i],
                us(m.percentile(0.99)),
                m.rate(),
                us(m.cpu_per_request())
            );
        }
        println!(
            "MCP read at {in_flight} in flight: {:.2}x the HTTP read's p50 (target <= 1.5)",
            p50[1] / p50[0]
        );
    }
}

/// What every node of a deployment shares, besides the database.
const SHARED_FILES: &[&str] = &[
    "admin.key",
    "secret.key",
    "platform-key.pem",
    "platform-cert.pem",
];

/// Gives the node whose data folder is `to` the keys of the node at
/// `from`.
fn share_keys(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for file in SHARED_FILES {
        std::fs::copy(from.join(file), to.join(file)).unwrap();
    }
}

/// The page through `first`, a node on PostgreSQL, and through it and a
/// second node on the same database (the requests in flight spread over
/// both), interleaved, at 16 in flight; with the CPU each takes per
/// request, the nodes' and the database server's.
async fn two_nodes(
    binary: &str,
    database: &str,
    adapters: &std::path::Path,
    first: &Host,
    token: &str,
    seconds: f64,
) {
    let second_data = first.data.with_file_name("node2");
    share_keys(&first.data, &second_data);
    let second = Host::start_with(
        binary,
        adapters,
        &second_data,
        &["--database-url", database],
    );
    second.wait_ready().await;
    let one = [first.base.clone()];
    let both = [first.base.clone(), second.base.clone()];
    let paths = [
        Target::Nodes {
            bases: &one,
            path: "/v1/vendors?page_size=10",
            bearer: token,
        },
        Target::Nodes {
            bases: &both,
            path: "/v1/vendors?page_size=10",
            bearer: token,
        },
    ];
    let (a, b) = (first.process.0.id(), second.process.0.id());
    let servers = [vec![a], vec![a, b]];
    let database_server = processes_named("postgres");
    println!();
    println!(
        "the same page through one node on PostgreSQL and through two nodes sharing the \
         database, interleaved; {seconds} s per line"
    );
    println!(
        "{:<12} {:>9} {:>10} {:>10} {:>10} {:>18} {:>18}",
        "nodes",
        "in flight",
        "p50 us",
        "p99 us",
        "req/s",
        "nodes' CPU us/req",
        "database CPU us/req"
    );
    let database_cpu = cpu_times(&database_server);
    let mut measured = compare(&paths, &servers, 16, seconds).await;
    let database_cpu = cpu_times(&database_server) - database_cpu;
    let requests: usize = measured.iter().map(|m| m.latencies.len()).sum();
    let per_request = us(database_cpu) / requests.max(1) as f64;
    for (nodes, m) in [1, 2].into_iter().zip(measured.iter_mut()) {
        println!(
            "{nodes:<12} {:>9} {:>10.0} {:>10.0} {:>10.0} {:>18.0} {:>18.1}",
            16,
            us(m.percentile(0.5)),
            us(m.percentile(0.99)),
            m.rate(),
            us(m.cpu_per_request()),
            per_request,
        );
    }
    println!(
        "two nodes: {:.2}x one node's req/s on these shared cores (target >= 1.6 with a core \
         each)",
        measured[1].rate() / measured[0].rate()
    );
}

/// A node whose log counts its database statements.
struct Counting {
    host: Host,
    log: PathBuf,
}

impl Counting {
    /// Starts `binary` logging each database statement (`sqlx::query` at
    /// `debug`) and nothing else below `warn`.
    fn start(
        binary: &str,
        adapters: &std::path::Path,
        data: &std::path::Path,
        args: &[&str],
    ) -> Counting {
        let host = Host::start_logging(binary, adapters, data, args, "warn,sqlx::query=debug");
        Counting {
            host,
            log: data.with_extension("log"),
        }
    }

    /// Statements logged so far, and how many of them were beats.
    fn statements(&self) -> (usize, usize) {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines = log.lines().filter(|l| l.contains(" sqlx::query:"));
        lines.fold((0, 0), |(all, beats), line| {
            (all + 1, beats + usize::from(line.contains("pg_notify")))
        })
    }

    /// Statements `requests` took, beats excluded: counted once the log
    /// stops growing (a call frees its upstream slot after it answers).
    async fn counted(&self, requests: impl Future<Output = ()>) -> (f64, f64) {
        let (before, beats_before) = self.statements();
        let started = Instant::now();
        requests.await;
        let mut last = self.statements();
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let now = self.statements();
            if now == last {
                break;
            }
            last = now;
        }
        let elapsed = started.elapsed().as_secs_f64();
        let beats = last.1 - beats_before;
        ((last.0 - before - beats) as f64, beats as f64 / elapsed)
    }

    /// Counts the statements of 5,000 reads (back to back on one
    /// keep-alive connection, so that what a node does per second, not
    /// per request, weighs little) and 50 writes (each with an idempotency
    /// key; the example adapter allows 120 writes a minute) with `token`,
    /// and prints them per request.
    async fn report(&self, name: &str, token: &str) {
        let http = reqwest::Client::new();
        let base = &self.host.base;
        let mut reader = Connection::open(base, "/v1/vendors?page_size=10", token).await;
        let mut read = async || assert_eq!(reader.round_trip().await, 200);
        let write = |n: usize| {
            let http = http.clone();
            async move {
                let status = http
                    .post(format!("{base}/v1/vendors"))
                    .bearer_auth(token)
                    .header("Idempotency-Key", format!("{name}-{n}"))
                    .json(&serde_json::json!({"name": format!("Counted vendor {n}")}))
                    .send()
                    .await
                    .unwrap()
                    .status();
                assert_eq!(status, 201);
            }
        };
        for n in 0..50 {
            read().await;
            if n < 10 {
                write(n).await;
            }
        }
        let (reads, beats) = self
            .counted(async {
                for _ in 0..5_000 {
                    read().await;
                }
            })
            .await;
        let (writes, _) = self
            .counted(async {
                for n in 10..60 {
                    write(n).await;
                }
            })
            .await;
        println!(
            "{name:<12} {:>12.3} {:>12.2} {:>24.1}",
            reads / 5_000.0,
            writes / 50.0,
            beats
        );
    }
}

/// A running `interlink serve` with the example adapter.
struct Host {
    process: Process,
    base: String,
    data: PathBuf,
}

impl Host {
    /// Starts `binary` with its default flags (logs at `info`, to a file),
    /// allowed to reach the loopback upstream.
    fn start(binary: &str, adapters: &std::path::Path, data: &std::path::Path) -> Host {
        Host::start_with(binary, adapters, data, &[])
    }

    /// [`Host::start`] with more `interlink serve` flags.
    fn start_with(
        binary: &str,
        adapters: &std::path::Path,
        data: &std::path::Path,
        args: &[&str],
    ) -> Host {
        let log = std::env::var("INTERLINK_BENCH_LOG").unwrap_or_else(|_| "info".into());
        Host::start_logging(binary, adapters, data, args, &log)
    }

    /// [`Host::start_with`] logging what `log` (`RUST_LOG`) says.
    fn start_logging(
        binary: &str,
        adapters: &std::path::Path,
        data: &std::path::Path,
        args: &[&str],
        log: &str,
    ) -> Host {
        // Builds before the network policy had no such flag (and no
        // policy); before the per-purpose policies, one flag for all.
        let help = Command::new(binary)
            .args(["serve", "--help"])
            .output()
            .unwrap();
        let help = String::from_utf8_lossy(&help.stdout);
        let allow: &[&str] = if help.contains("adapter-allow-network") {
            &["--adapter-allow-network", "*=127.0.0.0/8"]
        } else if help.contains("outbound-allow-network") {
            &["--outbound-allow-network", "127.0.0.0/8"]
        } else {
            &[]
        };
        let mut process = Process(
            Command::new(binary)
                .args(["serve", "--listen", "127.0.0.1:0"])
                .args(allow)
                .arg("--data-dir")
                .arg(data)
                .arg("--adapters-dir")
                .arg(adapters)
                .args(args)
                .env_remove("INTERLINK_SECRET_KEY")
                // The token's rate limit is checked (its cost is measured)
                // but set past what the load generator sends.
                .env("INTERLINK_API_REQUESTS_PER_MINUTE", "1000000000")
                .env("RUST_LOG", log)
                .stdout(Stdio::piped())
                .stderr(std::fs::File::create(data.with_extension("log")).unwrap())
                .spawn()
                .unwrap(),
        );
        let base = first_line(&mut process.0)
            .strip_prefix("interlink listening on ")
            .expect("the listening line")
            .to_string();
        Host {
            process,
            base,
            data: data.to_path_buf(),
        }
    }

    /// Connects the example adapter to the upstream, once the host has
    /// loaded its adapters; answers the token.
    async fn connect(&self, upstream: &str) -> String {
        self.wait_ready().await;
        let http = reqwest::Client::new();
        let admin_key = std::fs::read_to_string(self.data.join("admin.key")).unwrap();
        let connected: serde_json::Value = http
            .post(format!("{}/v1/connections", self.base))
            .bearer_auth(admin_key.trim())
            .json(&serde_json::json!({
                "adapter": "example",
                "config": {"base_url": upstream},
                "credentials": {"api_key": "demo-key"},
            }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        connected["token"].as_str().expect("a token").to_string()
    }

    /// Waits until the host has loaded its adapters.
    async fn wait_ready(&self) {
        let http = reqwest::Client::new();
        let healthz = format!("{}/healthz", self.base);
        while !http
            .get(&healthz)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
