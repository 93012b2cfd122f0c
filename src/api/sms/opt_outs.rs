//! SMS opt-outs: `POST /sms/optouts:add|remove|check` (2024-12-10-preview and later).
//!
//! Contract: `shared/specs/Sms/2026-01-23` and its examples (acs-api.md §8.3).

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::validation::Problems;
use crate::domain::PhoneNumber;
use crate::error::ApiError;
use crate::http::{ApiVersion, ProblemJson, Res, json_response};
use crate::resource::Resource;

/// Versions with the opt-out operations.
pub const OPT_OUT_VERSIONS: &[&str] = &[
    "2024-12-10-preview",
    "2025-05-29-preview",
    "2025-08-01-preview",
    "2025-09-17",
    "2026-01-23",
];
/// Most recipients in one opt-out request.
const MAX_RECIPIENTS: usize = 100;

/// `OptOutRequest`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OptOutRequest {
    /// Sender, owned by the resource.
    pub from: Option<String>,
    /// 1..=100 recipients.
    pub recipients: Option<Vec<OptOutRecipient>>,
}

/// `OptOutRecipient`.
#[derive(Debug, Default, Deserialize)]
pub struct OptOutRecipient {
    /// Recipient, E.164.
    pub to: Option<String>,
}

/// `OptOutResponseItem`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OptOutResponseItem {
    /// The recipient exactly as sent.
    pub to: String,
    /// 200, or 400 for a malformed number.
    pub http_status_code: u16,
    /// The pair's state after the operation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_opted_out: Option<bool>,
    /// Why the item failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

/// `OptOutResponse`.
#[derive(Debug, Serialize)]
pub struct OptOutResponse {
    /// One item per recipient, in request order.
    pub value: Vec<OptOutResponseItem>,
}

#[derive(Clone, Copy)]
enum OptOutAction {
    Add,
    Remove,
    Check,
}

/// `POST /sms/optouts:add`: the recipients stop receiving messages from `from`. 200.
pub async fn add_opt_outs(
    res: Res,
    _: ApiVersion,
    ProblemJson(request): ProblemJson<OptOutRequest>,
) -> Result<HttpResponse, ApiError> {
    opt_outs(&res, request, OptOutAction::Add)
}

/// `POST /sms/optouts:remove`: the recipients receive messages from `from` again. 200.
pub async fn remove_opt_outs(
    res: Res,
    _: ApiVersion,
    ProblemJson(request): ProblemJson<OptOutRequest>,
) -> Result<HttpResponse, ApiError> {
    opt_outs(&res, request, OptOutAction::Remove)
}

/// `POST /sms/optouts:check`: whether each recipient opted out of messages from `from`. 200.
pub async fn check_opt_outs(
    res: Res,
    _: ApiVersion,
    ProblemJson(request): ProblemJson<OptOutRequest>,
) -> Result<HttpResponse, ApiError> {
    opt_outs(&res, request, OptOutAction::Check)
}

fn opt_outs(
    res: &Resource,
    request: OptOutRequest,
    action: OptOutAction,
) -> Result<HttpResponse, ApiError> {
    let mut errors = Problems::default();
    let from = request.from.filter(|f| !f.is_empty());
    if from.is_none() {
        errors.required("From");
    }
    match &request.recipients {
        None => errors.required("Recipients"),
        Some(r) if r.is_empty() => errors.min_length("Recipients", 1),
        Some(r) if r.len() > MAX_RECIPIENTS => errors.max_length("Recipients", MAX_RECIPIENTS),
        Some(r) => {
            for (i, recipient) in r.iter().enumerate() {
                if recipient.to.as_deref().is_none_or(str::is_empty) {
                    errors.required_at(&format!("Recipients[{i}].To"), "To");
                }
            }
        }
    }
    // Unlike a send, a malformed sender here is a validation error (OptOutAdd example).
    let from = match from.as_deref().map(PhoneNumber::parse) {
        Some(Ok(from)) => Some(from),
        Some(Err(_)) => {
            errors.add("From", "Invalid from phone number format.".into());
            None
        }
        None => None,
    };
    errors.into_result()?;
    let from = from
        .filter(|f| res.phone_numbers.contains(f))
        .ok_or(ApiError::SenderNotOwned)?;

    let sms = &res.store.sms;
    let recipients = request.recipients.unwrap_or_default();
    if let OptOutAction::Add = action {
        // All of the request's opt-outs are recorded, or none when the table is full.
        let valid: Vec<PhoneNumber> = recipients
            .iter()
            .filter_map(|r| PhoneNumber::parse(r.to.as_deref()?).ok())
            .collect();
        sms.opt_out(&from, &valid)?;
    }
    let value = recipients
        .into_iter()
        .map(|recipient| {
            let raw = recipient.to.unwrap_or_default();
            let Ok(to) = PhoneNumber::parse(&raw) else {
                return OptOutResponseItem {
                    to: raw,
                    http_status_code: 400,
                    is_opted_out: None,
                    error_message: Some("Invalid recipient phone number format".into()),
                };
            };
            match action {
                OptOutAction::Remove => sms.opt_in(&from, &to),
                OptOutAction::Add | OptOutAction::Check => {}
            }
            OptOutResponseItem {
                is_opted_out: Some(sms.is_opted_out(&from, &to)),
                to: raw,
                http_status_code: 200,
                error_message: None,
            }
        })
        .collect();
    json_response(StatusCode::OK, &OptOutResponse { value })
}
