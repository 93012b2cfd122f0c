//! The chat hooks: what the bus does after a chat operation.

use chrono::{DateTime, Utc};

use super::build::*;
use crate::domain::{ChatMessageId, CommunicationUserId, ThreadId};
use crate::events::EventBus;
use crate::events::event::{EventType, NewEvent};
use crate::store::{ChatStore, Participant};

/// The chat hooks: one call per successful chat operation, from its handler. Each looks up what
/// it needs in the store, builds the events only if a subscription wants them, and publishes.
pub struct ChatEvents<'a> {
    bus: &'a EventBus,
    store: &'a ChatStore,
    topic: String,
}

impl EventBus {
    /// The chat hooks of the resource called `resource`, whose chat state is `store`; events go
    /// out under the resource's topic ([`EventBus::topic_for`]).
    pub fn chat<'a>(&'a self, resource: &str, store: &'a ChatStore) -> ChatEvents<'a> {
        ChatEvents {
            bus: self,
            store,
            topic: self.topic_for(resource),
        }
    }
}

impl ChatEvents<'_> {
    /// Publishes under `topic` (an ARM id) instead of the resource's derived one.
    pub fn with_topic(self, topic: impl Into<String>) -> Self {
        Self {
            topic: topic.into(),
            ..self
        }
    }

    fn levels(&self, per_user: EventType, per_thread: EventType) -> Option<Levels> {
        let levels = Levels {
            per_user: self.bus.wants(per_user),
            per_thread: self.bus.wants(per_thread),
        };
        (levels.per_user || levels.per_thread).then_some(levels)
    }

    fn publish(&self, events: Vec<NewEvent>) {
        self.bus.publish(&self.topic, events);
    }

    fn now(&self) -> DateTime<Utc> {
        self.bus.inner.clock.now()
    }

    /// A thread was created (not a repeated create).
    pub fn thread_created(&self, thread: &ThreadId) {
        let Some(levels) = self.levels(
            EventType::ChatThreadCreatedWithUser,
            EventType::ChatThreadCreated,
        ) else {
            return;
        };
        if let Some((props, participants)) = self.store.snapshot(thread) {
            let txn = transaction_id(self.bus.next_uuid());
            let op = Operation {
                levels,
                txn: &txn,
                at: self.now(),
            };
            self.publish(thread_created_events(&props, &participants, op));
        }
    }

    /// `editor` updated the thread's properties.
    pub fn thread_updated(&self, thread: &ThreadId, editor: &CommunicationUserId) {
        let Some(levels) = self.levels(
            EventType::ChatThreadPropertiesUpdatedPerUser,
            EventType::ChatThreadPropertiesUpdated,
        ) else {
            return;
        };
        if let Some((props, participants)) = self.store.snapshot(thread) {
            let txn = transaction_id(self.bus.next_uuid());
            let op = Operation {
                levels,
                txn: &txn,
                at: self.now(),
            };
            self.publish(thread_updated_events(&props, &participants, editor, op));
        }
    }

    /// `deleter` deleted the thread (the first time).
    pub fn thread_deleted(&self, thread: &ThreadId, deleter: &CommunicationUserId) {
        let Some(levels) = self.levels(
            EventType::ChatThreadWithUserDeleted,
            EventType::ChatThreadDeleted,
        ) else {
            return;
        };
        if let Some((props, participants)) = self.store.snapshot(thread) {
            let txn = transaction_id(self.bus.next_uuid());
            let op = Operation {
                levels,
                txn: &txn,
                at: self.now(),
            };
            self.publish(thread_deleted_events(&props, &participants, deleter, op));
        }
    }

    fn message(
        &self,
        change: MessageChange,
        thread: &ThreadId,
        sender: &CommunicationUserId,
        message: ChatMessageId,
    ) {
        let (per_user, per_thread) = change.types();
        let Some(levels) = self.levels(per_user, per_thread) else {
            return;
        };
        let (Ok(view), Some((_, participants))) = (
            self.store.get_message(sender, thread, message),
            self.store.snapshot(thread),
        ) else {
            return;
        };
        let txn = transaction_id(self.bus.next_uuid());
        let op = Operation {
            levels,
            txn: &txn,
            at: self.now(),
        };
        self.publish(message_events(change, thread, &participants, &view, op));
    }

    /// `sender` sent `message`.
    pub fn message_sent(
        &self,
        thread: &ThreadId,
        sender: &CommunicationUserId,
        message: ChatMessageId,
    ) {
        self.message(MessageChange::Received, thread, sender, message);
    }

    /// `sender` edited `message`.
    pub fn message_edited(
        &self,
        thread: &ThreadId,
        sender: &CommunicationUserId,
        message: ChatMessageId,
    ) {
        self.message(MessageChange::Edited, thread, sender, message);
    }

    /// `sender` deleted `message` (the first time).
    pub fn message_deleted(
        &self,
        thread: &ThreadId,
        sender: &CommunicationUserId,
        message: ChatMessageId,
    ) {
        self.message(MessageChange::Deleted, thread, sender, message);
    }

    /// `by` added `added` (only those who were not participants yet).
    pub fn participants_added(
        &self,
        thread: &ThreadId,
        by: &CommunicationUserId,
        added: &[Participant],
    ) {
        if added.is_empty() {
            return;
        }
        let Some(levels) = self.levels(
            EventType::ChatParticipantAddedToThreadWithUser,
            EventType::ChatThreadParticipantAdded,
        ) else {
            return;
        };
        if let Some((props, participants)) = self.store.snapshot(thread) {
            let txn = transaction_id(self.bus.next_uuid());
            let op = Operation {
                levels,
                txn: &txn,
                at: self.now(),
            };
            self.publish(participant_events(
                ParticipantChange::Added,
                &props,
                &participants,
                by,
                added,
                op,
            ));
        }
    }

    /// `by` removed `removed` (`None`: it was not a participant, nothing happened).
    pub fn participant_removed(
        &self,
        thread: &ThreadId,
        by: &CommunicationUserId,
        removed: Option<&Participant>,
    ) {
        let Some(removed) = removed else {
            return;
        };
        let Some(levels) = self.levels(
            EventType::ChatParticipantRemovedFromThreadWithUser,
            EventType::ChatThreadParticipantRemoved,
        ) else {
            return;
        };
        if let Some((props, mut recipients)) = self.store.snapshot(thread) {
            recipients.push(removed.clone());
            let txn = transaction_id(self.bus.next_uuid());
            let op = Operation {
                levels,
                txn: &txn,
                at: self.now(),
            };
            self.publish(participant_events(
                ParticipantChange::Removed,
                &props,
                &recipients,
                by,
                std::slice::from_ref(removed),
                op,
            ));
        }
    }

    /// `sender` is typing.
    pub fn typing(
        &self,
        thread: &ThreadId,
        sender: &CommunicationUserId,
        display_name: Option<&str>,
    ) {
        if self
            .bus
            .wants(EventType::ChatTypingIndicatorReceivedInThread)
        {
            self.publish(vec![typing_event(
                thread,
                sender,
                display_name,
                &transaction_id(self.bus.next_uuid()),
            )]);
        }
    }
}
