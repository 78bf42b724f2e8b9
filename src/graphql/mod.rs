//! The GraphQL schema: unified types, Relay connections, global ids, per-domain `XxxQuery` and
//! `XxxMutation` merged into one schema, subscriptions, error codes and abuse limits.
//!
//! Resolvers reach the outside world only through `AppContext` (repositories) and, as adapters
//! land, the providers' capability traits; never reqwest, SQL or tokens.

mod audit;
mod calendar;
mod changes;
mod chat;
mod completion;
mod connect;
mod crm;
pub mod errors;
mod freshness;
mod gate;
mod ids;
pub mod limits;
mod lists;
mod loaders;
mod mail;
mod passthrough;
#[cfg(test)]
mod proptests;
mod relations;
mod scopes;
mod subscription;
mod types;
mod validate;
mod viewer;
mod writes;

use std::sync::Arc;

use async_graphql::{MergedObject, Schema};
use nexus_core::{Passthrough, ReadModel};

use crate::{
    auth::Tenants,
    changes::{ChangeLog, hooks::ConnectionHooks, webhooks::endpoints::WebhookEndpoints},
    config::GraphqlSettings,
    idempotency::IdempotencyKeys,
    oauth::ConnectFlows,
    providers::Registry,
    vault::CredentialVault,
};

pub use freshness::ReadDefaults;
pub use ids::GlobalId;
pub use limits::Executed;
pub use loaders::Loaders;

/// What resolvers may use, shared by every request.
#[derive(Clone)]
pub struct AppContext {
    pub tenants: Tenants,
    pub credentials: CredentialVault,
    pub changes: ChangeLog,
    pub idempotency: IdempotencyKeys,
    pub connect: ConnectFlows,
    /// The provider adapters, behind the upstream stack.
    pub providers: Registry,
    pub loaders: Loaders,
    /// What each provider needs done when a connection ends (its registrations stopped).
    pub hooks: ConnectionHooks,
    /// Webhook endpoints made on request (a Stripe signing secret, a Salesforce token).
    pub endpoints: WebhookEndpoints,
    /// The sync's copy, asked before a provider once it can answer (resolvers fall back to
    /// `providers` on `NotSynced`).
    pub read_model: Arc<dyn ReadModel>,
    /// Each provider's `maxAge` for reads that give none.
    pub reads: ReadDefaults,
    /// Raw calls to a provider's API, through the upstream stack.
    pub passthrough: Arc<dyn Passthrough>,
    /// How much of a raw call's answer is returned.
    pub passthrough_settings: crate::agents::PassthroughSettings,
    /// Raw provider calls and MCP tool calls, recorded.
    pub audit: crate::agents::audit::AuditLog,
}

#[derive(MergedObject, Default)]
pub struct Query(
    viewer::ViewerQuery,
    crm::CrmQuery,
    mail::MailQuery,
    calendar::CalendarQuery,
    chat::ChatQuery,
    changes::ChangesQuery,
    passthrough::PassthroughQuery,
    audit::AuditQuery,
);

#[derive(MergedObject, Default)]
pub struct Mutation(
    connect::ConnectMutation,
    crm::CrmMutation,
    mail::MailMutation,
    calendar::CalendarMutation,
    chat::ChatMutation,
    passthrough::PassthroughMutation,
);

pub type AppSchema = Schema<Query, Mutation, subscription::Subscription>;

/// The schema with its limits; `context` is absent only when printing the SDL.
pub fn build(settings: &GraphqlSettings, context: Option<AppContext>) -> AppSchema {
    let mut builder = Schema::build(
        Query::default(),
        Mutation::default(),
        subscription::Subscription,
    )
    .limit_complexity(settings.max_complexity)
    .limit_recursive_depth(settings.max_recursive_depth)
    .limit_directives(settings.max_directives)
    // The scope check first: an extension added earlier wraps the later ones, and the limits
    // would otherwise relabel its refusal as a validation failure.
    .extension(scopes::ScopeCheck)
    .extension(limits::DocumentLimits::new(settings))
    .extension(completion::Completion);
    if !settings.introspection {
        builder = builder.disable_introspection().disable_suggestions();
    }
    if let Some(context) = context {
        builder = builder.data(context);
    }
    builder.finish()
}

/// The SDL that `nexus schema` prints and `schema.graphql` holds.
pub fn sdl() -> String {
    build(&GraphqlSettings::default(), None).sdl()
}

/// Checks an email address as the schema's inputs do (for the CLI's `--user`).
pub fn validate_email(value: &str) -> Result<(), String> {
    validate::email("email", value).map_err(|e| e.message)
}
