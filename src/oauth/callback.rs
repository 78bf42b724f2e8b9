//! The second half of a connect flow: the provider sends the browser back with a code and our
//! state. The state must be known, unused, unexpired and for this provider (else nothing is
//! stored); then the code is exchanged (with the PKCE verifier) and the credential sealed.
//!
//! A flow that stores nothing says why ([`CallbackError`], with its RFC 6749 error code) and,
//! once the state is known, where the flow meant to return ([`Refused::redirect_after`]), so the
//! browser can go back to the app with `error` and `error_description` as OAuth clients expect.

use chrono::{Duration, Utc};
use oauth2::{
    AuthType, AuthorizationCode, ClientId, ClientSecret, PkceCodeVerifier, RedirectUrl,
    TokenResponse as _, TokenUrl,
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::{
    auth::Tenant,
    changes::lifecycle::Lifecycle,
    providers::{Cataloged, Provider},
    store::entities::oauth_states,
    vault::{Binding, TokenSet, VaultError},
};

use super::{
    ConnectFlows,
    client::{BareClient, TokenClient},
};

/// Metadata the gateway sets on a connection, kept when the user connects again: a Salesforce
/// connection's outbound-message endpoint (its token's hash; a message from another org than
/// the new connection's is still refused).
const KEPT_ON_RECONNECT: &[&str] = &[crate::changes::webhooks::salesforce::TOKEN_HASH];

/// A finished flow: where the browser goes next.
#[derive(Debug)]
pub struct Connected {
    pub provider: Provider,
    /// Whose connection it is.
    pub tenant: Tenant,
    pub redirect_after: Option<String>,
}

/// Why a callback stored nothing. Messages are safe to show.
#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    #[error("this connect link is unknown; start again from the app")]
    UnknownState,
    #[error("this connect link was already used; start again from the app")]
    Replayed,
    #[error("this connect link has expired; start again from the app")]
    Expired,
    #[error("access was not granted ({0})")]
    Denied(String),
    #[error("the provider sent no authorization code")]
    MissingCode,
    #[error("the provider did not accept the authorization code")]
    Exchange,
    #[error("the connection could not be stored")]
    Store(#[from] VaultError),
}

impl CallbackError {
    /// The RFC 6749 (4.1.2.1) error code the app is told: the provider's own when it sent one
    /// of those, `access_denied` for another refusal at the provider, `invalid_request` for a
    /// link that cannot be used, `server_error` when the code was not exchanged, and
    /// `temporarily_unavailable` when the connection could not be stored.
    pub fn oauth_code(&self) -> &'static str {
        const PROVIDER_CODES: &[&str] = &[
            "invalid_request",
            "unauthorized_client",
            "access_denied",
            "unsupported_response_type",
            "invalid_scope",
            "server_error",
            "temporarily_unavailable",
        ];
        match self {
            CallbackError::Denied(code) => PROVIDER_CODES
                .iter()
                .find(|c| **c == code.as_str())
                .copied()
                .unwrap_or("access_denied"),
            CallbackError::UnknownState
            | CallbackError::Replayed
            | CallbackError::Expired
            | CallbackError::MissingCode => "invalid_request",
            CallbackError::Exchange => "server_error",
            CallbackError::Store(_) => "temporarily_unavailable",
        }
    }
}

/// A callback that stored nothing: why, and where its flow meant to return (known once the
/// state is: never for an unknown one).
#[derive(Debug)]
pub struct Refused {
    pub error: CallbackError,
    pub redirect_after: Option<String>,
}

impl From<CallbackError> for Refused {
    fn from(error: CallbackError) -> Self {
        Refused {
            error,
            redirect_after: None,
        }
    }
}

impl From<sea_orm::DbErr> for CallbackError {
    fn from(e: sea_orm::DbErr) -> Self {
        CallbackError::Store(VaultError::Store(e))
    }
}

/// Token-response fields that are secrets or signatures, never stored as metadata.
pub(super) const NOT_METADATA: &[&str] = &[
    "access_token",
    "refresh_token",
    "id_token",
    "signature",
    "authed_user",
];

/// The identity an OpenID Connect `id_token` names: Microsoft's tenant (`tid`) and user (`oid`),
/// and the user's sign-in name. The token came straight from the token endpoint over the
/// connection we opened, so its issuer is already known and its signature need not be checked
/// (OpenID Connect Core, 3.1.3.7); nothing here grants access, it only labels the connection.
fn identity_claims(id_token: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    use base64::Engine;
    let payload = id_token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&bytes).ok()?;
    let named = [
        ("tid", "tenant_id"),
        ("oid", "user_id"),
        ("preferred_username", "username"),
    ];
    Some(
        named
            .into_iter()
            .filter_map(|(claim, key)| Some((key.to_owned(), claims.get(claim)?.clone())))
            .collect(),
    )
}

impl ConnectFlows {
    /// Completes a flow from the provider's redirect (`code` and `state`, or `error`).
    pub async fn finish(
        &self,
        provider: Provider,
        state: &str,
        code: Option<&str>,
        denied: Option<&str>,
    ) -> Result<Connected, Refused> {
        let hash = hex::encode(Sha256::digest(state.as_bytes()));
        let row = oauth_states::Entity::find()
            .filter(oauth_states::Column::StateHash.eq(hash))
            .one(&self.db)
            .await
            .map_err(CallbackError::from)?
            .filter(|r| r.provider == provider.slug())
            .ok_or(CallbackError::UnknownState)?;
        let redirect_after = row.redirect_after.clone();
        self.complete(provider, row, code, denied)
            .await
            .map_err(|error| Refused {
                error,
                redirect_after,
            })
    }

    /// The rest of [`finish`](Self::finish) once the state is known: claimed once, unexpired,
    /// granted, and its code exchanged.
    async fn complete(
        &self,
        provider: Provider,
        row: oauth_states::Model,
        code: Option<&str>,
        denied: Option<&str>,
    ) -> Result<Connected, CallbackError> {
        let now = Utc::now();
        let claimed = oauth_states::Entity::update_many()
            .col_expr(oauth_states::Column::ConsumedAt, Expr::value(now))
            .filter(oauth_states::Column::Id.eq(row.id))
            .filter(oauth_states::Column::ConsumedAt.is_null())
            .exec(&self.db)
            .await?;
        if claimed.rows_affected != 1 {
            return Err(CallbackError::Replayed);
        }
        if row.expires_at <= now {
            return Err(CallbackError::Expired);
        }
        if let Some(reason) = denied {
            return Err(CallbackError::Denied(reason.chars().take(64).collect()));
        }
        let code = code
            .filter(|c| !c.is_empty())
            .ok_or(CallbackError::MissingCode)?;
        let binding = Binding {
            user_id: row.user_id,
            project_id: row.project_id,
            provider: provider.slug(),
        };
        let verifier = row
            .pkce_verifier_encrypted
            .as_deref()
            .map(|v| self.vault.open(&binding, v))
            .transpose()?;

        let oauth = provider
            .entry()
            .oauth
            .as_ref()
            .ok_or(CallbackError::UnknownState)?;
        let settings = self
            .providers
            .get(&provider)
            .ok_or(CallbackError::UnknownState)?;
        let client_id = settings
            .client_id
            .clone()
            .ok_or(CallbackError::UnknownState)?;
        let token_url = settings
            .token_url
            .clone()
            .unwrap_or_else(|| oauth.token_url.clone());
        let mut client: TokenClient = BareClient::new(ClientId::new(client_id))
            .set_token_uri(TokenUrl::new(token_url).map_err(|_| CallbackError::Exchange)?)
            .set_redirect_uri(
                RedirectUrl::new(self.redirect_uri(provider))
                    .map_err(|_| CallbackError::Exchange)?,
            )
            .set_auth_type(AuthType::RequestBody);
        if let Some(secret) = &settings.client_secret {
            client = client.set_client_secret(ClientSecret::new(secret.expose_secret().to_owned()));
        }
        let mut exchange = client.exchange_code(AuthorizationCode::new(code.to_owned()));
        if let Some(verifier) = verifier {
            exchange = exchange
                .set_pkce_verifier(PkceCodeVerifier::new(verifier.expose_secret().to_owned()));
        }
        let token = exchange.request_async(&self.http).await.map_err(|error| {
            // The error's kind only: a provider's body is never logged.
            let kind = match &error {
                oauth2::RequestTokenError::ServerResponse(r) => r.error().to_string(),
                oauth2::RequestTokenError::Request(_) => "request failed".into(),
                oauth2::RequestTokenError::Parse(..) => "unreadable response".into(),
                oauth2::RequestTokenError::Other(_) => "other".into(),
            };
            tracing::warn!(provider = provider.slug(), kind, "code exchange refused");
            CallbackError::Exchange
        })?;

        let extra = &token.extra_fields().fields;
        let expires_at = token
            .expires_in()
            .and_then(|d| Duration::from_std(d).ok())
            .or_else(|| oauth.session_lifetime_secs.map(Duration::seconds))
            .map(|d| now + d);
        let scopes: Vec<String> = match (token.scopes(), extra.get("scopes")) {
            (Some(granted), _) => granted
                .iter()
                .flat_map(|s| s.split([',', ' ']).map(str::to_owned).collect::<Vec<_>>())
                .filter(|s| !s.is_empty())
                .collect(),
            (None, Some(serde_json::Value::Array(list))) => list
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => oauth.all_scopes().into_iter().map(str::to_owned).collect(),
        };
        let mut metadata: serde_json::Map<String, serde_json::Value> = extra
            .iter()
            .filter(|(k, _)| !NOT_METADATA.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if let Some(claims) = extra
            .get("id_token")
            .and_then(|t| t.as_str())
            .and_then(identity_claims)
        {
            metadata.extend(claims);
        }
        // What the gateway set on a connection itself outlives connecting again.
        if let Ok(Some(before)) = self
            .credentials
            .read(row.user_id, row.project_id, provider)
            .await
        {
            for key in KEPT_ON_RECONNECT {
                if let Some(value) = before.tokens.metadata.get(*key) {
                    metadata
                        .entry(key.to_string())
                        .or_insert_with(|| value.clone());
                }
            }
        }
        let tokens = TokenSet {
            access_token: SecretString::from(token.access_token().secret().clone()),
            refresh_token: token
                .refresh_token()
                .map(|t| SecretString::from(t.secret().clone())),
            expires_at,
            scopes,
            metadata: serde_json::Value::Object(metadata),
        };
        self.credentials
            .upsert(row.user_id, row.project_id, provider, &tokens)
            .await?;
        tracing::info!(provider = provider.slug(), "provider connected");
        let tenant = Tenant {
            user_id: row.user_id,
            project_id: row.project_id,
        };
        self.tell(
            Lifecycle::ConnectionCreated,
            tenant,
            provider,
            serde_json::json!({ "scopes": tokens.scopes, "expiresAt": tokens.expires_at }),
        )
        .await;
        Ok(Connected {
            provider,
            tenant,
            redirect_after: row.redirect_after,
        })
    }
}
