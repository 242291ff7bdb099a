//! One instance of an adapter: its store and guest, and every export call
//! on it, each under the call's deadline and classified into a
//! [`CallError`].

use super::*;

/// One instance of an adapter, for one connection. The host makes a fresh
/// one per call, or keeps it warm for the connection's next calls when
/// the adapter's start-up is costly (see [`InstanceReuse`]).
pub struct AdapterInstance {
    store: Store<HostState>,
    guest: Guest,
    /// Who the calls are for (the store's data holds it too).
    pub(super) ctx: Arc<CallContext>,
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
    /// A new instance in `store`, for no connection yet, each call bounded
    /// by `timeout`.
    pub(super) fn new(store: Store<HostState>, guest: Guest, timeout: Duration) -> Self {
        AdapterInstance {
            store,
            guest,
            ctx: Arc::default(),
            timeout,
            clean: true,
            calls: 0,
        }
    }

    /// Makes a new instance act for `ctx`, reaching `allow`, signing with
    /// `private_keys`, each call bounded by `timeout`.
    pub(super) fn bind(
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
    pub(super) fn reusable(&self) -> bool {
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

    /// The request this instance's calls now belong to: their upstream
    /// requests and credential uses go to its audit trail, their waits to
    /// its timing.
    pub fn trail(&mut self, trail: Arc<crate::audit::Trail>) {
        self.store.data_mut().trail = Some(trail);
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

    pub(super) async fn describe(&mut self) -> Result<Manifest, CallError> {
        guarded!(self, describe())
    }

    /// Calls `connect`: checks the connection's credentials with the
    /// system, and answers the account they reach.
    ///
    /// # Errors
    ///
    /// - [`CallError::DeadlineExceeded`],
    ///   [`CallError::MemoryLimitExceeded`] or [`CallError::Trap`] when the
    ///   call runs out of time or memory, or traps;
    /// - [`CallError::OutboundDenied`] when the host refused one of the
    ///   call's outbound requests and the adapter then failed;
    /// - [`CallError::Adapter`] with the adapter's own error otherwise;
    /// - [`CallError::Held`] in a dry run ([`AdapterInstance::dry_run`]),
    ///   at the first request that may change the system.
    pub async fn connect(&mut self) -> Result<Account, CallError> {
        let account = guarded!(self, connect())?.map_err(|e| self.failure(e))?;
        Ok(account.bounded())
    }

    /// Calls `list`: a page of records.
    ///
    /// # Errors
    ///
    /// Those of [`AdapterInstance::connect`]; [`CallError::InvalidOutput`]
    /// when the page has more records than asked for, a cursor longer than
    /// [`MAX_CURSOR_BYTES`], or a record that is not JSON.
    pub async fn list(&mut self, request: &ListRequest) -> Result<Page, CallError> {
        let page: RawPage = guarded!(self, list(request))?.map_err(|e| self.failure(e))?;
        let page = checked_page(request, page);
        self.checked(page)
    }

    /// Calls `get`: one record.
    ///
    /// # Errors
    ///
    /// Those of [`AdapterInstance::connect`]; [`CallError::InvalidOutput`]
    /// when the record is not JSON.
    pub async fn get(&mut self, entity: &str, id: &str) -> Result<Box<RawValue>, CallError> {
        let record = guarded!(self, get(entity, id))?.map_err(|e| self.failure(e))?;
        self.checked(json(record))
    }

    /// Calls `create` with `record` (JSON): the record as created.
    ///
    /// # Errors
    ///
    /// Those of [`AdapterInstance::connect`]; [`CallError::InvalidOutput`]
    /// when the record answered is not JSON.
    pub async fn create(
        &mut self,
        entity: &str,
        record: String,
    ) -> Result<Box<RawValue>, CallError> {
        let record = guarded!(self, create(entity, record))?.map_err(|e| self.failure(e))?;
        self.checked(json(record))
    }

    /// Calls `update` with `patch` (JSON): the record as updated.
    ///
    /// # Errors
    ///
    /// Those of [`AdapterInstance::connect`]; [`CallError::InvalidOutput`]
    /// when the record answered is not JSON.
    pub async fn update(
        &mut self,
        entity: &str,
        id: &str,
        patch: String,
    ) -> Result<Box<RawValue>, CallError> {
        let record = guarded!(self, update(entity, id, patch))?.map_err(|e| self.failure(e))?;
        self.checked(json(record))
    }

    /// Calls `delete`.
    ///
    /// # Errors
    ///
    /// Those of [`AdapterInstance::connect`].
    pub async fn delete(&mut self, entity: &str, id: &str) -> Result<(), CallError> {
        guarded!(self, delete(entity, id))?.map_err(|e| self.failure(e))
    }

    /// Relays a client's request: every request the adapter sends to the
    /// connection's own origin meanwhile must stay under its base URL's
    /// path, as the URL standard resolves it.
    ///
    /// # Errors
    ///
    /// Those of [`AdapterInstance::connect`]; a request outside the base
    /// URL's path is refused, so the adapter's failure after one is
    /// [`CallError::OutboundDenied`].
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
