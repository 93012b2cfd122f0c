//! Event subscriptions: where events go, which ones, and in which schema.
//!
//! A [`SubscriptionSpec`] is what a user writes (JSON for the control API and fixture files, or
//! the `--event-webhook URL#options` syntax on the command line); [`Subscription::from_spec`]
//! checks it once, so that a [`Subscription`] is always deliverable. Names follow Event Grid's
//! rule for event subscription names (3 to 64 letters, digits and hyphens).

use std::fmt;

use reqwest::Url;
use serde::{Deserialize, Serialize};

use super::event::EventType;

/// The event schema a subscription delivers in (Event Grid's `eventDeliverySchema`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventSchema {
    /// The Event Grid schema: a JSON array, `Content-Type: application/json`, the
    /// `SubscriptionValidationEvent` handshake.
    #[default]
    EventGridSchema,
    /// CloudEvents 1.0: a JSON array, `Content-Type: application/cloudevents-batch+json`, the
    /// `OPTIONS` abuse-protection handshake.
    #[serde(rename = "CloudEventSchemaV1_0")]
    CloudEventSchemaV1_0,
}

impl EventSchema {
    /// `EventGridSchema` or `CloudEventSchemaV1_0`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventSchema::EventGridSchema => "EventGridSchema",
            EventSchema::CloudEventSchemaV1_0 => "CloudEventSchemaV1_0",
        }
    }

    fn parse(raw: &str) -> Option<Self> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "eventgridschema" | "eventgrid" => Some(EventSchema::EventGridSchema),
            "cloudeventschemav1_0" | "cloudevents" | "cloudevent" => {
                Some(EventSchema::CloudEventSchemaV1_0)
            }
            _ => None,
        }
    }
}

/// The most events one delivery may carry (Event Grid's limit for `maxEventsPerBatch`).
pub const MAX_EVENTS_PER_BATCH: usize = 5000;

/// A subscription as a user writes it (control API body, fixture files).
///
/// ```json
/// {"name": "app", "endpoint": "http://localhost:7071/api/events",
///  "eventTypes": ["Microsoft.Communication.SMSReceived"], "schema": "CloudEventSchemaV1_0",
///  "maxEventsPerBatch": 10}
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SubscriptionSpec {
    /// Unique name (3-64 letters, digits, hyphens); default `webhook-<n>`. Sent as
    /// `aeg-subscription-name`.
    #[serde(default)]
    pub name: Option<String>,
    /// The webhook URL (`http` or `https`).
    pub endpoint: String,
    /// Event types to deliver, full (`Microsoft.Communication.SMSReceived`) or short
    /// (`SMSReceived`) names; empty or absent: every type.
    #[serde(default)]
    pub event_types: Vec<String>,
    /// `EventGridSchema` (default) or `CloudEventSchemaV1_0`.
    #[serde(default)]
    pub schema: Option<EventSchema>,
    /// Events per delivery, 1 (default) to 5000.
    #[serde(default)]
    pub max_events_per_batch: Option<usize>,
    /// Deliver without the validation handshake (an emulator convenience for receivers that do
    /// not implement it; real Event Grid always validates webhooks).
    #[serde(default)]
    pub skip_validation: bool,
    /// Only events of this emulated resource (by name, e.g. `default`); absent: every resource.
    /// A real Event Grid system topic belongs to one resource.
    #[serde(default)]
    pub resource: Option<String>,
}

/// Why a subscription spec is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscriptionError {
    /// The endpoint is not an absolute http(s) URL.
    #[error("endpoint '{0}' is not an absolute http:// or https:// URL")]
    InvalidEndpoint(String),
    /// The name breaks Event Grid's naming rule.
    #[error("name '{0}' must be 3 to 64 letters, digits or hyphens")]
    InvalidName(String),
    /// An event type the emulator does not publish.
    #[error(
        "event type '{0}' is not one the emulator publishes (e.g. Microsoft.Communication.SMSReceived)"
    )]
    UnknownEventType(String),
    /// An unknown schema name.
    #[error("schema '{0}' is not EventGridSchema or CloudEventSchemaV1_0")]
    UnknownSchema(String),
    /// `maxEventsPerBatch` out of range.
    #[error("maxEventsPerBatch must be between 1 and {MAX_EVENTS_PER_BATCH}, not {0}")]
    InvalidBatchSize(String),
    /// An option the `--event-webhook` syntax does not know, or a malformed one.
    #[error(
        "unknown or malformed option '{0}' (known: name, types, schema, maxEventsPerBatch, skipValidation, resource)"
    )]
    UnknownOption(String),
}

/// A checked subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    name: Option<String>,
    endpoint: Url,
    event_types: Vec<EventType>,
    schema: EventSchema,
    max_events_per_batch: usize,
    skip_validation: bool,
    resource: Option<String>,
}

impl Subscription {
    /// Checks a spec.
    pub fn from_spec(spec: SubscriptionSpec) -> Result<Self, SubscriptionError> {
        let endpoint = Url::parse(spec.endpoint.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| SubscriptionError::InvalidEndpoint(spec.endpoint.clone()))?;
        let name = spec
            .name
            .map(|name| {
                let ok = (3..=64).contains(&name.len())
                    && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
                if ok {
                    Ok(name)
                } else {
                    Err(SubscriptionError::InvalidName(name))
                }
            })
            .transpose()?;
        let mut event_types = Vec::new();
        for raw in &spec.event_types {
            let t = EventType::parse(raw)
                .ok_or_else(|| SubscriptionError::UnknownEventType(raw.clone()))?;
            if !event_types.contains(&t) {
                event_types.push(t);
            }
        }
        let max_events_per_batch = spec.max_events_per_batch.unwrap_or(1);
        if !(1..=MAX_EVENTS_PER_BATCH).contains(&max_events_per_batch) {
            return Err(SubscriptionError::InvalidBatchSize(
                max_events_per_batch.to_string(),
            ));
        }
        Ok(Self {
            name,
            endpoint,
            event_types,
            schema: spec.schema.unwrap_or_default(),
            max_events_per_batch,
            skip_validation: spec.skip_validation,
            resource: spec
                .resource
                .map(|r| r.trim().to_string())
                .filter(|r| !r.is_empty()),
        })
    }

    /// Parses the `--event-webhook` syntax: a URL, then optionally `#` and `key=value` options
    /// joined by `&` (`name`, `types` or `eventTypes` with comma-separated types, `schema`,
    /// `maxEventsPerBatch`, `skipValidation`). The fragment is never sent to the webhook.
    pub fn parse_cli(raw: &str) -> Result<Self, SubscriptionError> {
        let (url, options) = raw.trim().split_once('#').unwrap_or((raw.trim(), ""));
        let mut spec = SubscriptionSpec {
            endpoint: url.to_string(),
            ..SubscriptionSpec::default()
        };
        for option in options.split('&').filter(|o| !o.trim().is_empty()) {
            let (key, value) = option
                .split_once('=')
                .ok_or_else(|| SubscriptionError::UnknownOption(option.to_string()))?;
            let value = value.trim();
            match key.trim().to_ascii_lowercase().as_str() {
                "name" => spec.name = Some(value.to_string()),
                "resource" => spec.resource = Some(value.to_string()),
                "types" | "eventtypes" => {
                    spec.event_types = value
                        .split(',')
                        .map(str::trim)
                        .filter(|t| !t.is_empty())
                        .map(str::to_string)
                        .collect();
                }
                "schema" => {
                    spec.schema = Some(
                        EventSchema::parse(value)
                            .ok_or_else(|| SubscriptionError::UnknownSchema(value.to_string()))?,
                    );
                }
                "maxeventsperbatch" => {
                    spec.max_events_per_batch = Some(
                        value
                            .parse()
                            .map_err(|_| SubscriptionError::InvalidBatchSize(value.to_string()))?,
                    );
                }
                "skipvalidation" => {
                    spec.skip_validation = match value.to_ascii_lowercase().as_str() {
                        "" | "true" | "1" | "yes" => true,
                        "false" | "0" | "no" => false,
                        _ => return Err(SubscriptionError::UnknownOption(option.to_string())),
                    };
                }
                _ => return Err(SubscriptionError::UnknownOption(option.to_string())),
            }
        }
        Self::from_spec(spec)
    }

    /// The name, if one was given (the bus names the others `webhook-<n>`).
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    pub(crate) fn set_name(&mut self, name: String) {
        self.name = Some(name);
    }

    /// The webhook URL.
    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    /// The types delivered; empty means every type.
    pub fn event_types(&self) -> &[EventType] {
        &self.event_types
    }

    /// Whether events of type `t` go to this subscription.
    pub fn wants(&self, t: EventType) -> bool {
        self.event_types.is_empty() || self.event_types.contains(&t)
    }

    /// The delivery schema.
    pub fn schema(&self) -> EventSchema {
        self.schema
    }

    /// Events per delivery.
    pub fn max_events_per_batch(&self) -> usize {
        self.max_events_per_batch
    }

    /// Whether the validation handshake is skipped.
    pub fn skip_validation(&self) -> bool {
        self.skip_validation
    }

    /// The resource whose events it takes (`None`: every resource).
    pub fn resource(&self) -> Option<&str> {
        self.resource.as_deref()
    }
}

impl fmt::Display for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} -> {}",
            self.name.as_deref().unwrap_or("(unnamed)"),
            self.endpoint
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_url_subscribes_to_everything_in_the_event_grid_schema() {
        let sub = Subscription::parse_cli("http://localhost:7071/api/events").expect("valid");
        assert_eq!(sub.endpoint().as_str(), "http://localhost:7071/api/events");
        assert!(sub.event_types().is_empty());
        assert!(sub.wants(EventType::ChatThreadCreated));
        assert_eq!(sub.schema(), EventSchema::EventGridSchema);
        assert_eq!(sub.max_events_per_batch(), 1);
        assert!(!sub.skip_validation());
        assert_eq!(sub.name(), None);
    }

    #[test]
    fn options_follow_the_fragment() {
        let sub = Subscription::parse_cli(
            "http://localhost:7071/runtime/webhooks/eventgrid?functionName=Sms#name=app-1&types=SMSReceived,Microsoft.Communication.SMSDeliveryReportReceived&schema=CloudEventSchemaV1_0&maxEventsPerBatch=10&skipValidation=true",
        )
        .expect("valid");
        assert_eq!(
            sub.endpoint().as_str(),
            "http://localhost:7071/runtime/webhooks/eventgrid?functionName=Sms"
        );
        assert_eq!(sub.name(), Some("app-1"));
        assert_eq!(
            sub.event_types(),
            [EventType::SmsReceived, EventType::SmsDeliveryReportReceived]
        );
        assert!(!sub.wants(EventType::ChatMessageReceived));
        assert_eq!(sub.schema(), EventSchema::CloudEventSchemaV1_0);
        assert_eq!(sub.max_events_per_batch(), 10);
        assert!(sub.skip_validation());
    }

    #[test]
    fn bad_specs_are_rejected_with_the_reason() {
        let cases = [
            ("ftp://x/y", "not an absolute http"),
            ("/relative", "not an absolute http"),
            ("http://x/#types=SMSSent", "SMSSent"),
            ("http://x/#schema=xml", "xml"),
            ("http://x/#maxEventsPerBatch=0", "between 1 and 5000"),
            ("http://x/#maxEventsPerBatch=5001", "between 1 and 5000"),
            ("http://x/#name=a", "3 to 64"),
            ("http://x/#name=a_b_c", "3 to 64"),
            ("http://x/#colour=red", "colour=red"),
            ("http://x/#types", "types"),
        ];
        for (raw, expected) in cases {
            let err = Subscription::parse_cli(raw).expect_err(raw).to_string();
            assert!(err.contains(expected), "{raw}: {err}");
        }
    }

    #[test]
    fn specs_deserialise_from_json_and_refuse_unknown_fields() {
        let spec: SubscriptionSpec = serde_json::from_str(
            r#"{"endpoint":"https://example.test/hook","eventTypes":["ChatMessageReceived"],"schema":"CloudEventSchemaV1_0","maxEventsPerBatch":2}"#,
        )
        .expect("valid json");
        let sub = Subscription::from_spec(spec).expect("valid spec");
        assert_eq!(sub.event_types(), [EventType::ChatMessageReceived]);
        assert_eq!(sub.max_events_per_batch(), 2);
        assert!(
            serde_json::from_str::<SubscriptionSpec>(r#"{"endpoint":"http://x/","retries":3}"#)
                .is_err()
        );
    }
}
