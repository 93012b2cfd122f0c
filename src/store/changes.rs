//! Change records and the one sink they are published to.
//!
//! A store write that changes what a client can observe builds a **change record** (what
//! changed, captured under the lock the write holds: the message as stored, the thread's
//! properties and participants at that instant) and hands it to a [`Sink`] *before* it releases
//! that lock. So the changes of one chat thread, and the messages of one SMS outbox, reach every
//! listener in the order they were committed, and a record never mixes two writes. A change with
//! no store write behind it (an inbound SMS: nothing keeps it) is published by its handler
//! through the same sink.
//!
//! Who listens:
//! - [`ChangeListener`]s, registered once with [`Changes::listen`] and called synchronously,
//!   under the writer's lock. A listener must return at once (queue work, never wait on I/O or
//!   another request) and never call back into the store. The Event Grid bus is one (it builds
//!   events only for the subscriptions that want them and queues them).
//! - Live views (real-time notifications, an inspector): [`Changes::subscribe`] gives a
//!   receiver of a bounded broadcast channel. Sending never waits: a receiver that falls behind
//!   loses the oldest changes and is told how many (`RecvError::Lagged`).
//!
//! A record costs nothing when nobody wants it: [`Sink::publish`] first asks each listener
//! whether it wants changes of the record's [`Area`] (an atomic load, say) and whether a live
//! receiver exists, and only then runs the closure that builds the record.
//!
//! A new service adds one [`Area`], one [`Change`] variant (its records) and one arm in
//! [`Change::into_owned`]; its store writes take a `Sink` and publish under their lock.

use std::sync::{Arc, PoisonError, RwLock};

use tokio::sync::broadcast;

use crate::clock::ClockState;

use super::chat::ChatChange;
use super::email::EmailChange;
use super::identity::IdentityChange;
use super::numbers::NumbersChange;
use super::rooms::RoomsChange;
use super::sms::SmsChange;

/// The changes a live receiver may fall behind by before it loses the oldest.
pub const LIVE_CAPACITY: usize = 1024;

/// Which service's state a change is about: what a listener says it wants before a record is
/// built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    /// Chat threads, messages, participants, read receipts, typing.
    Chat,
    /// SMS sent and received.
    Sms,
    /// Email accepted, and engagement reported.
    Email,
    /// Phone numbers bought, released or updated; SIP routing configured.
    Numbers,
    /// Identities created, issued tokens, revoked or deleted.
    Identity,
    /// A whole resource's state forgotten (`POST /_emulator/reset`).
    Reset,
    /// The emulator clock was changed (`POST /_emulator/clock`).
    Clock,
    /// Rooms created, updated, deleted; their participants changed.
    Rooms,
    /// The control API changed the emulator itself: a fixture loaded at run time, an event
    /// subscription added or removed.
    Control,
}

/// One committed change. Records that the writer has at hand anyway (an SMS in the outbox) are
/// lent (`Cow::Borrowed`); [`Change::into_owned`] makes a copy that outlives the write.
#[derive(Debug, Clone)]
pub enum Change<'a> {
    /// A chat write.
    Chat(ChatChange),
    /// An SMS sent or received.
    Sms(SmsChange<'a>),
    /// An email accepted, or a recipient's engagement with one.
    Email(EmailChange),
    /// A phone-number or SIP routing write.
    Numbers(NumbersChange),
    /// An identity write.
    Identity(IdentityChange),
    /// Every table of the resource was emptied (a reset; fixture data is seeded again without
    /// records).
    Reset,
    /// The emulator clock's state after a change (published by the control API's handler, for
    /// the whole process: the resource is `default`).
    Clock(ClockState),
    /// A room write.
    Rooms(RoomsChange),
    /// A control API change of the emulator itself (published by its handler, for the whole
    /// process: the resource is `default`).
    Control(ControlChange),
}

/// What the control API changed in the emulator itself (not in a store), kept by
/// `--state-dir` so that a restart finds it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlChange {
    /// A fixture was loaded at run time (`POST /_emulator/fixtures`); it may add resources.
    FixtureLoaded {
        /// The fixture's text.
        text: Arc<str>,
        /// Whether it is YAML (else JSON).
        yaml: bool,
    },
    /// An event subscription was added (`POST /_emulator/events/subscriptions`).
    Subscribed {
        /// Its name.
        name: String,
        /// Its spec, as JSON, with its name.
        spec: Arc<str>,
    },
    /// The event subscription with this name was removed, or (`None`) all of them were (also
    /// by a full reset).
    Unsubscribed(Option<String>),
}

impl Change<'_> {
    /// The service it is about.
    pub fn area(&self) -> Area {
        match self {
            Change::Chat(_) => Area::Chat,
            Change::Sms(_) => Area::Sms,
            Change::Email(_) => Area::Email,
            Change::Numbers(_) => Area::Numbers,
            Change::Identity(_) => Area::Identity,
            Change::Reset => Area::Reset,
            Change::Clock(_) => Area::Clock,
            Change::Rooms(_) => Area::Rooms,
            Change::Control(_) => Area::Control,
        }
    }

    /// A copy that owns everything it holds.
    pub fn into_owned(self) -> Change<'static> {
        match self {
            Change::Chat(change) => Change::Chat(change),
            Change::Sms(change) => Change::Sms(change.into_owned()),
            Change::Email(change) => Change::Email(change),
            Change::Numbers(change) => Change::Numbers(change),
            Change::Identity(change) => Change::Identity(change),
            Change::Reset => Change::Reset,
            Change::Clock(state) => Change::Clock(state),
            Change::Rooms(change) => Change::Rooms(change),
            Change::Control(change) => Change::Control(change),
        }
    }
}

/// A change and the emulated resource whose state it changed, as live receivers get it.
#[derive(Debug, Clone)]
pub struct Committed {
    /// The resource's name.
    pub resource: String,
    /// What changed.
    pub change: Change<'static>,
}

/// Something that is told about every committed change it wants.
pub trait ChangeListener: Send + Sync {
    /// Whether changes of `area` are wanted now. Asked before the record is built, on every
    /// write: keep it to an atomic load or two.
    fn wants(&self, area: Area) -> bool;

    /// A change committed in the resource called `resource`. Called under the writer's lock:
    /// return at once, never block, never call into the store.
    fn changed(&self, resource: &str, change: &Change<'_>);
}

/// The process's change sink: its listeners and the live receivers. A cheap `Clone` handle;
/// [`Default`] has no listener.
#[derive(Clone)]
pub struct Changes {
    hub: Arc<Hub>,
}

struct Hub {
    listeners: RwLock<Vec<Arc<dyn ChangeListener>>>,
    live: broadcast::Sender<Arc<Committed>>,
}

impl Default for Changes {
    fn default() -> Self {
        Self::with_live_capacity(LIVE_CAPACITY)
    }
}

impl std::fmt::Debug for Changes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Changes")
            .field("listeners", &self.hub.listeners().len())
            .field("live", &self.hub.live.receiver_count())
            .finish()
    }
}

impl Hub {
    fn listeners(&self) -> std::sync::RwLockReadGuard<'_, Vec<Arc<dyn ChangeListener>>> {
        self.listeners
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Changes {
    /// A sink whose live receivers may fall `capacity` changes behind (at least one).
    pub fn with_live_capacity(capacity: usize) -> Self {
        Self {
            hub: Arc::new(Hub {
                listeners: RwLock::new(Vec::new()),
                live: broadcast::channel(capacity.max(1)).0,
            }),
        }
    }

    /// Adds a listener; it hears of every change committed from now on that it wants.
    pub fn listen(&self, listener: Arc<dyn ChangeListener>) {
        self.hub
            .listeners
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(listener);
    }

    /// A receiver of every change committed from now on, in each thread's (and outbox's)
    /// commit order. It holds up nothing: one that falls behind by more than the capacity loses
    /// the oldest changes and its next `recv` says how many.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Committed>> {
        self.hub.live.subscribe()
    }

    /// Where the writes of the resource called `resource` publish.
    pub fn sink<'a>(&'a self, resource: &'a str) -> Sink<'a> {
        Sink {
            hub: Some(&self.hub),
            resource,
        }
    }
}

/// Where one write publishes its change: the sink and the resource the write is in. `Copy`;
/// [`Sink::NONE`] publishes nothing (fixture data, tests).
#[derive(Clone, Copy)]
pub struct Sink<'a> {
    hub: Option<&'a Hub>,
    resource: &'a str,
}

impl std::fmt::Debug for Sink<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sink")
            .field("resource", &self.resource)
            .field("connected", &self.hub.is_some())
            .finish()
    }
}

impl Sink<'_> {
    /// A sink that publishes nothing: seeding fixture data, unit tests.
    pub const NONE: Sink<'static> = Sink {
        hub: None,
        resource: "",
    };

    /// Hands the change `make` builds to every listener that wants `area` and to the live
    /// receivers; `make` runs only if one of them is there. Call it under the lock the write
    /// holds, once the write can no longer fail.
    pub fn publish<'c>(self, area: Area, make: impl FnOnce() -> Change<'c>) {
        let Some(hub) = self.hub else {
            return;
        };
        let listeners = hub.listeners();
        let live = hub.live.receiver_count() > 0;
        if !live && !listeners.iter().any(|l| l.wants(area)) {
            return;
        }
        let change = make();
        debug_assert_eq!(change.area(), area);
        for listener in listeners.iter().filter(|l| l.wants(area)) {
            listener.changed(self.resource, &change);
        }
        if live {
            // An error only means the last receiver went away meanwhile.
            let _ = hub.live.send(Arc::new(Committed {
                resource: self.resource.to_string(),
                change: change.into_owned(),
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use chrono::{DateTime, Utc};

    use super::*;
    use crate::domain::{PhoneNumber, SmsMessageId};
    use crate::store::InboundSms;

    struct Recorder {
        wants_sms: AtomicBool,
        asked: AtomicUsize,
        seen: Mutex<Vec<(String, String)>>,
    }

    impl ChangeListener for Recorder {
        fn wants(&self, area: Area) -> bool {
            self.asked.fetch_add(1, Ordering::Relaxed);
            area == Area::Sms && self.wants_sms.load(Ordering::Relaxed)
        }

        fn changed(&self, resource: &str, change: &Change<'_>) {
            let Change::Sms(SmsChange::Received(sms)) = change else {
                panic!("unexpected change {change:?}");
            };
            self.seen
                .lock()
                .expect("lock")
                .push((resource.to_string(), sms.message.clone()));
        }
    }

    fn inbound(text: &str) -> InboundSms {
        let at = DateTime::<Utc>::from_timestamp_millis(1_800_000_000_000).expect("time");
        InboundSms {
            message_id: SmsMessageId::incoming(at, uuid::Uuid::nil()),
            from: PhoneNumber::parse("+14255550123").expect("number"),
            to: PhoneNumber::parse("+18005550100").expect("number"),
            message: text.to_string(),
            received_at: at,
        }
    }

    fn recorder(wants_sms: bool) -> Arc<Recorder> {
        Arc::new(Recorder {
            wants_sms: AtomicBool::new(wants_sms),
            asked: AtomicUsize::new(0),
            seen: Mutex::new(Vec::new()),
        })
    }

    #[test]
    fn a_record_is_built_only_when_someone_wants_it() {
        let changes = Changes::default();
        let built = AtomicUsize::new(0);
        let publish = |text: &str| {
            changes.sink("default").publish(Area::Sms, || {
                built.fetch_add(1, Ordering::Relaxed);
                Change::Sms(SmsChange::Received(Cow::Owned(inbound(text))))
            });
        };
        publish("nobody listens");
        let listener = recorder(false);
        changes.listen(listener.clone());
        publish("not wanted");
        assert_eq!(built.load(Ordering::Relaxed), 0);
        assert!(listener.asked.load(Ordering::Relaxed) > 0);

        listener.wants_sms.store(true, Ordering::Relaxed);
        publish("wanted");
        Sink::NONE.publish(Area::Sms, || panic!("NONE builds nothing"));
        assert_eq!(built.load(Ordering::Relaxed), 1);
        assert_eq!(
            *listener.seen.lock().expect("lock"),
            [("default".to_string(), "wanted".to_string())]
        );
    }

    #[tokio::test]
    async fn a_live_receiver_that_falls_behind_loses_the_oldest_and_holds_up_nothing() {
        let changes = Changes::with_live_capacity(4);
        let mut slow = changes.subscribe();
        let mut fast = changes.subscribe();
        let sink = changes.sink("default");
        let mut fast_seen = Vec::new();
        for n in 0..10 {
            sink.publish(Area::Sms, || {
                Change::Sms(SmsChange::Received(Cow::Owned(inbound(&n.to_string()))))
            });
            let committed = fast.recv().await.expect("in step");
            let Change::Sms(SmsChange::Received(sms)) = &committed.change else {
                panic!("unexpected change");
            };
            fast_seen.push(sms.message.clone());
        }
        let want: Vec<String> = (0..10).map(|n| n.to_string()).collect();
        assert_eq!(fast_seen, want);
        // The slow one never read: it lost all but the newest four, and is told so.
        assert!(matches!(
            slow.recv().await,
            Err(broadcast::error::RecvError::Lagged(6))
        ));
        let next = slow.recv().await.expect("the oldest kept");
        assert_eq!(next.resource, "default");
        let Change::Sms(SmsChange::Received(sms)) = &next.change else {
            panic!("unexpected change");
        };
        assert_eq!(sms.message, "6");
    }
}
