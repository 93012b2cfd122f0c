//! One thread's state, behind its own mutex: properties, participants, messages (indexed by
//! sequence id), senders and read receipts, with the look-ups every operation shares.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};

use super::change::{ChatChange, ChatChangeKind, ThreadSnapshot};
use super::model::{
    ChatError, MessageType, MessageView, Metadata, Participant, ReadReceipt, SystemContent,
    ThreadProps,
};
use crate::domain::{ChatMessageId, CommunicationIdentifier, CommunicationUserId, ThreadId};
use crate::store::changes::Change;

/// A user message's stored body. The sender is an index into the thread's sender table so that a
/// million messages from one user don't hold a million copies of its id.
#[derive(Debug, Clone)]
pub(super) enum Body {
    User {
        content: String,
        sender: u32,
        sender_display_name: Option<String>,
        metadata: Option<Metadata>,
    },
    System(Box<SystemContent>),
}

#[derive(Debug, Clone)]
pub(super) struct StoredMessage {
    pub(super) id: u64,
    pub(super) version: u64,
    pub(super) kind: MessageType,
    pub(super) created_on: DateTime<Utc>,
    pub(super) edited_on: Option<DateTime<Utc>>,
    pub(super) deleted_on: Option<DateTime<Utc>>,
    pub(super) body: Body,
}

pub(super) struct ThreadState {
    /// Id, topic, creation, deletion, metadata, retention policy. Shared with the change
    /// records that snapshot it: change it with `Arc::make_mut` (which copies only while a
    /// record still holds the old one).
    pub(super) props: Arc<ThreadProps>,
    /// The `(creator, repeatability-request-id)` that created it, forgotten with it.
    pub(super) repeatability: Option<(CommunicationUserId, String)>,
    /// Removed from the store by a reset: a request that fetched it before answers 404, and
    /// nothing is added to it (its messages are no longer counted).
    pub(super) detached: bool,
    /// In the order they joined; shared with change records like `props`.
    pub(super) participants: Arc<Vec<Participant>>,
    /// Index `i` holds sequence id `i + 1`.
    pub(super) messages: Vec<StoredMessage>,
    pub(super) senders: Vec<CommunicationUserId>,
    /// Latest receipt per participant, keyed by raw id (a stable order for `skip` paging).
    pub(super) receipts: BTreeMap<String, ReadReceipt>,
    pub(super) last_message_received_on: DateTime<Utc>,
}

impl ThreadState {
    pub(super) fn id(&self) -> &ThreadId {
        &self.props.id
    }

    pub(super) fn is_deleted(&self) -> bool {
        self.props.deleted_on.is_some()
    }

    /// The properties, as the API returns them.
    pub(super) fn props(&self) -> ThreadProps {
        (*self.props).clone()
    }

    /// The change record of `kind`, made by `by` at `at`, with the thread as it is now.
    pub(super) fn change(
        &self,
        by: &CommunicationUserId,
        at: DateTime<Utc>,
        kind: ChatChangeKind,
    ) -> Change<'static> {
        self.change_appending(by, at, kind, self.messages.len())
    }

    /// [`Self::change`], carrying the (system) messages appended since the thread held
    /// `before` messages.
    pub(super) fn change_appending(
        &self,
        by: &CommunicationUserId,
        at: DateTime<Utc>,
        kind: ChatChangeKind,
        before: usize,
    ) -> Change<'static> {
        let system_messages = (before + 1..=self.messages.len())
            .map(|seq| self.view(seq as u64))
            .collect();
        Change::Chat(ChatChange {
            thread: ThreadSnapshot {
                props: Arc::clone(&self.props),
                participants: Arc::clone(&self.participants),
            },
            by: by.clone(),
            at,
            kind,
            system_messages,
        })
    }

    pub(super) fn participant_index(&self, id: &CommunicationIdentifier) -> Option<usize> {
        self.participants.iter().position(|p| &p.id == id)
    }

    pub(super) fn member(&self, user: &CommunicationUserId) -> Option<&Participant> {
        self.participants
            .iter()
            .find(|p| p.id.as_user() == Some(user))
    }

    /// The live thread's participant record of `user`, or the error the API answers.
    pub(super) fn check_member(
        &self,
        user: &CommunicationUserId,
    ) -> Result<&Participant, ChatError> {
        if self.is_deleted() || self.detached {
            return Err(ChatError::ThreadNotFound(self.id().clone()));
        }
        self.member(user).ok_or(ChatError::NotParticipant)
    }

    pub(super) fn sender_index(&mut self, user: &CommunicationUserId) -> u32 {
        if let Some(i) = self.senders.iter().position(|s| s == user) {
            return i as u32;
        }
        self.senders.push(user.clone());
        (self.senders.len() - 1) as u32
    }

    /// Appends a message; `createdOn` never goes below the previous message's (the emulator
    /// clock can be moved backwards), which keeps the `startTime` binary search valid.
    pub(super) fn push(
        &mut self,
        id: u64,
        kind: MessageType,
        now: DateTime<Utc>,
        body: Body,
    ) -> u64 {
        let created_on = match self.messages.last() {
            Some(last) if last.created_on > now => last.created_on,
            _ => now,
        };
        self.messages.push(StoredMessage {
            id,
            version: id,
            kind,
            created_on,
            edited_on: None,
            deleted_on: None,
            body,
        });
        self.last_message_received_on = created_on;
        self.messages.len() as u64
    }

    /// The first sequence id (1-based) created at or after `bound`.
    pub(super) fn first_seq_at_or_after(&self, bound: Option<DateTime<Utc>>) -> u64 {
        match bound {
            None => 1,
            Some(t) => self.messages.partition_point(|m| m.created_on < t) as u64 + 1,
        }
    }

    pub(super) fn seq_of(&self, id: ChatMessageId) -> Option<u64> {
        // Ids increase with sequence ids, so the message can be found by binary search.
        self.messages
            .binary_search_by_key(&id.0, |m| m.id)
            .ok()
            .map(|i| i as u64 + 1)
    }

    pub(super) fn view(&self, seq: u64) -> MessageView {
        let m = &self.messages[(seq - 1) as usize];
        let (content, sender, sender_display_name, metadata, system) = match &m.body {
            Body::User {
                content,
                sender,
                sender_display_name,
                metadata,
            } => (
                Some(if m.deleted_on.is_some() {
                    String::new()
                } else {
                    content.clone()
                }),
                self.senders.get(*sender as usize).cloned(),
                sender_display_name.clone(),
                metadata.clone(),
                None,
            ),
            Body::System(system) => (None, None, None, None, Some((**system).clone())),
        };
        MessageView {
            id: ChatMessageId(m.id),
            sequence_id: seq,
            version: m.version,
            kind: m.kind,
            created_on: m.created_on,
            edited_on: m.edited_on,
            deleted_on: m.deleted_on,
            content,
            sender,
            sender_display_name,
            metadata,
            system,
        }
    }

    /// The sequence id of `id` if `user` may see it (exists and not before their shareHistoryTime).
    pub(super) fn visible_seq(
        &self,
        user: &CommunicationUserId,
        id: ChatMessageId,
    ) -> Result<u64, ChatError> {
        let share = self.check_member(user)?.share_history_time;
        let seq = self.seq_of(id).ok_or(ChatError::MessageNotFound(id))?;
        if seq < self.first_seq_at_or_after(share) {
            return Err(ChatError::MessageNotFound(id));
        }
        Ok(seq)
    }
}

pub(super) fn lock(thread: &Mutex<ThreadState>) -> MutexGuard<'_, ThreadState> {
    // A panic while holding the lock leaves a consistent-enough state for an emulator.
    thread
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
