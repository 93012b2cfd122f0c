//! Opt-outs (`/sms/optouts:add|remove|check`) and delivery reports (`/deliveryReports/{id}`).

use acs_emulator::Config;
use chrono::{TimeDelta, Utc};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, assert_problem, body, spawn_app, spawn_with};
use crate::sms::{FROM, assert_accepted, send_body};

const V2026: &str = "2026-01-23";

async fn opt_out(app: &TestApp, action: &str, from: &str, to: &[&str]) -> reqwest::Response {
    let request = json!({
        "from": from,
        "recipients": to.iter().map(|t| json!({"to": t})).collect::<Vec<_>>(),
    });
    app.signed_json(
        "POST",
        &format!("/sms/optouts:{action}?api-version={V2026}"),
        &request,
    )
    .await
}

async fn opt_out_items(app: &TestApp, action: &str, to: &[&str]) -> Value {
    let res = opt_out(app, action, FROM, to).await;
    assert_eq!(res.status(), 200, "{action}");
    body(res).await
}

fn item(to: &str, opted_out: bool) -> Value {
    json!({"to": to, "httpStatusCode": 200, "isOptedOut": opted_out})
}

#[tokio::test]
async fn add_check_and_remove_keep_per_sender_state() {
    let app = spawn_app().await;
    let to = ["+14255550123", "+14255550124"];

    let check = opt_out_items(&app, "check", &to).await;
    assert_eq!(
        check,
        json!({"value": [item(to[0], false), item(to[1], false)]})
    );

    let add = opt_out_items(&app, "add", &to[..1]).await;
    assert_eq!(add, json!({"value": [item(to[0], true)]}));
    let check = opt_out_items(&app, "check", &to).await;
    assert_eq!(
        check,
        json!({"value": [item(to[0], true), item(to[1], false)]})
    );

    let remove = opt_out_items(&app, "remove", &to[..1]).await;
    assert_eq!(remove, json!({"value": [item(to[0], false)]}));
    let check = opt_out_items(&app, "check", &to[..1]).await;
    assert_eq!(check, json!({"value": [item(to[0], false)]}));
}

#[tokio::test]
async fn opt_outs_belong_to_one_sender() {
    let mut config = Config::for_tests();
    config.sms.phone_numbers = vec![FROM.into(), "+18005550101".into()];
    let app = spawn_with(config).await;
    opt_out_items(&app, "add", &["+14255550123"]).await;
    let res = opt_out(&app, "check", "+18005550101", &["+14255550123"]).await;
    assert_eq!(
        body(res).await,
        json!({"value": [item("+14255550123", false)]})
    );
}

#[tokio::test]
async fn a_send_to_an_opted_out_recipient_fails_for_that_recipient_only() {
    let app = spawn_app().await;
    opt_out_items(&app, "add", &["+14255550123"]).await;

    let res = app
        .send_sms(&send_body(&["+14255550123", "+14255550124"], "hi"))
        .await;

    assert_eq!(res.status(), 202);
    let body = body(res).await;
    assert_eq!(
        body["value"][0],
        json!({"to": "+14255550123", "httpStatusCode": 403,
               "errorMessage": "The recipient has opted out of receiving messages from this sender.",
               "successful": false})
    );
    assert_accepted(&body["value"][1], "+14255550124", None);

    opt_out_items(&app, "remove", &["+14255550123"]).await;
    let res = app.send_sms(&send_body(&["+14255550123"], "hi")).await;
    assert_accepted(
        &crate::helpers::body(res).await["value"][0],
        "+14255550123",
        None,
    );
}

#[tokio::test]
async fn a_malformed_opt_out_recipient_fails_alone() {
    let app = spawn_app().await;
    let body = opt_out_items(&app, "add", &["+14255550123", "+123"]).await;
    assert_eq!(
        body,
        json!({"value": [
            item("+14255550123", true),
            {"to": "+123", "httpStatusCode": 400, "errorMessage": "Invalid recipient phone number format"},
        ]})
    );
}

#[tokio::test]
async fn opt_out_senders_are_validated_then_checked_for_ownership() {
    let app = spawn_app().await;
    let res = opt_out(&app, "add", "+123", &["+14255550123"]).await;
    assert_eq!(
        assert_problem(res, 400).await,
        json!({"From": ["Invalid from phone number format."]})
    );
    let res = opt_out(&app, "add", "+14255550123", &["+14255550123"]).await;
    assert_eq!(res.status(), 401);
    assert_eq!(
        body(res).await,
        json!({"error": {"code": "Unauthorized", "message": ""}})
    );
    let res = opt_out(&app, "check", FROM, &[]).await;
    assert_eq!(
        assert_problem(res, 400).await,
        json!({"Recipients": ["The field Recipients must be a string or array type with a minimum length of '1'."]})
    );
}

#[tokio::test]
async fn opt_outs_need_an_api_version_that_has_them() {
    let app = spawn_app().await;
    let request = json!({"from": FROM, "recipients": [{"to": "+14255550123"}]});
    let res = app
        .signed_json(
            "POST",
            "/sms/optouts:check?api-version=2021-03-07",
            &request,
        )
        .await;
    assert_error(res, 400, "InvalidApiVersion").await;
    let res = app
        .signed_json(
            "POST",
            "/sms/optouts:check?api-version=2025-05-29-preview",
            &request,
        )
        .await;
    assert_eq!(res.status(), 200);
    let res = app.signed_json("POST", "/sms/optouts/add", &request).await;
    assert_error(res, 404, "NotFound").await;
}

async fn send_with_report(app: &TestApp, tag: &str, message: &str) -> String {
    let mut request = send_body(&["+14255550123"], message);
    request["smsSendOptions"] = json!({"enableDeliveryReport": true, "tag": tag});
    let res = app.send_sms(&request).await;
    assert_accepted(&body(res).await["value"][0], "+14255550123", None)
}

async fn get_report(app: &TestApp, id: &str) -> reqwest::Response {
    app.signed(
        "GET",
        &format!("/deliveryReports/{id}?api-version={V2026}"),
        b"",
    )
    .await
}

#[tokio::test]
async fn a_requested_delivery_report_says_delivered_with_tag_and_segments() {
    let app = spawn_app().await;
    let now = Utc::now().with_nanosecond_zero();
    app.state
        .clock
        .freeze_at(now)
        .expect("within the clock's range");
    let id = send_with_report(&app, "custom-tag", &"a".repeat(200)).await;

    let res = get_report(&app, &id).await;

    assert_eq!(res.status(), 200);
    let at = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert_eq!(
        body(res).await,
        json!({
            "deliveryStatus": "Delivered",
            "deliveryStatusDetails": "2000: No Error",
            "deliveryAttempts": [{"timestamp": at, "segmentsSucceeded": 2, "segmentsFailed": 0}],
            "receivedTimestamp": at,
            "tag": "custom-tag",
            "messageId": id,
            "from": FROM,
            "to": "+14255550123",
        })
    );
}

#[tokio::test]
async fn no_report_was_asked_for_or_the_id_is_unknown_gives_a_404_problem() {
    let app = spawn_app().await;
    let res = app.send_sms(&send_body(&["+14255550123"], "hi")).await;
    let id = assert_accepted(&body(res).await["value"][0], "+14255550123", None);
    for id in [id.as_str(), "Outgoing_unknown", "abc123-message-id"] {
        let errors = assert_problem(get_report(&app, id).await, 404).await;
        assert_eq!(errors, Value::Null);
    }
}

#[tokio::test]
async fn reports_arrive_after_the_configured_delay_on_the_emulator_clock() {
    let mut config = Config::for_tests();
    config.sms.sms_delivery_report_delay = std::time::Duration::from_secs(30);
    let app = spawn_with(config).await;
    app.state
        .clock
        .freeze_at(Utc::now())
        .expect("within the clock's range");
    let id = send_with_report(&app, "t", "hi").await;

    assert_problem(get_report(&app, &id).await, 404).await;
    app.state
        .clock
        .advance(TimeDelta::seconds(30))
        .expect("within the clock's range");
    let res = get_report(&app, &id).await;
    assert_eq!(res.status(), 200);
    assert_eq!(body(res).await["deliveryStatus"], "Delivered");
}

#[tokio::test]
async fn delivery_reports_need_their_api_version() {
    let app = spawn_app().await;
    let id = send_with_report(&app, "t", "hi").await;
    let res = app
        .signed(
            "GET",
            &format!("/deliveryReports/{id}?api-version=2021-03-07"),
            b"",
        )
        .await;
    assert_error(res, 400, "InvalidApiVersion").await;
    let res = app
        .signed(
            "GET",
            &format!("/deliveryReports/{id}?api-version=2025-08-01-preview"),
            b"",
        )
        .await;
    assert_eq!(res.status(), 200);
}

trait NanosecondZero {
    fn with_nanosecond_zero(self) -> Self;
}

impl NanosecondZero for chrono::DateTime<Utc> {
    fn with_nanosecond_zero(self) -> Self {
        chrono::DateTime::from_timestamp(self.timestamp(), 0).expect("valid")
    }
}
