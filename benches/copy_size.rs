//! Bytes the read model's copy takes per `COPY_BENCH_RECORDS` (10,000) HubSpot contacts, on
//! SQLite and, when `NEXUS_TEST_POSTGRES_URL` names a server, on a fresh PostgreSQL database.
//! Each contact is shaped as HubSpot's search returns it (the properties the adapter asks for),
//! names a company and has two email addresses; the copy stores it through the sync's own writer
//! (`changes::sync::copy::store`, pages of 200 in a transaction each), so the figure counts the
//! record, its filter columns and indexes, its terms and its relation.
//!
//! SQLite: growth of the database file (`page_count × page_size`, after a WAL checkpoint).
//! PostgreSQL: `pg_total_relation_size` of the four copy tables (data, indexes, TOAST).
//!
//! `cargo bench --bench copy_size`.

use std::path::Path;

use chrono::{Duration, TimeZone, Utc};
use nexus::{
    auth::{Tenant, Tenants},
    changes::sync::copy,
    config::Settings,
    providers::{
        Provider,
        crm::{Contact, CrmData, CrmObject, Record},
    },
    store::entities::integration_credentials,
    upstream::Target,
};
use sea_orm::{
    ActiveValue::Set, ConnectionTrait, DatabaseConnection, EntityTrait, Statement, TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

const PAGE: usize = 200;

fn contact(i: usize) -> Record<CrmData> {
    let created = Utc.timestamp_opt(1_700_000_000, 0).unwrap() + Duration::seconds(i as i64 * 37);
    let updated = created + Duration::days(3);
    let id = (10_000_000 + i).to_string();
    let (first, last) = (format!("Firstname{i}"), format!("Lastname{i}"));
    let email = format!("{}.{}@company{}.example", first, last, i % 500).to_lowercase();
    let other = format!("{}@personal.example", last).to_lowercase();
    let company = (20_000_000 + i % 500).to_string();
    let raw = json!({
        "id": id,
        "properties": {
            "firstname": first, "lastname": last, "email": email,
            "hs_additional_emails": other, "phone": format!("+1 555 {i:07}"),
            "jobtitle": "Account Executive", "associatedcompanyid": company,
            "createdate": created.to_rfc3339(), "lastmodifieddate": updated.to_rfc3339(),
            "hubspot_owner_id": "31000001", "hs_object_id": id,
        },
        "createdAt": created.to_rfc3339(), "updatedAt": updated.to_rfc3339(), "archived": false,
    });
    Record {
        provider: Provider::Hubspot,
        remote_id: id,
        created_at: created,
        updated_at: updated,
        data: CrmData::Contact(Contact {
            first_name: Some(first),
            last_name: Some(last),
            email: Some(email.clone()),
            email_addresses: vec![email, other],
            phone: Some(format!("+1 555 {i:07}")),
            title: Some("Account Executive".into()),
            company_id: Some(company),
        }),
        raw: raw.into(),
    }
}

/// A connection of a new user and project, its credential row a placeholder (the copy stores
/// only for a connection that exists).
async fn connection(db: &DatabaseConnection) -> Target {
    let tenants = Tenants::new(db.clone());
    let user = tenants.ensure_user("bench@copy.example").await.unwrap();
    let project = tenants.ensure_project("copy-bench").await.unwrap();
    integration_credentials::Entity::insert(integration_credentials::ActiveModel {
        id: Set(Uuid::new_v4()),
        created_at: Set(Utc::now()),
        updated_at: Set(Utc::now()),
        user_id: Set(user.id),
        project_id: Set(project.id),
        provider: Set("hubspot".into()),
        access_token_encrypted: Set("placeholder".into()),
        refresh_token_encrypted: Set(None),
        token_expires_at: Set(None),
        scopes: Set(json!([])),
        metadata: Set(json!({})),
        account_id: Set(None),
        version: Set(1),
    })
    .exec_without_returning(db)
    .await
    .unwrap();
    Target {
        tenant: Tenant {
            user_id: user.id,
            project_id: project.id,
        },
        provider: Provider::Hubspot,
    }
}

async fn fill(db: &DatabaseConnection, records: usize) {
    let target = connection(db).await;
    let all: Vec<Record<CrmData>> = (0..records).map(contact).collect();
    for page in all.chunks(PAGE) {
        let txn = db.begin().await.unwrap();
        copy::store(&txn, target, CrmObject::Contact, page, &[], None)
            .await
            .unwrap();
        txn.commit().await.unwrap();
    }
}

async fn number(db: &DatabaseConnection, sql: &str) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

async fn open(settings: &Settings, dir: &Path) -> DatabaseConnection {
    nexus::startup::open_database(settings, dir).await.unwrap()
}

async fn sqlite(records: usize) -> i64 {
    let dir = tempfile::TempDir::new().unwrap();
    let db = open(&Settings::default(), dir.path()).await;
    let size = async || {
        number(&db, "PRAGMA wal_checkpoint(TRUNCATE)").await;
        number(&db, "PRAGMA page_count").await * number(&db, "PRAGMA page_size").await
    };
    let before = size().await;
    fill(&db, records).await;
    size().await - before
}

const TABLES: &str = "pg_total_relation_size('copy_records') + pg_total_relation_size('copy_links') \
    + pg_total_relation_size('copy_terms') + pg_total_relation_size('copy_status')";

async fn postgres(admin_url: &str, records: usize) -> i64 {
    let admin = sea_orm::Database::connect(admin_url).await.unwrap();
    let name = format!("copy_bench_{}", Uuid::new_v4().simple());
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let mut url = url::Url::parse(admin_url).unwrap();
    url.set_path(&name);
    let mut settings = Settings::default();
    settings.database.url = Some(url.to_string().into());
    let dir = tempfile::TempDir::new().unwrap();
    let db = open(&settings, dir.path()).await;
    let size = async || number(&db, &format!("SELECT ({TABLES})::bigint")).await;
    let before = size().await;
    fill(&db, records).await;
    db.execute_unprepared("VACUUM ANALYZE").await.unwrap();
    let grown = size().await - before;
    db.close().await.unwrap();
    admin
        .execute_unprepared(&format!("DROP DATABASE {name}"))
        .await
        .unwrap();
    grown
}

fn report(backend: &str, records: usize, bytes: i64) {
    println!(
        "{backend}: {records} contacts take {bytes} bytes ({:.1} MiB; {} bytes a record; {:.1} MiB per 10,000)",
        bytes as f64 / 1_048_576.0,
        bytes / records as i64,
        bytes as f64 / records as f64 * 10_000.0 / 1_048_576.0,
    );
}

#[tokio::main]
async fn main() {
    let records = std::env::var("COPY_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    report("SQLite", records, sqlite(records).await);
    match std::env::var("NEXUS_TEST_POSTGRES_URL") {
        Ok(url) => report("PostgreSQL", records, postgres(&url, records).await),
        Err(_) => println!("PostgreSQL: skipped (set NEXUS_TEST_POSTGRES_URL)"),
    }
}
