//! Global ids: opaque to clients, `base64url("Type:key")` inside, where a provider record's key
//! is `provider:remoteId` and a gateway row's key is its UUID.

use async_graphql::ID;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use uuid::Uuid;

use crate::providers::Provider;

use super::errors::bad_input;

/// A decoded global id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalId {
    pub type_name: String,
    pub key: String,
}

impl GlobalId {
    pub fn encode(type_name: &str, key: &str) -> ID {
        ID(URL_SAFE_NO_PAD.encode(format!("{type_name}:{key}")))
    }

    /// The id of a provider's record of a unified type.
    pub fn for_record(type_name: &str, provider: Provider, remote_id: &str) -> ID {
        Self::encode(type_name, &format!("{}:{remote_id}", provider.slug()))
    }

    /// Decodes an id given as the argument `field`; anything not made by `encode` is bad input.
    pub fn parse(field: &str, id: &ID) -> async_graphql::Result<Self> {
        let invalid = || bad_input(field, format!("`{}` is not a valid id", id.as_str()));
        let bytes = URL_SAFE_NO_PAD
            .decode(id.as_bytes())
            .map_err(|_| invalid())?;
        let text = String::from_utf8(bytes).map_err(|_| invalid())?;
        let (type_name, key) = text.split_once(':').ok_or_else(invalid)?;
        if type_name.is_empty() || key.is_empty() {
            return Err(invalid());
        }
        Ok(Self {
            type_name: type_name.to_owned(),
            key: key.to_owned(),
        })
    }

    /// Like `parse`, and the id must be of `type_name`.
    pub fn parse_as(field: &str, id: &ID, type_name: &str) -> async_graphql::Result<Self> {
        let parsed = Self::parse(field, id)?;
        if parsed.type_name != type_name {
            return Err(bad_input(
                field,
                format!("expected the id of a {type_name}"),
            ));
        }
        Ok(parsed)
    }

    /// The key as a gateway row's UUID.
    pub fn uuid(&self) -> Option<Uuid> {
        Uuid::parse_str(&self.key).ok()
    }

    /// The key as a provider record's `(provider, remoteId)`.
    pub fn record(&self) -> Option<(Provider, &str)> {
        let (slug, remote_id) = self.key.split_once(':')?;
        Some((slug.parse().ok()?, remote_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_ids_round_trip() {
        let id = GlobalId::for_record("Contact", Provider::Hubspot, "101:x");
        let parsed = GlobalId::parse_as("id", &id, "Contact").unwrap();
        assert_eq!(parsed.record(), Some((Provider::Hubspot, "101:x")));
        assert!(GlobalId::parse_as("id", &id, "Lead").is_err());
    }

    #[test]
    fn garbage_is_bad_input_not_a_panic() {
        for raw in ["", "!!!", "Zm9v", "OmJhcg"] {
            assert!(GlobalId::parse("id", &ID(raw.into())).is_err(), "{raw}");
        }
    }
}
