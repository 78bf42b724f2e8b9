//! What a caller may do: the scopes an API key was made with or a JWT's scope claim names.
//!
//! A scope opens one kind of access. `read` runs queries and subscriptions; `write` runs
//! mutations; `changes:project` shows the whole project's change stream, every member's events,
//! instead of the caller's own and the project's; `audit` opens the audit surface;
//! `passthrough:read` and `passthrough:write` open raw provider calls, reads and writes. Scopes
//! are written as OAuth writes them: names separated by spaces. The request's `Scopes` sit next
//! to its `Tenant` in the GraphQL context, and code asks `scopes.allows(Scope::…)`.

use std::{fmt, str::FromStr};

/// One kind of access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    Read,
    Write,
    ChangesProject,
    Audit,
    PassthroughRead,
    PassthroughWrite,
}

impl Scope {
    pub const ALL: [Scope; 6] = [
        Scope::Read,
        Scope::Write,
        Scope::ChangesProject,
        Scope::Audit,
        Scope::PassthroughRead,
        Scope::PassthroughWrite,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::ChangesProject => "changes:project",
            Scope::Audit => "audit",
            Scope::PassthroughRead => "passthrough:read",
            Scope::PassthroughWrite => "passthrough:write",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A name that is no scope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown scope `{0}`; the scopes are read, write, changes:project, audit, passthrough:read, passthrough:write"
)]
pub struct UnknownScope(pub String);

impl FromStr for Scope {
    type Err = UnknownScope;

    fn from_str(name: &str) -> Result<Self, UnknownScope> {
        Scope::ALL
            .into_iter()
            .find(|s| s.as_str() == name)
            .ok_or_else(|| UnknownScope(name.to_owned()))
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Scopes(u8);

impl Scopes {
    /// What a key gets unless told otherwise, and what keys made before scopes existed have.
    pub const DEFAULT: Scopes = Scopes((1 << Scope::Read as u8) | (1 << Scope::Write as u8));

    pub fn allows(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    pub fn with(self, scope: Scope) -> Self {
        Self(self.0 | scope.bit())
    }

    /// Reads stored scopes, refusing any name that is no scope.
    pub fn parse(text: &str) -> Result<Self, UnknownScope> {
        text.split_ascii_whitespace()
            .try_fold(Scopes::default(), |set, name| Ok(set.with(name.parse()?)))
    }

    /// Reads a JWT's scope claim: names this gateway does not know (`openid`, another API's
    /// scopes) are another audience's and are passed over.
    pub fn from_claim(text: &str) -> Self {
        text.split_ascii_whitespace()
            .filter_map(|name| name.parse().ok())
            .fold(Scopes::default(), Scopes::with)
    }
}

impl FromIterator<Scope> for Scopes {
    fn from_iter<I: IntoIterator<Item = Scope>>(scopes: I) -> Self {
        scopes.into_iter().fold(Scopes::default(), Scopes::with)
    }
}

/// Space-delimited, in the order of `Scope::ALL`.
impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = Scope::ALL
            .into_iter()
            .filter(|s| self.allows(*s))
            .map(Scope::as_str)
            .collect();
        f.write_str(&names.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_scopes_round_trip_and_unknown_names_are_refused() {
        let scopes = Scopes::parse("write  changes:project read").unwrap();
        assert_eq!(scopes.to_string(), "read write changes:project");
        assert!(scopes.allows(Scope::ChangesProject) && !scopes.allows(Scope::Audit));
        assert_eq!(Scopes::DEFAULT.to_string(), "read write");
        assert_eq!(
            Scopes::parse("read admin"),
            Err(UnknownScope("admin".into()))
        );
        assert_eq!(Scopes::from_claim("openid read").to_string(), "read");
    }
}
