//! The vault: the only code that sees a plaintext token.
//!
//! It seals tokens with AES-256-GCM before they reach the database and opens them for the code
//! that calls providers, in two formats (see [`cipher`]): the spec's, which TypeScript services
//! following the spec can read, and format 2, which names its key (so keys can rotate) and is
//! bound to its row. Tokens are `SecretString` in and out; nothing here logs or returns one, and
//! every failure is a typed [`VaultError`] — a value that does not open marks its connection as
//! needing re-authorization and is never deleted.

pub mod aws;
pub mod cipher;
mod credentials;
pub mod keyring;

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};

use crate::config::WriteFormat;

pub use cipher::Binding;
pub use credentials::{ConnectionState, Credential, CredentialVault, RotationReport, TokenSet};
pub use keyring::{Key, KeyRing, KeyRingError};

use cipher::Sealed;

/// Why a value could not be sealed, opened or stored. Never carries token material.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("not a ciphertext of a known format")]
    Format,
    #[error("the ciphertext is not valid hex")]
    Hex,
    #[error("the ciphertext does not open: wrong key, other row, or tampered")]
    Crypto,
    #[error("sealed with key `{0}`, which is not configured")]
    UnknownKey(String),
    #[error("the plaintext is not UTF-8")]
    Utf8,
    #[error("the credential changed since version {expected} was read")]
    Conflict { expected: i64 },
    #[error("credential store: {0}")]
    Store(#[from] sea_orm::DbErr),
}

/// Seals and opens token values with the key ring.
#[derive(Clone)]
pub struct Vault {
    ring: Arc<KeyRing>,
    format: WriteFormat,
}

impl Vault {
    pub fn new(ring: KeyRing, format: WriteFormat) -> Self {
        Self {
            ring: Arc::new(ring),
            format,
        }
    }

    /// Seals a token for a row, with the current key, in the configured format.
    pub fn seal(&self, binding: &Binding<'_>, token: &SecretString) -> String {
        let (key_id, key) = self.ring.current();
        let plaintext = token.expose_secret().as_bytes();
        tracing::debug!(provider = binding.provider, key_id = %key_id, format = ?self.format, "sealing a token");
        match self.format {
            WriteFormat::V1 => cipher::seal_v1(key, plaintext),
            WriteFormat::V2 => cipher::seal_v2(key_id, key, binding, plaintext),
        }
    }

    /// Opens a value sealed for this row, in either format, with whichever key sealed it.
    pub fn open(&self, binding: &Binding<'_>, sealed: &str) -> Result<SecretString, VaultError> {
        let result = self.open_bytes(binding, sealed).and_then(|bytes| {
            String::from_utf8(bytes)
                .map(SecretString::from)
                .map_err(|_| VaultError::Utf8)
        });
        if let Err(error) = &result {
            tracing::warn!(provider = binding.provider, %error, "a stored token does not open");
        }
        result
    }

    fn open_bytes(&self, binding: &Binding<'_>, sealed: &str) -> Result<Vec<u8>, VaultError> {
        match Sealed::parse(sealed)? {
            Sealed::V1 { iv, tag, body } => self
                .ring
                .all()
                .find_map(|key| cipher::open_v1(key, &iv, &tag, &body).ok())
                .ok_or(VaultError::Crypto),
            Sealed::V2 {
                key_id,
                nonce,
                tag,
                body,
            } => {
                let key = self
                    .ring
                    .get(key_id)
                    .ok_or_else(|| VaultError::UnknownKey(key_id.to_owned()))?;
                cipher::open_v2(key, binding, &nonce, &tag, &body)
            }
        }
    }

    /// Whether a value is already what `seal` would write now: the write format, current key.
    pub fn is_current(&self, sealed: &str) -> bool {
        let (current_id, current) = self.ring.current();
        match (Sealed::parse(sealed), self.format) {
            (Ok(Sealed::V2 { key_id, .. }), WriteFormat::V2) => key_id == current_id.0,
            (Ok(Sealed::V1 { iv, tag, body }), WriteFormat::V1) => {
                cipher::open_v1(current, &iv, &tag, &body).is_ok()
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    const SPEC_KEY: &str = "5f1c8e2a9d4b7063a1e2f3c4b5a69788796a5b4c3d2e1f00ffeeddccbbaa9988";

    fn vault(format: WriteFormat) -> Vault {
        Vault::new(KeyRing::new(Key::parse(SPEC_KEY).unwrap(), vec![]), format)
    }

    fn row(provider: &str) -> Binding<'_> {
        Binding {
            user_id: Uuid::nil(),
            project_id: Uuid::max(),
            provider,
        }
    }

    #[test]
    fn the_spec_vectors_made_by_node_open_unchanged() {
        // A copy of shared/vectors/token-vectors.json, made by Node v20's crypto.
        let text = include_str!("../../tests/fixtures/token-vectors.json");
        let vectors: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(vectors["key_hex"], SPEC_KEY);
        let vault = vault(WriteFormat::V2);
        for v in vectors["vectors"].as_array().unwrap() {
            let opened = vault
                .open(&row("any"), v["encrypted"].as_str().unwrap())
                .unwrap();
            assert_eq!(opened.expose_secret(), v["plaintext"].as_str().unwrap());
        }
    }

    #[test]
    fn format_2_round_trips_and_is_bound_to_its_row() {
        let vault = vault(WriteFormat::V2);
        let token = SecretString::from("xoxb-123");
        let sealed = vault.seal(&row("slack"), &token);
        assert!(sealed.starts_with("v2:"));
        assert_eq!(
            vault.open(&row("slack"), &sealed).unwrap().expose_secret(),
            "xoxb-123"
        );
        assert!(matches!(
            vault.open(&row("hubspot"), &sealed),
            Err(VaultError::Crypto)
        ));
    }

    #[test]
    fn format_1_writes_what_the_spec_reads() {
        let vault = vault(WriteFormat::V1);
        let sealed = vault.seal(&row("gmail"), &SecretString::from("ya29.token"));
        assert_eq!(sealed.split(':').count(), 3);
        assert_eq!(
            vault.open(&row("other"), &sealed).unwrap().expose_secret(),
            "ya29.token"
        );
    }

    #[test]
    fn damaged_values_are_typed_errors() {
        let vault = vault(WriteFormat::V2);
        let sealed = vault.seal(&row("slack"), &SecretString::from("xoxb-123"));
        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 1;
        tampered[last] = if tampered[last] == b'0' { b'1' } else { b'0' };
        let cases = [
            (String::from_utf8(tampered).unwrap(), "Crypto"),
            (sealed[..sealed.len() - 2].to_owned(), "Crypto"),
            ("zz:zz:zz".to_owned(), "Hex"),
            ("a:b".to_owned(), "Format"),
            (String::new(), "Format"),
            (sealed.replacen(&sealed[3..11], "deadbeef", 1), "UnknownKey"),
        ];
        for (value, kind) in cases {
            let error = vault.open(&row("slack"), &value).unwrap_err();
            assert!(format!("{error:?}").starts_with(kind), "{value}: {error:?}");
        }
        let other = Vault::new(
            KeyRing::new(Key::parse(&"11".repeat(32)).unwrap(), vec![]),
            WriteFormat::V2,
        );
        let from_node = "fe00cc924456ebe1fc1e9e06bcb8b962:ce08e7251160a4f3b076932790acb7b3:\
                         b455364f62800067631b41b39a8f845bf1122cac1792b8291e42ba86182d54fba21fb3daec12707df8d98e";
        assert!(matches!(
            other.open(&row("x"), from_node),
            Err(VaultError::Crypto)
        ));
    }
}
