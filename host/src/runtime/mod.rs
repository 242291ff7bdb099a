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
pub use spare::MAX_SPARES;
pub use state::{CallContext, Secrets};
pub use warm::{InstanceReuse, Lease};

use crate::contract::{self, Account, AdapterError, CallFor, Guest, GuestPre, RawPage};
use crate::manifest::{Manifest, OriginTemplate};
use crate::outbound::{AdapterGrants, AllowList, NetworkPolicy, Outbound};
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
        }
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
        Ok(AdapterInstance {
            store,
            guest,
            ctx: Arc::default(),
            timeout,
            clean: true,
            calls: 0,
        })
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
    pub async fn connect(&self, ctx: CallContext) -> Result<Account, CallError> {
        self.instantiate(ctx).await?.connect().await
    }

    /// `list` on a fresh instance.
    pub async fn list(&self, ctx: CallContext, request: &ListRequest) -> Result<Page, CallError> {
        self.instantiate(ctx).await?.list(request).await
    }

    /// `get` on a fresh instance.
    pub async fn get(
        &self,
        ctx: CallContext,
        entity: &str,
        id: &str,
    ) -> Result<Box<RawValue>, CallError> {
        self.instantiate(ctx).await?.get(entity, id).await
    }

    /// `create` on a fresh instance.
    pub async fn create(
        &self,
        ctx: CallContext,
        entity: &str,
        record: String,
    ) -> Result<Box<RawValue>, CallError> {
        self.instantiate(ctx).await?.create(entity, record).await
    }

    /// `update` on a fresh instance.
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
    pub async fn delete(&self, ctx: CallContext, entity: &str, id: &str) -> Result<(), CallError> {
        self.instantiate(ctx).await?.delete(entity, id).await
    }

    /// `passthrough` on a fresh instance.
    pub async fn passthrough(
        &self,
        ctx: CallContext,
        request: &PassthroughRequest,
    ) -> Result<PassthroughResponse, CallError> {
        self.instantiate(ctx).await?.passthrough(request).await
    }
}

/// One instance of an adapter, for one connection. The host makes a fresh
/// one per call, or keeps it warm for the connection's next calls when
/// the adapter's start-up is costly (see [`InstanceReuse`]).
pub struct AdapterInstance {
    store: Store<HostState>,
    guest: Guest,
    /// Who the calls are for (the store's data holds it too).
    ctx: Arc<CallContext>,
    timeout: Duration,
    /// Every call on it so far finished with a result or a typed error: not
    /// a trap, a timeout, an invalid result, or abandoned half-way.
    clean: bool,
    calls: u32,
}

/// Runs one export call under the deadline, mapping every failure to a
/// [`CallError`].
macro_rules! guarded {
    ($self:ident, describe()) => {
        guarded!(@run $self, $self.guest.describe(&mut $self.store))
    };
    ($self:ident, $call:ident ( $($arg:expr),* )) => {{
        let ctx = CallFor {
            connection_id: &$self.ctx.connection_id,
            config: &$self.ctx.config,
        };
        guarded!(@run $self, $self.guest.$call(&mut $self.store, ctx, $($arg),*))
    }};
    (@run $self:ident, $call:expr) => {{
        let state = $self.store.data_mut();
        if $self.calls > 0 {
            state.new_call();
        }
        state.deadline = Instant::now() + $self.timeout;
        state.denied = None;
        state.log_lines = 0;
        $self.store.set_epoch_deadline(1);
        // Unclean until the call finishes: a call whose future is dropped
        // half-way leaves the instance in a state nothing may reuse.
        $self.clean = false;
        $self.calls += 1;
        let call = $call;
        // The epoch deadline stops a guest that computes too long; this
        // timeout also stops one waiting on a host call (plus one tick of grace).
        match tokio::time::timeout($self.timeout + engine::TICK * 5, call).await {
            Err(_) => Err(CallError::DeadlineExceeded($self.timeout)),
            Ok(Err(e)) => Err(classify(e, $self.timeout)),
            Ok(Ok(result)) => {
                $self.clean = true;
                Ok(result)
            }
        }
    }};
}

impl AdapterInstance {
    /// Makes a new instance act for `ctx`, reaching `allow`, signing with
    /// `private_keys`, each call bounded by `timeout`.
    fn bind(
        &mut self,
        ctx: CallContext,
        allow: AllowList,
        private_keys: Arc<[String]>,
        timeout: Duration,
    ) {
        let ctx = Arc::new(ctx);
        let state = self.store.data_mut();
        state.ctx = ctx.clone();
        state.allow = allow;
        state.describing = false;
        state.private_keys = private_keys;
        state.call_id = uuid::Uuid::now_v7().to_string();
        self.ctx = ctx;
        self.timeout = timeout;
    }

    /// Whether the instance may serve another call: every call so far
    /// finished cleanly, it made no dry run, and it is not worn out.
    fn reusable(&self) -> bool {
        self.clean && !self.store.data().dry_run && self.calls < warm::MAX_CALLS
    }

    /// `result`, retiring the instance when the adapter's answer broke the
    /// contract.
    fn checked<T>(&mut self, result: Result<T, CallError>) -> Result<T, CallError> {
        if matches!(result, Err(CallError::InvalidOutput(_))) {
            self.clean = false;
        }
        result
    }

    /// Makes this instance hold, instead of sending, every request that may
    /// change the system (see [`HeldRequest`]): the call stops at the first.
    pub fn dry_run(&mut self) {
        self.store.data_mut().dry_run = true;
    }

    /// The requests a dry run held.
    pub fn held(&self) -> &[HeldRequest] {
        &self.store.data().held
    }

    /// The bytes of linear memory the instance has now: its initial memory,
    /// plus what its calls grew.
    pub fn memory(&self) -> usize {
        self.store.data().memory
    }

    /// The adapter's error; but when the host denied one of its outbound
    /// requests during the call, that denial: it is the cause, whatever
    /// kind of error the adapter made of it.
    fn failure(&mut self, error: AdapterError) -> CallError {
        match self.store.data_mut().denied.take() {
            Some(reason) => CallError::OutboundDenied(reason),
            None => error.bounded().into(),
        }
    }

    async fn describe(&mut self) -> Result<Manifest, CallError> {
        guarded!(self, describe())
    }

    pub async fn connect(&mut self) -> Result<Account, CallError> {
        let account = guarded!(self, connect())?.map_err(|e| self.failure(e))?;
        Ok(account.bounded())
    }

    pub async fn list(&mut self, request: &ListRequest) -> Result<Page, CallError> {
        let page: RawPage = guarded!(self, list(request))?.map_err(|e| self.failure(e))?;
        let page = checked_page(request, page);
        self.checked(page)
    }

    pub async fn get(&mut self, entity: &str, id: &str) -> Result<Box<RawValue>, CallError> {
        let record = guarded!(self, get(entity, id))?.map_err(|e| self.failure(e))?;
        self.checked(json(record))
    }

    pub async fn create(
        &mut self,
        entity: &str,
        record: String,
    ) -> Result<Box<RawValue>, CallError> {
        let record = guarded!(self, create(entity, record))?.map_err(|e| self.failure(e))?;
        self.checked(json(record))
    }

    pub async fn update(
        &mut self,
        entity: &str,
        id: &str,
        patch: String,
    ) -> Result<Box<RawValue>, CallError> {
        let record = guarded!(self, update(entity, id, patch))?.map_err(|e| self.failure(e))?;
        self.checked(json(record))
    }

    pub async fn delete(&mut self, entity: &str, id: &str) -> Result<(), CallError> {
        guarded!(self, delete(entity, id))?.map_err(|e| self.failure(e))
    }

    /// Relays a client's request: every request the adapter sends to the
    /// connection's own origin meanwhile must stay under its base URL's
    /// path, as the URL standard resolves it.
    pub async fn passthrough(
        &mut self,
        request: &PassthroughRequest,
    ) -> Result<PassthroughResponse, CallError> {
        self.store.data_mut().passthrough = true;
        let answer = guarded!(self, passthrough(request));
        self.store.data_mut().passthrough = false;
        answer?.map_err(|e| self.failure(e))
    }
}
