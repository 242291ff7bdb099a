//! The composition root: the one place that builds a host from its
//! [`Config`]. `interlink serve`, the tests and the benchmarks all build
//! theirs here, so they run what production runs. [`Host::open`] wires, in
//! the order each piece needs the ones before it:
//!
//! 1. the data folder: the admin key, the platform certificate, the node's
//!    name;
//! 2. the database (SQLite in the data folder unless PostgreSQL is given),
//!    refused when the secret key is not the one its data was sealed with;
//! 3. the runtime: the outbound client and the adapters' network grants, the
//!    kv store, the compiled-code cache, and the adapter registry;
//! 4. the services: webhooks, connections, the data plane, syncs, and the
//!    HTTP API's state over them;
//! 5. the background work that needs no adapters: the kv purge, the
//!    adapters folder's watch, webhook deliveries, the token-use writer.
//!
//! [`Host::load_adapters`] then loads the adapters folder and starts the
//! scheduled syncs; [`Host::serve`] answers requests meanwhile (`/healthz`
//! says 503 until the adapters are loaded). Dropping a host stops its
//! background work.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::{Router, middleware};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::api::{self, AppState, edge};
use crate::audit::{self, Audit};
use crate::certificates::{Algorithm, PlatformCertificate};
use crate::connections::{Connections, TokenRate};
use crate::data_dir::DataDir;
use crate::dataplane::{self, DataPlane};
use crate::outbound::{AdapterGrants, HttpClient, network};
use crate::registry::{Registry, watch};
use crate::runtime::{DatabaseKv, Runtime, RuntimeConfig, Services};
use crate::secret_box::SecretBox;
use crate::storage::{self, DatabaseUrl, Heard, Store};
use crate::sync::Syncs;
use crate::telemetry::Metrics;
use crate::webhooks::{self, Webhooks};

/// Everything a host is built from: `interlink serve`'s flags, as values.
/// [`Config::new`] gives the defaults of those flags.
#[derive(Debug, Clone)]
pub struct Config {
    /// The data folder: the SQLite database, the keys, the cache and, by
    /// default, the adapters.
    pub data_dir: PathBuf,
    /// Where the adapters are loaded from; `adapters` in the data folder by
    /// default.
    pub adapters_dir: Option<PathBuf>,
    /// The compiled-code cache; `cache` in the data folder by default.
    pub cache_dir: Option<PathBuf>,
    /// The database; SQLite in the data folder by default.
    pub database: Option<DatabaseUrl>,
    /// The key that seals secrets at rest; the data folder's `secret.key`
    /// (made on first start) by default.
    pub secret_key: Option<String>,
    /// The algorithm of the platform certificate made on first start.
    pub platform_key: Algorithm,
    /// The sandbox's bounds: call time, memory, instances.
    pub runtime: RuntimeConfig,
    /// The data plane's bounds: calls per connection, writes per minute.
    pub limits: dataplane::Limits,
    /// Webhook deliveries: retries, timeouts, subscriptions, receivers'
    /// networks.
    pub webhooks: webhooks::Limits,
    /// How many connections may be active at once.
    pub credits: u32,
    /// The largest upstream response an adapter may read.
    pub max_response_bytes: u64,
    /// More trusted roots (PEM) for outbound TLS.
    pub outbound_ca: Option<Vec<u8>>,
    /// Networks beyond the public internet that adapters may reach.
    pub adapter_grants: Vec<network::AdapterGrant>,
    /// Requests a minute each connection token may make, or no limit.
    pub api_requests_per_minute: Option<u32>,
    /// Where customers reach this host: connect links start with it. The
    /// listening address by default.
    pub public_url: Option<String>,
    /// The MCP endpoint's options.
    pub mcp: crate::mcp::Options,
    /// The audit trail: on or off, and how long it is kept.
    pub audit: audit::Settings,
    /// Where `/metrics` is served without a key (a private network), if
    /// anywhere: `--metrics-listen`.
    pub metrics_listen: Option<SocketAddr>,
    /// How often connections that map fields are described again, so that
    /// a mapped field the system dropped shows as drift; never when `None`.
    pub describe_every: Option<Duration>,
    /// The operator's brand on the connect page.
    pub brand: api::pages::Brand,
}

impl Config {
    /// The defaults of `interlink serve`, with the data folder `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Config {
        Config {
            data_dir: data_dir.into(),
            adapters_dir: None,
            cache_dir: None,
            database: None,
            secret_key: None,
            platform_key: Algorithm::Es256,
            runtime: RuntimeConfig::default(),
            limits: dataplane::Limits::default(),
            webhooks: webhooks::Limits::default(),
            credits: 10,
            max_response_bytes: 32 << 20,
            outbound_ca: None,
            adapter_grants: Vec::new(),
            api_requests_per_minute: Some(6_000),
            public_url: None,
            mcp: crate::mcp::Options::default(),
            audit: audit::Settings::default(),
            metrics_listen: None,
            describe_every: Some(Duration::from_secs(6 * 3600)),
            brand: api::pages::Brand::default(),
        }
    }
}

/// A host: its services, wired, and their background work.
pub struct Host {
    /// The services, as the HTTP surface holds them.
    state: AppState,
    store: Arc<dyn Store>,
    mcp: crate::mcp::Options,
    metrics_listen: Option<SocketAddr>,
    background: Vec<JoinHandle<()>>,
    _watch: watch::FolderWatch,
}

impl Host {
    /// Builds the host of `config` (see the module's steps). Adapters are
    /// not loaded yet: [`Host::load_adapters`] does.
    ///
    /// # Errors
    ///
    /// The data folder cannot be read or written; the database cannot be
    /// opened or migrated; the secret key is not the one the database's
    /// secrets were sealed with; the platform certificate or the outbound
    /// CA file cannot be read; the adapters folder cannot be made or
    /// watched.
    pub async fn open(config: Config) -> anyhow::Result<Host> {
        let data = DataDir::open(&config.data_dir)
            .with_context(|| format!("opening the data folder {}", config.data_dir.display()))?;
        let admin = data
            .admin_key()
            .context("reading or creating the admin key")?;
        if admin.created {
            // Never the key itself: logs are kept, and read by more people.
            tracing::info!(
                path = %data.path().join("admin.key").display(),
                "created the admin API key: read it from its file (owner only)"
            );
        }
        let platform = Arc::new(
            PlatformCertificate::load_or_create(data.path(), config.platform_key)
                .context("loading the platform certificate")?,
        );
        if platform.days_left() < 30 {
            tracing::warn!(
                days_left = platform.days_left(),
                "the platform certificate expires soon"
            );
        }
        let node = data.node_id().context("reading the node's name")?;

        let secret_box = SecretBox::load(config.secret_key.as_deref(), data.path())?;
        let database = config
            .database
            .unwrap_or_else(|| DatabaseUrl::Sqlite(data.database()));
        let store = storage::open(&database)
            .await
            .with_context(|| format!("opening the database {database}"))?;
        check_secret_key(store.as_ref(), &secret_box).await?;
        tracing::info!(%database, "database open");

        let http = HttpClient::new(config.max_response_bytes, config.outbound_ca.as_deref())
            .context("setting up outbound TLS")?;
        let kv = Arc::new(DatabaseKv::new(store.clone(), secret_box.clone()));
        let audit = Audit::start(store.clone(), config.audit);
        let metrics = Arc::new(Metrics::new());
        let services = Services::new(Arc::new(http.clone()), kv.clone())
            .with_audit(audit.clone())
            .with_platform_key(platform.private_key_pem())
            .with_adapter_grants(AdapterGrants::new(config.adapter_grants))
            .with_metrics(metrics.clone());
        let cache_dir = config.cache_dir.unwrap_or_else(|| data.cache_dir());
        let runtime = Runtime::new(config.runtime, services, Some(&cache_dir))?;
        let pool = runtime.clone();
        metrics.sample(
            "instances_in_use",
            "Adapter instances alive in the pool (calls' and spares)",
            move || pool.instances().0 as i64,
        );
        let pool = runtime.clone();
        metrics.sample("instances_max", "The instance pool's size", move || {
            pool.instances().1 as i64
        });
        let adapters_dir = match config.adapters_dir {
            Some(dir) => dir,
            None => data.adapters_dir().context("making the adapters folder")?,
        };
        let mut registry = Registry::new(runtime, &adapters_dir);
        if store.shared() {
            registry = registry.sharing(store.clone());
        }
        let registry = Arc::new(registry);

        let webhooks = Arc::new(Webhooks::new(
            store.clone(),
            secret_box.clone(),
            config.webhooks,
            // A receiver's answer is read only for its status.
            http.with_max_response(64 << 10),
        ));
        let heard = Arc::new(Heard::new(dataplane::notices::STALENESS));
        let connections = Arc::new(
            Connections::new(store.clone(), registry.clone(), secret_box, config.credits)
                .hearing(heard.clone())
                .with_platform_certificate(platform.kind)
                .with_webhooks(webhooks.clone())
                .with_outbound(http),
        );
        let dataplane = Arc::new(DataPlane::new(
            connections.clone(),
            registry.clone(),
            store.clone(),
            config.limits,
            audit.clone(),
        ));
        let syncs = Syncs::new(
            store.clone(),
            connections.clone(),
            dataplane.clone(),
            webhooks.clone(),
        );
        let follower = dataplane.follow_other_nodes(heard);
        let calls = dataplane.clone();
        metrics.sample(
            "calls_admitted",
            "Calls admitted at their connection's share (running or waiting at its gate)",
            move || calls.calls().0 as i64,
        );
        let calls = dataplane.clone();
        metrics.sample(
            "calls_upstream",
            "Calls past their connection's gate (holding an upstream slot)",
            move || calls.calls().1 as i64,
        );
        let syncs = Arc::new(syncs.with_node(node));
        let runs = syncs.clone();
        metrics.sample(
            "sync_runs_running",
            "Sync runs this node drives",
            move || runs.running(),
        );
        let app_services = api::AppServices {
            dataplane,
            connections: connections.clone(),
            registry: registry.clone(),
            syncs,
            webhooks: webhooks.clone(),
            audit,
        };
        let state = AppState::from(api::Shared {
            platform_certificate: Some(platform),
            public_url: config.public_url.unwrap_or_default(),
            api_rate: config
                .api_requests_per_minute
                .map(|per_minute| Arc::new(TokenRate::new(per_minute, store.clone()))),
            metrics,
            brand: Arc::new(config.brand),
            ..api::Shared::new(app_services, store.clone(), &admin.key)
        });

        let watch = watch::start(registry.clone()).context("watching the adapters folder")?;
        let mut background = vec![
            follower,
            kv.start_purging(),
            webhooks.start(),
            connections.start_token_use_writer(),
        ];
        if let Some(every) = config.describe_every {
            background.push(connections.start_describing(every));
        }
        Ok(Host {
            state,
            store,
            mcp: config.mcp,
            metrics_listen: config.metrics_listen,
            background,
            _watch: watch,
        })
    }

    /// Loads the adapters folder, then starts sharing adapters with the
    /// other nodes (on PostgreSQL). A folder that cannot be read is logged,
    /// not fatal: adapters can still be uploaded.
    pub async fn load_adapters(&self) {
        load(&self.state.registry).await;
    }

    /// Serves the whole HTTP surface (the API, the pages, MCP) on
    /// `listener` until `shutdown` completes. The adapters load meanwhile,
    /// and the scheduled syncs start once they are loaded. Connect links
    /// start with `http://` and the listening address when the
    /// configuration names no public URL.
    ///
    /// With `--metrics-listen`, `/metrics` is served there too, without a
    /// key, with the same limits.
    ///
    /// # Errors
    ///
    /// The listener has no local address, or the metrics listener cannot
    /// listen.
    pub async fn serve(
        mut self,
        listener: TcpListener,
        limits: edge::EdgeLimits,
        shutdown: impl Future<Output = ()>,
    ) -> anyhow::Result<()> {
        let addr: SocketAddr = listener.local_addr()?;
        self.state.default_public_url(|| format!("http://{addr}"));
        tracing::info!(
            %addr,
            adapters_dir = %self.state.registry.dir().display(),
            credits = self.state.connections.credits(),
            ?limits,
            "interlink listening; loading adapters"
        );
        let (registry, syncs) = (self.state.registry.clone(), self.state.syncs.clone());
        self.background.push(tokio::spawn(async move {
            load(&registry).await;
            syncs.schedule().await;
        }));
        if let Some(metrics_addr) = self.metrics_listen {
            let metrics = TcpListener::bind(metrics_addr)
                .await
                .with_context(|| format!("--metrics-listen {metrics_addr}"))?;
            tracing::info!(addr = %metrics.local_addr()?, "metrics listening (no key: keep it on a private network)");
            let router =
                api::metrics::router(self.state.metrics.clone(), self.state.webhooks.clone());
            self.background.push(tokio::spawn(edge::serve(
                metrics,
                router,
                limits,
                std::future::pending(),
            )));
        }
        println!("interlink listening on http://{addr}");
        edge::serve(listener, self.router(), limits, shutdown).await;
        Ok(())
    }

    /// The HTTP surface: the API, the pages and the MCP endpoint.
    pub fn router(&self) -> Router {
        let state = self.state.clone();
        let metrics = state.metrics.clone();
        api::pages::router(state.clone())
            .merge(api::router(state.clone()))
            .merge(crate::mcp::router(state, self.mcp))
            .layer(middleware::from_fn_with_state(
                metrics,
                api::metrics::observe,
            ))
    }

    /// The one path to adapters, which every door calls through.
    pub fn dataplane(&self) -> &Arc<DataPlane> {
        &self.state.dataplane
    }

    /// Connections and their tokens.
    pub fn connections(&self) -> &Arc<Connections> {
        &self.state.connections
    }

    /// The loaded adapters.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.state.registry
    }

    /// Syncs: schedules, runs, synced records.
    pub fn syncs(&self) -> &Arc<Syncs> {
        &self.state.syncs
    }

    /// Webhook subscriptions and deliveries.
    pub fn webhooks(&self) -> &Arc<Webhooks> {
        &self.state.webhooks
    }

    /// The database.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        for task in &self.background {
            task.abort();
        }
    }
}

/// Loads the adapters of `registry`'s folder and starts sharing them.
async fn load(registry: &Arc<Registry>) {
    if let Err(e) = registry.load_dir().await {
        tracing::error!(error = %e, dir = %registry.dir().display(), "could not read the adapters folder");
    }
    registry.start_sharing();
    tracing::info!(adapters = registry.loaded().len(), "adapters loaded");
    if registry.loaded().is_empty() {
        tracing::warn!(
            dir = %registry.dir().display(),
            "no adapters: copy adapter components (.wasm) into this folder (a checkout builds the \
             bundled ones with `cargo xtask build-adapters`, into target/adapters), or upload one \
             with PUT /v1/adapters/{{id}}"
        );
    }
}

/// Refuses to start with another secret key than the data was sealed
/// with. The first start stores the check that later ones verify.
async fn check_secret_key(store: &dyn Store, secret_box: &SecretBox) -> anyhow::Result<()> {
    const NAME: &str = "secret_key_check";
    store.insert_setting(NAME, &secret_box.key_check()).await?;
    let check = store
        .setting(NAME)
        .await?
        .context("the secret key check was not stored")?;
    Ok(secret_box.verify(&check)?)
}
