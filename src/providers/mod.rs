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
    AuthKind, Capability, Catalog, CatalogEntry, OauthEntry, Provider, RateClassEntry, RateKind,
    RevokeEntry, RevokeMethod, SandboxEntry,
};
pub use registry::{CrmAdapter, Registry};
