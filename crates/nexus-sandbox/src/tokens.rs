//! OAuth grants every simulated provider shares: authorization codes (with PKCE), access tokens
//! that expire on the sandbox clock, refresh tokens that can rotate and be revoked. Each provider
//! shapes its own token responses and errors around these.

use std::collections::HashMap;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// The app registered at a provider: the client the gateway presents.
#[derive(Debug, Clone)]
pub struct App {
    pub client_id: String,
    pub client_secret: String,
}

impl App {
    /// The sandbox's app for a provider: `sandbox-<slug>-client` / `sandbox-<slug>-secret`.
    pub fn for_provider(slug: &str) -> Self {
        Self {
            client_id: format!("sandbox-{slug}-client"),
            client_secret: format!("sandbox-{slug}-secret"),
        }
    }
}

/// What an access token grants.
#[derive(Debug, Clone)]
pub struct Grant {
    pub provider: String,
    pub account: String,
    pub scopes: Vec<String>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
struct Refresh {
    provider: String,
    account: String,
    scopes: Vec<String>,
    revoked: bool,
}

#[derive(Debug, Clone)]
struct Code {
    provider: String,
    account: String,
    scopes: Vec<String>,
    client_id: String,
    redirect_uri: String,
    challenge: Option<String>,
    expires_at: DateTime<Utc>,
}

/// An `authorization_code` token request, as the client sent it.
#[derive(Debug, Clone, Copy)]
pub struct CodeExchange<'a> {
    pub code: &'a str,
    pub client_id: &'a str,
    pub redirect_uri: Option<&'a str>,
    pub verifier: Option<&'a str>,
}

/// Tokens handed out by a grant.
#[derive(Debug, Clone)]
pub struct Issued {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_in: i64,
    pub account: String,
    pub scopes: Vec<String>,
}

/// Why a grant or a bearer token was refused; each provider words it its own way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantError {
    UnknownCode,
    RedirectMismatch,
    PkceMismatch,
    UnknownRefresh,
    Revoked,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BearerError {
    Missing,
    Unknown,
    Expired,
}

/// How a provider issues tokens.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Starts every token of the provider (`xoxb-`, `00D…!`), as its real tokens look.
    pub prefix: &'static str,
    pub access_lifetime: Duration,
    pub rotates_refresh: bool,
    /// Whether refresh tokens are issued at all.
    pub issues_refresh: bool,
}

#[derive(Debug, Default)]
pub struct TokenStore {
    access: HashMap<String, Grant>,
    refresh: HashMap<String, Refresh>,
    codes: HashMap<String, Code>,
}

fn random_token(prefix: &str) -> String {
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

impl TokenStore {
    /// Records a consent; the code is good for ten minutes and one use.
    #[allow(clippy::too_many_arguments)]
    pub fn create_code(
        &mut self,
        provider: &str,
        account: &str,
        scopes: Vec<String>,
        client_id: &str,
        redirect_uri: &str,
        challenge: Option<String>,
        now: DateTime<Utc>,
    ) -> String {
        let code = random_token("code-");
        self.codes.insert(
            code.clone(),
            Code {
                provider: provider.to_owned(),
                account: account.to_owned(),
                scopes,
                client_id: client_id.to_owned(),
                redirect_uri: redirect_uri.to_owned(),
                challenge,
                expires_at: now + Duration::minutes(10),
            },
        );
        code
    }

    fn issue(
        &mut self,
        provider: &str,
        account: &str,
        scopes: Vec<String>,
        policy: Policy,
        refresh: Option<String>,
        now: DateTime<Utc>,
    ) -> Issued {
        let access_token = random_token(policy.prefix);
        self.access.insert(
            access_token.clone(),
            Grant {
                provider: provider.to_owned(),
                account: account.to_owned(),
                scopes: scopes.clone(),
                expires_at: now + policy.access_lifetime,
            },
        );
        let refresh_token = refresh.or_else(|| {
            policy.issues_refresh.then(|| {
                let token = random_token(&format!("{}r-", policy.prefix));
                self.refresh.insert(
                    token.clone(),
                    Refresh {
                        provider: provider.to_owned(),
                        account: account.to_owned(),
                        scopes: scopes.clone(),
                        revoked: false,
                    },
                );
                token
            })
        });
        Issued {
            access_token,
            refresh_token,
            expires_in: policy.access_lifetime.num_seconds(),
            account: account.to_owned(),
            scopes,
        }
    }

    /// `grant_type=authorization_code`: the code is spent whatever the outcome.
    pub fn exchange(
        &mut self,
        provider: &str,
        request: &CodeExchange<'_>,
        policy: Policy,
        now: DateTime<Utc>,
    ) -> Result<Issued, GrantError> {
        let grant = self
            .codes
            .remove(request.code)
            .filter(|c| c.provider == provider && c.expires_at > now)
            .filter(|c| c.client_id == request.client_id)
            .ok_or(GrantError::UnknownCode)?;
        if request
            .redirect_uri
            .is_some_and(|uri| uri != grant.redirect_uri)
        {
            return Err(GrantError::RedirectMismatch);
        }
        if let Some(challenge) = &grant.challenge {
            let computed = request
                .verifier
                .map(|v| URL_SAFE_NO_PAD.encode(Sha256::digest(v.as_bytes())));
            if computed.as_deref() != Some(challenge.as_str()) {
                return Err(GrantError::PkceMismatch);
            }
        }
        Ok(self.issue(provider, &grant.account, grant.scopes, policy, None, now))
    }

    /// `grant_type=refresh_token`; a rotating provider invalidates the old refresh token.
    pub fn refresh(
        &mut self,
        provider: &str,
        refresh_token: &str,
        policy: Policy,
        now: DateTime<Utc>,
    ) -> Result<Issued, GrantError> {
        let stored = self
            .refresh
            .get(refresh_token)
            .filter(|r| r.provider == provider)
            .cloned()
            .ok_or(GrantError::UnknownRefresh)?;
        if stored.revoked {
            return Err(GrantError::Revoked);
        }
        let keep = if policy.rotates_refresh {
            self.refresh.remove(refresh_token);
            None
        } else {
            Some(refresh_token.to_owned())
        };
        Ok(self.issue(provider, &stored.account, stored.scopes, policy, keep, now))
    }

    /// Tokens for a provider's account without the consent dance (`POST /_sandbox/tokens`).
    pub fn mint(
        &mut self,
        provider: &str,
        account: &str,
        scopes: Vec<String>,
        policy: Policy,
        now: DateTime<Utc>,
    ) -> Issued {
        self.issue(provider, account, scopes, policy, None, now)
    }

    /// Checks a bearer token for a provider.
    pub fn check(
        &self,
        provider: &str,
        token: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Grant, BearerError> {
        let token = token.ok_or(BearerError::Missing)?;
        let grant = self
            .access
            .get(token)
            .filter(|g| g.provider == provider)
            .ok_or(BearerError::Unknown)?;
        if grant.expires_at <= now {
            return Err(BearerError::Expired);
        }
        Ok(grant.clone())
    }

    /// Expires every access token of a provider now.
    pub fn expire(&mut self, provider: &str, now: DateTime<Utc>) -> usize {
        let mut n = 0;
        for grant in self.access.values_mut().filter(|g| g.provider == provider) {
            grant.expires_at = now;
            n += 1;
        }
        n
    }

    /// Revokes every refresh token of a provider (and its access tokens with them).
    pub fn revoke(&mut self, provider: &str, now: DateTime<Utc>) -> usize {
        let mut n = 0;
        for r in self.refresh.values_mut().filter(|r| r.provider == provider) {
            r.revoked = true;
            n += 1;
        }
        self.expire(provider, now);
        n
    }

    /// Revokes one token (RFC 7009 style): a refresh token dies with its account's access
    /// tokens; an access token just expires. False when the provider never issued it.
    pub fn revoke_token(&mut self, provider: &str, token: &str, now: DateTime<Utc>) -> bool {
        if let Some(refresh) = self
            .refresh
            .get_mut(token)
            .filter(|r| r.provider == provider)
        {
            refresh.revoked = true;
            let account = refresh.account.clone();
            for grant in self
                .access
                .values_mut()
                .filter(|g| g.provider == provider && g.account == account)
            {
                grant.expires_at = now;
            }
            return true;
        }
        match self
            .access
            .get_mut(token)
            .filter(|g| g.provider == provider)
        {
            Some(grant) => {
                grant.expires_at = now;
                true
            }
            None => false,
        }
    }

    pub fn clear(&mut self) {
        *self = Self::default();
    }
}
