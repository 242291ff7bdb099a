//! The host's layers, checked: every module of `host/src` may use only
//! modules of lower layers (`docs/architecture.md` draws them). A module
//! that imports one of its own layer or above fails this test, naming the
//! file and the import; so does a new top-level module not placed here.

use std::collections::BTreeSet;
use std::path::Path;

/// Top layer first. A module may import only modules of the layers below
/// its own.
const LAYERS: &[&[&str]] = &[
    // The binary's commands besides `serve` (they use the library as
    // `interlink::`).
    &["cli"],
    // The MCP door, an HTTP door over the HTTP API's own pieces.
    &["mcp"],
    &["api"],
    &["sync"],
    &["dataplane"],
    &["connections", "rules"],
    &["webhooks", "registry", "certificates", "conformance"],
    &["runtime"],
    &["outbound", "storage", "secret_box"],
    &[
        "data_dir",
        "contract",
        "timestamps",
        "rate_limit",
        "duration",
    ],
    &["manifest"],
];

/// Lower modules a module may not import although they are below it: the
/// MCP door, a door like the HTTP API, reaches the database, the adapters
/// and the network only through the data plane, whose rules every write
/// passes.
const THROUGH_THE_DATA_PLANE: &[(&str, &[&str])] =
    &[("mcp", &["storage", "runtime", "outbound", "secret_box"])];

fn layer(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// The top-level modules `text` refers to through `crate::`, outside
/// comments.
fn imports(text: &str) -> BTreeSet<String> {
    let code: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .map(|l| format!("{l}\n"))
        .collect();
    let mut found = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // `crate::{a::b, c}`: every first segment in the braces.
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    found.insert(name);
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            found.insert(name);
        }
    }
    found
}

fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_module_imports_its_own_layer_or_above() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    let mut problems = Vec::new();
    for path in all {
        let relative = path.strip_prefix(&src).unwrap();
        let module = relative
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        if module == "main" || module == "lib" {
            continue; // the binary and the crate root see everything
        }
        let Some(own) = layer(&module) else {
            problems.push(format!(
                "{}: module `{module}` is in no layer",
                relative.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(&path).unwrap();
        let barred = THROUGH_THE_DATA_PLANE
            .iter()
            .find(|(door, _)| *door == module)
            .map_or(&[][..], |(_, barred)| *barred);
        for import in imports(&text) {
            if import == module {
                continue;
            }
            if barred.contains(&import.as_str()) {
                problems.push(format!(
                    "{}: `{module}` imports `{import}`; it goes through the data plane",
                    relative.display()
                ));
                continue;
            }
            match layer(&import) {
                Some(l) if l > own => {}
                Some(_) => problems.push(format!(
                    "{}: `{module}` imports `{import}`, which is not below it",
                    relative.display()
                )),
                None => problems.push(format!(
                    "{}: `{module}` imports `{import}`, which is in no layer",
                    relative.display()
                )),
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn imports_are_found_in_paths_and_groups_but_not_in_comments() {
    let text = "use crate::storage::Store;\n\
                use crate::{manifest::Field, runtime};\n\
                // crate::api is mentioned here only\n\
                fn f() { crate::outbound::send(); }\n";
    let found: Vec<String> = imports(text).into_iter().collect();
    assert_eq!(found, ["manifest", "outbound", "runtime", "storage"]);
}
