//! Which gateway delivers to an endpoint: a lease in the endpoint's row. A gateway takes an
//! enabled endpoint whose lease is free or has run out, renews it while it delivers, and gives
//! it back when it stops; one that dies without giving it back holds it only until it runs out.
//! Every write of the delivery state is conditioned on still holding the lease, so a gateway
//! that lost it (paused past its expiry) can no longer move the cursor.

use chrono::{Duration, Utc};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, QueryFilter, sea_query::Expr,
};
use uuid::Uuid;

use crate::store::entities::webhook_endpoints::{self, Column as C};

/// One gateway's leases.
#[derive(Clone)]
pub struct Leases {
    db: DatabaseConnection,
    /// This gateway, for as long as it runs.
    pub me: Uuid,
    term: Duration,
}

impl Leases {
    pub fn new(db: DatabaseConnection, term: std::time::Duration) -> Self {
        Self {
            db,
            me: Uuid::new_v4(),
            term: Duration::from_std(term).unwrap_or(Duration::seconds(30)),
        }
    }

    /// Takes or renews the lease on an enabled endpoint; false when another gateway holds it or
    /// the endpoint is gone or disabled.
    pub async fn take(&self, id: Uuid) -> Result<bool, DbErr> {
        let now = Utc::now();
        let result = webhook_endpoints::Entity::update_many()
            .col_expr(C::LeaseOwner, Expr::value(Some(self.me)))
            .col_expr(C::LeaseUntil, Expr::value(Some(now + self.term)))
            .filter(C::Id.eq(id))
            .filter(C::Enabled.eq(true))
            .filter(
                Condition::any()
                    .add(C::LeaseOwner.is_null())
                    .add(C::LeaseOwner.eq(self.me))
                    .add(C::LeaseUntil.lt(now)),
            )
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// Gives the lease back, if still held.
    pub async fn release(&self, id: Uuid) -> Result<(), DbErr> {
        webhook_endpoints::Entity::update_many()
            .col_expr(C::LeaseOwner, Expr::value(Option::<Uuid>::None))
            .col_expr(
                C::LeaseUntil,
                Expr::value(Option::<chrono::DateTime<Utc>>::None),
            )
            .filter(C::Id.eq(id))
            .filter(C::LeaseOwner.eq(self.me))
            .exec(&self.db)
            .await?;
        Ok(())
    }
}
