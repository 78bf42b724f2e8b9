//! Mail — Gmail and Outlook messages: the `emails` list, sending and labels.

use async_graphql::{ComplexObject, Context, ID, InputObject, Json, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use crate::providers::{Capability, Provider};

use super::{
    errors::bad_input,
    ids::GlobalId,
    lists::{MergedCursor, PageArgs, merged, no_adapter, write_target},
    types::{EmailAddress, ProviderEnum},
    validate,
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
    pub raw: Json<serde_json::Value>,
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
}

#[ComplexObject]
impl Email {
    pub async fn id(&self) -> ID {
        GlobalId::for_record("Email", self.origin, &self.remote_id)
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
    /// Mail across Gmail and Outlook, newest first.
    #[graphql(complexity = "super::lists::page_cost(first, child_complexity)")]
    async fn emails(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<EmailFilter>,
        providers: Option<Vec<ProviderEnum>>,
    ) -> Result<Page<Email>> {
        if let Some(f) = &filter {
            validate::optional_email("filter.from", f.from.as_deref())?;
            validate::optional_email("filter.to", f.to.as_deref())?;
            validate::range("filter.before", f.after, f.before)?;
        }
        merged(
            ctx,
            Capability::Emails,
            providers.as_deref(),
            PageArgs::parse(first, after)?,
        )
        .await
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
        if input.text.is_none() && input.html.is_none() {
            return Err(bad_input("input.text", "give text, html or both"));
        }
        if let Some(id) = &input.reply_to_id {
            validate::record_id("input.replyToId", id, "Email")?;
        }
        let provider: Provider = input.provider.into();
        write_target(ctx, Capability::Emails, provider).await?;
        Err(no_adapter(provider))
    }

    async fn modify_email_labels(
        &self,
        ctx: &Context<'_>,
        input: ModifyEmailLabelsInput,
    ) -> Result<ModifyEmailLabelsPayload> {
        let (provider, _) = validate::record_id("input.id", &input.id, "Email")?;
        if input.add.is_empty() && input.remove.is_empty() {
            return Err(bad_input("input.add", "give labels to add or to remove"));
        }
        let provider: Provider = provider;
        write_target(ctx, Capability::Emails, provider).await?;
        Err(no_adapter(provider))
    }
}
