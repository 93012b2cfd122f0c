//! Putting back a thread as persistence or a fixture kept it (start-up, before any request is
//! served, or a fixture load), and reading every thread out in that same form (snapshots).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use super::thread::{Body, StoredMessage, ThreadState, lock};
use super::*;

/// A thread as persistence kept it: what [`ChatStore::restore_thread`] takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoredThread {
    /// Its properties.
    pub props: ThreadProps,
    /// Its participants, in the order they joined.
    pub participants: Vec<Participant>,
    /// Its messages in sequence order (sequence ids 1, 2, 3, … without gaps).
    pub messages: Vec<MessageView>,
    /// The latest read receipt per participant: who, up to which message, when.
    pub receipts: Vec<(CommunicationUserId, ChatMessageId, DateTime<Utc>)>,
}

impl ChatStore {
    /// Puts `thread` back whatever the caps (a thread with the same id, from a fixture, is
    /// replaced). Messages whose sequence ids leave a gap, and receipts naming an unknown
    /// message, are dropped: the message list stays dense. Message ids handed out later are
    /// larger than every restored one.
    pub fn restore_thread(&self, thread: RestoredThread) {
        let RestoredThread {
            props,
            participants,
            messages,
            receipts,
        } = thread;
        let deleted = props.deleted_on.is_some();
        let mut state = ThreadState {
            last_message_received_on: props.created_on,
            props: Arc::new(props),
            repeatability: None,
            detached: false,
            participants: Arc::new(participants),
            messages: Vec::with_capacity(messages.len()),
            senders: Vec::new(),
            receipts: BTreeMap::new(),
        };
        let mut last_id = 0;
        for m in messages {
            if m.sequence_id != state.messages.len() as u64 + 1 {
                break;
            }
            last_id = last_id.max(m.id.0).max(m.version);
            let body = match m.system {
                Some(system) => Body::System(Box::new(system)),
                None => {
                    let sender = match &m.sender {
                        Some(user) => state.sender_index(user),
                        None => continue,
                    };
                    Body::User {
                        content: m.content.unwrap_or_default(),
                        sender,
                        sender_display_name: m.sender_display_name,
                        metadata: m.metadata,
                    }
                }
            };
            state.last_message_received_on = m.created_on;
            state.messages.push(StoredMessage {
                id: m.id.0,
                version: m.version,
                kind: m.kind,
                created_on: m.created_on,
                edited_on: m.edited_on,
                deleted_on: m.deleted_on,
                body,
            });
        }
        for (sender, message_id, read_on) in receipts {
            if let Some(sequence_id) = state.seq_of(message_id) {
                state.receipts.insert(
                    sender.to_string(),
                    ReadReceipt {
                        sender,
                        message_id,
                        read_on,
                        sequence_id,
                    },
                );
            }
        }
        if deleted {
            state.messages = Vec::new();
            state.receipts.clear();
        }
        self.last_id.fetch_max(last_id, Ordering::AcqRel);
        let id = state.id().clone();
        let users: Vec<CommunicationUserId> = if deleted {
            Vec::new()
        } else {
            state
                .participants
                .iter()
                .filter_map(|p| p.id.as_user().cloned())
                .collect()
        };
        self.thread_count.try_add(1, usize::MAX);
        self.message_count.try_add(state.messages.len(), usize::MAX);
        if deleted {
            self.tombstones.fetch_add(1, Ordering::AcqRel);
        }
        if let Some(replaced) = self.threads.insert(id.clone(), Arc::new(Mutex::new(state))) {
            let mut old = lock(&replaced);
            self.thread_count.sub(1);
            self.message_count.sub(old.messages.len());
            if old.is_deleted() {
                self.tombstones.fetch_sub(1, Ordering::AcqRel);
            }
            for user in old.participants.iter().filter_map(|p| p.id.as_user()) {
                self.unindex_user(user, &id);
            }
            old.detached = true;
            old.messages = Vec::new();
        }
        for user in &users {
            self.index_user(user, &id);
        }
    }

    /// Every live thread as [`Self::restore_thread`] takes it, oldest first (then by id):
    /// messages in sequence order with their ids, versions, times and system content, and the
    /// latest read receipt of each participant. Deleted threads are left out. Each thread is
    /// read under its own lock, so a thread is consistent but two threads may be read either
    /// side of a concurrent write (snapshots).
    pub fn export_threads(&self) -> Vec<RestoredThread> {
        let threads: Vec<Arc<Mutex<ThreadState>>> =
            self.threads.iter().map(|t| Arc::clone(&t)).collect();
        let mut all: Vec<RestoredThread> = threads
            .iter()
            .filter_map(|thread| {
                let t = lock(thread);
                if t.is_deleted() || t.detached {
                    return None;
                }
                Some(RestoredThread {
                    props: t.props(),
                    participants: t.participants.to_vec(),
                    messages: (1..=t.messages.len() as u64).map(|s| t.view(s)).collect(),
                    receipts: t
                        .receipts
                        .values()
                        .map(|r| (r.sender.clone(), r.message_id, r.read_on))
                        .collect(),
                })
            })
            .collect();
        all.sort_by(|a, b| {
            (a.props.created_on, &a.props.id).cmp(&(b.props.created_on, &b.props.id))
        });
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Sink;
    use uuid::Uuid;

    fn member(user: &CommunicationUserId) -> Participant {
        Participant {
            id: CommunicationIdentifier::User(user.clone()),
            display_name: Some("A".into()),
            share_history_time: None,
            metadata: None,
        }
    }

    #[test]
    fn an_exported_thread_restores_to_the_same_thread() {
        let (store, copy) = (ChatStore::default(), ChatStore::default());
        let (a, b) = (
            CommunicationUserId::generate(Uuid::new_v4()),
            CommunicationUserId::generate(Uuid::new_v4()),
        );
        let now = Utc::now();
        let new = NewThread {
            id: None,
            topic: "t".into(),
            participants: vec![member(&b)],
            metadata: None,
            retention_policy: None,
        };
        let (props, _) = store
            .create_thread(&a, new, None, now, Sink::NONE)
            .expect("created");
        let text = NewMessage {
            content: "hi".into(),
            kind: MessageType::Text,
            sender_display_name: None,
            metadata: None,
        };
        let (first, _) = store
            .send_message(&b, &props.id, text.clone(), now, Sink::NONE)
            .expect("sent");
        store
            .send_read_receipt(&a, &props.id, first, now, Sink::NONE)
            .expect("receipt");
        // A deleted thread is left out.
        let (gone, _) = store
            .create_thread(
                &a,
                NewThread {
                    id: None,
                    topic: "gone".into(),
                    participants: Vec::new(),
                    metadata: None,
                    retention_policy: None,
                },
                None,
                now,
                Sink::NONE,
            )
            .expect("created");
        store
            .delete_thread(&a, &gone.id, now, Sink::NONE)
            .expect("deleted");

        let exported = store.export_threads();
        assert_eq!(exported.len(), 1);
        copy.restore_thread(exported[0].clone());

        assert_eq!(copy.export_threads(), exported);
        assert_eq!(
            copy.inspect_messages(&props.id, usize::MAX),
            store.inspect_messages(&props.id, usize::MAX)
        );
        assert_eq!(copy.message_count(), copy.stored_messages());
        // Ids handed out later are larger than the restored ones.
        let (next, _) = copy
            .send_message(&a, &props.id, text, now, Sink::NONE)
            .expect("sent");
        assert!(next.0 > first.0);
    }
}
