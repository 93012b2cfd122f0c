//! What a chat write changed: its change record, built under the thread's lock and published to
//! the write's [`Sink`](crate::store::Sink) before the lock is released.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::model::{MessageView, Participant, ReadReceipt, ThreadProps};
use crate::domain::CommunicationUserId;

/// A thread as a change left it: its properties and participants at that instant. Both are
/// shared with the thread (copy-on-write), so a snapshot costs two reference counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadSnapshot {
    /// Properties (a deleted thread's carry `deleted_on`).
    pub props: Arc<ThreadProps>,
    /// Participants, in the order they joined (a deleted thread keeps its last ones).
    pub participants: Arc<Vec<Participant>>,
}

/// One chat change: the thread after it, who made it, when, and what it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatChange {
    /// The thread right after the change.
    pub thread: ThreadSnapshot,
    /// Who made it (the creator, the sender, the editor, …).
    pub by: CommunicationUserId,
    /// When (emulator clock; the time the write stored).
    pub at: DateTime<Utc>,
    /// What happened.
    pub kind: ChatChangeKind,
    /// The system messages the change appended, as stored (a new thread's `participantAdded`
    /// and `topicUpdated`, a topic update's, participants added or removed); empty otherwise.
    pub system_messages: Vec<MessageView>,
}

/// What happened in a [`ChatChange`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatChangeKind {
    /// The thread was created (not a repeated create).
    ThreadCreated,
    /// Its properties (topic, metadata, retention policy) were updated.
    ThreadUpdated,
    /// It was deleted (the first time).
    ThreadDeleted,
    /// A user message was sent: the message as stored.
    MessageSent(MessageView),
    /// A message was edited: the message after the edit (new content, version, `edited_on`).
    MessageEdited(MessageView),
    /// A message was deleted (the first time): the message as the deletion left it (no
    /// content).
    MessageDeleted(MessageView),
    /// Participants joined (only those who were not participants yet; never empty).
    ParticipantsAdded(Vec<Participant>),
    /// A participant left or was removed; the snapshot no longer lists it.
    ParticipantRemoved(Participant),
    /// A read receipt was sent (as sent, also when an older receipt keeps the latest place).
    ReadReceiptSent(ReadReceipt),
    /// A participant is typing (nothing is stored).
    Typing {
        /// The display name the notification carried.
        sender_display_name: Option<String>,
    },
}
