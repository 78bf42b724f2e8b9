//! The credential repository: one row per (user, project, provider), tokens sealed by the vault.
//!
//! - `upsert` on connect; `read` opens the tokens; `update_tokens` after a refresh is a
//!   compare-and-swap on `version`, so a stale refresh cannot overwrite a newer token;
//!   `delete` on disconnect.
//! - Every write that sets the metadata also sets `account_id`, the provider account the
//!   metadata names (the catalog's `account`), by which webhook deliveries find their connections.
//! - `connections` tells what is connected and whether its tokens still open (a value that does
//!   not open marks the connection REAUTH_REQUIRED; the row stays).
//! - `rotate` re-seals every row that is not in the current key and format, in batches, each
//!   row by compare-and-swap, so it can be interrupted and resumed while the gateway serves.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    TransactionTrait,
    sea_query::{Expr, ExprTrait, OnConflict},
};
use secrecy::SecretString;
use uuid::Uuid;

use crate::{
    providers::{Cataloged, Provider},
    store::entities::integration_credentials as row,
};

use super::{Binding, Vault, VaultError};

/// The tokens and facts of a connection, as a connect flow or a refresh produces them.
#[derive(Debug, Clone)]
pub struct TokenSet {
    pub access_token: SecretString,
    pub refresh_token: Option<SecretString>,
    pub expires_at: Option<DateTime<Utc>>,
    pub scopes: Vec<String>,
    pub metadata: serde_json::Value,
}

/// A stored credential, opened, with the version to compare-and-swap against.
#[derive(Debug, Clone)]
pub struct Credential {
    pub tokens: TokenSet,
    pub version: i64,
}

/// A connection's public face: never a token.
#[derive(Debug, Clone)]
pub struct ConnectionState {
    pub provider: Provider,
    pub scopes: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
    /// Its tokens do not open (wrong key, tampered, moved): the user must connect again.
    pub reauth_required: bool,
}

/// What a rotation pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RotationReport {
    pub examined: u64,
    pub rotated: u64,
    /// Rows whose tokens do not open with any configured key (left as they are).
    pub unreadable: u64,
    /// Rows changed by the gateway while the pass ran (already current, as the gateway seals so).
    pub changed_meanwhile: u64,
}

#[derive(Clone)]
pub struct CredentialVault {
    db: DatabaseConnection,
    vault: Vault,
}

fn binding(user_id: Uuid, project_id: Uuid, provider: &str) -> Binding<'_> {
    Binding {
        user_id,
        project_id,
        provider,
    }
}

/// The metadata flag a refused refresh sets (`reauth_required: true`).
const REAUTH_FLAG: &str = "reauth_required";

fn reauth_flagged(metadata: &serde_json::Value) -> bool {
    metadata
        .get(REAUTH_FLAG)
        .and_then(serde_json::Value::as_bool)
        == Some(true)
}

/// The provider account a connection's metadata names, by the catalog.
fn account_of(provider: Provider, metadata: &serde_json::Value) -> Option<String> {
    provider.entry().account.as_ref()?.of(metadata)
}

fn scopes_of(value: &serde_json::Value) -> Vec<String> {
    serde_json::from_value(value.clone()).unwrap_or_default()
}

impl CredentialVault {
    pub fn new(db: DatabaseConnection, vault: Vault) -> Self {
        Self { db, vault }
    }

    fn find(user_id: Uuid, project_id: Uuid, provider: Provider) -> sea_orm::Select<row::Entity> {
        row::Entity::find()
            .filter(row::Column::UserId.eq(user_id))
            .filter(row::Column::ProjectId.eq(project_id))
            .filter(row::Column::Provider.eq(provider.slug()))
    }

    /// Stores a connection's tokens (one row per user, project, provider); returns the version.
    pub async fn upsert(
        &self,
        user_id: Uuid,
        project_id: Uuid,
        provider: Provider,
        tokens: &TokenSet,
    ) -> Result<i64, VaultError> {
        let b = binding(user_id, project_id, provider.slug());
        let now = Utc::now();
        let model = row::ActiveModel {
            id: Set(Uuid::new_v4()),
            created_at: Set(now),
            updated_at: Set(now),
            user_id: Set(user_id),
            project_id: Set(project_id),
            provider: Set(provider.slug().to_owned()),
            access_token_encrypted: Set(self.vault.seal(&b, &tokens.access_token)),
            refresh_token_encrypted: Set(tokens
                .refresh_token
                .as_ref()
                .map(|t| self.vault.seal(&b, t))),
            token_expires_at: Set(tokens.expires_at),
            scopes: Set(serde_json::json!(tokens.scopes)),
            metadata: Set(tokens.metadata.clone()),
            account_id: Set(account_of(provider, &tokens.metadata)),
            version: Set(0),
        };
        row::Entity::insert(model)
            .on_conflict(
                OnConflict::columns([
                    row::Column::UserId,
                    row::Column::ProjectId,
                    row::Column::Provider,
                ])
                .update_columns([
                    row::Column::UpdatedAt,
                    row::Column::AccessTokenEncrypted,
                    row::Column::RefreshTokenEncrypted,
                    row::Column::TokenExpiresAt,
                    row::Column::Scopes,
                    row::Column::Metadata,
                    row::Column::AccountId,
                ])
                .value(
                    row::Column::Version,
                    Expr::col((row::Entity, row::Column::Version)).add(1),
                )
                .to_owned(),
            )
            .exec(&self.db)
            .await?;
        let stored = Self::find(user_id, project_id, provider)
            .one(&self.db)
            .await?
            .ok_or(VaultError::Conflict { expected: 0 })?;
        tracing::info!(
            provider = provider.slug(),
            version = stored.version,
            "credential stored"
        );
        Ok(stored.version)
    }

    /// The connection's tokens, opened; `None` when it is not connected.
    pub async fn read(
        &self,
        user_id: Uuid,
        project_id: Uuid,
        provider: Provider,
    ) -> Result<Option<Credential>, VaultError> {
        let Some(stored) = Self::find(user_id, project_id, provider)
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        let b = binding(user_id, project_id, provider.slug());
        let refresh_token = stored
            .refresh_token_encrypted
            .as_deref()
            .map(|v| self.vault.open(&b, v))
            .transpose()?;
        Ok(Some(Credential {
            tokens: TokenSet {
                access_token: self.vault.open(&b, &stored.access_token_encrypted)?,
                refresh_token,
                expires_at: stored.token_expires_at,
                scopes: scopes_of(&stored.scopes),
                metadata: stored.metadata,
            },
            version: stored.version,
        }))
    }

    /// Replaces the tokens after a refresh, only if the row is still at `expected_version`;
    /// returns the new version, or `Conflict` when someone else wrote first.
    pub async fn update_tokens(
        &self,
        user_id: Uuid,
        project_id: Uuid,
        provider: Provider,
        expected_version: i64,
        tokens: &TokenSet,
    ) -> Result<i64, VaultError> {
        let b = binding(user_id, project_id, provider.slug());
        let result = row::Entity::update_many()
            .col_expr(
                row::Column::AccessTokenEncrypted,
                Expr::value(self.vault.seal(&b, &tokens.access_token)),
            )
            .col_expr(
                row::Column::RefreshTokenEncrypted,
                Expr::value(
                    tokens
                        .refresh_token
                        .as_ref()
                        .map(|t| self.vault.seal(&b, t)),
                ),
            )
            .col_expr(row::Column::TokenExpiresAt, Expr::value(tokens.expires_at))
            .col_expr(
                row::Column::Scopes,
                Expr::value(serde_json::json!(tokens.scopes)),
            )
            .col_expr(row::Column::Metadata, Expr::value(tokens.metadata.clone()))
            .col_expr(
                row::Column::AccountId,
                Expr::value(account_of(provider, &tokens.metadata)),
            )
            .col_expr(row::Column::UpdatedAt, Expr::value(Utc::now()))
            .col_expr(row::Column::Version, Expr::value(expected_version + 1))
            .filter(row::Column::UserId.eq(user_id))
            .filter(row::Column::ProjectId.eq(project_id))
            .filter(row::Column::Provider.eq(provider.slug()))
            .filter(row::Column::Version.eq(expected_version))
            .exec(&self.db)
            .await?;
        if result.rows_affected == 1 {
            Ok(expected_version + 1)
        } else {
            tracing::info!(
                provider = provider.slug(),
                expected_version,
                "token update lost a race"
            );
            Err(VaultError::Conflict {
                expected: expected_version,
            })
        }
    }

    /// Marks a connection as needing the user to connect again (its refresh was refused); the
    /// row and its tokens stay, and later calls fail fast.
    pub async fn mark_reauth_required(
        &self,
        user_id: Uuid,
        project_id: Uuid,
        provider: Provider,
    ) -> Result<(), VaultError> {
        let Some(stored) = Self::find(user_id, project_id, provider)
            .one(&self.db)
            .await?
        else {
            return Ok(());
        };
        let mut metadata = stored.metadata.clone();
        if let Some(map) = metadata.as_object_mut() {
            map.insert(REAUTH_FLAG.into(), serde_json::Value::Bool(true));
        }
        row::Entity::update_many()
            .col_expr(row::Column::Metadata, Expr::value(metadata))
            .col_expr(row::Column::Version, Expr::value(stored.version + 1))
            .filter(row::Column::Id.eq(stored.id))
            .exec(&self.db)
            .await?;
        tracing::warn!(
            provider = provider.slug(),
            "connection needs re-authorization"
        );
        Ok(())
    }

    /// Sets one entry of a connection's metadata (a webhook endpoint's token hash), raising its
    /// version so that a refresh which read the row before cannot write the old metadata back;
    /// false when the provider is not connected.
    pub async fn set_metadata(
        &self,
        user_id: Uuid,
        project_id: Uuid,
        provider: Provider,
        key: &str,
        value: serde_json::Value,
    ) -> Result<bool, VaultError> {
        loop {
            let Some(stored) = Self::find(user_id, project_id, provider)
                .one(&self.db)
                .await?
            else {
                return Ok(false);
            };
            let mut metadata = stored.metadata.clone();
            if let Some(map) = metadata.as_object_mut() {
                map.insert(key.to_owned(), value.clone());
            }
            let result = row::Entity::update_many()
                .col_expr(
                    row::Column::AccountId,
                    Expr::value(account_of(provider, &metadata)),
                )
                .col_expr(row::Column::Metadata, Expr::value(metadata))
                .col_expr(row::Column::UpdatedAt, Expr::value(Utc::now()))
                .col_expr(row::Column::Version, Expr::value(stored.version + 1))
                .filter(row::Column::Id.eq(stored.id))
                .filter(row::Column::Version.eq(stored.version))
                .exec(&self.db)
                .await?;
            if result.rows_affected == 1 {
                return Ok(true);
            }
        }
    }

    /// Whether a stored credential carries the re-authorization flag.
    pub fn needs_reauth(credential: &Credential) -> bool {
        reauth_flagged(&credential.tokens.metadata)
    }

    /// Forgets a connection; false when there was none.
    pub async fn delete(
        &self,
        user_id: Uuid,
        project_id: Uuid,
        provider: Provider,
    ) -> Result<bool, VaultError> {
        let result = row::Entity::delete_many()
            .filter(row::Column::UserId.eq(user_id))
            .filter(row::Column::ProjectId.eq(project_id))
            .filter(row::Column::Provider.eq(provider.slug()))
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected > 0)
    }

    /// The user's connections in the project, with whether their tokens still open.
    pub async fn connections(
        &self,
        user_id: Uuid,
        project_id: Uuid,
    ) -> Result<Vec<ConnectionState>, VaultError> {
        let rows = row::Entity::find()
            .filter(row::Column::UserId.eq(user_id))
            .filter(row::Column::ProjectId.eq(project_id))
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                let provider: Provider = r.provider.parse().ok()?;
                let b = binding(user_id, project_id, &r.provider);
                let opens = self.vault.open(&b, &r.access_token_encrypted).is_ok()
                    && r.refresh_token_encrypted
                        .as_deref()
                        .is_none_or(|v| self.vault.open(&b, v).is_ok());
                Some(ConnectionState {
                    provider,
                    scopes: scopes_of(&r.scopes),
                    expires_at: r.token_expires_at,
                    reauth_required: !opens || reauth_flagged(&r.metadata),
                })
            })
            .collect())
    }

    /// Re-seals every row not yet in the current key and format, `batch` rows per transaction,
    /// pausing `pause` between batches to leave the database to the gateway. Safe to interrupt:
    /// a second run skips rows already current.
    pub async fn rotate(
        &self,
        batch: u64,
        pause: Duration,
        mut progress: impl FnMut(&RotationReport),
    ) -> Result<RotationReport, VaultError> {
        let mut report = RotationReport::default();
        let mut after: Option<Uuid> = None;
        loop {
            let mut query = row::Entity::find()
                .order_by_asc(row::Column::Id)
                .limit(Ord::max(batch, 1));
            if let Some(last) = after {
                query = query.filter(row::Column::Id.gt(last));
            }
            let rows = query.all(&self.db).await?;
            let Some(last) = rows.last() else { break };
            after = Some(last.id);
            let txn = self.db.begin().await?;
            for r in rows {
                report.examined += 1;
                let current = self.vault.is_current(&r.access_token_encrypted)
                    && r.refresh_token_encrypted
                        .as_deref()
                        .is_none_or(|v| self.vault.is_current(v));
                if current {
                    continue;
                }
                let b = binding(r.user_id, r.project_id, &r.provider);
                let opened = self
                    .vault
                    .open(&b, &r.access_token_encrypted)
                    .and_then(|access| {
                        let refresh = r
                            .refresh_token_encrypted
                            .as_deref()
                            .map(|v| self.vault.open(&b, v))
                            .transpose()?;
                        Ok((access, refresh))
                    });
                let Ok((access, refresh)) = opened else {
                    report.unreadable += 1;
                    continue;
                };
                let updated = row::Entity::update_many()
                    .col_expr(
                        row::Column::AccessTokenEncrypted,
                        Expr::value(self.vault.seal(&b, &access)),
                    )
                    .col_expr(
                        row::Column::RefreshTokenEncrypted,
                        Expr::value(refresh.as_ref().map(|t| self.vault.seal(&b, t))),
                    )
                    .col_expr(row::Column::Version, Expr::value(r.version + 1))
                    .filter(row::Column::Id.eq(r.id))
                    .filter(row::Column::Version.eq(r.version))
                    .exec(&txn)
                    .await?;
                if updated.rows_affected == 1 {
                    report.rotated += 1;
                } else {
                    report.changed_meanwhile += 1;
                }
            }
            txn.commit().await?;
            progress(&report);
            if !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
        }
        tracing::info!(?report, "key rotation pass finished");
        Ok(report)
    }
}
