//! Delivering events to webhooks the way Event Grid does.
//!
//! - **Validation handshake**, once per subscription before its first delivery: the Event Grid
//!   schema POSTs a `Microsoft.EventGrid.SubscriptionValidationEvent` (header
//!   `aeg-event-type: SubscriptionValidation`) and expects `{"validationResponse": code}` back;
//!   CloudEvents sends `OPTIONS` with `WebHook-Request-Origin` and expects a matching (or `*`)
//!   `WebHook-Allowed-Origin`. Attempts are retried like deliveries; if all fail, the batch is
//!   dead-lettered (`ValidationFailed`) and the next batch tries the handshake again, so an app
//!   that starts after the emulator is picked up by its first event.
//! - **Deliveries** are POSTs of a JSON array (`application/json` or
//!   `application/cloudevents-batch+json`) with `aeg-event-type: Notification`,
//!   `aeg-subscription-name`, `aeg-delivery-count` (0 on the first attempt), and
//!   `aeg-metadata-version` / `aeg-data-version`. 200-204 is success; 400, 401, 403 and 413 are
//!   dead-lettered at once (Event Grid does not retry them); anything else, a timeout or a
//!   connection error is retried after [`backoff`], up to `--event-max-attempts` attempts.
//!
//! Learned from the Event Grid documentation ("Webhook event delivery", "Message delivery and
//! retry"); the retry schedule is shortened and configurable so that tests run fast.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderValue};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::event::{DATA_VERSION, METADATA_VERSION, fmt_time};
use super::records::DeliveryAttempt;
use super::{
    DeadLetterReason, DeliveryState, EventRecord, EventSchema, Inner, Slot, Validation, lock,
};

/// How deliveries are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryPolicy {
    /// Attempts per batch (the first included), at least 1.
    pub max_attempts: u32,
    /// Wait after the first failed attempt.
    pub retry_initial: Duration,
    /// Longest wait between attempts.
    pub retry_max: Duration,
    /// How long one attempt may take.
    pub timeout: Duration,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            retry_initial: Duration::from_secs(1),
            retry_max: Duration::from_secs(60),
            timeout: Duration::from_secs(30),
        }
    }
}

/// The wait after the `failed`-th failed attempt (1-based): `retry_initial × 2^(failed-1)`,
/// capped at `retry_max`.
pub fn backoff(policy: &DeliveryPolicy, failed: u32) -> Duration {
    let doublings = failed.saturating_sub(1).min(31);
    policy
        .retry_initial
        .checked_mul(1u32 << doublings)
        .unwrap_or(policy.retry_max)
        .min(policy.retry_max)
}

/// The origin Event Grid names in the CloudEvents abuse-protection handshake.
pub const WEBHOOK_ORIGIN: &str = "eventgrid.azure.net";
/// The event type of the Event Grid schema's validation event.
pub const VALIDATION_EVENT_TYPE: &str = "Microsoft.EventGrid.SubscriptionValidationEvent";

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Attempt {
    /// Acknowledged.
    Done(u16),
    /// Failed; worth another attempt.
    Retry(Option<u16>, String),
    /// Failed for good.
    GiveUp(u16, String),
}

/// Classifies a webhook's answer to a delivery.
fn classify(status: u16) -> Attempt {
    match status {
        200..=204 => Attempt::Done(status),
        400 | 401 | 403 | 413 => Attempt::GiveUp(status, format!("the webhook answered {status}")),
        _ => Attempt::Retry(Some(status), format!("the webhook answered {status}")),
    }
}

/// Runs one worker per subscription until `stop`. A worker that panics is restarted (see
/// [`super::restart`]); so is this task, which then starts every subscription's worker again
/// (the old ones went with its `JoinSet`).
pub(super) async fn supervise(inner: Arc<Inner>, mut stop: watch::Receiver<bool>) {
    let mut workers = JoinSet::new();
    for slot in lock(&inner.subs).iter() {
        lock(&slot.state).worker_started = false;
    }
    loop {
        let added = inner.subs_changed.notified();
        tokio::pin!(added);
        added.as_mut().enable();
        if *stop.borrow() {
            break;
        }
        let subs = lock(&inner.subs).clone();
        for slot in subs {
            let mut state = lock(&slot.state);
            if !state.worker_started && !state.removed {
                state.worker_started = true;
                drop(state);
                let (inner, stop) = (Arc::clone(&inner), stop.clone());
                workers.spawn(super::restart::restart_on_panic(
                    "event delivery to a webhook",
                    move || run_slot(Arc::clone(&inner), Arc::clone(&slot), stop.clone()),
                ));
            }
        }
        while workers.try_join_next().is_some() {}
        tokio::select! {
            _ = &mut added => {}
            _ = stop.changed() => {}
        }
    }
    workers.abort_all();
    while workers.join_next().await.is_some() {}
}

/// A batch taken off a subscription's queue.
struct Batch {
    epoch: u64,
    records: Vec<EventRecord>,
}

/// Delivers one subscription's events, in order, until it is removed or the bus stops.
async fn run_slot(inner: Arc<Inner>, slot: Arc<Slot>, mut stop: watch::Receiver<bool>) {
    loop {
        let batch = loop {
            let work = slot.work.notified();
            tokio::pin!(work);
            work.as_mut().enable();
            if *stop.borrow() {
                return;
            }
            match take_batch(&inner, &slot) {
                Err(()) => return,
                Ok(Some(batch)) => break batch,
                Ok(None) => {}
            }
            tokio::select! {
                _ = &mut work => {}
                _ = stop.changed() => return,
            }
        };
        deliver(&inner, &slot, batch, &mut stop).await;
    }
}

/// Moves up to `maxEventsPerBatch` records from the queue into flight. `Err` when the
/// subscription was removed.
fn take_batch(inner: &Inner, slot: &Slot) -> Result<Option<Batch>, ()> {
    let mut state = lock(&slot.state);
    if state.removed {
        return Err(());
    }
    if state.queue.is_empty() {
        return Ok(None);
    }
    let n = slot.sub.max_events_per_batch().min(state.queue.len());
    let records: Vec<EventRecord> = state.queue.drain(..n).collect();
    state.in_flight = records.clone();
    Ok(Some(Batch {
        epoch: inner.epoch.load(Ordering::Acquire),
        records,
    }))
}

/// Whether the batch still matters: the subscription exists and nothing was cleared since.
fn current(inner: &Inner, slot: &Slot, batch: &Batch) -> bool {
    inner.epoch.load(Ordering::Acquire) == batch.epoch && !lock(&slot.state).removed
}

/// Sleeps `wait`, or returns `false` if the bus stops first.
async fn pause(wait: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    if *stop.borrow() {
        return false;
    }
    tokio::select! {
        _ = tokio::time::sleep(wait) => true,
        _ = stop.changed() => false,
    }
}

async fn deliver(inner: &Inner, slot: &Slot, batch: Batch, stop: &mut watch::Receiver<bool>) {
    let policy = inner.options.policy;
    let max_attempts = policy.max_attempts.max(1);
    let needs_handshake = matches!(
        lock(&slot.state).validation,
        Validation::Pending | Validation::Failed(_)
    );
    if needs_handshake {
        let mut failed = 0;
        let outcome = loop {
            if !current(inner, slot, &batch) {
                return;
            }
            match handshake(inner, slot).await {
                Ok(()) => break Ok(()),
                Err(e) => {
                    failed += 1;
                    tracing::info!(subscription = %slot.name, attempt = failed, error = %e, "event subscription validation failed");
                    if failed >= max_attempts {
                        break Err(e);
                    }
                    if !pause(backoff(&policy, failed), stop).await {
                        return;
                    }
                }
            }
        };
        match outcome {
            Ok(()) => {
                tracing::info!(subscription = %slot.name, "event subscription validated");
                lock(&slot.state).validation = Validation::Validated;
            }
            Err(e) => {
                lock(&slot.state).validation = Validation::Failed(e.clone());
                finish(
                    inner,
                    slot,
                    &batch,
                    DeliveryState::DeadLettered,
                    Some(DeadLetterReason::ValidationFailed),
                    None,
                    Some(format!("subscription validation failed: {e}")),
                );
                return;
            }
        }
    }

    let body = render(slot.sub.schema(), &batch.records);
    for attempt in 1..=max_attempts {
        if !current(inner, slot, &batch) {
            return;
        }
        let (at, started) = (inner.clock.now(), std::time::Instant::now());
        let result = post(inner, slot, &body, attempt - 1).await;
        let (status, error) = match &result {
            Attempt::Done(s) => (Some(*s), None),
            Attempt::Retry(s, e) => (*s, Some(e.clone())),
            Attempt::GiveUp(s, e) => (Some(*s), Some(e.clone())),
        };
        record_attempt(
            slot,
            attempt,
            DeliveryAttempt {
                at,
                status,
                error: error.clone(),
                duration: started.elapsed(),
            },
        );
        match result {
            Attempt::Done(_) => {
                tracing::debug!(subscription = %slot.name, events = batch.records.len(), attempt, "events delivered");
                finish(
                    inner,
                    slot,
                    &batch,
                    DeliveryState::Delivered,
                    None,
                    status,
                    None,
                );
                return;
            }
            Attempt::GiveUp(..) => {
                tracing::warn!(subscription = %slot.name, events = batch.records.len(), error = ?error, "events dead-lettered: the webhook answered a status Event Grid does not retry");
                finish(
                    inner,
                    slot,
                    &batch,
                    DeliveryState::DeadLettered,
                    Some(DeadLetterReason::NonRetryableStatusCode),
                    status,
                    error,
                );
                return;
            }
            Attempt::Retry(..) if attempt >= max_attempts => {
                tracing::warn!(subscription = %slot.name, events = batch.records.len(), attempts = attempt, error = ?error, "events dead-lettered after the last attempt");
                finish(
                    inner,
                    slot,
                    &batch,
                    DeliveryState::DeadLettered,
                    Some(DeadLetterReason::MaxDeliveryAttemptsExceeded),
                    status,
                    error,
                );
                return;
            }
            Attempt::Retry(..) => {
                tracing::debug!(subscription = %slot.name, attempt, error = ?error, "event delivery failed; retrying");
                if !pause(backoff(&policy, attempt), stop).await {
                    return;
                }
            }
        }
    }
}

/// Notes an attempt on the in-flight records (so that pending listings show it).
fn record_attempt(slot: &Slot, count: u32, attempt: DeliveryAttempt) {
    let mut state = lock(&slot.state);
    for r in &mut state.in_flight {
        r.note_attempt(count, attempt.clone());
    }
}

/// Moves the batch out of flight into the delivered or dead-letter history (unless it no longer
/// matters), and wakes long-polls.
fn finish(
    inner: &Inner,
    slot: &Slot,
    batch: &Batch,
    outcome: DeliveryState,
    reason: Option<DeadLetterReason>,
    status: Option<u16>,
    error: Option<String>,
) {
    let now = inner.clock.now();
    let mut state = lock(&slot.state);
    let records = std::mem::take(&mut state.in_flight);
    if state.removed || inner.epoch.load(Ordering::Acquire) != batch.epoch {
        return;
    }
    if let Some(journal) = inner.journal() {
        let seqs: Vec<u64> = records.iter().map(|r| r.seq).collect();
        journal.settled(&slot.name, &seqs);
    }
    match outcome {
        DeliveryState::Delivered => state.delivered += records.len() as u64,
        _ => state.dead_lettered += records.len() as u64,
    }
    let cap = inner.options.history_capacity.max(1);
    let mut history = lock(&inner.history);
    let list = match outcome {
        DeliveryState::Delivered => &mut history.delivered,
        _ => &mut history.dead_lettered,
    };
    for mut r in records {
        r.state = outcome;
        r.dead_letter_reason = reason;
        r.completed_at = Some(now);
        if status.is_some() {
            r.last_status = status;
        }
        if error.is_some() {
            r.last_error = error.clone();
        }
        if list.len() >= cap {
            list.pop_front();
        }
        list.push_back(r);
    }
    drop(history);
    drop(state);
    inner.changed.notify_waiters();
}

/// The request body of a delivery: a JSON array in the subscription's schema.
fn render(schema: EventSchema, records: &[EventRecord]) -> Vec<u8> {
    let events: Vec<Value> = records
        .iter()
        .map(|r| match schema {
            EventSchema::EventGridSchema => r.event.to_event_grid(),
            EventSchema::CloudEventSchemaV1_0 => r.event.to_cloud_event(),
        })
        .collect();
    serde_json::to_vec(&events).unwrap_or_else(|_| b"[]".to_vec())
}

fn content_type(schema: EventSchema) -> &'static str {
    match schema {
        EventSchema::EventGridSchema => "application/json; charset=utf-8",
        EventSchema::CloudEventSchemaV1_0 => "application/cloudevents-batch+json; charset=utf-8",
    }
}

/// One delivery attempt.
async fn post(inner: &Inner, slot: &Slot, body: &[u8], delivery_count: u32) -> Attempt {
    let schema = slot.sub.schema();
    let mut request = inner
        .client
        .post(slot.sub.endpoint().clone())
        .timeout(inner.options.policy.timeout)
        .header(CONTENT_TYPE, HeaderValue::from_static(content_type(schema)))
        .header("aeg-event-type", "Notification")
        .header("aeg-subscription-name", slot.name.as_str())
        .header("aeg-delivery-count", delivery_count.to_string());
    request = match schema {
        EventSchema::EventGridSchema => request
            .header("aeg-metadata-version", METADATA_VERSION)
            .header("aeg-data-version", DATA_VERSION),
        EventSchema::CloudEventSchemaV1_0 => request.header("aeg-metadata-version", "1.0"),
    };
    match request.body(body.to_vec()).send().await {
        Ok(response) => classify(response.status().as_u16()),
        Err(e) => Attempt::Retry(None, describe(&e)),
    }
}

/// A short reason for a failed request (timeouts, refused connections and untrusted
/// certificates are the usual ones).
fn describe(e: &reqwest::Error) -> String {
    let mut chain = String::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        chain.push_str(": ");
        chain.push_str(&s.to_string());
        source = s.source();
    }
    if e.is_timeout() {
        "the webhook did not answer in time (--event-delivery-timeout)".into()
    } else if chain.contains("certificate") {
        format!(
            "the webhook's TLS certificate is not trusted{chain} (trust it with --event-webhook-ca)"
        )
    } else if e.is_connect() {
        format!("cannot connect to the webhook{chain}")
    } else {
        format!("{e}{chain}")
    }
}

/// The validation event of the Event Grid schema.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ValidationEvent<'a> {
    id: String,
    topic: &'a str,
    subject: &'static str,
    data: ValidationData,
    event_type: &'static str,
    event_time: String,
    metadata_version: &'static str,
    data_version: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ValidationData {
    validation_code: String,
}

/// The subscription's validation handshake; `Err` says why it failed.
async fn handshake(inner: &Inner, slot: &Slot) -> Result<(), String> {
    match slot.sub.schema() {
        EventSchema::EventGridSchema => validate_event_grid(inner, slot).await,
        EventSchema::CloudEventSchemaV1_0 => validate_cloud_events(inner, slot).await,
    }
}

async fn validate_event_grid(inner: &Inner, slot: &Slot) -> Result<(), String> {
    let code = uuid::Uuid::new_v4().hyphenated().to_string().to_uppercase();
    let event = [ValidationEvent {
        id: uuid::Uuid::new_v4().hyphenated().to_string(),
        topic: &inner.default_topic,
        subject: "",
        data: ValidationData {
            validation_code: code.clone(),
        },
        event_type: VALIDATION_EVENT_TYPE,
        event_time: fmt_time(inner.clock.now()),
        metadata_version: METADATA_VERSION,
        data_version: "1",
    }];
    let body = serde_json::to_vec(&event).map_err(|e| e.to_string())?;
    let response = inner
        .client
        .post(slot.sub.endpoint().clone())
        .timeout(inner.options.policy.timeout)
        .header(
            CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        )
        .header("aeg-event-type", "SubscriptionValidation")
        .header("aeg-subscription-name", slot.name.as_str())
        .header("aeg-delivery-count", "0")
        .header("aeg-metadata-version", METADATA_VERSION)
        .header("aeg-data-version", "1")
        .body(body)
        .send()
        .await
        .map_err(|e| describe(&e))?;
    let status = response.status().as_u16();
    if !(200..=204).contains(&status) {
        return Err(format!(
            "the webhook answered the SubscriptionValidationEvent with {status}"
        ));
    }
    let text = response.text().await.map_err(|e| describe(&e))?;
    if validation_response_matches(&text, &code) {
        Ok(())
    } else {
        Err(format!(
            "the webhook did not echo the validation code as {{\"validationResponse\": \"{code}\"}} (it answered {status} {})",
            truncate(&text, 200)
        ))
    }
}

/// Whether `body` is a JSON object whose `validationResponse` (any case) is `code`.
fn validation_response_matches(body: &str, code: &str) -> bool {
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(body) else {
        return false;
    };
    map.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("validationResponse") && v.as_str().is_some_and(|v| v == code)
    })
}

async fn validate_cloud_events(inner: &Inner, slot: &Slot) -> Result<(), String> {
    let response = inner
        .client
        .request(reqwest::Method::OPTIONS, slot.sub.endpoint().clone())
        .timeout(inner.options.policy.timeout)
        .header("WebHook-Request-Origin", WEBHOOK_ORIGIN)
        .header("WebHook-Request-Rate", "120")
        .send()
        .await
        .map_err(|e| describe(&e))?;
    let status = response.status().as_u16();
    let allowed = response
        .headers()
        .get_all("WebHook-Allowed-Origin")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(origin_allowed);
    if (200..=204).contains(&status) && allowed {
        Ok(())
    } else {
        Err(format!(
            "the webhook answered the OPTIONS abuse-protection request with {status} and no WebHook-Allowed-Origin of {WEBHOOK_ORIGIN} or *"
        ))
    }
}

fn origin_allowed(origin: &str) -> bool {
    let origin = origin.trim();
    origin == "*" || origin.eq_ignore_ascii_case(WEBHOOK_ORIGIN)
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(initial_ms: u64, max_ms: u64) -> DeliveryPolicy {
        DeliveryPolicy {
            max_attempts: 10,
            retry_initial: Duration::from_millis(initial_ms),
            retry_max: Duration::from_millis(max_ms),
            timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn backoff_doubles_from_the_initial_wait_up_to_the_cap() {
        let p = policy(100, 1000);
        let waits: Vec<u128> = (1..=6).map(|n| backoff(&p, n).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1000, 1000]);
    }

    #[test]
    fn backoff_never_overflows() {
        let p = policy(1000, 60_000);
        assert_eq!(backoff(&p, u32::MAX), Duration::from_secs(60));
        assert_eq!(backoff(&p, 0), Duration::from_secs(1));
    }

    #[test]
    fn statuses_are_classified_as_event_grid_does() {
        for ok in [200, 201, 202, 203, 204] {
            assert_eq!(classify(ok), Attempt::Done(ok));
        }
        for fatal in [400, 401, 403, 413] {
            assert!(matches!(classify(fatal), Attempt::GiveUp(s, _) if s == fatal));
        }
        for retry in [205, 302, 404, 408, 429, 500, 503] {
            assert!(matches!(classify(retry), Attempt::Retry(Some(s), _) if s == retry));
        }
    }

    #[test]
    fn the_validation_response_must_echo_the_code() {
        assert!(validation_response_matches(
            r#"{"validationResponse":"ABC"}"#,
            "ABC"
        ));
        assert!(validation_response_matches(
            r#"{"ValidationResponse":"ABC","other":1}"#,
            "ABC"
        ));
        assert!(!validation_response_matches(
            r#"{"validationResponse":"abd"}"#,
            "ABC"
        ));
        assert!(!validation_response_matches("ABC", "ABC"));
        assert!(!validation_response_matches("", "ABC"));
    }

    #[test]
    fn origins_allow_event_grid_or_anyone() {
        assert!(origin_allowed(" eventgrid.azure.net"));
        assert!(origin_allowed("EventGrid.Azure.Net"));
        assert!(origin_allowed("*"));
        assert!(!origin_allowed("example.com"));
    }
}
