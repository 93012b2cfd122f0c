//! The emulator's own endpoints under `/_emulator/`, on both listeners. Open by default (for
//! loopback use); with `--control-token` every one of them needs `Authorization: Bearer <token>`
//! except health, ready, tls-cert (public material) and token (it only reads the caller's own
//! user token), see [`require_control_token`].
//!
//! - `GET  /_emulator/health`: liveness.
//! - `GET  /_emulator/ready`: readiness (listeners bound, start-up state loaded): 200 or 503.
//! - `GET  /_emulator/tls-cert`: the HTTPS certificate (PEM), for clients to trust.
//! - `GET  /_emulator/tls-ca-bundle`: the certificate plus the machine's trusted roots (PEM), for
//!   `REQUESTS_CA_BUNDLE` and the like, which replace a process's roots (see [`crate::trust`]).
//! - `POST /_emulator/reset[?resource=NAME]`: every resource (or one) back to what the loaded
//!   fixtures declare; scenarios back to `Started`, the journal emptied.
//! - Scripted scenarios, the journal, fixtures, resources and inspection: see
//!   [`super::admin_scenarios`] and [`super::admin_inspect`].
//! - `GET|DELETE /_emulator/sms`: the SMS outbox (see [`super::admin_sms`]).
//! - `/_emulator/events…`, `POST /_emulator/sms/inbound`: Event Grid subscriptions, the event
//!   history and inbound SMS (see [`super::admin_events`]).
//! - `GET  /_emulator/token`: who a `Bearer` user access token belongs to, or why it is refused
//!   (the same check Chat applies), to debug token handling.

use std::sync::Arc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use super::{
    admin_clock, admin_events, admin_inspect, admin_scenarios, admin_sms, json_response, resource,
};
use crate::auth::user_token::UserToken;
use crate::error::ApiError;
use crate::fixtures;
use crate::resource::Resource;
use crate::startup::AppState;

/// Mounts `/_emulator/*`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/_emulator")
            .wrap(actix_web::middleware::from_fn(require_control_token))
            .service(resource("/health").route(web::get().to(health)))
            .service(resource("/ready").route(web::get().to(ready)))
            .service(resource("/tls-cert").route(web::get().to(tls_cert)))
            .service(resource("/tls-ca-bundle").route(web::get().to(tls_ca_bundle)))
            .service(resource("/reset").route(web::post().to(reset)))
            .service(resource("/token").route(web::get().to(token_info)))
            .service(
                resource("/clock")
                    .route(web::get().to(admin_clock::get_clock))
                    .route(web::post().to(admin_clock::change_clock)),
            )
            .service(resource("/scenarios").route(web::get().to(admin_scenarios::list_scenarios)))
            .service(
                resource("/scenarios/{name}")
                    .route(web::put().to(admin_scenarios::set_scenario_state)),
            )
            .service(
                resource("/scenarios/{name}/reset")
                    .route(web::post().to(admin_scenarios::reset_scenario)),
            )
            .service(
                resource("/rules/{name}").route(web::delete().to(admin_scenarios::delete_rule)),
            )
            .service(resource("/verify").route(web::get().to(admin_scenarios::verify)))
            .service(
                resource("/journal")
                    .route(web::get().to(admin_scenarios::list_journal))
                    .route(web::delete().to(admin_scenarios::clear_journal)),
            )
            .service(
                resource("/journal/count").route(web::get().to(admin_scenarios::count_journal)),
            )
            .service(
                resource("/fixtures")
                    .route(web::get().to(admin_scenarios::list_fixtures))
                    .route(web::post().to(admin_scenarios::load_fixture)),
            )
            .service(resource("/resources").route(web::get().to(admin_scenarios::list_resources)))
            .service(resource("/operations").route(web::get().to(admin_scenarios::list_operations)))
            .service(resource("/identities").route(web::get().to(admin_inspect::list_identities)))
            .service(resource("/chat/threads").route(web::get().to(admin_inspect::list_threads)))
            .service(
                resource("/chat/threads/{thread_id}/messages")
                    .route(web::get().to(admin_inspect::list_messages)),
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

/// The control paths that stay open with `--control-token`: liveness and readiness probes
/// (the `healthcheck` subcommand and container orchestrators), the certificate (public: every
/// TLS handshake presents it) and the CA bundle (that certificate plus public roots), and the
/// token check (it reads the caller's own user token).
const PUBLIC: [&str; 5] = [
    "/_emulator/health",
    "/_emulator/ready",
    "/_emulator/tls-cert",
    "/_emulator/tls-ca-bundle",
    "/_emulator/token",
];

/// With `--control-token`, refuses control requests without `Authorization: Bearer <token>`:
/// 401 with the envelope. The comparison takes the same time whatever the token sent.
async fn require_control_token(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let expected = req
        .app_data::<web::Data<AppState>>()
        .and_then(|state| state.settings.config.control.control_token.clone());
    let Some(expected) = expected else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    if PUBLIC.contains(&req.path()) {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    }
    let mut given = req.headers().get_all(header::AUTHORIZATION);
    let token = match (given.next(), given.next()) {
        (Some(value), None) => value
            .to_str()
            .ok()
            .and_then(|v| v.trim().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim().to_string()),
        _ => None,
    };
    let matches = token.is_some_and(|token| {
        use sha2::Digest;
        use subtle::ConstantTimeEq;
        // Equal-length digests: neither the content nor the length of the token leaks.
        let a = sha2::Sha256::digest(token.as_bytes());
        let b = sha2::Sha256::digest(expected.as_bytes());
        bool::from(a.ct_eq(&b))
    });
    if matches {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    }
    tracing::info!(method = %req.method(), path = %req.path(), "control request without the control token");
    let err = ApiError::Unauthorized(
        "The control API needs Authorization: Bearer <the emulator's --control-token>.".into(),
    );
    Ok(req
        .into_response(actix_web::ResponseError::error_response(&err))
        .map_into_right_body())
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

/// `GET /_emulator/tls-ca-bundle`: the certificate plus the machine's trusted roots, as PEM.
async fn tls_ca_bundle(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/x-pem-file")
        .body(state.tls_ca_bundle_pem.as_ref().clone())
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
    // Back to the world the fixtures describe: stores emptied, fixture data put back.
    let loaded = state.fixtures.lock().unwrap_or_else(|p| p.into_inner());
    let now = state.clock.now();
    match resource_param(&state, &req)? {
        Some(resource) => {
            resource.store.reset();
            for fixture in loaded.iter() {
                fixtures::seed_data(fixture, &state.resources, Some(&resource.name), now);
            }
            tracing::info!(resource = %resource.name, "resource reset");
        }
        None => {
            state.resources.all().iter().for_each(|r| r.store.reset());
            state.engine.reset();
            state.journal.clear();
            state.events.reset();
            for fixture in loaded.iter() {
                fixtures::seed_data(fixture, &state.resources, None, now);
            }
            tracing::info!("state reset");
        }
    }
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
