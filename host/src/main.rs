//! `interlink`: the Interlink host.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use interlink::api::{AppState, router};
use interlink::connections::Connections;
use interlink::data_dir::DataDir;
use interlink::outbound::ReqwestOutbound;
use interlink::registry::{Registry, watch};
use interlink::runtime::{MemoryKv, Runtime, RuntimeConfig, Services};
use interlink::secret_box::SecretBox;
use interlink::storage::sqlite::SqliteStorage;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "interlink",
    version,
    about = "A self-hosted unified API for business systems"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API with the adapters of a folder.
    Serve(ServeArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, env = "INTERLINK_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Folder for the host's data: admin key, compile cache.
    #[arg(long, env = "INTERLINK_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    /// Folder of adapter components (.wasm), watched for changes.
    #[arg(
        long,
        env = "INTERLINK_ADAPTERS_DIR",
        default_value = "target/adapters"
    )]
    adapters_dir: PathBuf,
    /// The longest one adapter call may take, in seconds.
    #[arg(long, env = "INTERLINK_CALL_TIMEOUT", default_value_t = 30.0)]
    call_timeout: f64,
    /// The most memory one adapter instance may use, in MiB.
    #[arg(long, env = "INTERLINK_MEMORY_LIMIT_MIB", default_value_t = 64)]
    memory_limit_mib: usize,
    /// Adapter instances alive at once.
    #[arg(long, env = "INTERLINK_MAX_INSTANCES", default_value_t = 256)]
    max_instances: u32,
    /// The largest response an adapter may receive from its system, in MiB.
    #[arg(long, env = "INTERLINK_MAX_RESPONSE_MIB", default_value_t = 32)]
    max_response_mib: u64,
    /// Connection credits: how many connections may exist at once (not counting disconnected ones).
    #[arg(long, env = "INTERLINK_CREDITS", default_value_t = 10)]
    credits: u32,
    /// Cap on writes per minute per connection, below what adapters declare.
    #[arg(long, env = "INTERLINK_MAX_WRITES_PER_MINUTE")]
    max_writes_per_minute: Option<u32>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match Cli::parse().command {
        Command::Serve(args) => serve(args).await,
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.call_timeout > 0.0 && args.call_timeout.is_finite(),
        "--call-timeout must be a positive number of seconds"
    );
    let data = DataDir::open(&args.data_dir)
        .with_context(|| format!("opening the data folder {}", args.data_dir.display()))?;
    let admin = data
        .admin_key()
        .context("reading or creating the admin key")?;
    if admin.created {
        eprintln!(
            "\nCreated the admin API key (kept in {}):\n\n    {}\n",
            data.path().join("admin.key").display(),
            admin.key
        );
    }

    let config = RuntimeConfig {
        call_timeout: Duration::from_secs_f64(args.call_timeout),
        memory_limit: args.memory_limit_mib << 20,
        max_instances: args.max_instances,
        ..RuntimeConfig::default()
    };
    let services = Services::new(
        Arc::new(ReqwestOutbound::new(args.max_response_mib << 20)?),
        Arc::new(MemoryKv::default()),
    );
    let runtime = Runtime::new(config, services, Some(&data.cache_dir()))?;
    let secret_box = SecretBox::load(
        std::env::var("INTERLINK_SECRET_KEY").ok().as_deref(),
        data.path(),
    )?;
    let storage = SqliteStorage::open(&data.database())
        .await
        .with_context(|| format!("opening the database {}", data.database().display()))?;
    let registry = Arc::new(Registry::new(runtime, &args.adapters_dir));
    registry.load_dir().await.with_context(|| {
        format!(
            "reading the adapters folder {}",
            args.adapters_dir.display()
        )
    })?;
    let _watch = watch::start(registry.clone()).context("watching the adapters folder")?;

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(
        %addr,
        adapters = registry.loaded().len(),
        adapters_dir = %args.adapters_dir.display(),
        credits = args.credits,
        "interlink listening"
    );
    let connections = Arc::new(Connections::new(
        Arc::new(storage),
        registry,
        secret_box,
        args.credits,
    ));
    let state = AppState {
        max_writes_per_minute: args.max_writes_per_minute,
        ..AppState::new(connections, &admin.key)
    };
    println!("interlink listening on http://{addr}");
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown())
        .await?;
    Ok(())
}

async fn shutdown() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
}
