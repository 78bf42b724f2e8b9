//! Standard Webhooks signing secrets and signatures.
//!
//! A secret is `whsec_` followed by the base64 of 32 random bytes; the key is those bytes. A
//! delivery is signed over `<webhook-id>.<webhook-timestamp>.<body>` with HMAC-SHA256, and the
//! `webhook-signature` header carries `v1,<base64 of the MAC>` for each secret that signs — one,
//! or two while a rotation's overlap lasts, separated by a space as the specification allows —
//! so a receiver holding either secret verifies the delivery.

use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, KeyInit, Mac};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// What every secret starts with.
const PREFIX: &str = "whsec_";

/// Random bytes in a new secret.
const SECRET_BYTES: usize = 32;

/// A signing key, from a secret.
pub struct SigningKey(Vec<u8>);

/// A stored secret that is not `whsec_` and base64.
#[derive(Debug, thiserror::Error)]
#[error("a stored webhook secret is not `whsec_` followed by base64")]
pub struct MalformedSecret;

impl SigningKey {
    /// The key of a `whsec_` secret.
    pub fn from_secret(secret: &SecretString) -> Result<Self, MalformedSecret> {
        let encoded = secret
            .expose_secret()
            .strip_prefix(PREFIX)
            .ok_or(MalformedSecret)?;
        STANDARD
            .decode(encoded)
            .map(SigningKey)
            .map_err(|_| MalformedSecret)
    }

    /// `v1,<signature>` of one delivery.
    fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes keys of any size");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

/// A new random secret.
pub fn new_secret() -> SecretString {
    let mut bytes = [0u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    SecretString::from(format!("{PREFIX}{}", STANDARD.encode(bytes)))
}

/// The `webhook-signature` header: one signature per key, space-separated.
pub fn signature_header(keys: &[SigningKey], id: &str, timestamp: i64, body: &[u8]) -> String {
    keys.iter()
        .map(|key| key.sign(id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(secret: &str) -> SigningKey {
        SigningKey::from_secret(&SecretString::from(secret.to_owned())).unwrap()
    }

    #[test]
    fn the_specifications_example_signs_as_published() {
        // The example of the Standard Webhooks reference libraries' tests.
        let key = key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        assert_eq!(
            signature_header(
                &[key],
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn two_keys_sign_side_by_side_and_new_secrets_are_well_formed() {
        let (a, b) = (new_secret(), new_secret());
        assert!(a.expose_secret().starts_with("whsec_"));
        assert_ne!(a.expose_secret(), b.expose_secret());
        let header = signature_header(
            &[
                SigningKey::from_secret(&a).unwrap(),
                SigningKey::from_secret(&b).unwrap(),
            ],
            "msg_1",
            1,
            b"{}",
        );
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| p.starts_with("v1,")));
        assert!(SigningKey::from_secret(&SecretString::from("sk_x".to_owned())).is_err());
    }
}
