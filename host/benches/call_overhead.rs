//! What a call costs: through a fresh instance (the host's real path, minus
//! HTTP), on a reused instance, and as native code.
//!
//! `cargo xtask build-adapters && cargo bench -p interlink --bench call_overhead`
//!
//! The call is the example adapter's `list` of vendors: the guest builds the
//! URL, calls the host's `http.send` (allow-list check included; the
//! response is a canned ~2.3 KB page of 10 suppliers instead of a socket),
//! parses the page, maps it to unified records and serializes them; the host
//! validates the JSON it gets back. The native floor runs the same mapping
//! code (`interlink_adapter_example::map_page`) compiled for the host.
//!
//! The three paths run interleaved, one call each per round, so that the
//! machine's drift hits them alike; the report gives medians and their ratios.
//!
//! Then the same call by the same adapter written in Python
//! (`adapters/example-python`, built by componentize-py), interleaved with
//! the Rust one: on a fresh instance, on a warm instance from the adapter's
//! pool (what the host does for Python adapters), and on one held instance.

use std::sync::Arc;
use std::time::{Duration, Instant};

use interlink::runtime::{
    CallContext, ListRequest, MemoryKv, Runtime, RuntimeConfig, Secrets, Services,
};
use workload::{Canned, page_body};

mod workload;

const WARMUP: usize = 300;
const ROUNDS: usize = 3000;
const PYTHON_WARMUP: usize = 20;
const PYTHON_ROUNDS: usize = 300;

fn adapter_bytes(file: &str) -> Vec<u8> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let path = target.join("adapters").join(file);
    std::fs::read(&path).unwrap_or_else(|_| {
        panic!(
            "{} is missing: run `cargo xtask build-adapters`",
            path.display()
        )
    })
}

struct Samples {
    name: &'static str,
    times: Vec<Duration>,
}

impl Samples {
    fn new(name: &'static str) -> Self {
        Samples {
            name,
            times: Vec::with_capacity(ROUNDS),
        }
    }

    fn percentile(&mut self, p: f64) -> Duration {
        self.times.sort_unstable();
        self.times[((self.times.len() - 1) as f64 * p) as usize]
    }
}

/// This process's minor page faults so far (Linux; 0 elsewhere).
fn minor_faults() -> u64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            // The fields after the parenthesized command name; minflt is the 10th field overall.
            let rest = &stat[stat.rfind(')')? + 2..];
            rest.split(' ').nth(7)?.parse().ok()
        })
        .unwrap_or(0)
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() {
    let body = page_body();
    let services = Services::new(
        Arc::new(Canned(Arc::new(body.clone()))),
        Arc::new(MemoryKv::default()),
    );
    let runtime = Runtime::new(RuntimeConfig::default(), services, None).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let ctx = CallContext {
        connection_id: "bench".into(),
        config: [("base_url".to_string(), "http://127.0.0.1:9".to_string())].into(),
        secrets: Secrets::new([("api_key".to_string(), "k".to_string())].into()),
    };
    let request = ListRequest {
        entity: "vendors".into(),
        page_size: 50,
        ..Default::default()
    };

    rt.block_on(async {
        let adapter = runtime.load(adapter_bytes("example.wasm")).await.unwrap();
        let mut reused = adapter.instantiate_fresh(ctx.clone()).await.unwrap();

        let native = || {
            let page = interlink_adapter_example::map_page("vendors", std::hint::black_box(&body)).unwrap();
            let records: Vec<String> = page.records.iter().map(|r| r.to_string()).collect();
            assert_eq!(records.len(), 10);
        };

        let mut fresh_s = Samples::new("fresh instance");
        let mut instantiate_s = Samples::new("  of which: store + instantiate");
        let mut first_call_s = Samples::new("  of which: first call + teardown");
        let mut reused_s = Samples::new("reused instance");
        let mut native_s = Samples::new("native");

        let mut faults = [0u64; 2];
        let mut gaps: Vec<f64> = Vec::with_capacity(ROUNDS);
        for round in 0..WARMUP + ROUNDS {
            let record = round >= WARMUP;

            let faults_before = minor_faults();
            let t = Instant::now();
            let mut instance = adapter.instantiate_fresh(ctx.clone()).await.unwrap();
            let instantiated = t.elapsed();
            let page = instance.list(&request).await.unwrap();
            // Dropping the store returns the slot to the pool (and resets its
            // memory): part of every fresh call's cost.
            drop(instance);
            let fresh = t.elapsed();
            assert_eq!(page.records.len(), 10);

            let faults_between = minor_faults();
            let t = Instant::now();
            let page = reused.list(&request).await.unwrap();
            let reused_time = t.elapsed();
            if record {
                faults[0] += faults_between - faults_before;
                faults[1] += minor_faults() - faults_between;
            }
            assert_eq!(page.records.len(), 10);

            let t = Instant::now();
            native();
            let native_time = t.elapsed();

            if record {
                gaps.push(us(fresh) - us(reused_time));
                fresh_s.times.push(fresh);
                instantiate_s.times.push(instantiated);
                first_call_s.times.push(fresh - instantiated);
                reused_s.times.push(reused_time);
                native_s.times.push(native_time);
            }
        }

        let native_median = native_s.percentile(0.5);
        let reused_median = reused_s.percentile(0.5);
        let fresh_median = fresh_s.percentile(0.5);
        println!("example adapter, list of 10 vendors ({} B page), {ROUNDS} interleaved rounds", body.len());
        println!("{:<34} {:>10} {:>10} {:>10}", "path", "median us", "p90 us", "x native");
        for s in [&mut fresh_s, &mut instantiate_s, &mut first_call_s, &mut reused_s, &mut native_s] {
            let median = s.percentile(0.5);
            let p90 = s.percentile(0.9);
            println!(
                "{:<34} {:>10.1} {:>10.1} {:>10.2}",
                s.name,
                us(median),
                us(p90),
                median.as_secs_f64() / native_median.as_secs_f64()
            );
        }
        println!(
            "minor page faults per call: fresh {:.1}, reused {:.1}",
            faults[0] as f64 / ROUNDS as f64,
            faults[1] as f64 / ROUNDS as f64
        );
        gaps.sort_unstable_by(f64::total_cmp);
        println!(
            "fresh - reused: {:.1} us between medians, {:.1} us median of paired rounds (target <= 40)",
            us(fresh_median) - us(reused_median),
            gaps[gaps.len() / 2]
        );
        println!(
            "reused / native: {:.2}x (target <= 2.5)",
            reused_median.as_secs_f64() / native_median.as_secs_f64()
        );

        let python = runtime.load(adapter_bytes("example-python.wasm")).await.unwrap();
        assert!(python.reuses_instances(), "the Python adapter is kept warm");
        // The call on each path: a fresh instance, the adapter's own policy
        // (a warm instance taken from its pool and returned to it), or one
        // instance held across calls.
        enum Path<'a> {
            Fresh(&'a interlink::runtime::Adapter),
            Pool(&'a interlink::runtime::Adapter),
            Held(Box<interlink::runtime::AdapterInstance>),
        }
        let mut paths = [
            ("Rust, fresh instance", Path::Fresh(&adapter)),
            ("Rust, reused instance", Path::Held(Box::new(reused))),
            ("Python, fresh instance", Path::Fresh(&python)),
            ("Python, warm instance (host's path)", Path::Pool(&python)),
            ("Python, reused instance", Path::Held(Box::new(python.instantiate_fresh(ctx.clone()).await.unwrap()))),
        ];
        let mut samples: Vec<Samples> = paths.iter().map(|(name, _)| Samples::new(name)).collect();
        for round in 0..PYTHON_WARMUP + PYTHON_ROUNDS {
            for ((_, path), samples) in paths.iter_mut().zip(&mut samples) {
                let t = Instant::now();
                let page = match path {
                    Path::Fresh(adapter) => {
                        adapter.instantiate_fresh(ctx.clone()).await.unwrap().list(&request).await.unwrap()
                    }
                    Path::Pool(adapter) => adapter.instantiate(ctx.clone()).await.unwrap().list(&request).await.unwrap(),
                    Path::Held(instance) => instance.list(&request).await.unwrap(),
                };
                let time = t.elapsed();
                assert_eq!(page.records.len(), 10);
                if round >= PYTHON_WARMUP {
                    samples.times.push(time);
                }
            }
        }
        println!();
        println!("the same call by the Python example (componentize-py), {PYTHON_ROUNDS} interleaved rounds");
        println!("{:<34} {:>10} {:>10}", "path", "median us", "p90 us");
        for s in &mut samples {
            let (median, p90) = (s.percentile(0.5), s.percentile(0.9));
            println!("{:<34} {:>10.1} {:>10.1}", s.name, us(median), us(p90));
        }
    });
}
