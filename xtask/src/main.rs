//! The project's tasks, as `cargo xtask <task>`:
//!
//! - `build-adapters`: builds every adapter for `wasm32-unknown-unknown` and
//!   wraps each into a component (installing the target with rustup if needed);
//! - `serve [ARGS]`: builds the adapters and the host, then runs
//!   `interlink serve` with the bundled adapters beside the demo API, with
//!   a demo connection on a new data folder (`serve.rs`);
//! - `test`: every test of the workspace, in timed stages (`test.rs`): the
//!   real parts the tests use, the adapters, the test binaries, the Python
//!   unit tests, a PostgreSQL server of its own, then cargo-nextest;
//! - `soak [--duration 3m]`: the fault soak (`host/tests/it/soak.rs`) for
//!   longer than the test suite runs it, printing its table (`soak.rs`);
//! - `wit FILE.wasm`: prints the WIT world a component implements;
//! - `config-reference`: writes `docs/configuration.md` from the host's
//!   flags (`interlink config-reference`);
//! - `with-postgres COMMAND...`: runs a command beside a new PostgreSQL
//!   server, as the tests get one (for the benchmarks on PostgreSQL).

mod adapters;
mod postgres;
mod python;
mod serve;
mod soak;
mod test;

use std::path::PathBuf;
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
    /// Build the adapters, then run all tests (with cargo-nextest).
    Test {
        /// Passed to `cargo nextest run` (a test name filter, `-E`
        /// expressions, `--no-capture`, ...).
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
    /// Write `docs/configuration.md` from the host's flags.
    ConfigReference,
    /// Run a command beside a new PostgreSQL server (as the tests get one),
    /// its admin URL in `INTERLINK_TEST_POSTGRES_URL`; e.g.
    /// `cargo xtask with-postgres cargo bench -p interlink --bench sync`.
    WithPostgres {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        command: Vec<String>,
    },
}

/// The workspace's root folder.
pub fn workspace_root() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// The build's target folder: `CARGO_TARGET_DIR`, or `target` in the
/// workspace.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
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
        Task::Test { args } => test::run(&args),
        Task::WithPostgres { command } => {
            let postgres =
                postgres::Server::start(&crate::workspace_root().join("target/postgres"))?;
            let status = Command::new(&command[0])
                .args(&command[1..])
                .env(postgres::URL_VARIABLE, &postgres.url)
                .env(postgres::CA_VARIABLE, &postgres.ca)
                .status()
                .with_context(|| format!("running {}", command[0]))?;
            if !status.success() {
                bail!("{} failed ({status})", command.join(" "));
            }
            Ok(())
        }
        Task::Soak { duration } => soak::soak(duration),
        Task::ConfigReference => config_reference(),
        Task::Wit { file } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            print!("{}", adapters::world_wit(&bytes)?);
            Ok(())
        }
    }
}

/// `cargo xtask config-reference`: what `interlink config-reference` prints,
/// into `docs/configuration.md`.
fn config_reference() -> Result<()> {
    let out = Command::new(env!("CARGO"))
        .current_dir(crate::workspace_root())
        .args([
            "run",
            "--quiet",
            "--package",
            "interlink",
            "--",
            "config-reference",
        ])
        .output()
        .context("running cargo")?;
    if !out.status.success() {
        bail!(
            "interlink config-reference failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let path = crate::workspace_root().join("docs/configuration.md");
    std::fs::write(&path, &out.stdout).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
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

/// Runs cargo at the workspace root with `args` then `extra`.
pub fn cargo(args: &[&str], extra: &[String]) -> Result<()> {
    cargo_with_env(args, extra, &[])
}

/// Runs cargo at the workspace root with `args` then `extra`, and `env` set.
pub fn cargo_with_env(args: &[&str], extra: &[String], env: &[(&str, &str)]) -> Result<()> {
    let status = Command::new(env!("CARGO"))
        .current_dir(crate::workspace_root())
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
