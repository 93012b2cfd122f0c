//! The emulator's own endpoints under `/_emulator/` (no authentication, both listeners).
//!
//! - `GET  /_emulator/health`: liveness.
//! - `GET  /_emulator/ready`: readiness (listeners bound, start-up state loaded): 200 or 503.
//! - `GET  /_emulator/tls-cert`: the HTTPS certificate (PEM), for clients to trust.
//! - `POST /_emulator/reset`: forget all state (identities, tokens' identities, assignments, SMS).
//! - `GET|DELETE /_emulator/sms`: the SMS outbox (see [`super::admin_sms`]).
//! - `/_emulator/events…`, `POST /_emulator/sms/inbound`: Event Grid subscriptions, the event
//!   history and inbound SMS (see [`super::admin_events`]).
//! - `GET  /_emulator/token`: who a `Bearer` user access token belongs to, or why it is refused
//!   (the same check Chat applies), to debug token handling.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use super::{admin_clock, admin_events, admin_sms, json_response, resource};
use crate::auth::user_token::UserToken;
use crate::error::ApiError;
use crate::resource::Resource;
use crate::startup::AppState;

/// Mounts `/_emulator/*`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/_emulator")
            .service(resource("/health").route(web::get().to(health)))
            .service(resource("/ready").route(web::get().to(ready)))
            .service(resource("/tls-cert").route(web::get().to(tls_cert)))
            .service(resource("/reset").route(web::post().to(reset)))
            .service(resource("/token").route(web::get().to(token_info)))
            .service(
                resource("/clock")
                    .route(web::get().to(admin_clock::get_clock))
                    .route(web::post().to(admin_clock::change_clock)),
            )
            .service(
                resource("/sms")
                    .route(web::get().to(admin_sms::list_sent_sms))
                    .route(web::delete().to(admin_sms::clear_sent_sms)),
            )
            .service(
                resource("/sms/inbound").route(web::post().to(admin_events::receive_inbound_sms)),
            )
            .service(
                resource("/events")
                    .route(web::get().to(admin_events::list_events))
                    .route(web::delete().to(admin_events::clear_events)),
            )
            .service(
                resource("/events/subscriptions")
                    .route(web::post().to(admin_events::create_subscription))
                    .route(web::get().to(admin_events::list_subscriptions))
                    .route(web::delete().to(admin_events::delete_subscriptions)),
            )
            .service(
                resource("/events/subscriptions/{name}")
                    .route(web::get().to(admin_events::get_subscription))
                    .route(web::delete().to(admin_events::delete_subscription)),
            ),
    );
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    version: &'static str,
}

/// `GET /_emulator/health`: 200 while the process serves requests. The only anonymous route
/// besides the other `/_emulator` helpers.
async fn health() -> Result<HttpResponse, ApiError> {
    json_response(
        StatusCode::OK,
        &Health {
            status: "healthy",
            version: env!("CARGO_PKG_VERSION"),
        },
    )
}

/// `GET /_emulator/ready`: 200 once the emulator is fully started, 503 before.
async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let ready = state.ready.load(std::sync::atomic::Ordering::Acquire);
    let (status, text) = if ready {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting")
    };
    json_response(
        status,
        &Health {
            status: text,
            version: env!("CARGO_PKG_VERSION"),
        },
    )
}

/// `GET /_emulator/tls-cert`: the certificate the HTTPS listener presents, as PEM.
async fn tls_cert(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/x-pem-file")
        .body(state.tls_cert_pem.as_ref().clone())
}

#[derive(Serialize)]
struct ResetResult {
    reset: bool,
}

/// `POST /_emulator/reset[?resource=NAME]`: clears every table of every resource, or of one.
/// A full reset also clears the event records and removes the control API's event
/// subscriptions (start-up ones stay).
async fn reset(
    req: HttpRequest,
    state: web::Data<AppState>,
    _body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    match resource_param(&state, &req)? {
        Some(resource) => resource.store.reset(),
        None => {
            state.resources.all().iter().for_each(|r| r.store.reset());
            state.events.reset();
        }
    }
    tracing::info!("state reset");
    json_response(StatusCode::OK, &ResetResult { reset: true })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TokenInfo {
    identity: String,
    scopes: Vec<&'static str>,
    expires_on: String,
}

/// `GET /_emulator/token` with `Authorization: Bearer <user token>`: 200 with the identity,
/// scopes and expiry, or the 401 a Chat operation would answer.
async fn token_info(_req: HttpRequest, caller: UserToken) -> Result<HttpResponse, ApiError> {
    json_response(
        StatusCode::OK,
        &TokenInfo {
            identity: caller.user.to_string(),
            scopes: caller.scopes.iter().map(|s| s.as_str()).collect(),
            expires_on: caller
                .expires_on
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        },
    )
}

/// The resource a control request names with `?resource=NAME`, if it names one; an unknown name
/// answers 404.
pub fn resource_param(
    state: &AppState,
    req: &HttpRequest,
) -> Result<Option<Arc<Resource>>, ApiError> {
    let query = req.uri().query().unwrap_or("");
    let Some(name) = form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "resource")
        .map(|(_, v)| v.into_owned())
    else {
        return Ok(None);
    };
    state
        .resources
        .by_name(&name)
        .map(Some)
        .ok_or_else(|| ApiError::NotFound(format!("There is no resource named '{name}'.")))
}

/// [`resource_param`], defaulting to the `default` resource.
pub fn resource_or_default(state: &AppState, req: &HttpRequest) -> Result<Arc<Resource>, ApiError> {
    Ok(resource_param(state, req)?.unwrap_or_else(|| state.resources.default_resource()))
}
