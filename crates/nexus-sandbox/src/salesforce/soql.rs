//! SOQL, as much as a CRM gateway sends: `SELECT fields FROM Object [WHERE …] [ORDER BY …]
//! [LIMIT n] [OFFSET n]`, parsed and run over in-memory records.
//!
//! WHERE takes comparisons (`= != <> < <= > >=`), `IN`/`NOT IN`, `LIKE` (`%`, `_`, case-insensitive),
//! `AND`, `OR`, `NOT` and parentheses — mixing AND and OR without parentheses is refused, as
//! Salesforce refuses it. Literals: quoted strings, numbers, `true`/`false`, `null`, dates and
//! datetimes. Text compares case-insensitively; datetimes compare as instants whatever their offset
//! notation (`+0000` or `Z`). Aggregates, relationship fields and date literals like `TODAY` are
//! refused with MALFORMED_QUERY. As at Salesforce, a date or datetime field compared with a quoted
//! value is INVALID_FIELD ("should not be enclosed in quotes"), and OFFSET above 2,000 is
//! NUMBER_OUTSIDE_VALID_RANGE (SOQL reference, "OFFSET").

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
}

/// The largest OFFSET Salesforce takes.
pub const MAX_OFFSET: usize = 2000;

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
            SoqlError::InvalidType(_) => "INVALID_TYPE",
            SoqlError::InvalidField { .. } | SoqlError::QuotedDate { .. } => "INVALID_FIELD",
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

#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub fields: Vec<String>,
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
            Some(Token::Word(w)) if w.chars().next().is_some_and(|c| c.is_alphabetic()) => {
                if w.contains('.') {
                    return Err(malformed(format!(
                        "relationship fields are not supported: {w}"
                    )));
                }
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
    p.expect_word("SELECT")?;
    let mut fields = vec![p.name()?];
    while p.eat_punct(",") {
        fields.push(p.name()?);
    }
    if p.eat_punct("(") {
        return Err(malformed("aggregate functions are not supported"));
    }
    p.expect_word("FROM")?;
    let object = p.name()?;
    let filter = if p.eat_word("WHERE") {
        Some(p.condition()?)
    } else {
        None
    };
    let mut order_by = Vec::new();
    if p.eat_word("ORDER") {
        p.expect_word("BY")?;
        loop {
            let field = p.name()?;
            let descending = if p.eat_word("DESC") {
                true
            } else {
                p.eat_word("ASC");
                false
            };
            let nulls_first = if p.eat_word("NULLS") {
                if p.eat_word("FIRST") {
                    true
                } else {
                    p.expect_word("LAST")?;
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
            if !p.eat_punct(",") {
                break;
            }
        }
    }
    let limit = if p.eat_word("LIMIT") {
        Some(p.number()?)
    } else {
        None
    };
    let offset = if p.eat_word("OFFSET") {
        Some(p.number()?)
    } else {
        None
    };
    if offset.is_some_and(|o| o > MAX_OFFSET) {
        return Err(SoqlError::OffsetOutOfRange);
    }
    if p.at < p.tokens.len() {
        return Err(p.unexpected());
    }
    Ok(Query {
        fields,
        object,
        filter,
        order_by,
        limit,
        offset,
    })
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
    pub fn matches(&self, record: &Map<String, Value>) -> bool {
        match self {
            Condition::And(all) => all.iter().all(|c| c.matches(record)),
            Condition::Or(any) => any.iter().any(|c| c.matches(record)),
            Condition::Not(c) => !c.matches(record),
            Condition::Compare(name, op, literal) => {
                let value = field(record, name);
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
                let found = field(record, name).is_some_and(|v| {
                    values
                        .iter()
                        .any(|l| compare(v, l) == Some(Ordering::Equal))
                });
                found != *negated
            }
            Condition::Like(name, pattern) => field(record, name)
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
                let is = |list: &[&str]| list.iter().any(|f| f.eq_ignore_ascii_case(field));
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

impl Query {
    /// INVALID_FIELD for any field not among `known` (case-insensitive), or for a date or
    /// datetime field compared with a quoted value.
    pub fn check_fields(&self, known: &[&str]) -> Result<(), SoqlError> {
        let mut used: Vec<&str> = self.fields.iter().map(String::as_str).collect();
        used.extend(self.order_by.iter().map(|o| o.field.as_str()));
        if let Some(f) = &self.filter {
            f.fields(&mut used);
        }
        match used
            .into_iter()
            .find(|u| !known.iter().any(|k| k.eq_ignore_ascii_case(u)))
        {
            Some(field) => Err(SoqlError::InvalidField {
                field: field.to_owned(),
                object: self.object.clone(),
            }),
            None => self.filter.as_ref().map_or(Ok(()), Condition::check_quotes),
        }
    }

    /// Filters, sorts, skips and limits, then projects each record onto the selected fields
    /// (named as the record names them).
    pub fn run<'a>(
        &self,
        records: impl Iterator<Item = &'a Map<String, Value>>,
    ) -> Vec<Map<String, Value>> {
        let mut hits: Vec<&Map<String, Value>> = records
            .filter(|r| self.filter.as_ref().is_none_or(|f| f.matches(r)))
            .collect();
        hits.sort_by(|a, b| {
            self.order_by
                .iter()
                .map(|o| order(field(a, &o.field), field(b, &o.field), o))
                .find(|o| *o != Ordering::Equal)
                .unwrap_or(Ordering::Equal)
        });
        hits.into_iter()
            .skip(self.offset.unwrap_or(0))
            .take(self.limit.unwrap_or(usize::MAX))
            .map(|r| {
                self.fields
                    .iter()
                    .map(|f| {
                        let (key, value) = r
                            .iter()
                            .find(|(k, _)| k.eq_ignore_ascii_case(f))
                            .map_or((f.clone(), Value::Null), |(k, v)| (k.clone(), v.clone()));
                        (key, value)
                    })
                    .collect()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn records() -> Vec<Map<String, Value>> {
        [
            json!({ "Id": "00Q1", "LastName": "Doe", "Email": "jane@acme.example", "Company": "Acme", "Status": "Open", "AnnualRevenue": 10.0, "IsConverted": false, "CreatedDate": "2024-05-01T12:00:00.000+0000" }),
            json!({ "Id": "00Q2", "LastName": "Roe", "Email": null, "Company": "Globex", "Status": "Working", "AnnualRevenue": 50.0, "IsConverted": true, "CreatedDate": "2024-05-02T12:00:00.000+0000" }),
            json!({ "Id": "00Q3", "LastName": "Poe", "Email": "john@initech.example", "Company": "Initech", "Status": "Open", "AnnualRevenue": 30.0, "IsConverted": false, "CreatedDate": "2024-05-02T12:00:00.000+0000" }),
        ]
        .into_iter()
        .map(|v| v.as_object().unwrap().clone())
        .collect()
    }

    fn ids(soql: &str) -> Vec<String> {
        let q = parse(soql).unwrap();
        q.run(records().iter())
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
        let q = parse("SELECT id, lastname FROM Lead LIMIT 1").unwrap();
        let out = q.run(records().iter());
        assert_eq!(out[0].keys().collect::<Vec<_>>(), ["Id", "LastName"]);
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
            "SELECT COUNT() FROM Lead",
            "SELECT Id FROM Lead WHERE Name = 'open",
            "SELECT Id FROM Lead LIMIT x",
            "SELECT Account.Name FROM Contact",
            "SELECT Id FROM Lead WHERE Id IN 'a'",
            "SELECT Id FROM Lead ORDER Id",
        ] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.error_code(), "MALFORMED_QUERY", "{bad}");
        }
        let q = parse("SELECT Id, Shoe FROM Lead").unwrap();
        assert_eq!(
            q.check_fields(&["Id", "LastName"])
                .unwrap_err()
                .error_code(),
            "INVALID_FIELD"
        );
    }

    #[test]
    fn no_input_panics() {
        let mut seed = 7u64;
        let alphabet: Vec<char> =
            "SELECT FROM WHERE AND OR NOT IN LIKE ( ) , = < > ' \\ % _ 1 a Z . : - + \u{e9}"
                .chars()
                .collect();
        for _ in 0..500 {
            let s: String = (0..40)
                .map(|_| {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    alphabet[(seed >> 33) as usize % alphabet.len()]
                })
                .collect();
            if let Ok(q) = parse(&s) {
                q.run(records().iter());
            }
        }
    }
}
