//! The vocabulary every part of Nexus Gateway may use, and which depends on nothing of ours:
//! a crate of its own so that the compiler, not a convention, keeps it neutral.
//!
//! - [`Provider`] and [`Capability`]: who the gateway speaks to, and which unified lists each
//!   can feed (the catalog, in the gateway's `providers` module, holds the facts about each).
//! - [`Tenant`] and [`Target`]: who is asking, and the connection a provider call is made for.
//! - [`ProviderError`] and [`ErrorKind`]: what went wrong with a provider call, in the gateway's
//!   words; the schema maps the kind to `extensions.code`.
//! - [`records`]: the unified records (contact, email, event, message, …), the requests that
//!   ask for pages of them, and the keyset they page on.
//! - [`capability`]: the traits each provider adapter implements ([`Crm`], [`Mail`],
//!   [`Calendar`], [`Chat`]), sync hooks included.
//! - The seams later parts plug into, implemented outside the schema: [`ReadModel`] (synced
//!   lists, records and relations) and [`Passthrough`] (a raw provider call through the
//!   upstream stack).

pub mod capability;
mod error;
mod passthrough;
mod provider;
mod read_model;
pub mod records;
mod tenant;

pub use capability::{Calendar, Chat, Crm, Mail};
pub use error::{ErrorKind, ProviderError};
pub use passthrough::{Passthrough, RawRequest, RawResponse};
pub use provider::{Capability, Provider, UnknownProvider};
pub use read_model::{AsOf, CopyStatus, ReadModel, Synced};
pub use tenant::{Target, Tenant};
