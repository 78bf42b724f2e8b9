//! Storage and the vault on SQLite and PostgreSQL: migrations, the credential repository,
//! ciphertext formats (with Node's crypto on the other side), compare-and-swap, key rotation
//! through the CLI (killed half-way and resumed), and logs that never hold a token.

use std::{
    path::Path,
    process::{Command, Stdio},
    time::Duration,
};

use chrono::Utc;
use migration::{Migrator, MigratorTrait};
use nexus::{
    config::{Settings, WriteFormat},
    providers::Provider,
    startup::open_database,
    store::entities::{integration_credentials as row, users},
    vault::{Binding, CredentialVault, Key, KeyRing, TokenSet, Vault, VaultError},
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    Set, sea_query::Expr,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use tempfile::TempDir;
use uuid::Uuid;

use crate::helpers::{backends, eventually, require, test_settings};

async fn database(url: Option<SecretString>, dir: &Path) -> (Settings, DatabaseConnection) {
    let mut settings = test_settings();
    settings.database.url = url;
    let db = open_database(&settings, dir).await.expect("database");
    (settings, db)
}

fn vault_with(key: &str, previous: &[&str], format: WriteFormat) -> Vault {
    Vault::new(
        KeyRing::new(
            Key::parse(key).unwrap(),
            previous.iter().map(|k| Key::parse(k).unwrap()).collect(),
        ),
        format,
    )
}

fn tokens(access: &str) -> TokenSet {
    TokenSet {
        access_token: access.to_owned().into(),
        refresh_token: Some(format!("{access}-refresh").into()),
        expires_at: Some(Utc::now()),
        scopes: vec!["api".into(), "refresh_token".into()],
        metadata: json!({ "instance_url": "https://acme.my.salesforce.com" }),
    }
}

/// A database on one backend, its credential repository, and a user in a project.
struct Repo {
    db: DatabaseConnection,
    repo: CredentialVault,
    user: Uuid,
    project: Uuid,
    _dir: TempDir,
}

impl Repo {
    async fn on(url: Option<SecretString>) -> Repo {
        let dir = TempDir::new().unwrap();
        let (settings, db) = database(url, dir.path()).await;
        let (user, project) = a_user(&db).await;
        let repo =
            CredentialVault::new(db.clone(), nexus::startup::vault(&settings).await.unwrap());
        Repo {
            db,
            repo,
            user,
            project,
            _dir: dir,
        }
    }
}

async fn a_user(db: &DatabaseConnection) -> (Uuid, Uuid) {
    let tenants = nexus::auth::Tenants::new(db.clone());
    let user = tenants
        .ensure_user(&format!("{}@acme.test", Uuid::new_v4()))
        .await
        .unwrap();
    let project = tenants.ensure_project("acme").await.unwrap();
    (user.id, project.id)
}

#[tokio::test]
async fn migrations_go_up_down_and_up_again() {
    for (name, url) in backends().await {
        let dir = TempDir::new().unwrap();
        let (_, db) = database(url, dir.path()).await;
        for table in [
            "users",
            "projects",
            "api_keys",
            "integration_credentials",
            "oauth_states",
            "sync_checkpoints",
            "synced_records",
            "change_events",
            "webhook_receipts",
            "quota_usage",
        ] {
            db.execute_unprepared(&format!("SELECT COUNT(*) FROM {table}"))
                .await
                .unwrap_or_else(|e| panic!("{name}: {table}: {e}"));
        }
        Migrator::down(&db, None)
            .await
            .unwrap_or_else(|e| panic!("{name}: down: {e}"));
        assert!(
            db.execute_unprepared("SELECT COUNT(*) FROM users")
                .await
                .is_err(),
            "{name}"
        );
        Migrator::up(&db, None)
            .await
            .unwrap_or_else(|e| panic!("{name}: up again: {e}"));
        a_user(&db).await;
    }
}

#[tokio::test]
async fn one_credential_per_user_project_and_provider() {
    for (name, url) in backends().await {
        let Repo {
            db,
            repo,
            user,
            project,
            _dir,
        } = Repo::on(url).await;
        assert_eq!(
            repo.upsert(user, project, Provider::Salesforce, &tokens("a"))
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            repo.upsert(user, project, Provider::Salesforce, &tokens("b"))
                .await
                .unwrap(),
            1
        );
        assert_eq!(row::Entity::find().count(&db).await.unwrap(), 1, "{name}");

        let duplicate = row::ActiveModel {
            id: Set(Uuid::new_v4()),
            created_at: Set(Utc::now()),
            updated_at: Set(Utc::now()),
            user_id: Set(user),
            project_id: Set(project),
            provider: Set("salesforce".into()),
            access_token_encrypted: Set("x".into()),
            refresh_token_encrypted: Set(None),
            token_expires_at: Set(None),
            scopes: Set(json!([])),
            metadata: Set(json!({})),
            account_id: Set(None),
            version: Set(0),
        };
        assert!(
            row::Entity::insert(duplicate).exec(&db).await.is_err(),
            "{name}: unique constraint"
        );
    }
}

#[tokio::test]
async fn tokens_round_trip_and_a_moved_ciphertext_does_not_open() {
    for (name, url) in backends().await {
        let Repo {
            db,
            repo,
            user,
            project,
            _dir,
        } = Repo::on(url).await;
        repo.upsert(user, project, Provider::Hubspot, &tokens("hub-access"))
            .await
            .unwrap();
        repo.upsert(user, project, Provider::Slack, &tokens("slack-access"))
            .await
            .unwrap();

        let read = repo
            .read(user, project, Provider::Hubspot)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            read.tokens.access_token.expose_secret(),
            "hub-access",
            "{name}"
        );
        assert_eq!(
            read.tokens.refresh_token.unwrap().expose_secret(),
            "hub-access-refresh"
        );
        assert_eq!(read.tokens.scopes, ["api", "refresh_token"]);
        assert_eq!(
            read.tokens.metadata["instance_url"],
            "https://acme.my.salesforce.com"
        );

        let stored = row::Entity::find()
            .filter(row::Column::Provider.eq("hubspot"))
            .one(&db)
            .await
            .unwrap()
            .unwrap();
        assert!(stored.access_token_encrypted.starts_with("v2:"), "{name}");
        assert!(!stored.access_token_encrypted.contains("hub-access"));

        row::Entity::update_many()
            .col_expr(
                row::Column::AccessTokenEncrypted,
                Expr::value(stored.access_token_encrypted),
            )
            .filter(row::Column::Provider.eq("slack"))
            .exec(&db)
            .await
            .unwrap();
        let moved = repo.read(user, project, Provider::Slack).await;
        assert!(
            matches!(moved, Err(VaultError::Crypto)),
            "{name}: {moved:?}"
        );
        let states = repo.connections(user, project).await.unwrap();
        let slack = states
            .iter()
            .find(|s| s.provider == Provider::Slack)
            .unwrap();
        assert!(slack.reauth_required);
        assert_eq!(
            row::Entity::find().count(&db).await.unwrap(),
            2,
            "{name}: nothing deleted"
        );
    }
}

#[tokio::test]
async fn of_two_concurrent_refreshes_exactly_one_wins() {
    for (name, url) in backends().await {
        let Repo {
            db: _,
            repo,
            user,
            project,
            _dir,
        } = Repo::on(url).await;
        let version = repo
            .upsert(user, project, Provider::Gmail, &tokens("v0"))
            .await
            .unwrap();
        let (from_a, from_b) = (tokens("from-a"), tokens("from-b"));
        let (a, b) = tokio::join!(
            repo.update_tokens(user, project, Provider::Gmail, version, &from_a),
            repo.update_tokens(user, project, Provider::Gmail, version, &from_b),
        );
        let winner = match (&a, &b) {
            (Ok(_), Err(VaultError::Conflict { .. })) => "from-a",
            (Err(VaultError::Conflict { .. }), Ok(_)) => "from-b",
            other => panic!("{name}: expected one win and one conflict, got {other:?}"),
        };
        let stored = repo
            .read(user, project, Provider::Gmail)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.tokens.access_token.expose_secret(), winner, "{name}");
        assert_eq!(stored.version, version + 1);
        let stale = repo
            .update_tokens(user, project, Provider::Gmail, version, &tokens("late"))
            .await;
        assert!(matches!(stale, Err(VaultError::Conflict { .. })), "{name}");
    }
}

/// The spec's TypeScript functions, as plain JavaScript on Node's crypto.
const SPEC_JS: &str = r#"
const { createCipheriv, createDecipheriv, randomBytes } = require('crypto');
const [mode, key, ...values] = process.argv.slice(1);
function encryptToken(token) {
  const iv = randomBytes(16);
  const cipher = createCipheriv('aes-256-gcm', Buffer.from(key, 'hex'), iv);
  let encrypted = cipher.update(token, 'utf8', 'hex');
  encrypted += cipher.final('hex');
  return `${iv.toString('hex')}:${cipher.getAuthTag().toString('hex')}:${encrypted}`;
}
function decryptToken(encryptedToken) {
  const [ivHex, authTagHex, encrypted] = encryptedToken.split(':');
  const decipher = createDecipheriv('aes-256-gcm', Buffer.from(key, 'hex'), Buffer.from(ivHex, 'hex'));
  decipher.setAuthTag(Buffer.from(authTagHex, 'hex'));
  return decipher.update(encrypted, 'hex', 'utf8') + decipher.final('utf8');
}
console.log(JSON.stringify(values.map(mode === 'encrypt' ? encryptToken : decryptToken)));
"#;

/// The account a connection's metadata names, as stored in its indexed column.
async fn account_of(db: &DatabaseConnection, provider: Provider) -> Option<String> {
    row::Entity::find()
        .filter(row::Column::Provider.eq(provider.slug()))
        .one(db)
        .await
        .unwrap()
        .unwrap()
        .account_id
}

#[tokio::test]
async fn a_connections_account_follows_its_metadata_on_every_write() {
    for (name, url) in backends().await {
        let Repo {
            db,
            repo,
            user,
            project,
            _dir,
        } = Repo::on(url).await;
        let mut hub = tokens("hub-access");
        hub.metadata = json!({ "hub_id": 62515001 });
        repo.upsert(user, project, Provider::Hubspot, &hub)
            .await
            .unwrap();
        assert_eq!(
            account_of(&db, Provider::Hubspot).await.as_deref(),
            Some("62515001"),
            "{name}"
        );
        hub.metadata = json!({ "hub_id": "62515002" });
        repo.upsert(user, project, Provider::Hubspot, &hub)
            .await
            .unwrap();
        assert_eq!(
            account_of(&db, Provider::Hubspot).await.as_deref(),
            Some("62515002"),
            "{name}: connecting again"
        );
        let version = repo
            .read(user, project, Provider::Hubspot)
            .await
            .unwrap()
            .unwrap()
            .version;
        hub.metadata = json!({});
        repo.update_tokens(user, project, Provider::Hubspot, version, &hub)
            .await
            .unwrap();
        assert_eq!(
            account_of(&db, Provider::Hubspot).await,
            None,
            "{name}: a refresh"
        );
        let mut sf = tokens("sf-access");
        sf.metadata = json!({ "id": "https://login.salesforce.com/id/00D5e0000000001AAA/005x" });
        repo.upsert(user, project, Provider::Salesforce, &sf)
            .await
            .unwrap();
        repo.set_metadata(user, project, Provider::Salesforce, "k", json!("v"))
            .await
            .unwrap();
        assert_eq!(
            account_of(&db, Provider::Salesforce).await.as_deref(),
            Some("00D5e0000000001AAA"),
            "{name}: the org of the identity URL"
        );
    }
}

fn node(mode: &str, key: &str, values: &[String]) -> Vec<String> {
    let out = Command::new("node")
        .args(["-e", SPEC_JS, mode, key])
        .args(values)
        .output()
        .expect("node");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn node_and_the_vault_read_each_others_format_1() {
    if !require(Command::new("node").arg("-v").output().is_ok(), "node") {
        return;
    }
    let key = Key::generate_hex();
    let key = key.expose_secret();
    let plaintexts: Vec<String> = vec![
        "ya29.a0AfH6SM-token".into(),
        "{\"json\":\"héllo ✓ 日本\"}".into(),
        "x".repeat(64),
        String::new(),
    ];
    let vault = vault_with(key, &[], WriteFormat::V1);
    let row = Binding {
        user_id: Uuid::new_v4(),
        project_id: Uuid::new_v4(),
        provider: "gmail",
    };
    for (plain, sealed) in plaintexts.iter().zip(node("encrypt", key, &plaintexts)) {
        assert_eq!(vault.open(&row, &sealed).unwrap().expose_secret(), plain);
    }
    let ours: Vec<String> = plaintexts
        .iter()
        .map(|p| vault.seal(&row, &p.clone().into()))
        .collect();
    assert_eq!(node("decrypt", key, &ours), plaintexts);
}

/// Seeds `n` credential rows (n/8 users × 8 providers), half in format 1, half in format 2,
/// all sealed with `key`; the access token of row i is `token-<user>-<provider>`.
async fn seed_rows(db: &DatabaseConnection, key: &str, n: usize) -> Uuid {
    let project = nexus::auth::Tenants::new(db.clone())
        .ensure_project("rotation")
        .await
        .unwrap();
    let v1 = vault_with(key, &[], WriteFormat::V1);
    let v2 = vault_with(key, &[], WriteFormat::V2);
    let users: Vec<users::ActiveModel> = (0..n / 8)
        .map(|i| users::ActiveModel {
            id: Set(Uuid::new_v4()),
            email: Set(format!("user{i}@rotation.test")),
            created_at: Set(Utc::now()),
        })
        .collect();
    let ids: Vec<Uuid> = users.iter().map(|u| *u.id.as_ref()).collect();
    for chunk in users.chunks(500) {
        users::Entity::insert_many(chunk.to_vec())
            .exec(db)
            .await
            .unwrap();
    }
    let mut rows = Vec::with_capacity(n);
    for (i, user) in ids.iter().enumerate() {
        for provider in Provider::ALL {
            let b = Binding {
                user_id: *user,
                project_id: project.id,
                provider: provider.slug(),
            };
            let vault = if (i + rows.len()) % 2 == 0 { &v1 } else { &v2 };
            let token: SecretString = format!("token-{user}-{provider}").into();
            rows.push(row::ActiveModel {
                id: Set(Uuid::new_v4()),
                created_at: Set(Utc::now()),
                updated_at: Set(Utc::now()),
                user_id: Set(*user),
                project_id: Set(project.id),
                provider: Set(provider.slug().into()),
                access_token_encrypted: Set(vault.seal(&b, &token)),
                refresh_token_encrypted: Set(None),
                token_expires_at: Set(None),
                scopes: Set(json!([])),
                metadata: Set(json!({})),
                account_id: Set(None),
                version: Set(0),
            });
        }
    }
    for chunk in rows.chunks(500) {
        row::Entity::insert_many(chunk.to_vec())
            .exec(db)
            .await
            .unwrap();
    }
    project.id
}

async fn rotated(db: &DatabaseConnection, key: &str) -> u64 {
    let prefix = format!("v2:{}:%", Key::parse(key).unwrap().id());
    row::Entity::find()
        .filter(row::Column::AccessTokenEncrypted.like(prefix))
        .count(db)
        .await
        .unwrap()
}

#[tokio::test]
async fn rotation_killed_half_way_resumes_and_leaves_every_row_readable() {
    let _heavy = crate::helpers::heavy().await;
    const ROWS: usize = 10_000;
    for (name, url) in backends().await {
        let dir = TempDir::new().unwrap();
        let (settings, db) = database(url, dir.path()).await;
        let old = Key::generate_hex();
        let new = Key::generate_hex();
        let project = seed_rows(&db, old.expose_secret(), ROWS).await;
        let config = dir.path().join("nexus.toml");
        std::fs::write(
            &config,
            format!("[vault]\nprevious_keys = [\"{}\"]\n", old.expose_secret()),
        )
        .unwrap();
        let db_url = nexus::store::database_url(settings.database.url.as_ref(), dir.path());
        let rotate = |pause: &str| {
            let mut command = Command::new(env!("CARGO_BIN_EXE_nexus"));
            command
                .arg("--config")
                .arg(&config)
                .args([
                    "keys",
                    "rotate-encryption",
                    "--batch-size",
                    "200",
                    "--pause-ms",
                    pause,
                ])
                .env("DATABASE_URL", db_url.expose_secret())
                .env("INTEGRATION_TOKEN_ENCRYPTION_KEY", new.expose_secret())
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            command
        };

        // First pass: throttled, and killed once a good part is done.
        let mut child = rotate("25").spawn().unwrap();
        let (user, provider) = eventually(
            &format!("{name}: a third of the rows rotated"),
            Duration::from_secs(120),
            async || {
                let done = rotated(&db, new.expose_secret()).await;
                if done >= (ROWS / 3) as u64 {
                    // Meanwhile the gateway refreshes a token (sealed with the new key, as it would).
                    let some = row::Entity::find().one(&db).await.unwrap().unwrap();
                    return Some((some.user_id, some.provider));
                }
                assert!(
                    child.try_wait().unwrap().is_none(),
                    "{name}: the first pass ended before it was killed"
                );
                None
            },
        )
        .await;
        let gateway = CredentialVault::new(
            db.clone(),
            vault_with(new.expose_secret(), &[old.expose_secret()], WriteFormat::V2),
        );
        let provider: Provider = provider.parse().unwrap();
        // A refresher that loses a race to the rotation reads again and retries, as the gateway's does.
        let mut attempts = 0;
        loop {
            let current = gateway
                .read(user, project, provider)
                .await
                .unwrap()
                .unwrap();
            match gateway
                .update_tokens(
                    user,
                    project,
                    provider,
                    current.version,
                    &tokens("refreshed-meanwhile"),
                )
                .await
            {
                Ok(_) => break,
                Err(VaultError::Conflict { .. }) if attempts < 5 => attempts += 1,
                Err(e) => panic!("{name}: {e}"),
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let half = rotated(&db, new.expose_secret()).await;
        assert!(
            half > 0 && half < ROWS as u64,
            "{name}: {half} rows rotated when killed"
        );

        // Second pass: resumes and finishes.
        let out = rotate("0").output().unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            rotated(&db, new.expose_secret()).await,
            ROWS as u64,
            "{name}"
        );

        // Every row opens under the new key alone.
        let only_new = vault_with(new.expose_secret(), &[], WriteFormat::V2);
        for r in row::Entity::find().all(&db).await.unwrap() {
            let b = Binding {
                user_id: r.user_id,
                project_id: r.project_id,
                provider: &r.provider,
            };
            let opened = only_new.open(&b, &r.access_token_encrypted).unwrap();
            let expected = if r.user_id == user && r.provider == provider.slug() {
                "refreshed-meanwhile".to_owned()
            } else {
                format!("token-{}-{}", r.user_id, r.provider)
            };
            assert_eq!(opened.expose_secret(), expected, "{name}");
        }
    }
}

#[test]
fn vault_logs_never_hold_a_token() {
    let captured = crate::helpers::captured_logs();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let secrets = [
        "ACCESS-SECRET-1",
        "REFRESH-SECRET-1",
        "ACCESS-SECRET-2",
        "ACCESS-SECRET-3",
    ];
    runtime.block_on(async {
        let dir = TempDir::new().unwrap();
        let (_, db) = database(None, dir.path()).await;
        let (user, project) = a_user(&db).await;
        let old = Key::generate_hex();
        let new = Key::generate_hex();
        let before = CredentialVault::new(
            db.clone(),
            vault_with(old.expose_secret(), &[], WriteFormat::V2),
        );
        let set = TokenSet {
            refresh_token: Some(secrets[1].to_owned().into()),
            ..tokens(secrets[0])
        };
        let v = before
            .upsert(user, project, Provider::Salesforce, &set)
            .await
            .unwrap();
        before
            .read(user, project, Provider::Salesforce)
            .await
            .unwrap();
        before
            .update_tokens(user, project, Provider::Salesforce, v, &tokens(secrets[2]))
            .await
            .unwrap();
        assert!(
            before
                .update_tokens(user, project, Provider::Salesforce, v, &tokens(secrets[3]))
                .await
                .is_err()
        );
        before
            .upsert(user, project, Provider::Hubspot, &tokens(secrets[3]))
            .await
            .unwrap();

        let after = CredentialVault::new(
            db.clone(),
            vault_with(new.expose_secret(), &[old.expose_secret()], WriteFormat::V2),
        );
        after.rotate(1, Duration::ZERO, |_| {}).await.unwrap();
        // Failure paths: the old key alone no longer opens anything; tampered values.
        assert!(
            before
                .read(user, project, Provider::Salesforce)
                .await
                .is_err()
        );
        before.connections(user, project).await.unwrap();
        row::Entity::update_many()
            .col_expr(
                row::Column::AccessTokenEncrypted,
                Expr::value("v2:zz:00:00:00"),
            )
            .filter(row::Column::Provider.eq("hubspot"))
            .exec(&db)
            .await
            .unwrap();
        assert!(after.read(user, project, Provider::Hubspot).await.is_err());
        let stranger = CredentialVault::new(
            db.clone(),
            vault_with(&"cd".repeat(32), &[], WriteFormat::V2),
        );
        assert_eq!(
            stranger
                .rotate(10, Duration::ZERO, |_| {})
                .await
                .unwrap()
                .unreadable,
            2
        );
    });
    let logs = captured.text();
    assert!(
        logs.contains("does not open"),
        "the capture saw no failure: {logs}"
    );
    assert!(
        logs.contains("sealing a token") && logs.contains("rotation pass finished"),
        "{logs}"
    );
    for secret in secrets {
        assert!(!logs.contains(secret), "{secret} appears in the logs");
    }
}

#[test]
fn serve_refuses_to_start_without_a_valid_key() {
    let dir = TempDir::new().unwrap();
    let serve = |key: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_nexus"));
        command
            .arg("--data-dir")
            .arg(dir.path())
            .args(["serve"])
            .env_remove("DATABASE_URL")
            .env_remove("INTEGRATION_TOKEN_ENCRYPTION_KEY")
            .env("NEXUS_SERVER__PORT", "0");
        if let Some(key) = key {
            command.env("INTEGRATION_TOKEN_ENCRYPTION_KEY", key);
        }
        command.output().unwrap()
    };
    let missing = serve(None);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("INTEGRATION_TOKEN_ENCRYPTION_KEY"));
    for (bad, why) in [("0123abcd", "64 hex"), (&*"zq".repeat(32), "hex")] {
        let out = serve(Some(bad));
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(why), "{stderr}");
        assert!(!stderr.contains(bad), "the key was echoed: {stderr}");
    }
}

#[tokio::test]
async fn the_v1_setting_writes_the_specs_format_and_sqlite_runs_with_its_pragmas() {
    let dir = TempDir::new().unwrap();
    let mut settings = test_settings();
    settings.vault.write_format = WriteFormat::V1;
    let db = open_database(&settings, dir.path()).await.unwrap();
    let (user, project) = a_user(&db).await;
    let repo = CredentialVault::new(db.clone(), nexus::startup::vault(&settings).await.unwrap());
    repo.upsert(user, project, Provider::Slack, &tokens("xoxb-v1"))
        .await
        .unwrap();
    let stored = row::Entity::find().one(&db).await.unwrap().unwrap();
    assert_eq!(
        stored.access_token_encrypted.split(':').count(),
        3,
        "hex(iv):hex(tag):hex(ct)"
    );
    assert_eq!(
        stored
            .access_token_encrypted
            .split(':')
            .next()
            .unwrap()
            .len(),
        32,
        "a 16-byte IV"
    );
    let read = repo
        .read(user, project, Provider::Slack)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.tokens.access_token.expose_secret(), "xoxb-v1");

    for (pragma, expected) in [
        ("journal_mode", "wal"),
        ("foreign_keys", "1"),
        ("busy_timeout", "5000"),
    ] {
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DatabaseBackend::Sqlite,
                format!("PRAGMA {pragma}"),
            ))
            .await
            .unwrap()
            .unwrap();
        let value: String = row
            .try_get_by_index::<String>(0)
            .or_else(|_| row.try_get_by_index::<i64>(0).map(|n| n.to_string()))
            .unwrap();
        assert_eq!(value, expected, "PRAGMA {pragma}");
    }
}
