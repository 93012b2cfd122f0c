//! From a chat change record to its events: which levels anyone subscribes to, one transaction
//! id per change, the builders, and publishing under the resource's topic. Everything comes from
//! the record; nothing reads the store.

use super::build::{
    Levels, MessageChange, Operation, ParticipantChange, ThreadChange, message_events,
    participant_events, thread_events, transaction_id, typing_event,
};
use crate::events::EventBus;
use crate::events::event::EventType;
use crate::store::{ChatChange, ChatChangeKind};

/// The (per-user, per-thread) event types of a change, `None` for a change without events of
/// both levels.
fn event_types(kind: &ChatChangeKind) -> Option<(EventType, EventType)> {
    use ChatChangeKind as K;
    Some(match kind {
        K::ThreadCreated => ThreadChange::Created.types(),
        K::ThreadUpdated => ThreadChange::Updated.types(),
        K::ThreadDeleted => ThreadChange::Deleted.types(),
        K::MessageSent(_) => MessageChange::Received.types(),
        K::MessageEdited(_) => MessageChange::Edited.types(),
        K::MessageDeleted(_) => MessageChange::Deleted.types(),
        K::ParticipantsAdded(_) => ParticipantChange::Added.types(),
        K::ParticipantRemoved(_) => ParticipantChange::Removed.types(),
        // Typing has a per-thread event only; read receipts have none in Event Grid.
        K::Typing { .. } | K::ReadReceiptSent(_) => return None,
    })
}

impl EventBus {
    /// Publishes the events of one chat change of the resource called `resource` that a
    /// subscription wants.
    pub(in crate::events) fn chat_changed(&self, resource: &str, change: &ChatChange) {
        let ChatChange {
            thread,
            by,
            at,
            kind,
            ..
        } = change;
        let (props, participants) = (&*thread.props, &thread.participants[..]);
        if let ChatChangeKind::Typing {
            sender_display_name,
        } = kind
        {
            if self.wants(EventType::ChatTypingIndicatorReceivedInThread) {
                let txn = transaction_id(self.next_uuid());
                let event = typing_event(&props.id, by, sender_display_name.as_deref(), &txn);
                self.publish(&self.topic_for(resource), vec![event]);
            }
            return;
        }
        let Some((per_user, per_thread)) = event_types(kind) else {
            return;
        };
        let levels = Levels {
            per_user: self.wants(per_user),
            per_thread: self.wants(per_thread),
        };
        if !levels.per_user && !levels.per_thread {
            return;
        }
        let txn = transaction_id(self.next_uuid());
        let op = Operation {
            levels,
            txn: &txn,
            at: *at,
        };
        use ChatChangeKind as K;
        let thread_change = |change| thread_events(change, props, participants, by, op);
        let message =
            |change, message| message_events(change, &props.id, participants, message, op);
        let events = match kind {
            K::ThreadCreated => thread_change(ThreadChange::Created),
            K::ThreadUpdated => thread_change(ThreadChange::Updated),
            K::ThreadDeleted => thread_change(ThreadChange::Deleted),
            K::MessageSent(m) => message(MessageChange::Received, m),
            K::MessageEdited(m) => message(MessageChange::Edited, m),
            K::MessageDeleted(m) => message(MessageChange::Deleted, m),
            K::ParticipantsAdded(added) => {
                participant_events(ParticipantChange::Added, props, participants, by, added, op)
            }
            K::ParticipantRemoved(removed) => {
                // The one who left hears of it too, after those who stay.
                let mut recipients = participants.to_vec();
                recipients.push(removed.clone());
                participant_events(
                    ParticipantChange::Removed,
                    props,
                    &recipients,
                    by,
                    std::slice::from_ref(removed),
                    op,
                )
            }
            K::Typing { .. } | K::ReadReceiptSent(_) => Vec::new(),
        };
        self.publish(&self.topic_for(resource), events);
    }
}
