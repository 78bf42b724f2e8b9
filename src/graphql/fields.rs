//! Custom fields: `fields(provider:, object:)` lists a connection's fields as its CRM describes
//! them (Salesforce describe, HubSpot properties; the adapters keep each list for the catalog's
//! `fields` cache lifetime), and the checks that `customFields` inputs pass before any provider
//! call.
//!
//! `customFields` is a JSON object of custom field names (the provider's, as `fields` lists
//! them: Salesforce `Tier__c`, HubSpot `customer_tier`) to scalar values (string, number,
//! boolean; null clears on a write). A write takes only custom fields the connection lets a
//! client write; a filter (equality, at most [`MAX_FILTERS`] fields) names one provider in
//! `providers`, since each CRM names its custom fields its own way. Anything else is
//! `BAD_USER_INPUT` with `extensions.field` naming the entry (`input.customFields.Tier__c`).

use std::sync::Arc;

use async_graphql::{Context, Enum, Json, Object, Result, SimpleObject};
use serde_json::Value;

use crate::providers::{
    Cataloged, Provider,
    crm::{self, Crm, CrmObject, CustomFields},
};

use super::{
    errors::{ErrorCode, bad_input, provider_error, upstream_error},
    types::ProviderEnum,
    writes::crm_target,
};

use nexus_core::Target;

/// Most custom fields one list filter compares.
pub const MAX_FILTERS: usize = 3;

/// The unified CRM types, as `fields` takes them.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "CrmObject", remote = "crate::providers::crm::CrmObject")]
pub enum CrmObjectEnum {
    Contact,
    Lead,
    Deal,
    Company,
}

/// One field of a connection's records.
#[derive(SimpleObject, Debug, Clone)]
pub struct FieldInfo {
    /// The provider's name, as `customFields` and `field(name:)` take it.
    pub name: String,
    pub label: String,
    /// The provider's type (Salesforce `picklist`, `double`, …; HubSpot `enumeration`,
    /// `number`, …).
    #[graphql(name = "type")]
    pub kind: String,
    /// Whether a write may set it (not a formula, calculated or system field).
    pub writable: bool,
    /// Defined by the customer rather than the CRM.
    pub custom: bool,
}

impl From<&crm::FieldInfo> for FieldInfo {
    fn from(f: &crm::FieldInfo) -> Self {
        Self {
            name: f.name.clone(),
            label: f.label.clone(),
            kind: f.kind.clone(),
            writable: f.writable,
            custom: f.custom,
        }
    }
}

#[derive(Default)]
pub struct FieldsQuery;

#[Object]
impl FieldsQuery {
    /// The fields of `object`'s records at the project's `provider` connection, standard and
    /// custom (Salesforce describe, HubSpot properties). A type the provider does not keep
    /// (`LEAD` on HubSpot) is `UNSUPPORTED`.
    async fn fields(
        &self,
        ctx: &Context<'_>,
        provider: ProviderEnum,
        object: CrmObjectEnum,
    ) -> Result<Vec<FieldInfo>> {
        let (adapter, target) = target(ctx, provider.into(), object.into()).await?;
        let fields = listed(&adapter, target, object.into()).await?;
        Ok(fields.iter().map(FieldInfo::from).collect())
    }
}

/// The adapter and connection of `object` at `provider`; `UNSUPPORTED` when the provider does
/// not keep the type.
pub async fn target(
    ctx: &Context<'_>,
    provider: Provider,
    object: CrmObject,
) -> Result<(Arc<dyn Crm>, Target)> {
    if !provider.feeds(object.capability()) {
        return Err(provider_error(
            ErrorCode::Unsupported,
            provider,
            format!("{} has no {:?}", provider.entry().name, object.capability()),
        ));
    }
    crm_target(ctx, object, provider).await
}

async fn listed(
    adapter: &Arc<dyn Crm>,
    target: Target,
    object: CrmObject,
) -> Result<Arc<Vec<crm::FieldInfo>>> {
    adapter
        .fields(target, object)
        .await
        .map_err(|e| upstream_error(&e))
}

/// The entries of a `customFields` input as a JSON object (empty when absent).
pub fn entries(path: &str, value: Option<Json<Value>>) -> Result<CustomFields> {
    match value.map(|v| v.0) {
        None => Ok(CustomFields::new()),
        Some(Value::Object(map)) => {
            if let Some((name, _)) = map
                .iter()
                .find(|(_, v)| matches!(v, Value::Array(_) | Value::Object(_)))
            {
                return Err(bad_input(
                    &format!("{path}.{name}"),
                    "a custom field's value is a string, number, boolean or null",
                ));
            }
            Ok(map)
        }
        Some(_) => Err(bad_input(
            path,
            "customFields is a JSON object of custom field names to values",
        )),
    }
}

/// Why a named field cannot be used, if it cannot: unknown, standard, or (for a write)
/// read-only. Returns the provider's spelling of the name.
fn check<'a>(
    fields: &'a [crm::FieldInfo],
    provider: Provider,
    object: CrmObject,
    name: &str,
    write: bool,
) -> Result<&'a str, String> {
    let name_of = &provider.entry().name;
    // Salesforce field names are case-insensitive; HubSpot's are lower case.
    let Some(field) = fields
        .iter()
        .find(|f| f.name == name || f.name.eq_ignore_ascii_case(name))
    else {
        return Err(format!("{name_of} has no {} field `{name}`", object.name()));
    };
    if !field.custom {
        return Err(format!(
            "`{}` is a standard {name_of} field: customFields takes custom fields only",
            field.name
        ));
    }
    if write && !field.writable {
        return Err(format!("`{}` is read-only at {name_of}", field.name));
    }
    Ok(&field.name)
}

/// A write's `customFields`, checked against the connection's fields (before any write call)
/// and named as the provider names them.
pub async fn for_write(
    adapter: &Arc<dyn Crm>,
    target: Target,
    object: CrmObject,
    path: &str,
    custom: &CustomFields,
) -> Result<CustomFields> {
    if custom.is_empty() {
        return Ok(CustomFields::new());
    }
    let fields = listed(adapter, target, object).await?;
    let mut out = CustomFields::new();
    for (name, value) in custom {
        let name = check(&fields, target.provider, object, name, true)
            .map_err(|message| bad_input(&format!("{path}.{name}"), message))?;
        out.insert(name.to_owned(), value.clone());
    }
    Ok(out)
}

/// A list filter's `customFields`: one provider named in `providers`, at most [`MAX_FILTERS`]
/// non-null values, each a custom field of that provider's connection.
pub async fn for_filter(
    ctx: &Context<'_>,
    object: CrmObject,
    providers: Option<&[ProviderEnum]>,
    custom: CustomFields,
) -> Result<CustomFields> {
    const PATH: &str = "filter.customFields";
    if custom.is_empty() {
        return Ok(custom);
    }
    let [provider] = providers.unwrap_or_default() else {
        return Err(bad_input(
            PATH,
            "a customFields filter names one provider in `providers`: each CRM names its \
             custom fields its own way",
        ));
    };
    if custom.len() > MAX_FILTERS {
        return Err(bad_input(
            PATH,
            format!("compare at most {MAX_FILTERS} custom fields"),
        ));
    }
    if let Some((name, _)) = custom.iter().find(|(_, v)| v.is_null()) {
        return Err(bad_input(
            &format!("{PATH}.{name}"),
            "a custom field filter compares with a value, not null",
        ));
    }
    let provider: Provider = (*provider).into();
    let (adapter, target) = target(ctx, provider, object).await?;
    let fields = listed(&adapter, target, object).await?;
    let mut out = CustomFields::new();
    for (name, value) in custom {
        let known = check(&fields, provider, object, &name, false)
            .map_err(|message| bad_input(&format!("{PATH}.{name}"), message))?;
        out.insert(known.to_owned(), value);
    }
    Ok(out)
}
