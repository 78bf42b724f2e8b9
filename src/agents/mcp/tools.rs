//! The tools: each one's input (a JSON Schema from its Rust type, camelCase) and the GraphQL
//! document it runs. A tool is a GraphQL operation against the same schema the API serves, run
//! with the caller's credentials: the same tenancy, scopes, limits and audit as a request to
//! `/graphql`. List tools select `edges { cursor node }`, so that a result cut short at the
//! size cap continues from the last item kept.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// The fields of each unified type a tool shows; `raw` (the provider's payload) only when asked.
pub const CONTACT: &str =
    "id provider remoteId name firstName lastName email phone title updatedAt";
pub const LEAD: &str = "id provider remoteId name email company title status leadSource updatedAt";
pub const DEAL: &str =
    "id provider remoteId name amount { amount currency } stage status closeDate updatedAt";
pub const COMPANY: &str = "id provider remoteId name domain industry website updatedAt";
pub const EMAIL: &str = "id provider remoteId threadId subject from { name email } to { name email } date snippet labels unread";
pub const EVENT: &str = "id provider remoteId title start end allDay location organizer { name email } attendees { email } status";
pub const MESSAGE: &str = "id provider remoteId text sentAt threadId replyCount channel { id name } author { id name email }";

/// A search over one kind of CRM record.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchInput {
    /// Part of the record's name.
    pub query: Option<String>,
    /// The exact email address (contacts and leads).
    pub email: Option<String>,
    /// The owner's id at the provider.
    pub owner: Option<String>,
    /// The company's domain (companies).
    pub domain: Option<String>,
    /// The stage (deals).
    pub stage: Option<String>,
    /// Only these providers (`HUBSPOT`, `SALESFORCE`); all connected ones when absent.
    pub providers: Option<Vec<String>>,
    #[serde(flatten)]
    pub page: Page,
}

/// Paging and shape, common to the list tools.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Page {
    /// How many items at most (1 to 100, default 20); fewer come back when the result would
    /// exceed the size cap, with a `nextCursor`.
    pub limit: Option<u32>,
    /// A `nextCursor` from an earlier call, to continue.
    pub cursor: Option<String>,
    /// Include each record's `raw` provider payload (large; off by default).
    #[serde(default)]
    pub include_raw: bool,
}

/// A record by its id.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GetRecordInput {
    /// The record's `id` as the other tools return it.
    pub id: String,
    #[serde(default)]
    pub include_raw: bool,
}

/// Mail across Gmail and Outlook.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListEmailsInput {
    pub from: Option<String>,
    pub to: Option<String>,
    pub subject_contains: Option<String>,
    /// RFC 3339: only mail after this time.
    pub after: Option<String>,
    /// RFC 3339: only mail before this time.
    pub before: Option<String>,
    pub label: Option<String>,
    pub unread: Option<bool>,
    pub providers: Option<Vec<String>>,
    #[serde(flatten)]
    pub page: Page,
}

/// Events across Google Calendar and Outlook.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListEventsInput {
    /// RFC 3339: events ending after this time.
    pub time_min: Option<String>,
    /// RFC 3339: events starting before this time.
    pub time_max: Option<String>,
    pub attendee: Option<String>,
    pub text: Option<String>,
    pub providers: Option<Vec<String>>,
    #[serde(flatten)]
    pub page: Page,
}

/// Messages across Slack and Teams.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListMessagesInput {
    /// The channel's `remoteId`.
    pub channel: Option<String>,
    pub text_contains: Option<String>,
    pub after: Option<String>,
    pub before: Option<String>,
    pub thread_id: Option<String>,
    pub providers: Option<Vec<String>>,
    #[serde(flatten)]
    pub page: Page,
}

/// A contact's mail, events and messages, newest first.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TimelineInput {
    /// The contact's `id`.
    pub contact_id: String,
    /// How many of each kind to read (1 to 50, default 10).
    pub per_kind: Option<u32>,
    pub cursor: Option<String>,
}

/// The caller's provider connections.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoInput {}

/// A new CRM record.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateRecordInput {
    /// `contact`, `lead` or `deal`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `HUBSPOT` or `SALESFORCE`.
    pub provider: String,
    /// The record's fields as the GraphQL input names them (`firstName`, `lastName`, `email`,
    /// `company`, `name`, `amount`, `stage`...).
    pub fields: Map<String, Value>,
    /// Required: a repeat with the same key returns the first result and writes nothing.
    pub idempotency_key: String,
}

/// Changes to a CRM record.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateRecordInput {
    /// The record's `id` (a contact, lead or deal).
    pub id: String,
    /// The fields to change; others stay as they are.
    pub fields: Map<String, Value>,
    /// Required, as for every write (an update is idempotent in itself: repeating it sets the
    /// same values).
    pub idempotency_key: String,
}

/// An email to send.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SendEmailInput {
    /// `GMAIL` or `OUTLOOK`.
    pub provider: String,
    pub to: Vec<String>,
    #[serde(default)]
    pub cc: Vec<String>,
    #[serde(default)]
    pub bcc: Vec<String>,
    pub subject: Option<String>,
    pub text: Option<String>,
    pub html: Option<String>,
    /// The `id` of the email this replies to.
    pub reply_to_id: Option<String>,
    pub idempotency_key: String,
}

/// A calendar event to create.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateEventInput {
    /// `GOOGLE_CALENDAR` or `OUTLOOK`.
    pub provider: String,
    pub title: String,
    /// RFC 3339.
    pub start: String,
    /// RFC 3339.
    pub end: String,
    #[serde(default)]
    pub all_day: bool,
    pub time_zone: Option<String>,
    pub description: Option<String>,
    pub location: Option<String>,
    #[serde(default)]
    pub attendees: Vec<String>,
    pub idempotency_key: String,
}

/// A chat message to post.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PostMessageInput {
    /// `SLACK` or `TEAMS`.
    pub provider: String,
    /// The channel's `remoteId`.
    pub channel_id: String,
    pub text: String,
    /// Reply in this thread.
    pub thread_id: Option<String>,
    pub idempotency_key: String,
}

/// A read-only GraphQL operation.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GraphqlInput {
    /// The document: one query (no mutation, no subscription).
    pub query: String,
    pub variables: Option<Map<String, Value>>,
}

/// A raw provider call.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PassthroughInput {
    /// The provider, as the GraphQL enum names it (`HUBSPOT`...).
    pub provider: String,
    /// `GET` or `HEAD` (reads), `POST`, `PUT`, `PATCH` or `DELETE` (writes).
    pub method: String,
    /// Below the provider's API base, e.g. `/crm/v3/owners`.
    pub path: String,
    pub query: Option<Map<String, Value>>,
    pub body: Option<Value>,
}

/// A GraphQL operation a tool runs: its document and variables, and where in the answer its
/// list (a connection) or its one result is.
pub struct Operation {
    pub document: String,
    pub variables: Value,
    pub shape: Shape,
}

/// Where a tool's result sits in the GraphQL answer.
pub enum Shape {
    /// A connection at this field of `data`: `items` are its nodes.
    List(&'static str),
    /// One value at this path of `data`.
    One(&'static [&'static str]),
}

fn fields(selection: &str, raw: bool) -> String {
    if raw {
        format!("{selection} raw")
    } else {
        selection.to_owned()
    }
}

/// A connection's document: `field(first, after, filter, providers) { edges { cursor node } }`.
pub fn list(
    field: &'static str,
    filter_type: &str,
    selection: &str,
    page: &Page,
    filter: Value,
    providers: Option<Vec<String>>,
) -> Operation {
    let document = format!(
        "query($first: Int, $after: String, $filter: {filter_type}, $providers: [Provider!]) {{
  {field}(first: $first, after: $after, filter: $filter, providers: $providers) {{
    pageInfo {{ hasNextPage endCursor }}
    edges {{ cursor node {{ {} }} }}
  }}
}}",
        fields(selection, page.include_raw)
    );
    Operation {
        document,
        variables: json!({
            "first": page.limit.unwrap_or(20),
            "after": page.cursor,
            "filter": filter,
            "providers": providers,
        }),
        shape: Shape::List(field),
    }
}

/// Drops absent filter fields, so that the filter reaches GraphQL as the caller gave it.
pub fn filter(pairs: &[(&str, Value)]) -> Value {
    let map: Map<String, Value> = pairs
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    if map.is_empty() {
        Value::Null
    } else {
        Value::Object(map)
    }
}

/// `get_record`: any record by id, each type with its fields.
pub fn get_record(input: &GetRecordInput) -> Operation {
    let raw = input.include_raw;
    let document = format!(
        "query($id: ID!) {{ node(id: $id) {{ __typename
  ... on Contact {{ {} }} ... on Lead {{ {} }} ... on Deal {{ {} }} ... on Company {{ {} }}
  ... on Email {{ {} }} ... on Event {{ {} }} ... on Message {{ {} }} }} }}",
        fields(CONTACT, raw),
        fields(LEAD, raw),
        fields(DEAL, raw),
        fields(COMPANY, raw),
        fields(EMAIL, raw),
        fields(EVENT, raw),
        fields(MESSAGE, raw),
    );
    Operation {
        document,
        variables: json!({ "id": input.id }),
        shape: Shape::One(&["node"]),
    }
}

/// `contact_timeline`: the contact's mail, events and messages, read together.
pub fn timeline(input: &TimelineInput) -> Operation {
    let document = format!(
        "query($id: ID!, $n: Int) {{ node(id: $id) {{ __typename ... on Contact {{ id name email
  emails(first: $n) {{ nodes {{ {EMAIL} }} }}
  events(first: $n) {{ nodes {{ {EVENT} }} }}
  messages(first: $n) {{ nodes {{ {MESSAGE} }} }} }} }} }}"
    );
    Operation {
        document,
        variables: json!({ "id": input.contact_id, "n": input.per_kind.unwrap_or(10) }),
        shape: Shape::One(&["node"]),
    }
}

/// `list_connections`.
pub fn connections() -> Operation {
    Operation {
        document: "{ viewer { connections { provider status scopes expiresAt } } }".into(),
        variables: Value::Null,
        shape: Shape::One(&["viewer", "connections"]),
    }
}

/// A mutation whose payload's one field is the result.
pub fn mutation(
    field: &'static str,
    input_type: &str,
    result: &'static [&'static str],
    selection: &str,
    input: Value,
) -> Operation {
    Operation {
        document: format!(
            "mutation($input: {input_type}!) {{ {field}(input: $input) {{ {} {{ {selection} }} }} }}",
            result[1]
        ),
        variables: json!({ "input": input }),
        shape: Shape::One(result),
    }
}

/// `passthrough`, through the GraphQL root that fits the method.
pub fn passthrough(input: &PassthroughInput) -> Operation {
    let read = matches!(input.method.to_ascii_uppercase().as_str(), "GET" | "HEAD");
    let root = if read { "query" } else { "mutation" };
    Operation {
        document: format!(
            "{root}($provider: Provider!, $method: String!, $path: String!, $query: JSON, $body: JSON) {{
  passthrough(provider: $provider, method: $method, path: $path, query: $query, body: $body) {{
    status headers {{ name value }} body truncated }} }}"
        ),
        variables: json!({
            "provider": input.provider,
            "method": input.method,
            "path": input.path,
            "query": input.query,
            "body": input.body,
        }),
        shape: Shape::One(&["passthrough"]),
    }
}
