//! `interlink adapter ...`: the adapter author's commands. `new` makes a
//! project outside this repository, `build` turns a crate into a checked
//! component, `check` loads a component as the host would and, against an
//! older version, lists the capability diff an operator reads before an
//! upgrade.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::Subcommand;
use interlink::manifest::diff::capabilities;
use interlink::outbound::HttpClient;
use interlink::runtime::{Adapter, LoadError, MemoryKv, Runtime, RuntimeConfig, Services};

#[derive(Subcommand)]
pub enum Command {
    /// Make a new adapter project: a crate with a manifest, one entity
    /// (list, get, create), a test and a README.
    New(super::template::NewArgs),
    /// Build an adapter crate (for wasm32-unknown-unknown) and wrap it into
    /// a component the host loads, then check it.
    Build(BuildArgs),
    /// Check a component as the host would load it (contract version,
    /// linking, every manifest problem); with --against, list what it may do
    /// that the older version could not, and what it no longer does.
    Check(CheckArgs),
    /// Run an adapter against recorded upstream traffic (a cassette), or
    /// record it with --record.
    Test(super::adapter_test::TestArgs),
    /// Run the conformance suite against a live system: the rules every
    /// adapter must follow (model, pagination, filters, typed errors,
    /// read-only fields, unauthorized credentials), writes as dry runs
    Conform(super::adapter_conform::ConformArgs),
}

#[derive(clap::Args)]
pub struct BuildArgs {
    /// The adapter crate's folder.
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Where to write the component; default: `adapters/<crate>.wasm` in
    /// the crate's cargo target folder (without an `interlink-adapter-`
    /// prefix).
    #[arg(long)]
    out: Option<PathBuf>,
    /// The cargo profile.
    #[arg(long, default_value = "release")]
    profile: String,
    /// Cargo features to build with (comma-separated).
    #[arg(long, value_delimiter = ',')]
    features: Vec<String>,
}

#[derive(clap::Args)]
pub struct CheckArgs {
    /// The component (.wasm) to check.
    file: PathBuf,
    /// The version it replaces: a .wasm file, or the id of an adapter in
    /// --adapters-dir.
    #[arg(long)]
    against: Option<String>,
    /// Where --against looks for an adapter given by id.
    #[arg(
        long,
        env = "INTERLINK_ADAPTERS_DIR",
        default_value = "target/adapters"
    )]
    adapters_dir: PathBuf,
}

/// Runs one of the commands.
///
/// # Errors
///
/// The command failed; its error says why (a file that cannot be read or
/// written, a build that failed, a component the host would not load, a
/// rule that failed, ...).
pub async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::New(args) => super::template::new(args),
        Command::Build(args) => build(args).await,
        Command::Check(args) => check(args).await,
        Command::Test(args) => super::adapter_test::test(args).await,
        Command::Conform(args) => super::adapter_conform::conform(args).await,
    }
}

/// Loads a component as the host would, without a network or a cache.
async fn load_component(runtime: &Runtime, path: &Path) -> anyhow::Result<Adapter> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    runtime.load(bytes).await.map_err(|e| match e {
        LoadError::Manifest(problems) => {
            let list: Vec<String> = problems.0.iter().map(|p| format!("  - {p}")).collect();
            anyhow::anyhow!(
                "{}: the manifest has {} problem(s):\n{}",
                path.display(),
                list.len(),
                list.join("\n")
            )
        }
        other => anyhow::anyhow!("{}: {other}", path.display()),
    })
}

/// A runtime for checking components: no network, no cache.
fn checking_runtime() -> anyhow::Result<Runtime> {
    let outbound = HttpClient::new(1 << 20, None)?;
    let services = Services::new(Arc::new(outbound), Arc::new(MemoryKv::default()));
    Runtime::new(RuntimeConfig::default(), services, None)
}

/// `interlink adapter build [DIR]`.
async fn build(args: BuildArgs) -> anyhow::Result<()> {
    if interlink_adapter_build::python::is_python_adapter(&args.dir) {
        return build_python(args).await;
    }
    let manifest_path = args.dir.join("Cargo.toml");
    anyhow::ensure!(
        manifest_path.exists(),
        "{} has no Cargo.toml: give the adapter crate's folder",
        args.dir.display()
    );
    let built = tokio::task::spawn_blocking(move || {
        interlink_adapter_build::build(&interlink_adapter_build::Build {
            manifest_path: &manifest_path,
            profile: &args.profile,
            features: &args.features,
            target_dir: None,
        })
    })
    .await??;
    let out = match args.out {
        Some(out) => out,
        None => {
            let stem = built.module_path.file_stem().unwrap_or_default();
            let name = stem.to_string_lossy().replace('_', "-");
            let name = name.trim_start_matches("interlink-adapter-");
            built
                .target_dir
                .join("adapters")
                .join(format!("{name}.wasm"))
        }
    };
    check_and_write(built.component, &out).await
}

/// Checks that the host would load `component`, then writes it to `out`.
async fn check_and_write(component: Vec<u8>, out: &Path) -> anyhow::Result<()> {
    let adapter = checking_runtime()?
        .load(component.clone())
        .await
        .map_err(|e| anyhow::anyhow!("built, but the host would not load it: {e}"))?;
    interlink_adapter_build::write_atomically(out, &component)?;
    let m = adapter.manifest();
    println!(
        "built {} ({} KiB): {} {} (contract {})",
        out.display(),
        component.len() / 1024,
        m.id,
        m.version,
        m.contract_version
    );
    Ok(())
}

/// `interlink adapter build DIR` for a Python adapter (a folder with an
/// `app.py`): componentize-py (from `INTERLINK_COMPONENTIZE_PY`, or on
/// PATH) with the Python SDK its `pyproject.toml` names (or the checkout's
/// beside this binary); the contract's bindings go to `DIR/target/bindings`
/// for its native tests.
async fn build_python(args: BuildArgs) -> anyhow::Result<()> {
    use interlink_adapter_build::python;
    let project = python::project(&args.dir)?;
    let sdk = match project.sdk.clone() {
        Some(sdk) => sdk,
        None => super::template::beside_binary("sdk-python", python::is_python_sdk).context(
            "no Python SDK: name it in pyproject.toml ([tool.interlink] sdk = \"<folder of sdk-python>\")",
        )?,
    };
    let componentize_py = std::env::var_os("INTERLINK_COMPONENTIZE_PY")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("componentize-py"));
    let target = args.dir.join("target");
    let work_dir = target.join("interlink-build");
    let dir = args.dir.clone();
    let component = tokio::task::spawn_blocking({
        let (work_dir, componentize_py) = (work_dir.clone(), componentize_py.clone());
        move || {
            python::bindings(&componentize_py, &work_dir, &dir.join("target/bindings"))?;
            python::componentize(&python::PythonBuild {
                dir: &dir,
                sdk: &sdk,
                componentize_py: &componentize_py,
                work_dir: &work_dir,
            })
        }
    })
    .await??;
    let out = match args.out {
        Some(out) => out,
        None => {
            let folder = args.dir.canonicalize()?;
            let name = project
                .name
                .as_deref()
                .map(|n| n.trim_start_matches("interlink-adapter-").to_string())
                .or_else(|| folder.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_else(|| "adapter".into());
            target.join("adapters").join(format!("{name}.wasm"))
        }
    };
    check_and_write(component, &out).await
}

/// `interlink adapter check FILE [--against OLD]`.
async fn check(args: CheckArgs) -> anyhow::Result<()> {
    let runtime = checking_runtime()?;
    let new = load_component(&runtime, &args.file).await?;
    let m = new.manifest();
    println!(
        "{} {} (contract {}): loads; {} entities, {} outbound hosts.",
        m.id,
        m.version,
        m.contract_version,
        m.entities.len(),
        m.outbound_hosts.len()
    );
    let Some(against) = args.against else {
        return Ok(());
    };
    let old_path = if Path::new(&against).exists() {
        PathBuf::from(&against)
    } else {
        args.adapters_dir.join(format!("{against}.wasm"))
    };
    let old = load_component(&runtime, &old_path).await?;
    let changes = capabilities(old.manifest(), m);
    println!(
        "Against {} {}: {} change(s).",
        old.manifest().id,
        old.manifest().version,
        changes.len()
    );
    for change in changes {
        println!("{change}");
    }
    Ok(())
}
