use sea_orm::entity::prelude::*;

/// One record of a connection's copy: the unified record and the provider's payload
/// (`record`, JSON), with the columns lists filter and page on (see `changes::sync::copy`).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "copy_records")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub project_id: Uuid,
    pub provider: String,
    #[sea_orm(column_name = "type")]
    pub r#type: String,
    pub remote_id: String,
    #[sea_orm(column_type = "Blob")]
    pub sort_key: Vec<u8>,
    pub updated_ms: i64,
    pub email: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub name: Option<String>,
    pub owner: Option<String>,
    pub stage: Option<String>,
    pub status: Option<String>,
    pub domain: Option<String>,
    pub channel: Option<String>,
    pub thread: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub record: String,
    pub applied_at: Option<DateTimeUtc>,
    pub stored_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
