//! Events and their two wire shapes: the Event Grid schema and CloudEvents 1.0.
//!
//! An [`Event`] is schema-neutral (id, type, subject, topic, time, data); a subscription renders
//! it in its own schema when it delivers it. Field names and casing follow the Event Grid
//! examples for ACS (acs-api.md §9): `topic`/`eventType`/`eventTime`/`dataVersion`/
//! `metadataVersion` in the Event Grid schema, `source`/`type`/`time`/`specversion` in CloudEvents.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value;

/// The event types the emulator publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    /// An SMS arrived at a number the resource owns.
    SmsReceived,
    /// The delivery report of a sent SMS arrived.
    SmsDeliveryReportReceived,
    /// Per user: a message arrived in one of the user's threads.
    ChatMessageReceived,
    /// Per user: a message was edited.
    ChatMessageEdited,
    /// Per user: a message was deleted.
    ChatMessageDeleted,
    /// Per user: a thread was created with the user in it.
    ChatThreadCreatedWithUser,
    /// Per user: a thread the user was in was deleted.
    ChatThreadWithUserDeleted,
    /// Per user: a thread's properties changed.
    ChatThreadPropertiesUpdatedPerUser,
    /// Per user: a participant joined one of the user's threads.
    ChatParticipantAddedToThreadWithUser,
    /// Per user: a participant left one of the user's threads.
    ChatParticipantRemovedFromThreadWithUser,
    /// Per thread: a message arrived.
    ChatMessageReceivedInThread,
    /// Per thread: a message was edited.
    ChatMessageEditedInThread,
    /// Per thread: a message was deleted.
    ChatMessageDeletedInThread,
    /// Per thread: the thread was created.
    ChatThreadCreated,
    /// Per thread: the thread was deleted.
    ChatThreadDeleted,
    /// Per thread: the thread's properties changed.
    ChatThreadPropertiesUpdated,
    /// Per thread: a participant joined.
    ChatThreadParticipantAdded,
    /// Per thread: a participant left.
    ChatThreadParticipantRemoved,
    /// Per thread: a participant is typing.
    ChatTypingIndicatorReceivedInThread,
    /// Per recipient: the delivery report of a sent email arrived.
    EmailDeliveryReportReceived,
    /// A recipient opened a sent email or clicked a link in it.
    EmailEngagementTrackingReportReceived,
}

/// The prefix every ACS event type carries.
pub const TYPE_PREFIX: &str = "Microsoft.Communication.";

impl EventType {
    /// Every type, in a stable order.
    pub const ALL: [EventType; 21] = [
        EventType::SmsReceived,
        EventType::SmsDeliveryReportReceived,
        EventType::ChatMessageReceived,
        EventType::ChatMessageEdited,
        EventType::ChatMessageDeleted,
        EventType::ChatThreadCreatedWithUser,
        EventType::ChatThreadWithUserDeleted,
        EventType::ChatThreadPropertiesUpdatedPerUser,
        EventType::ChatParticipantAddedToThreadWithUser,
        EventType::ChatParticipantRemovedFromThreadWithUser,
        EventType::ChatMessageReceivedInThread,
        EventType::ChatMessageEditedInThread,
        EventType::ChatMessageDeletedInThread,
        EventType::ChatThreadCreated,
        EventType::ChatThreadDeleted,
        EventType::ChatThreadPropertiesUpdated,
        EventType::ChatThreadParticipantAdded,
        EventType::ChatThreadParticipantRemoved,
        EventType::ChatTypingIndicatorReceivedInThread,
        EventType::EmailDeliveryReportReceived,
        EventType::EmailEngagementTrackingReportReceived,
    ];

    /// The full name, e.g. `Microsoft.Communication.SMSReceived`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::SmsReceived => "Microsoft.Communication.SMSReceived",
            EventType::SmsDeliveryReportReceived => {
                "Microsoft.Communication.SMSDeliveryReportReceived"
            }
            EventType::ChatMessageReceived => "Microsoft.Communication.ChatMessageReceived",
            EventType::ChatMessageEdited => "Microsoft.Communication.ChatMessageEdited",
            EventType::ChatMessageDeleted => "Microsoft.Communication.ChatMessageDeleted",
            EventType::ChatThreadCreatedWithUser => {
                "Microsoft.Communication.ChatThreadCreatedWithUser"
            }
            EventType::ChatThreadWithUserDeleted => {
                "Microsoft.Communication.ChatThreadWithUserDeleted"
            }
            EventType::ChatThreadPropertiesUpdatedPerUser => {
                "Microsoft.Communication.ChatThreadPropertiesUpdatedPerUser"
            }
            EventType::ChatParticipantAddedToThreadWithUser => {
                "Microsoft.Communication.ChatParticipantAddedToThreadWithUser"
            }
            EventType::ChatParticipantRemovedFromThreadWithUser => {
                "Microsoft.Communication.ChatParticipantRemovedFromThreadWithUser"
            }
            EventType::ChatMessageReceivedInThread => {
                "Microsoft.Communication.ChatMessageReceivedInThread"
            }
            EventType::ChatMessageEditedInThread => {
                "Microsoft.Communication.ChatMessageEditedInThread"
            }
            EventType::ChatMessageDeletedInThread => {
                "Microsoft.Communication.ChatMessageDeletedInThread"
            }
            EventType::ChatThreadCreated => "Microsoft.Communication.ChatThreadCreated",
            EventType::ChatThreadDeleted => "Microsoft.Communication.ChatThreadDeleted",
            EventType::ChatThreadPropertiesUpdated => {
                "Microsoft.Communication.ChatThreadPropertiesUpdated"
            }
            EventType::ChatThreadParticipantAdded => {
                "Microsoft.Communication.ChatThreadParticipantAdded"
            }
            EventType::ChatThreadParticipantRemoved => {
                "Microsoft.Communication.ChatThreadParticipantRemoved"
            }
            EventType::ChatTypingIndicatorReceivedInThread => {
                "Microsoft.Communication.ChatTypingIndicatorReceivedInThread"
            }
            EventType::EmailDeliveryReportReceived => {
                "Microsoft.Communication.EmailDeliveryReportReceived"
            }
            EventType::EmailEngagementTrackingReportReceived => {
                "Microsoft.Communication.EmailEngagementTrackingReportReceived"
            }
        }
    }

    /// The name without the `Microsoft.Communication.` prefix, e.g. `SMSReceived`.
    pub fn short_name(self) -> &'static str {
        &self.as_str()[TYPE_PREFIX.len()..]
    }

    /// Parses a full or short name, ignoring case (`SMSReceived`, `smsreceived`,
    /// `Microsoft.Communication.SMSReceived`).
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        let short = if raw.len() > TYPE_PREFIX.len()
            && raw[..TYPE_PREFIX.len()].eq_ignore_ascii_case(TYPE_PREFIX)
        {
            &raw[TYPE_PREFIX.len()..]
        } else {
            raw
        };
        Self::ALL
            .into_iter()
            .find(|t| t.short_name().eq_ignore_ascii_case(short))
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An event before it is published: what happened, but not yet when, where or under which id.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// The type.
    pub event_type: EventType,
    /// `subject`, e.g. `thread/{id}/sender/{rawId}`.
    pub subject: String,
    /// The `data` payload, already in its wire casing.
    pub data: Value,
    /// A fixed id (SMS events reuse the message id, as the real service does); `None` gets a
    /// fresh UUID.
    pub id: Option<String>,
}

/// A published event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// `id`.
    pub id: String,
    /// `eventType` / `type`.
    pub event_type: EventType,
    /// `subject`.
    pub subject: String,
    /// `topic` / `source`: the publishing resource's ARM id.
    pub topic: String,
    /// `eventTime` / `time`: the emulator clock when it was published.
    pub event_time: DateTime<Utc>,
    /// `data`.
    pub data: Value,
}

/// The `dataVersion` of every ACS event.
pub const DATA_VERSION: &str = "1.0";
/// The `metadataVersion` of the Event Grid schema.
pub const METADATA_VERSION: &str = "1";
/// The CloudEvents `specversion`.
pub const CLOUD_EVENTS_SPEC_VERSION: &str = "1.0";

/// An event in the Event Grid schema.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EventGridEvent<'a> {
    id: &'a str,
    topic: &'a str,
    subject: &'a str,
    data: &'a Value,
    event_type: &'static str,
    data_version: &'static str,
    metadata_version: &'static str,
    event_time: String,
}

/// An event in the CloudEvents 1.0 JSON format.
#[derive(Serialize)]
struct CloudEvent<'a> {
    id: &'a str,
    source: &'a str,
    specversion: &'static str,
    #[serde(rename = "type")]
    event_type: &'static str,
    subject: &'a str,
    time: String,
    data: &'a Value,
}

/// RFC 3339 UTC with milliseconds and `Z`, as the emulator writes every timestamp.
pub fn fmt_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl Event {
    /// The event in the Event Grid schema.
    pub fn to_event_grid(&self) -> Value {
        serde_json::to_value(EventGridEvent {
            id: &self.id,
            topic: &self.topic,
            subject: &self.subject,
            data: &self.data,
            event_type: self.event_type.as_str(),
            data_version: DATA_VERSION,
            metadata_version: METADATA_VERSION,
            event_time: fmt_time(self.event_time),
        })
        .unwrap_or(Value::Null)
    }

    /// The event in the CloudEvents 1.0 schema.
    pub fn to_cloud_event(&self) -> Value {
        serde_json::to_value(CloudEvent {
            id: &self.id,
            source: &self.topic,
            specversion: CLOUD_EVENTS_SPEC_VERSION,
            event_type: self.event_type.as_str(),
            subject: &self.subject,
            time: fmt_time(self.event_time),
            data: &self.data,
        })
        .unwrap_or(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event() -> Event {
        Event {
            id: "e1".into(),
            event_type: EventType::SmsReceived,
            subject: "/phonenumber/18005550100".into(),
            topic: "/subscriptions/s/resourceGroups/g/providers/Microsoft.Communication/communicationServices/n".into(),
            event_time: DateTime::from_timestamp(1_800_000_000, 5_000_000).expect("valid"),
            data: json!({"MessageId": "m"}),
        }
    }

    #[test]
    fn the_event_grid_schema_has_the_documented_envelope() {
        assert_eq!(
            event().to_event_grid(),
            json!({
                "id": "e1",
                "topic": "/subscriptions/s/resourceGroups/g/providers/Microsoft.Communication/communicationServices/n",
                "subject": "/phonenumber/18005550100",
                "data": {"MessageId": "m"},
                "eventType": "Microsoft.Communication.SMSReceived",
                "dataVersion": "1.0",
                "metadataVersion": "1",
                "eventTime": "2027-01-15T08:00:00.005Z"
            })
        );
    }

    #[test]
    fn the_cloud_events_schema_has_source_type_time_and_specversion() {
        assert_eq!(
            event().to_cloud_event(),
            json!({
                "id": "e1",
                "source": "/subscriptions/s/resourceGroups/g/providers/Microsoft.Communication/communicationServices/n",
                "specversion": "1.0",
                "type": "Microsoft.Communication.SMSReceived",
                "subject": "/phonenumber/18005550100",
                "time": "2027-01-15T08:00:00.005Z",
                "data": {"MessageId": "m"}
            })
        );
    }

    #[test]
    fn types_parse_from_full_or_short_names_in_any_case() {
        assert_eq!(
            EventType::parse("Microsoft.Communication.SMSReceived"),
            Some(EventType::SmsReceived)
        );
        assert_eq!(
            EventType::parse("smsreceived"),
            Some(EventType::SmsReceived)
        );
        assert_eq!(
            EventType::parse(" ChatThreadCreatedWithUser "),
            Some(EventType::ChatThreadCreatedWithUser)
        );
        assert_eq!(EventType::parse("Microsoft.Communication."), None);
        assert_eq!(EventType::parse("SMSSent"), None);
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
            assert!(t.as_str().starts_with(TYPE_PREFIX));
        }
    }
}
