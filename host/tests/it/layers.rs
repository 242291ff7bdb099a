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
    // The composition root: it wires everything below.
    &["host"],
    // The MCP door, an HTTP door over the HTTP API's own pieces.
    &["mcp"],
    &["api"],
    &["sync"],
    &["dataplane"],
    &["connections"],
    &["rules"],
    &["webhooks", "registry", "certificates", "conformance"],
    &["runtime"],
    // The audit trail, which the runtime and every layer above record to.
    &["audit"],
    &["outbound", "storage", "secret_box"],
    &[
        "data_dir",
        "contract",
        "timestamps",
        "timing",
        "rate_limit",
        "duration",
        // Metrics and trace spans, which every layer above reports to.
        "telemetry",
    ],
    &["manifest"],
    // Every error code a client can see.
    &["code"],
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
    after(text, "crate::")
}

/// The first segment of every path `text` writes after `prefix`, outside
/// comments: `prefix` then `a::b` gives `a`; `prefix` then `{a::b, c}` gives
/// `a` and `c`.
fn after(text: &str, prefix: &str) -> BTreeSet<String> {
    let code: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .map(|l| format!("{l}\n"))
        .collect();
    let name_of = |text: &str| -> String {
        text.trim()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut found = BTreeSet::new();
    for (at, _) in code.match_indices(prefix) {
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue; // part of a longer path: `a::super::`, `super::super::`
        }
        let rest = &code[at + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            found.extend(group[..end].split(',').map(name_of));
        } else {
            found.insert(name_of(rest));
        }
    }
    found.retain(|name| !name.is_empty() && name != "super" && name != "self");
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

/// Every file of `host/src`: its path there, and its text.
fn host_sources() -> Vec<(std::path::PathBuf, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    all.into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            (path.strip_prefix(&src).unwrap().to_path_buf(), text)
        })
        .collect()
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

/// The services and the database: their handles are the composition
/// root's (`host.rs`) to hand out, not each other's.
const SERVICES: &[&str] = &[
    "Store",
    "Registry",
    "Runtime",
    "Connections",
    "DataPlane",
    "Syncs",
    "Webhooks",
];

/// The methods of `text` that hand out a service's handle: `fn name(&self)`
/// answering `&X`, `&Arc<X>`, `&dyn X`, `Arc<X>` or `Arc<dyn X>` for a
/// service `X`, outside comments.
fn reach_throughs(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with("//") {
            continue;
        }
        let Some(at) = line.find("fn ") else {
            continue;
        };
        let Some((name, rest)) = line[at + 3..].split_once("(&self) -> ") else {
            continue;
        };
        let mut answer = rest;
        for wrapper in ["&", "Arc<", "dyn "] {
            answer = answer.strip_prefix(wrapper).unwrap_or(answer);
        }
        let service: String = answer
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if SERVICES.contains(&service.as_str()) {
            found.push(format!("{name}() -> {service}"));
        }
    }
    found
}

/// Catches: a service that hands out another one's handle
/// (`connections.storage()`, `dataplane.connections()` were such), so a
/// handler reaches past the service it asks to the database behind it.
/// A caller asks the service that owns what it wants; only the composition
/// root hands out handles.
#[test]
fn no_service_hands_out_another_services_handle() {
    let mut problems = Vec::new();
    for (relative, text) in host_sources() {
        if relative == Path::new("host.rs") || relative.starts_with("storage") {
            continue; // the root wires services; storage opens the database
        }
        for accessor in reach_throughs(&text) {
            problems.push(format!("{}: {accessor}", relative.display()));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Catches: an error a client sees that is not built from a `Code` (whose
/// status it then answers with): `ApiError` is made only by `ApiError::new`,
/// which takes one, and answers with another status than its code's only
/// where `api/tokens.rs` documents why.
#[test]
fn every_api_error_is_built_from_a_code() {
    let mut problems = Vec::new();
    for (relative, text) in host_sources() {
        if relative == Path::new("api/error.rs") {
            continue; // where `ApiError::new` builds it
        }
        let by_hand = text.match_indices("ApiError {").any(|(at, _)| {
            let before = text[..at].trim_end();
            !(before.ends_with("for") || before.ends_with("->") || before.ends_with("impl"))
        });
        if by_hand {
            problems.push(format!(
                "{}: builds an ApiError by hand",
                relative.display()
            ));
        }
        let overrides = text.matches(".with_status(").count();
        let allowed = usize::from(relative == Path::new("api/tokens.rs"));
        if overrides > allowed {
            problems.push(format!(
                "{}: answers {overrides} error(s) with another status than its code's",
                relative.display()
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Catches: a file that grew to hold several subjects (`conformance.rs`
/// held every rule in 941 lines, `storage/tests.rs` every table's cases in
/// 1,374); a subject of its own gets a file of its own.
#[test]
fn no_file_of_the_host_is_over_800_lines() {
    let long: Vec<String> = host_sources()
        .into_iter()
        .map(|(relative, text)| (relative, text.lines().count()))
        .filter(|&(_, lines)| lines > 800)
        .map(|(relative, lines)| format!("{}: {lines} lines", relative.display()))
        .collect();
    assert!(long.is_empty(), "{}", long.join("\n"));
}

#[test]
fn reach_throughs_are_found_in_every_spelling() {
    let text = "    pub fn storage(&self) -> &dyn Store {\n\
                pub fn store(&self) -> &Arc<dyn Store> {\n\
                fn registry(&self) -> Arc<Registry> {\n\
                // pub fn connections(&self) -> &Connections {\n\
                pub fn limits(&self) -> &Limits {\n";
    assert_eq!(
        reach_throughs(text),
        [
            "storage() -> Store",
            "store() -> Store",
            "registry() -> Registry"
        ]
    );
}

/// The sibling modules of folder `dir` (`x.rs` and `x/`), each with the
/// files it is made of.
fn siblings(dir: &Path) -> Vec<(String, Vec<std::path::PathBuf>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            let mut files_of = Vec::new();
            files(&path, &mut files_of);
            out.push((name, files_of));
        } else if path.extension().is_some_and(|e| e == "rs")
            && !matches!(name.as_str(), "mod" | "lib" | "main")
        {
            out.push((name, vec![path]));
        }
    }
    out.sort();
    out
}

/// How a file of sibling module `module` in `dir` names `dir`'s other
/// modules: `super::` once per module between the file and `dir`.
fn path_to_parent(dir: &Path, file: &Path) -> String {
    let inside = file.strip_prefix(dir).unwrap();
    let mut depth = inside.components().count();
    if inside.file_name().is_some_and(|n| n == "mod.rs") {
        depth -= 1;
    }
    "super::".repeat(depth)
}

/// A circle among `edges` (module -> modules it imports), as `a -> b -> a`.
fn circle(edges: &std::collections::BTreeMap<String, BTreeSet<String>>) -> Option<String> {
    fn visit(
        at: &str,
        edges: &std::collections::BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<String> {
        if let Some(start) = path.iter().position(|p| p == at) {
            let mut names = path[start..].to_vec();
            names.push(at.to_string());
            return Some(names.join(" -> "));
        }
        if !done.insert(at.to_string()) {
            return None;
        }
        path.push(at.to_string());
        for next in edges.get(at).into_iter().flatten() {
            if let Some(found) = visit(next, edges, path, done) {
                return Some(found);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|start| visit(start, edges, &mut Vec::new(), &mut done))
}

/// Catches: two modules of one folder that import each other, directly or
/// around a circle (api/ and api/openapi.rs, pages/dashboard.rs and
/// pages/tokens.rs were such circles).
#[test]
fn no_modules_of_one_folder_import_each_other_around_a_circle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut circles = circles_in(&root.join("src"), "host/src", false);
    // The SDK and the xtask have no layers test: their crate roots count.
    circles.extend(circles_in(&root.join("../sdk/src"), "sdk/src", true));
    circles.extend(circles_in(&root.join("../xtask/src"), "xtask/src", true));
    assert!(
        circles.is_empty(),
        "import circles:\n{}",
        circles.join("\n")
    );
}

/// The import circles among the modules of each folder of `src` (named
/// `label`), its own top-level modules too when `with_root`, each as
/// `folder: a -> b -> a`.
fn circles_in(src: &Path, label: &str, with_root: bool) -> Vec<String> {
    let mut dirs = vec![];
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            }
        }
        if dir != src || with_root {
            dirs.push(dir);
        }
    }
    let mut circles = Vec::new();
    for dir in dirs {
        let modules = siblings(&dir);
        let names: BTreeSet<String> = modules.iter().map(|(n, _)| n.clone()).collect();
        let inside = dir
            .strip_prefix(src)
            .unwrap()
            .to_string_lossy()
            .replace('/', "::");
        let absolute = if inside.is_empty() {
            "crate::".to_string()
        } else {
            format!("crate::{inside}::")
        };
        let mut edges = std::collections::BTreeMap::new();
        for (module, module_files) in &modules {
            let mut to = BTreeSet::new();
            for file in module_files {
                let text = std::fs::read_to_string(file).unwrap();
                to.extend(after(&text, &path_to_parent(&dir, file)));
                to.extend(after(&text, &absolute));
            }
            to.retain(|name| names.contains(name) && name != module);
            edges.insert(module.clone(), to);
        }
        if let Some(found) = circle(&edges) {
            let folder = Path::new(label).join(dir.strip_prefix(src).unwrap());
            circles.push(format!("{}: {found}", folder.display()));
        }
    }
    circles
}

#[test]
fn a_circle_is_named_and_a_chain_is_not_one() {
    let edges = |pairs: &[(&str, &str)]| {
        let mut map = std::collections::BTreeMap::<String, BTreeSet<String>>::new();
        for (from, to) in pairs {
            map.entry(from.to_string())
                .or_default()
                .insert(to.to_string());
            map.entry(to.to_string()).or_default();
        }
        map
    };
    assert_eq!(
        circle(&edges(&[("a", "b"), ("b", "c"), ("c", "a")])).as_deref(),
        Some("a -> b -> c -> a")
    );
    assert_eq!(circle(&edges(&[("a", "b"), ("b", "c"), ("a", "c")])), None);
    let text = "use super::{layout, session::Operator};\nuse super::super::api;\n";
    let found: Vec<String> = after(text, "super::").into_iter().collect();
    assert_eq!(found, ["layout", "session"]);
}
