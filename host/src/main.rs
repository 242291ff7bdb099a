//! `interlink`: the Interlink host.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use interlink::api::{self, edge};
use interlink::certificates::{self, Algorithm};
use interlink::data_dir::write_private;
use interlink::dataplane;
use interlink::duration;
use interlink::host::{Config, Host};
use interlink::outbound::{NetworkPolicy, network};
use interlink::runtime::{InstanceReuse, RuntimeConfig};
use interlink::storage::DatabaseUrl;
use interlink::telemetry::trace;
use interlink::webhooks;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

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
    /// What the log shows: a level (`info`, `debug`) or tracing's
    /// directives (`info,interlink::sync=debug`). The log goes to stderr.
    #[arg(long, env = "RUST_LOG", default_value = "info", global = true)]
    log: String,
    /// A log line for every request served (method, path, status,
    /// latency), at `info`. Off by default: refused and failed requests are
    /// logged either way, and a line per request costs each request a
    /// formatted write.
    #[arg(
        long,
        env = "INTERLINK_ACCESS_LOG",
        value_enum,
        default_value = "off",
        global = true
    )]
    access_log: Switch,
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
    /// Print the configuration reference (`docs/configuration.md`), made
    /// from these flags' definitions.
    #[command(hide = true)]
    ConfigReference,
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
    /// public address): connect links start with it. Required when
    /// --listen is not a loopback address; otherwise the listen address.
    #[arg(long, env = "INTERLINK_PUBLIC_URL")]
    public_url: Option<url::Url>,
    /// Folder for the host's data: the SQLite database, the secret, admin
    /// and platform keys, the adapters and the compile cache, unless other
    /// flags put them elsewhere. Made (mode 0700) if missing.
    #[arg(long, env = "INTERLINK_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    /// Folder of compiled adapter code, by default `cache` in the data
    /// folder. A cache: safe to delete, and safe to share between hosts
    /// (entries are keyed by the component and the engine they were
    /// compiled for).
    #[arg(long, env = "INTERLINK_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// The database: `postgres://user:password@host:port/name` for
    /// PostgreSQL (`?sslmode=verify-full&sslrootcert=ca.pem` and the other
    /// TLS modes of docs/deployment.md); by default SQLite in the data
    /// folder (`interlink.db`). It holds a password: prefer the environment
    /// variable, which other users cannot read in the process list.
    #[arg(long, env = "INTERLINK_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// The key credentials and other secrets are sealed with, as 64 hex
    /// digits; by default `secret.key` in the data folder, made on first
    /// start. Every node of one database needs the same. A secret: give it
    /// as the environment variable, not the flag.
    #[arg(long, env = "INTERLINK_SECRET_KEY", hide_env_values = true)]
    secret_key: Option<String>,
    /// Folder of adapter components (.wasm), watched for changes; by
    /// default `adapters` in the data folder (made if missing).
    #[arg(long, env = "INTERLINK_ADAPTERS_DIR")]
    adapters_dir: Option<PathBuf>,
    /// The longest one adapter call may take.
    #[arg(long, env = "INTERLINK_CALL_TIMEOUT", default_value = "30s", value_parser = duration::seconds)]
    call_timeout: Duration,
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
        hide = true
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
    /// The wait before a failed webhook delivery is retried; it doubles
    /// with each attempt (up to an hour), for 24 hours.
    #[arg(long, env = "INTERLINK_WEBHOOK_RETRY_BASE", default_value = "10s", value_parser = duration::seconds)]
    webhook_retry_base: Duration,
    /// Deprecated: --webhook-retry-base (a bare number here is milliseconds).
    #[arg(
        long,
        env = "INTERLINK_WEBHOOK_RETRY_BASE_MS",
        value_parser = duration::milliseconds,
        conflicts_with = "webhook_retry_base",
        hide = true
    )]
    webhook_retry_base_ms: Option<Duration>,
    /// The longest one webhook delivery attempt may take.
    #[arg(long, env = "INTERLINK_WEBHOOK_TIMEOUT", default_value = "10s", value_parser = duration::seconds)]
    webhook_timeout: Duration,
    /// Deprecated: --webhook-timeout (a bare number here is milliseconds).
    #[arg(
        long,
        env = "INTERLINK_WEBHOOK_TIMEOUT_MS",
        value_parser = duration::milliseconds,
        conflicts_with = "webhook_timeout",
        hide = true
    )]
    webhook_timeout_ms: Option<Duration>,
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
    /// Also serve Prometheus metrics (`GET /metrics`) on this address,
    /// without the admin key (the API's listener serves them with it). Off
    /// by default; keep it on a private network, where only the scraper
    /// reaches it (`127.0.0.1:9464`).
    #[arg(long, env = "INTERLINK_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    /// The audit trail (`GET /v1/audit`): every data-plane call, upstream
    /// request, credential use, write decision, admin action and MCP tool
    /// call, recorded in the database.
    #[arg(long, env = "INTERLINK_AUDIT_LOG", default_value = "on")]
    audit_log: Switch,
    /// How long audit entries are kept; older ones are deleted.
    #[arg(long, env = "INTERLINK_AUDIT_RETENTION", default_value = "90d", value_parser = duration::seconds)]
    audit_retention: Duration,
    /// How often each connection that maps fields is described again (its
    /// account's custom fields asked of the system), so that a mapped field
    /// the system dropped or retyped shows as the connection's mapping
    /// issue (`POST /v1/connections/{id}/refresh` does it at once).
    #[arg(long, env = "INTERLINK_DESCRIBE_EVERY", default_value = "6h", value_parser = duration::seconds)]
    describe_every: Duration,
    /// The name your customers see on the connect page: whom they connect
    /// their account to (up to 80 characters).
    #[arg(long, env = "INTERLINK_BRAND_NAME")]
    brand_name: Option<String>,
    /// The connect page's accent colour (buttons, links, focus), as
    /// #rrggbb.
    #[arg(long, env = "INTERLINK_BRAND_COLOR")]
    brand_color: Option<String>,
    /// A logo for the connect page's header: a PNG, JPEG or WebP file of at
    /// most 256 KiB, read at start and served by the host.
    #[arg(long, env = "INTERLINK_BRAND_LOGO")]
    brand_logo: Option<PathBuf>,
}

/// A feature's switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Switch {
    On,
    Off,
}

/// The log filter `--log` (`RUST_LOG`) gives, with the access log
/// (`--access-log`) or without. `rmcp` logs at `info` the start and end of
/// its service for every stateless MCP request (with the client's whole
/// description): it logs at `warn` unless the filter names it.
///
/// # Errors
///
/// The filter is not one of tracing's.
fn log_filter(given: &str, access_log: Switch) -> anyhow::Result<EnvFilter> {
    let mut filter = EnvFilter::try_new(given)
        .with_context(|| format!("--log (RUST_LOG) `{given}` is not a log filter"))?;
    // The trace spans are for the trace exporter, not the log; the access
    // log is there when asked for (by the flag, or named in the filter).
    if !given.contains(trace::SPANS) {
        filter = filter.add_directive(format!("{}=off", trace::SPANS).parse()?);
    }
    if access_log == Switch::Off && !given.contains(api::ACCESS_LOG) {
        filter = filter.add_directive(format!("{}=off", api::ACCESS_LOG).parse()?);
    }
    if given.contains("rmcp") {
        return Ok(filter);
    }
    Ok(filter.add_directive("rmcp=warn".parse().expect("a valid directive")))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let log = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_filter(log_filter(&cli.log, cli.access_log)?);
    // OpenTelemetry, when the OTEL_* variables configure it: the spans of
    // the trace target only.
    let tracing = trace::Tracing::from_env(tokio::runtime::Handle::current())?;
    let spans = tracing.as_ref().map(|tracing| {
        tracing_opentelemetry::layer()
            .with_tracer(tracing.tracer())
            .with_location(false)
            .with_threads(false)
            .with_tracked_inactivity(false)
            .with_filter(Targets::new().with_target(trace::SPANS, tracing::Level::TRACE))
    });
    tracing_subscriber::registry().with(log).with(spans).init();
    let done = match cli.command {
        Command::Serve(args) => serve(*args).await,
        Command::Cert(CertCommand::Generate(args)) => generate(args),
        Command::Adapter(command) => cli::adapter::run(command).await,
        Command::Db(command) => cli::db::run(command).await,
        Command::ConfigReference => {
            print!("{}", cli::reference::markdown(&Cli::command()));
            Ok(())
        }
    };
    if let Some(tracing) = tracing {
        tracing.shutdown().await;
    }
    done
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
    let host = Host::open(args.config()?).await?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    host.serve(listener, args.edge.limits(), shutdown()).await
}

impl ServeArgs {
    /// The host's configuration these flags give.
    ///
    /// # Errors
    ///
    /// A flag's value is out of its range, a host listening beyond
    /// loopback has no public URL, a file named cannot be read, or the
    /// database URL is not one.
    fn config(&self) -> anyhow::Result<Config> {
        anyhow::ensure!(
            (1..=self.max_instances).contains(&self.max_instances_per_connection),
            "--max-instances-per-connection must be 1 to --max-instances ({})",
            self.max_instances
        );
        let mut adapter_grants = self.adapter_allow_networks.clone();
        if !self.outbound_allow_networks.is_empty() {
            tracing::warn!(
                networks = ?self.outbound_allow_networks,
                "--outbound-allow-network is deprecated: it now allows its networks to every \
                 adapter, and no longer to webhook receivers; grant them to the adapters that \
                 need them with --adapter-allow-network ADAPTER=NETWORK (or *=NETWORK for every \
                 adapter), and to webhook receivers with --webhook-allow-network NETWORK"
            );
            adapter_grants.extend(self.outbound_allow_networks.iter().map(|&network| {
                network::AdapterGrant {
                    grantee: network::Grantee::EveryAdapter,
                    network,
                }
            }));
        }
        let webhook_retry_base = deprecated(
            self.webhook_retry_base_ms,
            "--webhook-retry-base-ms",
            "--webhook-retry-base",
        );
        let webhook_timeout = deprecated(
            self.webhook_timeout_ms,
            "--webhook-timeout-ms",
            "--webhook-timeout",
        );
        Ok(Config {
            adapters_dir: self.adapters_dir.clone(),
            cache_dir: self.cache_dir.clone(),
            database: self
                .database_url
                .as_deref()
                .map(DatabaseUrl::parse)
                .transpose()?,
            secret_key: self.secret_key.clone(),
            platform_key: self.platform_key,
            runtime: RuntimeConfig {
                call_timeout: self.call_timeout,
                memory_limit: self.memory_limit_mib << 20,
                max_instances: self.max_instances,
                instance_reuse: self.instance_reuse.into(),
                ..RuntimeConfig::default()
            },
            limits: dataplane::Limits {
                max_calls_per_connection: self.max_instances_per_connection,
                queue_timeout: self.call_timeout,
                max_writes_per_minute: self.max_writes_per_minute,
            },
            webhooks: webhooks::Limits {
                retry_base: webhook_retry_base.unwrap_or(self.webhook_retry_base),
                attempt_timeout: webhook_timeout.unwrap_or(self.webhook_timeout),
                max_subscriptions: self.max_webhooks_per_connection,
                network: NetworkPolicy::allowing(self.webhook_allow_networks.clone()),
            },
            credits: self.credits,
            max_response_bytes: self.max_response_mib << 20,
            outbound_ca: self
                .outbound_ca_file
                .as_ref()
                .map(|path| {
                    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
                })
                .transpose()?,
            adapter_grants,
            api_requests_per_minute: (self.api_requests_per_minute > 0)
                .then_some(self.api_requests_per_minute),
            public_url: public_url(self.listen, self.public_url.as_ref())?,
            mcp: interlink::mcp::Options {
                read_only: self.mcp_read_only,
            },
            audit: interlink::audit::Settings {
                enabled: self.audit_log == Switch::On,
                retention: Some(self.audit_retention),
            },
            metrics_listen: self.metrics_listen,
            describe_every: Some(self.describe_every),
            brand: interlink::api::pages::Brand::new(
                self.brand_name.clone(),
                self.brand_color.clone(),
                self.brand_logo
                    .as_ref()
                    .map(|path| read_logo(path))
                    .transpose()?,
            )?,
            ..Config::new(&self.data_dir)
        })
    }
}

/// The file `--brand-logo` names, read up to one byte past the largest logo
/// (a larger file, or `/dev/zero`, is refused without reading it whole).
fn read_logo(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    use std::io::Read;
    let limit = interlink::api::pages::MAX_LOGO_BYTES as u64 + 1;
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(limit).read_to_end(&mut bytes))
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(bytes)
}

/// Where customers and operators reach the host: `--public-url`, which a
/// host listening beyond loopback must have (its connect links would
/// otherwise name an address such as `0.0.0.0`); `None` on loopback
/// without it, for the listening address.
///
/// # Errors
///
/// `listen` is not a loopback address and no `--public-url` is given.
fn public_url(listen: SocketAddr, given: Option<&url::Url>) -> anyhow::Result<Option<String>> {
    match given {
        Some(url) => Ok(Some(url.to_string())),
        None if listen.ip().is_loopback() => Ok(None),
        None => anyhow::bail!(
            "--listen {listen} takes connections from other machines: set --public-url \
             (INTERLINK_PUBLIC_URL) to the address they reach this host at, such as \
             https://interlink.example.com (connect links and the dashboard's links start with it)"
        ),
    }
}

/// A deprecated flag's value, with a warning that names its successor.
fn deprecated(value: Option<Duration>, old: &str, new: &str) -> Option<Duration> {
    if value.is_some() {
        tracing::warn!("{old} is deprecated: use {new} (a duration such as `10s` or `500ms`)");
    }
    value
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

#[cfg(test)]
mod tests {
    use super::*;

    fn serve_args(args: &[&str]) -> ServeArgs {
        let argv = ["interlink", "serve"].iter().chain(args);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Serve(args) => *args,
            _ => unreachable!(),
        }
    }

    #[test]
    fn every_setting_of_serve_is_a_flag_and_an_environment_variable() {
        let mut root = Cli::command();
        root.build();
        let serve = root.find_subcommand("serve").unwrap();
        let without: Vec<_> = serve
            .get_arguments()
            .filter(|a| a.get_id() != "help" && a.get_env().is_none())
            .map(|a| a.get_id().to_string())
            .collect();
        assert!(without.is_empty(), "no environment variable: {without:?}");
    }

    #[test]
    fn durations_take_units_and_the_old_bare_numbers() {
        let args = serve_args(&["--call-timeout", "1.5", "--webhook-timeout", "500ms"]);
        assert_eq!(args.call_timeout, Duration::from_millis(1500));
        assert_eq!(args.webhook_timeout, Duration::from_millis(500));
        assert_eq!(args.webhook_retry_base, Duration::from_secs(10));
        // The deprecated -ms flags kept their unit.
        let old = serve_args(&[
            "--webhook-timeout-ms",
            "250",
            "--webhook-retry-base-ms",
            "2s",
        ]);
        assert_eq!(old.webhook_timeout_ms, Some(Duration::from_millis(250)));
        assert_eq!(old.webhook_retry_base_ms, Some(Duration::from_secs(2)));
        let both = [
            "interlink",
            "serve",
            "--webhook-timeout",
            "1s",
            "--webhook-timeout-ms",
            "5",
        ];
        assert!(
            Cli::try_parse_from(both).is_err(),
            "a flag and its successor conflict"
        );
    }

    #[test]
    fn a_host_beyond_loopback_needs_its_public_url() {
        let url = url::Url::parse("https://interlink.example.com").unwrap();
        let anywhere: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        let refused = public_url(anywhere, None).unwrap_err().to_string();
        assert!(refused.contains("set --public-url"), "{refused}");
        assert_eq!(
            public_url(anywhere, Some(&url)).unwrap().as_deref(),
            Some("https://interlink.example.com/")
        );
        assert_eq!(
            public_url("127.0.0.1:0".parse().unwrap(), None).unwrap(),
            None
        );
        assert_eq!(public_url("[::1]:0".parse().unwrap(), None).unwrap(), None);
    }
}
