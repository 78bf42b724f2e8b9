//! One Slack workspace's data: its members (the first people of the shared population, with the
//! same names and emails HubSpot and Salesforce seed), channels those members created, and each
//! channel's messages with threads, spread over the 120 days before the seeding day. Timestamps
//! are Slack `ts` strings (`"1712345678.000100"`: seconds and microseconds, unique within a
//! channel), kept here as microseconds.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use crate::{population::population, window::Windows};

/// How many population people are members of the workspace.
pub const MEMBERS: usize = 300;
/// The app's bot user, its bot id and the app id.
pub const BOT_USER_ID: &str = "U0SBXBOT1";
pub const BOT_ID: &str = "B0SBX0001";
pub const APP_ID: &str = "A0SBX0001";
pub const BOT_NAME: &str = "nexus";
pub const TEAM_NAME: &str = "Nexus Sandbox";
pub const TEAM_DOMAIN: &str = "nexus-sandbox";
/// Who a deleted thread parent's tombstone is shown as, and its text.
pub const SLACKBOT: &str = "USLACKBOT";
pub const TOMBSTONE_TEXT: &str = "This message was deleted.";

/// Time zones members live in: (tz, label, offset in seconds).
const ZONES: &[(&str, &str, i64)] = &[
    ("America/Los_Angeles", "Pacific Standard Time", -28_800),
    ("America/New_York", "Eastern Standard Time", -18_000),
    ("Europe/London", "Greenwich Mean Time", 0),
    ("Europe/Berlin", "Central European Time", 3_600),
    ("Asia/Tokyo", "Japan Standard Time", 32_400),
];
const COLORS: &[&str] = &["9f69e7", "4bbe2e", "e7392d", "3c989f", "e0a729", "674b1b"];

/// Team channels beside `general`, `random` and four per company (`acct-…`, `deal-…`, …).
const TEAM_CHANNELS: &[&str] = &[
    "sales",
    "support",
    "engineering",
    "marketing",
    "deals-desk",
    "announcements",
];
/// Channels every company gets: name prefix and purpose.
const COMPANY_CHANNELS: &[(&str, &str)] = &[
    ("acct", "Everything about the account"),
    ("deal", "Open deals with"),
    ("support", "Support escalations from"),
    ("renewal", "The renewal of"),
];
/// Private channels (the bot is a member of the first only).
const PRIVATE_CHANNELS: &[&str] = &["leadership", "hiring"];

#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    /// Index into the population's people.
    pub person: usize,
    pub name: String,
    pub updated: i64,
}

#[derive(Debug, Clone)]
pub struct Channel {
    pub id: String,
    pub name: String,
    pub private: bool,
    pub archived: bool,
    pub created: i64,
    pub creator: String,
    pub purpose: String,
    pub members: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Message {
    pub ts: i64,
    pub user: String,
    pub text: String,
    /// The parent's ts, for a reply (and for the parent itself once it has replies).
    pub thread_ts: Option<i64>,
    /// A reply also shown in the channel.
    pub broadcast: bool,
    pub blocks: Option<Value>,
    pub attachments: Option<Value>,
    /// The app's message metadata (`{event_type, event_payload}`), shown by `conversations.history`
    /// and `.replies` only with `include_all_metadata`.
    pub metadata: Option<Value>,
    /// Who last edited the text with `chat.update`, and when (a `ts`).
    pub edited: Option<(String, i64)>,
    /// Reactions in the order first added: the emoji name and who reacted, in order.
    pub reactions: Vec<(String, Vec<String>)>,
    /// A deleted thread parent that keeps its replies: Slack's tombstone.
    pub tombstone: bool,
}

impl Message {
    pub fn is_reply(&self) -> bool {
        self.thread_ts.is_some_and(|t| t != self.ts)
    }
}

/// Renders microseconds as a Slack `ts`.
pub fn ts_string(micros: i64) -> String {
    format!(
        "{}.{:06}",
        micros.div_euclid(1_000_000),
        micros.rem_euclid(1_000_000)
    )
}

/// Parses a Slack `ts` (or whole seconds) into microseconds.
pub fn parse_ts(s: &str) -> Option<i64> {
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    if secs.is_empty() || !secs.chars().all(|c| c.is_ascii_digit()) || frac.len() > 6 {
        return None;
    }
    if !frac.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let secs: i64 = secs.parse().ok()?;
    let frac: i64 = format!("{frac:0<6}").parse().ok()?;
    secs.checked_mul(1_000_000)?.checked_add(frac)
}

fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

/// What people write in the seeded channels.
const LINES: &[&str] = &[
    "Kicking off the quarterly review for {company} tomorrow at 10.",
    "{company} asked for an updated quote, can someone from deals-desk pick it up?",
    "Notes from today's call with {company} are in the shared folder.",
    "Heads-up: {company} is moving their renewal to next month.",
    "Who owns the follow-up with {company}?",
    "Great demo with {company} today, they want a pilot.",
    "{company} reported a login issue, opened a ticket.",
    "Reminder: pipeline review on Friday, please update your deals.",
];
const REPLIES: &[&str] = &[
    "On it.",
    "Thanks for the heads-up!",
    "I can take this one.",
    "Added to the tracker.",
    "Let's sync after standup.",
];

pub struct Workspace {
    pub team_id: String,
    pub users: Vec<User>,
    /// Channels in creation order (their ids sort the same way).
    pub channels: Vec<Channel>,
    /// Every channel's messages, replies included, by ts ascending.
    pub messages: BTreeMap<String, Vec<Message>>,
    pub windows: Windows,
    next_event: u64,
}

impl Workspace {
    /// The seeded workspace: the same members, channels and messages on every start.
    pub fn seeded(team_id: &str) -> Self {
        let population = population();
        let users: Vec<User> = population.people[..MEMBERS]
            .iter()
            .enumerate()
            .map(|(i, p)| User {
                id: format!("U0SBX{i:04}"),
                person: i,
                name: format!(
                    "{}.{}",
                    p.first_name.to_lowercase(),
                    p.last_name.to_lowercase().replace('-', "")
                ),
                updated: p.since.timestamp(),
            })
            .collect();
        let start = population.people[0].since;
        let anchor = crate::clock::seed_anchor(7);
        let mut names: Vec<(String, bool, String)> = vec![
            (
                "general".into(),
                false,
                "This channel is for workspace-wide communication.".into(),
            ),
            (
                "random".into(),
                false,
                "Non-work banter and water cooler conversation.".into(),
            ),
        ];
        names.extend(
            TEAM_CHANNELS
                .iter()
                .map(|n| (n.to_string(), false, format!("The {n} team."))),
        );
        for (prefix, about) in COMPANY_CHANNELS {
            names.extend(population.companies.iter().map(|c| {
                (
                    format!("{prefix}-{}", c.name.to_lowercase().replace(' ', "-")),
                    false,
                    format!("{about} {}.", c.name),
                )
            }));
        }
        names.extend(
            PRIVATE_CHANNELS
                .iter()
                .map(|n| (n.to_string(), true, format!("Private: {n}."))),
        );
        let mut channels = Vec::new();
        let mut messages = BTreeMap::new();
        for (i, (name, private, purpose)) in names.into_iter().enumerate() {
            let creator = &users[(i * 7) % MEMBERS];
            let created = start + Duration::hours(i as i64);
            let members: Vec<String> = if name == "general" {
                users.iter().map(|u| u.id.clone()).collect()
            } else {
                (0..12)
                    .map(|k| users[(i * 7 + k * 11) % MEMBERS].id.clone())
                    .collect()
            };
            let mut members = members;
            let bot_member = !private || name == PRIVATE_CHANNELS[0];
            if bot_member && (i < 2 + TEAM_CHANNELS.len() || i % 2 == 0 || private) {
                members.push(BOT_USER_ID.to_owned());
            }
            let id = format!("C0SBX{i:04}");
            // #general holds several pages of history; the others a screenful or two.
            let count = if i == 0 { 260 } else { 6 + (i * 5) % 30 };
            // Each channel's newest message (its thread's replies too) before the seeding day's
            // 07:00 UTC: #general's half an hour before, the others' spread over ten days, as
            // channels go quiet at different times.
            let end = anchor - Duration::minutes(30 + (i as i64 * 397) % (10 * 24 * 60));
            messages.insert(id.clone(), seed_messages(i, count, end, &members));
            channels.push(Channel {
                id,
                name,
                private,
                // Every ninth account channel is archived.
                archived: i > 2 + TEAM_CHANNELS.len() && i % 9 == 0,
                created: created.timestamp(),
                creator: creator.id.clone(),
                purpose,
                members,
            });
        }
        Self {
            team_id: team_id.to_owned(),
            users,
            channels,
            messages,
            windows: Windows::default(),
            next_event: 1,
        }
    }

    pub fn user(&self, id: &str) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }

    pub fn user_by_email(&self, email: &str) -> Option<&User> {
        let people = &population().people;
        self.users
            .iter()
            .find(|u| people[u.person].email.eq_ignore_ascii_case(email))
    }

    /// A channel by id, or by name (with or without `#`).
    pub fn channel(&self, id_or_name: &str) -> Option<&Channel> {
        let name = id_or_name.strip_prefix('#').unwrap_or(id_or_name);
        self.channels
            .iter()
            .find(|c| c.id == id_or_name || c.name == name)
    }

    /// A ts later than every message of the channel and not before `now`.
    pub fn next_ts(&self, channel: &str, now: DateTime<Utc>) -> i64 {
        let last = self
            .messages
            .get(channel)
            .and_then(|m| m.iter().map(|m| m.ts).max())
            .unwrap_or(0);
        micros(now).max(last + 1)
    }

    pub fn post(&mut self, channel: &str, message: Message) {
        let list = self.messages.entry(channel.to_owned()).or_default();
        list.push(message);
        list.sort_by_key(|m| m.ts);
    }

    pub fn event_id(&mut self) -> String {
        let n = self.next_event;
        self.next_event += 1;
        format!("Ev0SBX{n:06}")
    }

    /// A member as `users.info` shows them; the email only with `users:read.email`.
    pub fn user_json(&self, user: &User, with_email: bool) -> Value {
        let person = &population().people[user.person];
        let (tz, tz_label, tz_offset) = ZONES[user.person % ZONES.len()];
        let real_name = format!("{} {}", person.first_name, person.last_name);
        let mut profile = json!({
            "title": person.title,
            "phone": person.phone,
            "real_name": real_name,
            "real_name_normalized": real_name,
            "display_name": user.name,
            "display_name_normalized": user.name,
            "first_name": person.first_name,
            "last_name": person.last_name,
            "status_text": "",
            "status_emoji": "",
            "avatar_hash": format!("g{:011x}", user.person * 7919),
            "team": self.team_id,
        });
        for size in [24, 32, 48, 72, 192, 512] {
            profile[format!("image_{size}")] = json!(format!(
                "https://avatars.slack-edge.invalid/{}_{size}.png",
                user.id
            ));
        }
        if with_email {
            profile["email"] = json!(person.email);
        }
        json!({
            "id": user.id,
            "team_id": self.team_id,
            "name": user.name,
            "deleted": false,
            "color": COLORS[user.person % COLORS.len()],
            "real_name": real_name,
            "tz": tz,
            "tz_label": tz_label,
            "tz_offset": tz_offset,
            "profile": profile,
            "is_admin": user.person == 0,
            "is_owner": user.person == 0,
            "is_primary_owner": user.person == 0,
            "is_restricted": false,
            "is_ultra_restricted": false,
            "is_bot": false,
            "is_app_user": false,
            "updated": user.updated,
            "is_email_confirmed": true,
            "who_can_share_contact_card": "EVERYONE",
        })
    }

    /// The app's bot user, as `users.list` includes it.
    pub fn bot_json(&self) -> Value {
        json!({
            "id": BOT_USER_ID,
            "team_id": self.team_id,
            "name": BOT_NAME,
            "deleted": false,
            "color": "757575",
            "real_name": "Nexus",
            "tz": "America/Los_Angeles",
            "tz_label": "Pacific Standard Time",
            "tz_offset": -28_800,
            "profile": {
                "real_name": "Nexus",
                "real_name_normalized": "Nexus",
                "display_name": "",
                "display_name_normalized": "",
                "bot_id": BOT_ID,
                "api_app_id": APP_ID,
                "always_active": false,
                "status_text": "",
                "status_emoji": "",
                "team": self.team_id,
            },
            "is_admin": false,
            "is_owner": false,
            "is_primary_owner": false,
            "is_restricted": false,
            "is_ultra_restricted": false,
            "is_bot": true,
            "is_app_user": false,
            "updated": 1_704_067_200,
        })
    }

    pub fn channel_json(&self, channel: &Channel) -> Value {
        let topic = json!({ "value": "", "creator": "", "last_set": 0 });
        json!({
            "id": channel.id,
            "name": channel.name,
            "is_channel": true,
            "is_group": false,
            "is_im": false,
            "is_mpim": false,
            "is_private": channel.private,
            "created": channel.created,
            "is_archived": channel.archived,
            "is_general": channel.name == "general",
            "unlinked": 0,
            "name_normalized": channel.name,
            "is_shared": false,
            "is_org_shared": false,
            "is_pending_ext_shared": false,
            "pending_shared": [],
            "context_team_id": self.team_id,
            "updated": channel.created * 1000,
            "parent_conversation": null,
            "creator": channel.creator,
            "is_ext_shared": false,
            "shared_team_ids": [self.team_id],
            "pending_connected_team_ids": [],
            "is_member": channel.members.iter().any(|m| m == BOT_USER_ID),
            "topic": topic,
            "purpose": {
                "value": channel.purpose,
                "creator": channel.creator,
                "last_set": channel.created,
            },
            "previous_names": [],
            "num_members": channel.members.len(),
        })
    }

    /// A message as history and replies show it, with its thread's counts when it has replies.
    pub fn message_json(&self, channel: &str, message: &Message) -> Value {
        let mut out = json!({
            "type": "message",
            "user": message.user,
            "text": message.text,
            "ts": ts_string(message.ts),
            "team": self.team_id,
        });
        if message.user == BOT_USER_ID {
            out["bot_id"] = json!(BOT_ID);
            out["app_id"] = json!(APP_ID);
            out["bot_profile"] = json!({
                "id": BOT_ID,
                "app_id": APP_ID,
                "name": BOT_NAME,
                "deleted": false,
                "team_id": self.team_id,
            });
        }
        if let Some(blocks) = &message.blocks {
            out["blocks"] = blocks.clone();
        }
        if let Some(attachments) = &message.attachments {
            out["attachments"] = attachments.clone();
        }
        if let Some((user, ts)) = &message.edited {
            out["edited"] = json!({ "user": user, "ts": ts_string(*ts) });
        }
        if !message.reactions.is_empty() {
            out["reactions"] = message
                .reactions
                .iter()
                .map(|(name, users)| json!({ "name": name, "users": users, "count": users.len() }))
                .collect();
        }
        if message.tombstone {
            if let Some(fields) = out.as_object_mut() {
                for gone in [
                    "bot_id",
                    "app_id",
                    "bot_profile",
                    "blocks",
                    "attachments",
                    "edited",
                ] {
                    fields.remove(gone);
                }
            }
            out["subtype"] = json!("tombstone");
            out["hidden"] = json!(true);
            out["user"] = json!(SLACKBOT);
            out["text"] = json!(TOMBSTONE_TEXT);
        }
        if message.is_reply() {
            let parent = message.thread_ts.unwrap_or(message.ts);
            out["thread_ts"] = json!(ts_string(parent));
            if let Some(p) = self.find(channel, parent) {
                out["parent_user_id"] = json!(p.user);
            }
            if message.broadcast {
                out["subtype"] = json!("thread_broadcast");
            }
        } else {
            let replies: Vec<&Message> = self
                .messages
                .get(channel)
                .map(|all| {
                    all.iter()
                        .filter(|r| r.is_reply() && r.thread_ts == Some(message.ts))
                        .collect()
                })
                .unwrap_or_default();
            if let Some(last) = replies.last() {
                let mut users: Vec<&str> = replies.iter().map(|r| r.user.as_str()).collect();
                users.sort_unstable();
                users.dedup();
                out["thread_ts"] = json!(ts_string(message.ts));
                out["reply_count"] = json!(replies.len());
                out["reply_users_count"] = json!(users.len());
                out["latest_reply"] = json!(ts_string(last.ts));
                out["reply_users"] = json!(users);
                out["is_locked"] = json!(false);
                out["subscribed"] = json!(false);
            }
        }
        out
    }

    pub fn find(&self, channel: &str, ts: i64) -> Option<&Message> {
        self.messages.get(channel)?.iter().find(|m| m.ts == ts)
    }
}

/// How far back a channel's seeded messages reach: a 90-day window holds the most recent three
/// quarters of every channel.
const SEEDED_DAYS: i64 = 120;

/// A channel's seeded messages: evenly spread over the [`SEEDED_DAYS`] before `end`, every
/// seventh with a thread.
fn seed_messages(
    channel: usize,
    count: usize,
    end: DateTime<Utc>,
    members: &[String],
) -> Vec<Message> {
    let population = population();
    let humans: Vec<&String> = members
        .iter()
        .filter(|m| m.as_str() != BOT_USER_ID)
        .collect();
    let mut out = Vec::new();
    for n in 0..count {
        let gap = SEEDED_DAYS * 24 * 60 / count.max(1) as i64;
        let at = end - Duration::minutes((count - 1 - n) as i64 * gap);
        let ts = micros(at) + (channel as i64) * 10 + 100;
        let author = humans[(n * 5 + channel) % humans.len()].clone();
        let company = &population.companies[(n + channel * 3) % population.companies.len()].name;
        let text = LINES[(n + channel) % LINES.len()].replace("{company}", company);
        let threaded = n % 7 == 3;
        out.push(Message {
            ts,
            user: author,
            text,
            thread_ts: threaded.then_some(ts),
            broadcast: false,
            blocks: None,
            attachments: None,
            metadata: None,
            ..Message::default()
        });
        if threaded {
            for r in 0..(1 + (n + channel) % 5) {
                let reply_ts = ts
                    + Duration::minutes(3 + r as i64 * 4)
                        .num_microseconds()
                        .unwrap_or(0);
                out.push(Message {
                    ts: reply_ts,
                    user: humans[(n + r * 3 + 1) % humans.len()].clone(),
                    text: REPLIES[(n + r) % REPLIES.len()].to_owned(),
                    thread_ts: Some(ts),
                    broadcast: r == 2,
                    blocks: None,
                    attachments: None,
                    metadata: None,
                    ..Message::default()
                });
            }
        }
    }
    out.sort_by_key(|m| m.ts);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ts_round_trips_and_rejects_junk() {
        assert_eq!(parse_ts("1503435956.000247"), Some(1_503_435_956_000_247));
        assert_eq!(parse_ts("1503435956"), Some(1_503_435_956_000_000));
        assert_eq!(parse_ts("1503435956.5"), Some(1_503_435_956_500_000));
        assert_eq!(ts_string(1_503_435_956_000_247), "1503435956.000247");
        for junk in ["", "abc", "1.2.3", "-5", "12.1234567", ".5"] {
            assert_eq!(parse_ts(junk), None, "{junk}");
        }
    }

    #[test]
    fn authors_and_creators_are_members_users_info_knows() {
        let w = Workspace::seeded("T0SBX0001");
        for channel in &w.channels {
            assert!(w.user(&channel.creator).is_some());
            for m in &w.messages[&channel.id] {
                assert!(w.user(&m.user).is_some(), "{}", m.user);
            }
        }
        assert!(w.messages["C0SBX0000"].len() > 260);
    }
}
