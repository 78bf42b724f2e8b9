//! Mail as Gmail and Outlook hold it, in one shape: an [`EmailData`] per message, a
//! [`MailRequest`] for one page of a filtered list (newest first, resuming after a
//! [`Position`]), and the writes ([`SendEmail`], [`LabelChange`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Order, Position, Record, Sorted};

/// A person on a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub name: Option<String>,
    pub email: String,
}

/// One message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EmailData {
    pub thread_id: Option<String>,
    pub subject: Option<String>,
    pub from: Option<Address>,
    pub to: Vec<Address>,
    pub cc: Vec<Address>,
    pub bcc: Vec<Address>,
    /// When the mailbox received it (Gmail `internalDate`, Outlook `receivedDateTime`): the
    /// list's key.
    pub date: DateTime<Utc>,
    pub snippet: Option<String>,
    /// Only when the request asked for bodies.
    pub body_text: Option<String>,
    pub body_html: Option<String>,
    pub labels: Vec<String>,
    pub unread: bool,
}

impl Sorted for EmailData {
    const ORDER: Order = Order::NewestFirst;

    fn key(record: &Record<Self>) -> DateTime<Utc> {
        record.data.date
    }
}

/// What a list keeps; every field is pushed down to the provider.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailFilter {
    pub from: Option<String>,
    pub to: Option<String>,
    pub subject_contains: Option<String>,
    /// Received at or after.
    pub after: Option<DateTime<Utc>>,
    /// Received before.
    pub before: Option<DateTime<Utc>>,
    pub label: Option<String>,
    pub unread: Option<bool>,
    /// From or to this address (Contact.emails).
    pub participant: Option<String>,
}

impl MailFilter {
    /// Whether a message passes the time bounds exactly (providers search by the second).
    pub fn within(&self, date: DateTime<Utc>) -> bool {
        self.after.is_none_or(|a| date >= a) && self.before.is_none_or(|b| date < b)
    }
}

/// One page of a list: at most `limit` messages strictly after `after`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailRequest {
    pub filter: MailFilter,
    pub after: Option<Position>,
    pub limit: usize,
    /// Whether `bodyText` / `bodyHtml` are wanted (they cost a larger answer).
    pub bodies: bool,
}

/// A message to send.
#[derive(Debug, Clone, Default)]
pub struct SendEmail {
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub bcc: Vec<String>,
    pub subject: Option<String>,
    pub text: Option<String>,
    pub html: Option<String>,
    /// The provider id of the message this one answers, in its thread.
    pub reply_to: Option<String>,
    /// The RFC 5322 `Message-ID` (`<left@right>`) the message carries, so that it can be found
    /// again (`Mail::find_sent`); the provider picks one when `None`.
    pub message_id: Option<String>,
}

/// Labels to add to and remove from a message (Gmail labels, Outlook categories), by name.
#[derive(Debug, Clone, Default)]
pub struct LabelChange {
    pub add: Vec<String>,
    pub remove: Vec<String>,
}
