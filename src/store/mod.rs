//! In-memory state, one table per API area.
//!
//! [`Store`] is a cheap `Clone` handle. Tables are DashMap-backed; no method holds a map guard
//! across an `.await` (there are none here: every method is synchronous). No actix, no serde_json.

mod chat;
mod identity;
mod sms;

use std::sync::{Arc, Mutex, PoisonError};

use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use uuid::Uuid;

pub use chat::{
    ChatError, ChatStore, METADATA_LIMIT_BYTES, MessageType, MessageView, Metadata, MetadataPatch,
    NewMessage, NewThread, Participant, ReadReceipt, RetentionPolicy, SystemContent, ThreadCursor,
    ThreadItem, ThreadProps, ThreadUpdate, merge_metadata, metadata_size,
};
pub use identity::{
    AssignmentStore, IdentityStore, StoreError, TeamsExtensionAssignment, TokenStatus,
};
pub use sms::{DeliveryReport, DeliveryStatus, OutboxFilter, SendOutcome, SentSms, SmsStore};

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
}

impl Store {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store whose ids come from `seed` (random ids when `None`).
    pub fn with_seed(seed: Option<u64>) -> Self {
        Self {
            ids: Arc::new(IdSource::new(seed)),
            ..Self::default()
        }
    }

    /// Forgets everything (`POST /_emulator/reset`); a seeded id source starts over.
    pub fn reset(&self) {
        self.ids.restart();
        self.identities.clear();
        self.assignments.clear();
        self.chat.clear();
        self.sms.clear();
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
