use sea_orm::entity::prelude::*;

/// One entry of a project's change log; `seq` orders a project's entries and is the cursor.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "change_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub project_id: Uuid,
    pub seq: i64,
    pub op: String,
    pub provider: String,
    #[sea_orm(column_name = "type")]
    pub r#type: String,
    pub remote_id: String,
    pub data: Json,
    pub occurred_at: DateTimeUtc,
    pub received_at: DateTimeUtc,
    /// The user whose connection the event came from: visible to that user and to
    /// `changes:project` keys. None: visible to every key of the project.
    pub user_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
