//! The host's data folder: the database, the admin key, the secret key
//! (see [`crate::secret_box`]) and the compiled-adapter cache.

use std::io::Write;
use std::path::{Path, PathBuf};

use rand::RngCore;

/// The data folder of `interlink serve`.
pub struct DataDir {
    path: PathBuf,
}

/// The admin key, and whether this start created it.
pub struct AdminKey {
    pub key: String,
    pub created: bool,
}

impl DataDir {
    /// Opens the folder, creating it if needed.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(path)?;
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

    fn admin_key_path(&self) -> PathBuf {
        self.path.join("admin.key")
    }

    /// The admin API key, created on first start in a file only the owner
    /// can read (mode 0600).
    pub fn admin_key(&self) -> std::io::Result<AdminKey> {
        let path = self.admin_key_path();
        match std::fs::read_to_string(&path) {
            Ok(key) if !key.trim().is_empty() => {
                return Ok(AdminKey {
                    key: key.trim().to_string(),
                    created: false,
                });
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let key = format!("ilk_admin_{}", hex::encode(bytes));
        write_private(&path, &key)?;
        Ok(AdminKey { key, created: true })
    }

    /// The SQLite database.
    pub fn database(&self) -> PathBuf {
        self.path.join("interlink.db")
    }
}

/// Writes `text` and a newline to a new file only the owner can read (0600).
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
