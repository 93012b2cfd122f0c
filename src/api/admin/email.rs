//! The email inbox for tests (emulator-only): what the emulator "sent", as a mailbox would have
//! received it.
//!
//! - `GET /_emulator/emails?to=&from=&subject=&since=&wait=&count=&resource=`: accepted emails,
//!   oldest first, without attachment bytes. `to` matches any recipient (`to`, `cc`, `bcc`),
//!   `from` the sender, both ignoring case; `subject` is text the subject contains (any case).
//!   With `wait` (e.g. `5s`; at most 60 s) the request long-polls until `count` (default 1)
//!   emails match or the time is up, as the SMS outbox does.
//! - `GET /_emulator/emails/{id}`: one email with everything, attachments in base64.
//! - `GET /_emulator/emails/{id}/raw`: the email as an RFC 5322 message (`message/rfc822`, an
//!   `.eml`), built by `api::email::mime`.
//! - `GET /_emulator/emails/{id}/attachments/{index}`: one attachment's bytes, with its type.
//! - `POST /_emulator/emails/{id}/engagement` `{recipient, engagementType: view|click,
//!   engagementContext?, userAgent?}`: the recipient opened the email or clicked a link:
//!   publishes `EmailEngagementTrackingReportReceived` (409 when the email turned tracking off
//!   or was not delivered to that recipient).
//! - `DELETE /_emulator/emails`: empties the inbox (send operations stay pollable;
//!   `POST /_emulator/reset` clears everything).

use std::collections::BTreeMap;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use super::query::{self, invalid, long_poll};
use super::resource_or_default;
use crate::api::email::{STATUS_CASE, mime};
use crate::domain::EngagementType;
use crate::error::ApiError;
use crate::http::extract::decoded_segment;
use crate::http::{AcsJson, json_response};
use crate::state::AppState;
use crate::store::{Area, Change, EmailError, InboxFilter, Mailbox, SentEmail};

/// RFC 3339 with milliseconds, as the control API writes every time.
fn event_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct MailboxView {
    address: String,
    display_name: Option<String>,
}

fn mailboxes(list: &[Mailbox]) -> Vec<MailboxView> {
    list.iter()
        .map(|m| MailboxView {
            address: m.address.to_string(),
            display_name: m.display_name.clone(),
        })
        .collect()
}

#[derive(Debug, Serialize)]
struct Recipients {
    to: Vec<MailboxView>,
    cc: Vec<MailboxView>,
    bcc: Vec<MailboxView>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AttachmentView {
    index: usize,
    name: String,
    content_type: String,
    content_id: Option<String>,
    size: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_in_base64: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct DeliveryView {
    recipient: String,
    status: &'static str,
    details: String,
    report_at: String,
    reported: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ErrorView {
    code: String,
    message: String,
}

/// One email as the inbox shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct EmailView {
    id: String,
    internet_message_id: String,
    sender_address: String,
    recipients: Recipients,
    reply_to: Vec<MailboxView>,
    subject: String,
    plain_text: Option<String>,
    html: Option<String>,
    headers: BTreeMap<String, String>,
    attachments: Vec<AttachmentView>,
    user_engagement_tracking_disabled: bool,
    via: String,
    sent_at: String,
    status: &'static str,
    completes_at: String,
    error: Option<ErrorView>,
    deliveries: Vec<DeliveryView>,
}

impl EmailView {
    fn new(email: &SentEmail, now: DateTime<Utc>, with_content: bool) -> Self {
        Self {
            id: email.id.clone(),
            internet_message_id: email.internet_message_id.clone(),
            sender_address: email.sender.to_string(),
            recipients: Recipients {
                to: mailboxes(&email.to),
                cc: mailboxes(&email.cc),
                bcc: mailboxes(&email.bcc),
            },
            reply_to: mailboxes(&email.reply_to),
            subject: email.subject.clone(),
            plain_text: email.plain_text.clone(),
            html: email.html.clone(),
            headers: email.headers.iter().cloned().collect(),
            attachments: email
                .attachments
                .iter()
                .enumerate()
                .map(|(index, a)| AttachmentView {
                    index,
                    name: a.name.clone(),
                    content_type: a.content_type.clone(),
                    content_id: a.content_id.clone(),
                    size: a.content.len(),
                    content_in_base64: with_content.then(|| STANDARD.encode(&a.content)),
                })
                .collect(),
            user_engagement_tracking_disabled: email.user_engagement_tracking_disabled,
            via: email.via.to_string(),
            sent_at: event_time(email.sent_at),
            status: email.plan.status(now).as_str(STATUS_CASE),
            completes_at: event_time(email.plan.completes_at),
            error: email.plan.error(now).map(|e| ErrorView {
                code: e.code.clone(),
                message: e.message.clone(),
            }),
            deliveries: email
                .deliveries
                .iter()
                .map(|d| DeliveryView {
                    recipient: d.recipient.to_string(),
                    status: d.status.as_str(),
                    details: d.details.to_string(),
                    report_at: event_time(d.at),
                    reported: d.at <= now,
                })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize)]
struct Listing {
    value: Vec<EmailView>,
}

#[derive(Debug, Serialize)]
struct Cleared {
    cleared: usize,
}

/// `GET /_emulator/emails`: list (and optionally wait for) accepted emails.
pub async fn list_emails(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let query = InboxQuery::parse(req.uri().query().unwrap_or(""))?;
    let resource = resource_or_default(&state, &req)?;
    let email = &resource.store.email;
    let found = long_poll(
        query.wait,
        query.count,
        || email.changed(),
        || email.sent(&query.filter),
    )
    .await;
    let now = state.clock.now();
    json_response(
        StatusCode::OK,
        &Listing {
            value: found
                .iter()
                .map(|e| EmailView::new(e, now, false))
                .collect(),
        },
    )
}

/// `GET /_emulator/emails/{id}`.
pub async fn get_email(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let resource = resource_or_default(&state, &req)?;
    let email = resource
        .store
        .email
        .message(&decoded_segment(&req, "email_id"))?;
    json_response(
        StatusCode::OK,
        &EmailView::new(&email, state.clock.now(), true),
    )
}

/// `GET /_emulator/emails/{id}/raw`: the `.eml`.
pub async fn get_raw_email(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let resource = resource_or_default(&state, &req)?;
    let email = resource
        .store
        .email
        .message(&decoded_segment(&req, "email_id"))?;
    let bytes = mime::eml(&email)?;
    let file = email
        .id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect::<String>();
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "message/rfc822"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{file}.eml\""),
        ))
        .body(bytes))
}

/// `GET /_emulator/emails/{id}/attachments/{index}`: the bytes, with the attachment's type.
pub async fn get_attachment(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let resource = resource_or_default(&state, &req)?;
    let id = decoded_segment(&req, "email_id");
    let email = resource.store.email.message(&id)?;
    let raw = decoded_segment(&req, "index");
    let index: usize = raw
        .parse()
        .map_err(|_| invalid("index", &raw, "the attachment's number (0, 1, …)"))?;
    let attachment = email
        .attachments
        .get(index)
        .ok_or(EmailError::AttachmentNotFound { id, index })?;
    // A type the client wrote that is no valid header value is served as bytes.
    let content_type = header::HeaderValue::from_str(&attachment.content_type)
        .unwrap_or(header::HeaderValue::from_static("application/octet-stream"));
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .body(attachment.content.clone()))
}

/// `POST /_emulator/emails/{id}/engagement`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EngagementRequest {
    /// The recipient who engaged.
    recipient: String,
    /// `view` or `click`.
    engagement_type: String,
    /// What was clicked (a URL) or viewed.
    #[serde(default)]
    engagement_context: Option<String>,
    /// The client, e.g. `Desktop`.
    #[serde(default)]
    user_agent: Option<String>,
}

/// The longest `engagementContext` / `userAgent` accepted.
const MAX_ENGAGEMENT_TEXT: usize = 2048;

/// `POST /_emulator/emails/{id}/engagement`: report a view or a click.
pub async fn report_engagement(
    req: HttpRequest,
    state: web::Data<AppState>,
    AcsJson(body): AcsJson<EngagementRequest>,
) -> Result<HttpResponse, ApiError> {
    let resource = resource_or_default(&state, &req)?;
    let kind = EngagementType::parse(&body.engagement_type).ok_or_else(|| {
        ApiError::validation(
            format!(
                "engagementType '{}' must be view or click.",
                body.engagement_type
            ),
            "engagementType",
        )
    })?;
    for (field, value) in [
        ("engagementContext", &body.engagement_context),
        ("userAgent", &body.user_agent),
    ] {
        if value
            .as_ref()
            .is_some_and(|v| v.len() > MAX_ENGAGEMENT_TEXT)
        {
            return Err(ApiError::validation(
                format!("{field} is longer than {MAX_ENGAGEMENT_TEXT} bytes."),
                field,
            ));
        }
    }
    let change = resource.store.email.engage(
        &decoded_segment(&req, "email_id"),
        &body.recipient,
        kind,
        body.engagement_context,
        body.user_agent,
        state.clock.now(),
    )?;
    // Nothing keeps an engagement: the handler publishes its record through the sink.
    state
        .changes
        .sink(&resource.name)
        .publish(Area::Email, || Change::Email(change));
    tracing::info!(recipient = %body.recipient, engagement = kind.as_str(), "email engagement reported");
    json_response(
        StatusCode::ACCEPTED,
        &serde_json::json!({ "engagementType": kind.as_str(), "recipient": body.recipient }),
    )
}

/// `DELETE /_emulator/emails`: empty the inbox.
pub async fn clear_emails(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let resource = resource_or_default(&state, &req)?;
    let cleared = resource
        .store
        .email
        .clear_sent(state.changes.sink(&resource.name));
    tracing::info!(cleared, "email inbox cleared");
    json_response(StatusCode::OK, &Cleared { cleared })
}

/// The inbox query string, checked.
struct InboxQuery {
    filter: InboxFilter,
    wait: Option<Duration>,
    count: usize,
}

/// The longest filter value accepted.
const MAX_FILTER: usize = 1024;

impl InboxQuery {
    fn parse(query: &str) -> Result<Self, ApiError> {
        let mut filter = InboxFilter::default();
        let mut wait = None;
        let mut count = None;
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            let value = value.trim();
            if value.len() > MAX_FILTER {
                let start: String = value.chars().take(64).collect();
                return Err(invalid(
                    &name,
                    &start,
                    &format!("at most {MAX_FILTER} bytes"),
                ));
            }
            match name.as_ref() {
                // An unencoded `+` in an address arrives as a space (form encoding).
                "to" => filter.to = Some(value.replace(' ', "+")),
                "from" => filter.from = Some(value.replace(' ', "+")),
                "subject" => filter.subject = Some(value.to_string()),
                "since" => {
                    let since = DateTime::parse_from_rfc3339(&value.replace(' ', "+"))
                        .map_err(|_| invalid(&name, value, "an RFC 3339 timestamp"))?;
                    filter.since = Some(since.with_timezone(&Utc));
                }
                "wait" => wait = Some(query::wait(&name, value)?),
                "count" => count = Some(query::count(&name, value)?),
                _ => {}
            }
        }
        Ok(Self {
            filter,
            wait,
            count: count.unwrap_or(1),
        })
    }
}
