//! Reading a project's change log in cursor order.

use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::entities::change_events;

#[derive(Clone)]
pub struct ChangeLog {
    db: DatabaseConnection,
}

impl ChangeLog {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// Up to `limit` entries of the project after sequence number `after`, oldest first.
    pub async fn page(
        &self,
        project_id: Uuid,
        after: i64,
        limit: u64,
    ) -> Result<Vec<change_events::Model>, DbErr> {
        change_events::Entity::find()
            .filter(change_events::Column::ProjectId.eq(project_id))
            .filter(change_events::Column::Seq.gt(after))
            .order_by_asc(change_events::Column::Seq)
            .limit(limit)
            .all(&self.db)
            .await
    }

    /// One entry by id, only if it belongs to the project.
    pub async fn by_id(
        &self,
        project_id: Uuid,
        id: Uuid,
    ) -> Result<Option<change_events::Model>, DbErr> {
        change_events::Entity::find_by_id(id)
            .filter(change_events::Column::ProjectId.eq(project_id))
            .one(&self.db)
            .await
    }
}
