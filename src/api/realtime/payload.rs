//! The payloads of real-time notifications, built from a chat change record alone: the fields
//! the browser Chat SDK maps (`toEventPayload` in `@azure/communication-signaling`), per event id.
//!
//! Who gets one: every participant of the thread (after the change) that is an ACS user, except
//! the user who made the change, as for Event Grid's per-user events. A participant who was
//! removed hears of it too. Typing and read receipts follow the same rule (they have no per-user
//! Event Grid event).

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use crate::domain::{CommunicationIdentifier, CommunicationUserId};
use crate::store::{
    ChatChange, ChatChangeKind, MessageType, MessageView, Participant, RetentionPolicy, ThreadProps,
};

/// The notification of one change: who gets it and the payload (without `recipientMri`).
#[derive(Debug, Clone)]
pub struct Notification {
    /// The SDK's event id (200 message received, 245 typing, …).
    pub event_id: u16,
    /// The SDK's event name (`chatMessageReceived`, …): for logs and scenario rules.
    pub event: &'static str,
    /// The thread it is about.
    pub thread_id: String,
    /// The ACS users it goes to.
    pub recipients: Vec<CommunicationUserId>,
    payload: Map<String, Value>,
}

impl Notification {
    /// The payload's JSON for `recipient` (its MRI in `recipientMri` and `recipientId`).
    pub fn body_for(&self, recipient: &CommunicationUserId) -> String {
        let mut payload = self.payload.clone();
        let mri = Value::String(recipient.to_string());
        payload.insert("recipientMri".into(), mri.clone());
        payload.insert("recipientId".into(), mri);
        Value::Object(payload).to_string()
    }
}

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// A JSON value as the string the SDK runs through `unescape` and `JSON.parse`: `%` is
/// escaped so that `unescape` gives the JSON back unchanged.
fn escaped(value: &Value) -> String {
    value.to_string().replace('%', "%25")
}

fn metadata_string(metadata: Option<&crate::store::Metadata>) -> String {
    metadata.map_or_else(|| "{}".to_string(), |m| json!(m).to_string())
}

fn participant(p: &Participant) -> Value {
    let mut out = json!({
        "participantId": p.id.raw_id(),
        "displayName": p.display_name.clone().unwrap_or_default(),
    });
    if let Some(t) = p.share_history_time {
        out["shareHistoryTime"] = json!(iso(t));
    }
    if let Some(m) = &p.metadata {
        out["memberMetaData"] = json!(json!(m).to_string());
    }
    out
}

/// The participant who acted: as listed in the thread (display name), else just the id.
fn actor(by: &CommunicationUserId, participants: &[Participant], extra: &[&Participant]) -> Value {
    participants
        .iter()
        .chain(extra.iter().copied())
        .find(|p| matches!(&p.id, CommunicationIdentifier::User(u) if u == by))
        .map_or_else(
            || json!({"participantId": by.to_string(), "displayName": ""}),
            participant,
        )
}

fn properties(props: &ThreadProps) -> Value {
    let mut out = json!({"topic": props.topic});
    if let Some(m) = &props.metadata {
        out["acsChatThreadMetadata"] = json!(json!(m).to_string());
    }
    if let Some(RetentionPolicy::ThreadCreationDate {
        delete_thread_after_days,
    }) = props.retention_policy
    {
        let policy = json!({
            "retentionPolicyType": "DeleteAfterCreationTime",
            "executeAfter": format!("{delete_thread_after_days}.00:00:00"),
        });
        out["retentionPolicy"] = json!(policy.to_string());
    }
    out
}

fn message_type(kind: MessageType) -> &'static str {
    match kind {
        MessageType::Html => "RichText/Html",
        _ => "Text",
    }
}

/// The ACS users among `participants` (and `extra`), except `by`.
fn recipients(
    participants: &[Participant],
    extra: Option<&Participant>,
    by: &CommunicationUserId,
) -> Vec<CommunicationUserId> {
    participants
        .iter()
        .chain(extra)
        .filter_map(|p| match &p.id {
            CommunicationIdentifier::User(u) if u != by => Some(u.clone()),
            _ => None,
        })
        .collect()
}

fn message_payload(
    event_id: u16,
    thread: &str,
    m: &MessageView,
    sender: &CommunicationUserId,
) -> Map<String, Value> {
    let mut p = Map::new();
    p.insert("eventId".into(), json!(event_id));
    p.insert("groupId".into(), json!(thread));
    p.insert("senderId".into(), json!(sender.to_string()));
    p.insert(
        "senderDisplayName".into(),
        json!(m.sender_display_name.clone().unwrap_or_default()),
    );
    p.insert("messageId".into(), json!(m.id.to_string()));
    p.insert("clientMessageId".into(), json!(""));
    p.insert("originalArrivalTime".into(), json!(iso(m.created_on)));
    p.insert("version".into(), json!(m.version.to_string()));
    p.insert("messageType".into(), json!(message_type(m.kind)));
    p.insert("priority".into(), json!("normal"));
    p.insert(
        "transactionId".into(),
        json!(uuid::Uuid::new_v4().to_string()),
    );
    p
}

/// The notification of `change`, or `None` for a change browsers are not told about (system
/// messages: their own events say the same).
pub fn notification(change: &ChatChange) -> Option<Notification> {
    let ChatChange {
        thread,
        by,
        at,
        kind,
        system_messages: _,
    } = change;
    let props = &*thread.props;
    let participants = &thread.participants[..];
    let thread_id = props.id.as_str().to_string();
    let version = json!(ms(*at).to_string());
    use ChatChangeKind as K;
    let (event_id, event, payload, extra) = match kind {
        K::MessageSent(m) | K::MessageEdited(m) => {
            let sender = m.sender.as_ref()?;
            let edited = matches!(kind, K::MessageEdited(_));
            let event_id = if edited { 247 } else { 200 };
            let mut p = message_payload(event_id, &thread_id, m, sender);
            p.insert(
                "messageBody".into(),
                json!(m.content.clone().unwrap_or_default()),
            );
            p.insert(
                "acsChatMessageMetadata".into(),
                json!(metadata_string(m.metadata.as_ref())),
            );
            if edited {
                p.insert("edittime".into(), json!(iso(m.edited_on.unwrap_or(*at))));
                (247, "chatMessageEdited", p, None)
            } else {
                p.insert("composetime".into(), json!(iso(m.created_on)));
                (200, "chatMessageReceived", p, None)
            }
        }
        K::MessageDeleted(m) => {
            let sender = m.sender.as_ref()?;
            let mut p = message_payload(248, &thread_id, m, sender);
            p.insert("deletetime".into(), json!(iso(m.deleted_on.unwrap_or(*at))));
            (248, "chatMessageDeleted", p, None)
        }
        K::Typing {
            sender_display_name,
        } => {
            let mut p = Map::new();
            p.insert("eventId".into(), json!(245));
            p.insert("groupId".into(), json!(thread_id));
            p.insert("senderId".into(), json!(by.to_string()));
            p.insert(
                "senderDisplayName".into(),
                json!(sender_display_name.clone().unwrap_or_default()),
            );
            p.insert("originalArrivalTime".into(), json!(iso(*at)));
            p.insert("version".into(), version);
            (245, "typingIndicatorReceived", p, None)
        }
        K::ReadReceiptSent(receipt) => {
            let read_ms = ms(receipt.read_on);
            let id = receipt.message_id.to_string();
            let body = json!({
                "user": receipt.sender.to_string(),
                "consumptionhorizon": format!("{id};{read_ms};{id}"),
                "messageVisibilityTime": read_ms,
                "version": read_ms.to_string(),
            });
            let mut p = Map::new();
            p.insert("eventId".into(), json!(246));
            p.insert("groupId".into(), json!(thread_id));
            p.insert("senderId".into(), json!(receipt.sender.to_string()));
            p.insert("messageId".into(), json!(id));
            p.insert("messageBody".into(), json!(body.to_string()));
            p.insert("originalArrivalTime".into(), json!(iso(receipt.read_on)));
            (246, "readReceiptReceived", p, None)
        }
        K::ThreadCreated => {
            let members: Vec<Value> = participants.iter().map(participant).collect();
            let mut p = Map::new();
            p.insert("eventId".into(), json!(257));
            p.insert("threadId".into(), json!(thread_id));
            p.insert("createTime".into(), json!(iso(props.created_on)));
            p.insert("version".into(), version);
            p.insert(
                "createdBy".into(),
                json!(escaped(&actor(by, participants, &[]))),
            );
            p.insert("members".into(), json!(escaped(&Value::Array(members))));
            p.insert("properties".into(), json!(escaped(&properties(props))));
            (257, "chatThreadCreated", p, None)
        }
        K::ThreadUpdated => {
            let mut p = Map::new();
            p.insert("eventId".into(), json!(258));
            p.insert("threadId".into(), json!(thread_id));
            p.insert("editTime".into(), json!(iso(*at)));
            p.insert(
                "editedBy".into(),
                json!(escaped(&actor(by, participants, &[]))),
            );
            p.insert("properties".into(), json!(escaped(&properties(props))));
            p.insert("version".into(), version);
            (258, "chatThreadPropertiesUpdated", p, None)
        }
        K::ThreadDeleted => {
            let mut p = Map::new();
            p.insert("eventId".into(), json!(259));
            p.insert("threadId".into(), json!(thread_id));
            p.insert(
                "deleteTime".into(),
                json!(iso(props.deleted_on.unwrap_or(*at))),
            );
            p.insert(
                "deletedBy".into(),
                json!(escaped(&actor(by, participants, &[]))),
            );
            p.insert("version".into(), version);
            (259, "chatThreadDeleted", p, None)
        }
        K::ParticipantsAdded(added) => {
            let list: Vec<Value> = added.iter().map(participant).collect();
            let mut p = Map::new();
            p.insert("eventId".into(), json!(260));
            p.insert("threadId".into(), json!(thread_id));
            p.insert("time".into(), json!(iso(*at)));
            p.insert(
                "addedBy".into(),
                json!(escaped(&actor(by, participants, &[]))),
            );
            p.insert(
                "participantsAdded".into(),
                json!(escaped(&Value::Array(list))),
            );
            p.insert("version".into(), version);
            (260, "participantsAdded", p, None)
        }
        K::ParticipantRemoved(removed) => {
            let mut p = Map::new();
            p.insert("eventId".into(), json!(261));
            p.insert("threadId".into(), json!(thread_id));
            p.insert("time".into(), json!(iso(*at)));
            p.insert(
                "removedBy".into(),
                json!(escaped(&actor(by, participants, &[removed]))),
            );
            p.insert(
                "participantsRemoved".into(),
                json!(escaped(&json!([participant(removed)]))),
            );
            p.insert("version".into(), version);
            (261, "participantsRemoved", p, Some(removed))
        }
    };
    Some(Notification {
        event_id,
        event,
        thread_id,
        recipients: recipients(participants, extra, by),
        payload,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::domain::ThreadId;
    use crate::store::ThreadSnapshot;

    fn user(n: u8) -> CommunicationUserId {
        CommunicationUserId::parse(&format!(
            "8:acs:acacacac-0000-4000-8000-000000000001_0000000{n}-0000-0000-0000-000000000000"
        ))
        .expect("user")
    }

    fn member(n: u8, name: &str) -> Participant {
        Participant {
            id: CommunicationIdentifier::User(user(n)),
            display_name: Some(name.into()),
            share_history_time: None,
            metadata: None,
        }
    }

    fn change(kind: ChatChangeKind, topic: &str) -> ChatChange {
        let at = DateTime::<Utc>::from_timestamp_millis(1_800_000_000_000).expect("time");
        ChatChange {
            thread: ThreadSnapshot {
                props: Arc::new(ThreadProps {
                    id: ThreadId::parse("19:acsemu_test@thread.v2").expect("thread"),
                    topic: topic.into(),
                    created_on: at,
                    created_by: user(1),
                    deleted_on: None,
                    metadata: None,
                    retention_policy: Some(RetentionPolicy::ThreadCreationDate {
                        delete_thread_after_days: 30,
                    }),
                }),
                participants: Arc::new(vec![member(1, "Alice"), member(2, "Bob")]),
            },
            by: user(1),
            at,
            kind,
            system_messages: Vec::new(),
        }
    }

    /// What the SDK does with these fields: `JSON.parse(unescape(s))`.
    fn unescape_parse(s: &str) -> Value {
        serde_json::from_str(&s.replace("%25", "%")).expect("json")
    }

    #[test]
    fn everyone_but_the_actor_hears_of_a_change_and_json_strings_survive_unescape() {
        let note = notification(&change(ChatChangeKind::ThreadUpdated, "100% done")).expect("note");
        assert_eq!(note.event_id, 258);
        assert_eq!(note.recipients, vec![user(2)]);
        let body: Value = serde_json::from_str(&note.body_for(&user(2))).expect("json");
        assert_eq!(body["recipientMri"], user(2).to_string());
        let props = unescape_parse(body["properties"].as_str().expect("string"));
        assert_eq!(props["topic"], "100% done");
        let policy: Value =
            serde_json::from_str(props["retentionPolicy"].as_str().expect("string")).expect("json");
        assert_eq!(policy["executeAfter"], "30.00:00:00");
        let editor = unescape_parse(body["editedBy"].as_str().expect("string"));
        assert_eq!(editor["displayName"], "Alice");
    }

    #[test]
    fn a_removed_participant_hears_of_it_and_typing_carries_the_name() {
        let removed = member(3, "Carol");
        let note =
            notification(&change(ChatChangeKind::ParticipantRemoved(removed), "t")).expect("note");
        assert_eq!(note.event_id, 261);
        assert_eq!(note.recipients, vec![user(2), user(3)]);
        let note = notification(&change(
            ChatChangeKind::Typing {
                sender_display_name: Some("Alice".into()),
            },
            "t",
        ))
        .expect("note");
        let body: Value = serde_json::from_str(&note.body_for(&user(2))).expect("json");
        assert_eq!(body["eventId"], 245);
        assert_eq!(body["senderDisplayName"], "Alice");
        assert_eq!(body["senderId"], user(1).to_string());
    }
}
