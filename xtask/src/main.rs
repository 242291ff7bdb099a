//! The project's tasks, as `cargo xtask <task>`:
//!
//! - `build-adapters`: builds every adapter for `wasm32-unknown-unknown` and
//!   wraps each into a component (installing the target with rustup if needed);
//! - `serve [ARGS]`: builds the adapters and the host, then runs
//!   `interlink serve` with the bundled adapters beside the demo API, with
//!   a demo connection on a new data folder (`serve.rs`);
//! - `test`: builds the adapters, prepares the Tryton test server
//!   (`tests/tryton/harness.py`), schemathesis and standardwebhooks (each a
//!   virtualenv in `target/`) and Chromium with its WebDriver (Debian's
//!   packages, when missing), runs the Python SDK's and Python adapters'
//!   unit tests, starts a PostgreSQL server (Debian's, in `target/postgres`,
//!   `postgres.rs`), then runs every test of the workspace;
//! - `soak [--duration 3m]`: the fault soak (`host/tests/soak.rs`) for
//!   longer than the test suite runs it, printing its table (`soak.rs`);
//! - `wit FILE.wasm`: prints the WIT world a component implements;
//! - `with-postgres COMMAND...`: runs a command beside a new PostgreSQL
//!   server, as the tests get one (for the benchmarks on PostgreSQL).

mod adapters;
mod postgres;
mod python;
mod serve;
mod soak;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Builds and checks Interlink")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Build every adapter into `target/adapters` (bundled) and
    /// `target/test-adapters` (the tests' own).
    BuildAdapters,
    /// Build everything, then run `interlink serve` with the bundled adapters
    /// and the demo API (a demo connection on a new data folder).
    Serve {
        /// Passed to `interlink serve` (see `interlink serve --help`).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Build the adapters, then run all tests.
    Test {
        /// Passed to `cargo test` (a test name filter, `--nocapture`, ...).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run the fault soak (one tenant's system failing in every way while
    /// another's works) for `--duration`, and print its table.
    Soak {
        /// How long: `90s`, `3m`, `1h`.
        #[arg(long, default_value = "3m", value_parser = humantime::parse_duration)]
        duration: std::time::Duration,
    },
    /// Print the WIT world of a component, as `wasm-tools component wit` does.
    Wit { file: PathBuf },
    /// Run a command beside a new PostgreSQL server (as the tests get one),
    /// its admin URL in `INTERLINK_TEST_POSTGRES_URL`; e.g.
    /// `cargo xtask with-postgres cargo bench -p interlink --bench sync`.
    WithPostgres {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        command: Vec<String>,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse().task) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(task: Task) -> Result<()> {
    match task {
        Task::BuildAdapters => adapters::build_all(),
        Task::Serve { args } => serve::serve(&args),
        Task::Test { args } => {
            adapters::build_all()?;
            tryton_setup()?;
            schemathesis_setup()?;
            standardwebhooks_setup()?;
            chromium_setup()?;
            python::unit_tests()?;
            let postgres =
                postgres::Server::start(&adapters::workspace_root().join("target/postgres"))?;
            let mut cargo_args = vec!["test", "--release", "--workspace", "--no-fail-fast"];
            if !args.is_empty() {
                cargo_args.push("--");
            }
            cargo_with_env(
                &cargo_args,
                &args,
                &[(postgres::URL_VARIABLE, &postgres.url)],
            )
        }
        Task::WithPostgres { command } => {
            let postgres =
                postgres::Server::start(&adapters::workspace_root().join("target/postgres"))?;
            let status = Command::new(&command[0])
                .args(&command[1..])
                .env(postgres::URL_VARIABLE, &postgres.url)
                .status()
                .with_context(|| format!("running {}", command[0]))?;
            if !status.success() {
                bail!("{} failed ({status})", command.join(" "));
            }
            Ok(())
        }
        Task::Soak { duration } => soak::soak(duration),
        Task::Wit { file } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            print!("{}", adapters::world_wit(&bytes)?);
            Ok(())
        }
    }
}

/// Installs trytond and prepares the template database for the Tryton tests
/// (cached in `target/tryton`), before the tests start servers from it.
fn tryton_setup() -> Result<()> {
    let status = Command::new("python3")
        .current_dir(adapters::workspace_root())
        .args(["tests/tryton/harness.py", "setup"])
        .status()
        .context("running python3 (the Tryton tests need Python 3.10 or later)")?;
    if !status.success() {
        bail!("preparing the Tryton test server failed ({status})");
    }
    Ok(())
}

/// Installs Debian's Chromium and its WebDriver, which the dashboard tests
/// (`host/tests/dashboard.rs`) drive, when they are missing.
fn chromium_setup() -> Result<()> {
    if Path::new("/usr/bin/chromium").exists() && Path::new("/usr/bin/chromedriver").exists() {
        return Ok(());
    }
    eprintln!("installing Debian's chromium and chromium-driver");
    apt_install(
        &["chromium", "chromium-driver"],
        "the dashboard tests need Debian's chromium",
    )
}

/// Installs Debian `packages` with apt-get (as root); `why` says who needs
/// them when that fails.
pub fn apt_install(packages: &[&str], why: &str) -> Result<()> {
    let install = [&["install", "-y", "-qq"][..], packages].concat();
    for args in [&["update", "-qq"][..], &install] {
        let status = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .with_context(|| format!("running apt-get ({why})"))?;
        if !status.success() {
            bail!(
                "apt-get {} failed ({status}); install {} as root ({why})",
                args.join(" "),
                packages.join(" ")
            );
        }
    }
    Ok(())
}

/// Installs schemathesis, which checks the API against its OpenAPI document
/// (`host/tests/openapi_contract.rs`), into a virtualenv in `target/`.
/// schemathesis, for the OpenAPI contract test.
fn schemathesis_setup() -> Result<()> {
    python::tool("schemathesis", "schemathesis==4.32.5").map(drop)
}

/// The `standardwebhooks` package, the receivers' library that the webhook
/// test verifies deliveries with.
fn standardwebhooks_setup() -> Result<()> {
    python::tool("standardwebhooks", "standardwebhooks==1.1.0").map(drop)
}

/// Runs cargo at the workspace root with `args` then `extra`.
pub fn cargo(args: &[&str], extra: &[String]) -> Result<()> {
    cargo_with_env(args, extra, &[])
}

/// [`cargo`], with environment variables.
fn cargo_with_env(args: &[&str], extra: &[String], env: &[(&str, &str)]) -> Result<()> {
    let status = Command::new(env!("CARGO"))
        .current_dir(adapters::workspace_root())
        .args(args)
        .args(extra)
        .envs(env.iter().copied())
        .status()
        .context("running cargo")?;
    if !status.success() {
        bail!("cargo {} failed ({status})", args.join(" "));
    }
    Ok(())
}
