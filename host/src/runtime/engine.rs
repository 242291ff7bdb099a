//! The wasmtime engine: configuration and the epoch ticker.
//!
//! Choices, and why:
//! - the pooling allocator with copy-on-write memory images, so a fresh
//!   instance per call costs microseconds, not an mmap dance;
//! - epoch interruption (one increment every [`TICK`]) rather than fuel, which
//!   costs a load and compare per loop back-edge instead of a counter update
//!   per basic block;
//! - only the wasmtime features we use are compiled in (see `host/Cargo.toml`):
//!   `component-model-async`, for one, makes every call slower.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, ProfilingStrategy,
};

/// How often the epoch advances; deadlines are checked at this granularity.
pub const TICK: Duration = Duration::from_millis(10);

/// Bytes of a recycled memory slot kept mapped. Only pages a call touched
/// stay resident, so this bounds memory held per idle slot.
const KEEP_RESIDENT: usize = 4 << 20;

/// Set to `1`, the engine writes `/tmp/perf-<pid>.map`, which names the
/// adapters' compiled functions for `perf report` (the recipe is in
/// docs/benchmarks.md).
pub const PERF_MAP: &str = "INTERLINK_PERF_MAP";

/// Builds the engine: `max_instances` adapter instances alive at once, each
/// with at most `memory_limit` bytes of linear memory.
///
/// # Errors
///
/// `max_instances` is too large for the pool's counts, or wasmtime refuses
/// the configuration or cannot set up the pool.
pub fn build(max_instances: u32, memory_limit: usize) -> anyhow::Result<Engine> {
    let per_instance = |n: u32| {
        max_instances
            .checked_mul(n)
            .with_context(|| format!("a pool of {max_instances} instances is too large"))
    };
    let mut pool = PoolingAllocationConfig::default();
    // wit-component wraps a Rust guest into a component of three core
    // instances (the module and two small shims); a Python guest built by
    // componentize-py instantiates 38 core modules (the interpreter's
    // libraries, dynamically linked). A core instance slot is address
    // space until used, so allow a quarter of the instances to be Python.
    pool.total_component_instances(max_instances)
        .total_core_instances(per_instance(12)?)
        .total_memories(max_instances)
        .total_tables(per_instance(4)?)
        .total_stacks(max_instances)
        .max_memory_size(memory_limit)
        // Keep pages of recycled slots mapped, and reset only the pages a
        // call dirtied (found with Linux's PAGEMAP_SCAN where the kernel has
        // it): a fresh instance then reuses warm pages instead of faulting in
        // zeroed ones (see docs/benchmarks.md).
        .linear_memory_keep_resident(KEEP_RESIDENT)
        .table_keep_resident(1 << 16)
        .pagemap_scan(Enabled::Auto);

    let mut config = Config::new();
    if std::env::var_os(PERF_MAP).is_some_and(|v| v == "1") {
        config.profiler(ProfilingStrategy::PerfMap);
    }
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .memory_init_cow(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Ok(Engine::new(&config)?)
}

/// Advances the engine's epoch every [`TICK`] until dropped.
pub struct EpochTicker {
    stop: Arc<AtomicBool>,
}

impl EpochTicker {
    pub fn start(engine: &Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let weak = engine.weak();
        let flag = stop.clone();
        std::thread::Builder::new()
            .name("interlink-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    match weak.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })
            .expect("spawning the epoch thread");
        EpochTicker { stop }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
