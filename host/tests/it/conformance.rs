//! The conformance suite (`interlink adapter conform`) through the real
//! binary: every bundled adapter conforms against its system (the demo API
//! for the example in Rust and in Python, the simulator for NetSuite, a
//! real server for Tryton: `tryton.rs`), and an adapter that breaks a rule
//! fails, named by its rule.

use std::process::Command;

use crate::common::*;
use demo_upstream::{DemoUpstream, Options};

async fn demo() -> DemoUpstream {
    let up = DemoUpstream::start("127.0.0.1:0".parse().unwrap(), Options::default())
        .await
        .unwrap();
    // Enough suppliers for several small pages, modified at different times.
    for i in 0..7 {
        up.insert(
            "suppliers",
            serde_json::json!({"displayName": format!("Supplier {i}"), "isActive": true}),
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // Products and orders at distinct times too: the run allows no skip.
    for i in 0..3 {
        up.insert(
            "products",
            serde_json::json!({"sku": format!("CONF-{i}"), "title": format!("Part {i}"), "uom": "ea", "price": "1.00", "kind": "inventory"}),
        );
        up.insert(
            "orders",
            serde_json::json!({"supplierId": 1, "state": "open", "lines": [{"productId": 1, "qty": 3}]}),
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    up
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_conforms_in_rust_and_in_python() {
    let up = demo().await;
    let base = format!("base_url={}", up.base_url());
    for adapter in ["example", "example-python"] {
        let writes = up.writes();
        let output = tokio::task::spawn_blocking({
            let base = base.clone();
            move || {
                conform(
                    adapter,
                    &["--config", &base, "--secret", "api_key=demo-key"],
                )
            }
        })
        .await
        .unwrap();
        let report = output_text(&output);
        println!("{report}");
        assert!(output.status.success(), "{adapter}: {report}");
        for line in [
            "pass  connect",
            "pass  vendors: model",
            "pass  vendors: list",
            "pass  vendors: pagination",
            "pass  vendors: modified-after",
            "pass  vendors: get",
            "pass  purchase-orders: writes",
            "pass  purchase-orders: read-only-fields",
            "pass  unauthorized",
        ] {
            assert!(report.contains(line), "{adapter}: `{line}` in\n{report}");
        }
        // Before: a skip passed; now the run fails on it, and this names it.
        assert!(
            report.contains(" 0 failed, 0 skipped"),
            "{adapter}: {report}"
        );
        assert_eq!(up.writes(), writes, "{adapter}: the suite changes nothing");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_that_repeats_records_fails_the_suite_by_name() {
    let up = demo().await;
    let base = format!("base_url={}", up.base_url());
    let output = tokio::task::spawn_blocking(move || {
        conform(
            "example-repeating-cursor",
            &["--config", &base, "--secret", "api_key=demo-key"],
        )
    })
    .await
    .unwrap();
    let report = output_text(&output);
    assert!(!output.status.success(), "{report}");
    let pagination = report
        .lines()
        .find(|l| l.contains("vendors: pagination"))
        .unwrap_or_default();
    assert!(pagination.contains("FAIL"), "{report}");
    assert!(
        pagination.contains(r#"record "1" came again on page 2 (cursor "0")"#),
        "{report}"
    );
    assert!(report.contains("example does not conform"), "{report}");
    assert!(
        report.contains("pass  vendors: list"),
        "other rules still pass: {report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn netsuite_conforms_against_the_simulator() {
    let sim = netsuite_sim::Simulator::start("1234567").await.unwrap();
    for i in 0..5 {
        let id = sim.insert(
            "vendor",
            serde_json::json!({"companyName": format!("Vendor {i}")}),
        );
        sim.backdate("vendor", id, std::time::Duration::from_secs(3600 * (5 - i)));
    }
    // Items and purchase orders modified at distinct times too: the run
    // allows no skip.
    for i in 0..3u64 {
        let item = sim.insert(
            "inventoryItem",
            serde_json::json!({"itemId": format!("BOLT-1{i}"), "displayName": format!("Bolt M1{i}"), "cost": 0.25}),
        );
        sim.backdate(
            "inventoryItem",
            item,
            std::time::Duration::from_secs(3600 * (3 - i)),
        );
        let order = sim.insert(
            "purchaseOrder",
            serde_json::json!({
                "entity": {"id": "1"},
                "memo": format!("Conformance {i}"),
                "item": {"items": [{"item": {"id": item.to_string()}, "quantity": 1, "rate": 0.25, "amount": 0.25}]},
            }),
        );
        sim.backdate(
            "purchaseOrder",
            order,
            std::time::Duration::from_secs(3600 * (3 - i)),
        );
    }
    // The customer's own key pair, as `interlink cert generate` makes it.
    let keys = tempfile::tempdir().unwrap();
    let generated = Command::new(env!("CARGO_BIN_EXE_interlink"))
        .args(["cert", "generate", "--alg", "es256", "--days", "30"])
        .current_dir(keys.path())
        .output()
        .unwrap();
    assert!(generated.status.success(), "{}", output_text(&generated));
    let public = std::fs::read_to_string(keys.path().join("public.pem")).unwrap();
    sim.register_certificate(
        "conformance",
        "client-abc",
        &public,
        netsuite_sim::full_role(),
    )
    .unwrap();
    let base = format!("base_url={}", sim.url());
    let key = format!("private_key=@{}", keys.path().join("private.pem").display());
    let output = tokio::task::spawn_blocking(move || {
        conform(
            "netsuite",
            &[
                "--config",
                "account_id=1234567",
                "--config",
                "client_id=client-abc",
                "--config",
                "certificate_id=conformance",
                "--config",
                &base,
                "--secret",
                &key,
                "--wrong",
                "certificate_id=never-registered",
            ],
        )
    })
    .await
    .unwrap();
    let report = output_text(&output);
    println!("{report}");
    assert!(output.status.success(), "{report}");
    for line in [
        "pass  vendors: pagination",
        "pass  vendors: modified-after",
        "pass  vendors: get",
        "pass  unauthorized",
    ] {
        assert!(report.contains(line), "`{line}` in\n{report}");
    }
    assert!(report.contains(" 0 failed, 0 skipped"), "{report}");
}
