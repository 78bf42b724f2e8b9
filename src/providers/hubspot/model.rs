//! HubSpot's wire types: CRM v3 objects, search pages and batch reads.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

/// An object as the v3 API returns it; every property is a string or null.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Object {
    pub id: String,
    #[serde(default)]
    pub properties: BTreeMap<String, Option<String>>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

impl Object {
    pub fn prop(&self, name: &str) -> Option<String> {
        self.properties
            .get(name)
            .cloned()
            .flatten()
            .filter(|v| !v.is_empty())
    }
}

/// `POST /crm/v3/objects/{type}/search` and `.../batch/read` answers.
#[derive(Debug, Deserialize)]
pub struct Results {
    pub results: Vec<Value>,
}

/// `POST /crm/v4/associations/{from}/{to}/batch/read`.
#[derive(Debug, Deserialize)]
pub struct Associations {
    pub results: Vec<AssociationResult>,
}

#[derive(Debug, Deserialize)]
pub struct AssociationResult {
    pub from: AssociationFrom,
    #[serde(default)]
    pub to: Vec<AssociationTo>,
}

#[derive(Debug, Deserialize)]
pub struct AssociationFrom {
    pub id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssociationTo {
    pub to_object_id: u64,
}

/// `GET /crm/v3/owners`.
#[derive(Debug, Deserialize)]
pub struct Owners {
    pub results: Vec<Owner>,
}

#[derive(Debug, Deserialize)]
pub struct Owner {
    pub id: String,
}
