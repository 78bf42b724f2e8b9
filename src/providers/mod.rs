//! The providers: their catalog (facts as data) and, as they land, one adapter folder each.
//!
//! Nothing here knows GraphQL; the schema maps `Provider` to its own enum.

mod catalog;

pub use catalog::{
    AuthKind, Capability, Catalog, CatalogEntry, OauthEntry, Provider, RevokeEntry, RevokeMethod,
    SandboxEntry,
};
