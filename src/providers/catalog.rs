//! `catalog.toml`, parsed once: which providers exist, what they feed and how they connect.

use std::{collections::BTreeMap, fmt, str::FromStr, sync::OnceLock};

use serde::{Deserialize, Serialize};

/// Every provider the gateway speaks to. Slugs are the lower-case names (`google_calendar`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    Salesforce,
    Hubspot,
    Gmail,
    GoogleCalendar,
    Slack,
    Outlook,
    Teams,
    Stripe,
}

impl Provider {
    pub const ALL: [Provider; 8] = [
        Provider::Salesforce,
        Provider::Hubspot,
        Provider::Gmail,
        Provider::GoogleCalendar,
        Provider::Slack,
        Provider::Outlook,
        Provider::Teams,
        Provider::Stripe,
    ];

    pub fn slug(self) -> &'static str {
        match self {
            Provider::Salesforce => "salesforce",
            Provider::Hubspot => "hubspot",
            Provider::Gmail => "gmail",
            Provider::GoogleCalendar => "google_calendar",
            Provider::Slack => "slack",
            Provider::Outlook => "outlook",
            Provider::Teams => "teams",
            Provider::Stripe => "stripe",
        }
    }

    /// This provider's catalog entry.
    pub fn entry(self) -> &'static CatalogEntry {
        &Catalog::get().entries[&self]
    }

    /// Whether this provider feeds a unified list.
    pub fn feeds(self, capability: Capability) -> bool {
        self.entry().capabilities.contains(&capability)
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.slug())
    }
}

/// A slug that names no provider.
#[derive(Debug, thiserror::Error)]
#[error("unknown provider `{0}`")]
pub struct UnknownProvider(String);

impl FromStr for Provider {
    type Err = UnknownProvider;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Provider::ALL
            .into_iter()
            .find(|p| p.slug() == s)
            .ok_or_else(|| UnknownProvider(s.to_owned()))
    }
}

/// The unified lists a provider can feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    Contacts,
    Leads,
    Deals,
    Companies,
    Emails,
    Events,
    Messages,
    Channels,
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
    /// How often incremental sync polls the provider's records, where it does.
    #[serde(default)]
    pub sync_interval_secs: Option<u64>,
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
