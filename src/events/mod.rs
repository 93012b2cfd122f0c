//! Event Grid emulation: ACS events pushed to the app's webhooks.
//!
//! # How an event travels
//! 1. An API handler, right after its store call succeeded, calls one hook ([`EventBus::chat`],
//!    [`EventBus::sms_delivery_report_scheduled`], [`EventBus::sms_received`]). The hook builds
//!    the events ([`chat`], [`sms`]: pure functions over store views) and
//!    [`EventBus::publish`]es them with a topic (the resource's ARM id).
//! 2. `publish` stamps id and time (the emulator clock) and appends the event to the bounded queue
//!    of every subscription that wants its type. It never awaits: a full queue drops its oldest
//!    waiting event (counted, logged), so the request that caused the event is never held up.
//! 3. One tokio task per subscription ([`delivery`]) takes up to `maxEventsPerBatch` events from
//!    the head of its queue, performs the validation handshake once, and POSTs them; failures are
//!    retried with exponential backoff, then dead-lettered. A subscription delivers strictly in
//!    publication order (the head batch blocks the ones behind it while it is retried).
//! 4. Every event is visible as `pending`, then `delivered` or `deadlettered` in the control API
//!    (`/_emulator/events`); delivered and dead-lettered lists keep the newest
//!    `--event-history` records each.
//!
//! Tasks start with [`EventBus::start`] (from `Application::run`) and stop with the returned
//! [`EventsHandle`]; subscriptions may be added before that (start-up flags, fixture files).
//!
//! Lock order: `subs` before a slot's `state` before `history`. No lock is held across an
//! `.await`. This module depends on `store`, `domain` and `clock`, never on `config`, `api` or
//! actix: start-up hands it plain data ([`BusOptions`], `--event-webhook` values for
//! [`Subscription::parse_cli`]).

pub mod chat;
mod delivery;
mod event;
mod restart;
pub mod sms;
mod subscription;
pub mod tls;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, watch};

pub use delivery::{DeliveryPolicy, backoff};
pub use event::{
    CLOUD_EVENTS_SPEC_VERSION, DATA_VERSION, Event, EventType, METADATA_VERSION, NewEvent,
    TYPE_PREFIX,
};
pub use subscription::{
    EventSchema, MAX_EVENTS_PER_BATCH, Subscription, SubscriptionError, SubscriptionSpec,
};

use crate::clock::Clock;
use crate::store::IdSource;

/// The ARM id of an ACS resource: the `topic` (Event Grid schema) or `source` (CloudEvents) of
/// its events.
pub fn resource_topic(subscription_id: &str, resource_group: &str, name: &str) -> String {
    format!(
        "/subscriptions/{subscription_id}/resourceGroups/{resource_group}{}",
        provider_path(name)
    )
}

fn provider_path(name: &str) -> String {
    format!("/providers/Microsoft.Communication/communicationServices/{name}")
}

/// Tuning of the bus: plain data, filled from the command line by start-up (this module never
/// reads the configuration itself).
#[derive(Debug, Clone)]
pub struct BusOptions {
    /// The default resource's topic (its ARM id, named by `--resource-name`).
    pub topic: String,
    /// `/subscriptions/{id}/resourceGroups/{group}`: other resources' topics end in their name.
    pub arm_prefix: String,
    /// The name of the default resource (the one the flags describe).
    pub default_resource: String,
    /// Retries, backoff and timeouts.
    pub policy: DeliveryPolicy,
    /// Most events waiting per subscription.
    pub queue_capacity: usize,
    /// Most records kept per history list (delivered, dead-lettered).
    pub history_capacity: usize,
    /// Most SMS delivery reports waiting for their time.
    pub report_capacity: usize,
    /// `--seed`: event ids and chat transaction ids come from this reproducible sequence
    /// (random when `None`); a reset starts it over.
    pub seed: Option<u64>,
    /// Certificates HTTPS webhooks may present besides the public roots (`--event-webhook-ca`;
    /// see [`tls`]).
    pub extra_roots: Vec<rustls_pki_types::CertificateDer<'static>>,
}

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
}

impl EventRecord {
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
    fn matches(&self, r: &EventRecord) -> bool {
        self.state.is_none_or(|s| s == r.state)
            && self.event_type.is_none_or(|t| t == r.event.event_type)
            && self
                .subscription
                .as_ref()
                .is_none_or(|s| *s == r.subscription)
    }
}

/// Where a subscription came from, which decides whether `POST /_emulator/reset` keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionSource {
    /// Start-up configuration (flags, environment, fixture files): kept across resets.
    Startup,
    /// The control API: removed by a reset.
    ControlApi,
}

/// The validation handshake's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Validation {
    /// Not tried yet: happens before the first delivery.
    Pending,
    /// Passed; deliveries go ahead.
    Validated,
    /// Last try failed (why); the next batch tries again.
    Failed(String),
    /// `skipValidation`.
    Skipped,
}

/// A subscription and its counters, as the control API shows it.
#[derive(Debug, Clone)]
pub struct SubscriptionInfo {
    /// The subscription (named).
    pub subscription: Subscription,
    /// Where it came from.
    pub source: SubscriptionSource,
    /// The handshake's state.
    pub validation: Validation,
    /// Events waiting or in flight.
    pub pending: usize,
    /// Events delivered since start (or the last clear).
    pub delivered: u64,
    /// Events dead-lettered since start (or the last clear).
    pub dead_lettered: u64,
    /// Events dropped because the queue was full.
    pub dropped: u64,
}

/// Why a subscription could not be added or removed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscribeError {
    /// Another subscription has this name.
    #[error("an event subscription named '{0}' exists already")]
    DuplicateName(String),
    /// No subscription has this name.
    #[error("no event subscription is named '{0}'")]
    NotFound(String),
}

struct Slot {
    sub: Subscription,
    name: String,
    /// The topic of the resource the subscription is limited to.
    topic: Option<String>,
    source: SubscriptionSource,
    state: Mutex<SlotState>,
    /// Wakes the slot's worker: new events, removal, a clear.
    work: Notify,
}

struct SlotState {
    queue: VecDeque<EventRecord>,
    /// The batch being delivered, taken off the queue (so that dropping the oldest waiting event
    /// never touches it), still listed as pending.
    in_flight: Vec<EventRecord>,
    validation: Validation,
    removed: bool,
    worker_started: bool,
    delivered: u64,
    dead_lettered: u64,
    dropped: u64,
}

#[derive(Default)]
struct History {
    delivered: VecDeque<EventRecord>,
    dead_lettered: VecDeque<EventRecord>,
}

struct Inner {
    clock: Arc<Clock>,
    options: BusOptions,
    client: reqwest::Client,
    subs: Mutex<Vec<Arc<Slot>>>,
    /// Wakes the supervisor: a subscription was added.
    subs_changed: Notify,
    history: Mutex<History>,
    /// Wakes long-polls: a record was added or changed state.
    changed: Notify,
    /// Bumped by every clear: a batch taken before it is forgotten, not recorded.
    epoch: AtomicU64,
    next_seq: AtomicU64,
    next_name: AtomicU64,
    /// Event ids and chat transaction ids.
    ids: IdSource,
    reports: Mutex<sms::ReportSchedule>,
    reports_changed: Notify,
    stop: watch::Sender<bool>,
    started: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The event bus: subscriptions, delivery queues and history. A cheap `Clone` handle.
#[derive(Clone)]
pub struct EventBus {
    inner: Arc<Inner>,
}

impl EventBus {
    /// A bus with no subscriptions; nothing is delivered until [`EventBus::start`].
    pub fn new(options: BusOptions, clock: Arc<Clock>) -> Self {
        let mut builder = reqwest::Client::builder();
        if !options.extra_roots.is_empty() {
            match tls::client_config(&options.extra_roots) {
                Ok(config) => builder = builder.use_preconfigured_tls(config),
                Err(e) => {
                    tracing::warn!(error = %e, "--event-webhook-ca not usable; public roots only")
                }
            }
        }
        let client = builder
            .user_agent(concat!("acs-emulator/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "webhook client not built as configured; using the defaults");
                reqwest::Client::default()
            });
        let report_capacity = options.report_capacity;
        let ids = IdSource::new(options.seed);
        Self {
            inner: Arc::new(Inner {
                clock,
                options,
                client,
                subs: Mutex::new(Vec::new()),
                subs_changed: Notify::new(),
                history: Mutex::new(History::default()),
                changed: Notify::new(),
                epoch: AtomicU64::new(0),
                next_seq: AtomicU64::new(1),
                next_name: AtomicU64::new(1),
                ids,
                reports: Mutex::new(sms::ReportSchedule::new(report_capacity)),
                reports_changed: Notify::new(),
                stop: watch::channel(false).0,
                started: AtomicBool::new(false),
            }),
        }
    }

    /// The default topic: the default resource's ARM id.
    pub fn topic(&self) -> &str {
        &self.inner.options.topic
    }

    /// The topic (ARM id) of the resource called `resource`: the flags' subscription and group,
    /// and `--resource-name` for the default resource or the resource's own name for the others.
    pub fn topic_for(&self, resource: &str) -> String {
        let options = &self.inner.options;
        if resource == options.default_resource {
            options.topic.clone()
        } else {
            format!("{}{}", options.arm_prefix, provider_path(resource))
        }
    }

    /// Adds a subscription that lives until the emulator stops (kept by `POST /_emulator/reset`):
    /// the one call start-up configuration and fixture files need. Returns its name (given, or
    /// `webhook-<n>`). Works before [`EventBus::start`]; deliveries begin once it runs.
    pub fn subscribe(&self, subscription: Subscription) -> Result<String, SubscribeError> {
        self.add(subscription, SubscriptionSource::Startup)
    }

    /// Adds a subscription that `POST /_emulator/reset` removes (the control API's).
    pub fn subscribe_until_reset(
        &self,
        subscription: Subscription,
    ) -> Result<String, SubscribeError> {
        self.add(subscription, SubscriptionSource::ControlApi)
    }

    fn add(
        &self,
        mut sub: Subscription,
        source: SubscriptionSource,
    ) -> Result<String, SubscribeError> {
        let mut subs = lock(&self.inner.subs);
        let name = match sub.name() {
            Some(name) => {
                if subs.iter().any(|s| s.name.eq_ignore_ascii_case(name)) {
                    return Err(SubscribeError::DuplicateName(name.to_string()));
                }
                name.to_string()
            }
            None => loop {
                let n = self.inner.next_name.fetch_add(1, Ordering::Relaxed);
                let candidate = format!("webhook-{n}");
                if !subs.iter().any(|s| s.name.eq_ignore_ascii_case(&candidate)) {
                    break candidate;
                }
            },
        };
        sub.set_name(name.clone());
        let validation = if sub.skip_validation() {
            Validation::Skipped
        } else {
            Validation::Pending
        };
        tracing::info!(subscription = %name, endpoint = %sub.endpoint(), schema = sub.schema().as_str(), "event subscription added");
        let topic = sub.resource().map(|r| self.topic_for(r));
        subs.push(Arc::new(Slot {
            topic,
            name: name.clone(),
            sub,
            source,
            state: Mutex::new(SlotState {
                queue: VecDeque::new(),
                in_flight: Vec::new(),
                validation,
                removed: false,
                worker_started: false,
                delivered: 0,
                dead_lettered: 0,
                dropped: 0,
            }),
            work: Notify::new(),
        }));
        drop(subs);
        self.inner.subs_changed.notify_one();
        Ok(name)
    }

    /// Removes a subscription; its waiting events are forgotten.
    pub fn unsubscribe(&self, name: &str) -> Result<(), SubscribeError> {
        let mut subs = lock(&self.inner.subs);
        let idx = subs
            .iter()
            .position(|s| s.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| SubscribeError::NotFound(name.to_string()))?;
        let slot = subs.remove(idx);
        drop(subs);
        Self::retire(&slot);
        self.inner.changed.notify_waiters();
        Ok(())
    }

    /// Removes every subscription (`source` `None`) or those from one source; returns how many.
    pub fn unsubscribe_all(&self, source: Option<SubscriptionSource>) -> usize {
        let removed: Vec<Arc<Slot>> = {
            let mut subs = lock(&self.inner.subs);
            let (gone, kept) = subs
                .drain(..)
                .partition(|s| source.is_none_or(|src| s.source == src));
            *subs = kept;
            gone
        };
        for slot in &removed {
            Self::retire(slot);
        }
        self.inner.changed.notify_waiters();
        removed.len()
    }

    fn retire(slot: &Slot) {
        let mut state = lock(&slot.state);
        state.removed = true;
        let forgotten = state.queue.len() + state.in_flight.len();
        state.queue.clear();
        state.in_flight.clear();
        drop(state);
        slot.work.notify_one();
        tracing::info!(subscription = %slot.name, forgotten, "event subscription removed");
    }

    /// The subscriptions, in the order they were added.
    pub fn subscriptions(&self) -> Vec<SubscriptionInfo> {
        let subs = lock(&self.inner.subs).clone();
        subs.iter()
            .map(|slot| {
                let state = lock(&slot.state);
                SubscriptionInfo {
                    subscription: slot.sub.clone(),
                    source: slot.source,
                    validation: state.validation.clone(),
                    pending: state.queue.len() + state.in_flight.len(),
                    delivered: state.delivered,
                    dead_lettered: state.dead_lettered,
                    dropped: state.dropped,
                }
            })
            .collect()
    }

    /// One subscription by name (ignoring case).
    pub fn subscription(&self, name: &str) -> Option<SubscriptionInfo> {
        self.subscriptions().into_iter().find(|s| {
            s.subscription
                .name()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
    }

    /// Whether any subscription wants events of type `t` (hooks skip building events otherwise).
    pub fn wants(&self, t: EventType) -> bool {
        lock(&self.inner.subs).iter().any(|s| s.sub.wants(t))
    }

    /// Publishes `events` under `topic` (the publishing resource's ARM id): stamps each with an
    /// id (unless it has one) and the emulator's time, and queues it for every subscription that
    /// wants its type. Never waits; returns at once.
    pub fn publish(&self, topic: &str, events: Vec<NewEvent>) {
        if events.is_empty() {
            return;
        }
        let subs = lock(&self.inner.subs).clone();
        if subs.is_empty() {
            return;
        }
        let now = self.inner.clock.now();
        let capacity = self.inner.options.queue_capacity.max(1);
        let mut queued = false;
        for new in events {
            let targets: Vec<&Arc<Slot>> = subs
                .iter()
                .filter(|s| {
                    s.sub.wants(new.event_type) && s.topic.as_deref().is_none_or(|t| t == topic)
                })
                .collect();
            if targets.is_empty() {
                continue;
            }
            let event = Arc::new(Event {
                id: new
                    .id
                    .unwrap_or_else(|| self.inner.ids.uuid().hyphenated().to_string()),
                event_type: new.event_type,
                subject: new.subject,
                topic: topic.to_string(),
                event_time: now,
                data: new.data,
            });
            let seq = self.inner.next_seq.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(event_id = %event.id, event_type = %event.event_type, subject = %event.subject, "event published");
            for slot in targets {
                slot.enqueue(
                    EventRecord {
                        seq,
                        event: Arc::clone(&event),
                        subscription: slot.name.clone(),
                        schema: slot.sub.schema(),
                        state: DeliveryState::Pending,
                        attempts: 0,
                        last_status: None,
                        last_error: None,
                        dead_letter_reason: None,
                        completed_at: None,
                    },
                    capacity,
                );
                queued = true;
            }
        }
        if queued {
            self.inner.changed.notify_waiters();
        }
    }

    /// Publishes under the default topic.
    pub fn publish_default(&self, events: Vec<NewEvent>) {
        self.publish(&self.inner.options.topic, events);
    }

    /// The records matching `filter`, in publication order (then by subscription name).
    pub fn records(&self, filter: &EventFilter) -> Vec<EventRecord> {
        let mut out = Vec::new();
        if filter.state.is_none_or(|s| s == DeliveryState::Pending) {
            let subs = lock(&self.inner.subs).clone();
            for slot in subs {
                let state = lock(&slot.state);
                out.extend(
                    state
                        .in_flight
                        .iter()
                        .chain(state.queue.iter())
                        .filter(|r| filter.matches(r))
                        .cloned(),
                );
            }
        }
        if filter.state != Some(DeliveryState::Pending) {
            let history = lock(&self.inner.history);
            out.extend(
                history
                    .delivered
                    .iter()
                    .chain(history.dead_lettered.iter())
                    .filter(|r| filter.matches(r))
                    .cloned(),
            );
        }
        out.sort_by(|a, b| (a.seq, &a.subscription).cmp(&(b.seq, &b.subscription)));
        out
    }

    /// Resolves on the next change to the records. Call `enable()` on the pinned future before
    /// looking, so that a change between the look and the wait is not missed.
    pub fn changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.inner.changed.notified()
    }

    /// Forgets every record: pending (also the batches in flight, which are then not recorded),
    /// delivered and dead-lettered. Subscriptions stay. Returns how many records went.
    pub fn clear(&self) -> usize {
        self.inner.epoch.fetch_add(1, Ordering::AcqRel);
        let mut cleared = 0;
        let subs = lock(&self.inner.subs).clone();
        for slot in subs {
            let mut state = lock(&slot.state);
            cleared += state.queue.len() + state.in_flight.len();
            state.queue.clear();
            state.in_flight.clear();
            state.delivered = 0;
            state.dead_lettered = 0;
            state.dropped = 0;
            drop(state);
            slot.work.notify_one();
        }
        let mut history = lock(&self.inner.history);
        cleared += history.delivered.len() + history.dead_lettered.len();
        history.delivered.clear();
        history.dead_lettered.clear();
        drop(history);
        self.inner.changed.notify_waiters();
        cleared
    }

    /// A new id for an event or a chat transaction: the `--seed` sequence, or random.
    pub(crate) fn next_uuid(&self) -> uuid::Uuid {
        self.inner.ids.uuid()
    }

    /// `POST /_emulator/reset`: clears the records and the SMS delivery reports waiting for their
    /// time, and removes the control API's subscriptions (start-up ones stay).
    pub fn reset(&self) {
        self.clear();
        self.inner.ids.restart();
        lock(&self.inner.reports).clear();
        self.unsubscribe_all(Some(SubscriptionSource::ControlApi));
    }

    /// Starts delivery: one task per subscription (present and future) and the SMS
    /// delivery-report timer. Must be called inside a tokio runtime; a second call does nothing.
    pub fn start(&self) -> EventsHandle {
        if self.inner.started.swap(true, Ordering::AcqRel) {
            return EventsHandle {
                bus: self.clone(),
                tasks: Vec::new(),
            };
        }
        // A panic must not end event delivery or the delivery reports for good: each task is
        // restarted (and the panic logged) instead.
        let inner = Arc::clone(&self.inner);
        let supervisor = tokio::spawn(restart::restart_on_panic("event delivery", move || {
            delivery::supervise(Arc::clone(&inner), inner.stop.subscribe())
        }));
        let bus = self.clone();
        let reports = tokio::spawn(restart::restart_on_panic(
            "SMS delivery reports",
            move || sms::run_report_timer(bus.clone(), bus.inner.stop.subscribe()),
        ));
        EventsHandle {
            bus: self.clone(),
            tasks: vec![supervisor, reports],
        }
    }
}

impl Slot {
    /// Appends `record`, dropping the oldest waiting one when the queue is full.
    fn enqueue(&self, record: EventRecord, capacity: usize) {
        let mut state = lock(&self.state);
        if state.removed {
            return;
        }
        if state.queue.len() >= capacity
            && let Some(dropped) = state.queue.pop_front()
        {
            state.dropped += 1;
            let total = state.dropped;
            if total == 1 || total.is_multiple_of(1000) {
                tracing::warn!(
                    subscription = %self.name,
                    event_id = %dropped.event.id,
                    dropped = total,
                    capacity,
                    "event queue full: dropped the oldest waiting event (see --event-queue-capacity)"
                );
            }
        }
        state.queue.push_back(record);
        drop(state);
        self.work.notify_one();
    }
}

/// Stops the bus's tasks.
pub struct EventsHandle {
    bus: EventBus,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl EventsHandle {
    /// Signals every task to stop and waits (at most `grace`) for them; deliveries in flight are
    /// abandoned.
    pub async fn shutdown(self, grace: Duration) {
        self.bus.inner.stop.send_replace(true);
        for task in self.tasks {
            let abort = task.abort_handle();
            if tokio::time::timeout(grace, task).await.is_err() {
                abort.abort();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bus(capacity: usize) -> EventBus {
        EventBus::new(
            BusOptions {
                topic: resource_topic("s", "g", "n"),
                arm_prefix: "/subscriptions/s/resourceGroups/g".into(),
                default_resource: "default".into(),
                policy: DeliveryPolicy::default(),
                queue_capacity: capacity,
                history_capacity: 10,
                report_capacity: 10,
                seed: None,
                extra_roots: Vec::new(),
            },
            Arc::new(Clock::system()),
        )
    }

    fn sub(spec: &str) -> Subscription {
        Subscription::parse_cli(spec).expect("valid")
    }

    fn sms_event(n: u32) -> NewEvent {
        NewEvent {
            event_type: EventType::SmsReceived,
            subject: format!("/phonenumber/{n}"),
            data: json!({"n": n}),
            id: None,
        }
    }

    #[test]
    fn the_topic_is_the_resources_arm_id() {
        assert_eq!(
            resource_topic("sub", "rg", "acs"),
            "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.Communication/communicationServices/acs"
        );
    }

    #[test]
    fn events_queue_only_for_subscriptions_that_want_their_type() {
        let bus = bus(100);
        bus.subscribe(sub("http://127.0.0.1:1/a#name=sms&types=SMSReceived"))
            .expect("added");
        bus.subscribe(sub(
            "http://127.0.0.1:1/b#name=chat&types=ChatMessageReceived",
        ))
        .expect("added");
        assert!(bus.wants(EventType::SmsReceived));
        assert!(!bus.wants(EventType::ChatThreadCreated));
        bus.publish_default(vec![sms_event(1)]);
        let pending = bus.records(&EventFilter::default());
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].subscription, "sms");
        assert_eq!(pending[0].state, DeliveryState::Pending);
        assert_eq!(pending[0].event.topic, bus.topic());
    }

    #[test]
    fn each_resource_has_its_topic_and_subscriptions_may_keep_to_one() {
        let bus = bus(100);
        assert_eq!(bus.topic_for("default"), bus.topic());
        let other = bus.topic_for("contoso");
        assert_eq!(
            other,
            "/subscriptions/s/resourceGroups/g/providers/Microsoft.Communication/communicationServices/contoso"
        );
        bus.subscribe(sub("http://127.0.0.1:1/#name=all"))
            .expect("added");
        bus.subscribe(sub(
            "http://127.0.0.1:1/#name=contoso-only&resource=contoso",
        ))
        .expect("added");
        bus.publish_default(vec![sms_event(1)]);
        bus.publish(&other, vec![sms_event(2)]);
        let got: Vec<(String, String)> = bus
            .records(&EventFilter::default())
            .into_iter()
            .map(|r| (r.subscription, r.event.subject.clone()))
            .collect();
        assert_eq!(
            got,
            [
                ("all".to_string(), "/phonenumber/1".to_string()),
                ("all".to_string(), "/phonenumber/2".to_string()),
                ("contoso-only".to_string(), "/phonenumber/2".to_string()),
            ]
        );
    }

    #[test]
    fn a_full_queue_drops_its_oldest_waiting_event() {
        let bus = bus(2);
        bus.subscribe(sub("http://127.0.0.1:1/a#name=only"))
            .expect("added");
        bus.publish_default((1..=3).map(sms_event).collect());
        let pending = bus.records(&EventFilter::default());
        let subjects: Vec<&str> = pending.iter().map(|r| r.event.subject.as_str()).collect();
        assert_eq!(subjects, ["/phonenumber/2", "/phonenumber/3"]);
        assert_eq!(bus.subscription("only").expect("exists").dropped, 1);
    }

    #[test]
    fn names_are_generated_and_must_be_unique() {
        let bus = bus(10);
        assert_eq!(
            bus.subscribe(sub("http://127.0.0.1:1/")),
            Ok("webhook-1".into())
        );
        assert_eq!(
            bus.subscribe(sub("http://127.0.0.1:1/#name=WEBHOOK-1")),
            Err(SubscribeError::DuplicateName("WEBHOOK-1".into()))
        );
        assert_eq!(
            bus.unsubscribe("nope"),
            Err(SubscribeError::NotFound("nope".into()))
        );
    }

    #[test]
    fn a_seed_makes_event_ids_reproducible_and_a_reset_starts_them_over() {
        let seeded = |seed| {
            let mut b = bus(10);
            Arc::get_mut(&mut b.inner).expect("sole owner").ids = IdSource::new(seed);
            b.subscribe(sub("http://127.0.0.1:1/#name=cli"))
                .expect("added");
            b
        };
        let ids = |b: &EventBus| -> Vec<String> {
            let mut records = b.records(&EventFilter::default());
            records.sort_by_key(|r| r.seq);
            records.iter().map(|r| r.event.id.clone()).collect()
        };
        let (a, b) = (seeded(Some(9)), seeded(Some(9)));
        for bus in [&a, &b] {
            bus.publish_default(vec![sms_event(1), sms_event(2)]);
        }
        let first = ids(&a);
        assert_eq!(first.len(), 2);
        assert_ne!(first[0], first[1]);
        assert_eq!(ids(&b), first);
        a.reset();
        a.publish_default(vec![sms_event(1), sms_event(2)]);
        assert_eq!(ids(&a), first);
        let random = seeded(None);
        random.publish_default(vec![sms_event(1), sms_event(2)]);
        assert_ne!(ids(&random), first);
    }

    #[test]
    fn reset_keeps_startup_subscriptions_and_forgets_records() {
        let bus = bus(10);
        bus.subscribe(sub("http://127.0.0.1:1/#name=cli"))
            .expect("added");
        bus.subscribe_until_reset(sub("http://127.0.0.1:1/#name=api"))
            .expect("added");
        bus.publish_default(vec![sms_event(1)]);
        assert_eq!(bus.records(&EventFilter::default()).len(), 2);
        bus.reset();
        let names: Vec<String> = bus
            .subscriptions()
            .into_iter()
            .filter_map(|s| s.subscription.name().map(str::to_string))
            .collect();
        assert_eq!(names, ["cli"]);
        assert!(bus.records(&EventFilter::default()).is_empty());
    }
}
