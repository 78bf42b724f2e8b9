//! Outlook mail: each user's mailbox (inbox, sent items, drafts), seeded on first use with mail
//! from and to population people over the last 60 days.
//!
//! - `GET /me/messages` (every folder) and `GET /me/mailFolders/{inbox|sentitems|drafts|id}/messages`
//!   (or `mailFolders('inbox')`, answered through the router's fallback):
//!   10 per page by default, newest first, with `$top $skip $select $filter $search $orderby $count`
//!   (`$search` with neither `$filter` nor `$orderby`, as at Graph)
//!   (see `odata`; `$filter` on `from/emailAddress/address`, `receivedDateTime`, `sentDateTime`,
//!   `isRead`, `subject`, `importance`, `hasAttachments`, `conversationId`, `internetMessageId`,
//!   `isDraft`, and `categories/any(c:c eq '…')`).
//! - `GET /me/messages/{id}`, `DELETE /me/messages/{id}` (204), `PATCH /me/messages/{id}` (`isRead`, `categories`, `flag`,
//!   `importance`, `inferenceClassification`; on a draft also `subject`, `body`, recipients and
//!   `internetMessageId`, which on a sent item is 400 `ErrorInvalidPropertyUpdateSentMessage`;
//!   read-only properties are 400).
//! - `POST /me/messages/{id}/reply` → 202, no body: to the sender, `RE:` the subject, in its
//!   conversation. `POST /me/messages/{id}/createReply` → 201, the same reply as a draft, to be
//!   changed (PATCH) and sent (`send`); an unknown message is 404 `ErrorItemNotFound`.
//! - `POST /me/messages` → 201, a draft in Drafts (`isDraft: true`) with the given `subject`,
//!   `body`, recipients, `importance`, `categories` and `internetMessageId` (settable while the
//!   message is a draft; an RFC 5322 msg-id, `<left@right>`, else 400); another property is 400
//!   `RequestBodyRead`. `POST /me/messages/{id}/send` → 202, no body: the draft goes out (its
//!   recipients checked then) and leaves Drafts; the sent copy, with a new id, is in Sent Items
//!   and keeps the `internetMessageId`, as each tenant recipient's inbox copy does. A message
//!   that is no draft cannot be sent again (400 `ErrorInvalidRequest`).
//! - `POST /me/sendMail` → 202, no body. The sender's copy goes to sent items (unless
//!   `saveToSentItems` is false); a recipient who is a user of the tenant (any population person)
//!   finds it in their inbox.
//! - `GET /me/mailFolders/{id}/messages/delta`: pages with `$skiptoken`, then an
//!   `@odata.deltaLink` whose `$deltatoken` returns only what changed since (`@removed` for
//!   deleted messages). Page size: `$top` or `Prefer: odata.maxpagesize=N` (default 10). A token
//!   the sandbox did not issue is 410 `SyncStateNotFound`.
//!
//! Ids are Outlook-shaped (`AAMkAG…`, URL-safe Base64); anything else is 400 `ErrorInvalidIdMalformed`.

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::{OriginalUri, Path, RawQuery, State},
    http::{HeaderMap, HeaderValue, StatusCode},
    response::IntoResponse,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use super::{
    Admitted, Ctx, Need, SandboxState, admit, calendar,
    directory::{self, User},
    error::{self, GraphError, GraphResult},
    graph_base, json_body,
    odata::Options,
    subscriptions::{self, Change, Target},
};
use crate::population::{PEOPLE, population};

const FILTERABLE: &[&str] = &[
    "from/emailAddress/address",
    "sender/emailAddress/address",
    "receivedDateTime",
    "sentDateTime",
    "isRead",
    "subject",
    "importance",
    "hasAttachments",
    "conversationId",
    "categories",
    "internetMessageId",
    "isDraft",
];

const SUBJECTS: &[&str] = &[
    "Quarterly business review",
    "Re: Pricing proposal",
    "Contract renewal",
    "Intro call next week?",
    "Follow-up on the demo",
    "Budget approval for Q3",
    "Security questionnaire",
    "Invoice 2024-117",
    "Onboarding plan",
    "Re: Pilot results",
    "Lunch on Thursday",
    "Partnership opportunity",
];

/// One stored message: its Graph representation, folder and when it last changed.
#[derive(Debug, Clone)]
pub struct Message {
    pub json: Value,
    pub folder: &'static str,
    pub changed: u64,
}

/// A user's mailbox and calendar.
#[derive(Debug)]
pub struct Mailbox {
    pub user: User,
    pub messages: Vec<Message>,
    /// Deleted messages: id, folder, sequence number.
    pub removed: Vec<(String, &'static str, u64)>,
    pub events: Vec<calendar::Event>,
    /// Deleted events: id, sequence number.
    pub removed_events: Vec<(String, u64)>,
    /// The change counter delta tokens are made of.
    pub seq: u64,
    next_id: u64,
}

/// The time format of mail properties (`2024-05-01T12:00:00Z`).
pub fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Well-known folder names and the folders the sandbox keeps.
const FOLDERS: &[(&str, &str)] = &[
    ("inbox", "Inbox"),
    ("sentitems", "Sent Items"),
    ("drafts", "Drafts"),
    ("deleteditems", "Deleted Items"),
];

/// Whether an id looks like an Outlook id at all.
pub fn well_formed(id: &str) -> bool {
    id.strip_prefix("AAMkAG").is_some_and(|rest| {
        !rest.is_empty() && URL_SAFE_NO_PAD.decode(rest.trim_end_matches('=')).is_ok()
    })
}

impl Mailbox {
    /// A new Outlook id for one of this mailbox's items.
    pub fn new_id(&mut self, kind: &str) -> String {
        self.next_id += 1;
        outlook_id(&self.user.alias, kind, self.next_id)
    }

    pub fn bump(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    pub fn folder_id(&self, folder: &str) -> String {
        outlook_id(&self.user.alias, &format!("folder-{folder}"), 0)
    }

    /// A folder by well-known name or id.
    fn folder(&self, key: &str) -> Option<&'static str> {
        FOLDERS
            .iter()
            .map(|(name, _)| *name)
            .find(|name| name.eq_ignore_ascii_case(key) || self.folder_id(name) == key)
    }

    /// Seeds a mailbox: 60 received and 20 sent messages, and the calendar.
    pub fn seeded(alias: &str) -> Self {
        let user = directory::by_alias(alias);
        let anchor = crate::clock::seed_anchor(8);
        let mut mailbox = Mailbox {
            user: user.clone(),
            messages: Vec::new(),
            removed: Vec::new(),
            events: Vec::new(),
            removed_events: Vec::new(),
            seq: 0,
            next_id: 0,
        };
        let me = user.person.unwrap_or(0);
        let people = population();
        for k in 0..80usize {
            let other = (me * 37 + 1 + k * 13) % PEOPLE;
            let Some(correspondent) = directory::person(if other == me {
                (other + 1) % PEOPLE
            } else {
                other
            }) else {
                continue;
            };
            let received = anchor - Duration::minutes((k as i64) * 731 + 17);
            let subject = SUBJECTS[k % SUBJECTS.len()];
            let company =
                &people.companies[people.people[correspondent.person.unwrap_or(0)].company];
            let (from, to, folder) = if k % 4 == 3 {
                (&user, &correspondent, "sentitems")
            } else {
                (&correspondent, &user, "inbox")
            };
            let body = format!(
                "<html><body><p>Hi {},</p><p>{} — following up for {}.</p><p>Best,<br>{}</p></body></html>",
                to.given_name, subject, company.name, from.display_name
            );
            let mut message = mailbox.compose(
                from,
                &[to.recipient()],
                &[],
                subject,
                "html",
                &body,
                received,
                folder,
            );
            message.json["isRead"] = json!(folder == "sentitems" || k % 3 != 0);
            if k % 5 == 0 {
                message.json["categories"] = json!(["Customer"]);
            }
            if k % 7 == 0 {
                message.json["importance"] = json!("high");
            }
            mailbox.messages.push(message);
        }
        mailbox.events = calendar::seed(&mut mailbox, anchor);
        mailbox
    }

    /// A message as Graph shows it, filed in `folder` (not yet stored).
    #[allow(clippy::too_many_arguments)]
    pub fn compose(
        &mut self,
        from: &User,
        to: &[Value],
        cc: &[Value],
        subject: &str,
        content_type: &str,
        content: &str,
        at: DateTime<Utc>,
        folder: &'static str,
    ) -> Message {
        let id = self.new_id("message");
        let changed = self.bump();
        let preview: String = strip_html(content).chars().take(255).collect();
        let change_key = format!("CQAAABYAAAD{changed:08}");
        let json = json!({
            "@odata.etag": format!("W/\"{change_key}\""),
            "id": id,
            "createdDateTime": stamp(at),
            "lastModifiedDateTime": stamp(at),
            "changeKey": change_key,
            "categories": [],
            "receivedDateTime": stamp(at),
            "sentDateTime": stamp(at),
            "hasAttachments": false,
            "internetMessageId": format!("<{}@{}>", &id[6..id.len().min(26)], from.mail.split('@').nth(1).unwrap_or("sandbox")),
            "subject": subject,
            "bodyPreview": preview,
            "importance": "normal",
            "parentFolderId": self.folder_id(folder),
            "conversationId": outlook_id("conversation", thread_subject(subject), 0),
            "isDeliveryReceiptRequested": false,
            "isReadReceiptRequested": false,
            "isRead": false,
            "isDraft": false,
            "webLink": format!("https://outlook.office365.com/owa/?ItemID={id}&exvsurl=1&viewmodel=ReadMessageItem"),
            "inferenceClassification": "focused",
            "body": { "contentType": content_type, "content": content },
            "sender": from.recipient(),
            "from": from.recipient(),
            "toRecipients": to,
            "ccRecipients": cc,
            "bccRecipients": [],
            "replyTo": [],
            "flag": { "flagStatus": "notFlagged" },
        });
        Message {
            json,
            folder,
            changed,
        }
    }

    fn find(&self, id: &str) -> Result<usize, GraphError> {
        if !well_formed(id) {
            return Err(error::malformed_id());
        }
        self.messages
            .iter()
            .position(|m| m.json["id"] == id)
            .ok_or_else(error::item_not_found)
    }

    /// Marks a message changed now.
    fn touch(&mut self, index: usize, now: DateTime<Utc>) {
        let changed = self.bump();
        let change_key = format!("CQAAABYAAAD{changed:08}");
        let message = &mut self.messages[index];
        message.changed = changed;
        message.json["lastModifiedDateTime"] = json!(stamp(now));
        message.json["@odata.etag"] = json!(format!("W/\"{change_key}\""));
        message.json["changeKey"] = json!(change_key);
    }
}

/// The subject a conversation is known by: without its `Re:` / `RE:` prefixes.
fn thread_subject(subject: &str) -> &str {
    let mut s = subject.trim();
    while s.len() >= 3 && s[..3].eq_ignore_ascii_case("re:") {
        s = s[3..].trim_start();
    }
    s
}

/// An Outlook-shaped id: `AAMkAG` + URL-safe Base64 of what it names.
pub fn outlook_id(owner: &str, kind: &str, n: u64) -> String {
    format!(
        "AAMkAG{}",
        URL_SAFE_NO_PAD.encode(format!("{owner}/{kind}/{n:06}"))
    )
}

fn strip_html(s: &str) -> String {
    let mut out = String::new();
    let mut tag = false;
    for c in s.chars() {
        match c {
            '<' => tag = true,
            '>' => {
                tag = false;
                out.push(' ');
            }
            c if !tag => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn context(ctx: &Ctx, user: &User, options: &Options) -> String {
    let select = if options.select.is_empty() {
        String::new()
    } else {
        format!("({})", options.select.join(","))
    };
    format!(
        "{}/$metadata#users('{}')/messages{select}",
        graph_base(ctx),
        user.id
    )
}

fn list_in(
    ctx: &Ctx,
    admitted: &Admitted,
    folder: Option<&str>,
    query: Option<&str>,
    uri: &str,
) -> GraphResult {
    let options = Options::parse(query, FILTERABLE)?;
    if !options.search.is_empty() && !options.filter.is_empty() {
        // Outlook's message lists do not combine the two.
        return Err(error::bad_request(
            "The query parameter '$filter' is not supported with '$search'.",
        ));
    }
    let mailbox = ctx.state.microsoft.mailboxes.lock(&admitted.user);
    let folder = match folder {
        Some(key) => Some(mailbox.folder(key).ok_or_else(error::item_not_found)?),
        None => None,
    };
    let mut items: Vec<Value> = mailbox
        .messages
        .iter()
        .filter(|m| folder.is_none_or(|f| m.folder == f))
        .map(|m| m.json.clone())
        .filter(|m| options.matches(m))
        .collect();
    options.sort(&mut items, ("receivedDateTime", true))?;
    let body = options.page(
        items,
        10,
        &context(ctx, &mailbox.user, &options),
        &format!("{}{uri}", ctx.state.origin()),
    );
    Ok(admitted.json(body))
}

/// `GET /me/messages`.
pub async fn list(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    RawQuery(query): RawQuery,
) -> GraphResult {
    let admitted = admit(&ctx, &headers, Need::MailRead)?;
    list_in(&ctx, &admitted, None, query.as_deref(), uri.path())
}

/// `GET /me/mailFolders/{folder}/messages`.
pub async fn list_folder(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path(folder): Path<String>,
    OriginalUri(uri): OriginalUri,
    RawQuery(query): RawQuery,
) -> GraphResult {
    let admitted = admit(&ctx, &headers, Need::MailRead)?;
    list_in(&ctx, &admitted, Some(&folder), query.as_deref(), uri.path())
}

/// `GET /me/mailFolders`.
pub async fn folders(State(ctx): State<Ctx>, headers: HeaderMap) -> GraphResult {
    let admitted = admit(&ctx, &headers, Need::MailRead)?;
    let mailbox = ctx.state.microsoft.mailboxes.lock(&admitted.user);
    let root = mailbox.folder_id("root");
    let value: Vec<Value> = FOLDERS
        .iter()
        .map(|(name, display)| {
            let in_folder = mailbox.messages.iter().filter(|m| m.folder == *name);
            json!({
                "id": mailbox.folder_id(name),
                "displayName": display,
                "parentFolderId": root,
                "childFolderCount": 0,
                "unreadItemCount": in_folder.clone().filter(|m| m.json["isRead"] == false).count(),
                "totalItemCount": in_folder.count(),
                "isHidden": false,
            })
        })
        .collect();
    Ok(admitted.json(json!({
        "@odata.context": format!("{}/$metadata#users('{}')/mailFolders", graph_base(&ctx), mailbox.user.id),
        "value": value,
    })))
}

/// `GET /me/messages/{id}`.
pub async fn get(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> GraphResult {
    let admitted = admit(&ctx, &headers, Need::MailRead)?;
    let options = Options::parse(query.as_deref(), FILTERABLE)?;
    let mailbox = ctx.state.microsoft.mailboxes.lock(&admitted.user);
    let index = mailbox.find(&id)?;
    let mut body = options.project(mailbox.messages[index].json.clone());
    body["@odata.context"] = json!(format!(
        "{}/$entity",
        context(&ctx, &mailbox.user, &options)
    ));
    Ok(admitted.json(body))
}

/// Applies a PATCH body's properties to a message.
fn apply_patch(message: &mut Value, patch: &Value) -> GraphResult<()> {
    let Some(fields) = patch.as_object() else {
        return Err(error::bad_request(
            "The request body must be a JSON object.",
        ));
    };
    for (key, value) in fields {
        let ok = match key.as_str() {
            "isRead" => value.is_boolean(),
            "categories" => value
                .as_array()
                .is_some_and(|a| a.iter().all(Value::is_string)),
            "flag" => value
                .get("flagStatus")
                .and_then(Value::as_str)
                .is_some_and(|s| ["notFlagged", "flagged", "complete"].contains(&s)),
            "importance" => value
                .as_str()
                .is_some_and(|s| ["low", "normal", "high"].contains(&s)),
            "inferenceClassification" => value
                .as_str()
                .is_some_and(|s| ["focused", "other"].contains(&s)),
            "subject" | "body" if message["isDraft"] == true => true,
            "toRecipients" | "ccRecipients" | "bccRecipients" if message["isDraft"] == true => {
                recipients(patch, key)?;
                true
            }
            // Settable only while the message is a draft (Graph refuses it on a sent item).
            "internetMessageId" if message["isDraft"] != true => {
                return Err(GraphError::new(
                    StatusCode::BAD_REQUEST,
                    "ErrorInvalidPropertyUpdateSentMessage",
                    "Update is not allowed for this type of item.",
                ));
            }
            "internetMessageId" => {
                if !value.as_str().is_some_and(msg_id) {
                    return Err(malformed_message_id());
                }
                true
            }
            _ => {
                return Err(GraphError::new(
                    StatusCode::BAD_REQUEST,
                    "ErrorInvalidPropertyRequest",
                    format!("The property '{key}' is read-only and cannot be set."),
                ));
            }
        };
        if !ok {
            return Err(error::bad_request(format!(
                "Invalid value for property '{key}'."
            )));
        }
        message[key.as_str()] = value.clone();
    }
    Ok(())
}

fn update_message(
    state: &Arc<SandboxState>,
    user: &str,
    id: &str,
    patch: &Value,
) -> GraphResult<Value> {
    let now = state.clock.now();
    let mut mailbox = state.microsoft.mailboxes.lock(user);
    let index = mailbox.find(id)?;
    let mut updated = mailbox.messages[index].json.clone();
    apply_patch(&mut updated, patch)?;
    mailbox.messages[index].json = updated;
    mailbox.touch(index, now);
    let message = mailbox.messages[index].clone();
    let owner = mailbox.user.clone();
    drop(mailbox);
    subscriptions::notify(
        state,
        &owner,
        Target::Message {
            folder: message.folder,
        },
        Change::Updated,
        id,
    );
    Ok(message.json)
}

/// `PATCH /me/messages/{id}`: 200 with the message.
pub async fn update(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> GraphResult {
    let admitted = admit(&ctx, &headers, Need::MailWrite)?;
    let patch = json_body(&body)?;
    let message = update_message(&ctx.state, &admitted.user, &id, &patch)?;
    Ok(admitted.json(message))
}

fn recipients(message: &Value, key: &str) -> GraphResult<Vec<Value>> {
    let Some(list) = message.get(key) else {
        return Ok(Vec::new());
    };
    let list = list
        .as_array()
        .ok_or_else(|| error::bad_request(format!("'{key}' must be an array of recipients.")))?;
    list.iter()
        .map(|r| {
            let address = r
                .pointer("/emailAddress/address")
                .and_then(Value::as_str)
                .filter(|a| a.contains('@'))
                .ok_or_else(|| {
                    GraphError::new(
                        StatusCode::BAD_REQUEST,
                        "ErrorInvalidRecipients",
                        "At least one recipient isn't valid., A message can't be sent because it contains no recipients.",
                    )
                })?;
            let name = r.pointer("/emailAddress/name").and_then(Value::as_str).unwrap_or(address);
            Ok(json!({ "emailAddress": { "name": name, "address": address } }))
        })
        .collect()
}

/// Sends a message as `sender` (an alias): the sent copy and every tenant recipient's inbox copy,
/// in the conversation its subject names unless it is a draft that already has one (a reply
/// made with `createReply` stays in the original's).
fn deliver(
    state: &Arc<SandboxState>,
    sender: &str,
    message: &Value,
    save: bool,
) -> GraphResult<()> {
    let conversation = message
        .get("conversationId")
        .filter(|_| message["isDraft"] == true)
        .cloned();
    let to = recipients(message, "toRecipients")?;
    let cc = recipients(message, "ccRecipients")?;
    let bcc = recipients(message, "bccRecipients")?;
    if to.is_empty() && cc.is_empty() && bcc.is_empty() {
        return Err(GraphError::new(
            StatusCode::BAD_REQUEST,
            "ErrorInvalidRecipients",
            "At least one recipient isn't valid., A message can't be sent because it contains no recipients.",
        ));
    }
    let subject = message
        .get("subject")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let content_type = match message
        .pointer("/body/contentType")
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("html") => "html",
        _ => "text",
    };
    let content = message
        .pointer("/body/content")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let now = state.clock.now();
    let from = directory::by_alias(sender);
    let internet_id = message.get("internetMessageId").and_then(Value::as_str);
    if save {
        let mut mailbox = state.microsoft.mailboxes.lock(sender);
        let mut sent = mailbox.compose(
            &from,
            &to,
            &cc,
            subject,
            content_type,
            content,
            now,
            "sentitems",
        );
        sent.json["isRead"] = json!(true);
        sent.json["bccRecipients"] = json!(bcc);
        if let Some(id) = internet_id {
            sent.json["internetMessageId"] = json!(id);
        }
        if let Some(conversation) = &conversation {
            sent.json["conversationId"] = conversation.clone();
        }
        let id = sent.json["id"].as_str().unwrap_or_default().to_owned();
        mailbox.messages.push(sent);
        drop(mailbox);
        subscriptions::notify(
            state,
            &from,
            Target::Message {
                folder: "sentitems",
            },
            Change::Created,
            &id,
        );
    }
    let mut delivered: Vec<String> = Vec::new();
    for r in to.iter().chain(&cc).chain(&bcc) {
        let address = r
            .pointer("/emailAddress/address")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let Some(recipient) = directory::by_address(address) else {
            continue;
        };
        if delivered.contains(&recipient.alias) {
            continue;
        }
        delivered.push(recipient.alias.clone());
        let mut mailbox = state.microsoft.mailboxes.lock(&recipient.alias);
        let mut copy = mailbox.compose(
            &from,
            &to,
            &cc,
            subject,
            content_type,
            content,
            now,
            "inbox",
        );
        if let Some(id) = internet_id {
            copy.json["internetMessageId"] = json!(id);
        }
        if let Some(conversation) = &conversation {
            copy.json["conversationId"] = conversation.clone();
        }
        let id = copy.json["id"].as_str().unwrap_or_default().to_owned();
        mailbox.messages.push(copy);
        drop(mailbox);
        subscriptions::notify(
            state,
            &recipient,
            Target::Message { folder: "inbox" },
            Change::Created,
            &id,
        );
    }
    Ok(())
}

/// `POST /me/sendMail`: 202 Accepted, no body.
pub async fn send(State(ctx): State<Ctx>, headers: HeaderMap, body: Bytes) -> GraphResult {
    let admitted = admit(&ctx, &headers, Need::MailSend)?;
    let request = json_body(&body)?;
    let message = request
        .get("message")
        .filter(|m| m.is_object())
        .ok_or_else(|| error::bad_request("Empty Payload. JSON content expected."))?;
    let save = match request.get("saveToSentItems") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => true,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => false,
        Some(_) => return Err(error::bad_request("Invalid value for 'saveToSentItems'.")),
    };
    deliver(&ctx.state, &admitted.user, message, save)?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// Whether `id` is an RFC 5322 msg-id: `<id-left@id-right>`, printable ASCII, no spaces.
fn msg_id(id: &str) -> bool {
    id.strip_prefix('<')
        .and_then(|rest| rest.strip_suffix('>'))
        .and_then(|inner| inner.split_once('@'))
        .is_some_and(|(left, right)| {
            let part = |p: &str| {
                !p.is_empty()
                    && p.chars()
                        .all(|c| c.is_ascii_graphic() && !"<>@\\\"()[],;:".contains(c))
            };
            part(left) && part(right)
        })
}

/// The refusal of an `internetMessageId` that is no RFC 5322 msg-id.
fn malformed_message_id() -> GraphError {
    error::bad_request(
        "Invalid value for property 'internetMessageId': it must be an RFC 5322 message id (<left@right>).",
    )
}

/// The properties a new message may be created with.
const CREATABLE: &[&str] = &[
    "subject",
    "body",
    "toRecipients",
    "ccRecipients",
    "bccRecipients",
    "importance",
    "categories",
    "internetMessageId",
];

/// `POST /me/messages`: 201 with the new draft.
pub async fn create(State(ctx): State<Ctx>, headers: HeaderMap, body: Bytes) -> GraphResult {
    let admitted = admit(&ctx, &headers, Need::MailWrite)?;
    let request = json_body(&body)?;
    let Some(fields) = request.as_object() else {
        return Err(error::bad_request(
            "The request body must be a JSON object.",
        ));
    };
    if let Some(key) = fields.keys().find(|k| !CREATABLE.contains(&k.as_str())) {
        return Err(GraphError::new(
            StatusCode::BAD_REQUEST,
            "RequestBodyRead",
            format!(
                "The property '{key}' does not exist on type 'microsoft.graph.message'. Make sure to only use property names that are defined by the type or mark the type as open type."
            ),
        ));
    }
    let internet_id = match request.get("internetMessageId") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) if msg_id(id) => Some(id.clone()),
        Some(_) => return Err(malformed_message_id()),
    };
    let list = |key: &str| -> GraphResult<Vec<Value>> {
        match request.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) if items.is_empty() => Ok(Vec::new()),
            Some(_) => recipients(&request, key),
        }
    };
    let (to, cc, bcc) = (
        list("toRecipients")?,
        list("ccRecipients")?,
        list("bccRecipients")?,
    );
    let subject = request["subject"].as_str().unwrap_or_default();
    let content_type = match request
        .pointer("/body/contentType")
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("html") => "html",
        _ => "text",
    };
    let content = request
        .pointer("/body/content")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let now = ctx.state.clock.now();
    let from = directory::by_alias(&admitted.user);
    let mut mailbox = ctx.state.microsoft.mailboxes.lock(&admitted.user);
    let mut draft = mailbox.compose(
        &from,
        &to,
        &cc,
        subject,
        content_type,
        content,
        now,
        "drafts",
    );
    draft.json["isDraft"] = json!(true);
    draft.json["isRead"] = json!(true);
    draft.json["bccRecipients"] = json!(bcc);
    if let Some(id) = internet_id {
        draft.json["internetMessageId"] = json!(id);
    }
    for key in ["importance", "categories"] {
        if let Some(value) = request.get(key) {
            apply_patch(&mut draft.json, &json!({ key: value }))?;
        }
    }
    let json = draft.json.clone();
    let id = json["id"].as_str().unwrap_or_default().to_owned();
    mailbox.messages.push(draft);
    let owner = mailbox.user.clone();
    drop(mailbox);
    subscriptions::notify(
        &ctx.state,
        &owner,
        Target::Message { folder: "drafts" },
        Change::Created,
        &id,
    );
    Ok(admitted.created(json))
}

/// `POST /me/messages/{id}/send`: 202, no body. The draft goes out and leaves Drafts.
pub async fn send_draft(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> GraphResult {
    let admitted = admit(&ctx, &headers, Need::MailSend)?;
    let draft = {
        let mailbox = ctx.state.microsoft.mailboxes.lock(&admitted.user);
        let index = mailbox.find(&id)?;
        mailbox.messages[index].json.clone()
    };
    if draft["isDraft"] != true {
        return Err(GraphError::new(
            StatusCode::BAD_REQUEST,
            "ErrorInvalidRequest",
            "Only a draft message can be sent.",
        ));
    }
    deliver(&ctx.state, &admitted.user, &draft, true)?;
    delete_message(&ctx.state, &admitted.user, &id)?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// `POST /me/messages/{id}/reply`: `{"message"?: {...}, "comment"?: "..."}` → 202, no body. The
/// reply goes to the message's sender unless the message names recipients, with the subject
/// `RE: <original>` in the original's conversation; the comment is its body when the message
/// has none.
pub async fn reply(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> GraphResult {
    let admitted = admit(&ctx, &headers, Need::MailSend)?;
    let request = if body.is_empty() {
        json!({})
    } else {
        json_body(&body)?
    };
    let original = {
        let mailbox = ctx.state.microsoft.mailboxes.lock(&admitted.user);
        let index = mailbox.find(&id)?;
        mailbox.messages[index].json.clone()
    };
    let mut message = match request.get("message") {
        Some(m) if m.is_object() => m.clone(),
        None | Some(Value::Null) => json!({}),
        Some(_) => return Err(error::bad_request("'message' must be an object.")),
    };
    let named = message
        .get("toRecipients")
        .and_then(Value::as_array)
        .is_some_and(|to| !to.is_empty());
    if !named {
        message["toRecipients"] = json!([original["from"].clone()]);
    }
    message["subject"] = json!(format!(
        "RE: {}",
        thread_subject(original["subject"].as_str().unwrap_or_default())
    ));
    if message.get("body").is_none() {
        let comment = request["comment"].as_str().unwrap_or_default();
        message["body"] = json!({ "contentType": "text", "content": comment });
    }
    deliver(&ctx.state, &admitted.user, &message, true)?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// `POST /me/messages/{id}/createReply`: `{"message"?: {...}, "comment"?: "..."}` → 201 with the
/// reply as a draft in Drafts: to the original's sender unless the message names recipients,
/// `RE: <original>` in the original's conversation, the comment its body when the message has
/// none. It is sent with `POST /me/messages/{draft}/send` once changed as wanted.
pub async fn create_reply(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> GraphResult {
    let admitted = admit(&ctx, &headers, Need::MailWrite)?;
    let request = if body.is_empty() {
        json!({})
    } else {
        json_body(&body)?
    };
    let message = match request.get("message") {
        Some(m) if m.is_object() => m.clone(),
        None | Some(Value::Null) => json!({}),
        Some(_) => return Err(error::bad_request("'message' must be an object.")),
    };
    let now = ctx.state.clock.now();
    let from = directory::by_alias(&admitted.user);
    let mut mailbox = ctx.state.microsoft.mailboxes.lock(&admitted.user);
    let index = mailbox.find(&id)?;
    let original = mailbox.messages[index].json.clone();
    let named = |key: &str| -> GraphResult<Option<Vec<Value>>> {
        let list = recipients(&message, key)?;
        Ok((!list.is_empty()).then_some(list))
    };
    let to = named("toRecipients")?.unwrap_or_else(|| vec![original["from"].clone()]);
    let cc = named("ccRecipients")?.unwrap_or_default();
    let bcc = named("bccRecipients")?.unwrap_or_default();
    let subject = format!(
        "RE: {}",
        thread_subject(original["subject"].as_str().unwrap_or_default())
    );
    let (content_type, content) = match message.get("body") {
        Some(body) => (
            match body["contentType"].as_str().map(str::to_ascii_lowercase) {
                Some(t) if t == "html" => "html",
                _ => "text",
            },
            body["content"].as_str().unwrap_or_default().to_owned(),
        ),
        None => (
            "text",
            request["comment"].as_str().unwrap_or_default().to_owned(),
        ),
    };
    let mut draft = mailbox.compose(
        &from,
        &to,
        &cc,
        &subject,
        content_type,
        &content,
        now,
        "drafts",
    );
    draft.json["isDraft"] = json!(true);
    draft.json["isRead"] = json!(true);
    draft.json["bccRecipients"] = json!(bcc);
    draft.json["conversationId"] = original["conversationId"].clone();
    let json = draft.json.clone();
    let draft_id = json["id"].as_str().unwrap_or_default().to_owned();
    mailbox.messages.push(draft);
    let owner = mailbox.user.clone();
    drop(mailbox);
    subscriptions::notify(
        &ctx.state,
        &owner,
        Target::Message { folder: "drafts" },
        Change::Created,
        &draft_id,
    );
    Ok(admitted.created(json))
}

/// Where a delta sync stands: changes after `since` up to `high`, `skip` of them already sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeltaState {
    pub since: u64,
    pub high: u64,
    pub skip: usize,
}

impl DeltaState {
    pub fn encode(self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}.{}.{}", self.since, self.high, self.skip))
    }

    pub fn decode(token: &str) -> Option<Self> {
        let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(token).ok()?).ok()?;
        let mut parts = raw.split('.');
        let state = DeltaState {
            since: parts.next()?.parse().ok()?,
            high: parts.next()?.parse().ok()?,
            skip: parts.next()?.parse().ok()?,
        };
        (parts.next().is_none() && state.since <= state.high).then_some(state)
    }

    /// Where a request starts: from its `$skiptoken` or `$deltatoken`, or a full sync at `seq`.
    pub fn from_options(options: &Options, seq: u64) -> GraphResult<Self> {
        let gone = || {
            GraphError::new(
                StatusCode::GONE,
                "SyncStateNotFound",
                "The sync state generation is not found. Please start a new sync without a token.",
            )
        };
        if let Some(token) = options.get("$skiptoken") {
            return Self::decode(token)
                .filter(|s| s.high <= seq)
                .ok_or_else(gone);
        }
        if let Some(token) = options.get("$deltatoken") {
            let since = Self::decode(token)
                .filter(|s| s.high <= seq)
                .ok_or_else(gone)?
                .high;
            return Ok(DeltaState {
                since,
                high: seq,
                skip: 0,
            });
        }
        Ok(DeltaState {
            since: 0,
            high: seq,
            skip: 0,
        })
    }

    /// A delta page of `changes` (ordered, all after `since`): items, and the next or delta link.
    pub fn page(
        self,
        changes: Vec<Value>,
        size: usize,
        options: &Options,
        url: &str,
        context: &str,
    ) -> Value {
        let total = changes.len();
        let value: Vec<Value> = changes
            .into_iter()
            .skip(self.skip)
            .take(size)
            .map(|v| options.project(v))
            .collect();
        let mut body = json!({ "@odata.context": context, "value": value });
        let drop = ["$skiptoken", "$deltatoken"];
        if self.skip + size < total {
            let next = DeltaState {
                skip: self.skip + size,
                ..self
            };
            body["@odata.nextLink"] =
                json!(options.link(url, &[("$skiptoken", next.encode())], &drop));
        } else {
            let done = DeltaState {
                since: self.high,
                high: self.high,
                skip: 0,
            };
            body["@odata.deltaLink"] =
                json!(options.link(url, &[("$deltatoken", done.encode())], &drop));
        }
        body
    }
}

/// The page size a delta request asks for: `$top`, `Prefer: odata.maxpagesize=N`, or 10.
pub fn max_page_size(headers: &HeaderMap, options: &Options) -> usize {
    options.top.unwrap_or_else(|| {
        headers
            .get_all("prefer")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .find_map(|p| {
                p.trim()
                    .strip_prefix("odata.maxpagesize=")
                    .and_then(|n| n.trim().parse().ok())
            })
            .filter(|n: &usize| (1..=1000).contains(n))
            .unwrap_or(10)
    })
}

/// `GET /me/mailFolders/{folder}/messages/delta`.
pub async fn delta(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path(folder): Path<String>,
    OriginalUri(uri): OriginalUri,
    RawQuery(query): RawQuery,
) -> GraphResult {
    let admitted = admit(&ctx, &headers, Need::MailRead)?;
    let options = Options::parse(query.as_deref(), &["receivedDateTime"])?;
    if !options.search.is_empty() {
        return Err(error::bad_request(
            "$search is not supported on delta queries.",
        ));
    }
    if options.get("$skip").is_some() {
        // Delta pages by `$skiptoken` only (Graph docs, message-delta, "Query parameters").
        return Err(error::bad_request(
            "The query parameter '$skip' is not supported with delta queries.",
        ));
    }
    let mailbox = ctx.state.microsoft.mailboxes.lock(&admitted.user);
    let folder = mailbox.folder(&folder).ok_or_else(error::item_not_found)?;
    let state = DeltaState::from_options(&options, mailbox.seq)?;
    let mut changes: Vec<(u64, Value)> = mailbox
        .messages
        .iter()
        .filter(|m| m.folder == folder && m.changed > state.since && m.changed <= state.high)
        .filter(|m| options.matches(&m.json))
        .map(|m| (m.changed, m.json.clone()))
        .collect();
    if state.since > 0 {
        changes.extend(
            mailbox
                .removed
                .iter()
                .filter(|(_, f, seq)| *f == folder && *seq > state.since && *seq <= state.high)
                .map(|(id, _, seq)| (*seq, json!({ "@odata.type": "#microsoft.graph.message", "id": id, "@removed": { "reason": "deleted" } }))),
        );
    }
    changes.sort_by_key(|(seq, _)| *seq);
    let size = max_page_size(&headers, &options);
    let body = state.page(
        changes.into_iter().map(|(_, v)| v).collect(),
        size,
        &options,
        &format!("{}{}", ctx.state.origin(), uri.path()),
        &format!("{}/$metadata#Collection(message)", graph_base(&ctx)),
    );
    drop(mailbox);
    let mut response = admitted.json(body);
    if options.top.is_none()
        && let Ok(v) = HeaderValue::from_str(&format!("odata.maxpagesize={size}"))
    {
        response.headers_mut().insert("preference-applied", v);
    }
    Ok(response)
}

fn delete_message(state: &Arc<SandboxState>, user: &str, id: &str) -> GraphResult<()> {
    let mut mailbox = state.microsoft.mailboxes.lock(user);
    let index = mailbox.find(id)?;
    let message = mailbox.messages.remove(index);
    let seq = mailbox.bump();
    mailbox.removed.push((id.to_owned(), message.folder, seq));
    let owner = mailbox.user.clone();
    drop(mailbox);
    subscriptions::notify(
        state,
        &owner,
        Target::Message {
            folder: message.folder,
        },
        Change::Deleted,
        id,
    );
    Ok(())
}

/// `DELETE /me/messages/{id}`: 204.
pub async fn delete(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> GraphResult {
    let admitted = admit(&ctx, &headers, Need::MailWrite)?;
    delete_message(&ctx.state, &admitted.user, &id)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /_sandbox/records` for `message`: `create` delivers a mail to the user's inbox (from
/// `fields.from`, an address, default a population person; `subject`, `body`), `update` patches
/// (`isRead`, `categories`, ...), `delete` removes.
pub fn change_record(
    state: &Arc<SandboxState>,
    user: &str,
    op: &str,
    id: Option<&str>,
    fields: &Value,
) -> GraphResult {
    match (op, id) {
        ("create", _) => {
            let from = fields
                .get("from")
                .and_then(Value::as_str)
                .and_then(directory::by_address)
                .or_else(|| directory::person(PEOPLE - 1))
                .ok_or_else(|| error::bad_request("from must be an address of the tenant"))?;
            let subject = fields
                .get("subject")
                .and_then(Value::as_str)
                .unwrap_or("Hello from the sandbox");
            let body = fields
                .get("body")
                .and_then(Value::as_str)
                .unwrap_or("Sent through the sandbox admin API.");
            let now = state.clock.now();
            let owner = directory::by_alias(user);
            let mut mailbox = state.microsoft.mailboxes.lock(user);
            let message = mailbox.compose(
                &from,
                &[owner.recipient()],
                &[],
                subject,
                "text",
                body,
                now,
                "inbox",
            );
            let json = message.json.clone();
            let id = json["id"].as_str().unwrap_or_default().to_owned();
            mailbox.messages.push(message);
            drop(mailbox);
            subscriptions::notify(
                state,
                &owner,
                Target::Message { folder: "inbox" },
                Change::Created,
                &id,
            );
            Ok((StatusCode::CREATED, axum::Json(json)).into_response())
        }
        ("update", Some(id)) => {
            Ok(axum::Json(update_message(state, user, id, fields)?).into_response())
        }
        ("delete", Some(id)) => {
            delete_message(state, user, id)?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        ("update" | "delete", None) => Err(error::bad_request("update and delete need an id")),
        _ => Err(error::bad_request("op must be create, update or delete")),
    }
}
