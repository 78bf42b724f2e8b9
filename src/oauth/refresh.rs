//! Keeping access tokens alive: `session` hands out a token that is good for at least the
//! catalog's margin, refreshing first when it is not (proactive); `session_after_expired` is the
//! reactive path, taken by the upstream stack when a provider answers that the token it was given
//! has expired. Concurrent callers of one connection share one refresh: a per-connection lock in
//! the process and, on PostgreSQL, an advisory lock across processes, so that several gateways
//! finding one token expired make one call to the token endpoint; the vault's version column
//! still fences every write of the tokens.
//! A rotated refresh token replaces the old one; when the provider returns none, the old one is
//! kept. A refused refresh (invalid_grant, HubSpot's BAD_REFRESH_TOKEN) marks the connection
//! REAUTH_REQUIRED, and later calls fail fast.

use std::{collections::HashMap, sync::Arc};

use chrono::{Duration, Utc};
use oauth2::{
    ClientId, ClientSecret, RefreshToken, RequestTokenError, TokenResponse as _, TokenUrl,
};
use sea_orm::{
    ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, Statement, TransactionTrait,
};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{
    auth::Tenant,
    changes::lifecycle::Lifecycle,
    providers::{Cataloged, Provider},
    vault::{Credential, CredentialVault, TokenSet, VaultError},
};

use super::{
    ConnectFlows,
    client::{BareClient, TokenClient},
};

/// Why no usable token can be had. Safe to return.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("{0} is not connected")]
    NotConnected(&'static str),
    #[error("{0} must be connected again")]
    ReauthRequired(&'static str),
    #[error("{0} did not answer the token refresh")]
    Unavailable(&'static str),
    #[error("credential store: {0}")]
    Store(#[from] VaultError),
}

/// What a call to a provider needs of its connection: a live token and the provider's facts
/// (Salesforce's `instance_url`, ...). `version` tells a reactive refresh whether the token it
/// saw fail is still the stored one.
#[derive(Debug, Clone)]
pub struct Session {
    pub access_token: SecretString,
    pub metadata: serde_json::Value,
    version: i64,
}

impl Session {
    fn of(credential: Credential) -> Self {
        Self {
            access_token: credential.tokens.access_token,
            metadata: credential.tokens.metadata,
            version: credential.version,
        }
    }
}

/// One lock per connection, so that concurrent callers share one refresh.
pub type Flights =
    Arc<tokio::sync::Mutex<HashMap<(Uuid, Uuid, Provider), Arc<tokio::sync::Mutex<()>>>>>;

fn fresh(credential: &Credential, margin: Duration) -> bool {
    credential
        .tokens
        .expires_at
        .is_none_or(|at| at - margin > Utc::now())
}

impl ConnectFlows {
    fn margin(provider: Provider) -> Duration {
        Duration::seconds(
            provider
                .entry()
                .oauth
                .as_ref()
                .map_or(300, |o| o.refresh_margin_secs),
        )
    }

    async fn usable(&self, tenant: Tenant, provider: Provider) -> Result<Credential, TokenError> {
        let credential = match self
            .credentials
            .read(tenant.user_id, tenant.project_id, provider)
            .await
        {
            Ok(Some(credential)) => credential,
            Ok(None) => return Err(TokenError::NotConnected(provider.slug())),
            Err(VaultError::Store(e)) => return Err(TokenError::Store(VaultError::Store(e))),
            Err(_) => return Err(TokenError::ReauthRequired(provider.slug())),
        };
        if CredentialVault::needs_reauth(&credential) {
            return Err(TokenError::ReauthRequired(provider.slug()));
        }
        Ok(credential)
    }

    /// A session whose token is good for at least the provider's refresh margin.
    pub async fn session(&self, tenant: Tenant, provider: Provider) -> Result<Session, TokenError> {
        let credential = self.usable(tenant, provider).await?;
        if fresh(&credential, Self::margin(provider)) {
            return Ok(Session::of(credential));
        }
        self.refresh(tenant, provider, credential.version, false)
            .await
    }

    /// A new session after the provider refused `expired`'s token as expired or invalid: one
    /// refresh, shared with every caller that saw the same token fail.
    pub async fn session_after_expired(
        &self,
        tenant: Tenant,
        provider: Provider,
        expired: &Session,
    ) -> Result<Session, TokenError> {
        self.refresh(tenant, provider, expired.version, true).await
    }

    /// Whether a refresh of this connection is in flight (viewer's REFRESHING).
    pub async fn is_refreshing(&self, tenant: Tenant, provider: Provider) -> bool {
        let key = (tenant.user_id, tenant.project_id, provider);
        let flights = self.flights.lock().await;
        flights
            .get(&key)
            .is_some_and(|lock| lock.try_lock().is_err())
    }

    /// Refreshes unless someone else already replaced the token seen at `seen_version`; `refused`
    /// says the provider turned that token down, so its stored expiry cannot be trusted.
    async fn refresh(
        &self,
        tenant: Tenant,
        provider: Provider,
        seen_version: i64,
        refused_by_provider: bool,
    ) -> Result<Session, TokenError> {
        let key = (tenant.user_id, tenant.project_id, provider);
        let flight = self.flights.lock().await.entry(key).or_default().clone();
        let _in_flight = flight.lock().await;
        let across = self.hold_across_processes(tenant, provider).await?;
        let refreshed = self
            .refresh_held(tenant, provider, seen_version, refused_by_provider)
            .await;
        if let Some(held) = across
            && let Err(cause) = held.commit().await
        {
            tracing::warn!(%cause, "releasing a refresh's lock");
        }
        refreshed
    }

    /// On PostgreSQL, holds the connection's refresh lock across processes until the returned
    /// transaction ends: a transaction-scoped advisory lock keyed by the connection, so that of
    /// several gateways (or `nexus sync`) finding the same token expired, one calls the token
    /// endpoint and the others, let in after it committed, find its token. The lock goes with
    /// the transaction, also when a caller gives up midway (the rollback is sent as the
    /// connection returns to the pool) or the process dies. SQLite serves one process, whose
    /// per-connection lock is enough.
    async fn hold_across_processes(
        &self,
        tenant: Tenant,
        provider: Provider,
    ) -> Result<Option<DatabaseTransaction>, TokenError> {
        if self.db.get_database_backend() != DbBackend::Postgres {
            return Ok(None);
        }
        let store = |e: DbErr| TokenError::Store(VaultError::Store(e));
        let txn = self.db.begin().await.map_err(store)?;
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock($1)",
            [lock_key(tenant, provider).into()],
        ))
        .await
        .map_err(store)?;
        Ok(Some(txn))
    }

    /// The refresh, with the connection's locks held.
    async fn refresh_held(
        &self,
        tenant: Tenant,
        provider: Provider,
        seen_version: i64,
        refused_by_provider: bool,
    ) -> Result<Session, TokenError> {
        // Whoever held the lock before us may have refreshed already.
        let credential = self.usable(tenant, provider).await?;
        if credential.version != seen_version
            && (refused_by_provider || fresh(&credential, Duration::zero()))
        {
            return Ok(Session::of(credential));
        }
        let refresh_token = credential
            .tokens
            .refresh_token
            .clone()
            .ok_or(TokenError::ReauthRequired(provider.slug()))?;
        let oauth = provider
            .entry()
            .oauth
            .as_ref()
            .ok_or(TokenError::NotConnected(provider.slug()))?;
        let settings = self
            .providers
            .get(&provider)
            .ok_or(TokenError::NotConnected(provider.slug()))?;
        let client_id = settings
            .client_id
            .clone()
            .ok_or(TokenError::NotConnected(provider.slug()))?;
        let token_url = settings
            .token_url
            .clone()
            .unwrap_or_else(|| oauth.token_url.clone());
        let mut client: TokenClient = BareClient::new(ClientId::new(client_id))
            .set_token_uri(
                TokenUrl::new(token_url).map_err(|_| TokenError::Unavailable(provider.slug()))?,
            )
            .set_auth_type(oauth2::AuthType::RequestBody);
        if let Some(secret) = &settings.client_secret {
            client = client.set_client_secret(ClientSecret::new(secret.expose_secret().to_owned()));
        }
        let answer = client
            .exchange_refresh_token(&RefreshToken::new(refresh_token.expose_secret().to_owned()))
            .request_async(&self.http)
            .await;
        let token = match answer {
            Ok(token) => token,
            Err(error) if refused(&error) => {
                self.credentials
                    .mark_reauth_required(tenant.user_id, tenant.project_id, provider)
                    .await?;
                self.tell(
                    Lifecycle::ConnectionReauthRequired,
                    tenant,
                    provider,
                    serde_json::json!({ "reason": "the provider refused the refresh token" }),
                )
                .await;
                return Err(TokenError::ReauthRequired(provider.slug()));
            }
            Err(_) => {
                tracing::warn!(provider = provider.slug(), "token refresh failed");
                return Err(TokenError::Unavailable(provider.slug()));
            }
        };
        let now = Utc::now();
        let expires_at = token
            .expires_in()
            .and_then(|d| Duration::from_std(d).ok())
            .or_else(|| oauth.session_lifetime_secs.map(Duration::seconds))
            .map(|d| now + d);
        let mut metadata = credential.tokens.metadata.clone();
        if let Some(map) = metadata.as_object_mut() {
            for (k, v) in &token.extra_fields().fields {
                if !super::callback::NOT_METADATA.contains(&k.as_str()) {
                    map.insert(k.clone(), v.clone());
                }
            }
        }
        let tokens = TokenSet {
            access_token: SecretString::from(token.access_token().secret().clone()),
            // A rotated refresh token replaces the old one; none means the old one stays good.
            refresh_token: token
                .refresh_token()
                .map(|t| SecretString::from(t.secret().clone()))
                .or(Some(refresh_token)),
            expires_at,
            scopes: credential.tokens.scopes.clone(),
            metadata,
        };
        match self
            .credentials
            .update_tokens(
                tenant.user_id,
                tenant.project_id,
                provider,
                credential.version,
                &tokens,
            )
            .await
        {
            Ok(version) => {
                tracing::info!(provider = provider.slug(), "token refreshed");
                self.tell(
                    Lifecycle::ConnectionRefreshed,
                    tenant,
                    provider,
                    serde_json::json!({ "expiresAt": tokens.expires_at }),
                )
                .await;
                Ok(Session {
                    access_token: tokens.access_token,
                    metadata: tokens.metadata,
                    version,
                })
            }
            // Another process refreshed first: its token is as good as ours.
            Err(VaultError::Conflict { .. }) => {
                Ok(Session::of(self.usable(tenant, provider).await?))
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// The advisory lock of a connection's refresh: the first eight bytes of a digest of the
/// connection (two connections sharing a key only wait for each other).
fn lock_key(tenant: Tenant, provider: Provider) -> i64 {
    let digest = Sha256::new()
        .chain_update(b"nexus refresh\0")
        .chain_update(tenant.user_id.as_bytes())
        .chain_update(tenant.project_id.as_bytes())
        .chain_update(provider.slug().as_bytes())
        .finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

/// Whether the token endpoint refused the refresh token itself (so the user must connect again),
/// as opposed to failing: OAuth's `invalid_grant`, HubSpot's `BAD_REFRESH_TOKEN` body, or
/// Slack's HTTP 200 `{"ok":false,"error":"invalid_refresh_token"}`.
fn refused<E: std::error::Error>(
    error: &RequestTokenError<E, oauth2::basic::BasicErrorResponse>,
) -> bool {
    match error {
        RequestTokenError::ServerResponse(r) => {
            matches!(
                r.error(),
                oauth2::basic::BasicErrorResponseType::InvalidGrant
            )
        }
        RequestTokenError::Parse(_, body) => {
            let answer = serde_json::from_slice::<serde_json::Value>(body).unwrap_or_default();
            let field = |name: &str| answer.get(name).and_then(|v| v.as_str());
            field("status") == Some("BAD_REFRESH_TOKEN")
                || (answer.get("ok") == Some(&serde_json::Value::Bool(false))
                    && matches!(
                        field("error"),
                        Some("invalid_refresh_token" | "invalid_grant" | "token_revoked")
                    ))
        }
        _ => false,
    }
}
