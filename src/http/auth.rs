//! Authentication on a request: the HTTP side of [`crate::auth`] (which holds the pure checks)
//! and of [`crate::resource`] (which picks the resource a credential belongs to).
//!
//! - [`service_caller`]: Identity and SMS accept an access-key (HMAC) signature or a Microsoft
//!   Entra ID bearer token. HMAC failures are 401 `Denied`, token failures 401
//!   `InvalidAuthenticationToken`, each saying what was wrong; the expected string-to-sign is
//!   logged at debug level (never the key).
//! - [`user_token()`]: Chat takes an ACS user access token (401 `Unauthorized` otherwise).
//! - [`control`]: the control API takes `Authorization: Bearer <--control-token>` when one is set.
//!
//! Each returns what the request is allowed to reach; the caller puts it into the request
//! extensions, where the [`Res`], [`Caller`] and [`UserToken`] extractors find it.

use std::future::{Ready, ready};
use std::ops::Deref;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::header::{self, HeaderMap};
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};

use super::body::SignedBody;
use super::host::request_host;
use crate::auth::hmac::{HmacError, HmacRequest};
use crate::auth::user_token::{self, UserToken};
use crate::auth::{Caller, control_token_matches};
use crate::error::ApiError;
use crate::resource::Resource;
use crate::state::AppState;

/// Authenticates an Identity or SMS request (`body`: the buffered body): an Entra ID bearer
/// token, routed to the resource the request's host names, or an access-key signature, routed to
/// the resource whose key signed it.
pub fn service_caller(
    state: &AppState,
    req: &HttpRequest,
    body: &[u8],
) -> Result<(Arc<Resource>, Caller), ApiError> {
    // Two Authorization headers are ambiguous (a proxy may honour the other one): refuse them.
    if req
        .headers()
        .get_all(header::AUTHORIZATION)
        .nth(1)
        .is_some()
    {
        tracing::info!(method = %req.method(), path = %req.path(), "repeated Authorization header");
        return Err(ApiError::Denied(
            "The Authorization header is repeated.".into(),
        ));
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
                let resource = state
                    .resources
                    .by_host(request_host(req.uri(), req.headers()));
                if !resource.allows_entra_client(&principal.app_id) {
                    tracing::info!(client = %principal.app_id, resource = %resource.name, "Entra ID client not allowed on this resource");
                    return Err(ApiError::InvalidAuthenticationToken(format!(
                        "Authentication failed: the client {} is not allowed to call the resource '{}'.",
                        principal.app_id, resource.name
                    )));
                }
                Ok((resource, Caller::Entra(principal)))
            }
            Err(e) => {
                tracing::info!(reason = %e, method = %req.method(), path = %req.path(), "Entra ID authentication failed");
                Err(e.into())
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
    let host = request_host(req.uri(), req.headers());
    // The content hash covers the body as sent: before any Content-Encoding was undone.
    let signed_body = req.extensions().get::<SignedBody>().map(|b| b.0.clone());
    let path_and_query = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.path(), |pq| pq.as_str());
    let signed = HmacRequest {
        method: req.method().as_str(),
        path_and_query,
        host,
        headers: &headers,
        body: signed_body.as_deref().unwrap_or(body),
    };
    // The key that signed the request picks the resource.
    match state.resources.by_access_key(
        &signed,
        authorization.as_deref(),
        state.clock.now(),
        state.settings.config.resource.clock_skew,
    ) {
        Ok((resource, slot)) => Ok((resource, Caller::AccessKey(slot))),
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
            Err(e.into())
        }
    }
}

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive).
fn bearer_token(authorization: &str) -> Option<&str> {
    let (scheme, token) = authorization.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Authenticates a Chat request's user access token; the resource is the one that issued it.
pub fn user_token(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<(Arc<Resource>, UserToken), ApiError> {
    let token = user_token::bearer(
        headers
            .get_all(header::AUTHORIZATION)
            .map(|value| value.as_bytes()),
    )?;
    Ok(state.resources.by_user_token(token, state.clock.now())?)
}

/// With `--control-token`, refuses a control request without `Authorization: Bearer <token>`:
/// 401 with the envelope. The comparison takes the same time whatever the token sent.
///
/// A request that changes state (any method but GET, HEAD and OPTIONS) sent by a browser from
/// another origin is refused first (see [`same_origin`]), token or not. The web inspector's
/// login cookie stands in for the header (`SameSite=Strict`, so other sites cannot send it).
pub fn control(state: &AppState, req: &HttpRequest) -> Result<(), ApiError> {
    if !matches!(
        *req.method(),
        actix_web::http::Method::GET
            | actix_web::http::Method::HEAD
            | actix_web::http::Method::OPTIONS
    ) {
        same_origin(req)?;
    }
    let Some(expected) = state.settings.config.control.control_token.as_deref() else {
        return Ok(());
    };
    if control_cookie(req).is_some_and(|token| control_token_matches(&token, expected)) {
        return Ok(());
    }
    let mut given = req.headers().get_all(header::AUTHORIZATION);
    let token = match (given.next(), given.next()) {
        (Some(value), None) => value
            .to_str()
            .ok()
            .and_then(|v| v.trim().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim()),
        _ => None,
    };
    if token.is_some_and(|token| control_token_matches(token, expected)) {
        return Ok(());
    }
    tracing::info!(method = %req.method(), path = %req.path(), "control request without the control token");
    Err(ApiError::Unauthorized(
        "The control API needs Authorization: Bearer <the emulator's --control-token>.".into(),
    ))
}

/// The emulated resource a request was routed to by its credentials, as an extractor.
#[derive(Clone)]
pub struct Res(pub Arc<Resource>);

impl Deref for Res {
    type Target = Resource;
    fn deref(&self) -> &Resource {
        &self.0
    }
}

impl FromRequest for Res {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<Res>()
                .cloned()
                .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("no resource was routed"))),
        )
    }
}

/// The user access token a request was authenticated with; on a route that did not
/// authenticate one (`/_emulator/token`), the extractor checks it itself.
impl FromRequest for UserToken {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        if let Some(token) = req.extensions().get::<UserToken>() {
            return ready(Ok(token.clone()));
        }
        let Some(state) = req.app_data::<web::Data<AppState>>() else {
            return ready(Err(ApiError::Internal(anyhow::anyhow!(
                "AppState is not registered"
            ))));
        };
        ready(user_token(state, req.headers()).map(|(_, token)| token))
    }
}

/// Refuses what a browser sends on another site's behalf: a `Sec-Fetch-Site` other than
/// `same-origin` or `none` (typed in the address bar), or an `Origin` whose host and port are not
/// the ones the request addresses (403). Clients that send neither header (SDKs, curl) pass.
pub fn same_origin(req: &HttpRequest) -> Result<(), ApiError> {
    let headers = req.headers();
    let refused = || {
        tracing::info!(method = %req.method(), path = %req.path(), "cross-origin control request refused");
        Err(ApiError::Forbidden(
            "The control API refuses requests a browser sends from another origin.".into(),
        ))
    };
    if let Some(site) = headers.get("sec-fetch-site")
        && !matches!(site.as_bytes(), b"same-origin" | b"none")
    {
        return refused();
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, host)| host.trim_end_matches('/'));
    let host = request_host(req.uri(), headers);
    match (origin_host, host) {
        (Some(o), Some(h)) if o.eq_ignore_ascii_case(h) => Ok(()),
        _ => refused(),
    }
}

/// The cookie the web inspector's login sets, holding the control token (percent-encoded).
pub const CONTROL_COOKIE: &str = "acs_emulator_control";

/// The web inspector's login cookie, decoded.
fn control_cookie(req: &HttpRequest) -> Option<String> {
    let name = CONTROL_COOKIE;
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| {
            percent_encoding::percent_decode_str(value)
                .decode_utf8_lossy()
                .into_owned()
        })
}
