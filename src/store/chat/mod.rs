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
//! - Every write that changes what a client can observe publishes its change record
//!   ([`ChatChange`]: the thread's properties and participants, shared copy-on-write, and the
//!   message as stored) to the [`Sink`](crate::store::Sink) it is given, under the thread's
//!   mutex, once it can no longer fail: listeners hear of one thread's changes in commit order.
//!   A new thread is published just before it is inserted, when nothing else can reach it yet.
//!
//! Lock order: a thread's mutex may be taken while holding a `threads` shard (dropping
//! tombstones, clearing) or touching `user_threads` or `repeatability` entries; nothing takes a
//! map entry while holding a thread's mutex except `user_threads`, and `repeatability` entries
//! are never taken while a `threads` shard is held. Change listeners run under a thread's mutex
//! (and may be under a `repeatability` entry) and never call back into the store. No actix, no
//! serde_json.
//!
//! Layout: `model` (limits, errors, the values taken and returned), `change` (change records),
//! `thread` (one thread's state), and the operations in `threads`, `messages`, `participants`.

mod change;
mod messages;
mod model;
mod participants;
mod restore;
mod thread;
mod threads;

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use dashmap::DashMap;

pub use change::{ChatChange, ChatChangeKind, ThreadSnapshot};
pub use model::*;
pub use restore::RestoredThread;
use thread::{Body, ThreadState, lock};

use super::Counter;
use crate::domain::{ChatMessageId, CommunicationIdentifier, CommunicationUserId, ThreadId};

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
            if !t.is_deleted() {
                return true;
            }
            dropped.push((t.id().clone(), t.repeatability.clone()));
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
    /// Every thread (deleted ones included) with its participants and message count, oldest
    /// first, at most `limit` (control API; no membership check).
    pub fn inspect_threads(&self, limit: usize) -> Vec<(ThreadProps, Vec<Participant>, u64)> {
        let mut all: Vec<(ThreadProps, Vec<Participant>, u64)> = self
            .threads
            .iter()
            .map(|t| {
                let t = lock(t.value());
                (t.props(), t.participants.to_vec(), t.messages.len() as u64)
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

    /// A thread's read receipts for inspection (no membership check): the latest per
    /// participant, oldest read first.
    pub fn inspect_read_receipts(&self, id: &ThreadId) -> Result<Vec<ReadReceipt>, ChatError> {
        let thread = self.thread(id)?;
        let t = lock(&thread);
        let mut receipts: Vec<ReadReceipt> = t.receipts.values().cloned().collect();
        receipts.sort_by_key(|r| (r.read_on, r.sequence_id));
        Ok(receipts)
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
            tombstones += usize::from(t.is_deleted());
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
mod tests;
