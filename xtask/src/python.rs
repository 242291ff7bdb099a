//! Python for the build and the tests: tools installed into virtualenvs in
//! `target/`, the workspace's Python adapters built with componentize-py
//! (`interlink_adapter_build::python`, as `interlink adapter build` does),
//! and the Python SDK's and adapters' own unit tests.

use std::path::PathBuf;
use std::process::Command;
use std::time::SystemTime;

use anyhow::{Context, Result, bail};
use interlink_adapter_build::python::{self, COMPONENTIZE_PY, PythonBuild};

use crate::{target_dir, workspace_root};

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
    // `--no-compile`: modules are compiled when first imported, not every
    // module of every package at install (a tenth of a venv's install CPU).
    run(Command::new(venv.join("bin/pip")).args(["install", "--quiet", "--no-compile", package]))?;
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

/// `componentize-py`, installed into `target/componentize-py`.
pub fn componentize_py() -> Result<PathBuf> {
    Ok(tool("componentize-py", COMPONENTIZE_PY)?.join("bin/componentize-py"))
}

/// A Python adapter of the workspace.
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
            if python::is_python_adapter(&entry.path()) {
                found.push(PythonAdapter {
                    name: entry.file_name().to_string_lossy().into_owned(),
                    dir: entry.path(),
                    out_dir,
                });
            }
        }
    }
    found.sort_by(|a, b| a.dir.cmp(&b.dir));
    found
}

/// The newest modification time of the files under `dirs`.
fn newest(dirs: &[PathBuf]) -> Option<SystemTime> {
    let mut newest = None;
    let mut stack: Vec<PathBuf> = dirs.to_vec();
    while let Some(path) = stack.pop() {
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            if path.file_name().is_some_and(|n| n == "__pycache__") {
                continue;
            }
            let entries = std::fs::read_dir(&path).into_iter().flatten().flatten();
            stack.extend(entries.map(|e| e.path()));
        } else if let Ok(modified) = meta.modified() {
            newest = newest.max(Some(modified));
        }
    }
    newest
}

/// Builds `adapter` into `target/<out_dir>/<name>.wasm`, unless that is
/// newer than its sources, the folders it builds with, the SDK and the
/// contract.
pub fn build(adapter: &PythonAdapter) -> Result<PathBuf> {
    let root = workspace_root();
    let out = target_dir()
        .join(adapter.out_dir)
        .join(format!("{}.wasm", adapter.name));
    let sdk = root.join("sdk-python");
    let mut inputs = vec![
        adapter.dir.clone(),
        sdk.clone(),
        root.join("wit/since_v0.4.0"),
    ];
    inputs.extend(python::project(&adapter.dir)?.python_path);
    let built = std::fs::metadata(&out).and_then(|m| m.modified()).ok();
    if built.is_some() && built >= newest(&inputs) {
        return Ok(out);
    }
    let work_dir = target_dir().join("python-build").join(&adapter.name);
    let component = python::componentize(&PythonBuild {
        dir: &adapter.dir,
        sdk: &sdk,
        componentize_py: &componentize_py()?,
        work_dir: &work_dir,
    })?;
    interlink_adapter_build::write_atomically(&out, &component)?;
    Ok(out)
}

/// Runs the unit tests of the Python SDK and of every Python adapter,
/// natively, against bindings generated from the contract (the SDK's
/// `testing.TestHost` answers the host's imports).
pub fn unit_tests() -> Result<()> {
    let root = workspace_root();
    let bindings = target_dir().join("python-bindings");
    let componentize_py = componentize_py()?;
    let work_dir = target_dir().join("python-build");
    python::bindings(&componentize_py, &work_dir, &bindings)?;
    let python = componentize_py.with_file_name("python");
    let sdk = root.join("sdk-python");
    let mut suites = vec![sdk.clone()];
    suites.extend(adapters().into_iter().map(|a| a.dir));
    for dir in suites.iter().filter(|d| d.join("tests").is_dir()) {
        let mut path = vec![bindings.clone(), sdk.clone(), dir.clone()];
        path.extend(python::project(dir)?.python_path);
        eprintln!("python tests of {}", dir.display());
        let output = Command::new(&python)
            .current_dir(dir)
            .env("PYTHONPATH", std::env::join_paths(path)?)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .args(["-m", "unittest", "discover", "-s", "tests", "-t", "."])
            .output()
            .with_context(|| format!("running {}", python.display()))?;
        let report = String::from_utf8_lossy(&output.stderr);
        eprint!("{}{report}", String::from_utf8_lossy(&output.stdout));
        if !output.status.success() {
            bail!("the Python tests of {} failed", dir.display());
        }
        match tests_ran(&report) {
            Some(0) | None => bail!(
                "the Python tests of {} ran no test (unittest found none in `tests/`, \
                 which Python 3.11 reports as success)",
                dir.display()
            ),
            Some(_) => {}
        }
    }
    Ok(())
}

/// How many tests unittest's `report` says it ran (its `Ran N tests` line).
fn tests_ran(report: &str) -> Option<usize> {
    report.lines().find_map(|line| {
        let count = line.strip_prefix("Ran ")?.split_whitespace().next()?;
        count.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::tests_ran;

    #[test]
    fn a_suite_that_ran_no_test_is_told_apart() {
        let ran = "....\n------\nRan 4 tests in 0.01s\n\nOK\n";
        assert_eq!(tests_ran(ran), Some(4));
        assert_eq!(
            tests_ran("\n----\nRan 0 tests in 0.000s\n\nNO TESTS RAN\n"),
            Some(0)
        );
        assert_eq!(tests_ran("Ran 1 test in 0.001s\n"), Some(1));
        assert_eq!(tests_ran("Traceback ...\n"), None);
    }
}
