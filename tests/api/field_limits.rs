//! Free-form fields the emulator stores are bounded: message metadata (1 KiB, like thread
//! metadata), topics, display names, SMS tags, Teams extension assignments, and the same fields
//! in fixtures. Each refusal is a 400 that changes nothing.

use serde_json::{Value, json};

use crate::helpers::{CHAT_V, TestApp, assert_error, assert_problem, encode, spawn_app};

/// Metadata of `bytes` bytes in all (one key, one value).
fn metadata(bytes: usize) -> Value {
    json!({"k": "v".repeat(bytes - 1)})
}

async fn send(app: &TestApp, token: &str, thread: &str, body: &Value) -> reqwest::Response {
    let path = format!(
        "/chat/threads/{}/messages?api-version={CHAT_V}",
        encode(thread)
    );
    app.chat("POST", token, &path, Some(body)).await
}

#[tokio::test]
async fn message_metadata_is_limited_like_thread_metadata() {
    // Arrange
    let app = spawn_app().await;
    let (user, token) = app.create_user_and_token(&["chat"]).await;
    let thread = app.thread_with(&token, "t", &[&user]).await;

    // Act: 0.9 MB of metadata, then exactly 1 KiB.
    let huge = send(
        &app,
        &token,
        &thread,
        &json!({"content": "hi", "metadata": metadata(900_000)}),
    )
    .await;
    let fits = send(
        &app,
        &token,
        &thread,
        &json!({"content": "hi", "metadata": metadata(1024)}),
    )
    .await;

    // Assert
    let message = assert_error(huge, 400, "ValidationError").await;
    assert!(message.contains("1024"), "{message}");
    assert_eq!(fits.status(), 201);
    let id = crate::helpers::body(fits).await["id"]
        .as_str()
        .expect("id")
        .to_string();

    // A patch that would take it past the limit is refused and changes nothing.
    let path = format!(
        "/chat/threads/{}/messages/{id}?api-version={CHAT_V}",
        encode(&thread)
    );
    let res = app
        .client
        .patch(format!("{}{path}", app.https))
        .bearer_auth(&token)
        .header("content-type", "application/merge-patch+json")
        .body(json!({"content": "edited", "metadata": {"more": "x"}}).to_string())
        .send()
        .await
        .expect("sent");
    assert_error(res, 400, "ValidationError").await;
    let got = crate::helpers::body(app.chat("GET", &token, &path, None).await).await;
    assert_eq!(got["content"]["message"], "hi", "{got}");
    assert_eq!(got["metadata"], metadata(1024));
    assert!(got.get("editedOn").is_none(), "{got}");
}

#[tokio::test]
async fn topics_and_display_names_are_bounded() {
    let app = spawn_app().await;
    let (user, token) = app.create_user_and_token(&["chat"]).await;
    let create = |body: Value| {
        let app = &app;
        let token = token.clone();
        async move {
            app.chat(
                "POST",
                &token,
                &format!("/chat/threads?api-version={CHAT_V}"),
                Some(&body),
            )
            .await
        }
    };
    let long_topic = create(json!({"topic": "t".repeat(1025)})).await;
    let message = assert_error(long_topic, 400, "ValidationError").await;
    assert!(message.contains("1024"), "{message}");
    let mut participant = crate::helpers::participant(&user);
    participant["displayName"] = json!("n".repeat(257));
    let long_name = create(json!({"topic": "t", "participants": [participant]})).await;
    let message = assert_error(long_name, 400, "ValidationError").await;
    assert!(message.contains("256"), "{message}");

    let thread = app.thread_with(&token, &"t".repeat(1024), &[&user]).await;
    let res = send(
        &app,
        &token,
        &thread,
        &json!({"content": "hi", "senderDisplayName": "n".repeat(257)}),
    )
    .await;
    assert_error(res, 400, "ValidationError").await;
    let res = app
        .client
        .patch(format!(
            "{}/chat/threads/{}?api-version={CHAT_V}",
            app.https,
            encode(&thread)
        ))
        .bearer_auth(&token)
        .header("content-type", "application/merge-patch+json")
        .body(json!({"topic": "t".repeat(1025)}).to_string())
        .send()
        .await
        .expect("sent");
    assert_error(res, 400, "ValidationError").await;
    // One thread (the 1 KiB topic), holding no user message.
    assert_eq!(app.state.store().chat.len(), 1);
}

#[tokio::test]
async fn sms_tags_and_teams_assignments_are_bounded() {
    let app = spawn_app().await;
    let res = app
        .send_sms(&json!({"from": "+18005550100", "smsRecipients": [{"to": "+14255550123"}],
            "message": "hi", "smsSendOptions": {"enableDeliveryReport": true, "tag": "x".repeat(1025)}}))
        .await;
    let errors = assert_problem(res, 400).await;
    assert!(errors["SmsSendOptions.Tag"].is_array(), "{errors}");
    assert!(app.outbox("").await.is_empty());

    let target = "/access/teamsExtension/tenants/c70d068c-2f32-484d-9455-73070cd5aadd/assignments/o?api-version=2026-09-23";
    let ids: Vec<String> = (0..101).map(|i| format!("client-{i}")).collect();
    let res = app
        .signed_json(
            "PUT",
            target,
            &json!({"principalType": "user", "clientIds": ids}),
        )
        .await;
    assert_error(res, 400, "ValidationError").await;
    let long_object = format!(
        "/access/teamsExtension/tenants/t/assignments/{}?api-version=2026-09-23",
        "o".repeat(257)
    );
    let res = app
        .signed_json("PUT", &long_object, &json!({"principalType": "user"}))
        .await;
    assert_error(res, 400, "ValidationError").await;
}

#[tokio::test]
async fn fixtures_are_held_to_the_same_limits() {
    let app = spawn_app().await;
    let load = |fixture: Value| {
        let app = &app;
        async move {
            app.client
                .post(format!("{}/_emulator/fixtures", app.http))
                .json(&fixture)
                .send()
                .await
                .expect("sent")
        }
    };
    let thread = |topic: String, name: String, content: String| {
        json!({"identities": [{"name": "a"}], "threads": [{"topic": topic,
            "participants": [{"user": "a", "displayName": name}],
            "messages": [{"from": "a", "content": content}]}]})
    };
    for (fixture, needle) in [
        (thread("t".repeat(1025), "n".into(), "c".into()), "topic"),
        (
            thread("t".into(), "n".repeat(257), "c".into()),
            "displayName",
        ),
        (
            thread("t".into(), "n".into(), "c".repeat(28 * 1024 + 1)),
            "content",
        ),
    ] {
        let message = assert_error(load(fixture).await, 400, "InvalidFixture").await;
        assert!(message.contains(needle), "{message}");
    }
    assert_eq!(app.state.store().identities.len(), 0);
}
