//! The deployment files are true to the gateway: `deploy/nexus.example.toml` loads with the
//! real settings loader (which refuses unknown keys), its commented-out settings too; its
//! provider endpoints are the catalog's; every setting docs/configuration.md lists is in it; and `deploy/nexus.service` passes
//! `systemd-analyze verify` without a warning, where systemd is installed.

use std::{path::Path, process::Command};

use nexus::{
    changes::webhooks::google::GOOGLE_CERTS,
    config::{LogFormat, Settings},
    providers::{AuthKind, Cataloged, Provider},
};

use crate::helpers::{require, root};

fn example() -> String {
    std::fs::read_to_string(root().join("deploy/nexus.example.toml")).unwrap()
}

/// The file with its commented-out settings (`#key = …`, `#[table]`) switched on; explanations
/// (`# …`) stay comments.
fn uncommented(text: &str) -> String {
    text.lines()
        .map(|line| match line.strip_prefix('#') {
            Some(rest) if !rest.is_empty() && !rest.starts_with([' ', '#']) => rest,
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn load(text: &str) -> Settings {
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("nexus.toml");
    std::fs::write(&path, text).unwrap();
    Settings::load(Some(&path)).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn the_example_config_loads_with_every_key_known() {
    let settings = load(&example());
    assert_eq!(
        settings.oauth.public_url.as_deref(),
        Some("https://api.example.com")
    );
    assert_eq!(settings.log.format, Some(LogFormat::Json));
    assert!(settings.server.metrics_addr.is_some(), "/metrics apart");
    assert!(!settings.server.cors.allowed_origins.is_empty());
    assert!(!settings.playground.enabled && !settings.graphql.introspection);

    let text = example();
    let all = uncommented(&text);
    assert_ne!(all, text, "the example has commented-out settings");
    let settings = load(&all);
    assert!(settings.auth.jwt.is_some() && settings.vault.aws_secret_id.is_some());
    for (slug, provider) in &settings.providers {
        let parsed: Provider = slug.parse().unwrap_or_else(|e| panic!("{slug}: {e}"));
        nexus::limits::validate(parsed, provider).unwrap_or_else(|e| panic!("{slug}: {e}"));
    }
}

/// Every setting docs/configuration.md's tables list (those without a `<placeholder>`) is in the
/// example, set or commented out, under its own table: a setting added without a line there fails.
#[test]
fn the_example_config_lists_every_documented_setting() {
    let docs = std::fs::read_to_string(root().join("docs/configuration.md")).unwrap();
    let example = uncommented(&example());
    let mut table = String::new();
    let mut present = std::collections::BTreeSet::new();
    for line in example.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            table = name.to_string();
        } else if let Some((key, _)) = line.split_once('=') {
            present.insert(format!("{table}.{}", key.trim()));
        }
    }
    let missing: Vec<&str> = docs
        .lines()
        .filter_map(|line| {
            line.strip_prefix("| `")?
                .split_once('`')
                .map(|(key, _)| key)
        })
        .filter(|key| key.contains('.') && !key.contains('<') && !key.starts_with("nexus "))
        .filter(|key| !present.contains(*key))
        .collect();
    assert!(
        missing.is_empty(),
        "not in deploy/nexus.example.toml: {missing:?}"
    );
}

#[test]
fn the_example_config_names_every_providers_real_endpoints() {
    let settings = load(&example());
    for provider in Provider::ALL {
        let entry = provider.entry();
        let given = settings
            .providers
            .get(provider.slug())
            .unwrap_or_else(|| panic!("[providers.{}] is in the example", provider.slug()));
        if entry.auth == AuthKind::WebhookSecret {
            continue;
        }
        let oauth = entry.oauth.as_ref().expect("an OAuth provider");
        let slug = provider.slug();
        assert_eq!(
            given.authorize_url.as_deref(),
            Some(oauth.authorize_url.as_str()),
            "{slug}"
        );
        assert_eq!(
            given.token_url.as_deref(),
            Some(oauth.token_url.as_str()),
            "{slug}"
        );
        assert_eq!(given.base_url, entry.base_url, "{slug}");
        assert_eq!(
            given.revoke_url.as_deref(),
            oauth.revoke.as_ref().map(|r| r.url.as_str()),
            "{slug}"
        );
    }
    assert_eq!(
        settings.providers["gmail"].certs_url.as_deref(),
        Some(GOOGLE_CERTS)
    );
}

#[test]
fn the_systemd_unit_verifies() {
    let unit = std::fs::read_to_string(root().join("deploy/nexus.service")).unwrap();
    for hardening in [
        "DynamicUser=yes",
        "StateDirectory=nexus",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "LoadCredential=encryption-key:",
    ] {
        assert!(unit.contains(hardening), "{hardening}");
    }
    let analyze = Path::new("/usr/bin/systemd-analyze");
    if !require(analyze.exists(), "systemd-analyze (systemd)") {
        return;
    }
    // Verified as installed, but running the binary this build made.
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("nexus.service");
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/nexus", env!("CARGO_BIN_EXE_nexus")),
    )
    .unwrap();
    let out = Command::new(analyze)
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.trim().is_empty(), "warnings: {stderr}");
}
