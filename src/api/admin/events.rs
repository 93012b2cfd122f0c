//! The events control API (emulator-only, no authentication): subscriptions, the event history
//! and inbound SMS.
//!
//! - `POST /_emulator/events/subscriptions` with a [`SubscriptionSpec`] → 201 with the
//!   subscription; 409 `Conflict` when the name is taken, 400 `ValidationError` when the spec is
//!   not usable. Removed again by `POST /_emulator/reset`.
//! - `GET /_emulator/events/subscriptions` → `{"value": [subscription…]}`;
//!   `GET /_emulator/events/subscriptions/{name}` → one, or 404.
//! - `DELETE /_emulator/events/subscriptions` removes every subscription (start-up ones too,
//!   until the next start) → `{"removed": n}`; `DELETE …/subscriptions/{name}` one → 204.
//! - `GET /_emulator/events?state=pending|delivered|deadlettered&type=&subscription=&wait=&count=`
//!   → `{"value": [record…]}` in publication order. `type` takes a full or short name. With
//!   `wait` (`5s`, `500ms`, plain seconds; at most 60 s, real time) the request long-polls until
//!   `count` (default 1) records match, like `GET /_emulator/sms`.
//! - `DELETE /_emulator/events` forgets every record (pending ones too) → `{"cleared": n}`.
//! - `POST /_emulator/events/{id}/redeliver[?subscription=]` queues a delivered or dead-lettered
//!   event again → 202 `{"queued": n}`; 404 unknown, 409 while it is pending.
//! - `POST /_emulator/sms/inbound` `{"from","to","message"}` → 202 and an `SMSReceived` event:
//!   `to` must be a number an emulated resource owns (that resource publishes the event),
//!   `from` an E.164 number.

use std::borrow::Cow;
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::query::{Cleared, Poll, invalid};
use crate::domain::{PhoneNumber, SmsMessageId};
use crate::error::ApiError;
use crate::events::{
    DeliveryState, EventFilter, EventRecord, EventType, SubscribeError, Subscription,
    SubscriptionInfo, SubscriptionSource, SubscriptionSpec, Validation,
};
use crate::http::{AcsJson, json_response};
use crate::state::AppState;
use crate::store::{Area, Change, ControlChange, InboundSms, SmsChange};

/// Longest inbound message, in UTF-16 code units (as for sends).
const MAX_MESSAGE_LENGTH: usize = 2048;

/// A subscription as the control API shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionDto {
    /// Its name (`aeg-subscription-name`).
    pub name: String,
    /// The webhook URL.
    pub endpoint: String,
    /// Full type names; empty: every type.
    pub event_types: Vec<&'static str>,
    /// `EventGridSchema` or `CloudEventSchemaV1_0`.
    pub schema: &'static str,
    /// Events per delivery.
    pub max_events_per_batch: usize,
    /// Whether the handshake is skipped.
    pub skip_validation: bool,
    /// The only resource whose events it takes; absent: every resource.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// `startup` (flags, fixtures: kept by a reset) or `api`.
    pub source: &'static str,
    /// `pending`, `validated`, `failed` or `skipped`.
    pub validation: &'static str,
    /// Why the last handshake failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation_error: Option<String>,
    /// Events waiting or in flight.
    pub pending: usize,
    /// Events delivered.
    pub delivered: u64,
    /// Events dead-lettered.
    pub dead_lettered: u64,
    /// Events dropped from a full queue.
    pub dropped: u64,
}

impl From<SubscriptionInfo> for SubscriptionDto {
    fn from(info: SubscriptionInfo) -> Self {
        let sub = &info.subscription;
        let (validation, validation_error) = match &info.validation {
            Validation::Pending => ("pending", None),
            Validation::Validated => ("validated", None),
            Validation::Failed(e) => ("failed", Some(e.clone())),
            Validation::Skipped => ("skipped", None),
        };
        Self {
            name: sub.name().unwrap_or_default().to_string(),
            endpoint: sub.endpoint().to_string(),
            event_types: sub.event_types().iter().map(|t| t.as_str()).collect(),
            schema: sub.schema().as_str(),
            max_events_per_batch: sub.max_events_per_batch(),
            skip_validation: sub.skip_validation(),
            resource: sub.resource().map(str::to_string),
            source: match info.source {
                SubscriptionSource::Startup => "startup",
                SubscriptionSource::ControlApi => "api",
            },
            validation,
            validation_error,
            pending: info.pending,
            delivered: info.delivered,
            dead_lettered: info.dead_lettered,
            dropped: info.dropped,
        }
    }
}

/// One event for one subscription.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventRecordDto {
    /// The event's id.
    pub id: String,
    /// The full type name.
    pub event_type: &'static str,
    /// The event's subject.
    pub subject: String,
    /// The subscription it is for.
    pub subscription: String,
    /// `pending`, `delivered` or `deadlettered`.
    pub state: &'static str,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// The last attempt's HTTP status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_status: Option<u16>,
    /// The last failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// `MaxDeliveryAttemptsExceeded`, `NonRetryableStatusCode` or `ValidationFailed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dead_letter_reason: Option<&'static str>,
    /// When it was published (its event time).
    pub published_at: String,
    /// When it was delivered or dead-lettered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
    /// The newest attempts (at most [`crate::events::ATTEMPTS_KEPT`]), oldest first.
    pub delivery_attempts: Vec<DeliveryAttemptDto>,
    /// The event exactly as the webhook receives it (in the subscription's schema).
    pub event: serde_json::Value,
}

/// One delivery attempt.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryAttemptDto {
    /// When it started (emulator clock).
    pub at: String,
    /// The subscription it was for.
    pub subscription: String,
    /// The webhook's HTTP status, if it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// What went wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How long it took, in milliseconds (real time).
    pub duration_ms: f64,
}

impl From<EventRecord> for EventRecordDto {
    fn from(r: EventRecord) -> Self {
        let ts = |t: chrono::DateTime<chrono::Utc>| {
            t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        };
        let delivery_attempts = r
            .delivery_attempts
            .iter()
            .map(|a| DeliveryAttemptDto {
                at: ts(a.at),
                subscription: r.subscription.clone(),
                status: a.status,
                error: a.error.clone(),
                duration_ms: (a.duration.as_secs_f64() * 1000.0 * 10.0).round() / 10.0,
            })
            .collect();
        Self {
            event: r.rendered(),
            delivery_attempts,
            id: r.event.id.clone(),
            event_type: r.event.event_type.as_str(),
            subject: r.event.subject.clone(),
            subscription: r.subscription,
            state: r.state.as_str(),
            attempts: r.attempts,
            last_status: r.last_status,
            last_error: r.last_error,
            dead_letter_reason: r.dead_letter_reason.map(|d| d.as_str()),
            published_at: ts(r.event.event_time),
            completed_at: r.completed_at.map(ts),
        }
    }
}

#[derive(Debug, Serialize)]
struct List<T> {
    value: Vec<T>,
}

#[derive(Debug, Serialize)]
struct Removed {
    removed: usize,
}

/// `POST /_emulator/events/subscriptions`: add a subscription. 201.
pub async fn create_subscription(
    state: web::Data<AppState>,
    AcsJson(spec): AcsJson<SubscriptionSpec>,
) -> Result<HttpResponse, ApiError> {
    let mut kept = spec.clone();
    let subscription = Subscription::from_spec(spec).map_err(|e| {
        ApiError::validation(
            format!("The subscription is not usable: {e}."),
            "subscription",
        )
    })?;
    if let Some(name) = subscription.resource()
        && state.resources.by_name(name).is_none()
    {
        return Err(ApiError::validation(
            format!("There is no resource named '{name}'."),
            "resource",
        ));
    }
    let name = state.events.subscribe_until_reset(subscription)?;
    kept.name = Some(name.clone());
    state.changes.sink("default").publish(Area::Control, || {
        Change::Control(ControlChange::Subscribed {
            name: name.clone(),
            spec: serde_json::to_string(&kept).unwrap_or_default().into(),
        })
    });
    let info = state
        .events
        .subscription(&name)
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("subscription {name} vanished")))?;
    json_response(StatusCode::CREATED, &SubscriptionDto::from(info))
}

/// `GET /_emulator/events/subscriptions`.
pub async fn list_subscriptions(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let value = state
        .events
        .subscriptions()
        .into_iter()
        .map(SubscriptionDto::from)
        .collect();
    json_response(StatusCode::OK, &List { value })
}

/// `DELETE /_emulator/events/subscriptions`: remove them all.
pub async fn delete_subscriptions(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let removed = state.events.unsubscribe_all(None);
    state.changes.sink("default").publish(Area::Control, || {
        Change::Control(ControlChange::Unsubscribed(None))
    });
    json_response(StatusCode::OK, &Removed { removed })
}

fn path_name(req: &HttpRequest) -> String {
    let raw = req.match_info().get("name").unwrap_or("");
    percent_encoding::percent_decode_str(raw)
        .decode_utf8_lossy()
        .into_owned()
}

/// `GET /_emulator/events/subscriptions/{name}`.
pub async fn get_subscription(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let name = path_name(&req);
    let info = state
        .events
        .subscription(&name)
        .ok_or(SubscribeError::NotFound(name))?;
    json_response(StatusCode::OK, &SubscriptionDto::from(info))
}

/// `DELETE /_emulator/events/subscriptions/{name}`. 204.
pub async fn delete_subscription(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let name = path_name(&req);
    state.events.unsubscribe(&name)?;
    state.changes.sink("default").publish(Area::Control, || {
        Change::Control(ControlChange::Unsubscribed(Some(name)))
    });
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /_emulator/events`: list (and optionally wait for) event records.
pub async fn list_events(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let query = Poll::parse(req.uri().query().unwrap_or(""), event_filter)?;
    let events = &state.events;
    let found = query
        .poll(|| events.changed(), |filter| events.records(filter))
        .await;
    json_response(
        StatusCode::OK,
        &List {
            value: found
                .into_iter()
                .map(EventRecordDto::from)
                .collect::<Vec<_>>(),
        },
    )
}

#[derive(Debug, Serialize)]
struct Queued {
    queued: usize,
}

/// `POST /_emulator/events/{event_id}/redeliver[?subscription=NAME]`: queues a delivered or
/// dead-lettered event again (its copy for every subscription, or for one). 202 `{"queued"}`;
/// 404 when no finished copy exists; 409 while a copy is pending (waiting or in delivery).
pub async fn redeliver_event(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let raw = req.match_info().get("event_id").unwrap_or("");
    let id = percent_encoding::percent_decode_str(raw).decode_utf8_lossy();
    let query = req.uri().query().unwrap_or("");
    let subscription = form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "subscription")
        .map(|(_, v)| v.into_owned());
    let queued = state.events.redeliver(&id, subscription.as_deref())?;
    json_response(StatusCode::ACCEPTED, &Queued { queued })
}

/// `DELETE /_emulator/events`: forget every record.
pub async fn clear_events(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let cleared = state.events.clear();
    tracing::info!(cleared, "event records cleared");
    json_response(StatusCode::OK, &Cleared { cleared })
}

/// One `GET /_emulator/events` filter parameter (`state`, `type`, `subscription`; others are
/// ignored).
fn event_filter(filter: &mut EventFilter, name: &str, value: &str) -> Result<(), ApiError> {
    match name {
        "state" => {
            filter.state = Some(
                DeliveryState::parse(value)
                    .ok_or_else(|| invalid(name, value, "pending, delivered or deadlettered"))?,
            );
        }
        "type" => {
            filter.event_type = Some(EventType::parse(value).ok_or_else(|| {
                invalid(
                    name,
                    value,
                    "an event type such as Microsoft.Communication.SMSReceived",
                )
            })?);
        }
        "subscription" => filter.subscription = Some(value.to_string()),
        _ => {}
    }
    Ok(())
}

/// `POST /_emulator/sms/inbound` body.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboundSmsRequest {
    /// The sender, E.164.
    pub from: Option<String>,
    /// The recipient: a number the resource owns.
    pub to: Option<String>,
    /// The text.
    pub message: Option<String>,
}

/// `POST /_emulator/sms/inbound` answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InboundSmsResponse {
    /// The `SMSReceived` event's `MessageId` (and event id).
    pub message_id: String,
    /// Sender.
    pub from: String,
    /// Recipient.
    pub to: String,
    /// The text.
    pub message: String,
}

/// `POST /_emulator/sms/inbound`: a phone sends an SMS to one of the resource's numbers. 202;
/// the `SMSReceived` event goes to the subscriptions that want it.
pub async fn receive_inbound_sms(
    state: web::Data<AppState>,
    AcsJson(request): AcsJson<InboundSmsRequest>,
) -> Result<HttpResponse, ApiError> {
    let raw_from = request
        .from
        .ok_or_else(|| ApiError::validation("The from field is required.", "from"))?;
    let from = PhoneNumber::parse(raw_from.trim()).map_err(|e| {
        ApiError::validation(
            format!("from '{raw_from}' is not a valid phone number: {e} (e.g. +14255550123)."),
            "from",
        )
    })?;
    let raw_to = request
        .to
        .ok_or_else(|| ApiError::validation("The to field is required.", "to"))?;
    // The number picks the resource, as a carrier routes a message to whoever owns it.
    let resources = state.resources.all();
    let now = state.clock.now();
    let owner = PhoneNumber::parse(raw_to.trim()).ok().and_then(|to| {
        resources
            .iter()
            .find(|r| r.owns(&to, now))
            .map(|r| (to, Arc::clone(r)))
    });
    let Some((to, resource)) = owner else {
        let numbers: Vec<&str> = resources
            .iter()
            .flat_map(|r| r.phone_numbers.iter().map(PhoneNumber::as_str))
            .collect();
        return Err(ApiError::validation(
            format!(
                "to '{raw_to}' is not a phone number an emulated resource owns; they own {} (--phone-number).",
                numbers.join(", ")
            ),
            "to",
        ));
    };
    let message = request
        .message
        .ok_or_else(|| ApiError::validation("The message field is required.", "message"))?;
    if message.encode_utf16().count() > MAX_MESSAGE_LENGTH {
        return Err(ApiError::validation(
            format!("The message is longer than {MAX_MESSAGE_LENGTH} characters."),
            "message",
        ));
    }
    let now = state.clock.now();
    let sms = InboundSms {
        message_id: SmsMessageId::incoming(now, resource.store.ids.uuid()),
        from,
        to,
        message,
        received_at: now,
    };
    // Nothing keeps an inbound message: it is a change with no store write behind it.
    state.changes.sink(&resource.name).publish(Area::Sms, || {
        Change::Sms(SmsChange::Received(Cow::Borrowed(&sms)))
    });
    tracing::info!(message_id = %sms.message_id, from = %sms.from, to = %sms.to, resource = %resource.name, "inbound sms received");
    json_response(
        StatusCode::ACCEPTED,
        &InboundSmsResponse {
            message_id: sms.message_id.to_string(),
            from: sms.from.to_string(),
            to: sms.to.to_string(),
            message: sms.message,
        },
    )
}
