//! Snapshots (`GET /_emulator/state`): state built through the API, exported, loaded into a
//! fresh emulator with `--fixtures`, and compared object by object; `POST /_emulator/reset`
//! with `keep=fixtures|nothing`.

use std::path::PathBuf;

use acs_emulator::Config;
use serde_json::{Value, json};

use crate::helpers::{
    CHAT_V, TestApp, assert_error, body, encode, participant, spawn_app, spawn_with,
};
use crate::phone_numbers::toll_free_search;
use crate::sms::FROM;

/// A file in the temporary directory, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn with(extension: &str, text: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "acs-emulator-snapshot-{}.{extension}",
            uuid::Uuid::new_v4()
        ));
        std::fs::write(&path, text).expect("snapshot written");
        Self(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn url(thread: &str, rest: &str) -> String {
    format!(
        "/chat/threads/{}{rest}?api-version={CHAT_V}",
        encode(thread)
    )
}

impl TestApp {
    /// `GET /_emulator/state` with `query`: asserts 200 and returns the response.
    async fn state(&self, query: &str) -> reqwest::Response {
        let res = self
            .client
            .get(format!("{}/_emulator/state{query}", self.http))
            .send()
            .await
            .expect("sent");
        assert_eq!(res.status(), 200, "GET /_emulator/state{query}");
        res
    }

    /// The snapshot as JSON, without its (dated) description.
    async fn state_json(&self) -> Value {
        let mut value = body(self.state("?format=json").await).await;
        value.as_object_mut().expect("object").remove("description");
        value
    }

    /// A fresh token for `user` from the control API.
    async fn token_for(&self, user: &str) -> String {
        let res = self
            .client
            .post(format!(
                "{}/_emulator/identities/{}/token",
                self.http,
                encode(user)
            ))
            .json(&json!({"scopes": ["chat"]}))
            .send()
            .await
            .expect("sent");
        assert_eq!(res.status(), 200);
        body(res).await["token"]
            .as_str()
            .expect("token")
            .to_string()
    }

    /// A Chat GET as `token`: asserts 200 and returns the body.
    async fn chat_get(&self, token: &str, path: &str) -> Value {
        let res = self.chat("GET", token, path, None).await;
        assert_eq!(res.status(), 200, "{path}");
        body(res).await
    }

    /// What a client can read about `thread` as `user`: properties, messages, participants and
    /// read receipts.
    async fn thread_view(&self, user: &str, thread: &str) -> Vec<Value> {
        let token = self.token_for(user).await;
        let mut out = Vec::new();
        for rest in ["", "/messages", "/participants", "/readReceipts"] {
            out.push(self.chat_get(&token, &url(thread, rest)).await);
        }
        out.push(
            self.chat_get(&token, &format!("/chat/threads?api-version={CHAT_V}"))
                .await,
        );
        out
    }
}

/// Builds users, a thread with edits, deletions, system messages and receipts, a room, an
/// opt-out and a deleted identity; returns (alice, bob, carol, thread, room).
async fn build_state(app: &TestApp) -> (String, String, String, String, String) {
    let (alice, alice_token) = app.create_user_and_token(&["chat"]).await;
    let (bob, bob_token) = app.create_user_and_token(&["chat"]).await;
    let carol = app.create_identity().await;
    let gone = app.create_identity().await;
    app.delete_identity(&gone).await;

    let mut bob_participant = participant(&bob);
    bob_participant["displayName"] = json!("Bob");
    bob_participant["metadata"] = json!({"team": "blue"});
    let created = app
        .create_thread(
            &alice_token,
            &json!({
                "topic": "snapshot",
                "participants": [participant(&alice), bob_participant],
                "metadata": {"case": "42"},
                "retentionPolicy": {"kind": "threadCreationDate", "deleteThreadAfterDays": 30},
            }),
        )
        .await;
    let thread = created["chatThread"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let first = app.send_text(&alice_token, &thread, "hello").await;
    let second = app.send_text(&bob_token, &thread, "hi alice").await;
    let third = app.send_text(&alice_token, &thread, "to be deleted").await;
    let res = app
        .chat(
            "PATCH",
            &alice_token,
            &url(&thread, &format!("/messages/{first}")),
            Some(&json!({"content": "hello, edited", "metadata": {"k": "v"}})),
        )
        .await;
    assert_eq!(res.status(), 204);
    let res = app
        .chat(
            "DELETE",
            &alice_token,
            &url(&thread, &format!("/messages/{third}")),
            None,
        )
        .await;
    assert_eq!(res.status(), 204);
    let res = app
        .chat(
            "POST",
            &alice_token,
            &url(&thread, "/participants/:add"),
            Some(&json!({"participants": [participant(&carol)]})),
        )
        .await;
    assert_eq!(res.status(), 201);
    let res = app
        .chat(
            "PATCH",
            &alice_token,
            &url(&thread, ""),
            Some(&json!({"topic": "snapshot, renamed"})),
        )
        .await;
    assert_eq!(res.status(), 204);
    for (token, message) in [(&bob_token, &second), (&alice_token, &first)] {
        let res = app
            .chat(
                "POST",
                token,
                &url(&thread, "/readReceipts"),
                Some(&json!({"chatMessageId": message})),
            )
            .await;
        assert_eq!(res.status(), 200);
    }

    // A room participant the resource holds no identity of (the Rooms API allows it).
    let stranger = format!(
        "8:acs:acacacac-0000-4000-8000-000000000001_{}",
        uuid::Uuid::new_v4()
    );
    let res = app
        .signed_json(
            "POST",
            "/rooms?api-version=2025-03-13",
            &json!({
                "pstnDialOutEnabled": true,
                "participants": {
                    &alice: {"role": "Presenter"},
                    &bob: {"role": "Attendee"},
                    &stranger: {"role": "Consumer"},
                },
            }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let room = body(res).await["id"].as_str().expect("room id").to_string();

    // A bought number, with an opt-out from it besides one from the configured number.
    let bought = app.pn_buy(&toll_free_search(1)).await;
    for from in [FROM, bought[0].as_str()] {
        let res = app
            .signed_json(
                "POST",
                "/sms/optouts:add?api-version=2026-01-23",
                &json!({"from": from, "recipients": [{"to": "+14255550123"}]}),
            )
            .await;
        assert_eq!(res.status(), 200);
    }
    (alice, bob, carol, thread, room)
}

#[tokio::test]
async fn a_snapshot_loads_back_into_the_same_state_object_by_object() {
    // Arrange: state built through the API, exported as YAML and JSON.
    let original = spawn_app().await;
    let (alice, bob, carol, thread, room) = build_state(&original).await;
    let res = original.state("").await;
    assert_eq!(res.headers()["content-type"], "application/yaml");
    let disposition = res.headers()["content-disposition"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(
        disposition.starts_with("attachment; filename=\"acs-emulator-state-")
            && disposition.ends_with(".yaml\""),
        "{disposition}"
    );
    let yaml = res.text().await.expect("text");
    let res = original.state("?format=json").await;
    assert_eq!(res.headers()["content-type"], "application/json");
    let json_text = res.text().await.expect("text");
    let snapshot = original.state_json().await;

    // Act: fresh emulators started with each export as --fixtures.
    for (extension, text) in [("yaml", &yaml), ("json", &json_text)] {
        let file = TempFile::with(extension, text);
        let mut config = Config::for_tests();
        config.scenarios.fixtures = vec![file.0.clone()];
        let copy = spawn_with(config).await;

        // Assert: the same snapshot, and the same answers object by object.
        assert_eq!(copy.state_json().await, snapshot, "{extension}");
        for user in [&alice, &bob, &carol] {
            assert_eq!(
                copy.thread_view(user, &thread).await,
                original.thread_view(user, &thread).await,
                "{extension}: {user}"
            );
        }
        let room_path = format!("/rooms/{room}?api-version=2025-03-13");
        let participants = format!("/rooms/{room}/participants?api-version=2025-03-13");
        for path in [&room_path, &participants] {
            assert_eq!(
                body(copy.signed("GET", path, b"").await).await,
                body(original.signed("GET", path, b"").await).await,
                "{extension}: {path}"
            );
        }
        let identities = format!("{}/_emulator/identities", copy.http);
        let listed = |app: &TestApp| {
            let url = identities.replace(&copy.http, &app.http);
            let client = app.client.clone();
            async move { body(client.get(url).send().await.expect("sent")).await }
        };
        assert_eq!(listed(&copy).await, listed(&original).await, "{extension}");
        let owned = "/phoneNumbers?skip=0&top=100";
        let numbers = body(original.pn_get(owned).await).await;
        assert_eq!(numbers["phoneNumbers"].as_array().map(Vec::len), Some(2));
        assert_eq!(body(copy.pn_get(owned).await).await, numbers, "{extension}");
        for number in numbers["phoneNumbers"].as_array().expect("numbers") {
            let from = number["phoneNumber"].as_str().expect("number");
            let check = json!({"from": from, "recipients": [{"to": "+14255550123"}]});
            let check_path = "/sms/optouts:check?api-version=2026-01-23";
            let checked = body(original.signed_json("POST", check_path, &check).await).await;
            assert_eq!(checked["value"][0]["isOptedOut"], true, "{checked}");
            assert_eq!(
                body(copy.signed_json("POST", check_path, &check).await).await,
                checked,
                "{extension}: {from}"
            );
        }
    }
}

#[tokio::test]
async fn a_snapshot_writes_exact_threads_and_one_resource_on_request() {
    let app = spawn_app().await;
    let (alice, _, carol, thread, _) = build_state(&app).await;

    let snapshot = app.state_json().await;

    let t = &snapshot["threads"][0];
    assert_eq!(t["id"], thread.as_str());
    assert_eq!(t["topic"], "snapshot, renamed");
    assert_eq!(t["createdBy"], alice.as_str());
    assert_eq!(t["metadata"], json!({"case": "42"}));
    let kinds: Vec<&str> = t["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["type"].as_str().unwrap_or("text"))
        .collect();
    // Creating a thread adds its participants and sets its topic: system messages too.
    assert_eq!(
        kinds,
        [
            "participantAdded",
            "topicUpdated",
            "text",
            "text",
            "text",
            "participantAdded",
            "topicUpdated"
        ],
        "{t}"
    );
    let added = &t["messages"][5];
    assert_eq!(added["initiator"], alice.as_str());
    assert_eq!(added["participants"], json!([carol]));
    assert_eq!(t["messages"][6]["topic"], "snapshot, renamed");
    assert!(t["messages"][2]["editedOn"].is_string(), "{t}");
    assert!(t["messages"][2]["version"].is_string(), "{t}");
    assert_eq!(t["messages"][2]["metadata"], json!({"k": "v"}));
    assert!(t["messages"][4]["deletedOn"].is_string(), "{t}");
    assert_eq!(t["messages"][4]["sequenceId"], 5);
    assert_eq!(t["readReceipts"].as_array().expect("receipts").len(), 2);
    assert_eq!(snapshot["identities"].as_array().expect("ids").len(), 4);
    assert!(
        snapshot["identities"][3]["deletedOn"].is_string(),
        "{snapshot}"
    );

    // One resource by name; an unknown one is 404; an unknown format 400.
    let one = body(app.state("?resource=default&format=json").await).await;
    assert_eq!(one["threads"], snapshot["threads"]);
    let res = app
        .client
        .get(format!("{}/_emulator/state?resource=nope", app.http))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 404);
    let res = app
        .client
        .get(format!("{}/_emulator/state?format=xml", app.http))
        .send()
        .await
        .expect("sent");
    assert_error(res, 400, "InvalidFormat").await;
}

#[tokio::test]
async fn an_empty_emulators_snapshot_is_an_empty_fixture_that_loads() {
    let app = spawn_app().await;
    let snapshot = app.state_json().await;
    assert_eq!(snapshot, json!({}));
    let text = app.state("").await.text().await.expect("text");
    let file = TempFile::with("yaml", &text);
    let mut config = Config::for_tests();
    config.scenarios.fixtures = vec![file.0.clone()];
    let copy = spawn_with(config).await;
    assert_eq!(copy.state_json().await, json!({}));
}

#[tokio::test]
async fn reset_keeps_the_fixtures_data_by_default_or_nothing_when_asked() {
    // Arrange: an exported state loaded as fixtures, then more state on top.
    let original = spawn_app().await;
    build_state(&original).await;
    let snapshot = original.state_json().await;
    let file = TempFile::with("json", &serde_json::to_string(&snapshot).expect("json"));
    let mut config = Config::for_tests();
    config.scenarios.fixtures = vec![file.0.clone()];
    let app = spawn_with(config).await;
    app.create_identity().await;
    assert_ne!(app.state_json().await, snapshot);

    let reset = |query: &'static str| {
        let client = app.client.clone();
        let url = format!("{}/_emulator/reset{query}", app.http);
        async move { client.post(url).send().await.expect("sent") }
    };
    // Default and keep=fixtures: back to the loaded fixtures.
    assert_eq!(reset("").await.status(), 200);
    assert_eq!(app.state_json().await, snapshot);
    app.create_identity().await;
    assert_eq!(reset("?keep=fixtures").await.status(), 200);
    assert_eq!(app.state_json().await, snapshot);
    // keep=nothing: empty, until the next plain reset.
    assert_eq!(reset("?keep=nothing").await.status(), 200);
    assert_eq!(app.state_json().await, json!({}));
    assert_eq!(reset("?resource=default").await.status(), 200);
    assert_eq!(app.state_json().await, snapshot);
    assert_error(reset("?keep=everything").await, 400, "InvalidKeep").await;
}

#[tokio::test]
async fn resources_from_fixtures_come_back_with_their_data_and_one_resource_alone() {
    // Arrange: three resources (multi-resource.yaml), with data in each.
    let mut config = Config::for_tests();
    config.scenarios.fixtures =
        vec![concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/multi-resource.yaml").into()];
    let original = spawn_with(config).await;
    build_state(&original).await;
    let snapshot = original.state_json().await;
    let names: Vec<&str> = snapshot["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|r| r["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["contoso", "fabrikam"]);
    assert_eq!(
        snapshot["resources"][0]["secondaryAccessKey"],
        "Y29udG9zby1zZWNvbmRhcnkta2V5LWZvci10aGUtYWNzLWVtdWxhdG9yLTAwMDAwMA=="
    );
    assert!(
        snapshot["optOuts"]
            .as_array()
            .expect("opt-outs")
            .iter()
            .any(|o| o["resource"] == "fabrikam"),
        "{snapshot}"
    );

    // Act: a fresh emulator with only the snapshot (rules are not in it).
    let file = TempFile::with("json", &serde_json::to_string(&snapshot).expect("json"));
    let mut config = Config::for_tests();
    config.scenarios.fixtures = vec![file.0.clone()];
    let copy = spawn_with(config).await;

    // Assert: the same snapshot, the same resources, and one resource alone.
    assert_eq!(copy.state_json().await, snapshot);
    let resources = |app: &TestApp| {
        let url = format!("{}/_emulator/resources", app.http);
        let client = app.client.clone();
        async move {
            let mut listed = body(client.get(url).send().await.expect("sent")).await;
            // The endpoint names the listener's port, which differs.
            for r in listed["value"].as_array_mut().expect("value") {
                r.as_object_mut()
                    .expect("object")
                    .remove("connectionString");
            }
            listed
        }
    };
    assert_eq!(resources(&copy).await, resources(&original).await);
    // Fixture names stay with their identities.
    let named: Vec<&str> = snapshot["identities"]
        .as_array()
        .expect("identities")
        .iter()
        .filter_map(|i| i["name"].as_str())
        .collect();
    assert_eq!(named, ["contoso-agent", "fabrikam-agent"]);
    for resource in ["default", "contoso", "fabrikam"] {
        let listed = |app: &TestApp| {
            let url = format!("{}/_emulator/identities?resource={resource}", app.http);
            let client = app.client.clone();
            async move { body(client.get(url).send().await.expect("sent")).await }
        };
        assert_eq!(listed(&copy).await, listed(&original).await, "{resource}");
    }
    let one = body(copy.state("?resource=fabrikam&format=json").await).await;
    assert_eq!(one["resources"][0]["name"], "fabrikam");
    assert_eq!(one["resources"].as_array().map(Vec::len), Some(1));
    assert!(
        one["identities"]
            .as_array()
            .expect("identities")
            .iter()
            .all(|i| i["resource"] == "fabrikam"),
        "{one}"
    );
    assert!(one.get("threads").is_none(), "{one}");
}

#[tokio::test]
async fn exact_threads_and_bought_numbers_are_checked_before_anything_loads() {
    let app = spawn_app().await;
    let thread = |messages: Value, extra: Value| {
        let mut t = json!({
            "topic": "t",
            "createdOn": "2026-01-02T03:04:05Z",
            "participants": ["a", "b"],
            "messages": messages,
        });
        for (k, v) in extra.as_object().expect("object") {
            t[k] = v.clone();
        }
        json!({"identities": [{"name": "a"}, {"name": "b"}], "threads": [t]})
    };
    let text = |id: &str, at: &str| json!({"id": id, "from": "a", "content": "x", "createdOn": at});
    let cases = [
        (
            thread(
                json!([
                    text("2", "2026-01-02T03:04:05Z"),
                    text("1", "2026-01-02T03:04:06Z")
                ]),
                json!({}),
            ),
            "message ids must increase",
        ),
        (
            thread(
                json!([
                    text("1", "2026-01-02T03:04:06Z"),
                    text("2", "2026-01-02T03:04:05Z")
                ]),
                json!({}),
            ),
            "must not decrease",
        ),
        (
            thread(
                json!([{"id": "1", "sequenceId": 2, "from": "a", "content": "x", "createdOn": "2026-01-02T03:04:05Z"}]),
                json!({}),
            ),
            "sequenceId 2 is not its position (1)",
        ),
        (
            thread(json!([text("1", "yesterday")]), json!({})),
            "'yesterday' is not an RFC 3339 time",
        ),
        (
            thread(
                json!([text("1", "2026-01-02T03:04:05Z")]),
                json!({"readReceipts": [{"user": "b", "messageId": "9", "readOn": "2026-01-02T03:04:05Z"}]}),
            ),
            "the thread has no message 9",
        ),
        (
            thread(
                json!([{"id": "1", "type": "topicUpdated", "createdOn": "2026-01-02T03:04:05Z"}]),
                json!({}),
            ),
            "needs its initiator",
        ),
        (
            thread(json!([]), json!({"createdBy": "nobody"})),
            "'nobody' is not an identity",
        ),
        (
            json!({"purchasedPhoneNumbers": [{"phoneNumber": FROM, "phoneNumberType": "tollFree"}]}),
            "is already a phone number of resource 'default'",
        ),
        (
            json!({"identities": [{"name": "a"}],
                   "threads": [{"topic": "t", "participants": ["a"],
                                "messages": [{"id": "1", "from": "a", "content": "x"}]}]}),
            "id needs the thread's createdOn",
        ),
    ];
    for (document, reason) in cases {
        let res = app
            .client
            .post(format!("{}/_emulator/fixtures", app.http))
            .json(&document)
            .send()
            .await
            .expect("sent");
        let message = assert_error(res, 400, "InvalidFixture").await;
        assert!(message.contains(reason), "{reason}: {message}");
    }
    // Nothing was loaded.
    assert_eq!(app.state_json().await, json!({}));
}

#[tokio::test]
async fn with_a_control_token_a_snapshot_needs_it() {
    let mut config = Config::for_tests();
    config.control.control_token = Some("snapshot-control-token-0123456789".into());
    let app = spawn_with(config).await;
    app.create_identity().await;
    let url = format!("{}/_emulator/state", app.http);

    let res = app.client.get(&url).send().await.expect("sent");
    assert_error(res, 401, "Unauthorized").await;
    let res = app
        .client
        .get(&url)
        .bearer_auth("snapshot-control-token-0123456789")
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 200);
    assert!(res.text().await.expect("text").contains("identities:"));
}
