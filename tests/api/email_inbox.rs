//! The email inbox: `/_emulator/emails` (filters, long-poll, one email, the `.eml`,
//! attachments, clearing), reset, the caps, fixtures' linked domains and resources.

use std::time::{Duration, Instant};

use acs_emulator::Config;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mail_parser::{MessageParser, MimeHeaders};
use serde_json::{Value, json};

use crate::email::{SENDER, message};
use crate::helpers::{TestApp, assert_error, body, spawn_app, spawn_with};

impl TestApp {
    /// `GET /_emulator/<path>` over HTTP; the raw response.
    pub async fn control_get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}/_emulator/{path}", self.http))
            .send()
            .await
            .expect("sent")
    }

    /// `GET /_emulator/emails?<query>`: the inbox's emails (asserting 200).
    pub async fn inbox(&self, query: &str) -> Vec<Value> {
        let res = self.control_get(&format!("emails?{query}")).await;
        assert_eq!(res.status(), 200);
        body(res).await["value"].as_array().expect("value").clone()
    }
}

/// A message with everything: cc, bcc, reply-to, both bodies, a regular and an inline
/// attachment, custom headers.
fn full_message() -> Value {
    json!({
        "headers": {"ClientCorrelationId": "123", "X-Campaign": "spring"},
        "senderAddress": SENDER,
        "content": {
            "subject": "Your order ✓",
            "plainText": "Thanks for your order.",
            "html": "<html><body><p>Thanks!</p><img src=\"cid:logo\"></body></html>",
        },
        "recipients": {
            "to": [{"address": "alice@example.com", "displayName": "Alice"}],
            "cc": [{"address": "bob@example.com"}],
            "bcc": [{"address": "audit@example.com", "displayName": "Audit"}],
        },
        "attachments": [
            {"name": "invoice.pdf", "contentType": "application/pdf", "contentInBase64": STANDARD.encode(b"%PDF-1.4 invoice")},
            {"name": "logo.png", "contentType": "image/png", "contentInBase64": STANDARD.encode(b"\x89PNG logo"), "contentId": "logo"},
        ],
        "replyTo": [{"address": "support@contoso.com", "displayName": "Support"}],
        "userEngagementTrackingDisabled": true,
    })
}

#[tokio::test]
async fn the_inbox_shows_what_was_sent_with_its_operation_and_deliveries() {
    // Arrange
    let app = spawn_app().await;
    app.freeze();
    let now = app.state.clock.now();
    let at =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);

    // Act
    let id = app.email_accepted(&full_message()).await;
    let listed = app.inbox("").await;

    // Assert
    assert_eq!(listed.len(), 1);
    let done = now + chrono::TimeDelta::seconds(1);
    let delivery = |a: &str| {
        json!({"recipient": a, "status": "Delivered", "details": "No error.",
        "reportAt": at(done), "reported": false})
    };
    assert_eq!(
        listed[0],
        json!({
            "id": id,
            "internetMessageId": format!("<{id}@acacacac-0000-4000-8000-000000000001.azurecomm.net>"),
            "senderAddress": SENDER,
            "recipients": {
                "to": [{"address": "alice@example.com", "displayName": "Alice"}],
                "cc": [{"address": "bob@example.com", "displayName": null}],
                "bcc": [{"address": "audit@example.com", "displayName": "Audit"}],
            },
            "replyTo": [{"address": "support@contoso.com", "displayName": "Support"}],
            "subject": "Your order ✓",
            "plainText": "Thanks for your order.",
            "html": "<html><body><p>Thanks!</p><img src=\"cid:logo\"></body></html>",
            "headers": {"ClientCorrelationId": "123", "X-Campaign": "spring"},
            "attachments": [
                {"index": 0, "name": "invoice.pdf", "contentType": "application/pdf", "contentId": null, "size": 16},
                {"index": 1, "name": "logo.png", "contentType": "image/png", "contentId": "logo", "size": 9},
            ],
            "userEngagementTrackingDisabled": true,
            "via": "2025-09-01",
            "sentAt": at(now),
            "status": "Running",
            "completesAt": at(done),
            "error": null,
            "deliveries": [delivery("alice@example.com"), delivery("bob@example.com"), delivery("audit@example.com")],
        })
    );
    // One email by id: the attachments' bytes too; the status follows the clock.
    app.advance_secs(1);
    let res = app.control_get(&format!("emails/{id}")).await;
    assert_eq!(res.status(), 200);
    let one = body(res).await;
    assert_eq!(one["status"], "Succeeded");
    assert_eq!(one["deliveries"][0]["reported"], true);
    assert_eq!(
        one["attachments"][0]["contentInBase64"],
        STANDARD.encode(b"%PDF-1.4 invoice")
    );
    assert_error(app.control_get("emails/nope").await, 404, "NotFound").await;
}

#[tokio::test]
async fn the_raw_message_is_real_mime_that_parses_back() {
    let app = spawn_app().await;
    let id = app.email_accepted(&full_message()).await;

    let res = app.control_get(&format!("emails/{id}/raw")).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "message/rfc822");
    assert_eq!(
        res.headers()["content-disposition"],
        format!("attachment; filename=\"{id}.eml\"").as_str()
    );
    let raw = res.bytes().await.expect("bytes");
    let parsed = MessageParser::default()
        .parse(&raw[..])
        .expect("parses as MIME");

    let first = |a: Option<&mail_parser::Address>| {
        a.and_then(|a| a.first())
            .and_then(|a| a.address())
            .map(str::to_string)
    };
    assert_eq!(first(parsed.from()), Some(SENDER.to_string()));
    assert_eq!(first(parsed.to()), Some("alice@example.com".to_string()));
    assert_eq!(
        parsed.to().and_then(|a| a.first()).and_then(|a| a.name()),
        Some("Alice")
    );
    assert_eq!(first(parsed.cc()), Some("bob@example.com".to_string()));
    assert_eq!(first(parsed.bcc()), Some("audit@example.com".to_string()));
    assert_eq!(
        first(parsed.reply_to()),
        Some("support@contoso.com".to_string())
    );
    assert_eq!(parsed.subject(), Some("Your order ✓"));
    assert_eq!(
        parsed.message_id(),
        Some(format!("{id}@acacacac-0000-4000-8000-000000000001.azurecomm.net").as_str())
    );
    assert_eq!(
        parsed
            .header("ClientCorrelationId")
            .and_then(|h| h.as_text()),
        Some("123")
    );
    assert!(
        parsed
            .header("x-ms-acsemail-suppress-invalid-attachment")
            .is_none()
    );
    assert_eq!(
        parsed.body_text(0).as_deref().map(str::trim),
        Some("Thanks for your order.")
    );
    assert!(
        parsed.body_html(0).is_some_and(|h| h.contains("cid:logo")),
        "{parsed:?}"
    );
    let attachments: Vec<_> = parsed.attachments().collect();
    assert_eq!(attachments.len(), 2, "{parsed:?}");
    let invoice = attachments
        .iter()
        .find(|a| a.attachment_name() == Some("invoice.pdf"))
        .expect("the pdf");
    assert_eq!(invoice.contents(), b"%PDF-1.4 invoice");
    assert_eq!(
        invoice.content_type().map(|c| c.ctype()),
        Some("application")
    );
    let logo = attachments
        .iter()
        .find(|a| a.content_id() == Some("logo"))
        .expect("the inline image");
    assert_eq!(logo.contents(), b"\x89PNG logo");
}

#[tokio::test]
async fn attachments_download_with_their_type() {
    let app = spawn_app().await;
    let id = app.email_accepted(&full_message()).await;
    let res = app.control_get(&format!("emails/{id}/attachments/0")).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/pdf");
    assert_eq!(&res.bytes().await.expect("bytes")[..], b"%PDF-1.4 invoice");
    assert_error(
        app.control_get(&format!("emails/{id}/attachments/2")).await,
        404,
        "NotFound",
    )
    .await;
    assert_error(
        app.control_get(&format!("emails/{id}/attachments/x")).await,
        400,
        "InvalidQueryParameter",
    )
    .await;
}

#[tokio::test]
async fn filters_select_by_recipient_sender_subject_and_time() {
    let mut config = Config::for_tests();
    config.email.email_domains = vec!["contoso.com".into()];
    let app = spawn_with(config).await;
    app.freeze();
    let start = app.state.clock.now();
    app.email_accepted(&full_message()).await;
    app.advance_secs(10);
    let mut other = message(&["carol+tag@example.com"]);
    other["senderAddress"] = json!("news@contoso.com");
    other["content"]["subject"] = json!("Weekly news");
    app.email_accepted(&other).await;

    let subjects = |v: Vec<Value>| -> Vec<String> {
        v.iter()
            .map(|m| m["subject"].as_str().expect("subject").to_string())
            .collect()
    };
    assert_eq!(subjects(app.inbox("").await).len(), 2);
    for (query, expected) in [
        ("to=ALICE%40example.com", vec!["Your order ✓"]),
        ("to=bob@example.com", vec!["Your order ✓"]),
        ("to=audit@example.com", vec!["Your order ✓"]),
        // An unencoded `+` arrives as a space: the address is still understood.
        ("to=carol+tag@example.com", vec!["Weekly news"]),
        ("from=news@contoso.com", vec!["Weekly news"]),
        ("subject=ORDER", vec!["Your order ✓"]),
        ("subject=weekly&to=alice@example.com", vec![]),
    ] {
        assert_eq!(subjects(app.inbox(query).await), expected, "{query}");
    }
    let since = (start + chrono::TimeDelta::seconds(5)).to_rfc3339();
    assert_eq!(
        subjects(
            app.inbox(&format!("since={}", since.replace('+', "%2B")))
                .await
        ),
        ["Weekly news"]
    );
    for query in ["since=yesterday", "wait=soon", "count=0"] {
        assert_error(
            app.control_get(&format!("emails?{query}")).await,
            400,
            "InvalidQueryParameter",
        )
        .await;
    }
}

#[tokio::test]
async fn a_waiting_listing_returns_as_soon_as_the_email_arrives() {
    let app = spawn_app().await;
    let started = Instant::now();
    let waiter = {
        let client = app.client.clone();
        let url = format!("{}/_emulator/emails?to=late@example.com&wait=10s", app.http);
        tokio::spawn(async move { client.get(url).send().await.expect("sent") })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    app.email_accepted(&message(&["late@example.com"])).await;
    let res = waiter.await.expect("joined");
    let found = body(res).await["value"].as_array().expect("value").clone();
    assert_eq!(found.len(), 1);
    assert!(started.elapsed() < Duration::from_secs(5));
    // Nothing matching: the wait ends empty-handed when the time is up.
    let started = Instant::now();
    assert!(
        app.inbox("to=nobody@example.com&wait=300ms")
            .await
            .is_empty()
    );
    assert!(started.elapsed() >= Duration::from_millis(250));
}

#[tokio::test]
async fn clearing_the_inbox_keeps_operations_and_a_reset_clears_everything() {
    let app = spawn_app().await;
    let id = app.email_accepted(&message(&["alice@example.com"])).await;
    let res = app
        .client
        .delete(format!("{}/_emulator/emails", app.http))
        .send()
        .await
        .expect("sent");
    assert_eq!(body(res).await, json!({"cleared": 1}));
    assert!(app.inbox("").await.is_empty());
    assert_eq!(app.poll_email(&id).await.status(), 200);
    app.reset().await;
    assert_eq!(app.poll_email(&id).await.status(), 404);
}

#[tokio::test]
async fn the_inbox_evicts_its_oldest_emails_past_max_emails() {
    let mut config = Config::for_tests();
    config.limits.max_emails = 2;
    let app = spawn_with(config).await;
    let mut ids = Vec::new();
    for n in 0..3 {
        let mut m = message(&["alice@example.com"]);
        m["content"]["subject"] = json!(format!("n{n}"));
        ids.push(app.email_accepted(&m).await);
    }
    let kept: Vec<Value> = app
        .inbox("")
        .await
        .iter()
        .map(|m| m["subject"].clone())
        .collect();
    assert_eq!(kept, [json!("n1"), json!("n2")]);
    assert_eq!(app.poll_email(&ids[0]).await.status(), 404);
    assert_eq!(app.poll_email(&ids[2]).await.status(), 200);
}

#[tokio::test]
async fn the_inbox_keeps_a_byte_budget() {
    let mut config = Config::for_tests();
    config.limits.max_email_storage_bytes = 4096;
    let app = spawn_with(config).await;
    for n in 0..3 {
        let mut m = message(&["alice@example.com"]);
        m["content"]["plainText"] = json!(format!("{n}{}", "x".repeat(1500)));
        app.email_accepted(&m).await;
    }
    let kept = app.inbox("").await;
    assert_eq!(kept.len(), 2, "two of about 2 KB fit in 4 KB");
    assert!(
        kept[0]["plainText"]
            .as_str()
            .expect("text")
            .starts_with('1')
    );
}

#[tokio::test]
async fn fixtures_link_domains_to_any_resource_and_the_inbox_is_per_resource() {
    let app = spawn_app().await;
    let fixture = json!({
        "resources": [{"name": "contoso", "accessKey": "Y29udG9zby1rZXktMDEyMzQ1Njc4OQ==",
                       "emailDomains": ["contoso.com"]}],
        "emailDomains": [{"domain": "fabrikam.com"}, {"domain": "mail.contoso.com", "resource": "contoso"}],
    });
    let res = app
        .client
        .post(format!("{}/_emulator/fixtures", app.http))
        .json(&fixture)
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 201, "{}", body(res).await);
    let mut m = message(&["alice@example.com"]);
    m["senderAddress"] = json!("hello@fabrikam.com");
    assert_eq!(app.send_email(&m).await.status(), 202);
    m["senderAddress"] = json!("hello@contoso.com");
    assert_error(app.send_email(&m).await, 404, "DomainNotLinked").await;

    let key = STANDARD
        .decode("Y29udG9zby1rZXktMDEyMzQ1Njc4OQ==")
        .expect("key");
    let target = "/emails:send?api-version=2025-09-01";
    for sender in ["hello@contoso.com", "hello@mail.contoso.com"] {
        m["senderAddress"] = json!(sender);
        let bytes = m.to_string();
        let s = app.sign_with(
            &key,
            "POST",
            target,
            &app.date_now(),
            &app.http_host(),
            bytes.as_bytes(),
        );
        let mut headers = s.headers().to_vec();
        headers.push(("content-type", "application/json"));
        let res = app.send("POST", target, &headers, bytes.as_bytes()).await;
        assert_eq!(res.status(), 202, "{sender}");
    }
    assert_eq!(app.inbox("").await.len(), 1);
    assert_eq!(app.inbox("resource=contoso").await.len(), 2);
    // Linked domains stay through a reset, as the fixture's resources do.
    app.reset().await;
    m["senderAddress"] = json!("hello@fabrikam.com");
    assert_eq!(app.send_email(&m).await.status(), 202);
    // A bad domain in a fixture is refused with its line.
    let res = app
        .client
        .post(format!("{}/_emulator/fixtures", app.http))
        .json(&json!({"emailDomains": [{"domain": "not a domain"}]}))
        .send()
        .await
        .expect("sent");
    let text = assert_error(res, 400, "InvalidFixture").await;
    assert!(text.contains("not a domain"), "{text}");
}
