//! The Rooms API: rooms ([`room`]) and their participants ([`participants`]).
//!
//! - `POST /rooms` (201, `Location`: the bare room id; `Repeatability-Request-ID` /
//!   `Repeatability-First-Sent` make a retry return the first room), `GET /rooms` (paged),
//!   `GET` / `PATCH` (merge-patch: a `null` field is left as it is) / `DELETE` (204, also for a
//!   room already gone) `/rooms/{room_id}`;
//! - `GET /rooms/{room_id}/participants` (paged) and `PATCH /rooms/{room_id}/participants`
//!   (merge-patch per raw id: `{role}` adds or updates, `null` removes; answers `{}`).
//!
//! Contract: the `Rooms` specs (stable `2023-06-14`, `2024-04-15`, `2025-03-13`) and
//! `notes/research/rooms.md`. Every operation takes an access key or an Entra ID token.
//! `pstnDialOutEnabled` exists from 2024-04-15 on, the `Collaborator` role from 2025-03-13 on.
//! Times are echoed at the precision the client sent (up to 100 ns), always with a fraction
//! and a `+00:00` offset ([`wire::format_time`]). No Event Grid events: Event Grid defines none
//! for rooms.

pub mod participants;
pub mod room;
pub mod wire;

use actix_web::http::Method;

use crate::http::{AuthKind, Mount, Operation, Plane, Service};

/// Every api-version the emulator serves: the stable ones an SDK sends.
/// `azure-communication-rooms` 1.2.0 and `@azure/communication-rooms` 1.2.0 send 2025-03-13;
/// 1.1.x sent 2024-04-15, 1.0.0 2023-06-14.
pub const VERSIONS: &[&str] = &["2023-06-14", "2024-04-15", "2025-03-13"];

/// The list operations take [`VERSIONS`] and the names of the Python SDK's `ApiVersion` enum
/// members: `azure-communication-rooms` 1.2.0 writes `api-version=ApiVersion.V2025_03_13` into
/// every request for a page after the first. [`dated`] maps them back.
pub const LIST_VERSIONS: &[&str] = &[
    "2023-06-14",
    "2024-04-15",
    "2025-03-13",
    "ApiVersion.V2023_06_14",
    "ApiVersion.V2024_04_15",
    "ApiVersion.V2025_03_13",
];

/// The first version with `pstnDialOutEnabled`.
pub const PSTN_SINCE: &str = "2024-04-15";

/// The first version with the `Collaborator` role.
pub const COLLABORATOR_SINCE: &str = "2025-03-13";

/// The dated api-version a served version stands for (see [`LIST_VERSIONS`]).
pub fn dated(version: &'static str) -> &'static str {
    match version.strip_prefix("ApiVersion.V") {
        Some("2023_06_14") => "2023-06-14",
        Some("2024_04_15") => "2024-04-15",
        Some("2025_03_13") => "2025-03-13",
        _ => version,
    }
}

/// The Rooms service's slice of the operation table.
pub const SERVICE: Service = Service {
    plane: Plane::Data,
    mounts: &[Mount {
        prefix: "/rooms",
        auth: AuthKind::AccessKeyOrEntra,
        supported_versions: VERSIONS,
    }],
    operations: OPERATIONS,
};

/// How every Rooms operation authenticates.
const AUTH: AuthKind = AuthKind::AccessKeyOrEntra;

/// Every Rooms operation.
#[rustfmt::skip]
pub const OPERATIONS: &[Operation] = &[
    Operation::new("Rooms.Create", Method::POST, "/rooms",
        VERSIONS, AUTH, |r| r.to(room::create_room)),
    Operation::new("Rooms.List", Method::GET, "/rooms",
        LIST_VERSIONS, AUTH, |r| r.to(room::list_rooms)),
    Operation::new("Rooms.Get", Method::GET, "/rooms/{room_id}",
        VERSIONS, AUTH, |r| r.to(room::get_room)),
    Operation::new("Rooms.Update", Method::PATCH, "/rooms/{room_id}",
        VERSIONS, AUTH, |r| r.to(room::update_room)),
    Operation::new("Rooms.Delete", Method::DELETE, "/rooms/{room_id}",
        VERSIONS, AUTH, |r| r.to(room::delete_room)),
    Operation::new("Rooms.ListParticipants", Method::GET, "/rooms/{room_id}/participants",
        LIST_VERSIONS, AUTH, |r| r.to(participants::list_participants)),
    Operation::new("Rooms.UpdateParticipants", Method::PATCH, "/rooms/{room_id}/participants",
        VERSIONS, AUTH, |r| r.to(participants::update_participants)),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_enum_names_map_to_dated_versions() {
        for v in LIST_VERSIONS {
            assert!(VERSIONS.contains(&dated(v)), "{v}");
        }
    }
}
