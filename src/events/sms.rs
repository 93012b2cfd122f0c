//! SMS events: `SMSReceived` (inbound messages injected through the control API) and
//! `SMSDeliveryReportReceived` (a sent message's delivery report, when it falls due).
//!
//! Data keys are PascalCase, as the service sends them (acs-api.md §9): `MessageId`, `From`,
//! `To`, `Message`, `ReceivedTimestamp`, `SegmentCount`; `DeliveryStatus`,
//! `DeliveryStatusDetails`, `DeliveryAttempts[{Timestamp, SegmentsSucceeded, SegmentsFailed}]`,
//! `Tag`. The subject is `/phonenumber/<digits>` of the resource's own number (the recipient of
//! an inbound message, the sender of a report); the event id is the message id, as in the
//! service's examples. Numbers keep their `+` (the service's examples show both forms).
//!
//! Both come from the SMS change records ([`SmsChange`]): an inbound message is published at
//! once; a sent message's delivery report, whether or not anyone subscribes yet, is scheduled
//! for its `received_at`, and a timer task publishes it once the clock reaches
//! that time, whether the clock ran there or was moved (`POST /_emulator/clock` wakes the timer;
//! otherwise it looks at least once a second).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::watch;

use super::event::{EventType, NewEvent, fmt_time};
use super::{EventBus, ReportKey, ReportKind, lock};
use crate::domain::{PhoneNumber, segments};
use crate::store::{DeliveryReport, DeliveryStatus, InboundSms, SmsChange};

/// The longest the timer sleeps without looking at the clock.
const TICK: Duration = Duration::from_secs(1);

/// `/phonenumber/<digits>`.
fn subject(number: &PhoneNumber) -> String {
    format!("/phonenumber/{}", number.as_str().trim_start_matches('+'))
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct SmsReceivedData<'a> {
    message_id: &'a str,
    from: &'a str,
    to: &'a str,
    message: &'a str,
    received_timestamp: String,
    segment_count: u32,
}

/// `Microsoft.Communication.SMSReceived` for a message to one of the resource's numbers.
pub fn sms_received(sms: &InboundSms) -> NewEvent {
    let data = SmsReceivedData {
        message_id: sms.message_id.as_str(),
        from: sms.from.as_str(),
        to: sms.to.as_str(),
        message: &sms.message,
        received_timestamp: fmt_time(sms.received_at),
        segment_count: segments(&sms.message).1,
    };
    NewEvent {
        event_type: EventType::SmsReceived,
        subject: subject(&sms.to),
        data: serde_json::to_value(data).unwrap_or_default(),
        id: Some(sms.message_id.to_string()),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DeliveryReportData<'a> {
    message_id: &'a str,
    from: &'a str,
    to: &'a str,
    delivery_status: &'static str,
    delivery_status_details: &'a str,
    delivery_attempts: [DeliveryAttempt; 1],
    received_timestamp: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    tag: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DeliveryAttempt {
    timestamp: String,
    segments_succeeded: u32,
    segments_failed: u32,
}

/// `Microsoft.Communication.SMSDeliveryReportReceived` for a report of the SMS store.
pub fn delivery_report_received(report: &DeliveryReport) -> NewEvent {
    let (status, succeeded, failed) = match report.status {
        DeliveryStatus::Delivered => ("Delivered", report.segments, 0),
        DeliveryStatus::Failed => ("Failed", 0, report.segments),
    };
    let received = fmt_time(report.received_at);
    let data = DeliveryReportData {
        message_id: report.message_id.as_str(),
        from: report.from.as_str(),
        to: report.to.as_str(),
        delivery_status: status,
        delivery_status_details: &report.status_details,
        delivery_attempts: [DeliveryAttempt {
            timestamp: received.clone(),
            segments_succeeded: succeeded,
            segments_failed: failed,
        }],
        received_timestamp: received,
        tag: report.tag.as_deref(),
    };
    NewEvent {
        event_type: EventType::SmsDeliveryReportReceived,
        subject: subject(&report.from),
        data: serde_json::to_value(data).unwrap_or_default(),
        id: Some(report.message_id.to_string()),
    }
}

/// How the journal names an SMS delivery report.
fn report_key(topic: &str, report: &DeliveryReport) -> ReportKey {
    ReportKey {
        kind: ReportKind::Sms,
        topic: topic.to_string(),
        id: report.message_id.to_string(),
        index: 0,
        due: report.received_at,
    }
}

/// Delivery reports waiting for their time, with the topic to publish them under.
pub(super) struct ReportSchedule {
    due: BTreeMap<(DateTime<Utc>, u64), (Arc<str>, DeliveryReport)>,
    next: u64,
    capacity: usize,
}

impl ReportSchedule {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            due: BTreeMap::new(),
            next: 0,
            capacity: capacity.max(1),
        }
    }

    /// Schedules `report`; true when it is now the earliest one due, so the timer (which waits
    /// for the earliest) must look again. A later one is met by the wait already running: under
    /// load this spares the timer task a wake-up per message.
    pub(super) fn add(&mut self, topic: Arc<str>, report: DeliveryReport) -> bool {
        if self.due.len() >= self.capacity {
            // The outbox evicted the oldest messages' reports too: forget the latest-due one.
            self.due.pop_last();
        }
        self.next += 1;
        let key = (report.received_at, self.next);
        self.due.insert(key, (topic, report));
        self.due.keys().next() == Some(&key)
    }

    /// Removes and returns the reports due at `now`, earliest first.
    fn take_due(&mut self, now: DateTime<Utc>) -> Vec<(Arc<str>, DeliveryReport)> {
        let later = self.due.split_off(&(now, u64::MAX));
        std::mem::replace(&mut self.due, later)
            .into_values()
            .collect()
    }

    fn next_due(&self) -> Option<DateTime<Utc>> {
        self.due.keys().next().map(|(t, _)| *t)
    }

    pub(super) fn clear(&mut self) {
        self.due.clear();
    }
}

impl EventBus {
    /// The events of an SMS change of `resource`: `SMSReceived` for an inbound message (if a
    /// subscription wants it); for a sent one, its delivery report, if one was asked for, is
    /// scheduled to be published as `SMSDeliveryReportReceived` when it falls due.
    pub(super) fn sms_changed(&self, resource: &str, change: &SmsChange<'_>) {
        match change {
            SmsChange::Sent {
                report: Some(report),
                ..
            } => {
                let topic = self.topic_for(resource);
                if let Some(journal) = self.inner.journal() {
                    journal.reports_scheduled(&[report_key(&topic, report)]);
                }
                let earliest = lock(&self.inner.reports).add(topic, report.clone());
                if earliest {
                    self.inner.reports_changed.notify_one();
                }
            }
            SmsChange::Sent { report: None, .. }
            | SmsChange::OutboxCleared
            | SmsChange::OptedOut { .. }
            | SmsChange::OptedIn { .. } => {}
            SmsChange::Received(sms) => {
                if self.wants(EventType::SmsReceived) {
                    self.publish(&self.topic_for(resource), vec![sms_received(sms)]);
                }
            }
        }
    }

    /// The emulator clock was moved: look for reports that fell due now rather than at the next
    /// tick.
    pub fn clock_changed(&self) {
        self.inner.reports_changed.notify_one();
    }

    /// Publishes the reports due at the emulator clock's `now`; returns when the next one is due.
    fn publish_due_reports(&self) -> Option<DateTime<Utc>> {
        let now = self.inner.clock.now();
        let (due, next) = {
            let mut schedule = lock(&self.inner.reports);
            (schedule.take_due(now), schedule.next_due())
        };
        if due.is_empty() {
            return next;
        }
        if self.wants(EventType::SmsDeliveryReportReceived) {
            for (topic, report) in &due {
                self.publish(topic, vec![delivery_report_received(report)]);
            }
        }
        // Noted after the events are queued (and noted): a crash between the two publishes a
        // report twice rather than never.
        if let Some(journal) = self.inner.journal() {
            let taken: Vec<ReportKey> = due.iter().map(|(t, r)| report_key(t, r)).collect();
            journal.reports_taken(&taken);
        }
        next
    }
}

/// Publishes delivery reports (SMS and email) as they fall due, until `stop`.
pub(super) async fn run_report_timer(bus: EventBus, mut stop: watch::Receiver<bool>) {
    loop {
        let changed = bus.inner.reports_changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        if *stop.borrow() {
            return;
        }
        let next = match (bus.publish_due_reports(), bus.publish_due_email_reports()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let wait = next
            .and_then(|t| (t - bus.inner.clock.now()).to_std().ok())
            .map_or(TICK, |d| d.min(TICK));
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = &mut changed => {}
            _ = stop.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::SmsMessageId;
    use serde_json::json;

    fn number(raw: &str) -> PhoneNumber {
        PhoneNumber::parse(raw).expect("valid")
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).expect("valid")
    }

    fn report(id: &str, received: i64, tag: Option<&str>) -> DeliveryReport {
        DeliveryReport {
            message_id: SmsMessageId::parse(id).expect("id"),
            from: number("+18005550100"),
            to: number("+14255550123"),
            status: DeliveryStatus::Delivered,
            status_details: "2000: No Error".into(),
            tag: tag.map(str::to_string),
            segments: 2,
            received_at: at(received),
        }
    }

    #[test]
    fn sms_received_has_pascal_case_data_and_the_message_id_as_event_id() {
        let e = sms_received(&InboundSms {
            message_id: SmsMessageId::parse("Incoming_x").expect("id"),
            from: number("+14255550123"),
            to: number("+18005550100"),
            message: "hi".into(),
            received_at: at(1_800_000_000),
        });
        assert_eq!(e.event_type, EventType::SmsReceived);
        assert_eq!(e.subject, "/phonenumber/18005550100");
        assert_eq!(e.id.as_deref(), Some("Incoming_x"));
        assert_eq!(
            e.data,
            json!({"MessageId": "Incoming_x", "From": "+14255550123", "To": "+18005550100",
                "Message": "hi", "ReceivedTimestamp": "2027-01-15T08:00:00.000Z", "SegmentCount": 1})
        );
    }

    #[test]
    fn delivery_reports_carry_status_attempts_and_tag() {
        let e = delivery_report_received(&report("Outgoing_1", 1_800_000_000, Some("t")));
        assert_eq!(e.event_type, EventType::SmsDeliveryReportReceived);
        assert_eq!(e.subject, "/phonenumber/18005550100");
        assert_eq!(
            e.data,
            json!({"MessageId": "Outgoing_1", "From": "+18005550100", "To": "+14255550123",
                "DeliveryStatus": "Delivered", "DeliveryStatusDetails": "2000: No Error",
                "DeliveryAttempts": [{"Timestamp": "2027-01-15T08:00:00.000Z",
                    "SegmentsSucceeded": 2, "SegmentsFailed": 0}],
                "ReceivedTimestamp": "2027-01-15T08:00:00.000Z", "Tag": "t"})
        );
        let untagged = delivery_report_received(&report("Outgoing_2", 1, None));
        assert!(untagged.data.get("Tag").is_none());
    }

    #[test]
    fn the_schedule_releases_reports_in_due_order_once_their_time_comes() {
        let mut s = ReportSchedule::new(10);
        assert!(s.add("t".into(), report("Outgoing_late", 30, None)));
        assert!(s.add("t".into(), report("Outgoing_early", 10, None)));
        // Not the earliest: the timer's running wait already covers it.
        assert!(!s.add("t".into(), report("Outgoing_mid", 20, None)));
        assert!(s.take_due(at(9)).is_empty());
        assert_eq!(s.next_due(), Some(at(10)));
        let ids: Vec<String> = s
            .take_due(at(20))
            .into_iter()
            .map(|(_, r)| r.message_id.to_string())
            .collect();
        assert_eq!(ids, ["Outgoing_early", "Outgoing_mid"]);
        assert_eq!(s.next_due(), Some(at(30)));
    }

    #[test]
    fn a_full_schedule_forgets_its_latest_report() {
        let mut s = ReportSchedule::new(2);
        s.add("t".into(), report("Outgoing_a", 10, None));
        s.add("t".into(), report("Outgoing_b", 30, None));
        s.add("t".into(), report("Outgoing_c", 20, None));
        let ids: Vec<String> = s
            .take_due(at(100))
            .into_iter()
            .map(|(_, r)| r.message_id.to_string())
            .collect();
        assert_eq!(ids, ["Outgoing_a", "Outgoing_c"]);
    }
}
