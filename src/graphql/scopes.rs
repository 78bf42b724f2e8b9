//! Scopes at the door: an operation runs only when the caller's scopes allow its type — a query
//! or subscription needs `read`, a mutation `write` — and is refused before execution otherwise
//! (`FORBIDDEN`, no `data`: nothing is resolved and no provider is called). Narrower grants
//! (`changes:project`) are asked for by the resolvers that honour them, through [`scopes`].

use std::sync::{Arc, Mutex};

use async_graphql::{
    Context, Request, ServerError, ServerResult, Variables,
    extensions::{
        Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextPrepareRequest,
    },
    parser::types::{DocumentOperations, ExecutableDocument, OperationType},
};

use super::errors::ErrorCode;
use crate::auth::{Scope, Scopes};

/// The caller's scopes; none when the request carries none (printing the schema, tests of the
/// schema alone).
pub fn scopes(ctx: &Context<'_>) -> Scopes {
    ctx.data_opt::<Scopes>().copied().unwrap_or_default()
}

/// The scope an operation type needs.
fn needed(ty: OperationType) -> Scope {
    match ty {
        OperationType::Query | OperationType::Subscription => Scope::Read,
        OperationType::Mutation => Scope::Write,
    }
}

/// The extension factory; one extension per request.
pub struct ScopeCheck;

impl ExtensionFactory for ScopeCheck {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ScopeCheckExtension::default())
    }
}

#[derive(Default)]
struct ScopeCheckExtension {
    /// The operation the request names, seen in `prepare_request`.
    operation: Mutex<Option<String>>,
}

impl ScopeCheckExtension {
    /// The type of the operation that will run; none when the document does not say (an
    /// unknown or missing operation name, which async-graphql refuses itself).
    fn operation_type(&self, document: &ExecutableDocument) -> Option<OperationType> {
        let name = self.operation.lock().ok()?.clone();
        match (&document.operations, name) {
            (DocumentOperations::Single(op), _) => Some(op.node.ty),
            (DocumentOperations::Multiple(ops), Some(name)) => {
                ops.get(name.as_str()).map(|op| op.node.ty)
            }
            (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => {
                ops.values().next().map(|op| op.node.ty)
            }
            _ => None,
        }
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for ScopeCheckExtension {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        if let Ok(mut operation) = self.operation.lock() {
            operation.clone_from(&request.operation_name);
        }
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let Some(ty) = self.operation_type(&document) else {
            return Ok(document);
        };
        let scopes = ctx.data_opt::<Scopes>().copied().unwrap_or_default();
        let scope = needed(ty);
        if !scopes.allows(scope) {
            let mut error = ServerError::new(
                format!("this credential lacks the `{scope}` scope this operation needs"),
                None,
            );
            let extensions = error.extensions.get_or_insert_with(Default::default);
            extensions.set("code", ErrorCode::Forbidden.as_str());
            extensions.set("scope", scope.as_str());
            return Err(error);
        }
        Ok(document)
    }
}
