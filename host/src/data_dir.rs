//! The host's data folder: the database, the admin key, the secret key
//! (see [`crate::secret_box`]), the adapters and the compiled-adapter cache.
//!
//! Everything in it is the owner's only: the folder is made 0700, and the
//! files and folders already in it (a data folder from an older version)
//! 0600 and 0700 when it is opened. `interlink serve` also sets its umask to
//! 077, so that what it creates later (SQLite's `-wal` and `-shm` files,
//! cache entries) is private from the start.

use std::io::Write;
use std::path::{Path, PathBuf};

use rand::RngCore;

/// The data folder of `interlink serve`.
pub struct DataDir {
    path: PathBuf,
}

/// The fewest characters an admin key may have: one made by the host has
/// 74 (`ilk_admin_` and 32 random bytes in hex).
pub const MIN_ADMIN_KEY_CHARS: usize = 32;

/// Why the admin key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AdminKeyError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(
        "the admin key in {} has {chars} characters, fewer than the {MIN_ADMIN_KEY_CHARS} it needs: \
         write a longer one there (e.g. the output of `openssl rand -hex 32`), or delete the file \
         to have a new key made at the next start",
        path.display()
    )]
    TooShort { path: PathBuf, chars: usize },
}

/// The admin key, and whether this start created it.
pub struct AdminKey {
    pub key: String,
    pub created: bool,
}

impl DataDir {
    /// Opens the folder, creating it if needed, and makes it and what is in
    /// it private to the owner.
    ///
    /// # Errors
    ///
    /// The folder cannot be made, or it or what is in it cannot be listed
    /// or have its permissions set.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(path)?;
        make_private(path)?;
        Ok(DataDir {
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where compiled adapters are cached.
    pub fn cache_dir(&self) -> PathBuf {
        self.path.join("cache")
    }

    /// The adapters' folder when `--adapters-dir` names none: `adapters`,
    /// made if missing.
    ///
    /// # Errors
    ///
    /// The folder cannot be made.
    pub fn adapters_dir(&self) -> std::io::Result<PathBuf> {
        let dir = self.path.join("adapters");
        std::fs::create_dir_all(&dir)?;
        Ok(dir)
    }

    fn admin_key_path(&self) -> PathBuf {
        self.path.join("admin.key")
    }

    /// The admin API key, created on first start in a file only the owner
    /// can read (mode 0600).
    ///
    /// # Errors
    ///
    /// The file cannot be read or written, or holds a key of fewer than
    /// [`MIN_ADMIN_KEY_CHARS`] characters (an empty file is as none: a key
    /// is made).
    pub fn admin_key(&self) -> Result<AdminKey, AdminKeyError> {
        let path = self.admin_key_path();
        match std::fs::read_to_string(&path) {
            Ok(key) if !key.trim().is_empty() => {
                let key = key.trim();
                let chars = key.chars().count();
                if chars < MIN_ADMIN_KEY_CHARS {
                    return Err(AdminKeyError::TooShort { path, chars });
                }
                return Ok(AdminKey {
                    key: key.to_string(),
                    created: false,
                });
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let key = format!("ilk_admin_{}", hex::encode(bytes));
        write_private(&path, &key)?;
        Ok(AdminKey { key, created: true })
    }

    /// This node's name, made on first start: how its sync runs' leases
    /// name it, so that a restarted node resumes its own runs at once.
    ///
    /// # Errors
    ///
    /// The file `node.id` cannot be read, or, when missing or empty,
    /// written.
    pub fn node_id(&self) -> std::io::Result<String> {
        let path = self.path.join("node.id");
        match std::fs::read_to_string(&path) {
            Ok(id) if !id.trim().is_empty() => return Ok(id.trim().to_string()),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let mut bytes = [0u8; 8];
        rand::rng().fill_bytes(&mut bytes);
        let id = format!("node_{}", hex::encode(bytes));
        write_private(&path, &id)?;
        Ok(id)
    }

    /// The SQLite database.
    pub fn database(&self) -> PathBuf {
        self.path.join("interlink.db")
    }
}

/// Makes `dir` 0700, and its files 0600 and folders 0700, two levels deep
/// (the data folder and its cache).
fn make_private(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let set = |path: &Path, mode: u32| {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        };
        set(dir, 0o700)?;
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                set(&entry.path(), 0o700)?;
                for inner in std::fs::read_dir(entry.path())? {
                    let inner = inner?;
                    if inner.file_type()?.is_file() {
                        set(&inner.path(), 0o600)?;
                    }
                }
            } else if kind.is_file() {
                set(&entry.path(), 0o600)?;
            }
        }
    }
    Ok(())
}

/// Writes `text` and a newline to a new file only the owner can read (0600).
///
/// # Errors
///
/// The file cannot be created or written.
pub fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn an_old_data_folder_is_made_private_when_opened() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir_all(data.join("cache")).unwrap();
        std::fs::write(data.join("interlink.db"), b"").unwrap();
        std::fs::write(data.join("cache/abc.cwasm"), b"").unwrap();
        for (path, mode) in [(&data, 0o755), (&data.join("interlink.db"), 0o644)] {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        DataDir::open(&data).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&data.join("cache")), 0o700);
        assert_eq!(mode(&data.join("interlink.db")), 0o600);
        assert_eq!(mode(&data.join("cache/abc.cwasm")), 0o600);
    }

    #[test]
    fn the_admin_key_is_created_once_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path()).unwrap();
        let first = data.admin_key().unwrap();
        assert!(first.created);
        assert!(first.key.starts_with("ilk_admin_"));
        let again = data.admin_key().unwrap();
        assert!(!again.created);
        assert_eq!(again.key, first.key);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(data.admin_key_path())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
