//! Adapters on a database that other nodes share.
//!
//! An upload on any node is stored in the database (the component by its
//! SHA-256, and which one the adapter id runs) before it is swapped in.
//! Every node reads the database every [`EVERY`] and loads each version it
//! has not applied yet, swapping it in atomically as an upload would (and
//! writing it into its folder, so that it survives a restart). An adapter id
//! the database does not know yet (a bundled adapter, or a file dropped into
//! a node's folder) is published by the first node that serves it. So a node
//! that starts later serves the current versions, and the database's
//! version of an id wins over a node's folder.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use super::Registry;
use crate::runtime::{Adapter, sha256_hex};
use crate::storage::{StorageError, Store};

/// How often a node reads which adapters the database serves.
pub const EVERY: Duration = Duration::from_secs(2);

pub(super) struct Shared {
    store: Arc<dyn Store>,
    /// The component each adapter id last took from the database.
    applied: Mutex<BTreeMap<String, String>>,
}

impl Shared {
    pub(super) fn new(store: Arc<dyn Store>) -> Self {
        Shared {
            store,
            applied: Mutex::default(),
        }
    }

    /// Makes `bytes`, which loaded as `adapter`, the version every node
    /// serves.
    pub(super) async fn publish(
        &self,
        adapter: &Adapter,
        bytes: &[u8],
    ) -> Result<(), StorageError> {
        let (id, sha256) = (adapter.id(), adapter.sha256());
        self.store
            .put_adapter(id, sha256, bytes, SystemTime::now())
            .await?;
        tracing::info!(
            adapter = id,
            sha256,
            "adapter published to the shared database"
        );
        self.applied
            .lock()
            .unwrap()
            .insert(id.to_string(), sha256.to_string());
        Ok(())
    }
}

impl Registry {
    /// Brings the adapters up to date with the database other nodes share:
    /// loads the versions published since the last time, and publishes the
    /// adapters it does not know yet. Does nothing on a database of one's
    /// own.
    ///
    /// # Errors
    ///
    /// The database failed. A published component that does not load is
    /// recorded as a file that does not ([`Registry::load_errors`]), not
    /// answered.
    pub async fn sync_shared(&self) -> Result<(), StorageError> {
        let Some(shared) = &self.shared else {
            return Ok(());
        };
        let versions: BTreeMap<String, String> =
            shared.store.adapter_versions().await?.into_iter().collect();
        for (id, sha256) in &versions {
            if shared.applied.lock().unwrap().get(id) == Some(sha256) {
                continue;
            }
            if self.get(id).is_none_or(|a| a.sha256() != sha256) {
                self.load_published(shared, id, sha256).await?;
            }
            shared
                .applied
                .lock()
                .unwrap()
                .insert(id.clone(), sha256.clone());
        }
        for loaded in self.loaded() {
            if versions.contains_key(loaded.adapter.id()) {
                continue;
            }
            // The file as it was loaded; one that changed since is published
            // once it loads.
            match std::fs::read(&loaded.path) {
                Ok(bytes) if sha256_hex(&bytes) == loaded.adapter.sha256() => {
                    shared.publish(&loaded.adapter, &bytes).await?
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Loads and swaps in the component `sha256` that the database serves
    /// as `id`. A component that does not load is recorded like a file that
    /// does not, and the previous version keeps serving.
    async fn load_published(
        &self,
        shared: &Shared,
        id: &str,
        sha256: &str,
    ) -> Result<(), StorageError> {
        let Some(bytes) = shared.store.adapter_component(sha256).await? else {
            return Ok(());
        };
        let _guard = self.loading.lock().await;
        let path = self.dir.join(format!("{id}.wasm"));
        let error = match self.runtime.load(bytes.clone()).await {
            Ok(adapter) if adapter.id() == id => match self.write_file(id, &bytes) {
                Ok(path) => match self.swap_in(&path, adapter) {
                    Ok(_) => return Ok(()),
                    Err(e) => e.to_string(),
                },
                Err(e) => e.to_string(),
            },
            Ok(adapter) => format!(
                "the shared database's component for `{id}` is adapter `{}`",
                adapter.id()
            ),
            Err(e) => e.to_string(),
        };
        self.record_error(&path, sha256.to_string(), error);
        Ok(())
    }

    /// Keeps the adapters up to date with the shared database, every
    /// [`EVERY`], for as long as the registry lives. Does nothing on a
    /// database of one's own.
    pub fn start_sharing(self: &Arc<Self>) {
        if self.shared.is_none() {
            return;
        }
        let registry = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                let Some(registry) = registry.upgrade() else {
                    return;
                };
                if let Err(e) = registry.sync_shared().await {
                    tracing::warn!(error = %e, "could not read the shared database's adapters");
                }
            }
        });
    }
}
