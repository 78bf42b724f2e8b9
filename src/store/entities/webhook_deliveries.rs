use sea_orm::entity::prelude::*;

/// One attempt to deliver an event to a partner's endpoint.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_deliveries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub endpoint_id: Uuid,
    /// The change event delivered (its `webhook-id` derives from it).
    pub event_id: Uuid,
    pub seq: i64,
    /// The endpoint's HTTP status; none when no answer came (refused, timed out).
    pub status: Option<i32>,
    /// Why no answer came.
    pub error: Option<String>,
    pub latency_ms: i64,
    /// The start of the answer's body, at most 1 KiB.
    pub response_excerpt: String,
    pub attempted_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
