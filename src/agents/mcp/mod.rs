//! The MCP server at `/mcp`: the Model Context Protocol over its Streamable HTTP transport
//! (rmcp's server, revisions 2024-11-05 through 2026-07-28; clients that still initialize get
//! 2025-11-25), for agents. Every request is authenticated before the protocol sees it, with
//! the API keys and JWTs `/graphql` takes (`Authorization: Bearer`): without one the answer is
//! HTTP 401 with `WWW-Authenticate: Bearer`, before `initialize`.
//!
//! Each tool runs a GraphQL document against the API's own schema with the caller's tenant,
//! scopes and key (`tools.rs`), so tenancy, scopes, document limits and provider limits are
//! the API's. Writes need the `write` scope and an `idempotencyKey`; a refusal is a tool error
//! whose text carries the code (`FORBIDDEN`, `BAD_USER_INPUT`...). Results are capped at
//! `mcp.max_result_bytes` with a cursor to continue (`cap.rs`), and leave out the providers'
//! raw payloads unless asked. Every tool call is written to the audit log.
//!
//! By default each request is served on its own (`mcp.stateless`): no session is kept, so any
//! instance behind a load balancer answers any request.

mod cap;
mod tools;

use std::{borrow::Cow, sync::Arc, time::Instant};

use async_graphql::{
    Variables,
    parser::{parse_query, types::OperationType},
};
use axum::{
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use http::{
    HeaderValue, StatusCode,
    header::{AUTHORIZATION, RETRY_AFTER, WWW_AUTHENTICATE},
};
use rmcp::{
    ErrorData, ServerHandler,
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
        JsonObject, ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig,
        Tool,
    },
    service::{RequestContext, RoleServer},
    transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
    },
};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::{
    McpSettings,
    audit::{AuditLog, Entry, Kind},
};
use crate::{
    auth::{AuthError, Authenticated, Authenticator, Scope, retry_after_secs},
    graphql::{AppSchema, Executed, Loaders},
    providers::Registry,
};
use cap::{Capped, cap, weight};
use tools::{Operation, Shape};

/// What the MCP server needs from the gateway.
pub struct McpParts {
    pub schema: AppSchema,
    pub providers: Registry,
    pub read_model: Arc<dyn nexus_core::ReadModel>,
    pub auth: Authenticator,
    pub audit: AuditLog,
    pub settings: McpSettings,
}

/// The `/mcp` service: the bearer check, then rmcp's Streamable HTTP transport.
pub fn service(parts: McpParts) -> axum::Router {
    let auth = parts.auth.clone();
    let mut config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(!parts.settings.stateless)
        .with_json_response(parts.settings.stateless);
    config = if parts.settings.allowed_hosts.is_empty() {
        config.disable_allowed_hosts()
    } else {
        config.with_allowed_hosts(parts.settings.allowed_hosts.clone())
    };
    let server = Nexus(Arc::new(parts));
    let mcp = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    axum::Router::new()
        .nest_service("/mcp", mcp)
        // On the route only: a layer would also wrap the fallback, which the merged router
        // would then answer every unknown path with (401 instead of 404).
        .route_layer(axum::middleware::from_fn_with_state(auth, authenticate))
}

/// Lets a request through with its caller in its extensions (where tools find it), or answers
/// 401 with `WWW-Authenticate: Bearer`.
async fn authenticate(
    State(auth): State<Authenticator>,
    mut request: Request,
    next: Next,
) -> Response {
    let header = request
        .headers()
        .get(AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or(""));
    match auth.authenticate(header).await {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(AuthError::Store(cause)) => {
            tracing::error!(%cause, "credential store unavailable");
            refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "the gateway cannot check credentials right now",
            )
        }
        Err(AuthError::RateLimited(wait)) => {
            let mut response = refusal(
                StatusCode::TOO_MANY_REQUESTS,
                &AuthError::RateLimited(wait).to_string(),
            );
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(retry_after_secs(wait)));
            response
        }
        Err(other) => {
            let mut response = refusal(StatusCode::UNAUTHORIZED, &other.to_string());
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            response
        }
    }
}

fn refusal(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(http::header::CONTENT_TYPE, "application/json")],
        json!({ "error": message }).to_string(),
    )
        .into_response()
}

/// A tool's refusal: the code agents branch on, and why.
#[derive(Debug)]
struct ToolError {
    code: String,
    message: String,
}

impl ToolError {
    fn new(code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.to_owned(),
            message: message.into(),
        }
    }

    fn into_result(self) -> CallToolResult {
        CallToolResult::error(vec![ContentBlock::text(
            json!({ "code": self.code, "message": self.message }).to_string(),
        )])
    }
}

/// The server rmcp runs; one per session (or per request, stateless), all sharing `McpParts`.
#[derive(Clone)]
struct Nexus(Arc<McpParts>);

/// The tools, in the order `tools/list` gives them: name, what it does, its input, and
/// whether it writes.
struct Spec {
    name: &'static str,
    description: &'static str,
    schema: fn() -> Arc<JsonObject>,
    writes: bool,
}

fn schema<T: JsonSchema + 'static>() -> Arc<JsonObject> {
    rmcp::handler::server::tool::schema_for_type::<T>()
}

const SPECS: &[Spec] = &[
    Spec {
        name: "search_contacts",
        description: "Search contacts across the connected CRMs (HubSpot, Salesforce), newest first. Filters: query (part of the name), email, owner. Returns { items, nextCursor }.",
        schema: schema::<tools::SearchInput>,
        writes: false,
    },
    Spec {
        name: "search_leads",
        description: "Search Salesforce leads, newest first. Filters: query, email, owner. Returns { items, nextCursor }.",
        schema: schema::<tools::SearchInput>,
        writes: false,
    },
    Spec {
        name: "search_deals",
        description: "Search deals (HubSpot deals, Salesforce opportunities), newest first. Filters: query, stage, owner. Returns { items, nextCursor }.",
        schema: schema::<tools::SearchInput>,
        writes: false,
    },
    Spec {
        name: "search_companies",
        description: "Search companies (HubSpot companies, Salesforce accounts), newest first. Filters: query, domain, owner. Returns { items, nextCursor }.",
        schema: schema::<tools::SearchInput>,
        writes: false,
    },
    Spec {
        name: "get_record",
        description: "One record (contact, lead, deal, company, email, event, message) by the id another tool returned.",
        schema: schema::<tools::GetRecordInput>,
        writes: false,
    },
    Spec {
        name: "list_emails",
        description: "Mail across Gmail and Outlook, newest first, with filters. Returns { items, nextCursor }.",
        schema: schema::<tools::ListEmailsInput>,
        writes: false,
    },
    Spec {
        name: "list_events",
        description: "Calendar events across Google Calendar and Outlook, earliest first, with filters. Returns { items, nextCursor }.",
        schema: schema::<tools::ListEventsInput>,
        writes: false,
    },
    Spec {
        name: "list_messages",
        description: "Chat messages across Slack and Teams, newest first, with filters. Returns { items, nextCursor }.",
        schema: schema::<tools::ListMessagesInput>,
        writes: false,
    },
    Spec {
        name: "contact_timeline",
        description: "A contact's mail, events and chat messages across providers, newest first. Returns { items, nextCursor }.",
        schema: schema::<tools::TimelineInput>,
        writes: false,
    },
    Spec {
        name: "list_connections",
        description: "The providers the caller has connected, with their status. Returns { items }.",
        schema: schema::<tools::NoInput>,
        writes: false,
    },
    Spec {
        name: "create_record",
        description: "Create a CRM record (type contact, lead or deal) at a provider. Needs a key with the write scope and an idempotencyKey.",
        schema: schema::<tools::CreateRecordInput>,
        writes: true,
    },
    Spec {
        name: "update_record",
        description: "Change fields of a contact, lead or deal. Needs the write scope and an idempotencyKey.",
        schema: schema::<tools::UpdateRecordInput>,
        writes: true,
    },
    Spec {
        name: "send_email",
        description: "Send an email through Gmail or Outlook. Needs the write scope and an idempotencyKey (a repeat sends nothing).",
        schema: schema::<tools::SendEmailInput>,
        writes: true,
    },
    Spec {
        name: "create_event",
        description: "Create a calendar event in Google Calendar or Outlook. Needs the write scope and an idempotencyKey.",
        schema: schema::<tools::CreateEventInput>,
        writes: true,
    },
    Spec {
        name: "post_message",
        description: "Post a message to a Slack or Teams channel, or reply in a thread. Needs the write scope and an idempotencyKey.",
        schema: schema::<tools::PostMessageInput>,
        writes: true,
    },
    Spec {
        name: "graphql",
        description: "Run a read-only GraphQL query against the Nexus schema ({ query, variables }), under the API's cost limits. Mutations and subscriptions are refused.",
        schema: schema::<tools::GraphqlInput>,
        writes: false,
    },
];

const PASSTHROUGH: Spec = Spec {
    name: "passthrough",
    description: "A raw call to a connected provider's own API, below its API base (e.g. GET /crm/v3/owners at HUBSPOT), with the connection's credentials. Reads need the passthrough:read scope, other methods passthrough:write.",
    schema: schema::<tools::PassthroughInput>,
    writes: false,
};

impl Nexus {
    fn specs(&self) -> impl Iterator<Item = &'static Spec> {
        SPECS
            .iter()
            .chain(self.0.settings.passthrough.then_some(&PASSTHROUGH))
    }

    fn tool(spec: &Spec) -> Tool {
        Tool::new(spec.name, spec.description, (spec.schema)())
    }

    /// Runs a tool for `caller` and writes its audit entry.
    async fn call(&self, caller: &Authenticated, name: &str, args: Value) -> CallToolResult {
        let started_at = chrono::Utc::now();
        let started = Instant::now();
        let result = match self.specs().find(|s| s.name == name) {
            Some(spec) => self.run(caller, spec, args).await,
            None => Err(ToolError::new(
                "NOT_FOUND",
                format!("no tool named `{name}`"),
            )),
        };
        let outcome = match &result {
            Ok(_) => "ok".to_owned(),
            Err(e) => e.code.clone(),
        };
        self.0
            .audit
            .record(Entry {
                tenant: caller.tenant,
                key: caller.key,
                kind: Kind::Mcp,
                action: name.chars().take(64).collect(),
                provider: None,
                outcome,
                status: None,
                started: started_at,
                duration: started.elapsed(),
            })
            .await;
        match result {
            Ok(value) => CallToolResult::structured(value),
            Err(error) => error.into_result(),
        }
    }

    async fn run(
        &self,
        caller: &Authenticated,
        spec: &Spec,
        args: Value,
    ) -> Result<Value, ToolError> {
        if spec.writes && !caller.scopes.allows(Scope::Write) {
            return Err(ToolError::new(
                "FORBIDDEN",
                format!(
                    "`{}` writes: it needs a key with the `write` scope",
                    spec.name
                ),
            ));
        }
        let max = self.0.settings.max_result_bytes;
        match spec.name {
            "search_contacts" | "search_leads" | "search_deals" | "search_companies" => {
                let input: tools::SearchInput = input(args)?;
                let op = search(spec.name, input)?;
                self.list(caller, op).await
            }
            "get_record" => {
                let input: tools::GetRecordInput = input(args)?;
                let record = self.one(caller, tools::get_record(&input)).await?;
                if record.is_null() {
                    return Err(ToolError::new("NOT_FOUND", "no record has this id"));
                }
                fit(record, max)
            }
            "list_emails" => {
                let i: tools::ListEmailsInput = input(args)?;
                let filter = tools::filter(&[
                    ("from", json!(i.from)),
                    ("to", json!(i.to)),
                    ("subjectContains", json!(i.subject_contains)),
                    ("after", json!(i.after)),
                    ("before", json!(i.before)),
                    ("label", json!(i.label)),
                    ("unread", json!(i.unread)),
                ]);
                let op = tools::list(
                    "emails",
                    "EmailFilter",
                    tools::EMAIL,
                    &i.page,
                    filter,
                    i.providers,
                );
                self.list(caller, op).await
            }
            "list_events" => {
                let i: tools::ListEventsInput = input(args)?;
                let filter = tools::filter(&[
                    ("timeMin", json!(i.time_min)),
                    ("timeMax", json!(i.time_max)),
                    ("attendee", json!(i.attendee)),
                    ("text", json!(i.text)),
                ]);
                let op = tools::list(
                    "events",
                    "EventFilter",
                    tools::EVENT,
                    &i.page,
                    filter,
                    i.providers,
                );
                self.list(caller, op).await
            }
            "list_messages" => {
                let i: tools::ListMessagesInput = input(args)?;
                let filter = tools::filter(&[
                    ("channel", json!(i.channel)),
                    ("textContains", json!(i.text_contains)),
                    ("after", json!(i.after)),
                    ("before", json!(i.before)),
                    ("threadId", json!(i.thread_id)),
                ]);
                let op = tools::list(
                    "messages",
                    "MessageFilter",
                    tools::MESSAGE,
                    &i.page,
                    filter,
                    i.providers,
                );
                self.list(caller, op).await
            }
            "contact_timeline" => {
                let i: tools::TimelineInput = input(args)?;
                self.timeline(caller, i).await
            }
            "list_connections" => {
                let _: tools::NoInput = input(args)?;
                let items = self.one(caller, tools::connections()).await?;
                let entries = items
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|item| (String::new(), item))
                    .collect();
                capped(entries, None, max)
            }
            "create_record" => {
                let i: tools::CreateRecordInput = input(args)?;
                key(&i.idempotency_key)?;
                let mut fields = i.fields;
                fields.insert("provider".into(), json!(i.provider));
                fields.insert("idempotencyKey".into(), json!(i.idempotency_key));
                let op = match i.kind.as_str() {
                    "contact" => tools::mutation(
                        "createContact",
                        "CreateContactInput",
                        &["createContact", "contact"],
                        tools::CONTACT,
                        Value::Object(fields),
                    ),
                    "lead" => tools::mutation(
                        "createLead",
                        "CreateLeadInput",
                        &["createLead", "lead"],
                        tools::LEAD,
                        Value::Object(fields),
                    ),
                    "deal" => tools::mutation(
                        "createDeal",
                        "CreateDealInput",
                        &["createDeal", "deal"],
                        tools::DEAL,
                        Value::Object(fields),
                    ),
                    _ => {
                        return Err(ToolError::new(
                            "BAD_USER_INPUT",
                            "`type` must be contact, lead or deal",
                        ));
                    }
                };
                fit(self.one(caller, op).await?, max)
            }
            "update_record" => {
                let i: tools::UpdateRecordInput = input(args)?;
                key(&i.idempotency_key)?;
                let kind = crate::graphql::GlobalId::parse("id", &async_graphql::ID(i.id.clone()))
                    .map_err(|e| ToolError::new("BAD_USER_INPUT", e.message))?
                    .type_name;
                let mut fields = i.fields;
                fields.insert("id".into(), json!(i.id));
                let op = match kind.as_str() {
                    "Contact" => tools::mutation(
                        "updateContact",
                        "UpdateContactInput",
                        &["updateContact", "contact"],
                        tools::CONTACT,
                        Value::Object(fields),
                    ),
                    "Lead" => tools::mutation(
                        "updateLead",
                        "UpdateLeadInput",
                        &["updateLead", "lead"],
                        tools::LEAD,
                        Value::Object(fields),
                    ),
                    "Deal" => tools::mutation(
                        "updateDeal",
                        "UpdateDealInput",
                        &["updateDeal", "deal"],
                        tools::DEAL,
                        Value::Object(fields),
                    ),
                    other => {
                        return Err(ToolError::new(
                            "BAD_USER_INPUT",
                            format!(
                                "a {other} cannot be updated here: give a contact, lead or deal id"
                            ),
                        ));
                    }
                };
                fit(self.one(caller, op).await?, max)
            }
            "send_email" => {
                let i: tools::SendEmailInput = input(args)?;
                key(&i.idempotency_key)?;
                let op = tools::mutation(
                    "sendEmail",
                    "SendEmailInput",
                    &["sendEmail", "email"],
                    tools::EMAIL,
                    json!({
                        "provider": i.provider, "to": i.to, "cc": i.cc, "bcc": i.bcc, "subject": i.subject,
                        "text": i.text, "html": i.html, "replyToId": i.reply_to_id, "idempotencyKey": i.idempotency_key,
                    }),
                );
                fit(self.one(caller, op).await?, max)
            }
            "create_event" => {
                let i: tools::CreateEventInput = input(args)?;
                key(&i.idempotency_key)?;
                let op = tools::mutation(
                    "createEvent",
                    "CreateEventInput",
                    &["createEvent", "event"],
                    tools::EVENT,
                    json!({
                        "provider": i.provider, "title": i.title, "start": i.start, "end": i.end, "allDay": i.all_day,
                        "timeZone": i.time_zone, "description": i.description, "location": i.location,
                        "attendees": i.attendees, "idempotencyKey": i.idempotency_key,
                    }),
                );
                fit(self.one(caller, op).await?, max)
            }
            "post_message" => {
                let i: tools::PostMessageInput = input(args)?;
                key(&i.idempotency_key)?;
                let op = tools::mutation(
                    "postMessage",
                    "PostMessageInput",
                    &["postMessage", "message"],
                    tools::MESSAGE,
                    json!({
                        "provider": i.provider, "channelId": i.channel_id, "text": i.text,
                        "threadId": i.thread_id, "idempotencyKey": i.idempotency_key,
                    }),
                );
                fit(self.one(caller, op).await?, max)
            }
            "graphql" => {
                let i: tools::GraphqlInput = input(args)?;
                self.graphql(caller, i).await
            }
            "passthrough" => {
                let i: tools::PassthroughInput = input(args)?;
                fit(self.one(caller, tools::passthrough(&i)).await?, max)
            }
            other => Err(ToolError::new(
                "NOT_FOUND",
                format!("no tool named `{other}`"),
            )),
        }
    }

    /// Runs `document` as `caller`; the answer's `data` and its errors.
    async fn execute(
        &self,
        caller: &Authenticated,
        document: String,
        variables: Value,
    ) -> (Value, Vec<Value>) {
        let mut request = async_graphql::Request::new(document)
            .variables(Variables::from_json(variables))
            .data(caller.tenant)
            .data(caller.scopes)
            .data(Loaders::for_request(
                self.0.providers.clone(),
                self.0.read_model.clone(),
            ))
            .data(Executed::default());
        if let Some(key) = caller.key {
            request = request.data(key);
        }
        let response = self.0.schema.execute(request).await;
        let errors = response
            .errors
            .iter()
            .map(|e| {
                let code = e
                    .extensions
                    .as_ref()
                    .and_then(|x| x.get("code"))
                    .and_then(|v| v.clone().into_json().ok())
                    // Resolvers' errors all carry a code; only the checks before execution
                    // (parse, validation, variables) leave it out.
                    .unwrap_or(json!("GRAPHQL_VALIDATION_FAILED"));
                json!({ "code": code, "message": e.message, "path": e.path })
            })
            .collect();
        (response.data.into_json().unwrap_or(Value::Null), errors)
    }

    /// Runs an operation whose result is one value: the value, or the first error as the
    /// tool's.
    async fn one(&self, caller: &Authenticated, op: Operation) -> Result<Value, ToolError> {
        let (data, errors) = self.execute(caller, op.document, op.variables).await;
        let Shape::One(path) = op.shape else {
            unreachable!("one() runs single-value operations")
        };
        let value = path.iter().fold(&data, |v, k| &v[*k]).clone();
        match errors.first() {
            Some(error) if value.is_null() => Err(first_error(error)),
            _ => Ok(value),
        }
    }

    /// Runs a connection's operation: its nodes, capped, with the cursor to continue.
    async fn list(&self, caller: &Authenticated, op: Operation) -> Result<Value, ToolError> {
        let Shape::List(field) = op.shape else {
            unreachable!("list() runs connection operations")
        };
        let (data, errors) = self.execute(caller, op.document, op.variables).await;
        let connection = &data[field];
        if connection.is_null() {
            return Err(errors
                .first()
                .map(first_error)
                .unwrap_or_else(|| ToolError::new("INTERNAL", "no result")));
        }
        let entries = connection["edges"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|edge| {
                (
                    edge["cursor"].as_str().unwrap_or_default().to_owned(),
                    edge["node"].clone(),
                )
            })
            .collect();
        let end = (connection["pageInfo"]["hasNextPage"] == json!(true))
            .then(|| {
                connection["pageInfo"]["endCursor"]
                    .as_str()
                    .map(str::to_owned)
            })
            .flatten();
        let mut result = capped(entries, end, self.0.settings.max_result_bytes)?;
        if !errors.is_empty() {
            result["errors"] = Value::Array(errors);
        }
        Ok(result)
    }

    /// `contact_timeline`: the contact's mail, events and messages merged newest first; the
    /// cursor is a position in that merged list.
    async fn timeline(
        &self,
        caller: &Authenticated,
        input: tools::TimelineInput,
    ) -> Result<Value, ToolError> {
        let skip: usize = match &input.cursor {
            Some(c) => c
                .strip_prefix("timeline:")
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| {
                    ToolError::new("BAD_USER_INPUT", "`cursor` is not a timeline cursor")
                })?,
            None => 0,
        };
        let contact = self.one(caller, tools::timeline(&input)).await?;
        if contact["__typename"] != json!("Contact") {
            return Err(ToolError::new("NOT_FOUND", "no contact has this id"));
        }
        let mut items: Vec<(String, Value)> = Vec::new();
        for (kind, list, at) in [
            ("email", "emails", "date"),
            ("event", "events", "start"),
            ("message", "messages", "sentAt"),
        ] {
            for mut node in contact[list]["nodes"]
                .as_array()
                .cloned()
                .unwrap_or_default()
            {
                let when = node[at].as_str().unwrap_or_default().to_owned();
                node["kind"] = json!(kind);
                items.push((when, node));
            }
        }
        items.sort_by(|a, b| b.0.cmp(&a.0));
        let entries = items
            .into_iter()
            .enumerate()
            .skip(skip)
            .map(|(i, (_, node))| (format!("timeline:{}", i + 1), node))
            .collect();
        let mut result = capped(entries, None, self.0.settings.max_result_bytes)?;
        result["contact"] =
            json!({ "id": contact["id"], "name": contact["name"], "email": contact["email"] });
        Ok(result)
    }

    /// `graphql`: a read-only document, its whole answer within the cap.
    async fn graphql(
        &self,
        caller: &Authenticated,
        input: tools::GraphqlInput,
    ) -> Result<Value, ToolError> {
        let document = parse_query(&input.query)
            .map_err(|e| ToolError::new("GRAPHQL_PARSE_FAILED", e.to_string()))?;
        if document
            .operations
            .iter()
            .any(|(_, op)| op.node.ty != OperationType::Query)
        {
            return Err(ToolError::new(
                "FORBIDDEN",
                "the graphql tool runs queries only; use the write tools to change anything",
            ));
        }
        let variables = input.variables.map(Value::Object).unwrap_or(Value::Null);
        let (data, errors) = self.execute(caller, input.query, variables).await;
        if data.is_null()
            && let Some(error) = errors.first()
        {
            return Err(first_error(error));
        }
        let mut answer = json!({ "data": data });
        if !errors.is_empty() {
            answer["errors"] = Value::Array(errors);
        }
        fit(answer, self.0.settings.max_result_bytes)
    }
}

/// The tool's input, read as its type.
fn input<T: DeserializeOwned>(args: Value) -> Result<T, ToolError> {
    serde_json::from_value(args).map_err(|e| ToolError::new("BAD_USER_INPUT", e.to_string()))
}

/// An idempotency key is required on writes.
fn key(idempotency_key: &str) -> Result<(), ToolError> {
    if idempotency_key.trim().is_empty() {
        return Err(ToolError::new(
            "BAD_USER_INPUT",
            "writes need an `idempotencyKey`",
        ));
    }
    Ok(())
}

/// A search tool's operation.
fn search(tool: &str, i: tools::SearchInput) -> Result<Operation, ToolError> {
    let refuse = |field: &str| {
        Err(ToolError::new(
            "BAD_USER_INPUT",
            format!("`{tool}` has no `{field}` filter"),
        ))
    };
    let (field, filter_type, selection) = match tool {
        "search_contacts" => ("contacts", "ContactFilter", tools::CONTACT),
        "search_leads" => ("leads", "LeadFilter", tools::LEAD),
        "search_deals" => ("deals", "DealFilter", tools::DEAL),
        _ => ("companies", "CompanyFilter", tools::COMPANY),
    };
    let mut pairs = vec![("nameContains", json!(i.query)), ("owner", json!(i.owner))];
    match (field, &i.email, &i.domain, &i.stage) {
        ("contacts" | "leads", email, None, None) => pairs.push(("email", json!(email))),
        ("deals", None, None, stage) => pairs.push(("stage", json!(stage))),
        ("companies", None, domain, None) => pairs.push(("domain", json!(domain))),
        (_, Some(_), _, _) => return refuse("email"),
        (_, _, Some(_), _) => return refuse("domain"),
        _ => return refuse("stage"),
    }
    Ok(tools::list(
        field,
        filter_type,
        selection,
        &i.page,
        tools::filter(&pairs),
        i.providers,
    ))
}

fn first_error(error: &Value) -> ToolError {
    ToolError::new(
        error["code"].as_str().unwrap_or("INTERNAL"),
        error["message"].as_str().unwrap_or_default(),
    )
}

fn capped(
    entries: Vec<(String, Value)>,
    end: Option<String>,
    max: usize,
) -> Result<Value, ToolError> {
    cap(entries, end, max)
        .map(Capped::into_json)
        .map_err(|e| ToolError::new("RESULT_TOO_LARGE", e.to_string()))
}

/// A single result within the cap, or a refusal that says how large it was.
fn fit(value: Value, max: usize) -> Result<Value, ToolError> {
    let size = weight(&value);
    if size > max {
        return Err(ToolError::new(
            "RESULT_TOO_LARGE",
            format!(
                "the result is {size} bytes, over the cap of {max} bytes (mcp.max_result_bytes): ask for fewer fields or a smaller page"
            ),
        ));
    }
    Ok(value)
}

impl ServerHandler for Nexus {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                "nexus-gateway",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(
                "Nexus Gateway: one API over the caller's CRMs, mail, calendars and chat. \
                 List tools return { items, nextCursor }; pass nextCursor back as `cursor` to \
                 continue. Writes need an idempotencyKey.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(
            self.specs().map(Self::tool).collect(),
        ))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.specs().find(|s| s.name == name).map(Self::tool)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let caller = context
            .extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<Authenticated>())
            .copied()
            .ok_or_else(|| ErrorData::internal_error("the request carries no caller", None))?;
        let args = Value::Object(request.arguments.unwrap_or_default());
        let name: Cow<'_, str> = request.name;
        Ok(self.call(&caller, &name, args).await.into())
    }
}
