//! The WebAssembly runtime: loading adapters and calling them, sandboxed and
//! bounded.
//!
//! Loading ([`Runtime::load`]) validates and compiles a component once (or
//! takes the compilation from the on-disk cache), checks its contract
//! version, links it against the host's imports into an `InstancePre`, and
//! reads its manifest. Calling ([`Adapter::list`] and friends) gets a fresh
//! [`Store`] and instance every time, from the pooling allocator: no state
//! leaks between calls or connections, and a call that misbehaves takes only
//! itself down. Every call is bounded by a deadline (epoch interruption, plus
//! a tokio timeout around the whole call, host calls included) and a memory
//! limit.

mod cache;
mod engine;
mod error;
pub mod imports;
mod instance;
mod spare;
mod state;
mod warm;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use wasmtime::component::Linker;
use wasmtime::{Engine, Store, UpdateDeadline};

pub use crate::contract::{ListRequest, PassthroughRequest, PassthroughResponse};
pub use error::{CallError, LoadError};
pub use imports::http::HeldRequest;
pub use imports::kv::{DatabaseKv, KvStore, MemoryKv};
pub use instance::AdapterInstance;
pub use spare::MAX_SPARES;
pub use state::{CallContext, Secrets};
pub use warm::{InstanceReuse, Lease};

use crate::audit::Audit;
use crate::contract::{self, Account, AdapterError, CallFor, Guest, GuestPre, RawPage};
use crate::manifest::{Manifest, OriginTemplate};
use crate::outbound::{AdapterGrants, AllowList, NetworkPolicy, Outbound};
use crate::telemetry::Metrics;
use spare::{SpareCount, SpareSlot};
use state::{DeadlineExceeded, HostState, classify};
use warm::WarmPool;

/// Bounds on every call.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// The longest a call may take, host calls included.
    pub call_timeout: Duration,
    /// The most linear memory one instance may have.
    pub memory_limit: usize,
    /// Instances for calls: this many calls can always run at once. The
    /// pool has [`MAX_SPARES`] slots more, for spare instances, which calls
    /// may use while no spare does; a call that finds every slot taken
    /// fails with [`CallError::Busy`].
    pub max_instances: u32,
    /// The longest one outbound HTTP request may take.
    pub http_timeout: Duration,
    /// Which adapters keep instances warm between a connection's calls.
    pub instance_reuse: InstanceReuse,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            call_timeout: Duration::from_secs(30),
            memory_limit: 64 << 20,
            max_instances: 256,
            http_timeout: Duration::from_secs(20),
            instance_reuse: InstanceReuse::Auto,
        }
    }
}

/// What the host's imports use.
pub struct Services {
    pub outbound: Arc<dyn Outbound>,
    pub kv: Arc<dyn KvStore>,
    /// The platform certificate's private key (PKCS#8 PEM), which signs for
    /// connections whose private key is [`PLATFORM_KEY`].
    pub platform_key: Option<Arc<str>>,
    /// A clock that stands still at these milliseconds since the epoch
    /// (replaying recorded traffic); the system clock otherwise.
    pub fixed_clock_ms: Option<u64>,
    /// The restricted networks the operator granted adapters
    /// (`--adapter-allow-network`); none by default.
    pub adapter_grants: AdapterGrants,
    /// Where calls' upstream requests and credential uses are recorded;
    /// nowhere by default.
    pub audit: Arc<Audit>,
    /// Where the adapters' requests are counted.
    pub metrics: Arc<Metrics>,
}

/// The stored value of a private-key config field that stands for the
/// host's platform key (`crate::certificates::platform`).
pub const PLATFORM_KEY: &str = "interlink:platform-key";

impl Services {
    pub fn new(outbound: Arc<dyn Outbound>, kv: Arc<dyn KvStore>) -> Self {
        Services {
            outbound,
            kv,
            platform_key: None,
            fixed_clock_ms: None,
            adapter_grants: AdapterGrants::default(),
            audit: Audit::off(),
            metrics: Arc::default(),
        }
    }

    /// Counts the adapters' requests in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Calls record their upstream requests and credential uses in
    /// `audit`.
    pub fn with_audit(self, audit: Arc<Audit>) -> Self {
        Services { audit, ..self }
    }

    /// Lets adapters reach the restricted networks `grants` name for them.
    pub fn with_adapter_grants(mut self, grants: AdapterGrants) -> Self {
        self.adapter_grants = grants;
        self
    }

    /// Makes the adapters' clock stand still at `ms`.
    pub fn with_fixed_clock(mut self, ms: u64) -> Self {
        self.fixed_clock_ms = Some(ms);
        self
    }

    /// Signs for connections that use the platform certificate with `pem`.
    pub fn with_platform_key(mut self, pem: &str) -> Self {
        self.platform_key = Some(pem.into());
        self
    }
}

struct RuntimeInner {
    engine: Engine,
    linker: Linker<HostState>,
    cache: Option<cache::ArtifactCache>,
    config: RuntimeConfig,
    services: Arc<Services>,
    spares: Arc<SpareCount>,
    _ticker: engine::EpochTicker,
}

/// The engine, the linker with the host's imports, and the compile cache.
/// Cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<RuntimeInner>,
}

/// A loaded adapter: its manifest and its compiled, linked component.
/// Cheap to clone; a call holds a clone, so it finishes on the version it
/// started with even if a new version is swapped in meanwhile.
#[derive(Clone)]
pub struct Adapter {
    inner: Arc<AdapterInner>,
}

struct AdapterInner {
    runtime: Runtime,
    /// The manifest's id, shared with every call's store without a copy.
    id: Arc<str>,
    manifest: Manifest,
    templates: Vec<OriginTemplate>,
    /// The restricted networks the operator granted this adapter.
    network: NetworkPolicy,
    /// The manifest's private-key config fields.
    private_keys: Arc<[String]>,
    sha256: String,
    pre: GuestPre<HostState>,
    from_cache: bool,
    /// Idle instances kept for the next calls, when the runtime's
    /// [`InstanceReuse`] policy applies to this component.
    warm: Option<Arc<WarmPool>>,
    /// A fresh instance made ahead of the next call, when there is no
    /// warm pool.
    spare: Option<SpareSlot>,
}

/// One page of records, as the adapter produced them (validated JSON).
#[derive(Debug, Serialize)]
pub struct Page {
    pub records: Vec<Box<RawValue>>,
    pub next_cursor: Option<String>,
}

/// The longest cursor an adapter may answer (clients send it back).
pub const MAX_CURSOR_BYTES: usize = 2048;

/// The longest `describe` may take: a manifest is data, and loading holds
/// the registry's load lock.
pub const DESCRIBE_TIMEOUT: Duration = Duration::from_secs(5);

fn json(text: String) -> Result<Box<RawValue>, CallError> {
    RawValue::from_string(text)
        .map_err(|e| CallError::InvalidOutput(format!("a record is not JSON: {e}")))
}

/// An adapter's page, checked against the request and the contract's
/// bounds, with its records validated as JSON.
fn checked_page(request: &ListRequest, page: RawPage) -> Result<Page, CallError> {
    if page.records.len() > request.page_size as usize {
        return Err(CallError::InvalidOutput(format!(
            "{} records for a page of at most {}",
            page.records.len(),
            request.page_size
        )));
    }
    if page
        .next_cursor
        .as_ref()
        .is_some_and(|c| c.len() > MAX_CURSOR_BYTES)
    {
        return Err(CallError::InvalidOutput(format!(
            "a cursor longer than {MAX_CURSOR_BYTES} bytes"
        )));
    }
    Ok(Page {
        records: page
            .records
            .into_iter()
            .map(json)
            .collect::<Result<_, _>>()?,
        next_cursor: page.next_cursor,
    })
}

/// The SHA-256 of `bytes`, in hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Runtime {
    /// A runtime whose compiled artifacts are cached in `cache_dir`, if given.
    ///
    /// # Errors
    ///
    /// `config.max_instances` is too large for the instance pool, wasmtime
    /// cannot build the engine or link the host's imports, or `cache_dir`
    /// cannot be made.
    pub fn new(
        config: RuntimeConfig,
        services: Services,
        cache_dir: Option<&Path>,
    ) -> anyhow::Result<Self> {
        let slots = config
            .max_instances
            .checked_add(MAX_SPARES)
            .context("max_instances is too large")?;
        let engine = engine::build(slots, config.memory_limit)?;
        let mut linker = Linker::new(&engine);
        imports::add_to_linker(&mut linker)?;
        let cache = cache_dir
            .map(|dir| cache::ArtifactCache::new(dir, &engine))
            .transpose()?;
        let ticker = engine::EpochTicker::start(&engine);
        Ok(Runtime {
            inner: Arc::new(RuntimeInner {
                engine,
                linker,
                cache,
                config,
                services: Arc::new(services),
                spares: Arc::default(),
                _ticker: ticker,
            }),
        })
    }

    /// Adapter instances alive in the pool now (calls' and spares), and
    /// the pool's size (`max_instances` and the spares' room).
    pub fn instances(&self) -> (u64, u64) {
        let in_use = self
            .inner
            .engine
            .pooling_allocator_metrics()
            .map_or(0, |m| m.component_instances());
        let size = u64::from(self.inner.config.max_instances) + u64::from(MAX_SPARES);
        (in_use, size)
    }

    /// Compiles `bytes`, or takes them from the cache. Blocking: run it off
    /// the async workers.
    fn compile(
        &self,
        bytes: &[u8],
        sha256: &str,
    ) -> Result<(wasmtime::component::Component, bool), LoadError> {
        let inner = &self.inner;
        if let Some(component) = inner
            .cache
            .as_ref()
            .and_then(|c| c.get(&inner.engine, sha256))
        {
            return Ok((component, true));
        }
        let component = wasmtime::component::Component::new(&inner.engine, bytes)
            .map_err(|e| LoadError::Invalid(format!("{e:#}")))?;
        if let Some(cache) = &inner.cache {
            cache.put(sha256, &component);
        }
        Ok((component, false))
    }

    /// Validates, compiles and links a component, and reads its manifest.
    ///
    /// # Errors
    ///
    /// A [`LoadError`] that says why the component is not a usable adapter:
    /// not a component, a contract version this host does not serve, imports
    /// it does not provide, or a manifest it refuses.
    pub async fn load(&self, bytes: Vec<u8>) -> Result<Adapter, LoadError> {
        let sha256 = sha256_hex(&bytes);
        let reuse = self.inner.config.instance_reuse.applies_to(bytes.len());
        let runtime = self.clone();
        let hash = sha256.clone();
        let (component, from_cache) =
            tokio::task::spawn_blocking(move || runtime.compile(&bytes, &hash))
                .await
                .map_err(|e| LoadError::Invalid(format!("compilation panicked: {e}")))??;
        let version = contract::detect(&self.inner.engine, &component)?;
        let pre = self
            .inner
            .linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::Imports(format!("{e:#}")))?;
        let pre = GuestPre::new(version, pre).map_err(|e| LoadError::Imports(format!("{e:#}")))?;

        let mut instance = self
            .new_instance(&pre, "manifest".into())
            .await
            .map_err(LoadError::Describe)?;
        let manifest = instance.describe().await.map_err(LoadError::Describe)?;
        let templates = manifest.validate(version.as_str())?;
        let private_keys = manifest
            .config
            .iter()
            .filter(|c| c.kind == crate::manifest::ConfigType::PrivateKey)
            .map(|c| c.name.clone())
            .collect();
        let warm = reuse.then(|| Arc::new(WarmPool::new(manifest.limits.max_concurrent_requests)));
        Ok(Adapter {
            inner: Arc::new(AdapterInner {
                runtime: self.clone(),
                network: self.inner.services.adapter_grants.policy_for(&manifest.id),
                id: manifest.id.as_str().into(),
                manifest,
                templates,
                private_keys,
                sha256,
                pre,
                from_cache,
                spare: warm.is_none().then(SpareSlot::default),
                warm,
            }),
        })
    }

    /// A fresh instance bound to no one yet: its imports do nothing until
    /// [`AdapterInstance::bind`], so whatever the component runs while it
    /// is instantiated acts for no connection. Unbound, it serves the
    /// `describe` call, with the shorter [`DESCRIBE_TIMEOUT`].
    async fn new_instance(
        &self,
        pre: &GuestPre<HostState>,
        adapter_id: Arc<str>,
    ) -> Result<AdapterInstance, CallError> {
        let timeout = DESCRIBE_TIMEOUT.min(self.inner.config.call_timeout);
        let state = HostState {
            adapter_id,
            ctx: Arc::default(),
            allow: AllowList::default(),
            describing: true,
            log_lines: 0,
            logs_dropped: 0,
            private_keys: Arc::new([]),
            services: self.inner.services.clone(),
            memory_limit: self.inner.config.memory_limit,
            memory: 0,
            deadline: Instant::now() + timeout,
            http_timeout: self.inner.config.http_timeout,
            denied: None,
            dry_run: false,
            passthrough: false,
            held: Vec::new(),
            call_id: String::new(),
            filling: false,
            trail: None,
        };
        let mut store = Store::new(&self.inner.engine, state);
        store.limiter(|s| s);
        store.epoch_deadline_callback(|ctx| {
            if Instant::now() >= ctx.data().deadline {
                Err(DeadlineExceeded.into())
            } else {
                // Yield to tokio at every tick, so a busy guest never holds
                // a worker thread for long.
                Ok(UpdateDeadline::Yield(1))
            }
        });
        store.set_epoch_deadline(1);
        let guest = pre
            .instantiate(&mut store)
            .await
            .map_err(|e| classify(e, timeout))?;
        Ok(AdapterInstance::new(store, guest, timeout))
    }
}

impl Adapter {
    pub fn manifest(&self) -> &Manifest {
        &self.inner.manifest
    }

    pub fn id(&self) -> &str {
        &self.inner.manifest.id
    }

    /// The config fields that pick the system a connection reaches: those
    /// the connection's own outbound host templates are made of
    /// (`account_id` in `https://{account_id}.example.com`, `base_url`).
    pub fn system_fields(&self) -> impl Iterator<Item = &str> {
        self.inner
            .templates
            .iter()
            .filter(|t| t.is_connections_own())
            .flat_map(OriginTemplate::placeholders)
    }

    /// The restricted networks the operator granted this adapter
    /// (`--adapter-allow-network`): its requests, and the URLs of its
    /// connections' config when they are made, are checked against them.
    pub fn network(&self) -> &NetworkPolicy {
        &self.inner.network
    }

    /// The SHA-256 of the component, in hex.
    pub fn sha256(&self) -> &str {
        &self.inner.sha256
    }

    /// Whether the compilation came from the on-disk cache.
    pub fn from_cache(&self) -> bool {
        self.inner.from_cache
    }

    /// Whether this adapter keeps instances warm between a connection's
    /// calls (see [`InstanceReuse`]).
    pub fn reuses_instances(&self) -> bool {
        self.inner.warm.is_some()
    }

    /// The instance for a call made for `ctx`: a warm one made for the same
    /// `ctx`, when this adapter keeps them, or a fresh one. It returns to
    /// the warm pool when dropped, if the calls on it finished cleanly.
    ///
    /// # Errors
    ///
    /// As [`Adapter::instantiate_fresh`], when no warm instance serves.
    pub async fn instantiate(&self, ctx: CallContext) -> Result<Lease, CallError> {
        if let Some(pool) = &self.inner.warm {
            if let Some(instance) = pool.take(&ctx) {
                return Ok(Lease::new(instance, Some(pool.clone())));
            }
            let instance = self.instantiate_fresh(ctx).await?;
            return Ok(Lease::new(instance, Some(pool.clone())));
        }
        Ok(Lease::new(self.instantiate_fresh(ctx).await?, None))
    }

    /// A fresh instance for calls made for `ctx`, which may reach the
    /// origins the manifest allows for `ctx`'s config: the adapter's spare,
    /// if it has one ready, or one instantiated now.
    ///
    /// # Errors
    ///
    /// [`CallError::Busy`] when every slot of the instance pool is taken;
    /// [`CallError::DeadlineExceeded`], [`CallError::MemoryLimitExceeded`]
    /// or [`CallError::Trap`] when instantiating the component runs out of
    /// time or memory, or traps.
    pub async fn instantiate_fresh(&self, ctx: CallContext) -> Result<AdapterInstance, CallError> {
        let allow = AllowList::render(&self.inner.templates, &ctx.config)
            .within(self.inner.network.clone());
        let spare = self.inner.spare.as_ref().and_then(SpareSlot::take);
        let mut instance = match spare {
            Some(instance) => instance,
            None => {
                self.inner
                    .runtime
                    .new_instance(&self.inner.pre, self.inner.id.clone())
                    .await?
            }
        };
        let timeout = self.inner.runtime.inner.config.call_timeout;
        instance.bind(ctx, allow, self.inner.private_keys.clone(), timeout);
        Ok(instance)
    }

    /// Whether a spare instance is ready for the next call.
    pub fn has_spare(&self) -> bool {
        self.inner.spare.as_ref().is_some_and(SpareSlot::ready)
    }

    /// Makes a spare instance for the next call, unless this adapter keeps
    /// warm instances or has a spare already (see [`MAX_SPARES`]). Callers
    /// run it off any request's path: after a call, say.
    pub async fn make_spare(&self) {
        let Some(slot) = &self.inner.spare else {
            return;
        };
        let runtime = &self.inner.runtime;
        let Some(making) = slot.begin(&runtime.inner.spares) else {
            return;
        };
        match runtime
            .new_instance(&self.inner.pre, self.inner.id.clone())
            .await
        {
            Ok(instance) => making.fill(instance),
            // The pool is full, or the component fails to instantiate:
            // the next call instantiates for itself and reports it.
            Err(e) => tracing::debug!(adapter = self.id(), error = %e, "no spare instance"),
        }
    }

    /// `connect` on a fresh instance.
    ///
    /// # Errors
    ///
    /// Those of [`Adapter::instantiate`], then those of the call
    /// ([`AdapterInstance::connect`]).
    pub async fn connect(&self, ctx: CallContext) -> Result<Account, CallError> {
        self.instantiate(ctx).await?.connect().await
    }

    /// `list` on a fresh instance.
    ///
    /// # Errors
    ///
    /// Those of [`Adapter::instantiate`], then those of the call
    /// ([`AdapterInstance::list`]).
    pub async fn list(&self, ctx: CallContext, request: &ListRequest) -> Result<Page, CallError> {
        self.instantiate(ctx).await?.list(request).await
    }

    /// `get` on a fresh instance.
    ///
    /// # Errors
    ///
    /// Those of [`Adapter::instantiate`], then those of the call
    /// ([`AdapterInstance::get`]).
    pub async fn get(
        &self,
        ctx: CallContext,
        entity: &str,
        id: &str,
    ) -> Result<Box<RawValue>, CallError> {
        self.instantiate(ctx).await?.get(entity, id).await
    }

    /// `create` on a fresh instance.
    ///
    /// # Errors
    ///
    /// Those of [`Adapter::instantiate`], then those of the call
    /// ([`AdapterInstance::create`]).
    pub async fn create(
        &self,
        ctx: CallContext,
        entity: &str,
        record: String,
    ) -> Result<Box<RawValue>, CallError> {
        self.instantiate(ctx).await?.create(entity, record).await
    }

    /// `update` on a fresh instance.
    ///
    /// # Errors
    ///
    /// Those of [`Adapter::instantiate`], then those of the call
    /// ([`AdapterInstance::update`]).
    pub async fn update(
        &self,
        ctx: CallContext,
        entity: &str,
        id: &str,
        patch: String,
    ) -> Result<Box<RawValue>, CallError> {
        self.instantiate(ctx).await?.update(entity, id, patch).await
    }

    /// `delete` on a fresh instance.
    ///
    /// # Errors
    ///
    /// Those of [`Adapter::instantiate`], then those of the call
    /// ([`AdapterInstance::delete`]).
    pub async fn delete(&self, ctx: CallContext, entity: &str, id: &str) -> Result<(), CallError> {
        self.instantiate(ctx).await?.delete(entity, id).await
    }

    /// `passthrough` on a fresh instance.
    ///
    /// # Errors
    ///
    /// Those of [`Adapter::instantiate`], then those of the call
    /// ([`AdapterInstance::passthrough`]).
    pub async fn passthrough(
        &self,
        ctx: CallContext,
        request: &PassthroughRequest,
    ) -> Result<PassthroughResponse, CallError> {
        self.instantiate(ctx).await?.passthrough(request).await
    }
}
