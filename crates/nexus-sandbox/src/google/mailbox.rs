//! One account's mailbox: messages (raw RFC 2822 plus what search needs), threads, system and
//! user labels, the history log that `history.list` reads (ids grow with gaps), and the
//! `users.watch` registration. Seeded on first use with threads between the account and people
//! of the population, so every list has several pages: spread over the 120 days before the
//! seeding day's 08:00 UTC ([`seed_anchor`](crate::clock::seed_anchor)), so that a 90-day window
//! holds most of a mailbox and misses its oldest month.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};

use super::message::{self, Draft, Party, Summary};
use crate::population::population;

/// System labels, as `labels.list` names them.
pub const SYSTEM_LABELS: &[&str] = &[
    "CHAT",
    "SENT",
    "INBOX",
    "IMPORTANT",
    "TRASH",
    "DRAFT",
    "SPAM",
    "CATEGORY_FORUMS",
    "CATEGORY_UPDATES",
    "CATEGORY_PERSONAL",
    "CATEGORY_PROMOTIONS",
    "CATEGORY_SOCIAL",
    "STARRED",
    "UNREAD",
];

/// The user labels every seeded mailbox has: (id, name).
pub const USER_LABELS: &[(&str, &str)] = &[("Label_1", "Customers"), ("Label_2", "Follow-up")];

#[derive(Debug, Clone)]
pub struct Message {
    pub id: String,
    pub thread_id: String,
    pub labels: BTreeSet<String>,
    pub raw: Vec<u8>,
    pub internal_date: DateTime<Utc>,
    pub history_id: u64,
    pub summary: Summary,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Added,
    Deleted,
    LabelsAdded(Vec<String>),
    LabelsRemoved(Vec<String>),
}

#[derive(Debug, Clone)]
pub struct HistoryRecord {
    pub id: u64,
    pub message_id: String,
    pub thread_id: String,
    pub change: Change,
}

/// A `users.watch` registration.
#[derive(Debug, Clone)]
pub struct Watch {
    pub topic: String,
    pub label_ids: Vec<String>,
    pub include: bool,
    pub expiration: DateTime<Utc>,
}

/// What a change means for the watch: publish this history id to this topic.
#[derive(Debug, Clone)]
pub struct Notice {
    pub address: String,
    pub topic: String,
    pub history_id: u64,
}

#[derive(Debug)]
pub struct Mailbox {
    pub address: String,
    messages: Vec<Message>,
    pub history: Vec<HistoryRecord>,
    pub history_id: u64,
    /// History before this id is gone: older `startHistoryId`s get 404.
    pub history_floor: u64,
    sequence: u64,
    pub watch: Option<Watch>,
}

const SUBJECTS: &[&str] = &[
    "Quarterly review",
    "Pricing proposal",
    "Renewal next month",
    "Intro call",
    "Contract redlines",
    "Onboarding plan",
    "Grüße aus Zürich",
    "Résumé of our meeting",
    "Invoice question",
    "Demo follow-up",
    "Security questionnaire",
    "Expansion to the EU team",
];

const LINES: &[&str] = &[
    "Thanks for the time today. Attaching the notes we discussed.",
    "Could we move our call to Thursday at 10:00?",
    "The numbers look good; legal will send the redlines this week.",
    "Happy to walk your team through the roadmap.",
    "Let me know if the proposal works for you & your CFO.",
    "Following up on the pricing: we can hold the 12% discount until Friday.",
];

fn person(index: usize) -> Party {
    let p = &population().people[index];
    Party {
        name: format!("{} {}", p.first_name, p.last_name),
        email: p.email.clone(),
    }
}

/// The display name for an address: a population person's own name, else one made from the
/// local part (`sandbox.user@…` is "Sandbox User").
pub fn party_for(address: &str) -> Party {
    population()
        .people
        .iter()
        .position(|p| p.email.eq_ignore_ascii_case(address))
        .map(person)
        .unwrap_or_else(|| {
            let local = address.split('@').next().unwrap_or_default();
            let name = local
                .split(['.', '_', '-'])
                .filter(|w| !w.is_empty())
                .map(|w| {
                    let mut chars = w.chars();
                    chars.next().map_or_else(String::new, |c| {
                        c.to_uppercase().chain(chars).collect::<String>()
                    })
                })
                .collect::<Vec<_>>()
                .join(" ");
            Party {
                name,
                email: address.to_owned(),
            }
        })
}

pub fn new_message_id(seed: u64) -> String {
    format!(
        "<CA+{}@mail.gmail.com>",
        hex::encode(super::mix(seed).to_be_bytes())
    )
}

/// The threads a mailbox is seeded with.
const THREADS: u64 = 220;

impl Mailbox {
    pub fn seeded(address: &str) -> Self {
        let seed = super::seed_of(address);
        let mut mailbox = Mailbox {
            address: address.to_owned(),
            messages: Vec::new(),
            history: Vec::new(),
            history_id: 100_000 + seed % 50_000,
            history_floor: 0,
            sequence: 0,
            watch: None,
        };
        let me = party_for(address);
        // Thread starts 13 hours apart from 122 days back: the last thread's last reply is
        // still before the anchor.
        let start = crate::clock::seed_anchor(8) - Duration::days(122);
        let people = population().people.len() as u64;
        for t in 0..THREADS {
            let r = super::mix(seed ^ t);
            let mut other = (r % people) as usize;
            if population().people[other]
                .email
                .eq_ignore_ascii_case(address)
            {
                other = (other + 1) % people as usize;
            }
            let them = person(other);
            let subject = SUBJECTS[(r >> 8) as usize % SUBJECTS.len()];
            let length = 1 + (r >> 16) % 4;
            let mut date = start + Duration::minutes((t * 780 + (r >> 24) % 600) as i64);
            let inbound_first = !(r >> 32).is_multiple_of(3);
            let mut references: Vec<String> = Vec::new();
            let mut thread_id = None;
            for k in 0..length {
                let inbound = inbound_first == (k % 2 == 0);
                let (from, to) = if inbound { (&them, &me) } else { (&me, &them) };
                let message_id = new_message_id(seed ^ (t << 8) ^ k);
                let subject = if k == 0 {
                    subject.to_owned()
                } else {
                    format!("Re: {subject}")
                };
                let text = format!(
                    "Hi {},\n\n{}\n\nBest,\n{}",
                    to.name
                        .split(' ')
                        .next()
                        .filter(|n| !n.is_empty())
                        .unwrap_or("there"),
                    LINES[((r >> (40 + k)) as usize + k as usize) % LINES.len()],
                    from.name
                        .split(' ')
                        .next()
                        .filter(|n| !n.is_empty())
                        .unwrap_or(&from.email),
                );
                let raw = message::compose(&Draft {
                    from,
                    to,
                    subject: &subject,
                    text: &text,
                    date,
                    message_id: &message_id,
                    references: &references,
                });
                let mut labels: Vec<&str> = if inbound {
                    vec!["INBOX", "CATEGORY_PERSONAL"]
                } else {
                    vec!["SENT"]
                };
                if inbound && t >= THREADS - 12 {
                    labels.push("UNREAD");
                }
                if r.is_multiple_of(7) {
                    labels.push("STARRED");
                }
                if r.is_multiple_of(5) {
                    labels.push("IMPORTANT");
                }
                if r.is_multiple_of(4) {
                    labels.push("Label_1");
                }
                if let Some(summary) = message::summarize(&raw) {
                    let id = mailbox.store(raw, summary, &labels, date, thread_id.clone());
                    thread_id.get_or_insert(id);
                }
                references.push(message_id);
                date += Duration::minutes(37 + ((r >> (k * 3)) % 900) as i64);
            }
        }
        mailbox.history.clear();
        mailbox.history_floor = mailbox.history_id;
        mailbox
    }

    /// Stores a message (seeding or delivery) and logs `messageAdded`; returns its id.
    fn store(
        &mut self,
        raw: Vec<u8>,
        summary: Summary,
        labels: &[&str],
        date: DateTime<Utc>,
        thread_id: Option<String>,
    ) -> String {
        self.sequence += 1;
        let id = format!(
            "{:016x}",
            ((date.timestamp_millis().max(0) as u64) << 20) | (self.sequence & 0xF_FFFF)
        );
        let thread_id = thread_id.unwrap_or_else(|| id.clone());
        let history_id = self.bump();
        self.messages.push(Message {
            id: id.clone(),
            thread_id: thread_id.clone(),
            labels: labels.iter().map(|l| (*l).to_owned()).collect(),
            raw,
            internal_date: date,
            history_id,
            summary,
        });
        self.history.push(HistoryRecord {
            id: history_id,
            message_id: id.clone(),
            thread_id,
            change: Change::Added,
        });
        id
    }

    /// The next history id (Gmail's grow with gaps).
    fn bump(&mut self) -> u64 {
        self.history_id += 1 + super::mix(self.history_id) % 5;
        self.history_id
    }

    /// Adds a message sent or received now; its thread is `thread_id` when that thread exists
    /// here, else the thread of a message it replies to, else a new one.
    pub fn add(
        &mut self,
        raw: Vec<u8>,
        summary: Summary,
        labels: &[&str],
        now: DateTime<Utc>,
        thread_id: Option<&str>,
    ) -> (String, String) {
        let thread = thread_id
            .filter(|t| self.messages.iter().any(|m| m.thread_id == *t))
            .map(str::to_owned)
            .or_else(|| {
                self.messages
                    .iter()
                    .find(|m| {
                        m.summary
                            .message_id
                            .as_ref()
                            .is_some_and(|id| summary.references.contains(id))
                    })
                    .map(|m| m.thread_id.clone())
            });
        let id = self.store(raw, summary, labels, now, thread);
        let thread = self
            .get(&id)
            .map(|m| m.thread_id.clone())
            .unwrap_or_default();
        (id, thread)
    }

    pub fn get(&self, id: &str) -> Option<&Message> {
        self.messages.iter().find(|m| m.id == id)
    }

    pub fn thread_exists(&self, id: &str) -> bool {
        self.messages.iter().any(|m| m.thread_id == id)
    }

    /// Messages newest first.
    pub fn newest_first(&self) -> Vec<&Message> {
        let mut all: Vec<&Message> = self.messages.iter().collect();
        all.sort_by(|a, b| b.internal_date.cmp(&a.internal_date).then(b.id.cmp(&a.id)));
        all
    }

    pub fn threads(&self) -> usize {
        self.messages
            .iter()
            .map(|m| &m.thread_id)
            .collect::<BTreeSet<_>>()
            .len()
    }

    pub fn messages_total(&self) -> usize {
        self.messages.len()
    }

    /// Adds and removes labels, logging what changed; `None` when there is no such message.
    pub fn modify(&mut self, id: &str, add: &[String], remove: &[String]) -> Option<&Message> {
        let index = self.messages.iter().position(|m| m.id == id)?;
        let added: Vec<String> = add
            .iter()
            .filter(|l| !self.messages[index].labels.contains(*l))
            .cloned()
            .collect();
        let removed: Vec<String> = remove
            .iter()
            .filter(|l| self.messages[index].labels.contains(*l) && !add.contains(l))
            .cloned()
            .collect();
        for (labels, change) in [
            (added.clone(), Change::LabelsAdded(added)),
            (removed.clone(), Change::LabelsRemoved(removed)),
        ] {
            if labels.is_empty() {
                continue;
            }
            let history_id = self.bump();
            let message = &mut self.messages[index];
            for label in &labels {
                if matches!(change, Change::LabelsAdded(_)) {
                    message.labels.insert(label.clone());
                } else {
                    message.labels.remove(label);
                }
            }
            message.history_id = history_id;
            let record = HistoryRecord {
                id: history_id,
                message_id: message.id.clone(),
                thread_id: message.thread_id.clone(),
                change,
            };
            self.history.push(record);
        }
        self.messages.get(index)
    }

    /// Deletes a message for good; false when there is none.
    pub fn delete(&mut self, id: &str) -> bool {
        let Some(index) = self.messages.iter().position(|m| m.id == id) else {
            return false;
        };
        let message = self.messages.remove(index);
        let history_id = self.bump();
        self.history.push(HistoryRecord {
            id: history_id,
            message_id: message.id,
            thread_id: message.thread_id,
            change: Change::Deleted,
        });
        true
    }

    /// The watch's notice for the latest change to a message, when the watch wants it.
    pub fn notice(&self, message_labels: &BTreeSet<String>, now: DateTime<Utc>) -> Option<Notice> {
        let watch = self.watch.as_ref().filter(|w| w.expiration > now)?;
        let matches = watch.label_ids.is_empty()
            || watch.label_ids.iter().any(|l| message_labels.contains(l));
        (matches == watch.include || watch.label_ids.is_empty()).then(|| Notice {
            address: self.address.clone(),
            topic: watch.topic.clone(),
            history_id: self.history_id,
        })
    }

    /// Labels of a message, including a deleted one's last known (empty then).
    pub fn labels_of(&self, id: &str) -> BTreeSet<String> {
        self.get(id).map(|m| m.labels.clone()).unwrap_or_default()
    }
}
