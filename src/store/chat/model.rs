//! The chat store's data model: limits, errors, and the values the store takes and returns.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::domain::{ChatMessageId, CommunicationIdentifier, CommunicationUserId, ThreadId};

/// Name/value metadata (threads, participants, messages).
pub type Metadata = BTreeMap<String, String>;

/// A JSON merge-patch of metadata: `None` values delete their key.
pub type MetadataPatch = BTreeMap<String, Option<String>>;

/// Thread and participant metadata may hold at most this many bytes (keys plus values), as the
/// spec states ("up to 1KB"). Message metadata has the same limit here: the spec states none,
/// and without one a message could store a whole request body of it.
pub const METADATA_LIMIT_BYTES: usize = 1024;

/// The most bytes of a message's content (the real service's 28 KB message limit).
pub const CONTENT_LIMIT_BYTES: usize = 28 * 1024;

/// The most bytes of a thread topic. The real service documents no limit; this one bounds what
/// a thread stores.
pub const TOPIC_LIMIT_BYTES: usize = 1024;

/// The most bytes of a display name (participant `displayName`, message `senderDisplayName`).
/// Not documented for the real service; chosen here.
pub const DISPLAY_NAME_LIMIT_BYTES: usize = 256;

/// The size that counts against [`METADATA_LIMIT_BYTES`].
pub fn metadata_size(metadata: &Metadata) -> usize {
    metadata.iter().map(|(k, v)| k.len() + v.len()).sum()
}

/// Applies a merge-patch (`None` = `null`: clear everything) to `current`.
pub fn merge_metadata(
    current: Option<&Metadata>,
    patch: Option<MetadataPatch>,
) -> Option<Metadata> {
    let patch = patch?;
    let mut merged = current.cloned().unwrap_or_default();
    for (key, value) in patch {
        match value {
            Some(v) => {
                merged.insert(key, v);
            }
            None => {
                merged.remove(&key);
            }
        }
    }
    Some(merged)
}

/// Why a chat operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChatError {
    /// No such thread (or it was deleted).
    #[error("the chat thread {0} does not exist")]
    ThreadNotFound(ThreadId),
    /// The caller is not a participant of the thread.
    #[error("the caller is not a participant of the thread")]
    NotParticipant,
    /// No such message in the thread (or the caller may not see it).
    #[error("the chat message {0} does not exist in this thread")]
    MessageNotFound(ChatMessageId),
    /// The caller may not change this message (not the sender, or a system message).
    #[error("only the sender can change a chat message")]
    NotSender,
    /// Thread or message metadata over [`METADATA_LIMIT_BYTES`] after applying a patch.
    #[error("metadata is limited to {METADATA_LIMIT_BYTES} bytes in total")]
    MetadataTooLarge,
    /// [`ChatLimits::threads`] threads exist, none of them a tombstone that could be dropped.
    #[error("the chat thread table is full ({0} threads)")]
    ThreadsFull(usize),
    /// [`ChatLimits::messages`] messages exist in all threads together.
    #[error("the chat message table is full ({0} messages)")]
    MessagesFull(usize),
    /// The thread holds [`ChatLimits::messages_per_thread`] messages.
    #[error("the chat thread is full ({0} messages)")]
    ThreadMessagesFull(usize),
    /// The thread would have more than [`ChatLimits::participants_per_thread`] participants.
    #[error("a chat thread may have at most {0} participants")]
    ParticipantsFull(usize),
}

/// The chat caps. [`Default`] is unbounded (unit tests, benches); the emulator sets them from
/// `--max-chat-threads`, `--max-chat-messages`, `--max-chat-messages-per-thread` and
/// `--max-chat-participants-per-thread`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatLimits {
    /// Threads, deleted ones (tombstones) included until room is needed.
    pub threads: usize,
    /// Messages in all live threads, system messages included (a deleted thread's messages
    /// are freed with it; a deleted message still counts, as it stays listed).
    pub messages: usize,
    /// Messages in one thread, system messages included.
    pub messages_per_thread: usize,
    /// Participants of one thread, the creator included.
    pub participants_per_thread: usize,
}

impl Default for ChatLimits {
    fn default() -> Self {
        Self {
            threads: usize::MAX,
            messages: usize::MAX,
            messages_per_thread: usize::MAX,
            participants_per_thread: usize::MAX,
        }
    }
}

/// `ChatRetentionPolicy` (2025-03-15).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetentionPolicy {
    /// Delete the thread this many days after its creation.
    ThreadCreationDate {
        /// Days after creation.
        delete_thread_after_days: i32,
    },
    /// No automatic deletion.
    None,
}

/// A participant of a thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Participant {
    /// Who.
    pub id: CommunicationIdentifier,
    /// Display name.
    pub display_name: Option<String>,
    /// Messages created before this time are hidden from the participant.
    pub share_history_time: Option<DateTime<Utc>>,
    /// Participant metadata (2025-03-15).
    pub metadata: Option<Metadata>,
}

/// `ChatMessageType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    /// Plain text.
    Text,
    /// HTML.
    Html,
    /// System: the topic changed.
    TopicUpdated,
    /// System: participants were added.
    ParticipantAdded,
    /// System: participants were removed.
    ParticipantRemoved,
}

impl MessageType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Text => "text",
            MessageType::Html => "html",
            MessageType::TopicUpdated => "topicUpdated",
            MessageType::ParticipantAdded => "participantAdded",
            MessageType::ParticipantRemoved => "participantRemoved",
        }
    }
}

/// The content of a system message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemContent {
    /// Who caused it.
    pub initiator: CommunicationIdentifier,
    /// The new topic (`topicUpdated`).
    pub topic: Option<String>,
    /// The participants added or removed.
    pub participants: Vec<Participant>,
}

/// A chat message as the API returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageView {
    /// Id.
    pub id: ChatMessageId,
    /// Per-thread sequence number (1-based).
    pub sequence_id: u64,
    /// Version (the id, then the edit time in ms).
    pub version: u64,
    /// Type.
    pub kind: MessageType,
    /// Arrival time.
    pub created_on: DateTime<Utc>,
    /// Last edit time.
    pub edited_on: Option<DateTime<Utc>>,
    /// Deletion time.
    pub deleted_on: Option<DateTime<Utc>>,
    /// Text/HTML content (user messages; empty once deleted).
    pub content: Option<String>,
    /// Sender (user messages).
    pub sender: Option<CommunicationUserId>,
    /// Sender display name.
    pub sender_display_name: Option<String>,
    /// Message metadata.
    pub metadata: Option<Metadata>,
    /// System message content.
    pub system: Option<SystemContent>,
}

/// A thread's properties (`ChatThreadProperties`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadProps {
    /// Id.
    pub id: ThreadId,
    /// Topic.
    pub topic: String,
    /// Creation time.
    pub created_on: DateTime<Utc>,
    /// Creator.
    pub created_by: CommunicationUserId,
    /// Deletion time.
    pub deleted_on: Option<DateTime<Utc>>,
    /// Thread metadata (2025-03-15).
    pub metadata: Option<Metadata>,
    /// Retention policy (2025-03-15).
    pub retention_policy: Option<RetentionPolicy>,
}

/// A thread in the caller's thread list (`ChatThreadItem`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadItem {
    /// Id.
    pub id: ThreadId,
    /// Topic.
    pub topic: String,
    /// Deletion time.
    pub deleted_on: Option<DateTime<Utc>>,
    /// When the last message arrived.
    pub last_message_received_on: DateTime<Utc>,
}

/// Where a thread-list page ends: the last item's activity (ms) and id, in the list's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadCursor {
    /// `lastMessageReceivedOn` of the last item returned, in ms.
    pub activity_ms: i64,
    /// Id of the last item returned.
    pub id: ThreadId,
}

/// A read receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadReceipt {
    /// Who read.
    pub sender: CommunicationUserId,
    /// Up to which message.
    pub message_id: ChatMessageId,
    /// When.
    pub read_on: DateTime<Utc>,
    pub(super) sequence_id: u64,
}

/// A new thread, as asked for.
#[derive(Debug, Clone)]
pub struct NewThread {
    /// The id to give the thread (fixtures, seeded ids), which must not be in use; `None` makes
    /// a random one.
    pub id: Option<ThreadId>,
    /// Topic.
    pub topic: String,
    /// Participants besides the creator (the creator may be listed, to set its display name).
    pub participants: Vec<Participant>,
    /// Metadata.
    pub metadata: Option<Metadata>,
    /// Retention policy.
    pub retention_policy: Option<RetentionPolicy>,
}

/// A thread update (JSON merge-patch already resolved: `None` = leave unchanged).
#[derive(Debug, Clone, Default)]
pub struct ThreadUpdate {
    /// New topic.
    pub topic: Option<String>,
    /// Metadata merge-patch (`Some(None)` clears it).
    pub metadata: Option<Option<MetadataPatch>>,
    /// New retention policy (`Some(None)` clears it).
    pub retention_policy: Option<Option<RetentionPolicy>>,
}

/// A message to send.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// Content.
    pub content: String,
    /// `Text` or `Html`.
    pub kind: MessageType,
    /// Sender display name.
    pub sender_display_name: Option<String>,
    /// Metadata.
    pub metadata: Option<Metadata>,
}
