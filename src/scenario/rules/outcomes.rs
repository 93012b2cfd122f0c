//! What a rule scripts for the services' own outcomes, rather than an answer of its own:
//! `Sms.Send`'s per-recipient results and delivery reports, `Email.Send`'s operation result and
//! per-recipient delivery reports ([`EmailOverrides`]: the outcomes of every rule that applied).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{de_opt_duration, opt_duration};

/// Per-recipient outcomes of `Sms.Send` for the recipients the rule matches (all of them when
/// the rule has no `to`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SmsOutcome {
    /// The send result for those recipients: not accepted, with this status and message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<SmsResult>,
    /// Their delivery report (when the send asks for one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_report: Option<DeliveryOutcome>,
}

/// A failed per-recipient send result.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SmsResult {
    /// `httpStatusCode` of the item (400..=599).
    pub status: u16,
    /// `errorMessage` of the item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

/// A scripted delivery report.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DeliveryOutcome {
    /// `Delivered` or `Failed`.
    pub status: ReportStatus,
    /// When the report arrives after the send (emulator clock; default `--sms-delivery-report-delay`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_opt_duration",
        serialize_with = "opt_duration::serialize"
    )]
    pub after: Option<Duration>,
    /// `deliveryStatusDetails` (default: a carrier error for `Failed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
}

/// Delivery report statuses a rule can script.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum ReportStatus {
    /// Delivered.
    Delivered,
    /// Failed.
    Failed,
}

/// Outcomes of `Email.Send` for the recipients the rule matches (all of them when the rule has
/// no `to`). A `result` or `completeAfter` applies to the whole send operation as soon as the rule
/// matches one recipient.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EmailOutcome {
    /// How the send operation ends (`Failed` or `Canceled`, with an error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<EmailResult>,
    /// How long the operation stays `Running` (emulator clock; default
    /// `--email-completion-delay`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_opt_duration",
        serialize_with = "opt_duration::serialize"
    )]
    pub complete_after: Option<Duration>,
    /// The recipients' delivery reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_report: Option<EmailDeliveryOutcome>,
}

/// How a scripted email send operation ends.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EmailResult {
    /// `Failed` or `Canceled`.
    pub status: EmailResultStatus,
    /// `error.code` (default: `EmailDropped` for `Failed`, `Canceled` for `Canceled`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// `error.message` (default: the service's message for `EmailDropped`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The non-success terminal statuses of an email send operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum EmailResultStatus {
    /// `Failed`.
    Failed,
    /// `Canceled`.
    Canceled,
}

/// A scripted email delivery report.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EmailDeliveryOutcome {
    /// `Delivered`, `Failed`, `Bounced`, `Suppressed`, `Quarantined` or `FilteredSpam`.
    pub status: EmailReportStatus,
    /// When the report arrives after the operation finishes (emulator clock; default
    /// `--email-delivery-report-delay`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_opt_duration",
        serialize_with = "opt_duration::serialize"
    )]
    pub after: Option<Duration>,
    /// `deliveryStatusDetails.statusMessage` (default: says what happened).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
}

/// Email delivery statuses a rule can script.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum EmailReportStatus {
    /// Delivered.
    Delivered,
    /// Failed.
    Failed,
    /// A hard bounce.
    Bounced,
    /// On the suppression list.
    Suppressed,
    /// Quarantined.
    Quarantined,
    /// Filtered as spam.
    FilteredSpam,
}

impl EmailReportStatus {
    /// The domain status.
    pub fn status(self) -> crate::domain::DeliveryStatus {
        use crate::domain::DeliveryStatus as S;
        match self {
            EmailReportStatus::Delivered => S::Delivered,
            EmailReportStatus::Failed => S::Failed,
            EmailReportStatus::Bounced => S::Bounced,
            EmailReportStatus::Suppressed => S::Suppressed,
            EmailReportStatus::Quarantined => S::Quarantined,
            EmailReportStatus::FilteredSpam => S::FilteredSpam,
        }
    }
}

/// The `email` outcomes rules scripted for one send, handed to the email entry point by
/// whichever front door received the message.
#[derive(Debug, Clone, Default)]
pub struct EmailOverrides(pub Vec<EmailOverride>);

/// One rule's `Email.Send` outcome.
#[derive(Debug, Clone)]
pub struct EmailOverride {
    /// The recipients it applies to (address keys; `None`: all).
    pub recipients: Option<Vec<String>>,
    /// What happens.
    pub outcome: EmailOutcome,
    /// The rule, for logs.
    pub rule: String,
}

impl EmailOverrides {
    /// The first scripted outcome that covers the recipient `key` (a lower-cased address), with
    /// its rule.
    pub fn for_recipient(&self, key: &str) -> Option<(&str, &EmailOutcome)> {
        self.0.iter().find_map(|o| {
            let covers = o
                .recipients
                .as_ref()
                .is_none_or(|list| list.iter().any(|r| r == key));
            covers.then_some((o.rule.as_str(), &o.outcome))
        })
    }

    /// The first scripted end of the operation, with its rule.
    pub fn result(&self) -> Option<(&str, &EmailResult)> {
        self.0
            .iter()
            .find_map(|o| o.outcome.result.as_ref().map(|r| (o.rule.as_str(), r)))
    }

    /// The longest scripted `completeAfter`.
    pub fn complete_after(&self) -> Option<Duration> {
        self.0.iter().filter_map(|o| o.outcome.complete_after).max()
    }
}
