//! Building a Python adapter into a component with componentize-py, for
//! `interlink adapter build` and `cargo xtask build-adapters`.
//!
//! A Python adapter is a folder with an `app.py` that binds `Adapter` (the
//! SDK's `export(YourAdapter)`), and optionally a `pyproject.toml` whose
//! `[tool.interlink]` names the Python SDK's folder (`sdk`) and more
//! folders to build with (`python-path`), both relative to it. The build
//! runs `componentize-py componentize app --stub-wasi` against the
//! contract: WASI is replaced by traps, so the component imports the
//! contract and nothing else, like a Rust adapter.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The componentize-py release Python adapters are built and tested with.
pub const COMPONENTIZE_PY: &str = "componentize-py==0.25.1";

/// The contract Python adapters build against (the Python SDK's
/// `CONTRACT_VERSION`), carried in this crate so a build needs no checkout.
const WIT: &str = include_str!("../../../wit/since_v0.4.0/adapter.wit");

/// The world adapters implement.
const WORLD: &str = "adapter-world";

/// Whether `dir` holds a Python adapter.
pub fn is_python_adapter(dir: &Path) -> bool {
    dir.join("app.py").is_file()
}

/// What `dir/pyproject.toml` says about the build.
#[derive(Debug, Default, PartialEq)]
pub struct Project {
    /// `[project] name`.
    pub name: Option<String>,
    /// `[tool.interlink] sdk`, resolved from `dir`.
    pub sdk: Option<PathBuf>,
    /// `[tool.interlink] python-path`, resolved from `dir`.
    pub python_path: Vec<PathBuf>,
}

/// Reads `dir/pyproject.toml` (an empty [`Project`] without one).
pub fn project(dir: &Path) -> Result<Project> {
    let file = dir.join("pyproject.toml");
    let Ok(text) = std::fs::read_to_string(&file) else {
        return Ok(Project::default());
    };
    let table: toml::Table = text
        .parse()
        .with_context(|| format!("reading {}", file.display()))?;
    let interlink = table.get("tool").and_then(|t| t.get("interlink"));
    Ok(Project {
        name: table
            .get("project")
            .and_then(|p| p.get("name"))
            .and_then(|n| n.as_str())
            .map(String::from),
        sdk: interlink
            .and_then(|t| t.get("sdk"))
            .and_then(|s| s.as_str())
            .map(|s| dir.join(s)),
        python_path: interlink
            .and_then(|t| t.get("python-path"))
            .and_then(|p| p.as_array())
            .into_iter()
            .flatten()
            .filter_map(|p| p.as_str())
            .map(|p| dir.join(p))
            .collect(),
    })
}

/// Whether `dir` is the Python SDK's folder.
pub fn is_python_sdk(dir: &Path) -> bool {
    dir.join("interlink_sdk/__init__.py").is_file()
}

/// Writes the contract into `work_dir/wit/`; answers that folder.
fn write_wit(work_dir: &Path) -> Result<PathBuf> {
    let wit = work_dir.join("wit");
    std::fs::create_dir_all(&wit).with_context(|| format!("creating {}", wit.display()))?;
    std::fs::write(wit.join("adapter.wit"), WIT)?;
    Ok(wit)
}

fn run(command: &mut Command) -> Result<()> {
    let status = command.status().with_context(|| {
        format!(
            "running {:?} (install it: pip install {COMPONENTIZE_PY})",
            command.get_program()
        )
    })?;
    if !status.success() {
        bail!("{command:?} failed ({status})");
    }
    Ok(())
}

/// One Python adapter to build.
pub struct PythonBuild<'a> {
    /// The adapter's folder (with `app.py`).
    pub dir: &'a Path,
    /// The Python SDK's folder.
    pub sdk: &'a Path,
    /// The `componentize-py` program.
    pub componentize_py: &'a Path,
    /// A folder for the build's own files.
    pub work_dir: &'a Path,
}

/// Builds the adapter into a component; answers its bytes.
pub fn componentize(build: &PythonBuild) -> Result<Vec<u8>> {
    if !is_python_adapter(build.dir) {
        bail!("{} has no app.py", build.dir.display());
    }
    if !is_python_sdk(build.sdk) {
        bail!(
            "{} is not the Python SDK's folder (sdk-python)",
            build.sdk.display()
        );
    }
    let wit = write_wit(build.work_dir)?;
    let out = build.work_dir.join("adapter.wasm");
    let mut command = Command::new(build.componentize_py);
    command
        .arg("--quiet")
        .arg("-d")
        .arg(&wit)
        .args(["-w", WORLD, "componentize", "app", "--stub-wasi", "-p"])
        .arg(build.dir);
    for dir in project(build.dir)?.python_path {
        command.arg("-p").arg(dir);
    }
    command.arg("-p").arg(build.sdk).arg("-o").arg(&out);
    run(&mut command)
        .with_context(|| format!("building {} with componentize-py", build.dir.display()))?;
    std::fs::read(&out).with_context(|| format!("reading {}", out.display()))
}

/// Writes the contract's Python bindings (the `wit_world` package the SDK
/// imports) into `out`, replacing what is there, for native unit tests.
pub fn bindings(componentize_py: &Path, work_dir: &Path, out: &Path) -> Result<()> {
    let wit = write_wit(work_dir)?;
    // componentize-py writes into a new folder only.
    match std::fs::remove_dir_all(out) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("removing {}", out.display()));
        }
        _ => {}
    }
    run(Command::new(componentize_py)
        .arg("--quiet")
        .arg("-d")
        .arg(&wit)
        .args(["-w", WORLD, "bindings"])
        .arg(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_project_names_its_sdk_and_path_from_its_folder() {
        let dir = std::env::temp_dir().join(format!("interlink-pyproject-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("pyproject.toml"),
            "[project]\nname = \"interlink-adapter-acme\"\n\n[tool.interlink]\nsdk = \"../sdk-python\"\npython-path = [\"../shared\"]\n",
        )
        .unwrap();
        assert_eq!(
            project(&dir).unwrap(),
            Project {
                name: Some("interlink-adapter-acme".into()),
                sdk: Some(dir.join("../sdk-python")),
                python_path: vec![dir.join("../shared")],
            }
        );
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(project(&dir).unwrap(), Project::default());
        assert!(WIT.contains("package interlink:adapter@0.4.0;"));
    }
}
