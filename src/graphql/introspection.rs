//! Introspection refused out loud. With `graphql.introspection` off (`serve`'s default),
//! async-graphql answers `__schema` and `__type` with a silent `null`, which tools such as
//! GraphiQL read as a broken schema. This extension, added only when introspection is off,
//! refuses before execution an operation that selects either at its root — directly or through
//! fragments — with `INTROSPECTION_DISABLED`, a message naming the setting that turns it on,
//! and that setting in `extensions.setting`. `__typename` stays allowed everywhere.

use std::{collections::HashSet, sync::Arc};

use async_graphql::{
    ServerError, ServerResult, Variables,
    extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery},
    parser::types::{ExecutableDocument, OperationType, Selection, SelectionSet},
};

use super::errors::ErrorCode;

/// The setting that turns introspection on, as the refusal names it.
pub const SETTING: &str = "graphql.introspection";

/// The extension factory.
pub struct IntrospectionOff;

impl ExtensionFactory for IntrospectionOff {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(IntrospectionOff)
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for IntrospectionOff {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        if introspects(&document) {
            let mut error = ServerError::new(
                format!(
                    "introspection is disabled on this gateway; set {SETTING} = true \
                     (NEXUS_GRAPHQL__INTROSPECTION=true) to enable it"
                ),
                None,
            );
            let extensions = error.extensions.get_or_insert_with(Default::default);
            extensions.set("code", ErrorCode::IntrospectionDisabled.as_str());
            extensions.set("setting", SETTING);
            return Err(error);
        }
        Ok(document)
    }
}

/// Whether a query of `document` selects `__schema` or `__type` at its root.
pub fn introspects(document: &ExecutableDocument) -> bool {
    document
        .operations
        .iter()
        .filter(|(_, op)| op.node.ty == OperationType::Query)
        .any(|(_, op)| at_root(document, &op.node.selection_set.node, &mut HashSet::new()))
}

/// The root selections, following inline fragments and fragment spreads (each fragment once).
fn at_root<'a>(
    document: &'a ExecutableDocument,
    set: &'a SelectionSet,
    seen: &mut HashSet<&'a str>,
) -> bool {
    set.items.iter().any(|item| match &item.node {
        Selection::Field(field) => matches!(field.node.name.node.as_str(), "__schema" | "__type"),
        Selection::InlineFragment(fragment) => {
            at_root(document, &fragment.node.selection_set.node, seen)
        }
        Selection::FragmentSpread(spread) => {
            let name = spread.node.fragment_name.node.as_str();
            seen.insert(name)
                && document
                    .fragments
                    .get(&spread.node.fragment_name.node)
                    .is_some_and(|f| at_root(document, &f.node.selection_set.node, seen))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::introspects;

    fn check(query: &str) -> bool {
        introspects(&async_graphql::parser::parse_query(query).unwrap())
    }

    #[test]
    fn root_introspection_is_found_directly_and_through_fragments() {
        assert!(check("{ __schema { queryType { name } } }"));
        assert!(check(r#"{ __type(name: "Contact") { name } }"#));
        assert!(check(
            "query Q { ...F } fragment F on Query { __schema { types { name } } }"
        ));
        assert!(check("{ ... on Query { __type(name: \"X\") { name } } }"));
        assert!(check(
            "query A { __typename } query B { __schema { types { name } } }"
        ));
    }

    #[test]
    fn typename_and_ordinary_fields_are_not_introspection() {
        assert!(!check("{ __typename viewer { __typename user { id } } }"));
        assert!(!check("mutation { __typename }"));
        assert!(!check(
            "query Q { ...F ...F } fragment F on Query { viewer { user { id } } }"
        ));
    }
}
