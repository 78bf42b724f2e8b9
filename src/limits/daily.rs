//! Daily quotas (Salesforce's API calls per day, by kind) counted in the database
//! (`quota_usage`), so that a restart, or another instance, does not hand out the day again. A
//! call is admitted by one conditional write: the row of the day is created with the call's
//! cost, or its count raised only if it stays within the capacity.

use chrono::{Duration as Days, NaiveTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set,
    sea_query::{Expr, ExprTrait},
};
use uuid::Uuid;

use crate::store::entities::quota_usage as row;

/// What is left of a day, for `retryAfter` when its quota is spent.
pub fn until_tomorrow() -> std::time::Duration {
    let now = Utc::now();
    let midnight = (now.date_naive() + Days::days(1))
        .and_time(NaiveTime::MIN)
        .and_utc();
    (midnight - now).to_std().unwrap_or_default()
}

/// Spends `cost` of `class` for `scope` today if the day's `capacity` allows it, and returns
/// the day's count after it: raise the day's count within the capacity; else create the day's
/// row; else (another call created it meanwhile) raise it once more. `None`: no room.
pub async fn spend(
    db: &DatabaseConnection,
    scope: &str,
    class: &str,
    cost: u32,
    capacity: u32,
) -> Result<Option<u64>, DbErr> {
    if cost > capacity {
        return Ok(None);
    }
    let day = Utc::now().date_naive().to_string();
    if let Some(used) = raise(db, scope, class, &day, cost, capacity).await? {
        return Ok(Some(used));
    }
    let created = row::ActiveModel {
        id: Set(Uuid::new_v4()),
        scope: Set(scope.to_owned()),
        rate_class: Set(class.to_owned()),
        day: Set(day.clone()),
        used: Set(i64::from(cost)),
        updated_at: Set(Utc::now()),
    }
    .insert(db)
    .await;
    if created.is_ok() {
        return Ok(Some(u64::from(cost)));
    }
    // The unique key refused the row: it exists, full or raced into being.
    raise(db, scope, class, &day, cost, capacity).await
}

/// Raises the day's count by `cost` if it stays within `capacity`; returns the new count.
async fn raise(
    db: &DatabaseConnection,
    scope: &str,
    class: &str,
    day: &str,
    cost: u32,
    capacity: u32,
) -> Result<Option<u64>, DbErr> {
    let raised = row::Entity::update_many()
        .col_expr(
            row::Column::Used,
            Expr::col(row::Column::Used).add(i64::from(cost)),
        )
        .col_expr(row::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(row::Column::Scope.eq(scope))
        .filter(row::Column::RateClass.eq(class))
        .filter(row::Column::Day.eq(day))
        .filter(
            Expr::col(row::Column::Used)
                .add(i64::from(cost))
                .lte(i64::from(capacity)),
        )
        .exec_with_returning(db)
        .await?;
    Ok(raised
        .first()
        .map(|row| u64::try_from(row.used).unwrap_or_default()))
}
