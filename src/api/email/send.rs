//! `POST /emails:send`: queue an email; 202 with the send operation to poll.
//!
//! The body's required fields are checked here (400 `ValidationError` naming the field) and its
//! attachments decoded; everything else is the entry point's ([`super::accept`]), shared with
//! other front doors. The answer is `202 {id, status: "Running"}` with an absolute
//! `Operation-Location` on the host the client called (`?api-version=` as sent) and
//! `retry-after` in whole seconds — never a terminal status for a new operation, since the
//! Python SDK's poller would then stop without polling. An `Operation-Id` seen before answers the
//! first operation as it stands now (its status, `retry-after` only while unfinished) and sends
//! nothing.

use actix_web::http::StatusCode;
use actix_web::http::header::HeaderName;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::accept::{
    AcceptOptions, NewAttachment, NewEmail, NewMailbox, SUPPRESS_INVALID_ATTACHMENT, accept_email,
    switch_on,
};
use super::wire::{EmailAddressDto, EmailMessageDto, EmailSendResult, ErrorDetail};
use super::{INLINE_ATTACHMENTS_SINCE, LINKS, OPERATIONS_PATH, STATUS_CASE};
use crate::error::ApiError;
use crate::http::lro::{respond, status_link};
use crate::http::{AcsJson, ApiVersion, Res};
use crate::scenario::EmailOverrides;
use crate::state::AppState;
use crate::store::lro::LroStatus;
use crate::store::{Accepted, EmailError};

/// `POST /emails:send` (every version in [`super::VERSIONS`]).
pub async fn send_email(
    req: HttpRequest,
    res: Res,
    state: web::Data<AppState>,
    ApiVersion(version): ApiVersion,
    AcsJson(message): AcsJson<EmailMessageDto>,
    scripted: EmailOverrides,
) -> Result<HttpResponse, ApiError> {
    let operation_id = operation_id(&req)?;
    let email = new_email(message, version)?;
    let accepted = accept_email(
        &state,
        &res,
        email,
        AcceptOptions {
            operation_id: operation_id.as_deref(),
            via: version,
            scripted: &scripted,
        },
    )?;
    let now = state.clock.now();
    let (id, plan, fresh) = match &accepted {
        Accepted::New(email) => (&email.id, &email.plan, true),
        Accepted::Repeated(lro) => (&lro.id, &lro.plan, false),
    };
    // A new operation always reads Running (and so is polled at least once).
    let (status, retry_after) = if fresh {
        (LroStatus::Running, Some(plan.retry_after(now).unwrap_or(1)))
    } else {
        (plan.status(now), plan.retry_after(now))
    };
    let error = (!fresh).then(|| plan.error(now)).flatten();
    let body = EmailSendResult {
        id,
        status: status.as_str(STATUS_CASE),
        error: error.map(|e| ErrorDetail {
            code: &e.code,
            message: &e.message,
        }),
    };
    let link = status_link(
        &req,
        LINKS,
        OPERATIONS_PATH,
        id,
        &["?api-version=", version],
    );
    respond(
        StatusCode::ACCEPTED,
        &body,
        Some((LINKS, link)),
        retry_after,
    )
}

/// The `Operation-Id` header (format uuid): the caller's id for the operation; anything else
/// than a UUID is 400.
fn operation_id(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    const OPERATION_ID: HeaderName = HeaderName::from_static("operation-id");
    let Some(value) = req.headers().get(OPERATION_ID) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or("").trim();
    if uuid::Uuid::parse_str(text).is_err() {
        return Err(EmailError::Invalid {
            code: "InvalidOperationId",
            message: format!(
                "The Operation-Id header '{}' is not a UUID.",
                String::from_utf8_lossy(value.as_bytes())
            ),
        }
        .into());
    }
    Ok(Some(text.to_string()))
}

fn missing(target: &str) -> EmailError {
    EmailError::Missing {
        message: format!("The {target} field is required."),
        target: target.to_string(),
    }
}

fn mailboxes(
    list: Option<Vec<EmailAddressDto>>,
    path: &str,
) -> Result<Vec<NewMailbox>, EmailError> {
    list.unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, m)| {
            Ok(NewMailbox {
                address: m
                    .address
                    .ok_or_else(|| missing(&format!("{path}[{i}].address")))?,
                display_name: m.display_name,
            })
        })
        .collect()
}

/// The message of a send request: required fields present, attachments decoded (an attachment
/// that cannot be decoded is 400, or dropped with `x-ms-acsemail-suppress-invalid-attachment`).
/// `contentId` counts from [`INLINE_ATTACHMENTS_SINCE`] on; older versions do not know it.
pub fn new_email(message: EmailMessageDto, version: &str) -> Result<NewEmail, EmailError> {
    let sender = message
        .sender_address
        .filter(|s| !s.is_empty())
        .ok_or_else(|| missing("senderAddress"))?;
    let content = message.content.ok_or_else(|| missing("content"))?;
    let subject = content
        .subject
        .filter(|s| !s.is_empty())
        .ok_or_else(|| missing("content.subject"))?;
    let recipients = message.recipients.ok_or_else(|| missing("recipients"))?;
    let to = recipients.to.ok_or_else(|| missing("recipients.to"))?;
    let headers: Vec<(String, String)> = message.headers.unwrap_or_default().into_iter().collect();
    let suppress = switch_on(&headers, SUPPRESS_INVALID_ATTACHMENT);
    let inline = version >= INLINE_ATTACHMENTS_SINCE;
    let mut attachments = Vec::new();
    for (i, a) in message
        .attachments
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        let name = a
            .name
            .ok_or_else(|| missing(&format!("attachments[{i}].name")))?;
        let content_type = a
            .content_type
            .ok_or_else(|| missing(&format!("attachments[{i}].contentType")))?;
        let encoded = a
            .content_in_base64
            .ok_or_else(|| missing(&format!("attachments[{i}].contentInBase64")))?;
        let compact: Vec<u8> = encoded
            .bytes()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        let content = match STANDARD.decode(compact) {
            Ok(content) => content,
            Err(_) if suppress => {
                tracing::info!(name = %name, "email attachment that is not base64 dropped (x-ms-acsemail-suppress-invalid-attachment)");
                continue;
            }
            Err(e) => {
                return Err(EmailError::Invalid {
                    code: "InvalidAttachment",
                    message: format!(
                        "The attachment '{name}' (attachments[{i}].contentInBase64) is not valid base64: {e}."
                    ),
                });
            }
        };
        attachments.push(NewAttachment {
            name,
            content_type,
            content_id: a.content_id.filter(|_| inline),
            content,
        });
    }
    Ok(NewEmail {
        sender,
        to: mailboxes(Some(to), "recipients.to")?,
        cc: mailboxes(recipients.cc, "recipients.cc")?,
        bcc: mailboxes(recipients.bcc, "recipients.bcc")?,
        reply_to: mailboxes(message.reply_to, "replyTo")?,
        subject,
        plain_text: content.plain_text,
        html: content.html,
        attachments,
        headers,
        user_engagement_tracking_disabled: message
            .user_engagement_tracking_disabled
            .unwrap_or(false),
        raw: None,
    })
}
