//! Gmail's search syntax (`q`), the part clients use to sync and filter: `from:`, `to:`
//! (also Cc and Bcc), `cc:`, `subject:`, `label:`, `is:unread|read|starred|important`,
//! `in:inbox|sent|trash|spam|anywhere`, `after:` / `before:` (`YYYY/MM/DD` or epoch seconds;
//! dates at midnight UTC), `newer_than:` / `older_than:` (`3d`, `2m`, `1y`), quoted phrases,
//! `rfc822msgid:` (the `Message-ID` header, with or without its angle brackets, whole),
//! `-` for negation, `{a b}` for any of its terms, and bare words matched against the subject,
//! snippet and addresses.
//! Everything is case-insensitive.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};

use super::mailbox::{Message, USER_LABELS};

#[derive(Debug, Clone, PartialEq)]
enum Term {
    From(String),
    To(String),
    Cc(String),
    Subject(String),
    Label(String),
    /// A `Message-ID`, without its angle brackets.
    MessageId(String),
    After(DateTime<Utc>),
    Before(DateTime<Utc>),
    Word(String),
    /// `{from:a to:a}`: any of the terms holds.
    Any(Vec<(bool, Term)>),
}

/// A parsed query: terms that must all hold (or, negated, must not).
#[derive(Debug, Clone, Default)]
pub struct Query {
    terms: Vec<(bool, Term)>,
    /// Whether the query names spam or trash itself (`in:trash`, `in:anywhere`).
    pub reaches_spam_trash: bool,
}

/// Splits a query into words, keeping `"quoted phrases"`, `key:"quoted values"` and `{groups}`
/// whole.
fn words(q: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut depth = 0usize;
    for c in q.chars() {
        match c {
            '"' => quoted = !quoted,
            '{' if !quoted => {
                depth += 1;
                current.push(c);
            }
            '}' if !quoted => {
                depth = depth.saturating_sub(1);
                current.push(c);
            }
            c if c.is_whitespace() && !quoted && depth == 0 => {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

fn date(value: &str) -> Option<DateTime<Utc>> {
    if let Ok(seconds) = value.parse::<i64>() {
        return Utc.timestamp_opt(seconds, 0).single();
    }
    let day = NaiveDate::parse_from_str(value, "%Y/%m/%d")
        .or_else(|_| NaiveDate::parse_from_str(value, "%Y-%m-%d"))
        .ok()?;
    Some(Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0)?))
}

fn age(value: &str) -> Option<Duration> {
    let unit = value.chars().last()?;
    let n: i64 = value[..value.len() - unit.len_utf8()].parse().ok()?;
    let days = match unit {
        'd' => Some(n),
        'm' => n.checked_mul(30),
        'y' => n.checked_mul(365),
        _ => None,
    }?;
    Duration::try_days(days)
}

impl Query {
    /// Parses `q`; operators with a value Gmail would not understand are an error message.
    pub fn parse(q: &str, now: DateTime<Utc>) -> Result<Self, String> {
        let mut query = Query::default();
        for word in words(q) {
            let (negated, word) = match word.strip_prefix('-') {
                Some(rest) if !rest.is_empty() => (true, rest.to_owned()),
                _ => (false, word),
            };
            if let Some(inner) = word.strip_prefix('{').and_then(|w| w.strip_suffix('}')) {
                let group = Query::parse(inner, now)?;
                query.terms.push((negated, Term::Any(group.terms)));
                continue;
            }
            let term = match word.split_once(':') {
                Some((key, value)) if !value.is_empty() => {
                    let value = value.trim_matches(|c| c == '(' || c == ')').to_lowercase();
                    let bad = || format!("Invalid search operator value: {key}:{value}");
                    match key.to_ascii_lowercase().as_str() {
                        "from" => Term::From(value),
                        "to" => Term::To(value),
                        "cc" => Term::Cc(value),
                        "subject" => Term::Subject(value),
                        "label" => Term::Label(value),
                        "rfc822msgid" => {
                            let id = value.trim_start_matches('<').trim_end_matches('>');
                            if id.is_empty() {
                                return Err(bad());
                            }
                            Term::MessageId(id.to_owned())
                        }
                        "is" => match value.as_str() {
                            "unread" => Term::Label("unread".into()),
                            "read" => {
                                query.terms.push((!negated, Term::Label("unread".into())));
                                continue;
                            }
                            "starred" | "important" => Term::Label(value),
                            _ => return Err(bad()),
                        },
                        "in" => match value.as_str() {
                            "anywhere" => {
                                query.reaches_spam_trash = true;
                                continue;
                            }
                            "inbox" | "sent" | "trash" | "spam" | "draft" => {
                                query.reaches_spam_trash |= value == "trash" || value == "spam";
                                Term::Label(value)
                            }
                            _ => return Err(bad()),
                        },
                        "after" => Term::After(date(&value).ok_or_else(bad)?),
                        "before" => Term::Before(date(&value).ok_or_else(bad)?),
                        "newer_than" | "older_than" => {
                            let since = age(&value)
                                .and_then(|a| now.checked_sub_signed(a))
                                .ok_or_else(bad)?;
                            if key.eq_ignore_ascii_case("newer_than") {
                                Term::After(since)
                            } else {
                                Term::Before(since)
                            }
                        }
                        _ => Term::Word(word.to_lowercase()),
                    }
                }
                _ => Term::Word(word.to_lowercase()),
            };
            query.terms.push((negated, term));
        }
        Ok(query)
    }

    pub fn matches(&self, m: &Message) -> bool {
        self.terms
            .iter()
            .all(|(negated, term)| term_matches(term, m) != *negated)
    }
}

fn any_contains(list: &[String], value: &str) -> bool {
    list.iter().any(|a| a.contains(value))
}

/// A label by id (`UNREAD`, `Label_1`) or name (`unread`, `customers`, `follow-up`).
fn has_label(m: &Message, value: &str) -> bool {
    m.labels.iter().any(|l| {
        l.eq_ignore_ascii_case(value)
            || USER_LABELS
                .iter()
                .any(|(id, name)| id == l && name.to_lowercase().replace(' ', "-") == value)
    })
}

fn term_matches(term: &Term, m: &Message) -> bool {
    let s = &m.summary;
    match term {
        Term::From(v) => any_contains(&s.from, v),
        Term::To(v) => any_contains(&s.to, v) || any_contains(&s.cc, v) || any_contains(&s.bcc, v),
        Term::Cc(v) => any_contains(&s.cc, v),
        Term::Subject(v) => s.subject.to_lowercase().contains(v.as_str()),
        Term::Label(v) => has_label(m, v),
        Term::MessageId(v) => s.message_id.as_deref().is_some_and(|id| {
            id.trim_start_matches('<')
                .trim_end_matches('>')
                .to_lowercase()
                == *v
        }),
        Term::After(t) => m.internal_date >= *t,
        Term::Before(t) => m.internal_date < *t,
        Term::Any(terms) => terms
            .iter()
            .any(|(negated, term)| term_matches(term, m) != *negated),
        Term::Word(v) => {
            s.subject.to_lowercase().contains(v.as_str())
                || s.snippet.to_lowercase().contains(v.as_str())
                || any_contains(&s.from, v)
                || any_contains(&s.to, v)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc822msgid_matches_the_whole_id_with_or_without_brackets() {
        let now = Utc::now();
        for q in [
            "rfc822msgid:abc@x.y",
            "rfc822msgid:<abc@x.y>",
            "RFC822MSGID:ABC@x.y",
        ] {
            let query = Query::parse(q, now).unwrap();
            assert_eq!(
                query.terms,
                [(false, Term::MessageId("abc@x.y".into()))],
                "{q}"
            );
        }
        assert!(Query::parse("rfc822msgid:<>", now).is_err());
    }

    #[test]
    fn operators_parse_and_odd_values_are_refused_not_panicked_on() {
        let now = Utc::now();
        let q = Query::parse(
            "from:ann@x.example -label:unread subject:\"q3 review\" newer_than:2d",
            now,
        )
        .unwrap();
        assert_eq!(q.terms.len(), 4);
        assert_eq!(q.terms[1], (true, Term::Label("unread".into())));
        assert_eq!(q.terms[2], (false, Term::Subject("q3 review".into())));
        assert_eq!(q.terms[3], (false, Term::After(now - Duration::days(2))));
        for odd in [
            "newer_than:3é",
            "older_than:99999999999999999y",
            "after:2026/13/45",
            "is:everything",
            "newer_than:d",
        ] {
            assert!(Query::parse(odd, now).is_err(), "{odd}");
        }
        assert!(Query::parse("in:anywhere", now).unwrap().reaches_spam_trash);
        let any = Query::parse("{from:ann@x.example to:ann@x.example} is:unread", now).unwrap();
        assert_eq!(any.terms.len(), 2);
        assert_eq!(
            any.terms[0],
            (
                false,
                Term::Any(vec![
                    (false, Term::From("ann@x.example".into())),
                    (false, Term::To("ann@x.example".into())),
                ])
            )
        );
    }
}
