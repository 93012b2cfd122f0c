//! What the bus remembers of each event for each subscription: its [`EventRecord`] (state,
//! attempts, last error, the newest [`ATTEMPTS_KEPT`] attempts), how the control API filters
//! them, and the delivered and dead-lettered history lists.

use std::collections::VecDeque;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{Event, EventSchema, EventType};

/// Where an event stands for one subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// Waiting, or being delivered (retries included).
    Pending,
    /// The webhook acknowledged it.
    Delivered,
    /// Given up on.
    DeadLettered,
}

impl DeliveryState {
    /// `pending`, `delivered` or `deadlettered`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::DeadLettered => "deadlettered",
        }
    }

    /// Parses [`DeliveryState::as_str`], ignoring case (`deadLettered` too).
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "pending" => Some(DeliveryState::Pending),
            "delivered" => Some(DeliveryState::Delivered),
            "deadlettered" => Some(DeliveryState::DeadLettered),
            _ => None,
        }
    }
}

/// Why an event was dead-lettered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadLetterReason {
    /// Every attempt failed (`--event-max-attempts`).
    MaxDeliveryAttemptsExceeded,
    /// The webhook answered 400, 401, 403 or 413, which Event Grid does not retry.
    NonRetryableStatusCode,
    /// The validation handshake failed, so nothing was delivered.
    ValidationFailed,
}

impl DeadLetterReason {
    /// The name shown in the control API.
    pub fn as_str(self) -> &'static str {
        match self {
            DeadLetterReason::MaxDeliveryAttemptsExceeded => "MaxDeliveryAttemptsExceeded",
            DeadLetterReason::NonRetryableStatusCode => "NonRetryableStatusCode",
            DeadLetterReason::ValidationFailed => "ValidationFailed",
        }
    }
}

/// How many delivery attempts a record keeps (the newest; the `attempts` count goes on).
pub const ATTEMPTS_KEPT: usize = 32;

/// One delivery attempt of an event to a subscription's webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryAttempt {
    /// When it started (emulator clock).
    pub at: DateTime<Utc>,
    /// The webhook's HTTP status, if it answered.
    pub status: Option<u16>,
    /// What went wrong, if anything.
    pub error: Option<String>,
    /// How long it took (real time).
    pub duration: std::time::Duration,
}

/// One event for one subscription, with its delivery history.
#[derive(Debug, Clone)]
pub struct EventRecord {
    /// Publication order (shared by the copies of one event for several subscriptions).
    pub seq: u64,
    /// The event.
    pub event: Arc<Event>,
    /// The subscription's name.
    pub subscription: String,
    /// The subscription's schema (how `event` was, or will be, rendered).
    pub schema: EventSchema,
    /// Where it stands.
    pub state: DeliveryState,
    /// Delivery attempts made so far.
    pub attempts: u32,
    /// The HTTP status of the last attempt, if the webhook answered.
    pub last_status: Option<u16>,
    /// What went wrong last, if anything.
    pub last_error: Option<String>,
    /// Why it was dead-lettered.
    pub dead_letter_reason: Option<DeadLetterReason>,
    /// When it was delivered or dead-lettered (emulator clock).
    pub completed_at: Option<DateTime<Utc>>,
    /// The newest [`ATTEMPTS_KEPT`] attempts, oldest first (a redelivery's after the earlier).
    pub delivery_attempts: VecDeque<DeliveryAttempt>,
}

impl EventRecord {
    /// A record not tried yet.
    pub(super) fn new(
        seq: u64,
        event: Arc<Event>,
        subscription: String,
        schema: EventSchema,
    ) -> Self {
        Self {
            seq,
            event,
            subscription,
            schema,
            state: DeliveryState::Pending,
            attempts: 0,
            last_status: None,
            last_error: None,
            dead_letter_reason: None,
            completed_at: None,
            delivery_attempts: VecDeque::new(),
        }
    }

    /// Notes an attempt: the count, the last result and the log (its newest [`ATTEMPTS_KEPT`]).
    pub(super) fn note_attempt(&mut self, count: u32, attempt: DeliveryAttempt) {
        self.attempts = count;
        self.last_status = attempt.status;
        self.last_error = attempt.error.clone();
        if self.delivery_attempts.len() >= ATTEMPTS_KEPT {
            self.delivery_attempts.pop_front();
        }
        self.delivery_attempts.push_back(attempt);
    }

    /// Back to pending for another round of delivery; the attempt log stays.
    pub(super) fn requeue(&mut self) {
        self.state = DeliveryState::Pending;
        self.attempts = 0;
        self.dead_letter_reason = None;
        self.completed_at = None;
    }

    /// The event as the subscription's webhook receives it.
    pub fn rendered(&self) -> serde_json::Value {
        match self.schema {
            EventSchema::EventGridSchema => self.event.to_event_grid(),
            EventSchema::CloudEventSchemaV1_0 => self.event.to_cloud_event(),
        }
    }
}

/// Which records to list. `None` matches anything.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// State.
    pub state: Option<DeliveryState>,
    /// Event type.
    pub event_type: Option<EventType>,
    /// Subscription name.
    pub subscription: Option<String>,
}

impl EventFilter {
    pub(super) fn matches(&self, r: &EventRecord) -> bool {
        self.state.is_none_or(|s| s == r.state)
            && self.event_type.is_none_or(|t| t == r.event.event_type)
            && self
                .subscription
                .as_ref()
                .is_none_or(|s| *s == r.subscription)
    }
}

/// The records that are no longer pending, newest last (each list keeps `--event-history`).
#[derive(Default)]
pub(super) struct History {
    pub(super) delivered: VecDeque<EventRecord>,
    pub(super) dead_lettered: VecDeque<EventRecord>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn record() -> EventRecord {
        let event = Event {
            id: "e1".into(),
            event_type: EventType::SmsReceived,
            subject: "/phonenumber/1".into(),
            topic: "/t".into(),
            event_time: Utc::now(),
            data: serde_json::json!({}),
        };
        EventRecord::new(1, Arc::new(event), "s".into(), EventSchema::EventGridSchema)
    }

    fn attempt(status: u16) -> DeliveryAttempt {
        DeliveryAttempt {
            at: Utc::now(),
            status: Some(status),
            error: None,
            duration: Duration::from_millis(1),
        }
    }

    #[test]
    fn the_attempt_log_keeps_the_newest_attempts_and_the_count_goes_on() {
        let mut r = record();
        for n in 1..=40u16 {
            r.note_attempt(u32::from(n), attempt(500 + n));
        }
        assert_eq!(r.attempts, 40);
        assert_eq!(r.delivery_attempts.len(), ATTEMPTS_KEPT);
        assert_eq!(r.delivery_attempts[0].status, Some(509));
        assert_eq!(r.last_status, Some(540));
    }

    #[test]
    fn a_requeued_record_is_pending_again_and_keeps_its_log() {
        let mut r = record();
        r.note_attempt(1, attempt(400));
        r.state = DeliveryState::DeadLettered;
        r.dead_letter_reason = Some(DeadLetterReason::NonRetryableStatusCode);
        r.completed_at = Some(Utc::now());
        r.requeue();
        assert_eq!(r.state, DeliveryState::Pending);
        assert_eq!(
            (r.attempts, r.dead_letter_reason, r.completed_at),
            (0, None, None)
        );
        assert_eq!(r.delivery_attempts.len(), 1);
    }
}
