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
//! Lock order: a thread's mutex may be taken while touching `user_threads` or `repeatability`
//! entries, never the reverse. No actix, no serde_json.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use dashmap::DashMap;
use dashmap::mapref::entry::Entry;

use crate::domain::{ChatMessageId, CommunicationIdentifier, CommunicationUserId, ThreadId};

/// Name/value metadata (threads, participants, messages).
pub type Metadata = BTreeMap<String, String>;

/// A JSON merge-patch of metadata: `None` values delete their key.
pub type MetadataPatch = BTreeMap<String, Option<String>>;

/// Thread and participant metadata may hold at most this many bytes (keys plus values), as the
/// spec states ("up to 1KB").
pub const METADATA_LIMIT_BYTES: usize = 1024;

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
    /// Thread metadata over [`METADATA_LIMIT_BYTES`] after applying a patch.
    #[error("metadata is limited to {METADATA_LIMIT_BYTES} bytes in total")]
    MetadataTooLarge,
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
        if self.deleted_on.is_some() {
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
}

fn lock(thread: &Mutex<ThreadState>) -> MutexGuard<'_, ThreadState> {
    // A panic while holding the lock leaves a consistent-enough state for an emulator.
    thread
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl ChatStore {
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
    }

    /// Creates a thread with the caller as creator and participant, emitting `participantAdded`
    /// and `topicUpdated`. With a `repeatability` key already used by this caller, returns the
    /// thread that first request created instead (second value `false`).
    pub fn create_thread(
        &self,
        caller: &CommunicationUserId,
        new: NewThread,
        repeatability: Option<String>,
        now: DateTime<Utc>,
    ) -> (ThreadProps, bool) {
        let Some(key) = repeatability else {
            return (self.insert_thread(caller, new, now), true);
        };
        match self.repeatability.entry((caller.clone(), key)) {
            Entry::Occupied(existing) => {
                let id = existing.get().clone();
                drop(existing);
                match self.thread(&id) {
                    Ok(thread) => (lock(&thread).props(), false),
                    // Forgotten by a reset between the two requests: create afresh.
                    Err(_) => (self.insert_thread(caller, new, now), true),
                }
            }
            Entry::Vacant(slot) => {
                let props = self.insert_thread(caller, new, now);
                slot.insert(props.id.clone());
                (props, true)
            }
        }
    }

    fn insert_thread(
        &self,
        caller: &CommunicationUserId,
        new: NewThread,
        now: DateTime<Utc>,
    ) -> ThreadProps {
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
        let mut state = ThreadState {
            id: id.clone(),
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
        self.threads.insert(id.clone(), Arc::new(Mutex::new(state)));
        for user in &users {
            self.index_user(user, &id);
        }
        props
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
            if let Some(patch) = update.metadata {
                let merged = merge_metadata(t.metadata.as_ref(), patch);
                if merged
                    .as_ref()
                    .is_some_and(|m| metadata_size(m) > METADATA_LIMIT_BYTES)
                {
                    return Err(ChatError::MetadataTooLarge);
                }
                t.metadata = merged;
            }
            if let Some(policy) = update.retention_policy {
                t.retention_policy = policy;
            }
            if let Some(topic) = update.topic {
                t.topic = topic.clone();
                let msg_id = self.next_id(now);
                t.push(
                    msg_id,
                    MessageType::TopicUpdated,
                    now,
                    Body::System(Box::new(SystemContent {
                        initiator: CommunicationIdentifier::User(caller.clone()),
                        topic: Some(topic),
                        participants: Vec::new(),
                    })),
                );
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
        if state.member(caller).is_none() {
            return Err(ChatError::NotParticipant);
        }
        if state.deleted_on.is_some() {
            return Ok(false);
        }
        state.deleted_on = Some(now);
        // The tombstone keeps only what re-deletion needs.
        state.messages = Vec::new();
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
                if let Some(patch) = metadata {
                    *md = merge_metadata(md.as_ref(), patch);
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
            t.participants.extend(added.iter().cloned());
            for user in added.iter().filter_map(|p| p.id.as_user()) {
                self.index_user(user, id);
            }
            let msg_id = self.next_id(now);
            t.push(
                msg_id,
                MessageType::ParticipantAdded,
                now,
                Body::System(Box::new(SystemContent {
                    initiator: CommunicationIdentifier::User(caller.clone()),
                    topic: None,
                    participants: added.clone(),
                })),
            );
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
            let removed = t.participants.remove(idx);
            t.receipts.remove(&removed.id.raw_id());
            if let Some(user) = removed.id.as_user() {
                self.unindex_user(user, id);
            }
            let msg_id = self.next_id(now);
            t.push(
                msg_id,
                MessageType::ParticipantRemoved,
                now,
                Body::System(Box::new(SystemContent {
                    initiator: CommunicationIdentifier::User(caller.clone()),
                    topic: None,
                    participants: vec![removed.clone()],
                })),
            );
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

    /// Forgets every thread.
    pub fn clear(&self) {
        self.threads.clear();
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
        let (t, created) = store.create_thread(&a, new_thread("T", &[&b]), None, Utc::now());
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
        let (t, _) = store.create_thread(&a, new_thread("T", &[]), None, Utc::now());
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
        let (t, _) = store.create_thread(&a, new_thread("T", &[]), None, now);
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
        let (t, _) = store.create_thread(&a, new_thread("T", &[]), None, Utc::now());
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
        let (t1, c1) = store.create_thread(&a, new_thread("T", &[]), Some("k".into()), now);
        let (t2, c2) = store.create_thread(&a, new_thread("T", &[]), Some("k".into()), now);
        let (t3, _) = store.create_thread(&b, new_thread("T", &[]), Some("k".into()), now);
        assert!(c1 && !c2);
        assert_eq!(t1.id, t2.id);
        assert_ne!(t1.id, t3.id);
    }
}
