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
mod federation;
mod fields;
mod freshness;
mod gate;
mod ids;
mod introspection;
mod items;
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
mod webhooks;
mod writes;

use std::sync::Arc;

use async_graphql::{
    Data, Executor, MergedObject, ObjectType, Request, Response, Schema, SchemaBuilder,
    futures_util::stream::BoxStream, registry::SDLExportOptions,
};
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

pub use changes::parse_change_cursor;
pub use freshness::ReadDefaults;
pub use ids::GlobalId;
pub use limits::Executed;
pub use loaders::Loaders;
pub use subscription::{EventCursors, ResumeAfter};

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
    /// Partners' webhook endpoints the change log is pushed to.
    pub outbound: crate::changes::outbound::Endpoints,
}

/// A query root of the domains' parts, in one list for both roots (the plain one, and the
/// federated one that adds the entity resolvers); `$meta` after the derive.
macro_rules! query_root {
    ($name:ident $(#[$meta:meta])* $(, $extra:ty)*) => {
        #[derive(MergedObject, Default)]
        $(#[$meta])*
        pub struct $name(
            viewer::ViewerQuery,
            crm::CrmQuery,
            fields::FieldsQuery,
            mail::MailQuery,
            calendar::CalendarQuery,
            chat::ChatQuery,
            changes::ChangesQuery,
            passthrough::PassthroughQuery,
            audit::AuditQuery,
            webhooks::WebhooksQuery,
            $($extra),*
        );
    };
}

query_root!(Query);
// Named `Query` too: a subgraph's SDL has no `schema` block to name its roots.
query_root!(FederatedQuery #[graphql(name = "Query")], federation::EntityQuery);

#[derive(MergedObject, Default)]
pub struct Mutation(
    connect::ConnectMutation,
    crm::CrmMutation,
    mail::MailMutation,
    calendar::CalendarMutation,
    chat::ChatMutation,
    passthrough::PassthroughMutation,
    webhooks::WebhooksMutation,
);

pub type PlainSchema = Schema<Query, Mutation, subscription::Subscription>;
pub type FederatedSchema = Schema<FederatedQuery, Mutation, subscription::Subscription>;

/// The schema the gateway serves, picked at startup by `graphql.federation`: the plain API, or
/// the same parts as an Apollo Federation v2 subgraph (`_service`, `_entities`, `@key`).
#[derive(Clone)]
pub enum AppSchema {
    Plain(PlainSchema),
    Federated(FederatedSchema),
}

impl AppSchema {
    pub async fn execute(&self, request: impl Into<Request>) -> Response {
        match self {
            AppSchema::Plain(schema) => schema.execute(request).await,
            AppSchema::Federated(schema) => schema.execute(request).await,
        }
    }
}

impl Executor for AppSchema {
    fn execute(&self, request: Request) -> impl Future<Output = Response> + Send {
        AppSchema::execute(self, request)
    }

    fn execute_stream(
        &self,
        request: Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, Response> {
        match self {
            AppSchema::Plain(schema) => Executor::execute_stream(schema, request, session_data),
            AppSchema::Federated(schema) => Executor::execute_stream(schema, request, session_data),
        }
    }
}

/// The schema with its limits, plain or federated as `settings.federation` says; `context` is
/// absent only when printing the SDL.
pub fn build(settings: &GraphqlSettings, context: Option<AppContext>) -> AppSchema {
    let subscription = subscription::Subscription;
    if settings.federation {
        AppSchema::Federated(finish(
            Schema::build(FederatedQuery::default(), Mutation::default(), subscription),
            settings,
            context,
        ))
    } else {
        AppSchema::Plain(finish(
            Schema::build(Query::default(), Mutation::default(), subscription),
            settings,
            context,
        ))
    }
}

/// A schema root with the limits, extensions and context every schema has.
fn finish<Q: ObjectType + 'static>(
    builder: SchemaBuilder<Q, Mutation, subscription::Subscription>,
    settings: &GraphqlSettings,
    context: Option<AppContext>,
) -> Schema<Q, Mutation, subscription::Subscription> {
    let mut builder = builder
        .limit_complexity(settings.max_complexity)
        .limit_recursive_depth(settings.max_recursive_depth)
        .limit_directives(settings.max_directives)
        // The scope check first: an extension added earlier wraps the later ones, and the limits
        // would otherwise relabel its refusal as a validation failure.
        .extension(scopes::ScopeCheck);
    if !settings.introspection {
        // Before the limits, which would relabel its refusal as a validation failure.
        builder = builder
            .disable_introspection()
            .disable_suggestions()
            .extension(introspection::IntrospectionOff);
    }
    builder = builder
        .extension(limits::DocumentLimits::new(settings))
        .extension(completion::Completion);
    if let Some(context) = context {
        builder = builder.data(context);
    }
    builder.finish()
}

/// The SDL that `nexus schema` prints and `schema.graphql` holds: the plain API.
pub fn sdl() -> String {
    match build(&GraphqlSettings::default(), None) {
        AppSchema::Plain(schema) => schema.sdl(),
        AppSchema::Federated(schema) => schema.sdl(),
    }
}

/// The subgraph SDL that `nexus schema --federation` prints, `schema.federation.graphql` holds
/// and `_service { sdl }` answers.
pub fn federation_sdl() -> String {
    let settings = GraphqlSettings {
        federation: true,
        ..GraphqlSettings::default()
    };
    let options = SDLExportOptions::new().federation().compose_directive();
    match build(&settings, None) {
        AppSchema::Plain(schema) => schema.sdl_with_options(options),
        AppSchema::Federated(schema) => schema.sdl_with_options(options),
    }
}

/// Checks an email address as the schema's inputs do (for the CLI's `--user`).
pub fn validate_email(value: &str) -> Result<(), String> {
    validate::email("email", value).map_err(|e| e.message)
}
