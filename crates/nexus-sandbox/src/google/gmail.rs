//! Gmail v1 under `/google/gmail/v1/users/{userId}/`: profile, messages (list with `q`,
//! `labelIds`, paging and `resultSizeEstimate`; get in the four formats; send, with delivery to
//! sandbox recipients; modify, batchModify, trash, untrash, delete, attachments), threads (list,
//! get), labels, history.list, watch and stop. Each call spends its quota units (see `quota`).

use std::sync::Arc;

use axum::{
    Json, Router,
    body::Bytes,
    extract::DefaultBodyLimit,
    extract::{Path, RawQuery, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use super::{
    Access, admit,
    error::{self, ApiError},
    hosted,
    mailbox::{
        Change, Mailbox, Message, Notice, SYSTEM_LABELS, USER_LABELS, Watch, new_message_id,
    },
    message, pubsub,
    search::Query,
    upload,
};
use crate::{Ctx, SandboxState};

const BASE: &str = "/google/gmail/v1/users/{userId}";

pub fn routes() -> Router<Ctx> {
    let r = |path: &str| format!("{BASE}{path}");
    Router::new()
        .route(&r("/profile"), get(profile))
        .route(&r("/messages"), get(list))
        .route(&r("/messages/send"), post(send))
        .route(
            "/google/upload/gmail/v1/users/{userId}/messages/send",
            post(upload_send),
        )
        .route(&r("/messages/batchModify"), post(batch_modify))
        .route(
            &r("/messages/{id}"),
            get(get_message).delete(delete_message),
        )
        .route(&r("/messages/{id}/modify"), post(modify))
        .route(
            &r("/messages/{id}/attachments/{attachment}"),
            get(attachment),
        )
        .route(&r("/messages/{id}/trash"), post(trash))
        .route(&r("/messages/{id}/untrash"), post(untrash))
        .route(&r("/threads"), get(list_threads))
        .route(&r("/threads/{id}"), get(get_thread))
        .route(&r("/labels"), get(labels))
        .route(&r("/labels/{id}"), get(label))
        .route(&r("/history"), get(history))
        .route(&r("/watch"), post(watch))
        .route(&r("/stop"), post(stop))
        .layer(DefaultBodyLimit::max(MAX_MESSAGE_BYTES))
}

/// Gmail takes messages up to 35 MB.
const MAX_MESSAGE_BYTES: usize = 36_700_160;

type Result<T> = std::result::Result<T, ApiError>;

/// Admits the call and checks `userId` (`me` or the token's own address).
fn open(ctx: &Ctx, headers: &HeaderMap, user: &str, access: Access, units: u32) -> Result<String> {
    open_as(ctx, headers, user, access, units, None)
}

/// Admits a read that `gmail.metadata` allows only in part: with that scope alone, `refused`
/// (a `q`, a body format) gets Gmail's own 403 saying so.
fn open_read(
    ctx: &Ctx,
    headers: &HeaderMap,
    user: &str,
    units: u32,
    refused: Option<String>,
) -> Result<String> {
    open_as(ctx, headers, user, Access::GmailMetadata, units, refused)
}

fn open_as(
    ctx: &Ctx,
    headers: &HeaderMap,
    user: &str,
    access: Access,
    units: u32,
    refused: Option<String>,
) -> Result<String> {
    let admitted = admit(ctx, headers, access, units)?;
    if user != "me" && !user.eq_ignore_ascii_case(&admitted.account) {
        return Err(error::forbidden(&format!(
            "Delegation denied for {}",
            admitted.account
        )));
    }
    if let Some(message) = refused
        && !Access::GmailRead.allows(&admitted.scopes)
    {
        return Err(error::forbidden(&message));
    }
    Ok(admitted.account)
}

/// What `gmail.metadata` refuses of a format.
fn format_refused(format: &str) -> Option<String> {
    matches!(format, "full" | "raw").then(|| {
        format!(
            "Metadata scope doesn't allow format {}",
            format.to_uppercase()
        )
    })
}

/// Query parameters, repeated ones kept (`labelIds=A&labelIds=B`).
struct Params(Vec<(String, String)>);

impl Params {
    fn new(raw: Option<String>) -> Self {
        Params(
            url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
                .into_owned()
                .collect(),
        )
    }

    fn one(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// An unsigned integer parameter, clamped to `max`.
    fn number(&self, name: &str, default: usize, max: usize) -> Result<usize> {
        match self.one(name) {
            None => Ok(default),
            Some(v) => v.parse::<usize>().map(|n| n.clamp(1, max)).map_err(|_| {
                error::invalid_parameter(
                    name,
                    &format!("Invalid value at '{name}' (TYPE_UINT32), \"{v}\""),
                )
            }),
        }
    }

    fn offset(&self) -> Result<usize> {
        self.one("pageToken")
            .map(|t| {
                t.parse::<usize>()
                    .map_err(|_| error::invalid_parameter("pageToken", "Invalid pageToken"))
            })
            .transpose()
            .map(Option::unwrap_or_default)
    }
}

fn ms(t: DateTime<Utc>) -> String {
    t.timestamp_millis().to_string()
}

/// A message in a format: `minimal`, `metadata` (with `metadataHeaders`), `full` or `raw`.
fn message_json(m: &Message, format: &str, headers: &[String]) -> Value {
    let mut json = json!({
        "id": m.id,
        "threadId": m.thread_id,
        "labelIds": m.labels,
        "snippet": m.summary.snippet,
        "sizeEstimate": m.raw.len(),
        "historyId": m.history_id.to_string(),
        "internalDate": ms(m.internal_date),
    });
    match format {
        "raw" => json["raw"] = json!(message::encode(&m.raw)),
        "metadata" => {
            let only = (!headers.is_empty()).then_some(headers);
            json["payload"] = message::payload(&m.raw, &m.id, only, false);
        }
        "full" => json["payload"] = message::payload(&m.raw, &m.id, None, true),
        _ => {}
    }
    json
}

fn minimal(m: &Message) -> Value {
    json!({ "id": m.id, "threadId": m.thread_id, "labelIds": m.labels })
}

fn check_id(id: &str) -> Result<()> {
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(error::invalid_parameter("id", "Invalid id value"));
    }
    Ok(())
}

fn format_of(params: &Params) -> Result<&str> {
    match params.one("format").unwrap_or("full") {
        f @ ("full" | "metadata" | "minimal" | "raw") => Ok(f),
        other => Err(error::invalid_parameter(
            "format",
            &format!(
                "Invalid value at 'format' (type.googleapis.com/gmail.v1.Format), \"{other}\""
            ),
        )),
    }
}

fn respond(result: Result<Value>) -> Response {
    match result {
        Ok(body) => Json(body).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `GET .../profile` (1 unit).
async fn profile(State(ctx): State<Ctx>, Path(user): Path<String>, headers: HeaderMap) -> Response {
    respond((|| {
        let account = open(&ctx, &headers, &user, Access::GmailMetadata, 1)?;
        let mailbox = ctx.state.google.mailboxes.lock(&account);
        Ok(json!({
            "emailAddress": account,
            "messagesTotal": mailbox.messages_total(),
            "threadsTotal": mailbox.threads(),
            "historyId": mailbox.history_id.to_string(),
        }))
    })())
}

/// The messages a list call selects (`q`, `labelIds`, `includeSpamTrash`), newest first.
fn select<'a>(mailbox: &'a Mailbox, params: &Params, query: &Query) -> Vec<&'a Message> {
    let labels = params.all("labelIds");
    let spam_trash = params.one("includeSpamTrash") == Some("true")
        || query.reaches_spam_trash
        || labels.iter().any(|l| l == "SPAM" || l == "TRASH");
    mailbox
        .newest_first()
        .into_iter()
        .filter(|m| spam_trash || !(m.labels.contains("SPAM") || m.labels.contains("TRASH")))
        .filter(|m| labels.iter().all(|l| m.labels.contains(l)))
        .filter(|m| query.matches(m))
        .collect()
}

/// Admits a list call and reads its query.
fn open_list(
    ctx: &Ctx,
    headers: &HeaderMap,
    user: &str,
    params: &Params,
    units: u32,
) -> Result<(String, Query)> {
    let q = params.one("q").filter(|q| !q.trim().is_empty());
    let refused = q.map(|_| "Metadata scope does not support 'q' parameter".to_owned());
    let account = open_read(ctx, headers, user, units, refused)?;
    let query = match q {
        Some(q) => {
            Query::parse(q, ctx.state.clock.now()).map_err(|m| error::invalid_parameter("q", &m))?
        }
        None => Query::default(),
    };
    Ok((account, query))
}

/// One page of a list: `field` omitted when empty, `nextPageToken` while more remain.
fn page_of(field: &str, items: Vec<Value>, params: &Params) -> Result<Value> {
    let max = params.number("maxResults", 100, 500)?;
    let offset = params.offset()?;
    let total = items.len();
    let page: Vec<Value> = items.into_iter().skip(offset).take(max).collect();
    let mut body = json!({ "resultSizeEstimate": total });
    if !page.is_empty() {
        body[field] = Value::Array(page);
    }
    if offset.saturating_add(max) < total {
        body["nextPageToken"] = json!((offset.saturating_add(max)).to_string());
    }
    Ok(body)
}

/// `GET .../messages` (5 units).
async fn list(
    State(ctx): State<Ctx>,
    Path(user): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let params = Params::new(raw);
    respond((|| {
        let (account, query) = open_list(&ctx, &headers, &user, &params, 5)?;
        let mailbox = ctx.state.google.mailboxes.lock(&account);
        let items = select(&mailbox, &params, &query)
            .into_iter()
            .map(|m| json!({ "id": m.id, "threadId": m.thread_id }))
            .collect();
        page_of("messages", items, &params)
    })())
}

/// `GET .../threads` (10 units): threads with a selected message, by their latest one.
async fn list_threads(
    State(ctx): State<Ctx>,
    Path(user): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let params = Params::new(raw);
    respond((|| {
        let (account, query) = open_list(&ctx, &headers, &user, &params, 10)?;
        let mailbox = ctx.state.google.mailboxes.lock(&account);
        let mut seen = std::collections::HashSet::new();
        let items = select(&mailbox, &params, &query)
            .into_iter()
            .filter(|m| seen.insert(m.thread_id.clone()))
            .map(|m| json!({ "id": m.thread_id, "snippet": m.summary.snippet, "historyId": m.history_id.to_string() }))
            .collect();
        page_of("threads", items, &params)
    })())
}

/// `GET .../messages/{id}` (5 units).
async fn get_message(
    State(ctx): State<Ctx>,
    Path((user, id)): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let params = Params::new(raw);
    respond((|| {
        let format = format_of(&params)?;
        let account = open_read(&ctx, &headers, &user, 5, format_refused(format))?;
        check_id(&id)?;
        let mailbox = ctx.state.google.mailboxes.lock(&account);
        let m = mailbox.get(&id).ok_or_else(error::not_found)?;
        Ok(message_json(m, format, &params.all("metadataHeaders")))
    })())
}

/// `GET .../messages/{id}/attachments/{attachmentId}` (5 units): `{attachmentId, size, data}`.
async fn attachment(
    State(ctx): State<Ctx>,
    Path((user, id, attachment)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    respond((|| {
        let account = open(&ctx, &headers, &user, Access::GmailRead, 5)?;
        check_id(&id)?;
        let mailbox = ctx.state.google.mailboxes.lock(&account);
        let m = mailbox.get(&id).ok_or_else(error::not_found)?;
        let data = message::attachment(&m.raw, &m.id, &attachment)
            .ok_or_else(|| error::invalid_parameter("attachmentId", "Invalid attachment token"))?;
        Ok(
            json!({ "attachmentId": attachment, "size": data.len(), "data": message::encode(&data) }),
        )
    })())
}

/// `GET .../threads/{id}` (10 units): the thread's messages, oldest first.
async fn get_thread(
    State(ctx): State<Ctx>,
    Path((user, id)): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let params = Params::new(raw);
    respond((|| {
        let format = format_of(&params)?;
        let account = open_read(&ctx, &headers, &user, 10, format_refused(format))?;
        check_id(&id)?;
        let mailbox = ctx.state.google.mailboxes.lock(&account);
        let mut messages: Vec<&Message> = mailbox
            .newest_first()
            .into_iter()
            .filter(|m| m.thread_id == id)
            .collect();
        messages.reverse();
        let last = messages.last().ok_or_else(error::not_found)?;
        let headers = params.all("metadataHeaders");
        Ok(json!({
            "id": id,
            "snippet": last.summary.snippet,
            "historyId": messages.iter().map(|m| m.history_id).max().unwrap_or_default().to_string(),
            "messages": messages.iter().map(|m| message_json(m, format, &headers)).collect::<Vec<_>>(),
        }))
    })())
}

/// Drops the `Bcc` header (and its folded lines) from a message's header section, leaving every
/// other byte as it was.
fn without_bcc(raw: &[u8]) -> Vec<u8> {
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 2)
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n").map(|i| i + 1))
        .unwrap_or(raw.len());
    let (head, body) = raw.split_at(head_end);
    let mut out = Vec::with_capacity(raw.len());
    let mut skipping = false;
    for line in head.split_inclusive(|b| *b == b'\n') {
        let folded = line.first().is_some_and(|b| *b == b' ' || *b == b'\t');
        if !folded {
            skipping = line.len() >= 4 && line[..4].eq_ignore_ascii_case(b"bcc:");
        }
        if !skipping {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(body);
    out
}

/// Sends a raw message from `account`: the sender's copy (SENT), then delivery to every
/// recipient the sandbox hosts (INBOX, UNREAD; without Bcc); push notices for each.
pub fn deliver_sent(
    state: &Arc<SandboxState>,
    account: &str,
    raw: Vec<u8>,
    thread_id: Option<&str>,
) -> Result<Value> {
    let parsed = message::summarize(&raw).ok_or_else(|| {
        error::error(
            StatusCode::BAD_REQUEST,
            "global",
            "invalidArgument",
            "Invalid raw message",
            Value::Null,
        )
    })?;
    let mut recipients: Vec<String> = parsed
        .to
        .iter()
        .chain(&parsed.cc)
        .chain(&parsed.bcc)
        .cloned()
        .collect();
    recipients.sort();
    recipients.dedup();
    if recipients.is_empty() {
        return Err(error::error(
            StatusCode::BAD_REQUEST,
            "global",
            "invalidArgument",
            "Recipient address required",
            Value::Null,
        ));
    }
    let now = state.clock.now();
    let mut prefix = String::new();
    if parsed.from.is_empty() {
        prefix.push_str(&format!("From: {account}\r\n"));
    }
    if parsed.message_id.is_none() {
        let seed = super::seed_of(account) ^ now.timestamp_micros() as u64;
        prefix.push_str(&format!("Message-ID: {}\r\n", new_message_id(seed)));
    }
    if parsed.date.is_none() {
        prefix.push_str(&format!("Date: {}\r\n", now.to_rfc2822()));
    }
    let raw = [prefix.as_bytes(), &raw].concat();
    let summary = message::summarize(&raw).unwrap_or(parsed);
    let mut notices: Vec<Notice> = Vec::new();
    let sent = {
        let mut mailbox = state.google.mailboxes.lock(account);
        if let Some(t) = thread_id
            && !mailbox.thread_exists(t)
        {
            return Err(error::not_found());
        }
        // Mail to oneself lands in one's own inbox too.
        let labels: &[&str] = if recipients.iter().any(|r| r.eq_ignore_ascii_case(account)) {
            &["UNREAD", "SENT", "INBOX"]
        } else {
            &["SENT"]
        };
        let (id, thread) = mailbox.add(raw.clone(), summary.clone(), labels, now, thread_id);
        notices.extend(mailbox.notice(&mailbox.labels_of(&id), now));
        json!({ "id": id, "threadId": thread, "labelIds": labels })
    };
    let delivered = without_bcc(&raw);
    for rcpt in recipients
        .iter()
        .filter(|r| hosted(r) && !r.eq_ignore_ascii_case(account))
    {
        let copy = [format!("Delivered-To: {rcpt}\r\n").as_bytes(), &delivered].concat();
        let summary = message::summarize(&copy).unwrap_or_else(|| summary.clone());
        let mut mailbox = state.google.mailboxes.lock(rcpt);
        let (id, _) = mailbox.add(
            copy,
            summary,
            &["INBOX", "UNREAD", "CATEGORY_PERSONAL"],
            now,
            None,
        );
        notices.extend(mailbox.notice(&mailbox.labels_of(&id), now));
    }
    for notice in &notices {
        pubsub::publish(state, notice);
    }
    Ok(sent)
}

/// `POST .../messages/send` (100 units): `{"raw": base64url RFC 2822, "threadId"?}`.
async fn send(
    State(ctx): State<Ctx>,
    Path(user): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond((|| {
        let account = open(&ctx, &headers, &user, Access::GmailSend, 100)?;
        upload::refuse_media_at_plain_url(
            &headers,
            &format!(
                "{}/google/upload/gmail/v1/users/{user}/messages/send",
                ctx.state.origin()
            ),
        )?;
        let body: Value = serde_json::from_slice(&body)
            .map_err(|e| error::bad_request(&format!("Invalid JSON payload received. {e}")))?;
        let raw = body["raw"].as_str().ok_or_else(|| {
            error::error(
                StatusCode::BAD_REQUEST,
                "global",
                "invalidArgument",
                "'raw' RFC822 payload message string or uploading message via /upload/* URL required",
                Value::Null,
            )
        })?;
        let raw = message::decode(raw)
            .ok_or_else(|| error::invalid_parameter("raw", "Invalid value for ByteString"))?;
        deliver_sent(&ctx.state, &account, raw, body["threadId"].as_str())
    })())
}

/// `POST /upload/gmail/v1/users/{userId}/messages/send` (100 units): `uploadType=media` with a
/// `message/rfc822` body, or `uploadType=multipart` with the metadata (`threadId`) and the
/// message as `multipart/related` (see `upload`).
async fn upload_send(
    State(ctx): State<Ctx>,
    Path(user): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    let params = Params::new(raw);
    respond((|| {
        let account = open(&ctx, &headers, &user, Access::GmailSend, 100)?;
        let upload = upload::read(params.one("uploadType"), &headers, &body)?;
        deliver_sent(
            &ctx.state,
            &account,
            upload.media,
            upload.metadata["threadId"].as_str(),
        )
    })())
}

/// Whether a label id exists in a mailbox (system or user).
fn known_label(id: &str) -> bool {
    SYSTEM_LABELS.contains(&id) || USER_LABELS.iter().any(|(l, _)| *l == id)
}

fn label_list(body: &Value, field: &str) -> Result<Vec<String>> {
    let list: Vec<String> = match &body[field] {
        Value::Null => Vec::new(),
        Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or_else(|| error::bad_request(&format!("Invalid value at '{field}'")))?,
        _ => return Err(error::bad_request(&format!("Invalid value at '{field}'"))),
    };
    if list.len() > 100 {
        return Err(error::bad_request(&format!(
            "Too many label ids in {field} (at most 100)"
        )));
    }
    if let Some(bad) = list.iter().find(|l| !known_label(l)) {
        return Err(error::error(
            StatusCode::BAD_REQUEST,
            "global",
            "invalidArgument",
            &format!("Invalid label: {bad}"),
            Value::Null,
        ));
    }
    Ok(list)
}

/// Changes labels and publishes the watch's notice; the message's minimal view.
fn relabel(
    state: &Arc<SandboxState>,
    account: &str,
    id: &str,
    add: &[String],
    remove: &[String],
) -> Result<Value> {
    check_id(id)?;
    let now = state.clock.now();
    let (body, notice) = {
        let mut mailbox = state.google.mailboxes.lock(account);
        let before = mailbox.history_id;
        let m = mailbox
            .modify(id, add, remove)
            .ok_or_else(error::not_found)?;
        let (body, labels) = (minimal(m), m.labels.clone());
        let changed = mailbox.history_id != before;
        (
            body,
            changed.then(|| mailbox.notice(&labels, now)).flatten(),
        )
    };
    if let Some(notice) = notice {
        pubsub::publish(state, &notice);
    }
    Ok(body)
}

fn json_body(body: &Bytes) -> Result<Value> {
    if body.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(body)
        .map_err(|e| error::bad_request(&format!("Invalid JSON payload received. {e}")))
}

/// `POST .../messages/{id}/modify` (5 units).
async fn modify(
    State(ctx): State<Ctx>,
    Path((user, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond((|| {
        let account = open(&ctx, &headers, &user, Access::GmailModify, 5)?;
        let body = json_body(&body)?;
        let add = label_list(&body, "addLabelIds")?;
        let remove = label_list(&body, "removeLabelIds")?;
        relabel(&ctx.state, &account, &id, &add, &remove)
    })())
}

/// `POST .../messages/{id}/trash` (5 units).
async fn trash(
    State(ctx): State<Ctx>,
    Path((user, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    respond((|| {
        let account = open(&ctx, &headers, &user, Access::GmailModify, 5)?;
        relabel(
            &ctx.state,
            &account,
            &id,
            &["TRASH".to_owned()],
            &["INBOX".to_owned()],
        )
    })())
}

/// `POST .../messages/{id}/untrash` (5 units).
async fn untrash(
    State(ctx): State<Ctx>,
    Path((user, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    respond((|| {
        let account = open(&ctx, &headers, &user, Access::GmailModify, 5)?;
        relabel(&ctx.state, &account, &id, &[], &["TRASH".to_owned()])
    })())
}

/// `DELETE .../messages/{id}` (10 units; needs `https://mail.google.com/`): 204.
async fn delete_message(
    State(ctx): State<Ctx>,
    Path((user, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let result = (|| {
        let account = open(&ctx, &headers, &user, Access::GmailDelete, 10)?;
        check_id(&id)?;
        if ctx.state.google.mailboxes.lock(&account).delete(&id) {
            Ok(())
        } else {
            Err(error::not_found())
        }
    })();
    match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

/// `POST .../messages/batchModify` (50 units): `{"ids":[≤1000],"addLabelIds","removeLabelIds"}`; 204.
async fn batch_modify(
    State(ctx): State<Ctx>,
    Path(user): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = (|| {
        let account = open(&ctx, &headers, &user, Access::GmailModify, 50)?;
        let body = json_body(&body)?;
        let ids: Vec<String> = body["ids"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        if ids.is_empty() || ids.len() > 1000 {
            return Err(error::bad_request(
                "ids must name between 1 and 1000 messages",
            ));
        }
        let add = label_list(&body, "addLabelIds")?;
        let remove = label_list(&body, "removeLabelIds")?;
        for id in &ids {
            // Unknown ids are skipped, as Gmail does in a batch.
            let _ = relabel(&ctx.state, &account, id, &add, &remove);
        }
        Ok(())
    })();
    match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

fn label_json(id: &str, mailbox: Option<&Mailbox>) -> Value {
    let user = USER_LABELS.iter().find(|(l, _)| *l == id);
    let mut json = match user {
        Some((id, name)) => json!({
            "id": id, "name": name, "messageListVisibility": "show",
            "labelListVisibility": "labelShow", "type": "user",
        }),
        None => json!({ "id": id, "name": id, "type": "system" }),
    };
    if matches!(
        id,
        "INBOX" | "SENT" | "UNREAD" | "STARRED" | "IMPORTANT" | "TRASH" | "SPAM" | "DRAFT"
    ) {
        json["messageListVisibility"] = json!(if id == "TRASH" || id == "SPAM" {
            "hide"
        } else {
            "show"
        });
        json["labelListVisibility"] = json!("labelShow");
    }
    if let Some(mailbox) = mailbox {
        let with: Vec<&Message> = mailbox
            .newest_first()
            .into_iter()
            .filter(|m| m.labels.contains(id))
            .collect();
        let unread = |m: &&&Message| m.labels.contains("UNREAD");
        let threads = |ms: &mut dyn Iterator<Item = &&Message>| {
            ms.map(|m| m.thread_id.clone())
                .collect::<std::collections::BTreeSet<_>>()
                .len()
        };
        json["messagesTotal"] = json!(with.len());
        json["messagesUnread"] = json!(with.iter().filter(unread).count());
        json["threadsTotal"] = json!(threads(&mut with.iter()));
        json["threadsUnread"] = json!(threads(&mut with.iter().filter(unread)));
    }
    json
}

/// `GET .../labels` (1 unit).
async fn labels(State(ctx): State<Ctx>, Path(user): Path<String>, headers: HeaderMap) -> Response {
    respond((|| {
        open(&ctx, &headers, &user, Access::GmailMetadata, 1)?;
        let all: Vec<Value> = SYSTEM_LABELS
            .iter()
            .copied()
            .chain(USER_LABELS.iter().map(|(id, _)| *id))
            .map(|id| label_json(id, None))
            .collect();
        Ok(json!({ "labels": all }))
    })())
}

/// `GET .../labels/{id}` (1 unit): with message and thread counts.
async fn label(
    State(ctx): State<Ctx>,
    Path((user, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    respond((|| {
        let account = open(&ctx, &headers, &user, Access::GmailMetadata, 1)?;
        if !known_label(&id) {
            return Err(error::not_found());
        }
        let mailbox = ctx.state.google.mailboxes.lock(&account);
        Ok(label_json(&id, Some(&mailbox)))
    })())
}

/// `GET .../history` (2 units): changes after `startHistoryId`, oldest first.
async fn history(
    State(ctx): State<Ctx>,
    Path(user): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let params = Params::new(raw);
    respond((|| {
        let account = open(&ctx, &headers, &user, Access::GmailMetadata, 2)?;
        let start: u64 = match params.one("startHistoryId") {
            None => {
                return Err(error::invalid_parameter(
                    "startHistoryId",
                    "Missing required parameter: startHistoryId",
                ));
            }
            Some(v) => v.parse().map_err(|_| {
                error::invalid_parameter(
                    "startHistoryId",
                    &format!("Invalid value at 'start_history_id' (TYPE_UINT64), \"{v}\""),
                )
            })?,
        };
        let max = params.number("maxResults", 100, 500)?;
        let offset = params.offset()?;
        let types = params.all("historyTypes");
        if let Some(bad) = types.iter().find(|t| {
            !matches!(
                t.as_str(),
                "messageAdded" | "messageDeleted" | "labelAdded" | "labelRemoved"
            )
        }) {
            return Err(error::invalid_parameter(
                "historyTypes",
                &format!("Invalid value at 'history_types', \"{bad}\""),
            ));
        }
        let label = params.one("labelId");
        let mailbox = ctx.state.google.mailboxes.lock(&account);
        if start < mailbox.history_floor || start > mailbox.history_id {
            return Err(error::not_found());
        }
        let wanted = |change: &Change| {
            let name = match change {
                Change::Added => "messageAdded",
                Change::Deleted => "messageDeleted",
                Change::LabelsAdded(_) => "labelAdded",
                Change::LabelsRemoved(_) => "labelRemoved",
            };
            types.is_empty() || types.iter().any(|t| t == name)
        };
        let records: Vec<Value> = mailbox
            .history
            .iter()
            .filter(|r| r.id > start && wanted(&r.change))
            .filter(|r| label.is_none_or(|l| mailbox.labels_of(&r.message_id).contains(l)))
            .map(|r| {
                let labels = mailbox.labels_of(&r.message_id);
                let message =
                    json!({ "id": r.message_id, "threadId": r.thread_id, "labelIds": labels });
                let mut record = json!({
                    "id": r.id.to_string(),
                    "messages": [{ "id": r.message_id, "threadId": r.thread_id }],
                });
                match &r.change {
                    Change::Added => record["messagesAdded"] = json!([{ "message": message }]),
                    Change::Deleted => {
                        record["messagesDeleted"] =
                            json!([{ "message": { "id": r.message_id, "threadId": r.thread_id } }]);
                    }
                    Change::LabelsAdded(ids) => {
                        record["labelsAdded"] = json!([{ "message": message, "labelIds": ids }]);
                    }
                    Change::LabelsRemoved(ids) => {
                        record["labelsRemoved"] = json!([{ "message": message, "labelIds": ids }]);
                    }
                }
                record
            })
            .collect();
        let mut body = json!({ "historyId": mailbox.history_id.to_string() });
        let page: Vec<Value> = records.iter().skip(offset).take(max).cloned().collect();
        if !page.is_empty() {
            body["history"] = Value::Array(page);
        }
        if offset.saturating_add(max) < records.len() {
            body["nextPageToken"] = json!((offset.saturating_add(max)).to_string());
        }
        Ok(body)
    })())
}

/// How long a watch lasts before it must be renewed.
const WATCH_DAYS: i64 = 7;

/// `POST .../watch` (100 units): `{"topicName","labelIds"?,"labelFilterBehavior"?}`.
async fn watch(
    State(ctx): State<Ctx>,
    Path(user): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond((|| {
        let account = open(&ctx, &headers, &user, Access::GmailMetadata, 100)?;
        let body = json_body(&body)?;
        let topic = body["topicName"].as_str().unwrap_or_default();
        if pubsub::project_of(topic).is_none() {
            return Err(error::error(
                StatusCode::BAD_REQUEST,
                "global",
                "invalidArgument",
                "Invalid topicName does not match projects/SOME_ANDROID_PROJECT/topics/*",
                Value::Null,
            ));
        }
        let label_ids: Vec<String> = body["labelIds"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let behavior = body["labelFilterBehavior"]
            .as_str()
            .or_else(|| body["labelFilterAction"].as_str())
            .unwrap_or("include")
            .to_ascii_lowercase();
        if behavior != "include" && behavior != "exclude" {
            return Err(error::invalid_parameter(
                "labelFilterBehavior",
                "labelFilterBehavior must be include or exclude",
            ));
        }
        let expiration = ctx.state.clock.now() + Duration::days(WATCH_DAYS);
        let mut mailbox = ctx.state.google.mailboxes.lock(&account);
        mailbox.watch = Some(Watch {
            topic: topic.to_owned(),
            label_ids,
            include: behavior == "include",
            expiration,
        });
        Ok(json!({ "historyId": mailbox.history_id.to_string(), "expiration": ms(expiration) }))
    })())
}

/// `POST .../stop` (100 units): 204.
async fn stop(State(ctx): State<Ctx>, Path(user): Path<String>, headers: HeaderMap) -> Response {
    match open(&ctx, &headers, &user, Access::GmailMetadata, 100) {
        Ok(account) => {
            ctx.state.google.mailboxes.lock(&account).watch = None;
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// `POST /_sandbox/records` for Gmail: `op` `deliver` puts an incoming mail into `account`'s
/// mailbox (`fields`: `from`, `subject`, `text`, optional `to`, or a whole base64url `raw`),
/// firing the watch's push.
pub fn change_record(
    state: &Arc<SandboxState>,
    account: &str,
    op: &str,
    fields: &Value,
) -> Response {
    if op != "deliver" {
        return error::bad_request("op must be deliver").into_response();
    }
    let now = state.clock.now();
    let raw = match fields["raw"].as_str() {
        Some(raw) => message::decode(raw),
        None => {
            let from = fields["from"].as_str().unwrap_or("sender@external.example");
            let from = super::mailbox::party_for(from);
            let to = super::mailbox::party_for(fields["to"].as_str().unwrap_or(account));
            let seed = super::seed_of(account) ^ now.timestamp_micros() as u64;
            Some(message::compose(&message::Draft {
                from: &from,
                to: &to,
                subject: fields["subject"].as_str().unwrap_or("Hello"),
                text: fields["text"].as_str().unwrap_or("Hello from the sandbox."),
                date: now,
                message_id: &new_message_id(seed),
                references: &[],
            }))
        }
    };
    let Some((raw, summary)) = raw.and_then(|raw| message::summarize(&raw).map(|s| (raw, s)))
    else {
        return error::bad_request("raw must be a base64url RFC 2822 message").into_response();
    };
    let (body, notice) = {
        let mut mailbox = state.google.mailboxes.lock(account);
        let (id, _) = mailbox.add(
            raw,
            summary,
            &["INBOX", "UNREAD", "CATEGORY_PERSONAL"],
            now,
            None,
        );
        let notice = mailbox.notice(&mailbox.labels_of(&id), now);
        (
            mailbox.get(&id).map(|m| message_json(m, "minimal", &[])),
            notice,
        )
    };
    if let Some(notice) = notice {
        pubsub::publish(state, &notice);
    }
    (StatusCode::CREATED, Json(body.unwrap_or(Value::Null))).into_response()
}
