//! A connection's fields through the sObject describe (`GET /sobjects/{type}/describe`): each
//! field's `name`, `label`, `type`, `custom`, and whether a client may write it (`createable`
//! or `updateable`). Kept in the adapter's [`FieldCache`](crate::providers::fields::FieldCache);
//! reads select the custom ones of a kept describe besides the fields they map.

use serde::Deserialize;

use crate::{
    providers::{
        Provider,
        crm::{CrmObject, FieldInfo},
        fields::custom_names,
    },
    upstream::{Call, ProviderError, Target},
};

use super::{API_VERSION, SalesforceProvider, error, soql};

#[derive(Debug, Deserialize)]
struct Describe {
    fields: Vec<DescribeField>,
}

#[derive(Debug, Deserialize)]
struct DescribeField {
    name: String,
    label: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    custom: bool,
    #[serde(default)]
    createable: bool,
    #[serde(default)]
    updateable: bool,
}

impl SalesforceProvider {
    /// The fields of `object`'s sObject at this connection, from the cache or its describe.
    pub async fn fields(
        &self,
        target: Target,
        object: CrmObject,
    ) -> Result<std::sync::Arc<Vec<FieldInfo>>, ProviderError> {
        self.fields
            .get_or_load(target, object, self.describe(target, object))
            .await
    }

    /// The names of `object`'s custom fields at this connection, when its describe is kept.
    pub(super) async fn custom_fields(
        &self,
        target: Target,
        object: CrmObject,
    ) -> Result<Vec<String>, ProviderError> {
        let known = self.fields.known(target, object).await;
        Ok(custom_names(known.as_deref().map(Vec::as_slice)))
    }

    async fn describe(
        &self,
        target: Target,
        object: CrmObject,
    ) -> Result<Vec<FieldInfo>, ProviderError> {
        let path = format!(
            "/services/data/{API_VERSION}/sobjects/{}/describe",
            soql::sobject(object)
        );
        let call = Call::get("describe", path);
        let reply = self.upstream.send(target, &call, error::classify).await?;
        let describe: Describe = reply.json(Provider::Salesforce, call.op)?;
        Ok(describe
            .fields
            .into_iter()
            .map(|f| FieldInfo {
                name: f.name,
                label: f.label,
                kind: f.kind,
                writable: f.createable || f.updateable,
                custom: f.custom,
            })
            .collect())
    }
}
