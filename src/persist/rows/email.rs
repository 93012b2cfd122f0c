//! Email rows: a kept message with its mailboxes, attachments, deliveries and its send operation's plan.

use serde::{Deserialize, Serialize};

use crate::domain::{DeliveryStatus, EmailAddress};
use crate::store::lro::{LroError, LroOutcome, LroPlan};
use crate::store::{Attachment, Delivery, Mailbox, SentEmail};

use super::{RowError, parse_time, time};

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
