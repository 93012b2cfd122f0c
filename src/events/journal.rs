//! What the bus has not delivered yet, kept across a restart (`--state-dir`).
//!
//! The bus tells an [`EventJournal`] (the state directory's writer, set once the kept state is
//! loaded: [`EventBus::keep_with`]) every time an event starts or stops waiting for a
//! subscription, and every time a delivery report is scheduled or taken from its schedule. The
//! journal only queues these notes (nothing is written on a request's path); they are
//! committed in order with the store's own changes.
//!
//! At start-up the kept notes come back before the bus starts ([`EventBus::restore_pending`],
//! [`EventBus::restore_sms_report`], [`EventBus::restore_email_report`]): each waiting event
//! goes back to its subscription's queue with its id, and each report to its schedule, to be
//! published when it falls due (at once if it fell due while the emulator was stopped).
//!
//! Delivery is at least once, as Event Grid's: an event delivered in the last moments before a
//! `kill -9` (its "delivered" note not committed yet) is delivered again after the restart, with
//! the same id. Attempt counts start over after a restart.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};

use super::{Event, EventBus, EventRecord, lock};
use crate::store::{DeliveryReport, SentEmail};

/// Which schedule a delivery report waits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReportKind {
    /// An SMS delivery report (`SMSDeliveryReportReceived`).
    Sms,
    /// One recipient's email delivery report (`EmailDeliveryReportReceived`).
    Email,
}

impl ReportKind {
    /// `sms` or `email`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReportKind::Sms => "sms",
            ReportKind::Email => "email",
        }
    }

    /// Parses [`ReportKind::as_str`].
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "sms" => Some(ReportKind::Sms),
            "email" => Some(ReportKind::Email),
            _ => None,
        }
    }
}

/// A delivery report waiting for its time, as the journal names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportKey {
    /// Its schedule.
    pub kind: ReportKind,
    /// The topic it is published under (the resource's ARM id).
    pub topic: String,
    /// The SMS message id, or the email's id (its send operation's).
    pub id: String,
    /// Which recipient of the email (0 for an SMS).
    pub index: u32,
    /// When it falls due (emulator clock).
    pub due: DateTime<Utc>,
}

/// Where the bus notes what it has not delivered yet. Every method only queues a note: it is
/// called under the bus's and the stores' locks.
pub trait EventJournal: Send + Sync {
    /// `record` waits for delivery to its subscription (published, or queued again).
    fn queued(&self, record: &EventRecord);
    /// These records of `subscription` (by their publication number) no longer wait: delivered,
    /// dead-lettered or dropped.
    fn settled(&self, subscription: &str, seqs: &[u64]);
    /// Every record of `subscription` is forgotten (it was removed).
    fn unsubscribed(&self, subscription: &str);
    /// Every waiting record is forgotten (the records were cleared).
    fn cleared(&self);
    /// These delivery reports were scheduled.
    fn reports_scheduled(&self, reports: &[ReportKey]);
    /// These delivery reports were taken from their schedule (and published, if anyone
    /// subscribes).
    fn reports_taken(&self, reports: &[ReportKey]);
    /// Every scheduled delivery report is forgotten (a reset).
    fn reports_cleared(&self);
}

impl EventBus {
    /// From now on, notes what is not delivered yet in `journal`. Call it once, after the kept
    /// events and reports are restored and before requests are served; a second call does
    /// nothing.
    pub fn keep_with(&self, journal: Arc<dyn EventJournal>) {
        if self.inner.journal.set(journal).is_err() {
            tracing::warn!("the event journal was set twice; the first one stays");
        }
    }

    /// Puts back an event that was waiting for `subscription` when the emulator stopped, with
    /// its publication number `seq` (publication order is kept). `false` when no subscription
    /// has that name any more (the event is then forgotten).
    pub fn restore_pending(&self, subscription: &str, seq: u64, event: Event) -> bool {
        let subs = lock(&self.inner.subs);
        let Some(slot) = subs.iter().find(|s| s.name == subscription) else {
            return false;
        };
        let record = EventRecord::new(seq, Arc::new(event), slot.name.clone(), slot.sub.schema());
        slot.enqueue(record, self.inner.options.queue_capacity.max(1), None);
        self.inner
            .next_seq
            .fetch_max(seq.saturating_add(1), Ordering::AcqRel);
        true
    }

    /// Puts back an SMS delivery report that was waiting for its time under `topic`.
    pub fn restore_sms_report(&self, topic: String, report: DeliveryReport) {
        lock(&self.inner.reports).add(topic.into(), report);
        self.inner.reports_changed.notify_one();
    }

    /// Puts back the delivery report of recipient `index` of `email`, waiting under `topic`.
    pub fn restore_email_report(&self, topic: &str, email: &Arc<SentEmail>, index: usize) {
        lock(&self.inner.email_reports).add_one(&Arc::from(topic), email, index);
        self.inner.reports_changed.notify_one();
    }
}

impl super::Inner {
    /// The journal, if one is set.
    pub(super) fn journal(&self) -> Option<&dyn EventJournal> {
        self.journal.get().map(|j| j.as_ref())
    }
}
