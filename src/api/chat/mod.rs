//! The Chat API: threads, messages, participants, read receipts and typing notifications.
//!
//! Contract: `shared/specs/Chat/*` and acs-api.md §4, §7, §13. Every operation takes a bearer
//! user access token (over HTTPS in practice, since the SDKs refuse bearer tokens over HTTP)
//! whose chat scope allows the operation's role ([`OPERATIONS`], checked by the `ChatCaller`
//! extractor); the store checks the caller's participation; the state lives in `store::chat`.
//! This module holds the operation table and what the handler files ([`threads`], [`messages`],
//! [`participants`]) share: versions and field checks; the wire models of identifiers and
//! participants are in [`wire`], paging (page sizes, continuation tokens, `nextLink`) in
//! [`paging`].
//!
//! Where the contract is silent the emulator decides, and says so here:
//! - An unknown (or deleted, or malformed) thread or message answers 404 `NotFound` with the
//!   envelope; a caller who is not a participant answers 403 `Forbidden` with the real
//!   service's message.
//! - `maxPageSize` ≤ 0 answers 400 `ValidationError` (target `maxPageSize`); values above
//!   [`MAX_PAGE_SIZE`] are capped (200 is the documented ListMessages page-size limit).
//!   A negative `skip` answers 400 likewise.

pub mod messages;
pub mod paging;
pub mod participants;
pub mod threads;
pub mod wire;

pub use paging::{
    Listing, PageQuery, Paged, SkipPage, SyncState, absolute_link, created_with_location,
    thread_path,
};
pub use wire::{
    IdentifierIn, IdentifierOut, ParticipantIn, ParticipantOut, PhoneModel, TeamsAppModel,
    TeamsUserModel, UserIdModel, validate_participants,
};

use actix_web::http::Method;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer};

use crate::domain::ChatRole;
use crate::error::ApiError;
use crate::http::{AuthKind, Mount, Operation, Plane, Service};
use crate::store::{METADATA_LIMIT_BYTES, Metadata, metadata_size};

/// Every Chat api-version the emulator serves.
pub const VERSIONS: &[&str] = &["2021-09-07", "2023-11-07", "2024-03-07", "2025-03-15"];

/// The first version with thread/participant `metadata` and thread `retentionPolicy`.
const METADATA_SINCE: &str = "2025-03-15";

/// The most items one page returns, whatever `maxPageSize` asks for.
pub const MAX_PAGE_SIZE: usize = 200;

/// The Chat service's slice of the operation table.
pub const SERVICE: Service = Service {
    plane: Plane::Data,
    mounts: &[
        Mount {
            prefix: "/chat/threads",
            auth: AuthKind::UserToken(ChatRole::JoinLimited),
            supported_versions: VERSIONS,
        },
        // Real-time notifications' configuration (api::realtime).
        Mount {
            prefix: "/chat/config",
            auth: AuthKind::UserToken(ChatRole::JoinLimited),
            supported_versions: crate::api::realtime::CONFIG_VERSIONS,
        },
    ],
    operations: OPERATIONS,
};

/// How Chat operations authenticate: a user access token whose chat scope allows the role.
const FULL: AuthKind = AuthKind::UserToken(ChatRole::Full);
const JOIN: AuthKind = AuthKind::UserToken(ChatRole::Join);
const JOIN_LIMITED: AuthKind = AuthKind::UserToken(ChatRole::JoinLimited);

/// Every Chat operation: all versions, a user access token whose chat scope allows the role.
#[rustfmt::skip]
pub const OPERATIONS: &[Operation] = &[
    Operation::new("Chat.CreateThread", Method::POST, "/chat/threads",
        VERSIONS, FULL, |r| r.to(threads::create_chat_thread)),
    Operation::new("Chat.ListThreads", Method::GET, "/chat/threads",
        VERSIONS, JOIN_LIMITED, |r| r.to(threads::list_chat_threads)),
    Operation::new("Chat.GetThread", Method::GET, "/chat/threads/{thread_id}",
        VERSIONS, JOIN_LIMITED, |r| r.to(threads::get_chat_thread_properties)),
    Operation::new("Chat.UpdateThread", Method::PATCH, "/chat/threads/{thread_id}",
        VERSIONS, FULL, |r| r.to(threads::update_chat_thread_properties)),
    Operation::new("Chat.DeleteThread", Method::DELETE, "/chat/threads/{thread_id}",
        VERSIONS, FULL, |r| r.to(threads::delete_chat_thread)),
    Operation::new("Chat.SendMessage", Method::POST, "/chat/threads/{thread_id}/messages",
        VERSIONS, JOIN_LIMITED, |r| r.to(messages::send_chat_message)),
    Operation::new("Chat.ListMessages", Method::GET, "/chat/threads/{thread_id}/messages",
        VERSIONS, JOIN_LIMITED, |r| r.to(messages::list_chat_messages)),
    Operation::new("Chat.GetMessage", Method::GET,
        "/chat/threads/{thread_id}/messages/{message_id}", VERSIONS, JOIN_LIMITED,
        |r| r.to(messages::get_chat_message)),
    Operation::new("Chat.UpdateMessage", Method::PATCH,
        "/chat/threads/{thread_id}/messages/{message_id}", VERSIONS, JOIN_LIMITED,
        |r| r.to(messages::update_chat_message)),
    Operation::new("Chat.DeleteMessage", Method::DELETE,
        "/chat/threads/{thread_id}/messages/{message_id}", VERSIONS, JOIN_LIMITED,
        |r| r.to(messages::delete_chat_message)),
    Operation::new("Chat.ListParticipants", Method::GET, "/chat/threads/{thread_id}/participants",
        VERSIONS, JOIN_LIMITED, |r| r.to(participants::list_chat_participants)),
    Operation::new("Chat.AddParticipants", Method::POST,
        "/chat/threads/{thread_id}/participants/:add", VERSIONS, JOIN,
        |r| r.to(participants::add_chat_participants)),
    Operation::new("Chat.RemoveParticipant", Method::POST,
        "/chat/threads/{thread_id}/participants/:remove", VERSIONS, JOIN,
        |r| r.to(participants::remove_chat_participant)),
    Operation::new("Chat.SendReadReceipt", Method::POST, "/chat/threads/{thread_id}/readReceipts",
        VERSIONS, JOIN_LIMITED, |r| r.to(messages::send_chat_read_receipt)),
    Operation::new("Chat.ListReadReceipts", Method::GET, "/chat/threads/{thread_id}/readReceipts",
        VERSIONS, JOIN_LIMITED, |r| r.to(messages::list_chat_read_receipts)),
    Operation::new("Chat.SendTypingNotification", Method::POST, "/chat/threads/{thread_id}/typing",
        VERSIONS, JOIN_LIMITED, |r| r.to(messages::send_typing_notification)),
    Operation::new("Chat.GetRealTimeNotificationsConfig", Method::GET,
        "/chat/config/realTimeNotifications", crate::api::realtime::CONFIG_VERSIONS, JOIN_LIMITED,
        |r| r.to(crate::api::realtime::config)),
];

/// Rejects metadata over the 1 KB limit (threads, participants and messages).
pub fn check_metadata(metadata: Option<&Metadata>) -> Result<(), ApiError> {
    match metadata {
        Some(m) if metadata_size(m) > METADATA_LIMIT_BYTES => Err(ApiError::metadata_too_large()),
        _ => Ok(()),
    }
}

/// The longest thread topic, in bytes of UTF-8 (README "Limits").
pub const MAX_TOPIC_BYTES: usize = crate::store::TOPIC_LIMIT_BYTES;

/// The longest display name, in bytes of UTF-8 (README "Limits").
pub const MAX_DISPLAY_NAME_BYTES: usize = crate::store::DISPLAY_NAME_LIMIT_BYTES;

/// Rejects a topic over [`MAX_TOPIC_BYTES`] (400 `ValidationError`, target `topic`).
pub fn check_topic(topic: &str) -> Result<(), ApiError> {
    if topic.len() > MAX_TOPIC_BYTES {
        return Err(ApiError::validation(
            format!("Topic cannot exceed {MAX_TOPIC_BYTES} bytes."),
            "topic",
        ));
    }
    Ok(())
}

/// Rejects a display name over [`MAX_DISPLAY_NAME_BYTES`] (400 `ValidationError`, `target`).
pub fn check_display_name(name: Option<&str>, target: &str) -> Result<(), ApiError> {
    if name.is_some_and(|n| n.len() > MAX_DISPLAY_NAME_BYTES) {
        return Err(ApiError::validation(
            format!("{target} cannot exceed {MAX_DISPLAY_NAME_BYTES} bytes."),
            target,
        ));
    }
    Ok(())
}

/// Whether `version` has thread/participant metadata and retention policies.
pub fn has_metadata(version: &str) -> bool {
    version >= METADATA_SINCE
}

/// RFC 3339 UTC with `Z` and milliseconds, e.g. `2026-11-28T00:52:07.314Z`.
pub fn fmt_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses a date-time from a body or query (`+` may have become a space in a raw query).
pub fn parse_time(raw: &str, target: &str) -> Result<DateTime<Utc>, ApiError> {
    let fixed = raw.trim().replace(' ', "+");
    DateTime::parse_from_rfc3339(&fixed)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            ApiError::validation(
                format!("The value '{raw}' is not a valid RFC 3339 date-time."),
                target,
            )
        })
}

/// Deserialises a field so that absent → `None`, `null` → `Some(None)` (merge-patch).
pub fn double_option<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}
