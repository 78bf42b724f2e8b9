//! The sandbox org's records: Leads, Contacts, Accounts, Opportunities and the contact roles that
//! tie contacts to opportunities (OpportunityContactRole), as Salesforce renders
//! them (every record with `attributes`, 18-character ids with each object's key prefix,
//! datetimes as `2024-05-01T12:00:00.000+0000`).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value, json};

use super::soql::{Child, Org, Parent};
use crate::{population::population, window::Windows};

pub const API: &str = "/services/data/v58.0";

/// The objects the sandbox org has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SObject {
    Lead,
    Contact,
    Account,
    Opportunity,
    OpportunityContactRole,
    User,
}

impl SObject {
    pub const ALL: [SObject; 6] = [
        Self::Lead,
        Self::Contact,
        Self::Account,
        Self::Opportunity,
        Self::OpportunityContactRole,
        Self::User,
    ];

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|o| o.name().eq_ignore_ascii_case(name))
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Lead => "Lead",
            Self::Contact => "Contact",
            Self::Account => "Account",
            Self::Opportunity => "Opportunity",
            Self::OpportunityContactRole => "OpportunityContactRole",
            Self::User => "User",
        }
    }

    pub fn key_prefix(self) -> &'static str {
        match self {
            Self::Lead => "00Q",
            Self::Contact => "003",
            Self::Account => "001",
            Self::Opportunity => "006",
            Self::OpportunityContactRole => "00K",
            Self::User => "005",
        }
    }

    /// The fields the org defines (system fields included).
    pub fn fields(self) -> &'static [&'static str] {
        match self {
            Self::Lead => &[
                "Id",
                "FirstName",
                "LastName",
                "Name",
                "Email",
                "Company",
                "Title",
                "Phone",
                "Status",
                "LeadSource",
                "OwnerId",
                "IsConverted",
                "ConvertedContactId",
                "CreatedDate",
                "LastModifiedDate",
                "SystemModstamp",
                "IsDeleted",
                "Region__c",
                "Lead_Score__c",
                "Days_Open__c",
            ],
            Self::Contact => &[
                "Id",
                "FirstName",
                "LastName",
                "Name",
                "Email",
                "Phone",
                "Title",
                "AccountId",
                "OwnerId",
                "CreatedDate",
                "LastModifiedDate",
                "SystemModstamp",
                "IsDeleted",
                "Tier__c",
                "NPS_Score__c",
                "Lifetime_Value__c",
            ],
            Self::Account => &[
                "Id",
                "Name",
                "Website",
                "Industry",
                "Phone",
                "OwnerId",
                "CreatedDate",
                "LastModifiedDate",
                "SystemModstamp",
                "IsDeleted",
                "Segment__c",
                "Open_Deal_Total__c",
            ],
            Self::Opportunity => &[
                "Id",
                "Name",
                "Amount",
                "StageName",
                "CloseDate",
                "IsClosed",
                "IsWon",
                "AccountId",
                "OwnerId",
                "CreatedDate",
                "LastModifiedDate",
                "SystemModstamp",
                "IsDeleted",
                "Forecast_Notes__c",
                "Days_To_Close__c",
            ],
            Self::OpportunityContactRole => &[
                "Id",
                "OpportunityId",
                "ContactId",
                "Role",
                "IsPrimary",
                "CreatedDate",
                "LastModifiedDate",
                "SystemModstamp",
                "IsDeleted",
            ],
            Self::User => &[
                "Id",
                "FirstName",
                "LastName",
                "Name",
                "Email",
                "Username",
                "IsActive",
                "CreatedDate",
                "LastModifiedDate",
                "SystemModstamp",
            ],
        }
    }

    /// Fields a create must carry (REQUIRED_FIELD_MISSING otherwise).
    pub fn required(self) -> &'static [&'static str] {
        match self {
            Self::Lead => &["LastName", "Company"],
            Self::Contact => &["LastName"],
            Self::Account => &["Name"],
            Self::Opportunity => &["Name", "StageName", "CloseDate"],
            Self::OpportunityContactRole => &["OpportunityId", "ContactId"],
            Self::User => &["LastName", "Email", "Username"],
        }
    }

    /// Fields no client may write (a Lead's or Contact's `Name` is compound, an Account's is not;
    /// the custom formula fields `Days_Open__c`, `Lifetime_Value__c`, `Open_Deal_Total__c` and
    /// `Days_To_Close__c` are calculated).
    pub fn read_only(self) -> &'static [&'static str] {
        match self {
            Self::Lead | Self::Contact => &[
                "Id",
                "IsDeleted",
                "Name",
                "IsConverted",
                "CreatedDate",
                "LastModifiedDate",
                "SystemModstamp",
                "Days_Open__c",
                "Lifetime_Value__c",
            ],
            Self::Account => &[
                "Id",
                "IsDeleted",
                "CreatedDate",
                "LastModifiedDate",
                "SystemModstamp",
                "Open_Deal_Total__c",
            ],
            Self::OpportunityContactRole => &[
                "Id",
                "IsDeleted",
                "CreatedDate",
                "LastModifiedDate",
                "SystemModstamp",
            ],
            Self::User => &[
                "Id",
                "Name",
                "CreatedDate",
                "LastModifiedDate",
                "SystemModstamp",
            ],
            Self::Opportunity => &[
                "Id",
                "IsDeleted",
                "IsClosed",
                "IsWon",
                "CreatedDate",
                "LastModifiedDate",
                "SystemModstamp",
                "Days_To_Close__c",
            ],
        }
    }

    /// The object's lookups (`Account` on a Contact): name, target, and the field holding the id.
    pub fn parents(self) -> &'static [Parent] {
        const OWNER: Parent = Parent {
            name: "Owner",
            object: "User",
            field: "OwnerId",
        };
        const ACCOUNT: Parent = Parent {
            name: "Account",
            object: "Account",
            field: "AccountId",
        };
        match self {
            Self::Lead => &[
                OWNER,
                Parent {
                    name: "ConvertedContact",
                    object: "Contact",
                    field: "ConvertedContactId",
                },
            ],
            Self::Contact | Self::Opportunity => &[ACCOUNT, OWNER],
            Self::Account => &[OWNER],
            Self::OpportunityContactRole => &[
                Parent {
                    name: "Opportunity",
                    object: "Opportunity",
                    field: "OpportunityId",
                },
                Parent {
                    name: "Contact",
                    object: "Contact",
                    field: "ContactId",
                },
            ],
            Self::User => &[],
        }
    }

    /// The object's child relationships (`Contacts` on an Account), as describe lists them.
    pub fn children(self) -> &'static [Child] {
        match self {
            Self::Account => &[
                Child {
                    name: "Contacts",
                    object: "Contact",
                    field: "AccountId",
                },
                Child {
                    name: "Opportunities",
                    object: "Opportunity",
                    field: "AccountId",
                },
            ],
            Self::Contact => &[Child {
                name: "OpportunityContactRoles",
                object: "OpportunityContactRole",
                field: "ContactId",
            }],
            Self::Opportunity => &[Child {
                name: "OpportunityContactRoles",
                object: "OpportunityContactRole",
                field: "OpportunityId",
            }],
            Self::Lead | Self::OpportunityContactRole | Self::User => &[],
        }
    }
}

/// Salesforce's datetime notation.
pub fn sf_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3f%z").to_string()
}

/// The owner of records created through the API (the connected user), the first of `USERS`.
pub const OWNER_ID: &str = "0055e000001SandAAA";
/// The org's users who own records: (Id, first name, last name, email). Seeded records take them
/// in turn.
pub const USERS: [(&str, &str, &str, &str); 3] = [
    (OWNER_ID, "Riley", "Rep", "riley.rep@nexus-sales.example"),
    (
        "0055e000002SandAAA",
        "Sam",
        "Seller",
        "sam.seller@nexus-sales.example",
    ),
    (
        "0055e000003SandAAA",
        "Alex",
        "Account",
        "alex.account@nexus-sales.example",
    ),
];
/// The sandbox's default org (Salesforce's OrganizationId).
pub const ORG_ID: &str = "00D5e0000000001AAA";

const STAGES: &[(&str, bool, bool)] = &[
    ("Prospecting", false, false),
    ("Qualification", false, false),
    ("Needs Analysis", false, false),
    ("Proposal/Price Quote", false, false),
    ("Negotiation/Review", false, false),
    ("Closed Won", true, true),
    ("Closed Lost", true, false),
];

#[derive(Debug, Default)]
pub struct Store {
    pub records: BTreeMap<SObject, BTreeMap<String, Map<String, Value>>>,
    next: HashMap<SObject, u64>,
    /// Deleted records, in the recycle bin: what `queryAll` sees besides the live ones.
    pub deleted: BTreeMap<SObject, BTreeMap<String, Map<String, Value>>>,
    /// Query results not yet fetched (rendered), by locator.
    pub cursors: HashMap<String, Vec<Value>>,
    pub next_cursor: u64,
    /// The org's rolling 24-hour API counts.
    pub windows: Windows,
    /// Bulk API 2.0 jobs by id.
    pub jobs: super::bulk::Jobs,
    /// The org's id (its OrganizationId).
    pub org: String,
}

impl Store {
    /// The seeded org: every company as an Account, all 600 people as Leads (so bulk paths
    /// engage), 300 of them also as Contacts of their company, and 250 Opportunities.
    pub fn seeded(org: &str) -> Self {
        let population = population();
        let mut store = Store {
            org: org.to_owned(),
            ..Store::default()
        };
        let accounts: Vec<String> = population
            .companies
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let at = population.people[0].since - Duration::days(60) + Duration::hours(i as i64);
                store.insert(
                    SObject::Account,
                    json!({ "Name": c.name, "Website": format!("https://www.{}", c.domain), "Industry": c.industry, "Phone": "+1-555-0100" }),
                    at,
                )
            })
            .collect();
        const STATUSES: [&str; 3] = [
            "Open - Not Contacted",
            "Working - Contacted",
            "Closed - Not Converted",
        ];
        const SOURCES: [&str; 4] = ["Web", "Phone Inquiry", "Partner Referral", "Trade Show"];
        for (i, p) in population.people.iter().enumerate() {
            let (status, source) = (STATUSES[i % 3], SOURCES[i % 4]);
            store.insert(
                SObject::Lead,
                json!({
                    "FirstName": p.first_name, "LastName": p.last_name, "Email": p.email, "Phone": p.phone,
                    "Title": p.title, "Company": population.companies[p.company].name,
                    "Status": status,
                    "LeadSource": source,
                }),
                p.since,
            );
        }
        let mut contacts = HashMap::new();
        for (n, p) in population.people.iter().enumerate().skip(100).take(300) {
            let id = store.insert(
                SObject::Contact,
                json!({
                    "FirstName": p.first_name, "LastName": p.last_name, "Email": p.email, "Phone": p.phone,
                    "Title": p.title, "AccountId": accounts[p.company],
                }),
                p.since + Duration::days(2),
            );
            contacts.insert(n, id);
        }
        for i in 0..250 {
            let n = 100 + (i * 3) % 300;
            let p = &population.people[n];
            let (stage, closed, won) = STAGES[i % STAGES.len()];
            let at = p.since + Duration::days(5 + (i % 30) as i64);
            let opportunity = store.insert(
                SObject::Opportunity,
                json!({
                    "Name": format!("{} — opportunity {}", population.companies[p.company].name, i + 1),
                    "Amount": (2_000 + (i * 1_700) % 120_000) as f64, "StageName": stage,
                    "CloseDate": (at + Duration::days(60)).format("%Y-%m-%d").to_string(),
                    "IsClosed": closed, "IsWon": won, "AccountId": accounts[p.company],
                }),
                at,
            );
            // The person it was sold to is its primary contact; every third has a second one.
            let mut roles = vec![(n, "Decision Maker", true)];
            if i % 3 == 0 {
                roles.push((100 + (n - 100 + 1) % 300, "Evaluator", false));
            }
            for (person, role, primary) in roles {
                store.insert(
                    SObject::OpportunityContactRole,
                    json!({ "OpportunityId": opportunity, "ContactId": contacts[&person], "Role": role, "IsPrimary": primary }),
                    at,
                );
            }
        }
        for (n, records) in store.records.values_mut().enumerate() {
            for (i, record) in records.values_mut().enumerate() {
                record.insert("OwnerId".into(), json!(USERS[(n + i) % USERS.len()].0));
            }
        }
        let since = population.people[0].since - Duration::days(400);
        for (id, first, last, email) in USERS {
            let mut user = Map::new();
            for (k, v) in [
                ("Id", json!(id)),
                ("FirstName", json!(first)),
                ("LastName", json!(last)),
                ("Name", json!(format!("{first} {last}"))),
                ("Email", json!(email)),
                ("Username", json!(email)),
                ("IsActive", json!(true)),
                ("CreatedDate", json!(sf_time(since))),
                ("LastModifiedDate", json!(sf_time(since))),
                ("SystemModstamp", json!(sf_time(since))),
            ] {
                user.insert(k.into(), v);
            }
            store
                .records
                .entry(SObject::User)
                .or_default()
                .insert(id.to_owned(), user);
        }
        store
    }

    fn new_id(&mut self, object: SObject) -> String {
        let n = self.next.entry(object).or_insert(0);
        *n += 1;
        format!("{}5e{:010}AAA", object.key_prefix(), n)
    }

    /// Inserts a record with its system fields; returns its id.
    pub fn insert(&mut self, object: SObject, fields: Value, at: DateTime<Utc>) -> String {
        let id = self.new_id(object);
        let mut record = Map::new();
        record.insert("Id".into(), json!(id));
        if let Value::Object(map) = fields {
            record.extend(map);
        }
        for f in object.fields() {
            record.entry(f.to_string()).or_insert(Value::Null);
        }
        record.insert("OwnerId".into(), json!(OWNER_ID));
        record.insert("CreatedDate".into(), json!(sf_time(at)));
        Self::touch(object, &mut record, at);
        if object == SObject::Lead {
            record.insert("IsConverted".into(), json!(false));
        }
        if object.fields().contains(&"IsDeleted") {
            record.insert("IsDeleted".into(), json!(false));
        }
        self.records
            .entry(object)
            .or_default()
            .insert(id.clone(), record);
        id
    }

    /// Keeps derived and system fields current after a write.
    pub fn touch(object: SObject, record: &mut Map<String, Value>, at: DateTime<Utc>) {
        record.insert("LastModifiedDate".into(), json!(sf_time(at)));
        record.insert("SystemModstamp".into(), json!(sf_time(at)));
        if matches!(object, SObject::Lead | SObject::Contact) {
            let name = [record.get("FirstName"), record.get("LastName")]
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" ");
            record.insert("Name".into(), json!(name));
        }
        if object == SObject::Opportunity
            && let Some(stage) = record.get("StageName").and_then(Value::as_str)
        {
            let (closed, won) = STAGES
                .iter()
                .find(|(s, ..)| *s == stage)
                .map_or((false, false), |(_, c, w)| (*c, *w));
            record.insert("IsClosed".into(), json!(closed));
            record.insert("IsWon".into(), json!(won));
        }
    }

    /// Deletes a record into the recycle bin (`IsDeleted` true); false when there is none.
    pub fn delete(&mut self, object: SObject, id: &str, at: DateTime<Utc>) -> bool {
        let Some(mut record) = self.records.get_mut(&object).and_then(|m| m.remove(id)) else {
            return false;
        };
        record.insert("IsDeleted".into(), json!(true));
        record.insert("LastModifiedDate".into(), json!(sf_time(at)));
        record.insert("SystemModstamp".into(), json!(sf_time(at)));
        self.deleted
            .entry(object)
            .or_default()
            .insert(id.to_owned(), record);
        true
    }

    /// The live records of an object, and its deleted ones too when `all` (queryAll).
    pub fn scan(&self, object: SObject, all: bool) -> Vec<&Map<String, Value>> {
        let live = self
            .records
            .get(&object)
            .into_iter()
            .flat_map(|m| m.values());
        let deleted = self
            .deleted
            .get(&object)
            .into_iter()
            .flat_map(|m| m.values())
            .filter(move |_| all);
        live.chain(deleted).collect()
    }

    pub fn get(&self, object: SObject, id: &str) -> Option<&Map<String, Value>> {
        self.records.get(&object)?.get(id).or_else(|| {
            // A 15-character id names the same record as its 18-character form.
            (id.len() == 15)
                .then(|| {
                    self.records
                        .get(&object)?
                        .iter()
                        .find(|(k, _)| k.starts_with(id))
                        .map(|(_, v)| v)
                })
                .flatten()
        })
    }
}

/// A record as the API renders it: `attributes` first, then the fields asked for (all when `None`).
pub fn render(object: SObject, record: &Map<String, Value>, fields: Option<&[String]>) -> Value {
    let id = record.get("Id").and_then(Value::as_str).unwrap_or_default();
    let mut out = Map::new();
    out.insert(
        "attributes".into(),
        json!({ "type": object.name(), "url": format!("{API}/sobjects/{}/{id}", object.name()) }),
    );
    match fields {
        Some(list) => {
            for f in list {
                if let Some((k, v)) = record.iter().find(|(k, _)| k.eq_ignore_ascii_case(f)) {
                    out.insert(k.clone(), v.clone());
                }
            }
        }
        None => out.extend(record.clone()),
    }
    Value::Object(out)
}

impl Org for Store {
    fn object(&self, name: &str) -> Option<(&'static str, &'static [&'static str])> {
        SObject::parse(name).map(|o| (o.name(), o.fields()))
    }

    fn parent(&self, object: &str, relationship: &str) -> Option<Parent> {
        SObject::parse(object)?
            .parents()
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(relationship))
            .copied()
    }

    fn child(&self, object: &str, relationship: &str) -> Option<Child> {
        SObject::parse(object)?
            .children()
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(relationship))
            .copied()
    }

    fn record(&self, object: &str, id: &str) -> Option<&Map<String, Value>> {
        self.get(SObject::parse(object)?, id)
    }

    fn records(&self, object: &str) -> Vec<&Map<String, Value>> {
        SObject::parse(object).map_or_else(Vec::new, |o| self.scan(o, false))
    }

    fn url(&self, object: &str, id: &str) -> String {
        format!("{API}/sobjects/{object}/{id}")
    }
}
