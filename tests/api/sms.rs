//! `POST /sms`: per-recipient results, sender ownership, validation, api-versions and auth.

use acs_emulator::Config;
use serde_json::{Value, json};

use crate::helpers::{assert_error, assert_problem, body, spawn_app, spawn_with};

pub const FROM: &str = "+18005550100";

/// A send body with SDK-style recipients (no repeatability fields) and default options.
pub fn send_body(to: &[&str], message: &str) -> Value {
    json!({
        "from": FROM,
        "smsRecipients": to.iter().map(|t| json!({"to": t})).collect::<Vec<_>>(),
        "message": message,
        "smsSendOptions": {"enableDeliveryReport": false},
    })
}

/// Asserts a successful item and returns its message id.
pub fn assert_accepted(item: &Value, to: &str, repeatability: Option<&str>) -> String {
    let id = item["messageId"].as_str().expect("messageId").to_string();
    assert!(id.starts_with("Outgoing_"), "{id}");
    let mut expected =
        json!({"to": to, "messageId": id, "httpStatusCode": 202, "successful": true});
    if let Some(r) = repeatability {
        expected["repeatabilityResult"] = json!(r);
    }
    assert_eq!(*item, expected);
    id
}

#[tokio::test]
async fn send_to_one_recipient_returns_202_with_one_accepted_item() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let res = app
        .send_sms(&send_body(&["+14255550123"], "hello single"))
        .await;

    // Assert
    assert_eq!(res.status(), 202);
    let headers = res.headers().clone();
    assert_eq!(
        headers["content-type"].to_str().expect("ascii"),
        "application/json; charset=utf-8"
    );
    assert!(
        headers["api-supported-versions"]
            .to_str()
            .expect("ascii")
            .contains("2021-03-07")
    );
    let body = body(res).await;
    let items = body["value"].as_array().expect("value");
    assert_eq!(items.len(), 1);
    let id = assert_accepted(&items[0], "+14255550123", None);
    let outbox = app.outbox("").await;
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0]["messageId"], id);
}

#[tokio::test]
async fn bad_recipients_fail_alone_in_request_order_with_the_real_messages() {
    let app = spawn_app().await;
    let to = [
        "+14255550123",
        "1425555012",
        "+1425555012345",
        "+123",
        "",
        "+447911123456",
    ];

    let res = app.send_sms(&send_body(&to, "hello multi")).await;

    assert_eq!(res.status(), 202);
    let body = body(res).await;
    let items = body["value"].as_array().expect("value");
    assert_eq!(items.len(), to.len());
    assert_accepted(&items[0], to[0], None);
    let failed = |to: &str, message: &str| json!({"to": to, "httpStatusCode": 400, "errorMessage": message, "successful": false});
    assert_eq!(
        items[1],
        failed("1425555012", "Invalid To phone number format.")
    );
    assert_eq!(items[2], failed("+1425555012345", "Unknown country code."));
    assert_eq!(items[3], failed("+123", "Invalid To phone number format."));
    assert_eq!(items[4], failed("", "Invalid To phone number format."));
    assert_accepted(&items[5], to[5], None);
    let outbox = app.outbox("").await;
    let sent: Vec<&str> = outbox
        .iter()
        .map(|m| m["to"].as_str().expect("to"))
        .collect();
    assert_eq!(sent, ["+14255550123", "+447911123456"]);
}

#[tokio::test]
async fn a_recipient_that_is_not_a_phone_number_at_all_fails_the_whole_send() {
    let app = spawn_app().await;
    for bad in [
        "Ad155500000000000",
        "+1-800-FLOWERS",
        "tel:+14255550123",
        "+1425555\u{0661}23",
    ] {
        let res = app
            .send_sms(&send_body(&["+14255550123", bad, "+123"], "hello"))
            .await;

        let errors = assert_problem(res, 400).await;
        assert_eq!(
            errors,
            json!({"SmsRecipients[1].To": ["Invalid To phone number format."]}),
            "{bad}"
        );
    }
    // Nothing was sent, not even to the good recipient.
    assert!(app.outbox("").await.is_empty());
}

#[tokio::test]
async fn a_sender_the_resource_does_not_own_is_401_with_an_empty_message() {
    let app = spawn_app().await;
    for from in [
        "+15550000000",
        "+14255550123",
        "+1425555012345",
        "not a number",
    ] {
        let mut request = send_body(&["+14255550123"], "hello");
        request["from"] = json!(from);

        let res = app.send_sms(&request).await;

        assert_eq!(res.status(), 401, "{from}");
        assert!(
            res.headers()["content-type"]
                .to_str()
                .expect("ascii")
                .starts_with("application/json")
        );
        assert_eq!(
            body(res).await,
            json!({"error": {"code": "Unauthorized", "message": ""}}),
            "{from}"
        );
    }
    assert!(app.outbox("").await.is_empty());
}

#[tokio::test]
async fn configured_phone_numbers_replace_the_default_sender() {
    let mut config = Config::for_tests();
    config.sms.phone_numbers = vec!["+447700900123".into(), "+18005550199".into()];
    let app = spawn_with(config).await;

    let mut request = send_body(&["+14255550123"], "hi");
    for (from, status) in [("+447700900123", 202), ("+18005550199", 202), (FROM, 401)] {
        request["from"] = json!(from);
        assert_eq!(app.send_sms(&request).await.status(), status, "{from}");
    }
}

#[test]
fn a_malformed_phone_number_flag_is_a_configuration_error() {
    let mut config = Config::for_tests();
    config.sms.phone_numbers = vec!["+1800".into()];
    let err = config.validate().expect_err("rejected");
    assert!(err.to_string().contains("--phone-number '+1800'"), "{err}");
}

#[tokio::test]
async fn two_identical_sends_get_different_message_ids() {
    let app = spawn_app().await;
    let request = send_body(&["+14255550123"], "same");
    let first = body(app.send_sms(&request).await).await;
    let second = body(app.send_sms(&request).await).await;
    assert_ne!(
        first["value"][0]["messageId"],
        second["value"][0]["messageId"]
    );
    assert_eq!(app.outbox("").await.len(), 2);
}

#[tokio::test]
async fn recipient_count_message_size_and_required_fields_are_validated_as_400_problems() {
    let app = spawn_app().await;
    let many: Vec<String> = (0..101).map(|i| format!("+1425555{i:04}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let cases = [
        (
            send_body(&[], "hi"),
            json!({"SmsRecipients": ["The field SmsRecipients must be a string or array type with a minimum length of '1'."]}),
        ),
        (
            send_body(&many, "hi"),
            json!({"SmsRecipients": ["The field SmsRecipients must be a string or array type with a maximum length of '100'."]}),
        ),
        (
            send_body(&["+14255550123"], &"a".repeat(2049)),
            json!({"Message": ["The field Message must be a string or array type with a maximum length of '2048'."]}),
        ),
        (
            json!({"smsRecipients": [{"to": "+14255550123"}, {}]}),
            json!({
                "From": ["The From field is required."],
                "Message": ["The Message field is required."],
                "SmsRecipients[1].To": ["The To field is required."],
            }),
        ),
        (
            json!({"from": FROM, "message": "hi", "smsSendOptions": {"tag": "t"}}),
            json!({
                "SmsRecipients": ["The SmsRecipients field is required."],
                "SmsSendOptions.EnableDeliveryReport": ["The EnableDeliveryReport field is required."],
            }),
        ),
        (
            json!({"from": FROM, "message": "hi", "smsRecipients": [{"to": "+14255550123"}],
                   "smsSendOptions": {"enableDeliveryReport": true, "deliveryReportTimeoutInSeconds": 59}}),
            json!({"SmsSendOptions.DeliveryReportTimeoutInSeconds": ["The field DeliveryReportTimeoutInSeconds must be between 60 and 43200."]}),
        ),
    ];
    for (request, errors) in cases {
        let res = app.send_sms(&request).await;
        assert_eq!(assert_problem(res, 400).await, errors, "{request}");
    }
    // Exactly 100 recipients and 2048 characters are fine.
    let res = app
        .send_sms(&send_body(&many[..100], &"a".repeat(2048)))
        .await;
    assert_eq!(res.status(), 202);
    assert_eq!(app.outbox("").await.len(), 100);
}

#[tokio::test]
async fn validation_comes_before_the_sender_check() {
    let app = spawn_app().await;
    let mut request = send_body(&[], "hi");
    request["from"] = json!("+15550000000");
    assert_problem(app.send_sms(&request).await, 400).await;
}

#[tokio::test]
async fn malformed_bodies_are_400_problems() {
    let app = spawn_app().await;
    let target = "/sms?api-version=2021-03-07";
    let res = app.signed("POST", target, b"{not json").await;
    let errors = assert_problem(res, 400).await;
    assert!(
        errors["$"][0].as_str().expect("message").contains("JSON"),
        "{errors}"
    );
    let res = app.signed("POST", target, b"").await;
    assert_eq!(
        assert_problem(res, 400).await,
        json!({"": ["A non-empty request body is required."]})
    );
}

#[tokio::test]
async fn every_supported_api_version_sends_and_others_are_rejected() {
    let app = spawn_app().await;
    let request = send_body(&["+14255550123"], "hi");
    for version in acs_emulator::api::sms::SEND_VERSIONS {
        let res = app
            .signed_json("POST", &format!("/sms?api-version={version}"), &request)
            .await;
        assert_eq!(res.status(), 202, "{version}");
    }
    let res = app.signed_json("POST", "/sms", &request).await;
    let message = assert_error(res, 400, "ApiVersionUnspecified").await;
    assert_eq!(
        message,
        "An API version is required, but was not specified."
    );
    let res = app
        .signed_json("POST", "/sms?api-version=2020-01-01", &request)
        .await;
    let message = assert_error(res, 400, "InvalidApiVersion").await;
    assert_eq!(
        message,
        "The HTTP resource that matches the request URI '/sms?api-version=2020-01-01' does not support the API version '2020-01-01'."
    );
}

#[tokio::test]
async fn a_tampered_body_or_no_signature_is_401_denied() {
    let app = spawn_app().await;
    let target = "/sms?api-version=2021-03-07";
    let signed = send_body(&["+14255550123"], "hello").to_string();
    let tampered = send_body(&["+14255550123"], "hellO").to_string();
    let s = app.sign("POST", target, signed.as_bytes());
    let mut headers = s.headers().to_vec();
    headers.push(("content-type", "application/json"));
    let res = app
        .send("POST", target, &headers, tampered.as_bytes())
        .await;
    assert_error(res, 401, "Denied").await;
    let res = app
        .send(
            "POST",
            target,
            &[("content-type", "application/json")],
            signed.as_bytes(),
        )
        .await;
    assert_error(res, 401, "Denied").await;
    assert!(app.outbox("").await.is_empty());
}

#[tokio::test]
async fn sends_work_over_https_with_the_https_host_signed() {
    let app = spawn_app().await;
    let target = "/sms?api-version=2021-03-07";
    let request = send_body(&["+14255550123"], "over tls").to_string();
    let host = app.https.trim_start_matches("https://").to_string();
    let s = app.sign_with(
        &app.key,
        "POST",
        target,
        &app.date_now(),
        &host,
        request.as_bytes(),
    );
    let res = app
        .client
        .post(format!("{}{target}", app.https))
        .header("x-ms-date", &s.date)
        .header("x-ms-content-sha256", &s.content_hash)
        .header("authorization", &s.authorization)
        .header("content-type", "application/json")
        .body(request)
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 202);
    assert_accepted(&body(res).await["value"][0], "+14255550123", None);
}

#[tokio::test]
async fn an_entra_id_bearer_token_also_authenticates_a_send() {
    let app = spawn_app().await;
    let token = crate::entra::entra_token(&app, crate::entra::ACS_SCOPE).await;
    let res = app
        .client
        .post(format!("{}/sms?api-version=2021-03-07", app.https))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(send_body(&["+14255550123"], "with entra").to_string())
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 202);
    assert_accepted(&body(res).await["value"][0], "+14255550123", None);

    let res = app
        .client
        .post(format!("{}/sms?api-version=2021-03-07", app.https))
        .bearer_auth("not-a-token")
        .header("content-type", "application/json")
        .body(send_body(&["+14255550123"], "with entra").to_string())
        .send()
        .await
        .expect("sent");
    assert_error(res, 401, "InvalidAuthenticationToken").await;
    assert_eq!(app.outbox("").await.len(), 1);
}

#[tokio::test]
async fn a_send_signed_by_the_js_sdk_verifies() {
    // Captured from @azure/communication-sms 1.1.0 over HTTPS (sdk-behaviour.md §4).
    let mut config = Config::for_tests();
    config.resource.access_key = "hVdDYz9Wi+wSuI2bp+mG+4tyr4yBcXz/sbGASUYLJ1A=".into();
    config.sms.phone_numbers = vec!["+18005551234".into()];
    let app = spawn_with(config).await;
    let date = "Sat, 28 Nov 2026 00:52:40 GMT";
    let at: chrono::DateTime<chrono::Utc> = httpdate::parse_http_date(date).expect("date").into();
    app.state
        .clock
        .freeze_at(at)
        .expect("within the clock's range");
    let request = r#"{"from":"+18005551234","smsRecipients":[{"to":"+14255550123","repeatabilityRequestId":"44674e33-f2e1-467c-a1db-9e50165b239f","repeatabilityFirstSent":"Sat, 28 Nov 2026 00:52:40 GMT"}],"message":"hello single","smsSendOptions":{"enableDeliveryReport":false}}"#;

    let res = app
        .send(
            "POST",
            "/sms?api-version=2021-03-07",
            &[
                ("host", "127.0.0.1:18443"),
                ("x-ms-date", date),
                ("x-ms-content-sha256", "dQc2t+0mqZ9yT56Xy0Cmq2VmQkiFAB/pEm/T69zkRDo="),
                (
                    "authorization",
                    "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=wOQSFB1ZUnimWByKtbPZUMakM1i2Nma0f4SKpdl6D+A=",
                ),
                ("content-type", "application/json"),
            ],
            request.as_bytes(),
        )
        .await;

    assert_eq!(res.status(), 202);
    assert_accepted(
        &body(res).await["value"][0],
        "+14255550123",
        Some("accepted"),
    );
}
