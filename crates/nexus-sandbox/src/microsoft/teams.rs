//! Teams: the tenant's teams, their channels, channel messages with replies, and chats, seeded
//! with conversations among population people.
//!
//! - Five teams; every population person belongs to four of them (person `p` misses team
//!   `(p + 4) % 5`); users outside the population belong to the first. Each team has three
//!   standard channels; `General` holds 45 messages, the others 12, some with replies.
//! - A user's chats (one-on-one and group, with population people) appear the first time they
//!   are listed, each with its message history; a chat is the same object for all its members.
//! - `GET /me/joinedTeams`, `GET /teams/{id}/channels`, `GET|POST /teams/{id}/channels/{id}/messages`,
//!   `GET .../messages/{id}`, `GET|POST .../messages/{id}/replies`, `GET /me/chats`,
//!   `GET|POST /chats/{id}/messages`; channel messages take `$expand=replies`. Lists are newest
//!   first, 20 a page by default (`$top` up to 50), paged by `@odata.nextLink` with a
//!   `$skiptoken` that names the last item seen, so a page never repeats or skips a message when
//!   new ones arrive meanwhile.
//! - `GET /teams/{id}/channels/{id}/messages/delta` (see [`channel_messages_delta`]); messages
//!   edited or deleted through the admin API (`/_sandbox/records`) show in it.
//! - Someone who is not a member of the team or chat gets 403 `Forbidden`; an unknown team,
//!   channel, chat or message is 404 `NotFound`, as Teams words them.

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::{OriginalUri, Path, RawQuery, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use super::{
    Admitted, Ctx, Need, SandboxState, admit,
    directory::{self, TENANT_ID, User},
    error::{GraphError, GraphResult, bad_request},
    graph_base, json_body,
    mail::DeltaState,
    odata::Options,
    subscriptions::{self, Change, Target},
};
use crate::population::PEOPLE;

const TEAMS: &[(&str, &str)] = &[
    ("Sales", "Pipeline, deals and wins"),
    ("Customer Success", "Renewals and onboarding"),
    ("Engineering", "Product and platform"),
    ("Marketing", "Campaigns and events"),
    ("Leadership", "Company direction"),
];
const CHANNELS: &[(&str, &str, usize)] = &[
    ("General", "The team's main channel", 45),
    ("Deals", "Deal desk questions", 12),
    ("Announcements", "News for the team", 12),
];
const LINES: &[&str] = &[
    "Can someone review the proposal before Friday?",
    "The customer signed the renewal 🎉",
    "Moving the sync to 3pm.",
    "Notes from the call are in the shared folder.",
    "Who owns the follow-up with procurement?",
    "Pricing sheet updated with the new tiers.",
    "Great demo today, thanks all!",
    "Reminder: forecast due end of week.",
];

#[derive(Debug, Clone)]
pub struct Team {
    pub id: String,
    pub index: usize,
    pub name: &'static str,
    pub description: &'static str,
}

#[derive(Debug, Clone)]
pub struct Channel {
    pub team: String,
    pub id: String,
    pub name: &'static str,
    pub description: &'static str,
    pub created: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct Chat {
    pub id: String,
    pub kind: &'static str,
    pub topic: Option<String>,
    pub members: Vec<User>,
    pub created: DateTime<Utc>,
}

/// Where a message lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    Channel { team: String, channel: String },
    Chat(String),
}

#[derive(Debug, Clone)]
pub struct Post {
    pub place: Place,
    pub json: Value,
    pub created: DateTime<Utc>,
    /// The tenant's change counter when the message was last posted, edited or deleted.
    pub changed: u64,
}

impl Post {
    fn id(&self) -> &str {
        self.json["id"].as_str().unwrap_or_default()
    }

    fn reply_to(&self) -> Option<&str> {
        self.json["replyToId"].as_str()
    }
}

/// The tenant's Teams data.
#[derive(Debug)]
pub struct Tenant {
    pub teams: Vec<Team>,
    pub channels: Vec<Channel>,
    pub chats: Vec<Chat>,
    pub posts: Vec<Post>,
    /// Users whose chats were seeded.
    seeded_chats: Vec<String>,
    last_ms: i64,
    /// The change counter channel-message delta tokens are made of.
    seq: u64,
}

fn is_member(team: &Team, user: &User) -> bool {
    match user.person {
        Some(p) => (p + 4) % TEAMS.len() != team.index,
        None => team.index == 0,
    }
}

fn ms_stamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

impl Tenant {
    /// Seeds teams, channels and channel messages (chats come per user, see `ensure_chats`).
    pub fn seeded(_tenant: &str) -> Self {
        let anchor = crate::clock::seed_anchor(7);
        let mut tenant = Tenant {
            teams: Vec::new(),
            channels: Vec::new(),
            chats: Vec::new(),
            posts: Vec::new(),
            seeded_chats: Vec::new(),
            last_ms: 0,
            seq: 0,
        };
        for (index, (name, description)) in TEAMS.iter().enumerate() {
            let team = Team {
                id: directory::object_id(&format!("team:{name}")),
                index,
                name,
                description,
            };
            for (c, (channel_name, channel_description, count)) in CHANNELS.iter().enumerate() {
                let id = if c == 0 {
                    format!(
                        "19:{}@thread.tacv2",
                        &hex::encode(directory::object_id(&format!("general:{name}")))[..32]
                    )
                } else {
                    format!(
                        "19:{}@thread.tacv2",
                        &hex::encode(directory::object_id(&format!("{channel_name}:{name}")))[..32]
                    )
                };
                let created = anchor - Duration::days(400);
                tenant.channels.push(Channel {
                    team: team.id.clone(),
                    id: id.clone(),
                    name: channel_name,
                    description: channel_description,
                    created,
                });
                let place = Place::Channel {
                    team: team.id.clone(),
                    channel: id,
                };
                for k in 0..*count {
                    let author = (0..PEOPLE)
                        .map(|step| (k * 53 + index * 7 + c * 3 + step) % PEOPLE)
                        .filter_map(directory::person)
                        .find(|u| is_member(&team, u));
                    let Some(author) = author else { continue };
                    let at = anchor
                        - Duration::minutes(
                            (*count - k) as i64 * 173 + index as i64 * 11 + c as i64,
                        );
                    let parent = tenant.post(
                        place.clone(),
                        &author,
                        LINES[(k + index) % LINES.len()],
                        "text",
                        at,
                        None,
                    );
                    if k % 6 == 2 {
                        for r in 0..3usize {
                            let replier = (0..PEOPLE)
                                .map(|s| (k * 31 + r * 97 + s) % PEOPLE)
                                .filter_map(directory::person)
                                .find(|u| is_member(&team, u));
                            if let Some(replier) = replier {
                                tenant.post(
                                    place.clone(),
                                    &replier,
                                    LINES[(k + r + 3) % LINES.len()],
                                    "text",
                                    at + Duration::minutes(5 + r as i64),
                                    Some(&parent),
                                );
                            }
                        }
                    }
                }
            }
            tenant.teams.push(team);
        }
        tenant
    }

    /// A message id: epoch milliseconds, unique in the tenant.
    fn message_id(&mut self, at: DateTime<Utc>) -> String {
        let ms = at.timestamp_millis().max(self.last_ms + 1);
        self.last_ms = self.last_ms.max(ms);
        ms.to_string()
    }

    /// Stores a new message (or reply to `parent`) and returns its id.
    fn post(
        &mut self,
        place: Place,
        author: &User,
        content: &str,
        content_type: &str,
        at: DateTime<Utc>,
        parent: Option<&str>,
    ) -> String {
        let id = self.message_id(at);
        let (chat_id, channel_identity, web_url) = match &place {
            Place::Channel { team, channel } => (
                Value::Null,
                json!({ "teamId": team, "channelId": channel }),
                format!(
                    "https://teams.microsoft.com/l/message/{}/{id}?groupId={team}&tenantId={TENANT_ID}&parentMessageId={}",
                    urlencode(channel),
                    parent.unwrap_or(&id)
                ),
            ),
            Place::Chat(chat) => (
                json!(chat),
                Value::Null,
                format!(
                    "https://teams.microsoft.com/l/message/{}/{id}?context=%7B%22contextType%22:%22chat%22%7D",
                    urlencode(chat)
                ),
            ),
        };
        let json = json!({
            "id": id,
            "replyToId": parent,
            "etag": id,
            "messageType": "message",
            "createdDateTime": ms_stamp(at),
            "lastModifiedDateTime": ms_stamp(at),
            "lastEditedDateTime": Value::Null,
            "deletedDateTime": Value::Null,
            "subject": Value::Null,
            "summary": Value::Null,
            "chatId": chat_id,
            "importance": "normal",
            "locale": "en-us",
            "webUrl": web_url,
            "policyViolation": Value::Null,
            "eventDetail": Value::Null,
            "from": author.chat_identity(),
            "body": { "contentType": content_type, "content": content },
            "channelIdentity": channel_identity,
            "attachments": [],
            "mentions": [],
            "reactions": [],
            "messageHistory": [],
        });
        self.seq += 1;
        self.posts.push(Post {
            place,
            json,
            created: at,
            changed: self.seq,
        });
        id
    }

    /// Edits a root channel message's text (`content`) or soft-deletes it (`None`), as Teams
    /// does: a deleted message stays, with `deletedDateTime` set and an empty body.
    fn change(
        &mut self,
        place: &Place,
        id: &str,
        content: Option<&str>,
        at: DateTime<Utc>,
    ) -> GraphResult<Value> {
        self.seq += 1;
        let seq = self.seq;
        let post = self
            .posts
            .iter_mut()
            .find(|p| &p.place == place && p.id() == id && p.reply_to().is_none())
            .filter(|p| p.json["deletedDateTime"].is_null())
            .ok_or_else(|| not_found(format!("Message {id} not found.")))?;
        let stamp = ms_stamp(at);
        post.json["lastModifiedDateTime"] = json!(stamp);
        match content {
            Some(text) => {
                post.json["lastEditedDateTime"] = json!(stamp);
                post.json["body"]["content"] = json!(text);
            }
            None => {
                post.json["deletedDateTime"] = json!(stamp);
                post.json["body"]["content"] = json!("");
            }
        }
        post.changed = seq;
        Ok(post.json.clone())
    }

    /// Seeds the chats of `user` on first use: six one-on-one and three group chats.
    pub fn ensure_chats(&mut self, user: &User) {
        if self.seeded_chats.contains(&user.alias) {
            return;
        }
        self.seeded_chats.push(user.alias.clone());
        let me = user.person.unwrap_or(0);
        let anchor = crate::clock::seed_anchor(7);
        let mut groups: Vec<Vec<User>> = (1..=6)
            .filter_map(|k| directory::person((me + k * 7) % PEOPLE))
            .map(|o| vec![user.clone(), o])
            .collect();
        for g in 0..3usize {
            let mut members = vec![user.clone()];
            members.extend(
                (0..3).filter_map(|j| directory::person((me + 50 + g * 19 + j * 3) % PEOPLE)),
            );
            groups.push(members);
        }
        for (k, mut members) in groups.into_iter().enumerate() {
            members.retain(|m| m.person != user.person || m.alias == user.alias);
            members.dedup_by(|a, b| a.alias == b.alias);
            let mut ids: Vec<&str> = members.iter().map(|m| m.id.as_str()).collect();
            ids.sort_unstable();
            let (kind, id, topic) = if members.len() == 2 {
                (
                    "oneOnOne",
                    format!("19:{}@unq.gbl.spaces", ids.join("_")),
                    None,
                )
            } else {
                (
                    "group",
                    format!(
                        "19:{}@thread.v2",
                        &hex::encode(directory::object_id(&ids.join(",")))[..32]
                    ),
                    Some(format!("Deal room {}", k + 1)),
                )
            };
            if self.chats.iter().any(|c| c.id == id) {
                continue;
            }
            let created = anchor - Duration::days(90 + k as i64);
            self.chats.push(Chat {
                id: id.clone(),
                kind,
                topic,
                members: members.clone(),
                created,
            });
            for n in 0..(8 + k * 3) {
                let author = &members[n % members.len()];
                let at = anchor - Duration::minutes(((8 + k * 3 - n) * 97 + k * 5) as i64);
                self.post(
                    Place::Chat(id.clone()),
                    author,
                    LINES[(n + k) % LINES.len()],
                    "text",
                    at,
                    None,
                );
            }
        }
    }

    fn team(&self, id: &str, user: &User) -> GraphResult<&Team> {
        let team = self
            .teams
            .iter()
            .find(|t| t.id == id)
            .ok_or_else(|| not_found(format!("No team found with Group Id {id}")))?;
        if !is_member(team, user) {
            return Err(forbidden());
        }
        Ok(team)
    }

    fn channel(&self, team: &str, channel: &str, user: &User) -> GraphResult<&Channel> {
        self.team(team, user)?;
        self.channels
            .iter()
            .find(|c| c.team == team && c.id == channel)
            .ok_or_else(|| not_found(format!("Channel {channel} not found in team {team}.")))
    }

    fn chat(&self, id: &str, user: &User) -> GraphResult<&Chat> {
        let chat = self
            .chats
            .iter()
            .find(|c| c.id == id)
            .ok_or_else(|| not_found(format!("Chat {id} not found.")))?;
        if !chat.members.iter().any(|m| m.id == user.id) {
            return Err(forbidden());
        }
        Ok(chat)
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn not_found(message: String) -> GraphError {
    GraphError::new(StatusCode::NOT_FOUND, "NotFound", message)
}

fn forbidden() -> GraphError {
    GraphError::new(
        StatusCode::FORBIDDEN,
        "Forbidden",
        "Forbidden: the user is not a member of this team or chat.",
    )
}

/// A page of newest-first items; `$skiptoken` names the last item the previous page ended with.
fn keyset_page(
    mut items: Vec<(DateTime<Utc>, String, Value)>,
    options: &Options,
    context: &str,
    url: &str,
) -> GraphResult<Value> {
    let top = options.top.unwrap_or(20);
    if top > 50 {
        return Err(bad_request(
            "Invalid page size requested. The maximum $top is 50.",
        ));
    }
    items.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| b.1.cmp(&a.1)));
    if let Some(token) = options.get("$skiptoken") {
        let (at, id) = URL_SAFE_NO_PAD
            .decode(token)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.split_once('|').map(|(t, i)| (t.to_owned(), i.to_owned())))
            .and_then(|(t, i)| {
                Some((
                    DateTime::parse_from_rfc3339(&t).ok()?.with_timezone(&Utc),
                    i,
                ))
            })
            .ok_or_else(|| bad_request("The $skiptoken is invalid."))?;
        items.retain(|(t, i, _)| (*t, i.as_str()) < (at, id.as_str()));
    }
    let more = items.len() > top;
    items.truncate(top);
    let mut body = json!({ "@odata.context": context, "@odata.count": items.len() });
    if more && let Some((t, i, _)) = items.last() {
        let token = URL_SAFE_NO_PAD.encode(format!("{}|{i}", t.to_rfc3339()));
        body["@odata.nextLink"] =
            json!(options.link(url, &[("$skiptoken", token)], &["$skiptoken"]));
    }
    body["value"] = Value::Array(
        items
            .into_iter()
            .map(|(_, _, v)| options.project(v))
            .collect(),
    );
    Ok(body)
}

fn url_of(ctx: &Ctx, uri: &axum::http::Uri) -> String {
    format!("{}{}", ctx.state.origin(), uri.path())
}

fn team_json(team: &Team) -> Value {
    json!({
        "id": team.id,
        "createdDateTime": Value::Null,
        "displayName": team.name,
        "description": team.description,
        "internalId": format!("19:{}@thread.tacv2", &hex::encode(&team.id)[..32]),
        "classification": Value::Null,
        "specialization": Value::Null,
        "visibility": "private",
        "webUrl": format!("https://teams.microsoft.com/l/team/{}/conversations?groupId={}&tenantId={TENANT_ID}", urlencode(&format!("19:{}@thread.tacv2", &hex::encode(&team.id)[..32])), team.id),
        "isArchived": false,
        "tenantId": TENANT_ID,
        "isMembershipLimitedToOwners": false,
        "memberSettings": Value::Null,
        "guestSettings": Value::Null,
        "messagingSettings": Value::Null,
        "funSettings": Value::Null,
        "discoverySettings": Value::Null,
        "summary": Value::Null,
    })
}

/// `GET /me/joinedTeams`.
pub async fn joined(State(ctx): State<Ctx>, headers: HeaderMap) -> GraphResult {
    let admitted = admit(&ctx, &headers, Need::JoinedTeams)?;
    let user = directory::by_alias(&admitted.user);
    let tenant = ctx.state.microsoft.teams.lock(TENANT_ID);
    let value: Vec<Value> = tenant
        .teams
        .iter()
        .filter(|t| is_member(t, &user))
        .map(team_json)
        .collect();
    Ok(admitted.json(json!({ "@odata.context": format!("{}/$metadata#teams", graph_base(&ctx)), "@odata.count": value.len(), "value": value })))
}

/// A channel as Graph shows it.
fn channel_json(c: &Channel) -> Value {
    json!({
        "id": c.id,
        "createdDateTime": ms_stamp(c.created),
        "displayName": c.name,
        "description": c.description,
        "isFavoriteByDefault": c.name == "General",
        "email": "",
        "tenantId": TENANT_ID,
        "webUrl": format!("https://teams.microsoft.com/l/channel/{}/{}?groupId={}&tenantId={TENANT_ID}", urlencode(&c.id), urlencode(c.name), c.team),
        "membershipType": "standard",
    })
}

/// `GET /teams/{id}/channels`.
pub async fn channels(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path(team): Path<String>,
) -> GraphResult {
    let admitted = admit(&ctx, &headers, Need::Channels)?;
    let user = directory::by_alias(&admitted.user);
    let tenant = ctx.state.microsoft.teams.lock(TENANT_ID);
    tenant.team(&team, &user)?;
    let value: Vec<Value> = tenant
        .channels
        .iter()
        .filter(|c| c.team == team)
        .map(channel_json)
        .collect();
    Ok(admitted.json(json!({ "@odata.context": format!("{}/$metadata#teams('{team}')/channels", graph_base(&ctx)), "@odata.count": value.len(), "value": value })))
}

/// `GET /teams/{id}/channels/{id}`: one channel, `$select` honoured; an unknown channel is
/// 404 `NotFound`.
pub async fn channel(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path((team, channel)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> GraphResult {
    let admitted = admit(&ctx, &headers, Need::Channels)?;
    let options = Options::parse(query.as_deref(), &[])?;
    let user = directory::by_alias(&admitted.user);
    let tenant = ctx.state.microsoft.teams.lock(TENANT_ID);
    let found = tenant.channel(&team, &channel, &user)?;
    let mut body = options.project(channel_json(found));
    body["@odata.context"] = json!(format!(
        "{}/$metadata#teams('{team}')/channels/$entity",
        graph_base(&ctx)
    ));
    Ok(admitted.json(body))
}

/// Team members' own page sizes (Graph, team-list-members: "The default and maximum page
/// sizes are 100 and 999 objects").
const MEMBERS_DEFAULT_TOP: usize = 100;
const MEMBERS_MAX_TOP: usize = 999;
/// The properties a members `$filter` may name.
const MEMBER_FILTERS: &[&str] = &["userId", "displayName", "email", "roles"];

/// A team member as Graph shows it: an `aadUserConversationMember`; the team's first two
/// members by population order are its owners.
fn member_json(team: &Team, user: &User, owner: bool) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.aadUserConversationMember",
        "id": base64::engine::general_purpose::STANDARD.encode(format!("0##{}##{}", team.id, user.id)),
        "roles": if owner { json!(["owner"]) } else { json!([]) },
        "displayName": user.display_name,
        "visibleHistoryStartDateTime": "0001-01-01T00:00:00Z",
        "userId": user.id,
        "email": user.mail,
        "tenantId": TENANT_ID,
    })
}

/// A members `$filter` as Graph's examples write it — `(microsoft.graph.aadUserConversationMember/userId eq '…')`
/// — with the parentheses and the type cast taken off, so the clause names the property.
fn member_filter(raw: &str) -> String {
    let mut filter = raw.trim();
    while let Some(inner) = filter.strip_prefix('(').and_then(|f| f.strip_suffix(')')) {
        filter = inner.trim();
    }
    filter.replace("microsoft.graph.aadUserConversationMember/", "")
}

/// `GET /teams/{id}/members`: the team's members (`$filter` on `userId`, `displayName`,
/// `email` or `roles/any(r:r eq 'owner')`; `$select`; `$top` 1–999, default 100), paged by
/// `@odata.nextLink` with an opaque `$skiptoken` (`$skip` is refused: only the links Graph
/// returns page this list).
pub async fn members(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path(team): Path<String>,
    OriginalUri(uri): OriginalUri,
    RawQuery(query): RawQuery,
) -> GraphResult {
    let admitted = admit(&ctx, &headers, Need::TeamMembers)?;
    let sent: Vec<(String, String)> =
        url::form_urlencoded::parse(query.as_deref().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let query_without = |dropped: &str| {
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(sent.iter().filter(|(k, _)| k != dropped))
            .finish()
    };
    let mut options = Options::parse(Some(&query_without("$filter")), &[])?;
    options.pairs = sent.clone();
    if let Some(raw) = options.get("$filter").map(member_filter) {
        let only = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("$filter", &raw)
            .finish();
        options.filter = Options::parse(Some(&only), MEMBER_FILTERS)?.filter;
    }
    if options.get("$skip").is_some() {
        return Err(bad_request(
            "The query specified in the URI is not valid. Query option 'Skip' is not allowed.",
        ));
    }
    let top = options.top.unwrap_or(MEMBERS_DEFAULT_TOP);
    if top > MEMBERS_MAX_TOP {
        return Err(bad_request(format!(
            "Invalid page size requested. The maximum $top is {MEMBERS_MAX_TOP}."
        )));
    }
    let start = match options.get("$skiptoken") {
        None => 0,
        Some(token) => URL_SAFE_NO_PAD
            .decode(token)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| {
                s.strip_prefix("members|")
                    .and_then(|n| n.parse::<usize>().ok())
            })
            .ok_or_else(|| bad_request("The $skiptoken is invalid."))?,
    };
    let user = directory::by_alias(&admitted.user);
    let found = ctx
        .state
        .microsoft
        .teams
        .lock(TENANT_ID)
        .team(&team, &user)?
        .clone();
    let members: Vec<Value> = (0..PEOPLE)
        .filter_map(directory::person)
        .filter(|u| is_member(&found, u))
        .enumerate()
        .map(|(n, u)| member_json(&found, &u, n < 2))
        .filter(|m| options.matches(m))
        .collect();
    let total = members.len();
    let value: Vec<Value> = members
        .into_iter()
        .skip(start)
        .take(top)
        .map(|m| options.project(m))
        .collect();
    let mut body = json!({
        "@odata.context": format!("{}/$metadata#teams('{team}')/members", graph_base(&ctx)),
        "@odata.count": value.len(),
        "value": value,
    });
    if start + top < total {
        let token = URL_SAFE_NO_PAD.encode(format!("members|{}", start + top));
        body["@odata.nextLink"] = json!(options.link(
            &url_of(&ctx, &uri),
            &[("$skiptoken", token)],
            &["$skiptoken"]
        ));
    }
    Ok(admitted.json(body))
}

fn entries<'a>(posts: impl Iterator<Item = &'a Post>) -> Vec<(DateTime<Utc>, String, Value)> {
    posts
        .map(|p| (p.created, p.id().to_owned(), p.json.clone()))
        .collect()
}

/// `GET /teams/{id}/channels/{id}/messages`: top-level messages, newest first.
pub async fn channel_messages(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path((team, channel)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
    RawQuery(query): RawQuery,
) -> GraphResult {
    let admitted = admit(&ctx, &headers, Need::ChannelMessagesRead)?;
    let options = Options::parse(query.as_deref(), &[])?;
    let user = directory::by_alias(&admitted.user);
    let tenant = ctx.state.microsoft.teams.lock(TENANT_ID);
    tenant.channel(&team, &channel, &user)?;
    let place = Place::Channel {
        team: team.clone(),
        channel: channel.clone(),
    };
    let mut items = entries(
        tenant
            .posts
            .iter()
            .filter(|p| p.place == place && p.reply_to().is_none()),
    );
    // `$expand=replies`: each message with its replies, as Graph documents for channel messages.
    if options
        .get("$expand")
        .is_some_and(|e| e.split(',').any(|x| x.trim() == "replies"))
    {
        for (_, id, json) in &mut items {
            let replies: Vec<Value> = tenant
                .posts
                .iter()
                .filter(|p| p.place == place && p.reply_to() == Some(id.as_str()))
                .map(|p| p.json.clone())
                .collect();
            json["replies"] = Value::Array(replies);
        }
    }
    let context = format!(
        "{}/$metadata#teams('{team}')/channels('{}')/messages",
        graph_base(&ctx),
        urlencode(&channel)
    );
    Ok(admitted.json(keyset_page(items, &options, &context, &url_of(&ctx, &uri))?))
}

/// `GET /teams/{id}/channels/{id}/messages/{id}`.
pub async fn channel_message(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path((team, channel, message)): Path<(String, String, String)>,
) -> GraphResult {
    let admitted = admit(&ctx, &headers, Need::ChannelMessagesRead)?;
    let user = directory::by_alias(&admitted.user);
    let tenant = ctx.state.microsoft.teams.lock(TENANT_ID);
    tenant.channel(&team, &channel, &user)?;
    let place = Place::Channel {
        team: team.clone(),
        channel: channel.clone(),
    };
    let post = tenant
        .posts
        .iter()
        .find(|p| p.place == place && p.id() == message && p.reply_to().is_none())
        .ok_or_else(|| not_found(format!("Message {message} not found.")))?;
    let mut body = post.json.clone();
    body["@odata.context"] = json!(format!(
        "{}/$metadata#teams('{team}')/channels('{}')/messages/$entity",
        graph_base(&ctx),
        urlencode(&channel)
    ));
    Ok(admitted.json(body))
}

/// `GET /teams/{id}/channels/{id}/messages/{id}/replies`.
pub async fn replies(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path((team, channel, message)): Path<(String, String, String)>,
    OriginalUri(uri): OriginalUri,
    RawQuery(query): RawQuery,
) -> GraphResult {
    let admitted = admit(&ctx, &headers, Need::ChannelMessagesRead)?;
    let options = Options::parse(query.as_deref(), &[])?;
    let user = directory::by_alias(&admitted.user);
    let tenant = ctx.state.microsoft.teams.lock(TENANT_ID);
    tenant.channel(&team, &channel, &user)?;
    let place = Place::Channel {
        team: team.clone(),
        channel: channel.clone(),
    };
    if !tenant
        .posts
        .iter()
        .any(|p| p.place == place && p.id() == message)
    {
        return Err(not_found(format!("Message {message} not found.")));
    }
    let items = entries(
        tenant
            .posts
            .iter()
            .filter(|p| p.place == place && p.reply_to() == Some(message.as_str())),
    );
    let context = format!(
        "{}/$metadata#teams('{team}')/channels('{}')/messages('{message}')/replies",
        graph_base(&ctx),
        urlencode(&channel)
    );
    Ok(admitted.json(keyset_page(items, &options, &context, &url_of(&ctx, &uri))?))
}

/// Reads a new message's body: `{"body":{"contentType":"html|text","content":"..."}}`.
fn new_body(bytes: &[u8]) -> GraphResult<(String, &'static str)> {
    let body = json_body(bytes)?;
    let content = body
        .pointer("/body/content")
        .and_then(Value::as_str)
        .filter(|c| !c.trim().is_empty())
        .ok_or_else(|| bad_request("Missing body content."))?;
    let kind = match body
        .pointer("/body/contentType")
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("html") => "html",
        None | Some("text") => "text",
        Some(other) => return Err(bad_request(format!("Invalid contentType '{other}'."))),
    };
    Ok((content.to_owned(), kind))
}

/// Posts to a place and notifies; the new message's JSON.
fn publish(
    state: &Arc<SandboxState>,
    place: Place,
    author: &User,
    content: &str,
    kind: &str,
    parent: Option<&str>,
) -> Value {
    let now = state.clock.now();
    let mut tenant = state.microsoft.teams.lock(TENANT_ID);
    let id = tenant.post(place.clone(), author, content, kind, now, parent);
    let json = tenant
        .posts
        .last()
        .map(|p| p.json.clone())
        .unwrap_or_default();
    let members: Vec<User> = match &place {
        Place::Chat(chat) => tenant
            .chats
            .iter()
            .find(|c| &c.id == chat)
            .map(|c| c.members.clone())
            .unwrap_or_default(),
        Place::Channel { .. } => Vec::new(),
    };
    drop(tenant);
    let target = match place {
        Place::Channel { team, channel } => Target::ChannelMessage { team, channel },
        Place::Chat(chat) => Target::ChatMessage { chat, members },
    };
    subscriptions::notify(state, author, target, Change::Created, &id);
    json
}

fn created(admitted: &Admitted, ctx: &Ctx, mut json: Value, context: String) -> Response {
    json["@odata.context"] = json!(format!("{}/$metadata#{context}/$entity", graph_base(ctx)));
    admitted.created(json)
}

/// `POST /teams/{id}/channels/{id}/messages`: 201 with the chatMessage.
pub async fn post_channel_message(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path((team, channel)): Path<(String, String)>,
    body: Bytes,
) -> GraphResult {
    let admitted = admit(&ctx, &headers, Need::ChannelMessagesSend)?;
    let (content, kind) = new_body(&body)?;
    let user = directory::by_alias(&admitted.user);
    ctx.state
        .microsoft
        .teams
        .lock(TENANT_ID)
        .channel(&team, &channel, &user)?;
    let json = publish(
        &ctx.state,
        Place::Channel {
            team: team.clone(),
            channel: channel.clone(),
        },
        &user,
        &content,
        kind,
        None,
    );
    Ok(created(
        &admitted,
        &ctx,
        json,
        format!(
            "teams('{team}')/channels('{}')/messages",
            urlencode(&channel)
        ),
    ))
}

/// `POST /teams/{id}/channels/{id}/messages/{id}/replies`: 201 with the reply.
pub async fn post_reply(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path((team, channel, message)): Path<(String, String, String)>,
    body: Bytes,
) -> GraphResult {
    let admitted = admit(&ctx, &headers, Need::ChannelMessagesSend)?;
    let (content, kind) = new_body(&body)?;
    let user = directory::by_alias(&admitted.user);
    {
        let tenant = ctx.state.microsoft.teams.lock(TENANT_ID);
        tenant.channel(&team, &channel, &user)?;
        let place = Place::Channel {
            team: team.clone(),
            channel: channel.clone(),
        };
        if !tenant
            .posts
            .iter()
            .any(|p| p.place == place && p.id() == message && p.reply_to().is_none())
        {
            return Err(not_found(format!("Message {message} not found.")));
        }
    }
    let json = publish(
        &ctx.state,
        Place::Channel {
            team: team.clone(),
            channel: channel.clone(),
        },
        &user,
        &content,
        kind,
        Some(&message),
    );
    Ok(created(
        &admitted,
        &ctx,
        json,
        format!(
            "teams('{team}')/channels('{}')/messages('{message}')/replies",
            urlencode(&channel)
        ),
    ))
}

fn chat_json(chat: &Chat, last: Option<DateTime<Utc>>) -> Value {
    json!({
        "id": chat.id,
        "topic": chat.topic,
        "createdDateTime": ms_stamp(chat.created),
        "lastUpdatedDateTime": ms_stamp(last.unwrap_or(chat.created)),
        "chatType": chat.kind,
        "webUrl": format!("https://teams.microsoft.com/l/chat/{}/0?tenantId={TENANT_ID}", urlencode(&chat.id)),
        "tenantId": TENANT_ID,
        "onlineMeetingInfo": Value::Null,
        "viewpoint": { "isHidden": false, "lastMessageReadDateTime": ms_stamp(chat.created) },
    })
}

/// `GET /me/chats`: the user's chats, most recently active first.
pub async fn chats(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    RawQuery(query): RawQuery,
) -> GraphResult {
    let admitted = admit(&ctx, &headers, Need::ChatsRead)?;
    let options = Options::parse(query.as_deref(), &[])?;
    let user = directory::by_alias(&admitted.user);
    let mut tenant = ctx.state.microsoft.teams.lock(TENANT_ID);
    tenant.ensure_chats(&user);
    let items: Vec<(DateTime<Utc>, String, Value)> = tenant
        .chats
        .iter()
        .filter(|c| c.members.iter().any(|m| m.id == user.id))
        .map(|c| {
            let last = tenant
                .posts
                .iter()
                .filter(|p| p.place == Place::Chat(c.id.clone()))
                .map(|p| p.created)
                .max()
                .unwrap_or(c.created);
            (last, c.id.clone(), chat_json(c, Some(last)))
        })
        .collect();
    let context = format!("{}/$metadata#chats", graph_base(&ctx));
    Ok(admitted.json(keyset_page(items, &options, &context, &url_of(&ctx, &uri))?))
}

/// `GET /chats/{id}/messages`.
pub async fn chat_messages(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path(chat): Path<String>,
    OriginalUri(uri): OriginalUri,
    RawQuery(query): RawQuery,
) -> GraphResult {
    let admitted = admit(&ctx, &headers, Need::ChatMessagesRead)?;
    let options = Options::parse(query.as_deref(), &[])?;
    let user = directory::by_alias(&admitted.user);
    let mut tenant = ctx.state.microsoft.teams.lock(TENANT_ID);
    tenant.ensure_chats(&user);
    tenant.chat(&chat, &user)?;
    let items = entries(
        tenant
            .posts
            .iter()
            .filter(|p| p.place == Place::Chat(chat.clone())),
    );
    let context = format!(
        "{}/$metadata#chats('{}')/messages",
        graph_base(&ctx),
        urlencode(&chat)
    );
    Ok(admitted.json(keyset_page(items, &options, &context, &url_of(&ctx, &uri))?))
}

/// `POST /chats/{id}/messages`: 201 with the chatMessage.
pub async fn post_chat_message(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path(chat): Path<String>,
    body: Bytes,
) -> GraphResult {
    let admitted = admit(&ctx, &headers, Need::ChatMessagesSend)?;
    let (content, kind) = new_body(&body)?;
    let user = directory::by_alias(&admitted.user);
    {
        let mut tenant = ctx.state.microsoft.teams.lock(TENANT_ID);
        tenant.ensure_chats(&user);
        tenant.chat(&chat, &user)?;
    }
    let json = publish(
        &ctx.state,
        Place::Chat(chat.clone()),
        &user,
        &content,
        kind,
        None,
    );
    Ok(created(
        &admitted,
        &ctx,
        json,
        format!("chats('{}')/messages", urlencode(&chat)),
    ))
}

/// `POST /_sandbox/records` for `chatMessage` (`fields`: `chatId`, default the user's first
/// chat; `content`; `from`, an address, default another member) and `channelMessage`
/// (`teamId`, `channelId`, `content`, `from`): a message written in Teams itself. `create`;
/// a `channelMessage` also takes `update` (its `content` edited) and `delete` (soft, as Teams
/// deletes) of the root message `id`.
pub fn change_record(
    state: &Arc<SandboxState>,
    user: &str,
    object: &str,
    op: &str,
    id: Option<&str>,
    fields: &Value,
) -> GraphResult {
    let me = directory::by_alias(user);
    match (object, op) {
        (_, "create") => {}
        ("channelMessage", "update" | "delete") => {
            return change_channel_message(state, &me, op, id, fields);
        }
        _ => {
            return Err(bad_request(
                "Teams messages take op create; channel messages update and delete too",
            ));
        }
    }
    let content = fields
        .get("content")
        .and_then(Value::as_str)
        .unwrap_or("Hello from the sandbox");
    let from = fields
        .get("from")
        .and_then(Value::as_str)
        .and_then(directory::by_address);
    let place = {
        let mut tenant = state.microsoft.teams.lock(TENANT_ID);
        if object == "chatMessage" {
            tenant.ensure_chats(&me);
            let chat = match fields.get("chatId").and_then(Value::as_str) {
                Some(id) => tenant.chat(id, &me)?.clone(),
                None => tenant
                    .chats
                    .iter()
                    .find(|c| c.members.iter().any(|m| m.id == me.id))
                    .cloned()
                    .ok_or_else(|| bad_request("the user has no chats"))?,
            };
            let author = from.unwrap_or_else(|| {
                chat.members
                    .iter()
                    .find(|m| m.id != me.id)
                    .cloned()
                    .unwrap_or_else(|| me.clone())
            });
            (Place::Chat(chat.id), author)
        } else {
            let (Some(team), Some(channel)) = (
                fields.get("teamId").and_then(Value::as_str),
                fields.get("channelId").and_then(Value::as_str),
            ) else {
                return Err(bad_request("channelMessage needs teamId and channelId"));
            };
            tenant.channel(team, channel, &me)?;
            (
                Place::Channel {
                    team: team.to_owned(),
                    channel: channel.to_owned(),
                },
                from.unwrap_or_else(|| me.clone()),
            )
        }
    };
    let json = publish(state, place.0, &place.1, content, "text", None);
    Ok((StatusCode::CREATED, axum::Json(json)).into_response())
}

/// Edits or soft-deletes a root channel message, as its author would in Teams.
fn change_channel_message(
    state: &Arc<SandboxState>,
    me: &User,
    op: &str,
    id: Option<&str>,
    fields: &Value,
) -> GraphResult {
    let (Some(team), Some(channel), Some(id)) = (
        fields.get("teamId").and_then(Value::as_str),
        fields.get("channelId").and_then(Value::as_str),
        id,
    ) else {
        return Err(bad_request(
            "updating a channelMessage needs its id, teamId and channelId",
        ));
    };
    let content = match op {
        "update" => Some(
            fields
                .get("content")
                .and_then(Value::as_str)
                .ok_or_else(|| bad_request("update needs fields.content"))?,
        ),
        _ => None,
    };
    let now = state.clock.now();
    let mut tenant = state.microsoft.teams.lock(TENANT_ID);
    tenant.channel(team, channel, me)?;
    let place = Place::Channel {
        team: team.to_owned(),
        channel: channel.to_owned(),
    };
    let json = tenant.change(&place, id, content, now)?;
    drop(tenant);
    let change = if content.is_some() {
        Change::Updated
    } else {
        Change::Deleted
    };
    let target = Target::ChannelMessage {
        team: team.to_owned(),
        channel: channel.to_owned(),
    };
    subscriptions::notify(state, me, target, change, id);
    Ok(axum::Json(json).into_response())
}

/// `GET /teams/{id}/channels/{id}/messages/delta`: the channel's root messages (no replies) in
/// the order they last changed. Without a token, every message, paged with `$skiptoken`, ending
/// in an `@odata.deltaLink`; its `$deltatoken` then returns only the messages posted, edited or
/// deleted since (a deleted message comes back with `deletedDateTime` set: Teams deletes
/// softly, and this delta carries no `@removed`). `$top` up to 50 (default 20). A token the
/// sandbox did not issue is 410 `SyncStateNotFound`.
pub async fn channel_messages_delta(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path((team, channel)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
    RawQuery(query): RawQuery,
) -> GraphResult {
    let admitted = admit(&ctx, &headers, Need::ChannelMessagesRead)?;
    let options = Options::parse(query.as_deref(), &[])?;
    let size = options.top.unwrap_or(20);
    if size > 50 {
        return Err(bad_request(
            "Invalid page size requested. The maximum $top is 50.",
        ));
    }
    let user = directory::by_alias(&admitted.user);
    let tenant = ctx.state.microsoft.teams.lock(TENANT_ID);
    tenant.channel(&team, &channel, &user)?;
    let state = DeltaState::from_options(&options, tenant.seq)?;
    let place = Place::Channel {
        team: team.clone(),
        channel: channel.clone(),
    };
    let mut changes: Vec<(u64, Value)> = tenant
        .posts
        .iter()
        .filter(|p| p.place == place && p.reply_to().is_none())
        .filter(|p| p.changed > state.since && p.changed <= state.high)
        .map(|p| (p.changed, p.json.clone()))
        .collect();
    drop(tenant);
    changes.sort_by_key(|(seq, _)| *seq);
    let context = format!("{}/$metadata#Collection(chatMessage)", graph_base(&ctx));
    Ok(admitted.json(state.page(
        changes.into_iter().map(|(_, v)| v).collect(),
        size,
        &options,
        &url_of(&ctx, &uri),
        &context,
    )))
}
