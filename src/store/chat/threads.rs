//! Thread operations: create (with repeatability), get, update, delete, list.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use dashmap::mapref::entry::Entry;

use super::thread::{Body, ThreadState, lock};
use super::*;
use crate::store::changes::{Area, Sink};

impl ChatStore {
    /// Creates a thread with the caller as creator and participant, emitting `participantAdded`
    /// and `topicUpdated`, and publishes [`ChatChangeKind::ThreadCreated`]. With a
    /// `repeatability` key already used by this caller, returns the thread that first request
    /// created instead (second value `false`; nothing is published).
    ///
    /// Fails when the thread would have too many participants, or when there is no room for
    /// one more thread or its two system messages.
    pub fn create_thread(
        &self,
        caller: &CommunicationUserId,
        new: NewThread,
        repeatability: Option<String>,
        now: DateTime<Utc>,
        sink: Sink<'_>,
    ) -> Result<(ThreadProps, bool), ChatError> {
        // Outside any repeatability entry: dropping tombstones takes repeatability entries.
        if self.thread_count.get() >= self.limits.threads
            && self.tombstones.load(Ordering::Acquire) > 0
        {
            self.drop_tombstones();
        }
        let Some(key) = repeatability else {
            return Ok((self.insert_thread(caller, new, None, now, sink)?, true));
        };
        let key = (caller.clone(), key);
        match self.repeatability.entry(key.clone()) {
            Entry::Occupied(mut existing) => {
                if let Ok(thread) = self.thread(existing.get()) {
                    return Ok((lock(&thread).props(), false));
                }
                // Forgotten (dropped as a tombstone, or reset) between the two requests:
                // create afresh.
                let props = self.insert_thread(caller, new, Some(key), now, sink)?;
                existing.insert(props.id.clone());
                Ok((props, true))
            }
            Entry::Vacant(slot) => {
                let props = self.insert_thread(caller, new, Some(key), now, sink)?;
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
        sink: Sink<'_>,
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
            props: Arc::new(ThreadProps {
                id: id.clone(),
                topic: new.topic.clone(),
                created_on: now,
                created_by: caller.clone(),
                deleted_on: None,
                metadata: new.metadata,
                retention_policy: new.retention_policy,
            }),
            repeatability,
            detached: false,
            participants: Arc::new(participants.clone()),
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
        // Published before the thread is reachable, so before any change to it.
        sink.publish(Area::Chat, || {
            state.change_appending(caller, now, ChatChangeKind::ThreadCreated, 0)
        });
        if let Some(replaced) = self.threads.insert(id.clone(), Arc::new(Mutex::new(state))) {
            // A given id already in use (fixtures check that it is not): the old thread is gone,
            // and gives its room back.
            let mut old = lock(&replaced);
            self.thread_count.sub(1);
            self.message_count.sub(old.messages.len());
            if old.is_deleted() {
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

    /// `PATCH /chat/threads/{id}`; a topic in the patch emits `topicUpdated`. Publishes
    /// [`ChatChangeKind::ThreadUpdated`].
    pub fn update_thread(
        &self,
        caller: &CommunicationUserId,
        id: &ThreadId,
        update: ThreadUpdate,
        now: DateTime<Utc>,
        sink: Sink<'_>,
    ) -> Result<(), ChatError> {
        self.with_member(id, caller, |t| {
            let before = t.messages.len();
            // Everything that can fail comes first, so a refused update changes nothing.
            let merged = update
                .metadata
                .map(|patch| merge_metadata(t.props.metadata.as_ref(), patch));
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
                Arc::make_mut(&mut t.props).topic = topic;
            }
            if let Some(merged) = merged {
                Arc::make_mut(&mut t.props).metadata = merged;
            }
            if let Some(policy) = update.retention_policy {
                Arc::make_mut(&mut t.props).retention_policy = policy;
            }
            sink.publish(Area::Chat, || {
                t.change_appending(caller, now, ChatChangeKind::ThreadUpdated, before)
            });
            Ok(())
        })
    }

    /// `DELETE /chat/threads/{id}`: idempotent for anyone who was a participant when it was
    /// deleted. `true` when this call deleted it (and published
    /// [`ChatChangeKind::ThreadDeleted`]), `false` when it was deleted already.
    pub fn delete_thread(
        &self,
        caller: &CommunicationUserId,
        id: &ThreadId,
        now: DateTime<Utc>,
        sink: Sink<'_>,
    ) -> Result<bool, ChatError> {
        let thread = self.thread(id)?;
        let mut state = lock(&thread);
        if state.detached {
            return Err(ChatError::ThreadNotFound(id.clone()));
        }
        if state.member(caller).is_none() {
            return Err(ChatError::NotParticipant);
        }
        if state.is_deleted() {
            return Ok(false);
        }
        Arc::make_mut(&mut state.props).deleted_on = Some(now);
        self.tombstones.fetch_add(1, Ordering::AcqRel);
        // The tombstone keeps only what re-deletion needs; its messages give their room back.
        self.message_count.sub(state.messages.len());
        state.messages = Vec::new();
        state.senders = Vec::new();
        state.receipts.clear();
        for user in state.participants.iter().filter_map(|p| p.id.as_user()) {
            self.unindex_user(user, id);
        }
        sink.publish(Area::Chat, || {
            state.change(caller, now, ChatChangeKind::ThreadDeleted)
        });
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
                (!t.is_deleted() && t.member(caller).is_some()).then(|| ThreadItem {
                    id: t.id().clone(),
                    topic: t.props.topic.clone(),
                    deleted_on: t.props.deleted_on,
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
}
