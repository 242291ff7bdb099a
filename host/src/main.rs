//! `interlink`: the Interlink host.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use interlink::api::{AppState, edge, router};
use interlink::certificates::{self, Algorithm, PlatformCertificate};
use interlink::connections::Connections;
use interlink::data_dir::{DataDir, write_private};
use interlink::dataplane::{self, DataPlane};
use interlink::outbound::{AdapterGrants, HttpClient, NetworkPolicy, network};
use interlink::registry::{Registry, watch};
use interlink::runtime::{DatabaseKv, InstanceReuse, Runtime, RuntimeConfig, Services};
use interlink::secret_box::SecretBox;
use interlink::storage::{self, Database, Store};
use interlink::sync::Syncs;
use interlink::webhooks::{self, Webhooks};
use tracing_subscriber::EnvFilter;

mod cli;

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
    Serve(Box<ServeArgs>),
    /// Key pairs and certificates for systems that sign in with a JWT (NetSuite).
    #[command(subcommand)]
    Cert(CertCommand),
    /// Tools for adapter authors and the operators who load their adapters.
    #[command(subcommand)]
    Adapter(cli::adapter::Command),
    /// The database: copy a host's SQLite database into PostgreSQL.
    #[command(subcommand)]
    Db(cli::db::Command),
}

#[derive(Subcommand)]
enum CertCommand {
    /// Make a private key and a self-signed certificate that NetSuite accepts:
    /// upload the certificate to NetSuite, give the private key to Interlink.
    Generate(GenerateArgs),
}

#[derive(clap::Args)]
struct GenerateArgs {
    /// ps256: RSA 4096 with RSA-PSS; es256: EC P-256.
    #[arg(long, value_enum)]
    alg: Algorithm,
    /// Days the certificate is valid (NetSuite accepts at most 730).
    #[arg(long, default_value_t = 365)]
    days: u32,
    /// The certificate's common name.
    #[arg(long, default_value = "Interlink")]
    name: String,
    /// Where to write the private key (mode 0600).
    #[arg(long, default_value = "private.pem")]
    key_out: PathBuf,
    /// Where to write the certificate.
    #[arg(long, default_value = "public.pem")]
    cert_out: PathBuf,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, env = "INTERLINK_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Where customers and operators reach this host (behind a proxy, its
    /// public address): connect links start with it. Default: the listen
    /// address.
    #[arg(long, env = "INTERLINK_PUBLIC_URL")]
    public_url: Option<url::Url>,
    /// Folder for the host's data: admin key, compile cache.
    #[arg(long, env = "INTERLINK_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    /// Folder of compiled adapter code, by default `cache` in the data
    /// folder. A cache: safe to delete, and safe to share between hosts
    /// (entries are keyed by the component and the engine they were
    /// compiled for).
    #[arg(long, env = "INTERLINK_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// The database: `postgres://user:password@host:port/name` for
    /// PostgreSQL; by default SQLite in the data folder (`interlink.db`).
    #[arg(long, env = "INTERLINK_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
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
    /// Adapter instances calls may have at once (the pool holds 32 more,
    /// for instances made ahead of calls).
    #[arg(long, env = "INTERLINK_MAX_INSTANCES", default_value_t = 256)]
    max_instances: u32,
    /// Calls one connection may have at once, running or waiting for its
    /// adapter's max-concurrent-requests; past it, API calls get 429.
    #[arg(
        long,
        env = "INTERLINK_MAX_INSTANCES_PER_CONNECTION",
        default_value_t = 32
    )]
    max_instances_per_connection: u32,
    /// Which adapters keep instances warm between a connection's calls:
    /// `auto` those whose component embeds an interpreter (4 MiB or more:
    /// Python adapters), `never`, or `always`. Every other adapter gets a
    /// fresh instance per call. See docs/architecture.md.
    #[arg(long, env = "INTERLINK_INSTANCE_REUSE", value_enum, default_value_t = InstanceReuseArg::Auto)]
    instance_reuse: InstanceReuseArg,
    /// The largest response an adapter may receive from its system, in MiB.
    #[arg(long, env = "INTERLINK_MAX_RESPONSE_MIB", default_value_t = 32)]
    max_response_mib: u64,
    /// Connection credits: how many connections may exist at once (not counting disconnected ones).
    #[arg(long, env = "INTERLINK_CREDITS", default_value_t = 10)]
    credits: u32,
    /// Restricted networks (loopback, link-local, private, ...: refused by
    /// default) that adapters may reach, each granted to one adapter as
    /// `ADAPTER=NETWORK` (`tryton=10.20.0.0/16`), or to every adapter as
    /// `*=NETWORK`; repeat the flag or separate with commas. Applies to the
    /// adapters' requests and to their connections' URLs when they are made.
    #[arg(
        long = "adapter-allow-network",
        env = "INTERLINK_ADAPTER_ALLOW_NETWORK",
        value_delimiter = ',',
        value_parser = network::parse_adapter_grant
    )]
    adapter_allow_networks: Vec<network::AdapterGrant>,
    /// Restricted networks webhook receivers may be in (none by default,
    /// whatever adapters may reach), as CIDR or single addresses.
    #[arg(
        long = "webhook-allow-network",
        env = "INTERLINK_WEBHOOK_ALLOW_NETWORK",
        value_delimiter = ',',
        value_parser = network::parse_network
    )]
    webhook_allow_networks: Vec<ipnet::IpNet>,
    /// Deprecated: use --adapter-allow-network (`*=NETWORK` for every
    /// adapter) and --webhook-allow-network. Still allows its networks to
    /// every adapter, and no longer to webhook receivers.
    #[arg(
        long = "outbound-allow-network",
        env = "INTERLINK_OUTBOUND_ALLOW_NETWORK",
        value_delimiter = ',',
        value_parser = network::parse_network,
        hide_short_help = true
    )]
    outbound_allow_networks: Vec<ipnet::IpNet>,
    /// A PEM file of CA certificates to trust for outbound TLS besides the
    /// public roots (systems behind an internal CA).
    #[arg(long, env = "INTERLINK_OUTBOUND_CA_FILE")]
    outbound_ca_file: Option<PathBuf>,
    /// Cap on writes per minute per connection, below what adapters declare.
    #[arg(long, env = "INTERLINK_MAX_WRITES_PER_MINUTE")]
    max_writes_per_minute: Option<u32>,
    /// The platform certificate's key, made on first start: es256 (EC P-256)
    /// or ps256 (RSA 4096). An existing one is kept.
    #[arg(
        long,
        env = "INTERLINK_PLATFORM_KEY",
        value_enum,
        default_value = "es256"
    )]
    platform_key: Algorithm,
    /// The wait before a failed webhook delivery is retried, in milliseconds;
    /// it doubles with each attempt (up to an hour), for 24 hours.
    #[arg(
        long,
        env = "INTERLINK_WEBHOOK_RETRY_BASE_MS",
        default_value_t = 10_000
    )]
    webhook_retry_base_ms: u64,
    /// The longest one webhook delivery attempt may take, in milliseconds.
    #[arg(long, env = "INTERLINK_WEBHOOK_TIMEOUT_MS", default_value_t = 10_000)]
    webhook_timeout_ms: u64,
    /// Requests a minute each connection token may make to the API (a burst
    /// of as many at once); 0 for no limit.
    #[arg(
        long,
        env = "INTERLINK_API_REQUESTS_PER_MINUTE",
        default_value_t = 6_000
    )]
    api_requests_per_minute: u32,
    /// Webhook subscriptions one connection may have.
    #[arg(
        long,
        env = "INTERLINK_MAX_WEBHOOKS_PER_CONNECTION",
        default_value_t = 16
    )]
    max_webhooks_per_connection: u32,
    #[command(flatten)]
    edge: edge::EdgeArgs,
    /// The MCP door (`/mcp`) lists and runs only read tools.
    #[arg(long, env = "INTERLINK_MCP_READ_ONLY")]
    mcp_read_only: bool,
}

/// The log filter: `RUST_LOG`, or `info`. `rmcp` logs at `info` the start
/// and end of its service for every stateless MCP request (with the
/// client's whole description): it logs at `warn` unless `RUST_LOG` names
/// it.
fn log_filter() -> EnvFilter {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    if std::env::var("RUST_LOG").is_ok_and(|given| given.contains("rmcp")) {
        return filter;
    }
    filter.add_directive("rmcp=warn".parse().expect("a valid directive"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(log_filter())
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match Cli::parse().command {
        Command::Serve(args) => serve(*args).await,
        Command::Cert(CertCommand::Generate(args)) => generate(args),
        Command::Adapter(command) => cli::adapter::run(command).await,
        Command::Db(command) => cli::db::run(command).await,
    }
}

fn generate(args: GenerateArgs) -> anyhow::Result<()> {
    for path in [&args.key_out, &args.cert_out] {
        anyhow::ensure!(
            !path.exists(),
            "{} exists; choose another path or move it away",
            path.display()
        );
    }
    let pair = certificates::generate::generate(args.alg, args.days, &args.name)?;
    write_private(&args.key_out, pair.private_key_pem.trim_end())
        .with_context(|| format!("writing {}", args.key_out.display()))?;
    std::fs::write(&args.cert_out, &pair.certificate_pem)
        .with_context(|| format!("writing {}", args.cert_out.display()))?;
    println!(
        "Wrote the private key to {} and the certificate to {} (valid {} days).\n\
         Upload {} to NetSuite (Setup > Integration > OAuth 2.0 Client Credentials (M2M) Setup),\n\
         then connect with the certificate id NetSuite shows and the private key.",
        args.key_out.display(),
        args.cert_out.display(),
        args.days,
        args.cert_out.display()
    );
    Ok(())
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    // What the host writes (database, keys, cache) is for its owner only.
    rustix::process::umask(rustix::fs::Mode::from_bits_truncate(0o077));
    anyhow::ensure!(
        args.call_timeout > 0.0 && args.call_timeout.is_finite(),
        "--call-timeout must be a positive number of seconds"
    );
    anyhow::ensure!(
        (1..=args.max_instances).contains(&args.max_instances_per_connection),
        "--max-instances-per-connection must be 1 to --max-instances ({})",
        args.max_instances
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

    let call_timeout = Duration::from_secs_f64(args.call_timeout);
    let config = RuntimeConfig {
        call_timeout,
        memory_limit: args.memory_limit_mib << 20,
        max_instances: args.max_instances,
        instance_reuse: args.instance_reuse.into(),
        ..RuntimeConfig::default()
    };
    let platform = Arc::new(
        PlatformCertificate::load_or_create(data.path(), args.platform_key)
            .context("loading the platform certificate")?,
    );
    if platform.days_left() < 30 {
        tracing::warn!(
            days_left = platform.days_left(),
            "the platform certificate expires soon"
        );
    }
    let extra_roots = args
        .outbound_ca_file
        .as_ref()
        .map(|path| std::fs::read(path).with_context(|| format!("reading {}", path.display())))
        .transpose()?;
    let http = HttpClient::new(args.max_response_mib << 20, extra_roots.as_deref())
        .context("setting up outbound TLS")?;
    let mut adapter_grants = args.adapter_allow_networks.clone();
    if !args.outbound_allow_networks.is_empty() {
        tracing::warn!(
            networks = ?args.outbound_allow_networks,
            "--outbound-allow-network is deprecated: it now allows its networks to every adapter, \
             and no longer to webhook receivers; grant them to the adapters that need them with \
             --adapter-allow-network ADAPTER=NETWORK (or *=NETWORK for every adapter), and to \
             webhook receivers with --webhook-allow-network NETWORK"
        );
        adapter_grants.extend(args.outbound_allow_networks.iter().map(|&network| {
            network::AdapterGrant {
                grantee: network::Grantee::EveryAdapter,
                network,
            }
        }));
    }
    let secret_box = SecretBox::load(
        std::env::var("INTERLINK_SECRET_KEY").ok().as_deref(),
        data.path(),
    )?;
    let database = match &args.database_url {
        Some(url) => Database::parse(url)?,
        None => Database::Sqlite(data.database()),
    };
    let store = storage::open(&database)
        .await
        .with_context(|| format!("opening the database {database}"))?;
    check_secret_key(store.as_ref(), &secret_box).await?;
    let kv = Arc::new(DatabaseKv::new(store.clone(), secret_box.clone()));
    let _kv_purge = kv.start_purging();
    let services = Services::new(Arc::new(http.clone()), kv)
        .with_platform_key(platform.private_key_pem())
        .with_adapter_grants(AdapterGrants::new(adapter_grants));
    let cache_dir = args.cache_dir.clone().unwrap_or_else(|| data.cache_dir());
    let runtime = Runtime::new(config, services, Some(&cache_dir))?;
    let mut registry = Registry::new(runtime, &args.adapters_dir);
    if store.shared() {
        registry = registry.sharing(store.clone());
    }
    let registry = Arc::new(registry);
    let _watch = watch::start(registry.clone()).context("watching the adapters folder")?;

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(
        %addr,
        adapters_dir = %registry.dir().display(),
        %database,
        credits = args.credits,
        "interlink listening; loading adapters"
    );
    let webhooks = Arc::new(Webhooks::new(
        store.clone(),
        secret_box.clone(),
        webhooks::Limits {
            retry_base: Duration::from_millis(args.webhook_retry_base_ms),
            attempt_timeout: Duration::from_millis(args.webhook_timeout_ms),
            max_subscriptions: args.max_webhooks_per_connection,
            network: NetworkPolicy::allowing(args.webhook_allow_networks.clone()),
        },
        // A receiver's answer is read only for its status.
        http.with_max_response(64 << 10),
    ));
    let connections = Arc::new(
        Connections::new(store.clone(), registry.clone(), secret_box, args.credits)
            .with_platform_certificate(platform.kind)
            .with_webhooks(webhooks.clone())
            .with_outbound(http.clone()),
    );
    let dataplane = Arc::new(DataPlane::new(
        connections,
        dataplane::Limits {
            max_calls_per_connection: args.max_instances_per_connection,
            queue_timeout: call_timeout,
            max_writes_per_minute: args.max_writes_per_minute,
        },
    ));
    let node = data.node_id().context("reading the node's name")?;
    let syncs =
        Arc::new(Syncs::new(store.clone(), dataplane.clone(), webhooks.clone()).with_node(node));
    let _dispatcher = webhooks.start();
    let _token_use = dataplane.connections().start_token_use_writer();
    // The server answers while the adapters load (`/healthz` says so, with
    // 503); scheduled syncs start once they are loaded.
    tokio::spawn({
        let syncs = syncs.clone();
        async move {
            if let Err(e) = registry.load_dir().await {
                tracing::error!(error = %e, dir = %registry.dir().display(), "could not read the adapters folder");
            }
            registry.start_sharing();
            tracing::info!(adapters = registry.loaded().len(), "adapters loaded");
            syncs.start();
        }
    });
    let mcp = interlink::mcp::Options {
        read_only: args.mcp_read_only,
    };
    let state = AppState {
        platform_certificate: Some(platform),
        public_url: args
            .public_url
            .map(|u| u.to_string())
            .unwrap_or_else(|| format!("http://{addr}")),
        api_requests_per_minute: (args.api_requests_per_minute > 0)
            .then_some(args.api_requests_per_minute),
        ..AppState::new(dataplane, syncs, webhooks, store, &admin.key)
    };
    let app = interlink::api::pages::router(state.clone())
        .merge(router(state.clone()))
        .merge(interlink::mcp::router(state, mcp));
    let limits = args.edge.limits();
    tracing::info!(?limits, "serving");
    println!("interlink listening on http://{addr}");
    edge::serve(listener, app, limits, shutdown()).await;
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

/// Refuses to start with another secret key than the data was encrypted
/// with. The first start stores the check that later ones verify.
async fn check_secret_key(storage: &dyn Store, secret_box: &SecretBox) -> anyhow::Result<()> {
    const NAME: &str = "secret_key_check";
    storage
        .insert_setting(NAME, &secret_box.key_check())
        .await?;
    let check = storage
        .setting(NAME)
        .await?
        .context("the secret key check was not stored")?;
    Ok(secret_box.verify(&check)?)
}

/// `--instance-reuse`: [`InstanceReuse`] on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum InstanceReuseArg {
    Never,
    Auto,
    Always,
}

impl From<InstanceReuseArg> for InstanceReuse {
    fn from(arg: InstanceReuseArg) -> Self {
        match arg {
            InstanceReuseArg::Never => InstanceReuse::Never,
            InstanceReuseArg::Auto => InstanceReuse::Auto,
            InstanceReuseArg::Always => InstanceReuse::Always,
        }
    }
}
