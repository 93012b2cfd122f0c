//! The SMS opt-out list of a resource, for the web inspector and tests (emulator-only): the
//! (sender, recipient) pairs opted out through `POST /sms/optouts:add` (or a fixture, or kept
//! by `--state-dir`).
//!
//! - `GET /_emulator/sms/optouts[?resource=NAME]` → `{"value": [{"from","to"}…]}`, sorted.
//! - `DELETE /_emulator/sms/optouts?from=&to=[&resource=NAME]` opts the recipient back in (as
//!   `POST /sms/optouts:remove` does; the change reaches persistence and live views) → 204; 404
//!   when the pair is not opted out; 400 for a missing or malformed number.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use crate::domain::PhoneNumber;
use crate::error::ApiError;
use crate::http::json_response;
use crate::state::AppState;

/// One opt-out.
#[derive(Debug, Serialize)]
pub struct OptOutDto {
    /// The sender (a number of the resource).
    pub from: String,
    /// The recipient who opted out.
    pub to: String,
}

#[derive(Debug, Serialize)]
struct List {
    value: Vec<OptOutDto>,
}

/// `GET /_emulator/sms/optouts`: the resource's opt-outs.
pub async fn list_opt_outs(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let resource = super::resource_or_default(&state, &req)?;
    let value = resource
        .store
        .sms
        .opt_outs()
        .into_iter()
        .map(|(from, to)| OptOutDto {
            from: from.to_string(),
            to: to.to_string(),
        })
        .collect();
    json_response(StatusCode::OK, &List { value })
}

/// `DELETE /_emulator/sms/optouts?from=&to=`: opts `to` back in to messages from `from`.
pub async fn remove_opt_out(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let resource = super::resource_or_default(&state, &req)?;
    let query = req.uri().query().unwrap_or("");
    let number = |name: &'static str| -> Result<PhoneNumber, ApiError> {
        let raw = form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                ApiError::validation(format!("The {name} parameter is required."), name)
            })?;
        // An unencoded `+` arrives as a space (form encoding): accept the number anyway.
        let raw = if raw.starts_with('+') {
            raw
        } else {
            format!("+{raw}")
        };
        PhoneNumber::parse(&raw).map_err(|e| {
            ApiError::validation(
                format!("{name} '{raw}' is not a valid phone number: {e} (e.g. +14255550123)."),
                name,
            )
        })
    };
    let (from, to) = (number("from")?, number("to")?);
    let sms = &resource.store.sms;
    if !sms.is_opted_out(&from, &to) {
        return Err(ApiError::NotFound(format!(
            "{to} has not opted out of messages from {from}."
        )));
    }
    sms.opt_in(&from, &to, state.changes.sink(&resource.name));
    tracing::info!(from = %from, to = %to, resource = %resource.name, "sms opt-out removed");
    Ok(HttpResponse::NoContent().finish())
}
