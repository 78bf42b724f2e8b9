//! Daily quotas (Salesforce's API calls per day, by kind; Gmail's and Calendar's per day)
//! counted in the database (`quota_usage`), so that a restart, or another instance, does not
//! hand out the day again.
//!
//! Calls do not write the database one by one: an instance reserves a block of the day's count
//! at a time (a thousandth of the capacity, at least the call's cost) with one conditional write
//! — the row of the day is created with the block, or its count raised only if it stays within
//! the capacity — and hands the block out to calls from memory. A restart forgets the unspent
//! rest of its blocks: the day's count then holds more than was spent, never less, so the quota
//! stays safe, at the price of at most a thousandth of it per restart.

use std::{collections::HashMap, sync::Mutex};

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

/// The part of a day's count an instance reserved and has not handed out yet.
#[derive(Debug)]
struct Block {
    day: String,
    /// The day's count once the next call is counted from this block...
    next: u64,
    /// ... up to this (the day's count in the database after the reservation).
    end: u64,
}

/// The blocks this instance holds, by scope and class.
#[derive(Debug, Default)]
pub struct Blocks {
    held: Mutex<HashMap<(String, String), Block>>,
}

/// How much of a day's count one write reserves: a thousandth of the capacity (at least 1, at
/// most 10,000).
fn block_size(capacity: u32) -> u32 {
    (capacity / 1000).clamp(1, 10_000)
}

impl Blocks {
    /// Spends `cost` of `class` for `scope` today if the day's `capacity` allows it, from the
    /// block held, else from a new block reserved in the database; returns the day's count
    /// after it, as far as this instance knows. `None`: no room.
    pub async fn spend(
        &self,
        db: &DatabaseConnection,
        scope: &str,
        class: &str,
        cost: u32,
        capacity: u32,
    ) -> Result<Option<u64>, DbErr> {
        let day = Utc::now().date_naive().to_string();
        let key = (scope.to_owned(), class.to_owned());
        let cost64 = u64::from(cost);
        {
            let mut held = self.held.lock().expect("daily blocks lock");
            if let Some(block) = held.get_mut(&key)
                && block.day == day
                && block.next + cost64 <= block.end
            {
                block.next += cost64;
                return Ok(Some(block.next));
            }
        }
        // The rest of an old block, too small for this call, is left unspent (counted).
        let wanted = Ord::max(block_size(capacity), cost);
        let (end, size) = match reserve(db, scope, class, &day, wanted, capacity).await? {
            Some(end) => (end, wanted),
            None if wanted > cost => match reserve(db, scope, class, &day, cost, capacity).await? {
                Some(end) => (end, cost),
                None => return Ok(None),
            },
            None => return Ok(None),
        };
        let next = end - u64::from(size) + cost64;
        self.held
            .lock()
            .expect("daily blocks lock")
            .insert(key, Block { day, next, end });
        Ok(Some(next))
    }
}

/// Reserves `cost` of `class` for `scope` on `day` if the day's `capacity` allows it, and
/// returns the day's count after it: raise the day's count within the capacity; else create the
/// day's row; else (another call created it meanwhile) raise it once more. `None`: no room.
async fn reserve(
    db: &DatabaseConnection,
    scope: &str,
    class: &str,
    day: &str,
    cost: u32,
    capacity: u32,
) -> Result<Option<u64>, DbErr> {
    if cost > capacity {
        return Ok(None);
    }
    let day = day.to_owned();
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
