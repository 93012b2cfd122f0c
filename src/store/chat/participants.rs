//! Participant operations: list, add, remove.

use chrono::{DateTime, Utc};

use std::sync::Arc;

use super::thread::Body;
use super::*;
use crate::store::changes::{Area, Sink};

impl ChatStore {
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
    /// emits one `participantAdded` listing the new ones, which it returns (and publishes as
    /// [`ChatChangeKind::ParticipantsAdded`]).
    pub fn add_participants(
        &self,
        caller: &CommunicationUserId,
        id: &ThreadId,
        participants: Vec<Participant>,
        now: DateTime<Utc>,
        sink: Sink<'_>,
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
            let before = t.messages.len();
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
            Arc::make_mut(&mut t.participants).extend(added.iter().cloned());
            for user in added.iter().filter_map(|p| p.id.as_user()) {
                self.index_user(user, id);
            }
            sink.publish(Area::Chat, || {
                t.change_appending(
                    caller,
                    now,
                    ChatChangeKind::ParticipantsAdded(added.clone()),
                    before,
                )
            });
            Ok(added)
        })
    }

    /// `POST …/participants/:remove`: removes `target` (a no-op if absent) and emits
    /// `participantRemoved`. The removed user loses access at once. Returns the removed
    /// participant (`None` if it was not there), which it publishes as
    /// [`ChatChangeKind::ParticipantRemoved`].
    pub fn remove_participant(
        &self,
        caller: &CommunicationUserId,
        id: &ThreadId,
        target: &CommunicationIdentifier,
        now: DateTime<Utc>,
        sink: Sink<'_>,
    ) -> Result<Option<Participant>, ChatError> {
        self.with_member(id, caller, |t| {
            let Some(idx) = t.participant_index(target) else {
                return Ok(None);
            };
            // The system message goes first: when the thread is full nothing changes.
            let before = t.messages.len();
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
            let removed = Arc::make_mut(&mut t.participants).remove(idx);
            t.receipts.remove(&removed.id.raw_id());
            if let Some(user) = removed.id.as_user() {
                self.unindex_user(user, id);
            }
            sink.publish(Area::Chat, || {
                t.change_appending(
                    caller,
                    now,
                    ChatChangeKind::ParticipantRemoved(removed.clone()),
                    before,
                )
            });
            Ok(Some(removed))
        })
    }
}
