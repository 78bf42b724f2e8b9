//! The vocabulary every part of Nexus Gateway may use, and which depends on nothing of ours:
//! a crate of its own so that the compiler, not a convention, keeps it neutral.
//!
//! - [`Provider`] and [`Capability`]: who the gateway speaks to, and which unified lists each
//!   can feed (the catalog, in the gateway's `providers` module, holds the facts about each).
//! - [`Tenant`] and [`Target`]: who is asking, and the connection a provider call is made for.
//! - [`ProviderError`] and [`ErrorKind`]: what went wrong with a provider call, in the gateway's
//!   words; the schema maps the kind to `extensions.code`.

mod error;
mod provider;
mod tenant;

pub use error::{ErrorKind, ProviderError};
pub use provider::{Capability, Provider, UnknownProvider};
pub use tenant::{Target, Tenant};
