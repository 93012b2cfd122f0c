//! `GET /emails/operations/{operation_id}`: a send operation's status.
//!
//! 200 `{id, status}` (`error` once `Failed` or `Canceled`), `retry-after` only while the
//! operation is unfinished; 404 for an id the resource never accepted (or forgot, past
//! `--max-emails`). The `api-version` may be left out: the Python SDK polls the
//! `Operation-Location` it was given verbatim, and a link from elsewhere may lack one.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::STATUS_CASE;
use super::wire::{EmailSendResult, ErrorDetail};
use crate::error::ApiError;
use crate::http::extract::decoded_segment;
use crate::http::lro::respond;
use crate::http::{ApiVersion, Res};
use crate::state::AppState;

/// `GET /emails/operations/{operation_id}`.
pub async fn get_send_result(
    req: HttpRequest,
    res: Res,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    match ApiVersion::of(&req) {
        Ok(_) | Err(ApiError::ApiVersionUnspecified) => {}
        Err(e) => return Err(e),
    }
    let id = decoded_segment(&req, "operation_id");
    let lro = res.store.email.operation(&id)?;
    let now = state.clock.now();
    let error = lro.error(now);
    let body = EmailSendResult {
        id: &lro.id,
        status: lro.status(now).as_str(STATUS_CASE),
        error: error.map(|e| ErrorDetail {
            code: &e.code,
            message: &e.message,
        }),
    };
    respond(StatusCode::OK, &body, None, lro.retry_after(now))
}
