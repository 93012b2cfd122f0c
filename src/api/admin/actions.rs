//! What the web inspector does to a resource's state, without the keys or a user token the
//! ACS APIs would need (control API: `--control-token` when one is set; cross-origin browser
//! requests refused):
//!
//! - `POST /_emulator/identities?resource=`: a new identity. 201 `{"id"}`.
//! - `DELETE /_emulator/identities/{id}`: deletes it (its tokens stop working). 204.
//! - `POST /_emulator/identities/{id}/revoke`: revokes every token issued so far. 204.
//! - `POST /_emulator/identities/{id}/token` `{"scopes":["chat"],"expiresInMinutes":60}`: a
//!   token, as the Identity API issues it. 200 `{"token","expiresOn"}`.
//! - `POST /_emulator/chat/threads/{id}/messages` `{"senderId","content","senderDisplayName"}`:
//!   a text message from a participant, as if sent through Chat (events, live views). 201
//!   `{"id"}`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::resource_or_default;
use crate::api::identity::users::issue_for;
use crate::api::identity::{AccessTokenDto, IdentityDto, VERSIONS, token_request};
use crate::domain::{CommunicationUserId, ThreadId};
use crate::error::ApiError;
use crate::http::extract::decoded_segment;
use crate::http::{AcsJson, AcsJsonOrDefault, json_response};
use crate::state::AppState;
use crate::store::{MessageType, NewMessage};

/// The longest message the inspector sends (the Chat API's own limit is larger; a person types
/// this one).
const MAX_CONTENT: usize = 28 * 1024;
/// The longest display name.
const MAX_NAME: usize = 256;

fn user_of(req: &HttpRequest) -> Result<CommunicationUserId, ApiError> {
    let raw = decoded_segment(req, "user_id");
    CommunicationUserId::parse(&raw)
        .map_err(|_| ApiError::NotFound(format!("The identity '{raw}' was not found.")))
}

/// `POST /_emulator/identities`.
pub async fn create_identity(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let res = resource_or_default(&state, &req)?;
    let user = CommunicationUserId::new(res.resource_id, res.store.ids.uuid());
    res.store.identities.create_within(
        user.clone(),
        state.clock.now(),
        res.store.limits().identities,
        state.changes.sink(&res.name),
    )?;
    tracing::info!(user = %user, "identity created from the control API");
    json_response(
        StatusCode::CREATED,
        &IdentityDto {
            id: user.to_string(),
        },
    )
}

/// `DELETE /_emulator/identities/{id}`.
pub async fn delete_identity(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let res = resource_or_default(&state, &req)?;
    let user = user_of(&req)?;
    res.store
        .identities
        .delete(&user, state.clock.now(), state.changes.sink(&res.name))?;
    tracing::info!(user = %user, "identity deleted from the control API");
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /_emulator/identities/{id}/revoke`.
pub async fn revoke_tokens(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let res = resource_or_default(&state, &req)?;
    let user = user_of(&req)?;
    res.store
        .identities
        .revoke_tokens(&user, state.changes.sink(&res.name))?;
    tracing::info!(user = %user, "tokens revoked from the control API");
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /_emulator/identities/{id}/token`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TokenBody {
    /// Default `["chat", "voip"]`.
    scopes: Option<Vec<String>>,
    expires_in_minutes: Option<i64>,
}

/// `POST /_emulator/identities/{id}/token`.
pub async fn issue_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    AcsJsonOrDefault(body): AcsJsonOrDefault<TokenBody>,
) -> Result<HttpResponse, ApiError> {
    let res = resource_or_default(&state, &req)?;
    let user = user_of(&req)?;
    let newest = VERSIONS.iter().copied().max().unwrap_or_default();
    let scopes = body
        .scopes
        .unwrap_or_else(|| vec!["chat".into(), "voip".into()]);
    let request = token_request(&state, newest, Some(scopes), body.expires_in_minutes)?;
    let issued = issue_for(&res, &state, &user, &request)?;
    tracing::info!(user = %user, "token issued from the control API");
    json_response(StatusCode::OK, &AccessTokenDto::from(issued))
}

/// `POST /_emulator/chat/threads/{id}/messages`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SendBody {
    /// The participant who sends it (`8:acs:…`).
    sender_id: String,
    content: String,
    #[serde(default)]
    sender_display_name: Option<String>,
}

#[derive(Serialize)]
struct Sent {
    id: String,
}

/// `POST /_emulator/chat/threads/{id}/messages`.
pub async fn send_message(
    req: HttpRequest,
    state: web::Data<AppState>,
    AcsJson(body): AcsJson<SendBody>,
) -> Result<HttpResponse, ApiError> {
    let res = resource_or_default(&state, &req)?;
    let raw = decoded_segment(&req, "thread_id");
    let thread = ThreadId::parse(&raw)
        .map_err(|_| ApiError::NotFound(format!("The chat thread '{raw}' was not found.")))?;
    let sender = CommunicationUserId::parse(&body.sender_id)
        .map_err(|_| ApiError::validation("senderId: not a communication user id.", "senderId"))?;
    if body.content.trim().is_empty() || body.content.len() > MAX_CONTENT {
        return Err(ApiError::validation(
            format!("content: between 1 and {MAX_CONTENT} bytes."),
            "content",
        ));
    }
    if body
        .sender_display_name
        .as_ref()
        .is_some_and(|n| n.len() > MAX_NAME)
    {
        return Err(ApiError::validation(
            format!("senderDisplayName: at most {MAX_NAME} bytes."),
            "senderDisplayName",
        ));
    }
    let (id, _) = res.store.chat.send_message(
        &sender,
        &thread,
        NewMessage {
            content: body.content,
            kind: MessageType::Text,
            sender_display_name: body.sender_display_name,
            metadata: None,
        },
        state.clock.now(),
        state.changes.sink(&res.name),
    )?;
    json_response(StatusCode::CREATED, &Sent { id: id.to_string() })
}
