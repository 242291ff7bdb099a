//! Building adapters: `wasm32-unknown-unknown` core modules, wrapped into
//! components with `wit-component`.
//!
//! Adapters are built for `wasm32-unknown-unknown` rather than `wasm32-wasip2`
//! so that the component imports nothing but the Interlink contract: no WASI,
//! hence no ambient authority to deny, and nothing to set up per call.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use wit_component::{ComponentEncoder, WitPrinter};

const TARGET: &str = "wasm32-unknown-unknown";

/// An adapter crate and where its component goes.
struct Build {
    package: &'static str,
    features: &'static [&'static str],
    /// `target/<dir>/<file>`
    dir: &'static str,
    file: &'static str,
}

/// Every adapter the project builds. Bundled adapters go to `target/adapters`,
/// which `interlink serve` loads by default; the tests' own go to
/// `target/test-adapters`.
const BUILDS: &[Build] = &[
    Build {
        package: "interlink-adapter-example",
        features: &[],
        dir: "adapters",
        file: "example.wasm",
    },
    Build {
        package: "interlink-adapter-tryton",
        features: &[],
        dir: "adapters",
        file: "tryton.wasm",
    },
    Build {
        package: "interlink-adapter-netsuite",
        features: &[],
        dir: "adapters",
        file: "netsuite.wasm",
    },
    Build {
        package: "interlink-adapter-chaos",
        features: &[],
        dir: "test-adapters",
        file: "chaos.wasm",
    },
    Build {
        package: "interlink-adapter-chaos",
        features: &["next-version"],
        dir: "test-adapters",
        file: "chaos-next.wasm",
    },
    Build {
        package: "interlink-adapter-hostile",
        features: &[],
        dir: "test-adapters",
        file: "hostile.wasm",
    },
    Build {
        package: "interlink-adapter-hostile",
        features: &["describe-loops"],
        dir: "test-adapters",
        file: "hostile-describe-loops.wasm",
    },
    Build {
        package: "interlink-adapter-hostile",
        features: &["huge-manifest"],
        dir: "test-adapters",
        file: "hostile-huge-manifest.wasm",
    },
];

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// Installs the Wasm target through rustup when the toolchain lacks it.
fn ensure_target() -> Result<()> {
    let output = Command::new("rustc")
        .args(["--print", "target-libdir", "--target", TARGET])
        .output()?;
    let libdir = String::from_utf8_lossy(&output.stdout).trim().to_string();
    if output.status.success() && Path::new(&libdir).exists() {
        return Ok(());
    }
    eprintln!("installing the {TARGET} target with rustup");
    let status = Command::new("rustup").args(["target", "add", TARGET]).status().context(
        "running rustup: install the target by hand with `rustup target add wasm32-unknown-unknown`",
    )?;
    if !status.success() {
        bail!("`rustup target add {TARGET}` failed");
    }
    Ok(())
}

pub fn build_all() -> Result<()> {
    ensure_target()?;
    for build in BUILDS {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.current_dir(workspace_root()).args([
            "build",
            "--quiet",
            "--profile",
            "adapter",
            "--target",
            TARGET,
            "--package",
            build.package,
        ]);
        if !build.features.is_empty() {
            cmd.args(["--features", &build.features.join(",")]);
        }
        let status = cmd.status().context("running cargo")?;
        if !status.success() {
            bail!("building {} failed", build.package);
        }
        let module_path = target_dir()
            .join(TARGET)
            .join("adapter")
            .join(format!("{}.wasm", build.package.replace('-', "_")));
        let module = std::fs::read(&module_path)
            .with_context(|| format!("reading {}", module_path.display()))?;
        let component = componentize(&module)
            .with_context(|| format!("wrapping {} into a component", build.package))?;
        let out_dir = target_dir().join(build.dir);
        std::fs::create_dir_all(&out_dir)?;
        let out = out_dir.join(build.file);
        // Write then rename, so a running host never sees half a file.
        let tmp = out_dir.join(format!(".{}.tmp", build.file));
        std::fs::write(&tmp, &component)?;
        std::fs::rename(&tmp, &out)?;
        eprintln!("built {} ({} KiB)", out.display(), component.len() / 1024);
    }
    Ok(())
}

/// Wraps a core module that carries wit-bindgen's component-type section
/// into a component.
pub fn componentize(module: &[u8]) -> Result<Vec<u8>> {
    ComponentEncoder::default()
        .module(module)?
        .validate(true)
        .encode()
}

/// The WIT of the world a component implements.
pub fn world_wit(component: &[u8]) -> Result<String> {
    let decoded = wit_component::decode(component).context("decoding the component")?;
    let mut printer = WitPrinter::default();
    printer.print(decoded.resolve(), decoded.package(), &[])?;
    Ok(printer.output.to_string())
}
