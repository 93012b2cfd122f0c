//! Middleware for the services that accept an access key or a Microsoft Entra ID token
//! (Identity, SMS).
//!
//! It buffers the body (the signature covers its hash), then either verifies an access-key
//! signature with [`hmac::verify`] or, for `Authorization: Bearer …`, an Entra ID token with
//! [`EntraAuthority::verify`](super::entra::EntraAuthority::verify); puts the body back for the
//! handler and records the [`Caller`]. HMAC failures are 401 `Denied`, token failures 401
//! `InvalidAuthenticationToken`, each saying what was wrong; the expected string-to-sign is logged
//! at debug level (never the key). The body is read even when the request is rejected, so the
//! client's keep-alive connection survives.

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, ResponseError, web};

use super::Caller;
use super::hmac::{self, HmacError, HmacRequest};
use crate::error::ApiError;
use crate::resource::Res;
use crate::startup::AppState;

/// `from_fn` middleware for scopes that accept access-key or Entra ID authentication.
pub async fn require_service_auth(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::EitherBody<impl MessageBody>>, Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Err(ApiError::Internal(anyhow::anyhow!("AppState is not registered")).into());
    };
    // `api::edge` (its limits) has already buffered the body within --request-body-timeout and left a copy
    // in the extensions; the payload stays queued for the handler. A body `limits` did not
    // buffer (none announced) is read here and put back.
    let buffered = req
        .extensions()
        .get::<crate::api::BufferedBody>()
        .map(|b| b.0.clone());
    let requeue = buffered.is_none();
    let body = match buffered {
        Some(body) => Ok(body),
        None => req.extract::<web::Bytes>().await,
    };
    let body = match body {
        Ok(body) => body,
        Err(e) => {
            let err = if e.as_response_error().status_code()
                == actix_web::http::StatusCode::PAYLOAD_TOO_LARGE
            {
                ApiError::PayloadTooLarge(state.settings.config.limits.max_body_bytes)
            } else {
                ApiError::invalid_body(format!("The request body could not be read: {e}"))
            };
            return Ok(req
                .into_response(err.error_response())
                .map_into_right_body());
        }
    };

    // Two Authorization headers are ambiguous (a proxy may honour the other one): refuse them.
    if req
        .headers()
        .get_all(header::AUTHORIZATION)
        .nth(1)
        .is_some()
    {
        tracing::info!(method = %req.method(), path = %req.path(), "repeated Authorization header");
        let err = ApiError::Denied("The Authorization header is repeated.".into());
        return Ok(req
            .into_response(err.error_response())
            .map_into_right_body());
    }
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    if let Some(token) = authorization.as_deref().and_then(bearer_token) {
        return match state.entra.verify(token, state.clock.now()) {
            Ok(principal) => {
                // An Entra ID token names no resource: the host the request addresses does
                // (the HTTP/2 `:authority` or the Host header; else `default`).
                let host = crate::resource::request_host(req.uri(), req.headers());
                let resource = state.resources.by_host(host);
                if !resource.allows_entra_client(&principal.app_id) {
                    tracing::info!(client = %principal.app_id, resource = %resource.name, "Entra ID client not allowed on this resource");
                    let err = ApiError::InvalidAuthenticationToken(format!(
                        "Authentication failed: the client {} is not allowed to call the resource '{}'.",
                        principal.app_id, resource.name
                    ));
                    return Ok(req
                        .into_response(err.error_response())
                        .map_into_right_body());
                }
                req.extensions_mut().insert(Res(resource));
                req.extensions_mut().insert(Caller::Entra(principal));
                if requeue {
                    req.set_payload(Payload::from(body));
                }
                next.call(req)
                    .await
                    .map(ServiceResponse::map_into_left_body)
            }
            Err(e) => {
                tracing::info!(reason = %e, method = %req.method(), path = %req.path(), "Entra ID authentication failed");
                let err =
                    ApiError::InvalidAuthenticationToken(format!("Authentication failed: {e}."));
                Ok(req
                    .into_response(err.error_response())
                    .map_into_right_body())
            }
        };
    }

    // Header values that are not UTF-8 cannot be part of a valid signature; they read as "\u{fffd}".
    let headers: Vec<(&str, &str)> = req
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str(),
                std::str::from_utf8(value.as_bytes()).unwrap_or("\u{fffd}"),
            )
        })
        .collect();
    let host = crate::resource::request_host(req.uri(), req.headers()).map(str::to_string);
    // The content hash covers the body as sent: before any Content-Encoding was undone.
    let signed_body = req
        .extensions()
        .get::<crate::api::body::SignedBody>()
        .map(|b| b.0.clone());
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str().to_string())
        .unwrap_or_else(|| req.path().to_string());
    let signed = HmacRequest {
        method: req.method().as_str(),
        path_and_query: &path_and_query,
        host: host.as_deref(),
        headers: &headers,
        body: signed_body.as_deref().unwrap_or(&body),
    };
    let config = &state.settings.config;
    // The key that signed the request picks the resource.
    let resources = state.resources.all();
    let key_sets: Vec<&[Vec<u8>]> = resources.iter().map(|r| r.access_keys.as_slice()).collect();
    match hmac::verify_any(
        &signed,
        authorization.as_deref(),
        &key_sets,
        state.clock.now(),
        config.resource.clock_skew,
    ) {
        Ok((index, slot)) => {
            drop(headers);
            req.extensions_mut().insert(Res(resources[index].clone()));
            req.extensions_mut().insert(Caller::AccessKey(slot));
            if requeue {
                req.set_payload(Payload::from(body));
            }
            next.call(req)
                .await
                .map(ServiceResponse::map_into_left_body)
        }
        Err(e) => {
            if let HmacError::SignatureMismatch {
                expected_string_to_sign,
            } = &e
            {
                tracing::debug!(
                    expected_string_to_sign = %expected_string_to_sign.escape_debug(),
                    "HMAC signature mismatch"
                );
            }
            tracing::info!(reason = %e, method = %req.method(), path = %req.path(), "access-key authentication failed");
            let err = ApiError::Denied(e.to_string());
            Ok(req
                .into_response(err.error_response())
                .map_into_right_body())
        }
    }
}

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive).
fn bearer_token(authorization: &str) -> Option<&str> {
    let (scheme, token) = authorization.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}
