//! In-memory state, one table per API area.
//!
//! [`Store`] is a cheap `Clone` handle. Tables are DashMap-backed; no method holds a map guard
//! across an `.await` (there are none here: every method is synchronous). No actix, no serde_json.
//!
//! Every table is bounded (README "Limits"). `--max-identities` and `--max-sms-outbox` are passed
//! to the writing call; the other caps are [`StoreLimits`], fixed when the store is built. A cap
//! that refuses writes is kept with a [`Counter`]: a writer reserves its room with one
//! compare-and-swap before it inserts and gives it back after it removes, so the table never
//! holds more than its cap, even with parallel writers and a concurrent reset.
//!
//! A write that changes what a client can observe takes a [`Sink`] and publishes its change
//! record ([`ChatChange`], [`SmsChange`]) there before it releases its lock ([`changes`]
//! explains the contract); [`Sink::NONE`] publishes nothing (fixture data, tests).

pub mod changes;
mod chat;
mod email;
mod identity;
pub mod lro;
pub mod numbers;
mod rooms;
mod sms;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use uuid::Uuid;

pub use changes::{
    Area, Change, ChangeListener, Changes, Committed, ControlChange, LIVE_CAPACITY, Sink,
};
pub use chat::{
    CONTENT_LIMIT_BYTES, ChatChange, ChatChangeKind, ChatError, ChatLimits, ChatStore,
    DISPLAY_NAME_LIMIT_BYTES, METADATA_LIMIT_BYTES, MessageType, MessageView, Metadata,
    MetadataPatch, NewMessage, NewThread, Participant, ReadReceipt, RestoredThread,
    RetentionPolicy, SystemContent, TOPIC_LIMIT_BYTES, ThreadCursor, ThreadItem, ThreadProps,
    ThreadSnapshot, ThreadUpdate, merge_metadata, metadata_size,
};
pub use email::{
    Accepted, Attachment, Delivery, EmailChange, EmailError, EmailLimits, EmailStore, Engagement,
    InboxFilter, Mailbox, SentEmail,
};
pub use identity::{
    AssignmentStore, IdentityChange, IdentitySnapshot, IdentityStore, StoreError,
    TeamsExtensionAssignment, TokenStatus,
};
pub use numbers::{NumberStore, NumbersChange, NumbersError};
pub use rooms::{
    Created as RoomCreated, MAX_WINDOW_DAYS, NewRoom, ROOM_ID_LENGTH, Room, RoomLimits, RoomRole,
    RoomUpdate, RoomsChange, RoomsError, RoomsPage, RoomsStore, at_service_precision,
    check_room_id, check_window, default_valid_until,
};
pub use sms::{
    DeliveryReport, DeliveryStatus, InboundSms, OutboxFilter, SendOutcome, SentSms, SmsChange,
    SmsError, SmsStore,
};

/// The caps fixed when the store is built (`--max-chat-*`, `--max-sms-opt-outs`,
/// `--max-teams-extension-assignments`, `--max-emails`, `--max-email-storage-bytes`, `--max-rooms`, `--max-room-participants`). [`Default`] is unbounded, for unit tests and benches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreLimits {
    /// Identities (live ones, and deleted ones until room is needed).
    pub identities: usize,
    /// Chat threads, messages and participants.
    pub chat: ChatLimits,
    /// SMS opt-outs (sender, recipient pairs).
    pub sms_opt_outs: usize,
    /// Teams Phone extension assignments.
    pub teams_extension_assignments: usize,
    /// The email inbox and send operations.
    pub email: EmailLimits,
    /// Rooms and their participants.
    pub rooms: RoomLimits,
}

impl Default for StoreLimits {
    fn default() -> Self {
        Self {
            identities: usize::MAX,
            chat: ChatLimits::default(),
            sms_opt_outs: usize::MAX,
            teams_extension_assignments: usize::MAX,
            email: EmailLimits::default(),
            rooms: RoomLimits::default(),
        }
    }
}

/// How many items a capped table holds, counting room reserved by writers about to insert.
///
/// Reserve with [`Counter::try_add`] *before* inserting and [`Counter::sub`] *after* removing:
/// the table's size then never exceeds the count, and the count never exceeds the cap.
#[derive(Debug, Default)]
pub struct Counter(AtomicUsize);

impl Counter {
    /// Adds `n` unless that would pass `max`; false (and nothing added) when it would.
    pub fn try_add(&self, n: usize, max: usize) -> bool {
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(n).filter(|&total| total <= max)
            })
            .is_ok()
    }

    /// Gives back `n` (items removed, or room reserved but not used).
    pub fn sub(&self, n: usize) {
        if n > 0 {
            self.0.fetch_sub(n, Ordering::AcqRel);
        }
    }

    /// The current count.
    pub fn get(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }
}

/// All the state of one resource.
#[derive(Clone, Default)]
pub struct Store {
    /// Where new ids come from (reproducible with `--seed`).
    pub ids: Arc<IdSource>,
    /// Identities and their token bookkeeping.
    pub identities: Arc<IdentityStore>,
    /// Teams Phone extension assignments.
    pub assignments: Arc<AssignmentStore>,
    /// Chat threads, messages, participants and read receipts.
    pub chat: Arc<ChatStore>,
    /// SMS outbox, repeatability records, delivery reports and opt-outs.
    pub sms: Arc<SmsStore>,
    /// The email inbox and send operations.
    pub email: Arc<EmailStore>,
    /// Phone numbers (inventory, owned numbers, searches, reservations, operations) and SIP
    /// routing.
    pub numbers: Arc<NumberStore>,
    /// Rooms and their participants.
    pub rooms: Arc<RoomsStore>,
    limits: StoreLimits,
}

impl Store {
    /// An empty store without the [`StoreLimits`] caps (tests, benches).
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store whose ids come from `seed` (random ids when `None`), without the
    /// [`StoreLimits`] caps (tests, benches).
    pub fn with_seed(seed: Option<u64>) -> Self {
        Self::with_seed_and_limits(seed, StoreLimits::default())
    }

    /// An empty store whose ids come from `seed`, with these caps.
    pub fn with_seed_and_limits(seed: Option<u64>, limits: StoreLimits) -> Self {
        Self {
            ids: Arc::new(IdSource::new(seed)),
            identities: Arc::default(),
            assignments: Arc::new(AssignmentStore::with_limit(
                limits.teams_extension_assignments,
            )),
            chat: Arc::new(ChatStore::with_limits(limits.chat)),
            sms: Arc::new(SmsStore::with_opt_out_limit(limits.sms_opt_outs)),
            email: Arc::new(EmailStore::with_limits(limits.email)),
            numbers: Arc::default(),
            rooms: Arc::new(RoomsStore::with_limits(limits.rooms)),
            limits,
        }
    }

    /// The caps the store was built with (resources added by fixtures get the `default`
    /// resource's).
    pub fn limits(&self) -> StoreLimits {
        self.limits
    }

    /// Forgets everything (`POST /_emulator/reset`); a seeded id source starts over. Counters
    /// included: each table gives back exactly what it removed, so writers racing the reset
    /// keep their counts right. Publishes [`Change::Reset`] to `sink` once the tables are empty.
    pub fn reset(&self, sink: Sink<'_>) {
        self.ids.restart();
        self.identities.clear();
        self.assignments.clear();
        self.chat.clear();
        self.sms.clear();
        self.email.clear();
        self.numbers.clear();
        self.rooms.clear();
        sink.publish(Area::Reset, || Change::Reset);
    }
}

/// New ids (users, threads, SMS messages): random, or a reproducible sequence when seeded.
#[derive(Default)]
pub struct IdSource {
    seed: Option<u64>,
    rng: Mutex<Option<ChaCha8Rng>>,
}

impl IdSource {
    /// A source of random ids, or of the sequence `seed` gives.
    pub fn new(seed: Option<u64>) -> Self {
        Self {
            seed,
            rng: Mutex::new(seed.map(ChaCha8Rng::seed_from_u64)),
        }
    }

    /// The next id (a version-4 UUID either way).
    pub fn uuid(&self) -> Uuid {
        // Unseeded (the usual case), both workers draw from their own thread's generator and
        // never meet on the lock.
        if self.seed.is_none() {
            return Uuid::new_v4();
        }
        let mut rng = self.rng.lock().unwrap_or_else(PoisonError::into_inner);
        match rng.as_mut() {
            Some(rng) => uuid::Builder::from_random_bytes(rng.random()).into_uuid(),
            None => Uuid::new_v4(),
        }
    }

    /// Starts the seeded sequence over.
    pub fn restart(&self) {
        *self.rng.lock().unwrap_or_else(PoisonError::into_inner) =
            self.seed.map(ChaCha8Rng::seed_from_u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_counter_never_passes_its_cap_and_refuses_without_adding() {
        let counter = Counter::default();
        assert!(counter.try_add(2, 3));
        assert!(!counter.try_add(2, 3));
        assert_eq!(counter.get(), 2);
        assert!(counter.try_add(1, 3));
        assert!(!counter.try_add(1, 3));
        counter.sub(2);
        assert!(counter.try_add(2, 3));
        assert!(!counter.try_add(usize::MAX, usize::MAX));
    }

    #[test]
    fn parallel_reservations_stop_exactly_at_the_cap() {
        let counter = Arc::new(Counter::default());
        let granted: usize = (0..8)
            .map(|_| {
                let counter = counter.clone();
                std::thread::spawn(move || (0..1000).filter(|_| counter.try_add(1, 100)).count())
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().expect("thread"))
            .sum();
        assert_eq!(granted, 100);
        assert_eq!(counter.get(), 100);
    }

    #[test]
    fn a_seed_gives_the_same_ids_again_after_a_restart() {
        let a = IdSource::new(Some(7));
        let b = IdSource::new(Some(7));
        let first: Vec<Uuid> = (0..3).map(|_| a.uuid()).collect();
        assert_eq!(first, (0..3).map(|_| b.uuid()).collect::<Vec<_>>());
        a.restart();
        assert_eq!(first, (0..3).map(|_| a.uuid()).collect::<Vec<_>>());
        assert_eq!(first[0].get_version_num(), 4);
        assert_ne!(IdSource::new(Some(8)).uuid(), first[0]);
        assert_ne!(IdSource::new(None).uuid(), IdSource::new(None).uuid());
    }
}
