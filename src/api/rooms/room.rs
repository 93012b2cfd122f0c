//! `POST /rooms`, `GET /rooms`, `GET` / `PATCH` / `DELETE /rooms/{room_id}`.

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue, LOCATION};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, SubsecRound, Utc};

use super::dated;
use super::wire::{
    CreateRoomRequest, Page, ParticipantsOf, RoomModel, UpdateRoomRequest, parse_time,
    participant_changes, room_id,
};
use crate::api::chat::paging::absolute_link;
use crate::error::ApiError;
use crate::http::extract::decoded_segment;
use crate::http::{AcsJsonOrDefault, ApiVersion, Res, json_response};
use crate::state::AppState;
use crate::store::{NewRoom, RoomUpdate, check_window, default_valid_until};

/// Rooms and participants per page (neither SDK can ask for another size; the emulator also
/// takes `maxpagesize=1..=100`).
pub const PAGE_SIZE: usize = 100;

/// The real service's message for a `Repeatability-First-Sent` that is missing or not an
/// RFC 1123 date while `Repeatability-Request-ID` is given.
const INVALID_FIRST_SENT: &str = "Request sent with Invalid DateTime value for repeatability-first-sent. Expected is DateTime ,RFC1123 pattern.";

/// The `Repeatability-Request-ID` of a create, if any, with its `Repeatability-First-Sent`
/// checked.
fn repeatability(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_string())
    };
    let Some(id) = header("repeatability-request-id").filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if id.len() > 128 {
        return Err(ApiError::BadRequest {
            code: "BadRequest",
            message: "Repeatability-Request-ID is longer than 128 characters.".into(),
        });
    }
    let first_sent = header("repeatability-first-sent").unwrap_or_default();
    if httpdate::parse_http_date(&first_sent).is_err() {
        return Err(ApiError::BadRequest {
            code: "BadRequest",
            message: INVALID_FIRST_SENT.into(),
        });
    }
    Ok(Some(id))
}

fn optional_time(raw: Option<String>, field: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    raw.map(|r| parse_time(&r, field)).transpose()
}

/// `POST /rooms`: 201 with the room and `Location: <room id>`.
pub async fn create_room(
    req: HttpRequest,
    res: Res,
    state: web::Data<AppState>,
    ApiVersion(version): ApiVersion,
    AcsJsonOrDefault(request): AcsJsonOrDefault<CreateRoomRequest>,
) -> Result<HttpResponse, ApiError> {
    let repeat = repeatability(&req)?;
    // Server-made times to the microsecond: clients parse them with `%S.%f` (6 digits at most).
    let now = state.clock.now().trunc_subsecs(6);
    let valid_from = optional_time(request.valid_from, "validFrom")?.unwrap_or(now);
    let valid_until = optional_time(request.valid_until, "validUntil")?
        .unwrap_or_else(|| default_valid_until(valid_from));
    check_window(valid_from, valid_until, now)?;
    let participants = participant_changes(
        request.participants.unwrap_or_default(),
        version,
        ParticipantsOf::Create,
        &res,
    )?
    .into_iter()
    .filter_map(|(user, role)| role.map(|role| (user, role)))
    .collect();
    let pstn = request
        .pstn_dial_out_enabled
        .filter(|_| version >= super::PSTN_SINCE)
        .unwrap_or(false);
    let created = res.store.rooms.create(
        NewRoom {
            valid_from,
            valid_until,
            pstn_dial_out_enabled: pstn,
            participants,
        },
        res.store.ids.uuid().as_u128(),
        repeat.clone(),
        now,
        state.changes.sink(&res.name),
    )?;
    tracing::info!(room_id = %created.room.id, fresh = created.fresh, "room created");
    let mut response = json_response(StatusCode::CREATED, &RoomModel::new(&created.room, version))?;
    if let Ok(location) = HeaderValue::from_str(&created.room.id) {
        response.headers_mut().insert(LOCATION, location);
    }
    if repeat.is_some() {
        response.headers_mut().insert(
            HeaderName::from_static("repeatability-result"),
            HeaderValue::from_static("accepted"),
        );
    }
    Ok(response)
}

/// A list's query: the cursor (`nextLink`) and the page size (`maxpagesize`).
pub fn page_query(req: &HttpRequest) -> Result<(Option<u64>, usize), ApiError> {
    let query = req.uri().query().unwrap_or("");
    let mut cursor = None;
    let mut size = PAGE_SIZE;
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        if k.eq_ignore_ascii_case("nextLink") {
            cursor = Some(v.parse::<u64>().map_err(|_| ApiError::BadRequest {
                code: "BadRequest",
                message: "Invalid nextLink.".into(),
            })?);
        } else if k.eq_ignore_ascii_case("maxpagesize") {
            size = v
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=PAGE_SIZE).contains(n))
                .ok_or_else(|| ApiError::invalid_query_parameter("maxpagesize", &v, "1 to 100"))?;
        }
    }
    Ok((cursor, size))
}

/// The absolute link to the page after `cursor`, for `version` (dated: the Python SDK
/// replaces it with its own anyway).
pub fn next_link(
    req: &HttpRequest,
    cursor: Option<u64>,
    size: usize,
    version: &str,
) -> Option<String> {
    let cursor = cursor?;
    let mut params = vec![("nextLink", cursor.to_string())];
    if size != PAGE_SIZE {
        params.push(("maxpagesize", size.to_string()));
    }
    params.push(("api-version", version.to_string()));
    Some(absolute_link(req, req.path(), &params))
}

/// `GET /rooms`: the resource's rooms in creation order, paged.
pub async fn list_rooms(
    req: HttpRequest,
    res: Res,
    ApiVersion(version): ApiVersion,
) -> Result<HttpResponse, ApiError> {
    let version = dated(version);
    let (cursor, size) = page_query(&req)?;
    let page = res.store.rooms.page(cursor, size);
    json_response(
        StatusCode::OK,
        &Page {
            value: page
                .rooms
                .iter()
                .map(|r| RoomModel::new(r, version))
                .collect(),
            next_link: next_link(&req, page.next, size, version),
        },
    )
}

/// `GET /rooms/{room_id}`.
pub async fn get_room(
    req: HttpRequest,
    res: Res,
    ApiVersion(version): ApiVersion,
) -> Result<HttpResponse, ApiError> {
    let id = room_id(decoded_segment(&req, "room_id"))?;
    let room = res.store.rooms.get(&id)?;
    json_response(StatusCode::OK, &RoomModel::new(&room, version))
}

/// `PATCH /rooms/{room_id}`: a merge-patch; `null` and absent fields are left as they are.
pub async fn update_room(
    req: HttpRequest,
    res: Res,
    state: web::Data<AppState>,
    ApiVersion(version): ApiVersion,
    AcsJsonOrDefault(request): AcsJsonOrDefault<UpdateRoomRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = room_id(decoded_segment(&req, "room_id"))?;
    let update = RoomUpdate {
        valid_from: optional_time(request.valid_from, "validFrom")?,
        valid_until: optional_time(request.valid_until, "validUntil")?,
        pstn_dial_out_enabled: request
            .pstn_dial_out_enabled
            .filter(|_| version >= super::PSTN_SINCE),
    };
    let room = res.store.rooms.update(
        &id,
        update,
        state.clock.now(),
        state.changes.sink(&res.name),
    )?;
    json_response(StatusCode::OK, &RoomModel::new(&room, version))
}

/// `DELETE /rooms/{room_id}`: 204, also when the room is gone already.
pub async fn delete_room(
    req: HttpRequest,
    res: Res,
    state: web::Data<AppState>,
    ApiVersion(_): ApiVersion,
) -> Result<HttpResponse, ApiError> {
    let id = room_id(decoded_segment(&req, "room_id"))?;
    let deleted = res.store.rooms.delete(&id, state.changes.sink(&res.name));
    tracing::info!(room_id = %id, deleted, "room deleted");
    Ok(HttpResponse::NoContent().finish())
}
