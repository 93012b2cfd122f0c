//! Email wire models (camelCase, as the spec names them). Request fields are all optional here,
//! so that a missing one gets the service's validation error rather than a JSON error.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `EmailMessage`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmailMessageDto {
    /// `headers`: custom headers.
    pub headers: Option<BTreeMap<String, String>>,
    /// `senderAddress`, on a domain linked to the resource.
    pub sender_address: Option<String>,
    /// `content`.
    pub content: Option<EmailContentDto>,
    /// `recipients`.
    pub recipients: Option<EmailRecipientsDto>,
    /// `attachments`.
    pub attachments: Option<Vec<EmailAttachmentDto>>,
    /// `replyTo`.
    pub reply_to: Option<Vec<EmailAddressDto>>,
    /// `userEngagementTrackingDisabled`.
    pub user_engagement_tracking_disabled: Option<bool>,
}

/// `EmailContent`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmailContentDto {
    /// `subject` (required).
    pub subject: Option<String>,
    /// `plainText`.
    pub plain_text: Option<String>,
    /// `html`.
    pub html: Option<String>,
}

/// `EmailRecipients`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmailRecipientsDto {
    /// `to` (required).
    pub to: Option<Vec<EmailAddressDto>>,
    /// `cc`.
    pub cc: Option<Vec<EmailAddressDto>>,
    /// `bcc`.
    pub bcc: Option<Vec<EmailAddressDto>>,
}

/// `EmailAddress`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmailAddressDto {
    /// `address` (required).
    pub address: Option<String>,
    /// `displayName`.
    pub display_name: Option<String>,
}

/// `EmailAttachment`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmailAttachmentDto {
    /// `name` (required).
    pub name: Option<String>,
    /// `contentType` (required).
    pub content_type: Option<String>,
    /// `contentInBase64` (required).
    pub content_in_base64: Option<String>,
    /// `contentId` (2025-09-01): makes it an inline attachment.
    pub content_id: Option<String>,
}

/// `EmailSendResult`: the 202 body and every poll's.
#[derive(Debug, Serialize)]
pub struct EmailSendResult<'a> {
    /// The operation id.
    pub id: &'a str,
    /// `NotStarted`, `Running`, `Succeeded`, `Failed` or `Canceled`.
    pub status: &'static str,
    /// The error of a `Failed` or `Canceled` operation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDetail<'a>>,
}

/// `ErrorDetail` (common types).
#[derive(Debug, Serialize)]
pub struct ErrorDetail<'a> {
    /// `code`.
    pub code: &'a str,
    /// `message`.
    pub message: &'a str,
}
