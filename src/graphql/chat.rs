//! Chat — Slack and Teams: the `messages` and `channels` lists, merged across the tenant's chat
//! connections, and `postMessage`.
//!
//! - `messages` runs newest first by `sentAt`. `filter.channel` is a provider's channel id (Slack
//!   `C…`, Teams `{teamId}/{channelId}`): only the provider that owns it is asked.
//!   `filter.threadId` (with a channel) lists that thread's replies.
//! - `channels` runs newest first by created time (the one immutable time key both providers
//!   give), ties by id.
//! - A message's `author` is resolved through the per-request chat users loader, itself backed
//!   by the adapters' five-minute user cache; only when `name` or `email` is selected.
//! - `postMessage` posts once per `idempotencyKey`: a repeat reads the first message back and
//!   posts nothing.

use async_graphql::{
    ComplexObject, Context, ID, InputObject, Json, Object, Result, SimpleObject, connection::Edge,
};
use chrono::{DateTime, Utc};
use nexus_core::records::Raw;

use crate::providers::{
    Capability, Cataloged, Provider,
    chat::{self, ChannelQuery, MessageQuery, PostMessage, Record, UserKey},
};
use nexus_core::{ErrorKind, ProviderError};

use super::{
    AppContext,
    errors::{bad_input, upstream_error},
    freshness::{DataSource, Fetched, MaxAge, Origin},
    ids::GlobalId,
    lists::{
        MergedCursor, MergedPage, PageArgs, edge, live, merged_page, no_adapter, tenant,
        write_target,
    },
    loaders::{AuthorMessagesKey, ChatUserKey},
    types::ProviderEnum,
    validate,
    writes::{OnceKey, send_once},
};

type Page<T> = async_graphql::connection::Connection<MergedCursor, T>;

/// Slack's longest message.
const MAX_TEXT: usize = 40_000;

/// Who wrote a chat message.
#[derive(SimpleObject, Debug, Clone)]
pub struct MessageAuthor {
    pub id: String,
    pub name: Option<String>,
    pub email: Option<String>,
}

/// A chat channel as a message names it.
#[derive(SimpleObject, Debug, Clone)]
pub struct ChannelRef {
    pub id: String,
    pub name: Option<String>,
}

/// A chat message (Slack, Teams).
#[derive(SimpleObject, Debug, Clone)]
#[graphql(complex)]
pub struct Message {
    #[graphql(skip)]
    pub origin: Provider,
    pub remote_id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub raw: Json<Raw>,
    pub text: String,
    pub channel: ChannelRef,
    #[graphql(skip)]
    pub author_id: Option<String>,
    pub sent_at: DateTime<Utc>,
    /// The thread's parent message in the provider's terms (Slack `ts`, Teams message id), on
    /// replies and on parents with replies; `postMessage` takes it to reply in the thread.
    pub thread_id: Option<String>,
    pub reply_count: i32,
    #[graphql(skip)]
    pub fetched: Fetched,
}

impl Message {
    pub fn from_record(record: Record<chat::Message>, fetched: Fetched) -> Self {
        let (rest, data) = record.split();
        Self {
            fetched,
            origin: rest.provider,
            remote_id: rest.remote_id,
            created_at: rest.created_at,
            updated_at: rest.updated_at,
            raw: Json(rest.raw),
            text: data.text,
            channel: ChannelRef {
                id: data.channel.id,
                name: data.channel.name,
            },
            author_id: data.author,
            sent_at: data.sent_at,
            thread_id: data.thread_id,
            reply_count: data.reply_count.try_into().unwrap_or(i32::MAX),
        }
    }
}

#[ComplexObject]
impl Message {
    pub async fn id(&self) -> ID {
        GlobalId::for_record("Message", self.origin, &self.remote_id)
    }
    /// When this message was known to be as shown: when the provider answered (`LIVE`).
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
    /// The author; `name` and `email` come from the provider's user directory.
    async fn author(&self, ctx: &Context<'_>) -> Result<Option<MessageAuthor>> {
        let Some(id) = self.author_id.clone() else {
            return Ok(None);
        };
        let look = ctx.look_ahead();
        if !look.field("name").exists() && !look.field("email").exists() {
            return Ok(Some(MessageAuthor {
                id,
                name: None,
                email: None,
            }));
        }
        let key = ChatUserKey {
            tenant: tenant(ctx)?,
            provider: self.origin,
            key: UserKey::Id(id.clone()),
        };
        let loaders = &ctx.data_unchecked::<AppContext>().loaders;
        let user = match loaders.chat_users([key.clone()]).await.remove(&key) {
            Some(Ok(user)) => user,
            Some(Err(error)) => return Err(upstream_error(&error)),
            None => None,
        };
        Ok(Some(MessageAuthor {
            id,
            name: user.as_ref().and_then(|u| u.name.clone()),
            email: user.and_then(|u| u.email),
        }))
    }
}

/// A chat channel (Slack conversation, Teams channel).
#[derive(SimpleObject, Debug, Clone)]
#[graphql(complex)]
pub struct Channel {
    #[graphql(skip)]
    pub origin: Provider,
    /// Slack `C…`; Teams `{teamId}/{channelId}`.
    pub remote_id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub raw: Json<Raw>,
    pub name: String,
    pub topic: Option<String>,
    pub is_private: bool,
    #[graphql(skip)]
    pub fetched: Fetched,
}

impl Channel {
    fn from_record(record: Record<chat::Channel>, fetched: Fetched) -> Self {
        let (rest, data) = record.split();
        Self {
            fetched,
            origin: rest.provider,
            remote_id: rest.remote_id,
            created_at: rest.created_at,
            updated_at: rest.updated_at,
            raw: Json(rest.raw),
            name: data.name,
            topic: data.topic,
            is_private: data.is_private,
        }
    }
}

#[ComplexObject]
impl Channel {
    pub async fn id(&self) -> ID {
        GlobalId::for_record("Channel", self.origin, &self.remote_id)
    }
    /// When this channel was known to be as shown: when the provider answered (`LIVE`).
    async fn fetched_at(&self) -> DateTime<Utc> {
        self.fetched.at
    }
    /// Where this channel came from.
    async fn source(&self) -> DataSource {
        self.fetched.source
    }
    async fn provider(&self) -> ProviderEnum {
        self.origin.into()
    }
}

#[derive(InputObject, Debug, Default)]
pub struct MessageFilter {
    /// A channel's id as the provider knows it (a Channel's `remoteId`; Teams
    /// `{teamId}/{channelId}`).
    pub channel: Option<String>,
    pub after: Option<DateTime<Utc>>,
    pub before: Option<DateTime<Utc>>,
    pub text_contains: Option<String>,
    /// Only the replies in this thread (a message's `threadId`); needs `channel`.
    pub thread_id: Option<String>,
}

impl MessageFilter {
    fn checked(self) -> Result<chat::MessageFilter> {
        validate::filter_texts(&[
            ("filter.channel", self.channel.as_deref()),
            ("filter.textContains", self.text_contains.as_deref()),
            ("filter.threadId", self.thread_id.as_deref()),
        ])?;
        validate::range("filter.before", self.after, self.before)?;
        if let Some(channel) = &self.channel {
            validate::non_empty("filter.channel", channel)?;
        }
        if let Some(text) = &self.text_contains {
            validate::non_empty("filter.textContains", text)?;
        }
        if let Some(thread) = &self.thread_id {
            validate::non_empty("filter.threadId", thread)?;
            if self.channel.is_none() {
                return Err(bad_input(
                    "filter.threadId",
                    "a thread is read in its channel: give `filter.channel` too",
                ));
            }
        }
        Ok(chat::MessageFilter {
            channel: self.channel,
            thread: self.thread_id,
            after: self.after,
            before: self.before,
            text_contains: self.text_contains,
            authors: Vec::new(),
        })
    }
}

#[derive(InputObject, Debug, Default)]
pub struct ChannelFilter {
    pub name_contains: Option<String>,
}

#[derive(InputObject, Debug)]
pub struct PostMessageInput {
    pub provider: ProviderEnum,
    /// The channel's id as the provider knows it (Teams `{teamId}/{channelId}`).
    pub channel_id: String,
    pub text: String,
    /// Reply in the thread of this message: its `remoteId` or `threadId` (the provider's id of
    /// the thread's parent: Slack `ts`, Teams message id).
    pub thread_id: Option<String>,
    pub idempotency_key: Option<String>,
}

#[derive(SimpleObject)]
pub struct PostMessagePayload {
    pub message: Message,
}

fn connection<T, U: async_graphql::OutputType>(
    page: MergedPage<T>,
    map: fn(Record<T>, Fetched) -> U,
) -> Page<U> {
    let mut connection = Page::new(page.has_previous, page.has_next);
    connection.edges.extend(
        page.edges
            .into_iter()
            .map(|(cursor, record, fetched)| Edge::new(cursor, map(record, fetched))),
    );
    connection
}

/// The refusal of a read of every channel while the provider's backfill is under way: typed
/// `RATE_LIMITED` for that provider, with when to ask again (the class's next window).
fn backfilling(provider: Provider) -> ProviderError {
    let mut error = ProviderError::new(
        ErrorKind::RateLimited,
        provider,
        "conversations.history",
        "the channels are being backfilled into the copy; messages of every channel answer from \
         it once each channel is, one channel's messages (filter.channel) are read live meanwhile",
    );
    error.retry_after = Some(std::time::Duration::from_secs(60));
    error
}

/// One merged page of messages across the tenant's chat providers (or those named), the
/// filter pushed down to each; a channel filter asks only the provider that owns the channel.
pub async fn message_page(
    ctx: &Context<'_>,
    providers: Option<&[ProviderEnum]>,
    filter: chat::MessageFilter,
    page: &PageArgs,
) -> Result<MergedPage<chat::Message>> {
    let app = ctx.data_unchecked::<AppContext>();
    merged_page(
        ctx,
        Capability::Messages,
        providers,
        page,
        |target, after, limit| {
            let adapter = app.providers.chat(target.provider).ok()?;
            let query = MessageQuery {
                filter: filter.clone(),
                after,
                limit,
            };
            let age = page.max_age.of(&app.reads, target.provider);
            let copy = app.read_model.clone();
            Some(Box::pin(async move {
                match &query.filter.channel {
                    Some(channel) if !adapter.owns_channel(channel) => {
                        Ok(live(chat::ListPage::empty()))
                    }
                    _ => {
                        if !age.is_zero()
                            && let nexus_core::Synced::Synced { value, as_of } =
                                copy.messages(target, &query, age).await
                        {
                            // Without a date bound the list reaches past the window: older
                            // messages follow live.
                            let reaches_past = query.filter.after.is_none();
                            let (after, limit) = (query.after.clone(), query.limit);
                            let older = move |after, limit| async move {
                                let query = MessageQuery {
                                    after,
                                    limit,
                                    ..query
                                };
                                adapter.messages(target, &query).await.map(live)
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
                        // Every channel's history live, while a backfill spends the same
                        // class: the read could not fit, and would starve the backfill.
                        if !age.is_zero()
                            && query.filter.channel.is_none()
                            && copy.backfilling(target, "Message").await
                        {
                            return Err(backfilling(target.provider));
                        }
                        adapter.messages(target, &query).await.map(live)
                    }
                }
            }))
        },
    )
    .await
}

/// A contact's messages (the `Contact.messages` join): Slack and Teams messages by the user
/// with `email`, merged newest first. Every contact of a response goes through one loader, so
/// the users are looked up together and each provider's channels read once for all of them.
pub async fn contact_messages(
    ctx: &Context<'_>,
    email: &str,
    page: PageArgs,
) -> Result<Page<Message>> {
    let loaders = &ctx.data_unchecked::<AppContext>().loaders;
    let email = email.to_lowercase();
    let page = merged_page(
        ctx,
        Capability::Messages,
        None,
        &page,
        |target, after, limit| {
            let key = AuthorMessagesKey {
                tenant: target.tenant,
                provider: target.provider,
                email: email.clone(),
                after: after.map(|p| (p.at, p.remote_id)),
                limit,
            };
            Some(Box::pin(async move {
                loaders.author_messages(key).await.map(live)
            }))
        },
    )
    .await?;
    Ok(connection(page, Message::from_record))
}

#[derive(Default)]
pub struct ChatQuery;

#[Object]
impl ChatQuery {
    /// Messages across Slack and Teams, newest first. `maxAge`: how old, in seconds, the synced
    /// copy may be (0: live); a Slack channel answers from the copy once it is backfilled.
    #[graphql(complexity = "super::lists::page_cost(first, child_complexity)")]
    async fn messages(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<MessageFilter>,
        providers: Option<Vec<ProviderEnum>>,
        max_age: Option<i32>,
    ) -> Result<Page<Message>> {
        let max_age = MaxAge::parse(max_age)?;
        let filter = filter.unwrap_or_default().checked()?;
        let page = PageArgs::parse(first, after)?.within(max_age);
        let page = message_page(ctx, providers.as_deref(), filter, &page).await?;
        Ok(connection(page, Message::from_record))
    }

    /// Channels across Slack and Teams, newest first by created time. `maxAge` (seconds, at
    /// least 0) is checked; channels are read live for now.
    #[graphql(complexity = "super::lists::page_cost(first, child_complexity)")]
    async fn channels(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<ChannelFilter>,
        providers: Option<Vec<ProviderEnum>>,
        max_age: Option<i32>,
    ) -> Result<Page<Channel>> {
        let max_age = MaxAge::parse(max_age)?;
        let name_contains = filter.and_then(|f| f.name_contains);
        if let Some(name) = &name_contains {
            validate::non_empty("filter.nameContains", name)?;
            validate::filter_text("filter.nameContains", name)?;
        }
        let page = PageArgs::parse(first, after)?.within(max_age);
        let app = ctx.data_unchecked::<AppContext>();
        let page = merged_page(
            ctx,
            Capability::Channels,
            providers.as_deref(),
            &page,
            |target, after, limit| {
                let adapter = app.providers.chat(target.provider).ok()?;
                let query = ChannelQuery {
                    name_contains: name_contains.clone(),
                    after,
                    limit,
                };
                Some(Box::pin(async move {
                    adapter.channels(target, &query).await.map(live)
                }))
            },
        )
        .await?;
        Ok(connection(page, Channel::from_record))
    }
}

#[derive(Default)]
pub struct ChatMutation;

#[Object]
impl ChatMutation {
    /// Posts to a Slack or Teams channel, or replies in a thread.
    async fn post_message(
        &self,
        ctx: &Context<'_>,
        input: PostMessageInput,
    ) -> Result<PostMessagePayload> {
        validate::non_empty("input.channelId", &input.channel_id)?;
        validate::non_empty("input.text", &input.text)?;
        if input.text.chars().count() > MAX_TEXT {
            return Err(bad_input(
                "input.text",
                format!("a message has at most {MAX_TEXT} characters"),
            ));
        }
        if let Some(thread) = &input.thread_id {
            validate::non_empty("input.threadId", thread)?;
        }
        let provider: Provider = input.provider.into();
        let target = write_target(ctx, Capability::Messages, provider).await?;
        let adapter = ctx
            .data_unchecked::<AppContext>()
            .providers
            .chat(provider)
            .map_err(|e| no_adapter(e.provider))?;
        if !adapter.owns_channel(&input.channel_id) {
            return Err(bad_input(
                "input.channelId",
                format!(
                    "`{}` is not a {} channel id",
                    input.channel_id,
                    provider.entry().name
                ),
            ));
        }
        let key = OnceKey::new(
            ctx,
            "postMessage",
            input.idempotency_key.as_deref(),
            &serde_json::json!({
                "provider": provider.slug(),
                "channelId": input.channel_id,
                "text": input.text,
                "threadId": input.thread_id,
            }),
        )?;
        let post = PostMessage {
            channel: input.channel_id,
            text: input.text,
            thread: input.thread_id,
            marker: key.as_ref().map(OnceKey::marker),
        };
        let record = send_once(
            ctx,
            provider,
            key,
            adapter.post(target, &post),
            async |since| adapter.find_posted(target, &post, since).await,
            async |provider, remote_id| {
                let adapter = ctx
                    .data_unchecked::<AppContext>()
                    .providers
                    .chat(provider)
                    .map_err(|e| no_adapter(e.provider))?;
                let target = write_target(ctx, Capability::Messages, provider).await?;
                adapter
                    .message(target, &remote_id)
                    .await
                    .map_err(|e| upstream_error(&e))
            },
        )
        .await?;
        Ok(PostMessagePayload {
            message: Message::from_record(record, Fetched::live(MaxAge::default())),
        })
    }
}

/// One message by its provider id (`node(id:)`); `None` when the provider has no such message.
pub async fn message_node(
    ctx: &Context<'_>,
    provider: Provider,
    remote_id: &str,
    max_age: MaxAge,
) -> Result<Option<Message>> {
    let target = write_target(ctx, Capability::Messages, provider).await?;
    let adapter = ctx
        .data_unchecked::<AppContext>()
        .providers
        .chat(provider)
        .map_err(|e| no_adapter(e.provider))?;
    let record = adapter
        .message(target, remote_id)
        .await
        .map_err(|e| upstream_error(&e))?;
    let origin = Origin::live();
    super::freshness::count(provider, "Message", &origin);
    Ok(record.map(|r| {
        let fetched = origin.fetched(&r.remote_id, max_age);
        Message::from_record(r, fetched)
    }))
}
