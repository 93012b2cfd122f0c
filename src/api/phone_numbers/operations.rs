//! `GET /phoneNumbers/operations/{operationId}` (a `PhoneNumberOperation`, with `Location` when
//! it has a result) and `DELETE` of it (cancel).
//!
//! Statuses are lower camel case; `resourceLocation` is set for searches and capabilities
//! updates only (else `null`, so the SDKs make no final GET); `lastActionDateTime` is the .NET
//! minimum date until the operation completes, as the real service writes it. The api-version may
//! be left out (a poll URL from elsewhere may lack one).

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderValue, LOCATION, RETRY_AFTER};
use actix_web::{HttpRequest, HttpResponse, web};

use super::wire::{ErrorDto, OperationDto, time};
use crate::error::ApiError;
use crate::http::extract::decoded_segment;
use crate::http::{ApiVersion, Res, json_response};
use crate::state::AppState;
use crate::store::lro::{LroStatus, StatusCase};

fn version_ok(req: &HttpRequest) -> Result<(), ApiError> {
    match ApiVersion::of(req) {
        Ok(_) | Err(ApiError::ApiVersionUnspecified) => Ok(()),
        Err(e) => Err(e),
    }
}

/// `GET /phoneNumbers/operations/{operationId}`.
pub async fn get(
    req: HttpRequest,
    res: Res,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    version_ok(&req)?;
    let id = decoded_segment(&req, "operation_id");
    let lro = res.store.numbers.operation(&id)?;
    let now = state.clock.now();
    let status = lro.status(now);
    let location = lro
        .payload
        .resource_location
        .clone()
        .filter(|_| status == LroStatus::Succeeded);
    let body = OperationDto {
        operation_type: lro.payload.kind.as_str(),
        status: status.as_str(StatusCase::LowerCamel),
        resource_location: lro.payload.resource_location.clone(),
        created_date_time: time(lro.created_at),
        error: lro.error(now).map(|e| ErrorDto {
            code: e.code.clone(),
            message: e.message.clone(),
        }),
        id: lro.id.clone(),
        last_action_date_time: if status.is_terminal() {
            time(lro.plan.completes_at)
        } else {
            "0001-01-01T00:00:00+00:00".to_string()
        },
    };
    let mut response = json_response(StatusCode::OK, &body)?;
    if let Some(location) = location
        && let Ok(value) = HeaderValue::from_str(&location)
    {
        response.headers_mut().insert(LOCATION, value);
    }
    if let Some(secs) = lro.retry_after(now) {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(secs.max(1)));
    }
    Ok(response)
}

/// `DELETE /phoneNumbers/operations/{operationId}`: 204 for a known operation. The emulator's
/// operations cannot be stopped once started (their effects are planned when they start), so
/// nothing changes; an unknown id is 404.
pub async fn cancel(req: HttpRequest, res: Res, _: ApiVersion) -> Result<HttpResponse, ApiError> {
    let id = decoded_segment(&req, "operation_id");
    res.store.numbers.operation(&id)?;
    Ok(HttpResponse::NoContent().finish())
}
