use sea_orm::entity::prelude::*;

/// One audited call: a raw provider call or an MCP tool call (see `crate::agents::audit`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub project_id: Uuid,
    pub user_id: Uuid,
    /// The API key the call was made with; none for a JWT.
    pub key_id: Option<Uuid>,
    /// `passthrough` or `mcp`.
    pub kind: String,
    /// The tool's name, or the raw call's method and path (`GET /crm/v3/owners`).
    pub action: String,
    /// The provider's slug, for raw calls.
    pub provider: Option<String>,
    /// `ok`, or the error code the caller got.
    pub outcome: String,
    /// The provider's HTTP status, for raw calls that got an answer.
    pub status: Option<i32>,
    pub duration_ms: i64,
    pub at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
