//! The built adapters are components of the `interlink:adapter` world, as
//! `wasm-tools component wit` shows them (it decodes with the same crate).

fn world(name: &str) -> String {
    let decoded = wit_component::decode(&crate::common::adapter_bytes(name)).unwrap();
    let mut printer = wit_component::WitPrinter::default();
    printer
        .print(decoded.resolve(), decoded.package(), &[])
        .unwrap();
    printer.output.to_string()
}

#[test]
fn the_example_adapter_implements_the_interlink_world() {
    for (name, version) in [
        ("example", "0.4.0"),
        ("example-contract-0.3.0", "0.3.0"),
        ("example-contract-0.2.0", "0.2.0"),
        ("example-v0_1_0", "0.1.0"),
    ] {
        let wit = world(name);
        assert!(
            wit.contains(&format!("export interlink:adapter/adapter@{version};")),
            "{wit}"
        );
        assert!(
            wit.contains(&format!("import interlink:adapter/http@{version};")),
            "{wit}"
        );
        assert!(!wit.contains("wasi:"), "adapters import no WASI: {wit}");
    }
}

#[test]
fn the_test_adapter_imports_every_host_interface_and_nothing_else() {
    let wit = world("chaos");
    for interface in ["http", "secrets", "kv", "log", "clock"] {
        assert!(
            wit.contains(&format!("import interlink:adapter/{interface}@0.4.0;")),
            "{wit}"
        );
    }
    let imports = wit
        .lines()
        .filter(|l| l.trim_start().starts_with("import "))
        .count();
    assert_eq!(
        imports, 6,
        "the five host interfaces and the shared types: {wit}"
    );
}

/// componentize-py's components import WASI (files, sockets, clocks) unless
/// built with `--stub-wasi`, as `cargo xtask build-adapters` builds them: a
/// Python adapter reaches the world through the contract only.
#[test]
fn the_python_adapter_imports_the_contract_and_nothing_else() {
    let wit = world("example-python");
    assert!(
        wit.contains("export interlink:adapter/adapter@0.4.0;"),
        "{wit}"
    );
    let imports: Vec<&str> = wit
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("import "))
        .collect();
    assert!(!imports.is_empty());
    for import in &imports {
        assert!(
            import.starts_with("import interlink:adapter/"),
            "only the contract's interfaces: {import}"
        );
    }
    assert!(!wit.contains("import wasi:"), "no WASI: {wit}");
}
