//! Email events, built from the email store's change records only (`store::EmailChange`, which
//! reach the bus through the change sink, `store::Changes`):
//!
//! - `EmailDeliveryReportReceived`, one per recipient, when its delivery report falls due
//!   (`Delivery::at`, emulator clock): the timer that publishes SMS delivery reports publishes
//!   these too.
//! - `EmailEngagementTrackingReportReceived`, at once, when a test reports a view or a click
//!   through the control API.
//!
//! Data keys are camelCase, as the Event Grid examples and the SDKs' system-event models have
//! them: `sender`, `recipient`, `messageId` (the send operation's id), `internetMessageId`,
//! `status` (PascalCase: `Delivered`, `Failed`, `Bounced`, …), `deliveryStatusDetails
//! {statusMessage}`, `deliveryAttemptTimestamp` (lower-case `s`, as every SDK reads it; one
//! example spells it `deliveryAttemptTimeStamp`); `userActionTimestamp`, `engagementContext`,
//! `userAgent`, `engagementType` (`view` / `click`). The subject is
//! `sender/<sender address>/message/<message id>`.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::event::{EventType, NewEvent, fmt_time};
use super::{EventBus, ReportKey, ReportKind, lock};
use crate::store::{Delivery, EmailChange, Engagement, SentEmail};

/// `sender/<sender>/message/<message id>`.
fn subject(sender: &str, message_id: &str) -> String {
    format!("sender/{sender}/message/{message_id}")
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DeliveryReportData<'a> {
    sender: &'a str,
    recipient: &'a str,
    message_id: &'a str,
    internet_message_id: &'a str,
    status: &'static str,
    delivery_status_details: DeliveryStatusDetails<'a>,
    delivery_attempt_timestamp: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DeliveryStatusDetails<'a> {
    status_message: &'a str,
}

/// `Microsoft.Communication.EmailDeliveryReportReceived` for one recipient of `email`.
pub fn delivery_report_received(email: &SentEmail, delivery: &Delivery) -> NewEvent {
    let data = DeliveryReportData {
        sender: email.sender.as_str(),
        recipient: delivery.recipient.as_str(),
        message_id: &email.id,
        internet_message_id: &email.internet_message_id,
        status: delivery.status.as_str(),
        delivery_status_details: DeliveryStatusDetails {
            status_message: &delivery.details,
        },
        delivery_attempt_timestamp: fmt_time(delivery.at),
    };
    NewEvent {
        event_type: EventType::EmailDeliveryReportReceived,
        subject: subject(email.sender.as_str(), &email.id),
        data: serde_json::to_value(data).unwrap_or_default(),
        id: None,
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EngagementData<'a> {
    sender: &'a str,
    recipient: &'a str,
    message_id: &'a str,
    internet_message_id: &'a str,
    user_action_timestamp: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    engagement_context: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_agent: Option<&'a str>,
    engagement_type: &'static str,
}

/// `Microsoft.Communication.EmailEngagementTrackingReportReceived` for an engagement.
pub fn engagement_tracking_report_received(e: &Engagement) -> NewEvent {
    let data = EngagementData {
        sender: e.sender.as_str(),
        recipient: e.recipient.as_str(),
        message_id: &e.message_id,
        internet_message_id: &e.internet_message_id,
        user_action_timestamp: fmt_time(e.at),
        engagement_context: e.context.as_deref(),
        user_agent: e.user_agent.as_deref(),
        engagement_type: e.kind.as_str(),
    };
    NewEvent {
        event_type: EventType::EmailEngagementTrackingReportReceived,
        subject: subject(e.sender.as_str(), &e.message_id),
        data: serde_json::to_value(data).unwrap_or_default(),
        id: None,
    }
}

/// How the journal names the delivery report of recipient `index` of `email`.
fn report_key(topic: &str, email: &SentEmail, index: usize) -> Option<ReportKey> {
    let delivery = email.deliveries.get(index)?;
    Some(ReportKey {
        kind: ReportKind::Email,
        topic: topic.to_string(),
        id: email.id.clone(),
        index: u32::try_from(index).ok()?,
        due: delivery.at,
    })
}

/// A delivery report waiting for its time: the topic, the message, which of its deliveries.
type Due = (Arc<str>, Arc<SentEmail>, usize);

/// Delivery reports waiting for their time, bounded (the capacity of the SMS schedule).
pub(super) struct EmailSchedule {
    due: BTreeMap<(DateTime<Utc>, u64), Due>,
    next: u64,
    capacity: usize,
}

impl EmailSchedule {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            due: BTreeMap::new(),
            next: 0,
            capacity: capacity.max(1),
        }
    }

    /// Schedules the reports of `email`; true when one of them is now the earliest due, so the
    /// timer (which waits for the earliest) must look again.
    fn add(&mut self, topic: &Arc<str>, email: &Arc<SentEmail>) -> bool {
        let before = self.next_due();
        for i in 0..email.deliveries.len() {
            self.add_one(topic, email, i);
        }
        match (before, self.next_due()) {
            (Some(before), Some(now)) => now < before,
            (None, now) => now.is_some(),
            (Some(_), None) => false,
        }
    }

    /// Schedules the report of recipient `index` of `email` (nothing if it has no such
    /// recipient).
    pub(super) fn add_one(&mut self, topic: &Arc<str>, email: &Arc<SentEmail>, index: usize) {
        let Some(delivery) = email.deliveries.get(index) else {
            return;
        };
        if self.due.len() >= self.capacity {
            // Full: forget the latest-due report.
            self.due.pop_last();
        }
        self.next += 1;
        self.due.insert(
            (delivery.at, self.next),
            (Arc::clone(topic), Arc::clone(email), index),
        );
    }

    /// Removes and returns the reports due at `now`, earliest first.
    fn take_due(&mut self, now: DateTime<Utc>) -> Vec<Due> {
        let later = self.due.split_off(&(now, u64::MAX));
        std::mem::replace(&mut self.due, later)
            .into_values()
            .collect()
    }

    pub(super) fn next_due(&self) -> Option<DateTime<Utc>> {
        self.due.keys().next().map(|(t, _)| *t)
    }

    pub(super) fn clear(&mut self) {
        self.due.clear();
    }
}

impl EventBus {
    /// A change of the email store of `resource` (from the change sink): schedules the delivery
    /// reports of an accepted message, publishes an engagement at once. Every email event starts
    /// here.
    pub(super) fn email_changed(&self, resource: &str, change: &EmailChange) {
        let topic = self.topic_for(resource);
        match change {
            EmailChange::Sent(email) => {
                if let Some(journal) = self.inner.journal() {
                    let keys: Vec<ReportKey> = (0..email.deliveries.len())
                        .filter_map(|i| report_key(&topic, email, i))
                        .collect();
                    journal.reports_scheduled(&keys);
                }
                if lock(&self.inner.email_reports).add(&topic, email) {
                    self.inner.reports_changed.notify_one();
                }
            }
            EmailChange::Engaged(engagement) => {
                if self.wants(EventType::EmailEngagementTrackingReportReceived) {
                    self.publish(
                        &topic,
                        vec![engagement_tracking_report_received(engagement)],
                    );
                }
            }
            // Emptying the inbox cancels no delivery report (the messages were sent).
            EmailChange::InboxCleared => {}
        }
    }

    /// Publishes the email delivery reports due at the emulator clock's `now`; returns when the
    /// next one is due.
    pub(super) fn publish_due_email_reports(&self) -> Option<DateTime<Utc>> {
        let now = self.inner.clock.now();
        let (due, next) = {
            let mut schedule = lock(&self.inner.email_reports);
            (schedule.take_due(now), schedule.next_due())
        };
        if due.is_empty() {
            return next;
        }
        if self.wants(EventType::EmailDeliveryReportReceived) {
            for (topic, email, i) in &due {
                if let Some(delivery) = email.deliveries.get(*i) {
                    self.publish(topic, vec![delivery_report_received(email, delivery)]);
                }
            }
        }
        // Noted after the events are queued: a crash between the two publishes a report twice
        // rather than never.
        if let Some(journal) = self.inner.journal() {
            let taken: Vec<ReportKey> = due
                .iter()
                .filter_map(|(topic, email, i)| report_key(topic, email, *i))
                .collect();
            journal.reports_taken(&taken);
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{DeliveryStatus, EmailAddress, EngagementType};
    use crate::store::Mailbox;
    use crate::store::lro::{LroOutcome, LroPlan};
    use serde_json::json;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).expect("valid")
    }

    fn address(a: &str) -> EmailAddress {
        EmailAddress::parse(a).expect("valid")
    }

    fn email() -> SentEmail {
        let mailbox = |a: &str| Mailbox {
            address: address(a),
            display_name: None,
        };
        SentEmail {
            id: "8540c0de-899f-5cce-acb5-3ec493af3800".into(),
            internet_message_id: "<8540c0de-899f-5cce-acb5-3ec493af3800@contoso.com>".into(),
            sender: address("DoNotReply@contoso.com"),
            to: vec![mailbox("a@example.com"), mailbox("b@example.com")],
            cc: Vec::new(),
            bcc: Vec::new(),
            reply_to: Vec::new(),
            subject: "Hi".into(),
            plain_text: Some("hi".into()),
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
            deliveries: vec![
                Delivery {
                    recipient: address("a@example.com"),
                    status: DeliveryStatus::Delivered,
                    details: "No error.".into(),
                    at: at(3),
                },
                Delivery {
                    recipient: address("b@example.com"),
                    status: DeliveryStatus::Bounced,
                    details: "Mailbox does not exist.".into(),
                    at: at(1),
                },
            ],
        }
    }

    #[test]
    fn delivery_reports_have_the_documented_data() {
        let email = email();
        let e = delivery_report_received(&email, &email.deliveries[1]);
        assert_eq!(e.event_type, EventType::EmailDeliveryReportReceived);
        assert_eq!(
            e.subject,
            "sender/DoNotReply@contoso.com/message/8540c0de-899f-5cce-acb5-3ec493af3800"
        );
        assert_eq!(
            e.data,
            json!({
                "sender": "DoNotReply@contoso.com",
                "recipient": "b@example.com",
                "messageId": "8540c0de-899f-5cce-acb5-3ec493af3800",
                "internetMessageId": "<8540c0de-899f-5cce-acb5-3ec493af3800@contoso.com>",
                "status": "Bounced",
                "deliveryStatusDetails": {"statusMessage": "Mailbox does not exist."},
                "deliveryAttemptTimestamp": "2027-01-15T08:00:01.000Z",
            })
        );
    }

    #[test]
    fn engagement_reports_have_the_documented_data() {
        let e = engagement_tracking_report_received(&Engagement {
            message_id: "m".into(),
            internet_message_id: "<m@contoso.com>".into(),
            sender: address("DoNotReply@contoso.com"),
            recipient: address("a@example.com"),
            kind: EngagementType::Click,
            context: Some("https://example.com/offer".into()),
            user_agent: None,
            at: at(5),
        });
        assert_eq!(
            e.event_type,
            EventType::EmailEngagementTrackingReportReceived
        );
        assert_eq!(
            e.data,
            json!({
                "sender": "DoNotReply@contoso.com",
                "recipient": "a@example.com",
                "messageId": "m",
                "internetMessageId": "<m@contoso.com>",
                "userActionTimestamp": "2027-01-15T08:00:05.000Z",
                "engagementContext": "https://example.com/offer",
                "engagementType": "click",
            })
        );
    }

    #[test]
    fn the_schedule_releases_each_recipient_when_due() {
        let mut s = EmailSchedule::new(10);
        s.add(&"t".into(), &Arc::new(email()));
        assert_eq!(s.next_due(), Some(at(1)));
        let first = s.take_due(at(2));
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].2, 1);
        assert_eq!(s.take_due(at(3)).len(), 1);
        assert_eq!(s.next_due(), None);
        let mut full = EmailSchedule::new(1);
        full.add(&"t".into(), &Arc::new(email()));
        assert_eq!(full.take_due(at(10)).len(), 1);
    }
}
