//! Chat events from the values of one change: pure functions, one per kind of change, each
//! building only the levels (per user, per thread) someone subscribes to.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::payload::{
    Member, MessageData, ParticipantData, Properties, ThreadData, TypingData, Version,
};
use crate::domain::{CommunicationIdentifier, CommunicationUserId, ThreadId};
use crate::events::event::{EventType, NewEvent, fmt_time};
use crate::store::{MessageType, MessageView, Participant, ThreadProps};

fn user(id: &CommunicationUserId) -> CommunicationIdentifier {
    CommunicationIdentifier::User(id.clone())
}

/// An event of `event_type` about `subject`, with `data` as JSON without its `null`s (a field
/// left `None` is not sent, at any depth).
fn event(event_type: EventType, subject: String, data: impl Serialize) -> NewEvent {
    let mut data = serde_json::to_value(data).unwrap_or_default();
    drop_nulls(&mut data);
    NewEvent {
        event_type,
        subject,
        data,
        id: None,
    }
}

fn drop_nulls(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Object(members) => {
            members.retain(|_, v| !v.is_null());
            members.values_mut().for_each(drop_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

/// An operation's events: a per-user event for every participant but `actor` (subject
/// `{user_subject}/recipient/{raw id}`), then the per-thread event (subject `thread_subject`);
/// each level only when someone subscribes to it.
fn fan_out<D: Serialize>(
    levels: Levels,
    participants: &[Participant],
    actor: &CommunicationIdentifier,
    (user_type, thread_type): (EventType, EventType),
    (user_subject, thread_subject): (&str, &str),
    data: impl Fn(Option<&CommunicationIdentifier>) -> D,
) -> Vec<NewEvent> {
    let mut events = Vec::new();
    if levels.per_user {
        for p in participants.iter().filter(|p| p.id != *actor) {
            events.push(event(
                user_type,
                format!("{user_subject}/recipient/{}", p.id.raw_id()),
                data(Some(&p.id)),
            ));
        }
    }
    if levels.per_thread {
        events.push(event(thread_type, thread_subject.to_string(), data(None)));
    }
    events
}

fn ms(t: DateTime<Utc>) -> u64 {
    u64::try_from(t.timestamp_millis()).unwrap_or(0)
}

/// A correlation id shared by the events of one operation, shaped like the service's
/// (`<base64 of 16 bytes>.1.1.1.1.<number>.1`).
pub fn transaction_id(random: uuid::Uuid) -> String {
    use base64::Engine;
    let bytes = random.into_bytes();
    let id = base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes);
    format!(
        "{id}.1.1.1.1.{}.1",
        u32::from_le_bytes([bytes[0], bytes[3], bytes[5], bytes[9]]) >> 1
    )
}

/// Which levels of an operation's events anyone subscribes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Levels {
    /// Build the per-user events.
    pub per_user: bool,
    /// Build the per-thread event(s).
    pub per_thread: bool,
}

impl Levels {
    /// Both levels.
    pub const ALL: Levels = Levels {
        per_user: true,
        per_thread: true,
    };
}

/// The context of one operation: which levels to build, its correlation id and its time.
#[derive(Debug, Clone, Copy)]
pub struct Operation<'a> {
    /// Which levels to build.
    pub levels: Levels,
    /// The `transactionId` all its events share.
    pub txn: &'a str,
    /// When it happened (edit time, participant change time).
    pub at: DateTime<Utc>,
}

/// What happened to a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageChange {
    /// Sent.
    Received,
    /// Edited.
    Edited,
    /// Deleted.
    Deleted,
}

impl MessageChange {
    /// (per-user type, per-thread type).
    pub fn types(self) -> (EventType, EventType) {
        match self {
            MessageChange::Received => (
                EventType::ChatMessageReceived,
                EventType::ChatMessageReceivedInThread,
            ),
            MessageChange::Edited => (
                EventType::ChatMessageEdited,
                EventType::ChatMessageEditedInThread,
            ),
            MessageChange::Deleted => (
                EventType::ChatMessageDeleted,
                EventType::ChatMessageDeletedInThread,
            ),
        }
    }
}

/// The events of a message change: one per participant but the sender, then one for the thread.
/// System messages have none.
pub fn message_events(
    change: MessageChange,
    thread: &ThreadId,
    participants: &[Participant],
    message: &MessageView,
    op: Operation<'_>,
) -> Vec<NewEvent> {
    let Operation { levels, txn, .. } = op;
    let kind = match message.kind {
        MessageType::Text => "Text",
        MessageType::Html => "Html",
        _ => return Vec::new(),
    };
    let Some(sender) = message.sender.as_ref() else {
        return Vec::new();
    };
    let sender_id = user(sender);
    let sender_raw = sender_id.raw_id();
    let (user_type, thread_type) = change.types();
    let data = |recipient: Option<&CommunicationIdentifier>| MessageData {
        message_body: (change != MessageChange::Deleted)
            .then_some(message.content.as_deref().unwrap_or("")),
        message_id: message.id.to_string(),
        metadata: (change != MessageChange::Deleted)
            .then_some(message.metadata.as_ref())
            .flatten(),
        sender_id: recipient.map(|_| sender_raw.clone()),
        sender_communication_identifier: (&sender_id).into(),
        sender_display_name: message.sender_display_name.as_deref(),
        compose_time: fmt_time(message.created_on),
        edit_time: (change == MessageChange::Edited)
            .then_some(message.edited_on)
            .flatten()
            .map(fmt_time),
        delete_time: (change == MessageChange::Deleted)
            .then_some(message.deleted_on)
            .flatten()
            .map(fmt_time),
        kind,
        version: match recipient {
            Some(_) => Version::Number(message.version),
            None => Version::Text(message.version.to_string()),
        },
        recipient_id: recipient.map(CommunicationIdentifier::raw_id),
        recipient_communication_identifier: recipient.map(Into::into),
        transaction_id: txn,
        thread_id: thread.as_str(),
    };
    let subject = format!("thread/{thread}/sender/{sender_raw}");
    fan_out(
        levels,
        participants,
        &sender_id,
        (user_type, thread_type),
        (&subject, &subject),
        data,
    )
}

/// What happened to a thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadChange {
    /// Created: `ChatThreadCreatedWithUser`, `ChatThreadCreated`.
    Created,
    /// Its properties changed: `ChatThreadPropertiesUpdatedPerUser`,
    /// `ChatThreadPropertiesUpdated`.
    Updated,
    /// Deleted: `ChatThreadWithUserDeleted`, `ChatThreadDeleted`.
    Deleted,
}

impl ThreadChange {
    /// (per-user type, per-thread type).
    pub fn types(self) -> (EventType, EventType) {
        match self {
            ThreadChange::Created => (
                EventType::ChatThreadCreatedWithUser,
                EventType::ChatThreadCreated,
            ),
            ThreadChange::Updated => (
                EventType::ChatThreadPropertiesUpdatedPerUser,
                EventType::ChatThreadPropertiesUpdated,
            ),
            ThreadChange::Deleted => (
                EventType::ChatThreadWithUserDeleted,
                EventType::ChatThreadDeleted,
            ),
        }
    }
}

/// The events of a thread change made by `by` (the creator, editor or deleter): one per
/// participant but `by`, then one for the thread.
pub fn thread_events(
    change: ThreadChange,
    thread: &ThreadProps,
    participants: &[Participant],
    by: &CommunicationUserId,
    op: Operation<'_>,
) -> Vec<NewEvent> {
    let Operation { levels, txn, at } = op;
    let actor = user(by);
    let actor_raw = actor.raw_id();
    let id = thread.id.as_str();
    let (verb, version) = match change {
        ThreadChange::Created => ("createdBy", thread.created_on),
        ThreadChange::Updated => ("editedBy", at),
        ThreadChange::Deleted => ("deletedBy", thread.deleted_on.unwrap_or(thread.created_on)),
    };
    let properties = || {
        Some(Properties {
            topic: &thread.topic,
        })
    };
    let data = |recipient: Option<&CommunicationIdentifier>| {
        let (by_raw, by_id) = (recipient.map(|_| actor_raw.clone()), Some((&actor).into()));
        let mut data = ThreadData {
            create_time: fmt_time(thread.created_on),
            version: ms(version),
            recipient_id: recipient.map(CommunicationIdentifier::raw_id),
            recipient_communication_identifier: recipient.map(Into::into),
            transaction_id: txn,
            thread_id: id,
            ..ThreadData::default()
        };
        match change {
            ThreadChange::Created => {
                (data.created_by, data.created_by_communication_identifier) = (by_raw, by_id);
                data.properties = properties();
                data.members = recipient.map(|_| {
                    participants
                        .iter()
                        .map(|p| Member {
                            display_name: p.display_name.as_deref(),
                            member_id: p.id.raw_id(),
                        })
                        .collect()
                });
                data.participants = Some(participants.iter().map(Into::into).collect());
                data.metadata = thread.metadata.clone();
            }
            ThreadChange::Updated => {
                (data.edited_by, data.edited_by_communication_identifier) = (by_raw, by_id);
                data.edit_time = Some(fmt_time(at));
                data.properties = properties();
                data.metadata = Some(thread.metadata.clone().unwrap_or_default());
            }
            ThreadChange::Deleted => {
                (data.deleted_by, data.deleted_by_communication_identifier) = (by_raw, by_id);
                data.delete_time = Some(fmt_time(version));
            }
        }
        data
    };
    let subject = format!("thread/{id}/{verb}/{actor_raw}");
    fan_out(
        levels,
        participants,
        &actor,
        change.types(),
        (&subject, &subject),
        data,
    )
}

/// Whether a participant joined or left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParticipantChange {
    /// Joined.
    Added,
    /// Left (or was removed).
    Removed,
}

impl ParticipantChange {
    /// (per-user type, per-thread type).
    pub fn types(self) -> (EventType, EventType) {
        match self {
            ParticipantChange::Added => (
                EventType::ChatParticipantAddedToThreadWithUser,
                EventType::ChatThreadParticipantAdded,
            ),
            ParticipantChange::Removed => (
                EventType::ChatParticipantRemovedFromThreadWithUser,
                EventType::ChatThreadParticipantRemoved,
            ),
        }
    }
}

/// For each changed participant: the per-user event for every `recipients` member but the one
/// who acted, then the per-thread event.
pub fn participant_events(
    change: ParticipantChange,
    thread: &ThreadProps,
    recipients: &[Participant],
    by: &CommunicationUserId,
    changed: &[Participant],
    op: Operation<'_>,
) -> Vec<NewEvent> {
    let Operation { levels, txn, at } = op;
    let actor = user(by);
    let id = thread.id.as_str();
    let (user_type, thread_type) = change.types();
    let verb = match change {
        ParticipantChange::Added => "participantAdded",
        ParticipantChange::Removed => "participantRemoved",
    };
    let mut events = Vec::new();
    for participant in changed {
        let raw = participant.id.raw_id();
        let data = |recipient: Option<&CommunicationIdentifier>| {
            let added = change == ParticipantChange::Added;
            ParticipantData {
                time: fmt_time(at),
                added_by_communication_identifier: added.then(|| (&actor).into()),
                participant_added: added.then(|| participant.into()),
                removed_by_communication_identifier: (!added).then(|| (&actor).into()),
                participant_removed: (!added).then(|| participant.into()),
                recipient_communication_identifier: recipient.map(Into::into),
                create_time: fmt_time(thread.created_on),
                version: ms(at),
                transaction_id: txn,
                thread_id: id,
            }
        };
        // The per-thread subjects are lower-case in the service's examples.
        events.extend(fan_out(
            levels,
            recipients,
            &actor,
            (user_type, thread_type),
            (
                &format!("thread/{id}/{verb}/{raw}"),
                &format!("thread/{id}/{}/{raw}", verb.to_ascii_lowercase()),
            ),
            data,
        ));
    }
    events
}

/// `ChatTypingIndicatorReceivedInThread`.
pub fn typing_event(
    thread: &ThreadId,
    sender: &CommunicationUserId,
    display_name: Option<&str>,
    txn: &str,
) -> NewEvent {
    let sender = user(sender);
    event(
        EventType::ChatTypingIndicatorReceivedInThread,
        format!("thread/{thread}/sender/{}", sender.raw_id()),
        TypingData {
            sender_communication_identifier: (&sender).into(),
            sender_display_name: display_name,
            transaction_id: txn,
            thread_id: thread.as_str(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ChatMessageId;
    use serde_json::json;

    const A: &str =
        "8:acs:acacacac-0000-4000-8000-000000000001_00000000-0000-0000-0000-00000000000a";
    const B: &str =
        "8:acs:acacacac-0000-4000-8000-000000000001_00000000-0000-0000-0000-00000000000b";
    const C: &str =
        "8:acs:acacacac-0000-4000-8000-000000000001_00000000-0000-0000-0000-00000000000c";
    const T: &str = "19:acsemu_0123456789abcdef0123456789abcdef@thread.v2";

    fn uid(raw: &str) -> CommunicationUserId {
        match CommunicationIdentifier::parse_raw(raw).expect("valid") {
            CommunicationIdentifier::User(u) => u,
            other => panic!("not a user: {other:?}"),
        }
    }

    fn participant(raw: &str, name: Option<&str>) -> Participant {
        Participant {
            id: CommunicationIdentifier::parse_raw(raw).expect("valid"),
            display_name: name.map(str::to_string),
            share_history_time: None,
            metadata: None,
        }
    }

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(ms).expect("valid")
    }

    fn op(levels: Levels, txn: &str, at_ms: i64) -> Operation<'_> {
        Operation {
            levels,
            txn,
            at: at(at_ms),
        }
    }

    fn thread() -> ThreadProps {
        ThreadProps {
            id: ThreadId::parse(T).expect("valid"),
            topic: "support".into(),
            created_on: at(1_800_000_000_000),
            created_by: uid(A),
            deleted_on: None,
            metadata: None,
            retention_policy: None,
        }
    }

    fn message(kind: MessageType) -> MessageView {
        MessageView {
            id: ChatMessageId(1_800_000_000_123),
            sequence_id: 3,
            version: 1_800_000_000_123,
            kind,
            created_on: at(1_800_000_000_123),
            edited_on: None,
            deleted_on: None,
            content: Some("hello".into()),
            sender: Some(uid(A)),
            sender_display_name: Some("Alice".into()),
            metadata: Some([("k".to_string(), "v".to_string())].into()),
            system: None,
        }
    }

    fn ident(raw: &str) -> serde_json::Value {
        json!({"rawId": raw, "communicationUser": {"id": raw}})
    }

    #[test]
    fn a_message_goes_to_every_participant_but_the_sender_and_to_the_thread() {
        let participants = [participant(A, Some("Alice")), participant(B, None)];
        let events = message_events(
            MessageChange::Received,
            &thread().id,
            &participants,
            &message(MessageType::Text),
            op(Levels::ALL, "txn", 0),
        );
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].event_type, EventType::ChatMessageReceived);
        assert_eq!(
            events[0].subject,
            format!("thread/{T}/sender/{A}/recipient/{B}")
        );
        assert_eq!(
            events[0].data,
            json!({"messageBody": "hello", "messageId": "1800000000123", "metadata": {"k": "v"},
                "senderId": A, "senderCommunicationIdentifier": ident(A), "senderDisplayName": "Alice",
                "composeTime": "2027-01-15T08:00:00.123Z", "type": "Text", "version": 1_800_000_000_123u64,
                "recipientId": B, "recipientCommunicationIdentifier": ident(B),
                "transactionId": "txn", "threadId": T})
        );
        assert_eq!(events[1].event_type, EventType::ChatMessageReceivedInThread);
        assert_eq!(events[1].subject, format!("thread/{T}/sender/{A}"));
        assert_eq!(
            events[1].data,
            json!({"messageBody": "hello", "messageId": "1800000000123", "metadata": {"k": "v"},
                "senderCommunicationIdentifier": ident(A), "senderDisplayName": "Alice",
                "composeTime": "2027-01-15T08:00:00.123Z", "type": "Text", "version": "1800000000123",
                "transactionId": "txn", "threadId": T})
        );
    }

    #[test]
    fn deleted_messages_carry_no_body_and_edits_carry_their_time() {
        let participants = [participant(A, None), participant(B, None)];
        let mut m = message(MessageType::Html);
        m.deleted_on = Some(at(1_800_000_001_000));
        m.edited_on = Some(at(1_800_000_000_500));
        let deleted = message_events(
            MessageChange::Deleted,
            &thread().id,
            &participants,
            &m,
            op(Levels::ALL, "t", 0),
        );
        let data = &deleted[0].data;
        assert!(data.get("messageBody").is_none() && data.get("metadata").is_none());
        assert_eq!(data["deleteTime"], "2027-01-15T08:00:01.000Z");
        assert!(data.get("editTime").is_none());
        assert_eq!(data["type"], "Html");
        let edited = message_events(
            MessageChange::Edited,
            &thread().id,
            &participants,
            &m,
            op(
                Levels {
                    per_user: false,
                    per_thread: true,
                },
                "t",
                0,
            ),
        );
        assert_eq!(edited.len(), 1);
        assert_eq!(edited[0].event_type, EventType::ChatMessageEditedInThread);
        assert_eq!(edited[0].data["editTime"], "2027-01-15T08:00:00.500Z");
        assert!(edited[0].data.get("deleteTime").is_none());
    }

    #[test]
    fn system_messages_have_no_events() {
        let events = message_events(
            MessageChange::Received,
            &thread().id,
            &[participant(A, None), participant(B, None)],
            &message(MessageType::TopicUpdated),
            op(Levels::ALL, "t", 0),
        );
        assert!(events.is_empty());
    }

    #[test]
    fn thread_creation_lists_participants_and_skips_the_creator() {
        let participants = [participant(A, Some("Alice")), participant(B, Some("Bob"))];
        let events = thread_events(
            ThreadChange::Created,
            &thread(),
            &participants,
            &uid(A),
            op(Levels::ALL, "t", 0),
        );
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].event_type, EventType::ChatThreadCreatedWithUser);
        assert_eq!(
            events[0].subject,
            format!("thread/{T}/createdBy/{A}/recipient/{B}")
        );
        assert_eq!(
            events[0].data,
            json!({"createdBy": A, "createdByCommunicationIdentifier": ident(A),
                "properties": {"topic": "support"},
                "members": [{"displayName": "Alice", "memberId": A}, {"displayName": "Bob", "memberId": B}],
                "participants": [
                    {"displayName": "Alice", "participantCommunicationIdentifier": ident(A)},
                    {"displayName": "Bob", "participantCommunicationIdentifier": ident(B)}],
                "createTime": "2027-01-15T08:00:00.000Z", "version": 1_800_000_000_000u64,
                "recipientId": B, "recipientCommunicationIdentifier": ident(B),
                "transactionId": "t", "threadId": T})
        );
        assert_eq!(events[1].event_type, EventType::ChatThreadCreated);
        assert_eq!(events[1].subject, format!("thread/{T}/createdBy/{A}"));
        assert!(events[1].data.get("members").is_none());
        assert!(events[1].data.get("recipientId").is_none());
    }

    #[test]
    fn participant_events_name_who_acted_and_who_changed() {
        let recipients = [
            participant(A, None),
            participant(B, None),
            participant(C, Some("Carol")),
        ];
        let events = participant_events(
            ParticipantChange::Added,
            &thread(),
            &recipients,
            &uid(A),
            &[participant(C, Some("Carol"))],
            op(Levels::ALL, "t", 1_800_000_002_000),
        );
        let subjects: Vec<&str> = events.iter().map(|e| e.subject.as_str()).collect();
        assert_eq!(
            subjects,
            [
                format!("thread/{T}/participantAdded/{C}/recipient/{B}"),
                format!("thread/{T}/participantAdded/{C}/recipient/{C}"),
                format!("thread/{T}/participantadded/{C}"),
            ]
        );
        assert_eq!(
            events[2].data,
            json!({"time": "2027-01-15T08:00:02.000Z", "addedByCommunicationIdentifier": ident(A),
                "participantAdded": {"displayName": "Carol", "participantCommunicationIdentifier": ident(C)},
                "createTime": "2027-01-15T08:00:00.000Z", "version": 1_800_000_002_000u64,
                "transactionId": "t", "threadId": T})
        );
        let removed = participant_events(
            ParticipantChange::Removed,
            &thread(),
            &recipients,
            &uid(A),
            &[participant(C, None)],
            op(Levels::ALL, "t", 1),
        );
        assert_eq!(
            removed[0].event_type,
            EventType::ChatParticipantRemovedFromThreadWithUser
        );
        assert_eq!(
            removed[0].data["removedByCommunicationIdentifier"],
            ident(A)
        );
        assert_eq!(
            removed[0].data["participantRemoved"]["participantCommunicationIdentifier"],
            ident(C)
        );
        assert_eq!(
            removed[0].data["recipientCommunicationIdentifier"],
            ident(B)
        );
        assert_eq!(
            removed.last().expect("thread event").subject,
            format!("thread/{T}/participantremoved/{C}")
        );
    }

    #[test]
    fn deletion_and_updates_name_the_actor() {
        let mut t = thread();
        t.deleted_on = Some(at(1_800_000_009_000));
        let participants = [participant(A, None), participant(B, None)];
        let deleted = thread_events(
            ThreadChange::Deleted,
            &t,
            &participants,
            &uid(B),
            op(Levels::ALL, "t", 0),
        );
        assert_eq!(
            deleted[0].subject,
            format!("thread/{T}/deletedBy/{B}/recipient/{A}")
        );
        assert_eq!(
            deleted[0].data,
            json!({"deletedBy": B, "deletedByCommunicationIdentifier": ident(B),
                "deleteTime": "2027-01-15T08:00:09.000Z", "createTime": "2027-01-15T08:00:00.000Z",
                "version": 1_800_000_009_000u64, "recipientId": A, "recipientCommunicationIdentifier": ident(A),
                "transactionId": "t", "threadId": T})
        );
        assert_eq!(deleted[1].event_type, EventType::ChatThreadDeleted);
        let updated = thread_events(
            ThreadChange::Updated,
            &t,
            &participants,
            &uid(A),
            op(Levels::ALL, "t", 1_800_000_003_000),
        );
        assert_eq!(updated.len(), 2);
        assert_eq!(updated[0].data["editedBy"], A);
        assert_eq!(updated[0].data["properties"], json!({"topic": "support"}));
        assert_eq!(updated[1].subject, format!("thread/{T}/editedBy/{A}"));
        assert_eq!(updated[1].data["metadata"], json!({}));
        assert_eq!(updated[1].data["editTime"], "2027-01-15T08:00:03.000Z");
    }

    #[test]
    fn typing_names_the_sender() {
        let e = typing_event(&thread().id, &uid(B), Some("Bob"), "t");
        assert_eq!(e.subject, format!("thread/{T}/sender/{B}"));
        assert_eq!(
            e.data,
            json!({"senderCommunicationIdentifier": ident(B), "senderDisplayName": "Bob",
                "transactionId": "t", "threadId": T})
        );
    }

    #[test]
    fn transaction_ids_look_like_the_services() {
        let id = transaction_id(uuid::Uuid::new_v4());
        let parts: Vec<&str> = id.split('.').collect();
        assert_eq!(parts.len(), 7, "{id}");
        assert_eq!(parts[0].len(), 22, "{id}");
        assert_ne!(transaction_id(uuid::Uuid::new_v4()), id);
    }
}
