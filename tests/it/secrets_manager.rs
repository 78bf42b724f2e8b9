//! The encryption key from AWS Secrets Manager, against moto's server mode on loopback
//! (PyPI `moto[server]`; skipped without it unless `NEXUS_TEST_STRICT=1`).

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
};

use nexus::{providers::Provider, vault::Key};
use secrecy::ExposeSecret;
use serde_json::json;
use tempfile::TempDir;

use crate::helpers::{json_of, require, test_settings, wait_until_up};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A moto server, stopped on drop.
struct Moto(Child, String);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn start_moto() -> Option<Moto> {
    let present = Command::new("python3")
        .args(["-c", "import moto.server, flask"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !require(present, "moto[server] (pip install 'moto[server]')") {
        return None;
    }
    let port = free_port();
    let mut child = Command::new("python3")
        .args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    wait_until_up(&url, &mut child, "moto").await;
    Some(Moto(child, url))
}

/// Calls a Secrets Manager action on moto (which checks no signature).
async fn secrets_manager(moto: &Moto, action: &str, body: serde_json::Value) {
    let response = reqwest::Client::new()
        .post(&moto.1)
        .header("X-Amz-Target", format!("secretsmanager.{action}"))
        .header("Content-Type", "application/x-amz-json-1.1")
        .header(
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=testing/20261126/us-east-1/secretsmanager/aws4_request, \
             SignedHeaders=host, Signature=0",
        )
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{action}: {}",
        response.text().await.unwrap()
    );
}

#[tokio::test]
async fn serve_takes_its_key_from_secrets_manager() {
    let Some(moto) = start_moto().await else {
        return;
    };
    let key = Key::generate_hex();
    secrets_manager(
        &moto,
        "CreateSecret",
        json!({ "Name": "nexus/token-key", "SecretString": json!({ "INTEGRATION_TOKEN_ENCRYPTION_KEY": key.expose_secret() }).to_string() }),
    )
    .await;

    // A credential sealed with that key, and an API key, in the data folder serve will use.
    let dir = TempDir::new().unwrap();
    let mut settings = test_settings();
    settings.vault.key = Some(key.clone());
    let db = nexus::startup::open_database(&settings, dir.path())
        .await
        .unwrap();
    let tenants = nexus::auth::Tenants::new(db.clone());
    let api_key = nexus::auth::create_api_key(&tenants, "acme", "ada@acme.test")
        .await
        .unwrap();
    let user = tenants.ensure_user("ada@acme.test").await.unwrap();
    let project = tenants.ensure_project("acme").await.unwrap();
    let vault = nexus::startup::vault(&settings).await.unwrap();
    nexus::vault::CredentialVault::new(db.clone(), vault)
        .upsert(
            user.id,
            project.id,
            Provider::Slack,
            &nexus::vault::TokenSet {
                access_token: "xoxb-sealed-with-the-aws-key".to_owned().into(),
                refresh_token: None,
                expires_at: None,
                scopes: vec!["chat:write".into()],
                metadata: json!({}),
            },
        )
        .await
        .unwrap();
    db.close().await.unwrap();

    let serve = |secret_id: &str, port: u16| {
        let config = dir.path().join(format!("{port}.toml"));
        std::fs::write(
            &config,
            format!(
                "[server]\nport = {port}\n[vault]\naws_secret_id = \"{secret_id}\"\naws_endpoint_url = \"{}\"\naws_region = \"us-east-1\"\n",
                moto.1
            ),
        )
        .unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_nexus"));
        command
            .arg("--data-dir")
            .arg(dir.path())
            .arg("--config")
            .arg(config)
            .arg("serve")
            .env_remove("DATABASE_URL")
            .env_remove("INTEGRATION_TOKEN_ENCRYPTION_KEY")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        command
    };

    let port = free_port();
    let mut child = serve("nexus/token-key", port).spawn().unwrap();
    let origin = format!("http://127.0.0.1:{port}");
    wait_until_up(&format!("{origin}/healthz"), &mut child, "serve").await;
    let response = reqwest::Client::new()
        .post(format!("{origin}/graphql"))
        .bearer_auth(&api_key)
        .json(&json!({ "query": "{ viewer { connections { provider status } } }" }))
        .send()
        .await
        .unwrap();
    let (_, body) = json_of(response).await;
    let slack = &body["data"]["viewer"]["connections"][4];
    assert_eq!(slack["provider"], "SLACK");
    assert_eq!(
        slack["status"], "CONNECTED",
        "the key from Secrets Manager did not open it: {body}"
    );
    let _ = child.kill();
    let _ = child.wait();

    let missing = serve("nexus/no-such-secret", free_port()).output().unwrap();
    assert!(!missing.status.success());
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.contains("AWS Secrets Manager"), "{stderr}");
    assert!(!stderr.contains(key.expose_secret()));
}
