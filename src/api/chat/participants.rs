//! Chat participants: list, add (`/participants/:add`) and remove (`/participants/:remove`).
//!
//! Listing needs any chat scope; adding and removing need `chat` or `chat.join` (not
//! `chat.join.limited`). Identifiers that cannot join are reported in `invalidParticipants`
//! with a 201, never as an HTTP error.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::{IdentifierIn, ParticipantIn, ParticipantOut, SkipPage, validate_participants};
use crate::error::{ApiError, CommunicationError};
use crate::http::{AcsJson, ApiVersion, ChatCaller, ThreadPath, json_response};
use crate::state::AppState;

/// Default page size of `GET …/participants`.
const DEFAULT_PARTICIPANTS_PAGE: usize = 100;

/// `AddChatParticipantsRequest`.
#[derive(Debug, Default, Deserialize)]
pub struct AddChatParticipantsRequest {
    /// Participants to add (required).
    pub participants: Option<Vec<ParticipantIn>>,
}

/// `AddChatParticipantsResult`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AddChatParticipantsResponse {
    /// Participants that could not be added.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub invalid_participants: Vec<CommunicationError>,
}

/// `GET /chat/threads/{chatThreadId}/participants` (all versions): in joining order, paged with
/// `skip` + `maxPageSize`. 200.
pub async fn list_chat_participants(
    req: HttpRequest,
    ApiVersion(version): ApiVersion,
    ChatCaller { res, token }: ChatCaller,
    ThreadPath(id): ThreadPath,
) -> Result<HttpResponse, ApiError> {
    let page = SkipPage::from_request(&req, DEFAULT_PARTICIPANTS_PAGE)?;
    let (participants, more) =
        res.store
            .chat
            .list_participants(&token.user, &id, page.skip, page.max)?;
    let value = participants
        .iter()
        .map(|p| ParticipantOut::new(p, version))
        .collect();
    page.answer(&req, (&id, "/participants"), version, (value, more))
}

/// `POST /chat/threads/{chatThreadId}/participants/:add` (all versions). 201. Existing
/// participants are a no-op; the others emit one `participantAdded`.
pub async fn add_chat_participants(
    state: web::Data<AppState>,
    ApiVersion(version): ApiVersion,
    ChatCaller { res, token }: ChatCaller,
    ThreadPath(id): ThreadPath,
    AcsJson(request): AcsJson<AddChatParticipantsRequest>,
) -> Result<HttpResponse, ApiError> {
    let participants = request.participants.ok_or_else(|| {
        ApiError::validation("The Participants field is required.", "participants")
    })?;
    let (valid, invalid) = validate_participants(&res, version, participants)?;
    res.store.chat.add_participants(
        &token.user,
        &id,
        valid,
        state.clock.now(),
        state.changes.sink(&res.name),
    )?;
    json_response(
        StatusCode::CREATED,
        &AddChatParticipantsResponse {
            invalid_participants: invalid,
        },
    )
}

/// `POST /chat/threads/{chatThreadId}/participants/:remove` (all versions): the body is a bare
/// `CommunicationIdentifierModel`. 204; removing someone who is not there is a no-op.
pub async fn remove_chat_participant(
    state: web::Data<AppState>,
    _: ApiVersion,
    ChatCaller { res, token }: ChatCaller,
    ThreadPath(id): ThreadPath,
    AcsJson(identifier): AcsJson<IdentifierIn>,
) -> Result<HttpResponse, ApiError> {
    let target = identifier.resolve().map_err(|raw| {
        ApiError::validation(
            format!("'{raw}' is not a valid communication identifier."),
            "rawId",
        )
    })?;
    res.store.chat.remove_participant(
        &token.user,
        &id,
        &target,
        state.clock.now(),
        state.changes.sink(&res.name),
    )?;
    Ok(HttpResponse::NoContent().finish())
}
