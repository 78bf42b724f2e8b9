//! Users, projects and API keys: the rows behind a `Tenant`.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    Set,
};
use uuid::Uuid;

use super::KeySpec;
use crate::{
    changes::stale::{self, Stale},
    store::entities::{api_keys, projects, users},
};

/// An API key as listed: never the key itself, only its prefix.
#[derive(Debug, Clone)]
pub struct ApiKeyRow {
    pub id: Uuid,
    pub prefix: String,
    pub user_email: String,
    pub project_name: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// The scopes as stored (space-delimited).
    pub scopes: String,
    pub label: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    /// Recorded at most once a minute, so up to a minute behind.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// How many revocations this process has made or heard of: a key remembered before the count
/// moved is looked up again (`Authenticator`'s key cache), so a revocation made in this process
/// holds at once, and one made by another process on PostgreSQL as soon as its notification
/// arrives (`changes::stale`).
static REVOCATIONS: AtomicU64 = AtomicU64::new(0);

/// The number of revocations this process has made or heard of so far.
pub fn revocations() -> u64 {
    REVOCATIONS.load(Ordering::SeqCst)
}

/// Another process revoked a key (or may have, while this one was not listening).
pub fn revoked_elsewhere() {
    REVOCATIONS.fetch_add(1, Ordering::SeqCst);
}

/// Repository of users, projects and API keys.
#[derive(Clone)]
pub struct Tenants {
    db: DatabaseConnection,
}

impl Tenants {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// The user with this email, created if missing.
    pub async fn ensure_user(&self, email: &str) -> Result<users::Model, DbErr> {
        let row = users::ActiveModel {
            id: Set(Uuid::new_v4()),
            email: Set(email.to_owned()),
            created_at: Set(Utc::now()),
        };
        users::Entity::insert(row)
            .on_conflict_do_nothing_on([users::Column::Email])
            .exec(&self.db)
            .await?;
        users::Entity::find()
            .filter(users::Column::Email.eq(email))
            .one(&self.db)
            .await?
            .ok_or_else(|| DbErr::RecordNotFound(format!("user {email}")))
    }

    /// The project with this name, created if missing.
    pub async fn ensure_project(&self, name: &str) -> Result<projects::Model, DbErr> {
        let row = projects::ActiveModel {
            id: Set(Uuid::new_v4()),
            name: Set(name.to_owned()),
            created_at: Set(Utc::now()),
        };
        projects::Entity::insert(row)
            .on_conflict_do_nothing_on([projects::Column::Name])
            .exec(&self.db)
            .await?;
        projects::Entity::find()
            .filter(projects::Column::Name.eq(name))
            .one(&self.db)
            .await?
            .ok_or_else(|| DbErr::RecordNotFound(format!("project {name}")))
    }

    pub async fn project_by_name(&self, name: &str) -> Result<Option<projects::Model>, DbErr> {
        projects::Entity::find()
            .filter(projects::Column::Name.eq(name))
            .one(&self.db)
            .await
    }

    pub async fn user(&self, id: Uuid) -> Result<Option<users::Model>, DbErr> {
        users::Entity::find_by_id(id).one(&self.db).await
    }

    pub async fn project(&self, id: Uuid) -> Result<Option<projects::Model>, DbErr> {
        projects::Entity::find_by_id(id).one(&self.db).await
    }

    /// Stores a new key by its hash; the caller shows the plaintext once.
    pub async fn insert_key(
        &self,
        user_id: Uuid,
        project_id: Uuid,
        prefix: &str,
        key_hash: &str,
        spec: &KeySpec,
    ) -> Result<Uuid, DbErr> {
        let id = Uuid::new_v4();
        api_keys::ActiveModel {
            id: Set(id),
            user_id: Set(user_id),
            project_id: Set(project_id),
            prefix: Set(prefix.to_owned()),
            key_hash: Set(key_hash.to_owned()),
            created_at: Set(Utc::now()),
            last_used_at: Set(None),
            revoked_at: Set(None),
            scopes: Set(spec.scopes.to_string()),
            label: Set(spec.label.clone()),
            expires_at: Set(spec.expires_at),
        }
        .insert(&self.db)
        .await?;
        Ok(id)
    }

    /// The live (not revoked) key with this hash.
    pub async fn active_key(&self, key_hash: &str) -> Result<Option<api_keys::Model>, DbErr> {
        api_keys::Entity::find()
            .filter(api_keys::Column::KeyHash.eq(key_hash))
            .filter(api_keys::Column::RevokedAt.is_null())
            .one(&self.db)
            .await
    }

    pub async fn list_keys(&self) -> Result<Vec<ApiKeyRow>, DbErr> {
        let keys = api_keys::Entity::find()
            .order_by_asc(api_keys::Column::CreatedAt)
            .all(&self.db)
            .await?;
        let users = users::Entity::find().all(&self.db).await?;
        let projects = projects::Entity::find().all(&self.db).await?;
        let name_of = |id: Uuid| {
            projects
                .iter()
                .find(|p| p.id == id)
                .map_or_else(String::new, |p| p.name.clone())
        };
        let email_of = |id: Uuid| {
            users
                .iter()
                .find(|u| u.id == id)
                .map_or_else(String::new, |u| u.email.clone())
        };
        Ok(keys
            .into_iter()
            .map(|k| ApiKeyRow {
                id: k.id,
                prefix: k.prefix,
                user_email: email_of(k.user_id),
                project_name: name_of(k.project_id),
                created_at: k.created_at,
                revoked_at: k.revoked_at,
                scopes: k.scopes,
                label: k.label,
                expires_at: k.expires_at,
                last_used_at: k.last_used_at,
            })
            .collect())
    }

    /// Records that the key was used now.
    pub async fn touch_key(&self, id: Uuid) -> Result<(), DbErr> {
        api_keys::Entity::update_many()
            .col_expr(
                api_keys::Column::LastUsedAt,
                sea_orm::sea_query::Expr::value(Utc::now()),
            )
            .filter(api_keys::Column::Id.eq(id))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Marks a key revoked; false when no live key has this id.
    pub async fn revoke_key(&self, id: Uuid) -> Result<bool, DbErr> {
        let result = api_keys::Entity::update_many()
            .col_expr(
                api_keys::Column::RevokedAt,
                sea_orm::sea_query::Expr::value(Utc::now()),
            )
            .filter(api_keys::Column::Id.eq(id))
            .filter(api_keys::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await?;
        REVOCATIONS.fetch_add(1, Ordering::SeqCst);
        stale::tell(&self.db, Stale::Keys).await;
        Ok(result.rows_affected == 1)
    }
}
