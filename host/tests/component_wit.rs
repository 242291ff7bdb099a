//! The built adapters are components of the `interlink:adapter` world, as
//! `wasm-tools component wit` shows them (it decodes with the same crate).

mod common;

fn world(name: &str) -> String {
    let decoded = wit_component::decode(&common::adapter_bytes(name)).unwrap();
    let mut printer = wit_component::WitPrinter::default();
    printer
        .print(decoded.resolve(), decoded.package(), &[])
        .unwrap();
    printer.output.to_string()
}

#[test]
fn the_example_adapter_implements_the_interlink_world() {
    let wit = world("example");
    assert!(
        wit.contains("export interlink:adapter/adapter@0.1.0;"),
        "{wit}"
    );
    assert!(
        wit.contains("import interlink:adapter/http@0.1.0;"),
        "{wit}"
    );
    assert!(!wit.contains("wasi:"), "adapters import no WASI: {wit}");
}

#[test]
fn the_test_adapter_imports_every_host_interface_and_nothing_else() {
    let wit = world("chaos");
    for interface in ["http", "secrets", "kv", "log", "clock"] {
        assert!(
            wit.contains(&format!("import interlink:adapter/{interface}@0.1.0;")),
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
