//! Python for the build and the tests: tools installed into virtualenvs in
//! `target/`, Python adapters built with componentize-py, and the Python
//! SDK's and adapters' own unit tests.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use anyhow::{Context, Result, bail};

use crate::adapters::{target_dir, workspace_root};

/// The componentize-py release Python adapters are built with.
const COMPONENTIZE_PY: &str = "componentize-py==0.25.1";

/// The contract Python adapters build against (the SDK's `CONTRACT_VERSION`).
const WIT: &str = "wit/since_v0.3.0";

/// Installs `package` into a virtualenv `target/<name>`, unless it holds it
/// already (its `.installed` file names the package), and answers the
/// virtualenv's folder.
pub fn tool(name: &str, package: &str) -> Result<PathBuf> {
    let venv = target_dir().join(name);
    let marker = venv.join(".installed");
    if std::fs::read_to_string(&marker).is_ok_and(|p| p == package) {
        return Ok(venv);
    }
    eprintln!("installing {package} into {}", venv.display());
    run(Command::new("python3").args(["-m", "venv"]).arg(&venv))
        .context("python3 with venv (the build and the tests need Python 3.11 or later)")?;
    run(Command::new(venv.join("bin/pip")).args(["install", "--quiet", package]))?;
    std::fs::write(&marker, package).with_context(|| format!("writing {}", marker.display()))?;
    Ok(venv)
}

fn run(command: &mut Command) -> Result<()> {
    let status = command
        .status()
        .with_context(|| format!("running {:?}", command.get_program()))?;
    if !status.success() {
        bail!("{command:?} failed ({status})");
    }
    Ok(())
}

/// A Python adapter: a folder with an `app.py` that binds `Adapter`, and
/// optionally a `pyproject.toml` whose `[tool.interlink] python-path` names
/// more folders (relative to it) to build with.
pub struct PythonAdapter {
    pub dir: PathBuf,
    /// `target/<out_dir>/<name>.wasm`
    pub out_dir: &'static str,
    pub name: String,
}

/// The Python adapters of the workspace: folders of `adapters/` (bundled)
/// and `tests/adapters/` (the tests' own) with an `app.py`.
pub fn adapters() -> Vec<PythonAdapter> {
    let root = workspace_root();
    let mut found = Vec::new();
    for (parent, out_dir) in [
        ("adapters", "adapters"),
        ("tests/adapters", "test-adapters"),
    ] {
        let Ok(entries) = std::fs::read_dir(root.join(parent)) else {
            continue;
        };
        for entry in entries.flatten() {
            let dir = entry.path();
            if dir.join("app.py").is_file() {
                found.push(PythonAdapter {
                    name: entry.file_name().to_string_lossy().into_owned(),
                    dir,
                    out_dir,
                });
            }
        }
    }
    found.sort_by(|a, b| a.dir.cmp(&b.dir));
    found
}

/// The folders `dir/pyproject.toml` adds to the path (`[tool.interlink]
/// python-path`), resolved from `dir`.
fn python_path(dir: &Path) -> Result<Vec<PathBuf>> {
    let file = dir.join("pyproject.toml");
    let Ok(text) = std::fs::read_to_string(&file) else {
        return Ok(Vec::new());
    };
    let project: toml::Table = text
        .parse()
        .with_context(|| format!("reading {}", file.display()))?;
    let paths = project
        .get("tool")
        .and_then(|t| t.get("interlink"))
        .and_then(|t| t.get("python-path"))
        .and_then(|p| p.as_array());
    Ok(paths
        .into_iter()
        .flatten()
        .filter_map(|p| p.as_str())
        .map(|p| dir.join(p))
        .collect())
}

/// The newest modification time of the files under `dirs`.
fn newest(dirs: &[&Path]) -> Option<SystemTime> {
    let mut newest = None;
    let mut stack: Vec<PathBuf> = dirs.iter().map(|d| d.to_path_buf()).collect();
    while let Some(path) = stack.pop() {
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            if path.file_name().is_some_and(|n| n == "__pycache__") {
                continue;
            }
            stack.extend(
                std::fs::read_dir(&path)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|e| e.path()),
            );
        } else if let Ok(modified) = meta.modified() {
            newest = newest.max(Some(modified));
        }
    }
    newest
}

/// Builds `adapter` into its component with componentize-py, unless the
/// component is newer than its sources, the SDK and the contract. WASI is
/// stubbed out: a Python adapter imports the contract and nothing else.
pub fn build(adapter: &PythonAdapter) -> Result<PathBuf> {
    let root = workspace_root();
    let out = target_dir()
        .join(adapter.out_dir)
        .join(format!("{}.wasm", adapter.name));
    let sdk = root.join("sdk-python");
    let mut path = vec![adapter.dir.clone()];
    path.extend(python_path(&adapter.dir)?);
    path.push(sdk.clone());
    let inputs = path
        .iter()
        .map(|p| newest(&[p]))
        .chain([newest(&[&root.join(WIT)])])
        .max()
        .flatten();
    let built = std::fs::metadata(&out).and_then(|m| m.modified()).ok();
    if built.is_some() && built >= inputs {
        return Ok(out);
    }
    let venv = tool("componentize-py", COMPONENTIZE_PY)?;
    std::fs::create_dir_all(out.parent().expect("target/<dir>/<file>"))?;
    let partial = out.with_extension("wasm.partial");
    let mut command = Command::new(venv.join("bin/componentize-py"));
    command.current_dir(&root).args([
        "--quiet",
        "-d",
        WIT,
        "-w",
        "adapter-world",
        "componentize",
        "app",
        "--stub-wasi",
    ]);
    for dir in &path {
        command.arg("-p").arg(dir);
    }
    run(command.arg("-o").arg(&partial))
        .with_context(|| format!("building {} with componentize-py", adapter.dir.display()))?;
    std::fs::rename(&partial, &out)?;
    Ok(out)
}

/// Runs the unit tests of the Python SDK and of every Python adapter,
/// natively, against bindings generated from the contract (the SDK's
/// `testing.TestHost` answers the host's imports).
pub fn unit_tests() -> Result<()> {
    let root = workspace_root();
    let venv = tool("componentize-py", COMPONENTIZE_PY)?;
    let bindings = target_dir().join("python-bindings");
    run(Command::new(venv.join("bin/componentize-py"))
        .current_dir(&root)
        .args(["--quiet", "-d", WIT, "-w", "adapter-world", "bindings"])
        .arg(&bindings))?;
    let sdk = root.join("sdk-python");
    let mut suites = vec![sdk.clone()];
    suites.extend(adapters().into_iter().map(|a| a.dir));
    for dir in suites {
        if !dir.join("tests").is_dir() {
            continue;
        }
        let mut path = vec![bindings.clone(), sdk.clone(), dir.clone()];
        path.extend(python_path(&dir)?);
        let path = std::env::join_paths(path)?;
        eprintln!("python tests of {}", dir.display());
        run(Command::new(venv.join("bin/python"))
            .current_dir(&dir)
            .env("PYTHONPATH", path)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .args(["-m", "unittest", "discover", "-s", "tests", "-t", "."]))
        .with_context(|| format!("the Python tests of {}", dir.display()))?;
    }
    Ok(())
}
