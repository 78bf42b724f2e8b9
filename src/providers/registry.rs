//! The adapters this build has, by provider and capability: trait objects ([`Crm`], [`Mail`],
//! [`Calendar`], [`Chat`]) built once at startup, one line per adapter in [`Registry::new`],
//! and the check ([`Registry::check`]) that they and the catalog's `capabilities` agree, so a
//! provider that lacks a capability is a startup fact, never a call that finds nothing.
//!
//! Mail adapters are registered behind the list cache ([`CachedMail`]) and chat adapters behind
//! the user caches ([`CachedChat`]); the registry also holds the [`Passthrough`] to every
//! provider it has an adapter for.

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt,
    sync::Arc,
};

use nexus_core::Passthrough;

use crate::upstream::{Classify, Upstream};

use super::{
    Capability, Cataloged, Provider,
    calendar::Calendar,
    chat::{CachedChat, ChannelCache, Chat, ChatCaches},
    crm::Crm,
    google::{self, GoogleProvider},
    hubspot::{self, HubspotProvider},
    mail::{CachedMail, Mail, MailCache},
    microsoft::{self, MicrosoftProvider},
    passthrough::ProviderPassthrough,
    salesforce::{self, SalesforceProvider},
    slack::{self, SlackProvider},
};

/// Which trait serves a capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Crm,
    Mail,
    Calendar,
    Chat,
}

impl Kind {
    /// The trait that serves `capability`'s list.
    pub fn of(capability: Capability) -> Kind {
        match capability {
            Capability::Contacts
            | Capability::Leads
            | Capability::Deals
            | Capability::Companies => Kind::Crm,
            Capability::Emails => Kind::Mail,
            Capability::Events => Kind::Calendar,
            Capability::Messages | Capability::Channels => Kind::Chat,
        }
    }
}

/// A capability this build has no adapter for at a provider (the schema's `UNSUPPORTED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("this build has no {kind:?} adapter for {provider}")]
pub struct Unsupported {
    pub provider: Provider,
    pub kind: Kind,
}

/// Where the catalog and the registry disagree: capabilities the catalog names without an
/// adapter, and adapters for what the catalog does not name.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub struct Mismatch {
    pub without_adapter: Vec<(Provider, Kind)>,
    pub not_cataloged: Vec<(Provider, Kind)>,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |pairs: &[(Provider, Kind)]| {
            pairs
                .iter()
                .map(|(p, k)| format!("{p} {k:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        write!(
            f,
            "the adapters and catalog.toml's capabilities disagree: catalog names without an \
             adapter [{}]; adapters the catalog does not name [{}]",
            list(&self.without_adapter),
            list(&self.not_cataloged)
        )
    }
}

/// Compares what the catalog names with what the registry has.
fn compare(
    cataloged: &BTreeSet<(Provider, Kind)>,
    registered: &BTreeSet<(Provider, Kind)>,
) -> Result<(), Mismatch> {
    let without_adapter: Vec<_> = cataloged.difference(registered).copied().collect();
    let not_cataloged: Vec<_> = registered.difference(cataloged).copied().collect();
    if without_adapter.is_empty() && not_cataloged.is_empty() {
        Ok(())
    } else {
        Err(Mismatch {
            without_adapter,
            not_cataloged,
        })
    }
}

/// Every adapter, sharing one upstream stack (clones share everything).
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Adapters>,
}

struct Adapters {
    crm: BTreeMap<Provider, Arc<dyn Crm>>,
    mail: BTreeMap<Provider, Arc<dyn Mail>>,
    calendar: BTreeMap<Provider, Arc<dyn Calendar>>,
    chat: BTreeMap<Provider, Arc<dyn Chat>>,
    passthrough: Arc<ProviderPassthrough>,
    google: Arc<GoogleProvider>,
    microsoft: Arc<MicrosoftProvider>,
    mail_cache: MailCache,
}

/// What [`Registry::new`] fills, one adapter at a time.
struct Builder {
    crm: BTreeMap<Provider, Arc<dyn Crm>>,
    mail: BTreeMap<Provider, Arc<dyn Mail>>,
    calendar: BTreeMap<Provider, Arc<dyn Calendar>>,
    chat: BTreeMap<Provider, Arc<dyn Chat>>,
    classify: BTreeMap<Provider, Classify>,
    mail_cache: MailCache,
    chat_caches: ChatCaches,
}

impl Builder {
    fn crm(&mut self, provider: Provider, adapter: Arc<dyn Crm>, classify: Classify) {
        self.crm.insert(provider, adapter);
        self.classify.insert(provider, classify);
    }

    fn mail(&mut self, provider: Provider, adapter: Arc<dyn Mail>, classify: Classify) {
        let cached = CachedMail::new(adapter, self.mail_cache.clone());
        self.mail.insert(provider, Arc::new(cached));
        self.classify.insert(provider, classify);
    }

    fn calendar(&mut self, provider: Provider, adapter: Arc<dyn Calendar>, classify: Classify) {
        self.calendar.insert(provider, adapter);
        self.classify.insert(provider, classify);
    }

    fn chat(&mut self, provider: Provider, adapter: Arc<dyn Chat>, classify: Classify) {
        let cached = CachedChat::new(adapter, &self.chat_caches);
        self.chat.insert(provider, Arc::new(cached));
        self.classify.insert(provider, classify);
    }
}

impl Registry {
    /// Every adapter of this build, one line each: the provider it serves, the adapter, and how
    /// the provider's error answers read (for the passthrough).
    pub fn new(upstream: Upstream) -> Self {
        let channels = ChannelCache::default();
        let google = Arc::new(GoogleProvider::new(upstream.clone()));
        let microsoft = Arc::new(MicrosoftProvider::new(upstream.clone(), channels.clone()));
        let mut b = Builder {
            crm: BTreeMap::new(),
            mail: BTreeMap::new(),
            calendar: BTreeMap::new(),
            chat: BTreeMap::new(),
            classify: BTreeMap::new(),
            mail_cache: MailCache::default(),
            chat_caches: ChatCaches::default(),
        };
        let hubspot_adapter = Arc::new(HubspotProvider::new(upstream.clone()));
        b.crm(Provider::Hubspot, hubspot_adapter, hubspot::classify);
        let salesforce_adapter = Arc::new(SalesforceProvider::new(upstream.clone()));
        b.crm(
            Provider::Salesforce,
            salesforce_adapter,
            salesforce::classify,
        );
        b.mail(Provider::Gmail, google.clone(), google::classify);
        b.calendar(Provider::GoogleCalendar, google.clone(), google::classify);
        b.mail(Provider::Outlook, microsoft.clone(), microsoft::classify);
        b.calendar(Provider::Outlook, microsoft.clone(), microsoft::classify);
        b.chat(Provider::Teams, microsoft.clone(), microsoft::classify);
        let slack_adapter = Arc::new(SlackProvider::new(upstream.clone(), channels));
        b.chat(Provider::Slack, slack_adapter, slack::classify);
        Self {
            inner: Arc::new(Adapters {
                crm: b.crm,
                mail: b.mail,
                calendar: b.calendar,
                chat: b.chat,
                passthrough: Arc::new(ProviderPassthrough::new(upstream, b.classify)),
                google,
                microsoft,
                mail_cache: b.mail_cache,
            }),
        }
    }

    /// Fails unless every capability the catalog names for a provider has an adapter here, and
    /// every adapter here serves a capability the catalog names for its provider.
    pub fn check(&self) -> Result<(), Mismatch> {
        let cataloged = Provider::ALL
            .into_iter()
            .flat_map(|p| {
                p.entry()
                    .capabilities
                    .iter()
                    .map(move |c| (p, Kind::of(*c)))
            })
            .collect();
        compare(&cataloged, &self.kinds())
    }

    /// Every (provider, kind) this registry has an adapter for.
    fn kinds(&self) -> BTreeSet<(Provider, Kind)> {
        let a = &self.inner;
        let of =
            |kind: Kind, providers: Vec<Provider>| providers.into_iter().map(move |p| (p, kind));
        of(Kind::Crm, a.crm.keys().copied().collect())
            .chain(of(Kind::Mail, a.mail.keys().copied().collect()))
            .chain(of(Kind::Calendar, a.calendar.keys().copied().collect()))
            .chain(of(Kind::Chat, a.chat.keys().copied().collect()))
            .collect()
    }

    /// Whether this build has an adapter of `kind` for `provider`.
    pub fn has(&self, provider: Provider, kind: Kind) -> bool {
        let a = &self.inner;
        match kind {
            Kind::Crm => a.crm.contains_key(&provider),
            Kind::Mail => a.mail.contains_key(&provider),
            Kind::Calendar => a.calendar.contains_key(&provider),
            Kind::Chat => a.chat.contains_key(&provider),
        }
    }

    /// The CRM adapter of `provider`.
    pub fn crm(&self, provider: Provider) -> Result<Arc<dyn Crm>, Unsupported> {
        found(&self.inner.crm, provider, Kind::Crm)
    }

    /// The mail adapter of `provider`, behind the list cache.
    pub fn mail(&self, provider: Provider) -> Result<Arc<dyn Mail>, Unsupported> {
        found(&self.inner.mail, provider, Kind::Mail)
    }

    /// The calendar adapter of `provider`.
    pub fn calendar(&self, provider: Provider) -> Result<Arc<dyn Calendar>, Unsupported> {
        found(&self.inner.calendar, provider, Kind::Calendar)
    }

    /// The chat adapter of `provider`, behind the user caches.
    pub fn chat(&self, provider: Provider) -> Result<Arc<dyn Chat>, Unsupported> {
        found(&self.inner.chat, provider, Kind::Chat)
    }

    /// Raw calls to every provider this registry has an adapter for.
    /// The list cache in front of every mail adapter.
    pub fn mail_cache(&self) -> &MailCache {
        &self.inner.mail_cache
    }

    pub fn passthrough(&self) -> Arc<dyn Passthrough> {
        self.inner.passthrough.clone()
    }

    /// Microsoft Graph's adapter, for what is Graph's own (change-notification subscriptions).
    pub fn microsoft(&self) -> &MicrosoftProvider {
        &self.inner.microsoft
    }

    /// Google's adapter, for what is Google's own (Gmail watches, Calendar channels).
    pub fn google(&self) -> &GoogleProvider {
        &self.inner.google
    }
}

fn found<T: ?Sized>(
    adapters: &BTreeMap<Provider, Arc<T>>,
    provider: Provider,
    kind: Kind,
) -> Result<Arc<T>, Unsupported> {
    adapters
        .get(&provider)
        .cloned()
        .ok_or(Unsupported { provider, kind })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(pairs: &[(Provider, Kind)]) -> BTreeSet<(Provider, Kind)> {
        pairs.iter().copied().collect()
    }

    #[test]
    fn capabilities_map_to_the_trait_that_serves_them() {
        assert_eq!(Kind::of(Capability::Leads), Kind::Crm);
        assert_eq!(Kind::of(Capability::Emails), Kind::Mail);
        assert_eq!(Kind::of(Capability::Events), Kind::Calendar);
        assert_eq!(Kind::of(Capability::Channels), Kind::Chat);
    }

    #[test]
    fn the_check_names_what_the_catalog_and_the_adapters_each_lack() {
        let cataloged = set(&[
            (Provider::Hubspot, Kind::Crm),
            (Provider::Outlook, Kind::Mail),
            (Provider::Outlook, Kind::Calendar),
        ]);
        assert_eq!(compare(&cataloged, &cataloged.clone()), Ok(()));
        let registered = set(&[
            (Provider::Hubspot, Kind::Crm),
            (Provider::Slack, Kind::Chat),
        ]);
        let mismatch = compare(&cataloged, &registered).unwrap_err();
        assert_eq!(
            mismatch.without_adapter,
            [
                (Provider::Outlook, Kind::Mail),
                (Provider::Outlook, Kind::Calendar)
            ]
        );
        assert_eq!(mismatch.not_cataloged, [(Provider::Slack, Kind::Chat)]);
        let message = mismatch.to_string();
        assert!(message.contains("outlook Mail") && message.contains("slack Chat"));
    }
}
