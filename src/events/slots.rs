//! The bus's subscriptions: one slot each (the subscription, its queue of pending records, its
//! handshake state and counters); adding, removing and listing them.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use super::{EventBus, EventJournal, EventRecord, EventType, Subscription, lock};

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

/// A subscription on the bus, with its queue.
pub(super) struct Slot {
    pub(super) sub: Subscription,
    pub(super) name: String,
    /// The topic of the resource the subscription is limited to.
    pub(super) topic: Option<String>,
    pub(super) source: SubscriptionSource,
    pub(super) state: Mutex<SlotState>,
    /// Wakes the slot's worker: new events, removal, a clear.
    pub(super) work: Notify,
}

/// What a slot's lock guards.
pub(super) struct SlotState {
    pub(super) queue: VecDeque<EventRecord>,
    /// The batch being delivered, taken off the queue (so that dropping the oldest waiting event
    /// never touches it), still listed as pending.
    pub(super) in_flight: Vec<EventRecord>,
    pub(super) validation: Validation,
    pub(super) removed: bool,
    pub(super) worker_started: bool,
    pub(super) delivered: u64,
    pub(super) dead_lettered: u64,
    pub(super) dropped: u64,
}

impl EventBus {
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
        let topic = sub.resource().map(|r| self.topic_for(r).to_string());
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
        self.inner.subscribed.store(true, Ordering::Release);
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
        self.inner
            .subscribed
            .store(!subs.is_empty(), Ordering::Release);
        drop(subs);
        self.retire(&slot);
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
            self.inner
                .subscribed
                .store(!subs.is_empty(), Ordering::Release);
            gone
        };
        for slot in &removed {
            self.retire(slot);
        }
        self.inner.changed.notify_waiters();
        removed.len()
    }

    fn retire(&self, slot: &Slot) {
        let mut state = lock(&slot.state);
        state.removed = true;
        let forgotten = state.queue.len() + state.in_flight.len();
        state.queue.clear();
        state.in_flight.clear();
        drop(state);
        if let Some(journal) = self.inner.journal() {
            journal.unsubscribed(&slot.name);
        }
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
}

impl Slot {
    /// Appends `record`, dropping the oldest waiting one when the queue is full; notes both in
    /// `journal`.
    pub(super) fn enqueue(
        &self,
        record: EventRecord,
        capacity: usize,
        journal: Option<&dyn EventJournal>,
    ) {
        let mut state = lock(&self.state);
        if state.removed {
            return;
        }
        if let Some(journal) = journal {
            journal.queued(&record);
        }
        if state.queue.len() >= capacity
            && let Some(dropped) = state.queue.pop_front()
        {
            if let Some(journal) = journal {
                journal.settled(&self.name, &[dropped.seq]);
            }
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
