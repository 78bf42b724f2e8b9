//! Abuse limits that async-graphql lacks — aliases and tokens, counted before execution as
//! GraphQL Armor does — depth (introspection exempt, which async-graphql's own depth limit cannot
//! do), field selections with fragments expanded, and the marker that tells the HTTP layer
//! whether a request executed.
//!
//! async-graphql's own limits (complexity, recursive depth, directives) are set on the schema
//! builder; this extension adds the rest in its `parse_query` hook, so an oversized document is
//! refused before it is even parsed, and nothing over a limit ever runs.
//!
//! The field count guards against the fragment-spread bomb: `fragment F0 on Query { ...F1 ...F1 }`
//! and so on, ten tokens a level, expands to 2^n fields. async-graphql's recursive-depth check
//! (which runs as it parses) and its validation rules walk every spread expanded, so their time
//! doubles with each level. [`count_fields`] counts each fragment once, in time linear in the
//! document, and [`DocumentLimits::check`] runs it before async-graphql's checks, so a bomb is
//! refused before anything walks it. The HTTP layer runs `check` itself on a blocking thread, and
//! hands the schema the parsed document marked [`Checked`]; validation then runs on the async
//! worker, but only on documents within `max_fields`.

use std::{
    collections::{HashMap, HashSet},
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
use crate::config::GraphqlSettings;

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

/// Request data saying the document was parsed and passed [`DocumentLimits::check`] already
/// (the HTTP layer does that off the async workers); the extension does not check it again.
pub struct Checked;

/// The limits, and the extension factory; one extension per request.
#[derive(Debug, Clone, Copy)]
pub struct DocumentLimits {
    pub max_tokens: usize,
    pub max_aliases: usize,
    pub max_depth: usize,
    pub max_fields: usize,
}

impl DocumentLimits {
    pub fn new(settings: &GraphqlSettings) -> Self {
        Self {
            max_tokens: settings.max_tokens,
            max_aliases: settings.max_aliases,
            max_depth: settings.max_depth,
            max_fields: settings.max_fields,
        }
    }

    /// The limits that must hold before async-graphql looks at a document: its tokens, then
    /// its field selections with fragments expanded. Time linear in the document. The parsed
    /// document when it is within them; `None` when it does not parse (async-graphql reports
    /// that with its own message).
    pub fn check(&self, query: &str) -> ServerResult<Option<ExecutableDocument>> {
        if count_tokens(query, self.max_tokens) > self.max_tokens {
            return Err(refused(
                ErrorCode::GraphqlValidationFailed,
                format!("the document has more than {} tokens", self.max_tokens),
                "tokens",
            ));
        }
        let Ok(document) = async_graphql::parser::parse_query(query) else {
            return Ok(None);
        };
        if count_fields(&document, self.max_fields) > self.max_fields {
            return Err(refused(
                ErrorCode::GraphqlValidationFailed,
                format!(
                    "the document selects more than {} fields with its fragments expanded \
                     (max_fields)",
                    self.max_fields
                ),
                "fields",
            ));
        }
        Ok(Some(document))
    }
}

impl ExtensionFactory for DocumentLimits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(DocumentLimitsExtension(*self))
    }
}

struct DocumentLimitsExtension(DocumentLimits);

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
        let limits = &self.0;
        if ctx.data_opt::<Checked>().is_none() {
            limits.check(query)?;
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
        if aliases > limits.max_aliases {
            return Err(refused(
                ErrorCode::GraphqlValidationFailed,
                format!(
                    "the document has {aliases} aliases; at most {} are allowed",
                    limits.max_aliases
                ),
                "aliases",
            ));
        }
        let depth = depth(&document);
        if depth > limits.max_depth {
            return Err(refused(
                ErrorCode::GraphqlValidationFailed,
                format!(
                    "the document is nested too deep: depth {depth}, at most {}",
                    limits.max_depth
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

/// Counts the field selections of every operation with fragment spreads expanded, stopping once
/// past `limit`: what validating and executing the document would walk. Each fragment is counted
/// once and remembered, so the count takes time linear in the document however many times its
/// fragments are spread; sums saturate. A spread of a fragment being counted (a cycle, which
/// validation refuses) counts 0, and so does a spread of an unknown fragment.
pub fn count_fields(document: &ExecutableDocument, limit: usize) -> usize {
    struct Counter<'a> {
        document: &'a ExecutableDocument,
        limit: usize,
        memo: HashMap<&'a str, usize>,
        counting: HashSet<&'a str>,
    }

    impl<'a> Counter<'a> {
        fn selections(&mut self, set: &'a SelectionSet) -> usize {
            let mut count: usize = 0;
            for item in &set.items {
                let more = match &item.node {
                    Selection::Field(f) => {
                        1usize.saturating_add(self.selections(&f.node.selection_set.node))
                    }
                    Selection::InlineFragment(f) => self.selections(&f.node.selection_set.node),
                    Selection::FragmentSpread(spread) => {
                        self.fragment(spread.node.fragment_name.node.as_str())
                    }
                };
                count = count.saturating_add(more);
                if count > self.limit {
                    break;
                }
            }
            count
        }

        fn fragment(&mut self, name: &'a str) -> usize {
            if let Some(count) = self.memo.get(name) {
                return *count;
            }
            let Some((name, fragment)) = self.document.fragments.get_key_value(name) else {
                return 0;
            };
            if !self.counting.insert(name.as_str()) {
                return 0;
            }
            let count = self.selections(&fragment.node.selection_set.node);
            self.counting.remove(name.as_str());
            self.memo.insert(name.as_str(), count);
            count
        }
    }

    let mut counter = Counter {
        document,
        limit,
        memo: HashMap::new(),
        counting: HashSet::new(),
    };
    let mut count: usize = 0;
    for (_, operation) in document.operations.iter() {
        count = count.saturating_add(counter.selections(&operation.node.selection_set.node));
        if count > limit {
            break;
        }
    }
    count
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

    /// `query { ...F0 } fragment F0 on Query { ...F1 ...F1 } … fragment Fn on Query { a { b } }`:
    /// 2^n × 2 fields.
    fn bomb(levels: usize) -> String {
        let mut query = "query { ...F0 } ".to_owned();
        for i in 0..levels {
            let next = i + 1;
            query.push_str(&format!(
                "fragment F{i} on Query {{ ...F{next} ...F{next} }} "
            ));
        }
        query.push_str(&format!("fragment F{levels} on Query {{ a {{ b }} }}"));
        query
    }

    #[test]
    fn fields_are_counted_with_fragments_expanded_each_once() {
        let doc = async_graphql::parser::parse_query(bomb(3)).unwrap();
        assert_eq!(count_fields(&doc, 100), 16);
        let deep = async_graphql::parser::parse_query(bomb(30)).unwrap();
        assert_eq!(count_fields(&deep, usize::MAX), 1 << 31);
        assert_eq!(count_fields(&deep, 5_000), 8_192);
        let huge = async_graphql::parser::parse_query(bomb(100)).unwrap();
        assert_eq!(count_fields(&huge, usize::MAX), usize::MAX);
    }

    #[test]
    fn inline_fragments_count_and_cycles_end() {
        let doc = async_graphql::parser::parse_query(
            "query One { a ... on Q { b { c } ...F } } query Two { d } fragment F on Q { e ...F ...Unknown }",
        )
        .unwrap();
        assert_eq!(count_fields(&doc, 100), 5);
        let cycle = async_graphql::parser::parse_query(
            "{ ...A } fragment A on Q { a ...B } fragment B on Q { b ...A ...B }",
        )
        .unwrap();
        assert_eq!(count_fields(&cycle, 100), 2);
    }

    #[test]
    fn the_check_refuses_a_bomb_and_leaves_unparsable_documents_to_async_graphql() {
        let limits = DocumentLimits::new(&GraphqlSettings::default());
        let error = limits.check(&bomb(30)).unwrap_err();
        assert!(error.message.contains("max_fields"), "{}", error.message);
        assert!(limits.check(&bomb(3)).unwrap().is_some());
        assert!(limits.check("{ a").unwrap().is_none());
    }
}
