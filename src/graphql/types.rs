//! Types shared by every part of the schema: the Provider enum, scalars, and small value objects.

use async_graphql::{
    Enum, InputValueError, InputValueResult, Scalar, ScalarType, SimpleObject, Value,
};
use chrono::NaiveDate;

use crate::providers::Provider;

// The schema's Provider enum is made from the core's one list of providers, so the two never differ.
macro_rules! schema_provider_enum {
    ($($variant:ident => $slug:literal,)*) => {
        /// The providers, as GraphQL sees them (slugs upper-cased).
        #[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
        #[graphql(name = "Provider", remote = "crate::providers::Provider")]
        pub enum ProviderEnum {
            $($variant,)*
        }
    };
}

nexus_core::with_providers!(schema_provider_enum);

/// Converts a list of GraphQL provider values to the catalog's.
pub fn to_providers(list: &[ProviderEnum]) -> Vec<Provider> {
    list.iter().map(|p| Provider::from(*p)).collect()
}

/// A calendar date, `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Date(pub NaiveDate);

#[Scalar(name = "Date")]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(Date)
                .map_err(|_| InputValueError::custom("expected a date as YYYY-MM-DD")),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.format("%Y-%m-%d").to_string())
    }
}

/// An amount of money in a currency (ISO 4217 code).
#[derive(SimpleObject, Debug, Clone)]
pub struct Money {
    pub amount: f64,
    pub currency: String,
}

/// A person as a mail header names them.
#[derive(SimpleObject, Debug, Clone)]
pub struct EmailAddress {
    pub name: Option<String>,
    pub email: String,
}

/// Whether a change created, updated or deleted its record.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeOp {
    Created,
    Updated,
    Deleted,
}

impl From<crate::changes::Op> for ChangeOp {
    fn from(op: crate::changes::Op) -> Self {
        match op {
            crate::changes::Op::Created => Self::Created,
            crate::changes::Op::Updated => Self::Updated,
            crate::changes::Op::Deleted => Self::Deleted,
        }
    }
}

impl From<ChangeOp> for crate::changes::Op {
    fn from(op: ChangeOp) -> Self {
        match op {
            ChangeOp::Created => Self::Created,
            ChangeOp::Updated => Self::Updated,
            ChangeOp::Deleted => Self::Deleted,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_enum_values_are_the_upper_cased_slugs() {
        for p in Provider::ALL {
            let value = async_graphql::InputType::to_value(&ProviderEnum::from(p));
            assert_eq!(
                value,
                Value::Enum(async_graphql::Name::new(p.slug().to_ascii_uppercase()))
            );
        }
    }
}
