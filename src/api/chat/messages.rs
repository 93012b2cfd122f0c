//! Chat messages (send, list, get, update, delete), read receipts and typing notifications.
//!
//! Any chat scope may do all of these; the caller must be a participant, and only a message's
//! sender may edit or delete it. Listing is newest first and pages with an opaque `syncState`
//! token holding the next sequence id, so a page costs O(page) whatever the thread's length, and
//! messages that arrive while a client pages (they get higher sequence ids) are neither
//! duplicated nor skipped: they belong to the next listing.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::created_with_location;
use super::{
    IdentifierOut, Listing, Paged, ParticipantOut, SkipPage, SyncState, absolute_link,
    double_option, fmt_time, thread_path,
};
use crate::domain::{ChatMessageId, CommunicationIdentifier};
use crate::error::ApiError;
use crate::http::{
    AcsJson, AcsJsonOrDefault, ApiVersion, ChatCaller, MessagePath, ThreadPath, json_response,
};
use crate::state::AppState;
use crate::store::{MessageType, MessageView, Metadata, MetadataPatch, NewMessage};

/// Default page size of `GET …/messages`.
const DEFAULT_MESSAGES_PAGE: usize = 20;
/// Default page size of `GET …/readReceipts`.
const DEFAULT_RECEIPTS_PAGE: usize = 100;
/// The real service's message size limit (28 KB).
const MAX_CONTENT_BYTES: usize = crate::store::CONTENT_LIMIT_BYTES;

/// `SendChatMessageRequest`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendChatMessageRequest {
    /// Content (required).
    pub content: Option<String>,
    /// Sender display name.
    pub sender_display_name: Option<String>,
    /// `text` (default) or `html`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Metadata.
    pub metadata: Option<Metadata>,
}

/// `UpdateChatMessageRequest` (merge-patch).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateChatMessageRequest {
    /// New content.
    pub content: Option<String>,
    /// Metadata patch.
    #[serde(default, deserialize_with = "double_option")]
    pub metadata: Option<Option<MetadataPatch>>,
}

/// `SendReadReceiptRequest`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendReadReceiptRequest {
    /// The message read (required).
    pub chat_message_id: Option<String>,
}

/// `SendTypingNotificationRequest`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendTypingNotificationRequest {
    /// Display name.
    pub sender_display_name: Option<String>,
}

/// `SendChatMessageResult`.
#[derive(Debug, Serialize)]
pub struct SendChatMessageResponse {
    /// The new message id.
    pub id: String,
}

/// `ChatMessageContent`.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatMessageContentDto {
    /// Text/HTML.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// New topic (`topicUpdated`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Participants added/removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub participants: Option<Vec<ParticipantOut>>,
    /// Who caused a system message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initiator_communication_identifier: Option<IdentifierOut>,
}

/// `ChatMessage`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatMessageDto {
    /// Id.
    pub id: String,
    /// Type.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Sequence id.
    pub sequence_id: String,
    /// Version.
    pub version: String,
    /// Content.
    pub content: ChatMessageContentDto,
    /// Sender display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender_display_name: Option<String>,
    /// Arrival time.
    pub created_on: String,
    /// Sender (user messages).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender_communication_identifier: Option<IdentifierOut>,
    /// Deletion time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_on: Option<String>,
    /// Last edit time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edited_on: Option<String>,
    /// Metadata.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
}

impl ChatMessageDto {
    /// The wire form of `m` for `version`.
    pub fn new(m: MessageView, version: &str) -> Self {
        let content = match m.system {
            Some(system) => ChatMessageContentDto {
                message: None,
                topic: system.topic,
                participants: (!system.participants.is_empty()
                    || matches!(
                        m.kind,
                        MessageType::ParticipantAdded | MessageType::ParticipantRemoved
                    ))
                .then(|| {
                    system
                        .participants
                        .iter()
                        .map(|p| ParticipantOut::new(p, version))
                        .collect()
                }),
                initiator_communication_identifier: Some((&system.initiator).into()),
            },
            None => ChatMessageContentDto {
                message: m.content,
                ..ChatMessageContentDto::default()
            },
        };
        Self {
            id: m.id.to_string(),
            kind: m.kind.as_str(),
            sequence_id: m.sequence_id.to_string(),
            version: m.version.to_string(),
            content,
            sender_display_name: m.sender_display_name,
            created_on: fmt_time(m.created_on),
            sender_communication_identifier: m
                .sender
                .map(|s| (&CommunicationIdentifier::User(s)).into()),
            deleted_on: m.deleted_on.map(fmt_time),
            edited_on: m.edited_on.map(fmt_time),
            metadata: m.metadata,
        }
    }
}

/// `ChatMessageReadReceipt`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadReceiptDto {
    /// Who read.
    pub sender_communication_identifier: IdentifierOut,
    /// Up to which message.
    pub chat_message_id: String,
    /// When.
    pub read_on: String,
}

fn check_content(content: &str) -> Result<(), ApiError> {
    if content.len() > MAX_CONTENT_BYTES {
        return Err(ApiError::validation(
            format!("Message content cannot exceed {MAX_CONTENT_BYTES} bytes."),
            "content",
        ));
    }
    Ok(())
}

/// `POST /chat/threads/{chatThreadId}/messages` (all versions): send. 201 + `Location`.
pub async fn send_chat_message(
    req: HttpRequest,
    state: web::Data<AppState>,
    _: ApiVersion,
    ChatCaller { res, token }: ChatCaller,
    ThreadPath(id): ThreadPath,
    AcsJson(request): AcsJson<SendChatMessageRequest>,
) -> Result<HttpResponse, ApiError> {
    let content = request
        .content
        .ok_or_else(|| ApiError::validation("The Content field is required.", "content"))?;
    check_content(&content)?;
    super::check_metadata(request.metadata.as_ref())?;
    super::check_display_name(request.sender_display_name.as_deref(), "senderDisplayName")?;
    let kind = match request
        .kind
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("text") => MessageType::Text,
        Some("html") => MessageType::Html,
        Some(other) => {
            return Err(ApiError::validation(
                format!("Message type '{other}' cannot be sent; use text or html."),
                "type",
            ));
        }
    };
    let (message_id, sequence_id) = res.store.chat.send_message(
        &token.user,
        &id,
        NewMessage {
            content,
            kind,
            sender_display_name: request.sender_display_name,
            metadata: request.metadata,
        },
        state.clock.now(),
        state.changes.sink(&res.name),
    )?;
    tracing::debug!(thread_id = %id, message_id = %message_id, sequence_id, "chat message sent");
    let location = absolute_link(
        &req,
        &format!(
            "/chat/threads/{}/messages/{message_id}",
            id.location_segment()
        ),
        &[],
    );
    created_with_location(
        &location,
        &SendChatMessageResponse {
            id: message_id.to_string(),
        },
    )
}

/// `GET /chat/threads/{chatThreadId}/messages` (all versions): newest first, paged. 200.
pub async fn list_chat_messages(
    req: HttpRequest,
    Listing {
        query,
        sync,
        version,
    }: Listing<'m'>,
    ChatCaller { res, token }: ChatCaller,
    ThreadPath(id): ThreadPath,
) -> Result<HttpResponse, ApiError> {
    let max = query.page_size(DEFAULT_MESSAGES_PAGE)?;
    let start_time = query.start_time()?;
    let from = match &sync {
        Some(s) => Some(s.cursor.parse::<u64>().map_err(|_| {
            ApiError::validation(
                "The continuation token (syncState) is not valid.",
                "syncState",
            )
        })?),
        None => None,
    };
    let (page, next) = res
        .store
        .chat
        .list_messages(&token.user, &id, start_time, from, max)?;
    let next_link = next.map(|from| {
        let mut params = vec![(
            "syncState",
            SyncState::encode('m', version, &from.to_string()),
        )];
        if let Some(t) = start_time {
            params.push(("startTime", fmt_time(t)));
        }
        params.push(("maxPageSize", max.to_string()));
        params.push(("api-version", version.to_string()));
        absolute_link(&req, &thread_path(&id, "/messages"), &params)
    });
    let value = page
        .into_iter()
        .map(|m| ChatMessageDto::new(m, version))
        .collect();
    json_response(StatusCode::OK, &Paged { value, next_link })
}

/// `GET /chat/threads/{chatThreadId}/messages/{chatMessageId}` (all versions). 200.
pub async fn get_chat_message(
    ApiVersion(version): ApiVersion,
    ChatCaller { res, token }: ChatCaller,
    MessagePath { thread, message }: MessagePath,
) -> Result<HttpResponse, ApiError> {
    let message = res.store.chat.get_message(&token.user, &thread, message)?;
    json_response(StatusCode::OK, &ChatMessageDto::new(message, version))
}

/// `PATCH /chat/threads/{chatThreadId}/messages/{chatMessageId}` (all versions; merge-patch):
/// edit content and/or metadata. 204. Only the sender.
pub async fn update_chat_message(
    state: web::Data<AppState>,
    _: ApiVersion,
    ChatCaller { res, token }: ChatCaller,
    MessagePath { thread, message }: MessagePath,
    AcsJsonOrDefault(request): AcsJsonOrDefault<UpdateChatMessageRequest>,
) -> Result<HttpResponse, ApiError> {
    if let Some(content) = &request.content {
        check_content(content)?;
    }
    res.store.chat.update_message(
        &token.user,
        &thread,
        message,
        request.content,
        request.metadata,
        state.clock.now(),
        state.changes.sink(&res.name),
    )?;
    Ok(HttpResponse::NoContent().finish())
}

/// `DELETE /chat/threads/{chatThreadId}/messages/{chatMessageId}` (all versions). 204. Only the
/// sender; deleting again is a no-op.
pub async fn delete_chat_message(
    state: web::Data<AppState>,
    _: ApiVersion,
    ChatCaller { res, token }: ChatCaller,
    MessagePath { thread, message }: MessagePath,
) -> Result<HttpResponse, ApiError> {
    res.store.chat.delete_message(
        &token.user,
        &thread,
        message,
        state.clock.now(),
        state.changes.sink(&res.name),
    )?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /chat/threads/{chatThreadId}/readReceipts` (all versions). 200 with an empty body.
pub async fn send_chat_read_receipt(
    state: web::Data<AppState>,
    _: ApiVersion,
    ChatCaller { res, token }: ChatCaller,
    ThreadPath(id): ThreadPath,
    AcsJson(request): AcsJson<SendReadReceiptRequest>,
) -> Result<HttpResponse, ApiError> {
    let raw = request.chat_message_id.ok_or_else(|| {
        ApiError::validation("The ChatMessageId field is required.", "chatMessageId")
    })?;
    let message_id = ChatMessageId::parse(&raw)
        .map_err(|_| ApiError::NotFound(format!("The chat message '{raw}' was not found.")))?;
    res.store.chat.send_read_receipt(
        &token.user,
        &id,
        message_id,
        state.clock.now(),
        state.changes.sink(&res.name),
    )?;
    Ok(HttpResponse::Ok().finish())
}

/// `GET /chat/threads/{chatThreadId}/readReceipts` (all versions): the latest receipt per
/// participant, paged with `skip` + `maxPageSize`. 200.
pub async fn list_chat_read_receipts(
    req: HttpRequest,
    ApiVersion(version): ApiVersion,
    ChatCaller { res, token }: ChatCaller,
    ThreadPath(id): ThreadPath,
) -> Result<HttpResponse, ApiError> {
    let page = SkipPage::from_request(&req, DEFAULT_RECEIPTS_PAGE)?;
    let (receipts, more) =
        res.store
            .chat
            .list_read_receipts(&token.user, &id, page.skip, page.max)?;
    let value = receipts
        .into_iter()
        .map(|r| ReadReceiptDto {
            sender_communication_identifier: (&CommunicationIdentifier::User(r.sender)).into(),
            chat_message_id: r.message_id.to_string(),
            read_on: fmt_time(r.read_on),
        })
        .collect();
    page.answer(&req, (&id, "/readReceipts"), version, (value, more))
}

/// `POST /chat/threads/{chatThreadId}/typing` (all versions): nothing is stored (the real
/// service fans it out over its real-time channel). 200 with an empty body.
pub async fn send_typing_notification(
    state: web::Data<AppState>,
    _: ApiVersion,
    ChatCaller { res, token }: ChatCaller,
    ThreadPath(id): ThreadPath,
    AcsJsonOrDefault(request): AcsJsonOrDefault<SendTypingNotificationRequest>,
) -> Result<HttpResponse, ApiError> {
    super::check_display_name(request.sender_display_name.as_deref(), "senderDisplayName")?;
    res.store.chat.send_typing(
        &token.user,
        &id,
        request.sender_display_name.as_deref(),
        state.clock.now(),
        state.changes.sink(&res.name),
    )?;
    Ok(HttpResponse::Ok().finish())
}
