//! Mail — Gmail and Outlook messages: the `emails` list (every connected mailbox merged newest
//! first, the filter pushed down to each, bodies fetched only when selected), `sendEmail` (once
//! per idempotency key) and `modifyEmailLabels`, and the page of one contact's mail that
//! `Contact.emails` shows (`contact_emails`, through the request's emails loader, so the
//! contacts of a page are searched together).

use async_graphql::{
    ComplexObject, Context, ID, InputObject, Json, Object, Result, SimpleObject, connection::Edge,
};
use chrono::{DateTime, Utc};
use nexus_core::Synced;
use nexus_core::records::Raw;

use crate::providers::{
    Capability, Provider,
    mail::{self, EmailData, LabelChange, MailFilter, MailRequest, SendEmail},
    record::Record,
};

use super::{
    AppContext,
    errors::{bad_input, upstream_error},
    freshness::{DataSource, Fetched, MaxAge, Origin},
    ids::GlobalId,
    lists::{MergedCursor, MergedPage, PageArgs, edge, merged_page, no_adapter, write_target},
    loaders::{EmailsKey, Loaders},
    types::{EmailAddress, ProviderEnum},
    validate,
    writes::{OnceKey, send_once},
};

type Page<T> = async_graphql::connection::Connection<MergedCursor, T>;

/// A mail message (Gmail message, Outlook message).
#[derive(SimpleObject, Debug, Clone)]
#[graphql(complex)]
pub struct Email {
    #[graphql(skip)]
    pub origin: Provider,
    pub remote_id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub raw: Json<Raw>,
    pub thread_id: Option<String>,
    pub subject: Option<String>,
    pub from: Option<EmailAddress>,
    pub to: Vec<EmailAddress>,
    pub cc: Vec<EmailAddress>,
    pub bcc: Vec<EmailAddress>,
    pub date: DateTime<Utc>,
    pub snippet: Option<String>,
    pub body_text: Option<String>,
    pub body_html: Option<String>,
    pub labels: Vec<String>,
    pub unread: bool,
    #[graphql(skip)]
    pub fetched: Fetched,
}

fn address(a: mail::Address) -> EmailAddress {
    EmailAddress {
        name: a.name,
        email: a.email,
    }
}

impl Email {
    pub fn from_record(record: Record<EmailData>, fetched: Fetched) -> Self {
        let (rest, data) = record.split();
        Email {
            fetched,
            origin: rest.provider,
            remote_id: rest.remote_id,
            created_at: rest.created_at,
            updated_at: rest.updated_at,
            raw: Json(rest.raw),
            thread_id: data.thread_id,
            subject: data.subject,
            from: data.from.map(address),
            to: data.to.into_iter().map(address).collect(),
            cc: data.cc.into_iter().map(address).collect(),
            bcc: data.bcc.into_iter().map(address).collect(),
            date: data.date,
            snippet: data.snippet,
            body_text: data.body_text,
            body_html: data.body_html,
            labels: data.labels,
            unread: data.unread,
        }
    }
}

/// A merged page of mail as a connection.
pub fn connection(page: MergedPage<EmailData>) -> Page<Email> {
    let mut connection = Page::new(page.has_previous, page.has_next);
    connection.edges.extend(
        page.edges.into_iter().map(|(cursor, record, fetched)| {
            Edge::new(cursor, Email::from_record(record, fetched))
        }),
    );
    connection
}

/// Whether the query selects a body below the connection (`nodes` or `edges.node`).
fn bodies_selected(ctx: &Context<'_>) -> bool {
    let look = ctx.look_ahead();
    ["bodyText", "bodyHtml"].iter().any(|field| {
        look.field("nodes").field(field).exists()
            || look.field("edges").field("node").field(field).exists()
    })
}

/// One page of a contact's mail (from or to `address`) across the mailboxes, through the
/// request's emails loader: the contacts of one response are searched together.
pub async fn contact_emails(
    ctx: &Context<'_>,
    address: Option<&str>,
    page: PageArgs,
) -> Result<Page<Email>> {
    let Some(address) = address.map(str::to_lowercase) else {
        return Ok(Page::new(false, false));
    };
    let app = ctx.data_unchecked::<AppContext>();
    let loaders = ctx.data_opt::<Loaders>().unwrap_or(&app.loaders);
    let bodies = bodies_selected(ctx);
    let page = merged_page(
        ctx,
        Capability::Emails,
        None,
        &page,
        |target, after, limit| {
            app.providers.mail(target.provider).ok()?;
            let key = EmailsKey {
                tenant: target.tenant,
                provider: target.provider,
                participant: address.clone(),
                after: after.map(|p| (p.at, p.remote_id)),
                limit,
                bodies,
                max_age: page.max_age.of(&app.reads, target.provider),
            };
            Some(Box::pin(async move { loaders.emails(key).await }))
        },
    )
    .await?;
    Ok(connection(page))
}

#[ComplexObject]
impl Email {
    pub async fn id(&self) -> ID {
        GlobalId::for_record("Email", self.origin, &self.remote_id)
    }
    /// When this message was known to be as shown: when the provider answered (`LIVE`), when
    /// the cached list page holding it was fetched (`CACHED`), or the copy's as-of time
    /// (`SYNCED`).
    async fn fetched_at(&self) -> DateTime<Utc> {
        self.fetched.at
    }
    /// Where this message came from.
    async fn source(&self) -> DataSource {
        self.fetched.source
    }
    async fn provider(&self) -> ProviderEnum {
        self.origin.into()
    }
}

#[derive(InputObject, Debug, Default)]
pub struct EmailFilter {
    pub from: Option<String>,
    pub to: Option<String>,
    pub subject_contains: Option<String>,
    pub after: Option<DateTime<Utc>>,
    pub before: Option<DateTime<Utc>>,
    pub label: Option<String>,
    pub unread: Option<bool>,
}

#[derive(InputObject, Debug)]
pub struct SendEmailInput {
    pub provider: ProviderEnum,
    pub to: Vec<String>,
    #[graphql(default)]
    pub cc: Vec<String>,
    #[graphql(default)]
    pub bcc: Vec<String>,
    pub subject: Option<String>,
    pub text: Option<String>,
    pub html: Option<String>,
    /// Reply in the thread of this email.
    pub reply_to_id: Option<ID>,
    /// Repeating a send with the same key returns the first result and sends nothing.
    pub idempotency_key: Option<String>,
}

#[derive(InputObject, Debug)]
pub struct ModifyEmailLabelsInput {
    pub id: ID,
    #[graphql(default)]
    pub add: Vec<String>,
    #[graphql(default)]
    pub remove: Vec<String>,
}

#[derive(SimpleObject)]
pub struct SendEmailPayload {
    pub email: Email,
}

#[derive(SimpleObject)]
pub struct ModifyEmailLabelsPayload {
    pub email: Email,
}

#[derive(Default)]
pub struct MailQuery;

#[Object]
impl MailQuery {
    /// Mail across Gmail and Outlook, newest first. `maxAge`: how old, in seconds, the synced
    /// copy or a cached page may be (0: live; omitted: the provider's default, 300). The copy
    /// holds the window (90 days by default); older bounds, KQL-only filters at Outlook and
    /// selected bodies read live.
    #[graphql(complexity = "super::lists::page_cost(first, child_complexity)")]
    async fn emails(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<EmailFilter>,
        providers: Option<Vec<ProviderEnum>>,
        max_age: Option<i32>,
    ) -> Result<Page<Email>> {
        let max_age = MaxAge::parse(max_age)?;
        let filter = filter.unwrap_or_default();
        validate::filter_texts(&[
            ("filter.subjectContains", filter.subject_contains.as_deref()),
            ("filter.label", filter.label.as_deref()),
        ])?;
        validate::optional_email("filter.from", filter.from.as_deref())?;
        validate::optional_email("filter.to", filter.to.as_deref())?;
        validate::range("filter.before", filter.after, filter.before)?;
        if let Some(text) = &filter.subject_contains {
            validate::non_empty("filter.subjectContains", text)?;
        }
        if let Some(label) = &filter.label {
            validate::non_empty("filter.label", label)?;
        }
        let filter = MailFilter {
            from: filter.from.map(|a| a.to_lowercase()),
            to: filter.to.map(|a| a.to_lowercase()),
            subject_contains: filter.subject_contains,
            after: filter.after,
            before: filter.before,
            label: filter.label,
            unread: filter.unread,
            participant: None,
        };
        let page = PageArgs::parse(first, after)?.within(max_age);
        let app = ctx.data_unchecked::<AppContext>();
        let bodies = bodies_selected(ctx);
        let page = merged_page(
            ctx,
            Capability::Emails,
            providers.as_deref(),
            &page,
            |target, after, limit| {
                let mail = app.providers.mail(target.provider).ok()?;
                let request = MailRequest {
                    filter: filter.clone(),
                    after,
                    limit,
                    bodies,
                };
                let age = max_age.of(&app.reads, target.provider);
                let copy = app.read_model.clone();
                Some(Box::pin(async move {
                    if !age.is_zero()
                        && let Synced::Synced { value, as_of } =
                            copy.emails(target, &request, age).await
                    {
                        // Without a date bound the list reaches past the window: older mail
                        // follows live.
                        let reaches_past = request.filter.after.is_none();
                        let (after, limit) = (request.after.clone(), request.limit);
                        let older = move |after, limit| async move {
                            let request = MailRequest {
                                after,
                                limit,
                                ..request
                            };
                            let (page, fetch) = mail.list_within(target, &request, age).await?;
                            Ok((page, Origin::of_fetch(fetch)))
                        };
                        return edge::past_the_window(
                            value,
                            as_of,
                            after,
                            limit,
                            reaches_past,
                            older,
                        )
                        .await;
                    }
                    let (page, fetch) = mail.list_within(target, &request, age).await?;
                    Ok((page, Origin::of_fetch(fetch)))
                }))
            },
        )
        .await?;
        Ok(connection(page))
    }
}

#[derive(Default)]
pub struct MailMutation;

#[Object]
impl MailMutation {
    async fn send_email(
        &self,
        ctx: &Context<'_>,
        input: SendEmailInput,
    ) -> Result<SendEmailPayload> {
        if input.to.is_empty() {
            return Err(bad_input("input.to", "at least one recipient is required"));
        }
        validate::addresses("input.to", &input.to)?;
        validate::addresses("input.cc", &input.cc)?;
        validate::addresses("input.bcc", &input.bcc)?;
        if let Some(subject) = &input.subject {
            validate::header_text("input.subject", subject)?;
        }
        if input.text.is_none() && input.html.is_none() {
            return Err(bad_input("input.text", "give text, html or both"));
        }
        let provider: Provider = input.provider.into();
        let reply_to = match &input.reply_to_id {
            Some(id) => {
                let (owner, remote_id) = validate::record_id("input.replyToId", id, "Email")?;
                if owner != provider {
                    return Err(bad_input(
                        "input.replyToId",
                        "a reply goes through the provider of the email it answers",
                    ));
                }
                Some(remote_id)
            }
            None => None,
        };
        let lower =
            |list: &[String]| -> Vec<String> { list.iter().map(|a| a.to_lowercase()).collect() };
        let key = OnceKey::new(
            ctx,
            "sendEmail",
            input.idempotency_key.as_deref(),
            &serde_json::json!({
                "provider": provider.slug(),
                "to": lower(&input.to),
                "cc": lower(&input.cc),
                "bcc": lower(&input.bcc),
                "subject": input.subject,
                "text": input.text,
                "html": input.html,
                "replyTo": reply_to,
            }),
        )?;
        let target = write_target(ctx, Capability::Emails, provider).await?;
        let mail = ctx
            .data_unchecked::<AppContext>()
            .providers
            .mail(provider)
            .map_err(|e| no_adapter(e.provider))?;
        let message_id = key.as_ref().map(OnceKey::message_id);
        let email = SendEmail {
            to: input.to,
            cc: input.cc,
            bcc: input.bcc,
            subject: input.subject,
            text: input.text,
            html: input.html,
            reply_to,
            message_id: message_id.clone(),
        };
        let record = send_once(
            ctx,
            provider,
            key,
            mail.send(target, &email),
            async |_| match &message_id {
                Some(id) => mail.find_sent(target, id).await,
                None => Ok(None),
            },
            async |_, remote_id| {
                mail.get(target, &remote_id)
                    .await
                    .map_err(|e| upstream_error(&e))
            },
        )
        .await?;
        Ok(SendEmailPayload {
            email: Email::from_record(record, Fetched::live(MaxAge::default())),
        })
    }

    async fn modify_email_labels(
        &self,
        ctx: &Context<'_>,
        input: ModifyEmailLabelsInput,
    ) -> Result<ModifyEmailLabelsPayload> {
        let (provider, remote_id) = validate::record_id("input.id", &input.id, "Email")?;
        if input.add.is_empty() && input.remove.is_empty() {
            return Err(bad_input("input.add", "give labels to add or to remove"));
        }
        for (field, labels) in [("input.add", &input.add), ("input.remove", &input.remove)] {
            labels
                .iter()
                .try_for_each(|label| validate::non_empty(field, label))?;
        }
        let target = write_target(ctx, Capability::Emails, provider).await?;
        let mail = ctx
            .data_unchecked::<AppContext>()
            .providers
            .mail(provider)
            .map_err(|e| no_adapter(e.provider))?;
        let change = LabelChange {
            add: input.add,
            remove: input.remove,
        };
        let record = mail
            .modify_labels(target, &remote_id, &change)
            .await
            .map_err(|e| match e.kind {
                nexus_core::ErrorKind::Invalid => bad_input("input.add", e.message.clone()),
                _ => upstream_error(&e),
            })?;
        Ok(ModifyEmailLabelsPayload {
            email: Email::from_record(record, Fetched::live(MaxAge::default())),
        })
    }
}

/// One email by its provider id (`node(id:)`); `None` when the mailbox has no such message.
pub async fn email_node(
    ctx: &Context<'_>,
    provider: Provider,
    remote_id: &str,
    max_age: MaxAge,
) -> Result<Option<Email>> {
    let target = write_target(ctx, Capability::Emails, provider).await?;
    let mail = ctx
        .data_unchecked::<AppContext>()
        .providers
        .mail(provider)
        .map_err(|e| no_adapter(e.provider))?;
    let record = mail
        .get(target, remote_id)
        .await
        .map_err(|e| upstream_error(&e))?;
    let origin = Origin::live();
    super::freshness::count(provider, "Email", &origin);
    Ok(record.map(|r| {
        let fetched = origin.fetched(&r.remote_id, max_age);
        Email::from_record(r, fetched)
    }))
}
