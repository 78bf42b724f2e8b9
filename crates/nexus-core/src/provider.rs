//! The providers the gateway speaks to, and the unified lists they can feed.

use std::{fmt, str::FromStr};

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_round_trip() {
        for p in Provider::ALL {
            assert_eq!(p.slug().parse::<Provider>().unwrap(), p);
            assert_eq!(p.to_string(), p.slug());
        }
        assert!("google".parse::<Provider>().is_err());
    }
}
