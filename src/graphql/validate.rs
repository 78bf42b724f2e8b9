//! Input checks that run before any upstream call; each failure names its field.

use async_graphql::{ID, Result};
use chrono::{DateTime, Utc};

use crate::providers::Provider;

use super::{errors::bad_input, ids::GlobalId};

/// A plausible single address: `local@domain.tld`, no spaces, at most 254 characters.
pub fn email(field: &str, value: &str) -> Result<()> {
    let ok = value.len() <= 254
        && !value.chars().any(char::is_whitespace)
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
            "", "a", "a@b", "@b.co", "a@@b.co", "a b@c.co", "a@.co", "a@b.co.",
        ] {
            assert!(email("e", bad).is_err(), "{bad}");
        }
    }
}
