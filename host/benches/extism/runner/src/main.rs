//! Interlink's per-call cost next to Extism's, on one workload: a list of
//! 10 vendors, where the guest asks the host for the upstream page through a
//! host call (answered from memory, no socket), maps it to unified records
//! with the example adapter's own code, and answers them as JSON.
//!
//! ```sh
//! cargo xtask build-adapters
//! cargo run --release --manifest-path host/benches/extism/Cargo.toml -p extism-comparison
//! ```
//!
//! Four paths run interleaved, one call each per round: Interlink with a
//! fresh instance per call (the host's real path, minus HTTP) and with one
//! reused instance; Extism with a fresh plug-in per call (from a compiled
//! plug-in, as `Plugin::new_from_compiled` makes them) and with one reused
//! plug-in. Both guests are built with the same profile (opt-level 3, LTO).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use extism::{CompiledPlugin, Manifest, PTR, Plugin, PluginBuilder, UserData, Wasm};
use interlink::runtime::{
    CallContext, ListRequest, MemoryKv, Runtime, RuntimeConfig, Secrets, Services,
};
use workload::{Canned, page_body};

/// The workload of `host/benches/call_overhead.rs`, shared.
#[path = "../../../workload/mod.rs"]
mod workload;

const WARMUP: usize = 300;
const ROUNDS: usize = 3000;

extism::host_fn!(http_get(page: Vec<u8>; _url: String) -> Vec<u8> {
    let page = page.get()?;
    let page = page.lock().unwrap();
    Ok(page.clone())
});

fn here() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Builds the Extism plug-in and answers its bytes.
fn plugin_bytes() -> Vec<u8> {
    let workspace = here().join("..");
    let status = Command::new(env!("CARGO"))
        .current_dir(&workspace)
        .args([
            "build",
            "--quiet",
            "--profile",
            "plugin",
            "--target",
            "wasm32-unknown-unknown",
            "--package",
            "extism-example-plugin",
        ])
        .status()
        .expect("running cargo");
    assert!(status.success(), "building the plug-in failed");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"));
    std::fs::read(target.join("wasm32-unknown-unknown/plugin/extism_example_plugin.wasm"))
        .expect("the built plug-in")
}

/// The example adapter component `cargo xtask build-adapters` made.
fn component_bytes() -> Vec<u8> {
    let path = here().join("../../../../target/adapters/example.wasm");
    std::fs::read(&path).unwrap_or_else(|_| {
        panic!(
            "{} is missing: run `cargo xtask build-adapters` first",
            Path::new(&path).display()
        )
    })
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort_unstable();
    times[times.len() / 2]
}

fn p90(times: &mut [Duration]) -> Duration {
    times.sort_unstable();
    times[times.len() * 9 / 10]
}

fn main() {
    let page = page_body();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    // Interlink, as in host/benches/call_overhead.rs.
    let services = Services::new(
        Arc::new(Canned(Arc::new(page.clone()))),
        Arc::new(MemoryKv::default()),
    );
    let runtime = Runtime::new(RuntimeConfig::default(), services, None).unwrap();
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

    // Extism: compiled once; a plug-in per call, or one for all.
    let compiled = CompiledPlugin::new(
        PluginBuilder::new(Manifest::new([Wasm::data(plugin_bytes())]))
            .with_wasi(false)
            .with_function("http_get", [PTR], [PTR], UserData::new(page.clone()), http_get),
    )
    .unwrap();
    let mut reused_plugin = Plugin::new_from_compiled(&compiled).unwrap();

    let names = [
        "Interlink, fresh instance",
        "Interlink, reused instance",
        "Extism, fresh plug-in",
        "Extism, reused plug-in",
    ];
    let mut times: [Vec<Duration>; 4] = Default::default();
    rt.block_on(async {
        let adapter = runtime.load(component_bytes()).await.unwrap();
        let mut reused = adapter.instantiate(ctx.clone()).await.unwrap();
        for round in 0..WARMUP + ROUNDS {
            let mut took = [Duration::ZERO; 4];

            let t = Instant::now();
            let mut instance = adapter.instantiate(ctx.clone()).await.unwrap();
            let records = instance.list(&request).await.unwrap().records.len();
            drop(instance);
            took[0] = t.elapsed();
            assert_eq!(records, 10);

            let t = Instant::now();
            let records = reused.list(&request).await.unwrap().records.len();
            took[1] = t.elapsed();
            assert_eq!(records, 10);

            let t = Instant::now();
            let mut plugin = Plugin::new_from_compiled(&compiled).unwrap();
            let out: String = plugin.call("list", "vendors").unwrap();
            drop(plugin);
            took[2] = t.elapsed();
            assert!(out.starts_with("[{"));

            let t = Instant::now();
            let out: String = reused_plugin.call("list", "vendors").unwrap();
            took[3] = t.elapsed();
            assert!(out.starts_with("[{"));

            if round >= WARMUP {
                for (all, one) in times.iter_mut().zip(took) {
                    all.push(one);
                }
            }
        }
    });

    println!("list of 10 vendors through a host call and JSON mapping, {ROUNDS} interleaved rounds");
    println!("{:<28} {:>10} {:>10}", "path", "median us", "p90 us");
    for (name, t) in names.iter().zip(times.iter_mut()) {
        println!(
            "{name:<28} {:>10.1} {:>10.1}",
            median(t).as_secs_f64() * 1e6,
            p90(t).as_secs_f64() * 1e6
        );
    }
}
