//! A connection's properties through the Properties API (`GET /crm/v3/properties/{type}`): each
//! property's `name`, `label`, `type`, whether it is HubSpot's own (`hubspotDefined`; custom
//! ones lack it) and whether a client may write it (not `modificationMetadata.readOnlyValue`,
//! not `calculated`). Kept in the adapter's [`FieldCache`](crate::providers::fields::FieldCache);
//! reads ask for the custom ones of a kept list besides the properties they map.

use serde::Deserialize;

use crate::{
    providers::{
        Provider,
        crm::{CrmObject, FieldInfo},
        fields::custom_names,
    },
    upstream::{Call, ErrorKind, ProviderError, Target},
};

use super::{HubspotProvider, error, map};

#[derive(Debug, Deserialize)]
struct Properties {
    results: Vec<Property>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Property {
    name: String,
    label: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    calculated: bool,
    #[serde(default)]
    hubspot_defined: bool,
    #[serde(default)]
    modification_metadata: Option<Modification>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Modification {
    #[serde(default)]
    read_only_value: bool,
}

impl HubspotProvider {
    /// The properties of `object`'s type at this connection, from the cache or the API; leads
    /// are no HubSpot type.
    pub async fn fields(
        &self,
        target: Target,
        object: CrmObject,
    ) -> Result<std::sync::Arc<Vec<FieldInfo>>, ProviderError> {
        let Some(object_type) = map::object_type(object) else {
            return Err(ProviderError::new(
                ErrorKind::Invalid,
                Provider::Hubspot,
                "properties",
                "HubSpot has no leads",
            ));
        };
        self.fields
            .get_or_load(target, object, self.properties(target, object_type))
            .await
    }

    /// The properties a read asks for: the ones the adapter maps, then the custom ones when the
    /// connection's properties are kept.
    pub(super) async fn read_properties(
        &self,
        target: Target,
        object: CrmObject,
    ) -> Result<Vec<String>, ProviderError> {
        let mut out: Vec<String> = map::properties(object)
            .iter()
            .map(|p| (*p).to_owned())
            .collect();
        let known = self.fields.known(target, object).await;
        out.extend(custom_names(known.as_deref().map(Vec::as_slice)));
        Ok(out)
    }

    async fn properties(
        &self,
        target: Target,
        object_type: &str,
    ) -> Result<Vec<FieldInfo>, ProviderError> {
        let call = Call::get("properties", format!("/crm/v3/properties/{object_type}"));
        let reply = self.upstream.send(target, &call, error::classify).await?;
        let properties: Properties = reply.json(Provider::Hubspot, call.op)?;
        Ok(properties
            .results
            .into_iter()
            .map(|p| FieldInfo {
                writable: !p.calculated
                    && !p.modification_metadata.is_some_and(|m| m.read_only_value),
                custom: !p.hubspot_defined,
                name: p.name,
                label: p.label,
                kind: p.kind,
            })
            .collect())
    }
}
