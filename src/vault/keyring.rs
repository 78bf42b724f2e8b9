//! Keys: the current one (new values are sealed with it) and earlier ones (still opened until a
//! rotation has re-sealed everything). A key's id is derived from the key itself — the first
//! eight hex digits of its SHA-256 — so no id has to be configured and none can be mistyped.

use std::{fmt, path::Path};

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::config::VaultSettings;

/// A 256-bit key; wiped from memory when dropped, never printed.
#[derive(Clone)]
pub struct Key(Zeroizing<[u8; 32]>);

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key([redacted])")
    }
}

impl Key {
    /// Parses the spec's form: 64 hex characters.
    pub fn parse(hex_key: &str) -> Result<Self, KeyError> {
        let hex_key = hex_key.trim();
        if hex_key.len() != 64 {
            return Err(KeyError::Length);
        }
        let mut bytes = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(hex_key, bytes.as_mut_slice()).map_err(|_| KeyError::Hex)?;
        Ok(Self(bytes))
    }

    /// A fresh random key, as 64 hex characters (what `nexus demo` writes).
    pub fn generate_hex() -> SecretString {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rand::RngCore::fill_bytes(&mut rand::rng(), bytes.as_mut_slice());
        hex::encode(bytes.as_slice()).into()
    }

    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn id(&self) -> KeyId {
        KeyId(hex::encode(&Sha256::digest(self.0.as_slice())[..4]))
    }
}

/// A key's public name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyId(pub String);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A key that cannot be used. The message never contains the key.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("an encryption key must be 64 hex characters (32 bytes)")]
    Length,
    #[error("an encryption key must be hex")]
    Hex,
}

/// Why no key ring could be built.
#[derive(Debug, thiserror::Error)]
pub enum KeyRingError {
    #[error(
        "no token encryption key: set INTEGRATION_TOKEN_ENCRYPTION_KEY (64 hex characters), \
         vault.key_file or vault.aws_secret_id"
    )]
    Missing,
    #[error("{source}: {origin}")]
    Invalid { origin: String, source: KeyError },
    #[error("cannot read {path}: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
    #[error("AWS Secrets Manager: {0}")]
    Aws(String),
}

/// The current key and the earlier ones.
#[derive(Debug, Clone)]
pub struct KeyRing {
    current: (KeyId, Key),
    previous: Vec<(KeyId, Key)>,
}

impl KeyRing {
    pub fn new(current: Key, previous: Vec<Key>) -> Self {
        Self {
            current: (current.id(), current),
            previous: previous.into_iter().map(|k| (k.id(), k)).collect(),
        }
    }

    /// Builds the ring from settings: the current key from `vault.key` (the environment
    /// variable), else `vault.key_file`, else Secrets Manager; earlier keys from `previous_keys`.
    pub async fn from_settings(settings: &VaultSettings) -> Result<Self, KeyRingError> {
        let current = if let Some(key) = &settings.key {
            parse(
                key.expose_secret(),
                "vault.key (INTEGRATION_TOKEN_ENCRYPTION_KEY)",
            )?
        } else if let Some(path) = &settings.key_file {
            parse(&read_key_file(path)?, &path.display().to_string())?
        } else if let Some(secret_id) = &settings.aws_secret_id {
            let value = super::aws::fetch_key(settings, secret_id).await?;
            parse(value.expose_secret(), &format!("secret {secret_id}"))?
        } else {
            return Err(KeyRingError::Missing);
        };
        let previous = settings
            .previous_keys
            .iter()
            .enumerate()
            .map(|(i, k)| parse(k.expose_secret(), &format!("vault.previous_keys[{i}]")))
            .collect::<Result<_, _>>()?;
        Ok(Self::new(current, previous))
    }

    pub fn current(&self) -> (&KeyId, &Key) {
        (&self.current.0, &self.current.1)
    }

    /// The key with this id, current or earlier.
    pub fn get(&self, id: &str) -> Option<&Key> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|(kid, _)| kid.0 == id)
            .map(|(_, key)| key)
    }

    /// Every key, current first (format 1 names no key, so each is tried).
    pub fn all(&self) -> impl Iterator<Item = &Key> {
        std::iter::once(&self.current.1).chain(self.previous.iter().map(|(_, k)| k))
    }
}

fn parse(value: &str, origin: &str) -> Result<Key, KeyRingError> {
    Key::parse(value).map_err(|source| KeyRingError::Invalid {
        origin: origin.to_owned(),
        source,
    })
}

fn read_key_file(path: &Path) -> Result<String, KeyRingError> {
    std::fs::read_to_string(path).map_err(|source| KeyRingError::File {
        path: path.display().to_string(),
        source,
    })
}
