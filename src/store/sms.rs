//! SMS state: the outbox of accepted messages, repeatability records, delivery reports and
//! opt-outs.
//!
//! Invariants:
//! - A repeatability id is recorded at most once: the look-up, the outbox append and the record
//!   happen inside one DashMap `entry()` (the outbox mutex is only ever taken inside it, never the
//!   other way round), so concurrent sends with the same id record exactly one message.
//! - The outbox holds at most `max_outbox` messages (`--max-sms-outbox`): appending past it evicts
//!   the oldest messages first.
//! - Delivery reports and repeatability records are bounded by the same number, but on a queue of
//!   their own (in the outbox mutex): the newest `max_outbox` messages that left a report or a
//!   record keep them, whether or not `DELETE /_emulator/sms` emptied the outbox since. Older ones
//!   are dropped (after the repeatability entry is released, never while it is held).
//! - At most `max_opt_outs` (sender, recipient) opt-outs (`--max-sms-opt-outs`); adding more is
//!   refused with [`SmsError::OptOutsFull`], never by forgetting an older one (that would silently
//!   send to a recipient who opted out). A request's new pairs are reserved all at once, so a
//!   refused request adds none of them.
//! - Every append wakes the outbox waiters ([`SmsStore::changed`]); waiters register before they
//!   look, so no append is missed. No lock is held across an `.await` (there are none here).
//! - Every append publishes its change record ([`SmsChange::Sent`]) while it holds the outbox
//!   mutex, so listeners hear of the messages in outbox order.
//!
//! No actix, no serde_json.

use std::borrow::Cow;
use std::collections::{HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};
use dashmap::{DashMap, DashSet};
use tokio::sync::Notify;

use super::Counter;
use super::changes::{Area, Change, Sink};
use crate::domain::{PhoneNumber, SmsEncoding, SmsMessageId};

/// Why an SMS store operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmsError {
    /// `--max-sms-opt-outs` opt-outs exist and the request would add more.
    #[error("the opt-out table is full ({0} opt-outs)")]
    OptOutsFull(usize),
}

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

/// An SMS a phone sent to one of the resource's numbers. Nothing keeps it (the service keeps no
/// inbound messages either): it exists as a change, for `SMSReceived` and live views.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundSms {
    /// Its id (the `SMSReceived` event's id).
    pub message_id: SmsMessageId,
    /// Sender.
    pub from: PhoneNumber,
    /// Recipient (a number the resource owns).
    pub to: PhoneNumber,
    /// The text.
    pub message: String,
    /// When it arrived (emulator clock).
    pub received_at: DateTime<Utc>,
}

/// What an SMS write, or an inbound message, changed (its change record).
// A record lives on the writer's stack for one call: boxing the larger variant would cost an
// allocation per message for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum SmsChange<'a> {
    /// A message went into the outbox (one per recipient), with the delivery report it will get
    /// if one was asked for.
    Sent {
        /// The message as the outbox holds it.
        message: Cow<'a, SentSms>,
        /// Its delivery report, available from `report.received_at`.
        report: Option<DeliveryReport>,
    },
    /// A message arrived at one of the resource's numbers.
    Received(Cow<'a, InboundSms>),
    /// The outbox was emptied (`DELETE /_emulator/sms`).
    OutboxCleared,
    /// Recipients opted out of a sender's messages (only the pairs that were not opted out).
    OptedOut {
        /// The sender.
        from: PhoneNumber,
        /// The recipients.
        to: Vec<PhoneNumber>,
    },
    /// A recipient opted back in (only when it was opted out).
    OptedIn {
        /// The sender.
        from: PhoneNumber,
        /// The recipient.
        to: PhoneNumber,
    },
}

impl SmsChange<'_> {
    /// A copy that owns what it holds.
    pub fn into_owned(self) -> SmsChange<'static> {
        match self {
            SmsChange::Sent { message, report } => SmsChange::Sent {
                message: Cow::Owned(message.into_owned()),
                report,
            },
            SmsChange::Received(sms) => SmsChange::Received(Cow::Owned(sms.into_owned())),
            SmsChange::OutboxCleared => SmsChange::OutboxCleared,
            SmsChange::OptedOut { from, to } => SmsChange::OptedOut { from, to },
            SmsChange::OptedIn { from, to } => SmsChange::OptedIn { from, to },
        }
    }
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

/// What a message left behind besides its outbox entry: its delivery report and/or its
/// repeatability record.
#[derive(Debug)]
struct Leftovers {
    message_id: SmsMessageId,
    /// The lower-cased repeatability id, if the message had one.
    repeatability_key: Option<String>,
}

#[derive(Debug, Default)]
struct Outbox {
    sent: VecDeque<SentSms>,
    /// Messages whose report or repeatability record is kept, oldest first.
    leftovers: VecDeque<Leftovers>,
}

/// The SMS tables.
#[derive(Debug)]
pub struct SmsStore {
    outbox: Mutex<Outbox>,
    changed: Notify,
    /// Repeatability id (lower-cased) → the message it produced.
    repeatability: DashMap<String, SmsMessageId>,
    reports: DashMap<SmsMessageId, DeliveryReport>,
    /// (sender, recipient) pairs where the recipient opted out.
    opt_outs: DashSet<(PhoneNumber, PhoneNumber)>,
    opt_out_count: Counter,
    max_opt_outs: usize,
}

impl Default for SmsStore {
    fn default() -> Self {
        Self::with_opt_out_limit(usize::MAX)
    }
}

impl SmsStore {
    /// Empty tables keeping at most `max_opt_outs` opt-outs.
    pub fn with_opt_out_limit(max_opt_outs: usize) -> Self {
        Self {
            outbox: Mutex::default(),
            changed: Notify::new(),
            repeatability: DashMap::new(),
            reports: DashMap::new(),
            opt_outs: DashSet::new(),
            opt_out_count: Counter::default(),
            max_opt_outs,
        }
    }

    fn outbox(&self) -> MutexGuard<'_, Outbox> {
        self.outbox.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records `sms` unless its repeatability id was seen before, in which case nothing is
    /// recorded and the original message id comes back. The outbox keeps the newest
    /// `max_outbox` messages. A recorded message is published to `sink` ([`SmsChange::Sent`]).
    pub fn record(&self, sms: SentSms, max_outbox: usize, sink: Sink<'_>) -> SendOutcome {
        let Some(key) = sms
            .repeatability_request_id
            .as_ref()
            .map(|id| id.to_ascii_lowercase())
        else {
            let id = sms.message_id.clone();
            let evicted = self.append(sms, max_outbox, sink);
            self.forget(evicted);
            return SendOutcome::Sent(id);
        };
        let (outcome, evicted) = match self.repeatability.entry(key) {
            dashmap::Entry::Occupied(original) => {
                (SendOutcome::Repeated(original.get().clone()), Vec::new())
            }
            dashmap::Entry::Vacant(slot) => {
                let id = sms.message_id.clone();
                let evicted = self.append(sms, max_outbox, sink);
                slot.insert(id.clone());
                (SendOutcome::Sent(id), evicted)
            }
        };
        // The entry's shard lock is released: evicted records may live in the same shard.
        self.forget(evicted);
        outcome
    }

    /// Appends `sms`, evicting the oldest messages past `max_outbox`, and publishes it; returns
    /// the oldest leftovers past `max_outbox`, for [`Self::forget`].
    fn append(&self, sms: SentSms, max_outbox: usize, sink: Sink<'_>) -> Vec<Leftovers> {
        let max = max_outbox.max(1);
        // The report goes in before the message is queued, so that whoever drops it later
        // always finds it there.
        let report = sms.delivery_report_at.map(|received_at| DeliveryReport {
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
        });
        if let Some(report) = &report {
            self.reports.insert(sms.message_id.clone(), report.clone());
        }
        let leftovers = (sms.delivery_report_at.is_some()
            || sms.repeatability_request_id.is_some())
        .then(|| Leftovers {
            message_id: sms.message_id.clone(),
            repeatability_key: sms
                .repeatability_request_id
                .as_ref()
                .map(|id| id.to_ascii_lowercase()),
        });
        let mut outbox = self.outbox();
        outbox.sent.push_back(sms);
        let excess = outbox.sent.len().saturating_sub(max);
        outbox.sent.drain(..excess);
        if let Some(message) = outbox.sent.back() {
            sink.publish(Area::Sms, || {
                Change::Sms(SmsChange::Sent {
                    message: Cow::Borrowed(message),
                    report,
                })
            });
        }
        let mut dropped = Vec::new();
        if let Some(leftovers) = leftovers {
            outbox.leftovers.push_back(leftovers);
            let excess = outbox.leftovers.len().saturating_sub(max);
            dropped.extend(outbox.leftovers.drain(..excess));
        }
        drop(outbox);
        self.changed.notify_waiters();
        dropped
    }

    /// Drops old messages' delivery reports and repeatability records.
    fn forget(&self, dropped: Vec<Leftovers>) {
        for old in dropped {
            self.reports.remove(&old.message_id);
            if let Some(key) = old.repeatability_key {
                self.repeatability
                    .remove_if(&key, |_, id| *id == old.message_id);
            }
        }
    }

    /// The outbox messages matching `filter`, oldest first.
    pub fn sent(&self, filter: &OutboxFilter) -> Vec<SentSms> {
        self.outbox()
            .sent
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

    /// Empties the outbox (delivery reports, repeatability records and opt-outs stay, still
    /// bounded by their own queue).
    pub fn clear_sent(&self, sink: Sink<'_>) -> usize {
        let mut outbox = self.outbox();
        let n = outbox.sent.len();
        outbox.sent.clear();
        sink.publish(Area::Sms, || Change::Sms(SmsChange::OutboxCleared));
        n
    }

    /// The message's delivery report, if one was asked for and it has arrived by `now`.
    pub fn delivery_report(&self, id: &SmsMessageId, now: DateTime<Utc>) -> Option<DeliveryReport> {
        self.reports
            .get(id)
            .filter(|r| r.received_at <= now)
            .map(|r| r.clone())
    }

    /// Records that every recipient in `to` opted out of messages from `from`, or none of them
    /// when that would pass the cap. Pairs already opted out take no room.
    /// The pairs it added are published to `sink` ([`SmsChange::OptedOut`]).
    pub fn opt_out(
        &self,
        from: &PhoneNumber,
        to: &[PhoneNumber],
        sink: Sink<'_>,
    ) -> Result<(), SmsError> {
        let new: HashSet<(PhoneNumber, PhoneNumber)> = to
            .iter()
            .map(|to| (from.clone(), to.clone()))
            .filter(|pair| !self.opt_outs.contains(pair))
            .collect();
        if !self.opt_out_count.try_add(new.len(), self.max_opt_outs) {
            return Err(SmsError::OptOutsFull(self.max_opt_outs));
        }
        // A parallel request may have added some of them meanwhile: give that room back.
        let (added, unused): (Vec<_>, Vec<_>) = new
            .into_iter()
            .partition(|pair| self.opt_outs.insert(pair.clone()));
        self.opt_out_count.sub(unused.len());
        if !added.is_empty() {
            sink.publish(Area::Sms, || {
                Change::Sms(SmsChange::OptedOut {
                    from: from.clone(),
                    to: added.into_iter().map(|(_, to)| to).collect(),
                })
            });
        }
        Ok(())
    }

    /// Opts `to` back in to messages from `from`; publishes [`SmsChange::OptedIn`] to `sink`
    /// when it was opted out.
    pub fn opt_in(&self, from: &PhoneNumber, to: &PhoneNumber, sink: Sink<'_>) {
        if self.opt_outs.remove(&(from.clone(), to.clone())).is_some() {
            self.opt_out_count.sub(1);
            sink.publish(Area::Sms, || {
                Change::Sms(SmsChange::OptedIn {
                    from: from.clone(),
                    to: to.clone(),
                })
            });
        }
    }

    /// Puts back an opt-out persistence kept (start-up), whatever the cap.
    pub fn restore_opt_out(&self, from: PhoneNumber, to: PhoneNumber) {
        if self.opt_outs.insert((from, to)) {
            self.opt_out_count.try_add(1, usize::MAX);
        }
    }

    /// Every (sender, recipient) opt-out, sorted by sender then recipient.
    pub fn opt_outs(&self) -> Vec<(PhoneNumber, PhoneNumber)> {
        let mut all: Vec<(PhoneNumber, PhoneNumber)> = self
            .opt_outs
            .iter()
            .map(|pair| pair.key().clone())
            .collect();
        all.sort_by(|a, b| (a.0.as_str(), a.1.as_str()).cmp(&(b.0.as_str(), b.1.as_str())));
        all
    }

    /// Number of (sender, recipient) opt-outs.
    pub fn opt_out_len(&self) -> usize {
        self.opt_outs.len()
    }

    /// Whether `to` opted out of messages from `from`.
    pub fn is_opted_out(&self, from: &PhoneNumber, to: &PhoneNumber) -> bool {
        self.opt_outs.contains(&(from.clone(), to.clone()))
    }

    /// Forgets everything. The opt-out count goes down by exactly what was removed, so an
    /// opt-out racing the reset keeps its reservation with its entry.
    pub fn clear(&self) {
        {
            let mut outbox = self.outbox();
            outbox.sent.clear();
            outbox.leftovers.clear();
        }
        self.repeatability.clear();
        self.reports.clear();
        let mut removed = 0;
        self.opt_outs.retain(|_| {
            removed += 1;
            false
        });
        self.opt_out_count.sub(removed);
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
        let first = store.record(sms("+14255550123", Some("ABC")), usize::MAX, Sink::NONE);
        let second = store.record(sms("+14255550123", Some("abc")), usize::MAX, Sink::NONE);
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
                    store.record(sms("+14255550123", Some("same")), usize::MAX, Sink::NONE)
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
        let SendOutcome::Sent(first_id) = store.record(first, 2, Sink::NONE) else {
            panic!("not sent")
        };
        for n in 0..4 {
            store.record(
                sms("+14255550123", Some(&format!("later-{n}"))),
                2,
                Sink::NONE,
            );
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
    fn leftovers_stay_bounded_after_the_outbox_is_emptied() {
        let store = SmsStore::default();
        let mut first = sms("+14255550123", Some("first"));
        first.delivery_report_at = Some(Utc::now());
        let SendOutcome::Sent(first_id) = store.record(first, 2, Sink::NONE) else {
            panic!("not sent")
        };
        store.clear_sent(Sink::NONE);
        // Cleared from the outbox, the first message still dedupes and reports.
        assert!(matches!(
            store.record(sms("+14255550123", Some("first")), 2, Sink::NONE),
            SendOutcome::Repeated(_)
        ));
        assert!(store.delivery_report(&first_id, Utc::now()).is_some());
        for n in 0..10 {
            let mut later = sms("+14255550123", Some(&format!("later-{n}")));
            later.delivery_report_at = Some(Utc::now());
            store.record(later, 2, Sink::NONE);
            store.clear_sent(Sink::NONE);
        }
        assert_eq!(store.repeatability.len(), 2);
        assert_eq!(store.reports.len(), 2);
        assert!(store.delivery_report(&first_id, Utc::now()).is_none());
    }

    #[test]
    fn messages_without_leftovers_do_not_push_out_others() {
        let store = SmsStore::default();
        store.record(sms("+14255550123", Some("kept")), 2, Sink::NONE);
        for _ in 0..5 {
            store.record(sms("+14255550123", None), 2, Sink::NONE);
        }
        assert_eq!(store.sent(&OutboxFilter::default()).len(), 2);
        assert!(store.repeatability.contains_key("kept"));
    }

    fn number(n: u32) -> PhoneNumber {
        PhoneNumber::parse(&format!("+1425555{n:04}")).expect("valid")
    }

    #[test]
    fn a_full_opt_out_table_refuses_a_whole_request() {
        let store = SmsStore::with_opt_out_limit(3);
        let from = PhoneNumber::parse("+18005550100").expect("valid");
        store
            .opt_out(&from, &[number(1), number(2), number(1)], Sink::NONE)
            .expect("room");
        assert_eq!(
            store.opt_out(&from, &[number(3), number(4)], Sink::NONE),
            Err(SmsError::OptOutsFull(3))
        );
        assert!(!store.is_opted_out(&from, &number(3)));
        // Pairs already opted out take no room.
        store
            .opt_out(&from, &[number(1), number(2), number(3)], Sink::NONE)
            .expect("one new");
        assert_eq!(store.opt_out_len(), 3);
        store.opt_in(&from, &number(1), Sink::NONE);
        store.opt_in(&from, &number(1), Sink::NONE);
        store
            .opt_out(&from, &[number(4)], Sink::NONE)
            .expect("room again");
        assert_eq!(
            store.opt_out(&from, &[number(5)], Sink::NONE),
            Err(SmsError::OptOutsFull(3))
        );
        store.clear();
        store
            .opt_out(&from, &[number(6), number(7), number(8)], Sink::NONE)
            .expect("room after clear");
    }

    #[test]
    fn parallel_opt_outs_never_pass_the_cap() {
        let store = std::sync::Arc::new(SmsStore::with_opt_out_limit(10));
        let from = PhoneNumber::parse("+18005550100").expect("valid");
        let threads: Vec<_> = (0..8u32)
            .map(|t| {
                let (store, from) = (store.clone(), from.clone());
                std::thread::spawn(move || {
                    (0..20u32)
                        .filter(|i| {
                            store
                                .opt_out(&from, &[number(t * 100 + i)], Sink::NONE)
                                .is_ok()
                        })
                        .count()
                })
            })
            .collect();
        let added: usize = threads.into_iter().map(|t| t.join().expect("thread")).sum();
        assert_eq!(added, 10);
        assert_eq!(store.opt_out_len(), 10);
    }

    #[test]
    fn opt_outs_are_per_sender_and_recipient() {
        let store = SmsStore::default();
        let a = PhoneNumber::parse("+18005550100").expect("valid");
        let b = PhoneNumber::parse("+18005550101").expect("valid");
        let to = PhoneNumber::parse("+14255550123").expect("valid");
        store
            .opt_out(&a, std::slice::from_ref(&to), Sink::NONE)
            .expect("room");
        assert!(store.is_opted_out(&a, &to));
        assert!(!store.is_opted_out(&b, &to));
        store.opt_in(&a, &to, Sink::NONE);
        assert!(!store.is_opted_out(&a, &to));
    }
}
