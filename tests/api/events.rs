//! Event Grid emulation: subscriptions, handshakes, delivery, retries, dead letters, inbound SMS.
//!
//! Every wait is a long-poll on `GET /_emulator/events?wait=…&count=…`; the webhook receiver
//! (`webhook.rs`) records what arrived, and by the time the emulator lists an event as
//! delivered, the receiver has recorded it.

use std::time::Duration;

use acs_emulator::Config;
use reqwest::Response;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, body, spawn_with};
use crate::webhook::{Behaviour, CertKind, Webhook};

/// The resource's ARM id with the default flags.
pub const TOPIC: &str = "/subscriptions/acacacac-0000-4000-8000-00000000000b/resourceGroups/acs-emulator-rg/providers/Microsoft.Communication/communicationServices/acs-emulator";

/// The test configuration with fast retries: 3 attempts, 50 ms then 100 ms apart.
pub fn events_config() -> Config {
    let mut config = Config::for_tests();
    config.events.event_max_attempts = 3;
    config.events.event_retry_initial = Duration::from_millis(50);
    config.events.event_retry_max = Duration::from_millis(200);
    config
}

/// An emulator with the fast-retry configuration.
pub async fn spawn_events_app() -> TestApp {
    spawn_with(events_config()).await
}

impl TestApp {
    /// `POST /_emulator/events/subscriptions`; returns the raw response.
    pub async fn post_subscription(&self, spec: &Value) -> Response {
        self.client
            .post(format!("{}/_emulator/events/subscriptions", self.http))
            .json(spec)
            .send()
            .await
            .expect("request sent")
    }

    /// Adds a subscription; asserts 201 and returns it.
    pub async fn subscribe(&self, spec: &Value) -> Value {
        let res = self.post_subscription(spec).await;
        let status = res.status();
        let body = body(res).await;
        assert_eq!(status, 201, "{body}");
        body
    }

    /// `GET /_emulator/events?<query>&wait=10s`: waits (generously) for `count` records.
    pub async fn wait_events(&self, query: &str, count: usize) -> Vec<Value> {
        let res = self
            .client
            .get(format!(
                "{}/_emulator/events?{query}&wait=10s&count={count}",
                self.http
            ))
            .send()
            .await
            .expect("request sent");
        assert_eq!(res.status(), 200);
        let records = body(res).await["value"].as_array().expect("value").clone();
        assert!(
            records.len() >= count,
            "waited for {count} records matching '{query}', got {}: {records:#?}",
            records.len()
        );
        records
    }

    /// `GET /_emulator/events?<query>` without waiting.
    pub async fn events_now(&self, query: &str) -> Vec<Value> {
        let res = self
            .client
            .get(format!("{}/_emulator/events?{query}", self.http))
            .send()
            .await
            .expect("request sent");
        assert_eq!(res.status(), 200);
        body(res).await["value"].as_array().expect("value").clone()
    }

    /// `POST /_emulator/sms/inbound`.
    pub async fn inbound_sms(&self, request: &Value) -> Response {
        self.client
            .post(format!("{}/_emulator/sms/inbound", self.http))
            .json(request)
            .send()
            .await
            .expect("request sent")
    }

    /// `GET` an emulator path; asserts 200 and returns the body.
    pub async fn admin_get(&self, path: &str) -> Value {
        let res = self
            .client
            .get(format!("{}{path}", self.http))
            .send()
            .await
            .expect("request sent");
        let status = res.status();
        let body = body(res).await;
        assert_eq!(status, 200, "{body}");
        body
    }
}

fn hi() -> Value {
    json!({"from": "+14255550123", "to": "+18005550100", "message": "hi"})
}

#[tokio::test]
async fn subscriptions_can_be_added_listed_and_removed() {
    // Arrange
    let app = spawn_events_app().await;

    // Act
    let created = app
        .subscribe(&json!({
            "name": "app-1",
            "endpoint": "http://127.0.0.1:9/api/events",
            "eventTypes": ["SMSReceived", "Microsoft.Communication.ChatMessageReceived"],
            "schema": "CloudEventSchemaV1_0",
            "maxEventsPerBatch": 5,
        }))
        .await;
    let generated = app
        .subscribe(&json!({"endpoint": "https://example.test/hook", "skipValidation": true}))
        .await;

    // Assert
    assert_eq!(
        created,
        json!({
            "name": "app-1",
            "endpoint": "http://127.0.0.1:9/api/events",
            "eventTypes": ["Microsoft.Communication.SMSReceived", "Microsoft.Communication.ChatMessageReceived"],
            "schema": "CloudEventSchemaV1_0",
            "maxEventsPerBatch": 5,
            "skipValidation": false,
            "source": "api",
            "validation": "pending",
            "pending": 0,
            "delivered": 0,
            "deadLettered": 0,
            "dropped": 0,
        })
    );
    assert_eq!(generated["name"], "webhook-1");
    assert_eq!(generated["eventTypes"], json!([]));
    assert_eq!(generated["schema"], "EventGridSchema");
    assert_eq!(generated["validation"], "skipped");
    let listed = app.admin_get("/_emulator/events/subscriptions").await;
    let names: Vec<&str> = listed["value"]
        .as_array()
        .expect("value")
        .iter()
        .map(|s| s["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["app-1", "webhook-1"]);
    assert_eq!(
        app.admin_get("/_emulator/events/subscriptions/APP-1").await["name"],
        "app-1"
    );

    let duplicate = app
        .post_subscription(&json!({"name": "app-1", "endpoint": "http://127.0.0.1:9/"}))
        .await;
    let message = assert_error(duplicate, 409, "Conflict").await;
    assert!(message.contains("app-1"), "{message}");

    let deleted = app
        .client
        .delete(format!("{}/_emulator/events/subscriptions/app-1", app.http))
        .send()
        .await
        .expect("sent");
    assert_eq!(deleted.status(), 204);
    let gone = app
        .client
        .get(format!("{}/_emulator/events/subscriptions/app-1", app.http))
        .send()
        .await
        .expect("sent");
    assert_error(gone, 404, "NotFound").await;
    let all = app
        .client
        .delete(format!("{}/_emulator/events/subscriptions", app.http))
        .send()
        .await
        .expect("sent");
    assert_eq!(body(all).await, json!({"removed": 1}));
}

#[tokio::test]
async fn unusable_subscriptions_are_refused_with_the_reason() {
    let app = spawn_events_app().await;
    let cases = [
        (
            json!({"endpoint": "ftp://example.test/"}),
            "ValidationError",
            "http",
        ),
        (
            json!({"endpoint": "http://x.test/", "eventTypes": ["SMSSent"]}),
            "ValidationError",
            "SMSSent",
        ),
        (
            json!({"endpoint": "http://x.test/", "schema": "Xml"}),
            "InvalidRequestBody",
            "Xml",
        ),
        (
            json!({"endpoint": "http://x.test/", "maxEventsPerBatch": 0}),
            "ValidationError",
            "maxEventsPerBatch",
        ),
        (
            json!({"endpoint": "http://x.test/", "retries": 3}),
            "InvalidRequestBody",
            "retries",
        ),
        (json!({"name": "x"}), "InvalidRequestBody", "endpoint"),
    ];
    for (spec, code, needle) in cases {
        let res = app.post_subscription(&spec).await;
        let message = assert_error(res, 400, code).await;
        assert!(message.contains(needle), "{spec}: {message}");
    }
}

#[tokio::test]
async fn inbound_sms_is_delivered_as_sms_received_in_the_event_grid_schema() {
    // Arrange
    let app = spawn_events_app().await;
    let hook = Webhook::start().await;
    app.subscribe(&json!({"name": "sms", "endpoint": hook.url, "eventTypes": ["SMSReceived"]}))
        .await;

    // Act
    let res = app.inbound_sms(&hi()).await;

    // Assert
    assert_eq!(res.status(), 202);
    let accepted = body(res).await;
    let id = accepted["messageId"]
        .as_str()
        .expect("messageId")
        .to_string();
    assert!(id.starts_with("Incoming_"), "{id}");
    assert_eq!(
        accepted,
        json!({"messageId": id, "from": "+14255550123", "to": "+18005550100", "message": "hi"})
    );
    let records = app.wait_events("state=delivered", 1).await;
    let record = &records[0];
    assert_eq!(record["id"], id);
    assert_eq!(record["eventType"], "Microsoft.Communication.SMSReceived");
    assert_eq!(record["subscription"], "sms");
    assert_eq!(record["state"], "delivered");
    assert_eq!(record["attempts"], 1);
    assert_eq!(record["lastStatus"], 200);

    let requests = hook.requests();
    assert_eq!(requests.len(), 2, "handshake then delivery: {requests:#?}");
    let handshake = &requests[0];
    assert_eq!(handshake.method, "POST");
    assert_eq!(handshake.target, "/api/events");
    assert_eq!(handshake.header("aeg-event-type"), "SubscriptionValidation");
    assert_eq!(handshake.header("aeg-subscription-name"), "sms");
    let validation = &handshake.body[0];
    assert_eq!(
        validation["eventType"],
        "Microsoft.EventGrid.SubscriptionValidationEvent"
    );
    assert_eq!(validation["topic"], TOPIC);
    assert!(
        validation["data"]["validationCode"].is_string(),
        "{validation}"
    );
    assert_eq!(validation["metadataVersion"], "1");

    let delivery = &requests[1];
    assert_eq!(delivery.method, "POST");
    assert_eq!(delivery.header("aeg-event-type"), "Notification");
    assert_eq!(delivery.header("aeg-subscription-name"), "sms");
    assert_eq!(delivery.header("aeg-delivery-count"), "0");
    assert_eq!(delivery.header("aeg-metadata-version"), "1");
    assert_eq!(delivery.header("aeg-data-version"), "1.0");
    assert!(
        delivery
            .header("content-type")
            .starts_with("application/json"),
        "{:?}",
        delivery.headers
    );
    let events = delivery.body.as_array().expect("a JSON array");
    assert_eq!(events.len(), 1);
    let event = &events[0];
    let time = event["eventTime"].as_str().expect("eventTime");
    let received = event["data"]["ReceivedTimestamp"]
        .as_str()
        .expect("ReceivedTimestamp");
    assert!(received <= time, "{received} after {time}");
    assert_eq!(
        event,
        &json!({
            "id": id,
            "topic": TOPIC,
            "subject": "/phonenumber/18005550100",
            "data": {
                "MessageId": id,
                "From": "+14255550123",
                "To": "+18005550100",
                "Message": "hi",
                "ReceivedTimestamp": received,
                "SegmentCount": 1,
            },
            "eventType": "Microsoft.Communication.SMSReceived",
            "dataVersion": "1.0",
            "metadataVersion": "1",
            "eventTime": time,
        })
    );
    assert_eq!(
        record["event"], *event,
        "the record shows what was delivered"
    );
}

#[tokio::test]
async fn cloud_events_subscriptions_use_the_options_handshake_and_batch_content_type() {
    // Arrange
    let app = spawn_events_app().await;
    let hook = Webhook::start().await;
    app.subscribe(
        &json!({"name": "cloud", "endpoint": hook.url, "schema": "CloudEventSchemaV1_0"}),
    )
    .await;

    // Act
    let res = app.inbound_sms(&hi()).await;

    // Assert
    let id = body(res).await["messageId"]
        .as_str()
        .expect("id")
        .to_string();
    app.wait_events("state=delivered&subscription=cloud", 1)
        .await;
    let requests = hook.requests();
    assert_eq!(requests[0].method, "OPTIONS");
    assert_eq!(
        requests[0].header("webhook-request-origin"),
        "eventgrid.azure.net"
    );
    let delivery = &requests[1];
    assert!(
        delivery
            .header("content-type")
            .starts_with("application/cloudevents-batch+json"),
        "{:?}",
        delivery.headers
    );
    assert_eq!(delivery.header("aeg-event-type"), "Notification");
    let event = &delivery.body[0];
    let time = event["time"].as_str().expect("time");
    let received = event["data"]["ReceivedTimestamp"]
        .as_str()
        .expect("ReceivedTimestamp");
    assert!(received <= time, "{received} after {time}");
    assert_eq!(
        event,
        &json!({
            "id": id,
            "source": TOPIC,
            "specversion": "1.0",
            "type": "Microsoft.Communication.SMSReceived",
            "subject": "/phonenumber/18005550100",
            "time": time,
            "data": {
                "MessageId": id,
                "From": "+14255550123",
                "To": "+18005550100",
                "Message": "hi",
                "ReceivedTimestamp": received,
                "SegmentCount": 1,
            },
        })
    );
}

#[tokio::test]
async fn inbound_sms_must_come_from_a_phone_number_and_go_to_one_of_the_resources() {
    let app = spawn_events_app().await;
    let cases = [
        (
            json!({"from": "12345", "to": "+18005550100", "message": "hi"}),
            "from",
        ),
        (
            json!({"from": "+1425555012345", "to": "+18005550100", "message": "hi"}),
            "from",
        ),
        (json!({"to": "+18005550100", "message": "hi"}), "from"),
        (
            json!({"from": "+14255550123", "to": "+14255550199", "message": "hi"}),
            "to",
        ),
        (json!({"from": "+14255550123", "message": "hi"}), "to"),
        (
            json!({"from": "+14255550123", "to": "+18005550100"}),
            "message",
        ),
    ];
    for (request, target) in cases {
        let res = app.inbound_sms(&request).await;
        assert_eq!(res.status(), 400, "{request}");
        let body = body(res).await;
        assert_eq!(body["error"]["code"], "ValidationError", "{body}");
        assert_eq!(body["error"]["target"], target, "{body}");
    }
    let not_owned = app
        .inbound_sms(&json!({"from": "+14255550123", "to": "+14255550199", "message": "hi"}))
        .await;
    let message = assert_error(not_owned, 400, "ValidationError").await;
    assert!(
        message.contains("+14255550199") && message.contains("+18005550100"),
        "{message}"
    );
    let unknown = app
        .inbound_sms(
            &json!({"from": "+14255550123", "to": "+18005550100", "message": "hi", "media": "x"}),
        )
        .await;
    assert_error(unknown, 400, "InvalidRequestBody").await;
}

#[tokio::test]
async fn a_webhook_that_fails_the_handshake_gets_no_events_and_they_are_dead_lettered() {
    // Arrange
    let app = spawn_events_app().await;
    let refusing = Behaviour {
        validate: false,
        ..Behaviour::default()
    };
    let eg = Webhook::with(refusing.clone()).await;
    let ce = Webhook::with(refusing).await;
    app.subscribe(&json!({"name": "grid", "endpoint": eg.url}))
        .await;
    app.subscribe(&json!({"name": "cloud", "endpoint": ce.url, "schema": "CloudEventSchemaV1_0"}))
        .await;

    // Act
    app.inbound_sms(&hi()).await;

    // Assert
    let dead = app.wait_events("state=deadlettered", 2).await;
    for record in &dead {
        assert_eq!(record["deadLetterReason"], "ValidationFailed", "{record}");
        assert_eq!(record["attempts"], 0, "{record}");
        assert!(
            record["lastError"]
                .as_str()
                .expect("lastError")
                .contains("validation failed"),
            "{record}"
        );
    }
    assert!(eg.notifications().is_empty() && ce.notifications().is_empty());
    assert_eq!(eg.requests().len(), 3, "3 handshake attempts");
    assert!(ce.requests().iter().all(|r| r.method == "OPTIONS"));
    let sub = app.admin_get("/_emulator/events/subscriptions/grid").await;
    assert_eq!(sub["validation"], "failed");
    assert!(
        sub["validationError"]
            .as_str()
            .expect("validationError")
            .contains("400"),
        "{sub}"
    );
    assert_eq!(sub["deadLettered"], 1);
}

#[tokio::test]
async fn failed_deliveries_are_retried_until_the_webhook_accepts_them() {
    // Arrange
    let app = spawn_events_app().await;
    let hook = Webhook::with(Behaviour {
        fail_first: 2,
        fail_status: 503,
        ..Behaviour::default()
    })
    .await;
    app.subscribe(&json!({"name": "flaky", "endpoint": hook.url}))
        .await;

    // Act
    app.inbound_sms(&hi()).await;

    // Assert
    let delivered = app.wait_events("state=delivered", 1).await;
    assert_eq!(delivered[0]["attempts"], 3);
    assert_eq!(delivered[0]["lastStatus"], 200);
    let counts: Vec<String> = hook
        .notifications()
        .iter()
        .map(|r| r.header("aeg-delivery-count").to_string())
        .collect();
    assert_eq!(counts, ["0", "1", "2"]);
    let statuses: Vec<u16> = hook.notifications().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [503, 503, 200]);
    assert_eq!(hook.events().len(), 1);
}

#[tokio::test]
async fn deliveries_that_keep_failing_are_dead_lettered_after_the_last_attempt() {
    // Arrange
    let app = spawn_events_app().await;
    let hook = Webhook::with(Behaviour {
        fail_first: usize::MAX,
        ..Behaviour::default()
    })
    .await;
    app.subscribe(&json!({"name": "broken", "endpoint": hook.url}))
        .await;

    // Act
    app.inbound_sms(&hi()).await;

    // Assert
    let dead = app.wait_events("state=deadlettered", 1).await;
    assert_eq!(dead[0]["deadLetterReason"], "MaxDeliveryAttemptsExceeded");
    assert_eq!(dead[0]["attempts"], 3);
    assert_eq!(dead[0]["lastStatus"], 500);
    assert!(dead[0]["completedAt"].is_string());
    assert_eq!(hook.notifications().len(), 3);
    assert!(app.events_now("state=delivered").await.is_empty());
    assert!(app.events_now("state=pending").await.is_empty());
}

#[tokio::test]
async fn statuses_event_grid_does_not_retry_are_dead_lettered_at_once() {
    let app = spawn_events_app().await;
    let hook = Webhook::with(Behaviour {
        fail_first: usize::MAX,
        fail_status: 400,
        ..Behaviour::default()
    })
    .await;
    app.subscribe(&json!({"name": "strict", "endpoint": hook.url}))
        .await;

    app.inbound_sms(&hi()).await;

    let dead = app.wait_events("state=deadlettered", 1).await;
    assert_eq!(dead[0]["deadLetterReason"], "NonRetryableStatusCode");
    assert_eq!(dead[0]["attempts"], 1);
    assert_eq!(dead[0]["lastStatus"], 400);
    assert_eq!(hook.notifications().len(), 1);
}

#[tokio::test]
async fn an_unreachable_webhook_is_retried_then_dead_lettered_with_the_reason() {
    // Arrange: a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let app = spawn_events_app().await;
    app.subscribe(&json!({"name": "down", "endpoint": format!("http://127.0.0.1:{port}/"), "skipValidation": true}))
        .await;

    // Act
    app.inbound_sms(&hi()).await;

    // Assert
    let dead = app.wait_events("state=deadlettered", 1).await;
    assert_eq!(dead[0]["deadLetterReason"], "MaxDeliveryAttemptsExceeded");
    assert_eq!(dead[0]["attempts"], 3);
    assert!(dead[0].get("lastStatus").is_none(), "{}", dead[0]);
    assert!(
        dead[0]["lastError"]
            .as_str()
            .expect("lastError")
            .contains("connect"),
        "{}",
        dead[0]
    );
}

#[tokio::test]
async fn events_are_filtered_by_type_and_listed_by_type_and_subscription() {
    // Arrange
    let app = spawn_events_app().await;
    let hook = Webhook::start().await;
    app.subscribe(&json!({"name": "sms", "endpoint": hook.url, "eventTypes": ["SMSReceived"]}))
        .await;
    app.subscribe(
        &json!({"name": "chat", "endpoint": hook.url, "eventTypes": ["ChatMessageReceived"]}),
    )
    .await;

    // Act
    app.inbound_sms(&hi()).await;

    // Assert
    let delivered = app.wait_events("state=delivered", 1).await;
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0]["subscription"], "sms");
    assert_eq!(app.events_now("type=SMSReceived").await.len(), 1);
    assert_eq!(
        app.events_now("type=Microsoft.Communication.SMSReceived&subscription=sms")
            .await
            .len(),
        1
    );
    assert!(app.events_now("subscription=chat").await.is_empty());
    let bad = app
        .client
        .get(format!("{}/_emulator/events?state=lost", app.http))
        .send()
        .await
        .expect("sent");
    assert_error(bad, 400, "InvalidQueryParameter").await;
}

#[tokio::test]
async fn reset_clears_events_and_the_apis_subscriptions_but_keeps_startup_ones() {
    // Arrange
    let hook = Webhook::start().await;
    let mut config = events_config();
    config.events.event_webhooks = vec![format!("{}#name=cli&types=SMSReceived", hook.url)];
    let app = spawn_with(config).await;
    app.subscribe(&json!({"name": "api", "endpoint": hook.url}))
        .await;
    app.inbound_sms(&hi()).await;
    app.wait_events("state=delivered", 2).await;

    // Act
    let res = app
        .client
        .post(format!("{}/_emulator/reset", app.http))
        .send()
        .await
        .expect("sent");

    // Assert
    assert_eq!(res.status(), 200);
    assert!(app.events_now("").await.is_empty());
    let subs = app.admin_get("/_emulator/events/subscriptions").await;
    let subs = subs["value"].as_array().expect("value");
    assert_eq!(subs.len(), 1, "{subs:?}");
    assert_eq!(subs[0]["name"], "cli");
    assert_eq!(subs[0]["source"], "startup");
    assert_eq!(
        subs[0]["eventTypes"],
        json!(["Microsoft.Communication.SMSReceived"])
    );

    app.inbound_sms(&hi()).await;
    app.wait_events("state=delivered", 1).await;
    let cleared = app
        .client
        .delete(format!("{}/_emulator/events", app.http))
        .send()
        .await
        .expect("sent");
    assert_eq!(body(cleared).await, json!({"cleared": 1}));
    assert!(app.events_now("").await.is_empty());
}

#[tokio::test]
async fn an_https_webhook_with_a_private_certificate_needs_event_webhook_ca() {
    for kind in [
        CertKind::SelfSigned,
        CertKind::SelfSignedCa,
        CertKind::IssuedByCa,
    ] {
        // Arrange: an HTTPS receiver whose certificate no public root vouches for.
        let (hook, pem) = Webhook::start_tls(kind).await;
        let ca = std::env::temp_dir().join(format!("acs-webhook-ca-{}.pem", uuid::Uuid::new_v4()));
        std::fs::write(&ca, &pem).expect("write the certificate");
        let untrusting = spawn_events_app().await;
        let mut config = events_config();
        config.events.event_webhook_ca = Some(ca.clone());
        let trusting = spawn_with(config).await;

        // Act: both send it an inbound SMS.
        for app in [&untrusting, &trusting] {
            app.subscribe(&json!({"name": "local-tls", "endpoint": hook.url}))
                .await;
            assert_eq!(app.inbound_sms(&hi()).await.status(), 202);
        }

        // Assert: without the flag the handshake fails on the certificate, and says so; with
        // it, the event is delivered.
        let dead = untrusting.wait_events("state=deadlettered", 1).await;
        assert_eq!(dead[0]["deadLetterReason"], "ValidationFailed", "{kind:?}");
        let sub = untrusting
            .admin_get("/_emulator/events/subscriptions/local-tls")
            .await;
        let why = sub["validationError"].as_str().expect("validationError");
        assert!(why.contains("--event-webhook-ca"), "{kind:?}: {why}");
        let delivered = trusting.wait_events("state=delivered", 1).await;
        assert_eq!(
            delivered[0]["event"]["eventType"], "Microsoft.Communication.SMSReceived",
            "{kind:?}"
        );
        assert_eq!(hook.notifications().len(), 1, "{kind:?}");
        std::fs::remove_file(&ca).ok();
    }
}

#[test]
fn event_webhook_ca_must_name_a_pem_certificate_file() {
    let mut config = events_config();
    config.events.event_webhook_ca = Some("/nonexistent/ca.pem".into());
    let err = config.validate().expect_err("missing file").to_string();
    assert!(
        err.contains("--event-webhook-ca '/nonexistent/ca.pem'"),
        "{err}"
    );
    let not_pem = std::env::temp_dir().join(format!("acs-not-pem-{}.txt", uuid::Uuid::new_v4()));
    std::fs::write(&not_pem, "hello").expect("write");
    let mut config = events_config();
    config.events.event_webhook_ca = Some(not_pem.clone());
    let err = config.validate().expect_err("no certificate").to_string();
    assert!(err.contains("--event-webhook-ca"), "{err}");
    std::fs::remove_file(&not_pem).ok();
}
