//! The OData query options Graph lists take, in the subset Outlook clients use, and paging.
//!
//! - `$top` (1–1000; the default is the list's own, 10 for messages), `$skip`, `$count=true`
//!   (`@odata.count`), `$select` (always keeping `id` and annotations: `@odata.etag`, `@removed`), `$orderby` on one field
//!   `asc|desc`.
//! - `$filter`: clauses joined by `and`, each `field eq|ne|gt|ge|lt|le value` or
//!   `contains(field,'text')` / `startswith(field,'text')`. Values are `'strings'` (`''` escapes
//!   a quote), `true`/`false`, numbers or unquoted ISO date-times. Each list names the fields it
//!   filters on (`from/emailAddress/address`, `receivedDateTime`, `isRead`, `subject`, ...);
//!   anything else is 400 `BadRequest` "Invalid filter clause".
//! - `categories/any(c:c eq 'x')`: a string collection holds a value (Outlook categories).
//! - `$search="..."`: KQL-lite — `from:x`, `to:x`, `participants:x` (from, to, cc or bcc),
//!   `subject:x`, `body:x`, `isread:true|false`, `category:x`, `received>=<date-time>` (also
//!   `>`, `<=`, `<`, `=`) and plain words, all of
//!   which must match (case-insensitive substrings). Graph refuses `$orderby` with `$search`, and so
//!   does the sandbox.
//! - `$filter` with `$orderby`: Outlook answers 400 `InefficientFilter` unless the sorted
//!   property also appears in `$filter`, in its first clause (every `$orderby` property in
//!   `$filter`, in the same order, before any other), so `$filter=isRead eq false&$orderby=receivedDateTime desc`
//!   is refused and `$filter=receivedDateTime ge 1900-01-01T00:00:00Z and isRead eq false&...` is not.
//! - Paging: `@odata.nextLink` is the request's own URL with `$skip` moved on; the last page has none.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::error::{GraphResult, bad_request, inefficient_filter};

/// The query options of one request.
#[derive(Debug, Default, Clone)]
pub struct Options {
    pub top: Option<usize>,
    pub skip: usize,
    pub select: Vec<String>,
    pub filter: Vec<Clause>,
    pub search: Vec<Term>,
    pub orderby: Option<(String, bool)>,
    pub count: bool,
    /// Every parameter as sent, to build links from.
    pub pairs: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Contains,
    StartsWith,
    /// `field/any(x:x eq value)`: a collection of strings holds the value.
    AnyEq,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Text(String),
    Bool(bool),
    Number(f64),
    Time(DateTime<Utc>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Clause {
    pub field: String,
    pub op: Op,
    pub value: Literal,
}

/// One `$search` term: a property (`from`, `to`, `subject`, `body`) or anywhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub property: Option<String>,
    pub text: String,
}

impl Options {
    /// Parses the raw query string; `filterable` names the fields `$filter` may use.
    pub fn parse(raw: Option<&str>, filterable: &[&str]) -> GraphResult<Self> {
        let pairs: Vec<(String, String)> =
            url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
                .into_owned()
                .collect();
        let mut options = Options {
            pairs: pairs.clone(),
            ..Options::default()
        };
        for (key, value) in &pairs {
            match key.as_str() {
                "$top" => {
                    let top = value
                        .parse::<usize>()
                        .ok()
                        .filter(|t| (1..=1000).contains(t))
                        .ok_or_else(|| {
                            bad_request(format!(
                                "Invalid value '{value}' for $top. $top must be between 1 and 1000."
                            ))
                        })?;
                    options.top = Some(top);
                }
                "$skip" => {
                    options.skip = value
                        .parse()
                        .map_err(|_| bad_request(format!("Invalid value '{value}' for $skip.")))?;
                }
                "$select" => {
                    options.select = value
                        .split(',')
                        .map(|s| s.trim().to_owned())
                        .filter(|s| !s.is_empty())
                        .collect();
                }
                "$filter" => options.filter = parse_filter(value, filterable)?,
                "$search" => options.search = parse_search(value)?,
                "$orderby" => {
                    let mut words = value.split_whitespace();
                    let field = words.next().unwrap_or_default().to_owned();
                    let desc = match words.next().map(str::to_ascii_lowercase).as_deref() {
                        None | Some("asc") => false,
                        Some("desc") => true,
                        Some(other) => {
                            return Err(bad_request(format!(
                                "Invalid $orderby direction '{other}'."
                            )));
                        }
                    };
                    if field.is_empty() {
                        return Err(bad_request("Invalid $orderby expression."));
                    }
                    options.orderby = Some((field, desc));
                }
                "$count" => {
                    options.count = match value.as_str() {
                        "true" => true,
                        "false" => false,
                        _ => {
                            return Err(bad_request(format!(
                                "Invalid value '{value}' for $count."
                            )));
                        }
                    }
                }
                _ => {}
            }
        }
        if !options.search.is_empty() && options.orderby.is_some() {
            return Err(bad_request(
                "The query parameter '$orderBy' is not supported with '$search'.",
            ));
        }
        if let (Some((sorted, _)), Some(first)) = (&options.orderby, options.filter.first())
            && !first.field.eq_ignore_ascii_case(sorted)
        {
            return Err(inefficient_filter());
        }
        Ok(options)
    }

    /// Whether an item passes `$filter` and `$search`.
    pub fn matches(&self, item: &Value) -> bool {
        self.filter.iter().all(|c| c.matches(item)) && self.search.iter().all(|t| t.matches(item))
    }

    /// `$select`ed fields of an item (all when none are named).
    pub fn project(&self, item: Value) -> Value {
        if self.select.is_empty() {
            return item;
        }
        let Value::Object(map) = item else {
            return item;
        };
        let kept: Map<String, Value> = map
            .into_iter()
            .filter(|(k, _)| {
                k == "id"
                    || k.starts_with('@')
                    || self.select.iter().any(|s| s.eq_ignore_ascii_case(k))
            })
            .collect();
        Value::Object(kept)
    }

    /// Sorts by `$orderby` (or the list's default) in place.
    pub fn sort(&self, items: &mut [Value], default: (&str, bool)) -> GraphResult<()> {
        let (field, desc) = self
            .orderby
            .as_ref()
            .map_or(default, |(f, d)| (f.as_str(), *d));
        if items.first().is_some_and(|i| lookup(i, field).is_none()) {
            return Err(bad_request(format!(
                "Could not find a property named '{field}' on type 'microsoft.graph.entity'."
            )));
        }
        items.sort_by(|a, b| {
            let order = compare(lookup(a, field), lookup(b, field));
            if desc { order.reverse() } else { order }
        });
        Ok(())
    }

    /// One page of `items` (already filtered and sorted) with `@odata.context`, `@odata.count`
    /// and `@odata.nextLink` (the request's URL `path` with `$skip` moved on).
    pub fn page(&self, items: Vec<Value>, default_top: usize, context: &str, url: &str) -> Value {
        let top = self.top.unwrap_or(default_top);
        let total = items.len();
        let value: Vec<Value> = items
            .into_iter()
            .skip(self.skip)
            .take(top)
            .map(|i| self.project(i))
            .collect();
        let mut body = json!({ "@odata.context": context });
        if self.count {
            body["@odata.count"] = json!(total);
        }
        body["value"] = Value::Array(value);
        if self.skip + top < total {
            body["@odata.nextLink"] =
                json!(self.link(url, &[("$skip", (self.skip + top).to_string())], &["$skip"]));
        }
        body
    }

    /// `url` with the request's parameters, minus `drop`, plus `add`.
    pub fn link(&self, url: &str, add: &[(&str, String)], drop: &[&str]) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in self
            .pairs
            .iter()
            .filter(|(k, _)| !drop.contains(&k.as_str()))
        {
            query.append_pair(k, v);
        }
        for (k, v) in add {
            query.append_pair(k, v);
        }
        let query = query.finish();
        if query.is_empty() {
            url.to_owned()
        } else {
            format!("{url}?{query}")
        }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A field by its OData path (`from/emailAddress/address`).
pub fn lookup<'a>(item: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('/').try_fold(item, |v, key| {
        v.as_object()?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

fn compare(a: Option<&Value>, b: Option<&Value>) -> std::cmp::Ordering {
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(std::cmp::Ordering::Equal),
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => x.cmp(y),
        (Some(x), Some(y)) => x
            .as_str()
            .unwrap_or_default()
            .to_lowercase()
            .cmp(&y.as_str().unwrap_or_default().to_lowercase()),
        (a, b) => a.is_some().cmp(&b.is_some()),
    }
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|t| t.and_utc())
        })
}

impl Clause {
    fn matches(&self, item: &Value) -> bool {
        let Some(actual) = lookup(item, &self.field) else {
            return false;
        };
        if self.op == Op::AnyEq {
            let Literal::Text(want) = &self.value else {
                return false;
            };
            return actual.as_array().is_some_and(|items| {
                items
                    .iter()
                    .any(|v| v.as_str().is_some_and(|s| s.eq_ignore_ascii_case(want)))
            });
        }
        let ordering = match (&self.value, actual) {
            (Literal::Text(want), Value::String(have)) => {
                let (want, have) = (want.to_lowercase(), have.to_lowercase());
                match self.op {
                    Op::Contains => return have.contains(&want),
                    Op::StartsWith => return have.starts_with(&want),
                    _ => have.cmp(&want),
                }
            }
            (Literal::Time(want), Value::String(have)) => match parse_time(have) {
                Some(have) => have.cmp(want),
                None => return false,
            },
            (Literal::Bool(want), Value::Bool(have)) => have.cmp(want),
            (Literal::Number(want), Value::Number(have)) => {
                match have.as_f64().and_then(|h| h.partial_cmp(want)) {
                    Some(o) => o,
                    None => return false,
                }
            }
            _ => return false,
        };
        use std::cmp::Ordering::*;
        match self.op {
            Op::Eq => ordering == Equal,
            Op::Ne => ordering != Equal,
            Op::Gt => ordering == Greater,
            Op::Ge => ordering != Less,
            Op::Lt => ordering == Less,
            Op::Le => ordering != Greater,
            Op::Contains | Op::StartsWith | Op::AnyEq => false,
        }
    }
}

fn invalid_filter(filter: &str) -> super::error::GraphError {
    bad_request(format!("Invalid filter clause: '{filter}'."))
}

/// Splits on ` and ` outside quotes (case-insensitive).
fn split_and(filter: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let chars: Vec<char> = filter.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            quoted = !quoted;
        }
        if !quoted && c == ' ' {
            let rest: String = chars[i..].iter().take(5).collect();
            if rest.eq_ignore_ascii_case(" and ") {
                parts.push(std::mem::take(&mut current));
                i += 5;
                continue;
            }
        }
        current.push(c);
        i += 1;
    }
    parts.push(current);
    parts
}

fn parse_literal(raw: &str) -> Option<Literal> {
    let raw = raw.trim();
    if let Some(inner) = raw.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
        return Some(Literal::Text(inner.replace("''", "'")));
    }
    match raw {
        "true" => return Some(Literal::Bool(true)),
        "false" => return Some(Literal::Bool(false)),
        _ => {}
    }
    if let Some(t) = parse_time(raw) {
        return Some(Literal::Time(t));
    }
    raw.parse::<f64>().ok().map(Literal::Number)
}

/// `categories/any(c:c eq 'Customer')`: `None` when the clause is no lambda, `Some(None)`
/// when it is one the sandbox does not read.
fn any_eq(part: &str) -> Option<Option<Clause>> {
    let (field, rest) = part.split_once("/any(")?;
    let inner = rest.strip_suffix(')').map(str::trim);
    Some(inner.and_then(|inner| {
        let (var, condition) = inner.split_once(':')?;
        let mut words = condition.trim().splitn(3, ' ');
        let (subject, op, value) = (words.next()?, words.next()?, words.next()?);
        if subject != var.trim() || !op.eq_ignore_ascii_case("eq") {
            return None;
        }
        match parse_literal(value)? {
            Literal::Text(text) => Some(Clause {
                field: field.trim().to_owned(),
                op: Op::AnyEq,
                value: Literal::Text(text),
            }),
            _ => None,
        }
    }))
}

fn parse_filter(filter: &str, filterable: &[&str]) -> GraphResult<Vec<Clause>> {
    let known = |field: &str| filterable.iter().any(|f| f.eq_ignore_ascii_case(field));
    let mut clauses = Vec::new();
    for part in split_and(filter) {
        let part = part.trim();
        let lower = part.to_ascii_lowercase();
        let function = [("contains(", Op::Contains), ("startswith(", Op::StartsWith)]
            .into_iter()
            .find(|(prefix, _)| lower.starts_with(prefix));
        let clause = if let Some(clause) = any_eq(part) {
            clause.ok_or_else(|| invalid_filter(filter))?
        } else if let Some((prefix, op)) = function {
            let inner = part[prefix.len()..]
                .strip_suffix(')')
                .ok_or_else(|| invalid_filter(filter))?;
            let (field, value) = inner
                .split_once(',')
                .ok_or_else(|| invalid_filter(filter))?;
            let value = match parse_literal(value) {
                Some(Literal::Text(t)) => Literal::Text(t),
                _ => return Err(invalid_filter(filter)),
            };
            Clause {
                field: field.trim().to_owned(),
                op,
                value,
            }
        } else {
            let mut words = part.splitn(3, ' ');
            let (Some(field), Some(op), Some(value)) = (words.next(), words.next(), words.next())
            else {
                return Err(invalid_filter(filter));
            };
            let op = match op.to_ascii_lowercase().as_str() {
                "eq" => Op::Eq,
                "ne" => Op::Ne,
                "gt" => Op::Gt,
                "ge" => Op::Ge,
                "lt" => Op::Lt,
                "le" => Op::Le,
                _ => return Err(invalid_filter(filter)),
            };
            Clause {
                field: field.to_owned(),
                op,
                value: parse_literal(value).ok_or_else(|| invalid_filter(filter))?,
            }
        };
        if !known(&clause.field) {
            return Err(bad_request(format!(
                "Invalid filter clause: the property '{}' cannot be filtered on.",
                clause.field
            )));
        }
        clauses.push(clause);
    }
    Ok(clauses)
}

fn parse_search(raw: &str) -> GraphResult<Vec<Term>> {
    let inner = raw
        .trim()
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .ok_or_else(|| {
            bad_request("Syntax error: the $search value must be enclosed in double quotes.")
        })?;
    inner
        .split_whitespace()
        .map(|word| {
            let lower = word.to_ascii_lowercase();
            let Some(rest) = lower.strip_prefix("received") else {
                return Ok(word);
            };
            // `received>=2024-05-01T00:00:00Z`: a comparison, kept whole as its text.
            let time = rest.trim_start_matches(['>', '<', '=']);
            if rest.len() == time.len() || parse_time(time).is_none() {
                return Err(bad_request(format!(
                    "Syntax error: invalid date in '{word}'."
                )));
            }
            Ok(word)
        })
        .map(|word| {
            word.map(|word| match word.split_once(':') {
                Some((p, t))
                    if [
                        "from",
                        "to",
                        "participants",
                        "subject",
                        "body",
                        "isread",
                        "category",
                    ]
                    .contains(&p.to_ascii_lowercase().as_str()) =>
                {
                    Term {
                        property: Some(p.to_ascii_lowercase()),
                        text: t.to_lowercase(),
                    }
                }
                _ if word.to_ascii_lowercase().starts_with("received") => Term {
                    property: Some("received".to_owned()),
                    text: word["received".len()..].to_owned(),
                },
                _ => Term {
                    property: None,
                    text: word.to_lowercase(),
                },
            })
        })
        .collect()
}

impl Term {
    fn matches(&self, item: &Value) -> bool {
        let text = |path: &str| {
            lookup(item, path)
                .map(|v| match v {
                    Value::String(s) => s.to_lowercase(),
                    other => other.to_string().to_lowercase(),
                })
                .unwrap_or_default()
        };
        match self.property.as_deref() {
            Some("received") => {
                let time = self.text.trim_start_matches(['>', '<', '=']);
                let op = &self.text[..self.text.len() - time.len()];
                let (Some(bound), Some(have)) = (
                    parse_time(time),
                    lookup(item, "receivedDateTime")
                        .and_then(Value::as_str)
                        .and_then(parse_time),
                ) else {
                    return false;
                };
                return match op {
                    ">=" => have >= bound,
                    ">" => have > bound,
                    "<=" => have <= bound,
                    "<" => have < bound,
                    _ => have == bound,
                };
            }
            Some("isread") => return text("isRead") == self.text,
            Some("category") => {
                return lookup(item, "categories")
                    .and_then(Value::as_array)
                    .is_some_and(|c| {
                        c.iter().any(|v| {
                            v.as_str()
                                .is_some_and(|v| v.eq_ignore_ascii_case(&self.text))
                        })
                    });
            }
            _ => {}
        }
        let fields: Vec<String> = match self.property.as_deref() {
            Some("from") => vec![text("from")],
            Some("to") => vec![text("toRecipients")],
            Some("participants") => vec![
                text("from"),
                text("toRecipients"),
                text("ccRecipients"),
                text("bccRecipients"),
            ],
            Some("subject") => vec![text("subject")],
            Some("body") => vec![text("body/content")],
            _ => vec![text("subject"), text("body/content"), text("from")],
        };
        fields.iter().any(|f| f.contains(&self.text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_combine_with_and_and_respect_quotes() {
        let fields = [
            "subject",
            "isRead",
            "receivedDateTime",
            "from/emailAddress/address",
        ];
        let o = Options::parse(
            Some("%24filter=isRead%20eq%20false%20and%20contains(subject,%27rock%20and%20roll%27)%20and%20receivedDateTime%20ge%202024-01-01T00:00:00Z"),
            &fields,
        )
        .unwrap();
        assert_eq!(o.filter.len(), 3);
        let item = json!({"isRead": false, "subject": "Rock and Roll", "receivedDateTime": "2024-02-01T00:00:00Z"});
        assert!(o.matches(&item));
        assert!(!o.matches(&json!({"isRead": true, "subject": "Rock and Roll", "receivedDateTime": "2024-02-01T00:00:00Z"})));
        assert!(Options::parse(Some("%24filter=isRead%20eq"), &fields).is_err());
        assert!(Options::parse(Some("%24filter=colour%20eq%20%27red%27"), &fields).is_err());
    }

    #[test]
    fn search_terms_and_paging_links() {
        let o = Options::parse(Some("%24search=%22from%3Aada%20budget%22&%24top=2"), &[]).unwrap();
        let item =
            json!({"subject": "Budget", "from": {"emailAddress": {"address": "ada@x.example"}}});
        assert!(o.matches(&item));
        let page = o.page(
            vec![json!({"id": "1"}), json!({"id": "2"}), json!({"id": "3"})],
            10,
            "ctx",
            "http://h/m",
        );
        assert_eq!(page["value"].as_array().map(Vec::len), Some(2));
        let next = page["@odata.nextLink"].as_str().unwrap();
        assert!(
            next.contains("%24skip=2") && next.contains("%24top=2"),
            "{next}"
        );
    }
}
