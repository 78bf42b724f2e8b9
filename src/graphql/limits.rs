//! Abuse limits that async-graphql lacks — aliases and tokens, counted before execution as
//! GraphQL Armor does — depth (introspection exempt, which async-graphql's own depth limit cannot
//! do), and the marker that tells the HTTP layer whether a request executed.
//!
//! async-graphql's own limits (complexity, recursive depth, directives) are set on the schema
//! builder; this extension adds the rest in its `parse_query` hook, so an oversized document is
//! refused before it is even parsed, and nothing over a limit ever runs.

use std::{
    collections::HashMap,
    sync::{
        Arc, OnceLock,
        atomic::{AtomicBool, Ordering},
    },
};

use async_graphql::{
    Response, ServerError, ServerResult, Variables,
    extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery},
    parser::types::{DocumentOperations, ExecutableDocument, Selection, SelectionSet},
};

use super::errors::ErrorCode;

/// Set once execution starts, with the operation's name. Errors of a request that never
/// executed are request errors (GraphQL over HTTP: no `data`, and 400 under
/// `application/graphql-response+json`).
#[derive(Clone, Default)]
pub struct Executed(Arc<(AtomicBool, OnceLock<String>)>);

impl Executed {
    pub fn get(&self) -> bool {
        self.0.0.load(Ordering::Acquire)
    }

    /// The name of the operation that executed, when it has one.
    pub fn operation(&self) -> Option<&str> {
        self.0.1.get().map(String::as_str)
    }
}

/// The extension factory; one `DocumentLimits` per request.
pub struct DocumentLimits {
    pub max_tokens: usize,
    pub max_aliases: usize,
    pub max_depth: usize,
}

impl ExtensionFactory for DocumentLimits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(DocumentLimitsExtension {
            max_tokens: self.max_tokens,
            max_aliases: self.max_aliases,
            max_depth: self.max_depth,
        })
    }
}

struct DocumentLimitsExtension {
    max_tokens: usize,
    max_aliases: usize,
    max_depth: usize,
}

fn refused(code: ErrorCode, message: String, limit: &str) -> ServerError {
    let mut error = ServerError::new(message, None);
    let ext = error.extensions.get_or_insert_with(Default::default);
    ext.set("code", code.as_str());
    ext.set("limit", limit);
    error
}

#[async_graphql::async_trait::async_trait]
impl Extension for DocumentLimitsExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let tokens = count_tokens(query, self.max_tokens);
        if tokens > self.max_tokens {
            return Err(refused(
                ErrorCode::GraphqlValidationFailed,
                format!("the document has more than {} tokens", self.max_tokens),
                "tokens",
            ));
        }
        let document = next.run(ctx, query, variables).await.map_err(|mut error| {
            // async-graphql's recursive-depth and directive limits also fail in this hook;
            // only a document that does not parse is a parse failure.
            let code = if async_graphql::parser::parse_query(query).is_err() {
                ErrorCode::GraphqlParseFailed
            } else {
                ErrorCode::GraphqlValidationFailed
            };
            error
                .extensions
                .get_or_insert_with(Default::default)
                .set("code", code.as_str());
            error
        })?;
        let aliases = count_aliases(&document);
        if aliases > self.max_aliases {
            return Err(refused(
                ErrorCode::GraphqlValidationFailed,
                format!(
                    "the document has {aliases} aliases; at most {} are allowed",
                    self.max_aliases
                ),
                "aliases",
            ));
        }
        let depth = depth(&document);
        if depth > self.max_depth {
            return Err(refused(
                ErrorCode::GraphqlValidationFailed,
                format!(
                    "the document is nested too deep: depth {depth}, at most {}",
                    self.max_depth
                ),
                "depth",
            ));
        }
        Ok(document)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        if let Some(executed) = ctx.data_opt::<Executed>() {
            if let Some(name) = operation_name {
                let _ = executed.0.1.set(name.to_owned());
            }
            executed.0.0.store(true, Ordering::Release);
        }
        next.run(ctx, operation_name).await
    }
}

/// Counts lexical tokens (punctuators, names, numbers, strings), stopping once past `limit`.
/// White space, commas and comments are not tokens, as in the GraphQL spec.
pub fn count_tokens(source: &str, limit: usize) -> usize {
    let b = source.as_bytes();
    let (mut i, mut n) = (0, 0);
    let continues_name = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    while i < b.len() && n <= limit {
        match b[i] {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => i += 1,
            0xEF if b[i..].starts_with(&[0xEF, 0xBB, 0xBF]) => i += 3,
            b'#' => {
                while i < b.len() && b[i] != b'\n' && b[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' if b[i..].starts_with(b"\"\"\"") => {
                n += 1;
                i += 3;
                while i < b.len() && !b[i..].starts_with(b"\"\"\"") {
                    i += if b[i..].starts_with(b"\\\"\"\"") {
                        4
                    } else {
                        1
                    };
                }
                i += 3;
            }
            b'"' => {
                n += 1;
                i += 1;
                while i < b.len() && b[i] != b'"' && b[i] != b'\n' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'.' if b[i..].starts_with(b"...") => {
                n += 1;
                i += 3;
            }
            c if continues_name(c) || c == b'-' => {
                n += 1;
                i += 1;
                while i < b.len()
                    && (continues_name(b[i])
                        || b[i] == b'.'
                        || ((b[i] == b'+' || b[i] == b'-') && matches!(b[i - 1], b'e' | b'E')))
                {
                    i += 1;
                }
            }
            _ => {
                n += 1;
                i += 1;
            }
        }
    }
    n
}

/// The deepest field nesting of any operation, following fragments. Introspection (`__schema`,
/// `__type`) does not count, as in GraphQL Armor: tools' introspection queries nest `ofType`
/// far deeper than any data query needs.
pub fn depth(document: &ExecutableDocument) -> usize {
    fn walk(
        set: &SelectionSet,
        document: &ExecutableDocument,
        memo: &mut HashMap<String, usize>,
        visiting: &mut Vec<String>,
    ) -> usize {
        set.items
            .iter()
            .map(|item| match &item.node {
                Selection::Field(f) if f.node.name.node.starts_with("__") => 0,
                Selection::Field(f) => {
                    1 + walk(&f.node.selection_set.node, document, memo, visiting)
                }
                Selection::InlineFragment(f) => {
                    walk(&f.node.selection_set.node, document, memo, visiting)
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.to_string();
                    if let Some(depth) = memo.get(&name) {
                        return *depth;
                    }
                    if visiting.contains(&name) {
                        return 0;
                    }
                    let Some(fragment) = document
                        .fragments
                        .get(spread.node.fragment_name.node.as_str())
                    else {
                        return 0;
                    };
                    visiting.push(name.clone());
                    let depth = walk(&fragment.node.selection_set.node, document, memo, visiting);
                    visiting.pop();
                    memo.insert(name, depth);
                    depth
                }
            })
            .max()
            .unwrap_or(0)
    }
    let mut memo = HashMap::new();
    let mut visiting = Vec::new();
    match &document.operations {
        DocumentOperations::Single(op) => walk(
            &op.node.selection_set.node,
            document,
            &mut memo,
            &mut visiting,
        ),
        DocumentOperations::Multiple(map) => map
            .values()
            .map(|op| {
                walk(
                    &op.node.selection_set.node,
                    document,
                    &mut memo,
                    &mut visiting,
                )
            })
            .max()
            .unwrap_or(0),
    }
}

/// Counts aliased fields in every operation and fragment of a document.
pub fn count_aliases(document: &ExecutableDocument) -> usize {
    fn walk(set: &SelectionSet) -> usize {
        set.items
            .iter()
            .map(|item| match &item.node {
                Selection::Field(f) => {
                    usize::from(f.node.alias.is_some()) + walk(&f.node.selection_set.node)
                }
                Selection::InlineFragment(f) => walk(&f.node.selection_set.node),
                Selection::FragmentSpread(_) => 0,
            })
            .sum()
    }
    let operations: usize = match &document.operations {
        DocumentOperations::Single(op) => walk(&op.node.selection_set.node),
        DocumentOperations::Multiple(map) => map
            .values()
            .map(|op| walk(&op.node.selection_set.node))
            .sum(),
    };
    operations
        + document
            .fragments
            .values()
            .map(|f| walk(&f.node.selection_set.node))
            .sum::<usize>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_counted_as_the_spec_lexes_them() {
        assert_eq!(count_tokens("{ a }", 100), 3);
        assert_eq!(
            count_tokens("query Q($x: Int = -1.5e+3) { a(x: $x) }", 100),
            19
        );
        assert_eq!(count_tokens("# only a comment\n, ,", 100), 0);
        assert_eq!(
            count_tokens(r#"{ a(s: "x \" y", t: """ a "" \""" b """) }"#, 100),
            11
        );
        assert_eq!(count_tokens("{ ...F } fragment F on Q { a }", 100), 11);
    }

    #[test]
    fn counting_stops_past_the_limit() {
        let huge = "{ a ".repeat(100_000);
        assert_eq!(count_tokens(&huge, 1000), 1001);
    }

    #[test]
    fn depth_follows_fragments_and_skips_introspection() {
        let doc = async_graphql::parser::parse_query(
            "query { a { b { ...F } } __schema { types { fields { type { ofType { ofType { name } } } } } } } fragment F on T { c { d } ...G } fragment G on T { e { f { g } } }",
        )
        .unwrap();
        assert_eq!(depth(&doc), 5);
        let cyclic =
            async_graphql::parser::parse_query("{ a { ...F } } fragment F on T { b { ...F } }")
                .unwrap();
        assert_eq!(depth(&cyclic), 2);
    }

    #[test]
    fn aliases_in_operations_fragments_and_inline_fragments() {
        let doc = async_graphql::parser::parse_query(
            "query { x: a y: b { z: c } ... on Q { w: d } ...F } fragment F on Q { v: e }",
        )
        .unwrap();
        assert_eq!(count_aliases(&doc), 5);
    }
}
