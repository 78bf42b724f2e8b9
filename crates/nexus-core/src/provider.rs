//! The providers the gateway speaks to, and the unified lists they can feed.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

/// Hands the list of providers, as `Variant => "slug"` pairs in the catalog's order, to the macro
/// `$then`. The list is written once, here: [`Provider`] is made from it, and so is the schema's
/// own `Provider` enum (`nexus_core::with_providers!(…)` in the gateway), so a provider added
/// here is one the schema has too.
#[macro_export]
macro_rules! with_providers {
    ($then:ident) => {
        $then! {
            Salesforce => "salesforce",
            Hubspot => "hubspot",
            Gmail => "gmail",
            GoogleCalendar => "google_calendar",
            Slack => "slack",
            Outlook => "outlook",
            Teams => "teams",
            Stripe => "stripe",
        }
    };
}

macro_rules! define_provider {
    ($($variant:ident => $slug:literal,)*) => {
        /// Every provider the gateway speaks to. Slugs are the lower-case names (`google_calendar`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize)]
        #[serde(rename_all = "snake_case")]
        pub enum Provider {
            $($variant,)*
        }

        impl Provider {
            pub const ALL: [Provider; [$($slug),*].len()] = [$(Provider::$variant),*];

            pub fn slug(self) -> &'static str {
                match self {
                    $(Provider::$variant => $slug,)*
                }
            }
        }
    };
}

with_providers!(define_provider);

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
    fn slugs_round_trip_and_match_serde_names() {
        for p in Provider::ALL {
            assert_eq!(p.slug().parse::<Provider>().unwrap(), p);
            assert_eq!(p.to_string(), p.slug());
            assert_eq!(
                serde_json::to_value(p).unwrap(),
                serde_json::Value::from(p.slug())
            );
        }
        assert!("google".parse::<Provider>().is_err());
    }
}
