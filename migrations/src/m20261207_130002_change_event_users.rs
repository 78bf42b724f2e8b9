//! `change_events.user_id`: the user whose connection an event came from. An event with a user
//! is visible to that user and to keys with the `changes:project` scope; an event without one
//! (the default project's Stripe webhooks) to every key of its project.
//!
//! Rows written before are attributed from the connections as they are now: an event whose
//! project has connections of its provider by exactly one user gets that user. Stripe events of
//! a project with no Stripe connection came from the default project's endpoint and stay
//! without a user. Every other row cannot be attributed (its connection is gone, or several
//! users of the project connected that provider): it gets the nil user, which no caller is, so
//! only `changes:project` keys see it — never a member's mail or chat shown to another member.

use sea_orm_migration::{prelude::*, schema::*, sea_orm::prelude::Uuid};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ChangeEvents {
    Table,
    UserId,
}

/// The connections of an event's project and provider (correlated with `change_events`).
const SAME_CONNECTIONS: &str = "FROM integration_credentials c \
     WHERE c.project_id = change_events.project_id AND c.provider = change_events.provider";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ChangeEvents::Table)
                    .add_column(uuid_null(ChangeEvents::UserId))
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        db.execute_unprepared(&format!(
            "UPDATE change_events SET user_id = (SELECT c.user_id {SAME_CONNECTIONS} LIMIT 1) \
             WHERE (SELECT COUNT(DISTINCT c.user_id) {SAME_CONNECTIONS}) = 1"
        ))
        .await?;
        let default_project_stripe = Expr::cust(
            "provider = 'stripe' AND NOT EXISTS (SELECT 1 FROM integration_credentials c \
             WHERE c.project_id = change_events.project_id AND c.provider = 'stripe')",
        );
        manager
            .exec_stmt(
                Query::update()
                    .table(ChangeEvents::Table)
                    .value(ChangeEvents::UserId, Uuid::nil())
                    .and_where(Expr::col(ChangeEvents::UserId).is_null())
                    .and_where(default_project_stripe.not())
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ChangeEvents::Table)
                    .drop_column(ChangeEvents::UserId)
                    .to_owned(),
            )
            .await
    }
}
