//! `cargo xtask test`: every test of the workspace, in stages, with the
//! time of each printed at the end.
//!
//! 1. **tools**, on a thread of its own while the builds run: the real parts
//!    the tests use, each installed once (trytond and its template
//!    database, mock-sap, schemathesis, standardwebhooks, the Python MCP
//!    SDK, Chromium with its WebDriver, axe-core, cargo-nextest), most of it
//!    waiting on the network;
//! 2. **adapters**, on another thread beside the build: every adapter built
//!    into `target/adapters` and `target/test-adapters` (`adapters.rs`);
//! 3. **build**: every test binary, once (the host's integration tests are
//!    one binary, `host/tests/it`, so wasmtime and the host are linked once);
//! 4. **python**: the Python SDK's and Python adapters' unit tests (a suite
//!    that runs no test fails);
//! 5. **postgres**: a PostgreSQL server of the run's own (`postgres.rs`);
//! 6. **tests**: cargo-nextest over the workspace, each test in its own
//!    process under the deadline of `.config/nextest.toml`, several at once;
//!    then the documentation tests.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::adapters;
use crate::{postgres, python};
use crate::{target_dir, workspace_root};

/// The stages run so far, and how long each took.
#[derive(Default)]
struct Stages(Vec<(&'static str, Duration, bool)>);

impl Stages {
    /// Runs `stage`, timed.
    fn run<T>(&mut self, name: &'static str, stage: impl FnOnce() -> Result<T>) -> Result<T> {
        let started = Instant::now();
        let done = stage();
        self.0.push((name, started.elapsed(), done.is_ok()));
        done
    }

    /// The table `cargo xtask test` ends with.
    fn table(&self, total: Duration) -> String {
        let mut out = String::from("\n| stage | time | |\n|---|---:|---|\n");
        for (name, took, ok) in &self.0 {
            let mark = if *ok { "ok" } else { "FAILED" };
            out.push_str(&format!("| {name} | {} | {mark} |\n", minutes(*took)));
        }
        out.push_str(&format!("| **total** | {} | |\n", minutes(total)));
        out
    }
}

fn minutes(d: Duration) -> String {
    format!("{}:{:02}", d.as_secs() / 60, d.as_secs() % 60)
}

/// `cargo xtask test [FILTER...]`: `args` go to cargo-nextest (test name
/// filters, `-E` expressions, `--no-capture`, ...).
pub fn run(args: &[String]) -> Result<()> {
    let started = Instant::now();
    let mut stages = Stages::default();
    let result = stages_of_the_run(&mut stages, args);
    eprintln!("{}", stages.table(started.elapsed()));
    result
}

/// `stage`, to run on a thread of its own, answering its result and time.
fn timed<T>(stage: impl FnOnce() -> Result<T>) -> impl FnOnce() -> (Result<T>, Duration) {
    move || {
        let started = Instant::now();
        (stage(), started.elapsed())
    }
}

fn stages_of_the_run(stages: &mut Stages, args: &[String]) -> Result<()> {
    let (tools, adapters, built) = std::thread::scope(|scope| {
        let tools = scope.spawn(timed(tools));
        // The adapters build in a folder of their own (`adapters.rs`), so
        // both builds run at once and each fills the cores the other leaves
        // idle (the adapters' link-time optimization is single-threaded).
        let adapters = scope.spawn(timed(adapters::build_all));
        let built = stages.run("build", || {
            crate::cargo(&["test", "--workspace", "--no-run"], &[])
        });
        let tools = tools.join().expect("the tools thread");
        (tools, adapters.join().expect("the adapters thread"), built)
    });
    let (tools, took) = tools;
    let (adapters, adapters_took) = adapters;
    stages
        .0
        .insert(0, ("tools (beside the build)", took, tools.is_ok()));
    stages.0.insert(
        1,
        (
            "adapters (beside the build)",
            adapters_took,
            adapters.is_ok(),
        ),
    );
    let nextest = tools?;
    adapters?;
    built?;
    stages.run("python", python::unit_tests)?;
    let postgres = stages.run("postgres", || {
        postgres::Server::start(&workspace_root().join("target/postgres"))
    })?;
    let ca = postgres.ca.to_string_lossy();
    let env = [
        (postgres::URL_VARIABLE, postgres.url.as_str()),
        (postgres::CA_VARIABLE, &ca),
    ];
    // The test servers' shared compile cache (`host/tests/it/common`)
    // starts empty: each adapter of this build is compiled once in the run.
    let compile_cache = crate::target_dir().join("test-compile-cache");
    if compile_cache.exists() {
        std::fs::remove_dir_all(&compile_cache)
            .with_context(|| format!("removing {}", compile_cache.display()))?;
    }
    stages.run("tests", || {
        let mut run = vec!["nextest", "run", "--workspace"];
        run.extend(args.iter().map(String::as_str));
        cargo_in(&nextest, &run, &env)?;
        if args.is_empty() {
            cargo_in(&nextest, &["test", "--workspace", "--doc"], &env)?;
        }
        Ok(())
    })
}

/// Installs what the tests use besides the build; answers the folder that
/// holds `cargo-nextest`, to put first on `PATH`.
fn tools() -> Result<PathBuf> {
    let nextest = nextest()?;
    tryton()?;
    mock_sap()?;
    python::tool("schemathesis", "schemathesis==4.32.5")?;
    python::tool("standardwebhooks", "standardwebhooks==1.1.0")?;
    // The MCP door's independent client (`tests/mcp/driver.py`): its
    // Streamable HTTP client is `mcp.client.streamable_http`.
    python::tool("mcp", "mcp==2.3.0")?;
    // The metrics tests' independent OpenMetrics parser
    // (`tests/prometheus/parse.py`).
    python::tool("prometheus-client", "prometheus-client==0.23.1")?;
    chromium()?;
    axe_core()?;
    Ok(nextest)
}

/// The pinned cargo-nextest the run uses: the machine's when it is that
/// version, or one installed into `target/tools`.
const NEXTEST: &str = "0.9.143";

fn nextest() -> Result<PathBuf> {
    let tools = target_dir().join("tools");
    let machines = Command::new(env!("CARGO"))
        .args(["nextest", "--version"])
        .output();
    if let Ok(out) = machines
        && String::from_utf8_lossy(&out.stdout).starts_with(&format!("cargo-nextest {NEXTEST}"))
    {
        return Ok(tools.join("bin"));
    }
    if tools.join("bin/cargo-nextest").exists() {
        return Ok(tools.join("bin"));
    }
    eprintln!(
        "installing cargo-nextest {NEXTEST} into {}",
        tools.display()
    );
    let status = Command::new(env!("CARGO"))
        .args(["install", "cargo-nextest", "--locked", "--version", NEXTEST])
        .arg("--root")
        .arg(&tools)
        .status()
        .context("running cargo install")?;
    if !status.success() {
        bail!("installing cargo-nextest failed ({status})");
    }
    Ok(tools.join("bin"))
}

/// Installs trytond and prepares the template database for the Tryton tests
/// (cached in `target/tryton`), before the tests start servers from it.
fn tryton() -> Result<()> {
    let status = Command::new("python3")
        .current_dir(workspace_root())
        .args(["tests/tryton/harness.py", "setup"])
        .status()
        .context("running python3 (the Tryton tests need Python 3.10 or later)")?;
    if !status.success() {
        bail!("preparing the Tryton test server failed ({status})");
    }
    Ok(())
}

/// The mock-sap release the SAP tests are written against;
/// `host/tests/it/common/sap.rs` checks that the server it starts is this one.
const MOCK_SAP: &str = "mock-sap==0.22.0";

/// Installs mock-sap, the SAP S/4HANA stand-in of the SAP adapter's tests
/// (`host/tests/it/sap.rs`), into a virtualenv `target/mock-sap`, and checks
/// that its command is there.
fn mock_sap() -> Result<()> {
    let command = python::tool("mock-sap", MOCK_SAP)?.join("bin/mock-sap");
    if !command.exists() {
        bail!("{MOCK_SAP} installed no {}", command.display());
    }
    Ok(())
}

/// Installs Debian's Chromium and its WebDriver, which the dashboard tests
/// drive, when they are missing.
fn chromium() -> Result<()> {
    if Path::new("/usr/bin/chromium").exists() && Path::new("/usr/bin/chromedriver").exists() {
        return Ok(());
    }
    eprintln!("installing Debian's chromium and chromium-driver");
    crate::apt_install(
        &["chromium", "chromium-driver"],
        "the dashboard tests need Debian's chromium",
    )
}

/// The axe-core release the dashboard tests check the pages with
/// (`host/tests/it/dashboard.rs` injects its `axe.min.js` into Chromium).
const AXE_CORE: &str = "4.14.1";

/// Installs axe-core from the npm registry into `target/axe-core`, unless
/// that holds this release already (its `package.json` says so).
fn axe_core() -> Result<()> {
    let prefix = target_dir().join("axe-core");
    let package = prefix.join("node_modules/axe-core");
    if installed_version(&package).as_deref() == Some(AXE_CORE) {
        return Ok(());
    }
    eprintln!("installing axe-core {AXE_CORE} into {}", prefix.display());
    std::fs::create_dir_all(&prefix).with_context(|| format!("creating {}", prefix.display()))?;
    let status = Command::new("npm")
        .args([
            "install",
            "--no-save",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
        ])
        .arg("--prefix")
        .arg(&prefix)
        .arg(format!("axe-core@{AXE_CORE}"))
        .status()
        .context("running npm (the dashboard tests' accessibility check needs Node.js and npm)")?;
    if !status.success() {
        bail!("npm install axe-core@{AXE_CORE} failed ({status})");
    }
    match installed_version(&package) {
        Some(version) if version == AXE_CORE => Ok(()),
        found => bail!(
            "npm installed axe-core {found:?} into {}, not {AXE_CORE}",
            package.display()
        ),
    }
}

/// The `version` of the npm package in `dir`, when it is installed.
fn installed_version(dir: &Path) -> Option<String> {
    let manifest = std::fs::read(dir.join("package.json")).ok()?;
    let manifest: serde_json::Value = serde_json::from_slice(&manifest).ok()?;
    Some(manifest["version"].as_str()?.to_string())
}

/// Runs cargo at the workspace root with `args` and `env`, with the folder
/// `tools` first on `PATH` (where cargo-nextest may be).
fn cargo_in(tools: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<()> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let path = std::env::join_paths(
        std::iter::once(tools.to_path_buf()).chain(std::env::split_paths(&path)),
    )?;
    let path = path.to_str().context("PATH is not UTF-8")?;
    let env: Vec<(&str, &str)> = env.iter().copied().chain([("PATH", path)]).collect();
    crate::cargo_with_env(args, &[], &env)
}
