//! Event Grid emulation: ACS events pushed to the app's webhooks.
//!
//! # How an event travels
//! 1. A store write publishes its change record to the store's change sink
//!    ([`crate::store::Changes`]) under the lock it holds; the bus listens to that sink
//!    ([`EventBus::listen_to`], at start-up). For each change a subscription wants, the bus
//!    builds the events from the record alone ([`chat`], [`sms`], [`email`]: pure functions over records)
//!    and [`EventBus::publish`]es them with a topic (the resource's ARM id). Because this
//!    happens under the writer's lock, the events of one chat thread are queued in the order its
//!    changes were committed.
//! 2. `publish` stamps id and time (the emulator clock) and appends the event to the bounded queue
//!    of every subscription that wants its type. It never awaits: a full queue drops its oldest
//!    waiting event (counted, logged), so the request that caused the event is never held up.
//! 3. One tokio task per subscription (`delivery`) takes up to `maxEventsPerBatch` events from
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
//! Lock order: a store lock (a chat thread's, the SMS outbox's) before `subs` before a slot's
//! `state` before `history`; `reports` is taken under a store lock too. Nothing here calls back
//! into the store. No lock is held across an `.await`. This module depends on `store`, `domain` and `clock`, never on `config`, `api` or
//! actix: start-up hands it plain data ([`BusOptions`], `--event-webhook` values for
//! [`Subscription::parse_cli`]).
//!
//! # Layout
//! - `bus`: [`EventBus`] (shared state, publishing, records, reset, start/stop);
//! - `changes`: the bus as a listener of the store's change sink;
//! - `slots`: the bus's subscriptions (add, remove, list; each slot's queue and counters);
//! - `records`: [`EventRecord`]s, their [`EventFilter`] and the history lists;
//! - `options`: [`BusOptions`] and the topics ([`resource_topic`]);
//! - `journal`: what is not delivered yet, noted for `--state-dir` ([`EventJournal`]) and put
//!   back at start-up;
//! - `subscription`: what a [`Subscription`] is (spec, `--event-webhook` syntax, checks);
//! - `event`: [`Event`] and its two wire shapes; [`chat`], [`sms`], [`email`]: the event builders, from
//!   change records; `delivery`: the per-subscription workers; [`tls`]: what HTTPS webhooks may present.

mod bus;
mod changes;
pub mod chat;
mod delivery;
pub mod email;
mod event;
mod journal;
mod options;
mod records;
mod restart;
mod slots;
pub mod sms;
mod subscription;
pub mod tls;

use std::sync::{Mutex, MutexGuard, PoisonError};

pub use bus::{EventBus, EventsHandle, RedeliverError};
pub use delivery::{DeliveryPolicy, backoff};
pub use event::{
    CLOUD_EVENTS_SPEC_VERSION, DATA_VERSION, Event, EventType, METADATA_VERSION, NewEvent,
    TYPE_PREFIX,
};
pub use journal::{EventJournal, ReportKey, ReportKind};
pub use options::{BusOptions, resource_topic};
pub use records::{
    ATTEMPTS_KEPT, DeadLetterReason, DeliveryAttempt, DeliveryState, EventFilter, EventRecord,
};
pub use slots::{SubscribeError, SubscriptionInfo, SubscriptionSource, Validation};
pub use subscription::{
    EventSchema, MAX_EVENTS_PER_BATCH, Subscription, SubscriptionError, SubscriptionSpec,
};

use bus::Inner;
use slots::Slot;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
