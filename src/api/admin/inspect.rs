//! Inspection of a resource's state for tests (no authentication):
//!
//! - `GET /_emulator/identities?resource=&limit=`: identities, oldest first, with the fixture
//!   name of those a fixture declared.
//! - `GET /_emulator/chat/threads?resource=&limit=`: threads (deleted ones included) with their
//!   participants and message counts.
//! - `GET /_emulator/chat/threads/{id}/messages?resource=&limit=`: a thread's messages, oldest
//!   first (the newest `limit`), in the Chat API's own shape.
//! - `GET /_emulator/chat/threads/{id}/readReceipts?resource=`: the latest read receipt of each
//!   participant, oldest read first, in the Chat API's shape.
//!
//! `resource` defaults to `default`; `limit` to 1000 (at most 100000).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use super::query::invalid;
use super::resource_or_default;
use crate::api::chat::messages::{ChatMessageDto, ReadReceiptDto};
use crate::api::chat::{ParticipantOut, fmt_time};
use crate::domain::{CommunicationIdentifier, ThreadId};
use crate::error::ApiError;
use crate::http::json_response;
use crate::state::AppState;
use crate::store::ChatError;

const DEFAULT_LIMIT: usize = 1000;
const MAX_LIMIT: usize = 100_000;

/// The Chat version whose shapes the inspection uses.
const SHAPE_VERSION: &str = "2025-03-15";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IdentityView {
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    resource: String,
    created_on: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    deleted_on: Option<String>,
}

/// `GET /_emulator/identities`.
pub async fn list_identities(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let resource = resource_or_default(&state, &req)?;
    let limit = limit(&req)?;
    let names: Vec<(String, String)> = state
        .fixtures
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .flat_map(|f| {
            f.identities()
                .filter(|(r, _, name)| *r == resource.name && name.is_some())
                .map(|(_, id, name)| (id.to_string(), name.unwrap_or_default().to_string()))
                .collect::<Vec<_>>()
        })
        .collect();
    let value: Vec<IdentityView> = resource
        .store
        .identities
        .inspect(limit)
        .into_iter()
        .map(|(id, created, deleted)| {
            let id = id.to_string();
            IdentityView {
                name: names.iter().find(|(i, _)| *i == id).map(|(_, n)| n.clone()),
                id,
                resource: resource.name.clone(),
                created_on: fmt_time(created),
                deleted_on: deleted.map(fmt_time),
            }
        })
        .collect();
    json_response(StatusCode::OK, &serde_json::json!({ "value": value }))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ThreadView {
    id: String,
    topic: String,
    created_by: String,
    created_on: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    deleted_on: Option<String>,
    participants: Vec<ParticipantOut>,
    message_count: u64,
}

/// `GET /_emulator/chat/threads`.
pub async fn list_threads(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let resource = resource_or_default(&state, &req)?;
    let limit = limit(&req)?;
    let value: Vec<ThreadView> = resource
        .store
        .chat
        .inspect_threads(limit)
        .into_iter()
        .map(|(props, participants, message_count)| ThreadView {
            id: props.id.to_string(),
            topic: props.topic,
            created_by: props.created_by.to_string(),
            created_on: fmt_time(props.created_on),
            deleted_on: props.deleted_on.map(fmt_time),
            participants: participants
                .iter()
                .map(|p| ParticipantOut::new(p, SHAPE_VERSION))
                .collect(),
            message_count,
        })
        .collect();
    json_response(StatusCode::OK, &serde_json::json!({ "value": value }))
}

/// The thread id of a `/_emulator/chat/threads/{thread_id}/…` path (not a thread id: 404).
fn thread_in_path(req: &HttpRequest) -> Result<ThreadId, ApiError> {
    let raw = req.match_info().get("thread_id").unwrap_or_default();
    ThreadId::parse(raw).map_err(|e| ApiError::NotFound(format!("{e}.")))
}

/// A chat store refusal while inspecting a thread of resource `resource`: an unknown thread is 404.
fn thread_error(resource: &str, e: ChatError) -> ApiError {
    match e {
        ChatError::ThreadNotFound(id) => {
            ApiError::NotFound(format!("There is no thread {id} in resource '{resource}'."))
        }
        other => ApiError::Internal(anyhow::anyhow!("{other}")),
    }
}

/// `GET /_emulator/chat/threads/{id}/messages`.
pub async fn list_messages(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let resource = resource_or_default(&state, &req)?;
    let limit = limit(&req)?;
    let id = thread_in_path(&req)?;
    let messages = resource
        .store
        .chat
        .inspect_messages(&id, limit)
        .map_err(|e| thread_error(&resource.name, e))?;
    let value: Vec<ChatMessageDto> = messages
        .into_iter()
        .map(|m| ChatMessageDto::new(m, SHAPE_VERSION))
        .collect();
    json_response(StatusCode::OK, &serde_json::json!({ "value": value }))
}

/// `GET /_emulator/chat/threads/{id}/readReceipts`: the latest receipt of each participant who
/// sent one, oldest read first, in the Chat API's shape.
pub async fn list_read_receipts(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let resource = resource_or_default(&state, &req)?;
    let id = thread_in_path(&req)?;
    let receipts = resource
        .store
        .chat
        .inspect_read_receipts(&id)
        .map_err(|e| thread_error(&resource.name, e))?;
    let value: Vec<ReadReceiptDto> = receipts
        .into_iter()
        .map(|r| ReadReceiptDto {
            sender_communication_identifier: (&CommunicationIdentifier::User(r.sender)).into(),
            chat_message_id: r.message_id.to_string(),
            read_on: fmt_time(r.read_on),
        })
        .collect();
    json_response(StatusCode::OK, &serde_json::json!({ "value": value }))
}

fn limit(req: &HttpRequest) -> Result<usize, ApiError> {
    let query = req.uri().query().unwrap_or("");
    match form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "limit") {
        None => Ok(DEFAULT_LIMIT),
        Some((_, v)) => v
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|l| (1..=MAX_LIMIT).contains(l))
            .ok_or_else(|| invalid("limit", &v, &format!("a number from 1 to {MAX_LIMIT}"))),
    }
}
