//! SMS delivery reports: `GET /deliveryReports/{id}` (2025-08-01-preview and later).
//!
//! Contract: `shared/specs/Sms/2026-01-23` and its examples (acs-api.md §8.3).

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use chrono::SecondsFormat;
use serde::Serialize;

use crate::domain::SmsMessageId;
use crate::error::ApiError;
use crate::http::Res;
use crate::http::extract::decoded_segment;
use crate::http::{ApiVersion, json_response};
use crate::state::AppState;
use crate::store::DeliveryStatus;

/// Versions with `GET /deliveryReports/{id}`.
pub const DELIVERY_REPORT_VERSIONS: &[&str] = &["2025-08-01-preview", "2026-01-23"];

/// The `{message_id}` of a delivery report's path (percent-encoded or raw); `None` when it is no
/// message id (the report is then not found).
pub struct MessageIdPath(pub Option<SmsMessageId>);

impl FromRequest for MessageIdPath {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(MessageIdPath(SmsMessageId::parse(&decoded_segment(
            req,
            "message_id",
        )))))
    }
}

/// `DeliveryReport`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryReportDto {
    /// `Delivered` or `Failed`.
    pub delivery_status: &'static str,
    /// Carrier detail.
    pub delivery_status_details: String,
    /// One attempt.
    pub delivery_attempts: Vec<DeliveryAttemptDto>,
    /// When the report arrived.
    pub received_timestamp: String,
    /// The send's tag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// The message.
    pub message_id: String,
    /// Sender.
    pub from: String,
    /// Recipient.
    pub to: String,
}

/// `DeliveryAttempt`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryAttemptDto {
    /// When.
    pub timestamp: String,
    /// Segments delivered.
    pub segments_succeeded: u32,
    /// Segments lost.
    pub segments_failed: u32,
}

/// `GET /deliveryReports/{outgoingMessageId}` (2025-08-01-preview, 2026-01-23): the report of a
/// message sent with `enableDeliveryReport: true`, once it has arrived (see
/// `--sms-delivery-report-delay`). Otherwise 404 problem details.
pub async fn get_delivery_report(
    res: Res,
    state: web::Data<AppState>,
    _: ApiVersion,
    MessageIdPath(id): MessageIdPath,
) -> Result<HttpResponse, ApiError> {
    let report = id
        .and_then(|id| res.store.sms.delivery_report(&id, state.clock.now()))
        .ok_or(ApiError::ProblemNotFound)?;
    let received = report
        .received_at
        .to_rfc3339_opts(SecondsFormat::Secs, true);
    let (status, succeeded, failed) = match report.status {
        DeliveryStatus::Delivered => ("Delivered", report.segments, 0),
        DeliveryStatus::Failed => ("Failed", 0, report.segments),
    };
    json_response(
        StatusCode::OK,
        &DeliveryReportDto {
            delivery_status: status,
            delivery_status_details: report.status_details,
            delivery_attempts: vec![DeliveryAttemptDto {
                timestamp: received.clone(),
                segments_succeeded: succeeded,
                segments_failed: failed,
            }],
            received_timestamp: received,
            tag: report.tag,
            message_id: report.message_id.to_string(),
            from: report.from.to_string(),
            to: report.to.to_string(),
        },
    )
}
