//! Google, simulated: one OAuth server (`/google/o/oauth2/v2/auth`, `/google/token`,
//! `/google/revoke`, `/google/oauth2/v3/tokeninfo`, signing keys at `/google/oauth2/v3/certs`)
//! shared by two APIs that the gateway connects separately — Gmail v1
//! (`/google/gmail/v1/users/{userId}/...`, batch at `/google/batch/gmail/v1`) and Calendar v3
//! (`/google/calendar/v3/...`, batch at `/google/batch/calendar/v3`).
//!
//! The same APIs answer at the paths of Google's own hosts, from the sandbox's root
//! (`/gmail/v1/…`, `/upload/gmail/v1/…`, `/calendar/v3/…`, `/batch/…`; see [`host_path`]): the
//! Google client libraries resolve a `rootUrl` against an absolute path, so a prefix in it is lost.
//!
//! The admin API names the parts `google` (the OAuth server: its tokens and its routes' faults
//! and counters), `gmail` and `google_calendar` (each API and the tokens of its client,
//! `sandbox-gmail-client` / `sandbox-google_calendar-client`). Either client may ask for any
//! scope; the scopes decide which API a token reaches, as at Google.
//!
//! The consented account is a mailbox: an email address (default [`DEFAULT_USER`]). Each
//! account has its own mailbox and primary calendar, seeded on first use with mail and meetings
//! between that user and people of the shared population. Mail sent to an address at a sandbox
//! domain (`nexus.example` and the population's company domains) lands in that address's
//! mailbox.

mod batch;
mod calendar;
pub mod error;
mod events;
mod freebusy;
mod gmail;
mod mailbox;
mod message;
mod oauth;
mod pubsub;
mod quota;
mod search;
mod upload;

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
};

use axum::{Router, http::HeaderMap, middleware};
use chrono::Duration;

use super::{Ctx, SandboxState, accounts::Accounts, faults, tokens::Policy, window::Windows};

pub use oauth::mint;

use error::ApiError;

/// The admin API's name for Google's shared OAuth server.
pub const SLUG: &str = "google";
pub const GMAIL: &str = "gmail";
pub const CALENDAR: &str = "google_calendar";
/// The account a consent or an admin token names when none is given.
pub const DEFAULT_USER: &str = "sandbox.user@nexus.example";
/// The domain of sandbox accounts that are not people of the population.
pub const SANDBOX_DOMAIN: &str = "nexus.example";

/// Google's access tokens last an hour (`expires_in` 3599); refresh tokens do not rotate and
/// come only with offline access.
pub const POLICY: Policy = Policy {
    prefix: "ya29.",
    access_lifetime: Duration::seconds(3599),
    rotates_refresh: false,
    issues_refresh: true,
};

/// Everything Google keeps, per account (an email address) where it is account data.
pub struct Google {
    mailboxes: Accounts<mailbox::Mailbox>,
    calendars: Accounts<events::Calendar>,
    quota: Mutex<quota::Quota>,
    /// Calendar's per-user requests per rolling minute.
    calendar_windows: Mutex<Windows>,
    /// Consent codes that carry offline access (they are exchanged for a refresh token too).
    offline_codes: Mutex<HashSet<String>>,
}

impl Google {
    pub fn new() -> Self {
        Self {
            mailboxes: Accounts::new(mailbox::Mailbox::seeded),
            calendars: Accounts::new(events::Calendar::seeded),
            quota: Mutex::default(),
            calendar_windows: Mutex::default(),
            offline_codes: Mutex::default(),
        }
    }

    pub fn clear(&self) {
        self.mailboxes.clear();
        self.calendars.clear();
        self.quota.lock().expect("quota lock").clear();
        *self.calendar_windows.lock().expect("windows lock") = Windows::default();
        self.offline_codes.lock().expect("codes lock").clear();
    }
}

impl Default for Google {
    fn default() -> Self {
        Self::new()
    }
}

/// SplitMix64's finalizer: a deterministic hash that seeds data from (account, index) pairs.
pub fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A stable seed for an account's data.
pub fn seed_of(account: &str) -> u64 {
    account
        .bytes()
        .fold(0x5EED_600D_u64, |h, b| mix(h ^ u64::from(b)))
}

/// Whether the sandbox keeps a mailbox for an address: its own domain and the population's.
pub fn hosted(address: &str) -> bool {
    let Some((_, domain)) = address.rsplit_once('@') else {
        return false;
    };
    let domain = domain.to_ascii_lowercase();
    domain == SANDBOX_DOMAIN
        || super::population::population()
            .companies
            .iter()
            .any(|c| c.domain == domain)
}

/// Routes behind the faults and counting layer, under a part's admin name.
fn layered(routes: Router<Ctx>, ctx: Ctx) -> Router {
    routes
        .route_layer(middleware::from_fn_with_state(ctx.clone(), faults::layer))
        .with_state(ctx)
}

/// Gmail's routes as one service (the batch endpoint runs its parts through it).
fn gmail_router(ctx: Ctx) -> Router {
    layered(gmail::routes(), ctx)
}

/// Calendar's routes as one service (its batch endpoint runs its parts through it).
fn calendar_router(ctx: Ctx) -> Router {
    layered(calendar::routes(), ctx)
}

/// The three parts' routes, each under its own admin name for faults and counters.
pub fn routes(state: Arc<SandboxState>) -> Router {
    let ctx = |provider: &'static str| Ctx {
        state: state.clone(),
        provider,
        account: DEFAULT_USER,
        error: error::fault,
    };
    Router::new()
        .merge(layered(oauth::routes(), ctx(SLUG)))
        .merge(gmail_router(ctx(GMAIL)))
        .merge(layered(batch::routes(), ctx(GMAIL)))
        .merge(calendar_router(ctx(CALENDAR)))
        .merge(layered(batch::calendar_routes(), ctx(CALENDAR)))
        .method_not_allowed_fallback(|| async {
            axum::response::IntoResponse::into_response(error::not_found())
        })
}

/// The paths of Google's API hosts (`gmail.googleapis.com`, `www.googleapis.com`), as the
/// sandbox serves them under `/google`: `Some("/google/gmail/v1/…")` for `/gmail/v1/…`.
pub fn host_path(path: &str) -> Option<String> {
    const HOST_PATHS: &[&str] = &[
        "/gmail/v1/",
        "/upload/gmail/v1/",
        "/calendar/v3/",
        "/batch/gmail/v1",
        "/batch/calendar/v3",
    ];
    HOST_PATHS
        .iter()
        .any(|p| path.starts_with(p))
        .then(|| format!("/google{path}"))
}

/// The token tags (clients) an admin name covers: `google` is both connections.
pub fn clients(part: &'static str) -> &'static [&'static str] {
    match part {
        GMAIL => &[GMAIL],
        CALENDAR => &[CALENDAR],
        _ => &[GMAIL, CALENDAR],
    }
}

/// `POST /_sandbox/records` for `gmail` (`object: messages`, `op: deliver`) and
/// `google_calendar` (`object: events`, `op: create|update|delete`).
pub fn records(
    state: &Arc<SandboxState>,
    part: &str,
    account: Option<&str>,
    object: &str,
    op: &str,
    id: Option<&str>,
    fields: &serde_json::Value,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let account = account.map_or_else(|| DEFAULT_USER.to_owned(), str::to_ascii_lowercase);
    match (part, object) {
        (GMAIL, "messages") => gmail::change_record(state, &account, op, fields),
        (CALENDAR, "events") => calendar::change_record(state, &account, op, id, fields),
        _ => error::bad_request("records are gmail messages and google_calendar events")
            .into_response(),
    }
}

/// What a call needs its token's scopes to allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Gmail reads that `gmail.metadata` also allows (no `q`, no bodies).
    GmailMetadata,
    GmailRead,
    GmailModify,
    GmailSend,
    /// Permanent deletion: only Gmail's full-access scope.
    GmailDelete,
    CalendarRead,
    CalendarWrite,
}

const AUTH: &str = "https://www.googleapis.com/auth/";

impl Access {
    /// The scopes (after `https://www.googleapis.com/auth/`, or Gmail's full-access URL) that allow it.
    fn scopes(self) -> &'static [&'static str] {
        match self {
            Access::GmailMetadata => &[
                "gmail.metadata",
                "gmail.readonly",
                "gmail.modify",
                "https://mail.google.com/",
            ],
            Access::GmailRead => &["gmail.readonly", "gmail.modify", "https://mail.google.com/"],
            Access::GmailModify => &["gmail.modify", "https://mail.google.com/"],
            Access::GmailSend => &[
                "gmail.send",
                "gmail.compose",
                "gmail.modify",
                "https://mail.google.com/",
            ],
            Access::GmailDelete => &["https://mail.google.com/"],
            Access::CalendarRead => &[
                "calendar",
                "calendar.readonly",
                "calendar.events",
                "calendar.events.readonly",
            ],
            Access::CalendarWrite => &["calendar", "calendar.events"],
        }
    }

    fn service(self) -> &'static str {
        match self {
            Access::CalendarRead | Access::CalendarWrite => "calendar-json.googleapis.com",
            _ => "gmail.googleapis.com",
        }
    }

    fn allows(self, granted: &[String]) -> bool {
        self.scopes().iter().any(|s| {
            let full = if s.starts_with("https://") {
                (*s).to_owned()
            } else {
                format!("{AUTH}{s}")
            };
            granted.contains(&full)
        })
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

/// A call that passed authentication, scopes and quota: the account it acts for.
pub struct Admitted {
    pub account: String,
    pub scopes: Vec<String>,
}

/// Calendar's documented per-user limit: requests per minute (sliding window).
pub const CALENDAR_PER_USER_MINUTE: u32 = 600;

/// Authenticates a call (a token of either Google client), checks its scopes for `access` and
/// counts it: `units` of Gmail's per-user quota, or one of Calendar's per-user requests a minute.
pub fn admit(
    ctx: &Ctx,
    headers: &HeaderMap,
    access: Access,
    units: u32,
) -> Result<Admitted, ApiError> {
    let now = ctx.state.clock.now();
    let token = bearer(headers);
    let grant = {
        let tokens = ctx.state.tokens.lock().expect("tokens lock");
        [GMAIL, CALENDAR]
            .iter()
            .find_map(|client| tokens.check(client, token, now).ok())
    }
    .ok_or_else(error::unauthenticated)?;
    if !access.allows(&grant.scopes) {
        let needed: Vec<String> = access
            .scopes()
            .iter()
            .map(|s| {
                if s.starts_with("https://") {
                    (*s).to_owned()
                } else {
                    format!("{AUTH}{s}")
                }
            })
            .collect();
        let needed: Vec<&str> = needed.iter().map(String::as_str).collect();
        return Err(error::insufficient_scope(access.service(), &needed));
    }
    let calendar = matches!(access, Access::CalendarRead | Access::CalendarWrite);
    if calendar && ctx.state.limits_enforced(CALENDAR) {
        let hit = ctx
            .state
            .google
            .calendar_windows
            .lock()
            .expect("windows lock")
            .hit(
                &grant.account,
                "per_user_minute",
                CALENDAR_PER_USER_MINUTE,
                Duration::minutes(1),
                now,
            );
        if !hit.allowed {
            return Err(error::calendar_user_rate_limited());
        }
    }
    if units > 0 && ctx.state.limits_enforced(GMAIL) {
        let spent =
            ctx.state
                .google
                .quota
                .lock()
                .expect("quota lock")
                .spend(&grant.account, units, now);
        if let Err(retry_at) = spent {
            return Err(error::user_rate_limited(
                &retry_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            ));
        }
    }
    Ok(Admitted {
        account: grant.account,
        scopes: grant.scopes,
    })
}
