//! Field errors handled as the GraphQL spec says ("Handling Execution Errors"): a field whose
//! resolver fails is `null` in the response, beside its error in `errors` with the field's path;
//! when the field is non-null, the `null` moves up to its nearest nullable ancestor (a field or a
//! list item), and to `data` itself when every position up to the root is non-null.
//!
//! async-graphql does otherwise: it leaves a failed field out of its object, and an object whose
//! every selected field failed becomes `null`, so a client reading `contact.company` cannot tell
//! a provider's failure from a field it never asked for, and `{ node(id:) }` alone answers
//! `data: null`. This extension wraps the resolution of every field. A field that fails resolves
//! to `null`, and its error is kept here; a non-null one is also marked *pending*. When a field
//! finishes, the pending positions directly below it (through its lists) are settled: the deepest
//! nullable list item on the way becomes `null`, else the field itself, which, when non-null too,
//! is pending in turn. After execution the errors join the response, and a position still pending
//! (a root field, or a field of a subscription's event) makes `data` `null`.
//!
//! A provider failure that a list reports beside the other providers' records (`merged_page`) is
//! not a field error: the field keeps its value and the error names its path.

use std::sync::{Arc, Mutex, MutexGuard};

use async_graphql::{
    PathSegment, QueryPathNode, QueryPathSegment, Response, ServerError, ServerResult, Value,
    extensions::{
        Extension, ExtensionContext, ExtensionFactory, NextExecute, NextResolve, ResolveInfo,
    },
};

/// The extension factory; one extension per request (and per subscription).
pub struct Completion;

impl ExtensionFactory for Completion {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(CompletionExtension::default())
    }
}

#[derive(Default)]
struct CompletionExtension(Mutex<State>);

/// What an execution has left to complete.
#[derive(Default)]
struct State {
    /// The errors of the fields that failed, in the order they failed.
    errors: Vec<ServerError>,
    /// Non-null positions holding `null` that an ancestor has yet to take.
    pending: Vec<Vec<PathSegment>>,
}

impl CompletionExtension {
    fn state(&self) -> MutexGuard<'_, State> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The value of the field at `node`, of GraphQL type `return_type`, with the pending
    /// positions below it settled.
    fn settle(&self, node: &QueryPathNode<'_>, return_type: &str, value: Value) -> Value {
        let mut state = self.state();
        if state.pending.is_empty() {
            return value;
        }
        let path = path_of(node);
        let (below, others): (Vec<_>, Vec<_>) = std::mem::take(&mut state.pending)
            .into_iter()
            .partition(|p| p.len() > path.len() && p.starts_with(&path));
        state.pending = others;
        let levels = nullability(return_type);
        let mut value = value;
        let mut field_null = false;
        for pending in below {
            // Between the field and the pending one: the list indices that lead to its object.
            let indices: Option<Vec<usize>> = pending[path.len()..pending.len() - 1]
                .iter()
                .map(|segment| match segment {
                    PathSegment::Index(i) => Some(*i),
                    PathSegment::Field(_) => None,
                })
                .collect();
            let Some(indices) = indices else {
                field_null = true;
                continue;
            };
            let nearest = (1..=indices.len())
                .rev()
                .find(|depth| levels.get(*depth).copied().unwrap_or(false));
            match nearest {
                Some(depth) => {
                    if let Some(item) = item_at(&mut value, &indices[..depth]) {
                        *item = Value::Null;
                    }
                }
                None => field_null = true,
            }
        }
        if field_null {
            if !levels[0] {
                state.pending.push(path);
            }
            return Value::Null;
        }
        value
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for CompletionExtension {
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let mut response = next.run(ctx, operation_name).await;
        let state = std::mem::take(&mut *self.state());
        if !state.pending.is_empty() {
            response.data = Value::Null;
        }
        response.errors.extend(state.errors);
        response
    }

    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        let node = info.path_node;
        let return_type = info.return_type;
        match next.run(ctx, info).await {
            Ok(value) => Ok(value.map(|v| self.settle(node, return_type, v))),
            Err(mut error) => {
                let path = path_of(node);
                if error.path.is_empty() {
                    error.path = path.clone();
                }
                let mut state = self.state();
                state.errors.push(error);
                if !nullability(return_type)[0] {
                    state.pending.push(path);
                }
                Ok(Some(Value::Null))
            }
        }
    }
}

/// Whether each level of a GraphQL type may be `null`: the type itself, then the items of each
/// list level (`[Contact!]!` → `[false, false]`, `[Contact]` → `[true, true]`).
fn nullability(mut ty: &str) -> Vec<bool> {
    let mut levels = Vec::new();
    loop {
        let inner = ty.strip_suffix('!');
        levels.push(inner.is_none());
        ty = inner.unwrap_or(ty);
        match ty.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            Some(item) => ty = item,
            None => return levels,
        }
    }
}

/// The response path of a field being resolved.
fn path_of(node: &QueryPathNode<'_>) -> Vec<PathSegment> {
    let mut path: Vec<PathSegment> = std::iter::once(node)
        .chain(node.parents())
        .map(|n| match n.segment {
            QueryPathSegment::Index(i) => PathSegment::Index(i),
            QueryPathSegment::Name(name) => PathSegment::Field(name.to_owned()),
        })
        .collect();
    path.reverse();
    path
}

/// The item of nested lists at `indices`.
fn item_at<'v>(value: &'v mut Value, indices: &[usize]) -> Option<&'v mut Value> {
    indices.iter().try_fold(value, |value, index| match value {
        Value::List(items) => items.get_mut(*index),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nullability_reads_each_list_level() {
        assert_eq!(nullability("Company"), [true]);
        assert_eq!(nullability("DealConnection!"), [false]);
        assert_eq!(nullability("[Contact!]!"), [false, false]);
        assert_eq!(nullability("[Contact]"), [true, true]);
        assert_eq!(nullability("[[Int!]]!"), [false, true, false]);
    }
}
