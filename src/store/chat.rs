//! Chat threads, their participants, messages and read receipts.
//!
//! Each thread lives behind its own `Mutex` in a `DashMap<ThreadId, Arc<Mutex<ThreadState>>>`:
//! every operation clones the `Arc` out of the map, drops the map guard, then does its whole
//! read-check-write under the thread's mutex. Nothing here is async, so no guard can be held
//! across an `.await`. Consequences the API relies on:
//!
//! - `sequenceId`s are dense (1, 2, 3, …) and assigned under the thread lock, so they are
//!   strictly increasing in commit order even with concurrent senders; messages live in a `Vec`
//!   indexed by `sequenceId - 1`, which makes every page an O(page) slice (plus an O(log n)
//!   binary search for `startTime` / `shareHistoryTime`, since `createdOn` never decreases
//!   along a thread).
//! - Message ids (and edit versions) come from one store-wide counter: the emulator clock's
//!   millisecond epoch, bumped past the last value handed out, so they are unique and increase
//!   with `sequenceId` within a thread.
//! - Deleted threads stay as tombstones (without their messages) so that re-deleting answers 204
//!   and every other operation answers 404.
//!
//! - Every table is capped ([`ChatLimits`]), and a full one refuses the write with an error
//!   rather than evicting: dropping a thread, message or participant would silently change what
//!   a test reads back. Threads and all messages (system messages included: they are stored like
//!   any other) are counted on store-wide [`Counter`]s, reserved before the insert; messages and
//!   participants per thread are checked under the thread's mutex. Read receipts need no cap of
//!   their own: there is at most one per participant, and a removed participant's goes with it.
//!   When the thread table is full, tombstones (deleted threads) are dropped first, as for
//!   identities.
//!
//! Lock order: a thread's mutex may be taken while holding a `threads` shard (dropping
//! tombstones, clearing) or touching `user_threads` or `repeatability` entries; nothing takes a
//! map entry while holding a thread's mutex except `user_threads`, and `repeatability` entries
//! are never taken while a `threads` shard is held. No actix, no serde_json.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use dashmap::DashMap;
use dashmap::mapref::entry::Entry;

use super::Counter;
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

/// A user message's stored body. The sender is an index into the thread's sender table so that a
/// million messages from one user don't hold a million copies of its id.
#[derive(Debug, Clone)]
enum Body {
    User {
        content: String,
        sender: u32,
        sender_display_name: Option<String>,
        metadata: Option<Metadata>,
    },
    System(Box<SystemContent>),
}

#[derive(Debug, Clone)]
struct StoredMessage {
    id: u64,
    version: u64,
    kind: MessageType,
    created_on: DateTime<Utc>,
    edited_on: Option<DateTime<Utc>>,
    deleted_on: Option<DateTime<Utc>>,
    body: Body,
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
    sequence_id: u64,
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

struct ThreadState {
    id: ThreadId,
    /// The `(creator, repeatability-request-id)` that created it, forgotten with it.
    repeatability: Option<(CommunicationUserId, String)>,
    /// Removed from the store by a reset: a request that fetched it before answers 404, and
    /// nothing is added to it (its messages are no longer counted).
    detached: bool,
    topic: String,
    created_on: DateTime<Utc>,
    created_by: CommunicationUserId,
    deleted_on: Option<DateTime<Utc>>,
    metadata: Option<Metadata>,
    retention_policy: Option<RetentionPolicy>,
    participants: Vec<Participant>,
    /// Index `i` holds sequence id `i + 1`.
    messages: Vec<StoredMessage>,
    senders: Vec<CommunicationUserId>,
    /// Latest receipt per participant, keyed by raw id (a stable order for `skip` paging).
    receipts: BTreeMap<String, ReadReceipt>,
    last_message_received_on: DateTime<Utc>,
}

impl ThreadState {
    fn props(&self) -> ThreadProps {
        ThreadProps {
            id: self.id.clone(),
            topic: self.topic.clone(),
            created_on: self.created_on,
            created_by: self.created_by.clone(),
            deleted_on: self.deleted_on,
            metadata: self.metadata.clone(),
            retention_policy: self.retention_policy.clone(),
        }
    }

    fn participant_index(&self, id: &CommunicationIdentifier) -> Option<usize> {
        self.participants.iter().position(|p| &p.id == id)
    }

    fn member(&self, user: &CommunicationUserId) -> Option<&Participant> {
        self.participants
            .iter()
            .find(|p| p.id.as_user() == Some(user))
    }

    /// The live thread's participant record of `user`, or the error the API answers.
    fn check_member(&self, user: &CommunicationUserId) -> Result<&Participant, ChatError> {
        if self.deleted_on.is_some() || self.detached {
            return Err(ChatError::ThreadNotFound(self.id.clone()));
        }
        self.member(user).ok_or(ChatError::NotParticipant)
    }

    fn sender_index(&mut self, user: &CommunicationUserId) -> u32 {
        if let Some(i) = self.senders.iter().position(|s| s == user) {
            return i as u32;
        }
        self.senders.push(user.clone());
        (self.senders.len() - 1) as u32
    }

    /// Appends a message; `createdOn` never goes below the previous message's (the emulator
    /// clock can be moved backwards), which keeps the `startTime` binary search valid.
    fn push(&mut self, id: u64, kind: MessageType, now: DateTime<Utc>, body: Body) -> u64 {
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
    fn first_seq_at_or_after(&self, bound: Option<DateTime<Utc>>) -> u64 {
        match bound {
            None => 1,
            Some(t) => self.messages.partition_point(|m| m.created_on < t) as u64 + 1,
        }
    }

    fn seq_of(&self, id: ChatMessageId) -> Option<u64> {
        // Ids increase with sequence ids, so the message can be found by binary search.
        self.messages
            .binary_search_by_key(&id.0, |m| m.id)
            .ok()
            .map(|i| i as u64 + 1)
    }

    fn view(&self, seq: u64) -> MessageView {
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
    fn visible_seq(&self, user: &CommunicationUserId, id: ChatMessageId) -> Result<u64, ChatError> {
        let share = self.check_member(user)?.share_history_time;
        let seq = self.seq_of(id).ok_or(ChatError::MessageNotFound(id))?;
        if seq < self.first_seq_at_or_after(share) {
            return Err(ChatError::MessageNotFound(id));
        }
        Ok(seq)
    }
}

/// The chat tables.
#[derive(Default)]
pub struct ChatStore {
    threads: DashMap<ThreadId, Arc<Mutex<ThreadState>>>,
    /// Live threads per ACS user (raw id), for `GET /chat/threads`.
    user_threads: DashMap<CommunicationUserId, HashSet<ThreadId>>,
    /// `(creator, repeatability-request-id)` → the thread that request created.
    repeatability: DashMap<(CommunicationUserId, String), ThreadId>,
    /// The last message id / version handed out (ms epoch, bumped for uniqueness).
    last_id: AtomicU64,
    limits: ChatLimits,
    /// Threads (tombstones included) plus room reserved by creates about to insert.
    thread_count: Counter,
    /// Messages in live threads plus room reserved by writers about to append.
    message_count: Counter,
    /// Tombstones in `threads` (a hint: dropping them is only tried when there are some).
    tombstones: AtomicUsize,
}

fn lock(thread: &Mutex<ThreadState>) -> MutexGuard<'_, ThreadState> {
    // A panic while holding the lock leaves a consistent-enough state for an emulator.
    thread
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl ChatStore {
    /// Empty tables with these caps.
    pub fn with_limits(limits: ChatLimits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    /// Makes room for one more message in a thread the caller holds the lock of: the thread's
    /// count is checked under that lock, the store-wide one is reserved. Push the message next.
    fn reserve_message(&self, t: &ThreadState) -> Result<(), ChatError> {
        if t.messages.len() >= self.limits.messages_per_thread {
            return Err(ChatError::ThreadMessagesFull(
                self.limits.messages_per_thread,
            ));
        }
        if !self.message_count.try_add(1, self.limits.messages) {
            return Err(ChatError::MessagesFull(self.limits.messages));
        }
        Ok(())
    }

    /// Appends a message within the caps; returns its id and sequence id.
    fn append(
        &self,
        t: &mut ThreadState,
        kind: MessageType,
        now: DateTime<Utc>,
        body: Body,
    ) -> Result<(u64, u64), ChatError> {
        self.reserve_message(t)?;
        let id = self.next_id(now);
        Ok((id, t.push(id, kind, now, body)))
    }

    /// Drops deleted threads (and their repeatability records), giving their room back.
    fn drop_tombstones(&self) {
        let mut dropped = Vec::new();
        self.threads.retain(|_, thread| {
            let t = lock(thread);
            if t.deleted_on.is_none() {
                return true;
            }
            dropped.push((t.id.clone(), t.repeatability.clone()));
            false
        });
        self.thread_count.sub(dropped.len());
        self.tombstones.fetch_sub(dropped.len(), Ordering::AcqRel);
        // The `threads` shards are released: repeatability entries may be taken now.
        for (id, key) in dropped {
            if let Some(key) = key {
                self.repeatability.remove_if(&key, |_, v| *v == id);
            }
        }
    }

    /// A new unique id: `now` in ms, or one more than the last id if that is not larger.
    fn next_id(&self, now: DateTime<Utc>) -> u64 {
        let now_ms = u64::try_from(now.timestamp_millis()).unwrap_or(0);
        let mut last = self.last_id.load(Ordering::Relaxed);
        loop {
            let next = now_ms.max(last + 1);
            match self.last_id.compare_exchange_weak(
                last,
                next,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return next,
                Err(actual) => last = actual,
            }
        }
    }

    fn thread(&self, id: &ThreadId) -> Result<Arc<Mutex<ThreadState>>, ChatError> {
        self.threads
            .get(id)
            .map(|t| Arc::clone(&t))
            .ok_or_else(|| ChatError::ThreadNotFound(id.clone()))
    }

    /// Runs `f` on a live thread the caller participates in.
    fn with_member<T>(
        &self,
        id: &ThreadId,
        caller: &CommunicationUserId,
        f: impl FnOnce(&mut ThreadState) -> Result<T, ChatError>,
    ) -> Result<T, ChatError> {
        let thread = self.thread(id)?;
        let mut state = lock(&thread);
        state.check_member(caller)?;
        f(&mut state)
    }

    fn index_user(&self, user: &CommunicationUserId, thread: &ThreadId) {
        self.user_threads
            .entry(user.clone())
            .or_default()
            .insert(thread.clone());
    }

    fn unindex_user(&self, user: &CommunicationUserId, thread: &ThreadId) {
        if let Some(mut set) = self.user_threads.get_mut(user) {
            set.remove(thread);
        }
        // Users come and go: don't keep an empty set per user ever seen.
        self.user_threads.remove_if(user, |_, set| set.is_empty());
    }

    /// Creates a thread with the caller as creator and participant, emitting `participantAdded`
    /// and `topicUpdated`. With a `repeatability` key already used by this caller, returns the
    /// thread that first request created instead (second value `false`).
    ///
    /// Fails when the thread would have too many participants, or when there is no room for
    /// one more thread or its two system messages.
    pub fn create_thread(
        &self,
        caller: &CommunicationUserId,
        new: NewThread,
        repeatability: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<(ThreadProps, bool), ChatError> {
        // Outside any repeatability entry: dropping tombstones takes repeatability entries.
        if self.thread_count.get() >= self.limits.threads
            && self.tombstones.load(Ordering::Acquire) > 0
        {
            self.drop_tombstones();
        }
        let Some(key) = repeatability else {
            return Ok((self.insert_thread(caller, new, None, now)?, true));
        };
        let key = (caller.clone(), key);
        match self.repeatability.entry(key.clone()) {
            Entry::Occupied(mut existing) => {
                if let Ok(thread) = self.thread(existing.get()) {
                    return Ok((lock(&thread).props(), false));
                }
                // Forgotten (dropped as a tombstone, or reset) between the two requests:
                // create afresh.
                let props = self.insert_thread(caller, new, Some(key), now)?;
                existing.insert(props.id.clone());
                Ok((props, true))
            }
            Entry::Vacant(slot) => {
                let props = self.insert_thread(caller, new, Some(key), now)?;
                slot.insert(props.id.clone());
                Ok((props, true))
            }
        }
    }

    fn insert_thread(
        &self,
        caller: &CommunicationUserId,
        new: NewThread,
        repeatability: Option<(CommunicationUserId, String)>,
        now: DateTime<Utc>,
    ) -> Result<ThreadProps, ChatError> {
        let id = new.id.clone().unwrap_or_else(ThreadId::generate);
        let creator = CommunicationIdentifier::User(caller.clone());
        let mut participants: Vec<Participant> = Vec::with_capacity(new.participants.len() + 1);
        // The creator first; a listing of the creator in the request supplies its details.
        let listed_creator = new.participants.iter().find(|p| p.id == creator).cloned();
        participants.push(listed_creator.unwrap_or(Participant {
            id: creator.clone(),
            display_name: None,
            share_history_time: None,
            metadata: None,
        }));
        for p in new.participants {
            if !participants.iter().any(|q| q.id == p.id) {
                participants.push(p);
            }
        }
        let limits = &self.limits;
        if participants.len() > limits.participants_per_thread {
            return Err(ChatError::ParticipantsFull(limits.participants_per_thread));
        }
        // A new thread holds two system messages.
        if limits.messages_per_thread < 2 {
            return Err(ChatError::ThreadMessagesFull(limits.messages_per_thread));
        }
        if !self.thread_count.try_add(1, limits.threads) {
            return Err(ChatError::ThreadsFull(limits.threads));
        }
        if !self.message_count.try_add(2, limits.messages) {
            self.thread_count.sub(1);
            return Err(ChatError::MessagesFull(limits.messages));
        }
        let mut state = ThreadState {
            id: id.clone(),
            repeatability,
            detached: false,
            topic: new.topic.clone(),
            created_on: now,
            created_by: caller.clone(),
            deleted_on: None,
            metadata: new.metadata,
            retention_policy: new.retention_policy,
            participants: participants.clone(),
            messages: Vec::new(),
            senders: Vec::new(),
            receipts: BTreeMap::new(),
            last_message_received_on: now,
        };
        let added = self.next_id(now);
        state.push(
            added,
            MessageType::ParticipantAdded,
            now,
            Body::System(Box::new(SystemContent {
                initiator: creator.clone(),
                topic: None,
                participants,
            })),
        );
        let topic = self.next_id(now);
        state.push(
            topic,
            MessageType::TopicUpdated,
            now,
            Body::System(Box::new(SystemContent {
                initiator: creator,
                topic: Some(new.topic),
                participants: Vec::new(),
            })),
        );
        let props = state.props();
        let users: Vec<CommunicationUserId> = state
            .participants
            .iter()
            .filter_map(|p| p.id.as_user().cloned())
            .collect();
        if let Some(replaced) = self.threads.insert(id.clone(), Arc::new(Mutex::new(state))) {
            // A given id already in use (fixtures check that it is not): the old thread is gone,
            // and gives its room back.
            let mut old = lock(&replaced);
            self.thread_count.sub(1);
            self.message_count.sub(old.messages.len());
            if old.deleted_on.is_some() {
                self.tombstones.fetch_sub(1, Ordering::AcqRel);
            }
            old.detached = true;
            old.messages = Vec::new();
        }
        for user in &users {
            self.index_user(user, &id);
        }
        Ok(props)
    }

    /// `GET /chat/threads/{id}`.
    pub fn get_thread(
        &self,
        caller: &CommunicationUserId,
        id: &ThreadId,
    ) -> Result<ThreadProps, ChatError> {
        self.with_member(id, caller, |t| Ok(t.props()))
    }

    /// `PATCH /chat/threads/{id}`; a topic in the patch emits `topicUpdated`.
    pub fn update_thread(
        &self,
        caller: &CommunicationUserId,
        id: &ThreadId,
        update: ThreadUpdate,
        now: DateTime<Utc>,
    ) -> Result<(), ChatError> {
        self.with_member(id, caller, |t| {
            // Everything that can fail comes first, so a refused update changes nothing.
            let merged = update
                .metadata
                .map(|patch| merge_metadata(t.metadata.as_ref(), patch));
            if let Some(Some(m)) = &merged
                && metadata_size(m) > METADATA_LIMIT_BYTES
            {
                return Err(ChatError::MetadataTooLarge);
            }
            if let Some(topic) = update.topic {
                self.append(
                    t,
                    MessageType::TopicUpdated,
                    now,
                    Body::System(Box::new(SystemContent {
                        initiator: CommunicationIdentifier::User(caller.clone()),
                        topic: Some(topic.clone()),
                        participants: Vec::new(),
                    })),
                )?;
                t.topic = topic;
            }
            if let Some(merged) = merged {
                t.metadata = merged;
            }
            if let Some(policy) = update.retention_policy {
                t.retention_policy = policy;
            }
            Ok(())
        })
    }

    /// `DELETE /chat/threads/{id}`: idempotent for anyone who was a participant when it was
    /// deleted. `true` when this call deleted it, `false` when it was deleted already.
    pub fn delete_thread(
        &self,
        caller: &CommunicationUserId,
        id: &ThreadId,
        now: DateTime<Utc>,
    ) -> Result<bool, ChatError> {
        let thread = self.thread(id)?;
        let mut state = lock(&thread);
        if state.detached {
            return Err(ChatError::ThreadNotFound(id.clone()));
        }
        if state.member(caller).is_none() {
            return Err(ChatError::NotParticipant);
        }
        if state.deleted_on.is_some() {
            return Ok(false);
        }
        state.deleted_on = Some(now);
        self.tombstones.fetch_add(1, Ordering::AcqRel);
        // The tombstone keeps only what re-deletion needs; its messages give their room back.
        self.message_count.sub(state.messages.len());
        state.messages = Vec::new();
        state.senders = Vec::new();
        state.receipts.clear();
        for user in state.participants.iter().filter_map(|p| p.id.as_user()) {
            self.unindex_user(user, id);
        }
        Ok(true)
    }

    /// `GET /chat/threads`: the caller's live threads, newest activity first (ties by id,
    /// descending), with activity at or after `start_time`, after `cursor`.
    ///
    /// Costs O(k log k) for a caller in k threads.
    pub fn list_threads(
        &self,
        caller: &CommunicationUserId,
        start_time: Option<DateTime<Utc>>,
        cursor: Option<&ThreadCursor>,
        max: usize,
    ) -> (Vec<ThreadItem>, Option<ThreadCursor>) {
        let ids: Vec<ThreadId> = self
            .user_threads
            .get(caller)
            .map(|set| set.iter().cloned().collect())
            .unwrap_or_default();
        let mut items: Vec<ThreadItem> = ids
            .iter()
            .filter_map(|id| self.thread(id).ok())
            .filter_map(|thread| {
                let t = lock(&thread);
                (t.deleted_on.is_none() && t.member(caller).is_some()).then(|| ThreadItem {
                    id: t.id.clone(),
                    topic: t.topic.clone(),
                    deleted_on: t.deleted_on,
                    last_message_received_on: t.last_message_received_on,
                })
            })
            .filter(|item| start_time.is_none_or(|s| item.last_message_received_on >= s))
            .collect();
        let key = |i: &ThreadItem| (i.last_message_received_on.timestamp_millis(), i.id.clone());
        items.sort_by_key(|i| std::cmp::Reverse(key(i)));
        if let Some(c) = cursor {
            let after = (c.activity_ms, c.id.clone());
            items.retain(|i| key(i) < after);
        }
        let more = items.len() > max;
        items.truncate(max);
        let next = if more {
            items.last().map(|i| ThreadCursor {
                activity_ms: i.last_message_received_on.timestamp_millis(),
                id: i.id.clone(),
            })
        } else {
            None
        };
        (items, next)
    }

    /// `POST …/messages`: appends a user message; returns its id and sequence id.
    pub fn send_message(
        &self,
        caller: &CommunicationUserId,
        id: &ThreadId,
        message: NewMessage,
        now: DateTime<Utc>,
    ) -> Result<(ChatMessageId, u64), ChatError> {
        self.with_member(id, caller, |t| {
            // Room first, so a refused message does not add its sender to the sender table.
            self.reserve_message(t)?;
            let sender = t.sender_index(caller);
            let msg_id = self.next_id(now);
            let seq = t.push(
                msg_id,
                message.kind,
                now,
                Body::User {
                    content: message.content,
                    sender,
                    sender_display_name: message.sender_display_name,
                    metadata: message.metadata,
                },
            );
            Ok((ChatMessageId(msg_id), seq))
        })
    }

    /// `GET …/messages`: newest first, starting at sequence id `from` (inclusive; `None` = the
    /// newest), down to the first message at or after `start_time` and the caller's
    /// `shareHistoryTime`. Returns the page and the sequence id the next page starts at.
    ///
    /// O(page + log n): a page is a slice of the message vector.
    pub fn list_messages(
        &self,
        caller: &CommunicationUserId,
        id: &ThreadId,
        start_time: Option<DateTime<Utc>>,
        from: Option<u64>,
        max: usize,
    ) -> Result<(Vec<MessageView>, Option<u64>), ChatError> {
        self.with_member(id, caller, |t| {
            let share = t.member(caller).and_then(|p| p.share_history_time);
            let bound = match (start_time, share) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            let low = t.first_seq_at_or_after(bound);
            let newest = t.messages.len() as u64;
            let high = from.map_or(newest, |f| f.min(newest));
            if high < low {
                return Ok((Vec::new(), None));
            }
            let count = (high - low + 1).min(max as u64);
            let page: Vec<MessageView> = (0..count).map(|i| t.view(high - i)).collect();
            let next_from = high - count;
            let next = (next_from >= low && next_from >= 1).then_some(next_from);
            Ok((page, next))
        })
    }

    /// `GET …/messages/{messageId}`.
    pub fn get_message(
        &self,
        caller: &CommunicationUserId,
        id: &ThreadId,
        message: ChatMessageId,
    ) -> Result<MessageView, ChatError> {
        self.with_member(id, caller, |t| {
            let seq = t.visible_seq(caller, message)?;
            Ok(t.view(seq))
        })
    }

    /// `PATCH …/messages/{messageId}`: only the sender, only live user messages. Bumps
    /// `version` and sets `editedOn`.
    pub fn update_message(
        &self,
        caller: &CommunicationUserId,
        id: &ThreadId,
        message: ChatMessageId,
        content: Option<String>,
        metadata: Option<Option<MetadataPatch>>,
        now: DateTime<Utc>,
    ) -> Result<(), ChatError> {
        self.with_member(id, caller, |t| {
            let seq = t.visible_seq(caller, message)?;
            let idx = (seq - 1) as usize;
            let sender_idx = match &t.messages[idx].body {
                Body::User { sender, .. } => *sender,
                Body::System(_) => return Err(ChatError::NotSender),
            };
            if t.senders.get(sender_idx as usize) != Some(caller) {
                return Err(ChatError::NotSender);
            }
            if t.messages[idx].deleted_on.is_some() {
                return Err(ChatError::MessageNotFound(message));
            }
            // The merged metadata must fit before anything changes.
            let merged = match (&t.messages[idx].body, metadata) {
                (Body::User { metadata: md, .. }, Some(patch)) => {
                    let merged = merge_metadata(md.as_ref(), patch);
                    if merged
                        .as_ref()
                        .is_some_and(|m| metadata_size(m) > METADATA_LIMIT_BYTES)
                    {
                        return Err(ChatError::MetadataTooLarge);
                    }
                    Some(merged)
                }
                _ => None,
            };
            let version = self.next_id(now);
            let m = &mut t.messages[idx];
            if let Body::User {
                content: c,
                metadata: md,
                ..
            } = &mut m.body
            {
                if let Some(new) = content {
                    *c = new;
                }
                if let Some(merged) = merged {
                    *md = merged;
                }
            }
            m.version = version;
            m.edited_on = Some(now);
            Ok(())
        })
    }

    /// `DELETE …/messages/{messageId}`: only the sender; idempotent. `true` when this call
    /// deleted it.
    pub fn delete_message(
        &self,
        caller: &CommunicationUserId,
        id: &ThreadId,
        message: ChatMessageId,
        now: DateTime<Utc>,
    ) -> Result<bool, ChatError> {
        self.with_member(id, caller, |t| {
            let seq = t.visible_seq(caller, message)?;
            let idx = (seq - 1) as usize;
            match &t.messages[idx].body {
                Body::User { sender, .. } if t.senders.get(*sender as usize) == Some(caller) => {}
                _ => return Err(ChatError::NotSender),
            }
            let m = &mut t.messages[idx];
            if m.deleted_on.is_some() {
                return Ok(false);
            }
            m.deleted_on = Some(now);
            Ok(true)
        })
    }

    /// `GET …/participants`: `skip` then at most `max`, in the order they joined; also whether
    /// more follow.
    pub fn list_participants(
        &self,
        caller: &CommunicationUserId,
        id: &ThreadId,
        skip: usize,
        max: usize,
    ) -> Result<(Vec<Participant>, bool), ChatError> {
        self.with_member(id, caller, |t| {
            let page: Vec<Participant> = t
                .participants
                .iter()
                .skip(skip)
                .take(max)
                .cloned()
                .collect();
            let more = t.participants.len() > skip.saturating_add(max);
            Ok((page, more))
        })
    }

    /// `POST …/participants/:add`: adds the ones not already there (others are a no-op) and
    /// emits one `participantAdded` listing the new ones, which it returns.
    pub fn add_participants(
        &self,
        caller: &CommunicationUserId,
        id: &ThreadId,
        participants: Vec<Participant>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Participant>, ChatError> {
        self.with_member(id, caller, |t| {
            let mut added = Vec::new();
            for p in participants {
                if t.participant_index(&p.id).is_none()
                    && !added.iter().any(|q: &Participant| q.id == p.id)
                {
                    added.push(p);
                }
            }
            if added.is_empty() {
                return Ok(added);
            }
            let max = self.limits.participants_per_thread;
            if t.participants.len() + added.len() > max {
                return Err(ChatError::ParticipantsFull(max));
            }
            self.append(
                t,
                MessageType::ParticipantAdded,
                now,
                Body::System(Box::new(SystemContent {
                    initiator: CommunicationIdentifier::User(caller.clone()),
                    topic: None,
                    participants: added.clone(),
                })),
            )?;
            t.participants.extend(added.iter().cloned());
            for user in added.iter().filter_map(|p| p.id.as_user()) {
                self.index_user(user, id);
            }
            Ok(added)
        })
    }

    /// `POST …/participants/:remove`: removes `target` (a no-op if absent) and emits
    /// `participantRemoved`. The removed user loses access at once. Returns the removed
    /// participant (`None` if it was not there).
    pub fn remove_participant(
        &self,
        caller: &CommunicationUserId,
        id: &ThreadId,
        target: &CommunicationIdentifier,
        now: DateTime<Utc>,
    ) -> Result<Option<Participant>, ChatError> {
        self.with_member(id, caller, |t| {
            let Some(idx) = t.participant_index(target) else {
                return Ok(None);
            };
            // The system message goes first: when the thread is full nothing changes.
            self.append(
                t,
                MessageType::ParticipantRemoved,
                now,
                Body::System(Box::new(SystemContent {
                    initiator: CommunicationIdentifier::User(caller.clone()),
                    topic: None,
                    participants: vec![t.participants[idx].clone()],
                })),
            )?;
            let removed = t.participants.remove(idx);
            t.receipts.remove(&removed.id.raw_id());
            if let Some(user) = removed.id.as_user() {
                self.unindex_user(user, id);
            }
            Ok(Some(removed))
        })
    }

    /// `POST …/readReceipts`: records that the caller read up to `message`. A receipt for an
    /// older message than the caller's latest one does not move it back.
    pub fn send_read_receipt(
        &self,
        caller: &CommunicationUserId,
        id: &ThreadId,
        message: ChatMessageId,
        now: DateTime<Utc>,
    ) -> Result<(), ChatError> {
        self.with_member(id, caller, |t| {
            let seq = t.visible_seq(caller, message)?;
            let key = caller.to_string();
            let keep_old = t.receipts.get(&key).is_some_and(|r| r.sequence_id > seq);
            if !keep_old {
                t.receipts.insert(
                    key,
                    ReadReceipt {
                        sender: caller.clone(),
                        message_id: message,
                        read_on: now,
                        sequence_id: seq,
                    },
                );
            }
            Ok(())
        })
    }

    /// `GET …/readReceipts`: the latest receipt per participant; `skip` then at most `max`.
    pub fn list_read_receipts(
        &self,
        caller: &CommunicationUserId,
        id: &ThreadId,
        skip: usize,
        max: usize,
    ) -> Result<(Vec<ReadReceipt>, bool), ChatError> {
        self.with_member(id, caller, |t| {
            let page: Vec<ReadReceipt> =
                t.receipts.values().skip(skip).take(max).cloned().collect();
            let more = t.receipts.len() > skip.saturating_add(max);
            Ok((page, more))
        })
    }

    /// `POST …/typing`: only checks that the caller may post to the thread.
    pub fn check_participant(
        &self,
        caller: &CommunicationUserId,
        id: &ThreadId,
    ) -> Result<(), ChatError> {
        self.with_member(id, caller, |_| Ok(()))
    }

    /// Every thread (deleted ones included) with its participants and message count, oldest
    /// first, at most `limit` (control API; no membership check).
    pub fn inspect_threads(&self, limit: usize) -> Vec<(ThreadProps, Vec<Participant>, u64)> {
        let mut all: Vec<(ThreadProps, Vec<Participant>, u64)> = self
            .threads
            .iter()
            .map(|t| {
                let t = lock(t.value());
                (t.props(), t.participants.clone(), t.messages.len() as u64)
            })
            .collect();
        all.sort_by(|a, b| {
            a.0.created_on
                .cmp(&b.0.created_on)
                .then(a.0.id.cmp(&b.0.id))
        });
        all.truncate(limit);
        all
    }

    /// A thread's messages, oldest first, the newest `limit` of them (control API; no
    /// membership check, deleted messages included).
    pub fn inspect_messages(
        &self,
        id: &ThreadId,
        limit: usize,
    ) -> Result<Vec<MessageView>, ChatError> {
        let thread = self.thread(id)?;
        let t = lock(&thread);
        let newest = t.messages.len() as u64;
        let first = newest.saturating_sub(limit as u64) + 1;
        Ok((first..=newest).map(|seq| t.view(seq)).collect())
    }

    /// A thread's properties and participants, whoever asks and deleted threads included (a
    /// tombstone keeps its participants): what events need after an operation.
    pub fn snapshot(&self, id: &ThreadId) -> Option<(ThreadProps, Vec<Participant>)> {
        let thread = self.thread(id).ok()?;
        let state = lock(&thread);
        Some((state.props(), state.participants.clone()))
    }

    /// Whether a thread with this id exists (deleted or not).
    pub fn contains(&self, id: &ThreadId) -> bool {
        self.threads.contains_key(id)
    }

    /// Number of threads, tombstones included.
    pub fn len(&self) -> usize {
        self.threads.len()
    }

    /// Whether there are no threads.
    pub fn is_empty(&self) -> bool {
        self.threads.is_empty()
    }

    /// Number of messages in live threads, system messages included.
    pub fn message_count(&self) -> usize {
        self.message_count.get()
    }

    /// Messages actually stored, counted by walking every thread (O(threads)): for tests and
    /// diagnostics, to check [`Self::message_count`] against.
    pub fn stored_messages(&self) -> usize {
        let threads: Vec<Arc<Mutex<ThreadState>>> =
            self.threads.iter().map(|t| Arc::clone(&t)).collect();
        threads.iter().map(|t| lock(t).messages.len()).sum()
    }

    /// Forgets every thread. Each removed thread is detached under its lock and gives back
    /// exactly its room, so a request racing the reset either lands before (and is counted
    /// and given back) or finds the thread gone; a create racing it keeps its reservation.
    pub fn clear(&self) {
        let (mut threads, mut messages, mut tombstones) = (0, 0, 0);
        self.threads.retain(|_, thread| {
            let mut t = lock(thread);
            threads += 1;
            messages += t.messages.len();
            tombstones += usize::from(t.deleted_on.is_some());
            t.detached = true;
            t.messages = Vec::new();
            false
        });
        self.thread_count.sub(threads);
        self.message_count.sub(messages);
        self.tombstones.fetch_sub(tombstones, Ordering::AcqRel);
        self.user_threads.clear();
        self.repeatability.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;
    use uuid::Uuid;

    fn user() -> CommunicationUserId {
        CommunicationUserId::generate(Uuid::new_v4())
    }

    fn new_thread(topic: &str, others: &[&CommunicationUserId]) -> NewThread {
        NewThread {
            id: None,
            topic: topic.into(),
            participants: others
                .iter()
                .map(|u| Participant {
                    id: CommunicationIdentifier::User((*u).clone()),
                    display_name: None,
                    share_history_time: None,
                    metadata: None,
                })
                .collect(),
            metadata: None,
            retention_policy: None,
        }
    }

    fn text(content: &str) -> NewMessage {
        NewMessage {
            content: content.into(),
            kind: MessageType::Text,
            sender_display_name: None,
            metadata: None,
        }
    }

    #[test]
    fn ids_are_unique_and_increasing_within_one_millisecond() {
        let store = ChatStore::default();
        let now = Utc::now();
        let ids: Vec<u64> = (0..1000).map(|_| store.next_id(now)).collect();
        assert!(ids.windows(2).all(|w| w[1] == w[0] + 1));
        assert_eq!(ids[0], now.timestamp_millis() as u64);
    }

    #[test]
    fn creating_a_thread_emits_participant_added_then_topic_updated() {
        let store = ChatStore::default();
        let (a, b) = (user(), user());
        let (t, created) = store
            .create_thread(&a, new_thread("T", &[&b]), None, Utc::now())
            .expect("created");
        assert!(created);
        let (page, next) = store
            .list_messages(&b, &t.id, None, None, 10)
            .expect("member");
        assert_eq!(next, None);
        let kinds: Vec<_> = page.iter().map(|m| (m.sequence_id, m.kind)).collect();
        assert_eq!(
            kinds,
            vec![
                (2, MessageType::TopicUpdated),
                (1, MessageType::ParticipantAdded)
            ]
        );
        let added = page[1].system.as_ref().expect("system");
        assert_eq!(added.participants.len(), 2);
        assert_eq!(added.initiator, CommunicationIdentifier::User(a.clone()));
    }

    #[test]
    fn paging_is_a_descending_walk_that_ignores_newer_messages() {
        let store = ChatStore::default();
        let a = user();
        let (t, _) = store
            .create_thread(&a, new_thread("T", &[]), None, Utc::now())
            .expect("created");
        for i in 0..10 {
            store
                .send_message(&a, &t.id, text(&i.to_string()), Utc::now())
                .expect("sent");
        }
        let (p1, next) = store.list_messages(&a, &t.id, None, None, 5).expect("ok");
        assert_eq!(p1.first().map(|m| m.sequence_id), Some(12));
        assert_eq!(next, Some(7));
        store
            .send_message(&a, &t.id, text("late"), Utc::now())
            .expect("sent");
        let (p2, next) = store.list_messages(&a, &t.id, None, next, 5).expect("ok");
        assert_eq!(
            p2.iter().map(|m| m.sequence_id).collect::<Vec<_>>(),
            vec![7, 6, 5, 4, 3]
        );
        let (p3, next) = store.list_messages(&a, &t.id, None, next, 5).expect("ok");
        assert_eq!(
            p3.iter().map(|m| m.sequence_id).collect::<Vec<_>>(),
            vec![2, 1]
        );
        assert_eq!(next, None);
    }

    #[test]
    fn created_on_never_decreases_when_the_clock_goes_back() {
        let store = ChatStore::default();
        let a = user();
        let now = Utc::now();
        let (t, _) = store
            .create_thread(&a, new_thread("T", &[]), None, now)
            .expect("created");
        store
            .send_message(&a, &t.id, text("x"), now - TimeDelta::hours(1))
            .expect("sent");
        let m = store.list_messages(&a, &t.id, None, None, 1).expect("ok").0;
        assert_eq!(m[0].created_on, now);
    }

    #[test]
    fn non_participants_and_deleted_threads_are_refused() {
        let store = ChatStore::default();
        let (a, b) = (user(), user());
        let (t, _) = store
            .create_thread(&a, new_thread("T", &[]), None, Utc::now())
            .expect("created");
        assert_eq!(store.get_thread(&b, &t.id), Err(ChatError::NotParticipant));
        store.delete_thread(&a, &t.id, Utc::now()).expect("deleted");
        assert_eq!(
            store.get_thread(&a, &t.id),
            Err(ChatError::ThreadNotFound(t.id.clone()))
        );
        assert_eq!(store.delete_thread(&a, &t.id, Utc::now()), Ok(false));
        assert!(store.list_threads(&a, None, None, 10).0.is_empty());
    }

    #[test]
    fn repeatability_returns_the_same_thread_per_creator() {
        let store = ChatStore::default();
        let (a, b) = (user(), user());
        let now = Utc::now();
        let (t1, c1) = store
            .create_thread(&a, new_thread("T", &[]), Some("k".into()), now)
            .expect("created");
        let (t2, c2) = store
            .create_thread(&a, new_thread("T", &[]), Some("k".into()), now)
            .expect("created");
        let (t3, _) = store
            .create_thread(&b, new_thread("T", &[]), Some("k".into()), now)
            .expect("created");
        assert!(c1 && !c2);
        assert_eq!(t1.id, t2.id);
        assert_ne!(t1.id, t3.id);
    }

    fn limited(threads: usize, messages: usize, per_thread: usize, people: usize) -> ChatStore {
        ChatStore::with_limits(ChatLimits {
            threads,
            messages,
            messages_per_thread: per_thread,
            participants_per_thread: people,
        })
    }

    #[test]
    fn a_full_thread_table_drops_tombstones_before_it_refuses() {
        let store = limited(2, 100, 100, 10);
        let a = user();
        let now = Utc::now();
        let (t1, _) = store
            .create_thread(&a, new_thread("1", &[]), Some("k1".into()), now)
            .expect("room");
        store
            .create_thread(&a, new_thread("2", &[]), None, now)
            .expect("room");
        assert_eq!(
            store.create_thread(&a, new_thread("3", &[]), None, now),
            Err(ChatError::ThreadsFull(2))
        );
        store.delete_thread(&a, &t1.id, now).expect("deleted");
        store
            .create_thread(&a, new_thread("3", &[]), None, now)
            .expect("the tombstone made room");
        assert_eq!(store.len(), 2);
        // The dropped thread's repeatability record went with it.
        assert!(store.repeatability.is_empty());
        assert_eq!(
            store.get_thread(&a, &t1.id),
            Err(ChatError::ThreadNotFound(t1.id.clone()))
        );
    }

    #[test]
    fn a_full_thread_refuses_every_message_and_changes_nothing() {
        let store = limited(10, 100, 4, 10);
        let (a, b) = (user(), user());
        let now = Utc::now();
        let (t, _) = store
            .create_thread(&a, new_thread("T", &[&b]), None, now)
            .expect("room");
        store.send_message(&a, &t.id, text("1"), now).expect("3rd");
        store.send_message(&b, &t.id, text("2"), now).expect("4th");
        assert_eq!(
            store.send_message(&a, &t.id, text("3"), now),
            Err(ChatError::ThreadMessagesFull(4))
        );
        let update = ThreadUpdate {
            topic: Some("new".into()),
            metadata: Some(Some(MetadataPatch::from([("k".into(), Some("v".into()))]))),
            ..ThreadUpdate::default()
        };
        assert_eq!(
            store.update_thread(&a, &t.id, update, now),
            Err(ChatError::ThreadMessagesFull(4))
        );
        let props = store.get_thread(&a, &t.id).expect("member");
        assert_eq!((props.topic.as_str(), props.metadata), ("T", None));
        let target = CommunicationIdentifier::User(b.clone());
        assert_eq!(
            store.remove_participant(&a, &t.id, &target, now),
            Err(ChatError::ThreadMessagesFull(4))
        );
        assert!(store.get_thread(&b, &t.id).is_ok(), "b is still a member");
        let (page, _) = store.list_messages(&a, &t.id, None, None, 10).expect("ok");
        assert_eq!(page.len(), 4);
        assert_eq!(store.message_count(), 4);
    }

    #[test]
    fn the_message_total_spans_threads_and_a_deleted_thread_frees_its_share() {
        let store = limited(10, 5, 100, 10);
        let a = user();
        let now = Utc::now();
        let (t1, _) = store
            .create_thread(&a, new_thread("1", &[]), None, now)
            .expect("room");
        let (t2, _) = store
            .create_thread(&a, new_thread("2", &[]), None, now)
            .expect("room");
        store
            .send_message(&a, &t2.id, text("5th"), now)
            .expect("room");
        assert_eq!(
            store.send_message(&a, &t1.id, text("6th"), now),
            Err(ChatError::MessagesFull(5))
        );
        assert_eq!(
            store.create_thread(&a, new_thread("3", &[]), None, now),
            Err(ChatError::MessagesFull(5))
        );
        assert_eq!(store.len(), 2, "the refused thread took no room");
        store.delete_thread(&a, &t2.id, now).expect("deleted");
        assert_eq!(store.message_count(), 2);
        store
            .send_message(&a, &t1.id, text("again"), now)
            .expect("room");
        store
            .create_thread(&a, new_thread("3", &[]), None, now)
            .expect("room");
        assert_eq!(store.message_count(), 5);
    }

    #[test]
    fn participants_are_capped_per_thread_and_a_refused_add_adds_nobody() {
        let store = limited(10, 100, 100, 3);
        let a = user();
        let others: Vec<CommunicationUserId> = (0..3).map(|_| user()).collect();
        let refs: Vec<&CommunicationUserId> = others.iter().collect();
        let now = Utc::now();
        assert_eq!(
            store.create_thread(&a, new_thread("T", &refs), None, now),
            Err(ChatError::ParticipantsFull(3))
        );
        let (t, _) = store
            .create_thread(&a, new_thread("T", &refs[..1]), None, now)
            .expect("creator plus one");
        let participant = |u: &CommunicationUserId| Participant {
            id: CommunicationIdentifier::User(u.clone()),
            display_name: None,
            share_history_time: None,
            metadata: None,
        };
        let two = vec![participant(&others[1]), participant(&others[2])];
        assert_eq!(
            store.add_participants(&a, &t.id, two, now),
            Err(ChatError::ParticipantsFull(3))
        );
        let (listed, _) = store.list_participants(&a, &t.id, 0, 10).expect("ok");
        assert_eq!(listed.len(), 2);
        // Adding someone already there takes no room.
        let again = vec![participant(&others[0]), participant(&others[1])];
        store
            .add_participants(&a, &t.id, again, now)
            .expect("one new");
        assert_eq!(
            store
                .list_participants(&a, &t.id, 0, 10)
                .expect("ok")
                .0
                .len(),
            3
        );
    }

    #[test]
    fn parallel_senders_stop_exactly_at_the_caps() {
        for (per_thread, total) in [(12, 1000), (1000, 12)] {
            let store = Arc::new(limited(10, total, per_thread, 10));
            let a = user();
            let (t, _) = store
                .create_thread(&a, new_thread("T", &[]), None, Utc::now())
                .expect("room");
            let senders: Vec<_> = (0..32)
                .map(|_| {
                    let (store, a, id) = (store.clone(), a.clone(), t.id.clone());
                    std::thread::spawn(move || {
                        store.send_message(&a, &id, text("x"), Utc::now()).is_ok()
                    })
                })
                .collect();
            let sent = senders
                .into_iter()
                .map(|s| s.join().expect("thread"))
                .filter(|ok| *ok)
                .count();
            assert_eq!(sent, 10, "per thread {per_thread}, total {total}");
            let (page, _) = store.list_messages(&a, &t.id, None, None, 100).expect("ok");
            assert_eq!(page.len(), 12);
            assert_eq!(store.message_count(), 12);
        }
    }

    #[test]
    fn clearing_gives_all_room_back_and_detaches_threads_held_by_requests() {
        let store = limited(1, 3, 100, 10);
        let a = user();
        let now = Utc::now();
        let (t, _) = store
            .create_thread(&a, new_thread("T", &[]), Some("k".into()), now)
            .expect("room");
        let held = store.thread(&t.id).expect("exists");
        store.clear();
        assert_eq!(store.message_count(), 0);
        // A request that fetched the thread before the reset finds it gone.
        {
            let state = lock(&held);
            assert_eq!(
                state.check_member(&a).map(|_| ()),
                Err(ChatError::ThreadNotFound(t.id.clone()))
            );
            assert!(state.messages.is_empty());
        }
        let (again, created) = store
            .create_thread(&a, new_thread("T", &[]), Some("k".into()), now)
            .expect("room after the reset");
        assert!(created && again.id != t.id);
        store
            .send_message(&a, &again.id, text("3rd"), now)
            .expect("room");
        assert_eq!(
            store.send_message(&a, &again.id, text("4th"), now),
            Err(ChatError::MessagesFull(3))
        );
    }

    #[test]
    fn counts_stay_exact_when_clears_race_writers() {
        let store = Arc::new(limited(50, 400, 100, 10));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writers: Vec<_> = (0..4)
            .map(|_| {
                let (store, stop) = (store.clone(), stop.clone());
                std::thread::spawn(move || {
                    let a = user();
                    while !stop.load(Ordering::Relaxed) {
                        let Ok((t, _)) =
                            store.create_thread(&a, new_thread("T", &[]), None, Utc::now())
                        else {
                            continue;
                        };
                        for _ in 0..5 {
                            let _ = store.send_message(&a, &t.id, text("x"), Utc::now());
                        }
                        let _ = store.delete_thread(&a, &t.id, Utc::now());
                    }
                })
            })
            .collect();
        for _ in 0..300 {
            store.clear();
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            w.join().expect("writer");
        }
        assert_eq!(store.message_count(), store.stored_messages());
        assert_eq!(store.thread_count.get(), store.len());
        let tombstones = store
            .threads
            .iter()
            .filter(|t| lock(t.value()).deleted_on.is_some())
            .count();
        assert_eq!(store.tombstones.load(Ordering::Acquire), tombstones);
    }
}
