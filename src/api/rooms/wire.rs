//! Rooms wire models (camelCase, as the spec names them), times as the service writes them,
//! and the checks on what a client sends (times, participants, room ids).

use chrono::{DateTime, Timelike, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{COLLABORATOR_SINCE, PSTN_SINCE};
use crate::domain::CommunicationUserId;
use crate::error::ApiError;
use crate::resource::Resource;
use crate::store::{Room, RoomRole, at_service_precision, check_room_id};

/// `CreateRoomRequest`. A `null` field counts as left out (the Python SDK sends `null` for
/// every field not given).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateRoomRequest {
    /// `validFrom` (default: now).
    pub valid_from: Option<String>,
    /// `validUntil` (default: `validFrom` + 180 days).
    pub valid_until: Option<String>,
    /// `pstnDialOutEnabled` (2024-04-15 on; default false).
    pub pstn_dial_out_enabled: Option<bool>,
    /// `participants`: raw id → `{role}`.
    pub participants: Option<Map<String, Value>>,
}

/// `UpdateRoomRequest` (merge-patch; `null` leaves a field as it is).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateRoomRequest {
    /// `validFrom`.
    pub valid_from: Option<String>,
    /// `validUntil`.
    pub valid_until: Option<String>,
    /// `pstnDialOutEnabled` (2024-04-15 on).
    pub pstn_dial_out_enabled: Option<bool>,
}

/// `UpdateParticipantsRequest`: raw id → `{role}` (add or update) or `null` (remove).
#[derive(Debug, Default, Deserialize)]
pub struct UpdateParticipantsRequest {
    /// `participants`.
    pub participants: Option<Map<String, Value>>,
}

/// `RoomModel`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomModel {
    /// The room id.
    pub id: String,
    /// When it was created.
    pub created_at: String,
    /// When it opens.
    pub valid_from: String,
    /// When it closes.
    pub valid_until: String,
    /// Whether dial-out is enabled (2024-04-15 on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pstn_dial_out_enabled: Option<bool>,
}

impl RoomModel {
    /// The room as `version` shows it.
    pub fn new(room: &Room, version: &str) -> Self {
        Self {
            id: room.id.clone(),
            created_at: format_time(room.created_at),
            valid_from: format_time(room.valid_from),
            valid_until: format_time(room.valid_until),
            pstn_dial_out_enabled: (version >= PSTN_SINCE).then_some(room.pstn_dial_out_enabled),
        }
    }
}

/// `RoomParticipant`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomParticipant<'a> {
    /// The raw id.
    pub raw_id: &'a str,
    /// The role.
    pub role: &'static str,
}

/// A page: `{value, nextLink?}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    /// The items.
    pub value: Vec<T>,
    /// The next page, absolute.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_link: Option<String>,
}

/// A time as the service writes it: `+00:00`, and the fraction of a second the time has (up
/// to 7 digits, trailing zeros trimmed) — always at least one digit, so that a client parsing
/// with `%S.%f` (the Python SDK's tests do) reads every time the emulator writes.
pub fn format_time(t: DateTime<Utc>) -> String {
    let ticks = (t.nanosecond() % 1_000_000_000) / 100;
    let digits = format!("{ticks:07}");
    let digits = digits.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    format!("{}.{digits}+00:00", t.format("%Y-%m-%dT%H:%M:%S"))
}

/// A time a client sent (RFC 3339, any offset), kept to 100 ns; anything else is the 400
/// ASP.NET model binding answers, about `field` (`validFrom`, `validUntil`).
pub fn parse_time(raw: &str, field: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(raw.trim())
        .map(|t| at_service_precision(t.to_utc()))
        .map_err(|_| {
            ApiError::bad_argument(
                format!(
                    "The JSON value could not be converted to System.DateTimeOffset. Path: $.{field}."
                ),
                format!("$.{field}"),
            )
        })
}

/// The room id of a path, checked ([`check_room_id`]).
pub fn room_id(raw: String) -> Result<String, ApiError> {
    check_room_id(&raw)?;
    Ok(raw)
}

/// 400 for a participant whose properties (role) cannot be read, as ASP.NET model binding
/// answers (the request's DTO is named, then the field).
fn role_error(dto: &str, raw_id: &str, what: &str) -> ApiError {
    let mut err = ApiError::bad_argument(format!("The {dto} field is required."), dto.to_string());
    if let ApiError::Detailed { details, .. } = &mut err {
        details.push(crate::error::CommunicationError {
            code: "BadArgument".into(),
            message: format!(
                "The JSON value could not be converted to {what}. Path: $.participants.{raw_id}.role."
            ),
            target: Some(format!("$.participants.{raw_id}.role")),
            details: None,
            inner_error: None,
        });
    }
    err
}

/// 400: a raw id that is not an ACS user id.
fn invalid_identifier() -> ApiError {
    ApiError::BadRequest {
        code: "BadRequest",
        message: "Invalid format for communication identifier.".into(),
    }
}

/// 400: a participant to remove whose raw id is not an ACS user id.
fn invalid_participants() -> ApiError {
    ApiError::BadRequest {
        code: "BadRequest",
        message: "Invalid value for the Participants.".into(),
    }
}

/// How a request's `participants` map is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParticipantsOf {
    /// `CreateRoomRequest`: a `null` value adds nobody.
    Create,
    /// `UpdateParticipantsRequest`: a `null` value removes.
    Update,
}

/// The participants of a request, checked: a role the version knows (default `Attendee`), ACS
/// user ids of `resource`. `None` for a role means "remove".
pub fn participant_changes(
    map: Map<String, Value>,
    version: &str,
    of: ParticipantsOf,
    resource: &Resource,
) -> Result<Vec<(CommunicationUserId, Option<RoomRole>)>, ApiError> {
    let dto = match of {
        ParticipantsOf::Create => "createRoomRequest",
        ParticipantsOf::Update => "updateParticipantsRequestDto",
    };
    let mut changes = Vec::with_capacity(map.len());
    for (raw, value) in map {
        let role = match value {
            Value::Null => None,
            Value::Object(props) => Some(match props.get("role") {
                None | Some(Value::Null) => RoomRole::Attendee,
                Some(Value::String(name)) => RoomRole::parse(name)
                    .filter(|r| *r != RoomRole::Collaborator || version >= COLLABORATOR_SINCE)
                    .ok_or_else(|| role_error(dto, &raw, "Role"))?,
                Some(_) => return Err(role_error(dto, &raw, "Role")),
            }),
            _ => return Err(role_error(dto, &raw, "ParticipantProperties")),
        };
        if role.is_none() && of == ParticipantsOf::Create {
            continue;
        }
        let user = CommunicationUserId::parse(&raw).map_err(|_| match role {
            Some(_) => invalid_identifier(),
            None => invalid_participants(),
        })?;
        if role.is_some() && user.resource_id() != Some(resource.resource_id) {
            return Err(ApiError::BadRequest {
                code: "BadRequest",
                message: format!(
                    "The participant '{raw}' is not a user of this Communication Services resource."
                ),
            });
        }
        changes.push((user, role));
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        parse_time(s, "validFrom").expect("time")
    }

    #[test]
    fn times_echo_the_precision_sent_and_always_have_a_fraction() {
        assert_eq!(
            format_time(t("2026-12-01T10:00:00.123456Z")),
            "2026-12-01T10:00:00.123456+00:00"
        );
        assert_eq!(
            format_time(t("2026-12-01T10:00:00.120Z")),
            "2026-12-01T10:00:00.12+00:00"
        );
        assert_eq!(
            format_time(t("2026-12-01T10:00:00Z")),
            "2026-12-01T10:00:00.0+00:00"
        );
        assert_eq!(
            format_time(t("2026-12-01T12:00:00.1234567891+02:00")),
            "2026-12-01T10:00:00.1234567+00:00"
        );
        assert!(parse_time("yesterday", "validFrom").is_err());
    }
}
