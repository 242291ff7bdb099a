//! `interlink adapter new`: a new adapter project outside this repository,
//! from the files in `template/`: a crate (or, with `--lang python`, a
//! Python project, from `template/python/`) that builds into a working
//! adapter (a manifest, vendors with list, get and create, a native test)
//! and a README that says how to build, check, test and load it.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use interlink::manifest::is_valid_id;

const CARGO_TOML: &str = include_str!("template/Cargo.toml.tmpl");
const LIB_RS: &str = include_str!("template/lib.rs.tmpl");
const README: &str = include_str!("template/README.md.tmpl");
const PY_APP: &str = include_str!("template/python/app.py.tmpl");
const PY_ADAPTER: &str = include_str!("template/python/adapter.py.tmpl");
const PY_TEST: &str = include_str!("template/python/test_adapter.py.tmpl");
const PY_PROJECT: &str = include_str!("template/python/pyproject.toml.tmpl");
const PY_README: &str = include_str!("template/python/README.md.tmpl");

/// The language of a new adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Rust,
    Python,
}

#[derive(clap::Args)]
pub struct NewArgs {
    /// The adapter's id: lowercase letters, digits and `-`, starting with a
    /// letter (`acme-erp`).
    id: String,
    /// The project's folder (default: `./<id>`); it must not exist or be
    /// empty.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// The SDK's folder: the `interlink-sdk` crate, or for Python the
    /// Python SDK. Default: `sdk/` (or `sdk-python/`) of the Interlink
    /// checkout this binary was built in.
    #[arg(long, env = "INTERLINK_SDK")]
    sdk: Option<PathBuf>,
    /// The language to write it in.
    #[arg(long, value_enum, default_value_t = Lang::Rust)]
    lang: Lang,
}

/// The folder `name` of the checkout this binary was built in
/// (`<checkout>/target/<profile>/interlink`), if `is` says it is the one.
pub(super) fn beside_binary(name: &str, is: fn(&Path) -> bool) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    exe.ancestors().map(|dir| dir.join(name)).find(|d| is(d))
}

/// The SDK of the checkout this binary was built in.
fn find_sdk() -> anyhow::Result<PathBuf> {
    beside_binary("sdk", is_sdk)
        .context("no interlink-sdk found beside this binary: pass --sdk <folder of interlink-sdk>")
}

fn is_sdk(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("Cargo.toml"))
        .is_ok_and(|toml| toml.contains("name = \"interlink-sdk\""))
}

/// `path` inside a TOML basic string: forward slashes need no escaping
/// anywhere.
fn toml_path(path: &Path) -> String {
    path.to_string_lossy()
        .replace('\\', "/")
        .replace('"', "\\\"")
}

/// `text` with each `{{name}}` replaced (`{{class}}`: the id as a Python
/// class name, `acme-erp` as `AcmeErp`).
fn fill(text: &str, id: &str, sdk: &str) -> String {
    let class: String = id
        .split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect();
    text.replace("{{id}}", id)
        .replace("{{sdk}}", sdk)
        .replace("{{class}}", &class)
}

/// `interlink adapter new ID [--dir D] [--sdk S]`.
///
/// # Errors
///
/// The id is not an adapter id; the folder exists and is not empty; the SDK
/// given is not one, or none is found beside this binary; a file cannot be
/// written.
pub fn new(args: NewArgs) -> anyhow::Result<()> {
    if !is_valid_id(&args.id) {
        bail!(
            "`{}` is not an adapter id: 1-64 lowercase letters, digits or `-`, starting with a letter",
            args.id
        );
    }
    let dir = args.dir.unwrap_or_else(|| PathBuf::from(&args.id));
    if dir.exists() && std::fs::read_dir(&dir)?.next().is_some() {
        bail!("{} exists and is not empty", dir.display());
    }
    if args.lang == Lang::Python {
        return new_python(&args.id, &dir, args.sdk);
    }
    let sdk = match args.sdk {
        Some(sdk) if is_sdk(&sdk) => sdk,
        Some(sdk) => bail!("{} is not the interlink-sdk crate's folder", sdk.display()),
        None => find_sdk()?,
    };
    let sdk = sdk.canonicalize()?;
    // The checkout's lock file pins the project's dependencies to the
    // versions Interlink is built and tested with (cargo drops the rest).
    let lock = sdk.parent().map(|checkout| checkout.join("Cargo.lock"));
    let sdk = toml_path(&sdk);
    std::fs::create_dir_all(dir.join("src"))
        .with_context(|| format!("creating {}", dir.display()))?;
    for (path, text) in [
        ("Cargo.toml", CARGO_TOML),
        ("src/lib.rs", LIB_RS),
        ("README.md", README),
        (".gitignore", "/target\n"),
    ] {
        std::fs::write(dir.join(path), fill(text, &args.id, &sdk))
            .with_context(|| format!("writing {path}"))?;
    }
    if let Some(lock) = lock.filter(|l| l.exists()) {
        std::fs::copy(&lock, dir.join("Cargo.lock")).context("copying Cargo.lock")?;
    }
    println!(
        "Made the adapter `{id}` in {dir}. Next:\n  \
         cd {dir} && cargo test\n  \
         interlink adapter build {dir}\n\
         then load target/adapters/{id}.wasm into a host (its README says how).",
        id = args.id,
        dir = dir.display()
    );
    Ok(())
}

/// `interlink adapter new ID --lang python`.
fn new_python(id: &str, dir: &Path, sdk: Option<PathBuf>) -> anyhow::Result<()> {
    use interlink_adapter_build::python::is_python_sdk;
    let sdk = match sdk {
        Some(sdk) if is_python_sdk(&sdk) => sdk,
        Some(sdk) => bail!(
            "{} is not the Python SDK's folder (sdk-python)",
            sdk.display()
        ),
        None => beside_binary("sdk-python", is_python_sdk)
            .context("no Python SDK found beside this binary: pass --sdk <folder of sdk-python>")?,
    };
    let sdk = toml_path(&sdk.canonicalize()?);
    std::fs::create_dir_all(dir.join("tests"))
        .with_context(|| format!("creating {}", dir.display()))?;
    for (path, text) in [
        ("app.py", PY_APP),
        ("adapter.py", PY_ADAPTER),
        ("tests/__init__.py", ""),
        ("tests/test_adapter.py", PY_TEST),
        ("pyproject.toml", PY_PROJECT),
        ("README.md", PY_README),
        (".gitignore", "/target\n/.venv\n__pycache__/\n"),
    ] {
        std::fs::write(dir.join(path), fill(text, id, &sdk))
            .with_context(|| format!("writing {path}"))?;
    }
    println!(
        "Made the Python adapter `{id}` in {dir}. Next (componentize-py on PATH):\n  \
         interlink adapter build {dir}\n\
         then load {dir}/target/adapters/{id}.wasm into a host (its README says how).",
        dir = dir.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_placeholders() {
        assert!(is_valid_id("acme-erp2"));
        assert!(
            !is_valid_id("Acme")
                && !is_valid_id("2acme")
                && !is_valid_id("")
                && !is_valid_id("a_b")
        );
        assert_eq!(fill("x-{{id}} at {{sdk}}", "acme", "/s"), "x-acme at /s");
        assert_eq!(fill("class {{class}}:", "acme-erp2", ""), "class AcmeErp2:");
        for template in [
            CARGO_TOML, LIB_RS, README, PY_APP, PY_ADAPTER, PY_TEST, PY_PROJECT, PY_README,
        ] {
            let filled = fill(template, "acme", "/s");
            assert!(!filled.contains("{{"), "{filled}");
        }
    }
}
