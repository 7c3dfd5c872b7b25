//! The ACME state directory: the account key per CA and each certificate with its key,
//! written atomically (temporary file, fsync, rename), private files mode 0600.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::protocol::Issued;

/// A state directory.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// Opens (creating, mode 0700) the state directory `dir`.
    pub fn open(dir: &Path) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
        Ok(Store {
            dir: dir.to_path_buf(),
        })
    }

    /// The default place: `$STATE_DIRECTORY` (systemd), else `~/.local/share/reactor/acme`.
    pub fn default_dir() -> PathBuf {
        if let Some(d) = std::env::var_os("STATE_DIRECTORY").filter(|d| !d.is_empty()) {
            // systemd may list several, separated by ':'; the first is ours.
            let first = d
                .to_string_lossy()
                .split(':')
                .next()
                .unwrap_or("")
                .to_string();
            return PathBuf::from(first);
        }
        let home = std::env::var_os("HOME").unwrap_or_else(|| ".".into());
        PathBuf::from(home).join(".local/share/reactor/acme")
    }

    /// The account key (PKCS#8 DER) for the CA at `directory`, if stored.
    pub fn account_key(&self, directory: &str) -> io::Result<Option<Vec<u8>>> {
        read_optional(&self.account_path(directory))
    }

    /// Stores the account key for the CA at `directory`.
    pub fn save_account_key(&self, directory: &str, pkcs8: &[u8]) -> io::Result<()> {
        write_atomic(&self.account_path(directory), pkcs8)
    }

    /// The stored certificate for `name`: chain and key PEM, if both are there.
    pub fn certificate(&self, name: &str) -> io::Result<Option<Issued>> {
        let (crt, key) = self.cert_paths(name);
        let (Some(chain), Some(key)) = (read_optional(&crt)?, read_optional(&key)?) else {
            return Ok(None);
        };
        let text = |b: Vec<u8>| String::from_utf8(b).map_err(|_| io::ErrorKind::InvalidData);
        Ok(Some(Issued {
            chain_pem: text(chain)?,
            key_pem: text(key)?,
        }))
    }

    /// Stores a certificate for `name` (key first, so a crash never leaves a chain
    /// without its key).
    pub fn save_certificate(&self, name: &str, issued: &Issued) -> io::Result<()> {
        let (crt, key) = self.cert_paths(name);
        write_atomic(&key, issued.key_pem.as_bytes())?;
        write_atomic(&crt, issued.chain_pem.as_bytes())
    }

    /// Where the certificate chain of `name` lives (for the user's information).
    pub fn cert_paths(&self, name: &str) -> (PathBuf, PathBuf) {
        let safe = file_safe(name);
        (
            self.dir.join(format!("{safe}.crt")),
            self.dir.join(format!("{safe}.key")),
        )
    }

    fn account_path(&self, directory: &str) -> PathBuf {
        self.dir
            .join(format!("account-{}.der", file_safe(directory)))
    }
}

/// A name made safe as one file name: anything but `[A-Za-z0-9.-]` becomes `_`.
fn file_safe(s: &str) -> String {
    let out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    out.trim_start_matches('.').to_string()
}

fn read_optional(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes `bytes` to `path` through a 0600 temporary file in the same directory, then
/// renames it over `path` and syncs the directory.
fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        path.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, path)?;
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_private_and_atomic() {
        let dir = std::env::temp_dir().join(format!("acme-store-{}", std::process::id()));
        let store = Store::open(&dir).unwrap();
        assert!(store.certificate("a.test").unwrap().is_none());
        let issued = Issued {
            chain_pem: "CHAIN".into(),
            key_pem: "KEY".into(),
        };
        store.save_certificate("a.test", &issued).unwrap();
        let back = store.certificate("a.test").unwrap().unwrap();
        assert_eq!(
            (back.chain_pem.as_str(), back.key_pem.as_str()),
            ("CHAIN", "KEY")
        );
        let (crt, key) = store.cert_paths("a.test");
        for p in [&crt, &key] {
            assert_eq!(fs::metadata(p).unwrap().permissions().mode() & 0o777, 0o600);
        }
        store.save_account_key("https://ca/dir", b"DER").unwrap();
        assert_eq!(
            store.account_key("https://ca/dir").unwrap().unwrap(),
            b"DER"
        );
        assert_eq!(store.cert_paths("../x").0, dir.join("_x.crt"));
        let leftovers = fs::read_dir(&dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .contains(".tmp")
            })
            .count();
        assert_eq!(leftovers, 0);
        fs::remove_dir_all(&dir).unwrap();
    }
}
