//! `disconnectProvider`: take the provider's tokens back where it can (its revocation endpoint
//! from the catalog), then forget the connection. A revocation that fails is logged and the row
//! is deleted all the same — the user asked to disconnect. A connection that was there ends with
//! a `connection.disconnected` lifecycle event.

use secrecy::ExposeSecret;

use crate::{
    auth::Tenant,
    changes::lifecycle::Lifecycle,
    providers::{Cataloged, Provider, RevokeMethod},
    vault::VaultError,
};

use super::ConnectFlows;

impl ConnectFlows {
    /// Revokes (where supported) and deletes the tenant's connection; false when there was none.
    pub async fn disconnect(&self, tenant: Tenant, provider: Provider) -> Result<bool, VaultError> {
        let credential = match self
            .credentials
            .read(tenant.user_id, tenant.project_id, provider)
            .await
        {
            Ok(credential) => credential,
            Err(VaultError::Store(e)) => return Err(VaultError::Store(e)),
            Err(error) => {
                tracing::warn!(provider = provider.slug(), %error, "tokens do not open; forgetting without revoking");
                None
            }
        };
        let revoke = provider
            .entry()
            .oauth
            .as_ref()
            .and_then(|o| o.revoke.as_ref());
        // Only a configured provider is called: a connection can only come from its client.
        let configured = self.providers.get(&provider);
        if let (Some(credential), Some(revoke), Some(configured)) =
            (&credential, revoke, configured)
        {
            let token = credential
                .tokens
                .refresh_token
                .as_ref()
                .unwrap_or(&credential.tokens.access_token)
                .expose_secret()
                .to_owned();
            let url = configured
                .revoke_url
                .clone()
                .unwrap_or_else(|| revoke.url.clone());
            let request = match revoke.method {
                RevokeMethod::Post if revoke.bearer => self
                    .http
                    .client()
                    .post(url)
                    .bearer_auth(credential.tokens.access_token.expose_secret()),
                RevokeMethod::Post => self
                    .http
                    .client()
                    .post(url)
                    .form(&[("token", token.as_str())]),
                RevokeMethod::Delete => {
                    let encoded: String =
                        url::form_urlencoded::byte_serialize(token.as_bytes()).collect();
                    self.http.client().delete(url.replace("{token}", &encoded))
                }
            };
            match request.send().await {
                Ok(response) if response.status().is_success() => {
                    // Slack says no in the body of a 200.
                    let body: serde_json::Value = response.json().await.unwrap_or_default();
                    if body.get("ok") == Some(&serde_json::Value::Bool(false)) {
                        tracing::warn!(
                            provider = provider.slug(),
                            "the provider refused the revocation"
                        );
                    } else {
                        tracing::info!(
                            provider = provider.slug(),
                            "tokens revoked at the provider"
                        );
                    }
                }
                Ok(response) => {
                    tracing::warn!(provider = provider.slug(), status = %response.status(), "the provider refused the revocation");
                }
                Err(error) => {
                    tracing::warn!(provider = provider.slug(), error = %error.without_url(), "revocation failed");
                }
            }
        }
        let deleted = self
            .credentials
            .delete(tenant.user_id, tenant.project_id, provider)
            .await?;
        if deleted {
            self.tell(
                Lifecycle::ConnectionDisconnected,
                tenant,
                provider,
                serde_json::json!({}),
            )
            .await;
        }
        Ok(deleted)
    }
}
