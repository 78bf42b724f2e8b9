//! Outbound messages: the SOAP notifications a Salesforce workflow posts to a listener when
//! records are created or changed — `notifications{OrganizationId, ActionId, SessionId,
//! EnterpriseUrl, PartnerUrl, Notification[≤100]{Id, sObject}}` as `text/xml`, the sObject with its
//! latest field values. Deletions send nothing, as in Salesforce.

use std::sync::Arc;

use rand::RngCore;
use serde_json::{Map, Value};

use super::{SLUG, store::SObject};
use crate::SandboxState;

/// The workflow action every sandbox notification names.
pub const ACTION_ID: &str = "04k5e000000SandAAA";
/// Salesforce sends at most this many notifications in one message.
const MAX_NOTIFICATIONS: usize = 100;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn notification_id() -> String {
    let mut bytes = [0u8; 6];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "04l5e{}AAA",
        hex::encode(bytes).to_uppercase()[..10].to_owned()
    )
}

/// The SOAP envelope for a set of records of one type.
pub fn envelope(
    origin: &str,
    org: &str,
    object: SObject,
    records: &[Map<String, Value>],
) -> String {
    let notifications: String = records
        .iter()
        .map(|record| {
            let fields: String = record
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| {
                    let text = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    format!("<sf:{k}>{}</sf:{k}>", escape(&text))
                })
                .collect();
            format!(
                r#"<Notification><Id>{}</Id><sObject xsi:type="sf:{}" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">{fields}</sObject></Notification>"#,
                notification_id(),
                object.name()
            )
        })
        .collect();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><notifications xmlns="http://soap.sforce.com/2005/09/outbound"><OrganizationId>{org}</OrganizationId><ActionId>{ACTION_ID}</ActionId><SessionId xsi:nil="true"/><EnterpriseUrl>{origin}/services/Soap/c/58.0/{org}</EnterpriseUrl><PartnerUrl>{origin}/services/Soap/u/58.0/{org}</PartnerUrl>{notifications}</notifications></soapenv:Body></soapenv:Envelope>"#
    )
}

/// Sends the records' latest state to the registered listener, in messages of at most 100.
pub fn notify(state: &Arc<SandboxState>, org: &str, object: SObject, ids: &[String]) {
    let Some(target) = state.webhook(SLUG) else {
        return;
    };
    let records: Vec<Map<String, Value>> = {
        let store = state.salesforce.lock(org);
        ids.iter()
            .filter_map(|id| store.get(object, id).cloned())
            .collect()
    };
    for chunk in records.chunks(MAX_NOTIFICATIONS) {
        let body = envelope(&state.origin(), org, object, chunk);
        state.post(
            target.url.clone(),
            vec![
                ("content-type", "text/xml; charset=utf-8".to_owned()),
                ("soapaction", "\"\"".to_owned()),
            ],
            body,
        );
    }
}
