//! Microsoft identity platform (OAuth 2.0 v2.0 endpoints) and Microsoft Graph v1.0 — Outlook mail
//! and calendar, Teams — simulated under `/microsoft`.
//!
//! - OAuth: `/microsoft/{tenant}/oauth2/v2.0/authorize` and `.../token` (`identity`). Outlook and
//!   Teams are two connections (`outlook`, `teams`) with their own apps
//!   (`sandbox-outlook-client`, `sandbox-teams-client`) sharing these endpoints; the admin API's
//!   `microsoft` names the shared part. A token reaches what its scopes allow, whichever app
//!   asked for it; anything else is Graph's 403.
//! - Graph: `/microsoft/v1.0/...` — `/me`, `/users/{id}` (`directory`), mail (`mail`), events and
//!   calendar view (`calendar`), joined teams, channels (list and get), team members, channel
//!   messages and replies, chats (`teams`), change-notification subscriptions (`subscriptions`), JSON batching of up to 20
//!   calls in one (`/v1.0/$batch`, `batch`). Lists page with
//!   `@odata.nextLink` and several pages of seeded data; OData query options in `odata`.
//! - Limits (`admit`): Outlook's 10,000 requests per 10 minutes per app per mailbox (and four
//!   requests in flight, `concurrency`), and Teams'
//!   per-app-per-tenant limits (15,000 per 10 s overall; joinedTeams 30/s; channels 60/s; GET
//!   channel messages 5/s; GET chat messages 3/s; POST channel message 10 per 10 s, as the wire
//!   notes have it; POST chat message 2/s). Each class's
//!   capacity can be lowered through `POST /_sandbox/limits` (`capacity`), see [`set_capacity`].
//! - Data: each user's mailbox and calendar (seeded on first use from the shared population),
//!   one tenant-wide Teams store.
//!
//! Faults and counters: the OAuth endpoints, `/me`, `/users`, `/subscriptions` and `$batch` count under
//! `microsoft` (paths below `/microsoft`); mail and calendar under `outlook`, Teams under
//! `teams`, with their full paths (`/microsoft/v1.0/me/messages`), since the faults layer only
//! strips a prefix named like the provider.

mod batch;
mod calendar;
mod concurrency;
pub mod directory;
pub mod error;
mod identity;
mod mail;
mod odata;
mod subscriptions;
mod teams;

use std::{collections::HashMap, sync::Mutex};

use axum::{
    Json, Router,
    extract::{self, OriginalUri, Path, RawQuery},
    http::{HeaderMap, StatusCode},
    middleware,
    response::{IntoResponse, Response},
    routing::{any, get, post},
};
use chrono::Duration;
use serde_json::Value;

use super::{Ctx, SandboxState, accounts::Accounts, faults, tokens::BearerError, window::Windows};

pub use directory::TENANT_ID;
pub use identity::mint;

use error::{GraphError, GraphResult};

/// The shared OAuth part, as the admin API names it.
pub const SLUG: &str = "microsoft";
/// The Outlook connection (mail and calendar).
pub const OUTLOOK: &str = "outlook";
/// The Teams connection.
pub const TEAMS: &str = "teams";
/// Every slug the admin API accepts for this simulator.
pub const SLUGS: &[&str] = &[SLUG, OUTLOOK, TEAMS];

/// The connections a slug stands for: `microsoft` is both.
pub fn connections(slug: &str) -> &'static [&'static str] {
    match slug {
        OUTLOOK => &[OUTLOOK],
        TEAMS => &[TEAMS],
        _ => &[OUTLOOK, TEAMS],
    }
}

/// The simulator's state inside `SandboxState`.
pub struct State {
    mailboxes: Accounts<mail::Mailbox>,
    teams: Accounts<teams::Tenant>,
    subscriptions: Mutex<Vec<subscriptions::Subscription>>,
    windows: Mutex<Windows>,
    /// Capacities lowered (or raised) through the admin API, by class.
    capacity: Mutex<HashMap<&'static str, u32>>,
    in_flight: concurrency::InFlight,
}

impl Default for State {
    fn default() -> Self {
        Self {
            mailboxes: Accounts::new(mail::Mailbox::seeded),
            teams: Accounts::new(teams::Tenant::seeded),
            subscriptions: Mutex::default(),
            windows: Mutex::default(),
            capacity: Mutex::default(),
            in_flight: concurrency::InFlight::default(),
        }
    }
}

impl State {
    pub fn clear(&self) {
        self.mailboxes.clear();
        self.teams.clear();
        self.subscriptions
            .lock()
            .expect("subscriptions lock")
            .clear();
        *self.windows.lock().expect("windows lock") = Windows::default();
        self.capacity.lock().expect("capacity lock").clear();
        self.in_flight.clear();
    }
}

/// A rate class: its name (as `capacity` takes it), workload, capacity and window.
#[derive(Debug, Clone, Copy)]
struct Class {
    name: &'static str,
    teams: bool,
    capacity: u32,
    window_s: i64,
}

const CLASSES: &[Class] = &[
    Class {
        name: "outlook_mailbox",
        teams: false,
        capacity: 10_000,
        window_s: 600,
    },
    Class {
        name: "teams_any",
        teams: true,
        capacity: 15_000,
        window_s: 10,
    },
    Class {
        name: "teams_get_team",
        teams: true,
        capacity: 30,
        window_s: 1,
    },
    Class {
        name: "teams_get_channel",
        teams: true,
        capacity: 60,
        window_s: 1,
    },
    Class {
        name: "teams_get_channel_message",
        teams: true,
        capacity: 5,
        window_s: 1,
    },
    Class {
        name: "teams_get_chat_message",
        teams: true,
        capacity: 3,
        window_s: 1,
    },
    // The wire notes' "about 10 messages every 10 s" (the throttling table says 2/s).
    Class {
        name: "teams_post_channel_message",
        teams: true,
        capacity: 10,
        window_s: 10,
    },
    Class {
        name: "teams_post_chat_message",
        teams: true,
        capacity: 2,
        window_s: 1,
    },
];

fn class(name: &str) -> Option<Class> {
    CLASSES.iter().find(|c| c.name == name).copied()
}

/// What a Graph call needs: the scopes that reach it (any one will do) and the limits it counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Me,
    Users,
    MailRead,
    MailWrite,
    MailSend,
    CalendarRead,
    CalendarWrite,
    JoinedTeams,
    Channels,
    TeamMembers,
    ChannelMessagesRead,
    ChannelMessagesSend,
    ChatsRead,
    ChatMessagesRead,
    ChatMessagesSend,
    /// `/subscriptions` itself; the resource's own need is checked by the handler.
    Subscriptions,
}

impl Need {
    /// The delegated permissions that grant it (Graph's permission tables, least privileged first).
    fn scopes(self) -> &'static [&'static str] {
        match self {
            Need::Me => &[
                "User.Read",
                "User.ReadWrite",
                "User.ReadBasic.All",
                "User.Read.All",
                "Directory.Read.All",
            ],
            Need::Users => &[
                "User.ReadBasic.All",
                "User.Read.All",
                "User.ReadWrite.All",
                "Directory.Read.All",
            ],
            Need::MailRead => &["Mail.ReadBasic", "Mail.Read", "Mail.ReadWrite"],
            Need::MailWrite => &["Mail.ReadWrite"],
            Need::MailSend => &["Mail.Send"],
            Need::CalendarRead => &[
                "Calendars.ReadBasic",
                "Calendars.Read",
                "Calendars.ReadWrite",
            ],
            Need::CalendarWrite => &["Calendars.ReadWrite"],
            Need::JoinedTeams => &[
                "Team.ReadBasic.All",
                "TeamSettings.Read.All",
                "TeamSettings.ReadWrite.All",
                "Directory.Read.All",
            ],
            Need::Channels => &[
                "Channel.ReadBasic.All",
                "ChannelSettings.Read.All",
                "ChannelSettings.ReadWrite.All",
                "Directory.Read.All",
            ],
            Need::TeamMembers => &["TeamMember.Read.All", "TeamMember.ReadWrite.All"],
            Need::ChannelMessagesRead => &["ChannelMessage.Read.All"],
            Need::ChannelMessagesSend => &["ChannelMessage.Send", "Group.ReadWrite.All"],
            Need::ChatsRead => &["Chat.ReadBasic", "Chat.Read", "Chat.ReadWrite"],
            Need::ChatMessagesRead => &["Chat.Read", "Chat.ReadWrite"],
            Need::ChatMessagesSend => &["ChatMessage.Send", "Chat.ReadWrite"],
            Need::Subscriptions => &[],
        }
    }

    fn teams(self) -> bool {
        matches!(
            self,
            Need::JoinedTeams
                | Need::Channels
                | Need::TeamMembers
                | Need::ChannelMessagesRead
                | Need::ChannelMessagesSend
                | Need::ChatsRead
                | Need::ChatMessagesRead
                | Need::ChatMessagesSend
        )
    }

    fn outlook(self) -> bool {
        matches!(
            self,
            Need::MailRead
                | Need::MailWrite
                | Need::MailSend
                | Need::CalendarRead
                | Need::CalendarWrite
        )
    }

    /// The rate classes the call counts against, outermost first.
    fn classes(self) -> &'static [&'static str] {
        match self {
            _ if self.outlook() => &["outlook_mailbox"],
            Need::JoinedTeams => &["teams_any", "teams_get_team"],
            Need::Channels => &["teams_any", "teams_get_channel"],
            Need::ChannelMessagesRead => &["teams_any", "teams_get_channel_message"],
            Need::ChatMessagesRead => &["teams_any", "teams_get_chat_message"],
            Need::ChannelMessagesSend => &["teams_any", "teams_post_channel_message"],
            Need::ChatMessagesSend => &["teams_any", "teams_post_chat_message"],
            Need::ChatsRead | Need::TeamMembers => &["teams_any"],
            _ => &[],
        }
    }
}

/// A granted scope in short form: `https://graph.microsoft.com/Mail.Read` → `Mail.Read`.
pub fn short_scope(scope: &str) -> &str {
    scope
        .strip_prefix("https://graph.microsoft.com/")
        .unwrap_or(scope)
}

/// A call that passed authentication, scopes and limits.
#[derive(Debug, Clone)]
pub struct Admitted {
    /// The signed-in user's alias (account key).
    pub user: String,
    /// The connection (app) the token was issued to.
    pub connection: String,
    pub scopes: Vec<String>,
}

impl Admitted {
    pub fn allows(&self, need: Need) -> bool {
        let wanted = need.scopes();
        wanted.is_empty()
            || self.scopes.iter().any(|s| {
                wanted
                    .iter()
                    .any(|w| w.eq_ignore_ascii_case(short_scope(s)))
            })
    }

    pub fn require(&self, need: Need) -> Result<(), GraphError> {
        if self.allows(need) {
            Ok(())
        } else {
            Err(error::forbidden(
                need.teams(),
                need.scopes(),
                &self
                    .scopes
                    .iter()
                    .map(|s| short_scope(s).to_owned())
                    .collect::<Vec<_>>(),
            ))
        }
    }

    pub fn json(&self, body: Value) -> Response {
        (StatusCode::OK, Json(body)).into_response()
    }

    pub fn created(&self, body: Value) -> Response {
        (StatusCode::CREATED, Json(body)).into_response()
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
}

/// Authenticates a Graph call (a token of either connection), checks its scopes and counts it
/// against the limits of its workload.
pub fn admit(ctx: &Ctx, headers: &HeaderMap, need: Need) -> Result<Admitted, GraphError> {
    let state = &ctx.state;
    let now = state.clock.now();
    let grant = {
        let tokens = state.tokens.lock().expect("tokens lock");
        let token = bearer(headers);
        let mut outcome = Err(BearerError::Missing);
        for connection in [OUTLOOK, TEAMS] {
            outcome = tokens.check(connection, token, now);
            if !matches!(outcome, Err(BearerError::Unknown)) {
                break;
            }
        }
        outcome.map_err(error::unauthenticated)?
    };
    let admitted = Admitted {
        user: grant.account,
        connection: grant.provider,
        scopes: grant.scopes,
    };
    admitted.require(need)?;
    throttle(state, &admitted, need)?;
    Ok(admitted)
}

fn throttle(state: &SandboxState, admitted: &Admitted, need: Need) -> Result<(), GraphError> {
    let workload = if need.teams() { TEAMS } else { OUTLOOK };
    if !state.limits_enforced(workload) || !state.limits_enforced(SLUG) {
        return Ok(());
    }
    let now = state.clock.now();
    let capacity = state
        .microsoft
        .capacity
        .lock()
        .expect("capacity lock")
        .clone();
    let mut windows = state.microsoft.windows.lock().expect("windows lock");
    for name in need.classes() {
        let Some(class) = class(name) else { continue };
        // Outlook counts per app per mailbox; Teams per app per tenant.
        let key = if class.teams {
            format!("{}|{TENANT_ID}", admitted.connection)
        } else {
            format!("{}|{}", admitted.connection, admitted.user)
        };
        let limit = capacity.get(class.name).copied().unwrap_or(class.capacity);
        let outcome = windows.hit(
            &key,
            class.name,
            limit,
            Duration::seconds(class.window_s),
            now,
        );
        if !outcome.allowed {
            let wait = (outcome.retry_after.num_milliseconds().max(0) as u64).div_ceil(1000);
            return Err(if class.teams {
                error::throttled("TooManyRequests", "Please retry again later.", wait)
            } else {
                error::throttled(
                    "ApplicationThrottled",
                    "Application is over its request limit for this mailbox.",
                    wait,
                )
            });
        }
    }
    Ok(())
}

/// `POST /_sandbox/limits` with `"capacity": {"outlook_mailbox": 5}`: sets class capacities
/// (`outlook_mailbox`, `teams_any`, `teams_get_team`, `teams_get_channel`,
/// `teams_get_channel_message`, `teams_get_chat_message`, `teams_post_channel_message`,
/// `teams_post_chat_message`). `outlook` takes Outlook's class, `teams` Teams' classes,
/// `microsoft` any. Errs on an unknown class.
pub fn set_capacity(
    state: &SandboxState,
    slug: &str,
    capacity: &HashMap<String, u32>,
) -> Result<(), String> {
    let mut set = state.microsoft.capacity.lock().expect("capacity lock");
    for (name, value) in capacity {
        let class = class(name)
            .filter(|c| slug == SLUG || c.teams == (slug == TEAMS))
            .ok_or_else(|| format!("`{slug}` has no rate class `{name}`"))?;
        set.insert(class.name, *value);
    }
    Ok(())
}

/// `POST /_sandbox/records` for Outlook (`message`, `event`) and Teams (`chatMessage`,
/// `channelMessage`): a change made in Outlook or Teams themselves, notifications and all.
pub fn change_record(
    state: &std::sync::Arc<SandboxState>,
    slug: &str,
    account: Option<&str>,
    object: &str,
    op: &str,
    id: Option<&str>,
    fields: &Value,
) -> Response {
    let user = account.unwrap_or(directory::DEFAULT_USER);
    let result = match (slug, object) {
        (OUTLOOK | SLUG, "message") => mail::change_record(state, user, op, id, fields),
        (OUTLOOK | SLUG, "event") => calendar::change_record(state, user, op, id, fields),
        (TEAMS | SLUG, "chatMessage" | "channelMessage") => {
            teams::change_record(state, user, object, op, id, fields)
        }
        _ => Err(error::bad_request(
            "object must be message or event (outlook), chatMessage or channelMessage (teams)",
        )),
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

/// Graph's timestamp with seven fractional digits, without the zone (`2024-05-02T10:00:00.0000000`).
pub fn seven_digits(t: chrono::NaiveDateTime) -> String {
    format!(
        "{}.{:07}",
        t.format("%Y-%m-%dT%H:%M:%S"),
        t.and_utc().timestamp_subsec_nanos() / 100
    )
}

/// The Graph root as clients see it: `{origin}/microsoft/v1.0`.
pub fn graph_base(ctx: &Ctx) -> String {
    format!("{}/microsoft/v1.0", ctx.state.origin())
}

fn ctx(state: &std::sync::Arc<SandboxState>, provider: &'static str) -> Ctx {
    Ctx {
        state: state.clone(),
        provider,
        account: directory::DEFAULT_USER,
        error: error::fault,
    }
}

/// The folder of `me/mailFolders('inbox')/messages[/delta]`, the key-in-parentheses form of
/// `me/mailFolders/inbox/messages`, and whether it asks for the delta.
fn parenthesized_folder(rest: &str) -> Option<(String, bool)> {
    let lower = rest.to_ascii_lowercase();
    let inner = lower.strip_prefix("me/mailfolders('")?;
    let (folder, tail) = inner.split_once("')/messages")?;
    let delta = match tail {
        "" => false,
        "/delta" => true,
        _ => return None,
    };
    // The id as sent (ids are case-sensitive): same length as the lowercased one.
    let start = "me/mailfolders('".len();
    Some((rest[start..start + folder.len()].to_owned(), delta))
}

/// Paths no route names: `me/mailFolders('inbox')/messages` (and its delta) are answered as
/// `me/mailFolders/inbox/messages`; anything else is `400 BadRequest`, "Resource not found for
/// the segment '…'", as Graph answers.
async fn unknown_segment(
    extract::State(shared): extract::State<Ctx>,
    method: axum::http::Method,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    RawQuery(query): RawQuery,
) -> Response {
    let path = uri.path().to_owned();
    let rest = path.split("/v1.0/").nth(1).unwrap_or_default();
    if method == axum::http::Method::GET
        && let Some((folder, delta)) = parenthesized_folder(rest)
    {
        let outlook = extract::State(ctx(&shared.state, OUTLOOK));
        let answer = if delta {
            mail::delta(
                outlook,
                headers,
                Path(folder),
                OriginalUri(uri),
                RawQuery(query),
            )
            .await
        } else {
            mail::list_folder(
                outlook,
                headers,
                Path(folder),
                OriginalUri(uri),
                RawQuery(query),
            )
            .await
        };
        return answer.unwrap_or_else(IntoResponse::into_response);
    }
    let segment = rest.split('/').next_back().unwrap_or(&path);
    error::bad_request(format!("Resource not found for the segment '{segment}'.")).into_response()
}

/// Everything under `/microsoft`, each part behind the faults layer of its connection.
pub fn router(state: std::sync::Arc<SandboxState>) -> Router {
    let shared = ctx(&state, SLUG);
    let outlook = ctx(&state, OUTLOOK);
    let teams = ctx(&state, TEAMS);
    let shared_routes = Router::new()
        .route(
            "/{tenant}/oauth2/v2.0/authorize",
            get(identity::authorize_page).post(identity::authorize_decide),
        )
        .route("/{tenant}/oauth2/v2.0/token", post(identity::token))
        .route("/v1.0/$batch", post(batch::batch))
        .route("/v1.0/me", get(directory::me))
        .route("/v1.0/users/{id}", get(directory::get))
        .route(
            "/v1.0/subscriptions",
            get(subscriptions::list).post(subscriptions::create),
        )
        .route(
            "/v1.0/subscriptions/{id}",
            get(subscriptions::get)
                .patch(subscriptions::renew)
                .delete(subscriptions::delete),
        )
        .route("/v1.0/{*rest}", any(unknown_segment))
        .route_layer(middleware::from_fn_with_state(
            shared.clone(),
            faults::layer,
        ))
        .with_state(shared);
    let outlook_routes = Router::new()
        .route("/v1.0/me/messages", get(mail::list).post(mail::create))
        .route("/v1.0/me/messages/{id}/send", post(mail::send_draft))
        .route(
            "/v1.0/me/messages/{id}",
            get(mail::get).patch(mail::update).delete(mail::delete),
        )
        .route("/v1.0/me/mailFolders", get(mail::folders))
        .route(
            "/v1.0/me/mailFolders/{folder}/messages",
            get(mail::list_folder),
        )
        .route(
            "/v1.0/me/mailFolders/{folder}/messages/delta",
            get(mail::delta),
        )
        .route("/v1.0/me/sendMail", post(mail::send))
        .route("/v1.0/me/messages/{id}/reply", post(mail::reply))
        .route(
            "/v1.0/me/messages/{id}/createReply",
            post(mail::create_reply),
        )
        .route(
            "/v1.0/me/events",
            get(calendar::list).post(calendar::create),
        )
        .route(
            "/v1.0/me/events/{id}",
            get(calendar::get)
                .patch(calendar::update)
                .delete(calendar::delete),
        )
        .route("/v1.0/me/calendarView", get(calendar::view))
        .route("/v1.0/me/calendarView/delta", get(calendar::delta))
        .route_layer(middleware::from_fn_with_state(
            outlook.clone(),
            faults::layer,
        ))
        .route_layer(middleware::from_fn_with_state(
            outlook.clone(),
            concurrency::layer,
        ))
        .with_state(outlook);
    let teams_routes = Router::new()
        .route("/v1.0/me/joinedTeams", get(teams::joined))
        .route("/v1.0/teams/{team}/channels", get(teams::channels))
        .route("/v1.0/teams/{team}/channels/{channel}", get(teams::channel))
        .route("/v1.0/teams/{team}/members", get(teams::members))
        .route(
            "/v1.0/teams/{team}/channels/{channel}/messages",
            get(teams::channel_messages).post(teams::post_channel_message),
        )
        .route(
            "/v1.0/teams/{team}/channels/{channel}/messages/delta",
            get(teams::channel_messages_delta),
        )
        .route(
            "/v1.0/teams/{team}/channels/{channel}/messages/{message}",
            get(teams::channel_message),
        )
        .route(
            "/v1.0/teams/{team}/channels/{channel}/messages/{message}/replies",
            get(teams::replies).post(teams::post_reply),
        )
        .route("/v1.0/me/chats", get(teams::chats))
        .route(
            "/v1.0/chats/{chat}/messages",
            get(teams::chat_messages).post(teams::post_chat_message),
        )
        .route_layer(middleware::from_fn_with_state(teams.clone(), faults::layer))
        .with_state(teams);
    Router::new()
        .merge(shared_routes)
        .merge(outlook_routes)
        .merge(teams_routes)
        .layer(middleware::from_fn(error::envelope))
}

/// A JSON body, or Graph's 400 for one it cannot read.
pub fn json_body(bytes: &[u8]) -> GraphResult<Value> {
    serde_json::from_slice(bytes)
        .map_err(|e| error::bad_request(format!("Unable to read JSON request payload. {e}")))
}
