//! The Email API: `POST /emails:send` and its long-running operation
//! (`GET /emails/operations/{id}`): timing on the emulator clock, `Operation-Id`
//! repeatability, authentication, sender domains, validation with the service's codes, and the
//! 10 MB request limit.

use std::time::Duration;

use acs_emulator::Config;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{TimeDelta, Utc};
use reqwest::Response;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, body, spawn_app, spawn_with};

/// The api-version the released SDKs (1.1.0) send.
pub const V: &str = "2025-09-01";
/// The default resource's Azure-managed sender.
pub const SENDER: &str = "DoNotReply@acacacac-0000-4000-8000-000000000001.azurecomm.net";

/// A minimal valid message to `to`.
pub fn message(to: &[&str]) -> Value {
    json!({
        "senderAddress": SENDER,
        "content": {"subject": "Welcome", "plainText": "Hello there."},
        "recipients": {"to": to.iter().map(|a| json!({"address": a})).collect::<Vec<_>>()},
    })
}

impl TestApp {
    /// `POST /emails:send?api-version=V`, signed, over HTTP.
    pub async fn send_email(&self, body: &Value) -> Response {
        self.signed_json("POST", &format!("/emails:send?api-version={V}"), body)
            .await
    }

    /// `POST /emails:send` with extra headers (e.g. `Operation-Id`).
    pub async fn send_email_with(&self, body: &Value, extra: &[(&str, &str)]) -> Response {
        let target = format!("/emails:send?api-version={V}");
        let bytes = body.to_string();
        let s = self.sign("POST", &target, bytes.as_bytes());
        let mut headers = s.headers().to_vec();
        headers.push(("content-type", "application/json"));
        headers.extend_from_slice(extra);
        self.send("POST", &target, &headers, bytes.as_bytes()).await
    }

    /// Sends `body`; asserts 202 and returns the operation id.
    pub async fn email_accepted(&self, body: &Value) -> String {
        let res = self.send_email(body).await;
        let status = res.status();
        let body = crate::helpers::body(res).await;
        assert_eq!(status, 202, "{body}");
        body["id"].as_str().expect("id").to_string()
    }

    /// `GET /emails/operations/{id}?api-version=V`, signed.
    pub async fn poll_email(&self, id: &str) -> Response {
        self.signed(
            "GET",
            &format!("/emails/operations/{id}?api-version={V}"),
            b"",
        )
        .await
    }

    /// Polls; asserts 200 and returns (status, retry-after).
    pub async fn email_status(&self, id: &str) -> (Value, Option<String>) {
        let res = self.poll_email(id).await;
        assert_eq!(res.status(), 200);
        let retry = res
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().expect("ascii").to_string());
        (crate::helpers::body(res).await, retry)
    }

    /// Moves the emulator clock on by `secs`.
    pub fn advance_secs(&self, secs: i64) {
        self.state
            .clock
            .advance(TimeDelta::seconds(secs))
            .expect("within the clock's range");
    }

    /// Freezes the emulator clock now.
    pub fn freeze(&self) {
        self.state
            .clock
            .freeze_at(Utc::now())
            .expect("within the clock's range");
    }
}

#[tokio::test]
async fn a_send_answers_202_running_with_an_absolute_operation_location_and_whole_seconds() {
    // Arrange
    let app = spawn_app().await;
    app.freeze();

    // Act
    let res = app.send_email(&message(&["alice@example.com"])).await;

    // Assert
    assert_eq!(res.status(), 202);
    let headers = res.headers().clone();
    let body = body(res).await;
    let id = body["id"].as_str().expect("id").to_string();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
    assert_eq!(body, json!({"id": id, "status": "Running"}));
    assert_eq!(
        headers["operation-location"],
        format!("{}/emails/operations/{id}?api-version={V}", app.http).as_str()
    );
    assert_eq!(headers["retry-after"], "1");
    assert_eq!(headers["api-supported-versions"], "2023-03-31, 2025-09-01");
    assert!(
        headers["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("application/json")
    );
}

#[tokio::test]
async fn the_operation_runs_for_the_completion_delay_on_the_emulator_clock() {
    let app = spawn_app().await;
    app.freeze();
    let id = app.email_accepted(&message(&["alice@example.com"])).await;

    let (running, retry) = app.email_status(&id).await;
    assert_eq!(running, json!({"id": id, "status": "Running"}));
    assert_eq!(retry.as_deref(), Some("1"));

    app.advance_secs(1);
    let (done, retry) = app.email_status(&id).await;
    assert_eq!(done, json!({"id": id, "status": "Succeeded"}));
    assert_eq!(retry, None, "retry-after only while unfinished");
}

#[tokio::test]
async fn the_completion_delay_is_configurable_and_retry_after_counts_down() {
    let mut config = Config::for_tests();
    config.email.email_completion_delay = Duration::from_secs(5);
    let app = spawn_with(config).await;
    app.freeze();
    let res = app.send_email(&message(&["alice@example.com"])).await;
    assert_eq!(res.headers()["retry-after"], "5");
    let id = body(res).await["id"].as_str().expect("id").to_string();
    app.advance_secs(3);
    assert_eq!(app.email_status(&id).await.1.as_deref(), Some("2"));
    app.advance_secs(2);
    assert_eq!(app.email_status(&id).await.0["status"], "Succeeded");

    // With no delay the first poll succeeds, but the 202 still says Running (a terminal status
    // there would make the Python SDK stop without polling).
    let mut config = Config::for_tests();
    config.email.email_completion_delay = Duration::ZERO;
    let app = spawn_with(config).await;
    let res = app.send_email(&message(&["alice@example.com"])).await;
    assert_eq!(res.headers()["retry-after"], "1");
    let accepted = body(res).await;
    assert_eq!(accepted["status"], "Running");
    let id = accepted["id"].as_str().expect("id");
    assert_eq!(app.email_status(id).await.0["status"], "Succeeded");
}

#[tokio::test]
async fn the_operation_location_names_the_host_and_scheme_the_client_called() {
    let app = spawn_app().await;
    let target = format!("/emails:send?api-version={V}");
    let bytes = message(&["alice@example.com"]).to_string();
    let res = app
        .client
        .post(format!("{}{target}", app.https))
        .header("content-type", "application/json")
        .header(
            "authorization",
            format!(
                "Bearer {}",
                crate::entra::entra_token(&app, "https://communication.azure.com//.default").await
            ),
        )
        .body(bytes)
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 202, "an Entra ID token is accepted");
    let link = res.headers()["operation-location"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(
        link.starts_with(&format!("{}/emails/operations/", app.https)),
        "{link}"
    );
    assert!(link.ends_with("?api-version=2025-09-01"), "{link}");
}

#[tokio::test]
async fn both_stable_versions_are_served_and_others_refused() {
    let app = spawn_app().await;
    for version in ["2023-03-31", "2025-09-01"] {
        let target = format!("/emails:send?api-version={version}");
        let res = app
            .signed_json("POST", &target, &message(&["a@example.com"]))
            .await;
        assert_eq!(res.status(), 202, "{version}");
        let link = res.headers()["operation-location"]
            .to_str()
            .expect("ascii")
            .to_string();
        assert!(link.ends_with(&format!("?api-version={version}")), "{link}");
    }
    let res = app
        .signed_json(
            "POST",
            "/emails:send?api-version=2021-10-01-preview",
            &message(&["a@example.com"]),
        )
        .await;
    assert_error(res, 400, "InvalidApiVersion").await;
    let res = app
        .signed_json("POST", "/emails:send", &message(&["a@example.com"]))
        .await;
    assert_error(res, 400, "ApiVersionUnspecified").await;
    // The poll may leave the api-version out.
    let id = app.email_accepted(&message(&["a@example.com"])).await;
    let res = app
        .signed("GET", &format!("/emails/operations/{id}"), b"")
        .await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn an_operation_id_names_the_operation_and_a_repeat_returns_it_without_sending() {
    let app = spawn_app().await;
    app.freeze();
    let op = "8540C0DE-899F-5CCE-ACB5-3EC493AF3800";
    let res = app
        .send_email_with(&message(&["alice@example.com"]), &[("Operation-Id", op)])
        .await;
    assert_eq!(res.status(), 202);
    assert_eq!(body(res).await, json!({"id": op, "status": "Running"}));

    // The same id (any case), even with another body: the first operation, nothing sent.
    let res = app
        .send_email_with(
            &message(&["bob@example.com"]),
            &[("Operation-Id", &op.to_lowercase())],
        )
        .await;
    assert_eq!(res.status(), 202);
    assert_eq!(res.headers()["retry-after"], "1");
    assert_eq!(body(res).await, json!({"id": op, "status": "Running"}));
    assert_eq!(app.state.store().email.sent(&Default::default()).len(), 1);

    // Once finished, a repeat says so (and carries no retry-after).
    app.advance_secs(2);
    let res = app
        .send_email_with(&message(&["alice@example.com"]), &[("Operation-Id", op)])
        .await;
    assert!(res.headers().get("retry-after").is_none());
    assert_eq!(body(res).await, json!({"id": op, "status": "Succeeded"}));
    let (status, _) = app.email_status(&op.to_lowercase()).await;
    assert_eq!(status["id"], op);

    let res = app
        .send_email_with(
            &message(&["a@example.com"]),
            &[("Operation-Id", "not-a-uuid")],
        )
        .await;
    assert_eq!(res.headers()["x-ms-error-code"], "InvalidOperationId");
    assert_error(res, 400, "InvalidOperationId").await;
}

#[tokio::test]
async fn an_unknown_operation_is_404_with_the_error_code_header() {
    let app = spawn_app().await;
    let res = app.poll_email("0b5e3b7a-8c1d-4d5e-9f00-000000000000").await;
    assert_eq!(res.headers()["x-ms-error-code"], "NotFound");
    assert_error(res, 404, "NotFound").await;
    // Operations belong to their resource: another resource's key cannot see them.
    let id = app.email_accepted(&message(&["a@example.com"])).await;
    assert_eq!(app.poll_email(&id).await.status(), 200);
}

#[tokio::test]
async fn unsigned_or_badly_signed_requests_are_401() {
    let app = spawn_app().await;
    let bytes = message(&["a@example.com"]).to_string();
    let target = format!("/emails:send?api-version={V}");
    let res = app
        .send(
            "POST",
            &target,
            &[("content-type", "application/json")],
            bytes.as_bytes(),
        )
        .await;
    assert_error(res, 401, "Denied").await;
    // A tampered body fails the content hash.
    let s = app.sign("POST", &target, bytes.as_bytes());
    let mut headers = s.headers().to_vec();
    headers.push(("content-type", "application/json"));
    let tampered = bytes.replace("Welcome", "Welcom3");
    let res = app
        .send("POST", &target, &headers, tampered.as_bytes())
        .await;
    assert_error(res, 401, "Denied").await;
    let res = app
        .send(
            "GET",
            &format!("/emails/operations/x?api-version={V}"),
            &[],
            b"",
        )
        .await;
    assert_error(res, 401, "Denied").await;
    assert!(app.state.store().email.sent(&Default::default()).is_empty());
    // Unknown paths under /emails authenticate, then 404 with the supported versions.
    let res = app
        .signed("GET", &format!("/emails/nope?api-version={V}"), b"")
        .await;
    assert_eq!(
        res.headers()["api-supported-versions"],
        "2023-03-31, 2025-09-01"
    );
    assert_error(res, 404, "NotFound").await;
}

#[tokio::test]
async fn the_sender_must_be_on_a_linked_domain() {
    let mut config = Config::for_tests();
    config.email.email_domains = vec!["Contoso.com".into()];
    let app = spawn_with(config).await;
    let mut m = message(&["a@example.com"]);
    // Any user name on the Azure-managed domain, any case.
    m["senderAddress"] = json!("Alerts@ACACACAC-0000-4000-8000-000000000001.azurecomm.net");
    assert_eq!(app.send_email(&m).await.status(), 202);
    m["senderAddress"] = json!("noreply@contoso.COM");
    assert_eq!(app.send_email(&m).await.status(), 202);
    for sender in [
        "noreply@fabrikam.com",
        "noreply@mail.contoso.com",
        "DoNotReply@00000000-0000-0000-0000-000000000000.azurecomm.net",
    ] {
        m["senderAddress"] = json!(sender);
        let res = app.send_email(&m).await;
        assert_eq!(res.headers()["x-ms-error-code"], "DomainNotLinked");
        let text = assert_error(res, 404, "DomainNotLinked").await;
        assert_eq!(text, "The specified sender domain has not been linked.");
    }
}

#[test]
fn a_bad_email_domain_flag_is_refused_at_start_up() {
    let mut config = Config::for_tests();
    config.email.email_domains = vec!["not a domain".into()];
    let err = config.validate().expect_err("refused").to_string();
    assert!(err.contains("--email-domain"), "{err}");
}

/// Applies `edit` to a valid message and asserts the answer's status and code.
async fn refused(app: &TestApp, edit: impl FnOnce(&mut Value), status: u16, code: &str) -> String {
    let mut m = message(&["alice@example.com"]);
    edit(&mut m);
    let res = app.send_email(&m).await;
    let header = res
        .headers()
        .get("x-ms-error-code")
        .map(|v| v.to_str().expect("ascii").to_string());
    let text = assert_error(res, status, code).await;
    assert_eq!(header.as_deref(), Some(code), "{text}");
    text
}

#[tokio::test]
async fn missing_required_fields_are_400_validation_errors_naming_the_field() {
    let app = spawn_app().await;
    type Edit = fn(&mut Value);
    let cases: Vec<(Edit, &str)> = vec![
        (
            |m| drop(m.as_object_mut().map(|o| o.remove("senderAddress"))),
            "senderAddress",
        ),
        (|m| m["senderAddress"] = json!(""), "senderAddress"),
        (
            |m| drop(m.as_object_mut().map(|o| o.remove("content"))),
            "content",
        ),
        (
            |m| m["content"] = json!({"plainText": "x"}),
            "content.subject",
        ),
        (|m| m["content"]["subject"] = json!(""), "content.subject"),
        (|m| m["content"] = json!({"subject": "s"}), "content"),
        (
            |m| m["content"] = json!({"subject": "s", "html": ""}),
            "content",
        ),
        (
            |m| drop(m.as_object_mut().map(|o| o.remove("recipients"))),
            "recipients",
        ),
        (
            |m| m["recipients"] = json!({"cc": [{"address": "a@example.com"}]}),
            "recipients.to",
        ),
        (|m| m["recipients"] = json!({"to": []}), "recipients"),
        (
            |m| m["recipients"]["to"] = json!([{"displayName": "A"}]),
            "recipients.to[0].address",
        ),
        (|m| m["replyTo"] = json!([{}]), "replyTo[0].address"),
        (
            |m| {
                m["attachments"] = json!([{"contentType": "text/plain", "contentInBase64": "aGk="}])
            },
            "attachments[0].name",
        ),
        (
            |m| m["attachments"] = json!([{"name": "a.txt", "contentInBase64": "aGk="}]),
            "attachments[0].contentType",
        ),
        (
            |m| m["attachments"] = json!([{"name": "a.txt", "contentType": "text/plain"}]),
            "attachments[0].contentInBase64",
        ),
    ];
    for (edit, target) in cases {
        let mut m = message(&["alice@example.com"]);
        edit(&mut m);
        let res = app.send_email(&m).await;
        assert_eq!(res.status(), 400, "{target}");
        let body = body(res).await;
        assert_eq!(body["error"]["code"], "ValidationError", "{target}: {body}");
        assert_eq!(body["error"]["target"], target, "{body}");
    }
    // Only cc or bcc is enough when `to` is present, even empty.
    let mut m = message(&[]);
    m["recipients"]["bcc"] = json!([{"address": "hidden@example.com"}]);
    assert_eq!(app.send_email(&m).await.status(), 202);
    assert!(app.state.store().email.sent(&Default::default()).len() == 1);
}

#[tokio::test]
async fn malformed_bodies_are_400_never_5xx() {
    let app = spawn_app().await;
    let target = format!("/emails:send?api-version={V}");
    for raw in [
        &b""[..],
        b"{",
        b"[]",
        b"null",
        br#"{"senderAddress": 5}"#,
        br#"{"recipients": {"to": "a@example.com"}}"#,
        br#"{"attachments": {}}"#,
        br#"{"headers": {"a": 1}}"#,
        br#"{"userEngagementTrackingDisabled": "yes"}"#,
    ] {
        let res = app.signed("POST", &target, raw).await;
        let status = res.status().as_u16();
        let text = String::from_utf8_lossy(raw).to_string();
        assert!(status == 400, "{text}: {status}");
    }
}

#[tokio::test]
async fn addresses_and_the_recipient_limit_are_checked() {
    let app = spawn_app().await;
    let text = refused(
        &app,
        |m| m["recipients"]["cc"] = json!([{"address": "not an address"}]),
        400,
        "InvalidEmailAddress",
    )
    .await;
    assert!(text.contains("recipients.cc[0].address"), "{text}");
    refused(
        &app,
        |m| m["senderAddress"] = json!("DoNotReply"),
        400,
        "InvalidEmailAddress",
    )
    .await;
    refused(
        &app,
        |m| m["replyTo"] = json!([{"address": "a@"}]),
        400,
        "InvalidEmailAddress",
    )
    .await;
    // 50 recipients in all are fine; 51 are not.
    let fifty: Vec<String> = (0..50).map(|n| format!("user{n}@example.com")).collect();
    let mut m = message(&[]);
    m["recipients"]["to"] = json!(
        fifty[..20]
            .iter()
            .map(|a| json!({"address": a}))
            .collect::<Vec<_>>()
    );
    m["recipients"]["cc"] = json!(
        fifty[20..40]
            .iter()
            .map(|a| json!({"address": a}))
            .collect::<Vec<_>>()
    );
    m["recipients"]["bcc"] = json!(
        fifty[40..]
            .iter()
            .map(|a| json!({"address": a}))
            .collect::<Vec<_>>()
    );
    assert_eq!(app.send_email(&m).await.status(), 202);
    m["recipients"]["bcc"]
        .as_array_mut()
        .expect("array")
        .push(json!({"address": "one-too-many@example.com"}));
    let res = app.send_email(&m).await;
    let text = assert_error(res, 400, "TooManyRecipients").await;
    assert!(text.contains("51"), "{text}");
}

fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

#[tokio::test]
async fn attachments_are_decoded_and_checked_against_the_allowed_types() {
    let app = spawn_app().await;
    let pdf = json!({"name": "a.pdf", "contentType": "application/pdf", "contentInBase64": b64(b"%PDF-1.4")});
    let exe = json!({"name": "setup.exe", "contentType": "application/x-msdownload", "contentInBase64": b64(b"MZ")});
    let text = refused(
        &app,
        |m| m["attachments"] = json!([pdf, exe]),
        400,
        "InvalidAttachmentType",
    )
    .await;
    assert!(
        text.contains("setup.exe") && text.contains("x-ms-acsemail-suppress-invalid-attachment"),
        "{text}"
    );
    refused(
        &app,
        |m| m["attachments"] = json!([{"name": "a.txt", "contentType": "text/plain", "contentInBase64": "not base64!"}]),
        400,
        "InvalidAttachment",
    )
    .await;

    // With the service's switch, invalid attachments are dropped and the email goes out.
    let mut m = message(&["alice@example.com"]);
    m["attachments"] =
        json!([pdf, exe, {"name": "b.txt", "contentType": "text/plain", "contentInBase64": "%%%"}]);
    m["headers"] = json!({"x-ms-acsemail-suppress-invalid-attachment": "true"});
    let id = app.email_accepted(&m).await;
    let sent = app.state.store().email.message(&id).expect("in the inbox");
    assert_eq!(sent.attachments.len(), 1);
    assert_eq!(sent.attachments[0].content, b"%PDF-1.4");
    assert!(
        sent.headers.is_empty(),
        "the switch is no header of the message"
    );
}

#[tokio::test]
async fn inline_attachments_need_unique_content_ids_from_2025_09_01_on() {
    let app = spawn_app().await;
    let png = |cid: &str| json!({"name": "logo.png", "contentType": "image/png", "contentInBase64": b64(b"\x89PNG"), "contentId": cid});
    let text = refused(
        &app,
        |m| m["attachments"] = json!([png("logo"), png("LOGO")]),
        400,
        "DuplicateContentId",
    )
    .await;
    assert!(
        text.contains("x-ms-acsemail-ignore-duplicate-content-id"),
        "{text}"
    );
    let mut m = message(&["alice@example.com"]);
    m["content"]["html"] = json!("<img src=\"cid:logo\">");
    m["attachments"] = json!([png("logo"), png("logo")]);
    m["headers"] = json!({"x-ms-acsemail-ignore-duplicate-content-id": "TRUE"});
    let id = app.email_accepted(&m).await;
    let sent = app.state.store().email.message(&id).expect("kept");
    assert_eq!(sent.attachments[0].content_id.as_deref(), Some("logo"));

    // 2023-03-31 has no contentId: the attachment is a regular one.
    let mut m = message(&["alice@example.com"]);
    m["attachments"] = json!([png("logo"), png("logo")]);
    let res = app
        .signed_json("POST", "/emails:send?api-version=2023-03-31", &m)
        .await;
    assert_eq!(res.status(), 202);
    let id = body(res).await["id"].as_str().expect("id").to_string();
    let sent = app.state.store().email.message(&id).expect("kept");
    assert!(sent.attachments.iter().all(|a| a.content_id.is_none()));
}

#[tokio::test]
async fn custom_headers_are_checked_and_a_message_id_is_kept() {
    let app = spawn_app().await;
    refused(
        &app,
        |m| m["headers"] = json!({"Subject": "x"}),
        400,
        "InvalidHeader",
    )
    .await;
    refused(
        &app,
        |m| m["headers"] = json!({"X-Bad": "a\r\nBcc: evil@example.com"}),
        400,
        "InvalidHeader",
    )
    .await;
    refused(
        &app,
        |m| m["headers"] = json!({"Bad Name": "x"}),
        400,
        "InvalidHeader",
    )
    .await;
    refused(
        &app,
        |m| {
            m["headers"] =
                json!({"Message-ID": "<guid>", "x-ms-acsemail-validate-message-id": "true"})
        },
        400,
        "InvalidMessageId",
    )
    .await;
    let mut m = message(&["alice@example.com"]);
    m["headers"] = json!({"ClientCorrelationId": "123", "Message-ID": "<order-42@contoso.com>"});
    let id = app.email_accepted(&m).await;
    let sent = app.state.store().email.message(&id).expect("kept");
    assert_eq!(sent.internet_message_id, "<order-42@contoso.com>");
    assert_eq!(
        sent.headers,
        vec![("ClientCorrelationId".to_string(), "123".to_string())]
    );
    // An invalid one is replaced, unless validation is asked for.
    m["headers"] = json!({"Message-ID": "guid@domain.com"});
    let id = app.email_accepted(&m).await;
    let sent = app.state.store().email.message(&id).expect("kept");
    assert_eq!(
        sent.internet_message_id,
        format!("<{id}@acacacac-0000-4000-8000-000000000001.azurecomm.net>")
    );
}

#[tokio::test]
async fn sends_take_up_to_ten_megabytes_while_other_routes_keep_the_body_limit() {
    let app = spawn_app().await;
    // 3 MB of attachment: over --max-body-bytes (1 MiB), within the email limit.
    let mut m = message(&["alice@example.com"]);
    m["attachments"] = json!([{"name": "big.zip", "contentType": "application/zip",
        "contentInBase64": b64(&vec![7u8; 3 * 1024 * 1024])}]);
    let id = app.email_accepted(&m).await;
    let sent = app.state.store().email.message(&id).expect("kept");
    assert_eq!(sent.attachments[0].content.len(), 3 * 1024 * 1024);
    // Past 10 MiB: 413.
    m["attachments"] = json!([{"name": "huge.zip", "contentType": "application/zip",
        "contentInBase64": b64(&vec![7u8; 8 * 1024 * 1024])}]);
    let res = app.send_email(&m).await;
    assert_error(res, 413, "RequestEntityTooLarge").await;
    // Other operations keep --max-body-bytes.
    let res = app
        .signed(
            "POST",
            "/identities?api-version=2023-10-01",
            &vec![b' '; 2 * 1024 * 1024],
        )
        .await;
    assert_error(res, 413, "RequestEntityTooLarge").await;
}

#[tokio::test]
async fn the_email_request_limit_is_configurable() {
    let mut config = Config::for_tests();
    config.limits.max_email_request_bytes = 4096;
    let app = spawn_with(config).await;
    let mut m = message(&["alice@example.com"]);
    m["content"]["plainText"] = json!("x".repeat(5000));
    let text = assert_error(app.send_email(&m).await, 413, "RequestEntityTooLarge").await;
    assert!(text.contains("4096"), "{text}");
    let mut config = Config::for_tests();
    config.limits.max_email_request_bytes = 0;
    let err = config.validate().expect_err("refused").to_string();
    assert!(err.contains("--max-email-request-bytes"), "{err}");
}

#[tokio::test]
async fn operations_are_journaled_and_listed_by_name() {
    let app = spawn_app().await;
    let id = app.email_accepted(&message(&["alice@example.com"])).await;
    app.poll_email(&id).await;
    let res = app
        .client
        .get(format!(
            "{}/_emulator/journal?operation=Email.Send",
            app.http
        ))
        .send()
        .await
        .expect("sent");
    let journal = body(res).await;
    assert_eq!(
        journal["value"].as_array().expect("value").len(),
        1,
        "{journal}"
    );
    assert_eq!(journal["value"][0]["status"], 202);
    let res = app
        .client
        .get(format!("{}/_emulator/operations", app.http))
        .send()
        .await
        .expect("sent");
    let ops = body(res).await.to_string();
    assert!(
        ops.contains("Email.Send") && ops.contains("Email.GetSendResult"),
        "{ops}"
    );
}

#[tokio::test]
async fn hostile_send_bodies_get_4xx_and_leave_the_inbox_alone() {
    let app = spawn_app().await;
    let target = format!("/emails:send?api-version={V}");
    // Invalid UTF-8, deep nesting, huge numbers, wrong shapes in every field.
    let deep = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
    let subject_bomb = json!({"senderAddress": SENDER, "content": {"subject": "x".repeat(2_000_000), "plainText": "x"},
        "recipients": {"to": [{"address": "a@example.com"}]}})
    .to_string();
    let too_many_headers = json!({"senderAddress": SENDER, "content": {"subject": "s", "plainText": "x"},
        "recipients": {"to": [{"address": "a@example.com"}]},
        "headers": (0..2000).map(|n| (format!("X-H{n}"), "v".to_string())).collect::<std::collections::BTreeMap<_, _>>()})
    .to_string();
    for raw in [
        b"{\"senderAddress\":\"\xff@example.com\"}".to_vec(),
        deep.into_bytes(),
        br#"{"recipients": {"to": [{"address": 1e999}]}}"#.to_vec(),
        br#"{"attachments": [{"name": "a", "contentType": "text/plain", "contentInBase64": ["x"]}]}"#.to_vec(),
        br#"{"content": {"subject": null, "plainText": null, "html": null}}"#.to_vec(),
    ] {
        let res = app.signed("POST", &target, &raw).await;
        assert_eq!(res.status(), 400, "{}", String::from_utf8_lossy(&raw[..raw.len().min(60)]));
    }
    // Large but legal: a 2 MB subject and 2000 custom headers are accepted and kept whole.
    assert_eq!(
        app.signed("POST", &target, subject_bomb.as_bytes())
            .await
            .status(),
        202
    );
    assert_eq!(
        app.signed("POST", &target, too_many_headers.as_bytes())
            .await
            .status(),
        202
    );
    assert_eq!(app.state.store().email.sent(&Default::default()).len(), 2);

    // A gzip body that decodes past the email limit is 413 (a "zip bomb"), not buffered.
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut encoder, &vec![b' '; 11 * 1024 * 1024]).expect("gzip");
    let bomb = encoder.finish().expect("gzip");
    let s = app.sign("POST", &target, &bomb);
    let mut headers = s.headers().to_vec();
    headers.push(("content-type", "application/json"));
    headers.push(("content-encoding", "gzip"));
    let res = app.send("POST", &target, &headers, &bomb).await;
    assert_error(res, 413, "RequestEntityTooLarge").await;
    assert_eq!(app.state.store().email.sent(&Default::default()).len(), 2);
}
