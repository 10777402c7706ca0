//! [`MasterKey`]: what wraps the per-tenant data keys. The embedded default
//! is a [`LocalKeyring`] (key file or environment); production can keep the
//! master key in OpenBao/Vault's transit engine, where it never leaves the
//! server ([`OpenBaoTransit`](super::OpenBaoTransit)).

use crate::secrets::SecretsFuture;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::SecretsError;
use super::envelope::{self, KEY_BYTES};

/// A data key wrapped by a master key, and which master key version did it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrappedKey {
    /// The master key version that wrapped it (`local:2`, `openbao:tenantry:v3`).
    pub master_key_id: String,
    /// The wrapped bytes (opaque).
    pub ciphertext: Vec<u8>,
}

/// Wraps and unwraps data keys.
pub trait MasterKey: Send + Sync + 'static {
    /// Wraps `data_key` with the current version; `context` (the tenant)
    /// is bound in where the scheme allows.
    fn wrap<'a>(&'a self, data_key: &'a [u8], context: &'a str) -> SecretsFuture<'a, WrappedKey>;

    /// Unwraps a key wrapped by any version still held.
    fn unwrap<'a>(
        &'a self,
        wrapped: &'a WrappedKey,
        context: &'a str,
    ) -> SecretsFuture<'a, Vec<u8>>;

    /// The version [`wrap`](Self::wrap) uses now.
    fn current_id(&self) -> SecretsFuture<'_, String>;
}

/// Master keys held in memory, loaded from a file or the environment: one
/// `id:base64` line per version, the last line current. Older versions stay
/// to unwrap data keys not yet re-wrapped.
///
/// ```
/// use tenantry::secrets::LocalKeyring;
///
/// let ring = LocalKeyring::generate();
/// let text = ring.to_text();
/// let again = LocalKeyring::parse(&text).unwrap();
/// assert_eq!(again.to_text(), text);
/// assert!(LocalKeyring::parse("1:not base64!").is_err());
/// ```
#[derive(Clone)]
pub struct LocalKeyring {
    // (version, key), oldest first; never empty.
    keys: Vec<(u32, [u8; KEY_BYTES])>,
}

impl LocalKeyring {
    /// A keyring with one fresh random key.
    pub fn generate() -> Self {
        Self {
            keys: vec![(1, envelope::random_key())],
        }
    }

    /// Parses `id:base64` lines (blank lines and `#` comments ignored).
    pub fn parse(text: &str) -> Result<Self, SecretsError> {
        let mut keys = Vec::new();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad =
                || SecretsError::master_key("a keyring line is `<version>:<base64 of 32 bytes>`");
            let (id, key) = line.split_once(':').ok_or_else(bad)?;
            let id: u32 = id.parse().map_err(|_| bad())?;
            let key: [u8; KEY_BYTES] = STANDARD
                .decode(key)
                .ok()
                .and_then(|k| k.try_into().ok())
                .ok_or_else(bad)?;
            keys.push((id, key));
        }
        if keys.is_empty() {
            return Err(SecretsError::master_key("the keyring holds no key"));
        }
        Ok(Self { keys })
    }

    /// Reads a keyring file, creating it (owner-only) with one fresh key if
    /// it does not exist — the embedded default's zero-set-up path.
    pub fn load_or_create(path: &Path) -> Result<Self, SecretsError> {
        let io = |e: std::io::Error| SecretsError::master_key_at(path.display(), e);
        match std::fs::read_to_string(path) {
            Ok(text) => return Self::parse(&text),
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(e)),
            Err(_) => {}
        }
        let ring = Self::generate();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(path) {
            Ok(mut file) => {
                std::io::Write::write_all(&mut file, ring.to_text().as_bytes()).map_err(io)?;
                Ok(ring)
            }
            // Another process created it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Self::parse(&std::fs::read_to_string(path).map_err(io)?)
            }
            Err(e) => Err(io(e)),
        }
    }

    /// The same keyring plus a fresh key that becomes current.
    pub fn rotated(&self) -> Self {
        let next = self.keys.iter().map(|(id, _)| *id).max().unwrap_or(0) + 1;
        let mut keys = self.keys.clone();
        keys.push((next, envelope::random_key()));
        Self { keys }
    }

    /// The keyring as `id:base64` lines, to save.
    pub fn to_text(&self) -> String {
        self.keys
            .iter()
            .map(|(id, key)| format!("{id}:{}\n", STANDARD.encode(key)))
            .collect()
    }

    fn current(&self) -> (u32, &[u8; KEY_BYTES]) {
        // Never empty (constructors guarantee it).
        let (id, key) = self.keys.last().unwrap_or_else(|| unreachable!());
        (*id, key)
    }
}

impl std::fmt::Debug for LocalKeyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<u32> = self.keys.iter().map(|(id, _)| *id).collect();
        f.debug_struct("LocalKeyring")
            .field("versions", &ids)
            .finish()
    }
}

fn aad(context: &str) -> Vec<u8> {
    format!("tenantry-data-key-v1|{context}").into_bytes()
}

impl MasterKey for LocalKeyring {
    fn wrap<'a>(&'a self, data_key: &'a [u8], context: &'a str) -> SecretsFuture<'a, WrappedKey> {
        Box::pin(async move {
            let (id, key) = self.current();
            Ok(WrappedKey {
                master_key_id: format!("local:{id}"),
                ciphertext: envelope::seal(key, data_key, &aad(context))?,
            })
        })
    }

    fn unwrap<'a>(
        &'a self,
        wrapped: &'a WrappedKey,
        context: &'a str,
    ) -> SecretsFuture<'a, Vec<u8>> {
        Box::pin(async move {
            let id = wrapped
                .master_key_id
                .strip_prefix("local:")
                .and_then(|id| id.parse::<u32>().ok())
                .ok_or_else(|| {
                    SecretsError::master_key(format!(
                        "{} is not a local key",
                        wrapped.master_key_id
                    ))
                })?;
            let (_, key) = self
                .keys
                .iter()
                .find(|(held, _)| *held == id)
                .ok_or_else(|| {
                    SecretsError::master_key(format!("master key version {id} is not held"))
                })?;
            envelope::open(key, &wrapped.ciphertext, &aad(context))
        })
    }

    fn current_id(&self) -> SecretsFuture<'_, String> {
        Box::pin(async move { Ok(format!("local:{}", self.current().0)) })
    }
}
