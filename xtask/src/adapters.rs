//! Building the workspace's adapters: every member that is a `cdylib`
//! depending on `interlink-sdk` is found by `cargo metadata` (no list to
//! keep), built and wrapped by `interlink-adapter-build` (what `interlink
//! adapter build` does for authors). Adapters under `tests/` go to
//! `target/test-adapters`, the others (bundled) to `target/adapters`, which
//! `interlink serve` loads by default. A crate lists extra builds with other
//! features under `[package.metadata.interlink] variants` (each with its
//! `file`, and `dir = "test-adapters"` for a bundled crate's test variant).
//! Python adapters (a folder with an `app.py`) are built with componentize-py
//! (`python.rs`) into the same folders.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
pub use interlink_adapter_build::world_wit;
use interlink_adapter_build::{Build, build, write_atomically};
use serde_json::Value;

use crate::{target_dir, workspace_root};

/// One component to build: a crate, its features, and where it goes.
#[derive(Debug, PartialEq, Eq)]
struct Job {
    manifest_path: PathBuf,
    features: Vec<String>,
    /// `target/<dir>/<file>`
    dir: &'static str,
    file: String,
}

/// The jobs for `cargo metadata`'s answer about the workspace at `root`.
fn jobs(metadata: &Value, root: &Path) -> Vec<Job> {
    let members: Vec<&str> = metadata["workspace_members"]
        .as_array()
        .map(|m| m.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut jobs = Vec::new();
    for package in metadata["packages"].as_array().into_iter().flatten() {
        let is_member = package["id"]
            .as_str()
            .is_some_and(|id| members.contains(&id));
        let is_cdylib = package["targets"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|t| {
                t["kind"]
                    .as_array()
                    .is_some_and(|k| k.iter().any(|k| k == "cdylib"))
            });
        let uses_sdk = package["dependencies"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|d| d["name"] == "interlink-sdk");
        if !(is_member && is_cdylib && uses_sdk) {
            continue;
        }
        let name = package["name"].as_str().unwrap_or_default();
        let manifest_path = PathBuf::from(package["manifest_path"].as_str().unwrap_or_default());
        let dir = if manifest_path.starts_with(root.join("tests")) {
            "test-adapters"
        } else {
            "adapters"
        };
        let file = format!("{}.wasm", name.trim_start_matches("interlink-adapter-"));
        jobs.push(Job {
            manifest_path: manifest_path.clone(),
            features: vec![],
            dir,
            file,
        });
        let variants = package["metadata"]["interlink"]["variants"].as_array();
        for variant in variants.into_iter().flatten() {
            jobs.push(Job {
                manifest_path: manifest_path.clone(),
                features: variant["features"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect(),
                dir: match variant["dir"].as_str() {
                    Some("test-adapters") => "test-adapters",
                    _ => dir,
                },
                file: variant["file"].as_str().unwrap_or_default().to_string(),
            });
        }
    }
    jobs
}

pub fn build_all() -> Result<()> {
    let root = workspace_root();
    let output = Command::new(env!("CARGO"))
        .current_dir(&root)
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .context("running cargo metadata")?;
    if !output.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let metadata: Value = serde_json::from_slice(&output.stdout)?;
    // A build folder of their own, so that `cargo xtask test` builds the
    // adapters beside the host's tests instead of waiting for cargo's lock
    // on `target/`.
    let build_dir = target_dir().join("adapter-build");
    for job in jobs(&metadata, &root) {
        let built = build(&Build {
            manifest_path: &job.manifest_path,
            profile: "adapter",
            features: &job.features,
            target_dir: Some(&build_dir),
        })?;
        let out = target_dir().join(job.dir).join(&job.file);
        write_atomically(&out, &built.component)?;
        eprintln!(
            "built {} ({} KiB)",
            out.display(),
            built.component.len() / 1024
        );
    }
    for adapter in crate::python::adapters() {
        let out = crate::python::build(&adapter)?;
        let size = std::fs::metadata(&out).map_or(0, |m| m.len());
        eprintln!("built {} ({} KiB)", out.display(), size / 1024);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adapters_are_the_members_that_are_cdylibs_using_the_sdk() {
        let root = workspace_root();
        let output = Command::new(env!("CARGO"))
            .current_dir(&root)
            .args([
                "metadata",
                "--format-version",
                "1",
                "--no-deps",
                "--offline",
            ])
            .output()
            .unwrap();
        let metadata: Value = serde_json::from_slice(&output.stdout).unwrap();
        let found: Vec<(String, &str, Vec<String>)> = jobs(&metadata, &root)
            .into_iter()
            .map(|j| (j.file, j.dir, j.features))
            .collect();
        let job = |file: &str, dir, features: &[&str]| {
            (
                file.to_string(),
                dir,
                features.iter().map(|f| f.to_string()).collect(),
            )
        };
        for expected in [
            job("example.wasm", "adapters", &[]),
            job(
                "example-changed.wasm",
                "test-adapters",
                &["changed-request"],
            ),
            job("example-v0_1_0.wasm", "test-adapters", &["contract-0-1-0"]),
            job(
                "example-repeating-cursor.wasm",
                "test-adapters",
                &["repeating-cursor"],
            ),
            job("tryton.wasm", "adapters", &[]),
            job("sap-s4.wasm", "adapters", &[]),
            job("netsuite.wasm", "adapters", &[]),
            job("chaos.wasm", "test-adapters", &[]),
            job("chaos-next.wasm", "test-adapters", &["next-version"]),
            job("hostile.wasm", "test-adapters", &[]),
            job(
                "hostile-describe-loops.wasm",
                "test-adapters",
                &["describe-loops"],
            ),
            job(
                "hostile-huge-manifest.wasm",
                "test-adapters",
                &["huge-manifest"],
            ),
        ] {
            assert!(found.contains(&expected), "{expected:?} in {found:?}");
        }
        assert_eq!(found.len(), 12, "{found:?}");
    }
}
