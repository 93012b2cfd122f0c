//! Chat rows: a thread's properties and participants, and its messages.

use serde::{Deserialize, Serialize};

use crate::domain::{ChatMessageId, ThreadId};
use crate::store::{
    MessageType, MessageView, Metadata, Participant, RetentionPolicy, SystemContent, ThreadProps,
};

use super::{RowError, identifier, parse_opt_time, parse_time, time, user};

/// A thread's properties.
#[derive(Debug, Serialize, Deserialize)]
pub struct PropsRow {
    topic: String,
    created_on: String,
    created_by: String,
    deleted_on: Option<String>,
    metadata: Option<Metadata>,
    /// `None`: no policy given; `Some(None)`: policy "none"; `Some(Some(days))`.
    retention_days: Option<Option<i32>>,
}

impl PropsRow {
    /// The row of `props`.
    pub fn of(props: &ThreadProps) -> Self {
        Self {
            topic: props.topic.clone(),
            created_on: time(props.created_on),
            created_by: props.created_by.to_string(),
            deleted_on: props.deleted_on.map(time),
            metadata: props.metadata.clone(),
            retention_days: props.retention_policy.as_ref().map(|p| match p {
                RetentionPolicy::ThreadCreationDate {
                    delete_thread_after_days,
                } => Some(*delete_thread_after_days),
                RetentionPolicy::None => None,
            }),
        }
    }

    /// The properties of thread `id`.
    pub fn into_props(self, id: &str) -> Result<ThreadProps, RowError> {
        Ok(ThreadProps {
            id: ThreadId::parse(id).map_err(|_| format!("invalid thread id {id:?}"))?,
            topic: self.topic,
            created_on: parse_time(&self.created_on)?,
            created_by: user(&self.created_by)?,
            deleted_on: parse_opt_time(&self.deleted_on)?,
            metadata: self.metadata,
            retention_policy: self.retention_days.map(|days| match days {
                Some(delete_thread_after_days) => RetentionPolicy::ThreadCreationDate {
                    delete_thread_after_days,
                },
                None => RetentionPolicy::None,
            }),
        })
    }
}

/// A participant.
#[derive(Debug, Serialize, Deserialize)]
pub struct ParticipantRow {
    id: String,
    display_name: Option<String>,
    share_history_time: Option<String>,
    metadata: Option<Metadata>,
}

impl ParticipantRow {
    /// The row of `p`.
    pub fn of(p: &Participant) -> Self {
        Self {
            id: p.id.raw_id(),
            display_name: p.display_name.clone(),
            share_history_time: p.share_history_time.map(time),
            metadata: p.metadata.clone(),
        }
    }

    /// The participant back.
    pub fn into_participant(self) -> Result<Participant, RowError> {
        Ok(Participant {
            id: identifier(&self.id)?,
            display_name: self.display_name,
            share_history_time: parse_opt_time(&self.share_history_time)?,
            metadata: self.metadata,
        })
    }
}

/// Rows of participants, in order.
pub fn participants_of(all: &[Participant]) -> Vec<ParticipantRow> {
    all.iter().map(ParticipantRow::of).collect()
}

/// Participants back, in order.
pub fn participants(rows: Vec<ParticipantRow>) -> Result<Vec<Participant>, RowError> {
    rows.into_iter()
        .map(ParticipantRow::into_participant)
        .collect()
}

/// A system message's content.
#[derive(Debug, Serialize, Deserialize)]
struct SystemRow {
    initiator: String,
    topic: Option<String>,
    participants: Vec<ParticipantRow>,
}

/// A message (user or system) as stored.
#[derive(Debug, Serialize, Deserialize)]
pub struct MessageRow {
    id: u64,
    version: u64,
    kind: String,
    created_on: String,
    edited_on: Option<String>,
    deleted_on: Option<String>,
    content: Option<String>,
    sender: Option<String>,
    sender_display_name: Option<String>,
    metadata: Option<Metadata>,
    system: Option<SystemRow>,
}

fn message_type(raw: &str) -> Result<MessageType, RowError> {
    Ok(match raw {
        "text" => MessageType::Text,
        "html" => MessageType::Html,
        "topicUpdated" => MessageType::TopicUpdated,
        "participantAdded" => MessageType::ParticipantAdded,
        "participantRemoved" => MessageType::ParticipantRemoved,
        other => return Err(format!("unknown message type {other:?}")),
    })
}

impl MessageRow {
    /// The row of `m`.
    pub fn of(m: &MessageView) -> Self {
        Self {
            id: m.id.0,
            version: m.version,
            kind: m.kind.as_str().to_string(),
            created_on: time(m.created_on),
            edited_on: m.edited_on.map(time),
            deleted_on: m.deleted_on.map(time),
            content: m.content.clone(),
            sender: m.sender.as_ref().map(ToString::to_string),
            sender_display_name: m.sender_display_name.clone(),
            metadata: m.metadata.clone(),
            system: m.system.as_ref().map(|s| SystemRow {
                initiator: s.initiator.raw_id(),
                topic: s.topic.clone(),
                participants: participants_of(&s.participants),
            }),
        }
    }

    /// The message with sequence id `seq` back.
    pub fn into_view(self, seq: u64) -> Result<MessageView, RowError> {
        let system = match self.system {
            Some(s) => Some(SystemContent {
                initiator: identifier(&s.initiator)?,
                topic: s.topic,
                participants: participants(s.participants)?,
            }),
            None => None,
        };
        Ok(MessageView {
            id: ChatMessageId(self.id),
            sequence_id: seq,
            version: self.version,
            kind: message_type(&self.kind)?,
            created_on: parse_time(&self.created_on)?,
            edited_on: parse_opt_time(&self.edited_on)?,
            deleted_on: parse_opt_time(&self.deleted_on)?,
            content: self.content,
            sender: self.sender.as_deref().map(user).transpose()?,
            sender_display_name: self.sender_display_name,
            metadata: self.metadata,
            system,
        })
    }
}
