//! The read model's copy of each connection's CRM records (DESIGN.md, "Reads: live, cached,
//! synced"), written by the sync in the transaction that moves its checkpoint:
//!
//! - `copy_records`: one row per record of a connection (user, project, provider), with the
//!   unified record and the provider's payload (`record`, JSON), and the columns that lists
//!   filter and page on. `sort_key` is the live list's order as bytes (created time, then the
//!   id, numbers zero-padded), compared bytewise on both databases (BLOB, bytea).
//! - `copy_links`: relations between records of one connection (contact → company, contact →
//!   deal, deal → company, lead → converted contact), from fields or the provider's associations.
//! - `copy_terms`: multi-valued keys of a record (a contact's email addresses), by kind.
//! - `copy_status`: per connection and type, whether a first full pass is done and when the
//!   last complete pass started.
//!
//! Every row belongs to its user and project and goes with them.

use sea_orm_migration::{prelude::*, schema::*};

use crate::{
    m20261126_000001_create_tenants::{Projects, Users},
    ownership::owned_by,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum CopyRecords {
    Table,
    Id,
    UserId,
    ProjectId,
    Provider,
    Type,
    RemoteId,
    SortKey,
    UpdatedMs,
    Email,
    Name,
    Owner,
    Stage,
    Status,
    Domain,
    Record,
    AppliedAt,
    StoredAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum CopyLinks {
    Table,
    Id,
    UserId,
    ProjectId,
    Provider,
    FromType,
    FromId,
    ToType,
    ToId,
    Ordinal,
}

#[derive(DeriveIden, Clone, Copy)]
enum CopyTerms {
    Table,
    Id,
    UserId,
    ProjectId,
    Provider,
    Type,
    RemoteId,
    Kind,
    Value,
}

#[derive(DeriveIden, Clone, Copy)]
enum CopyStatus {
    Table,
    Id,
    UserId,
    ProjectId,
    Provider,
    Type,
    Complete,
    PassAt,
    UpdatedAt,
}

/// The user and project a copy row belongs to, deleted with either.
fn owned(
    table: &mut TableCreateStatement,
    name: impl IntoIden + Copy,
    user: impl IntoIden,
    project: impl IntoIden,
) {
    table
        .foreign_key(&mut owned_by(name, user, Users::Table, Users::Id))
        .foreign_key(&mut owned_by(name, project, Projects::Table, Projects::Id));
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut records = Table::create()
            .table(CopyRecords::Table)
            .col(pk_uuid(CopyRecords::Id))
            .col(uuid(CopyRecords::UserId))
            .col(uuid(CopyRecords::ProjectId))
            .col(string(CopyRecords::Provider))
            .col(string(CopyRecords::Type))
            .col(string(CopyRecords::RemoteId))
            .col(blob(CopyRecords::SortKey))
            .col(big_integer(CopyRecords::UpdatedMs))
            .col(string_null(CopyRecords::Email))
            .col(text_null(CopyRecords::Name))
            .col(string_null(CopyRecords::Owner))
            .col(string_null(CopyRecords::Stage))
            .col(string_null(CopyRecords::Status))
            .col(string_null(CopyRecords::Domain))
            .col(text(CopyRecords::Record))
            .col(timestamp_with_time_zone_null(CopyRecords::AppliedAt))
            .col(timestamp_with_time_zone(CopyRecords::StoredAt))
            .index(
                Index::create()
                    .name("copy_records_record")
                    .col(CopyRecords::UserId)
                    .col(CopyRecords::ProjectId)
                    .col(CopyRecords::Provider)
                    .col(CopyRecords::Type)
                    .col(CopyRecords::RemoteId)
                    .unique(),
            )
            .to_owned();
        owned(
            &mut records,
            CopyRecords::Table,
            CopyRecords::UserId,
            CopyRecords::ProjectId,
        );
        manager.create_table(records).await?;
        for (name, column) in [
            ("copy_records_order", CopyRecords::SortKey),
            ("copy_records_email", CopyRecords::Email),
            ("copy_records_owner", CopyRecords::Owner),
            ("copy_records_stage", CopyRecords::Stage),
            ("copy_records_domain", CopyRecords::Domain),
            ("copy_records_updated", CopyRecords::UpdatedMs),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(CopyRecords::Table)
                        .col(CopyRecords::UserId)
                        .col(CopyRecords::ProjectId)
                        .col(CopyRecords::Provider)
                        .col(CopyRecords::Type)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }

        let mut links = Table::create()
            .table(CopyLinks::Table)
            .col(pk_uuid(CopyLinks::Id))
            .col(uuid(CopyLinks::UserId))
            .col(uuid(CopyLinks::ProjectId))
            .col(string(CopyLinks::Provider))
            .col(string(CopyLinks::FromType))
            .col(string(CopyLinks::FromId))
            .col(string(CopyLinks::ToType))
            .col(string(CopyLinks::ToId))
            .col(integer(CopyLinks::Ordinal))
            .index(
                Index::create()
                    .name("copy_links_link")
                    .col(CopyLinks::UserId)
                    .col(CopyLinks::ProjectId)
                    .col(CopyLinks::Provider)
                    .col(CopyLinks::FromType)
                    .col(CopyLinks::FromId)
                    .col(CopyLinks::ToType)
                    .col(CopyLinks::ToId)
                    .unique(),
            )
            .to_owned();
        owned(
            &mut links,
            CopyLinks::Table,
            CopyLinks::UserId,
            CopyLinks::ProjectId,
        );
        manager.create_table(links).await?;
        manager
            .create_index(
                Index::create()
                    .name("copy_links_reverse")
                    .table(CopyLinks::Table)
                    .col(CopyLinks::UserId)
                    .col(CopyLinks::ProjectId)
                    .col(CopyLinks::Provider)
                    .col(CopyLinks::ToType)
                    .col(CopyLinks::ToId)
                    .to_owned(),
            )
            .await?;

        let mut terms = Table::create()
            .table(CopyTerms::Table)
            .col(pk_uuid(CopyTerms::Id))
            .col(uuid(CopyTerms::UserId))
            .col(uuid(CopyTerms::ProjectId))
            .col(string(CopyTerms::Provider))
            .col(string(CopyTerms::Type))
            .col(string(CopyTerms::RemoteId))
            .col(string(CopyTerms::Kind))
            .col(string(CopyTerms::Value))
            .index(
                Index::create()
                    .name("copy_terms_term")
                    .col(CopyTerms::UserId)
                    .col(CopyTerms::ProjectId)
                    .col(CopyTerms::Provider)
                    .col(CopyTerms::Type)
                    .col(CopyTerms::RemoteId)
                    .col(CopyTerms::Kind)
                    .col(CopyTerms::Value)
                    .unique(),
            )
            .to_owned();
        owned(
            &mut terms,
            CopyTerms::Table,
            CopyTerms::UserId,
            CopyTerms::ProjectId,
        );
        manager.create_table(terms).await?;
        manager
            .create_index(
                Index::create()
                    .name("copy_terms_value")
                    .table(CopyTerms::Table)
                    .col(CopyTerms::UserId)
                    .col(CopyTerms::ProjectId)
                    .col(CopyTerms::Kind)
                    .col(CopyTerms::Value)
                    .to_owned(),
            )
            .await?;

        let mut status = Table::create()
            .table(CopyStatus::Table)
            .col(pk_uuid(CopyStatus::Id))
            .col(uuid(CopyStatus::UserId))
            .col(uuid(CopyStatus::ProjectId))
            .col(string(CopyStatus::Provider))
            .col(string(CopyStatus::Type))
            .col(boolean(CopyStatus::Complete))
            .col(timestamp_with_time_zone_null(CopyStatus::PassAt))
            .col(timestamp_with_time_zone(CopyStatus::UpdatedAt))
            .index(
                Index::create()
                    .name("copy_status_type")
                    .col(CopyStatus::UserId)
                    .col(CopyStatus::ProjectId)
                    .col(CopyStatus::Provider)
                    .col(CopyStatus::Type)
                    .unique(),
            )
            .to_owned();
        owned(
            &mut status,
            CopyStatus::Table,
            CopyStatus::UserId,
            CopyStatus::ProjectId,
        );
        manager.create_table(status).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            CopyStatus::Table.into_iden(),
            CopyTerms::Table.into_iden(),
            CopyLinks::Table.into_iden(),
            CopyRecords::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
