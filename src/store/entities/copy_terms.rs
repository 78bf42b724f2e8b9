use sea_orm::entity::prelude::*;

/// One value of a multi-valued key of a record of a connection's copy (`kind` `email`: one of a
/// contact's addresses, lowercased).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "copy_terms")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub project_id: Uuid,
    pub provider: String,
    #[sea_orm(column_name = "type")]
    pub r#type: String,
    pub remote_id: String,
    pub kind: String,
    pub value: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
