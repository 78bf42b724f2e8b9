//! The providers: their catalog (facts as data), the unified records and capability traits of
//! each capability (the core vocabulary's, named here too), the registry of adapters built from
//! them, the passthrough, and one adapter folder per provider that speaks its wire format
//! through the upstream stack.
//!
//! Nothing here knows GraphQL; the schema maps `Provider` to its own enum.

pub mod calendar;
mod catalog;
pub mod chat;
pub mod crm;
pub mod fields;
pub mod google;
pub mod hubspot;
pub mod mail;
pub mod microsoft;
pub mod passthrough;
pub mod record;
mod registry;
pub mod salesforce;
pub mod slack;

pub use catalog::{
    AuthKind, CacheEntry, Capability, Catalog, CatalogEntry, Cataloged, OauthEntry, OpsMismatch,
    Provider, RateClassEntry, RateKind, RevokeEntry, RevokeMethod, SandboxEntry,
};
pub use registry::{Kind, Mismatch, Registry, Unsupported};

/// The ops of a provider's calls (`Call::op`, and a batch's parts), as its adapter folder
/// declares them; the catalog's rate classes are checked against them (`Catalog::check_ops`).
pub fn ops(provider: Provider) -> &'static [&'static str] {
    match provider {
        Provider::Salesforce => salesforce::OPS,
        Provider::Hubspot => hubspot::OPS,
        Provider::Gmail => google::GMAIL_OPS,
        Provider::GoogleCalendar => google::CALENDAR_OPS,
        Provider::Slack => slack::OPS,
        Provider::Outlook => microsoft::OUTLOOK_OPS,
        Provider::Teams => microsoft::TEAMS_OPS,
        Provider::Stripe => &[],
    }
}

/// How providers report their own count of a quota in their answers, for the ones that do
/// (Salesforce's org-wide API usage); startup hands them to the upstream stack, which reads every
/// answer of those providers with them.
pub fn usage_readers() -> std::collections::BTreeMap<Provider, crate::limits::ReadUsage> {
    std::collections::BTreeMap::from([(
        Provider::Salesforce,
        salesforce::usage::read as crate::limits::ReadUsage,
    )])
}
