//! `POST /sms`: send one message to up to 100 recipients.
//!
//! Contract: `shared/specs/Sms/*` and acs-api.md §8, §13. The send is always 202 with one result
//! per recipient, in request order: a bad recipient fails only its own item. Whole-request failures are model validation (400 problem
//! details, before anything else) and a sender the resource does not own (401, empty message).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::validation::Problems;
use crate::clock;
use crate::domain::{
    PhoneNumber, PhoneNumberError, SmsMessageId, looks_like_a_phone_number, segments,
};
use crate::error::ApiError;
use crate::http::scenario::SmsOverrides;
use crate::http::{ApiVersion, ProblemJson, Res, json_response};
use crate::resource::Resource;
use crate::scenario::rules::{ReportStatus, SmsOutcome};
use crate::state::AppState;
use crate::store::{SendOutcome, SentSms};

/// Every api-version `POST /sms` accepts: the stable ones and the previews whose send body is
/// the stable shape (npm betas send 2025-05-29-preview).
pub const SEND_VERSIONS: &[&str] = &[
    "2021-01-29",
    "2021-03-07",
    "2022-07-07",
    "2024-01-02",
    "2024-02-05",
    "2024-12-10-preview",
    "2025-05-29-preview",
    "2025-08-01-preview",
    "2025-09-17",
    "2026-01-23",
];
/// Most recipients in one send.
const MAX_RECIPIENTS: usize = 100;
/// Longest message, in UTF-16 code units (.NET string length).
const MAX_MESSAGE_LENGTH: usize = 2048;
/// The longest `smsSendOptions.tag` (bytes), kept with the outbox entry and its delivery
/// report. The spec states no limit; this one is the emulator's (README "Limits").
pub const MAX_TAG_BYTES: usize = 1024;
/// Bounds of `smsSendOptions.deliveryReportTimeoutInSeconds`.
const DELIVERY_REPORT_TIMEOUT: std::ops::RangeInclusive<i64> = 60..=43200;

/// `SendMessageRequest`. Every field is optional here so that a missing one becomes the real
/// service's validation message rather than a serde error.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendSmsRequest {
    /// Sender, E.164, owned by the resource.
    pub from: Option<String>,
    /// 1..=100 recipients.
    pub sms_recipients: Option<Vec<SmsRecipient>>,
    /// The text, up to 2048 characters.
    pub message: Option<String>,
    /// Options.
    pub sms_send_options: Option<SmsSendOptions>,
}

/// `SmsRecipient`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SmsRecipient {
    /// Recipient, E.164.
    pub to: Option<String>,
    /// Client-chosen id that makes retries safe.
    pub repeatability_request_id: Option<String>,
    /// When the client first sent it, RFC 1123.
    pub repeatability_first_sent: Option<String>,
}

/// `SmsSendOptions`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SmsSendOptions {
    /// Required inside the options object.
    pub enable_delivery_report: Option<bool>,
    /// Echoed in the delivery report.
    pub tag: Option<String>,
    /// 60..=43200 (2024-12-10-preview and later).
    pub delivery_report_timeout_in_seconds: Option<i64>,
}

/// `SmsSendResponseItem`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SmsSendResponseItem {
    /// The recipient exactly as sent.
    pub to: String,
    /// Present when the message was (or had been) accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// 202, or the per-recipient failure status.
    pub http_status_code: u16,
    /// `accepted` / `rejected`, only when the recipient carried a repeatability id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repeatability_result: Option<&'static str>,
    /// Why the recipient failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// Whether the message was accepted.
    pub successful: bool,
}

impl SmsSendResponseItem {
    fn failed(to: &str, status: u16, message: &str, repeatability: Option<&'static str>) -> Self {
        Self {
            to: to.to_string(),
            message_id: None,
            http_status_code: status,
            repeatability_result: repeatability,
            error_message: Some(message.to_string()),
            successful: false,
        }
    }
}

/// `SmsSendResponse`.
#[derive(Debug, Serialize)]
pub struct SmsSendResponse {
    /// One item per recipient, in request order.
    pub value: Vec<SmsSendResponseItem>,
}

/// The delivery report details of a failure a scenario rule scripts without giving details.
const FAILED_DELIVERY_DETAILS: &str = "Carrier rejected the message (scripted by the emulator).";

/// The real service's per-recipient messages.
const INVALID_TO: &str = "Invalid To phone number format.";
const UNKNOWN_COUNTRY_CODE: &str = "Unknown country code.";
const INVALID_FIRST_SENT: &str = "Request sent with Invalid DateTime value for repeatability-first-sent. Expected is DateTime ,RFC1123 pattern.";
/// Not observed on the real service (no public recording of a send to an opted-out number).
const OPTED_OUT: &str = "The recipient has opted out of receiving messages from this sender.";

/// `POST /sms` (every version in [`SEND_VERSIONS`]): send one message to 1..=100 recipients. 202.
pub async fn send_sms(
    res: Res,
    state: web::Data<AppState>,
    ApiVersion(version): ApiVersion,
    ProblemJson(request): ProblemJson<SendSmsRequest>,
    scripted: SmsOverrides,
) -> Result<HttpResponse, ApiError> {
    let ValidSend {
        from,
        recipients,
        message,
        options,
    } = validate_send(request)?;
    let now = state.clock.now();
    let from = owned_sender(&res, &from, now)?;

    let enable_report = options.enable_delivery_report.unwrap_or(false);
    let report_delay = TimeDelta::from_std(state.settings.config.sms.sms_delivery_report_delay)
        .unwrap_or(TimeDelta::MAX);
    let (encoding, segment_count) = segments(&message);
    let mut value = Vec::with_capacity(recipients.len());
    for recipient in recipients {
        let raw_to = recipient.to.unwrap_or_default();
        let to = match PhoneNumber::parse(&raw_to) {
            Ok(to) => to,
            Err(e) => {
                let message = match e {
                    PhoneNumberError::InvalidFormat => INVALID_TO,
                    PhoneNumberError::UnknownCountryCode => UNKNOWN_COUNTRY_CODE,
                };
                value.push(SmsSendResponseItem::failed(&raw_to, 400, message, None));
                continue;
            }
        };
        let repeat_id = recipient
            .repeatability_request_id
            .filter(|id| !id.trim().is_empty());
        if repeat_id.is_some()
            && !recipient
                .repeatability_first_sent
                .as_deref()
                .is_some_and(is_rfc1123)
        {
            value.push(SmsSendResponseItem::failed(
                &raw_to,
                400,
                INVALID_FIRST_SENT,
                Some("rejected"),
            ));
            continue;
        }
        if res.store.sms.is_opted_out(&from, &to) {
            value.push(SmsSendResponseItem::failed(&raw_to, 403, OPTED_OUT, None));
            continue;
        }
        let scripted = scripted.for_recipient(&to);
        if let Some((
            rule,
            SmsOutcome {
                result: Some(result),
                ..
            },
        )) = scripted
        {
            tracing::info!(to = %to, rule = %rule, status = result.status, "sms recipient failed by a scenario rule");
            let message = result
                .error_message
                .as_deref()
                .unwrap_or("The message could not be sent to this recipient.");
            value.push(SmsSendResponseItem::failed(
                &raw_to,
                result.status,
                message,
                None,
            ));
            continue;
        }
        let report = scripted.and_then(|(_, outcome)| outcome.delivery_report.as_ref());
        let report_delay = report
            .and_then(|r| r.after)
            .map(|after| TimeDelta::from_std(after).unwrap_or(TimeDelta::MAX))
            .unwrap_or(report_delay);
        let delivery_failure = report
            .filter(|r| r.status == ReportStatus::Failed)
            .map(|r| {
                r.details
                    .clone()
                    .unwrap_or_else(|| FAILED_DELIVERY_DETAILS.to_string())
            });
        let with_repeat = repeat_id.is_some();
        let outcome = res.store.sms.record(
            SentSms {
                message_id: SmsMessageId::new(now, res.store.ids.uuid()),
                from: from.clone(),
                to,
                message: message.clone(),
                tag: options.tag.clone(),
                enable_delivery_report: enable_report,
                delivery_report_timeout_in_seconds: options.delivery_report_timeout_in_seconds,
                repeatability_request_id: repeat_id,
                api_version: version,
                sent_at: now,
                encoding,
                segments: segment_count,
                delivery_report_at: enable_report.then(|| clock::saturating_add(now, report_delay)),
                delivery_failure,
            },
            state.settings.config.limits.max_sms_outbox,
            state.changes.sink(&res.name),
        );
        let (id, repeated) = match outcome {
            SendOutcome::Sent(id) => (id, false),
            SendOutcome::Repeated(id) => (id, true),
        };
        tracing::debug!(message_id = %id, from = %from, repeated, "sms accepted");
        value.push(SmsSendResponseItem {
            to: raw_to,
            message_id: Some(id.to_string()),
            http_status_code: 202,
            repeatability_result: with_repeat.then_some("accepted"),
            error_message: None,
            successful: true,
        });
    }
    json_response(StatusCode::ACCEPTED, &SmsSendResponse { value })
}

/// A send that passed model validation (the sender's ownership is checked next).
struct ValidSend {
    from: String,
    recipients: Vec<SmsRecipient>,
    message: String,
    options: SmsSendOptions,
}

/// ASP.NET-style model validation of a send: every violation is collected, keyed by the
/// PascalCase field path, with .NET's standard attribute messages.
fn validate_send(request: SendSmsRequest) -> Result<ValidSend, ApiError> {
    let mut errors = Problems::default();
    let from = request.from.filter(|f| !f.is_empty());
    if from.is_none() {
        errors.required("From");
    }
    let message = request.message;
    match &message {
        None => errors.required("Message"),
        Some(m) if m.encode_utf16().count() > MAX_MESSAGE_LENGTH => {
            errors.max_length("Message", MAX_MESSAGE_LENGTH)
        }
        Some(_) => {}
    }
    let recipients = request.sms_recipients;
    match &recipients {
        None => errors.required("SmsRecipients"),
        Some(r) if r.is_empty() => errors.min_length("SmsRecipients", 1),
        Some(r) if r.len() > MAX_RECIPIENTS => errors.max_length("SmsRecipients", MAX_RECIPIENTS),
        Some(r) => {
            for (i, recipient) in r.iter().enumerate() {
                match recipient.to.as_deref() {
                    None => errors.required_at(&format!("SmsRecipients[{i}].To"), "To"),
                    // Not a phone number at all (letters, other symbols): the whole send is
                    // refused, as the service's live test expects (see `domain::phone_number`).
                    // A malformed or impossible number only fails its own item, below.
                    Some(to) if !looks_like_a_phone_number(to) => {
                        errors.add(&format!("SmsRecipients[{i}].To"), INVALID_TO.into())
                    }
                    Some(_) => {}
                }
            }
        }
    }
    let options = request.sms_send_options.unwrap_or(SmsSendOptions {
        enable_delivery_report: Some(false),
        ..SmsSendOptions::default()
    });
    if options
        .tag
        .as_ref()
        .is_some_and(|t| t.len() > MAX_TAG_BYTES)
    {
        errors.add(
            "SmsSendOptions.Tag",
            format!(
                "The field Tag must be a string or array type with a maximum length of '{MAX_TAG_BYTES}'."
            ),
        );
    }
    if options.enable_delivery_report.is_none() {
        errors.required_at(
            "SmsSendOptions.EnableDeliveryReport",
            "EnableDeliveryReport",
        );
    }
    if let Some(t) = options.delivery_report_timeout_in_seconds
        && !DELIVERY_REPORT_TIMEOUT.contains(&t)
    {
        errors.add(
            "SmsSendOptions.DeliveryReportTimeoutInSeconds",
            format!(
                "The field DeliveryReportTimeoutInSeconds must be between {} and {}.",
                DELIVERY_REPORT_TIMEOUT.start(),
                DELIVERY_REPORT_TIMEOUT.end()
            ),
        );
    }
    errors.into_result()?;
    match (from, recipients, message) {
        (Some(from), Some(recipients), Some(message)) => Ok(ValidSend {
            from,
            recipients,
            message,
            options,
        }),
        _ => Err(ApiError::Internal(anyhow::anyhow!(
            "validated send lost a field"
        ))),
    }
}

/// The sender, if the resource owns it at `now` with outbound SMS (`store::numbers`: numbers
/// configured with `--phone-number` or fixtures, and numbers bought and not released). A
/// malformed or foreign sender is 401 with an empty message (acs-api.md §3.3, §13:
/// `+15550000000`, `+14255550123`, `+1425555012345` all give 401); so is an owned number
/// without outbound SMS (the service authorizes a sender by its SMS capability; no other answer
/// is documented).
fn owned_sender(res: &Resource, raw: &str, now: DateTime<Utc>) -> Result<PhoneNumber, ApiError> {
    let number = PhoneNumber::parse(raw).map_err(|_| {
        tracing::info!(from = %raw, "sms sender is not a phone number");
        ApiError::SenderNotOwned
    })?;
    match res.store.numbers.sms_sender(&number, now) {
        Ok(()) => Ok(number),
        Err(refusal) => {
            tracing::info!(from = %raw, ?refusal, "sms sender refused: not owned, or without outbound sms");
            Err(ApiError::SenderNotOwned)
        }
    }
}

/// Whether `value` is an RFC 1123 date exactly as .NET's `"R"` format writes it
/// (`Tue, 26 Mar 2019 16:06:51 GMT`), weekday included.
fn is_rfc1123(value: &str) -> bool {
    httpdate::parse_http_date(value)
        .is_ok_and(|t| crate::auth::hmac::http_date(DateTime::<Utc>::from(t)) == value)
}
