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
//! - `POST /_emulator/reset[?resource=NAME][&keep=fixtures|nothing]`: every resource (or one)
//!   back to what the loaded fixtures declare (`keep=nothing`: emptied, the fixtures' data not
//!   put back); scenarios back to `Started`, the journal emptied.
//! - `GET  /_emulator/state[?resource=NAME][&format=yaml|json]`: the data as a fixture file
//!   that `--fixtures` loads back (see [`state`]).
//! - Scripted scenarios, the journal, fixtures, resources and inspection: see
//!   [`scenarios`] and [`inspect`].
//! - `GET|DELETE /_emulator/sms`: the SMS outbox (see [`sms`]); `GET|DELETE
//!   /_emulator/sms/optouts`: the opt-out list (see [`optouts`]).
//! - `GET|DELETE /_emulator/emails…`: the email inbox, raw messages, attachments and engagement
//!   (see [`email`]).
//! - `/_emulator/events…`, `POST /_emulator/sms/inbound`: Event Grid subscriptions, the event
//!   history and inbound SMS (see [`events`]).
//! - `GET  /_emulator/token`: who a `Bearer` user access token belongs to, or why it is refused
//!   (the same check Chat applies), to debug token handling.

pub mod actions;
pub mod clock;
pub mod email;
pub mod events;
pub mod inspect;
pub mod optouts;
pub mod query;
pub mod scenarios;
pub mod sms;
pub mod state;
pub mod ui;

use std::sync::Arc;

use actix_web::http::{Method, StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use crate::auth::user_token::UserToken;
use crate::error::ApiError;
use crate::fixtures;
use crate::http::{AuthKind, Mount, Operation, Plane, Service, json_response};
use crate::resource::Resource;
use crate::state::AppState;
use crate::store::{Area, Change, ControlChange};

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

/// Needs the control token (when one is set).
const CONTROL: AuthKind = AuthKind::Control;
/// Stays open with `--control-token`.
const OPEN: AuthKind = AuthKind::None;

/// Every control operation.
#[rustfmt::skip]
pub const OPERATIONS: &[Operation] = &[
    Operation::new("Emulator.Health", Method::GET, "/_emulator/health",
        &[], OPEN, |r| r.to(health)),
    Operation::new("Emulator.Ready", Method::GET, "/_emulator/ready", &[], OPEN, |r| r.to(ready)),
    Operation::new("Emulator.TlsCert", Method::GET, "/_emulator/tls-cert",
        &[], OPEN, |r| r.to(tls_cert)),
    Operation::new("Emulator.TlsCaBundle", Method::GET, "/_emulator/tls-ca-bundle",
        &[], OPEN, |r| r.to(tls_ca_bundle)),
    Operation::new("Emulator.Reset", Method::POST, "/_emulator/reset",
        &[], CONTROL, |r| r.to(reset)),
    Operation::new("Emulator.GetState", Method::GET, "/_emulator/state",
        &[], CONTROL, |r| r.to(state::get_state)),
    Operation::new("Emulator.Token", Method::GET, "/_emulator/token",
        &[], OPEN, |r| r.to(token_info)),
    Operation::new("Emulator.GetClock", Method::GET, "/_emulator/clock",
        &[], CONTROL, |r| r.to(clock::get_clock)),
    Operation::new("Emulator.ChangeClock", Method::POST, "/_emulator/clock",
        &[], CONTROL, |r| r.to(clock::change_clock)),
    Operation::new("Emulator.ListScenarios", Method::GET, "/_emulator/scenarios",
        &[], CONTROL, |r| r.to(scenarios::list_scenarios)),
    Operation::new("Emulator.SetScenarioState", Method::PUT, "/_emulator/scenarios/{name}",
        &[], CONTROL, |r| r.to(scenarios::set_scenario_state)),
    Operation::new("Emulator.ResetScenario", Method::POST, "/_emulator/scenarios/{name}/reset",
        &[], CONTROL, |r| r.to(scenarios::reset_scenario)),
    Operation::new("Emulator.DeleteRule", Method::DELETE, "/_emulator/rules/{name}",
        &[], CONTROL, |r| r.to(scenarios::delete_rule)),
    Operation::new("Emulator.Verify", Method::GET, "/_emulator/verify",
        &[], CONTROL, |r| r.to(scenarios::verify)),
    Operation::new("Emulator.ListJournal", Method::GET, "/_emulator/journal",
        &[], CONTROL, |r| r.to(scenarios::list_journal)),
    Operation::new("Emulator.ClearJournal", Method::DELETE, "/_emulator/journal",
        &[], CONTROL, |r| r.to(scenarios::clear_journal)),
    Operation::new("Emulator.CountJournal", Method::GET, "/_emulator/journal/count",
        &[], CONTROL, |r| r.to(scenarios::count_journal)),
    Operation::new("Emulator.ListFixtures", Method::GET, "/_emulator/fixtures",
        &[], CONTROL, |r| r.to(scenarios::list_fixtures)),
    Operation::new("Emulator.LoadFixture", Method::POST, "/_emulator/fixtures",
        &[], CONTROL, |r| r.to(scenarios::load_fixture)),
    Operation::new("Emulator.ListResources", Method::GET, "/_emulator/resources",
        &[], CONTROL, |r| r.to(scenarios::list_resources)),
    Operation::new("Emulator.ListOperations", Method::GET, "/_emulator/operations",
        &[], CONTROL, |r| r.to(scenarios::list_operations)),
    Operation::new("Emulator.ListIdentities", Method::GET, "/_emulator/identities",
        &[], CONTROL, |r| r.to(inspect::list_identities)),
    Operation::new("Emulator.ListThreads", Method::GET, "/_emulator/chat/threads",
        &[], CONTROL, |r| r.to(inspect::list_threads)),
    Operation::new("Emulator.ListMessages", Method::GET,
        "/_emulator/chat/threads/{thread_id}/messages", &[], CONTROL,
        |r| r.to(inspect::list_messages)),
    Operation::new("Emulator.ListReadReceipts", Method::GET,
        "/_emulator/chat/threads/{thread_id}/readReceipts", &[], CONTROL,
        |r| r.to(inspect::list_read_receipts)),
    Operation::new("Emulator.ListSentSms", Method::GET, "/_emulator/sms",
        &[], CONTROL, |r| r.to(sms::list_sent_sms)),
    Operation::new("Emulator.ClearSentSms", Method::DELETE, "/_emulator/sms",
        &[], CONTROL, |r| r.to(sms::clear_sent_sms)),
    Operation::new("Emulator.ListSmsOptOuts", Method::GET, "/_emulator/sms/optouts",
        &[], CONTROL, |r| r.to(optouts::list_opt_outs)),
    Operation::new("Emulator.RemoveSmsOptOut", Method::DELETE, "/_emulator/sms/optouts",
        &[], CONTROL, |r| r.to(optouts::remove_opt_out)),
    Operation::new("Emulator.ListEmails", Method::GET, "/_emulator/emails",
        &[], CONTROL, |r| r.to(email::list_emails)),
    Operation::new("Emulator.ClearEmails", Method::DELETE, "/_emulator/emails",
        &[], CONTROL, |r| r.to(email::clear_emails)),
    Operation::new("Emulator.GetEmail", Method::GET, "/_emulator/emails/{email_id}",
        &[], CONTROL, |r| r.to(email::get_email)),
    Operation::new("Emulator.GetRawEmail", Method::GET, "/_emulator/emails/{email_id}/raw",
        &[], CONTROL, |r| r.to(email::get_raw_email)),
    Operation::new("Emulator.GetEmailAttachment", Method::GET,
        "/_emulator/emails/{email_id}/attachments/{index}", &[], CONTROL,
        |r| r.to(email::get_attachment)),
    Operation::new("Emulator.ReportEmailEngagement", Method::POST,
        "/_emulator/emails/{email_id}/engagement", &[], CONTROL,
        |r| r.to(email::report_engagement)),
    Operation::new("Emulator.ReceiveInboundSms", Method::POST, "/_emulator/sms/inbound",
        &[], CONTROL, |r| r.to(events::receive_inbound_sms)),
    Operation::new("Emulator.ListEvents", Method::GET, "/_emulator/events",
        &[], CONTROL, |r| r.to(events::list_events)),
    Operation::new("Emulator.ClearEvents", Method::DELETE, "/_emulator/events",
        &[], CONTROL, |r| r.to(events::clear_events)),
    Operation::new("Emulator.RedeliverEvent", Method::POST, "/_emulator/events/{event_id}/redeliver",
        &[], CONTROL, |r| r.to(events::redeliver_event)),
    Operation::new("Emulator.CreateSubscription", Method::POST, "/_emulator/events/subscriptions",
        &[], CONTROL, |r| r.to(events::create_subscription)),
    Operation::new("Emulator.ListSubscriptions", Method::GET, "/_emulator/events/subscriptions",
        &[], CONTROL, |r| r.to(events::list_subscriptions)),
    Operation::new("Emulator.DeleteSubscriptions", Method::DELETE,
        "/_emulator/events/subscriptions", &[], CONTROL,
        |r| r.to(events::delete_subscriptions)),
    Operation::new("Emulator.GetSubscription", Method::GET,
        "/_emulator/events/subscriptions/{name}", &[], CONTROL,
        |r| r.to(events::get_subscription)),
    Operation::new("Emulator.DeleteSubscription", Method::DELETE,
        "/_emulator/events/subscriptions/{name}", &[], CONTROL,
        |r| r.to(events::delete_subscription)),
    // The web inspector (ui.rs) and what it does (actions.rs).
    Operation::new("Emulator.UiRedirect", Method::GET, "/", &[], OPEN, |r| r.to(ui::root)),
    Operation::new("Emulator.UiNoSlash", Method::GET, "/_emulator/ui", &[], OPEN,
        |r| r.to(ui::ui_no_slash)),
    Operation::new("Emulator.UiPage", Method::GET, "/_emulator/ui/", &[], OPEN,
        |r| r.to(ui::index)),
    Operation::new("Emulator.UiStream", Method::GET, "/_emulator/ui/stream", &[], CONTROL,
        |r| r.to(ui::stream)),
    Operation::new("Emulator.UiLogin", Method::POST, "/_emulator/ui/login", &[], OPEN,
        |r| r.to(ui::login)),
    Operation::new("Emulator.UiLogout", Method::POST, "/_emulator/ui/logout", &[], OPEN,
        |r| r.to(ui::logout)),
    Operation::new("Emulator.UiAsset", Method::GET, "/_emulator/ui/{file}", &[], OPEN,
        |r| r.to(ui::asset)),
    Operation::new("Emulator.UiEmailHtml", Method::GET, "/_emulator/ui/emails/{email_id}/html",
        &[], CONTROL, |r| r.to(ui::email_html)),
    Operation::new("Emulator.CreateIdentity", Method::POST, "/_emulator/identities",
        &[], CONTROL, |r| r.to(actions::create_identity)),
    Operation::new("Emulator.DeleteIdentity", Method::DELETE, "/_emulator/identities/{user_id}",
        &[], CONTROL, |r| r.to(actions::delete_identity)),
    Operation::new("Emulator.RevokeTokens", Method::POST,
        "/_emulator/identities/{user_id}/revoke", &[], CONTROL,
        |r| r.to(actions::revoke_tokens)),
    Operation::new("Emulator.IssueToken", Method::POST, "/_emulator/identities/{user_id}/token",
        &[], CONTROL, |r| r.to(actions::issue_token)),
    Operation::new("Emulator.SendChatMessage", Method::POST,
        "/_emulator/chat/threads/{thread_id}/messages", &[], CONTROL,
        |r| r.to(actions::send_message)),
];

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Health {
    status: &'static str,
    version: &'static str,
    /// The SMTP relay's port, when `--smtp-port` is given (tests started with port 0 find it
    /// here).
    #[serde(skip_serializing_if = "Option::is_none")]
    smtp_port: Option<u16>,
}

/// `GET /_emulator/health`: 200 while the process serves requests. The only anonymous route
/// besides the other `/_emulator` helpers.
/// Probes poll it often: its body (which never changes) is made once.
async fn health(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let body = match state.health_body.get() {
        Some(body) => body.clone(),
        None => {
            let body = serde_json::to_vec(&Health {
                status: "healthy",
                version: env!("CARGO_PKG_VERSION"),
                smtp_port: state.smtp_addr.map(|a| a.port()),
            })
            .map_err(|e| ApiError::Internal(e.into()))?;
            state.health_body.get_or_init(|| body.into()).clone()
        }
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, crate::error::JSON_CONTENT_TYPE))
        .body(body))
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
            smtp_port: state.smtp_addr.map(|a| a.port()),
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

/// `POST /_emulator/reset[?resource=NAME][&keep=fixtures|nothing]`: clears every table of
/// every resource, or of one, then puts the loaded fixtures' data back (`keep=fixtures`, the
/// default) or leaves the tables empty (`keep=nothing`). What the fixtures declared outside the
/// tables (resources, linked email domains, the numbers searches offer, rules, start-up
/// subscriptions) stays either way. A full reset also clears the event
/// records and removes the control API's event subscriptions (start-up ones stay).
async fn reset(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let query = req.uri().query().unwrap_or("");
    let keep = form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "keep")
        .map(|(_, v)| v.into_owned());
    let keep_fixtures = match keep.as_deref() {
        None | Some("fixtures") => true,
        Some("nothing") => false,
        Some(other) => {
            return Err(ApiError::BadRequest {
                code: "InvalidKeep",
                message: format!("keep '{other}' is not fixtures or nothing."),
            });
        }
    };
    // Back to the world the fixtures describe: stores emptied, fixture data put back.
    let guard = state.fixtures.lock().unwrap_or_else(|p| p.into_inner());
    let loaded: &[fixtures::Loaded] = if keep_fixtures { &guard } else { &[] };
    let now = state.clock.now();
    match resource_param(&state, &req)? {
        Some(resource) => {
            resource.store.reset(state.changes.sink(&resource.name));
            for fixture in loaded.iter() {
                fixtures::seed_data(fixture, &state.resources, Some(&resource.name), now);
            }
            tracing::info!(resource = %resource.name, "resource reset");
        }
        None => {
            state
                .resources
                .all()
                .iter()
                .for_each(|r| r.store.reset(state.changes.sink(&r.name)));
            state.engine.reset();
            state.journal.clear();
            state.events.reset();
            state.changes.sink("default").publish(Area::Control, || {
                Change::Control(ControlChange::Unsubscribed(None))
            });
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
