//! The fault soak, through the real binary: one tenant's connections point
//! at a system that fails in every way it can (`demo_upstream::faults`:
//! hangs before the head and mid-body, resets, drips, oversized, invalid
//! JSON and UTF-8, lying lengths, 5xx storms with and without
//! `Retry-After`), and loop over it, while another tenant reads and writes
//! through a healthy system. Calm blocks (the healthy tenant alone) and
//! stormy ones (the faults too) alternate, so both see the same machine.
//!
//! It shows that every fault gives the faulty tenant a typed error (502 or
//! 504 with its code) within the call deadline; that the healthy tenant has
//! no failed request and its p99 under the faults stays within twice its
//! calm p99; that no write is lost or sent twice (each request reaches its
//! system once, and the healthy system received exactly the accepted
//! writes); and that the host's open files and memory return to their
//! level once the faults stop.
//!
//! It runs for `INTERLINK_SOAK_SECONDS` (15 by default); `cargo xtask soak
//! --duration 5m` runs it longer. It prints its table either way.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::common::*;
use demo_upstream::faults::{Fault, FaultUpstream};
use demo_upstream::{DemoUpstream, Options};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// `--call-timeout`: the longest a fault may hold a call.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);
/// How much later than the call deadline a timed-out call may be answered.
const ANSWER_SLACK: Duration = Duration::from_millis(1500);
/// A calm or a stormy block.
const BLOCK: Duration = Duration::from_millis(1500);
/// The healthy tenant's pace: each reader's requests, and its writes (the
/// example adapter allows 120 writes a minute).
const READ_EVERY: Duration = Duration::from_millis(10);
const WRITE_EVERY: Duration = Duration::from_millis(600);
/// The faulty tenant's pace on each fault, and its writes among its
/// requests (one in `FAULTY_WRITE_EACH`).
const FAULT_EVERY: Duration = Duration::from_millis(200);
const FAULTY_WRITE_EACH: u64 = 5;
/// Open files the host may have past its level once the faults stop, and
/// memory: 8 MiB of the allocator's, and 8 MiB for SQLite's page caches,
/// which the audit trail's inserts fill (2 MB a pooled connection at most).
const FILES_SLACK: usize = 2;
const RSS_SLACK: u64 = 16 << 20;

/// How long the soak runs.
fn duration() -> Duration {
    let seconds = std::env::var("INTERLINK_SOAK_SECONDS")
        .ok()
        .map(|s| s.parse().expect("INTERLINK_SOAK_SECONDS: whole seconds"))
        .unwrap_or(15);
    Duration::from_secs(seconds)
}

/// An answer: its status, its error code (if any) and how long it took;
/// `None` for no answer at all.
struct Answer {
    status: StatusCode,
    code: Option<String>,
    took: Duration,
}

async fn send(http: &reqwest::Client, request: reqwest::RequestBuilder) -> Option<Answer> {
    let started = Instant::now();
    let response = http.execute(request.build().ok()?).await.ok()?;
    let status = response.status();
    let has_id = response.headers().contains_key("x-request-id");
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let code = body["error"]["code"].as_str().map(String::from);
    if !has_id || (!status.is_success() && code.is_none()) {
        // An answer without a request id or a typed error is none.
        return None;
    }
    Some(Answer {
        status,
        code,
        took: started.elapsed(),
    })
}

/// The healthy tenant: a connection of the example adapter to a healthy
/// system.
struct Healthy {
    http: reqwest::Client,
    base: String,
    token: String,
    /// Writes the API accepted (201), by the name they created.
    accepted: std::sync::Mutex<Vec<String>>,
}

/// What the healthy tenant saw in a block.
#[derive(Default)]
struct Block {
    latencies: Vec<Duration>,
    failures: Vec<String>,
}

impl Block {
    fn add(&mut self, other: Block) {
        self.latencies.extend(other.latencies);
        self.failures.extend(other.failures);
    }
}

impl Healthy {
    /// Reads on two paced loops and writes on a third, until `until`.
    async fn block(&self, until: Instant, round: usize) -> Block {
        let reader = || async {
            let mut block = Block::default();
            let mut every = tokio::time::interval(READ_EVERY);
            while Instant::now() < until {
                every.tick().await;
                let request = self
                    .http
                    .get(format!("{}/v1/vendors?page_size=3", self.base))
                    .bearer_auth(&self.token);
                self.record(&mut block, send(&self.http, request).await, "read");
            }
            block
        };
        let writer = async {
            let mut block = Block::default();
            let mut every = tokio::time::interval(WRITE_EVERY);
            let mut n = 0;
            while Instant::now() < until {
                every.tick().await;
                n += 1;
                let name = format!("soak-{round}-{n}");
                let request = self
                    .http
                    .post(format!("{}/v1/vendors", self.base))
                    .bearer_auth(&self.token)
                    .json(&json!({"name": name}));
                let answer = send(&self.http, request).await;
                if answer
                    .as_ref()
                    .is_some_and(|a| a.status == StatusCode::CREATED)
                {
                    self.accepted.lock().unwrap().push(name);
                }
                self.record(&mut block, answer, "write");
            }
            block
        };
        let (a, b, c) = tokio::join!(reader(), reader(), writer);
        let mut block = a;
        block.add(b);
        block.add(c);
        block
    }

    fn record(&self, block: &mut Block, answer: Option<Answer>, what: &str) {
        match answer {
            Some(a) if a.status.is_success() => block.latencies.push(a.took),
            Some(a) => block
                .failures
                .push(format!("{what}: {} {:?}", a.status, a.code)),
            None => block.failures.push(format!("{what}: no typed answer")),
        }
    }
}

/// What the faulty tenant saw on one fault.
#[derive(Default)]
struct FaultStats {
    requests: u64,
    /// Answers by status and code.
    errors: BTreeMap<String, u64>,
    slowest: Duration,
    /// Answers that were not a typed 502 or 504 in time.
    wrong: Vec<String>,
}

/// The faulty tenant's connection to one fault.
struct Faulty {
    fault: Fault,
    token: String,
    stats: FaultStats,
}

impl Faulty {
    /// One request (a read, or a write in every [`FAULTY_WRITE_EACH`]),
    /// and what it got.
    async fn once(&mut self, http: &reqwest::Client, base: &str) {
        let stats = &mut self.stats;
        stats.requests += 1;
        let request = if stats.requests.is_multiple_of(FAULTY_WRITE_EACH) {
            http.post(format!("{base}/v1/vendors"))
                .json(&json!({"name": "never stored"}))
        } else {
            http.get(format!("{base}/v1/vendors?page_size=3"))
        };
        match send(http, request.bearer_auth(&self.token)).await {
            Some(a) => {
                let typed = matches!(
                    (a.status, a.code.as_deref()),
                    (StatusCode::BAD_GATEWAY, Some("upstream_error"))
                        | (StatusCode::GATEWAY_TIMEOUT, Some("adapter_timeout"))
                );
                let label = format!("{} {}", a.status.as_u16(), a.code.unwrap_or_default());
                if !typed || a.took > CALL_TIMEOUT + ANSWER_SLACK {
                    stats.wrong.push(format!("{label} after {:?}", a.took));
                }
                stats.slowest = stats.slowest.max(a.took);
                *stats.errors.entry(label).or_default() += 1;
            }
            None => stats.wrong.push("no typed answer".into()),
        }
    }

    /// Requests at [`FAULT_EVERY`], the first after `offset`, until `stop`.
    async fn run(
        mut self,
        http: reqwest::Client,
        base: String,
        offset: Duration,
        stop: Arc<AtomicBool>,
    ) -> Self {
        let start = tokio::time::Instant::now() + offset;
        let mut every = tokio::time::interval_at(start, FAULT_EVERY);
        while !stop.load(Ordering::SeqCst) {
            every.tick().await;
            self.once(&http, &base).await;
        }
        self
    }
}

/// The `q`th quantile of `latencies`.
fn quantile(latencies: &mut [Duration], q: f64) -> Duration {
    latencies.sort();
    let at = ((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len());
    latencies[at - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn faults_of_one_tenants_system_fail_only_its_calls() {
    let healthy_up = DemoUpstream::start("127.0.0.1:0".parse().unwrap(), Options::default())
        .await
        .unwrap();
    let faults = FaultUpstream::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let call_timeout = CALL_TIMEOUT.as_secs().to_string();
    let server = Server::start_with(ServerOptions {
        adapters: &["example"],
        credits: Some(32),
        args: &[
            "--call-timeout",
            &call_timeout,
            "--max-response-mib",
            "1",
            "--api-requests-per-minute",
            "0",
        ],
        ..Default::default()
    });
    let http = reqwest::Client::builder()
        .timeout(CALL_TIMEOUT + Duration::from_secs(10))
        .build()
        .unwrap();
    let (_, token) = connect_example(&http, &server, &healthy_up.base_url()).await;
    let healthy = Healthy {
        http: http.clone(),
        base: server.base.clone(),
        token,
        accepted: Default::default(),
    };
    let mut faulty = Vec::new();
    let only = std::env::var("INTERLINK_SOAK_FAULTS").unwrap_or_default();
    for fault in Fault::ALL
        .into_iter()
        .filter(|f| only.is_empty() || only.split(',').any(|n| n == f.name()))
    {
        let (_, token) = connect_example(&http, &server, &faults.base_url(fault)).await;
        faulty.push(Faulty {
            fault,
            token,
            stats: FaultStats::default(),
        });
    }

    // Warm up every path, then take the host's level.
    let warm = healthy.block(Instant::now() + BLOCK / 4, 0).await;
    assert!(warm.failures.is_empty(), "{:?}", warm.failures);
    futures::future::join_all(faulty.iter_mut().map(|f| f.once(&http, &server.base))).await;
    let (files_before, rss_before) = (server.open_files(), server.rss());

    let started = Instant::now();
    let rounds = (duration().as_secs_f64() / (2.0 * BLOCK.as_secs_f64())).ceil() as usize;
    let (mut calm, mut stormy) = (Block::default(), Block::default());
    for round in 1..=rounds.max(1) {
        calm.add(healthy.block(Instant::now() + BLOCK, round * 2).await);

        let stop = Arc::new(AtomicBool::new(false));
        // The faulty tenant's requests spread evenly, not in bursts.
        let spread = FAULT_EVERY / faulty.len() as u32;
        let loops: Vec<_> = faulty
            .drain(..)
            .enumerate()
            .map(|(i, f)| {
                let offset = spread * i as u32;
                let run = f.run(http.clone(), server.base.clone(), offset, stop.clone());
                tokio::spawn(run)
            })
            .collect();
        stormy.add(healthy.block(Instant::now() + BLOCK, round * 2 + 1).await);
        stop.store(true, Ordering::SeqCst);
        for run in loops {
            faulty.push(run.await.unwrap());
        }
    }
    let soaked = started.elapsed();

    // The host's level, once the faults have stopped.
    let deadline = Instant::now() + Duration::from_secs(20);
    let (files_after, rss_after) = loop {
        let (files, rss) = (server.open_files(), server.rss());
        if (files <= files_before + FILES_SLACK && rss <= rss_before + RSS_SLACK)
            || Instant::now() > deadline
        {
            break (files, rss);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    let calm_p50 = quantile(&mut calm.latencies, 0.5);
    let calm_p99 = quantile(&mut calm.latencies, 0.99);
    let stormy_p50 = quantile(&mut stormy.latencies, 0.5);
    let stormy_p99 = quantile(&mut stormy.latencies, 0.99);
    println!("\nfault soak: {soaked:.0?}, {rounds} calm and {rounds} stormy blocks of {BLOCK:?}\n");
    println!(
        "{:<24} {:>9}  {:<44} {:>10}",
        "fault", "requests", "errors by code", "slowest"
    );
    for Faulty { fault, stats, .. } in &faulty {
        let errors: Vec<String> = stats
            .errors
            .iter()
            .map(|(code, n)| format!("{code}: {n}"))
            .collect();
        println!(
            "{:<24} {:>9}  {:<44} {:>10}",
            fault.name(),
            stats.requests,
            errors.join(", "),
            ms(stats.slowest)
        );
    }
    println!(
        "\nhealthy tenant   calm: {} requests, p50 {}, p99 {}   under faults: {} requests, p50 {}, p99 {}   failed: {}",
        calm.latencies.len(),
        ms(calm_p50),
        ms(calm_p99),
        stormy.latencies.len(),
        ms(stormy_p50),
        ms(stormy_p99),
        calm.failures.len() + stormy.failures.len()
    );
    println!(
        "host             open files {files_before} -> {files_after}, RSS {} -> {}\n",
        mib(rss_before),
        mib(rss_after)
    );

    // The faulty tenant: a typed error for each, in time; each request
    // reached the system once.
    for Faulty { fault, stats, .. } in &faulty {
        assert!(stats.requests > 1, "{}: no requests", fault.name());
        assert!(
            stats.wrong.is_empty(),
            "{}: {:?}",
            fault.name(),
            stats.wrong
        );
        assert_eq!(
            faults.requests(*fault),
            stats.requests,
            "{}: each request reached the system once",
            fault.name()
        );
    }
    // The healthy tenant: nothing failed, the p99 held, every accepted
    // write reached its system once.
    assert!(calm.failures.is_empty(), "{:?}", calm.failures);
    assert!(stormy.failures.is_empty(), "{:?}", stormy.failures);
    assert!(
        stormy_p99 <= calm_p99 * 2,
        "the healthy tenant's p99 went from {} to {} under the faults",
        ms(calm_p99),
        ms(stormy_p99)
    );
    let mut received: Vec<String> = healthy_up
        .received_writes()
        .into_iter()
        .map(|w| {
            assert_eq!(
                (w.method.as_str(), w.path.as_str()),
                ("POST", "/api/suppliers")
            );
            w.body["displayName"].as_str().unwrap().to_string()
        })
        .collect();
    let mut accepted = healthy.accepted.lock().unwrap().clone();
    received.sort();
    accepted.sort();
    assert!(!accepted.is_empty());
    assert_eq!(received, accepted, "writes lost or sent twice");
    // The host's level.
    assert!(
        files_after <= files_before + FILES_SLACK,
        "open files {files_before} -> {files_after}"
    );
    assert!(
        rss_after <= rss_before + RSS_SLACK,
        "RSS {} -> {}",
        mib(rss_before),
        mib(rss_after)
    );
    eventually(
        Duration::from_secs(10),
        "the host closing every connection to the failing system",
        || async { (faults.open_connections() == 0).then_some(()) },
    )
    .await;
}
