//! Connect flows: `connectProvider` builds the provider's authorize URL (the catalog's scopes,
//! PKCE S256 where the provider takes it) with a one-time `state` bound to the caller's user and
//! project and stored hashed, with its sealed PKCE verifier, for ten minutes; `callback` checks
//! it, exchanges the code and seals the credential. What happens to a connection — made,
//! refreshed, refused a refresh, ended — is told in the change log as a lifecycle event
//! (`changes::lifecycle`) once `with_lifecycle` gives the flows a log.

use std::{collections::BTreeMap, time::Duration};

use chrono::{DateTime, Utc};
use oauth2::{
    AuthUrl, ClientId, CsrfToken, PkceCodeChallenge, RedirectUrl, Scope, basic::BasicClient,
};
use sea_orm::{ActiveModelTrait, DatabaseConnection, DbErr, Set};
use secrecy::SecretString;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{
    auth::Tenant,
    config::{OauthSettings, ProviderSettings},
    providers::{Cataloged, Provider},
    store::entities::oauth_states,
    vault::{Binding, CredentialVault, Vault},
};

mod callback;
mod client;
mod refresh;
mod revoke;

pub use callback::{CallbackError, Connected, Refused};
use client::Http;
pub use refresh::{Session, TokenError};

/// Where to send the user to grant access, and until when the link works.
#[derive(Debug, Clone)]
pub struct ConnectLink {
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

/// Why a connect flow cannot start. Messages are safe to return.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(
        "{0} connects through its webhook signing secret, not OAuth: use connectStripe(signingSecret:)"
    )]
    NoOauth(&'static str),
    #[error("no OAuth client is configured for {0} (providers.{1}.client_id)")]
    NotConfigured(&'static str, &'static str),
    #[error("redirectAfter must be an absolute URL on an allowed origin")]
    RedirectNotAllowed,
    #[error("the provider's authorize URL is not a valid URL")]
    BadUrl,
    #[error("state store unavailable")]
    Store(#[from] DbErr),
}

/// Starts connect flows for every provider of the catalog.
#[derive(Clone)]
pub struct ConnectFlows {
    db: DatabaseConnection,
    vault: Vault,
    credentials: CredentialVault,
    http: Http,
    flights: refresh::Flights,
    providers: BTreeMap<Provider, ProviderSettings>,
    public_origin: String,
    allowed_origins: Vec<String>,
    ttl: Duration,
    /// Where connection lifecycle events go (`changes::lifecycle`); none tells nobody.
    lifecycle: Option<crate::changes::ChangeLog>,
}

fn origin_of(url: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    Some(url.origin().ascii_serialization())
}

impl ConnectFlows {
    pub fn new(
        db: DatabaseConnection,
        vault: Vault,
        providers: BTreeMap<Provider, ProviderSettings>,
        settings: &OauthSettings,
        public_origin: String,
    ) -> Result<Self, reqwest::Error> {
        let mut allowed_origins: Vec<String> = settings
            .allowed_redirect_origins
            .iter()
            .filter_map(|o| origin_of(o))
            .collect();
        allowed_origins.extend(origin_of(&public_origin));
        Ok(Self {
            credentials: CredentialVault::new(db.clone(), vault.clone()),
            http: Http::new()?,
            flights: refresh::Flights::default(),
            db,
            vault,
            providers,
            public_origin: public_origin.trim_end_matches('/').to_owned(),
            allowed_origins,
            ttl: Duration::from_secs(settings.state_ttl_secs),
            lifecycle: None,
        })
    }

    /// Tells `log` what happens to connections: made, refreshed, needing the user again, ended
    /// (`changes::lifecycle`).
    pub fn with_lifecycle(mut self, log: crate::changes::ChangeLog) -> Self {
        self.lifecycle = Some(log);
        self
    }

    /// Appends a lifecycle event of `tenant`'s connection to `provider`, when told to.
    async fn tell(
        &self,
        kind: crate::changes::lifecycle::Lifecycle,
        tenant: Tenant,
        provider: Provider,
        details: serde_json::Value,
    ) {
        use crate::changes::lifecycle::{LifecycleEvent, tell};
        if let Some(log) = &self.lifecycle {
            let event = LifecycleEvent::connection(kind, tenant, provider, details);
            tell(log, tenant.project_id, event).await;
        }
    }

    /// Where a provider sends the browser back.
    /// The origin providers reach this gateway at.
    pub fn public_origin(&self) -> &str {
        &self.public_origin
    }

    pub fn redirect_uri(&self, provider: Provider) -> String {
        format!("{}/oauth/{}/callback", self.public_origin, provider.slug())
    }

    /// Whether the browser may be sent to `target` after a flow: an absolute URL on one of
    /// `oauth.allowed_redirect_origins` or the gateway's own origin.
    pub fn allows_redirect(&self, target: &str) -> bool {
        origin_of(target).is_some_and(|o| self.allowed_origins.contains(&o))
    }

    /// The provider's authorize URL for this caller, and the stored one-time state behind it.
    pub async fn start(
        &self,
        tenant: Tenant,
        provider: Provider,
        redirect_after: Option<&str>,
    ) -> Result<ConnectLink, ConnectError> {
        let entry = provider.entry();
        let oauth = entry
            .oauth
            .as_ref()
            .ok_or(ConnectError::NoOauth(provider.slug()))?;
        let settings = self.providers.get(&provider);
        let client_id =
            settings
                .and_then(|s| s.client_id.clone())
                .ok_or(ConnectError::NotConfigured(
                    provider.slug(),
                    provider.slug(),
                ))?;
        if let Some(target) = redirect_after
            && !self.allows_redirect(target)
        {
            return Err(ConnectError::RedirectNotAllowed);
        }
        let authorize_url = settings
            .and_then(|s| s.authorize_url.clone())
            .unwrap_or_else(|| oauth.authorize_url.clone());
        let client = BasicClient::new(ClientId::new(client_id))
            .set_auth_uri(AuthUrl::new(authorize_url).map_err(|_| ConnectError::BadUrl)?)
            .set_redirect_uri(
                RedirectUrl::new(self.redirect_uri(provider)).map_err(|_| ConnectError::BadUrl)?,
            );
        let mut request = client
            .authorize_url(CsrfToken::new_random)
            .add_scope(Scope::new(oauth.all_scopes().join(&oauth.scope_separator)));
        for (name, value) in &oauth.extra_params {
            request = request.add_extra_param(name.clone(), value.clone());
        }
        let verifier = if oauth.pkce {
            let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
            request = request.set_pkce_challenge(challenge);
            Some(verifier)
        } else {
            None
        };
        let (url, state) = request.url();

        let now = Utc::now();
        let expires_at = now + self.ttl;
        let binding = Binding {
            user_id: tenant.user_id,
            project_id: tenant.project_id,
            provider: provider.slug(),
        };
        oauth_states::ActiveModel {
            id: Set(Uuid::new_v4()),
            state_hash: Set(hex::encode(Sha256::digest(state.secret().as_bytes()))),
            user_id: Set(tenant.user_id),
            project_id: Set(tenant.project_id),
            provider: Set(provider.slug().to_owned()),
            pkce_verifier_encrypted: Set(verifier.map(|v| {
                self.vault
                    .seal(&binding, &SecretString::from(v.secret().clone()))
            })),
            redirect_after: Set(redirect_after.map(str::to_owned)),
            created_at: Set(now),
            expires_at: Set(expires_at),
            consumed_at: Set(None),
        }
        .insert(&self.db)
        .await?;
        tracing::info!(provider = provider.slug(), "connect flow started");
        Ok(ConnectLink {
            url: url.to_string(),
            expires_at,
        })
    }
}
