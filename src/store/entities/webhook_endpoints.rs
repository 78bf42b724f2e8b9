use sea_orm::entity::prelude::*;

/// A partner's endpoint the change log is pushed to, and where its delivery stands.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_endpoints")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub project_id: Uuid,
    /// Who made it: it receives the events this user could read.
    pub user_id: Uuid,
    /// Whether its maker held `changes:project` (then it receives every member's events).
    pub sees_project: bool,
    pub url: String,
    /// The event types it takes (`Contact`, `connection.created`, ...); none: all.
    pub types: Option<Json>,
    /// The providers' slugs it takes; none: all.
    pub providers: Option<Json>,
    pub enabled: bool,
    /// The signing secret, sealed by the vault.
    pub secret: String,
    /// The secret before the last rotation, sealed, signing too until `previous_until`.
    pub previous_secret: Option<String>,
    pub previous_until: Option<DateTimeUtc>,
    /// The last sequence number of the project's log delivered.
    pub cursor: i64,
    /// When the event at the head of its queue first failed; none while deliveries succeed.
    pub failing_since: Option<DateTimeUtc>,
    /// The gateway delivering to it, until `lease_until`.
    pub lease_owner: Option<Uuid>,
    pub lease_until: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
