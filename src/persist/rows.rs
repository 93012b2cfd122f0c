//! The rows the state database holds, as JSON documents where a value has structure (a thread's
//! properties and participants, a message, an SMS): the store's types carry no serde, so each
//! has a row type here and a conversion both ways. A row that does not convert back is
//! reported (never guessed at).

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{
    ChatMessageId, CommunicationIdentifier, CommunicationUserId, PhoneNumber, SmsEncoding,
    SmsMessageId, ThreadId,
};
use crate::domain::{DeliveryStatus, EmailAddress};
use crate::store::lro::{LroError, LroOutcome, LroPlan};
use crate::store::numbers::{
    Assignment, AvailableNumber, Capabilities, Capability, Cost, NumberType, OwnedNumber,
    Reservation, Route, SipConfig, Trunk,
};
use crate::store::{
    Attachment, Delivery, Mailbox, MessageType, MessageView, Metadata, Participant,
    RetentionPolicy, Room, RoomRole, SentEmail, SentSms, SystemContent, ThreadProps,
};

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

fn number(raw: &str) -> Result<PhoneNumber, RowError> {
    PhoneNumber::parse(raw).map_err(|_| format!("invalid phone number {raw:?}"))
}

/// Capabilities as `[calling, sms]` wire names.
type CapabilitiesRow = (String, String);

fn capabilities_row(c: Capabilities) -> CapabilitiesRow {
    (c.calling.as_str().to_string(), c.sms.as_str().to_string())
}

fn capabilities(row: &CapabilitiesRow) -> Result<Capabilities, RowError> {
    let one =
        |raw: &str| Capability::parse(raw).ok_or_else(|| format!("unknown capability {raw:?}"));
    Ok(Capabilities {
        calling: one(&row.0)?,
        sms: one(&row.1)?,
    })
}

fn number_type(raw: &str) -> Result<NumberType, RowError> {
    NumberType::parse(raw).ok_or_else(|| format!("unknown number type {raw:?}"))
}

fn assignment(raw: &str) -> Result<Assignment, RowError> {
    Assignment::parse(raw).ok_or_else(|| format!("unknown assignment {raw:?}"))
}

/// A phone number the resource owns (or owned: released), with its capabilities' timeline.
#[derive(Debug, Serialize, Deserialize)]
pub struct OwnedRow {
    country: String,
    number_type: String,
    assignment: String,
    purchased_at: String,
    cost: f64,
    owned_from: String,
    released_at: Option<String>,
    capabilities: Vec<(String, CapabilitiesRow)>,
}

impl OwnedRow {
    /// The row of `owned`.
    pub fn of(owned: &OwnedNumber) -> Self {
        Self {
            country: owned.country.clone(),
            number_type: owned.number_type.as_str().to_string(),
            assignment: owned.assignment.as_str().to_string(),
            purchased_at: time(owned.purchased_at),
            cost: owned.cost.amount,
            owned_from: time(owned.owned_from),
            released_at: owned.released_at.map(time),
            capabilities: owned
                .capabilities
                .iter()
                .map(|(from, c)| (time(*from), capabilities_row(*c)))
                .collect(),
        }
    }

    /// The record of the number `raw`.
    pub fn into_owned(self, raw: &str) -> Result<OwnedNumber, RowError> {
        Ok(OwnedNumber {
            number: number(raw)?,
            country: self.country,
            number_type: number_type(&self.number_type)?,
            assignment: assignment(&self.assignment)?,
            purchased_at: parse_time(&self.purchased_at)?,
            cost: Cost { amount: self.cost },
            owned_from: parse_time(&self.owned_from)?,
            released_at: parse_opt_time(&self.released_at)?,
            capabilities: self
                .capabilities
                .iter()
                .map(|(from, c)| Ok((parse_time(from)?, capabilities(c)?)))
                .collect::<Result<_, RowError>>()?,
        })
    }
}

/// A number a reservation holds.
#[derive(Debug, Serialize, Deserialize)]
pub struct AvailableRow {
    id: String,
    number: String,
    country: String,
    number_type: String,
    assignment: String,
    capabilities: CapabilitiesRow,
    cost: f64,
}

/// A phone-number reservation: its expiry, numbers and purchase.
#[derive(Debug, Serialize, Deserialize)]
pub struct ReservationRow {
    created_at: String,
    expires_at: String,
    numbers: Vec<AvailableRow>,
    /// When its purchase completes, and whether it succeeds.
    purchase: Option<(String, bool)>,
}

impl ReservationRow {
    /// The row of `r`.
    pub fn of(r: &Reservation) -> Self {
        Self {
            created_at: time(r.created_at),
            expires_at: time(r.expires_at),
            numbers: r
                .numbers
                .iter()
                .map(|(id, n)| AvailableRow {
                    id: id.clone(),
                    number: n.number.to_string(),
                    country: n.country.clone(),
                    number_type: n.number_type.as_str().to_string(),
                    assignment: n.assignment.as_str().to_string(),
                    capabilities: capabilities_row(n.capabilities),
                    cost: n.cost.amount,
                })
                .collect(),
            purchase: r.purchase.map(|(at, ok)| (time(at), ok)),
        }
    }

    /// The reservation `id`.
    pub fn into_reservation(self, id: &str) -> Result<Reservation, RowError> {
        Ok(Reservation {
            id: id.to_string(),
            created_at: parse_time(&self.created_at)?,
            expires_at: parse_time(&self.expires_at)?,
            numbers: self
                .numbers
                .into_iter()
                .map(|n| {
                    Ok((
                        n.id,
                        AvailableNumber {
                            number: number(&n.number)?,
                            country: n.country,
                            number_type: number_type(&n.number_type)?,
                            assignment: assignment(&n.assignment)?,
                            capabilities: capabilities(&n.capabilities)?,
                            cost: Cost { amount: n.cost },
                        },
                    ))
                })
                .collect::<Result<_, RowError>>()?,
            purchase: self
                .purchase
                .map(|(at, ok)| Ok::<_, RowError>((parse_time(&at)?, ok)))
                .transpose()?,
        })
    }
}

/// A SIP trunk: its FQDN and port.
#[derive(Debug, Serialize, Deserialize)]
pub struct TrunkRow {
    fqdn: String,
    port: i32,
}

/// A SIP route.
#[derive(Debug, Serialize, Deserialize)]
pub struct RouteRow {
    name: String,
    description: Option<String>,
    number_pattern: String,
    trunks: Vec<String>,
}

/// The SIP routing configuration: trunks, and routes in the order they apply.
#[derive(Debug, Serialize, Deserialize)]
pub struct SipRow {
    trunks: Vec<TrunkRow>,
    routes: Vec<RouteRow>,
}

impl SipRow {
    /// The row of `sip`.
    pub fn of(sip: &SipConfig) -> Self {
        Self {
            trunks: sip
                .trunks
                .iter()
                .map(|(fqdn, t)| TrunkRow {
                    fqdn: fqdn.clone(),
                    port: t.port,
                })
                .collect(),
            routes: sip
                .routes
                .iter()
                .map(|r| RouteRow {
                    name: r.name.clone(),
                    description: r.description.clone(),
                    number_pattern: r.number_pattern.clone(),
                    trunks: r.trunks.clone(),
                })
                .collect(),
        }
    }

    /// The configuration.
    pub fn into_sip(self) -> SipConfig {
        SipConfig {
            trunks: self
                .trunks
                .into_iter()
                .map(|t| (t.fqdn, Trunk { port: t.port }))
                .collect(),
            routes: self
                .routes
                .into_iter()
                .map(|r| Route {
                    name: r.name,
                    description: r.description,
                    number_pattern: r.number_pattern,
                    trunks: r.trunks,
                })
                .collect(),
        }
    }
}

fn email_address(raw: &str) -> Result<EmailAddress, RowError> {
    EmailAddress::parse(raw).map_err(|_| format!("invalid email address {raw:?}"))
}

fn bytes_row(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn bytes(raw: &str) -> Result<Vec<u8>, RowError> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(raw)
        .map_err(|e| format!("invalid base64: {e}"))
}

/// An address and its display name.
type MailboxRow = (String, Option<String>);

fn mailboxes_row(list: &[Mailbox]) -> Vec<MailboxRow> {
    list.iter()
        .map(|m| (m.address.as_str().to_string(), m.display_name.clone()))
        .collect()
}

fn mailboxes(rows: Vec<MailboxRow>) -> Result<Vec<Mailbox>, RowError> {
    rows.into_iter()
        .map(|(address, display_name)| {
            Ok(Mailbox {
                address: email_address(&address)?,
                display_name,
            })
        })
        .collect()
}

/// An attachment, its bytes in base64.
#[derive(Debug, Serialize, Deserialize)]
pub struct AttachmentRow {
    name: String,
    content_type: String,
    content_id: Option<String>,
    content: String,
}

/// One recipient's delivery.
#[derive(Debug, Serialize, Deserialize)]
pub struct DeliveryRow {
    recipient: String,
    status: String,
    details: String,
    at: String,
}

/// An operation's course: when it runs and ends, how (`Succeeded`, `Failed`, `Canceled`, with
/// the error's code and message).
#[derive(Debug, Serialize, Deserialize)]
pub struct PlanRow {
    running_at: String,
    completes_at: String,
    outcome: String,
    error: Option<(String, String)>,
}

impl PlanRow {
    fn of(plan: &LroPlan) -> Self {
        let (outcome, error) = match &plan.outcome {
            LroOutcome::Succeeded => ("Succeeded", None),
            LroOutcome::Failed(e) => ("Failed", Some(e)),
            LroOutcome::Canceled(e) => ("Canceled", Some(e)),
        };
        Self {
            running_at: time(plan.running_at),
            completes_at: time(plan.completes_at),
            outcome: outcome.to_string(),
            error: error.map(|e| (e.code.clone(), e.message.clone())),
        }
    }

    fn into_plan(self) -> Result<LroPlan, RowError> {
        let error = || -> Result<LroError, RowError> {
            let (code, message) = self
                .error
                .clone()
                .ok_or_else(|| format!("a {} operation without its error", self.outcome))?;
            Ok(LroError { code, message })
        };
        let outcome = match self.outcome.as_str() {
            "Succeeded" => LroOutcome::Succeeded,
            "Failed" => LroOutcome::Failed(error()?),
            "Canceled" => LroOutcome::Canceled(error()?),
            other => return Err(format!("unknown operation outcome {other:?}")),
        };
        Ok(LroPlan {
            running_at: parse_time(&self.running_at)?,
            completes_at: parse_time(&self.completes_at)?,
            outcome,
        })
    }
}

/// An accepted email, as the inbox shows it, with its send operation's plan.
#[derive(Debug, Serialize, Deserialize)]
pub struct EmailRow {
    internet_message_id: String,
    sender: String,
    to: Vec<MailboxRow>,
    cc: Vec<MailboxRow>,
    bcc: Vec<MailboxRow>,
    reply_to: Vec<MailboxRow>,
    subject: String,
    plain_text: Option<String>,
    html: Option<String>,
    attachments: Vec<AttachmentRow>,
    headers: Vec<(String, String)>,
    user_engagement_tracking_disabled: bool,
    via: String,
    sent_at: String,
    plan: PlanRow,
    deliveries: Vec<DeliveryRow>,
    /// The message as a front door received it, in base64.
    raw: Option<String>,
}

impl EmailRow {
    /// The row of `e`.
    pub fn of(e: &SentEmail) -> Self {
        Self {
            internet_message_id: e.internet_message_id.clone(),
            sender: e.sender.as_str().to_string(),
            to: mailboxes_row(&e.to),
            cc: mailboxes_row(&e.cc),
            bcc: mailboxes_row(&e.bcc),
            reply_to: mailboxes_row(&e.reply_to),
            subject: e.subject.clone(),
            plain_text: e.plain_text.clone(),
            html: e.html.clone(),
            attachments: e
                .attachments
                .iter()
                .map(|a| AttachmentRow {
                    name: a.name.clone(),
                    content_type: a.content_type.clone(),
                    content_id: a.content_id.clone(),
                    content: bytes_row(&a.content),
                })
                .collect(),
            headers: e.headers.clone(),
            user_engagement_tracking_disabled: e.user_engagement_tracking_disabled,
            via: e.via.to_string(),
            sent_at: time(e.sent_at),
            plan: PlanRow::of(&e.plan),
            deliveries: e
                .deliveries
                .iter()
                .map(|d| DeliveryRow {
                    recipient: d.recipient.as_str().to_string(),
                    status: d.status.as_str().to_string(),
                    details: d.details.to_string(),
                    at: time(d.at),
                })
                .collect(),
            raw: e.raw.as_deref().map(bytes_row),
        }
    }

    /// The email `id`.
    pub fn into_email(self, id: &str) -> Result<SentEmail, RowError> {
        Ok(SentEmail {
            id: id.to_string(),
            internet_message_id: self.internet_message_id,
            sender: email_address(&self.sender)?,
            to: mailboxes(self.to)?,
            cc: mailboxes(self.cc)?,
            bcc: mailboxes(self.bcc)?,
            reply_to: mailboxes(self.reply_to)?,
            subject: self.subject,
            plain_text: self.plain_text,
            html: self.html,
            attachments: self
                .attachments
                .into_iter()
                .map(|a| {
                    Ok(Attachment {
                        name: a.name,
                        content_type: a.content_type,
                        content_id: a.content_id,
                        content: bytes(&a.content)?,
                    })
                })
                .collect::<Result<_, RowError>>()?,
            headers: self.headers,
            user_engagement_tracking_disabled: self.user_engagement_tracking_disabled,
            via: self.via.into(),
            sent_at: parse_time(&self.sent_at)?,
            plan: self.plan.into_plan()?,
            deliveries: self
                .deliveries
                .into_iter()
                .map(|d| {
                    Ok(Delivery {
                        recipient: email_address(&d.recipient)?,
                        status: DeliveryStatus::parse(&d.status)
                            .ok_or_else(|| format!("unknown delivery status {:?}", d.status))?,
                        details: d.details.into(),
                        at: parse_time(&d.at)?,
                    })
                })
                .collect::<Result<_, RowError>>()?,
            raw: self.raw.as_deref().map(bytes).transpose()?,
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
    use crate::domain::SmsEncoding;

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
