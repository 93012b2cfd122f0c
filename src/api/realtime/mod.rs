//! Real-time chat notifications for browser apps: the endpoints the unmodified browser Chat SDK
//! (`startRealtimeNotifications()`, `@azure/communication-chat` ≥ 1.5.4) talks to, all on the
//! emulator's own HTTPS listener.
//!
//! 1. `GET /chat/config/realTimeNotifications?api-version=2024-09-01` (Chat's table, user
//!    token): the trouter and registrar URLs, on the host the client called ([`config`]).
//! 2. `POST /v4/a` with `X-Skypetoken: <user token>`: an allocation; its `connectparams.sr`
//!    binds the later WebSocket (which carries no token) to the user. A reconnect posts the old
//!    connect parameters: a known `sr` of the same user is kept, an unknown one (after a restart)
//!    gets a new one, one of another user is refused with 403.
//! 3. `GET /socket.io/1/?sr=…`: the socket.io 0.9 handshake, `<session>:<heartbeat>:<close>:websocket`.
//! 4. `GET /socket.io/1/websocket/{session}`: the WebSocket ([`socket`]): `1::`,
//!    `trouter.connected`, acks for `user.activity` and `ping`, `2::` heartbeats, and each
//!    notification as a `3:::` request ([`frames`], payloads in [`payload`]).
//! 5. `POST /registrar/v3/registrations`, `DELETE /registrar/v3/registrations/{id}`: accepted
//!    (202, 204); nothing else depends on them.
//! 6. `GET /?check=…`: `Trouter`, the SDK's connectivity probe.
//!
//! Notifications come from the store's change records ([`hub::Listener`] listens to the sink):
//! every ACS-user participant of the thread but the one who made the change, as for Event
//! Grid. The control API lists live sockets (`GET /_emulator/realtime`) and closes them
//! (`POST /_emulator/realtime/close[?user=…]`); scenario rules delay or drop notifications or
//! drop sockets ([`faults`]).

pub mod faults;
pub mod frames;
pub mod hub;
pub mod payload;
pub mod socket;

use std::sync::Arc;

use actix_web::http::header::{self, HeaderMap};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::json;

pub use hub::{Hub, Limits, Listener};

use crate::error::ApiError;
use crate::http::{AuthKind, ChatCaller, Operation, Plane, Service, json_response};
use crate::state::AppState;

/// The api-version the SDK asks the configuration with (fixed in the SDK).
pub const CONFIG_VERSIONS: &[&str] = &["2024-09-01"];

/// The trouter's slice of the operation table: no `Authorization` (the allocation and the
/// registrar read `X-Skypetoken`, the socket is bound by its handshake).
pub const SERVICE: Service = Service {
    plane: Plane::Realtime,
    mounts: &[],
    operations: OPERATIONS,
};

#[rustfmt::skip]
const OPERATIONS: &[Operation] = &[
    Operation::new("Realtime.Allocate", Method::POST, "/v4/a", &[], AuthKind::None,
        |r| r.to(allocate)),
    Operation::new("Realtime.Handshake", Method::GET, "/socket.io/1/", &[], AuthKind::None,
        |r| r.to(handshake)),
    Operation::new("Realtime.Socket", Method::GET, "/socket.io/1/websocket/{session}", &[],
        AuthKind::None, |r| r.to(websocket)),
    Operation::new("Realtime.Register", Method::POST, "/registrar/v3/registrations", &[],
        AuthKind::None, |r| r.to(register)),
    Operation::new("Realtime.Unregister", Method::DELETE,
        "/registrar/v3/registrations/{registration}", &[], AuthKind::None, |r| r.to(register)),
];

/// The control API's view of the trouter (registered before the `/_emulator` mount).
pub const CONTROL: Service = Service {
    plane: Plane::Control,
    mounts: &[],
    operations: CONTROL_OPERATIONS,
};

#[rustfmt::skip]
const CONTROL_OPERATIONS: &[Operation] = &[
    Operation::new("Emulator.ListRealtimeSockets", Method::GET, "/_emulator/realtime", &[],
        AuthKind::Control, |r| r.to(list_sockets)),
    Operation::new("Emulator.CloseRealtimeSockets", Method::POST, "/_emulator/realtime/close",
        &[], AuthKind::Control, |r| r.to(close_sockets)),
];

fn hub(req: &HttpRequest) -> Result<Arc<Hub>, ApiError> {
    req.app_data::<web::Data<Hub>>()
        .map(|h| h.clone().into_inner())
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("the trouter hub is not configured")))
}

fn state(req: &HttpRequest) -> Result<web::Data<AppState>, ApiError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("no app state")))
}

/// `https://host:port` of the HTTPS listener, on the host the client called: the request's own
/// origin over HTTPS, else its host name with the HTTPS port.
fn https_base(req: &HttpRequest, state: &AppState) -> String {
    let (scheme, host) = crate::http::origin(req);
    if scheme == "https" {
        return format!("https://{host}");
    }
    let name = crate::resource::host_name(&host);
    let name = if name.contains(':') && !name.starts_with('[') {
        format!("[{name}]")
    } else {
        name.to_string()
    };
    format!("https://{name}:{}", state.https_addr.port())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ConfigDto {
    trouter_service_url: String,
    registrar_service_url: String,
    cloud_type: &'static str,
}

/// `GET /chat/config/realTimeNotifications`: where the SDK finds the trouter and the registrar.
pub async fn config(
    req: HttpRequest,
    _version: crate::http::ApiVersion,
    _caller: ChatCaller,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let base = https_base(&req, &state);
    json_response(
        StatusCode::OK,
        &ConfigDto {
            trouter_service_url: base.clone(),
            registrar_service_url: format!("{base}/registrar"),
            cloud_type: "Public",
        },
    )
}

/// The user an `X-Skypetoken` header names (the same check as Chat's bearer tokens).
fn skype_token(state: &AppState, headers: &HeaderMap) -> Result<hub::Owner, ApiError> {
    let mut values = headers.get_all("x-skypetoken");
    let token = values
        .next()
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::Unauthorized("Request is not authorized: no X-Skypetoken header.".into())
        })?;
    if values.next().is_some() {
        return Err(ApiError::Unauthorized(
            "Request is not authorized: more than one X-Skypetoken header.".into(),
        ));
    }
    let (resource, token) = state.resources.by_user_token(token, state.clock.now())?;
    Ok(hub::Owner {
        resource: resource.name.clone(),
        user: token.user,
    })
}

#[derive(Deserialize)]
struct ConnectQuery {
    sr: Option<String>,
}

fn query_sr(req: &HttpRequest) -> Option<String> {
    web::Query::<ConnectQuery>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.into_inner().sr)
        .filter(|sr| !sr.is_empty() && sr.len() <= 128)
}

/// `POST /v4/a`: an allocation for the `X-Skypetoken`'s user.
async fn allocate(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let hub = hub(&req)?;
    let owner = skype_token(&state, req.headers())?;
    let sr = match query_sr(&req) {
        Some(sr) => match hub.allocation(&sr) {
            Some(held) if held == owner => sr,
            Some(_) => {
                return Err(ApiError::Forbidden(
                    "The connect parameters belong to another user.".into(),
                ));
            }
            // Unknown (an earlier run of the emulator, or expired): a fresh one.
            None => hub::random_token(),
        },
        None => hub::random_token(),
    };
    hub.allocate(sr.clone(), owner);
    let base = https_base(&req, &state);
    let id = uuid::Uuid::new_v4().to_string();
    let now = state.clock.now();
    let expires = now + chrono::Duration::days(7);
    let surl = format!("{base}/trouter/f/{id}/");
    let body = json!({
        "id": id,
        "ccid": &hub::random_token()[..11],
        "socketio": format!("{base}/"),
        "url": surl,
        "surl": surl,
        "ttl": socket::CONNECTION_TTL_SECONDS.to_string(),
        "curlb": "",
        "connectparams": {
            "sr": sr,
            "issuer": "acs-emulator",
            "sp": "connect",
            "se": expires.timestamp_millis().to_string(),
            "st": now.timestamp_millis().to_string(),
            "sig": hub::random_token(),
        },
    });
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .body(body.to_string()))
}

/// `GET /socket.io/1/`: the handshake; binds a session id to the allocation's user.
async fn handshake(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let hub = hub(&req)?;
    let by_token = match req.headers().contains_key("x-skypetoken") {
        true => Some(skype_token(&state, req.headers())?),
        false => None,
    };
    let by_sr = query_sr(&req).and_then(|sr| hub.allocation(&sr));
    let owner = match (by_sr, by_token) {
        (Some(a), Some(b)) if a != b => {
            return Err(ApiError::Forbidden(
                "The connect parameters belong to another user.".into(),
            ));
        }
        (Some(owner), _) | (None, Some(owner)) => owner,
        (None, None) => {
            return Err(ApiError::Unauthorized(
                "Request is not authorized: unknown or missing connect parameters (sr); allocate first (POST /v4/a)."
                    .into(),
            ));
        }
    };
    let session = hub.begin_session(owner);
    let limits = hub.limits();
    let heartbeat = limits.idle_timeout.as_secs().max(1);
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/plain"))
        .body(format!("{session}:{heartbeat}:{heartbeat}:websocket")))
}

/// `GET /socket.io/1/websocket/{session}`: the WebSocket of a handshake.
async fn websocket(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let hub = hub(&req)?;
    let owner = hub.take_session(&path.into_inner()).ok_or_else(|| {
        ApiError::NotFound(
            "No such socket.io session; hand-shake first (GET /socket.io/1/).".into(),
        )
    })?;
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .map(|o| o.chars().take(256).collect());
    let (info, tx, rx) = hub
        .add_socket(&owner, origin, state.clock.now())
        .map_err(|refused| ApiError::LimitReached {
            code: "RealtimeConnectionLimitReached",
            message: match refused {
                hub::SocketRefused::PerUser(n) => {
                    format!("This user holds {n} real-time notification sockets already.")
                }
                hub::SocketRefused::Total(n) => {
                    format!("The emulator holds {n} real-time notification sockets already.")
                }
            },
        })?;
    let (response, session, stream) = match actix_ws::handle(&req, body) {
        Ok(parts) => parts,
        Err(err) => {
            hub.remove_socket(&owner, info.id);
            return Ok(err.error_response());
        }
    };
    let url = format!("{}/trouter/f/{}/", https_base(&req, &state), info.id);
    actix_web::rt::spawn(socket::run(hub, owner, info, session, stream, rx, tx, url));
    Ok(response)
}

/// The registrar: registrations are accepted and not kept (notifications go to every live
/// socket of the user).
async fn register(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    skype_token(&state, req.headers())?;
    if req.method() == Method::DELETE {
        return Ok(HttpResponse::NoContent().finish());
    }
    Ok(HttpResponse::Accepted().finish())
}

/// `GET /`: the SDK's connectivity probe (`?check=…`) expects `Trouter`. The route itself is the
/// control table's `Emulator.Root` (admin/ui.rs), which redirects a browser on the HTTP listener to
/// the web inspector and answers everything else with this.
pub fn probe() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/plain"))
        .body("Trouter")
}

/// `GET /_emulator/realtime`: the live sockets, per user.
async fn list_sockets(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let hub = hub(&req)?;
    let sockets = hub.snapshot();
    let mut users: std::collections::BTreeMap<String, Vec<serde_json::Value>> =
        std::collections::BTreeMap::new();
    for s in &sockets {
        users.entry(s.user.clone()).or_default().push(json!({
            "id": s.id,
            "resource": s.resource,
            "origin": s.origin,
            // socket.io 0.9 over a WebSocket is the only transport the handshake offers.
            "transport": "websocket",
            "connectedAt": s.connected_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "sent": s.sent.load(std::sync::atomic::Ordering::Relaxed),
            "acknowledged": s.acknowledged.load(std::sync::atomic::Ordering::Relaxed),
            "dropped": s.dropped.load(std::sync::atomic::Ordering::Relaxed),
        }));
    }
    let users: Vec<serde_json::Value> = users
        .into_iter()
        .map(|(user, sockets)| json!({"user": user, "sockets": sockets}))
        .collect();
    json_response(
        StatusCode::OK,
        &json!({"sockets": sockets.len(), "users": users}),
    )
}

#[derive(Deserialize)]
struct CloseQuery {
    user: Option<String>,
}

/// `POST /_emulator/realtime/close[?user=…]`: closes sockets (the SDK reconnects).
async fn close_sockets(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let hub = hub(&req)?;
    let user = web::Query::<CloseQuery>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.into_inner().user);
    let closed = hub.close(user.as_deref());
    json_response(StatusCode::OK, &json!({"closed": closed}))
}
