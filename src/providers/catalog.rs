//! `catalog.toml`, parsed once: which providers exist, what they feed and how they connect.

use std::{collections::BTreeMap, sync::OnceLock};

pub use nexus_core::{Capability, Provider};
use serde::Deserialize;

/// The catalog's facts about a provider, asked of the provider itself.
pub trait Cataloged {
    /// This provider's catalog entry.
    fn entry(self) -> &'static CatalogEntry;

    /// Whether this provider feeds a unified list.
    fn feeds(self, capability: Capability) -> bool;
}

impl Cataloged for Provider {
    fn entry(self) -> &'static CatalogEntry {
        &Catalog::get().entries[&self]
    }

    fn feeds(self, capability: Capability) -> bool {
        self.entry().capabilities.contains(&capability)
    }
}

/// How a project connects a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthKind {
    Oauth2,
    WebhookSecret,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogEntry {
    pub name: String,
    pub auth: AuthKind,
    pub capabilities: Vec<Capability>,
    /// The API's origin (Salesforce's is the login host; the session names its instance).
    pub base_url: Option<String>,
    /// The connection metadata field that names the API's host for that connection
    /// (Salesforce's `instance_url`); it wins over `base_url`.
    #[serde(default)]
    pub base_url_metadata: Option<String>,
    /// Where a connection's metadata names the provider account its webhooks name.
    #[serde(default)]
    pub account: Option<AccountEntry>,
    pub oauth: Option<OauthEntry>,
    /// Where the built-in sandbox answers for the provider, below its origin.
    pub sandbox: Option<SandboxEntry>,
    /// The provider's rate classes, by name.
    #[serde(default)]
    pub limits: BTreeMap<String, RateClassEntry>,
    /// The adapter's ops that no rate class counts, on purpose (the provider does not limit
    /// them, or limits them elsewhere); every other op is counted by a class.
    #[serde(default)]
    pub uncounted: Vec<String>,
    /// How often incremental sync polls the provider's records, where it does.
    #[serde(default)]
    pub sync_interval_secs: Option<u64>,
    /// What the provider's adapter keeps across requests, by cache name (`upstream::Cache`).
    #[serde(default)]
    pub caches: BTreeMap<String, CacheEntry>,
    /// How reads of the provider's records choose their source (`[x.reads]`).
    #[serde(default)]
    pub reads: ReadsEntry,
}

/// How fresh a read of a provider's records must be when the request says nothing.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadsEntry {
    /// The oldest a synced copy or a cached page may be for a read that gives no `maxAge`.
    pub max_age_secs: u64,
    /// How many days of mail or chat messages the synced copy holds.
    #[serde(default = "window_days")]
    pub window_days: u64,
    /// How many days back the synced copy of a calendar reaches...
    #[serde(default = "window_past_days")]
    pub window_past_days: u64,
    /// ...and how many days ahead.
    #[serde(default = "window_future_days")]
    pub window_future_days: u64,
}

fn window_days() -> u64 {
    90
}

fn window_past_days() -> u64 {
    30
}

fn window_future_days() -> u64 {
    365
}

impl Default for ReadsEntry {
    /// A provider without the table: five minutes, the spec's cache lifetime; 90 days of mail
    /// and messages, events from 30 days back to 365 ahead.
    fn default() -> Self {
        Self {
            max_age_secs: 300,
            window_days: window_days(),
            window_past_days: window_past_days(),
            window_future_days: window_future_days(),
        }
    }
}

/// How one of a provider's caches keeps its entries.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheEntry {
    /// How long an entry lives from when it was stored.
    pub ttl_secs: u64,
    /// Entries kept at most, across tenants.
    pub max_entries: u64,
}

/// Where a provider's rate classes and its adapter's ops disagree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpsMismatch {
    #[error("[{provider}.limits] {class} names op `{op}`, which no {provider} adapter call has")]
    UnknownInClass {
        provider: Provider,
        class: String,
        op: String,
    },
    #[error(
        "{provider}'s adapter calls op `{op}`, which no rate class counts (list it in \
         `uncounted` if the provider does not limit it)"
    )]
    Uncounted { provider: Provider, op: String },
    #[error("{provider}.uncounted names op `{op}`, which no {provider} adapter call has")]
    UnknownUncounted { provider: Provider, op: String },
    #[error("{provider}.uncounted names op `{op}`, which [{provider}.limits] {class} counts")]
    CountedUncounted {
        provider: Provider,
        class: String,
        op: String,
    },
}

impl CatalogEntry {
    /// Checks this entry's rate classes against `ops`, the ops of the provider's adapter calls:
    /// every op a class names (in `ops` or `weights`) is one of them, and each of them is
    /// counted by a class (one without `ops` counts every call) or listed in `uncounted`, never
    /// both.
    fn check_ops(&self, provider: Provider, ops: &[&str]) -> Result<(), OpsMismatch> {
        for (class, entry) in &self.limits {
            let mut named = entry.ops.iter().flatten().chain(entry.weights.keys());
            if let Some(op) = named.find(|op| !ops.contains(&op.as_str())) {
                return Err(OpsMismatch::UnknownInClass {
                    provider,
                    class: class.clone(),
                    op: op.clone(),
                });
            }
        }
        let counting = |op: &str| {
            self.limits
                .iter()
                .find(|(_, c)| c.ops.as_ref().is_none_or(|ops| ops.iter().any(|o| o == op)))
                .map(|(name, _)| name)
        };
        for op in &self.uncounted {
            if !ops.contains(&op.as_str()) {
                return Err(OpsMismatch::UnknownUncounted {
                    provider,
                    op: op.clone(),
                });
            }
            if let Some(class) = counting(op) {
                return Err(OpsMismatch::CountedUncounted {
                    provider,
                    class: class.clone(),
                    op: op.clone(),
                });
            }
        }
        match ops
            .iter()
            .find(|op| counting(op).is_none() && !self.uncounted.iter().any(|u| u == *op))
        {
            Some(op) => Err(OpsMismatch::Uncounted {
                provider,
                op: (*op).to_owned(),
            }),
            None => Ok(()),
        }
    }
}

/// How a provider counts a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RateKind {
    /// Calls in any window of `window_ms` (HubSpot's secondly limit, Gmail's units per second).
    Rolling,
    /// A steady rate with a small burst, never more than `capacity` in a window.
    Gcra,
    /// At most `capacity` a UTC day, counted in the database (survives restarts).
    Daily,
    /// At most `capacity` calls in flight at once (Outlook's 4 per mailbox).
    Concurrent,
}

/// One limit of a provider: at most `capacity` (weighted) calls per `window_ms`, per connection.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateClassEntry {
    pub kind: RateKind,
    /// The window (`daily` and `concurrent` classes have none).
    #[serde(default)]
    pub window_ms: u64,
    pub capacity: u32,
    /// The adapter calls (op names) it counts; every call when absent.
    #[serde(default)]
    pub ops: Option<Vec<String>>,
    /// What a call costs when not 1 (quota units).
    #[serde(default)]
    pub weights: BTreeMap<String, u32>,
}

/// A provider's OAuth 2.0 facts, from the spec.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OauthEntry {
    pub authorize_url: String,
    pub token_url: String,
    /// The spec's scopes.
    pub scopes: Vec<String>,
    /// Scopes a feature needs beyond the spec, each with its reason.
    #[serde(default)]
    pub extra_scopes: Vec<ExtraScope>,
    /// How the provider joins scopes in the `scope` parameter (Slack: a comma).
    #[serde(default = "space")]
    pub scope_separator: String,
    /// Whether the provider takes PKCE (S256).
    pub pkce: bool,
    /// Extra authorize parameters (Google's `access_type=offline`).
    #[serde(default)]
    pub extra_params: BTreeMap<String, String>,
    /// How long a token lives when the token response has no `expires_in` (Salesforce).
    pub session_lifetime_secs: Option<i64>,
    /// How the provider revokes a token, when it can.
    pub revoke: Option<RevokeEntry>,
    /// Refresh this long before expiry (Salesforce: an hour, so its 3-hour tokens are
    /// refreshed every 2 hours, as the spec says).
    #[serde(default = "five_minutes")]
    pub refresh_margin_secs: i64,
}

fn five_minutes() -> i64 {
    300
}

/// A revocation endpoint: `POST url` with a `token=` form, or `DELETE url` with `{token}` in it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeEntry {
    pub method: RevokeMethod,
    pub url: String,
    /// Revoke by calling with the access token as the bearer (Slack's `auth.revoke`), instead of
    /// sending the refresh token.
    #[serde(default)]
    pub bearer: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RevokeMethod {
    Post,
    Delete,
}

fn space() -> String {
    " ".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtraScope {
    pub scope: String,
    pub reason: String,
}

impl OauthEntry {
    /// Every scope to ask for, the spec's first.
    pub fn all_scopes(&self) -> Vec<&str> {
        self.scopes
            .iter()
            .map(String::as_str)
            .chain(self.extra_scopes.iter().map(|e| e.scope.as_str()))
            .collect()
    }
}

/// Where a connection's metadata names its provider account (HubSpot's portal, Slack's team,
/// Salesforce's org, Graph's tenant, a Stripe endpoint): the credential's indexed `account_id`,
/// by which a webhook delivery finds its connections.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountEntry {
    /// A JSON pointer into the metadata; a string or a number there is the account.
    pub metadata: String,
    /// The account is the path segment after this marker in that value instead (Salesforce's
    /// identity URL, `…/id/{org}/{user}`, names its org after `/id/`).
    #[serde(default)]
    pub after: Option<String>,
}

impl AccountEntry {
    /// The account a connection's metadata names, if it names one.
    pub fn of(&self, metadata: &serde_json::Value) -> Option<String> {
        let value = match metadata.pointer(&self.metadata)? {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            _ => return None,
        };
        let account = match &self.after {
            Some(marker) => {
                let (_, rest) = value.rsplit_once(marker.as_str())?;
                rest.split('/').next()?.to_owned()
            }
            None => value,
        };
        Some(account).filter(|a| !a.is_empty())
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxEntry {
    pub authorize_path: String,
    pub token_path: String,
    pub base_path: String,
    pub revoke_path: Option<String>,
}

/// The parsed catalog; every provider of `Provider::ALL` has an entry (checked at load).
#[derive(Debug)]
pub struct Catalog {
    entries: BTreeMap<Provider, CatalogEntry>,
}

impl Catalog {
    pub fn get() -> &'static Catalog {
        static CATALOG: OnceLock<Catalog> = OnceLock::new();
        CATALOG.get_or_init(|| {
            let entries: BTreeMap<Provider, CatalogEntry> =
                toml::from_str(include_str!("catalog.toml")).expect("catalog.toml is valid");
            assert!(
                Provider::ALL.iter().all(|p| entries.contains_key(p)),
                "catalog.toml lists every provider"
            );
            Catalog { entries }
        })
    }

    /// The rate classes checked against the adapters' ops (`providers::ops`), provider by
    /// provider: the first disagreement, named.
    pub fn check_ops(&self) -> Result<(), OpsMismatch> {
        self.entries.iter().try_for_each(|(provider, entry)| {
            // A provider with an adapter takes raw calls too, which a class must count.
            let mut ops = super::ops(*provider).to_vec();
            if !ops.is_empty() {
                ops.push(super::passthrough::OP);
            }
            entry.check_ops(*provider, &ops)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_provider_has_an_entry_and_round_trips_its_slug() {
        for p in Provider::ALL {
            assert!(!p.entry().name.is_empty());
            assert_eq!(p.slug().parse::<Provider>().unwrap(), p);
        }
        assert!("google".parse::<Provider>().is_err());
    }

    #[test]
    fn every_rate_class_counts_adapter_ops_and_every_op_is_counted() {
        assert_eq!(Catalog::get().check_ops(), Ok(()));
    }

    fn entry(limits: &str) -> CatalogEntry {
        toml::from_str(&format!(
            "name = \"X\"\nauth = \"oauth2\"\ncapabilities = []\n{limits}"
        ))
        .unwrap()
    }

    #[test]
    fn a_mismatch_names_the_provider_class_and_op() {
        let ops = ["a", "b", "c"];
        let p = Provider::Slack;
        let strict = entry(
            "uncounted = [\"c\"]\n[limits]\none = { kind = \"rolling\", window_ms = 1000, capacity = 1, ops = [\"a\", \"b\"] }",
        );
        assert_eq!(strict.check_ops(p, &ops), Ok(()));
        let every = entry(
            "[limits]\nall = { kind = \"gcra\", window_ms = 1000, capacity = 1, weights = { \"b\" = 2 } }",
        );
        assert_eq!(
            every.check_ops(p, &ops),
            Ok(()),
            "a class without ops counts every call"
        );

        let typo = entry(
            "[limits]\nall = { kind = \"gcra\", window_ms = 1000, capacity = 1, weights = { \"bb\" = 2 } }",
        );
        let error = typo.check_ops(p, &ops).unwrap_err();
        assert_eq!(
            error,
            OpsMismatch::UnknownInClass {
                provider: p,
                class: "all".into(),
                op: "bb".into()
            }
        );
        assert_eq!(
            error.to_string(),
            "[slack.limits] all names op `bb`, which no slack adapter call has"
        );
        let missing = entry(
            "[limits]\none = { kind = \"rolling\", window_ms = 1000, capacity = 1, ops = [\"a\", \"b\"] }",
        );
        assert_eq!(
            missing.check_ops(p, &ops),
            Err(OpsMismatch::Uncounted {
                provider: p,
                op: "c".into()
            })
        );
        let both = entry(
            "uncounted = [\"a\"]\n[limits]\nall = { kind = \"gcra\", window_ms = 1000, capacity = 1 }",
        );
        assert_eq!(
            both.check_ops(p, &ops),
            Err(OpsMismatch::CountedUncounted {
                provider: p,
                class: "all".into(),
                op: "a".into()
            })
        );
        let stale = entry("uncounted = [\"d\"]");
        assert_eq!(
            stale.check_ops(p, &ops),
            Err(OpsMismatch::UnknownUncounted {
                provider: p,
                op: "d".into()
            })
        );
    }

    #[test]
    fn accounts_are_read_from_connection_metadata() {
        let account = |p: Provider, metadata: serde_json::Value| {
            p.entry().account.as_ref().and_then(|a| a.of(&metadata))
        };
        let hub = serde_json::json!({ "hub_id": 62515001 });
        assert_eq!(account(Provider::Hubspot, hub).as_deref(), Some("62515001"));
        let team = serde_json::json!({ "team": { "id": "T1" } });
        assert_eq!(account(Provider::Slack, team).as_deref(), Some("T1"));
        let identity = serde_json::json!({ "id": "https://login.salesforce.com/id/00D1/0051" });
        assert_eq!(
            account(Provider::Salesforce, identity).as_deref(),
            Some("00D1")
        );
        let odd = serde_json::json!({ "id": "https://login.salesforce.com/other" });
        assert_eq!(account(Provider::Salesforce, odd), None);
        assert_eq!(account(Provider::Slack, serde_json::json!({})), None);
    }

    #[test]
    fn capabilities_come_from_the_catalog() {
        let crm: Vec<_> = Provider::ALL
            .into_iter()
            .filter(|p| p.feeds(Capability::Contacts))
            .collect();
        assert_eq!(crm, vec![Provider::Salesforce, Provider::Hubspot]);
        let leads: Vec<_> = Provider::ALL
            .into_iter()
            .filter(|p| p.feeds(Capability::Leads))
            .collect();
        assert_eq!(leads, vec![Provider::Salesforce]);
        assert_eq!(Provider::Stripe.entry().auth, AuthKind::WebhookSecret);
        assert!(Provider::Stripe.entry().oauth.is_none());
        for p in Provider::ALL
            .into_iter()
            .filter(|p| p.entry().auth == AuthKind::Oauth2)
        {
            let oauth = p
                .entry()
                .oauth
                .as_ref()
                .expect("every OAuth provider has its endpoints");
            assert!(!oauth.all_scopes().is_empty(), "{p}");
            assert!(
                oauth.extra_scopes.iter().all(|e| !e.reason.is_empty()),
                "{p}: extra scopes need reasons"
            );
        }
    }
}
