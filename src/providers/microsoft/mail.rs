//! Outlook mail through Microsoft Graph: lists are `GET /me/messages` (a label that names a
//! well-known folder lists `/me/mailFolders/{folder}/messages`) with the filter in `$filter`
//! (`from/emailAddress/address`, `receivedDateTime`, `isRead`, `contains(subject, …)`) and, for
//! recipients, in `$search` (`to:`, `participants:`) — Graph refuses `$orderby` beside
//! `$search`, and sorts such results newest first itself. Beside `$orderby=receivedDateTime desc`
//! Graph takes a `$filter` only when its first clause is on `receivedDateTime` (else 400
//! `InefficientFilter`), so the date clauses go first, and a filter without one opens with the
//! always-true `receivedDateTime ge 1900-01-01T00:00:00Z`. Paging is by position
//! (`receivedDateTime`, then id, newest first): a page asks `receivedDateTime le` the position's
//! time and drops what is at or before it; Graph counts in whole seconds, so a page never ends
//! inside a second's messages unless they alone fill it (then that second is read whole).
//!
//! Many lists at once (Contact.emails) travel in Graph JSON batches (`$batch`, 20 calls each).
//!
//! Sending makes a draft carrying the send's `internetMessageId` (`POST /me/messages`, or for a
//! reply `POST /me/messages/{id}/createReply` then a PATCH), then sends it
//! (`POST /me/messages/{id}/send`, 202, no body); the sent copy is found by that id. Labels are
//! categories, set with a PATCH.

use chrono::{DateTime, DurationRound, SecondsFormat, Utc};
use http::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    providers::{
        Provider,
        mail::{Address, EmailData, LabelChange, MailFilter, MailRequest, SendEmail},
        record::{ListPage, Order, Position, Record, Sent},
    },
    upstream::{Call, ErrorKind, ProviderError, Target},
};

use super::{MicrosoftProvider, error, graph_batch};

pub(super) const SELECT: &str = "id,conversationId,subject,from,toRecipients,ccRecipients,bccRecipients,receivedDateTime,bodyPreview,categories,isRead";
/// Most messages one Graph list call returns.
const MAX_TOP: usize = 1000;

/// A `receivedDateTime` clause every message passes, to open a `$filter` that has none.
const ALWAYS_RECEIVED: &str = "receivedDateTime ge 1900-01-01T00:00:00Z";

/// Well-known folders a label may name.
const FOLDERS: &[&str] = &["inbox", "sentitems", "drafts", "deleteditems"];

#[derive(Debug, Deserialize)]
struct MessageList {
    #[serde(default)]
    value: Vec<Value>,
    #[serde(rename = "@odata.nextLink")]
    next_link: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Message {
    id: String,
    conversation_id: Option<String>,
    subject: Option<String>,
    from: Option<Recipient>,
    #[serde(default)]
    to_recipients: Vec<Recipient>,
    #[serde(default)]
    cc_recipients: Vec<Recipient>,
    #[serde(default)]
    bcc_recipients: Vec<Recipient>,
    received_date_time: Option<DateTime<Utc>>,
    body_preview: Option<String>,
    body: Option<ItemBody>,
    #[serde(default)]
    categories: Vec<String>,
    #[serde(default)]
    is_read: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Recipient {
    email_address: EmailAddress,
}

#[derive(Debug, Deserialize)]
struct EmailAddress {
    name: Option<String>,
    address: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ItemBody {
    content_type: Option<String>,
    content: Option<String>,
}

fn address(r: &Recipient) -> Option<Address> {
    Some(Address {
        name: r.email_address.name.clone().filter(|n| !n.is_empty()),
        email: r.email_address.address.clone()?,
    })
}

fn addresses(list: &[Recipient]) -> Vec<Address> {
    list.iter().filter_map(address).collect()
}

fn unexpected(op: &'static str, message: impl Into<String>) -> ProviderError {
    ProviderError::new(ErrorKind::Upstream, Provider::Outlook, op, message)
}

/// Whether `id` can be a Graph message id (base64url-like), so it names no other path.
fn is_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '='))
}

/// A Graph message as a unified record.
fn record(raw: Value, op: &'static str) -> Result<Record<EmailData>, ProviderError> {
    let m: Message =
        serde_json::from_value(raw.clone()).map_err(|e| unexpected(op, e.to_string()))?;
    let date = m.received_date_time.unwrap_or(DateTime::UNIX_EPOCH);
    let (body_text, body_html) = match &m.body {
        Some(b)
            if b.content_type
                .as_deref()
                .is_some_and(|t| t.eq_ignore_ascii_case("html")) =>
        {
            (None, b.content.clone())
        }
        Some(b) => (b.content.clone(), None),
        None => (None, None),
    };
    Ok(Record {
        provider: Provider::Outlook,
        remote_id: m.id.clone(),
        created_at: date,
        updated_at: date,
        raw: raw.into(),
        data: EmailData {
            thread_id: m.conversation_id,
            subject: m.subject,
            from: m.from.as_ref().and_then(address),
            to: addresses(&m.to_recipients),
            cc: addresses(&m.cc_recipients),
            bcc: addresses(&m.bcc_recipients),
            date,
            snippet: m.body_preview,
            body_text,
            body_html,
            labels: m.categories,
            unread: !m.is_read,
        },
    })
}

/// An OData string literal.
fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A KQL value as one word: quotes and spaces dropped.
fn kql_word(text: &str) -> String {
    text.replace('"', "").split_whitespace().collect()
}

/// The folder a label names, if it names a well-known one.
fn folder(label: &str) -> Option<&'static str> {
    let wanted = label.trim().to_ascii_lowercase().replace(' ', "");
    let wanted = match wanted.as_str() {
        "sent" => "sentitems",
        "trash" | "deleted" => "deleteditems",
        other => other,
    }
    .to_owned();
    FOLDERS.iter().copied().find(|f| *f == wanted)
}

/// A filter as Graph takes it: `$filter` clauses, or — when a recipient is asked for, which
/// only `$search` can find — every condition as KQL terms (Outlook's message lists combine
/// `$search` with neither `$filter` nor `$orderby`); and the folder to list.
#[derive(Debug, Clone)]
struct Pushed {
    filter: Vec<String>,
    search: Vec<String>,
    folder: Option<&'static str>,
}

impl Pushed {
    /// The same, narrowed to the messages received in the second `at`.
    fn at_second(&self, at: DateTime<Utc>) -> Pushed {
        let mut narrowed = self.clone();
        if self.search.is_empty() {
            narrowed
                .filter
                .push(format!("receivedDateTime eq {}", stamp(at)));
        } else {
            narrowed.search.push(format!("received={}", stamp(at)));
        }
        narrowed
    }
}

/// Rounded up to the second (Graph compares whole seconds; exact bounds are kept after reading).
fn second_after(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_round_up(chrono::TimeDelta::seconds(1))
        .unwrap_or(at)
}

fn pushed_down(filter: &MailFilter, after: Option<&Position>) -> Pushed {
    let (folder, category) = match &filter.label {
        None => (None, None),
        Some(label) => match folder(label) {
            Some(folder) => (Some(folder), None),
            None => (None, Some(label.as_str())),
        },
    };
    if filter.to.is_some() || filter.participant.is_some() {
        let mut kql = Vec::new();
        if let Some(from) = &filter.from {
            kql.push(format!("from:{}", kql_word(from)));
        }
        if let Some(to) = &filter.to {
            kql.push(format!("to:{}", kql_word(to)));
        }
        if let Some(who) = &filter.participant {
            kql.push(format!("participants:{}", kql_word(who)));
        }
        if let Some(text) = &filter.subject_contains {
            kql.extend(
                text.split_whitespace()
                    .map(|w| format!("subject:{}", kql_word(w))),
            );
        }
        if let Some(unread) = filter.unread {
            kql.push(format!("isread:{}", !unread));
        }
        if let Some(category) = category {
            kql.push(format!("category:{}", kql_word(category)));
        }
        if let Some(at) = filter.after {
            kql.push(format!("received>={}", stamp(at)));
        }
        if let Some(at) = filter.before {
            kql.push(format!("received<{}", stamp(second_after(at))));
        }
        if let Some(position) = after {
            kql.push(format!("received<={}", stamp(position.at)));
        }
        return Pushed {
            filter: Vec::new(),
            search: kql,
            folder,
        };
    }
    let mut clauses = Vec::new();
    if let Some(from) = &filter.from {
        clauses.push(format!(
            "from/emailAddress/address eq {}",
            quoted(&from.to_lowercase())
        ));
    }
    if let Some(text) = &filter.subject_contains {
        clauses.push(format!("contains(subject,{})", quoted(text)));
    }
    if let Some(unread) = filter.unread {
        clauses.push(format!("isRead eq {}", !unread));
    }
    if let Some(category) = category {
        clauses.push(format!("categories/any(c:c eq {})", quoted(category)));
    }
    if let Some(at) = filter.after {
        clauses.push(format!("receivedDateTime ge {}", stamp(at)));
    }
    if let Some(at) = filter.before {
        clauses.push(format!("receivedDateTime lt {}", stamp(second_after(at))));
    }
    if let Some(position) = after {
        clauses.push(format!("receivedDateTime le {}", stamp(position.at)));
    }
    Pushed {
        filter: clauses,
        search: Vec::new(),
        folder,
    }
}

/// A list call: `top` messages of the filter, newest first.
fn list_call(pushed: &Pushed, top: usize, bodies: bool) -> Call {
    let path = match pushed.folder {
        Some(folder) => format!("/v1.0/me/mailFolders/{folder}/messages"),
        None => "/v1.0/me/messages".to_owned(),
    };
    let select = if bodies {
        format!("{SELECT},body")
    } else {
        SELECT.to_owned()
    };
    let mut call = Call::get("messages.list", path)
        .query("$select", select)
        .query("$top", top.clamp(1, MAX_TOP).to_string());
    if pushed.search.is_empty() {
        if !pushed.filter.is_empty() {
            call = call.query("$filter", sortable_filter(&pushed.filter));
        }
        call = call.query("$orderby", "receivedDateTime desc");
    } else {
        // Graph sorts search results newest first itself.
        call = call.query("$search", format!("\"{}\"", pushed.search.join(" ")));
    }
    call
}

/// The `$filter` clauses joined so that Graph sorts them by `receivedDateTime`: the clauses on
/// it first, or the always-true one when there is none.
fn sortable_filter(clauses: &[String]) -> String {
    let (mut dated, other): (Vec<&str>, Vec<&str>) = clauses
        .iter()
        .map(String::as_str)
        .partition(|c| c.starts_with("receivedDateTime "));
    if dated.is_empty() {
        dated.push(ALWAYS_RECEIVED);
    }
    dated.extend(other);
    dated.join(" and ")
}

/// How many a page's list call asks for: one more than the page, and room for what the
/// position drops in its own second.
fn top(request: &MailRequest) -> usize {
    request.limit + 1 + usize::from(request.after.is_some()) * 10
}

/// A request's filter pushed down, and its first list call.
fn first_call(request: &MailRequest) -> (Pushed, Call) {
    let pushed = pushed_down(&request.filter, request.after.as_ref());
    let call = list_call(&pushed, top(request), request.bodies);
    (pushed, call)
}

fn sort(records: &mut [Record<EmailData>]) {
    records.sort_by(|a, b| Position::compare(Order::NewestFirst, &a.position(), &b.position()));
}

impl MicrosoftProvider {
    async fn messages(
        &self,
        target: Target,
        call: &Call,
    ) -> Result<(Vec<Record<EmailData>>, bool), ProviderError> {
        let list: MessageList = self
            .upstream
            .send(target, call, error::classify)
            .await?
            .json(Provider::Outlook, call.op)?;
        let records = list
            .value
            .into_iter()
            .map(|raw| record(raw, call.op))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((records, list.next_link.is_some()))
    }

    /// One page of a list, newest first.
    pub async fn list_mail(
        &self,
        target: Target,
        request: &MailRequest,
    ) -> Result<ListPage<EmailData>, ProviderError> {
        let (pushed, call) = first_call(request);
        let (records, more) = self.messages(target, &call).await?;
        self.settle(target, request, &pushed, records, more).await
    }

    /// A page from a list call's answer (sorted by position, what is at or before the position
    /// dropped): when the answer was cut, the last second's messages are left whole for the
    /// next page, or read whole when they alone fill this one.
    async fn settle(
        &self,
        target: Target,
        request: &MailRequest,
        pushed: &Pushed,
        mut records: Vec<Record<EmailData>>,
        more_upstream: bool,
    ) -> Result<ListPage<EmailData>, ProviderError> {
        let after = request.after.as_ref();
        // Exact where Graph is not: time bounds below the second, and a subject searched word
        // by word.
        let subject = request
            .filter
            .subject_contains
            .as_deref()
            .map(str::to_lowercase);
        let keep = |r: &Record<EmailData>| {
            after.is_none_or(|p| p.precedes(r))
                && request.filter.within(r.data.date)
                && subject.as_ref().is_none_or(|s| {
                    r.data
                        .subject
                        .as_deref()
                        .is_some_and(|have| have.to_lowercase().contains(s))
                })
        };
        let cut = more_upstream || records.len() >= top(request);
        sort(&mut records);
        if cut && let Some(last) = records.last().map(|r| r.data.date) {
            let whole = records.iter().take_while(|r| r.data.date > last).count();
            if records.iter().take(whole).any(keep) {
                records.truncate(whole);
            } else {
                let call = list_call(&pushed.at_second(last), MAX_TOP, request.bodies);
                let (mut group, _) = self.messages(target, &call).await?;
                sort(&mut group);
                records.retain(|r| r.data.date > last);
                records.extend(group);
            }
        }
        records.retain(keep);
        let more = cut || records.len() > request.limit;
        records.truncate(request.limit);
        Ok(ListPage { records, more })
    }

    /// One page of each request: the list calls travel in Graph JSON batches of 20.
    pub async fn list_mail_many(
        &self,
        target: Target,
        requests: &[MailRequest],
    ) -> Result<Vec<ListPage<EmailData>>, ProviderError> {
        if let [one] = requests {
            return Ok(vec![self.list_mail(target, one).await?]);
        }
        let firsts: Vec<(Pushed, Call)> = requests.iter().map(first_call).collect();
        let mut answers = Vec::with_capacity(requests.len());
        for chunk in firsts.chunks(graph_batch::MAX_REQUESTS) {
            let calls: Vec<&Call> = chunk.iter().map(|(_, call)| call).collect();
            let call = graph_batch::call(&calls);
            let reply = self
                .upstream
                .send(target, &call, graph_batch::classify)
                .await?;
            let parts = graph_batch::responses(&reply, calls.len())
                .ok_or_else(|| unexpected(call.op, "a batch answer without every response"))?;
            for part in parts {
                let list: MessageList = serde_json::from_value(part)
                    .map_err(|e| unexpected("messages.list", e.to_string()))?;
                let records = list
                    .value
                    .into_iter()
                    .map(|raw| record(raw, "messages.list"))
                    .collect::<Result<Vec<_>, _>>()?;
                answers.push((records, list.next_link.is_some()));
            }
        }
        let mut pages = Vec::with_capacity(requests.len());
        for ((request, (pushed, _)), (records, more)) in requests.iter().zip(&firsts).zip(answers) {
            pages.push(self.settle(target, request, pushed, records, more).await?);
        }
        Ok(pages)
    }

    pub async fn get_mail(
        &self,
        target: Target,
        id: &str,
    ) -> Result<Option<Record<EmailData>>, ProviderError> {
        let call = Call::get("messages.get", format!("/v1.0/me/messages/{id}"))
            .query("$select", format!("{SELECT},body"));
        match self.upstream.send(target, &call, error::classify).await {
            Ok(reply) => Ok(Some(record(
                reply.json(Provider::Outlook, call.op)?,
                call.op,
            )?)),
            Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Messages by id through `$batch` (twenty to a batch); ids of no message are left out.
    pub async fn get_mail_many(
        &self,
        target: Target,
        ids: &[String],
    ) -> Result<Vec<Record<EmailData>>, ProviderError> {
        let mut ids: Vec<&String> = ids.iter().filter(|id| is_id(id)).collect();
        ids.sort();
        ids.dedup();
        let calls: Vec<Call> = ids
            .iter()
            .map(|id| {
                Call::get("messages.get", format!("/v1.0/me/messages/{id}"))
                    .query("$select", format!("{SELECT},body"))
            })
            .collect();
        self.lookups(target, Provider::Outlook, &calls)
            .await?
            .into_iter()
            .map(|raw| record(raw, "messages.get"))
            .collect()
    }

    /// Sends: the message as a draft carrying its `internetMessageId`, then the draft's `send`
    /// (a draft left by an earlier try is sent, not made again). A new message's draft is made
    /// with `POST /me/messages`; a reply's with `createReply`, then given its `internetMessageId`,
    /// body and recipients with a PATCH (Graph takes `internetMessageId` only while the message
    /// is a draft). The sent copy is then found by its `internetMessageId` (Graph's send answers
    /// 202 with no body, and the sent copy has an id of its own).
    pub async fn send_mail(
        &self,
        target: Target,
        email: &SendEmail,
    ) -> Result<Sent<EmailData>, ProviderError> {
        let recipients = |list: &[String]| -> Value {
            list.iter()
                .map(|a| json!({ "emailAddress": { "address": a } }))
                .collect()
        };
        let (content_type, content) = match (&email.html, &email.text) {
            (Some(html), _) => ("HTML", html.clone()),
            (None, Some(text)) => ("Text", text.clone()),
            (None, None) => ("Text", String::new()),
        };
        let message_id = email
            .message_id
            .clone()
            .unwrap_or_else(|| format!("<{}@nexus-gateway>", uuid::Uuid::new_v4().simple()));
        let mut message = json!({
            "body": { "contentType": content_type, "content": content },
            "internetMessageId": message_id,
        });
        for (key, list) in [
            ("toRecipients", &email.to),
            ("ccRecipients", &email.cc),
            ("bccRecipients", &email.bcc),
        ] {
            // A reply's draft is already addressed to the original's sender.
            if email.reply_to.is_none() || !list.is_empty() {
                message[key] = recipients(list);
            }
        }
        let draft = match self.with_message_id(target, &message_id, true).await? {
            Some(draft) => draft.remote_id,
            None => match &email.reply_to {
                Some(original) => self.reply_draft(target, original, message).await?,
                None => {
                    if let Some(subject) = &email.subject {
                        message["subject"] = json!(subject);
                    }
                    let create = Call::write(
                        "messages.create",
                        Method::POST,
                        "/v1.0/me/messages",
                        message,
                    );
                    let reply = self.upstream.send(target, &create, error::classify).await?;
                    record(reply.json(Provider::Outlook, create.op)?, create.op)?.remote_id
                }
            },
        };
        // `send` takes no body (Content-Length: 0).
        let send = Call {
            method: Method::POST,
            idempotent: false,
            ..Call::get(
                "messages.sendDraft",
                format!("/v1.0/me/messages/{draft}/send"),
            )
        };
        self.upstream.send(target, &send, error::classify).await?;
        Ok(
            match self.with_message_id(target, &message_id, false).await {
                Ok(Some(record)) => Sent::Read(record),
                Ok(None) => Sent::Unread {
                    remote_id: None,
                    error: unexpected(send.op, "the sent message is not found by its id yet"),
                },
                Err(error) => Sent::Unread {
                    remote_id: None,
                    error,
                },
            },
        )
    }

    /// A reply to `original` as a draft: `createReply` (to the original's sender, `RE:` its
    /// subject, in its conversation), then a PATCH with `changes` (the `internetMessageId`, the
    /// body and any recipients given). A try that fails between the two leaves a draft without
    /// the marker, which is never sent.
    async fn reply_draft(
        &self,
        target: Target,
        original: &str,
        changes: Value,
    ) -> Result<String, ProviderError> {
        let create = Call::write(
            "messages.createReply",
            Method::POST,
            format!("/v1.0/me/messages/{original}/createReply"),
            json!({}),
        );
        let draft = match self.upstream.send(target, &create, error::classify).await {
            Ok(reply) => record(reply.json(Provider::Outlook, create.op)?, create.op)?.remote_id,
            Err(e) if e.kind == ErrorKind::NotFound => {
                return Err(ProviderError::new(
                    ErrorKind::NotFound,
                    Provider::Outlook,
                    create.op,
                    "no message to reply to",
                ));
            }
            Err(e) => return Err(e),
        };
        // Setting the same properties again leaves the draft as it is: harmless to repeat.
        let update = Call {
            idempotent: true,
            ..Call::write(
                "messages.update",
                Method::PATCH,
                format!("/v1.0/me/messages/{draft}"),
                changes,
            )
        };
        self.upstream.send(target, &update, error::classify).await?;
        Ok(draft)
    }

    /// The message with `internetMessageId` `message_id`: a draft, or a sent one.
    async fn with_message_id(
        &self,
        target: Target,
        message_id: &str,
        draft: bool,
    ) -> Result<Option<Record<EmailData>>, ProviderError> {
        let quoted = message_id.replace('\'', "''");
        let call = Call::get("messages.list", "/v1.0/me/messages")
            .query("$select", format!("{SELECT},body,isDraft"))
            .query(
                "$filter",
                format!("internetMessageId eq '{quoted}' and isDraft eq {draft}"),
            );
        let (records, _) = self.messages(target, &call).await?;
        Ok(records.into_iter().next())
    }

    /// The message this mailbox sent with `internetMessageId` `message_id`, if any.
    pub async fn find_sent_mail(
        &self,
        target: Target,
        message_id: &str,
    ) -> Result<Option<Record<EmailData>>, ProviderError> {
        self.with_message_id(target, message_id, false).await
    }

    /// Adds and removes categories, then returns the message as changed.
    pub async fn modify_mail_labels(
        &self,
        target: Target,
        id: &str,
        change: &LabelChange,
    ) -> Result<Record<EmailData>, ProviderError> {
        let current = self.get_mail(target, id).await?.ok_or_else(|| {
            ProviderError::new(
                ErrorKind::NotFound,
                Provider::Outlook,
                "messages.get",
                "no such message",
            )
        })?;
        let mut categories: Vec<String> = current
            .data
            .labels
            .into_iter()
            .filter(|c| !change.remove.iter().any(|r| r.eq_ignore_ascii_case(c)))
            .collect();
        for add in &change.add {
            if !categories.iter().any(|c| c.eq_ignore_ascii_case(add)) {
                categories.push(add.clone());
            }
        }
        // Setting the same categories again leaves them as they are: harmless to repeat.
        let call = Call {
            idempotent: true,
            ..Call::write(
                "messages.update",
                Method::PATCH,
                format!("/v1.0/me/messages/{id}"),
                json!({ "categories": categories }),
            )
        };
        let reply = self.upstream.send(target, &call, error::classify).await?;
        record(reply.json(Provider::Outlook, call.op)?, call.op)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn param<'a>(call: &'a Call, name: &str) -> Option<&'a str> {
        call.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn filters_go_into_filter_unless_a_recipient_needs_search() {
        let at = Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap();
        let mut filter = MailFilter {
            from: Some("Ana@Acme.example".into()),
            subject_contains: Some("Q3 review".into()),
            unread: Some(true),
            label: Some("Customer".into()),
            after: Some(at),
            ..MailFilter::default()
        };
        let call = list_call(&pushed_down(&filter, None), 11, false);
        assert_eq!(
            param(&call, "$filter"),
            Some(
                "receivedDateTime ge 2026-03-01T08:00:00Z and from/emailAddress/address eq 'ana@acme.example' and contains(subject,'Q3 review') and isRead eq false and categories/any(c:c eq 'Customer')"
            )
        );
        let unread = MailFilter {
            unread: Some(true),
            ..MailFilter::default()
        };
        assert_eq!(
            param(
                &list_call(&pushed_down(&unread, None), 11, false),
                "$filter"
            ),
            Some("receivedDateTime ge 1900-01-01T00:00:00Z and isRead eq false")
        );
        assert_eq!(param(&call, "$orderby"), Some("receivedDateTime desc"));
        assert_eq!(param(&call, "$search"), None);

        filter.to = Some("bo@acme.example".into());
        let position = Position {
            at,
            remote_id: "AAMkAGx".into(),
        };
        let call = list_call(&pushed_down(&filter, Some(&position)), 11, false);
        assert_eq!(param(&call, "$filter"), None);
        assert_eq!(param(&call, "$orderby"), None);
        assert_eq!(
            param(&call, "$search"),
            Some(
                "\"from:Ana@Acme.example to:bo@acme.example subject:Q3 subject:review isread:false category:Customer received>=2026-03-01T08:00:00Z received<=2026-03-01T08:00:00Z\""
            )
        );
        let inbox = MailFilter {
            label: Some("Inbox".into()),
            ..MailFilter::default()
        };
        assert_eq!(
            list_call(&pushed_down(&inbox, None), 5, true).path,
            "/v1.0/me/mailFolders/inbox/messages"
        );
    }
}
