//! `GET` / `PATCH /rooms/{room_id}/participants`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::dated;
use super::room::{next_link, page_query};
use super::wire::{
    Page, ParticipantsOf, RoomParticipant, UpdateParticipantsRequest, participant_changes, room_id,
};
use crate::error::ApiError;
use crate::http::extract::decoded_segment;
use crate::http::{AcsJson, ApiVersion, Res, json_response};
use crate::state::AppState;

/// `GET /rooms/{room_id}/participants`: in the order they were added, paged (the cursor is
/// the index of the last one given).
pub async fn list_participants(
    req: HttpRequest,
    res: Res,
    ApiVersion(version): ApiVersion,
) -> Result<HttpResponse, ApiError> {
    let version = dated(version);
    let id = room_id(decoded_segment(&req, "room_id"))?;
    let (cursor, size) = page_query(&req)?;
    let room = res.store.rooms.get(&id)?;
    let start = cursor.map_or(0, |c| {
        usize::try_from(c).unwrap_or(usize::MAX).saturating_add(1)
    });
    let value: Vec<RoomParticipant<'_>> = room
        .participants
        .iter()
        .skip(start)
        .take(size)
        .map(|(user, role)| RoomParticipant {
            raw_id: user.as_str(),
            role: role.as_str(),
        })
        .collect();
    let end = start.saturating_add(value.len());
    let more = end < room.participants.len();
    let cursor = more.then(|| (end - 1) as u64);
    json_response(
        StatusCode::OK,
        &Page {
            value,
            next_link: next_link(&req, cursor, size, version),
        },
    )
}

/// `PATCH /rooms/{room_id}/participants`: `{rawId: {role}}` adds or updates, `{rawId: null}`
/// removes (a no-op for someone not in the room); all or nothing. 200 `{}`.
pub async fn update_participants(
    req: HttpRequest,
    res: Res,
    state: web::Data<AppState>,
    ApiVersion(version): ApiVersion,
    AcsJson(request): AcsJson<UpdateParticipantsRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = room_id(decoded_segment(&req, "room_id"))?;
    let changes = participant_changes(
        request.participants.unwrap_or_default(),
        version,
        ParticipantsOf::Update,
        &res,
    )?;
    res.store
        .rooms
        .update_participants(&id, changes, state.changes.sink(&res.name))?;
    json_response(StatusCode::OK, &serde_json::json!({}))
}
