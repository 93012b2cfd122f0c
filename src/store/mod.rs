//! In-memory state, one table per API area.
//!
//! [`Store`] is a cheap `Clone` handle. Tables are DashMap-backed; no method holds a map guard
//! across an `.await` (there are none here: every method is synchronous). No actix, no serde_json.

mod chat;
mod identity;
mod sms;

use std::sync::Arc;

pub use chat::{
    ChatError, ChatStore, METADATA_LIMIT_BYTES, MessageType, MessageView, Metadata, MetadataPatch,
    NewMessage, NewThread, Participant, ReadReceipt, RetentionPolicy, SystemContent, ThreadCursor,
    ThreadItem, ThreadProps, ThreadUpdate, merge_metadata, metadata_size,
};
pub use identity::{
    AssignmentStore, IdentityStore, StoreError, TeamsExtensionAssignment, TokenStatus,
};
pub use sms::{DeliveryReport, DeliveryStatus, OutboxFilter, SendOutcome, SentSms, SmsStore};

/// All emulator state.
#[derive(Clone, Default)]
pub struct Store {
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

    /// Forgets everything (`POST /_emulator/reset`).
    pub fn reset(&self) {
        self.identities.clear();
        self.assignments.clear();
        self.chat.clear();
        self.sms.clear();
    }
}
