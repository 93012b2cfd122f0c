//! Chat threads over HTTPS: create, get, update, delete, list; auth, scopes and participation.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};

use crate::helpers::{CHAT_V, assert_error, body, encode, participant, spawn_app, user_model};

const FORBIDDEN: &str = "User is not allowed to perform specified action.";

fn time(v: &Value) -> DateTime<Utc> {
    let text = v.as_str().unwrap_or_else(|| panic!("time string: {v}"));
    assert!(text.ends_with('Z'), "RFC 3339 with Z: {text}");
    DateTime::parse_from_rfc3339(text)
        .expect("RFC 3339")
        .with_timezone(&Utc)
}

fn thread_url(id: &str, rest: &str, version: &str) -> String {
    format!("/chat/threads/{}{rest}?api-version={version}", encode(id))
}

async fn assert_forbidden(res: reqwest::Response) {
    let message = assert_error(res, 403, "Forbidden").await;
    assert_eq!(message, FORBIDDEN);
}

#[tokio::test]
async fn create_thread_returns_201_with_location_and_the_full_thread() {
    let app = spawn_app().await;
    let (alice, token) = app.create_user_and_token(&["chat"]).await;
    let bob = app.create_identity().await;
    let before = Utc::now() - TimeDelta::seconds(1);

    let res = app
        .chat(
            "POST",
            &token,
            &format!("/chat/threads?api-version={CHAT_V}"),
            Some(&json!({"topic": "Lunch", "participants": [participant(&bob)]})),
        )
        .await;

    assert_eq!(res.status(), 201);
    assert_eq!(
        res.headers()["api-supported-versions"],
        "2021-09-07, 2023-11-07, 2024-03-07, 2025-03-15"
    );
    let location = res.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_string();
    let body = body(res).await;
    let id = body["chatThread"]["id"].as_str().expect("id").to_string();
    assert!(id.starts_with("19:") && id.ends_with("@thread.v2"), "{id}");
    assert_eq!(
        location,
        format!("{}/chat/threads/{}", app.https, id.replace(':', "%3A"))
    );
    let created = time(&body["chatThread"]["createdOn"]);
    assert!(created >= before && created <= Utc::now());
    assert_eq!(
        body,
        json!({"chatThread": {
            "id": id,
            "topic": "Lunch",
            "createdOn": body["chatThread"]["createdOn"],
            "createdByCommunicationIdentifier": user_model(&alice),
        }})
    );
}

#[tokio::test]
async fn participants_that_cannot_join_are_reported_not_refused() {
    let app = spawn_app().await;
    let (alice, token) = app.create_user_and_token(&["chat"]).await;
    let bob = app.create_identity().await;
    let unknown = "8:acs:acacacac-0000-4000-8000-000000000001_00000000-0000-0000-0000-000000000000";
    let foreign = "8:acs:2dee53b4-368b-45b4-ab52-8493fb117652_00000005-14a2-493b-8a72-5a3a0d000081";
    let deleted = app.create_identity().await;
    app.delete_identity(&deleted).await;

    let body = app
        .create_thread(
            &token,
            &json!({"topic": "T", "participants": [
                participant(&bob),
                participant(unknown),
                participant(foreign),
                participant(&deleted),
                {"communicationIdentifier": {"rawId": "not-an-id"}},
                {"communicationIdentifier": {"phoneNumber": {"value": "+14255550123"}}, "displayName": "Phone"},
                {"communicationIdentifier": {"microsoftTeamsUser": {"userId": "45ab2481-1c1c-4005-be24-0ffb879b1130"}}},
            ]}),
        )
        .await;

    assert_eq!(
        body["invalidParticipants"],
        json!([
            {"code": "404", "message": "Not found", "target": unknown},
            {"code": "403", "message": "Permissions check failed", "target": foreign},
            {"code": "404", "message": "Not found", "target": deleted},
            {"code": "400", "message": "Invalid identifier", "target": "not-an-id"},
        ])
    );
    let id = body["chatThread"]["id"].as_str().expect("id");
    let res = app
        .chat(
            "GET",
            &token,
            &thread_url(id, "/participants", CHAT_V),
            None,
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        body_value(res).await,
        json!({"value": [
            {"communicationIdentifier": user_model(&alice)},
            {"communicationIdentifier": user_model(&bob)},
            {"communicationIdentifier": {"kind": "phoneNumber", "rawId": "4:+14255550123",
                "phoneNumber": {"value": "+14255550123"}}, "displayName": "Phone"},
            {"communicationIdentifier": {"kind": "microsoftTeamsUser",
                "rawId": "8:orgid:45ab2481-1c1c-4005-be24-0ffb879b1130",
                "microsoftTeamsUser": {"userId": "45ab2481-1c1c-4005-be24-0ffb879b1130",
                    "isAnonymous": false, "cloud": "public"}}},
        ]})
    );
}

async fn body_value(res: reqwest::Response) -> Value {
    body(res).await
}

#[tokio::test]
async fn the_same_repeatability_request_id_returns_the_same_thread() {
    let app = spawn_app().await;
    let (_, alice) = app.create_user_and_token(&["chat"]).await;
    let (_, bob) = app.create_user_and_token(&["chat"]).await;
    let create = |token: String, key: &'static str| {
        let app = &app;
        async move {
            let res = app
                .client
                .post(format!("{}/chat/threads?api-version={CHAT_V}", app.https))
                .bearer_auth(token)
                .header("repeatability-request-id", key)
                .json(&json!({"topic": "once"}))
                .send()
                .await
                .expect("sent");
            assert_eq!(res.status(), 201);
            body(res).await["chatThread"]["id"].clone()
        }
    };
    let first = create(alice.clone(), "5a1e2c3b-0000-4000-8000-000000000001").await;
    let again = create(alice.clone(), "5a1e2c3b-0000-4000-8000-000000000001").await;
    let other_key = create(alice.clone(), "5a1e2c3b-0000-4000-8000-000000000002").await;
    let other_user = create(bob.clone(), "5a1e2c3b-0000-4000-8000-000000000001").await;
    assert_eq!(first, again);
    assert_ne!(first, other_key);
    assert_ne!(first, other_user);
    let res = app
        .chat(
            "GET",
            &alice,
            &format!("/chat/threads?api-version={CHAT_V}"),
            None,
        )
        .await;
    assert_eq!(body(res).await["value"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn create_thread_validates_its_input_and_api_version() {
    let app = spawn_app().await;
    let (_, token) = app.create_user_and_token(&["chat"]).await;
    let res = app
        .chat(
            "POST",
            &token,
            &format!("/chat/threads?api-version={CHAT_V}"),
            Some(&json!({})),
        )
        .await;
    assert_error(res, 400, "ValidationError").await;
    let res = app
        .chat(
            "POST",
            &token,
            "/chat/threads",
            Some(&json!({"topic": "x"})),
        )
        .await;
    assert_error(res, 400, "ApiVersionUnspecified").await;
    let res = app
        .chat(
            "POST",
            &token,
            "/chat/threads?api-version=2021-03-07",
            Some(&json!({"topic": "x"})),
        )
        .await;
    assert_error(res, 400, "InvalidApiVersion").await;
    let res = app
        .chat(
            "POST",
            &token,
            &format!("/chat/threads?api-version={CHAT_V}"),
            Some(&json!({"topic": "x", "participants": [{"displayName": "no id"}]})),
        )
        .await;
    assert_error(res, 400, "ValidationError").await;
    let res = app
        .chat(
            "PUT",
            &token,
            &format!("/chat/threads?api-version={CHAT_V}"),
            None,
        )
        .await;
    assert_error(res, 405, "MethodNotAllowed").await;
}

#[tokio::test]
async fn get_thread_accepts_encoded_and_raw_ids_and_refuses_outsiders() {
    let app = spawn_app().await;
    let (alice, token) = app.create_user_and_token(&["chat"]).await;
    let (_, outsider) = app.create_user_and_token(&["chat"]).await;
    let id = app.thread_with(&token, "T", &[]).await;

    for path in [
        thread_url(&id, "", CHAT_V),
        format!("/chat/threads/{id}?api-version={CHAT_V}"),
    ] {
        let res = app.chat("GET", &token, &path, None).await;
        assert_eq!(res.status(), 200, "{path}");
        let body = body(res).await;
        assert_eq!(body["id"], id.as_str());
        assert_eq!(body["topic"], "T");
        assert_eq!(body["createdByCommunicationIdentifier"], user_model(&alice));
    }
    assert_forbidden(
        app.chat("GET", &outsider, &thread_url(&id, "", CHAT_V), None)
            .await,
    )
    .await;
    let unknown = "19:acsemu_00000000000000000000000000000000@thread.v2";
    assert_error(
        app.chat("GET", &token, &thread_url(unknown, "", CHAT_V), None)
            .await,
        404,
        "NotFound",
    )
    .await;
    assert_error(
        app.chat(
            "GET",
            &token,
            &format!("/chat/threads/garbage?api-version={CHAT_V}"),
            None,
        )
        .await,
        404,
        "NotFound",
    )
    .await;
}

#[tokio::test]
async fn updating_the_topic_returns_204_and_emits_topic_updated() {
    let app = spawn_app().await;
    let (alice, token) = app.create_user_and_token(&["chat"]).await;
    let id = app.thread_with(&token, "Old", &[]).await;

    let res = app
        .chat(
            "PATCH",
            &token,
            &thread_url(&id, "", CHAT_V),
            Some(&json!({"topic": "New"})),
        )
        .await;
    assert_eq!(res.status(), 204);
    assert!(res.text().await.expect("body").is_empty());

    let thread = body(
        app.chat("GET", &token, &thread_url(&id, "", CHAT_V), None)
            .await,
    )
    .await;
    assert_eq!(thread["topic"], "New");
    let messages = body(
        app.chat("GET", &token, &thread_url(&id, "/messages", CHAT_V), None)
            .await,
    )
    .await;
    let newest = &messages["value"][0];
    assert_eq!(
        newest,
        &json!({
            "id": newest["id"], "type": "topicUpdated", "sequenceId": "3",
            "version": newest["id"], "createdOn": newest["createdOn"],
            "content": {"topic": "New", "initiatorCommunicationIdentifier": user_model(&alice)},
        })
    );
}

#[tokio::test]
async fn metadata_and_retention_policy_round_trip_in_2025_03_15_only() {
    let app = spawn_app().await;
    let (_, token) = app.create_user_and_token(&["chat"]).await;
    let bob = app.create_identity().await;
    let mut bob_participant = participant(&bob);
    bob_participant["metadata"] = json!({"role": "guest"});
    let created = app
        .create_thread(
            &token,
            &json!({"topic": "T", "participants": [bob_participant],
                "metadata": {"a": "1", "b": "2"},
                "retentionPolicy": {"kind": "threadCreationDate", "deleteThreadAfterDays": 30}}),
        )
        .await;
    assert_eq!(
        created["chatThread"]["metadata"],
        json!({"a": "1", "b": "2"})
    );
    assert_eq!(
        created["chatThread"]["retentionPolicy"],
        json!({"kind": "threadCreationDate", "deleteThreadAfterDays": 30})
    );
    let id = created["chatThread"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let get = |version: &'static str| {
        let (app, token, id) = (&app, token.clone(), id.clone());
        async move {
            body(
                app.chat("GET", &token, &thread_url(&id, "", version), None)
                    .await,
            )
            .await
        }
    };

    // Merge-patch: keys merge, null deletes a key; retention policy none, then back to a
    // policy, then null (which leaves "none", as the service does).
    let patch = |body: Value| {
        let (app, token, id) = (&app, token.clone(), id.clone());
        async move {
            let res = app
                .chat("PATCH", &token, &thread_url(&id, "", CHAT_V), Some(&body))
                .await;
            assert_eq!(res.status(), 204);
        }
    };
    patch(json!({"metadata": {"b": null, "c": "3"}, "retentionPolicy": {"kind": "none"}})).await;
    let thread = get(CHAT_V).await;
    assert_eq!(thread["metadata"], json!({"a": "1", "c": "3"}));
    assert_eq!(thread["retentionPolicy"], json!({"kind": "none"}));
    patch(json!({"retentionPolicy": {"kind": "threadCreationDate", "deleteThreadAfterDays": 7}}))
        .await;
    assert_eq!(
        get(CHAT_V).await["retentionPolicy"],
        json!({"kind": "threadCreationDate", "deleteThreadAfterDays": 7})
    );
    patch(json!({"retentionPolicy": null})).await;
    let thread = get(CHAT_V).await;
    assert_eq!(
        thread["retentionPolicy"],
        json!({"kind": "none"}),
        "{thread}"
    );
    assert_eq!(thread["metadata"], json!({"a": "1", "c": "3"}));
    patch(json!({"metadata": null})).await;
    assert!(get(CHAT_V).await.get("metadata").is_none());

    // Older versions neither return nor accept them.
    patch(json!({"metadata": {"x": "y"}})).await;
    let old = get("2024-03-07").await;
    assert!(
        old.get("metadata").is_none() && old.get("retentionPolicy").is_none(),
        "{old}"
    );
    let participants = body(
        app.chat(
            "GET",
            &token,
            &thread_url(&id, "/participants", "2024-03-07"),
            None,
        )
        .await,
    )
    .await;
    assert!(participants["value"][1].get("metadata").is_none());
    let participants = body(
        app.chat(
            "GET",
            &token,
            &thread_url(&id, "/participants", CHAT_V),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(
        participants["value"][1]["metadata"],
        json!({"role": "guest"})
    );
}

#[tokio::test]
async fn metadata_over_one_kilobyte_is_rejected() {
    let app = spawn_app().await;
    let (_, token) = app.create_user_and_token(&["chat"]).await;
    let big = "x".repeat(1022);
    let res = app
        .chat(
            "POST",
            &token,
            &format!("/chat/threads?api-version={CHAT_V}"),
            Some(&json!({"topic": "T", "metadata": {"key": big}})),
        )
        .await;
    assert_error(res, 400, "ValidationError").await;
    // Exactly 1024 bytes is fine.
    let ok = "x".repeat(1021);
    let id = app
        .create_thread(&token, &json!({"topic": "T", "metadata": {"key": ok}}))
        .await["chatThread"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    // A patch that pushes it over is refused and changes nothing.
    let res = app
        .chat(
            "PATCH",
            &token,
            &thread_url(&id, "", CHAT_V),
            Some(&json!({"metadata": {"k2": "v"}})),
        )
        .await;
    assert_error(res, 400, "ValidationError").await;
    let bob = app.create_identity().await;
    let mut p = participant(&bob);
    p["metadata"] = json!({"k": "x".repeat(1024)});
    let res = app
        .chat(
            "POST",
            &token,
            &thread_url(&id, "/participants/:add", CHAT_V),
            Some(&json!({"participants": [p]})),
        )
        .await;
    assert_error(res, 400, "ValidationError").await;
}

#[tokio::test]
async fn a_deleted_thread_is_gone_for_everyone_and_deleting_again_succeeds() {
    let app = spawn_app().await;
    let (_, alice) = app.create_user_and_token(&["chat"]).await;
    let (bob_id, bob) = app.create_user_and_token(&["chat"]).await;
    let (_, outsider) = app.create_user_and_token(&["chat"]).await;
    let id = app.thread_with(&alice, "T", &[&bob_id]).await;
    app.send_text(&bob, &id, "hi").await;

    assert_forbidden(
        app.chat("DELETE", &outsider, &thread_url(&id, "", CHAT_V), None)
            .await,
    )
    .await;
    let res = app
        .chat("DELETE", &alice, &thread_url(&id, "", CHAT_V), None)
        .await;
    assert_eq!(res.status(), 204);
    for token in [&alice, &bob] {
        for path in [
            thread_url(&id, "", CHAT_V),
            thread_url(&id, "/messages", CHAT_V),
            thread_url(&id, "/participants", CHAT_V),
        ] {
            assert_error(app.chat("GET", token, &path, None).await, 404, "NotFound").await;
        }
        let list = body(
            app.chat(
                "GET",
                token,
                &format!("/chat/threads?api-version={CHAT_V}"),
                None,
            )
            .await,
        )
        .await;
        assert_eq!(list, json!({"value": []}));
    }
    let res = app
        .chat("DELETE", &bob, &thread_url(&id, "", CHAT_V), None)
        .await;
    assert_eq!(res.status(), 204);
    let res = app
        .chat(
            "POST",
            &bob,
            &thread_url(&id, "/messages", CHAT_V),
            Some(&json!({"content": "x"})),
        )
        .await;
    assert_error(res, 404, "NotFound").await;
}

#[tokio::test]
async fn list_threads_shows_only_the_callers_threads_newest_activity_first() {
    let app = spawn_app().await;
    let (alice_id, alice) = app.create_user_and_token(&["chat"]).await;
    let (_, bob) = app.create_user_and_token(&["chat"]).await;
    let first = app.thread_with(&alice, "first", &[]).await;
    app.state
        .clock
        .advance(TimeDelta::seconds(10))
        .expect("within the clock's range");
    let second = app.thread_with(&alice, "second", &[]).await;
    let _bobs = app.thread_with(&bob, "not alice's", &[]).await;
    app.state
        .clock
        .advance(TimeDelta::seconds(10))
        .expect("within the clock's range");
    app.send_text(&alice, &first, "bump").await;
    let _ = alice_id;

    let list = body(
        app.chat(
            "GET",
            &alice,
            &format!("/chat/threads?api-version={CHAT_V}"),
            None,
        )
        .await,
    )
    .await;
    let items = list["value"].as_array().expect("value");
    assert_eq!(items.len(), 2, "{list}");
    assert_eq!(items[0]["id"], first.as_str());
    assert_eq!(items[0]["topic"], "first");
    assert_eq!(items[1]["id"], second.as_str());
    assert!(time(&items[0]["lastMessageReceivedOn"]) > time(&items[1]["lastMessageReceivedOn"]));
    assert_eq!(
        items[1],
        json!({"id": second, "topic": "second", "lastMessageReceivedOn": items[1]["lastMessageReceivedOn"]})
    );
    assert!(list.get("nextLink").is_none());

    // startTime keeps threads with activity at or after it.
    let start = time(&items[1]["lastMessageReceivedOn"]) + TimeDelta::seconds(1);
    let path = format!(
        "/chat/threads?api-version={CHAT_V}&startTime={}",
        start
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            .replace(':', "%3A")
    );
    let list = body(app.chat("GET", &alice, &path, None).await).await;
    assert_eq!(list["value"].as_array().map(Vec::len), Some(1));
    assert_eq!(list["value"][0]["id"], first.as_str());

    // Paging one by one.
    let (items, pages) = app
        .collect_pages(
            &alice,
            &format!("/chat/threads?maxPageSize=1&api-version={CHAT_V}"),
        )
        .await;
    assert_eq!(pages, 2);
    let ids: Vec<&str> = items.iter().filter_map(|i| i["id"].as_str()).collect();
    assert_eq!(ids, vec![first.as_str(), second.as_str()]);
}

#[tokio::test]
async fn scopes_limit_what_a_participant_may_do() {
    let app = spawn_app().await;
    let (_, owner) = app.create_user_and_token(&["chat"]).await;
    let (join_id, join) = app.create_user_and_token(&["chat.join"]).await;
    let (limited_id, limited) = app.create_user_and_token(&["chat.join.limited"]).await;
    let (voip_id, voip) = app.create_user_and_token(&["voip"]).await;
    let extra = app.create_identity().await;
    let id = app
        .thread_with(&owner, "T", &[&join_id, &limited_id, &voip_id])
        .await;
    let create = format!("/chat/threads?api-version={CHAT_V}");
    let add = thread_url(&id, "/participants/:add", CHAT_V);
    let remove = thread_url(&id, "/participants/:remove", CHAT_V);

    for token in [&join, &limited] {
        assert_forbidden(
            app.chat("POST", token, &create, Some(&json!({"topic": "x"})))
                .await,
        )
        .await;
        assert_forbidden(
            app.chat(
                "PATCH",
                token,
                &thread_url(&id, "", CHAT_V),
                Some(&json!({"topic": "x"})),
            )
            .await,
        )
        .await;
        assert_forbidden(
            app.chat("DELETE", token, &thread_url(&id, "", CHAT_V), None)
                .await,
        )
        .await;
        // Everyday operations work.
        app.send_text(token, &id, "hello").await;
        for path in ["", "/messages", "/participants", "/readReceipts"] {
            let res = app
                .chat("GET", token, &thread_url(&id, path, CHAT_V), None)
                .await;
            assert_eq!(res.status(), 200, "{path}");
        }
        let res = app
            .chat("POST", token, &thread_url(&id, "/typing", CHAT_V), None)
            .await;
        assert_eq!(res.status(), 200);
    }
    // chat.join may add and remove participants; chat.join.limited may not.
    let res = app
        .chat(
            "POST",
            &join,
            &add,
            Some(&json!({"participants": [participant(&extra)]})),
        )
        .await;
    assert_eq!(res.status(), 201);
    let res = app
        .chat(
            "POST",
            &join,
            &remove,
            Some(&participant(&extra)["communicationIdentifier"]),
        )
        .await;
    assert_eq!(res.status(), 204);
    assert_forbidden(
        app.chat(
            "POST",
            &limited,
            &add,
            Some(&json!({"participants": [participant(&extra)]})),
        )
        .await,
    )
    .await;
    assert_forbidden(
        app.chat(
            "POST",
            &limited,
            &remove,
            Some(&participant(&join_id)["communicationIdentifier"]),
        )
        .await,
    )
    .await;
    // No chat scope at all: nothing.
    for (method, path) in [
        ("GET", thread_url(&id, "", CHAT_V)),
        ("GET", format!("/chat/threads?api-version={CHAT_V}")),
        ("GET", thread_url(&id, "/messages", CHAT_V)),
        ("POST", thread_url(&id, "/typing", CHAT_V)),
    ] {
        assert_forbidden(app.chat(method, &voip, &path, None).await).await;
    }
}

#[tokio::test]
async fn bad_tokens_get_401_on_every_chat_route() {
    let app = spawn_app().await;
    let (alice_id, alice) = app.create_user_and_token(&["chat"]).await;
    let id = app.thread_with(&alice, "T", &[]).await;
    let path = thread_url(&id, "", CHAT_V);

    let res = app
        .client
        .get(format!("{}{path}", app.https))
        .send()
        .await
        .expect("sent");
    assert_error(res, 401, "Unauthorized").await;
    assert_error(
        app.chat("GET", &path, &path, None).await,
        401,
        "Unauthorized",
    )
    .await;
    let forged = format!("{}x", &alice[..alice.len() - 1]);
    assert_error(
        app.chat("GET", &forged, &path, None).await,
        401,
        "Unauthorized",
    )
    .await;

    // Expired: the emulator clock passes the token's lifetime (24 h).
    app.state
        .clock
        .advance(TimeDelta::hours(25))
        .expect("within the clock's range");
    assert_error(
        app.chat("GET", &alice, &path, None).await,
        401,
        "Unauthorized",
    )
    .await;
    app.state
        .clock
        .advance(TimeDelta::hours(-25))
        .expect("within the clock's range");
    assert_eq!(app.chat("GET", &alice, &path, None).await.status(), 200);

    // Revoked.
    app.revoke(&alice_id).await;
    let message = assert_error(
        app.chat("GET", &alice, &path, None).await,
        401,
        "Unauthorized",
    )
    .await;
    assert!(message.contains("revoked"), "{message}");

    // Deleted identity.
    let (bob_id, bob) = app.create_user_and_token(&["chat"]).await;
    let bobs = app.thread_with(&bob, "B", &[]).await;
    app.delete_identity(&bob_id).await;
    let res = app
        .chat("GET", &bob, &thread_url(&bobs, "", CHAT_V), None)
        .await;
    assert_error(res, 401, "Unauthorized").await;
}

#[tokio::test]
async fn every_supported_api_version_serves_the_same_operations() {
    let app = spawn_app().await;
    let (alice, token) = app.create_user_and_token(&["chat"]).await;
    for version in ["2021-09-07", "2023-11-07", "2024-03-07", "2025-03-15"] {
        let res = app
            .chat(
                "POST",
                &token,
                &format!("/chat/threads?api-version={version}"),
                Some(&json!({"topic": version, "metadata": {"k": "v"},
                    "retentionPolicy": {"kind": "none"}})),
            )
            .await;
        assert_eq!(res.status(), 201, "{version}");
        let thread = body(res).await["chatThread"].clone();
        let id = thread["id"].as_str().expect("id");
        // Metadata and retention policies exist only from 2025-03-15 on.
        let expected_extra = version == "2025-03-15";
        assert_eq!(
            thread.get("metadata").is_some(),
            expected_extra,
            "{version}: {thread}"
        );
        assert_eq!(
            thread.get("retentionPolicy").is_some(),
            expected_extra,
            "{version}"
        );
        let res = app
            .chat(
                "POST",
                &token,
                &thread_url(id, "/messages", version),
                Some(&json!({"content": "hi", "metadata": {"m": "1"}})),
            )
            .await;
        assert_eq!(res.status(), 201, "{version}");
        let list = body(
            app.chat("GET", &token, &thread_url(id, "/messages", version), None)
                .await,
        )
        .await;
        assert_eq!(list["value"][0]["content"]["message"], "hi", "{version}");
        assert_eq!(list["value"][0]["metadata"], json!({"m": "1"}), "{version}");
        assert_eq!(
            list["value"][0]["senderCommunicationIdentifier"],
            user_model(&alice),
            "{version}"
        );
    }
}

/// A request wrong in several ways gets the error the service checks first: the api-version,
/// then the token's chat scope, then the path's ids, then the body; a list page's continuation
/// token before its api-version.
#[tokio::test]
async fn errors_come_in_the_order_the_service_checks() {
    let app = spawn_app().await;
    let (_, limited) = app.create_user_and_token(&["chat.join.limited"]).await;
    let (_, full) = app.create_user_and_token(&["chat"]).await;
    let thread = encode(&app.thread_with(&full, "T", &[]).await);
    // Bad version and a scope too weak to delete: the version.
    let res = app
        .chat(
            "DELETE",
            &limited,
            "/chat/threads/x?api-version=1999-01-01",
            None,
        )
        .await;
    assert_error(res, 400, "InvalidApiVersion").await;
    // A scope too weak and a malformed thread id: the scope.
    let res = app
        .chat(
            "DELETE",
            &limited,
            &format!("/chat/threads/x?api-version={CHAT_V}"),
            None,
        )
        .await;
    assert_error(res, 403, "Forbidden").await;
    // A malformed thread id and no body: the id.
    let res = app
        .chat(
            "POST",
            &full,
            &format!("/chat/threads/x/messages?api-version={CHAT_V}"),
            None,
        )
        .await;
    assert_error(res, 404, "NotFound").await;
    // A malformed message id, then a missing body.
    let res = app
        .chat(
            "PATCH",
            &full,
            &format!("/chat/threads/{thread}/messages/abc?api-version={CHAT_V}"),
            None,
        )
        .await;
    assert_error(res, 404, "NotFound").await;
    let res = app
        .chat(
            "POST",
            &full,
            &format!("/chat/threads/{thread}/messages?api-version={CHAT_V}"),
            None,
        )
        .await;
    assert_error(res, 400, "InvalidRequestBody").await;
    // A list page: a bad continuation token before a bad or missing api-version.
    for query in ["syncState=%21&api-version=1999-01-01", "syncState=%21"] {
        let res = app
            .chat("GET", &limited, &format!("/chat/threads?{query}"), None)
            .await;
        let message = assert_error(res, 400, "ValidationError").await;
        assert!(message.contains("syncState"), "{message}");
    }
    let res = app.chat("GET", &limited, "/chat/threads", None).await;
    assert_error(res, 400, "ApiVersionUnspecified").await;
}
