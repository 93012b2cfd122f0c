//! Answering requests: JSON responses, the client's origin for links, and the 404/405 errors of
//! requests that match no operation.

use std::borrow::Cow;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use crate::error::ApiError;
use crate::error::JSON_CONTENT_TYPE;

/// The scheme and host (`host[:port]`) a client used to reach the emulator, for URLs the
/// emulator hands out (the Entra ID authority's issuer and endpoints, Chat's `nextLink`, the
/// control API's connection strings): the listener's scheme and the host the request addresses
/// (HTTP/2 `:authority`, else `Host`). Only with `--trust-forwarded-headers` do a reverse
/// proxy's `Forwarded` / `X-Forwarded-Host` / `X-Forwarded-Proto` headers count: anyone can send
/// them, and a forged host would put the forger's URL into tokens' issuer and into links.
pub fn origin(req: &HttpRequest) -> (Cow<'static, str>, Cow<'_, str>) {
    let trust = req
        .app_data::<web::Data<crate::state::AppState>>()
        .is_some_and(|s| s.settings.config.tokens.trust_forwarded_headers);
    if trust {
        let info = req.connection_info();
        return (
            Cow::Owned(info.scheme().to_string()),
            Cow::Owned(info.host().to_string()),
        );
    }
    let scheme = if req.app_config().secure() {
        "https"
    } else {
        "http"
    };
    let host = super::host::request_host(req.uri(), req.headers())
        .unwrap_or_else(|| req.app_config().host());
    (Cow::Borrowed(scheme), Cow::Borrowed(host))
}

/// A JSON response with the real service's success content type.
pub fn json_response(
    status: actix_web::http::StatusCode,
    body: &impl Serialize,
) -> Result<HttpResponse, ApiError> {
    let bytes = serde_json::to_vec(body).map_err(|e| ApiError::Internal(e.into()))?;
    Ok(HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, JSON_CONTENT_TYPE))
        .body(bytes))
}

/// The 405 of a path that has operations, but none for this method.
pub fn method_refused(req: &HttpRequest) -> ApiError {
    ApiError::MethodNotAllowed(req.method().to_string())
}

/// The 404 of a request that matches no operation.
pub fn no_operation(req: &HttpRequest) -> ApiError {
    ApiError::NotFound(format!(
        "No operation matches {} {}.",
        req.method(),
        req.path()
    ))
}

/// The fallback for unknown routes: 404 with the envelope.
pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(no_operation(&req))
}
