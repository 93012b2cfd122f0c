//! Email events (`EmailDeliveryReportReceived`, `EmailEngagementTrackingReportReceived`) and
//! scenario rules on email: failed, canceled and delayed sends, bounces and suppressions by
//! address pattern, throttling, failing status polls.

use std::time::Duration;

use serde_json::{Value, json};

use crate::email::{SENDER, message};
use crate::events::{TOPIC, events_config, spawn_events_app};
use crate::helpers::{TestApp, assert_error, body, spawn_with};
use crate::webhook::Webhook;

/// An emulator with a webhook subscribed to both email event types, and fixture `rules`.
async fn app_with(rules: Value) -> (TestApp, Webhook) {
    let app = if rules.as_array().is_some_and(|r| !r.is_empty()) {
        let dir = std::env::temp_dir().join(format!("acs-email-rules-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("rules.json");
        std::fs::write(&path, json!({ "rules": rules }).to_string()).expect("written");
        let mut config = events_config();
        config.scenarios.fixtures = vec![path];
        spawn_with(config).await
    } else {
        spawn_events_app().await
    };
    let hook = Webhook::start().await;
    app.subscribe(&json!({"name": "mail", "endpoint": hook.url,
        "eventTypes": ["EmailDeliveryReportReceived", "EmailEngagementTrackingReportReceived"]}))
        .await;
    (app, hook)
}

/// The delivered events of `type`, as the webhook received them.
async fn delivered(app: &TestApp, event_type: &str, count: usize) -> Vec<Value> {
    app.wait_events(&format!("type={event_type}&state=delivered"), count)
        .await
        .into_iter()
        .map(|r| r["event"].clone())
        .collect()
}

#[tokio::test]
async fn each_recipient_gets_a_delivery_report_when_the_send_completes() {
    // Arrange
    let (app, hook) = app_with(json!([])).await;
    let mut m = message(&["alice@example.com", "Alice@Example.com"]);
    m["recipients"]["cc"] = json!([{"address": "bob@example.com"}]);

    // Act
    let id = app.email_accepted(&m).await;

    // Assert: one report per distinct address, after the one-second completion.
    let events = delivered(&app, "EmailDeliveryReportReceived", 2).await;
    assert_eq!(events.len(), 2, "{events:#?}");
    let mut recipients: Vec<&str> = events
        .iter()
        .map(|e| e["data"]["recipient"].as_str().expect("recipient"))
        .collect();
    recipients.sort();
    assert_eq!(recipients, ["alice@example.com", "bob@example.com"]);
    let event = &events[0];
    let data = &event["data"];
    let attempt = data["deliveryAttemptTimestamp"]
        .as_str()
        .expect("timestamp");
    assert_eq!(
        *event,
        json!({
            "id": event["id"],
            "topic": TOPIC,
            "subject": format!("sender/{SENDER}/message/{id}"),
            "data": {
                "sender": SENDER,
                "recipient": data["recipient"],
                "messageId": id,
                "internetMessageId": format!("<{id}@acacacac-0000-4000-8000-000000000001.azurecomm.net>"),
                "status": "Delivered",
                "deliveryStatusDetails": {"statusMessage": "No error."},
                "deliveryAttemptTimestamp": attempt,
            },
            "eventType": "Microsoft.Communication.EmailDeliveryReportReceived",
            "dataVersion": "1.0",
            "metadataVersion": "1",
            "eventTime": event["eventTime"],
        })
    );
    assert!(attempt <= event["eventTime"].as_str().expect("time"));
    assert!(hook.requests().len() >= 2);
    // The status poll agrees.
    assert_eq!(app.email_status(&id).await.0["status"], "Succeeded");
}

#[tokio::test]
async fn delivery_reports_wait_for_the_emulator_clock() {
    let mut config = events_config();
    config.email.email_delivery_report_delay = Duration::from_secs(60);
    let app = spawn_with(config).await;
    let hook = Webhook::start().await;
    app.subscribe(&json!({"name": "mail", "endpoint": hook.url, "eventTypes": ["EmailDeliveryReportReceived"]}))
        .await;
    app.email_accepted(&message(&["alice@example.com"])).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        app.events_now("type=EmailDeliveryReportReceived")
            .await
            .is_empty()
    );
    // Moving the clock on releases the report at once.
    let res = app
        .client
        .post(format!("{}/_emulator/clock", app.http))
        .json(&json!({"advance": "2m"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 200);
    let events = delivered(&app, "EmailDeliveryReportReceived", 1).await;
    assert_eq!(events[0]["data"]["status"], "Delivered");
}

#[tokio::test]
async fn a_rule_fails_sends_to_a_domain_with_email_dropped() {
    let (app, _hook) = app_with(json!([{
        "name": "drop-gmail",
        "match": {"operation": "Email.Send", "to": "*@gmail.test"},
        "email": {"result": {"status": "Failed"}},
        "expect": {"count": 1},
    }]))
    .await;
    let ok = app.email_accepted(&message(&["alice@example.com"])).await;
    let failed = app
        .email_accepted(&message(&["alice@example.com", "Someone@GMAIL.test"]))
        .await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(app.email_status(&ok).await.0["status"], "Succeeded");
    let (status, retry) = app.email_status(&failed).await;
    assert_eq!(
        status,
        json!({"id": failed, "status": "Failed", "error": {"code": "EmailDropped",
            "message": "Email was dropped after several attempts to deliver."}})
    );
    assert_eq!(retry, None);
    // Every recipient of the failed send gets a Failed report.
    let events = delivered(&app, "EmailDeliveryReportReceived", 3).await;
    let failed_reports: Vec<&Value> = events
        .iter()
        .filter(|e| e["data"]["messageId"] == failed.as_str())
        .collect();
    assert_eq!(failed_reports.len(), 2);
    assert!(
        failed_reports
            .iter()
            .all(|e| e["data"]["status"] == "Failed")
    );
    let verdict = app.admin_get("/_emulator/verify?rule=drop-gmail").await;
    assert_eq!(verdict["ok"], true, "{verdict}");
    // The journal names the rule.
    let journal = app.admin_get("/_emulator/journal?rule=drop-gmail").await;
    assert_eq!(journal["value"].as_array().expect("value").len(), 1);
}

#[tokio::test]
async fn rules_script_canceled_sends_custom_errors_and_slow_completion() {
    let (app, _hook) = app_with(json!([
        {"name": "cancel", "match": {"operation": "Email.Send", "to": "cancel@example.com"},
         "email": {"result": {"status": "Canceled", "code": "UserCanceled", "message": "Stopped."}}},
        {"name": "slow", "match": {"operation": "Email.Send", "from": "*@acacacac-0000-4000-8000-000000000001.azurecomm.net",
                                   "body": {"/content/subject": "slow"}},
         "email": {"completeAfter": "5s"}},
    ]))
    .await;
    app.freeze();
    let canceled = app.email_accepted(&message(&["cancel@example.com"])).await;
    app.advance_secs(1);
    assert_eq!(
        app.email_status(&canceled).await.0,
        json!({"id": canceled, "status": "Canceled", "error": {"code": "UserCanceled", "message": "Stopped."}})
    );
    let mut m = message(&["alice@example.com"]);
    m["content"]["subject"] = json!("slow");
    let res = app.send_email(&m).await;
    assert_eq!(res.headers()["retry-after"], "5");
    let slow = body(res).await["id"].as_str().expect("id").to_string();
    app.advance_secs(4);
    assert_eq!(app.email_status(&slow).await.0["status"], "Running");
    app.advance_secs(1);
    assert_eq!(app.email_status(&slow).await.0["status"], "Succeeded");
}

#[tokio::test]
async fn address_patterns_script_bounces_and_suppressions_per_recipient() {
    let (app, _hook) = app_with(json!([
        {"name": "bounces", "match": {"operation": "Email.Send", "to": "*@bounce.example.com"},
         "email": {"deliveryReport": {"status": "Bounced", "details": "550 5.1.1 No such user", "after": "2s"}}},
        {"name": "suppressed", "match": {"operation": "Email.Send", "to": ["blocked@example.com", "spam-*@example.com"]},
         "email": {"deliveryReport": {"status": "Suppressed"}}},
    ]))
    .await;
    let mut m = message(&["ok@example.com", "nobody@bounce.example.com"]);
    m["recipients"]["bcc"] = json!([{"address": "blocked@example.com"}]);
    let id = app.email_accepted(&m).await;
    let events = delivered(&app, "EmailDeliveryReportReceived", 3).await;
    let status_of = |who: &str| {
        events
            .iter()
            .find(|e| e["data"]["recipient"] == who)
            .map(|e| e["data"]["status"].clone())
    };
    assert_eq!(status_of("ok@example.com"), Some(json!("Delivered")));
    assert_eq!(
        status_of("nobody@bounce.example.com"),
        Some(json!("Bounced"))
    );
    assert_eq!(status_of("blocked@example.com"), Some(json!("Suppressed")));
    let bounce = events
        .iter()
        .find(|e| e["data"]["status"] == "Bounced")
        .expect("bounce");
    assert_eq!(
        bounce["data"]["deliveryStatusDetails"]["statusMessage"],
        "550 5.1.1 No such user"
    );
    // Some recipients failing is not the send failing.
    assert_eq!(app.email_status(&id).await.0["status"], "Succeeded");

    // Every recipient suppressed: the send fails.
    let all = app
        .email_accepted(&message(&["blocked@example.com", "spam-1@example.com"]))
        .await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, _) = app.email_status(&all).await;
    assert_eq!(status["status"], "Failed");
    assert_eq!(
        status["error"]["code"],
        "EmailDroppedAllRecipientsSuppressed"
    );
    // The inbox shows each outcome before the reports arrive.
    let inbox = app.inbox("to=spam-1@example.com").await;
    assert_eq!(inbox[0]["deliveries"][1]["recipient"], "spam-1@example.com");
    assert_eq!(inbox[0]["deliveries"][1]["status"], "Suppressed");
}

#[tokio::test]
async fn rules_throttle_sends_and_fail_status_polls() {
    let (app, _hook) = app_with(json!([
        {"name": "throttle", "match": {"operation": "Email.Send"}, "times": 1,
         "respond": {"status": 429, "headers": {"Retry-After": "1"}}},
        {"name": "poll-outage", "match": {"operation": "Email.GetSendResult"}, "times": 1,
         "respond": {"status": 503, "code": "ServiceUnavailable"}},
    ]))
    .await;
    let res = app.send_email(&message(&["alice@example.com"])).await;
    assert_eq!(res.headers()["retry-after"], "1");
    assert_error(res, 429, "TooManyRequests").await;
    assert!(
        app.inbox("").await.is_empty(),
        "a throttled send sends nothing"
    );
    let id = app.email_accepted(&message(&["alice@example.com"])).await;
    assert_error(app.poll_email(&id).await, 503, "ServiceUnavailable").await;
    assert_eq!(app.poll_email(&id).await.status(), 200);
}

#[tokio::test]
async fn bad_email_rules_are_refused_with_the_reason() {
    let app = crate::helpers::spawn_app().await;
    for (rule, expected) in [
        (
            json!({"name": "x", "match": {"operation": "Sms.Send"}, "email": {"completeAfter": "1s"}}),
            "Email.Send",
        ),
        (
            json!({"name": "x", "match": {"operation": "Email.Send"}, "email": {}}),
            "email needs",
        ),
        (
            json!({"name": "x", "match": {"operation": "Email.Send", "to": "not-an-address"}, "email": {"completeAfter": "1s"}}),
            "not an email address",
        ),
        (
            json!({"name": "x", "match": {"operation": "Email.Send", "to": "+14255550123"}, "email": {"completeAfter": "1s"}}),
            "not an email address",
        ),
        (
            json!({"name": "x", "match": {"operation": "Email.Send"},
                "email": {"result": {"status": "Failed"}, "deliveryReport": {"status": "Bounced"}}}),
            "give result or deliveryReport",
        ),
        (
            json!({"name": "x", "match": {"operation": "Email.Send"}, "email": {"deliveryReport": {"status": "Expanded"}}}),
            "unknown variant",
        ),
        (
            json!({"name": "x", "match": {"operation": "Email.Send"}, "email": {"result": {"status": "Succeeded"}}}),
            "unknown variant",
        ),
        (
            json!({"name": "x", "match": {"operation": ["Email.*", "Sms.Send"], "to": "*@x.com"}, "respond": {"status": 500}}),
            "operations only",
        ),
    ] {
        let res = app
            .client
            .post(format!("{}/_emulator/fixtures", app.http))
            .json(&json!({"rules": [rule]}))
            .send()
            .await
            .expect("sent");
        let text = assert_error(res, 400, "InvalidFixture").await;
        assert!(text.contains(expected), "{text} should contain {expected}");
    }
}

#[tokio::test]
async fn engagement_is_reported_on_request_unless_tracking_is_off() {
    let (app, _hook) = app_with(json!([])).await;
    let id = app.email_accepted(&message(&["alice@example.com"])).await;
    let engage = |body: Value| {
        let client = app.client.clone();
        let url = format!("{}/_emulator/emails/{id}/engagement", app.http);
        async move { client.post(url).json(&body).send().await.expect("sent") }
    };
    // Not delivered yet: refused.
    let res = engage(json!({"recipient": "alice@example.com", "engagementType": "view"})).await;
    assert_error(res, 409, "EngagementNotTracked").await;
    delivered(&app, "EmailDeliveryReportReceived", 1).await;
    let res = engage(
        json!({"recipient": "ALICE@example.com", "engagementType": "click",
        "engagementContext": "https://contoso.com/offer", "userAgent": "Desktop"}),
    )
    .await;
    assert_eq!(res.status(), 202);
    let events = delivered(&app, "EmailEngagementTrackingReportReceived", 1).await;
    let data = &events[0]["data"];
    assert_eq!(
        *data,
        json!({
            "sender": SENDER,
            "recipient": "alice@example.com",
            "messageId": id,
            "internetMessageId": format!("<{id}@acacacac-0000-4000-8000-000000000001.azurecomm.net>"),
            "userActionTimestamp": data["userActionTimestamp"],
            "engagementContext": "https://contoso.com/offer",
            "userAgent": "Desktop",
            "engagementType": "click",
        })
    );
    assert_eq!(
        events[0]["subject"],
        format!("sender/{SENDER}/message/{id}")
    );
    for (body, status, code) in [
        (
            json!({"recipient": "mallory@example.com", "engagementType": "view"}),
            409,
            "EngagementNotTracked",
        ),
        (
            json!({"recipient": "alice@example.com", "engagementType": "forward"}),
            400,
            "ValidationError",
        ),
        (
            json!({"recipient": "alice@example.com"}),
            400,
            "InvalidRequestBody",
        ),
    ] {
        assert_error(engage(body).await, status, code).await;
    }
    // userEngagementTrackingDisabled: nothing is tracked.
    let mut m = message(&["alice@example.com"]);
    m["userEngagementTrackingDisabled"] = json!(true);
    let quiet = app.email_accepted(&m).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let res = app
        .client
        .post(format!("{}/_emulator/emails/{quiet}/engagement", app.http))
        .json(&json!({"recipient": "alice@example.com", "engagementType": "view"}))
        .send()
        .await
        .expect("sent");
    let text = assert_error(res, 409, "EngagementNotTracked").await;
    assert!(text.contains("userEngagementTrackingDisabled"), "{text}");
    let res = app
        .client
        .post(format!("{}/_emulator/emails/nope/engagement", app.http))
        .json(&json!({"recipient": "alice@example.com", "engagementType": "view"}))
        .send()
        .await
        .expect("sent");
    assert_error(res, 404, "NotFound").await;
}

#[tokio::test]
async fn a_reset_drops_delivery_reports_not_yet_due() {
    let mut config = events_config();
    config.email.email_delivery_report_delay = Duration::from_secs(3600);
    let app = spawn_with(config).await;
    let hook = Webhook::start().await;
    app.subscribe(&json!({"name": "mail", "endpoint": hook.url}))
        .await;
    app.email_accepted(&message(&["alice@example.com"])).await;
    app.reset().await;
    app.subscribe(&json!({"name": "again", "endpoint": hook.url}))
        .await;
    app.advance_secs(7200);
    app.state.events.clock_changed();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        app.events_now("type=EmailDeliveryReportReceived")
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn cloud_events_subscriptions_get_email_events_in_their_schema() {
    let app = spawn_events_app().await;
    let hook = Webhook::start().await;
    app.subscribe(
        &json!({"name": "cloud", "endpoint": hook.url, "schema": "CloudEventSchemaV1_0",
        "eventTypes": ["EmailDeliveryReportReceived"]}),
    )
    .await;
    let id = app.email_accepted(&message(&["alice@example.com"])).await;
    let events = delivered(&app, "EmailDeliveryReportReceived", 1).await;
    let event = &events[0];
    assert_eq!(
        event["type"],
        "Microsoft.Communication.EmailDeliveryReportReceived"
    );
    assert_eq!(event["source"], TOPIC);
    assert_eq!(event["specversion"], "1.0");
    assert_eq!(event["subject"], format!("sender/{SENDER}/message/{id}"));
    assert_eq!(event["data"]["messageId"], id.as_str());
    assert_eq!(event["data"]["status"], "Delivered");
}
