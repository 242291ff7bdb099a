//! What the write-rule check costs on a purchase order with 100 lines.
//!
//! `cargo bench -p interlink --bench write_rules`
//!
//! The entity is the example adapter's `purchase-orders` (its manifest, read
//! through the real component): field access, types, required fields, the
//! child collection with its minimum, on a create with 100 lines; then the
//! state-lock check of an update against a billed order.

use std::time::{Duration, Instant};

use interlink::manifest::Operation;
use interlink::rules::fields::{Schema, Write, check};
use interlink::rules::state;
use interlink::runtime::{Runtime, RuntimeConfig};
use serde_json::{Value, json};
use workload::loopback_services;

mod workload;
const ROUNDS: usize = 20_000;

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort_unstable();
    times[times.len() / 2]
}

fn main() {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let bytes = std::fs::read(target.join("adapters/example.wasm"))
        .expect("run `cargo xtask build-adapters` first");
    let services = loopback_services(1 << 20);
    let runtime = Runtime::new(RuntimeConfig::default(), services, None).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let adapter = rt.block_on(runtime.load(bytes)).unwrap();
    let entity = adapter
        .manifest()
        .entity("purchase-orders")
        .unwrap()
        .clone();

    let lines: Vec<Value> = (0..100)
        .map(|i| json!({"item_id": (i % 7 + 1).to_string(), "description": format!("line {i}"), "quantity": i + 1, "unit_price": "12.50"}))
        .collect();
    let order = json!({"vendor_id": "1", "currency": "USD", "memo": "quarterly restock", "reference": "R-2026-11", "lines": lines});
    let order = order.as_object().unwrap().clone();
    let patch = json!({"memo": "m", "reference": "r"});
    let patch = patch.as_object().unwrap().clone();
    let billed = json!({"status": "billed"});
    let schema = Schema::new(&entity, &[]);
    assert!(check(&schema, &order, Write::Create).is_empty());

    let (mut create, mut lock) = (Vec::with_capacity(ROUNDS), Vec::with_capacity(ROUNDS));
    for _ in 0..ROUNDS {
        let t = Instant::now();
        let violations = check(&schema, std::hint::black_box(&order), Write::Create);
        create.push(t.elapsed());
        assert!(violations.is_empty());

        let t = Instant::now();
        let locked = state::check(
            &entity,
            std::hint::black_box(&billed),
            Operation::Update,
            Some(&patch),
        );
        lock.push(t.elapsed());
        assert!(locked.is_err());
    }
    println!("write rules, example adapter's purchase-orders, {ROUNDS} rounds");
    println!(
        "field rules, create with 100 lines: median {:.1} us (target < 100)",
        median(create).as_secs_f64() * 1e6
    );
    println!(
        "state locks, update of a billed order: median {:.2} us",
        median(lock).as_secs_f64() * 1e6
    );
}
