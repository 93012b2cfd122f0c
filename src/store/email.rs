//! Email state: the inbox of accepted messages ("what would have arrived"), their send
//! operations, and engagement (views, clicks) reported through the control API.
//!
//! Invariants:
//! - One mutex guards the inbox and the operations table, so that recording a message and its
//!   operation is one step: a second send with the same operation id (repeatability) finds the
//!   first operation and records nothing, even when both race.
//! - The inbox holds at most `max_emails` messages and at most `max_bytes` bytes of them
//!   (`--max-emails`, `--max-email-storage-bytes`); appending past either evicts the oldest
//!   messages first (the newest always stays, whatever its size). Operations are bounded by
//!   `max_emails` on their own queue, so `DELETE /_emulator/emails` leaves them pollable.
//! - An accepted message is published as a change record ([`EmailChange::Sent`]) to the sink
//!   the write is given, under the lock, once it can no longer fail; events are built from those
//!   records only (`events::email`), never by reading the store again. An engagement is nothing
//!   the store keeps: [`EmailStore::engage`] checks it and returns its record, which the handler
//!   publishes through the same sink.
//! - Every append wakes the inbox waiters ([`EmailStore::changed`]); no lock is held across an
//!   `.await` (there are none here).
//!
//! No actix, no serde_json.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use super::changes::{Area, Change, Sink};
use super::lro::{Lro, LroPlan, LroTable, Started};
use crate::domain::{DeliveryStatus, EmailAddress, EngagementType, address_key, same_address};

/// Why an email operation failed. The API answers each as `error::from` says; the codes are
/// the real service's where it documents them (`DomainNotLinked`, `InvalidEmailAddress`), the
/// emulator's own otherwise (docs/differences.md).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    /// 400: the message breaks a rule; `code` names which (`InvalidEmailAddress`,
    /// `TooManyRecipients`, `InvalidAttachment`, …).
    #[error("{message}")]
    Invalid {
        /// The error code.
        code: &'static str,
        /// What is wrong.
        message: String,
    },
    /// 400 `ValidationError`: a required field is missing (`target`: its JSON path).
    #[error("{message}")]
    Missing {
        /// What is missing.
        message: String,
        /// Its path, e.g. `content.subject`.
        target: String,
    },
    /// 404 `DomainNotLinked`: the sender's domain is not one of the resource's.
    #[error("The specified sender domain has not been linked.")]
    DomainNotLinked(String),
    /// 404: no send operation has this id.
    #[error("There is no email send operation with id '{0}'.")]
    OperationNotFound(String),
    /// 404 (control API): no message in the inbox has this id.
    #[error("There is no email with id '{0}' in the inbox.")]
    MessageNotFound(String),
    /// 404 (control API): the message has no such attachment.
    #[error("The email '{id}' has no attachment number {index}.")]
    AttachmentNotFound {
        /// The message.
        id: String,
        /// The attachment's index.
        index: usize,
    },
    /// 409 (control API): engagement cannot be reported for this recipient.
    #[error("{0}")]
    EngagementRefused(String),
}

/// A named address (`recipients.*[]`, `replyTo[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    /// The address.
    pub address: EmailAddress,
    /// `displayName`.
    pub display_name: Option<String>,
}

/// A decoded attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// `name` (the file name).
    pub name: String,
    /// `contentType` as sent.
    pub content_type: String,
    /// `contentId` (inline attachments, 2025-09-01): what `cid:` links in the HTML name.
    pub content_id: Option<String>,
    /// The decoded bytes.
    pub content: Vec<u8>,
}

/// Where one recipient's message ends up, and when the delivery report says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The recipient (each address once, whether in `to`, `cc` or `bcc`).
    pub recipient: EmailAddress,
    /// The outcome.
    pub status: DeliveryStatus,
    /// `deliveryStatusDetails.statusMessage` (most often one of the emulator's fixed texts).
    pub details: Cow<'static, str>,
    /// When the report arrives (emulator clock).
    pub at: DateTime<Utc>,
}

/// An accepted message, as the inbox shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentEmail {
    /// Its id: the send operation's id (and the `messageId` of its events).
    pub id: String,
    /// The RFC 5322 `Message-ID` (`internetMessageId` in events), with its angle brackets.
    pub internet_message_id: String,
    /// `senderAddress`.
    pub sender: EmailAddress,
    /// `recipients.to`.
    pub to: Vec<Mailbox>,
    /// `recipients.cc`.
    pub cc: Vec<Mailbox>,
    /// `recipients.bcc`.
    pub bcc: Vec<Mailbox>,
    /// `replyTo`.
    pub reply_to: Vec<Mailbox>,
    /// `content.subject`.
    pub subject: String,
    /// `content.plainText`.
    pub plain_text: Option<String>,
    /// `content.html`.
    pub html: Option<String>,
    /// `attachments`, decoded (inline ones have a content id).
    pub attachments: Vec<Attachment>,
    /// Custom `headers`, in the order sent (the service's own `x-ms-acsemail-*` switches left out).
    pub headers: Vec<(String, String)>,
    /// `userEngagementTrackingDisabled`.
    pub user_engagement_tracking_disabled: bool,
    /// How it came in: the REST api-version, or another front door's name (e.g. `smtp`).
    pub via: Cow<'static, str>,
    /// When it was accepted (emulator clock).
    pub sent_at: DateTime<Utc>,
    /// Its send operation's course.
    pub plan: LroPlan,
    /// One delivery per distinct recipient.
    pub deliveries: Vec<Delivery>,
    /// The RFC 5322 message exactly as a front door received it (the SMTP relay's DATA), which
    /// the `.eml` returns as is; `None` when the message was built from fields (REST), and the
    /// `.eml` is rendered from them.
    pub raw: Option<Vec<u8>>,
}

impl SentEmail {
    /// Every recipient, `to` then `cc` then `bcc`.
    pub fn recipients(&self) -> impl Iterator<Item = &Mailbox> {
        self.to.iter().chain(&self.cc).chain(&self.bcc)
    }

    /// The bytes it holds (texts and decoded attachments), for `--max-email-storage-bytes`.
    pub fn size(&self) -> usize {
        let mailboxes = |list: &[Mailbox]| -> usize {
            list.iter()
                .map(|m| m.address.as_str().len() + m.display_name.as_ref().map_or(0, String::len))
                .sum()
        };
        self.subject.len()
            + self.plain_text.as_ref().map_or(0, String::len)
            + self.html.as_ref().map_or(0, String::len)
            + self
                .attachments
                .iter()
                .map(|a| a.name.len() + a.content_type.len() + a.content.len())
                .sum::<usize>()
            + self
                .headers
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>()
            + mailboxes(&self.to)
            + mailboxes(&self.cc)
            + mailboxes(&self.bcc)
            + mailboxes(&self.reply_to)
            + self.raw.as_ref().map_or(0, Vec::len)
            + 512
    }

    /// The send operation, as the operations table keeps it.
    pub fn operation(&self) -> Lro<()> {
        Lro {
            id: self.id.clone(),
            created_at: self.sent_at,
            plan: self.plan.clone(),
            payload: (),
        }
    }

    /// The delivery of `recipient` (any case), if it is one.
    pub fn delivery(&self, recipient: &str) -> Option<&Delivery> {
        self.deliveries
            .iter()
            .find(|d| same_address(d.recipient.as_str(), recipient))
    }
}

/// A recipient's engagement with a delivered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Engagement {
    /// The message's id.
    pub message_id: String,
    /// Its `Message-ID`.
    pub internet_message_id: String,
    /// Its sender.
    pub sender: EmailAddress,
    /// Who engaged.
    pub recipient: EmailAddress,
    /// `view` or `click`.
    pub kind: EngagementType,
    /// What was clicked (a URL), or what was viewed.
    pub context: Option<String>,
    /// The client (e.g. `Desktop`).
    pub user_agent: Option<String>,
    /// When (emulator clock).
    pub at: DateTime<Utc>,
}

/// What a write changed, captured under the store's lock: what events are built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailChange {
    /// A message was accepted: its operation started, its deliveries are planned.
    Sent(Arc<SentEmail>),
    /// A recipient viewed the message or clicked a link in it.
    Engaged(Engagement),
    /// The inbox was emptied (`DELETE /_emulator/emails`); the operations stay.
    InboxCleared,
}

/// What [`EmailStore::accept`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    /// The message was recorded (and published).
    New(Arc<SentEmail>),
    /// A send with this operation id was accepted before: its operation (nothing recorded).
    Repeated(Lro<()>),
}

/// The caps on the inbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmailLimits {
    /// Messages kept (`--max-emails`), and send operations.
    pub max_emails: usize,
    /// Bytes of messages kept (`--max-email-storage-bytes`).
    pub max_bytes: usize,
}

impl Default for EmailLimits {
    fn default() -> Self {
        Self {
            max_emails: usize::MAX,
            max_bytes: usize::MAX,
        }
    }
}

/// Which inbox messages to list. `None` fields match anything.
#[derive(Debug, Clone, Default)]
pub struct InboxFilter {
    /// A recipient (`to`, `cc` or `bcc`), any case.
    pub to: Option<String>,
    /// The sender, any case.
    pub from: Option<String>,
    /// Text the subject contains, any case.
    pub subject: Option<String>,
    /// Sent at or after this instant.
    pub since: Option<DateTime<Utc>>,
}

impl InboxFilter {
    fn matches(&self, email: &SentEmail) -> bool {
        self.to.as_ref().is_none_or(|to| {
            let to = address_key(to);
            email.recipients().any(|m| m.address.key() == to)
        }) && self
            .from
            .as_ref()
            .is_none_or(|from| email.sender.key() == address_key(from))
            && self
                .subject
                .as_ref()
                .is_none_or(|s| email.subject.to_lowercase().contains(&s.to_lowercase()))
            && self.since.is_none_or(|since| email.sent_at >= since)
    }
}

#[derive(Debug)]
struct Inner {
    /// Each message with its [`SentEmail::size`], taken once.
    inbox: VecDeque<(Arc<SentEmail>, usize)>,
    bytes: usize,
    operations: LroTable<()>,
}

/// The Email tables of one resource.
#[derive(Debug)]
pub struct EmailStore {
    inner: Mutex<Inner>,
    changed: Notify,
    limits: EmailLimits,
}

impl Default for EmailStore {
    fn default() -> Self {
        Self::with_limits(EmailLimits::default())
    }
}

impl EmailStore {
    /// Empty tables with these caps.
    pub fn with_limits(limits: EmailLimits) -> Self {
        Self {
            inner: Mutex::new(Inner {
                inbox: VecDeque::new(),
                bytes: 0,
                operations: LroTable::new(limits.max_emails),
            }),
            changed: Notify::new(),
            limits,
        }
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records `email` and starts its operation, unless an operation with its id exists: then
    /// that operation comes back and nothing is recorded. A recorded message is published to
    /// `sink` ([`EmailChange::Sent`]) before the lock is released.
    pub fn accept(&self, email: SentEmail, sink: Sink<'_>) -> Accepted {
        let email = Arc::new(email);
        let size = email.size();
        let operation = email.operation();
        // Evicted messages are dropped once the lock is released: freeing a message sent
        // thousands of messages earlier touches cold memory, and the other worker may be waiting.
        // A full inbox evicts one message per send, kept without allocating a `Vec` for it.
        let mut evicted = None;
        let mut more_evicted = Vec::new();
        let mut inner = self.inner();
        match inner.operations.start(operation) {
            Started::Existing(lro) => return Accepted::Repeated(lro.clone()),
            Started::New(_) => {}
        }
        inner.bytes = inner.bytes.saturating_add(size);
        inner.inbox.push_back((Arc::clone(&email), size));
        while inner.inbox.len() > 1
            && (inner.inbox.len() > self.limits.max_emails.max(1)
                || inner.bytes > self.limits.max_bytes)
        {
            if let Some((old, old_size)) = inner.inbox.pop_front() {
                inner.bytes = inner.bytes.saturating_sub(old_size);
                match evicted {
                    None => evicted = Some(old),
                    Some(_) => more_evicted.push(old),
                }
            }
        }
        sink.publish(Area::Email, || {
            Change::Email(EmailChange::Sent(Arc::clone(&email)))
        });
        drop(inner);
        drop((evicted, more_evicted));
        self.changed.notify_waiters();
        Accepted::New(email)
    }

    /// The send operation with this id (any case).
    pub fn operation(&self, id: &str) -> Result<Lro<()>, EmailError> {
        self.inner()
            .operations
            .get(id)
            .cloned()
            .ok_or_else(|| EmailError::OperationNotFound(id.to_string()))
    }

    /// The inbox messages matching `filter`, oldest first.
    pub fn sent(&self, filter: &InboxFilter) -> Vec<Arc<SentEmail>> {
        self.inner()
            .inbox
            .iter()
            .filter(|(e, _)| filter.matches(e))
            .map(|(e, _)| Arc::clone(e))
            .collect()
    }

    /// The inbox message with this id (any case).
    pub fn message(&self, id: &str) -> Result<Arc<SentEmail>, EmailError> {
        self.inner()
            .inbox
            .iter()
            .find(|(e, _)| e.id.eq_ignore_ascii_case(id))
            .map(|(e, _)| Arc::clone(e))
            .ok_or_else(|| EmailError::MessageNotFound(id.to_string()))
    }

    /// Resolves on the next inbox append. Call `enable()` on the pinned future *before* looking
    /// at the inbox, so that an append between the look and the wait is not missed.
    pub fn changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.changed.notified()
    }

    /// A recipient's engagement with a message, at `now`: refused unless the message is in the
    /// inbox, `recipient` is one of its recipients, its delivery report says `Delivered` by
    /// `now`, and the message did not turn engagement tracking off.
    pub fn engage(
        &self,
        id: &str,
        recipient: &str,
        kind: EngagementType,
        context: Option<String>,
        user_agent: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<EmailChange, EmailError> {
        let email = self.message(id)?;
        if email.user_engagement_tracking_disabled {
            return Err(EmailError::EngagementRefused(format!(
                "The email '{}' was sent with userEngagementTrackingDisabled: no engagement is tracked for it.",
                email.id
            )));
        }
        let delivery = email.delivery(recipient).ok_or_else(|| {
            EmailError::EngagementRefused(format!(
                "'{recipient}' is not a recipient of the email '{}'.",
                email.id
            ))
        })?;
        if delivery.status != DeliveryStatus::Delivered || delivery.at > now {
            return Err(EmailError::EngagementRefused(format!(
                "The email '{}' has not been delivered to '{recipient}' (its delivery report says {} at {}).",
                email.id,
                delivery.status.as_str(),
                delivery
                    .at
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            )));
        }
        Ok(EmailChange::Engaged(Engagement {
            message_id: email.id.clone(),
            internet_message_id: email.internet_message_id.clone(),
            sender: email.sender.clone(),
            recipient: delivery.recipient.clone(),
            kind,
            context,
            user_agent,
            at: now,
        }))
    }

    /// Empties the inbox (operations stay pollable), published to `sink`
    /// ([`EmailChange::InboxCleared`]); how many messages went.
    pub fn clear_sent(&self, sink: Sink<'_>) -> usize {
        let mut inner = self.inner();
        let n = inner.inbox.len();
        inner.inbox.clear();
        inner.bytes = 0;
        sink.publish(Area::Email, || Change::Email(EmailChange::InboxCleared));
        n
    }

    /// Puts a kept message's send operation back without the message (the `--state-dir` replay
    /// of a message whose inbox was emptied since). Publishes nothing.
    pub fn restore_operation(&self, operation: Lro<()>) {
        let _ = self.inner().operations.start(operation);
    }

    /// Forgets everything (`POST /_emulator/reset`).
    pub fn clear(&self) {
        let mut inner = self.inner();
        inner.inbox.clear();
        inner.bytes = 0;
        inner.operations.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::lro::{LroOutcome, LroStatus};

    impl EmailStore {
        fn accept_unpublished(&self, email: SentEmail) -> Accepted {
            self.accept(email, Sink::NONE)
        }
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).expect("valid")
    }

    fn address(a: &str) -> EmailAddress {
        EmailAddress::parse(a).expect("valid")
    }

    fn email(id: &str, to: &str, body: usize) -> SentEmail {
        let to = address(to);
        SentEmail {
            id: id.into(),
            internet_message_id: format!("<{id}@example.com>"),
            sender: address("DoNotReply@example.com"),
            to: vec![Mailbox {
                address: to.clone(),
                display_name: None,
            }],
            cc: Vec::new(),
            bcc: Vec::new(),
            reply_to: Vec::new(),
            subject: "Hello".into(),
            plain_text: Some("x".repeat(body)),
            html: None,
            attachments: Vec::new(),
            headers: Vec::new(),
            user_engagement_tracking_disabled: false,
            via: "2025-09-01".into(),
            raw: None,
            sent_at: at(0),
            plan: LroPlan {
                running_at: at(0),
                completes_at: at(1),
                outcome: LroOutcome::Succeeded,
            },
            deliveries: vec![Delivery {
                recipient: to,
                status: DeliveryStatus::Delivered,
                details: "No error.".into(),
                at: at(1),
            }],
        }
    }

    #[test]
    fn an_operation_id_seen_before_records_nothing_and_returns_the_first_operation() {
        let store = EmailStore::default();
        assert!(matches!(
            store.accept_unpublished(email("ABC", "a@example.com", 1)),
            Accepted::New(..)
        ));
        let Accepted::Repeated(lro) = store.accept_unpublished(email("abc", "b@example.com", 1))
        else {
            panic!("not repeated");
        };
        assert_eq!(lro.id, "ABC");
        assert_eq!(store.sent(&InboxFilter::default()).len(), 1);
        assert_eq!(
            store.operation("abc").expect("known").status(at(5)),
            LroStatus::Succeeded
        );
        assert_eq!(store.clear_sent(Sink::NONE), 1);
        // The inbox is empty, the operation still answers and still dedupes.
        assert!(store.operation("ABC").is_ok());
        assert!(matches!(
            store.accept_unpublished(email("abc", "c@example.com", 1)),
            Accepted::Repeated(_)
        ));
        store.clear();
        assert!(store.operation("ABC").is_err());
    }

    #[test]
    fn an_accepted_email_is_published_once_and_a_repeat_publishes_nothing() {
        let store = EmailStore::default();
        let changes = crate::store::Changes::default();
        let mut live = changes.subscribe();
        store.accept(email("m1", "a@example.com", 1), changes.sink("contoso"));
        store.accept(email("M1", "b@example.com", 1), changes.sink("contoso"));
        let committed = live.try_recv().expect("one change");
        assert_eq!(committed.resource, "contoso");
        assert!(matches!(
            &committed.change,
            Change::Email(EmailChange::Sent(e)) if e.id == "m1"
        ));
        assert!(live.try_recv().is_err(), "the repeat published nothing");
    }

    #[test]
    fn concurrent_sends_with_one_id_record_one_message() {
        let store = Arc::new(EmailStore::default());
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let store = store.clone();
                std::thread::spawn(move || {
                    matches!(
                        store.accept_unpublished(email("same", "a@example.com", 1)),
                        Accepted::New(..)
                    )
                })
            })
            .collect();
        let new = threads
            .into_iter()
            .filter_map(|t| t.join().ok())
            .filter(|n| *n)
            .count();
        assert_eq!(new, 1);
        assert_eq!(store.sent(&InboxFilter::default()).len(), 1);
    }

    #[test]
    fn the_inbox_evicts_the_oldest_past_either_cap_and_keeps_the_newest() {
        let store = EmailStore::with_limits(EmailLimits {
            max_emails: 3,
            max_bytes: 10_000,
        });
        for n in 0..5 {
            store.accept_unpublished(email(&format!("m{n}"), "a@example.com", 10));
        }
        let ids = |s: &EmailStore| -> Vec<String> {
            s.sent(&InboxFilter::default())
                .iter()
                .map(|e| e.id.clone())
                .collect()
        };
        assert_eq!(ids(&store), ["m2", "m3", "m4"]);
        store.accept_unpublished(email("big", "a@example.com", 9_000));
        assert_eq!(ids(&store), ["big"]);
        store.accept_unpublished(email("huge", "a@example.com", 50_000));
        assert_eq!(ids(&store), ["huge"]);
        // Operations are kept on their own queue (by count).
        assert!(store.operation("m4").is_ok() && store.operation("m2").is_err());
    }

    #[test]
    fn filters_and_engagement() {
        let store = EmailStore::default();
        store.accept_unpublished(email("m1", "Alice@Example.com", 1));
        let mut other = email("m2", "bob@example.com", 1);
        other.subject = "Your ORDER".into();
        other.user_engagement_tracking_disabled = true;
        store.accept_unpublished(other);
        let only = |f: InboxFilter| -> Vec<String> {
            store.sent(&f).iter().map(|e| e.id.clone()).collect()
        };
        assert_eq!(
            only(InboxFilter {
                to: Some("alice@example.COM".into()),
                ..Default::default()
            }),
            ["m1"]
        );
        assert_eq!(
            only(InboxFilter {
                subject: Some("order".into()),
                ..Default::default()
            }),
            ["m2"]
        );
        assert!(matches!(
            store.engage(
                "m1",
                "alice@example.com",
                EngagementType::View,
                None,
                None,
                at(0)
            ),
            Err(EmailError::EngagementRefused(_))
        ));
        assert!(matches!(
            store.engage(
                "m1",
                "alice@example.com",
                EngagementType::Click,
                None,
                None,
                at(1)
            ),
            Ok(EmailChange::Engaged(Engagement {
                kind: EngagementType::Click,
                ..
            }))
        ));
        assert!(
            store
                .engage(
                    "m1",
                    "carol@example.com",
                    EngagementType::View,
                    None,
                    None,
                    at(1)
                )
                .is_err()
        );
        assert!(
            store
                .engage(
                    "m2",
                    "bob@example.com",
                    EngagementType::View,
                    None,
                    None,
                    at(1)
                )
                .is_err()
        );
        assert_eq!(
            store.engage(
                "nope",
                "a@example.com",
                EngagementType::View,
                None,
                None,
                at(1)
            ),
            Err(EmailError::MessageNotFound("nope".into()))
        );
    }
}
