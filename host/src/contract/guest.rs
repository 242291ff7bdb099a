//! One adapter component, whatever contract version it implements: the
//! runtime holds a [`GuestPre`] per loaded adapter and a [`Guest`] per
//! instance, and calls it with the host's model; each variant converts to
//! and from its version's types.

use wasmtime::AsContextMut;
use wasmtime::component::InstancePre;

use super::{
    Account, AdapterError, CallFor, ContractVersion, ListRequest, PassthroughRequest,
    PassthroughResponse, RawPage, v0_1_0, v0_2_0, v0_3_0, v0_4_0,
};
use crate::manifest::Manifest;

/// A linked component of a served version, ready to instantiate.
pub enum GuestPre<T: 'static> {
    V0_1_0(v0_1_0::AdapterWorldPre<T>),
    V0_2_0(v0_2_0::AdapterWorldPre<T>),
    V0_3_0(v0_3_0::AdapterWorldPre<T>),
    V0_4_0(v0_4_0::AdapterWorldPre<T>),
}

impl<T: 'static> Clone for GuestPre<T> {
    fn clone(&self) -> Self {
        match self {
            GuestPre::V0_1_0(pre) => GuestPre::V0_1_0(pre.clone()),
            GuestPre::V0_2_0(pre) => GuestPre::V0_2_0(pre.clone()),
            GuestPre::V0_3_0(pre) => GuestPre::V0_3_0(pre.clone()),
            GuestPre::V0_4_0(pre) => GuestPre::V0_4_0(pre.clone()),
        }
    }
}

/// One instance of a component.
pub enum Guest {
    V0_1_0(v0_1_0::AdapterWorld),
    V0_2_0(v0_2_0::AdapterWorld),
    V0_3_0(v0_3_0::AdapterWorld),
    V0_4_0(v0_4_0::AdapterWorld),
}

/// What an export call answers: a trap, or the adapter's own result.
pub type Answer<T> = wasmtime::Result<Result<T, AdapterError>>;

impl<T: Send + 'static> GuestPre<T> {
    /// Checks that `pre` exports what `version` requires.
    ///
    /// # Errors
    ///
    /// The component lacks an export of that version's world.
    pub fn new(version: ContractVersion, pre: InstancePre<T>) -> wasmtime::Result<Self> {
        Ok(match version {
            ContractVersion::V0_1_0 => GuestPre::V0_1_0(v0_1_0::AdapterWorldPre::new(pre)?),
            ContractVersion::V0_2_0 => GuestPre::V0_2_0(v0_2_0::AdapterWorldPre::new(pre)?),
            ContractVersion::V0_3_0 => GuestPre::V0_3_0(v0_3_0::AdapterWorldPre::new(pre)?),
            ContractVersion::V0_4_0 => GuestPre::V0_4_0(v0_4_0::AdapterWorldPre::new(pre)?),
        })
    }

    /// Instantiates the component in `store`.
    ///
    /// # Errors
    ///
    /// Instantiating fails: the instance pool has no slot left, or the
    /// component's start traps, or the store's deadline or memory limit
    /// stops it.
    pub async fn instantiate(&self, store: impl AsContextMut<Data = T>) -> wasmtime::Result<Guest> {
        Ok(match self {
            GuestPre::V0_1_0(pre) => Guest::V0_1_0(pre.instantiate_async(store).await?),
            GuestPre::V0_2_0(pre) => Guest::V0_2_0(pre.instantiate_async(store).await?),
            GuestPre::V0_3_0(pre) => Guest::V0_3_0(pre.instantiate_async(store).await?),
            GuestPre::V0_4_0(pre) => Guest::V0_4_0(pre.instantiate_async(store).await?),
        })
    }
}

/// Runs `$body` with `$world` bound to the instance's bindings and `types`
/// to its version's types module.
macro_rules! each_version {
    ($guest:expr, |$world:ident| $body:expr) => {
        match $guest {
            Guest::V0_1_0($world) => {
                #[allow(unused_imports)]
                use v0_1_0::types;
                $body
            }
            Guest::V0_2_0($world) => {
                #[allow(unused_imports)]
                use v0_2_0::types;
                $body
            }
            Guest::V0_3_0($world) => {
                #[allow(unused_imports)]
                use v0_3_0::types;
                $body
            }
            Guest::V0_4_0($world) => {
                #[allow(unused_imports)]
                use v0_4_0::types;
                $body
            }
        }
    };
}

/// Calls export `$call` of the instance's version with the call context
/// and `$args` (which may use that version's `types`), and answers in the
/// host's model.
macro_rules! call_export {
    ($guest:expr, $store:expr, $ctx:expr, $call:ident ( $($arg:expr),* )) => {
        each_version!($guest, |w| {
            let ctx = types::CallContext::from(&$ctx);
            let adapter = w.interlink_adapter_adapter();
            Ok(host(adapter.$call($store, &ctx $(, $arg)*).await?))
        })
    };
}

/// The adapter's result in the host's model.
fn host<W, H: From<W>>(answer: Result<W, impl Into<AdapterError>>) -> Result<H, AdapterError> {
    answer.map(H::from).map_err(Into::into)
}

impl Guest {
    /// Calls `describe`: the adapter's manifest.
    ///
    /// # Errors
    ///
    /// The call traps, or the store's deadline or memory limit stops it.
    pub async fn describe<S>(&self, store: S) -> wasmtime::Result<Manifest>
    where
        S: AsContextMut<Data: Send>,
    {
        each_version!(self, |w| Ok(w
            .interlink_adapter_adapter()
            .call_describe(store)
            .await?
            .into()))
    }

    /// Calls `connect` for `ctx`.
    ///
    /// # Errors
    ///
    /// As the outer error, the call trapped or the store's deadline or
    /// memory limit stopped it; as the inner one, the adapter's own
    /// [`AdapterError`].
    pub async fn connect<S>(&self, store: S, ctx: CallFor<'_>) -> Answer<Account>
    where
        S: AsContextMut<Data: Send>,
    {
        call_export!(self, store, ctx, call_connect())
    }

    /// Calls `list` for `ctx`.
    ///
    /// # Errors
    ///
    /// As [`Guest::connect`].
    pub async fn list<S>(
        &self,
        store: S,
        ctx: CallFor<'_>,
        request: &ListRequest,
    ) -> Answer<RawPage>
    where
        S: AsContextMut<Data: Send>,
    {
        call_export!(
            self,
            store,
            ctx,
            call_list(&types::ListRequest::from(request))
        )
    }

    /// Calls `get` for `ctx`.
    ///
    /// # Errors
    ///
    /// As [`Guest::connect`].
    pub async fn get<S>(&self, store: S, ctx: CallFor<'_>, entity: &str, id: &str) -> Answer<String>
    where
        S: AsContextMut<Data: Send>,
    {
        call_export!(self, store, ctx, call_get(entity, id))
    }

    /// Calls `create` for `ctx`.
    ///
    /// # Errors
    ///
    /// As [`Guest::connect`].
    pub async fn create<S>(
        &self,
        store: S,
        ctx: CallFor<'_>,
        entity: &str,
        record: String,
    ) -> Answer<String>
    where
        S: AsContextMut<Data: Send>,
    {
        call_export!(self, store, ctx, call_create(entity, &record))
    }

    /// Calls `update` for `ctx`.
    ///
    /// # Errors
    ///
    /// As [`Guest::connect`].
    pub async fn update<S>(
        &self,
        store: S,
        ctx: CallFor<'_>,
        entity: &str,
        id: &str,
        patch: String,
    ) -> Answer<String>
    where
        S: AsContextMut<Data: Send>,
    {
        call_export!(self, store, ctx, call_update(entity, id, &patch))
    }

    /// Calls `delete` for `ctx`.
    ///
    /// # Errors
    ///
    /// As [`Guest::connect`].
    pub async fn delete<S>(&self, store: S, ctx: CallFor<'_>, entity: &str, id: &str) -> Answer<()>
    where
        S: AsContextMut<Data: Send>,
    {
        call_export!(self, store, ctx, call_delete(entity, id))
    }

    /// A passthrough request; versions before 0.3.0 have none.
    ///
    /// # Errors
    ///
    /// As [`Guest::connect`]; an instance of a version before 0.3.0 answers
    /// [`AdapterError::Unsupported`].
    pub async fn passthrough<S>(
        &self,
        store: S,
        ctx: CallFor<'_>,
        request: &PassthroughRequest,
    ) -> Answer<PassthroughResponse>
    where
        S: AsContextMut<Data: Send>,
    {
        match self {
            Guest::V0_3_0(w) => {
                let ctx = v0_3_0::types::CallContext::from(&ctx);
                let request = request.into();
                let adapter = w.interlink_adapter_adapter();
                Ok(host(adapter.call_passthrough(store, &ctx, &request).await?))
            }
            Guest::V0_4_0(w) => {
                let ctx = v0_4_0::types::CallContext::from(&ctx);
                let request = request.into();
                let adapter = w.interlink_adapter_adapter();
                Ok(host(adapter.call_passthrough(store, &ctx, &request).await?))
            }
            Guest::V0_1_0(_) | Guest::V0_2_0(_) => Ok(Err(AdapterError::Unsupported {
                message: "contracts before 0.3.0 have no passthrough".into(),
            })),
        }
    }
}
