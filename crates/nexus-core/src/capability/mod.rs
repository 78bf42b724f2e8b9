//! The capability traits: what the gateway asks of a provider, one trait per kind of unified
//! list, in the object_store/opendal style. Each provider folder implements the traits of what
//! it feeds for its adapter; the registry holds them as `Arc<dyn …>` by provider, built at
//! startup and checked there against the catalog's `capabilities`, so a provider that lacks a
//! capability is known before any request, never discovered by a call.
//!
//! - [`Crm`] (contacts, leads, deals, companies), [`Mail`] (emails), [`Calendar`] (events) and
//!   [`Chat`] (messages, channels): every method takes the [`Target`](crate::Target) connection
//!   and answers a [`ProviderError`](crate::ProviderError) in the gateway's words.
//! - The sync hooks live in the traits too: a CRM's `modified` and `ids` (the incremental pass
//!   and the reconciliation's listing), and `feeds`/`changes`, the change feed a poll reads
//!   (Gmail's history, Calendar's sync tokens, Graph's deltas). Where providers differ the
//!   trait says so with a default: Slack only pushes (its Events API), so [`Chat`]'s feed hook
//!   defaults to none.
//! - Default methods hold the logic more than one adapter would otherwise repeat (a single
//!   mail page as a batch of one, users looked up one by one).
//!
//! Cross-cutting layers (the mail list cache, the chat user cache) wrap a trait object and
//! implement the same trait, as object_store's layers do, so resolvers cannot tell them apart
//! from an adapter.

mod calendar;
mod chat;
mod crm;
mod mail;

pub use calendar::Calendar;
pub use chat::Chat;
pub use crm::Crm;
pub use mail::Mail;
