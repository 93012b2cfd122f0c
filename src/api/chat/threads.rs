//! Chat threads: create, list, get, update (merge-patch) and delete.
//!
//! Creating, updating and deleting need the full `chat` scope; listing and reading need any chat
//! scope. `metadata` and `retentionPolicy` exist only in 2025-03-15: older versions neither read
//! nor return them.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::created_with_location;
use super::{
    IdentifierOut, Listing, Paged, ParticipantIn, SyncState, absolute_link, check_metadata,
    double_option, fmt_time, has_metadata, validate_participants,
};
use crate::domain::{CommunicationIdentifier, ThreadId};
use crate::error::{ApiError, CommunicationError};
use crate::http::{AcsJson, AcsJsonOrDefault, ApiVersion, ChatCaller, ThreadPath, json_response};
use crate::state::AppState;
use crate::store::{
    Metadata, MetadataPatch, NewThread, RetentionPolicy, ThreadCursor, ThreadProps, ThreadUpdate,
};

/// Default page size of `GET /chat/threads`.
const DEFAULT_THREADS_PAGE: usize = 20;

/// `ChatRetentionPolicy` on the wire.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RetentionPolicyModel {
    /// `threadCreationDate` or `none`.
    #[serde(default)]
    pub kind: String,
    /// Days after creation (`threadCreationDate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_thread_after_days: Option<i32>,
}

impl RetentionPolicyModel {
    fn parse(self) -> Result<RetentionPolicy, ApiError> {
        match self.kind.as_str() {
            "none" => Ok(RetentionPolicy::None),
            "threadCreationDate" => match self.delete_thread_after_days {
                Some(days) if days > 0 => Ok(RetentionPolicy::ThreadCreationDate {
                    delete_thread_after_days: days,
                }),
                _ => Err(ApiError::validation(
                    "deleteThreadAfterDays is required and must be a positive integer.",
                    "retentionPolicy.deleteThreadAfterDays",
                )),
            },
            other => Err(ApiError::validation(
                format!(
                    "Retention policy kind '{other}' is not supported; use threadCreationDate or none."
                ),
                "retentionPolicy.kind",
            )),
        }
    }
}

impl From<&RetentionPolicy> for RetentionPolicyModel {
    fn from(p: &RetentionPolicy) -> Self {
        match p {
            RetentionPolicy::None => Self {
                kind: "none".into(),
                delete_thread_after_days: None,
            },
            RetentionPolicy::ThreadCreationDate {
                delete_thread_after_days,
            } => Self {
                kind: "threadCreationDate".into(),
                delete_thread_after_days: Some(*delete_thread_after_days),
            },
        }
    }
}

/// `CreateChatThreadRequest`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateChatThreadRequest {
    /// Topic (required).
    pub topic: Option<String>,
    /// Participants besides the creator.
    pub participants: Option<Vec<ParticipantIn>>,
    /// Metadata (2025-03-15).
    pub metadata: Option<Metadata>,
    /// Retention policy (2025-03-15).
    pub retention_policy: Option<RetentionPolicyModel>,
}

/// `UpdateChatThreadRequest` (merge-patch: absent = unchanged, `null` = cleared; a cleared
/// retention policy reads back as `{"kind": "none"}`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateChatThreadRequest {
    /// New topic.
    pub topic: Option<String>,
    /// Metadata patch (2025-03-15).
    #[serde(default, deserialize_with = "double_option")]
    pub metadata: Option<Option<MetadataPatch>>,
    /// Retention policy (2025-03-15).
    #[serde(default, deserialize_with = "double_option")]
    pub retention_policy: Option<Option<RetentionPolicyModel>>,
}

/// `ChatThreadProperties`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatThreadPropertiesDto {
    /// Id.
    pub id: String,
    /// Topic.
    pub topic: String,
    /// Creation time.
    pub created_on: String,
    /// Creator.
    pub created_by_communication_identifier: IdentifierOut,
    /// Deletion time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_on: Option<String>,
    /// Metadata (2025-03-15).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
    /// Retention policy (2025-03-15).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention_policy: Option<RetentionPolicyModel>,
}

impl ChatThreadPropertiesDto {
    fn new(t: &ThreadProps, version: &str) -> Self {
        let v2025 = has_metadata(version);
        Self {
            id: t.id.to_string(),
            topic: t.topic.clone(),
            created_on: fmt_time(t.created_on),
            created_by_communication_identifier: (&CommunicationIdentifier::User(
                t.created_by.clone(),
            ))
                .into(),
            deleted_on: t.deleted_on.map(fmt_time),
            metadata: t.metadata.clone().filter(|_| v2025),
            retention_policy: t
                .retention_policy
                .as_ref()
                .filter(|_| v2025)
                .map(Into::into),
        }
    }
}

/// `CreateChatThreadResult`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateChatThreadResponse {
    /// The thread.
    pub chat_thread: ChatThreadPropertiesDto,
    /// Participants that could not be added.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub invalid_participants: Vec<CommunicationError>,
}

/// `ChatThreadItem`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatThreadItemDto {
    /// Id.
    pub id: String,
    /// Topic.
    pub topic: String,
    /// Deletion time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_on: Option<String>,
    /// When the last message arrived.
    pub last_message_received_on: String,
}

/// `POST /chat/threads` (all versions): create a thread. 201 + `Location`.
///
/// The same `repeatability-request-id` from the same creator returns the first thread again.
pub async fn create_chat_thread(
    req: HttpRequest,
    state: web::Data<AppState>,
    ApiVersion(version): ApiVersion,
    ChatCaller { res, token }: ChatCaller,
    AcsJson(request): AcsJson<CreateChatThreadRequest>,
) -> Result<HttpResponse, ApiError> {
    let topic = request
        .topic
        .ok_or_else(|| ApiError::validation("The Topic field is required.", "topic"))?;
    super::check_topic(&topic)?;
    let (participants, invalid) =
        validate_participants(&res, version, request.participants.unwrap_or_default())?;
    let (metadata, retention_policy) = if has_metadata(version) {
        check_metadata(request.metadata.as_ref())?;
        (
            request.metadata,
            request.retention_policy.map(|p| p.parse()).transpose()?,
        )
    } else {
        (None, None)
    };
    let repeatability = req
        .headers()
        .get("repeatability-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string);
    let (thread, created) = res.store.chat.create_thread(
        &token.user,
        NewThread {
            id: Some(ThreadId::from_uuid(res.store.ids.uuid())),
            topic,
            participants,
            metadata,
            retention_policy,
        },
        repeatability,
        state.clock.now(),
        state.changes.sink(&res.name),
    )?;
    tracing::debug!(thread_id = %thread.id, created, "chat thread created");
    let location = absolute_link(
        &req,
        &format!("/chat/threads/{}", thread.id.location_segment()),
        &[],
    );
    created_with_location(
        &location,
        &CreateChatThreadResponse {
            chat_thread: ChatThreadPropertiesDto::new(&thread, version),
            invalid_participants: invalid,
        },
    )
}

/// `GET /chat/threads` (all versions): the caller's threads, newest activity first. 200.
pub async fn list_chat_threads(
    req: HttpRequest,
    Listing {
        query,
        sync,
        version,
    }: Listing<'t'>,
    ChatCaller { res, token }: ChatCaller,
) -> Result<HttpResponse, ApiError> {
    let max = query.page_size(DEFAULT_THREADS_PAGE)?;
    let start_time = query.start_time()?;
    let cursor = sync
        .as_ref()
        .map(|s| thread_cursor(&s.cursor))
        .transpose()?;
    let (items, next) = res
        .store
        .chat
        .list_threads(&token.user, start_time, cursor.as_ref(), max);
    let next_link = next.map(|c| {
        let mut params = vec![(
            "syncState",
            SyncState::encode('t', version, &format!("{}.{}", c.activity_ms, c.id)),
        )];
        if let Some(t) = start_time {
            params.push(("startTime", fmt_time(t)));
        }
        params.push(("maxPageSize", max.to_string()));
        params.push(("api-version", version.to_string()));
        absolute_link(&req, "/chat/threads", &params)
    });
    let value = items
        .into_iter()
        .map(|t| ChatThreadItemDto {
            id: t.id.to_string(),
            topic: t.topic,
            deleted_on: t.deleted_on.map(fmt_time),
            last_message_received_on: fmt_time(t.last_message_received_on),
        })
        .collect();
    json_response(StatusCode::OK, &Paged { value, next_link })
}

fn thread_cursor(raw: &str) -> Result<ThreadCursor, ApiError> {
    let invalid = || {
        ApiError::validation(
            "The continuation token (syncState) is not valid.",
            "syncState",
        )
    };
    let (ms, id) = raw.split_once('.').ok_or_else(invalid)?;
    Ok(ThreadCursor {
        activity_ms: ms.parse().map_err(|_| invalid())?,
        id: ThreadId::parse(id).map_err(|_| invalid())?,
    })
}

/// `GET /chat/threads/{chatThreadId}` (all versions): thread properties. 200.
pub async fn get_chat_thread_properties(
    ApiVersion(version): ApiVersion,
    ChatCaller { res, token }: ChatCaller,
    ThreadPath(id): ThreadPath,
) -> Result<HttpResponse, ApiError> {
    let thread = res.store.chat.get_thread(&token.user, &id)?;
    json_response(
        StatusCode::OK,
        &ChatThreadPropertiesDto::new(&thread, version),
    )
}

/// `PATCH /chat/threads/{chatThreadId}` (all versions; merge-patch): topic, and in 2025-03-15
/// metadata and retention policy. 204. A topic emits `topicUpdated`.
pub async fn update_chat_thread_properties(
    state: web::Data<AppState>,
    ApiVersion(version): ApiVersion,
    ChatCaller { res, token }: ChatCaller,
    ThreadPath(id): ThreadPath,
    AcsJsonOrDefault(request): AcsJsonOrDefault<UpdateChatThreadRequest>,
) -> Result<HttpResponse, ApiError> {
    if let Some(topic) = &request.topic {
        super::check_topic(topic)?;
    }
    let mut update = ThreadUpdate {
        topic: request.topic,
        ..ThreadUpdate::default()
    };
    if has_metadata(version) {
        update.metadata = request.metadata;
        // `"retentionPolicy": null` clears the policy, which leaves the thread with
        // `{"kind": "none"}` (what a following GET returns), not without one.
        update.retention_policy = request
            .retention_policy
            .map(|p| {
                p.map_or(Ok(RetentionPolicy::None), RetentionPolicyModel::parse)
                    .map(Some)
            })
            .transpose()?;
    }
    res.store.chat.update_thread(
        &token.user,
        &id,
        update,
        state.clock.now(),
        state.changes.sink(&res.name),
    )?;
    Ok(HttpResponse::NoContent().finish())
}

/// `DELETE /chat/threads/{chatThreadId}` (all versions): delete for everyone. 204, also when
/// already deleted.
pub async fn delete_chat_thread(
    state: web::Data<AppState>,
    _: ApiVersion,
    ChatCaller { res, token }: ChatCaller,
    ThreadPath(id): ThreadPath,
) -> Result<HttpResponse, ApiError> {
    res.store.chat.delete_thread(
        &token.user,
        &id,
        state.clock.now(),
        state.changes.sink(&res.name),
    )?;
    tracing::debug!(thread_id = %id, "chat thread deleted");
    Ok(HttpResponse::NoContent().finish())
}
