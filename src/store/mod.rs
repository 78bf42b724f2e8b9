//! Persistence: the database connection and the sea-orm entities.
//!
//! SQLite is the embedded default (WAL, busy timeout, foreign keys on); a `postgres://` URL
//! switches to PostgreSQL. The schema itself lives in the `migrations` crate.

pub mod entities;

use std::{num::NonZeroU32, path::Path, time::Duration};

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr};
use secrecy::{ExposeSecret, SecretString};

/// The file name of the embedded database inside a data folder.
const SQLITE_FILE: &str = "nexus.db";

/// Where the database is: an explicit URL, or SQLite inside a data folder.
pub fn database_url(url: Option<&SecretString>, data_dir: &Path) -> SecretString {
    match url {
        Some(url) => url.clone(),
        None => format!("sqlite://{}?mode=rwc", data_dir.join(SQLITE_FILE).display()).into(),
    }
}

/// The pool's size when `database.max_connections` is unset: SQLite has one writer at a time,
/// so more connections only wait for its lock.
const POSTGRES_POOL: u32 = 16;
const SQLITE_POOL: u32 = 8;

/// Opens a pool of at most `max_connections` (else the default for the database) and applies
/// the SQLite pragmas the gateway relies on.
pub async fn connect(
    url: &SecretString,
    max_connections: Option<NonZeroU32>,
) -> Result<DatabaseConnection, DbErr> {
    let raw = url.expose_secret();
    let sqlite = raw.starts_with("sqlite:");
    let pool = max_connections.map_or(
        if sqlite { SQLITE_POOL } else { POSTGRES_POOL },
        NonZeroU32::get,
    );
    let mut options = ConnectOptions::new(raw.to_owned());
    options
        .sqlx_logging(false)
        .connect_timeout(Duration::from_secs(10))
        .max_connections(pool);
    if sqlite {
        // Pragmas per connection: sqlx's SQLite options are not reachable through sea-orm's URL,
        // so every pooled connection runs them after connecting.
        options.map_sqlx_sqlite_opts(|opts| {
            opts.journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(5))
                .foreign_keys(true)
                .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
        });
    }
    Database::connect(options)
        .await
        .map_err(|e| without_url(e, raw))
}

/// A connection error without the URL or its password: sea-orm quotes the whole URL when it
/// cannot parse it or has no driver for its scheme.
fn without_url(err: DbErr, url: &str) -> DbErr {
    let mut message = err.to_string();
    if !message.contains(url) && !password_of(url).is_some_and(|p| message.contains(&p)) {
        return err;
    }
    message = message.replace(url, "`database.url`");
    if let Some(password) = password_of(url) {
        message = message.replace(&password, "***");
    }
    DbErr::Custom(message)
}

fn password_of(url: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()?
        .password()
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
}

/// Brings the schema up to date.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

/// Whether the database answers; used by `/readyz`.
pub async fn ping(db: &DatabaseConnection) -> bool {
    db.execute_unprepared("SELECT 1").await.is_ok()
}
