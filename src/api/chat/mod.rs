//! The Chat API: threads, messages, participants, read receipts and typing notifications.
//!
//! Contract: `shared/specs/Chat/*` and acs-api.md §4, §7, §13. Every route authenticates with the
//! [`UserToken`] extractor (a bearer user access token; over HTTPS in practice, since the SDKs
//! refuse bearer tokens over HTTP) and then checks, per operation, the token's chat scope and
//! the caller's participation; the state lives in `store::chat`. This module holds what the
//! three resource files share: versions, scope rules, the identifier and participant wire
//! models, paging (page sizes, continuation tokens, `nextLink`) and error mapping.
//!
//! Where the contract is silent the emulator decides, and says so here:
//! - An unknown (or deleted, or malformed) thread or message answers 404 `NotFound` with the
//!   envelope; a caller who is not a participant answers 403 `Forbidden` with the real
//!   service's message.
//! - `maxPageSize` ≤ 0 answers 400 `ValidationError` (target `maxPageSize`); values above
//!   [`MAX_PAGE_SIZE`] are capped (200 is the documented ListMessages page-size limit).
//!   A negative `skip` answers 400 likewise.

pub mod messages;
pub mod participants;
pub mod threads;

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::Method;
use actix_web::{FromRequest, HttpRequest, Route};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use crate::domain::{ChatRole, Cloud, CommunicationIdentifier};
use crate::error::{ApiError, CommunicationError};
use crate::http::{ApiVersion, AuthKind, Mount, Operation, Plane, Service};
use crate::resource::Resource;
use crate::store::{METADATA_LIMIT_BYTES, Metadata, Participant, metadata_size};

/// Every Chat api-version the emulator serves.
pub const VERSIONS: &[&str] = &["2021-09-07", "2023-11-07", "2024-03-07", "2025-03-15"];

/// The first version with thread/participant `metadata` and thread `retentionPolicy`.
const METADATA_SINCE: &str = "2025-03-15";

/// The most items one page returns, whatever `maxPageSize` asks for.
pub const MAX_PAGE_SIZE: usize = 200;

/// The Chat service's slice of the operation table.
pub const SERVICE: Service = Service {
    plane: Plane::Data,
    mounts: &[Mount {
        prefix: "/chat/threads",
        auth: AuthKind::UserToken(ChatRole::JoinLimited),
        supported_versions: VERSIONS,
    }],
    operations: OPERATIONS,
};

const fn op(
    name: &'static str,
    method: Method,
    path: &'static str,
    role: ChatRole,
    route: fn(Route) -> Route,
) -> Operation {
    Operation {
        name,
        method,
        path,
        versions: VERSIONS,
        auth: AuthKind::UserToken(role),
        route,
    }
}

/// Every Chat operation: all versions, a user access token whose chat scope allows the role.
#[rustfmt::skip]
pub const OPERATIONS: &[Operation] = &[
    op("Chat.CreateThread", Method::POST, "/chat/threads", ChatRole::Full,
        |r| r.to(threads::create_chat_thread)),
    op("Chat.ListThreads", Method::GET, "/chat/threads", ChatRole::JoinLimited,
        |r| r.to(threads::list_chat_threads)),
    op("Chat.GetThread", Method::GET, "/chat/threads/{thread_id}", ChatRole::JoinLimited,
        |r| r.to(threads::get_chat_thread_properties)),
    op("Chat.UpdateThread", Method::PATCH, "/chat/threads/{thread_id}", ChatRole::Full,
        |r| r.to(threads::update_chat_thread_properties)),
    op("Chat.DeleteThread", Method::DELETE, "/chat/threads/{thread_id}", ChatRole::Full,
        |r| r.to(threads::delete_chat_thread)),
    op("Chat.SendMessage", Method::POST,
        "/chat/threads/{thread_id}/messages", ChatRole::JoinLimited,
        |r| r.to(messages::send_chat_message)),
    op("Chat.ListMessages", Method::GET,
        "/chat/threads/{thread_id}/messages", ChatRole::JoinLimited,
        |r| r.to(messages::list_chat_messages)),
    op("Chat.GetMessage", Method::GET,
        "/chat/threads/{thread_id}/messages/{message_id}", ChatRole::JoinLimited,
        |r| r.to(messages::get_chat_message)),
    op("Chat.UpdateMessage", Method::PATCH,
        "/chat/threads/{thread_id}/messages/{message_id}", ChatRole::JoinLimited,
        |r| r.to(messages::update_chat_message)),
    op("Chat.DeleteMessage", Method::DELETE,
        "/chat/threads/{thread_id}/messages/{message_id}", ChatRole::JoinLimited,
        |r| r.to(messages::delete_chat_message)),
    op("Chat.ListParticipants", Method::GET,
        "/chat/threads/{thread_id}/participants", ChatRole::JoinLimited,
        |r| r.to(participants::list_chat_participants)),
    op("Chat.AddParticipants", Method::POST,
        "/chat/threads/{thread_id}/participants/:add", ChatRole::Join,
        |r| r.to(participants::add_chat_participants)),
    op("Chat.RemoveParticipant", Method::POST,
        "/chat/threads/{thread_id}/participants/:remove", ChatRole::Join,
        |r| r.to(participants::remove_chat_participant)),
    op("Chat.SendReadReceipt", Method::POST,
        "/chat/threads/{thread_id}/readReceipts", ChatRole::JoinLimited,
        |r| r.to(messages::send_chat_read_receipt)),
    op("Chat.ListReadReceipts", Method::GET,
        "/chat/threads/{thread_id}/readReceipts", ChatRole::JoinLimited,
        |r| r.to(messages::list_chat_read_receipts)),
    op("Chat.SendTypingNotification", Method::POST,
        "/chat/threads/{thread_id}/typing", ChatRole::JoinLimited,
        |r| r.to(messages::send_typing_notification)),
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

// ---------------------------------------------------------------------------------------------
// Identifiers and participants on the wire.

/// `{id}` of `communicationUser`.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct UserIdModel {
    /// Raw id.
    pub id: String,
}

/// `phoneNumber` sub-object.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct PhoneModel {
    /// E.164 number.
    pub value: String,
}

/// `microsoftTeamsUser` sub-object.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TeamsUserModel {
    /// Entra object id.
    pub user_id: String,
    /// Anonymous visitor.
    #[serde(default)]
    pub is_anonymous: Option<bool>,
    /// `public`, `dod`, `gcch`.
    #[serde(default)]
    pub cloud: Option<String>,
}

/// `microsoftTeamsApp` sub-object.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TeamsAppModel {
    /// App id.
    pub app_id: String,
    /// `public`, `dod`, `gcch`.
    #[serde(default)]
    pub cloud: Option<String>,
}

/// `CommunicationIdentifierModel` as clients send it (`kind` optional, `rawId` optional).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentifierIn {
    /// Raw id.
    pub raw_id: Option<String>,
    /// Kind (ignored: the raw id or sub-object decides).
    pub kind: Option<String>,
    /// ACS user.
    pub communication_user: Option<UserIdModel>,
    /// Phone number.
    pub phone_number: Option<PhoneModel>,
    /// Teams user.
    pub microsoft_teams_user: Option<TeamsUserModel>,
    /// Teams app.
    pub microsoft_teams_app: Option<TeamsAppModel>,
}

impl IdentifierIn {
    /// The identifier, or the text to report as `target` when it is not a valid one.
    pub fn resolve(&self) -> Result<CommunicationIdentifier, String> {
        let raw = match (&self.raw_id, self) {
            (Some(raw), _) if !raw.trim().is_empty() => raw.trim().to_string(),
            (
                _,
                IdentifierIn {
                    communication_user: Some(u),
                    ..
                },
            ) => u.id.clone(),
            (
                _,
                IdentifierIn {
                    phone_number: Some(p),
                    ..
                },
            ) => format!("4:{}", p.value),
            (
                _,
                IdentifierIn {
                    microsoft_teams_user: Some(t),
                    ..
                },
            ) => {
                let prefix = match (t.is_anonymous, t.cloud.as_deref()) {
                    (Some(true), _) => "8:teamsvisitor:",
                    (_, Some("dod")) => "8:dod:",
                    (_, Some("gcch")) => "8:gcch:",
                    _ => "8:orgid:",
                };
                format!("{prefix}{}", t.user_id)
            }
            (
                _,
                IdentifierIn {
                    microsoft_teams_app: Some(a),
                    ..
                },
            ) => {
                let cloud = match a.cloud.as_deref() {
                    Some("dod") => "dod",
                    Some("gcch") => "gcch",
                    _ => "orgid",
                };
                format!("28:{cloud}:{}", a.app_id)
            }
            _ => String::new(),
        };
        CommunicationIdentifier::parse_raw(&raw).map_err(|_| raw)
    }
}

/// `CommunicationIdentifierModel` as the emulator answers it: always `kind`, `rawId` and the
/// fully populated sub-object (the JS deserialiser throws on a Teams id without `cloud`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentifierOut {
    /// Kind.
    pub kind: &'static str,
    /// Raw id.
    pub raw_id: String,
    /// ACS user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub communication_user: Option<UserIdModel>,
    /// Phone number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<PhoneModel>,
    /// Teams user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub microsoft_teams_user: Option<TeamsUserModel>,
    /// Teams app.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub microsoft_teams_app: Option<TeamsAppModel>,
}

fn cloud_name(cloud: Cloud) -> Option<String> {
    Some(cloud.as_str().to_string())
}

impl From<&CommunicationIdentifier> for IdentifierOut {
    fn from(id: &CommunicationIdentifier) -> Self {
        let mut out = IdentifierOut {
            kind: "unknown",
            raw_id: id.raw_id(),
            communication_user: None,
            phone_number: None,
            microsoft_teams_user: None,
            microsoft_teams_app: None,
        };
        match id {
            CommunicationIdentifier::User(user) => {
                out.kind = "communicationUser";
                out.communication_user = Some(UserIdModel {
                    id: user.to_string(),
                });
            }
            CommunicationIdentifier::PhoneNumber { value } => {
                out.kind = "phoneNumber";
                out.phone_number = Some(PhoneModel {
                    value: value.clone(),
                });
            }
            CommunicationIdentifier::TeamsUser {
                user_id,
                is_anonymous,
                cloud,
            } => {
                out.kind = "microsoftTeamsUser";
                out.microsoft_teams_user = Some(TeamsUserModel {
                    user_id: user_id.clone(),
                    is_anonymous: Some(*is_anonymous),
                    cloud: cloud_name(*cloud),
                });
            }
            CommunicationIdentifier::TeamsApp { app_id, cloud } => {
                out.kind = "microsoftTeamsApp";
                out.microsoft_teams_app = Some(TeamsAppModel {
                    app_id: app_id.clone(),
                    cloud: cloud_name(*cloud),
                });
            }
        }
        out
    }
}

/// `ChatParticipant` as clients send it.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantIn {
    /// Who (required).
    pub communication_identifier: Option<IdentifierIn>,
    /// Display name.
    pub display_name: Option<String>,
    /// RFC 3339.
    pub share_history_time: Option<String>,
    /// Metadata (2025-03-15).
    pub metadata: Option<Metadata>,
}

/// `ChatParticipant` as the emulator answers it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantOut {
    /// Who.
    pub communication_identifier: IdentifierOut,
    /// Display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share_history_time: Option<String>,
    /// Metadata (2025-03-15 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
}

impl ParticipantOut {
    /// The wire form of `p` for `version`.
    pub fn new(p: &Participant, version: &str) -> Self {
        Self {
            communication_identifier: (&p.id).into(),
            display_name: p.display_name.clone(),
            share_history_time: p.share_history_time.map(fmt_time),
            metadata: if has_metadata(version) {
                p.metadata.clone()
            } else {
                None
            },
        }
    }
}

/// Validates participants to add (create thread, `:add`): malformed requests are a 400; ids that
/// cannot join go to `invalidParticipants` with the real service's codes (`403` "Permissions
/// check failed" for an ACS user of another resource, `404` "Not found" for an unknown or
/// deleted ACS user, `400` "Invalid identifier" for a raw id that is no identifier).
pub fn validate_participants(
    res: &Resource,
    version: &str,
    participants: Vec<ParticipantIn>,
) -> Result<(Vec<Participant>, Vec<CommunicationError>), ApiError> {
    let mut valid = Vec::with_capacity(participants.len());
    let mut invalid = Vec::new();
    let failure = |code: &str, message: &str, target: String| CommunicationError {
        code: code.into(),
        message: message.into(),
        target: Some(target),
        details: None,
    };
    for p in participants {
        let identifier = p.communication_identifier.ok_or_else(|| {
            ApiError::validation(
                "Participants: the communicationIdentifier field is required.",
                "communicationIdentifier",
            )
        })?;
        let share_history_time = p
            .share_history_time
            .as_deref()
            .map(|t| parse_time(t, "shareHistoryTime"))
            .transpose()?;
        let metadata = if has_metadata(version) {
            p.metadata
        } else {
            None
        };
        check_metadata(metadata.as_ref())?;
        check_display_name(p.display_name.as_deref(), "displayName")?;
        let id = match identifier.resolve() {
            Ok(id) => id,
            Err(target) => {
                invalid.push(failure("400", "Invalid identifier", target));
                continue;
            }
        };
        if let Some(user) = id.as_user() {
            if user.resource_id() != Some(res.resource_id) {
                invalid.push(failure("403", "Permissions check failed", id.raw_id()));
                continue;
            }
            if !res.store.identities.is_live(user) {
                invalid.push(failure("404", "Not found", id.raw_id()));
                continue;
            }
        }
        valid.push(Participant {
            id,
            display_name: p.display_name,
            share_history_time,
            metadata,
        });
    }
    Ok((valid, invalid))
}

// ---------------------------------------------------------------------------------------------
// Paging.

/// The query parameters of list operations.
#[derive(Debug, Default)]
pub struct PageQuery {
    /// `maxPageSize`.
    pub max_page_size: Option<String>,
    /// `startTime`.
    pub start_time: Option<String>,
    /// `skip`.
    pub skip: Option<String>,
    /// `syncState`: the emulator's continuation token.
    pub sync_state: Option<String>,
}

impl PageQuery {
    /// Reads the paging parameters (names case-insensitive) from the request's query.
    pub fn from_request(req: &HttpRequest) -> Self {
        let mut q = PageQuery::default();
        let query = req.uri().query().unwrap_or("");
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            let v = Some(v.into_owned());
            match k.to_ascii_lowercase().as_str() {
                "maxpagesize" => q.max_page_size = v,
                "starttime" => q.start_time = v,
                "skip" => q.skip = v,
                "syncstate" => q.sync_state = v,
                _ => {}
            }
        }
        q
    }

    /// `maxPageSize`: `default` when absent, 400 when not a positive int32, capped at
    /// [`MAX_PAGE_SIZE`].
    pub fn page_size(&self, default: usize) -> Result<usize, ApiError> {
        let Some(raw) = self.max_page_size.as_deref() else {
            return Ok(default);
        };
        match raw.trim().parse::<i32>() {
            Ok(n) if n > 0 => Ok((n as usize).min(MAX_PAGE_SIZE)),
            _ => Err(ApiError::validation(
                format!("maxPageSize must be a positive integer; '{raw}' is not."),
                "maxPageSize",
            )),
        }
    }

    /// `skip`: 0 when absent, 400 when not a non-negative int32.
    pub fn skip(&self) -> Result<usize, ApiError> {
        let Some(raw) = self.skip.as_deref() else {
            return Ok(0);
        };
        match raw.trim().parse::<i32>() {
            Ok(n) if n >= 0 => Ok(n as usize),
            _ => Err(ApiError::validation(
                format!("skip must be a non-negative integer; '{raw}' is not."),
                "skip",
            )),
        }
    }

    /// `startTime`, parsed.
    pub fn start_time(&self) -> Result<Option<DateTime<Utc>>, ApiError> {
        self.start_time
            .as_deref()
            .map(|t| parse_time(t, "startTime"))
            .transpose()
    }
}

/// A decoded continuation token: which list, the api-version of the first request (used when a
/// follow-up arrives without one), and the list's own cursor text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncState {
    /// `m` (messages) or `t` (threads).
    pub kind: char,
    /// The api-version the listing started with.
    pub version: &'static str,
    /// The cursor.
    pub cursor: String,
}

impl SyncState {
    /// base64url (no padding) of `kind.version.cursor`: opaque and URL-safe.
    pub fn encode(kind: char, version: &str, cursor: &str) -> String {
        URL_SAFE_NO_PAD.encode(format!("{kind}.{version}.{cursor}"))
    }

    /// Decodes a token of `kind`; 400 if it is not one.
    pub fn decode(raw: &str, kind: char) -> Result<Self, ApiError> {
        let invalid = || {
            ApiError::validation(
                "The continuation token (syncState) is not valid.",
                "syncState",
            )
        };
        let bytes = URL_SAFE_NO_PAD
            .decode(raw.trim().trim_end_matches('='))
            .map_err(|_| invalid())?;
        let text = String::from_utf8(bytes).map_err(|_| invalid())?;
        let mut parts = text.splitn(3, '.');
        let (k, v, cursor) = (parts.next(), parts.next(), parts.next());
        let (Some(k), Some(v), Some(cursor)) = (k, v, cursor) else {
            return Err(invalid());
        };
        if k.len() != 1 || !k.starts_with(kind) {
            return Err(invalid());
        }
        let version = VERSIONS
            .iter()
            .find(|known| **known == v)
            .copied()
            .ok_or_else(invalid)?;
        Ok(Self {
            kind,
            version,
            cursor: cursor.to_string(),
        })
    }
}

/// A list request (threads: `KIND` `'t'`, messages: `'m'`): its paging parameters, its
/// continuation token, and its api-version, which a follow-up page may leave out to take its
/// token's. Checked in this order: a bad token is 400 before a bad api-version.
pub struct Listing<const KIND: char> {
    /// The paging parameters.
    pub query: PageQuery,
    /// The decoded `syncState`.
    pub sync: Option<SyncState>,
    /// The api-version.
    pub version: &'static str,
}

impl<const KIND: char> FromRequest for Listing<KIND> {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let extract = || {
            let query = PageQuery::from_request(req);
            let sync = query
                .sync_state
                .as_deref()
                .map(|s| SyncState::decode(s, KIND))
                .transpose()?;
            let version = match (ApiVersion::of(req), &sync) {
                (Err(ApiError::ApiVersionUnspecified), Some(sync)) => sync.version,
                (other, _) => other?,
            };
            Ok(Listing {
                query,
                sync,
                version,
            })
        };
        ready(extract())
    }
}

/// An absolute link on this server, built from the request's own scheme and `Host`:
/// `{scheme}://{host}{path}?{params}`.
pub fn absolute_link(req: &HttpRequest, path: &str, params: &[(&str, String)]) -> String {
    let (scheme, host) = crate::http::origin(req);
    let mut url = format!("{scheme}://{host}{path}");
    if !params.is_empty() {
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())))
            .finish();
        url.push('?');
        url.push_str(&query);
    }
    url
}

/// 201 Created with a JSON body and a `Location` header (create thread, send message).
pub fn created_with_location(
    location: &str,
    body: &impl serde::Serialize,
) -> Result<actix_web::HttpResponse, ApiError> {
    let mut response = crate::http::json_response(actix_web::http::StatusCode::CREATED, body)?;
    if let Ok(value) = actix_web::http::header::HeaderValue::from_str(location) {
        response
            .headers_mut()
            .insert(actix_web::http::header::LOCATION, value);
    }
    Ok(response)
}

/// The `nextLink` of a `skip` + `maxPageSize` list (participants, read receipts) under a thread.
pub fn skip_next_link(
    req: &HttpRequest,
    id: &crate::domain::ThreadId,
    suffix: &str,
    skip: usize,
    max: usize,
    version: &str,
) -> String {
    absolute_link(
        req,
        &thread_path(id, suffix),
        &[
            ("skip", (skip + max).to_string()),
            ("maxPageSize", max.to_string()),
            ("api-version", version.to_string()),
        ],
    )
}

/// The path of a thread (or one of its sub-resources), with the id percent-encoded as the SDKs
/// send it.
pub fn thread_path(id: &crate::domain::ThreadId, suffix: &str) -> String {
    format!(
        "/chat/threads/{}{suffix}",
        id.as_str().replace(':', "%3A").replace('@', "%40")
    )
}

/// `{value, nextLink?}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Paged<T> {
    /// Items.
    pub value: Vec<T>,
    /// Absolute link to the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_link: Option<String>,
}
