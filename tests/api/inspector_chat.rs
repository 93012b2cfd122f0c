//! What the inspector's Chat page reads beyond threads and messages: read receipts
//! (`GET /_emulator/chat/threads/{id}/readReceipts`) and typing notifications on the live stream.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{CHAT_V, TestApp, assert_error, body, encode, spawn_app};

async fn get(app: &TestApp, path: &str) -> reqwest::Response {
    app.client
        .get(format!("{}{path}", app.http))
        .send()
        .await
        .expect("sent")
}

async fn chat_post(app: &TestApp, token: &str, thread: &str, what: &str, body: &Value) {
    let res = app
        .chat(
            "POST",
            token,
            &format!(
                "/chat/threads/{}/{what}?api-version={CHAT_V}",
                encode(thread)
            ),
            Some(body),
        )
        .await;
    assert_eq!(res.status(), 200, "{what}");
}

#[tokio::test]
async fn read_receipts_are_listed_per_participant_without_a_token() {
    // Arrange
    let app = spawn_app().await;
    let (alice, alice_token) = app.create_user_and_token(&["chat"]).await;
    let (bob, bob_token) = app.create_user_and_token(&["chat"]).await;
    let thread = app
        .thread_with(&alice_token, "Receipts", &[&alice, &bob])
        .await;
    let first = app.send_text(&alice_token, &thread, "one").await;
    let second = app.send_text(&alice_token, &thread, "two").await;
    let path = format!("/_emulator/chat/threads/{}/readReceipts", encode(&thread));
    assert_eq!(body(get(&app, &path).await).await, json!({"value": []}));

    // Act
    chat_post(
        &app,
        &bob_token,
        &thread,
        "readReceipts",
        &json!({"chatMessageId": first}),
    )
    .await;
    chat_post(
        &app,
        &bob_token,
        &thread,
        "readReceipts",
        &json!({"chatMessageId": second}),
    )
    .await;
    chat_post(
        &app,
        &alice_token,
        &thread,
        "readReceipts",
        &json!({"chatMessageId": first}),
    )
    .await;

    // Assert: the latest receipt of each, oldest read first.
    let listed = body(get(&app, &path).await).await;
    let receipts = listed["value"].as_array().expect("value");
    let got: Vec<(&str, &str)> = receipts
        .iter()
        .map(|r| {
            (
                r["senderCommunicationIdentifier"]["rawId"]
                    .as_str()
                    .expect("rawId"),
                r["chatMessageId"].as_str().expect("id"),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (bob.as_str(), second.as_str()),
            (alice.as_str(), first.as_str())
        ]
    );
    assert!(
        receipts[0]["readOn"]
            .as_str()
            .expect("readOn")
            .ends_with('Z')
    );
}

#[tokio::test]
async fn read_receipts_of_an_unknown_thread_or_resource_are_404() {
    let app = spawn_app().await;
    let res = get(
        &app,
        "/_emulator/chat/threads/19:nope@thread.v2/readReceipts",
    )
    .await;
    assert_error(res, 404, "NotFound").await;
    let res = get(
        &app,
        "/_emulator/chat/threads/19:nope@thread.v2/readReceipts?resource=x",
    )
    .await;
    assert_error(res, 404, "NotFound").await;
}

#[tokio::test]
async fn typing_reaches_the_stream_as_its_own_message() {
    // Arrange
    let app = spawn_app().await;
    let (alice, alice_token) = app.create_user_and_token(&["chat"]).await;
    let thread = app.thread_with(&alice_token, "Typing", &[&alice]).await;
    let mut res = get(&app, "/_emulator/ui/stream").await;
    let mut seen = String::new();
    read_until(&mut res, &mut seen, "event: hello").await;

    // Act
    chat_post(
        &app,
        &alice_token,
        &thread,
        "typing",
        &json!({"senderDisplayName": "Alice <b>"}),
    )
    .await;

    // Assert
    read_until(&mut res, &mut seen, "event: typing\ndata: ").await;
    // (One message is one chunk: its data line is complete.)
    let start = seen.find("event: typing\ndata: ").expect("typing") + "event: typing\ndata: ".len();
    let end = start + seen[start..].find('\n').expect("end of data");
    let data: Value = serde_json::from_str(&seen[start..end]).expect("json");
    assert_eq!(data["resource"], "default");
    assert_eq!(data["threadId"], thread.as_str());
    assert_eq!(data["sender"], alice.as_str());
    assert_eq!(data["senderDisplayName"], "Alice <b>");
    // Nothing stored changed: no `change` message for it.
    assert!(
        !seen.contains("event: change\ndata: {\"area\":\"chat\""),
        "{seen}"
    );
}

/// Reads the stream until `want` has arrived after what was read before the call (at most 5 s).
async fn read_until(res: &mut reqwest::Response, seen: &mut String, want: &str) {
    let from = seen.len();
    tokio::time::timeout(Duration::from_secs(5), async {
        while !seen[from..].contains(want) {
            let chunk = res.chunk().await.expect("open").expect("a chunk");
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {want:?} in {seen:?}"));
}
