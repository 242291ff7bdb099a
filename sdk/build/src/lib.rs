//! Building an adapter crate into a component, for `interlink adapter build`
//! and the project's own `cargo xtask build-adapters`: `cargo build` for
//! `wasm32-unknown-unknown`, then `wit-component` wraps the core module
//! (which carries wit-bindgen's component-type section) into a component.
//!
//! Adapters are built for `wasm32-unknown-unknown` rather than `wasm32-wasip2`
//! so that the component imports nothing but the Interlink contract: no WASI,
//! hence no ambient authority to deny, and nothing to set up per call.
//! Python adapters are built by componentize-py instead ([`python`]).

pub mod python;

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use wit_component::{ComponentEncoder, WitPrinter};

/// The target adapters are built for.
pub const TARGET: &str = "wasm32-unknown-unknown";

/// What to build: one adapter crate, with a cargo profile and features.
pub struct Build<'a> {
    /// The crate's `Cargo.toml`.
    pub manifest_path: &'a Path,
    /// `release`, or a profile of the workspace (`adapter`).
    pub profile: &'a str,
    pub features: &'a [String],
    /// Where cargo builds (`--target-dir`); cargo's own choice when `None`.
    pub target_dir: Option<&'a Path>,
}

/// A built component.
pub struct Built {
    /// The core module cargo wrote.
    pub module_path: PathBuf,
    /// The cargo target folder it was written under.
    pub target_dir: PathBuf,
    pub component: Vec<u8>,
}

/// Installs the Wasm target through rustup when the toolchain lacks it.
pub fn ensure_target() -> Result<()> {
    let output = Command::new("rustc")
        .args(["--print", "target-libdir", "--target", TARGET])
        .output()
        .context("running rustc")?;
    let libdir = String::from_utf8_lossy(&output.stdout).trim().to_string();
    if output.status.success() && Path::new(&libdir).exists() {
        return Ok(());
    }
    eprintln!("installing the {TARGET} target with rustup");
    let status = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status()
        .context(
            "running rustup: install the target with `rustup target add wasm32-unknown-unknown`",
        )?;
    if !status.success() {
        bail!("`rustup target add {TARGET}` failed");
    }
    Ok(())
}

/// Builds the crate and wraps its module into a component.
pub fn build(build: &Build) -> Result<Built> {
    ensure_target()?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .args(["build", "--message-format=json-render-diagnostics"])
        .args(["--profile", build.profile, "--target", TARGET])
        .arg("--manifest-path")
        .arg(build.manifest_path)
        .stdout(Stdio::piped());
    if !build.features.is_empty() {
        command.args(["--features", &build.features.join(",")]);
    }
    if let Some(dir) = build.target_dir {
        command.arg("--target-dir").arg(dir);
    }
    let mut child = command.spawn().context("running cargo")?;
    let mut module_path = None;
    let stdout = std::io::BufReader::new(child.stdout.take().expect("piped"));
    for line in stdout.lines() {
        if let Some(path) = wasm_artifact(&line?) {
            module_path = Some(path);
        }
    }
    let status = child.wait()?;
    if !status.success() {
        bail!("building {} failed", build.manifest_path.display());
    }
    let module_path = module_path.with_context(|| {
        format!(
            "{} built no .wasm library: an adapter crate needs `[lib] crate-type = [\"cdylib\"]`",
            build.manifest_path.display()
        )
    })?;
    // `<target>/wasm32-unknown-unknown/<profile>/<name>.wasm`
    let target_dir = module_path
        .ancestors()
        .nth(3)
        .context("an unexpected artifact path")?
        .to_path_buf();
    let module = std::fs::read(&module_path)
        .with_context(|| format!("reading {}", module_path.display()))?;
    let component = componentize(&module)
        .with_context(|| format!("wrapping {} into a component", module_path.display()))?;
    Ok(Built {
        module_path,
        target_dir,
        component,
    })
}

/// The `.wasm` file of a cdylib in one of cargo's JSON messages.
fn wasm_artifact(line: &str) -> Option<PathBuf> {
    let message: serde_json::Value = serde_json::from_str(line).ok()?;
    if message["reason"] != "compiler-artifact" {
        return None;
    }
    let kinds = message["target"]["kind"].as_array()?;
    if !kinds.iter().any(|k| k == "cdylib") {
        return None;
    }
    message["filenames"]
        .as_array()?
        .iter()
        .filter_map(|f| f.as_str())
        .find(|f| f.ends_with(".wasm"))
        .map(PathBuf::from)
}

/// Wraps a core module that carries wit-bindgen's component-type section
/// into a component.
pub fn componentize(module: &[u8]) -> Result<Vec<u8>> {
    ComponentEncoder::default()
        .module(module)?
        .validate(true)
        .encode()
}

/// Writes `bytes` to `path` through a temporary file and a rename, so that a
/// host watching the folder never reads half a component.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = path
        .file_name()
        .context("a file name")?
        .to_string_lossy()
        .into_owned();
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// The WIT of the world a component implements.
pub fn world_wit(component: &[u8]) -> Result<String> {
    let decoded = wit_component::decode(component).context("decoding the component")?;
    let mut printer = WitPrinter::default();
    printer.print(decoded.resolve(), decoded.package(), &[])?;
    Ok(printer.output.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wasm_of_a_cdylib_is_found_in_cargos_messages() {
        let cdylib = r#"{"reason":"compiler-artifact","target":{"kind":["cdylib"],"name":"acme"},"filenames":["/t/wasm32-unknown-unknown/release/acme.wasm"]}"#;
        assert_eq!(
            wasm_artifact(cdylib),
            Some(PathBuf::from("/t/wasm32-unknown-unknown/release/acme.wasm"))
        );
        let rlib = r#"{"reason":"compiler-artifact","target":{"kind":["lib"],"name":"serde"},"filenames":["/t/libserde.rlib"]}"#;
        assert_eq!(wasm_artifact(rlib), None);
        assert_eq!(wasm_artifact(r#"{"reason":"build-finished"}"#), None);
        assert_eq!(wasm_artifact("Compiling acme"), None);
    }
}
