//! Input checks that run before any upstream call; each failure names its field.
//!
//! Filter strings are bounded (`MAX_FILTER_CHARS`, an address `MAX_EMAIL_CHARS`): a search
//! term longer than any name or subject cannot match, and sent on it would only cost the
//! provider's quota — or, past the longest URL a request can carry, not leave at all. Text that
//! goes into a mail header holds no control character (`header_text`): a line break there would
//! start a header of the caller's choosing.

use async_graphql::{ID, Result};
use chrono::{DateTime, Utc};

use crate::providers::Provider;

use super::{errors::bad_input, ids::GlobalId};

/// The longest filter string (`nameContains`, `subjectContains`, a label...), in characters.
pub const MAX_FILTER_CHARS: usize = 1_000;

/// The longest address (RFC 5321's path limit), in characters.
pub const MAX_EMAIL_CHARS: usize = 254;

/// A plausible single address: `local@domain.tld`, no spaces or control characters, at most
/// 254 characters.
pub fn email(field: &str, value: &str) -> Result<()> {
    if value.chars().count() > MAX_EMAIL_CHARS {
        return Err(too_long(field, MAX_EMAIL_CHARS));
    }
    let ok = !value.chars().any(|c| c.is_whitespace() || c.is_control())
        && value.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if ok {
        Ok(())
    } else {
        Err(bad_input(
            field,
            format!("`{value}` is not an email address"),
        ))
    }
}

pub fn optional_email(field: &str, value: Option<&str>) -> Result<()> {
    value.map_or(Ok(()), |v| email(field, v))
}

fn too_long(field: &str, limit: usize) -> async_graphql::Error {
    bad_input(
        field,
        format!("`{field}` is longer than {limit} characters"),
    )
}

/// A filter string of at most `MAX_FILTER_CHARS` characters.
pub fn filter_text(field: &str, value: &str) -> Result<()> {
    if value.chars().count() > MAX_FILTER_CHARS {
        Err(too_long(field, MAX_FILTER_CHARS))
    } else {
        Ok(())
    }
}

/// Each filter string that is given, as `filter_text` checks it.
pub fn filter_texts(fields: &[(&str, Option<&str>)]) -> Result<()> {
    fields
        .iter()
        .filter_map(|(field, value)| Some((field, (*value)?)))
        .try_for_each(|(field, value)| filter_text(field, value))
}

/// Text for a mail header (a subject): no control character but tab — no CR or LF that
/// would end the header, no NUL.
pub fn header_text(field: &str, value: &str) -> Result<()> {
    if value.chars().any(|c| c.is_control() && c != '\t') {
        Err(bad_input(
            field,
            format!("`{field}` must not hold control characters (line breaks included)"),
        ))
    } else {
        Ok(())
    }
}

/// A string with something other than white space in it.
pub fn non_empty(field: &str, value: &str) -> Result<()> {
    if value.trim().is_empty() {
        Err(bad_input(field, format!("`{field}` must not be empty")))
    } else {
        Ok(())
    }
}

/// An ISO 4217 code: three ASCII letters.
pub fn currency(field: &str, value: &str) -> Result<()> {
    if value.len() == 3 && value.chars().all(|c| c.is_ascii_alphabetic()) {
        Ok(())
    } else {
        Err(bad_input(
            field,
            "currency must be a three-letter ISO 4217 code",
        ))
    }
}

/// The id of a provider's record of `type_name`: the provider that holds it and its own id.
pub fn record_id(field: &str, id: &ID, type_name: &str) -> Result<(Provider, String)> {
    let parsed = GlobalId::parse_as(field, id, type_name)?;
    parsed
        .record()
        .map(|(provider, remote_id)| (provider, remote_id.to_owned()))
        .ok_or_else(|| bad_input(field, format!("expected the id of a {type_name}")))
}

/// A time range whose end does not come before its start.
pub fn range(field: &str, from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Result<()> {
    match (from, to) {
        (Some(a), Some(b)) if a > b => Err(bad_input(field, "the range ends before it starts")),
        _ => Ok(()),
    }
}

/// A list of addresses, each checked as `email` does.
pub fn addresses(field: &str, list: &[String]) -> Result<()> {
    list.iter().try_for_each(|a| email(field, a))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        for good in ["a@b.co", "first.last+tag@example.com"] {
            assert!(email("e", good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "a",
            "a@b",
            "@b.co",
            "a@@b.co",
            "a b@c.co",
            "a@.co",
            "a@b.co.",
            "a\0@b.co",
            "a@b.co\r\nBcc: c@d.co",
        ] {
            assert!(email("e", bad).is_err(), "{bad}");
        }
        let long = format!("{}@b.co", "a".repeat(MAX_EMAIL_CHARS));
        assert!(email("e", &long).is_err());
    }

    #[test]
    fn header_texts_refuse_control_characters_but_tab() {
        for good in ["Hello", "🎉 Launch\tday", "Grüße"] {
            assert!(header_text("s", good).is_ok(), "{good:?}");
        }
        for bad in [
            "a\r\nBcc: x@y.co",
            "a\nb",
            "a\rb",
            "a\0b",
            "a\x1bb",
            "a\u{7f}b",
        ] {
            assert!(header_text("s", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn filter_texts_are_bounded_in_characters() {
        assert!(filter_text("f", &"é".repeat(MAX_FILTER_CHARS)).is_ok());
        assert!(filter_text("f", &"a".repeat(MAX_FILTER_CHARS + 1)).is_err());
    }
}
