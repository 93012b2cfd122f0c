//! SMS state: the outbox of accepted messages, repeatability records, delivery reports and
//! opt-outs.
//!
//! Invariants:
//! - A repeatability id is recorded at most once: the look-up, the outbox append and the record
//!   happen inside one DashMap `entry()` (the outbox mutex is only ever taken inside it, never the
//!   other way round), so concurrent sends with the same id record exactly one message.
//! - The outbox holds at most `max_outbox` messages (`--max-sms-outbox`): appending past it evicts
//!   the oldest messages first, with their delivery reports and repeatability records (removed
//!   after the repeatability entry is released, never while it is held).
//! - Every append wakes the outbox waiters ([`SmsStore::changed`]); waiters register before they
//!   look, so no append is missed. No lock is held across an `.await` (there are none here).
//!
//! No actix, no serde_json.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};
use dashmap::{DashMap, DashSet};
use tokio::sync::Notify;

use crate::domain::{PhoneNumber, SmsEncoding, SmsMessageId};

/// One accepted message to one recipient, as the outbox shows it.
#[derive(Debug, Clone)]
pub struct SentSms {
    /// Its id (also the delivery report's id).
    pub message_id: SmsMessageId,
    /// Sender (a number the resource owns).
    pub from: PhoneNumber,
    /// Recipient.
    pub to: PhoneNumber,
    /// The text.
    pub message: String,
    /// `smsSendOptions.tag`.
    pub tag: Option<String>,
    /// `smsSendOptions.enableDeliveryReport`.
    pub enable_delivery_report: bool,
    /// `smsSendOptions.deliveryReportTimeoutInSeconds` (2024-12-10-preview and later).
    pub delivery_report_timeout_in_seconds: Option<i64>,
    /// The recipient's `repeatabilityRequestId`, if any.
    pub repeatability_request_id: Option<String>,
    /// The api-version of the send.
    pub api_version: &'static str,
    /// When the emulator accepted it (emulator clock).
    pub sent_at: DateTime<Utc>,
    /// GSM-7 or UCS-2.
    pub encoding: SmsEncoding,
    /// How many SMS segments the text takes.
    pub segments: u32,
    /// When its delivery report becomes available, if one was asked for.
    pub delivery_report_at: Option<DateTime<Utc>>,
    /// A failed delivery scripted by a scenario rule: the report's status details.
    pub delivery_failure: Option<String>,
}

/// `Delivered` or `Failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// The handset got every segment.
    Delivered,
    /// Delivery failed.
    Failed,
}

/// A delivery report, as `GET /deliveryReports/{id}` shows it.
#[derive(Debug, Clone)]
pub struct DeliveryReport {
    /// The message.
    pub message_id: SmsMessageId,
    /// Sender.
    pub from: PhoneNumber,
    /// Recipient.
    pub to: PhoneNumber,
    /// Outcome.
    pub status: DeliveryStatus,
    /// Carrier detail, e.g. `2000: No Error`.
    pub status_details: String,
    /// The send's tag.
    pub tag: Option<String>,
    /// Segments in the message (all succeeded when `Delivered`).
    pub segments: u32,
    /// When the report arrives (emulator clock); before that it does not exist yet.
    pub received_at: DateTime<Utc>,
}

/// What recording a send did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// A new message went into the outbox.
    Sent(SmsMessageId),
    /// The repeatability id was seen before: nothing was sent; this is the original message.
    Repeated(SmsMessageId),
}

/// Which outbox messages to list. `None` fields match anything.
#[derive(Debug, Clone, Default)]
pub struct OutboxFilter {
    /// Recipient.
    pub to: Option<PhoneNumber>,
    /// Sender.
    pub from: Option<PhoneNumber>,
    /// Exact tag.
    pub tag: Option<String>,
    /// Sent at or after this instant.
    pub since: Option<DateTime<Utc>>,
}

impl OutboxFilter {
    fn matches(&self, sms: &SentSms) -> bool {
        self.to.as_ref().is_none_or(|to| *to == sms.to)
            && self.from.as_ref().is_none_or(|from| *from == sms.from)
            && self
                .tag
                .as_ref()
                .is_none_or(|tag| sms.tag.as_ref() == Some(tag))
            && self.since.is_none_or(|since| sms.sent_at >= since)
    }
}

/// The SMS tables.
#[derive(Debug, Default)]
pub struct SmsStore {
    outbox: Mutex<VecDeque<SentSms>>,
    changed: Notify,
    /// Repeatability id (lower-cased) → the message it produced.
    repeatability: DashMap<String, SmsMessageId>,
    reports: DashMap<SmsMessageId, DeliveryReport>,
    /// (sender, recipient) pairs where the recipient opted out.
    opt_outs: DashSet<(PhoneNumber, PhoneNumber)>,
}

impl SmsStore {
    fn outbox(&self) -> MutexGuard<'_, VecDeque<SentSms>> {
        self.outbox.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records `sms` unless its repeatability id was seen before, in which case nothing is
    /// recorded and the original message id comes back. The outbox keeps the newest
    /// `max_outbox` messages.
    pub fn record(&self, sms: SentSms, max_outbox: usize) -> SendOutcome {
        let Some(key) = sms
            .repeatability_request_id
            .as_ref()
            .map(|id| id.to_ascii_lowercase())
        else {
            let id = sms.message_id.clone();
            let evicted = self.append(sms, max_outbox);
            self.forget(evicted);
            return SendOutcome::Sent(id);
        };
        let (outcome, evicted) = match self.repeatability.entry(key) {
            dashmap::Entry::Occupied(original) => {
                (SendOutcome::Repeated(original.get().clone()), Vec::new())
            }
            dashmap::Entry::Vacant(slot) => {
                let id = sms.message_id.clone();
                let evicted = self.append(sms, max_outbox);
                slot.insert(id.clone());
                (SendOutcome::Sent(id), evicted)
            }
        };
        // The entry's shard lock is released: evicted records may live in the same shard.
        self.forget(evicted);
        outcome
    }

    /// Appends `sms`, evicting (and returning) the oldest messages past `max_outbox`.
    fn append(&self, sms: SentSms, max_outbox: usize) -> Vec<SentSms> {
        if let Some(received_at) = sms.delivery_report_at {
            self.reports.insert(
                sms.message_id.clone(),
                DeliveryReport {
                    message_id: sms.message_id.clone(),
                    from: sms.from.clone(),
                    to: sms.to.clone(),
                    status: if sms.delivery_failure.is_some() {
                        DeliveryStatus::Failed
                    } else {
                        DeliveryStatus::Delivered
                    },
                    status_details: sms
                        .delivery_failure
                        .clone()
                        .unwrap_or_else(|| "2000: No Error".into()),
                    tag: sms.tag.clone(),
                    segments: sms.segments,
                    received_at,
                },
            );
        }
        let mut outbox = self.outbox();
        outbox.push_back(sms);
        let excess = outbox.len().saturating_sub(max_outbox.max(1));
        let evicted: Vec<SentSms> = outbox.drain(..excess).collect();
        drop(outbox);
        self.changed.notify_waiters();
        evicted
    }

    /// Drops what evicted messages left behind: delivery reports and repeatability records.
    fn forget(&self, evicted: Vec<SentSms>) {
        for sms in evicted {
            self.reports.remove(&sms.message_id);
            if let Some(key) = sms.repeatability_request_id {
                self.repeatability
                    .remove_if(&key.to_ascii_lowercase(), |_, id| *id == sms.message_id);
            }
        }
    }

    /// The outbox messages matching `filter`, oldest first.
    pub fn sent(&self, filter: &OutboxFilter) -> Vec<SentSms> {
        self.outbox()
            .iter()
            .filter(|sms| filter.matches(sms))
            .cloned()
            .collect()
    }

    /// Resolves on the next outbox append. Call `enable()` on the pinned future *before* looking
    /// at the outbox, so that an append between the look and the wait is not missed.
    pub fn changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.changed.notified()
    }

    /// Empties the outbox (delivery reports, repeatability records and opt-outs stay).
    pub fn clear_sent(&self) -> usize {
        let mut outbox = self.outbox();
        let n = outbox.len();
        outbox.clear();
        n
    }

    /// The message's delivery report, if one was asked for and it has arrived by `now`.
    pub fn delivery_report(&self, id: &SmsMessageId, now: DateTime<Utc>) -> Option<DeliveryReport> {
        self.reports
            .get(id)
            .filter(|r| r.received_at <= now)
            .map(|r| r.clone())
    }

    /// Records that `to` opted out of messages from `from`.
    pub fn opt_out(&self, from: &PhoneNumber, to: &PhoneNumber) {
        self.opt_outs.insert((from.clone(), to.clone()));
    }

    /// Opts `to` back in to messages from `from`.
    pub fn opt_in(&self, from: &PhoneNumber, to: &PhoneNumber) {
        self.opt_outs.remove(&(from.clone(), to.clone()));
    }

    /// Whether `to` opted out of messages from `from`.
    pub fn is_opted_out(&self, from: &PhoneNumber, to: &PhoneNumber) -> bool {
        self.opt_outs.contains(&(from.clone(), to.clone()))
    }

    /// Forgets everything.
    pub fn clear(&self) {
        self.clear_sent();
        self.repeatability.clear();
        self.reports.clear();
        self.opt_outs.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sms(to: &str, repeat: Option<&str>) -> SentSms {
        let now = Utc::now();
        SentSms {
            message_id: SmsMessageId::generate(now),
            from: PhoneNumber::parse("+18005550100").expect("valid"),
            to: PhoneNumber::parse(to).expect("valid"),
            message: "hi".into(),
            tag: None,
            enable_delivery_report: false,
            delivery_report_timeout_in_seconds: None,
            repeatability_request_id: repeat.map(str::to_string),
            api_version: "2021-03-07",
            sent_at: now,
            encoding: SmsEncoding::Gsm7,
            segments: 1,
            delivery_report_at: None,
            delivery_failure: None,
        }
    }

    #[test]
    fn a_repeated_id_records_nothing_and_returns_the_original_message() {
        let store = SmsStore::default();
        let first = store.record(sms("+14255550123", Some("ABC")), usize::MAX);
        let second = store.record(sms("+14255550123", Some("abc")), usize::MAX);
        let SendOutcome::Sent(id) = first else {
            panic!("first send was not sent")
        };
        assert_eq!(second, SendOutcome::Repeated(id));
        assert_eq!(store.sent(&OutboxFilter::default()).len(), 1);
    }

    #[test]
    fn concurrent_sends_with_one_id_record_one_message() {
        let store = std::sync::Arc::new(SmsStore::default());
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let store = store.clone();
                std::thread::spawn(move || {
                    store.record(sms("+14255550123", Some("same")), usize::MAX)
                })
            })
            .collect();
        let outcomes: Vec<_> = threads
            .into_iter()
            .map(|t| t.join().expect("thread"))
            .collect();
        assert_eq!(
            outcomes
                .iter()
                .filter(|o| matches!(o, SendOutcome::Sent(_)))
                .count(),
            1
        );
        assert_eq!(store.sent(&OutboxFilter::default()).len(), 1);
    }

    #[test]
    fn the_outbox_evicts_its_oldest_messages_and_what_they_left_behind() {
        let store = SmsStore::default();
        let mut first = sms("+14255550123", Some("first"));
        first.delivery_report_at = Some(Utc::now());
        let SendOutcome::Sent(first_id) = store.record(first, 2) else {
            panic!("not sent")
        };
        for n in 0..4 {
            store.record(sms("+14255550123", Some(&format!("later-{n}"))), 2);
        }
        let kept = store.sent(&OutboxFilter::default());
        assert_eq!(kept.len(), 2);
        assert_eq!(
            kept.iter()
                .map(|s| s.repeatability_request_id.clone().unwrap_or_default())
                .collect::<Vec<_>>(),
            ["later-2", "later-3"]
        );
        assert!(store.delivery_report(&first_id, Utc::now()).is_none());
        assert!(store.repeatability.get("first").is_none());
        assert_eq!(store.repeatability.len(), 2);
        assert_eq!(store.reports.len(), 0);
    }

    #[test]
    fn opt_outs_are_per_sender_and_recipient() {
        let store = SmsStore::default();
        let a = PhoneNumber::parse("+18005550100").expect("valid");
        let b = PhoneNumber::parse("+18005550101").expect("valid");
        let to = PhoneNumber::parse("+14255550123").expect("valid");
        store.opt_out(&a, &to);
        assert!(store.is_opted_out(&a, &to));
        assert!(!store.is_opted_out(&b, &to));
        store.opt_in(&a, &to);
        assert!(!store.is_opted_out(&a, &to));
    }
}
