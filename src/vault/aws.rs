//! The key from AWS Secrets Manager, where the spec keeps it (cargo feature `aws-secrets`).
//!
//! The secret's value is the 64-hex key itself, or a JSON object holding it under
//! `INTEGRATION_TOKEN_ENCRYPTION_KEY`. `vault.aws_endpoint_url` points the client elsewhere
//! (a local Secrets Manager in tests); credentials and region come from the usual AWS chain,
//! `vault.aws_region` overriding the region.

use secrecy::SecretString;

use crate::config::VaultSettings;

use super::KeyRingError;

#[cfg(feature = "aws-secrets")]
pub async fn fetch_key(
    settings: &VaultSettings,
    secret_id: &str,
) -> Result<SecretString, KeyRingError> {
    use aws_config::{BehaviorVersion, Region};
    use secrecy::ExposeSecret;

    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = &settings.aws_region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(endpoint) = &settings.aws_endpoint_url {
        loader = loader.endpoint_url(endpoint);
    }
    let client = aws_sdk_secretsmanager::Client::new(&loader.load().await);
    let output = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| {
            KeyRingError::Aws(aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string())
        })?;
    let value: SecretString = output
        .secret_string()
        .ok_or_else(|| KeyRingError::Aws(format!("secret {secret_id} has no string value")))?
        .into();
    let raw = value.expose_secret().trim();
    if raw.starts_with('{') {
        let json: serde_json::Value = serde_json::from_str(raw)
            .map_err(|_| KeyRingError::Aws(format!("secret {secret_id} is not valid JSON")))?;
        return json
            .get("INTEGRATION_TOKEN_ENCRYPTION_KEY")
            .and_then(|v| v.as_str())
            .map(SecretString::from)
            .ok_or_else(|| {
                KeyRingError::Aws(format!(
                    "secret {secret_id} has no INTEGRATION_TOKEN_ENCRYPTION_KEY field"
                ))
            });
    }
    Ok(value)
}

#[cfg(not(feature = "aws-secrets"))]
pub async fn fetch_key(_: &VaultSettings, _: &str) -> Result<SecretString, KeyRingError> {
    Err(KeyRingError::Aws(
        "this build lacks the `aws-secrets` feature".into(),
    ))
}
