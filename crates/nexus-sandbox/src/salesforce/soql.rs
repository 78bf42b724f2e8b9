//! SOQL, as much as a CRM gateway or a typical integration sends: `SELECT fields FROM Object
//! [WHERE …] [ORDER BY …] [LIMIT n] [OFFSET n]`, parsed and run over an org's records.
//!
//! The select list takes fields, relationship paths through lookups (`Account.Name`,
//! `Account.Owner.Email`: a parent record renders as a nested object with its own `attributes`,
//! or `null` when the lookup is empty), parent-to-child subqueries over a child relationship
//! (`(SELECT Id FROM Contacts)`: a nested `{totalSize, done, records}`, or `null` when there are
//! no children; up to five levels, as API v58.0 allows) and `COUNT()` alone (the count is
//! `totalSize`, `records` is empty; ORDER BY is refused beside it, as Salesforce refuses it).
//! WHERE takes comparisons (`= != <> < <= > >=`), `IN`/`NOT IN`, `LIKE` (`%`, `_`,
//! case-insensitive), `AND`, `OR`, `NOT` and parentheses — mixing AND and OR without parentheses
//! is refused, as Salesforce refuses it — on fields and relationship paths. Literals: quoted
//! strings, numbers, `true`/`false`, `null`, dates and datetimes. Text compares
//! case-insensitively; datetimes compare as instants whatever their offset notation (`+0000` or
//! `Z`). Other aggregates (`COUNT(Id)`, `SUM`), `GROUP BY`, semi-joins, `FIELDS()` and date
//! literals like `TODAY` are refused with MALFORMED_QUERY. As at Salesforce, a date or datetime
//! field compared with a quoted value is INVALID_FIELD ("should not be enclosed in quotes"),
//! OFFSET above 2,000 is NUMBER_OUTSIDE_VALID_RANGE (SOQL reference, "OFFSET"), an unknown
//! lookup in a path is INVALID_FIELD ("Didn't understand relationship …") and an unknown child
//! relationship in a subquery INVALID_TYPE.
//!
//! The org is reached through [`Org`]: its objects' fields, lookups and child relationships,
//! and its records.

use std::cmp::Ordering;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value};

/// A query that does not parse (MALFORMED_QUERY), names an object the org lacks (INVALID_TYPE)
/// or a field the object lacks (INVALID_FIELD).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SoqlError {
    #[error("{0}")]
    Malformed(String),
    #[error(
        "sObject type '{0}' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name."
    )]
    InvalidType(String),
    #[error(
        "No such column '{field}' on entity '{object}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names."
    )]
    InvalidField { field: String, object: String },
    #[error(
        "\n{field} {op} '{value}'\n^\nERROR at Row:1:Column:1\nvalue of filter criterion for field '{field}' must be of type {kind} and should not be enclosed in quotes"
    )]
    QuotedDate {
        field: String,
        op: &'static str,
        value: String,
        kind: &'static str,
    },
    #[error("Maximum SOQL offset allowed is {MAX_OFFSET}")]
    OffsetOutOfRange,
    #[error(
        "Didn't understand relationship '{0}' in field path. If you are attempting to use a custom relationship, be sure to append the '__r' after the custom relationship name. Please reference your WSDL or the describe call for the appropriate names."
    )]
    InvalidRelationship(String),
    #[error(
        "Didn't understand relationship '{0}' in FROM part of query call. If you are attempting to use a custom relationship, be sure to append the '__r' after the custom relationship name. Please reference your WSDL or the describe call for the appropriate names."
    )]
    InvalidChildRelationship(String),
}

/// The largest OFFSET Salesforce takes.
pub const MAX_OFFSET: usize = 2000;
/// The deepest parent-to-child nesting API v58.0 takes (the query itself is level 1).
const MAX_DEPTH: usize = 5;

/// Standard fields holding a datetime, and those holding a date: compared only with unquoted
/// literals.
const DATETIME_FIELDS: &[&str] = &["CreatedDate", "LastModifiedDate", "SystemModstamp"];
const DATE_FIELDS: &[&str] = &[
    "CloseDate",
    "ConvertedDate",
    "LastActivityDate",
    "Birthdate",
];

impl SoqlError {
    pub fn error_code(&self) -> &'static str {
        match self {
            SoqlError::Malformed(_) => "MALFORMED_QUERY",
            SoqlError::InvalidType(_) | SoqlError::InvalidChildRelationship(_) => "INVALID_TYPE",
            SoqlError::InvalidField { .. }
            | SoqlError::QuotedDate { .. }
            | SoqlError::InvalidRelationship(_) => "INVALID_FIELD",
            SoqlError::OffsetOutOfRange => "NUMBER_OUTSIDE_VALID_RANGE",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Text(String),
    Number(f64),
    Bool(bool),
    Null,
    Date(NaiveDate),
    DateTime(DateTime<Utc>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    And(Vec<Condition>),
    Or(Vec<Condition>),
    Not(Box<Condition>),
    Compare(String, Op, Literal),
    In(String, Vec<Literal>, bool),
    Like(String, String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    pub field: String,
    pub descending: bool,
    pub nulls_first: bool,
}

/// One entry of a select list: a field or relationship path (`Account.Name`), or a
/// parent-to-child subquery whose `object` is a child relationship (`Contacts`).
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Field(String),
    Subquery(Box<Query>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub items: Vec<Item>,
    /// `SELECT COUNT() FROM …`: the answer is the count alone.
    pub count: bool,
    pub object: String,
    pub filter: Option<Condition>,
    pub order_by: Vec<Order>,
    pub limit: Option<usize>,
    pub offset: Option<usize>,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Text(String),
    Punct(&'static str),
}

fn malformed(message: impl Into<String>) -> SoqlError {
    SoqlError::Malformed(message.into())
}

fn lex(source: &str) -> Result<Vec<Token>, SoqlError> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' {
            let mut text = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(malformed("unterminated string literal")),
                    Some('\'') => break,
                    Some('\\') => {
                        let escaped = chars
                            .get(i + 1)
                            .ok_or_else(|| malformed("unterminated escape"))?;
                        text.push(match escaped {
                            'n' => '\n',
                            't' => '\t',
                            'r' => '\r',
                            other => *other,
                        });
                        i += 2;
                        continue;
                    }
                    Some(ch) => text.push(*ch),
                }
                i += 1;
            }
            i += 1;
            tokens.push(Token::Text(text));
        } else if let Some(p) = ["!=", "<>", "<=", ">=", "=", "<", ">", "(", ")", ","]
            .into_iter()
            .find(|p| chars[i..].starts_with(&p.chars().collect::<Vec<_>>()))
        {
            tokens.push(Token::Punct(p));
            i += p.len();
        } else if c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '+') {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '-' | '.' | ':' | '+'))
            {
                i += 1;
            }
            tokens.push(Token::Word(chars[start..i].iter().collect()));
        } else {
            return Err(malformed(format!("unexpected token: '{c}'")));
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek_word(&self, word: &str) -> bool {
        matches!(self.tokens.get(self.at), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    fn eat_word(&mut self, word: &str) -> bool {
        let found = self.peek_word(word);
        if found {
            self.at += 1;
        }
        found
    }

    fn expect_word(&mut self, word: &str) -> Result<(), SoqlError> {
        if self.eat_word(word) {
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn eat_punct(&mut self, punct: &str) -> bool {
        let found = matches!(self.tokens.get(self.at), Some(Token::Punct(p)) if *p == punct);
        if found {
            self.at += 1;
        }
        found
    }

    fn unexpected(&self) -> SoqlError {
        match self.tokens.get(self.at) {
            Some(Token::Word(w)) => malformed(format!("unexpected token: '{w}'")),
            Some(Token::Text(t)) => malformed(format!("unexpected token: ''{t}''")),
            Some(Token::Punct(p)) => malformed(format!("unexpected token: '{p}'")),
            None => malformed("unexpected end of query"),
        }
    }

    fn name(&mut self) -> Result<String, SoqlError> {
        match self.tokens.get(self.at) {
            Some(Token::Word(w))
                if w.split('.').all(|segment| {
                    segment.chars().next().is_some_and(char::is_alphabetic)
                        && segment.chars().all(|c| c.is_alphanumeric() || c == '_')
                }) =>
            {
                self.at += 1;
                Ok(w.clone())
            }
            _ => Err(self.unexpected()),
        }
    }

    fn number(&mut self) -> Result<usize, SoqlError> {
        match self.tokens.get(self.at) {
            Some(Token::Word(w)) => {
                let n = w.parse().map_err(|_| self.unexpected())?;
                self.at += 1;
                Ok(n)
            }
            _ => Err(self.unexpected()),
        }
    }

    fn literal(&mut self) -> Result<Literal, SoqlError> {
        let token = self
            .tokens
            .get(self.at)
            .cloned()
            .ok_or_else(|| self.unexpected())?;
        let literal = match token {
            Token::Text(t) => Literal::Text(t),
            Token::Word(w) if w.eq_ignore_ascii_case("null") => Literal::Null,
            Token::Word(w) if w.eq_ignore_ascii_case("true") => Literal::Bool(true),
            Token::Word(w) if w.eq_ignore_ascii_case("false") => Literal::Bool(false),
            Token::Word(w) => {
                if let Some(t) = parse_datetime(&w) {
                    Literal::DateTime(t)
                } else if let Ok(d) = NaiveDate::parse_from_str(&w, "%Y-%m-%d") {
                    Literal::Date(d)
                } else if let Ok(n) = w.parse::<f64>() {
                    Literal::Number(n)
                } else {
                    return Err(malformed(format!("unexpected token: '{w}'")));
                }
            }
            Token::Punct(_) => return Err(self.unexpected()),
        };
        self.at += 1;
        Ok(literal)
    }

    /// condition := term ((AND term)* | (OR term)*)
    fn condition(&mut self) -> Result<Condition, SoqlError> {
        let first = self.term()?;
        let mut terms = vec![first];
        let mut joiner: Option<&str> = None;
        loop {
            let word = if self.peek_word("AND") {
                "AND"
            } else if self.peek_word("OR") {
                "OR"
            } else {
                break;
            };
            if joiner.is_some_and(|j| j != word) {
                return Err(malformed(
                    "unexpected token: AND and OR need parentheses when mixed",
                ));
            }
            joiner = Some(word);
            self.at += 1;
            terms.push(self.term()?);
        }
        Ok(match (joiner, terms.len()) {
            (_, 1) => terms.remove(0),
            (Some("AND"), _) => Condition::And(terms),
            _ => Condition::Or(terms),
        })
    }

    fn term(&mut self) -> Result<Condition, SoqlError> {
        if self.eat_word("NOT") {
            return Ok(Condition::Not(Box::new(self.term()?)));
        }
        if self.eat_punct("(") {
            let inner = self.condition()?;
            if !self.eat_punct(")") {
                return Err(self.unexpected());
            }
            return Ok(inner);
        }
        let field = self.name()?;
        if self.eat_word("LIKE") {
            return match self.literal()? {
                Literal::Text(pattern) => Ok(Condition::Like(field, pattern)),
                _ => Err(malformed("LIKE needs a string")),
            };
        }
        let negated = self.eat_word("NOT");
        if self.eat_word("IN") {
            if !self.eat_punct("(") {
                return Err(self.unexpected());
            }
            let mut values = vec![self.literal()?];
            while self.eat_punct(",") {
                values.push(self.literal()?);
            }
            if !self.eat_punct(")") {
                return Err(self.unexpected());
            }
            return Ok(Condition::In(field, values, negated));
        }
        if negated {
            return Err(self.unexpected());
        }
        let op = match self.tokens.get(self.at) {
            Some(Token::Punct("=")) => Op::Eq,
            Some(Token::Punct("!=" | "<>")) => Op::Ne,
            Some(Token::Punct("<")) => Op::Lt,
            Some(Token::Punct("<=")) => Op::Le,
            Some(Token::Punct(">")) => Op::Gt,
            Some(Token::Punct(">=")) => Op::Ge,
            _ => return Err(self.unexpected()),
        };
        self.at += 1;
        Ok(Condition::Compare(field, op, self.literal()?))
    }
}

pub fn parse(soql: &str) -> Result<Query, SoqlError> {
    let mut p = Parser {
        tokens: lex(soql)?,
        at: 0,
    };
    let query = p.query(1)?;
    if p.at < p.tokens.len() {
        return Err(p.unexpected());
    }
    Ok(query)
}

impl Parser {
    /// One select list entry: `COUNT()`, a `(SELECT …)` subquery, or a field path.
    fn item(&mut self, depth: usize) -> Result<Option<Item>, SoqlError> {
        if self.eat_punct("(") {
            if depth >= MAX_DEPTH {
                return Err(malformed(format!(
                    "SOQL statements cannot query more than {MAX_DEPTH} levels of parent-to-child relationships"
                )));
            }
            let inner = self.query(depth + 1)?;
            if !self.eat_punct(")") {
                return Err(self.unexpected());
            }
            return Ok(Some(Item::Subquery(Box::new(inner))));
        }
        let name = self.name()?;
        if self.eat_punct("(") {
            if name.eq_ignore_ascii_case("COUNT") && self.eat_punct(")") {
                return Ok(None);
            }
            return Err(malformed(format!(
                "unexpected token: '(': {name}() is not supported here; COUNT() is the only function the select list takes"
            )));
        }
        Ok(Some(Item::Field(name)))
    }

    /// `SELECT … FROM …` up to the end or the `)` that closes a subquery.
    fn query(&mut self, depth: usize) -> Result<Query, SoqlError> {
        self.expect_word("SELECT")?;
        let mut items = Vec::new();
        let mut count = false;
        loop {
            match self.item(depth)? {
                Some(item) => items.push(item),
                None => count = true,
            }
            if !self.eat_punct(",") {
                break;
            }
        }
        if count && (!items.is_empty() || depth > 1) {
            return Err(malformed(
                "COUNT() must be the only element in the SELECT list of the outer query",
            ));
        }
        self.expect_word("FROM")?;
        let object = self.name()?;
        let filter = if self.eat_word("WHERE") {
            Some(self.condition()?)
        } else {
            None
        };
        let mut order_by = Vec::new();
        if self.eat_word("ORDER") {
            self.expect_word("BY")?;
            if count {
                return Err(malformed(
                    "ORDER BY cannot be used with COUNT(); use COUNT(fieldName) with GROUP BY instead",
                ));
            }
            loop {
                let field = self.name()?;
                let descending = if self.eat_word("DESC") {
                    true
                } else {
                    self.eat_word("ASC");
                    false
                };
                let nulls_first = if self.eat_word("NULLS") {
                    if self.eat_word("FIRST") {
                        true
                    } else {
                        self.expect_word("LAST")?;
                        false
                    }
                } else {
                    !descending
                };
                order_by.push(Order {
                    field,
                    descending,
                    nulls_first,
                });
                if !self.eat_punct(",") {
                    break;
                }
            }
        }
        let limit = if self.eat_word("LIMIT") {
            Some(self.number()?)
        } else {
            None
        };
        let offset = if self.eat_word("OFFSET") {
            Some(self.number()?)
        } else {
            None
        };
        if offset.is_some_and(|o| o > MAX_OFFSET) {
            return Err(SoqlError::OffsetOutOfRange);
        }
        Ok(Query {
            items,
            count,
            object,
            filter,
            order_by,
            limit,
            offset,
        })
    }
}

/// Salesforce's datetime notations: `2024-05-01T12:00:00.000+0000`, `…Z`, `…+01:00`.
pub fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A record's field, looked up case-insensitively.
fn field<'a>(record: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    record
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
        .filter(|v| !v.is_null())
}

fn compare(value: &Value, literal: &Literal) -> Option<Ordering> {
    match (value, literal) {
        (Value::String(s), Literal::DateTime(t)) => parse_datetime(s).map(|v| v.cmp(t)),
        (Value::String(s), Literal::Date(d)) => NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d")
            .ok()
            .map(|v| v.cmp(d)),
        (Value::String(s), Literal::Text(t)) => Some(s.to_lowercase().cmp(&t.to_lowercase())),
        (Value::Number(n), Literal::Number(m)) => n.as_f64()?.partial_cmp(m),
        (Value::Bool(b), Literal::Bool(c)) => Some(b.cmp(c)),
        _ => None,
    }
}

fn like(value: &str, pattern: &str) -> bool {
    fn go(v: &[char], p: &[char]) -> bool {
        match p.split_first() {
            None => v.is_empty(),
            Some(('%', rest)) => (0..=v.len()).any(|i| go(&v[i..], rest)),
            Some(('_', rest)) => !v.is_empty() && go(&v[1..], rest),
            Some(('\\', rest)) if !rest.is_empty() => {
                v.first() == rest.first() && go(&v[1..], &rest[1..])
            }
            Some((c, rest)) => v.first() == Some(c) && go(&v[1..], rest),
        }
    }
    let v: Vec<char> = value.to_lowercase().chars().collect();
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    go(&v, &p)
}

impl Condition {
    /// Whether a record passes, its fields (and relationship paths) read through `get`.
    pub fn matches(&self, get: &dyn Fn(&str) -> Option<Value>) -> bool {
        match self {
            Condition::And(all) => all.iter().all(|c| c.matches(get)),
            Condition::Or(any) => any.iter().any(|c| c.matches(get)),
            Condition::Not(c) => !c.matches(get),
            Condition::Compare(name, op, literal) => {
                let value = get(name);
                let value = value.as_ref();
                match (value, literal, op) {
                    (None, Literal::Null, Op::Eq) => true,
                    (None, Literal::Null, Op::Ne) => false,
                    (Some(_), Literal::Null, op) => *op == Op::Ne,
                    (None, _, op) => *op == Op::Ne,
                    (Some(v), l, op) => compare(v, l).is_some_and(|o| match op {
                        Op::Eq => o == Ordering::Equal,
                        Op::Ne => o != Ordering::Equal,
                        Op::Lt => o == Ordering::Less,
                        Op::Le => o != Ordering::Greater,
                        Op::Gt => o == Ordering::Greater,
                        Op::Ge => o != Ordering::Less,
                    }),
                }
            }
            Condition::In(name, values, negated) => {
                let found = get(name).is_some_and(|v| {
                    values
                        .iter()
                        .any(|l| compare(&v, l) == Some(Ordering::Equal))
                });
                found != *negated
            }
            Condition::Like(name, pattern) => get(name)
                .as_ref()
                .and_then(Value::as_str)
                .is_some_and(|v| like(v, pattern)),
        }
    }

    fn fields<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Condition::And(c) | Condition::Or(c) => c.iter().for_each(|c| c.fields(out)),
            Condition::Not(c) => c.fields(out),
            Condition::Compare(f, ..) | Condition::In(f, ..) | Condition::Like(f, _) => out.push(f),
        }
    }
}

fn order(a: Option<&Value>, b: Option<&Value>, o: &Order) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => {
            if o.nulls_first {
                Ordering::Less
            } else {
                Ordering::Greater
            }
        }
        (Some(_), None) => {
            if o.nulls_first {
                Ordering::Greater
            } else {
                Ordering::Less
            }
        }
        (Some(x), Some(y)) => {
            let ord = match (x, y) {
                (Value::Number(m), Value::Number(n)) => m
                    .as_f64()
                    .partial_cmp(&n.as_f64())
                    .unwrap_or(Ordering::Equal),
                (Value::String(s), Value::String(t)) => {
                    match (parse_datetime(s), parse_datetime(t)) {
                        (Some(p), Some(q)) => p.cmp(&q),
                        _ => s.to_lowercase().cmp(&t.to_lowercase()),
                    }
                }
                (Value::Bool(p), Value::Bool(q)) => p.cmp(q),
                _ => Ordering::Equal,
            };
            if o.descending { ord.reverse() } else { ord }
        }
    }
}

impl Condition {
    /// INVALID_FIELD for a date or datetime field compared with a quoted value.
    fn check_quotes(&self) -> Result<(), SoqlError> {
        match self {
            Condition::And(c) | Condition::Or(c) => c.iter().try_for_each(Condition::check_quotes),
            Condition::Not(c) => c.check_quotes(),
            Condition::Compare(field, op, Literal::Text(value)) => {
                let leaf = field.rsplit('.').next().unwrap_or(field);
                let is = |list: &[&str]| list.iter().any(|f| f.eq_ignore_ascii_case(leaf));
                let kind = if is(DATETIME_FIELDS) {
                    "dateTime"
                } else if is(DATE_FIELDS) {
                    "date"
                } else {
                    return Ok(());
                };
                Err(SoqlError::QuotedDate {
                    field: field.clone(),
                    op: op.symbol(),
                    value: value.clone(),
                    kind,
                })
            }
            _ => Ok(()),
        }
    }
}

impl Op {
    fn symbol(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }
}

/// A child relationship: its name as the org spells it (`Contacts`), the child object, and the
/// child's field that holds the parent's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Child {
    pub name: &'static str,
    pub object: &'static str,
    pub field: &'static str,
}

/// A lookup relationship: its name as the org spells it (`Account`), the object it points to, and
/// the field on the record that holds that object's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parent {
    pub name: &'static str,
    pub object: &'static str,
    pub field: &'static str,
}

/// What a query needs of an org: its objects' fields and relationships, its records, and how a
/// record's `attributes.url` reads.
pub trait Org {
    /// The object's name as the org spells it, and its fields; `None` when the org lacks it.
    fn object(&self, name: &str) -> Option<(&'static str, &'static [&'static str])>;
    fn parent(&self, object: &str, relationship: &str) -> Option<Parent>;
    fn child(&self, object: &str, relationship: &str) -> Option<Child>;
    fn record(&self, object: &str, id: &str) -> Option<&Map<String, Value>>;
    /// The object's live records (deleted ones are the caller's to add, for queryAll).
    fn records(&self, object: &str) -> Vec<&Map<String, Value>>;
    fn url(&self, object: &str, id: &str) -> String;
}

/// A field or relationship path's value on a record of `object`; `None` when it or a lookup on
/// the way is empty.
fn value(org: &dyn Org, object: &str, record: &Map<String, Value>, path: &str) -> Option<Value> {
    match path.split_once('.') {
        None => field(record, path).cloned(),
        Some((relationship, rest)) => {
            let parent = org.parent(object, relationship)?;
            let id = field(record, parent.field)?.as_str()?;
            let related = org.record(parent.object, id)?;
            value(org, parent.object, related, rest)
        }
    }
}

fn attributes(org: &dyn Org, object: &str, record: &Map<String, Value>) -> Value {
    let id = field(record, "Id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    serde_json::json!({ "type": object, "url": org.url(object, id) })
}

/// Puts a path's value into `out` as Salesforce nests it: `Account.Name` becomes
/// `"Account": {"attributes", "Name"}`, or `"Account": null` when the lookup is empty.
fn put(
    org: &dyn Org,
    out: &mut Map<String, Value>,
    object: &str,
    record: &Map<String, Value>,
    path: &str,
) {
    let Some((relationship, rest)) = path.split_once('.') else {
        let (key, v) = record
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(path))
            .map_or((path.to_owned(), Value::Null), |(k, v)| {
                (k.clone(), v.clone())
            });
        out.insert(key, v);
        return;
    };
    let Some(parent) = org.parent(object, relationship) else {
        return;
    };
    let related = field(record, parent.field)
        .and_then(Value::as_str)
        .and_then(|id| org.record(parent.object, id));
    match related {
        None => {
            out.insert(parent.name.to_owned(), Value::Null);
        }
        Some(related) => {
            let nested = out.entry(parent.name.to_owned()).or_insert_with(|| {
                let mut m = Map::new();
                m.insert("attributes".into(), attributes(org, parent.object, related));
                Value::Object(m)
            });
            if let Value::Object(nested) = nested {
                put(org, nested, parent.object, related, rest);
            }
        }
    }
}

/// A record's values for each ORDER BY entry.
type SortKeys = Vec<Option<Value>>;

impl Query {
    /// The select list's field paths, in order (a bulk job's CSV columns).
    pub fn columns(&self) -> Vec<String> {
        self.items
            .iter()
            .filter_map(|i| match i {
                Item::Field(f) => Some(f.clone()),
                Item::Subquery(_) => None,
            })
            .collect()
    }

    /// Whether the query is fields alone: no `COUNT()`, no subquery (what Bulk API 2.0 takes).
    pub fn is_flat(&self) -> bool {
        !self.count && self.items.iter().all(|i| matches!(i, Item::Field(_)))
    }

    /// Checks the query against the org: the object (INVALID_TYPE), every field and path
    /// (INVALID_FIELD), every subquery's child relationship (INVALID_TYPE) and fields, and
    /// dates compared with quoted values (INVALID_FIELD). Returns the object's own spelling.
    pub fn check(&self, org: &dyn Org) -> Result<&'static str, SoqlError> {
        let (object, _) = org
            .object(&self.object)
            .ok_or_else(|| SoqlError::InvalidType(self.object.clone()))?;
        self.check_on(org, object)?;
        Ok(object)
    }

    fn check_on(&self, org: &dyn Org, object: &'static str) -> Result<(), SoqlError> {
        let mut used: Vec<&str> = self.columns_ref();
        used.extend(self.order_by.iter().map(|o| o.field.as_str()));
        if let Some(f) = &self.filter {
            f.fields(&mut used);
        }
        for path in used {
            check_path(org, object, path)?;
        }
        for item in &self.items {
            if let Item::Subquery(sub) = item {
                let child = org
                    .child(object, &sub.object)
                    .ok_or_else(|| SoqlError::InvalidChildRelationship(sub.object.clone()))?;
                sub.check_on(org, child.object)?;
            }
        }
        self.filter.as_ref().map_or(Ok(()), Condition::check_quotes)
    }

    fn columns_ref(&self) -> Vec<&str> {
        self.items
            .iter()
            .filter_map(|i| match i {
                Item::Field(f) => Some(f.as_str()),
                Item::Subquery(_) => None,
            })
            .collect()
    }

    /// Filters, sorts, skips and limits records of `object` (a name `check` answered).
    pub fn select<'a>(
        &self,
        org: &dyn Org,
        object: &str,
        records: Vec<&'a Map<String, Value>>,
    ) -> Vec<&'a Map<String, Value>> {
        let mut hits: Vec<(SortKeys, &Map<String, Value>)> = records
            .into_iter()
            .filter(|r| {
                self.filter
                    .as_ref()
                    .is_none_or(|f| f.matches(&|path| value(org, object, r, path)))
            })
            .map(|r| {
                let keys = self
                    .order_by
                    .iter()
                    .map(|o| value(org, object, r, &o.field))
                    .collect();
                (keys, r)
            })
            .collect();
        hits.sort_by(|(a, _), (b, _)| {
            self.order_by
                .iter()
                .zip(a.iter().zip(b))
                .map(|(o, (x, y))| order(x.as_ref(), y.as_ref(), o))
                .find(|o| *o != Ordering::Equal)
                .unwrap_or(Ordering::Equal)
        });
        hits.into_iter()
            .map(|(_, r)| r)
            .skip(self.offset.unwrap_or(0))
            .take(self.limit.unwrap_or(usize::MAX))
            .collect()
    }

    /// A record as a query result renders it: `attributes`, then each select item in order —
    /// fields, nested parents, and subqueries as `{totalSize, done, records}` (or `null`).
    pub fn project(&self, org: &dyn Org, object: &str, record: &Map<String, Value>) -> Value {
        let mut out = Map::new();
        out.insert("attributes".into(), attributes(org, object, record));
        for item in &self.items {
            match item {
                Item::Field(path) => put(org, &mut out, object, record, path),
                Item::Subquery(sub) => {
                    let Some(child) = org.child(object, &sub.object) else {
                        continue;
                    };
                    let id = field(record, "Id")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    let children: Vec<&Map<String, Value>> = org
                        .records(child.object)
                        .into_iter()
                        .filter(|c| field(c, child.field).and_then(Value::as_str) == Some(id))
                        .collect();
                    let rows: Vec<Value> = sub
                        .select(org, child.object, children)
                        .into_iter()
                        .map(|c| sub.project(org, child.object, c))
                        .collect();
                    let nested = if rows.is_empty() {
                        Value::Null
                    } else {
                        serde_json::json!({ "totalSize": rows.len(), "done": true, "records": rows })
                    };
                    out.insert(child.name.to_owned(), nested);
                }
            }
        }
        Value::Object(out)
    }

    /// A record as one flat row keyed by each field path (a bulk result's CSV line).
    pub fn flat(
        &self,
        org: &dyn Org,
        object: &str,
        record: &Map<String, Value>,
    ) -> Map<String, Value> {
        self.columns()
            .into_iter()
            .map(|path| {
                let v = value(org, object, record, &path).unwrap_or(Value::Null);
                (path, v)
            })
            .collect()
    }
}

/// INVALID_FIELD for a path whose lookups or final field the org lacks.
fn check_path(org: &dyn Org, object: &'static str, path: &str) -> Result<(), SoqlError> {
    match path.split_once('.') {
        None => {
            let (_, fields) = org
                .object(object)
                .ok_or_else(|| SoqlError::InvalidType(object.to_owned()))?;
            if fields.iter().any(|f| f.eq_ignore_ascii_case(path)) {
                Ok(())
            } else {
                Err(SoqlError::InvalidField {
                    field: path.to_owned(),
                    object: object.to_owned(),
                })
            }
        }
        Some((relationship, rest)) => {
            let parent = org
                .parent(object, relationship)
                .ok_or_else(|| SoqlError::InvalidRelationship(relationship.to_owned()))?;
            check_path(org, parent.object, rest)
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Three leads, two accounts and three contacts (one without an account).
    struct TestOrg(Vec<(&'static str, Map<String, Value>)>);

    fn org() -> TestOrg {
        let rows = [
            (
                "Lead",
                json!({ "Id": "00Q1", "LastName": "Doe", "Email": "jane@acme.example", "Company": "Acme", "Status": "Open", "AnnualRevenue": 10.0, "IsConverted": false, "CreatedDate": "2024-05-01T12:00:00.000+0000" }),
            ),
            (
                "Lead",
                json!({ "Id": "00Q2", "LastName": "Roe", "Email": null, "Company": "Globex", "Status": "Working", "AnnualRevenue": 50.0, "IsConverted": true, "CreatedDate": "2024-05-02T12:00:00.000+0000" }),
            ),
            (
                "Lead",
                json!({ "Id": "00Q3", "LastName": "Poe", "Email": "john@initech.example", "Company": "Initech", "Status": "Open", "AnnualRevenue": 30.0, "IsConverted": false, "CreatedDate": "2024-05-02T12:00:00.000+0000" }),
            ),
            ("Account", json!({ "Id": "0011", "Name": "Acme" })),
            ("Account", json!({ "Id": "0012", "Name": "Globex" })),
            (
                "Contact",
                json!({ "Id": "0031", "LastName": "Ada", "AccountId": "0011" }),
            ),
            (
                "Contact",
                json!({ "Id": "0032", "LastName": "Bob", "AccountId": "0011" }),
            ),
            (
                "Contact",
                json!({ "Id": "0033", "LastName": "Cy", "AccountId": null }),
            ),
        ];
        TestOrg(
            rows.into_iter()
                .map(|(o, v)| (o, v.as_object().unwrap().clone()))
                .collect(),
        )
    }

    impl Org for TestOrg {
        fn object(&self, name: &str) -> Option<(&'static str, &'static [&'static str])> {
            const LEAD: &[&str] = &[
                "Id",
                "LastName",
                "Email",
                "Company",
                "Status",
                "AnnualRevenue",
                "IsConverted",
                "CreatedDate",
            ];
            [
                ("Lead", LEAD),
                ("Account", &["Id", "Name"][..]),
                ("Contact", &["Id", "LastName", "AccountId"][..]),
            ]
            .into_iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        }
        fn parent(&self, object: &str, relationship: &str) -> Option<Parent> {
            (object == "Contact" && relationship.eq_ignore_ascii_case("Account")).then_some(
                Parent {
                    name: "Account",
                    object: "Account",
                    field: "AccountId",
                },
            )
        }
        fn child(&self, object: &str, relationship: &str) -> Option<Child> {
            (object == "Account" && relationship.eq_ignore_ascii_case("Contacts")).then_some(
                Child {
                    name: "Contacts",
                    object: "Contact",
                    field: "AccountId",
                },
            )
        }
        fn record(&self, object: &str, id: &str) -> Option<&Map<String, Value>> {
            self.records(object).into_iter().find(|r| r["Id"] == id)
        }
        fn records(&self, object: &str) -> Vec<&Map<String, Value>> {
            self.0
                .iter()
                .filter(|(o, _)| *o == object)
                .map(|(_, r)| r)
                .collect()
        }
        fn url(&self, object: &str, id: &str) -> String {
            format!("/sobjects/{object}/{id}")
        }
    }

    fn run(soql: &str) -> Vec<Value> {
        let org = org();
        let q = parse(soql).unwrap();
        let object = q.check(&org).unwrap();
        q.select(&org, object, org.records(object))
            .into_iter()
            .map(|r| q.project(&org, object, r))
            .collect()
    }

    fn ids(soql: &str) -> Vec<String> {
        run(soql)
            .iter()
            .map(|r| r["Id"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    #[test]
    fn the_gateways_queries() {
        assert_eq!(
            ids(
                "select Id from Lead where email = 'JANE@acme.example' and CreatedDate >= 2024-05-01T00:00:00Z order by CreatedDate desc limit 10"
            ),
            ["00Q1"]
        );
        assert_eq!(
            ids(
                "SELECT Id FROM Lead WHERE CreatedDate < 2024-05-02T12:00:00Z OR (CreatedDate = 2024-05-02T12:00:00Z AND Id < '00Q3') ORDER BY CreatedDate DESC, Id DESC"
            ),
            ["00Q2", "00Q1"]
        );
        assert_eq!(
            ids("SELECT Id FROM Lead WHERE Company IN ('acme','Initech') ORDER BY Id"),
            ["00Q1", "00Q3"]
        );
        assert_eq!(
            ids("SELECT Id FROM Lead WHERE Company NOT IN ('Acme') ORDER BY Id"),
            ["00Q2", "00Q3"]
        );
        assert_eq!(
            ids(
                "SELECT Id FROM Lead WHERE (Email LIKE '%@ACME%' OR LastName LIKE 'p_e') AND NOT IsConverted = true ORDER BY Id"
            ),
            ["00Q1", "00Q3"]
        );
        assert_eq!(ids("SELECT Id FROM Lead WHERE Email = null"), ["00Q2"]);
        assert_eq!(
            ids("SELECT Id FROM Lead WHERE Email != null ORDER BY Id"),
            ["00Q1", "00Q3"]
        );
        assert_eq!(
            ids("SELECT Id FROM Lead WHERE AnnualRevenue > 20 ORDER BY AnnualRevenue DESC"),
            ["00Q2", "00Q3"]
        );
        assert_eq!(
            ids("SELECT Id FROM Lead ORDER BY Email NULLS LAST LIMIT 2 OFFSET 1"),
            ["00Q3", "00Q2"]
        );
        assert_eq!(
            ids("SELECT Id FROM Lead WHERE Status = 'It\\'s'"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn projection_keeps_the_records_casing() {
        let out = run("SELECT id, lastname FROM Lead LIMIT 1");
        let mut keys: Vec<&String> = out[0].as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["Id", "LastName", "attributes"]);
    }

    #[test]
    fn relationship_paths_nest_their_parent_and_filter_and_sort() {
        let out = run(
            "SELECT Id, Account.Name, Account.Id FROM Contact WHERE Account.Name LIKE 'ac%' ORDER BY Account.Name, LastName DESC",
        );
        assert_eq!(out.len(), 2);
        assert_eq!(out[0]["Id"], "0032");
        assert_eq!(
            out[0]["Account"],
            json!({ "attributes": { "type": "Account", "url": "/sobjects/Account/0011" }, "Name": "Acme", "Id": "0011" })
        );
        let all = run("SELECT Id, Account.Name FROM Contact ORDER BY Id");
        assert_eq!(all[2]["Account"], Value::Null, "an empty lookup is null");
    }

    #[test]
    fn subqueries_nest_child_record_sets() {
        let out = run(
            "SELECT Name, (SELECT LastName FROM contacts WHERE LastName != 'Bob' ORDER BY LastName) FROM Account ORDER BY Name",
        );
        assert_eq!(out[0]["Contacts"]["totalSize"], 1);
        assert_eq!(out[0]["Contacts"]["done"], true);
        assert_eq!(out[0]["Contacts"]["records"][0]["LastName"], "Ada");
        assert_eq!(
            out[0]["Contacts"]["records"][0]["attributes"]["type"],
            "Contact"
        );
        assert_eq!(out[1]["Contacts"], Value::Null, "no children is null");
    }

    #[test]
    fn count_stands_alone() {
        let org = org();
        let q = parse("SELECT COUNT() FROM Lead WHERE Status = 'Open'").unwrap();
        assert!(q.count && q.items.is_empty());
        let object = q.check(&org).unwrap();
        assert_eq!(q.select(&org, object, org.records(object)).len(), 2);
        for bad in [
            "SELECT Id, COUNT() FROM Lead",
            "SELECT COUNT() FROM Lead ORDER BY Id",
            "SELECT COUNT(Id) FROM Lead",
            "SELECT SUM(AnnualRevenue) FROM Lead",
            "SELECT Id, (SELECT COUNT() FROM Contacts) FROM Account",
        ] {
            assert_eq!(
                parse(bad).unwrap_err().error_code(),
                "MALFORMED_QUERY",
                "{bad}"
            );
        }
    }

    #[test]
    fn malformed_and_invalid() {
        for bad in [
            "",
            "SELECT",
            "SELECT Id",
            "SELECT Id FORM Lead",
            "SELECT Id FROM Lead WHERE",
            "SELECT Id FROM Lead WHERE A = 1 AND B = 2 OR C = 3",
            "SELECT Id FROM Lead WHERE Name = 'open",
            "SELECT Id FROM Lead LIMIT x",
            "SELECT Account..Name FROM Contact",
            "SELECT Id FROM Lead WHERE Id IN 'a'",
            "SELECT Id FROM Lead ORDER Id",
            "SELECT Id, (SELECT Id FROM Contacts FROM Account",
            "SELECT Id FROM Lead GROUP BY Id",
        ] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.error_code(), "MALFORMED_QUERY", "{bad}");
        }
        let org = org();
        for (soql, code) in [
            ("SELECT Id, Shoe FROM Lead", "INVALID_FIELD"),
            ("SELECT Id, Owner.Name FROM Contact", "INVALID_FIELD"),
            ("SELECT Id, Account.Shoe FROM Contact", "INVALID_FIELD"),
            (
                "SELECT Id FROM Contact WHERE Account.Shoe = 'x'",
                "INVALID_FIELD",
            ),
            (
                "SELECT Id, (SELECT Id FROM Leads) FROM Account",
                "INVALID_TYPE",
            ),
            (
                "SELECT Id, (SELECT Shoe FROM Contacts) FROM Account",
                "INVALID_FIELD",
            ),
            ("SELECT Id FROM Shoe", "INVALID_TYPE"),
        ] {
            let e = parse(soql).unwrap().check(&org).unwrap_err();
            assert_eq!(e.error_code(), code, "{soql}: {e}");
        }
        assert!(
            parse("SELECT Id, Owner.Name FROM Contact")
                .unwrap()
                .check(&org)
                .unwrap_err()
                .to_string()
                .starts_with("Didn't understand relationship 'Owner' in field path.")
        );
    }

    #[test]
    fn no_input_panics() {
        let mut seed = 7u64;
        let alphabet: Vec<char> =
            "SELECT FROM WHERE AND OR NOT IN LIKE COUNT ( ) , = < > ' \\ % _ 1 a Z . : - + \u{e9}"
                .chars()
                .collect();
        let org = org();
        for _ in 0..500 {
            let s: String = (0..40)
                .map(|_| {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    alphabet[(seed >> 33) as usize % alphabet.len()]
                })
                .collect();
            if let Ok(q) = parse(&s)
                && let Ok(object) = q.check(&org)
            {
                for r in q.select(&org, object, org.records(object)) {
                    q.project(&org, object, r);
                }
            }
        }
    }
}
