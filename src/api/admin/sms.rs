//! The SMS outbox for tests (emulator-only, LocalStack-style): what the emulator "sent".
//!
//! - `GET /_emulator/sms?to=&from=&tag=&since=&wait=&count=`: accepted messages, oldest first.
//!   With `wait` (e.g. `5s`, `500ms`, or plain seconds; at most 60 s) the request long-polls
//!   until at least `count` (default 1) messages match or the time is up, then answers 200 with
//!   whatever matches, so tests never sleep. The wait is real time, not the emulator clock.
//! - `DELETE /_emulator/sms`: empties the outbox (delivery reports, repeatability records and
//!   opt-outs stay; `POST /_emulator/reset` clears everything).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use super::query::{Cleared, Poll, invalid};
use crate::domain::PhoneNumber;
use crate::error::ApiError;
use crate::http::json_response;
use crate::state::AppState;
use crate::store::{OutboxFilter, SentSms};

/// One outbox entry.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboxMessage {
    /// The id the send returned.
    pub message_id: String,
    /// Sender.
    pub from: String,
    /// Recipient.
    pub to: String,
    /// The text.
    pub message: String,
    /// `smsSendOptions.tag`, or null.
    pub tag: Option<String>,
    /// `smsSendOptions.enableDeliveryReport`.
    pub enable_delivery_report: bool,
    /// `smsSendOptions.deliveryReportTimeoutInSeconds`, or null.
    pub delivery_report_timeout_in_seconds: Option<i64>,
    /// The recipient's repeatability id, or null.
    pub repeatability_request_id: Option<String>,
    /// The send's api-version.
    pub api_version: &'static str,
    /// When it was accepted (emulator clock, RFC 3339).
    pub sent_at: String,
    /// When its delivery report is (or was) available, or null.
    pub delivery_report_at: Option<String>,
    /// `GSM-7` or `UCS-2`.
    pub encoding: &'static str,
    /// SMS segments the text takes.
    pub segments: u32,
}

impl From<SentSms> for OutboxMessage {
    fn from(sms: SentSms) -> Self {
        let ts = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
        Self {
            message_id: sms.message_id.to_string(),
            from: sms.from.to_string(),
            to: sms.to.to_string(),
            message: sms.message,
            tag: sms.tag,
            enable_delivery_report: sms.enable_delivery_report,
            delivery_report_timeout_in_seconds: sms.delivery_report_timeout_in_seconds,
            repeatability_request_id: sms.repeatability_request_id,
            api_version: sms.api_version,
            sent_at: ts(sms.sent_at),
            delivery_report_at: sms.delivery_report_at.map(ts),
            encoding: sms.encoding.as_str(),
            segments: sms.segments,
        }
    }
}

/// The outbox listing.
#[derive(Debug, Serialize)]
pub struct OutboxResponse {
    /// Matching messages, oldest first.
    pub value: Vec<OutboxMessage>,
}

/// `GET /_emulator/sms`: list (and optionally wait for) accepted messages.
pub async fn list_sent_sms(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let query = Poll::parse(req.uri().query().unwrap_or(""), outbox_filter)?;
    let resource = super::resource_or_default(&state, &req)?;
    let sms = &resource.store.sms;
    let found = query
        .poll(|| sms.changed(), |filter| sms.sent(filter))
        .await;
    json_response(
        StatusCode::OK,
        &OutboxResponse {
            value: found.into_iter().map(OutboxMessage::from).collect(),
        },
    )
}

/// `DELETE /_emulator/sms`: empty the outbox.
pub async fn clear_sent_sms(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let resource = super::resource_or_default(&state, &req)?;
    let cleared = resource
        .store
        .sms
        .clear_sent(state.changes.sink(&resource.name));
    tracing::info!(cleared, "sms outbox cleared");
    json_response(StatusCode::OK, &Cleared { cleared })
}

/// One `GET /_emulator/sms` filter parameter (`to`, `from`, `tag`, `since`; others are
/// ignored).
fn outbox_filter(filter: &mut OutboxFilter, name: &str, value: &str) -> Result<(), ApiError> {
    match name {
        "to" | "from" => {
            // An unencoded `+` arrives as a space (form encoding): accept the number anyway.
            let number = if value.starts_with('+') {
                value.to_string()
            } else {
                format!("+{value}")
            };
            let number = PhoneNumber::parse(&number)
                .map_err(|_| invalid(name, value, "an E.164 phone number"))?;
            if name == "to" {
                filter.to = Some(number);
            } else {
                filter.from = Some(number);
            }
        }
        "tag" => filter.tag = Some(value.to_string()),
        "since" => {
            // An unencoded `+02:00` offset arrives as ` 02:00` (form encoding).
            let since = DateTime::parse_from_rfc3339(&value.replace(' ', "+"))
                .map_err(|_| invalid(name, value, "an RFC 3339 timestamp"))?;
            filter.since = Some(since.with_timezone(&Utc));
        }
        _ => {}
    }
    Ok(())
}
