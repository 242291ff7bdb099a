//! Compiled adapters cached on disk, so a restart does not recompile.
//!
//! An entry is keyed by the SHA-256 of the component and a hash of the
//! engine's compatibility settings (wasmtime version, target, config): an
//! upgrade or a config change misses the cache instead of loading code
//! compiled for another engine.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::Component;

pub struct ArtifactCache {
    dir: PathBuf,
    engine_key: String,
}

impl ArtifactCache {
    /// A cache in `dir`, created if missing, of compilations for `engine`.
    ///
    /// # Errors
    ///
    /// `dir` cannot be made.
    pub fn new(dir: &Path, engine: &Engine) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(ArtifactCache {
            dir: dir.to_path_buf(),
            engine_key: format!("{:016x}", hasher.finish()),
        })
    }

    fn path(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}-{}.cwasm", self.engine_key))
    }

    /// The cached compilation of the component with this hash, if any.
    pub fn get(&self, engine: &Engine, sha256: &str) -> Option<Component> {
        let path = self.path(sha256);
        if !path.exists() {
            return None;
        }
        // SAFETY: the file was written by `put` from `Component::serialize`
        // into the host's own data folder, under a key that includes the
        // engine's compatibility hash; wasmtime still checks its header.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "ignoring an unusable cached artifact");
                None
            }
        }
    }

    /// Stores a compilation; failures only cost a recompile later.
    pub fn put(&self, sha256: &str, component: &Component) {
        let result = component
            .serialize()
            .map_err(std::io::Error::other)
            .and_then(|bytes| {
                // A name of this writer's own: hosts sharing the folder
                // may store the same entry at once.
                let tmp = self.dir.join(format!(
                    ".{sha256}.{}.{}.tmp",
                    std::process::id(),
                    rand::random::<u64>()
                ));
                std::fs::write(&tmp, bytes)?;
                std::fs::rename(&tmp, self.path(sha256))
            });
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not cache a compiled adapter");
        }
    }
}
