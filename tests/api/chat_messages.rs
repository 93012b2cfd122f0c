//! Chat messages, participants, read receipts and typing over HTTPS.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};

use crate::helpers::{CHAT_V, assert_error, body, encode, participant, spawn_app, user_model};

const FORBIDDEN: &str = "User is not allowed to perform specified action.";

fn url(id: &str, rest: &str) -> String {
    format!("/chat/threads/{}{rest}?api-version={CHAT_V}", encode(id))
}

fn time(v: &Value) -> DateTime<Utc> {
    let text = v.as_str().unwrap_or_else(|| panic!("time string: {v}"));
    assert!(text.ends_with('Z'), "RFC 3339 with Z: {text}");
    DateTime::parse_from_rfc3339(text)
        .expect("RFC 3339")
        .with_timezone(&Utc)
}

#[tokio::test]
async fn send_message_returns_201_with_location_and_get_returns_the_full_message() {
    let app = spawn_app().await;
    let (alice, token) = app.create_user_and_token(&["chat"]).await;
    let id = app.thread_with(&token, "T", &[]).await;
    // A message id is its creation time in milliseconds unless an earlier message took that
    // millisecond (ids only grow): the thread's own first messages were created within the last
    // millisecond or two, so let the clock move past them.
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    let before = Utc::now().timestamp_millis();

    let res = app
        .chat(
            "POST",
            &token,
            &url(&id, "/messages"),
            Some(&json!({"content": "hello", "senderDisplayName": "Alice",
                "metadata": {"k": "v"}})),
        )
        .await;

    assert_eq!(res.status(), 201);
    let location = res.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_string();
    let sent = body(res).await;
    let msg_id = sent["id"].as_str().expect("id").to_string();
    assert_eq!(sent, json!({"id": msg_id}));
    let ms: i64 = msg_id.parse().expect("ms epoch");
    assert!(
        ms >= before && ms <= Utc::now().timestamp_millis() + 5,
        "{ms}"
    );
    assert_eq!(
        location,
        format!(
            "{}/chat/threads/{}/messages/{msg_id}",
            app.https,
            id.replace(':', "%3A")
        )
    );

    let res = app
        .chat(
            "GET",
            &token,
            &url(&id, &format!("/messages/{msg_id}")),
            None,
        )
        .await;
    assert_eq!(res.status(), 200);
    let message = body(res).await;
    assert_eq!(time(&message["createdOn"]).timestamp_millis(), ms);
    assert_eq!(
        message,
        json!({
            "id": msg_id, "type": "text", "sequenceId": "3", "version": msg_id,
            "content": {"message": "hello"}, "senderDisplayName": "Alice",
            "createdOn": message["createdOn"],
            "senderCommunicationIdentifier": user_model(&alice),
            "metadata": {"k": "v"},
        })
    );
}

#[tokio::test]
async fn message_types_and_required_fields_are_validated() {
    let app = spawn_app().await;
    let (_, token) = app.create_user_and_token(&["chat"]).await;
    let id = app.thread_with(&token, "T", &[]).await;
    let res = app
        .chat(
            "POST",
            &token,
            &url(&id, "/messages"),
            Some(&json!({"content": "<b>x</b>", "type": "html"})),
        )
        .await;
    assert_eq!(res.status(), 201);
    let msg = body(res).await["id"].as_str().expect("id").to_string();
    let got = body(
        app.chat("GET", &token, &url(&id, &format!("/messages/{msg}")), None)
            .await,
    )
    .await;
    assert_eq!(got["type"], "html");
    for bad in [
        json!({"content": "x", "type": "topicUpdated"}),
        json!({"senderDisplayName": "x"}),
    ] {
        let res = app
            .chat("POST", &token, &url(&id, "/messages"), Some(&bad))
            .await;
        assert_error(res, 400, "ValidationError").await;
    }
    let res = app
        .chat(
            "POST",
            &token,
            &url(&id, "/messages"),
            Some(&json!({"content": "x".repeat(28 * 1024 + 1)})),
        )
        .await;
    assert_error(res, 400, "ValidationError").await;
    let res = app
        .chat("GET", &token, &url(&id, "/messages/123"), None)
        .await;
    assert_error(res, 404, "NotFound").await;
    let res = app
        .chat("GET", &token, &url(&id, "/messages/abc"), None)
        .await;
    assert_error(res, 404, "NotFound").await;
}

#[tokio::test]
async fn message_ids_are_unique_even_within_one_millisecond() {
    let app = spawn_app().await;
    let (_, token) = app.create_user_and_token(&["chat"]).await;
    let id = app.thread_with(&token, "T", &[]).await;
    // Freeze the clock: every message lands in the same emulated millisecond.
    app.state
        .clock
        .freeze_at(Utc::now())
        .expect("within the clock's range");
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(
            app.send_text(&token, &id, &i.to_string())
                .await
                .parse::<u64>()
                .expect("num"),
        );
    }
    assert!(ids.windows(2).all(|w| w[1] > w[0]), "{ids:?}");
}

#[tokio::test]
async fn only_the_sender_edits_a_message_and_editing_changes_its_version() {
    let app = spawn_app().await;
    let (_, alice) = app.create_user_and_token(&["chat"]).await;
    let (bob_id, bob) = app.create_user_and_token(&["chat"]).await;
    let id = app.thread_with(&alice, "T", &[&bob_id]).await;
    let res = app
        .chat(
            "POST",
            &alice,
            &url(&id, "/messages"),
            Some(&json!({"content": "v1", "metadata": {"a": "1", "b": "2"}})),
        )
        .await;
    let msg = body(res).await["id"].as_str().expect("id").to_string();
    let path = url(&id, &format!("/messages/{msg}"));

    let res = app
        .chat("PATCH", &bob, &path, Some(&json!({"content": "hijack"})))
        .await;
    assert_eq!(assert_error(res, 403, "Forbidden").await, FORBIDDEN);
    app.state
        .clock
        .advance(TimeDelta::milliseconds(50))
        .expect("within the clock's range");
    let res = app
        .chat(
            "PATCH",
            &alice,
            &path,
            Some(&json!({"content": "v2", "metadata": {"b": null, "c": "3"}})),
        )
        .await;
    assert_eq!(res.status(), 204);

    let got = body(app.chat("GET", &bob, &path, None).await).await;
    assert_eq!(got["content"], json!({"message": "v2"}));
    assert_eq!(got["metadata"], json!({"a": "1", "c": "3"}));
    assert_ne!(got["version"], got["id"]);
    assert!(
        got["version"]
            .as_str()
            .expect("v")
            .parse::<u64>()
            .expect("num")
            > msg.parse::<u64>().expect("num")
    );
    assert!(time(&got["editedOn"]) > time(&got["createdOn"]));

    // System messages cannot be edited.
    let list = body(app.chat("GET", &alice, &url(&id, "/messages"), None).await).await;
    let system = list["value"].as_array().expect("v").last().expect("first")["id"]
        .as_str()
        .expect("id")
        .to_string();
    let res = app
        .chat(
            "PATCH",
            &alice,
            &url(&id, &format!("/messages/{system}")),
            Some(&json!({"content": "x"})),
        )
        .await;
    assert_error(res, 403, "Forbidden").await;
}

#[tokio::test]
async fn deleting_a_message_marks_it_deleted_and_is_idempotent() {
    let app = spawn_app().await;
    let (_, alice) = app.create_user_and_token(&["chat"]).await;
    let (bob_id, bob) = app.create_user_and_token(&["chat"]).await;
    let id = app.thread_with(&alice, "T", &[&bob_id]).await;
    let msg = app.send_text(&alice, &id, "secret").await;
    let path = url(&id, &format!("/messages/{msg}"));

    assert_error(
        app.chat("DELETE", &bob, &path, None).await,
        403,
        "Forbidden",
    )
    .await;
    assert_eq!(app.chat("DELETE", &alice, &path, None).await.status(), 204);
    assert_eq!(app.chat("DELETE", &alice, &path, None).await.status(), 204);
    let got = body(app.chat("GET", &bob, &path, None).await).await;
    assert!(time(&got["deletedOn"]) >= time(&got["createdOn"]));
    assert_eq!(got["content"], json!({"message": ""}));
    let res = app
        .chat("PATCH", &alice, &path, Some(&json!({"content": "again"})))
        .await;
    assert_error(res, 404, "NotFound").await;
}

#[tokio::test]
async fn adding_participants_is_201_idempotent_and_emits_participant_added() {
    let app = spawn_app().await;
    let (alice, token) = app.create_user_and_token(&["chat"]).await;
    let (bob_id, bob) = app.create_user_and_token(&["chat"]).await;
    let id = app.thread_with(&token, "T", &[]).await;
    let unknown = "8:acs:acacacac-0000-4000-8000-000000000001_00000000-0000-0000-0000-000000000000";

    let mut p = participant(&bob_id);
    p["displayName"] = json!("Bob");
    p["shareHistoryTime"] = json!("2020-06-06T05:55:41Z");
    let res = app
        .chat(
            "POST",
            &token,
            &url(&id, "/participants/:add"),
            Some(&json!({"participants": [p, participant(unknown)]})),
        )
        .await;
    assert_eq!(res.status(), 201);
    assert_eq!(
        body(res).await,
        json!({"invalidParticipants": [{"code": "404", "message": "Not found", "target": unknown}]})
    );
    // Bob can now read; the newest message announces him.
    let list = body(app.chat("GET", &bob, &url(&id, "/messages"), None).await).await;
    let newest = &list["value"][0];
    assert_eq!(
        newest,
        &json!({
            "id": newest["id"], "type": "participantAdded", "sequenceId": "3",
            "version": newest["id"], "createdOn": newest["createdOn"],
            "content": {
                "participants": [{"communicationIdentifier": user_model(&bob_id),
                    "displayName": "Bob", "shareHistoryTime": "2020-06-06T05:55:41.000Z"}],
                "initiatorCommunicationIdentifier": user_model(&alice),
            },
        })
    );
    // Adding him again: 201 with an empty body and no new system message.
    let res = app
        .chat(
            "POST",
            &token,
            &url(&id, "/participants/:add"),
            Some(&json!({"participants": [participant(&bob_id)]})),
        )
        .await;
    assert_eq!(res.status(), 201);
    assert_eq!(body(res).await, json!({}));
    let list = body(app.chat("GET", &bob, &url(&id, "/messages"), None).await).await;
    assert_eq!(list["value"].as_array().map(Vec::len), Some(3));
    let res = app
        .chat(
            "POST",
            &token,
            &url(&id, "/participants/:add"),
            Some(&json!({})),
        )
        .await;
    assert_error(res, 400, "ValidationError").await;
}

#[tokio::test]
async fn a_removed_participant_loses_access_at_once() {
    let app = spawn_app().await;
    let (alice, token) = app.create_user_and_token(&["chat"]).await;
    let (bob_id, bob) = app.create_user_and_token(&["chat"]).await;
    let id = app.thread_with(&token, "T", &[&bob_id]).await;
    app.send_text(&bob, &id, "hi").await;

    // The SDKs send the bare identifier model, without kind.
    let res = app
        .chat(
            "POST",
            &token,
            &url(&id, "/participants/:remove"),
            Some(&json!({"rawId": bob_id, "communicationUser": {"id": bob_id}})),
        )
        .await;
    assert_eq!(res.status(), 204);
    for path in ["", "/messages", "/participants", "/readReceipts"] {
        let res = app.chat("GET", &bob, &url(&id, path), None).await;
        assert_eq!(assert_error(res, 403, "Forbidden").await, FORBIDDEN);
    }
    let res = app
        .chat(
            "POST",
            &bob,
            &url(&id, "/messages"),
            Some(&json!({"content": "x"})),
        )
        .await;
    assert_error(res, 403, "Forbidden").await;
    let list = body(
        app.chat(
            "GET",
            &bob,
            &format!("/chat/threads?api-version={CHAT_V}"),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(list, json!({"value": []}));

    let list = body(app.chat("GET", &token, &url(&id, "/messages"), None).await).await;
    let newest = &list["value"][0];
    assert_eq!(newest["type"], "participantRemoved");
    assert_eq!(
        newest["content"],
        json!({"participants": [{"communicationIdentifier": user_model(&bob_id)}],
            "initiatorCommunicationIdentifier": user_model(&alice)})
    );
    assert!(newest.get("senderCommunicationIdentifier").is_none());
    // Removing someone absent is a no-op; a malformed identifier is a 400.
    let res = app
        .chat(
            "POST",
            &token,
            &url(&id, "/participants/:remove"),
            Some(&json!({"rawId": bob_id})),
        )
        .await;
    assert_eq!(res.status(), 204);
    let res = app
        .chat(
            "POST",
            &token,
            &url(&id, "/participants/:remove"),
            Some(&json!({"rawId": "nope"})),
        )
        .await;
    assert_error(res, 400, "ValidationError").await;
}

#[tokio::test]
async fn share_history_time_hides_older_messages() {
    let app = spawn_app().await;
    let (_, alice) = app.create_user_and_token(&["chat"]).await;
    let (bob_id, bob) = app.create_user_and_token(&["chat"]).await;
    let id = app.thread_with(&alice, "T", &[]).await;
    let old = app.send_text(&alice, &id, "before").await;
    app.state
        .clock
        .advance(TimeDelta::seconds(5))
        .expect("within the clock's range");
    let share = app.state.clock.now();
    app.state
        .clock
        .advance(TimeDelta::seconds(5))
        .expect("within the clock's range");
    let mut p = participant(&bob_id);
    p["shareHistoryTime"] = json!(share.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    let res = app
        .chat(
            "POST",
            &alice,
            &url(&id, "/participants/:add"),
            Some(&json!({"participants": [p]})),
        )
        .await;
    assert_eq!(res.status(), 201);
    let new = app.send_text(&alice, &id, "after").await;

    let list = body(app.chat("GET", &bob, &url(&id, "/messages"), None).await).await;
    let kinds: Vec<(&str, &str)> = list["value"]
        .as_array()
        .expect("v")
        .iter()
        .map(|m| {
            (
                m["type"].as_str().unwrap_or(""),
                m["id"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(kinds.len(), 2, "{list}");
    assert_eq!(kinds[0], ("text", new.as_str()));
    assert_eq!(kinds[1].0, "participantAdded");
    let res = app
        .chat("GET", &bob, &url(&id, &format!("/messages/{old}")), None)
        .await;
    assert_error(res, 404, "NotFound").await;
    // Alice still sees everything.
    let list = body(app.chat("GET", &alice, &url(&id, "/messages"), None).await).await;
    assert_eq!(list["value"].as_array().map(Vec::len), Some(5));
}

#[tokio::test]
async fn read_receipts_keep_the_latest_per_participant() {
    let app = spawn_app().await;
    let (alice_id, alice) = app.create_user_and_token(&["chat"]).await;
    let (bob_id, bob) = app.create_user_and_token(&["chat"]).await;
    let id = app.thread_with(&alice, "T", &[&bob_id]).await;
    let m1 = app.send_text(&alice, &id, "1").await;
    let m2 = app.send_text(&alice, &id, "2").await;
    let receipt = |token: String, msg: String| {
        let (app, id) = (&app, id.clone());
        async move {
            let res = app
                .chat(
                    "POST",
                    &token,
                    &url(&id, "/readReceipts"),
                    Some(&json!({"chatMessageId": msg})),
                )
                .await;
            assert_eq!(res.status(), 200);
            assert!(res.text().await.expect("body").is_empty());
        }
    };
    receipt(alice.clone(), m1.clone()).await;
    receipt(alice.clone(), m2.clone()).await;
    receipt(bob.clone(), m2.clone()).await;
    receipt(bob.clone(), m1.clone()).await; // older: does not move Bob back

    let list = body(
        app.chat("GET", &bob, &url(&id, "/readReceipts"), None)
            .await,
    )
    .await;
    let mut items = list["value"].as_array().expect("v").clone();
    assert_eq!(items.len(), 2, "{list}");
    items.sort_by_key(|r| {
        r["senderCommunicationIdentifier"]["rawId"]
            .as_str()
            .unwrap_or("")
            .to_string()
    });
    let mut expected = vec![
        json!({"senderCommunicationIdentifier": user_model(&alice_id), "chatMessageId": m2,
            "readOn": items.iter().find(|r| r["senderCommunicationIdentifier"]["rawId"] == alice_id.as_str()).expect("a")["readOn"]}),
        json!({"senderCommunicationIdentifier": user_model(&bob_id), "chatMessageId": m2,
            "readOn": items.iter().find(|r| r["senderCommunicationIdentifier"]["rawId"] == bob_id.as_str()).expect("b")["readOn"]}),
    ];
    expected.sort_by_key(|r| {
        r["senderCommunicationIdentifier"]["rawId"]
            .as_str()
            .unwrap_or("")
            .to_string()
    });
    assert_eq!(items, expected);

    // Paging with skip + maxPageSize.
    let page = body(
        app.chat(
            "GET",
            &bob,
            &format!("{}&maxPageSize=1", url(&id, "/readReceipts")),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(page["value"].as_array().map(Vec::len), Some(1));
    let next = page["nextLink"].as_str().expect("nextLink");
    assert!(
        next.starts_with(&app.https) && next.contains("skip=1") && next.contains("api-version="),
        "{next}"
    );
    let (all, pages) = app
        .collect_pages(
            &bob,
            &format!("{}&maxPageSize=1", url(&id, "/readReceipts")),
        )
        .await;
    assert_eq!((all.len(), pages), (2, 2));

    let res = app
        .chat(
            "POST",
            &bob,
            &url(&id, "/readReceipts"),
            Some(&json!({"chatMessageId": "42"})),
        )
        .await;
    assert_error(res, 404, "NotFound").await;
    let res = app
        .chat("POST", &bob, &url(&id, "/readReceipts"), Some(&json!({})))
        .await;
    assert_error(res, 400, "ValidationError").await;
}

#[tokio::test]
async fn typing_notifications_are_200_with_an_empty_body_for_participants_only() {
    let app = spawn_app().await;
    let (_, alice) = app.create_user_and_token(&["chat"]).await;
    let (_, outsider) = app.create_user_and_token(&["chat"]).await;
    let id = app.thread_with(&alice, "T", &[]).await;
    for body in [None, Some(json!({"senderDisplayName": "Alice"}))] {
        let res = app
            .chat("POST", &alice, &url(&id, "/typing"), body.as_ref())
            .await;
        assert_eq!(res.status(), 200);
        assert_eq!(
            res.headers().get("content-length").map(|v| v.as_bytes()),
            Some(&b"0"[..])
        );
    }
    let res = app
        .chat("POST", &outsider, &url(&id, "/typing"), None)
        .await;
    assert_error(res, 403, "Forbidden").await;
}
