//! Caller identity: an `Authorization: Bearer` credential becomes a `Tenant`.
//!
//! Two kinds of credential are accepted. API keys (`nxk_…`, 256 random bits) are stored as their
//! SHA-256 — a fast hash is right for keys of that entropy — and shown once; a key may carry a
//! label and an expiry, after which it is refused as if unknown, and its last use is recorded at
//! most once a minute. JWTs are verified with an HS256 secret or against an RS256 JWKS from
//! config; their claims name the user and the project, both of which must exist, and the scopes
//! (`auth.jwt.scope_claim`). A caller comes out `Authenticated`: the `Tenant` scopes everything a
//! request can reach, the `Scopes` (`scopes`) what it may do there.
//!
//! A key found is remembered for `auth.key_cache_secs` (default 5 s), so a busy key costs one
//! database read that often rather than one per request. Its expiry is checked on every request;
//! a revocation made by this process (`Tenants::revoke_key`) holds at once, one made by another
//! (`nexus keys revoke`, another gateway on the database) as soon as its notification arrives on
//! PostgreSQL (`changes::stale`), and within that time at worst. Unknown keys are not remembered.
//! Each authenticated request spends from its caller's allowance when per-caller limits are set
//! (`limit.rs`).

use std::{collections::HashMap, fs, time::Duration};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use rand::RngCore;
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{config::JwtSettings, store::entities::api_keys};

mod limit;
mod scopes;
mod tenants;

pub use limit::{Caller, CallerLimits, LimitConfigError, retry_after_secs};
pub use scopes::{Scope, Scopes, UnknownScope};
pub use tenants::{ApiKeyRow, Tenants, revoked_elsewhere};

/// How often, at most, a key's `last_used_at` is written: a busy key costs one write a minute,
/// not one per request.
const LAST_USED_EVERY: Duration = Duration::from_secs(60);

/// Every API key starts with this, so scanners and people can tell it apart from a JWT.
pub const API_KEY_PREFIX: &str = "nxk_";

pub use nexus_core::Tenant;

/// Why a caller was refused. Messages are safe to return: they never echo the credential.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("missing credentials: send `Authorization: Bearer <api key or JWT>`")]
    Missing,
    #[error("malformed Authorization header: expected `Bearer <api key or JWT>`")]
    Malformed,
    #[error("invalid, expired or revoked API key")]
    InvalidKey,
    #[error("invalid token: {0}")]
    InvalidToken(String),
    #[error("JWT callers are not configured")]
    JwtDisabled,
    #[error("the token's user or project does not exist")]
    UnknownSubject,
    #[error("credential store unavailable")]
    Store(#[from] sea_orm::DbErr),
    #[error("too many requests with this credential; retry after {} s", retry_after_secs(*.0))]
    RateLimited(std::time::Duration),
}

/// A freshly made API key: the plaintext (shown once) and what is stored.
pub struct NewApiKey {
    pub plaintext: String,
    pub prefix: String,
    pub hash: String,
}

impl NewApiKey {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let plaintext = format!("{API_KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
        Self {
            prefix: plaintext[..API_KEY_PREFIX.len() + 8].to_owned(),
            hash: hash_key(&plaintext),
            plaintext,
        }
    }
}

/// The stored form of an API key.
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// What a new key is made with besides its owner.
#[derive(Debug, Clone)]
pub struct KeySpec {
    pub scopes: Scopes,
    pub label: Option<String>,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Default for KeySpec {
    fn default() -> Self {
        Self {
            scopes: Scopes::DEFAULT,
            label: None,
            expires_at: None,
        }
    }
}

/// Creates a key for `user` in `project` (both created if missing) with the default scopes
/// (`read write`); returns its plaintext.
pub async fn create_api_key(
    tenants: &Tenants,
    project: &str,
    user_email: &str,
) -> Result<String, sea_orm::DbErr> {
    create_api_key_with(tenants, project, user_email, &KeySpec::default()).await
}

/// Creates a key as `spec` says for `user` in `project` (both created if missing); returns its
/// plaintext.
pub async fn create_api_key_with(
    tenants: &Tenants,
    project: &str,
    user_email: &str,
    spec: &KeySpec,
) -> Result<String, sea_orm::DbErr> {
    let user = tenants.ensure_user(user_email).await?;
    let project = tenants.ensure_project(project).await?;
    let key = NewApiKey::generate();
    tenants
        .insert_key(user.id, project.id, &key.prefix, &key.hash, spec)
        .await?;
    Ok(key.plaintext)
}

/// A caller let in: whose request it is and what it may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Authenticated {
    pub tenant: Tenant,
    pub scopes: Scopes,
    /// The API key the caller used; none for a JWT.
    pub key: Option<KeyId>,
}

/// The id of the API key a request was made with (the audit log's "who").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId(pub Uuid);

/// Turns `Authorization` header values into callers.
#[derive(Clone)]
pub struct Authenticator {
    tenants: Tenants,
    jwt: Option<JwtVerifier>,
    /// The keys whose last use was written within `LAST_USED_EVERY`.
    recently_used: moka::future::Cache<Uuid, ()>,
    /// Keys found, by hash, with the revocation count they were read at (`None`: not kept).
    keys: Option<moka::future::Cache<String, (u64, api_keys::Model)>>,
    limits: Option<CallerLimits>,
}

/// How long a key found is remembered unless `auth.key_cache_secs` says otherwise.
pub const KEY_CACHE: Duration = Duration::from_secs(5);

impl Authenticator {
    pub fn new(tenants: Tenants, jwt: Option<JwtVerifier>) -> Self {
        Self {
            tenants,
            jwt,
            recently_used: moka::future::Cache::builder()
                .time_to_live(LAST_USED_EVERY)
                .build(),
            keys: None,
            limits: None,
        }
        .with_key_cache(KEY_CACHE)
    }

    /// Remembers keys found for `ttl` (not at all when zero).
    pub fn with_key_cache(mut self, ttl: Duration) -> Self {
        self.keys = (!ttl.is_zero()).then(|| {
            moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(ttl)
                .build()
        });
        self
    }

    /// The live key with this hash: remembered, or read (and then remembered).
    async fn key(&self, hash: &str) -> Result<Option<api_keys::Model>, sea_orm::DbErr> {
        let Some(keys) = &self.keys else {
            return self.tenants.active_key(hash).await;
        };
        let revocations = tenants::revocations();
        if let Some((at, key)) = keys.get(hash).await
            && at == revocations
        {
            return Ok(Some(key));
        }
        let key = self.tenants.active_key(hash).await?;
        if let Some(key) = &key {
            keys.insert(hash.to_owned(), (revocations, key.clone()))
                .await;
        }
        Ok(key)
    }

    /// Holds each caller to `limits`.
    pub fn with_limits(mut self, limits: Option<CallerLimits>) -> Self {
        self.limits = limits;
        self
    }

    fn admit(&self, caller: Caller) -> Result<(), AuthError> {
        match &self.limits {
            Some(limits) => limits.admit(caller).map_err(AuthError::RateLimited),
            None => Ok(()),
        }
    }

    /// Records that key `id` was used, unless that was done within the last minute. A failed
    /// write is logged and the request goes on: the time is a hint, not a gate.
    async fn touch(&self, id: Uuid) {
        if !self.recently_used.entry(id).or_insert(()).await.is_fresh() {
            return;
        }
        if let Err(cause) = self.tenants.touch_key(id).await {
            tracing::warn!(%cause, "recording an API key's last use");
        }
    }

    /// Authenticates the value of an `Authorization` header (or `connection_init`'s field).
    pub async fn authenticate(&self, header: Option<&str>) -> Result<Authenticated, AuthError> {
        let header = header.ok_or(AuthError::Missing)?.trim();
        let credential = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .ok_or(AuthError::Malformed)?;
        if credential.starts_with(API_KEY_PREFIX) {
            let key = self
                .key(&hash_key(credential))
                .await?
                .filter(|key| key.expires_at.is_none_or(|t| t > chrono::Utc::now()))
                .ok_or(AuthError::InvalidKey)?;
            // Scopes were checked when stored; a row edited by hand into nonsense opens nothing.
            let scopes = Scopes::parse(&key.scopes).unwrap_or_else(|unknown| {
                tracing::error!(key = %key.id, %unknown, "an API key's stored scopes do not parse");
                Scopes::default()
            });
            self.admit(Caller::ApiKey(key.id))?;
            self.touch(key.id).await;
            return Ok(Authenticated {
                tenant: Tenant {
                    user_id: key.user_id,
                    project_id: key.project_id,
                },
                scopes,
                key: Some(KeyId(key.id)),
            });
        }
        let jwt = self.jwt.as_ref().ok_or(AuthError::JwtDisabled)?;
        let caller = jwt.verify(credential)?;
        let known = self.tenants.user(caller.tenant.user_id).await?.is_some()
            && self
                .tenants
                .project(caller.tenant.project_id)
                .await?
                .is_some();
        if known {
            self.admit(Caller::Subject(caller.tenant.user_id))?;
            Ok(caller)
        } else {
            Err(AuthError::UnknownSubject)
        }
    }
}

/// Verifies JWTs: HS256 with a shared secret, RS256 with keys from a JWKS document by `kid`.
#[derive(Clone)]
pub struct JwtVerifier {
    hs256: Option<DecodingKey>,
    rs256: HashMap<String, DecodingKey>,
    issuer: Option<String>,
    audience: Option<String>,
    user_claim: String,
    project_claim: String,
    scope_claim: String,
}

/// A JWT configuration that cannot be used (unreadable JWKS, no key at all).
#[derive(Debug, thiserror::Error)]
#[error("invalid auth.jwt settings: {0}")]
pub struct JwtConfigError(String);

impl JwtVerifier {
    pub fn from_settings(settings: &JwtSettings) -> Result<Self, JwtConfigError> {
        let hs256 = settings
            .hs256_secret
            .as_ref()
            .map(|s| DecodingKey::from_secret(s.expose_secret().as_bytes()));
        let mut rs256 = HashMap::new();
        if let Some(path) = &settings.jwks_path {
            let text = fs::read_to_string(path)
                .map_err(|e| JwtConfigError(format!("reading {}: {e}", path.display())))?;
            let set: JwkSet = serde_json::from_str(&text)
                .map_err(|e| JwtConfigError(format!("parsing {}: {e}", path.display())))?;
            for jwk in &set.keys {
                let kid = jwk.common.key_id.clone().unwrap_or_default();
                let key = DecodingKey::from_jwk(jwk)
                    .map_err(|e| JwtConfigError(format!("key `{kid}`: {e}")))?;
                rs256.insert(kid, key);
            }
        }
        if hs256.is_none() && rs256.is_empty() {
            return Err(JwtConfigError(
                "set hs256_secret or jwks_path (with at least one key)".into(),
            ));
        }
        Ok(Self {
            hs256,
            rs256,
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            user_claim: settings.user_claim.clone(),
            project_claim: settings.project_claim.clone(),
            scope_claim: settings.scope_claim.clone(),
        })
    }

    fn verify(&self, token: &str) -> Result<Authenticated, AuthError> {
        let invalid = |e: jsonwebtoken::errors::Error| AuthError::InvalidToken(e.to_string());
        let header = jsonwebtoken::decode_header(token).map_err(invalid)?;
        let key = match header.alg {
            Algorithm::HS256 => self.hs256.as_ref(),
            Algorithm::RS256 => self.rs256.get(header.kid.as_deref().unwrap_or_default()),
            _ => None,
        }
        .ok_or_else(|| AuthError::InvalidToken("unsupported algorithm or unknown key id".into()))?;
        let mut validation = Validation::new(header.alg);
        match &self.audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        if let Some(iss) = &self.issuer {
            validation.set_issuer(&[iss]);
        }
        let claims = jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
            token,
            key,
            &validation,
        )
        .map_err(invalid)?
        .claims;
        let id = |name: &str| {
            claims
                .get(name)
                .and_then(|v| v.as_str())
                .and_then(|s| Uuid::parse_str(s).ok())
                .ok_or_else(|| AuthError::InvalidToken(format!("claim `{name}` must be a UUID")))
        };
        // Without the claim, a token may do what a key made without `--scope` may.
        let scopes = match claims.get(&self.scope_claim) {
            None => Scopes::DEFAULT,
            Some(serde_json::Value::String(names)) => Scopes::from_claim(names),
            Some(_) => {
                return Err(AuthError::InvalidToken(format!(
                    "claim `{}` must be a string of space-separated scopes",
                    self.scope_claim
                )));
            }
        };
        Ok(Authenticated {
            tenant: Tenant {
                user_id: id(&self.user_claim)?,
                project_id: id(&self.project_claim)?,
            },
            scopes,
            key: None,
        })
    }
}
