//! The event bus: its shared state, publishing, the record queries and clears, and starting and
//! stopping its tasks. Subscriptions are managed in `slots`, delivered in `delivery`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::{Notify, watch};

use super::options::provider_path;
use super::records::History;
use super::slots::Slot;
use super::{
    BusOptions, DeliveryState, Event, EventFilter, EventJournal, EventRecord, NewEvent,
    SubscriptionSource, delivery, email, lock, restart, sms, tls,
};
use crate::clock::Clock;
use crate::store::IdSource;

/// The bus's shared state, behind every [`EventBus`] handle.
pub(super) struct Inner {
    pub(super) clock: Arc<Clock>,
    pub(super) options: BusOptions,
    pub(super) client: reqwest::Client,
    pub(super) subs: Mutex<Vec<Arc<Slot>>>,
    /// Whether `subs` is not empty (set under its lock): checked on every chat write.
    pub(super) subscribed: AtomicBool,
    /// Wakes the supervisor: a subscription was added.
    pub(super) subs_changed: Notify,
    pub(super) history: Mutex<History>,
    /// Wakes long-polls: a record was added or changed state.
    pub(super) changed: Notify,
    /// Bumped by every clear: a batch taken before it is forgotten, not recorded.
    pub(super) epoch: AtomicU64,
    pub(super) next_seq: AtomicU64,
    pub(super) next_name: AtomicU64,
    /// Event ids and chat transaction ids.
    pub(super) ids: IdSource,
    pub(super) reports: Mutex<sms::ReportSchedule>,
    /// Email delivery reports waiting for their time (the same timer publishes them).
    pub(super) email_reports: Mutex<email::EmailSchedule>,
    pub(super) reports_changed: Notify,
    pub(super) stop: watch::Sender<bool>,
    pub(super) started: AtomicBool,
    /// Where what is not delivered yet is noted (`--state-dir`; see `journal`).
    pub(super) journal: OnceLock<Arc<dyn EventJournal>>,
    /// The default resource's topic (`options.topic`), read from here after start: shared by
    /// every report scheduled for the default resource.
    pub(super) default_topic: Arc<str>,
}

/// The event bus: subscriptions, delivery queues and history. A cheap `Clone` handle.
#[derive(Clone)]
pub struct EventBus {
    pub(super) inner: Arc<Inner>,
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
        let default_topic = Arc::from(options.topic.as_str());
        let ids = IdSource::new(options.seed);
        Self {
            inner: Arc::new(Inner {
                clock,
                options,
                client,
                subs: Mutex::new(Vec::new()),
                subscribed: AtomicBool::new(false),
                subs_changed: Notify::new(),
                history: Mutex::new(History::default()),
                changed: Notify::new(),
                epoch: AtomicU64::new(0),
                next_seq: AtomicU64::new(1),
                next_name: AtomicU64::new(1),
                ids,
                reports: Mutex::new(sms::ReportSchedule::new(report_capacity)),
                email_reports: Mutex::new(email::EmailSchedule::new(report_capacity)),
                reports_changed: Notify::new(),
                stop: watch::channel(false).0,
                started: AtomicBool::new(false),
                journal: OnceLock::new(),
                default_topic,
            }),
        }
    }

    /// The default topic: the default resource's ARM id.
    pub fn topic(&self) -> &str {
        &self.inner.default_topic
    }

    /// The topic (ARM id) of the resource called `resource`: the flags' subscription and group,
    /// and `--resource-name` for the default resource or the resource's own name for the others.
    pub fn topic_for(&self, resource: &str) -> Arc<str> {
        let options = &self.inner.options;
        if resource == options.default_resource {
            Arc::clone(&self.inner.default_topic)
        } else {
            format!("{}{}", options.arm_prefix, provider_path(resource)).into()
        }
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
                    EventRecord::new(
                        seq,
                        Arc::clone(&event),
                        slot.name.clone(),
                        slot.sub.schema(),
                    ),
                    capacity,
                    self.inner.journal(),
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
        self.publish(&self.inner.default_topic, events);
    }

    /// The records matching `filter`, in publication order (then by subscription name).
    pub fn records(&self, filter: &EventFilter) -> Vec<EventRecord> {
        let mut out = Vec::new();
        let mut take = |records: &mut dyn Iterator<Item = &EventRecord>| {
            out.extend(records.filter(|r| filter.matches(r)).cloned());
        };
        if filter.state.is_none_or(|s| s == DeliveryState::Pending) {
            let subs = lock(&self.inner.subs).clone();
            for slot in subs {
                let state = lock(&slot.state);
                take(&mut state.in_flight.iter().chain(&state.queue));
            }
        }
        if filter.state != Some(DeliveryState::Pending) {
            let history = lock(&self.inner.history);
            take(&mut history.delivered.iter().chain(&history.dead_lettered));
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
        if let Some(journal) = self.inner.journal() {
            journal.cleared();
        }
        self.inner.changed.notify_waiters();
        cleared
    }

    /// Queues the delivered or dead-lettered copies of event `id` again (the copy for
    /// `subscription` only, if given), as if just published: attempts start over, the attempt
    /// log goes on. Returns how many copies were queued. A copy whose subscription is gone
    /// cannot be; one still pending (waiting or being delivered) refuses the whole call.
    pub fn redeliver(&self, id: &str, subscription: Option<&str>) -> Result<usize, RedeliverError> {
        let wanted = |r: &EventRecord| {
            r.event.id == id && subscription.is_none_or(|s| r.subscription.eq_ignore_ascii_case(s))
        };
        // Holding `subs` throughout (it comes before a slot's state and the history in the lock
        // order) keeps two redeliveries of one event from both finding it done.
        let subs = lock(&self.inner.subs);
        for slot in subs.iter() {
            let state = lock(&slot.state);
            if state.in_flight.iter().chain(&state.queue).any(wanted) {
                return Err(RedeliverError::Pending(id.to_string()));
            }
        }
        let slot_of = |r: &EventRecord| subs.iter().find(|s| s.name == r.subscription);
        let mut taken = Vec::new();
        {
            let mut guard = lock(&self.inner.history);
            let history = &mut *guard;
            for (list, state) in [
                (&mut history.delivered, DeliveryState::Delivered),
                (&mut history.dead_lettered, DeliveryState::DeadLettered),
            ] {
                let (out, kept) = std::mem::take(list)
                    .into_iter()
                    .partition(|r| wanted(r) && slot_of(r).is_some());
                *list = kept;
                taken.extend(out.into_iter().map(|r| (r, state)));
            }
        }
        if taken.is_empty() {
            return Err(RedeliverError::NotFound(id.to_string()));
        }
        taken.sort_by_key(|(r, _)| r.seq);
        let capacity = self.inner.options.queue_capacity.max(1);
        let count = taken.len();
        for (mut record, was) in taken {
            let Some(slot) = slot_of(&record) else {
                continue;
            };
            {
                let mut state = lock(&slot.state);
                match was {
                    DeliveryState::Delivered => state.delivered = state.delivered.saturating_sub(1),
                    _ => state.dead_lettered = state.dead_lettered.saturating_sub(1),
                }
            }
            record.requeue();
            tracing::info!(event_id = %record.event.id, subscription = %record.subscription, "event queued for redelivery");
            slot.enqueue(record, capacity, self.inner.journal());
        }
        drop(subs);
        self.inner.changed.notify_waiters();
        Ok(count)
    }

    /// A new id for an event or a chat transaction: the `--seed` sequence, or random.
    pub(crate) fn next_uuid(&self) -> uuid::Uuid {
        self.inner.ids.uuid()
    }

    /// `POST /_emulator/reset`: clears the records and the SMS and email delivery reports
    /// waiting for their time, and removes the control API's subscriptions (start-up ones stay).
    pub fn reset(&self) {
        self.clear();
        self.inner.ids.restart();
        lock(&self.inner.reports).clear();
        lock(&self.inner.email_reports).clear();
        if let Some(journal) = self.inner.journal() {
            journal.reports_cleared();
        }
        self.unsubscribe_all(Some(SubscriptionSource::ControlApi));
    }

    /// Starts delivery: one task per subscription (present and future) and the timer of SMS and
    /// email delivery reports. Must be called inside a tokio runtime; a second call does nothing.
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
        let reports = tokio::spawn(restart::restart_on_panic("delivery reports", move || {
            sms::run_report_timer(bus.clone(), bus.inner.stop.subscribe())
        }));
        EventsHandle {
            bus: self.clone(),
            tasks: vec![supervisor, reports],
        }
    }
}

/// Why [`EventBus::redeliver`] queued nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedeliverError {
    /// No delivered or dead-lettered copy of the event (for a subscription that still exists).
    #[error("no delivered or dead-lettered event has the id '{0}'")]
    NotFound(String),
    /// A copy is still pending: waiting or being delivered now.
    #[error("event '{0}' is pending: it is waiting for or in delivery now")]
    Pending(String),
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
    use crate::events::{DeliveryPolicy, EventType, SubscribeError, Subscription, resource_topic};
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
        assert_eq!(&*bus.topic_for("default"), bus.topic());
        let other = bus.topic_for("contoso");
        assert_eq!(
            &*other,
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
