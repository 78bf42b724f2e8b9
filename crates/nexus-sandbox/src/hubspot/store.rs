//! HubSpot's CRM data for the sandbox portal: contacts, companies and deals with their
//! properties (every value a string, as HubSpot sends them) and the associations between them.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use crate::{population::population, window::Windows};

/// The object types the sandbox serves, by their path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ObjectType {
    Contacts,
    Companies,
    Deals,
}

impl ObjectType {
    pub fn parse(path: &str) -> Option<Self> {
        match path {
            "contacts" | "contact" | "0-1" => Some(Self::Contacts),
            "companies" | "company" | "0-2" => Some(Self::Companies),
            "deals" | "deal" | "0-3" => Some(Self::Deals),
            _ => None,
        }
    }

    pub fn singular(self) -> &'static str {
        match self {
            Self::Contacts => "contact",
            Self::Companies => "company",
            Self::Deals => "deal",
        }
    }

    pub fn type_id(self) -> &'static str {
        match self {
            Self::Contacts => "0-1",
            Self::Companies => "0-2",
            Self::Deals => "0-3",
        }
    }

    /// The property holding the last-modified time.
    pub fn modified_property(self) -> &'static str {
        match self {
            Self::Contacts => "lastmodifieddate",
            Self::Companies | Self::Deals => "hs_lastmodifieddate",
        }
    }

    /// Properties a list or get returns when none are asked for.
    pub fn default_properties(self) -> &'static [&'static str] {
        match self {
            Self::Contacts => &[
                "createdate",
                "email",
                "firstname",
                "hs_object_id",
                "lastmodifieddate",
                "lastname",
            ],
            Self::Companies => &[
                "createdate",
                "domain",
                "hs_lastmodifieddate",
                "hs_object_id",
                "name",
            ],
            Self::Deals => &[
                "amount",
                "closedate",
                "createdate",
                "dealname",
                "dealstage",
                "hs_lastmodifieddate",
                "hs_object_id",
                "pipeline",
            ],
        }
    }

    /// Every property the portal defines for the type (HubSpot's and the custom ones of
    /// `properties`).
    pub fn known_properties(self) -> &'static [&'static str] {
        match self {
            Self::Contacts => &[
                "createdate",
                "email",
                "firstname",
                "lastname",
                "phone",
                "jobtitle",
                "company",
                "hubspot_owner_id",
                "lifecyclestage",
                "hs_object_id",
                "lastmodifieddate",
                "customer_tier",
                "nps_score",
                "days_as_contact",
            ],
            Self::Companies => &[
                "createdate",
                "name",
                "domain",
                "industry",
                "website",
                "phone",
                "hubspot_owner_id",
                "hs_object_id",
                "hs_lastmodifieddate",
                "segment",
                "open_deal_total",
            ],
            Self::Deals => &[
                "createdate",
                "dealname",
                "amount",
                "deal_currency_code",
                "dealstage",
                "pipeline",
                "closedate",
                "hubspot_owner_id",
                "hs_is_closed",
                "hs_is_closed_won",
                "hs_object_id",
                "hs_lastmodifieddate",
                "forecast_notes",
                "days_to_close_estimate",
            ],
        }
    }

    /// Properties that `search`'s free-text `query` looks in.
    pub fn searchable(self) -> &'static [&'static str] {
        match self {
            Self::Contacts => &["firstname", "lastname", "email", "phone", "company"],
            Self::Companies => &["name", "domain", "website", "phone"],
            Self::Deals => &["dealname"],
        }
    }

    /// HubSpot-defined default association type id from this type to `to`.
    pub fn association_type(self, to: ObjectType) -> u32 {
        match (self, to) {
            (Self::Contacts, Self::Companies) => 279,
            (Self::Companies, Self::Contacts) => 280,
            (Self::Deals, Self::Contacts) => 3,
            (Self::Contacts, Self::Deals) => 4,
            (Self::Deals, Self::Companies) => 341,
            (Self::Companies, Self::Deals) => 342,
            _ => 0,
        }
    }
}

/// One CRM record.
#[derive(Debug, Clone)]
pub struct Record {
    pub id: u64,
    pub properties: BTreeMap<String, String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub archived_at: Option<DateTime<Utc>>,
}

pub fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl Record {
    /// The record as the API returns it, with `properties` (all known when `None`).
    pub fn to_json(&self, object: ObjectType, properties: Option<&[String]>) -> Value {
        let mut props = Map::new();
        let wanted: Vec<&str> = match properties {
            Some(list) => list
                .iter()
                .map(String::as_str)
                .chain(["hs_object_id", "createdate", object.modified_property()])
                .collect(),
            None => object.default_properties().to_vec(),
        };
        for name in wanted {
            if object.known_properties().contains(&name) {
                let value = self
                    .properties
                    .get(name)
                    .map_or(Value::Null, |v| Value::String(v.clone()));
                props.insert(name.to_owned(), value);
            }
        }
        let mut json = json!({
            "id": self.id.to_string(),
            "properties": props,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
            "archived": self.archived_at.is_some(),
        });
        if let Some(at) = self.archived_at {
            json["archivedAt"] = json!(iso(at));
        }
        json
    }
}

/// The portal's data and its rate windows.
#[derive(Debug)]
pub struct Store {
    pub objects: BTreeMap<ObjectType, BTreeMap<u64, Record>>,
    /// (from type, from id, to type, to id), kept in both directions.
    pub associations: BTreeSet<(ObjectType, u64, ObjectType, u64)>,
    pub next_id: u64,
    pub windows: Windows,
    pub next_event_id: u64,
    /// The portal id these records belong to.
    pub portal: String,
    /// How many results a search reaches, 10,000 as HubSpot's; a test may lower it
    /// (`POST /_sandbox/limits` with capacity `search.results`) rather than make 10,000 records.
    pub search_cap: usize,
}

/// HubSpot's cap on the results one search reaches.
pub const SEARCH_CAP: usize = 10_000;

/// How many records the seed makes.
pub const SEEDED_CONTACTS: usize = 400;
pub const SEEDED_DEALS: usize = 200;
const STAGES: &[&str] = &[
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "decisionmakerboughtin",
    "contractsent",
    "closedwon",
    "closedlost",
];

impl Store {
    /// The seeded portal: 400 contacts and all 50 companies of the population, 200 deals,
    /// associated as their people and companies are.
    pub fn seeded(portal: &str) -> Self {
        let population = population();
        let mut store = Store {
            objects: BTreeMap::new(),
            associations: BTreeSet::new(),
            next_id: 1,
            windows: Windows::default(),
            next_event_id: 1,
            portal: portal.to_owned(),
            search_cap: SEARCH_CAP,
        };
        let company_ids: Vec<u64> = population
            .companies
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let at =
                    population.people[0].since - Duration::days(30) + Duration::hours(i as i64);
                store.insert_at(
                    ObjectType::Companies,
                    [
                        ("name", c.name.clone()),
                        ("domain", c.domain.clone()),
                        ("industry", c.industry.to_uppercase()),
                        ("website", format!("https://www.{}", c.domain)),
                    ],
                    at,
                )
            })
            .collect();
        let mut contact_ids = Vec::new();
        for person in population.people.iter().take(SEEDED_CONTACTS) {
            let id = store.insert_at(
                ObjectType::Contacts,
                [
                    ("firstname", person.first_name.to_owned()),
                    ("lastname", person.last_name.to_owned()),
                    ("email", person.email.clone()),
                    ("phone", person.phone.clone()),
                    ("jobtitle", person.title.to_owned()),
                    ("company", population.companies[person.company].name.clone()),
                    ("lifecyclestage", "lead".to_owned()),
                ],
                person.since,
            );
            store.associate(
                ObjectType::Contacts,
                id,
                ObjectType::Companies,
                company_ids[person.company],
            );
            contact_ids.push((id, person));
        }
        for i in 0..SEEDED_DEALS {
            let (contact, person) = contact_ids[(i * 7) % contact_ids.len()];
            let stage = STAGES[i % STAGES.len()];
            let at = person.since + Duration::days(3 + (i % 20) as i64);
            let id = store.insert_at(
                ObjectType::Deals,
                [
                    (
                        "dealname",
                        format!(
                            "{} — deal {}",
                            population.companies[person.company].name,
                            i + 1
                        ),
                    ),
                    ("amount", format!("{}", 1_000 + (i * 1_250) % 90_000)),
                    ("deal_currency_code", "USD".to_owned()),
                    ("dealstage", stage.to_owned()),
                    ("pipeline", "default".to_owned()),
                    ("closedate", iso(at + Duration::days(45))),
                    ("hs_is_closed", (stage.starts_with("closed")).to_string()),
                    ("hs_is_closed_won", (stage == "closedwon").to_string()),
                ],
                at,
            );
            store.associate(ObjectType::Deals, id, ObjectType::Contacts, contact);
            store.associate(
                ObjectType::Deals,
                id,
                ObjectType::Companies,
                company_ids[person.company],
            );
        }
        store
    }

    fn insert_at<const N: usize>(
        &mut self,
        object: ObjectType,
        properties: [(&str, String); N],
        at: DateTime<Utc>,
    ) -> u64 {
        let mut props: BTreeMap<String, String> = properties
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        let owner = super::owners::owner_of(self.next_id);
        props.insert("hubspot_owner_id".into(), owner.id.to_owned());
        self.create(object, props, at)
    }

    /// Creates a record; system properties are set here.
    pub fn create(
        &mut self,
        object: ObjectType,
        mut properties: BTreeMap<String, String>,
        now: DateTime<Utc>,
    ) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        properties.insert("hs_object_id".into(), id.to_string());
        properties.insert("createdate".into(), iso(now));
        properties.insert(object.modified_property().into(), iso(now));
        self.objects.entry(object).or_default().insert(
            id,
            Record {
                id,
                properties,
                created_at: now,
                updated_at: now,
                archived_at: None,
            },
        );
        id
    }

    /// A live (not archived) record.
    pub fn get(&self, object: ObjectType, id: u64) -> Option<&Record> {
        self.objects
            .get(&object)
            .and_then(|m| m.get(&id))
            .filter(|r| r.archived_at.is_none())
    }

    /// Applies property changes (an empty string clears); returns the names that changed.
    pub fn update(
        &mut self,
        object: ObjectType,
        id: u64,
        changes: BTreeMap<String, String>,
        now: DateTime<Utc>,
    ) -> Option<Vec<String>> {
        let record = self
            .objects
            .get_mut(&object)?
            .get_mut(&id)
            .filter(|r| r.archived_at.is_none())?;
        let mut changed = Vec::new();
        for (name, value) in changes {
            let before = record.properties.get(&name).cloned().unwrap_or_default();
            if before == value {
                continue;
            }
            if value.is_empty() {
                record.properties.remove(&name);
            } else {
                record.properties.insert(name.clone(), value);
            }
            changed.push(name);
        }
        record.updated_at = now;
        record
            .properties
            .insert(object.modified_property().into(), iso(now));
        Some(changed)
    }

    pub fn archive(&mut self, object: ObjectType, id: u64, now: DateTime<Utc>) -> bool {
        match self.objects.get_mut(&object).and_then(|m| m.get_mut(&id)) {
            Some(r) if r.archived_at.is_none() => {
                r.archived_at = Some(now);
                r.updated_at = now;
                true
            }
            _ => false,
        }
    }

    /// The live contact with this email (HubSpot keeps contact emails unique).
    pub fn contact_by_email(&self, email: &str) -> Option<&Record> {
        self.live(ObjectType::Contacts).find(|r| {
            r.properties
                .get("email")
                .is_some_and(|e| e.eq_ignore_ascii_case(email))
        })
    }

    pub fn live(&self, object: ObjectType) -> impl Iterator<Item = &Record> {
        self.objects
            .get(&object)
            .into_iter()
            .flat_map(|m| m.values())
            .filter(|r| r.archived_at.is_none())
    }

    pub fn associate(&mut self, from: ObjectType, from_id: u64, to: ObjectType, to_id: u64) {
        self.associations.insert((from, from_id, to, to_id));
        self.associations.insert((to, to_id, from, from_id));
    }

    pub fn dissociate(
        &mut self,
        from: ObjectType,
        from_id: u64,
        to: ObjectType,
        to_id: u64,
    ) -> bool {
        let a = self.associations.remove(&(from, from_id, to, to_id));
        let b = self.associations.remove(&(to, to_id, from, from_id));
        a || b
    }

    /// Ids of live `to` records associated with a record, ascending.
    pub fn associated(&self, from: ObjectType, from_id: u64, to: ObjectType) -> Vec<u64> {
        self.associations
            .range((from, from_id, to, 0)..=(from, from_id, to, u64::MAX))
            .map(|(_, _, _, id)| *id)
            .filter(|id| self.get(to, *id).is_some())
            .collect()
    }
}
