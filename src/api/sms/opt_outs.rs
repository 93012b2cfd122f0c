//! SMS opt-outs: `POST /sms/optouts:add|remove|check` (2024-12-10-preview and later).
//!
//! Contract: `shared/specs/Sms/2026-01-23` and its examples (acs-api.md §8.3).

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::send::SEND_VERSIONS;
use super::validation::Problems;
use crate::domain::PhoneNumber;
use crate::error::ApiError;
use crate::http::operation::Matched;
use crate::http::{ApiVersion, ProblemJson, Res, json_response};
use crate::state::AppState;

/// Versions with the opt-out operations: the send's, from 2024-12-10-preview on.
pub const OPT_OUT_VERSIONS: &[&str] = SEND_VERSIONS.split_at(5).1;
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

/// What an opt-out operation does, named by the operation the request matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptOutAction {
    /// `Sms.AddOptOuts`: the recipients stop receiving messages from `from`.
    Add,
    /// `Sms.RemoveOptOuts`: the recipients receive messages from `from` again.
    Remove,
    /// `Sms.CheckOptOuts`: whether each recipient opted out of messages from `from`.
    Check,
}

impl OptOutAction {
    /// The action of the operation called `operation`.
    pub fn of(operation: &str) -> Option<Self> {
        match operation {
            "Sms.AddOptOuts" => Some(Self::Add),
            "Sms.RemoveOptOuts" => Some(Self::Remove),
            "Sms.CheckOptOuts" => Some(Self::Check),
            _ => None,
        }
    }
}

impl FromRequest for OptOutAction {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            Matched::of(req)
                .and_then(|m| Self::of(m.operation.name))
                .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("not an opt-out operation"))),
        )
    }
}

/// `POST /sms/optouts:add`, `:remove` and `:check` (see [`OptOutAction`]): one item per
/// recipient with the pair's state afterwards. 200.
pub async fn opt_outs(
    res: Res,
    state: web::Data<AppState>,
    _: ApiVersion,
    ProblemJson(request): ProblemJson<OptOutRequest>,
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
    let now = state.clock.now();
    let from = from
        .filter(|f| res.owns(f, now))
        .ok_or(ApiError::SenderNotOwned)?;

    let sms = &res.store.sms;
    let recipients = request.recipients.unwrap_or_default();
    if let OptOutAction::Add = action {
        // All of the request's opt-outs are recorded, or none when the table is full.
        let valid: Vec<PhoneNumber> = recipients
            .iter()
            .filter_map(|r| PhoneNumber::parse(r.to.as_deref()?).ok())
            .collect();
        sms.opt_out(&from, &valid, state.changes.sink(&res.name))?;
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
                OptOutAction::Remove => sms.opt_in(&from, &to, state.changes.sink(&res.name)),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_opt_out_operation_has_its_action() {
        let names: Vec<&str> = crate::api::sms::OPERATIONS
            .iter()
            .map(|op| op.name)
            .filter(|name| name.contains("OptOuts"))
            .collect();
        assert_eq!(names.len(), 3);
        assert!(names.iter().all(|name| OptOutAction::of(name).is_some()));
    }

    #[test]
    fn opt_outs_arrived_in_2024_12_10_preview() {
        assert_eq!(OPT_OUT_VERSIONS.first(), Some(&"2024-12-10-preview"));
        assert_eq!(OPT_OUT_VERSIONS.last(), SEND_VERSIONS.last());
        assert_eq!(OPT_OUT_VERSIONS.len(), 5);
    }
}
