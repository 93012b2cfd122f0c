//! The emulator's own endpoints under `/_emulator/`, on both listeners. Open by default (for
//! loopback use); with `--control-token` every one of them needs `Authorization: Bearer <token>`
//! except health, ready, tls-cert, tls-ca-bundle (public material) and token (it only reads the
//! caller's own user token), see [`SERVICE`].
//!
//! - `GET  /_emulator/health`: liveness.
//! - `GET  /_emulator/ready`: readiness (listeners bound, start-up state loaded): 200 or 503.
//! - `GET  /_emulator/tls-cert`: the HTTPS certificate (PEM), for clients to trust.
//! - `GET  /_emulator/tls-ca-bundle`: the certificate plus the machine's trusted roots (PEM), for
//!   `REQUESTS_CA_BUNDLE` and the like, which replace a process's roots (see [`crate::trust`]).
//! - `POST /_emulator/reset[?resource=NAME]`: every resource (or one) back to what the loaded
//!   fixtures declare; scenarios back to `Started`, the journal emptied.
//! - Scripted scenarios, the journal, fixtures, resources and inspection: see
//!   [`scenarios`] and [`inspect`].
//! - `GET|DELETE /_emulator/sms`: the SMS outbox (see [`sms`]).
//! - `/_emulator/events…`, `POST /_emulator/sms/inbound`: Event Grid subscriptions, the event
//!   history and inbound SMS (see [`events`]).
//! - `GET  /_emulator/token`: who a `Bearer` user access token belongs to, or why it is refused
//!   (the same check Chat applies), to debug token handling.

pub mod clock;
pub mod events;
pub mod inspect;
pub mod query;
pub mod scenarios;
pub mod sms;

use std::sync::Arc;

use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, Route, web};
use serde::Serialize;

use crate::auth::user_token::UserToken;
use crate::error::ApiError;
use crate::fixtures;
use crate::http::{AuthKind, Mount, Operation, Plane, Service, json_response};
use crate::resource::Resource;
use crate::state::AppState;

/// The control API's slice of the operation table. With `--control-token`, every operation
/// needs `Authorization: Bearer <token>` ([`AuthKind::Control`]) except the liveness and
/// readiness probes (the `healthcheck` subcommand and container orchestrators), the certificate
/// (public: every TLS handshake presents it) and the CA bundle (that certificate plus public
/// roots), and the token check (it reads the caller's own user token).
pub const SERVICE: Service = Service {
    plane: Plane::Control,
    mounts: &[Mount {
        prefix: "/_emulator",
        auth: AuthKind::Control,
        supported_versions: &[],
    }],
    operations: OPERATIONS,
};

/// Every control operation.
#[rustfmt::skip]
pub const OPERATIONS: &[Operation] = &[
    open("Emulator.Health", Method::GET, "/_emulator/health", |r| r.to(health)),
    open("Emulator.Ready", Method::GET, "/_emulator/ready", |r| r.to(ready)),
    open("Emulator.TlsCert", Method::GET, "/_emulator/tls-cert", |r| r.to(tls_cert)),
    open("Emulator.TlsCaBundle", Method::GET, "/_emulator/tls-ca-bundle", |r| r.to(tls_ca_bundle)),
    op("Emulator.Reset", Method::POST, "/_emulator/reset", |r| r.to(reset)),
    open("Emulator.Token", Method::GET, "/_emulator/token", |r| r.to(token_info)),
    op("Emulator.GetClock", Method::GET, "/_emulator/clock", |r| r.to(clock::get_clock)),
    op("Emulator.ChangeClock", Method::POST, "/_emulator/clock", |r| r.to(clock::change_clock)),
    op("Emulator.ListScenarios", Method::GET, "/_emulator/scenarios",
        |r| r.to(scenarios::list_scenarios)),
    op("Emulator.SetScenarioState", Method::PUT, "/_emulator/scenarios/{name}",
        |r| r.to(scenarios::set_scenario_state)),
    op("Emulator.ResetScenario", Method::POST, "/_emulator/scenarios/{name}/reset",
        |r| r.to(scenarios::reset_scenario)),
    op("Emulator.DeleteRule", Method::DELETE, "/_emulator/rules/{name}",
        |r| r.to(scenarios::delete_rule)),
    op("Emulator.Verify", Method::GET, "/_emulator/verify", |r| r.to(scenarios::verify)),
    op("Emulator.ListJournal", Method::GET, "/_emulator/journal",
        |r| r.to(scenarios::list_journal)),
    op("Emulator.ClearJournal", Method::DELETE, "/_emulator/journal",
        |r| r.to(scenarios::clear_journal)),
    op("Emulator.CountJournal", Method::GET, "/_emulator/journal/count",
        |r| r.to(scenarios::count_journal)),
    op("Emulator.ListFixtures", Method::GET, "/_emulator/fixtures",
        |r| r.to(scenarios::list_fixtures)),
    op("Emulator.LoadFixture", Method::POST, "/_emulator/fixtures",
        |r| r.to(scenarios::load_fixture)),
    op("Emulator.ListResources", Method::GET, "/_emulator/resources",
        |r| r.to(scenarios::list_resources)),
    op("Emulator.ListOperations", Method::GET, "/_emulator/operations",
        |r| r.to(scenarios::list_operations)),
    op("Emulator.ListIdentities", Method::GET, "/_emulator/identities",
        |r| r.to(inspect::list_identities)),
    op("Emulator.ListThreads", Method::GET, "/_emulator/chat/threads",
        |r| r.to(inspect::list_threads)),
    op("Emulator.ListMessages", Method::GET, "/_emulator/chat/threads/{thread_id}/messages",
        |r| r.to(inspect::list_messages)),
    op("Emulator.ListSentSms", Method::GET, "/_emulator/sms", |r| r.to(sms::list_sent_sms)),
    op("Emulator.ClearSentSms", Method::DELETE, "/_emulator/sms", |r| r.to(sms::clear_sent_sms)),
    op("Emulator.ReceiveInboundSms", Method::POST, "/_emulator/sms/inbound",
        |r| r.to(events::receive_inbound_sms)),
    op("Emulator.ListEvents", Method::GET, "/_emulator/events", |r| r.to(events::list_events)),
    op("Emulator.ClearEvents", Method::DELETE, "/_emulator/events", |r| r.to(events::clear_events)),
    op("Emulator.CreateSubscription", Method::POST, "/_emulator/events/subscriptions",
        |r| r.to(events::create_subscription)),
    op("Emulator.ListSubscriptions", Method::GET, "/_emulator/events/subscriptions",
        |r| r.to(events::list_subscriptions)),
    op("Emulator.DeleteSubscriptions", Method::DELETE, "/_emulator/events/subscriptions",
        |r| r.to(events::delete_subscriptions)),
    op("Emulator.GetSubscription", Method::GET, "/_emulator/events/subscriptions/{name}",
        |r| r.to(events::get_subscription)),
    op("Emulator.DeleteSubscription", Method::DELETE, "/_emulator/events/subscriptions/{name}",
        |r| r.to(events::delete_subscription)),
];

/// A control operation that needs the control token (when one is set).
const fn op(
    name: &'static str,
    method: Method,
    path: &'static str,
    route: fn(Route) -> Route,
) -> Operation {
    Operation {
        name,
        method,
        path,
        versions: &[],
        auth: AuthKind::Control,
        route,
    }
}

/// A control operation that stays open with `--control-token`.
const fn open(
    name: &'static str,
    method: Method,
    path: &'static str,
    route: fn(Route) -> Route,
) -> Operation {
    Operation {
        name,
        method,
        path,
        versions: &[],
        auth: AuthKind::None,
        route,
    }
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
async fn reset(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
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
