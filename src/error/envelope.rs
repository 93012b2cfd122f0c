//! How errors look on the wire: the ACS envelope, RFC 9110 problem details, scripted answers and
//! the Entra ID authority's OAuth 2.0 errors.

use std::collections::BTreeMap;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use serde::Serialize;

use super::Scripted;

/// The real service's JSON content type, as a ready header value (parsed once, not per
/// response).
pub const JSON_CONTENT_TYPE: HeaderValue =
    HeaderValue::from_static("application/json; charset=utf-8");
use crate::auth::entra::OAuthError;

/// `CommunicationErrorResponse`: `{"error": CommunicationError}`.
#[derive(Debug, Serialize)]
pub struct ErrorResponse {
    /// The error.
    pub error: CommunicationError,
}

/// `CommunicationError` from the ACS common spec.
#[derive(Debug, Clone, Serialize)]
pub struct CommunicationError {
    /// Machine-readable code.
    pub code: String,
    /// Human-readable message.
    pub message: String,
    /// The field or item the error is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Further errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Vec<CommunicationError>>,
    /// A more precise error (SIP routing: `InvalidTrunkFqdn` under
    /// `UnprocessableConfiguration`).
    #[serde(rename = "innererror", skip_serializing_if = "Option::is_none")]
    pub inner_error: Option<Box<CommunicationError>>,
}

/// RFC 9110 problem details, as ASP.NET writes them (`traceId` is a W3C trace-parent).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProblemDetails {
    /// A link to the RFC 9110 section of the status.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// Short summary.
    pub title: &'static str,
    /// HTTP status.
    pub status: u16,
    /// Field → messages (validation failures only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<BTreeMap<String, Vec<String>>>,
    /// `00-<32 hex>-<16 hex>-00`.
    pub trace_id: String,
}

/// A fresh W3C trace-parent, the shape of the real service's `traceId`.
pub(super) fn trace_id() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let span = uuid::Uuid::new_v4().simple().to_string();
    format!("00-{id}-{}-00", &span[..16])
}

/// A JSON body with the success responses' content type (scripted and OAuth answers).
pub(super) fn json(status: StatusCode, body: &impl Serialize) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, JSON_CONTENT_TYPE))
        .body(serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec()))
}

/// A scripted answer: its headers, then its body or the envelope (none for 1xx, 204 and a
/// success without a body of its own).
pub(super) fn scripted_response(scripted: &Scripted) -> HttpResponse {
    let mut builder = HttpResponse::build(scripted.status);
    for (name, value) in &scripted.headers {
        match (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            (Ok(name), Ok(value)) => {
                builder.insert_header((name, value));
            }
            _ => {
                tracing::warn!(rule = %scripted.rule, header = %name, "scripted header is not a valid HTTP header")
            }
        }
    }
    let status = scripted.status;
    if status == StatusCode::NO_CONTENT || status.is_informational() {
        return builder.finish();
    }
    let body = match &scripted.body {
        Some(body) => body.to_string().into_bytes(),
        None if status.is_success() => return builder.finish(),
        None => serde_json::to_vec(&ErrorResponse {
            error: CommunicationError {
                code: scripted.code.clone(),
                message: scripted.message.clone(),
                target: None,
                details: None,
                inner_error: None,
            },
        })
        .unwrap_or_else(|_| b"{}".to_vec()),
    };
    builder
        .insert_header((header::CONTENT_TYPE, JSON_CONTENT_TYPE))
        .body(body)
}

/// An ACS-style error code for a status: `TooManyRequests`, `ServiceUnavailable`, …
pub(super) fn default_code(status: StatusCode) -> String {
    status
        .canonical_reason()
        .unwrap_or("Error")
        .split([' ', '-'])
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// An OAuth 2.0 error as Entra ID writes it.
#[derive(Serialize)]
struct OAuthErrorBody {
    error: &'static str,
    error_description: String,
    error_codes: Vec<u32>,
    timestamp: String,
    trace_id: String,
    correlation_id: String,
}

pub(super) fn oauth_response(
    status: StatusCode,
    err: &OAuthError,
    at: chrono::DateTime<chrono::Utc>,
) -> HttpResponse {
    let description = err.to_string();
    let code = description
        .strip_prefix("AADSTS")
        .and_then(|rest| rest.split(':').next())
        .and_then(|digits| digits.parse().ok())
        .into_iter()
        .collect();
    tracing::info!(error = err.code(), reason = %description, "token request refused");
    json(
        status,
        &OAuthErrorBody {
            error: err.code(),
            error_description: description,
            error_codes: code,
            timestamp: at.format("%Y-%m-%d %H:%M:%SZ").to_string(),
            trace_id: uuid::Uuid::new_v4().to_string(),
            correlation_id: uuid::Uuid::new_v4().to_string(),
        },
    )
}

/// The managed identity endpoint's error shape.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ManagedIdentityError<'a> {
    pub(super) status_code: u16,
    pub(super) message: &'a str,
}
