//! Freshness: how old an answer may be, and where each record of it came from.
//!
//! Every list and `node` take `maxAge` (seconds). A provider's part of an answer comes from the
//! first source that is young enough, in this order: the synced copy (`SYNCED`: the read model,
//! when the type's copy is complete and its as-of time is within `maxAge`), a cache of live
//! answers (`CACHED`: Gmail's five-minute list pages, when the page was fetched within `maxAge`),
//! else the provider itself (`LIVE`). A request that gives no `maxAge` gets each provider's
//! default ([`ReadDefaults`]: the catalog's `[<slug>.reads] max_age_secs`, overridden by
//! `providers.<slug>.max_age_secs`); `maxAge: 0` always reads live.
//!
//! Each record object carries a [`Fetched`]: its `source`, its `fetchedAt` (when the provider
//! answered; for a synced record its as-of time, [`AsOf::of`]; for a cached one when the page was
//! fetched), and the request's [`MaxAge`], which its relations and nested connections inherit.
//! The counters `nexus_reads_total{provider,type,source}` and the gauge
//! `nexus_copy_age_seconds{provider,type}` (the age of the copy the last synced answer or status
//! read found) are kept here.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use async_graphql::{Enum, Result};
use chrono::{DateTime, Utc};
use nexus_core::{AsOf, records::Fetch};

use crate::{
    config::ProviderSettings,
    providers::{Capability, Cataloged, Provider},
};

use super::errors::bad_input;

/// Where an object's data came from.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataSource {
    /// The provider answered this request.
    Live,
    /// The gateway's copy, kept by incremental sync, webhooks and its own writes.
    Synced,
    /// A cached live answer of an earlier request.
    Cached,
}

impl DataSource {
    fn label(self) -> &'static str {
        match self {
            DataSource::Live => "live",
            DataSource::Synced => "synced",
            DataSource::Cached => "cached",
        }
    }
}

/// Each provider's `maxAge` for requests that give none: the catalog's, then the config's.
#[derive(Debug, Clone)]
pub struct ReadDefaults(BTreeMap<Provider, Duration>);

impl ReadDefaults {
    /// The catalog's defaults with `providers.<slug>.max_age_secs` over them.
    pub fn new(settings: &BTreeMap<Provider, ProviderSettings>) -> Self {
        Self(
            Provider::ALL
                .into_iter()
                .map(|provider| {
                    let secs = settings
                        .get(&provider)
                        .and_then(|s| s.max_age_secs)
                        .unwrap_or(provider.entry().reads.max_age_secs);
                    (provider, Duration::from_secs(secs))
                })
                .collect(),
        )
    }

    pub fn max_age(&self, provider: Provider) -> Duration {
        self.0
            .get(&provider)
            .copied()
            .unwrap_or_else(|| Duration::from_secs(provider.entry().reads.max_age_secs))
    }
}

impl Default for ReadDefaults {
    fn default() -> Self {
        Self::new(&BTreeMap::new())
    }
}

/// A request's `maxAge`: the seconds it gave, or each provider's default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MaxAge(Option<u32>);

impl MaxAge {
    /// The argument `maxAge`: at least 0.
    pub fn parse(value: Option<i32>) -> Result<Self> {
        match value {
            None => Ok(Self(None)),
            Some(secs) => u32::try_from(secs)
                .map(|secs| Self(Some(secs)))
                .map_err(|_| bad_input("maxAge", "`maxAge` is a number of seconds, at least 0")),
        }
    }

    /// Live only: no copy or cache answers.
    pub const LIVE: MaxAge = MaxAge(Some(0));

    /// How old `provider`'s answer may be.
    pub fn of(self, defaults: &ReadDefaults, provider: Provider) -> Duration {
        match self.0 {
            Some(secs) => Duration::from_secs(secs.into()),
            None => defaults.max_age(provider),
        }
    }
}

/// Where one provider's part of an answer came from.
#[derive(Debug, Clone)]
pub enum Origin {
    /// The provider, at this time.
    Live(DateTime<Utc>),
    /// A cached page fetched at this time.
    Cached(DateTime<Utc>),
    /// The copy, true as of these times.
    Synced(Arc<AsOf>),
    /// The copy for the records `ids` (a window's last ones), then another source for those
    /// past the window's edge (`lists::edge`).
    Spliced {
        synced: Arc<AsOf>,
        ids: Arc<std::collections::HashSet<String>>,
        rest: Box<Origin>,
    },
}

impl Origin {
    /// The provider answering now.
    pub fn live() -> Self {
        Origin::Live(Utc::now())
    }

    /// A page fetched at `fetch.at`, from the provider or kept by a cache since.
    pub fn of_fetch(fetch: Fetch) -> Self {
        if fetch.cached {
            Origin::Cached(fetch.at)
        } else {
            Origin::Live(fetch.at)
        }
    }

    /// The source of the page's first records.
    pub fn source(&self) -> DataSource {
        match self {
            Origin::Live(_) => DataSource::Live,
            Origin::Cached(_) => DataSource::Cached,
            Origin::Synced(_) | Origin::Spliced { .. } => DataSource::Synced,
        }
    }

    /// What the object of record `remote_id` says of its freshness.
    pub fn fetched(&self, remote_id: &str, max_age: MaxAge) -> Fetched {
        let at = match self {
            Origin::Spliced { synced, ids, rest } => {
                return match ids.contains(remote_id) {
                    true => Origin::Synced(synced.clone()).fetched(remote_id, max_age),
                    false => rest.fetched(remote_id, max_age),
                };
            }
            Origin::Live(at) | Origin::Cached(at) => *at,
            Origin::Synced(as_of) => as_of.of(remote_id),
        };
        Fetched {
            source: self.source(),
            at,
            max_age,
        }
    }
}

/// An object's source and as-of time, and the `maxAge` its relations inherit.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub source: DataSource,
    pub at: DateTime<Utc>,
    pub max_age: MaxAge,
}

impl Fetched {
    /// Just read from the provider (a mutation's answer, a record fetched by id).
    pub fn live(max_age: MaxAge) -> Self {
        Origin::live().fetched("", max_age)
    }
}

/// The unified type a list of `capability` holds, as metrics name it.
pub fn type_of(capability: Capability) -> &'static str {
    match capability {
        Capability::Contacts => "Contact",
        Capability::Leads => "Lead",
        Capability::Deals => "Deal",
        Capability::Companies => "Company",
        Capability::Emails => "Email",
        Capability::Events => "Event",
        Capability::Messages => "Message",
        Capability::Channels => "Channel",
    }
}

/// Counts one provider's answer to a read of `type_name` (`nexus_reads_total`), and for a
/// synced one the copy's age (`nexus_copy_age_seconds`).
pub fn count(provider: Provider, type_name: &'static str, origin: &Origin) {
    metrics::counter!(
        "nexus_reads_total",
        "provider" => provider.slug(),
        "type" => type_name,
        "source" => origin.source().label(),
    )
    .increment(1);
    match origin {
        Origin::Synced(as_of) => copy_age(provider, type_name, as_of.pass),
        // The part past the window's edge is an answer of its own source too.
        Origin::Spliced { synced, rest, .. } => {
            copy_age(provider, type_name, synced.pass);
            count(provider, type_name, rest);
        }
        Origin::Live(_) | Origin::Cached(_) => {}
    }
}

/// Sets `nexus_copy_age_seconds` of a provider's type from its copy's as-of time.
pub fn copy_age(provider: Provider, type_name: &'static str, as_of: DateTime<Utc>) {
    let age = (Utc::now() - as_of).num_milliseconds().max(0) as f64 / 1000.0;
    metrics::gauge!(
        "nexus_copy_age_seconds",
        "provider" => provider.slug(),
        "type" => type_name,
    )
    .set(age);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_takes_zero_and_up_and_names_itself_when_negative() {
        assert_eq!(MaxAge::parse(Some(0)).unwrap(), MaxAge::LIVE);
        assert_eq!(MaxAge::parse(None).unwrap(), MaxAge::default());
        let error = MaxAge::parse(Some(-1)).unwrap_err();
        let extensions = error.extensions.unwrap();
        assert_eq!(
            extensions.get("field"),
            Some(&async_graphql::Value::from("maxAge"))
        );
    }

    #[test]
    fn defaults_come_from_the_catalog_and_config_overrides_them() {
        let defaults = ReadDefaults::default();
        assert_eq!(
            MaxAge::default().of(&defaults, Provider::Hubspot),
            Duration::from_secs(900)
        );
        assert_eq!(
            MaxAge::default().of(&defaults, Provider::Gmail),
            Duration::from_secs(300)
        );
        let settings = BTreeMap::from([(
            Provider::Hubspot,
            ProviderSettings {
                max_age_secs: Some(60),
                ..ProviderSettings::default()
            },
        )]);
        let defaults = ReadDefaults::new(&settings);
        assert_eq!(
            MaxAge::default().of(&defaults, Provider::Hubspot),
            Duration::from_secs(60)
        );
        assert_eq!(
            MaxAge::parse(Some(5))
                .unwrap()
                .of(&defaults, Provider::Hubspot),
            Duration::from_secs(5)
        );
    }

    #[test]
    fn a_synced_record_is_as_of_its_own_application_when_later_than_the_pass() {
        let pass = Utc::now() - chrono::Duration::minutes(10);
        let later = pass + chrono::Duration::minutes(5);
        let as_of = AsOf {
            pass,
            records: [("7".to_owned(), later)].into(),
        };
        let origin = Origin::Synced(Arc::new(as_of));
        assert_eq!(origin.fetched("7", MaxAge::default()).at, later);
        assert_eq!(origin.fetched("8", MaxAge::default()).at, pass);
        assert_eq!(
            origin.fetched("8", MaxAge::default()).source,
            DataSource::Synced
        );
    }
}
