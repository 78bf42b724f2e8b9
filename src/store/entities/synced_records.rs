use sea_orm::entity::prelude::*;

/// The last version of a provider record a sync saw, by the hash of its payload: a record seen
/// again with another hash was updated; one never seen was created.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "synced_records")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub project_id: Uuid,
    pub provider: String,
    #[sea_orm(column_name = "type")]
    pub r#type: String,
    pub remote_id: String,
    pub hash: String,
    pub seen_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
