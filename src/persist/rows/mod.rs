//! The rows the state database holds, as JSON documents where a value has structure (a thread's
//! properties and participants, a message, an SMS): the store's types carry no serde, so each
//! has a row type here and a conversion both ways. A row that does not convert back is
//! reported (never guessed at).
//!
//! The time and id helpers, and the SMS, room and event rows, are here; Chat's, Email's and
//! Phone Numbers' rows are in `chat`, `email` and `numbers`.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{
    CommunicationIdentifier, CommunicationUserId, PhoneNumber, SmsEncoding, SmsMessageId,
};
use crate::store::{Room, RoomRole, SentSms};

/// Why a row could not be read back.
pub type RowError = String;

/// A time as the database keeps it: RFC 3339 with nanoseconds, in UTC; a time RFC 3339 cannot
/// spell (a year before 0 or after 9999, such as "owned since always") as `@seconds.nanoseconds`
/// since the Unix epoch.
pub fn time(t: DateTime<Utc>) -> String {
    use chrono::Datelike;
    if (0..=9999).contains(&t.year()) {
        t.to_rfc3339_opts(SecondsFormat::Nanos, true)
    } else {
        format!("@{}.{:09}", t.timestamp(), t.timestamp_subsec_nanos())
    }
}

/// A time read back.
pub fn parse_time(raw: &str) -> Result<DateTime<Utc>, RowError> {
    let invalid = || format!("invalid time {raw:?}");
    if let Some(epoch) = raw.strip_prefix('@') {
        let (secs, nanos) = epoch.split_once('.').ok_or_else(invalid)?;
        let secs: i64 = secs.parse().map_err(|_| invalid())?;
        let nanos: u32 = nanos.parse().map_err(|_| invalid())?;
        return DateTime::from_timestamp(secs, nanos).ok_or_else(invalid);
    }
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| invalid())
}

fn parse_opt_time(raw: &Option<String>) -> Result<Option<DateTime<Utc>>, RowError> {
    raw.as_deref().map(parse_time).transpose()
}

fn user(raw: &str) -> Result<CommunicationUserId, RowError> {
    CommunicationUserId::parse(raw).map_err(|_| format!("invalid user id {raw:?}"))
}

fn identifier(raw: &str) -> Result<CommunicationIdentifier, RowError> {
    CommunicationIdentifier::parse_raw(raw).map_err(|_| format!("invalid identifier {raw:?}"))
}

mod chat;
mod email;
mod numbers;

pub use chat::{MessageRow, ParticipantRow, PropsRow, participants, participants_of};
pub use email::EmailRow;
pub use numbers::{OwnedRow, ReservationRow, SipRow};

/// An instant as an SMS row keeps it: nanoseconds since the Unix epoch (an integer, cheap to
/// write on every send), or, outside the years 1677–2262, the text of [`time`].
pub fn stamp(t: DateTime<Utc>) -> rusqlite::types::Value {
    match t.timestamp_nanos_opt() {
        Some(nanos) => rusqlite::types::Value::Integer(nanos),
        None => rusqlite::types::Value::Text(time(t)),
    }
}

/// An instant read back from [`stamp`] (or, in a row of schema version 1, from [`time`]).
pub fn read_stamp(value: rusqlite::types::ValueRef<'_>) -> Result<DateTime<Utc>, RowError> {
    match value {
        rusqlite::types::ValueRef::Integer(nanos) => Ok(DateTime::from_timestamp_nanos(nanos)),
        rusqlite::types::ValueRef::Text(text) => {
            parse_time(std::str::from_utf8(text).map_err(|_| "a time that is not UTF-8")?)
        }
        other => Err(format!("invalid time {other:?}")),
    }
}

/// An SMS of the outbox, as its row's columns hold it (one column a field: a send to many
/// recipients writes many rows, so a row costs no serialisation).
#[derive(Debug)]
pub struct SmsRow {
    /// `message_id`.
    pub message_id: String,
    /// `sender`.
    pub from: String,
    /// `recipient`.
    pub to: String,
    /// `message`.
    pub message: String,
    /// `tag`.
    pub tag: Option<String>,
    /// `enable_delivery_report`.
    pub enable_delivery_report: bool,
    /// `delivery_report_timeout`.
    pub delivery_report_timeout_in_seconds: Option<i64>,
    /// `repeatability_request_id`.
    pub repeatability_request_id: Option<String>,
    /// `api_version`.
    pub api_version: String,
    /// `sent_at`.
    pub sent_at: DateTime<Utc>,
    /// `encoding`.
    pub encoding: String,
    /// `segments`.
    pub segments: u32,
    /// `delivery_report_at`.
    pub delivery_report_at: Option<DateTime<Utc>>,
    /// `delivery_failure`.
    pub delivery_failure: Option<String>,
}

impl SmsRow {
    /// The SMS back; `versions` are the api-versions it may name (the store keeps a static one).
    pub fn into_sms(self, versions: &[&'static str]) -> Result<SentSms, RowError> {
        let number = |raw: &str| {
            PhoneNumber::parse(raw).map_err(|_| format!("invalid phone number {raw:?}"))
        };
        let api_version = versions
            .iter()
            .find(|v| **v == self.api_version)
            .copied()
            .ok_or_else(|| format!("unknown api-version {:?}", self.api_version))?;
        Ok(SentSms {
            message_id: SmsMessageId::parse(&self.message_id)
                .ok_or_else(|| format!("invalid SMS message id {:?}", self.message_id))?,
            from: number(&self.from)?,
            to: number(&self.to)?,
            message: self.message,
            tag: self.tag,
            enable_delivery_report: self.enable_delivery_report,
            delivery_report_timeout_in_seconds: self.delivery_report_timeout_in_seconds,
            repeatability_request_id: self.repeatability_request_id,
            api_version,
            sent_at: self.sent_at,
            encoding: match self.encoding.as_str() {
                "GSM-7" => SmsEncoding::Gsm7,
                "UCS-2" => SmsEncoding::Ucs2,
                other => return Err(format!("unknown SMS encoding {other:?}")),
            },
            segments: self.segments,
            delivery_report_at: self.delivery_report_at,
            delivery_failure: self.delivery_failure,
        })
    }
}

/// A room: its window, dial-out flag and participants (raw id and role, in the order added).
#[derive(Debug, Serialize, Deserialize)]
pub struct RoomRow {
    created_at: String,
    valid_from: String,
    valid_until: String,
    pstn_dial_out_enabled: bool,
    participants: Vec<(String, String)>,
}

impl RoomRow {
    /// The row of `room`.
    pub fn of(room: &Room) -> Self {
        Self {
            created_at: time(room.created_at),
            valid_from: time(room.valid_from),
            valid_until: time(room.valid_until),
            pstn_dial_out_enabled: room.pstn_dial_out_enabled,
            participants: room
                .participants
                .iter()
                .map(|(user, role)| (user.to_string(), role.as_str().to_string()))
                .collect(),
        }
    }

    /// The room `id`.
    pub fn into_room(self, id: &str) -> Result<Room, RowError> {
        Ok(Room {
            id: id.to_string(),
            created_at: parse_time(&self.created_at)?,
            valid_from: parse_time(&self.valid_from)?,
            valid_until: parse_time(&self.valid_until)?,
            pstn_dial_out_enabled: self.pstn_dial_out_enabled,
            participants: self
                .participants
                .into_iter()
                .map(|(raw, role)| {
                    Ok((
                        user(&raw)?,
                        RoomRole::parse(&role).ok_or_else(|| format!("unknown role {role:?}"))?,
                    ))
                })
                .collect::<Result<_, RowError>>()?,
        })
    }
}

/// A user id read back.
pub fn user_id(raw: &str) -> Result<CommunicationUserId, RowError> {
    user(raw)
}

/// An event waiting for delivery (`pending_events.event`).
#[derive(Serialize, Deserialize)]
pub struct EventRow {
    id: String,
    #[serde(rename = "type")]
    event_type: String,
    subject: String,
    topic: String,
    time: String,
    data: serde_json::Value,
}

impl EventRow {
    pub fn of(e: &crate::events::Event) -> Self {
        Self {
            id: e.id.clone(),
            event_type: e.event_type.as_str().to_string(),
            subject: e.subject.clone(),
            topic: e.topic.clone(),
            time: time(e.event_time),
            data: e.data.clone(),
        }
    }

    pub fn into_event(self) -> Result<crate::events::Event, RowError> {
        Ok(crate::events::Event {
            event_type: crate::events::EventType::parse(&self.event_type)
                .ok_or_else(|| format!("unknown event type {:?}", self.event_type))?,
            event_time: parse_time(&self.time)?,
            id: self.id,
            subject: self.subject,
            topic: self.topic,
            data: self.data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ChatMessageId, DeliveryStatus, EmailAddress, SmsEncoding, ThreadId};
    use crate::store::lro::{LroError, LroOutcome, LroPlan};
    use crate::store::{
        Attachment, Delivery, Mailbox, MessageType, MessageView, Participant, RetentionPolicy,
        SentEmail, SystemContent, ThreadProps,
    };

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(ms).expect("time")
    }

    #[test]
    fn a_system_message_and_thread_properties_read_back_as_they_were() {
        let alice = CommunicationUserId::parse(
            "8:acs:b1b3a7c2-8e6a-4f2b-9c51-0d3e2f1a4b5c_0000001a-0000-0000-0000-000000000001",
        )
        .expect("user");
        let phone = CommunicationIdentifier::parse_raw("4:+14255550123").expect("phone");
        let teams = CommunicationIdentifier::parse_raw("8:orgid:abc-123").expect("teams");
        let participants = vec![
            Participant {
                id: CommunicationIdentifier::User(alice.clone()),
                display_name: Some("Alice".into()),
                share_history_time: Some(at(1_700_000_000_123)),
                metadata: Some([("k".to_string(), "v".to_string())].into()),
            },
            Participant {
                id: phone,
                display_name: None,
                share_history_time: None,
                metadata: None,
            },
            Participant {
                id: teams,
                display_name: None,
                share_history_time: None,
                metadata: None,
            },
        ];
        let message = MessageView {
            id: ChatMessageId(1_700_000_000_500),
            sequence_id: 1,
            version: 1_700_000_000_500,
            kind: MessageType::ParticipantAdded,
            created_on: at(1_700_000_000_500),
            edited_on: None,
            deleted_on: None,
            content: None,
            sender: None,
            sender_display_name: None,
            metadata: None,
            system: Some(SystemContent {
                initiator: CommunicationIdentifier::User(alice.clone()),
                topic: None,
                participants: participants.clone(),
            }),
        };
        let text = serde_json::to_string(&MessageRow::of(&message)).expect("json");
        let back: MessageRow = serde_json::from_str(&text).expect("row");
        assert_eq!(back.into_view(1).expect("view"), message);

        let props = ThreadProps {
            id: ThreadId::generate(),
            topic: "t".into(),
            created_on: at(1_700_000_000_000),
            created_by: alice,
            deleted_on: Some(at(1_700_000_001_000)),
            metadata: None,
            retention_policy: Some(RetentionPolicy::ThreadCreationDate {
                delete_thread_after_days: 30,
            }),
        };
        let text = serde_json::to_string(&PropsRow::of(&props)).expect("json");
        let back: PropsRow = serde_json::from_str(&text).expect("row");
        assert_eq!(back.into_props(props.id.as_str()).expect("props"), props);
        let rows = participants_of(&participants);
        assert_eq!(
            super::participants(rows).expect("participants"),
            participants
        );
    }

    #[test]
    fn an_email_with_attachments_raw_bytes_and_a_failed_operation_reads_back() {
        let address = |a: &str| EmailAddress::parse(a).expect("address");
        let email = SentEmail {
            id: "op-1".into(),
            internet_message_id: "<op-1@example.com>".into(),
            sender: address("DoNotReply@example.com"),
            to: vec![Mailbox {
                address: address("alice@example.com"),
                display_name: Some("Alice".into()),
            }],
            cc: Vec::new(),
            bcc: vec![Mailbox {
                address: address("audit@example.com"),
                display_name: None,
            }],
            reply_to: Vec::new(),
            subject: "héllo".into(),
            plain_text: None,
            html: Some("<p>x</p>".into()),
            attachments: vec![Attachment {
                name: "a.bin".into(),
                content_type: "application/octet-stream".into(),
                content_id: Some("logo".into()),
                content: vec![0, 159, 255],
            }],
            headers: vec![("X-A".into(), "1".into())],
            user_engagement_tracking_disabled: true,
            via: "smtp".into(),
            sent_at: at(1_700_000_000_000),
            plan: LroPlan {
                running_at: at(1_700_000_000_000),
                completes_at: at(1_700_000_001_000),
                outcome: LroOutcome::Failed(LroError {
                    code: "EmailDropped".into(),
                    message: "dropped".into(),
                }),
            },
            deliveries: vec![Delivery {
                recipient: address("alice@example.com"),
                status: DeliveryStatus::Bounced,
                details: "bounced".into(),
                at: at(1_700_000_002_000),
            }],
            raw: Some(b"Subject: x\r\n\r\n\xff".to_vec()),
        };
        let text = serde_json::to_string(&EmailRow::of(&email)).expect("json");
        let back: EmailRow = serde_json::from_str(&text).expect("row");
        assert_eq!(back.into_email("op-1").expect("email"), email);
    }

    #[test]
    fn an_sms_row_converts_back_and_times_keep_their_nanoseconds() {
        let row = || SmsRow {
            message_id: SmsMessageId::generate(at(1_700_000_000_000)).to_string(),
            from: "+18005550100".into(),
            to: "+14255550123".into(),
            message: "héllo".into(),
            tag: Some("t".into()),
            enable_delivery_report: true,
            delivery_report_timeout_in_seconds: Some(60),
            repeatability_request_id: None,
            api_version: "2021-03-07".into(),
            sent_at: at(1_700_000_000_000),
            encoding: "UCS-2".into(),
            segments: 1,
            delivery_report_at: Some(at(1_700_000_002_000)),
            delivery_failure: None,
        };
        let back = row().into_sms(&["2021-03-07"]).expect("sms");
        assert_eq!(back.message, "héllo");
        assert_eq!(back.encoding, SmsEncoding::Ucs2);
        let err = row()
            .into_sms(&["2026-01-23"])
            .expect_err("unknown version");
        assert!(err.contains("unknown api-version"), "{err}");
        let precise = DateTime::from_timestamp(1_700_000_000, 123_456_789).expect("time");
        for t in [precise, DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC] {
            let value = stamp(t);
            assert_eq!(read_stamp(rusqlite::types::ValueRef::from(&value)), Ok(t));
        }
        assert_eq!(
            read_stamp(rusqlite::types::ValueRef::Text(time(precise).as_bytes())),
            Ok(precise),
            "a version 1 row's time"
        );
        assert!(parse_time("yesterday").is_err());
        for t in [DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC, at(-1)] {
            assert_eq!(parse_time(&time(t)), Ok(t));
        }
    }
}
