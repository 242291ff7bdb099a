//! The loaded adapters, by id, hot-swapped without a restart.
//!
//! Adapters come from the adapters folder (loaded at start, then watched:
//! see [`watch`]) or from uploads, which are written into that folder so they
//! survive a restart. A new version is validated and compiled off the request
//! path, then swapped in atomically: calls in flight keep the [`Adapter`]
//! they started with, new calls get the new one. A component that fails to
//! load is reported and changes nothing: the previous version keeps serving.
//!
//! On a database other nodes share, uploads are stored in it and every node
//! serves them within seconds ([`shared`]).
//!
//! Every swap and unload is announced ([`Registry::changes`]) with the
//! adapter's id, for those who show what an adapter serves (the MCP door's
//! tool lists).

pub mod shared;
pub mod watch;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use serde::Serialize;
use thiserror::Error;

use crate::runtime::{Adapter, LoadError, Runtime, sha256_hex};
use crate::storage::Store;

/// Why an upload was refused.
#[derive(Debug, Error)]
pub enum RegistryError {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("the component is adapter `{found}`, not `{expected}`")]
    IdMismatch { expected: String, found: String },
    #[error("adapter `{id}` is already served from {file}")]
    IdTaken { id: String, file: String },
    #[error("could not store the adapter: {0}")]
    Io(#[from] std::io::Error),
    #[error("could not store the adapter in the database: {0}")]
    Storage(#[from] crate::storage::StorageError),
}

/// A loaded adapter and where it came from.
#[derive(Clone)]
pub struct Loaded {
    pub adapter: Adapter,
    pub path: PathBuf,
    pub loaded_at: SystemTime,
}

/// What the last attempt to load a file did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FileStatus {
    pub file: String,
    pub sha256: String,
    /// The adapter it serves, when it loaded.
    pub adapter: Option<String>,
    /// Why it did not load; the previous version, if any, still serves.
    pub error: Option<String>,
    #[serde(with = "humantime_serde")]
    #[schema(value_type = String, format = DateTime)]
    pub at: SystemTime,
}

#[derive(Default)]
struct State {
    adapters: BTreeMap<String, Loaded>,
    files: BTreeMap<PathBuf, FileStatus>,
}

pub struct Registry {
    runtime: Runtime,
    dir: PathBuf,
    state: RwLock<State>,
    /// One load at a time, so two versions of a file never race to be swapped in.
    loading: tokio::sync::Mutex<()>,
    /// The folder's files have all been loaded once.
    ready: AtomicBool,
    /// The database other nodes share, where uploads are published.
    shared: Option<shared::Shared>,
    /// The id of each adapter swapped in or unloaded, as it happens.
    changes: tokio::sync::broadcast::Sender<String>,
}

/// A file's name, as the API shows it (never the host's local path).
pub fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Changes a slow receiver of [`Registry::changes`] may fall behind by.
pub const CHANGES_KEPT: usize = 64;

fn is_adapter_file(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "wasm")
        && !path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
}

impl Registry {
    /// A registry of the adapters in `dir`, which is created if missing and
    /// kept as its canonical path: the watcher reports absolute, resolved
    /// paths, and a relative or linked folder must name the same files.
    pub fn new(runtime: Runtime, dir: &Path) -> Self {
        let _ = std::fs::create_dir_all(dir);
        let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        Registry {
            runtime,
            dir,
            state: RwLock::default(),
            loading: Default::default(),
            ready: AtomicBool::new(false),
            shared: None,
            changes: tokio::sync::broadcast::channel(CHANGES_KEPT).0,
        }
    }

    /// The ids of the adapters swapped in or unloaded from now on. A
    /// receiver that falls more than [`CHANGES_KEPT`] changes behind is told
    /// it lagged (and should treat every adapter as changed).
    pub fn changes(&self) -> tokio::sync::broadcast::Receiver<String> {
        self.changes.subscribe()
    }

    /// Announces that `id` changed; nobody listening is fine.
    fn changed(&self, id: &str) {
        let _ = self.changes.send(id.to_string());
    }

    /// Publishes uploads to `store`, which other nodes share, and serves
    /// theirs ([`Registry::sync_shared`]).
    pub fn sharing(mut self, store: Arc<dyn Store>) -> Self {
        self.shared = Some(shared::Shared::new(store));
        self
    }

    /// Whether the folder's adapters have all been loaded once (a host
    /// answers before that, and says so at `/healthz`).
    pub fn ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// The folder adapters are loaded from and uploads are stored in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The adapter serving `id`, for one or more calls.
    pub fn get(&self, id: &str) -> Option<Adapter> {
        self.state
            .read()
            .unwrap()
            .adapters
            .get(id)
            .map(|l| l.adapter.clone())
    }

    /// Every loaded adapter, by id.
    pub fn loaded(&self) -> Vec<Loaded> {
        self.state
            .read()
            .unwrap()
            .adapters
            .values()
            .cloned()
            .collect()
    }

    /// The files that failed to load, with why.
    pub fn load_errors(&self) -> Vec<FileStatus> {
        self.state
            .read()
            .unwrap()
            .files
            .values()
            .filter(|f| f.error.is_some())
            .cloned()
            .collect()
    }

    /// Loads every `.wasm` file of the folder, then, on a shared database,
    /// the versions it serves ([`Registry::sync_shared`]).
    ///
    /// # Errors
    ///
    /// The folder cannot be made or listed. A file that does not load is
    /// recorded ([`Registry::load_errors`]), and a failure to read the
    /// shared database logged, not answered.
    pub async fn load_dir(&self) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&self.dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| is_adapter_file(p))
            .collect();
        paths.sort();
        for path in paths {
            self.load_file(&path).await;
        }
        if let Err(e) = self.sync_shared().await {
            tracing::error!(error = %e, "could not read the shared database's adapters");
        }
        self.ready.store(true, Ordering::Release);
        Ok(())
    }

    /// Brings `path` up to date: loads it if it is new or changed, unloads
    /// its adapter if it is gone. Failures are logged and kept for
    /// `GET /v1/adapters`.
    pub async fn load_file(&self, path: &Path) {
        if !is_adapter_file(path) {
            return;
        }
        let _guard = self.loading.lock().await;
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return self.unload_file(path),
            Err(e) => return self.record_error(path, String::new(), e.to_string()),
        };
        let sha256 = sha256_hex(&bytes);
        if self
            .state
            .read()
            .unwrap()
            .files
            .get(path)
            .is_some_and(|f| f.sha256 == sha256)
        {
            return;
        }
        match self.runtime.load(bytes).await {
            Ok(adapter) => {
                if let Err(e) = self.swap_in(path, adapter) {
                    self.record_error(path, sha256, e.to_string());
                }
            }
            Err(e) => self.record_error(path, sha256, e.to_string()),
        }
    }

    /// Validates and swaps in an uploaded adapter, which must be `id`, and
    /// stores it in the folder.
    ///
    /// # Errors
    ///
    /// - [`RegistryError::Load`] when `bytes` is not a usable adapter,
    ///   [`RegistryError::IdMismatch`] when it is another adapter than
    ///   `id`;
    /// - [`RegistryError::Storage`] when it cannot be published to the
    ///   shared database, [`RegistryError::Io`] when it cannot be written
    ///   into the folder;
    /// - [`RegistryError::IdTaken`] when another file of the folder serves
    ///   its id.
    pub async fn upload(&self, id: &str, bytes: Vec<u8>) -> Result<Loaded, RegistryError> {
        self.upload_checked(Some(id), bytes).await
    }

    /// Like [`Registry::upload`], for whichever adapter the component is.
    ///
    /// # Errors
    ///
    /// As [`Registry::upload`], but for [`RegistryError::IdMismatch`].
    pub async fn upload_any(&self, bytes: Vec<u8>) -> Result<Loaded, RegistryError> {
        self.upload_checked(None, bytes).await
    }

    async fn upload_checked(
        &self,
        expected: Option<&str>,
        bytes: Vec<u8>,
    ) -> Result<Loaded, RegistryError> {
        let _guard = self.loading.lock().await;
        let adapter = self.runtime.load(bytes.clone()).await?;
        let id = adapter.id().to_string();
        if let Some(expected) = expected.filter(|e| *e != id) {
            return Err(RegistryError::IdMismatch {
                expected: expected.to_string(),
                found: id.to_string(),
            });
        }
        if let Some(shared) = &self.shared {
            shared.publish(&adapter, &bytes).await?;
        }
        let path = self.write_file(&id, &bytes)?;
        self.swap_in(&path, adapter)
    }

    /// Stores `bytes` as adapter `id`'s file (the one it is served from,
    /// or `<id>.wasm`), so that it survives a restart.
    fn write_file(&self, id: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
        let path = match self.state.read().unwrap().adapters.get(id) {
            Some(loaded) => loaded.path.clone(),
            None => self.dir.join(format!("{id}.wasm")),
        };
        std::fs::create_dir_all(&self.dir)?;
        // Write then rename, so the watcher never reads half a file.
        let tmp = self.dir.join(format!(".{id}.upload"));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, &path)?;
        Ok(path)
    }

    fn swap_in(&self, path: &Path, adapter: Adapter) -> Result<Loaded, RegistryError> {
        let mut state = self.state.write().unwrap();
        let id = adapter.id().to_string();
        if let Some(other) = state.adapters.get(&id).filter(|l| l.path != path) {
            return Err(RegistryError::IdTaken {
                id,
                file: file_name(&other.path),
            });
        }
        // A file that used to hold another adapter no longer serves it.
        state.adapters.retain(|other_id, l| {
            let keep = l.path != path || *other_id == id;
            if !keep {
                self.changed(other_id);
            }
            keep
        });
        let loaded = Loaded {
            adapter: adapter.clone(),
            path: path.to_path_buf(),
            loaded_at: SystemTime::now(),
        };
        tracing::info!(
            adapter = %id,
            version = %adapter.manifest().version,
            file = %path.display(),
            from_cache = adapter.from_cache(),
            "adapter loaded"
        );
        state.adapters.insert(id.clone(), loaded.clone());
        self.changed(&id);
        state.files.insert(
            path.to_path_buf(),
            FileStatus {
                file: file_name(path),
                sha256: adapter.sha256().to_string(),
                adapter: Some(id),
                error: None,
                at: loaded.loaded_at,
            },
        );
        Ok(loaded)
    }

    fn unload_file(&self, path: &Path) {
        let mut state = self.state.write().unwrap();
        state.files.remove(path);
        state.adapters.retain(|id, l| {
            let keep = l.path != path;
            if !keep {
                tracing::info!(adapter = %id, file = %path.display(), "adapter file removed: adapter unloaded");
                self.changed(id);
            }
            keep
        });
    }

    fn record_error(&self, path: &Path, sha256: String, error: String) {
        tracing::error!(file = %path.display(), %error, "adapter not loaded; any previous version keeps serving");
        let mut state = self.state.write().unwrap();
        let adapter = state
            .adapters
            .values()
            .find(|l| l.path == path)
            .map(|l| l.adapter.id().to_string());
        state.files.insert(
            path.to_path_buf(),
            FileStatus {
                file: file_name(path),
                sha256,
                adapter,
                error: Some(error),
                at: SystemTime::now(),
            },
        );
    }
}
