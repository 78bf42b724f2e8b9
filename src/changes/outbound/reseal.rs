//! Re-sealing endpoints' signing secrets under the vault's current key: the part of a key
//! rotation (`nexus keys rotate-encryption`) that concerns webhooks, run after the
//! credentials' part, so that once the old key leaves `vault.previous_keys` every endpoint's
//! deliveries still sign — with the same secret, which receivers keep.
//!
//! Like the credentials' pass it goes through the rows in batches, skips those already current,
//! and writes each row by compare-and-swap on the sealed values it read: a secret rotated by the
//! gateway meanwhile (sealed under the current key already) is left as the gateway wrote it, and
//! a pass can be interrupted and run again. A previous secret whose overlap has ended signs
//! nothing any more and is dropped rather than re-sealed.

use std::time::Duration;

use chrono::Utc;
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::Expr,
};
use uuid::Uuid;

use crate::{
    store::entities::webhook_endpoints as row,
    vault::{RotationReport, Vault, VaultError},
};

use super::endpoints::binding;

/// Re-seals every endpoint's secrets not yet in the vault's current key and format, `batch`
/// rows at a time, pausing `pause` between batches.
pub async fn reseal_secrets(
    db: &DatabaseConnection,
    vault: &Vault,
    batch: u64,
    pause: Duration,
    mut progress: impl FnMut(&RotationReport),
) -> Result<RotationReport, VaultError> {
    let mut report = RotationReport::default();
    let mut after: Option<Uuid> = None;
    loop {
        let mut query = row::Entity::find()
            .order_by_asc(row::Column::Id)
            .limit(batch.max(1));
        if let Some(last) = after {
            query = query.filter(row::Column::Id.gt(last));
        }
        let rows = query.all(db).await?;
        let Some(last) = rows.last() else { break };
        after = Some(last.id);
        for r in rows {
            report.examined += 1;
            let overlapping = r.previous_until.is_some_and(|until| until > Utc::now());
            let previous = r.previous_secret.as_deref().filter(|_| overlapping);
            let current = vault.is_current(&r.secret)
                && previous.is_none_or(|p| vault.is_current(p))
                && (overlapping || r.previous_secret.is_none());
            if current {
                continue;
            }
            let b = binding(r.user_id, r.project_id);
            let opened = vault.open(&b, &r.secret).and_then(|secret| {
                let previous = previous.map(|p| vault.open(&b, p)).transpose()?;
                Ok((secret, previous))
            });
            let Ok((secret, previous)) = opened else {
                report.unreadable += 1;
                continue;
            };
            let mut update = row::Entity::update_many()
                .col_expr(row::Column::Secret, Expr::value(vault.seal(&b, &secret)))
                .col_expr(
                    row::Column::PreviousSecret,
                    Expr::value(previous.as_ref().map(|p| vault.seal(&b, p))),
                )
                .col_expr(
                    row::Column::PreviousUntil,
                    Expr::value(r.previous_until.filter(|_| overlapping)),
                )
                .filter(row::Column::Id.eq(r.id))
                .filter(row::Column::Secret.eq(r.secret.as_str()));
            update = match &r.previous_secret {
                Some(p) => update.filter(row::Column::PreviousSecret.eq(p.as_str())),
                None => update.filter(row::Column::PreviousSecret.is_null()),
            };
            if update.exec(db).await?.rows_affected == 1 {
                report.rotated += 1;
            } else {
                report.changed_meanwhile += 1;
            }
        }
        progress(&report);
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
    }
    tracing::info!(
        ?report,
        "webhook endpoint secrets: key rotation pass finished"
    );
    Ok(report)
}
