//! Change notifications (webhooks): `POST /subscriptions`, `GET /subscriptions[/{id}]`,
//! `PATCH /subscriptions/{id}` (renew), `DELETE /subscriptions/{id}`.
//!
//! - Resources: `me/messages`, `me/mailFolders('inbox')/messages` (or `/inbox/`, `sentitems`,
//!   `users/{id|upn}/...` for the signed-in user), `me/events`, `chats/{id}/messages`,
//!   `teams/{id}/channels/{id}/messages`. The token needs the permission the resource needs.
//! - `expirationDateTime`: in the future and at most 10,080 minutes away for mail and events
//!   (the current docs; the older table said 4,230), 60 minutes for Teams messages; else 400.
//! - The handshake: before creating (and for `lifecycleNotificationUrl` too) the sandbox POSTs
//!   `{notificationUrl}?validationToken=<token>` (`Content-Type: text/plain`) and needs, within
//!   10 seconds, a 200 with `Content-Type: text/plain` and the token as the whole body; else 400.
//! - Notifications: on every matching change — through Graph or `POST /_sandbox/records` — a
//!   POST of `{"value":[{subscriptionId, subscriptionExpirationDateTime, changeType, resource,
//!   resourceData {@odata.type, @odata.id, @odata.etag, id}, clientState, tenantId}]}`. A
//!   subscription past its expiration (sandbox clock) delivers nothing and is gone.
//! - Deviations: real Graph requires an `https` notification URL; the sandbox only ever calls
//!   loopback hosts (`127.0.0.1`, `localhost`, `[::1]`), over http or https, and refuses others.
//!   Lifecycle notifications and rich notifications (`includeResourceData`) are not sent.

use std::{sync::Arc, time::Duration as StdDuration};

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::IntoResponse,
};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    Admitted, Ctx, Need, SandboxState, admit,
    directory::{self, TENANT_ID, User},
    error::{GraphError, GraphResult, resource_not_found},
    graph_base, json_body, seven_digits,
};
use crate::tokens::App;

/// What changed, for notifications.
#[derive(Debug, Clone)]
pub enum Target {
    Message { folder: &'static str },
    Event,
    ChatMessage { chat: String, members: Vec<User> },
    ChannelMessage { team: String, channel: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Created,
    Updated,
    Deleted,
}

impl Change {
    fn name(self) -> &'static str {
        match self {
            Change::Created => "created",
            Change::Updated => "updated",
            Change::Deleted => "deleted",
        }
    }
}

/// What a subscription watches.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Resource {
    Messages { folder: Option<&'static str> },
    Events,
    Chat(String),
    Channel { team: String, channel: String },
}

impl Resource {
    fn need(&self) -> Need {
        match self {
            Resource::Messages { .. } => Need::MailRead,
            Resource::Events => Need::CalendarRead,
            Resource::Chat(_) => Need::ChatMessagesRead,
            Resource::Channel { .. } => Need::ChannelMessagesRead,
        }
    }

    fn max_minutes(&self) -> i64 {
        match self {
            Resource::Messages { .. } | Resource::Events => 10_080,
            Resource::Chat(_) | Resource::Channel { .. } => 60,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Subscription {
    id: String,
    resource: String,
    watches: Resource,
    change_types: Vec<Change>,
    notification_url: String,
    lifecycle_url: Option<String>,
    client_state: Option<String>,
    expiration: DateTime<Utc>,
    owner: User,
    connection: String,
}

impl Subscription {
    fn to_json(&self, ctx: &Ctx) -> Value {
        json!({
            "@odata.context": format!("{}/$metadata#subscriptions/$entity", graph_base(ctx)),
            "id": self.id,
            "resource": self.resource,
            "applicationId": App::for_provider(&self.connection).client_id,
            "changeType": self.change_types.iter().map(|c| c.name()).collect::<Vec<_>>().join(","),
            "clientState": self.client_state,
            "notificationUrl": self.notification_url,
            "notificationQueryOptions": Value::Null,
            "lifecycleNotificationUrl": self.lifecycle_url,
            "expirationDateTime": format!("{}Z", seven_digits(self.expiration.naive_utc())),
            "creatorId": self.owner.id,
            "includeResourceData": false,
            "latestSupportedTlsVersion": "v1_2",
            "encryptionCertificate": Value::Null,
            "encryptionCertificateId": Value::Null,
            "notificationUrlAppId": Value::Null,
        })
    }
}

fn invalid(message: impl Into<String>) -> GraphError {
    GraphError::new(StatusCode::BAD_REQUEST, "InvalidRequest", message)
}

fn unquote(s: &str) -> &str {
    s.trim_start_matches("('")
        .trim_end_matches("')")
        .trim_matches('\'')
}

/// Splits `a('x')` and `a/x` segments into plain ones: `teams('1')/channels` → `teams/1/channels`.
fn segments(resource: &str) -> Vec<String> {
    resource
        .trim_start_matches('/')
        .split('/')
        .flat_map(|s| match s.split_once("('") {
            Some((name, key)) => vec![name.to_owned(), unquote(key).to_owned()],
            None => vec![s.to_owned()],
        })
        .collect()
}

fn parse_resource(resource: &str, user: &User) -> GraphResult<Resource> {
    let parts = segments(resource);
    let lower: Vec<String> = parts.iter().map(|p| p.to_ascii_lowercase()).collect();
    let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
    let unsupported = || {
        invalid(format!(
            "Resource '{resource}' is not supported for change notifications."
        ))
    };
    // The mailbox part: `me/...` or `users/{me}/...`.
    let rest: &[&str] = match lower.as_slice() {
        ["me", rest @ ..] => rest,
        ["users", who, rest @ ..] => {
            if directory::lookup(who).is_none_or(|u| u.id != user.id) {
                return Err(GraphError::new(
                    StatusCode::FORBIDDEN,
                    "ErrorAccessDenied",
                    "Access is denied. Check credentials and try again.",
                ));
            }
            rest
        }
        ["chats", _, "messages"] => return Ok(Resource::Chat(parts[1].clone())),
        ["teams", _, "channels", _, "messages"] => {
            return Ok(Resource::Channel {
                team: parts[1].clone(),
                channel: parts[3].clone(),
            });
        }
        _ => return Err(unsupported()),
    };
    match rest {
        ["messages"] => Ok(Resource::Messages { folder: None }),
        ["mailfolders", folder, "messages"] => {
            let folder = ["inbox", "sentitems", "drafts", "deleteditems"]
                .into_iter()
                .find(|f| f == folder)
                .ok_or_else(unsupported)?;
            Ok(Resource::Messages {
                folder: Some(folder),
            })
        }
        ["events"] | ["calendar", "events"] => Ok(Resource::Events),
        _ => Err(unsupported()),
    }
}

fn loopback(url: &str) -> Result<url::Url, GraphError> {
    let parsed =
        url::Url::parse(url).map_err(|_| invalid(format!("Invalid notification url '{url}'.")))?;
    let local = matches!(parsed.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    if !local || !matches!(parsed.scheme(), "http" | "https") {
        return Err(invalid(
            "The sandbox delivers notifications to loopback URLs only (127.0.0.1, localhost, [::1]).",
        ));
    }
    Ok(parsed)
}

/// The validation handshake: the endpoint must echo the token as text/plain within 10 s.
async fn validate(state: &SandboxState, url: &str) -> GraphResult<()> {
    let mut target = loopback(url)?;
    let token = format!(
        "Validation: Testing client application reachability for subscription Request-Id: {}",
        Uuid::new_v4()
    );
    target
        .query_pairs_mut()
        .append_pair("validationToken", &token);
    let refused = || {
        invalid(
            "Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request.",
        )
    };
    let response = state
        .http
        .post(target)
        .header("content-type", "text/plain; charset=utf-8")
        .timeout(StdDuration::from_secs(10))
        .send()
        .await
        .map_err(|_| refused())?;
    let text_plain = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"));
    if response.status() != StatusCode::OK || !text_plain {
        return Err(refused());
    }
    let body = response.text().await.map_err(|_| refused())?;
    if body != token {
        return Err(refused());
    }
    Ok(())
}

fn parse_expiration(
    body: &Value,
    watches: &Resource,
    now: DateTime<Utc>,
) -> GraphResult<DateTime<Utc>> {
    let raw = body
        .get("expirationDateTime")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            invalid("expirationDateTime is a required property for subscription creation.")
        })?;
    let at = DateTime::parse_from_rfc3339(raw)
        .map_err(|_| invalid(format!("Invalid expirationDateTime '{raw}'.")))?
        .with_timezone(&Utc);
    if at <= now {
        return Err(invalid("Subscription expiration must be in the future."));
    }
    let max = watches.max_minutes();
    if at > now + Duration::minutes(max) {
        return Err(invalid(format!(
            "Subscription expiration can only be {max} minutes in the future."
        )));
    }
    Ok(at)
}

/// `POST /subscriptions`: validates the endpoint, then 201 with the subscription.
pub async fn create(State(ctx): State<Ctx>, headers: HeaderMap, body: Bytes) -> GraphResult {
    let admitted = admit(&ctx, &headers, Need::Subscriptions)?;
    let body = json_body(&body)?;
    let user = directory::by_alias(&admitted.user);
    let resource = body
        .get("resource")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("resource is a required property for subscription creation."))?;
    let watches = parse_resource(resource, &user)?;
    admitted.require(watches.need())?;
    let change_types = body
        .get("changeType")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("changeType is a required property for subscription creation."))?
        .split(',')
        .map(|c| match c.trim() {
            "created" => Ok(Change::Created),
            "updated" => Ok(Change::Updated),
            "deleted" => Ok(Change::Deleted),
            other => Err(invalid(format!("'{other}' is not a valid change type."))),
        })
        .collect::<GraphResult<Vec<Change>>>()?;
    let client_state = body
        .get("clientState")
        .and_then(Value::as_str)
        .map(str::to_owned);
    if client_state.as_ref().is_some_and(|s| s.len() > 128) {
        return Err(invalid("clientState must be at most 128 characters."));
    }
    let notification_url = body
        .get("notificationUrl")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            invalid("notificationUrl is a required property for subscription creation.")
        })?
        .to_owned();
    let lifecycle_url = body
        .get("lifecycleNotificationUrl")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let expiration = parse_expiration(&body, &watches, ctx.state.clock.now())?;
    if let Resource::Chat(_) | Resource::Channel { .. } = &watches {
        check_teams_access(&ctx.state, &watches, &user)?;
    }
    validate(&ctx.state, &notification_url).await?;
    if let Some(url) = &lifecycle_url {
        validate(&ctx.state, url).await?;
    }
    let subscription = Subscription {
        id: Uuid::new_v4().to_string(),
        resource: resource.to_owned(),
        watches,
        change_types,
        notification_url,
        lifecycle_url,
        client_state,
        expiration,
        owner: user,
        connection: admitted.connection.clone(),
    };
    let answer = subscription.to_json(&ctx);
    ctx.state
        .microsoft
        .subscriptions
        .lock()
        .expect("subscriptions lock")
        .push(subscription);
    Ok(admitted.created(answer))
}

/// A Teams resource must exist and the user must be in it.
fn check_teams_access(state: &SandboxState, watches: &Resource, user: &User) -> GraphResult<()> {
    let mut tenant = state.microsoft.teams.lock(TENANT_ID);
    tenant.ensure_chats(user);
    let found = match watches {
        Resource::Chat(id) => tenant
            .chats
            .iter()
            .any(|c| &c.id == id && c.members.iter().any(|m| m.id == user.id)),
        Resource::Channel { team, channel } => tenant
            .channels
            .iter()
            .any(|c| &c.team == team && &c.id == channel),
        _ => true,
    };
    if found {
        Ok(())
    } else {
        Err(resource_not_found(
            "Resource not found for the subscription resource.",
        ))
    }
}

fn live<'a>(
    all: &'a [Subscription],
    admitted: &Admitted,
    now: DateTime<Utc>,
) -> impl Iterator<Item = &'a Subscription> {
    let alias = admitted.user.clone();
    let connection = admitted.connection.clone();
    all.iter()
        .filter(move |s| s.expiration > now && s.owner.alias == alias && s.connection == connection)
}

/// `GET /subscriptions`: the app's live subscriptions for the user.
pub async fn list(State(ctx): State<Ctx>, headers: HeaderMap) -> GraphResult {
    let admitted = admit(&ctx, &headers, Need::Subscriptions)?;
    let now = ctx.state.clock.now();
    let all = ctx
        .state
        .microsoft
        .subscriptions
        .lock()
        .expect("subscriptions lock");
    let value: Vec<Value> = live(&all, &admitted, now)
        .map(|s| {
            let mut v = s.to_json(&ctx);
            if let Some(o) = v.as_object_mut() {
                o.remove("@odata.context");
            }
            v
        })
        .collect();
    Ok(admitted.json(json!({ "@odata.context": format!("{}/$metadata#subscriptions", graph_base(&ctx)), "value": value })))
}

fn not_found(id: &str) -> GraphError {
    resource_not_found(format!(
        "The object was not found. Subscription '{id}' does not exist or has expired."
    ))
}

/// `GET /subscriptions/{id}`.
pub async fn get(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> GraphResult {
    let admitted = admit(&ctx, &headers, Need::Subscriptions)?;
    let now = ctx.state.clock.now();
    let all = ctx
        .state
        .microsoft
        .subscriptions
        .lock()
        .expect("subscriptions lock");
    let found = live(&all, &admitted, now)
        .find(|s| s.id == id)
        .ok_or_else(|| not_found(&id))?;
    Ok(admitted.json(found.to_json(&ctx)))
}

/// `PATCH /subscriptions/{id}` with a new `expirationDateTime`: 200 with the subscription.
pub async fn renew(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> GraphResult {
    let admitted = admit(&ctx, &headers, Need::Subscriptions)?;
    let body = json_body(&body)?;
    let now = ctx.state.clock.now();
    let mut all = ctx
        .state
        .microsoft
        .subscriptions
        .lock()
        .expect("subscriptions lock");
    let found = all
        .iter_mut()
        .find(|s| {
            s.id == id
                && s.expiration > now
                && s.owner.alias == admitted.user
                && s.connection == admitted.connection
        })
        .ok_or_else(|| not_found(&id))?;
    found.expiration = parse_expiration(&body, &found.watches, now)?;
    Ok(admitted.json(found.to_json(&ctx)))
}

/// `DELETE /subscriptions/{id}`: 204.
pub async fn delete(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> GraphResult {
    let admitted = admit(&ctx, &headers, Need::Subscriptions)?;
    let now = ctx.state.clock.now();
    let mut all = ctx
        .state
        .microsoft
        .subscriptions
        .lock()
        .expect("subscriptions lock");
    let before = all.len();
    all.retain(|s| {
        !(s.id == id
            && s.expiration > now
            && s.owner.alias == admitted.user
            && s.connection == admitted.connection)
    });
    if all.len() == before {
        return Err(not_found(&id));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Whether a subscription sees a change to `target` in `owner`'s data.
fn sees(s: &Subscription, owner: &User, target: &Target) -> bool {
    match (&s.watches, target) {
        (Resource::Messages { folder }, Target::Message { folder: f }) => {
            s.owner.id == owner.id && folder.is_none_or(|x| x == *f)
        }
        (Resource::Events, Target::Event) => s.owner.id == owner.id,
        (Resource::Chat(id), Target::ChatMessage { chat, members }) => {
            id == chat && members.iter().any(|m| m.id == s.owner.id)
        }
        (
            Resource::Channel { team, channel },
            Target::ChannelMessage {
                team: t,
                channel: c,
            },
        ) => team == t && channel == c,
        _ => false,
    }
}

/// The `resource` and `resourceData` of a notification.
fn resource_of(owner: &User, target: &Target, id: &str) -> (String, Value) {
    let (path, kind) = match target {
        Target::Message { .. } => (
            format!("Users/{}/Messages/{id}", owner.id),
            "#Microsoft.Graph.Message",
        ),
        Target::Event => (
            format!("Users/{}/Events/{id}", owner.id),
            "#Microsoft.Graph.Event",
        ),
        Target::ChatMessage { chat, .. } => (
            format!("chats('{chat}')/messages('{id}')"),
            "#Microsoft.Graph.chatMessage",
        ),
        Target::ChannelMessage { team, channel } => (
            format!("teams('{team}')/channels('{channel}')/messages('{id}')"),
            "#Microsoft.Graph.chatMessage",
        ),
    };
    let data = json!({ "@odata.type": kind, "@odata.id": path, "@odata.etag": format!("W/\"{}\"", Uuid::new_v4().simple()), "id": id });
    (path, data)
}

/// Sends a notification of `change` to every live subscription that sees it.
pub fn notify(state: &Arc<SandboxState>, owner: &User, target: Target, change: Change, id: &str) {
    let now = state.clock.now();
    let deliveries: Vec<(String, Value)> = {
        let mut all = state
            .microsoft
            .subscriptions
            .lock()
            .expect("subscriptions lock");
        all.retain(|s| s.expiration > now);
        all.iter()
            .filter(|s| s.change_types.contains(&change) && sees(s, owner, &target))
            .map(|s| {
                let (resource, data) = resource_of(owner, &target, id);
                let body = json!({ "value": [{
                    "id": Uuid::new_v4().simple().to_string(),
                    "subscriptionId": s.id,
                    "subscriptionExpirationDateTime": format!("{}+00:00", seven_digits(s.expiration.naive_utc())),
                    "changeType": change.name(),
                    "resource": resource,
                    "resourceData": data,
                    "clientState": s.client_state,
                    "tenantId": TENANT_ID,
                }]});
                (s.notification_url.clone(), body)
            })
            .collect()
    };
    for (url, body) in deliveries {
        state.deliver(url, Vec::new(), body.to_string());
    }
}
