//! The providers: their catalog (facts as data), the unified records of each capability, and one
//! adapter folder per provider that speaks its wire format through the upstream stack.
//!
//! Nothing here knows GraphQL; the schema maps `Provider` to its own enum.

pub mod calendar;
mod catalog;
pub mod chat;
pub mod crm;
pub mod google;
pub mod hubspot;
pub mod mail;
pub mod microsoft;
pub mod record;
mod registry;
pub mod salesforce;
pub mod slack;

pub use calendar::CalendarAdapter;
pub use catalog::{
    AuthKind, CacheEntry, Capability, Catalog, CatalogEntry, Cataloged, OauthEntry, OpsMismatch,
    Provider, RateClassEntry, RateKind, RevokeEntry, RevokeMethod, SandboxEntry,
};
pub use registry::{CrmAdapter, Registry};

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

/// How a provider reports its own count of a quota in its answers, for the ones that do
/// (Salesforce's org-wide API usage); the upstream stack reads every answer with it.
pub fn usage_reader(provider: Provider) -> Option<crate::limits::ReadUsage> {
    match provider {
        Provider::Salesforce => Some(salesforce::usage::read),
        _ => None,
    }
}
