//! Gmail v1 mail: lists are `users.messages.list` with the filter in `q` (`from:`, `to:`,
//! `subject:`, `after:`/`before:` in epoch seconds, `label:`, `is:unread`, and
//! `{from:x to:x}` for a participant), which answers ids only, newest first; the messages
//! themselves come through the batch endpoint (`batch`), in batches sized so that a list
//! call and a batch together fit the user's quota units per second (250: list 5, get 5), with
//! the labels list riding in the first batch. `format=metadata` unless bodies are wanted, then
//! `format=full`.
//!
//! Paging is by position (date newest first, then id): Gmail's `q` counts in whole seconds, so a
//! page asks up to the end of the position's second and drops what is at or before it. Many
//! lists at once (Contact.emails) travel as one batch of list calls, then one batch of gets.

use std::collections::{HashMap, HashSet};

use chrono::Utc;
use http::Method;
use serde_json::{Value, json};

use crate::{
    providers::{
        Cataloged, Provider,
        mail::{EmailData, LabelChange, MailFilter, MailRequest, SendEmail},
        record::{ListPage, Position, Record, Sent},
    },
    upstream::{Call, ErrorKind, ProviderError, Reply, Target},
};

use super::{
    GoogleProvider, batch, error,
    gmail_model::{self, LabelList, LabelNames, METADATA_HEADERS, Message, MessageList, Replied},
};

const MESSAGES: &str = "/gmail/v1/users/me/messages";
const BATCH: &str = "/batch/gmail/v1";
const LABELS: &str = "/gmail/v1/users/me/labels";
/// Most ids one list call returns.
const MAX_RESULTS: usize = 500;
/// Gmail takes at most this many calls in one batch.
const MAX_PARTS: usize = 100;

/// Calls of one batch: as many 5-unit calls as fit the per-second units beside a list call
/// (the catalog's `[gmail.limits] units`), and never more than Gmail's 100.
fn batch_size() -> usize {
    let Some(units) = Provider::Gmail.entry().limits.get("units") else {
        return MAX_PARTS;
    };
    let weight = |op: &str| units.weights.get(op).copied().unwrap_or(1).max(1);
    let room = units
        .capacity
        .saturating_sub(weight("messages.list"))
        .checked_div(weight("messages.batch"))
        .unwrap_or(1);
    (room as usize).clamp(1, MAX_PARTS)
}

/// A value for `q`, one term whatever it holds: without quotes of its own, and quoted when it
/// is empty or has spaces or grouping characters (`{}()`), which would otherwise end the term or
/// open or close a group of the search.
fn term(value: &str) -> String {
    let clean = value.replace('"', "");
    if clean.is_empty() || clean.contains(|c: char| c.is_whitespace() || "{}()".contains(c)) {
        format!("\"{clean}\"")
    } else {
        clean
    }
}

/// A label name as Gmail search writes it (`Follow up` → `follow-up`).
fn label_term(label: &str) -> String {
    label.trim().to_lowercase().replace(' ', "-")
}

/// The filter and the position as a Gmail search.
fn query(filter: &MailFilter, after: Option<&Position>) -> String {
    let mut q = Vec::new();
    if let Some(from) = &filter.from {
        q.push(format!("from:{}", term(from)));
    }
    if let Some(to) = &filter.to {
        q.push(format!("to:{}", term(to)));
    }
    if let Some(who) = &filter.participant {
        let who = term(who);
        q.push(format!("{{from:{who} to:{who}}}"));
    }
    if let Some(text) = &filter.subject_contains {
        q.push(format!("subject:{}", term(text)));
    }
    if let Some(label) = &filter.label {
        q.push(format!("label:{}", term(&label_term(label))));
    }
    match filter.unread {
        Some(true) => q.push("is:unread".into()),
        Some(false) => q.push("-is:unread".into()),
        None => {}
    }
    if let Some(at) = filter.after {
        q.push(format!("after:{}", at.timestamp()));
    }
    // Up to the end of the position's second (and before the filter's bound, rounded up).
    let bounds = [
        filter
            .before
            .map(|b| b.timestamp() + i64::from(b.timestamp_subsec_nanos() > 0)),
        after.map(|p| p.at.timestamp() + 1),
    ];
    if let Some(before) = bounds.into_iter().flatten().min() {
        q.push(format!("before:{before}"));
    }
    q.join(" ")
}

/// A list call's parameters.
fn list_query(q: &str, max: usize, page_token: Option<&str>) -> Vec<(String, String)> {
    let mut query = Vec::new();
    if !q.is_empty() {
        query.push(("q".to_owned(), q.to_owned()));
    }
    query.push(("maxResults".to_owned(), max.to_string()));
    if let Some(token) = page_token {
        query.push(("pageToken".to_owned(), token.to_owned()));
    }
    query
}

/// A call's path with its query, for a batch part.
fn path_of(call: &Call) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&call.query)
        .finish();
    format!("{}?{query}", call.path)
}

fn get_path(id: &str, bodies: bool) -> String {
    let mut call = Call::get("messages.get", format!("{MESSAGES}/{id}"));
    if bodies {
        call = call.query("format", "full");
    } else {
        call = call.query("format", "metadata");
        for header in METADATA_HEADERS {
            call = call.query("metadataHeaders", *header);
        }
    }
    path_of(&call)
}

fn unexpected(op: &'static str, message: &str) -> ProviderError {
    ProviderError::new(ErrorKind::Upstream, Provider::Gmail, op, message)
}

/// The Gmail call a batch part makes, by its path: the op whose weight (quota units) it spends.
fn part_op(path: &str) -> &'static str {
    let path = path.split('?').next().unwrap_or_default();
    match path.strip_prefix("/gmail/v1/users/me/") {
        Some("labels") => "labels.list",
        Some("messages") => "messages.list",
        Some(rest) if rest.starts_with("messages/") => "messages.get",
        _ => "messages.batch",
    }
}

/// The batch call carrying `paths` (each `/gmail/v1/...` with its query), counted in the rate
/// classes as those calls, each at its own weight (a labels list 1 unit, a get 5).
fn batch_call(paths: &[String]) -> Call {
    batch::call("messages.batch", BATCH, paths).parts(paths.iter().map(|p| part_op(p)).collect())
}

/// A part's answer as a provider error, when it is one.
fn part_error(answer: &Reply, op: &'static str) -> Option<ProviderError> {
    batch::part_error(Provider::Gmail, op, answer)
}

/// Where one list stands while it is being filled.
struct Listing {
    request: MailRequest,
    q: String,
    ids: Vec<String>,
    next: Option<String>,
    records: Vec<Record<EmailData>>,
}

impl Listing {
    fn full(&self) -> bool {
        self.records.len() > self.request.limit
    }
}

impl GoogleProvider {
    /// Runs `paths` as batches (each at most `batch_size` calls); the answers in order.
    async fn batch(&self, target: Target, paths: &[String]) -> Result<Vec<Reply>, ProviderError> {
        let mut answers = Vec::with_capacity(paths.len());
        for chunk in paths.chunks(batch_size()) {
            let call = batch_call(chunk);
            let reply = self.upstream.send(target, &call, batch::classify).await?;
            let parts = batch::answers(&reply, chunk.len())
                .and_then(|answers| answers.into_iter().collect::<Option<Vec<_>>>())
                .ok_or_else(|| unexpected(call.op, "a batch answer without every part"))?;
            answers.extend(parts);
        }
        Ok(answers)
    }

    /// Messages by id through the batch endpoint, with the label names in the same round trip;
    /// ids that no longer exist are left out.
    async fn messages(
        &self,
        target: Target,
        ids: &[String],
        bodies: bool,
    ) -> Result<HashMap<String, Record<EmailData>>, ProviderError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let mut paths = vec![LABELS.to_owned()];
        paths.extend(ids.iter().map(|id| get_path(id, bodies)));
        let answers = self.batch(target, &paths).await?;
        let labels = label_names(&answers[0])?;
        let mut out = HashMap::new();
        for answer in &answers[1..] {
            if let Some(e) = part_error(answer, "messages.get") {
                if e.kind == ErrorKind::NotFound {
                    continue;
                }
                return Err(e);
            }
            let raw: Value = answer.json(Provider::Gmail, "messages.get")?;
            let message: Message = serde_json::from_value(raw.clone())
                .map_err(|e| unexpected("messages.get", &e.to_string()))?;
            let record = gmail_model::record(message, raw, &labels, bodies);
            out.insert(record.remote_id.clone(), record);
        }
        Ok(out)
    }

    /// The label names of the mailbox, by id.
    async fn labels(&self, target: Target) -> Result<LabelNames, ProviderError> {
        let reply = self
            .upstream
            .send(target, &Call::get("labels.list", LABELS), error::classify)
            .await?;
        label_names(&reply)
    }

    /// Fills each listing: keeps, in list order, the messages after its position and within its
    /// time bounds, until it holds one more than its limit or Gmail has no more.
    async fn fill(
        &self,
        target: Target,
        listings: &mut [Listing],
        open: &[usize],
        bodies: bool,
    ) -> Result<(), ProviderError> {
        let mut wanted: Vec<String> = Vec::new();
        let mut seen = HashSet::new();
        for listing in open.iter().map(|i| &listings[*i]) {
            for id in &listing.ids {
                if seen.insert(id.clone()) {
                    wanted.push(id.clone());
                }
            }
        }
        let found = self.messages(target, &wanted, bodies).await?;
        for i in open {
            let listing = &mut listings[*i];
            for id in std::mem::take(&mut listing.ids) {
                if listing.full() {
                    // Kept for the next page's ask; nothing to hold on to here.
                    break;
                }
                let Some(record) = found.get(&id) else {
                    continue;
                };
                let after_position = listing
                    .request
                    .after
                    .as_ref()
                    .is_none_or(|p| p.precedes(record));
                if after_position && listing.request.filter.within(record.data.date) {
                    listing.records.push(record.clone());
                }
            }
        }
        Ok(())
    }

    /// One page of each request: list calls together (one batch, or one call for one request),
    /// then the messages together; a list left short by dropped records asks Gmail's next page.
    pub async fn list_mail_many(
        &self,
        target: Target,
        requests: &[MailRequest],
    ) -> Result<Vec<ListPage<EmailData>>, ProviderError> {
        let bodies = requests.iter().any(|r| r.bodies);
        let mut listings: Vec<Listing> = requests
            .iter()
            .map(|request| Listing {
                q: query(&request.filter, request.after.as_ref()),
                request: request.clone(),
                ids: Vec::new(),
                next: None,
                records: Vec::new(),
            })
            .collect();
        let mut open: Vec<usize> = (0..listings.len()).collect();
        let mut first = true;
        while !open.is_empty() {
            let calls: Vec<Call> = open
                .iter()
                .map(|i| {
                    let l = &listings[*i];
                    let max = (l.request.limit + 1 - l.records.len()).clamp(1, MAX_RESULTS);
                    let token = if first { None } else { l.next.as_deref() };
                    Call {
                        query: list_query(&l.q, max, token),
                        ..Call::get("messages.list", MESSAGES)
                    }
                })
                .collect();
            let answers = match calls.as_slice() {
                [one] => vec![self.upstream.send(target, one, error::classify).await?],
                _ => {
                    let paths: Vec<String> = calls.iter().map(path_of).collect();
                    self.batch(target, &paths).await?
                }
            };
            for (i, answer) in open.iter().zip(&answers) {
                if let Some(e) = part_error(answer, "messages.list") {
                    return Err(e);
                }
                let list: MessageList = answer.json(Provider::Gmail, "messages.list")?;
                let listing = &mut listings[*i];
                listing.ids = list.messages.into_iter().map(|m| m.id).collect();
                listing.next = list.next_page_token;
            }
            self.fill(target, &mut listings, &open, bodies).await?;
            open.retain(|i| !listings[*i].full() && listings[*i].next.is_some());
            first = false;
        }
        Ok(listings
            .into_iter()
            .map(|mut l| {
                let more = l.full() || l.next.is_some();
                l.records.truncate(l.request.limit);
                ListPage {
                    records: l.records,
                    more,
                }
            })
            .collect())
    }

    /// One message (metadata), with its label names.
    pub async fn get_mail(
        &self,
        target: Target,
        id: &str,
    ) -> Result<Option<Record<EmailData>>, ProviderError> {
        let mut found = self.messages(target, &[id.to_owned()], false).await?;
        Ok(found.remove(id))
    }

    /// Messages (metadata) by id, with their label names: one round trip per batch of the
    /// batch endpoint (`batch_size` calls each, the labels list riding in the first); ids of no
    /// message are left out.
    pub async fn get_mail_many(
        &self,
        target: Target,
        ids: &[String],
    ) -> Result<Vec<Record<EmailData>>, ProviderError> {
        let mut wanted = Vec::with_capacity(ids.len());
        let mut seen = HashSet::new();
        // Gmail's ids are hexadecimal; anything else names no message (and no other path).
        for id in ids
            .iter()
            .filter(|id| id.chars().all(|c| c.is_ascii_alphanumeric()))
        {
            if seen.insert(id.as_str()) {
                wanted.push(id.clone());
            }
        }
        Ok(self
            .messages(target, &wanted, false)
            .await?
            .into_values()
            .collect())
    }

    /// What a reply needs of the message it answers.
    async fn replied(&self, target: Target, id: &str) -> Result<Replied, ProviderError> {
        let mut call = Call::get("messages.get", format!("{MESSAGES}/{id}"));
        call = call.query("format", "metadata");
        for header in ["Message-ID", "References", "Subject"] {
            call = call.query("metadataHeaders", header);
        }
        let message: Message = self
            .upstream
            .send(target, &call, error::classify)
            .await?
            .json(Provider::Gmail, call.op)?;
        Ok(Replied {
            thread_id: message.thread_id.clone(),
            message_id: message.header("Message-ID").map(str::to_owned),
            references: message.header("References").map(str::to_owned),
            subject: message.header("Subject").map(str::to_owned),
        })
    }

    /// Sends an RFC 5322 message (in the replied message's thread), then reads it back; a
    /// read-back that fails leaves the sent message's id ([`Sent::Unread`]).
    pub async fn send_mail(
        &self,
        target: Target,
        email: &SendEmail,
    ) -> Result<Sent<EmailData>, ProviderError> {
        let replied = match &email.reply_to {
            Some(id) => Some(self.replied(target, id).await?),
            None => None,
        };
        let message = gmail_model::compose(email, replied.as_ref(), Utc::now());
        let mut body = json!({ "raw": gmail_model::raw(&message) });
        if let Some(thread) = replied.as_ref().and_then(|r| r.thread_id.as_deref()) {
            body["threadId"] = json!(thread);
        }
        let call = Call::write(
            "messages.send",
            Method::POST,
            format!("{MESSAGES}/send"),
            body,
        );
        let sent: Value = self
            .upstream
            .send(target, &call, error::classify)
            .await?
            .json(Provider::Gmail, call.op)?;
        let id = sent["id"]
            .as_str()
            .ok_or_else(|| unexpected(call.op, "no id for the sent message"))?;
        let unread = |error| Sent::Unread {
            remote_id: Some(id.to_owned()),
            error,
        };
        Ok(match self.get_mail(target, id).await {
            Ok(Some(record)) => Sent::Read(record),
            Ok(None) => unread(unexpected(call.op, "the sent message cannot be read back")),
            Err(error) => unread(error),
        })
    }

    /// The message sent with `message_id`, found with Gmail's `rfc822msgid:` search (trash
    /// included: a sent message the user deleted was still sent).
    pub async fn find_sent_mail(
        &self,
        target: Target,
        message_id: &str,
    ) -> Result<Option<Record<EmailData>>, ProviderError> {
        let bare = message_id.trim_start_matches('<').trim_end_matches('>');
        let mut query = list_query(&format!("rfc822msgid:{bare}"), 10, None);
        query.push(("includeSpamTrash".to_owned(), "true".to_owned()));
        let call = Call {
            query,
            ..Call::get("messages.list", MESSAGES)
        };
        let list: MessageList = self
            .upstream
            .send(target, &call, error::classify)
            .await?
            .json(Provider::Gmail, call.op)?;
        let ids: Vec<String> = list.messages.into_iter().map(|m| m.id).collect();
        let mut found = self.messages(target, &ids, false).await?;
        // The sender's copy (SENT) is the one this mailbox sent.
        let sent = ids
            .iter()
            .find(|id| {
                found
                    .get(*id)
                    .is_some_and(|r| r.data.labels.iter().any(|l| l == "SENT"))
            })
            .or(ids.first())
            .cloned();
        Ok(sent.and_then(|id| found.remove(&id)))
    }

    /// Adds and removes labels by name (or id), then reads the message back.
    pub async fn modify_mail_labels(
        &self,
        target: Target,
        id: &str,
        change: &LabelChange,
    ) -> Result<Record<EmailData>, ProviderError> {
        let names = self.labels(target).await?;
        let resolve = |wanted: &[String]| -> Result<Vec<String>, ProviderError> {
            wanted
                .iter()
                .map(|w| {
                    names
                        .iter()
                        .find(|(id, name)| {
                            id.eq_ignore_ascii_case(w) || name.eq_ignore_ascii_case(w)
                        })
                        .map(|(id, _)| id.clone())
                        .ok_or_else(|| {
                            ProviderError::new(
                                ErrorKind::Invalid,
                                Provider::Gmail,
                                "messages.modify",
                                format!("no label named {w}"),
                            )
                        })
                })
                .collect()
        };
        let body = json!({
            "addLabelIds": resolve(&change.add)?,
            "removeLabelIds": resolve(&change.remove)?,
        });
        // Setting the same labels twice leaves them as once: harmless to repeat.
        let call = Call {
            idempotent: true,
            ..Call::write(
                "messages.modify",
                Method::POST,
                format!("{MESSAGES}/{id}/modify"),
                body,
            )
        };
        self.upstream.send(target, &call, error::classify).await?;
        self.get_mail(target, id).await?.ok_or_else(|| {
            ProviderError::new(
                ErrorKind::NotFound,
                Provider::Gmail,
                call.op,
                "no such message",
            )
        })
    }
}

fn label_names(answer: &Reply) -> Result<LabelNames, ProviderError> {
    if let Some(e) = part_error(answer, "labels.list") {
        return Err(e);
    }
    let list: LabelList = answer.json(Provider::Gmail, "labels.list")?;
    Ok(list.labels.into_iter().map(|l| (l.id, l.name)).collect())
}

#[cfg(test)]
mod proptests;

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn each_batch_part_is_counted_as_the_call_it_makes() {
        let call = batch_call(&[
            "/gmail/v1/users/me/labels".to_owned(),
            "/gmail/v1/users/me/messages?q=from%3Aa&maxResults=5".to_owned(),
            "/gmail/v1/users/me/messages/18c?format=metadata".to_owned(),
        ]);
        assert_eq!(call.op, "messages.batch");
        assert_eq!(call.path, BATCH);
        assert_eq!(
            call.parts,
            ["labels.list", "messages.list", "messages.get"],
            "Gmail spends 1, 5 and 5 units"
        );
    }

    #[test]
    fn the_filter_and_position_go_into_q() {
        let at = |s: i64, ms: u32| Utc.timestamp_opt(s, ms * 1_000_000).unwrap();
        let filter = MailFilter {
            from: Some("ana@acme.example".into()),
            to: Some("bo@acme.example".into()),
            subject_contains: Some("Q3 \"review\"".into()),
            after: Some(at(1_000, 500)),
            before: Some(at(2_000, 1)),
            label: Some("Follow up".into()),
            unread: Some(true),
            participant: None,
        };
        let position = Position {
            at: at(1_500, 250),
            remote_id: "abc".into(),
        };
        assert_eq!(
            query(&filter, Some(&position)),
            "from:ana@acme.example to:bo@acme.example subject:\"Q3 review\" label:follow-up is:unread after:1000 before:1501"
        );
        let who = MailFilter {
            participant: Some("ana@acme.example".into()),
            unread: Some(false),
            ..MailFilter::default()
        };
        assert_eq!(
            query(&who, None),
            "{from:ana@acme.example to:ana@acme.example} -is:unread"
        );
    }

    #[test]
    fn a_batch_fits_the_units_of_a_second_beside_a_list_call() {
        assert_eq!(batch_size(), 49, "(250 - 5) / 5");
    }
}
