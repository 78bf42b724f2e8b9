//! Salesforce outbound messages: the SOAP notifications a workflow rule or flow posts when
//! records are created or changed.
//!
//! - Salesforce signs nothing. Each connection gets its own endpoint,
//!   `/webhooks/salesforce/{token}`, where the token is 256 random bits; only its SHA-256 is
//!   stored (in the connection's metadata), and a delivery's token is matched, in constant time,
//!   against those of the connections to the org the message names (their indexed account);
//!   only one matching none of them is matched against every connection's, to tell an unknown
//!   token from another org's. The token is the endpoint's only secret: a new one replaces
//!   the old (`salesforceOutboundUrl`, made by `endpoints`); it outlives connecting again, not
//!   disconnecting.
//! - The body, `Envelope/Body/notifications{OrganizationId, ActionId, SessionId, EnterpriseUrl,
//!   PartnerUrl, Notification[1..100]{Id, sObject xsi:type="sf:Lead"|...}}` in the namespace
//!   `http://soap.sforce.com/2005/09/outbound`, is read with an XML parser; its `OrganizationId`
//!   must be the org the connection was made to (the identity URL `…/id/{org}/{user}` its token
//!   response named), else the delivery is refused.
//! - Each notification is one change of the unified type its sObject maps to (`Lead`, `Contact`,
//!   Opportunity → `Deal`, Account → `Company`; other objects `salesforce:<sObject>`), with the
//!   record's `Id` as remote id and its fields (as text, as SOAP carries them) as data. A
//!   notification names no operation: it is `Created` when the record's `CreatedDate` equals its
//!   `LastModifiedDate` (both in the message), else `Updated` — the record hashes of the sync
//!   cannot tell, as they are taken over the REST API's fields, not the message's. Deletions
//!   send no outbound message.
//! - The notification `Id` is the receipt: Salesforce delivers a message again until it is
//!   acknowledged (`ack`), so a notification already stored is acknowledged and not stored again.

use chrono::{DateTime, NaiveDateTime, Utc};
use quick_xml::{
    XmlVersion,
    events::{BytesStart, Event},
    name::ResolveResult,
    reader::NsReader,
};
use rand::RngCore;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use std::collections::HashMap;

use http::StatusCode;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect,
};
use uuid::Uuid;

use crate::{
    auth::Tenant,
    changes::{Change, Op},
    providers::Provider,
    store::entities::{integration_credentials, webhook_receipts},
    upstream::Target,
};

use super::{Delivery, Intake, Outcome, ProviderWebhook, Refusal, Reply, WebhookError};

/// The namespace of an outbound message's own elements.
const OUTBOUND_NS: &str = "http://soap.sforce.com/2005/09/outbound";
const SOAP_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// Salesforce sends at most this many notifications in one message.
pub const MAX_NOTIFICATIONS: usize = 100;
/// Where a connection's metadata keeps its endpoint token's SHA-256 (hex).
pub const TOKEN_HASH: &str = "outbound_token_sha256";

/// A new endpoint token: 256 random bits, URL-safe.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// What is stored of a token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Whether `token` is the one whose hash is `stored`, compared in constant time.
pub fn token_matches(token: &str, stored: &str) -> bool {
    token_hash(token).as_bytes().ct_eq(stored.as_bytes()).into()
}

/// The org of a Salesforce identity URL (`https://login.salesforce.com/id/{org}/{user}`).
pub fn org_of_identity(identity: &str) -> Option<&str> {
    let (_, rest) = identity.rsplit_once("/id/")?;
    rest.split('/').next().filter(|org| !org.is_empty())
}

/// Whether two org ids name the same org: Salesforce writes ids with 15 case-sensitive
/// characters or 18 (the 15 and a checksum of their case).
pub fn same_org(a: &str, b: &str) -> bool {
    let short = |id: &str| match id.len() {
        15 | 18 => id[..15].to_owned(),
        _ => id.to_owned(),
    };
    a.is_ascii() && b.is_ascii() && short(a) == short(b)
}

/// One notification of a message.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// The notification's own id: the receipt.
    pub id: String,
    /// The sObject type (`Lead`, ...).
    pub object: String,
    /// The record's fields, by name, as text (`null` for `xsi:nil` ones).
    pub fields: Map<String, Value>,
}

/// An outbound message, read.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboundMessage {
    pub organization_id: String,
    pub action_id: String,
    pub notifications: Vec<Notification>,
}

const MALFORMED: Refusal = Refusal::Malformed("the body is not a Salesforce outbound message");

/// Where the reader is, by the elements it is inside.
#[derive(Default)]
struct Reading {
    /// The (namespace, local name) of each open element.
    path: Vec<(String, String)>,
    text: String,
    /// The text is `xsi:nil`.
    nil: bool,
    organization_id: Option<String>,
    action_id: Option<String>,
    notifications: Vec<Notification>,
    current: Option<Notification>,
}

/// Where the notifications are: `Envelope/Body/notifications`.
const NOTIFICATIONS: [&str; 3] = ["Envelope", "Body", "notifications"];

impl Reading {
    /// Whether the open elements are `NOTIFICATIONS` then `names` (exactly, or at least), each in
    /// its namespace.
    fn at(&self, names: &[&str], exactly: bool) -> bool {
        let want: Vec<&str> = NOTIFICATIONS.iter().chain(names).copied().collect();
        let fits = if exactly {
            self.path.len() == want.len()
        } else {
            self.path.len() >= want.len()
        };
        fits && self
            .path
            .iter()
            .zip(&want)
            .enumerate()
            .all(|(i, ((ns, local), want))| {
                local == want && ns == if i < 2 { SOAP_NS } else { OUTBOUND_NS }
            })
    }

    fn open(&mut self, ns: String, element: &BytesStart<'_>) -> Result<(), Refusal> {
        let local = element.local_name().as_ref().to_owned();
        self.path.push((ns, local));
        self.text.clear();
        self.nil = false;
        let mut object = None;
        for attribute in element.attributes() {
            let attribute = attribute.map_err(|_| MALFORMED)?;
            let value = attribute
                .normalized_value(XmlVersion::Implicit1_0)
                .map_err(|_| MALFORMED)?;
            match attribute.key.local_name().as_ref() {
                "type" => object = value.rsplit(':').next().map(str::to_owned),
                "nil" => self.nil = value == "true",
                _ => {}
            }
        }
        if self.at(&["Notification"], true) {
            if self.notifications.len() == MAX_NOTIFICATIONS {
                return Err(Refusal::Malformed(
                    "more than 100 notifications in one message",
                ));
            }
            self.current = Some(Notification {
                id: String::new(),
                object: String::new(),
                fields: Map::new(),
            });
        } else if self.at(&["Notification", "sObject"], true) {
            let current = self.current.as_mut().ok_or(MALFORMED)?;
            current.object = object
                .filter(|o| !o.is_empty())
                .ok_or(Refusal::Malformed("an sObject without its xsi:type"))?;
        }
        Ok(())
    }

    fn close(&mut self) -> Result<(), Refusal> {
        let text = std::mem::take(&mut self.text);
        if self.at(&["OrganizationId"], true) {
            self.organization_id = Some(text.trim().to_owned());
        } else if self.at(&["ActionId"], true) {
            self.action_id = Some(text.trim().to_owned());
        } else if self.at(&["Notification", "Id"], true) {
            self.current.as_mut().ok_or(MALFORMED)?.id = text.trim().to_owned();
        } else if self.at(&["Notification"], true) {
            let done = self.current.take().ok_or(MALFORMED)?;
            if done.id.is_empty() || done.object.is_empty() {
                return Err(Refusal::Malformed(
                    "a notification without its Id or sObject",
                ));
            }
            self.notifications.push(done);
        } else if self.path.len() == NOTIFICATIONS.len() + 3
            && self.at(&["Notification", "sObject"], false)
        {
            // A field of the record (in the sObject's own namespace).
            let name = self
                .path
                .last()
                .map(|(_, name)| name.clone())
                .ok_or(MALFORMED)?;
            let value = if self.nil {
                Value::Null
            } else {
                Value::String(text)
            };
            self.current
                .as_mut()
                .ok_or(MALFORMED)?
                .fields
                .insert(name, value);
        }
        self.path.pop();
        Ok(())
    }
}

/// Reads an outbound message; anything else is refused.
pub fn read(body: &[u8]) -> Result<OutboundMessage, Refusal> {
    let text = std::str::from_utf8(body).map_err(|_| MALFORMED)?;
    let mut reader = NsReader::from_str(text);
    let mut reading = Reading::default();
    loop {
        let (ns, event) = reader.read_resolved_event().map_err(|_| MALFORMED)?;
        let ns = match ns {
            ResolveResult::Bound(ns) => ns.0.to_owned(),
            _ => String::new(),
        };
        match event {
            Event::Start(element) => reading.open(ns, &element)?,
            Event::Empty(element) => {
                reading.open(ns, &element)?;
                reading.close()?;
            }
            Event::End(_) => reading.close()?,
            Event::Text(t) => reading.text.push_str(&t.xml10_content()),
            Event::CData(t) => reading.text.push_str(&t.xml10_content()),
            Event::GeneralRef(r) => match r.resolve_char_ref().map_err(|_| MALFORMED)? {
                Some(c) => reading.text.push(c),
                None => reading
                    .text
                    .push_str(quick_xml::escape::resolve_predefined_entity(&r).ok_or(MALFORMED)?),
            },
            Event::DocType(_) => return Err(Refusal::Malformed("a DTD is not taken")),
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
        }
    }
    if !reading.path.is_empty() {
        return Err(MALFORMED);
    }
    let organization_id = reading
        .organization_id
        .filter(|o| !o.is_empty())
        .ok_or(Refusal::Malformed("the message has no OrganizationId"))?;
    Ok(OutboundMessage {
        organization_id,
        action_id: reading.action_id.unwrap_or_default(),
        notifications: reading.notifications,
    })
}

/// Salesforce's date-times: `2024-05-01T12:00:00.000Z` (SOAP) or `…+0000` (REST).
fn time(value: Option<&Value>) -> Option<DateTime<Utc>> {
    let text = value?.as_str()?;
    DateTime::parse_from_rfc3339(text)
        .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|t| t.and_utc())
        })
}

/// The change a notification makes.
pub fn change(notification: Notification) -> Change {
    let kind = match notification.object.as_str() {
        "Lead" => "Lead".to_owned(),
        "Contact" => "Contact".to_owned(),
        "Opportunity" => "Deal".to_owned(),
        "Account" => "Company".to_owned(),
        other => format!("salesforce:{other}"),
    };
    let fields = &notification.fields;
    let created = time(fields.get("CreatedDate"));
    let modified = time(fields.get("LastModifiedDate"));
    let op = if created.is_some() && created == modified {
        Op::Created
    } else {
        Op::Updated
    };
    let remote_id = fields
        .get("Id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let mut data = Map::new();
    data.insert(
        "attributes".into(),
        json!({ "type": notification.object, "notificationId": notification.id }),
    );
    data.extend(notification.fields);
    Change {
        user_id: None,
        op,
        provider: Provider::Salesforce,
        kind,
        remote_id,
        data: Value::Object(data),
        occurred_at: modified.unwrap_or_else(Utc::now),
    }
}

/// The answer that acknowledges a message: Salesforce delivers it again until it gets one.
pub fn ack() -> &'static str {
    r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound"><Ack>true</Ack></notificationsResponse></soapenv:Body></soapenv:Envelope>"#
}

/// A SOAP fault: `soapenv:Client` for a message refused, `soapenv:Server` for one not stored.
pub fn fault(code: &str, message: &str) -> String {
    let message = quick_xml::escape::escape(message);
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><soapenv:Fault><faultcode>soapenv:{code}</faultcode><faultstring>{message}</faultstring></soapenv:Fault></soapenv:Body></soapenv:Envelope>"#
    )
}

/// Salesforce's outbound messages, each to its connection's own endpoint; answered in SOAP.
pub struct Webhook;

/// A connection's user, project and metadata.
type Endpoint = (Uuid, Uuid, Value);

/// The Salesforce connections to `org` (their account), or all of them without one.
async fn endpoints(db: &DatabaseConnection, org: Option<&str>) -> Result<Vec<Endpoint>, DbErr> {
    let mut query = integration_credentials::Entity::find()
        .select_only()
        .column(integration_credentials::Column::UserId)
        .column(integration_credentials::Column::ProjectId)
        .column(integration_credentials::Column::Metadata)
        .filter(integration_credentials::Column::Provider.eq(Provider::Salesforce.slug()));
    if let Some(org) = org {
        query = query.filter(integration_credentials::Column::AccountId.eq(org));
    }
    query.into_tuple().all(db).await
}

/// The one of `endpoints` whose token is `token`. Every hash is compared, in constant time: the
/// match takes no shortcut.
fn holder(token: &str, endpoints: Vec<Endpoint>) -> Option<Endpoint> {
    endpoints
        .into_iter()
        .fold(None, |found, (user, project, metadata)| {
            let stored = metadata[TOKEN_HASH].as_str().unwrap_or_default();
            let matches = token_matches(token, stored);
            found.or(matches.then_some((user, project, metadata)))
        })
}

#[async_trait::async_trait]
impl ProviderWebhook for Webhook {
    async fn receive(
        &self,
        _intake: &Intake,
        _delivery: Delivery<'_>,
    ) -> Result<Outcome, WebhookError> {
        Err(WebhookError::NotServed(
            "Salesforce delivers to each connection's own endpoint (salesforceOutboundUrl)".into(),
        ))
    }

    /// A delivery to `/webhooks/salesforce/{token}`: an outbound message for the connection the
    /// token belongs to, from its org; each notification not stored before is stored, all in one
    /// transaction with their receipts. The token is looked for among the connections to the org
    /// the message names (by their account); only a token not among them — another token,
    /// another org's, a body that is no message — is looked for among every connection's, to
    /// tell a token unknown (404) from a delivery refused.
    async fn receive_at(
        &self,
        intake: &Intake,
        token: &str,
        delivery: Delivery<'_>,
    ) -> Result<Outcome, WebhookError> {
        let message = read(delivery.body);
        let held = match &message {
            Ok(message) => holder(
                token,
                endpoints(&intake.db, Some(&message.organization_id)).await?,
            ),
            Err(_) => None,
        };
        let held = match held {
            Some(held) => Some(held),
            None => holder(token, endpoints(&intake.db, None).await?),
        };
        let Some((user, project, metadata)) = held else {
            return Err(WebhookError::NotServed(
                "no such Salesforce endpoint".into(),
            ));
        };
        let message = message?;
        let org = metadata["id"].as_str().and_then(org_of_identity);
        if !org.is_some_and(|org| same_org(org, &message.organization_id)) {
            return Err(Refusal::OtherAccount.into());
        }
        let receipt = |n: &Notification| format!("{project}:{}", n.id);
        let ids: Vec<String> = message.notifications.iter().map(receipt).collect();
        let seen: Vec<String> = webhook_receipts::Entity::find()
            .select_only()
            .column(webhook_receipts::Column::EventId)
            .filter(webhook_receipts::Column::Provider.eq(Provider::Salesforce.slug()))
            .filter(webhook_receipts::Column::EventId.is_in(ids))
            .into_tuple()
            .all(&intake.db)
            .await?;
        let mut fresh: Vec<Notification> = Vec::new();
        for notification in message.notifications {
            let id = receipt(&notification);
            // A message may name one notification twice; it is stored once.
            if !seen.contains(&id) && !fresh.iter().any(|f| receipt(f) == id) {
                fresh.push(notification);
            }
        }
        if fresh.is_empty() {
            return Ok(Outcome::Duplicate);
        }
        let now = Utc::now();
        let receipts: Vec<webhook_receipts::ActiveModel> = fresh
            .iter()
            .map(|n| webhook_receipts::ActiveModel {
                id: Set(Uuid::new_v4()),
                provider: Set(Provider::Salesforce.slug().to_owned()),
                event_id: Set(receipt(n)),
                project_id: Set(Some(project)),
                received_at: Set(now),
            })
            .collect();
        let stored = fresh.len();
        let connection = [Target {
            tenant: Tenant {
                user_id: user,
                project_id: project,
            },
            provider: Provider::Salesforce,
        }];
        // The sync logs what it lists, the whole record once; this message brings it forward.
        let mut listed: HashMap<String, bool> = HashMap::new();
        let mut changes = Vec::new();
        for change in fresh.into_iter().map(|n| change(n).of(Some(user))) {
            if !listed.contains_key(&change.kind) {
                let synced = intake.listed(&connection, &change.kind).await?;
                listed.insert(change.kind.clone(), synced);
            }
            if !listed[&change.kind] {
                changes.push(change);
            }
        }
        // A redelivery racing this one fails on the receipts' uniqueness and is answered 503:
        // Salesforce delivers it again and finds it stored.
        intake
            .log
            .append_with(project, None, changes, async |txn| {
                webhook_receipts::Entity::insert_many(receipts)
                    .exec_without_returning(txn)
                    .await
                    .map(|_| ())
            })
            .await?;
        intake.nudge_connection(connection[0]);
        Ok(Outcome::Stored(stored))
    }

    /// The `Ack` (also for repeats), a `soapenv:Client` fault for a body that is no outbound
    /// message (400) or another org's (403), a `soapenv:Server` fault when not stored (503); an
    /// unknown endpoint is answered as any other (404).
    fn reply(&self, received: &Result<Outcome, WebhookError>) -> Option<Reply> {
        let soap = |status: StatusCode, body: String| {
            Some(Reply {
                status,
                content_type: "text/xml; charset=utf-8",
                body,
            })
        };
        match received {
            Ok(_) => soap(StatusCode::OK, ack().to_owned()),
            Err(WebhookError::Refused(refusal)) => {
                let status = match refusal {
                    Refusal::OtherAccount => StatusCode::FORBIDDEN,
                    _ => StatusCode::BAD_REQUEST,
                };
                soap(status, fault("Client", &refusal.to_string()))
            }
            Err(WebhookError::NotServed(_)) => None,
            Err(_) => soap(
                StatusCode::SERVICE_UNAVAILABLE,
                fault("Server", "not stored; deliver again"),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MESSAGE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>00D5e0000000001AAA</OrganizationId>
   <ActionId>04k5e000000SandAAA</ActionId>
   <SessionId xsi:nil="true"/>
   <Notification>
    <Id>04l5e000000AbCdAAA</Id>
    <sObject xsi:type="sf:Lead" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
     <sf:Id>00Q5e000001AAA</sf:Id>
     <sf:Company>Smith &amp; Sons &#x263A;</sf:Company>
     <sf:Email xsi:nil="true"/>
     <sf:CreatedDate>2024-05-01T12:00:00.000Z</sf:CreatedDate>
     <sf:LastModifiedDate>2024-05-02T12:00:00.000Z</sf:LastModifiedDate>
    </sObject>
   </Notification>
   <Notification>
    <Id>04l5e000000AbCeAAA</Id>
    <sObject xsi:type="sf:Account" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
     <sf:Id>0015e000001AAA</sf:Id>
     <sf:CreatedDate>2024-05-01T12:00:00.000Z</sf:CreatedDate>
     <sf:LastModifiedDate>2024-05-01T12:00:00.000Z</sf:LastModifiedDate>
    </sObject>
   </Notification>
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>"#;

    #[test]
    fn a_message_reads_into_its_notifications_and_changes() {
        let message = read(MESSAGE.as_bytes()).unwrap();
        assert_eq!(message.organization_id, "00D5e0000000001AAA");
        assert_eq!(message.action_id, "04k5e000000SandAAA");
        assert_eq!(message.notifications.len(), 2);
        let lead = &message.notifications[0];
        assert_eq!(
            (lead.id.as_str(), lead.object.as_str()),
            ("04l5e000000AbCdAAA", "Lead")
        );
        assert_eq!(lead.fields["Company"], "Smith & Sons \u{263A}");
        assert_eq!(lead.fields["Email"], Value::Null);
        let changes: Vec<Change> = message.notifications.into_iter().map(change).collect();
        assert_eq!(
            (
                changes[0].op,
                changes[0].kind.as_str(),
                changes[0].remote_id.as_str()
            ),
            (Op::Updated, "Lead", "00Q5e000001AAA")
        );
        assert_eq!(
            (changes[1].op, changes[1].kind.as_str()),
            (Op::Created, "Company")
        );
    }

    #[test]
    fn anything_else_is_refused() {
        for body in [
            "not xml at all <",
            "<a><b></a>",
            r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body/></soapenv:Envelope>"#,
            "<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><x>&e;</x>",
            &MESSAGE.replace("xsi:type=\"sf:Lead\"", ""),
            &MESSAGE.replace("<Id>04l5e000000AbCdAAA</Id>", ""),
            // The right names in another namespace are not an outbound message.
            &MESSAGE.replace("http://soap.sforce.com/2005/09/outbound", "urn:other"),
        ] {
            assert!(read(body.as_bytes()).is_err(), "{body}");
        }
        let many: String = (0..=MAX_NOTIFICATIONS)
            .map(|i| {
                format!(
                    r#"<Notification><Id>n{i}</Id><sObject xsi:type="sf:Lead"/></Notification>"#
                )
            })
            .collect();
        let body = format!(
            r#"<e:Envelope xmlns:e="{SOAP_NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><e:Body><notifications xmlns="{OUTBOUND_NS}"><OrganizationId>o</OrganizationId>{many}</notifications></e:Body></e:Envelope>"#
        );
        assert!(read(body.as_bytes()).is_err(), "at most 100");
    }

    #[test]
    fn tokens_orgs_and_answers() {
        let token = new_token();
        assert_eq!(token.len(), 64);
        assert!(token_matches(&token, &token_hash(&token)));
        assert!(!token_matches(&new_token(), &token_hash(&token)));
        assert_eq!(
            org_of_identity("https://login.salesforce.com/id/00D5e0000000001AAA/0055e000001AAA"),
            Some("00D5e0000000001AAA")
        );
        assert!(same_org("00D5e0000000001AAA", "00D5e0000000001"));
        assert!(!same_org("00D5e0000000001AAA", "00D5e0000000002AAA"));
        assert!(read(ack().as_bytes()).is_err(), "an ack is no message");
        assert!(fault("Client", "a <b>").contains("a &lt;b&gt;"));
    }
}
