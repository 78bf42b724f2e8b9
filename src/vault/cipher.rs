//! The two ciphertext formats. Both are AES-256-GCM with a 16-byte tag.
//!
//! - Format 1, the spec's: `hex(iv):hex(tag):hex(ciphertext)`, a 16-byte random IV, no associated
//!   data — exactly what the spec's TypeScript `encryptToken` writes with Node's crypto.
//! - Format 2: `v2:<key id>:hex(nonce):hex(tag):hex(ciphertext)`, a 12-byte random nonce (GCM's
//!   recommended size), and the row's `(user, project, provider)` as associated data, so a value
//!   copied into another row fails to open. The key id names the key that sealed it, for rotation.

use aes_gcm::{
    AesGcm, Nonce,
    aead::{Aead, Generate, KeyInit, Payload, consts::U16},
    aes::Aes256,
};
use uuid::Uuid;

use super::{
    VaultError,
    keyring::{Key, KeyId},
};

/// AES-256-GCM with Node's 16-byte IV (the spec's format).
type Aes256Gcm16 = AesGcm<Aes256, U16>;
type Aes256Gcm12 = aes_gcm::Aes256Gcm;

const TAG_LEN: usize = 16;
const V2_PREFIX: &str = "v2:";

/// The row a ciphertext belongs to; format 2 binds it as associated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding<'a> {
    pub user_id: Uuid,
    pub project_id: Uuid,
    pub provider: &'a str,
}

impl Binding<'_> {
    fn associated_data(&self) -> Vec<u8> {
        format!(
            "nexus-credential:v2:{}:{}:{}",
            self.user_id, self.project_id, self.provider
        )
        .into_bytes()
    }
}

/// A ciphertext, split into its parts.
pub enum Sealed<'a> {
    V1 {
        iv: Vec<u8>,
        tag: Vec<u8>,
        body: Vec<u8>,
    },
    V2 {
        key_id: &'a str,
        nonce: Vec<u8>,
        tag: Vec<u8>,
        body: Vec<u8>,
    },
}

fn unhex(part: &str) -> Result<Vec<u8>, VaultError> {
    hex::decode(part).map_err(|_| VaultError::Hex)
}

impl<'a> Sealed<'a> {
    pub fn parse(value: &'a str) -> Result<Self, VaultError> {
        if let Some(rest) = value.strip_prefix(V2_PREFIX) {
            let parts: Vec<&str> = rest.split(':').collect();
            let [key_id, nonce, tag, body] = parts[..] else {
                return Err(VaultError::Format);
            };
            let (nonce, tag) = (unhex(nonce)?, unhex(tag)?);
            if nonce.len() != 12 || tag.len() != TAG_LEN || key_id.is_empty() {
                return Err(VaultError::Format);
            }
            return Ok(Sealed::V2 {
                key_id,
                nonce,
                tag,
                body: unhex(body)?,
            });
        }
        let parts: Vec<&str> = value.split(':').collect();
        let [iv, tag, body] = parts[..] else {
            return Err(VaultError::Format);
        };
        let (iv, tag) = (unhex(iv)?, unhex(tag)?);
        if iv.len() != 16 || tag.len() != TAG_LEN {
            return Err(VaultError::Format);
        }
        Ok(Sealed::V1 {
            iv,
            tag,
            body: unhex(body)?,
        })
    }

    /// The key id of a format-2 value.
    pub fn key_id(&self) -> Option<&str> {
        match self {
            Sealed::V1 { .. } => None,
            Sealed::V2 { key_id, .. } => Some(key_id),
        }
    }
}

/// Seals in format 1 (no key id, no binding).
pub fn seal_v1(key: &Key, plaintext: &[u8]) -> String {
    let iv = Nonce::<U16>::generate();
    let mut body = Aes256Gcm16::new(key.bytes().into())
        .encrypt(&iv, plaintext)
        .expect("AES-GCM encryption of an in-memory buffer cannot fail");
    let tag = body.split_off(body.len() - TAG_LEN);
    format!(
        "{}:{}:{}",
        hex::encode(iv),
        hex::encode(tag),
        hex::encode(body)
    )
}

/// Seals in format 2, bound to the row.
pub fn seal_v2(key_id: &KeyId, key: &Key, binding: &Binding<'_>, plaintext: &[u8]) -> String {
    let nonce = Nonce::<aes_gcm::aead::consts::U12>::generate();
    let aad = binding.associated_data();
    let mut body = Aes256Gcm12::new(key.bytes().into())
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .expect("AES-GCM encryption of an in-memory buffer cannot fail");
    let tag = body.split_off(body.len() - TAG_LEN);
    format!(
        "{V2_PREFIX}{key_id}:{}:{}:{}",
        hex::encode(nonce),
        hex::encode(tag),
        hex::encode(body)
    )
}

/// Opens a format-1 value with one key.
pub fn open_v1(key: &Key, iv: &[u8], tag: &[u8], body: &[u8]) -> Result<Vec<u8>, VaultError> {
    let iv = Nonce::<U16>::try_from(iv).map_err(|_| VaultError::Format)?;
    let mut buffer = body.to_vec();
    buffer.extend_from_slice(tag);
    Aes256Gcm16::new(key.bytes().into())
        .decrypt(&iv, buffer.as_slice())
        .map_err(|_| VaultError::Crypto)
}

/// Opens a format-2 value with its key, checking the binding.
pub fn open_v2(
    key: &Key,
    binding: &Binding<'_>,
    nonce: &[u8],
    tag: &[u8],
    body: &[u8],
) -> Result<Vec<u8>, VaultError> {
    let nonce =
        Nonce::<aes_gcm::aead::consts::U12>::try_from(nonce).map_err(|_| VaultError::Format)?;
    let mut buffer = body.to_vec();
    buffer.extend_from_slice(tag);
    let aad = binding.associated_data();
    Aes256Gcm12::new(key.bytes().into())
        .decrypt(
            &nonce,
            Payload {
                msg: &buffer,
                aad: &aad,
            },
        )
        .map_err(|_| VaultError::Crypto)
}
