//! Watching the adapters folder: a new, changed or removed `.wasm` file is
//! (re)loaded or unloaded without a restart.
//!
//! File systems report a write as several events, and a file may be seen
//! half-written. Events are therefore gathered for [`SETTLE`] after the last
//! one, then each touched file is loaded as it is then; a half-written file
//! fails validation and is simply tried again on its next event.
//!
//! Only events that may change a file count: opening or reading one does
//! not, and the registry's own read of a file would otherwise set off its
//! next load, five times a second for ever.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use notify::event::{AccessKind, AccessMode, EventKind};
use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

use super::Registry;

/// How long the folder must be quiet before changed files are loaded.
pub const SETTLE: Duration = Duration::from_millis(200);

/// Keeps the watch alive; dropping it stops watching.
pub struct FolderWatch {
    _watcher: notify::RecommendedWatcher,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FolderWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts watching the registry's folder.
///
/// # Errors
///
/// The watcher cannot be made, or the folder cannot be made or watched.
pub fn start(registry: Arc<Registry>) -> notify::Result<FolderWatch> {
    let (tx, mut rx) = mpsc::unbounded_channel::<PathBuf>();
    let mut watcher =
        notify::recommended_watcher(move |event: notify::Result<notify::Event>| match event {
            Ok(event) if may_change(&event.kind) => {
                for path in event.paths {
                    let _ = tx.send(path);
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "adapter folder watch error"),
        })?;
    std::fs::create_dir_all(registry.dir())?;
    watcher.watch(registry.dir(), RecursiveMode::NonRecursive)?;
    let task = tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            let mut touched = BTreeSet::from([first]);
            while let Ok(Some(path)) = tokio::time::timeout(SETTLE, rx.recv()).await {
                touched.insert(path);
            }
            for path in touched {
                registry.load_file(&path).await;
            }
        }
    });
    Ok(FolderWatch {
        _watcher: watcher,
        task,
    })
}

/// Whether an event of `kind` may mean a file's content changed: anything
/// but an access, except the close of a file opened for writing (the end
/// of a write).
fn may_change(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use notify::event::{CreateKind, ModifyKind, RemoveKind};

    use super::*;

    #[test]
    fn opening_or_reading_a_file_is_no_change() {
        for kind in [
            AccessKind::Open(AccessMode::Any),
            AccessKind::Read,
            AccessKind::Close(AccessMode::Read),
        ] {
            assert!(!may_change(&EventKind::Access(kind)), "{kind:?}");
        }
    }

    #[test]
    fn writing_creating_or_removing_a_file_is_a_change() {
        for kind in [
            EventKind::Access(AccessKind::Close(AccessMode::Write)),
            EventKind::Create(CreateKind::File),
            EventKind::Modify(ModifyKind::Any),
            EventKind::Remove(RemoveKind::File),
        ] {
            assert!(may_change(&kind), "{kind:?}");
        }
    }
}
