//! Rooms: create, list, get, update, delete, participants, paging, repeatability, the
//! real service's errors, caps, scenario rules, the journal and reset.

use acs_emulator::Config;
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, body, spawn_app, spawn_with};

const V: &str = "2025-03-13";

fn rooms(query: &str) -> String {
    format!("/rooms?api-version={V}{query}")
}

fn room(id: &str) -> String {
    format!("/rooms/{id}?api-version={V}")
}

fn participants(id: &str) -> String {
    format!("/rooms/{id}/participants?api-version={V}")
}

fn iso(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

impl TestApp {
    async fn create_room(&self, body: &Value) -> Value {
        let res = self.signed_json("POST", &rooms(""), body).await;
        assert_eq!(res.status(), 201, "create");
        body_of(res).await
    }

    async fn room_participants(&self, id: &str) -> Vec<Value> {
        let res = self.signed("GET", &participants(id), b"").await;
        assert_eq!(res.status(), 200);
        let mut value = body(res).await["value"].as_array().expect("value").clone();
        // Sorted: a JSON object's keys carry no order.
        value.sort_by_key(|p| p["rawId"].as_str().unwrap_or("").to_string());
        value
    }
}

fn sorted(mut v: Vec<Value>) -> Vec<Value> {
    v.sort_by_key(|p| p["rawId"].as_str().unwrap_or("").to_string());
    v
}

async fn body_of(res: reqwest::Response) -> Value {
    body(res).await
}

/// The first `BadArgument` detail of a Rooms validation error.
async fn bad_argument(res: reqwest::Response) -> Value {
    assert_eq!(res.status(), 400);
    let body = body(res).await;
    assert_eq!(body["error"]["code"], "BadRequest", "{body}");
    assert_eq!(
        body["error"]["message"],
        "The request could not be understood by the server due to malformed syntax."
    );
    let detail = body["error"]["details"][0].clone();
    assert_eq!(detail["code"], "BadArgument", "{body}");
    detail
}

#[tokio::test]
async fn a_room_is_created_with_defaults_and_found_again() {
    let app = spawn_app().await;
    let before = app.state.clock.now();
    let res = app
        .signed_json(
            "POST",
            &rooms(""),
            &json!({"validFrom": null, "validUntil": null, "pstnDialOutEnabled": false}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let location = res.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(res.headers().get("repeatability-result").is_none());
    let created = body(res).await;
    let id = created["id"].as_str().expect("id");
    assert_eq!(location, id, "Location is the bare room id");
    assert_eq!(id.len(), 17);
    assert!(id.bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(created["pstnDialOutEnabled"], false);
    let from = DateTime::parse_from_rfc3339(created["validFrom"].as_str().expect("from"))
        .expect("rfc3339");
    let until = DateTime::parse_from_rfc3339(created["validUntil"].as_str().expect("until"))
        .expect("rfc3339");
    assert_eq!(until - from, TimeDelta::days(180));
    assert!(from.to_utc() >= before - TimeDelta::seconds(1));
    for field in ["createdAt", "validFrom", "validUntil"] {
        let text = created[field].as_str().expect("time");
        assert!(text.ends_with("+00:00") && text.contains('.'), "{text}");
    }

    let res = app.signed("GET", &room(id), b"").await;
    assert_eq!(res.status(), 200);
    assert_eq!(body(res).await, created);
}

#[tokio::test]
async fn times_are_echoed_to_the_microsecond_with_a_fraction() {
    let app = spawn_app().await;
    let now = app.state.clock.now();
    let day = (now + TimeDelta::days(1)).format("%Y-%m-%d").to_string();
    let created = app
        .create_room(&json!({
            "validFrom": format!("{day}T10:00:00.123456Z"),
            "validUntil": format!("{day}T14:00:00.1+02:00"),
        }))
        .await;
    assert_eq!(created["validFrom"], format!("{day}T10:00:00.123456+00:00"));
    assert_eq!(created["validUntil"], format!("{day}T12:00:00.1+00:00"));
    let id = created["id"].as_str().expect("id");
    let res = app
        .signed_json(
            "PATCH",
            &room(id),
            &json!({"validUntil": format!("{day}T11:00:00Z"), "validFrom": null}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let updated = body(res).await;
    assert_eq!(updated["validFrom"], created["validFrom"], "null leaves it");
    assert_eq!(updated["validUntil"], format!("{day}T11:00:00.0+00:00"));
}

#[tokio::test]
async fn a_patch_merges_and_null_leaves_fields_unchanged() {
    let app = spawn_app().await;
    let created = app.create_room(&json!({"participants": {}})).await;
    let id = created["id"].as_str().expect("id");
    for patch in [
        json!({}),
        json!({"validFrom": null, "validUntil": null, "pstnDialOutEnabled": null}),
    ] {
        let res = app.signed_json("PATCH", &room(id), &patch).await;
        assert_eq!(res.status(), 200);
        assert_eq!(body(res).await, created, "{patch}");
    }
    let res = app
        .signed_json(
            "PATCH",
            &room(id),
            &json!({"validFrom": null, "validUntil": null, "pstnDialOutEnabled": true}),
        )
        .await;
    let updated = body(res).await;
    assert_eq!(updated["pstnDialOutEnabled"], true);
    assert_eq!(updated["validUntil"], created["validUntil"]);
    assert_eq!(updated["createdAt"], created["createdAt"]);
    // merge-patch+json is JSON too.
    let bytes = json!({"pstnDialOutEnabled": false}).to_string();
    let target = room(id);
    let s = app.sign("PATCH", &target, bytes.as_bytes());
    let mut headers = s.headers().to_vec();
    headers.push(("content-type", "application/merge-patch+json"));
    let res = app.send("PATCH", &target, &headers, bytes.as_bytes()).await;
    assert_eq!(res.status(), 200);
    assert_eq!(body(res).await["pstnDialOutEnabled"], false);
}

#[tokio::test]
async fn windows_longer_than_180_days_or_over_are_refused_as_the_service_does() {
    let app = spawn_app().await;
    let now = app.state.clock.now();
    let detail = bad_argument(
        app.signed_json(
            "POST",
            &rooms(""),
            &json!({"validFrom": iso(now), "validUntil": iso(now + TimeDelta::days(181))}),
        )
        .await,
    )
    .await;
    assert_eq!(
        detail["message"],
        "The time range is incorrect, or larger than 180 days."
    );
    assert_eq!(detail["target"], "ValidUntil");
    let detail = bad_argument(
        app.signed_json(
            "POST",
            &rooms(""),
            &json!({"validUntil": iso(now - TimeDelta::days(1))}),
        )
        .await,
    )
    .await;
    assert_eq!(detail["message"], "The time range end is in the past.");
    let detail = bad_argument(
        app.signed_json(
            "POST",
            &rooms(""),
            &json!({"validFrom": iso(now + TimeDelta::days(210))}),
        )
        .await,
    )
    .await;
    assert_eq!(detail["target"], "ValidFrom");
    let detail = bad_argument(
        app.signed_json("POST", &rooms(""), &json!({"validFrom": "tomorrow"}))
            .await,
    )
    .await;
    assert_eq!(detail["target"], "$.validFrom");
    // A slightly past validFrom is fine.
    app.create_room(&json!({"validFrom": iso(now - TimeDelta::seconds(20))}))
        .await;

    // On update the merged window is checked.
    let created = app.create_room(&json!({})).await;
    let id = created["id"].as_str().expect("id");
    let detail = bad_argument(
        app.signed_json(
            "PATCH",
            &room(id),
            &json!({"validUntil": iso(now + TimeDelta::days(200))}),
        )
        .await,
    )
    .await;
    assert_eq!(detail["target"], "ValidUntil");
    let res = app.signed("GET", &room(id), b"").await;
    assert_eq!(body(res).await, created, "a refused update changes nothing");
}

#[tokio::test]
async fn room_ids_are_checked_then_looked_up() {
    let app = spawn_app().await;
    for method in ["GET", "PATCH", "DELETE"] {
        let body = if method == "PATCH" {
            b"{}".as_slice()
        } else {
            b""
        };
        let message = assert_error(
            app.signed(method, &room("invalid_id"), body).await,
            400,
            "BadRequest",
        )
        .await;
        assert_eq!(message, "Invalid room ID length.");
        let message = assert_error(
            app.signed(method, &room("123"), body).await,
            400,
            "BadRequest",
        )
        .await;
        assert_eq!(message, "Invalid room ID length.");
        let message = assert_error(
            app.signed(method, &room("non-existingroomId"), body).await,
            400,
            "BadRequest",
        )
        .await;
        assert_eq!(message, "Invalid room ID.");
    }
    let res = app.signed("GET", &room("78469124725336262"), b"").await;
    assert_eq!(res.headers()["x-ms-error-code"], "NotFound");
    let message = assert_error(res, 404, "NotFound").await;
    assert_eq!(message, "The server cannot find the requested resource.");
    assert_error(
        app.signed("PATCH", &room("78469124725336262"), b"{}").await,
        404,
        "NotFound",
    )
    .await;
    assert_error(
        app.signed("GET", &participants("78469124725336262"), b"")
            .await,
        404,
        "NotFound",
    )
    .await;
    assert_error(
        app.signed_json(
            "PATCH",
            &participants("78469124725336262"),
            &json!({"participants": {}}),
        )
        .await,
        404,
        "NotFound",
    )
    .await;
}

#[tokio::test]
async fn delete_is_204_and_idempotent() {
    let app = spawn_app().await;
    let id = app.create_room(&json!({})).await["id"]
        .as_str()
        .expect("id")
        .to_string();
    for _ in 0..2 {
        let res = app.signed("DELETE", &room(&id), b"").await;
        assert_eq!(res.status(), 204);
        assert!(res.text().await.expect("body").is_empty());
    }
    assert_error(app.signed("GET", &room(&id), b"").await, 404, "NotFound").await;
    assert_error(
        app.signed("PATCH", &room(&id), b"{}").await,
        404,
        "NotFound",
    )
    .await;
}

#[tokio::test]
async fn participants_are_added_updated_and_removed_per_raw_id() {
    let app = spawn_app().await;
    let (a, b, c) = (
        app.create_identity().await,
        app.create_identity().await,
        app.create_identity().await,
    );
    let created = app
        .create_room(&json!({"participants": {&a: {"role": "Presenter"}, &b: {}}}))
        .await;
    let id = created["id"].as_str().expect("id");
    assert_eq!(
        app.room_participants(id).await,
        sorted(vec![
            json!({"rawId": a, "role": "Presenter"}),
            json!({"rawId": b, "role": "Attendee"})
        ])
    );
    let res = app
        .signed_json(
            "PATCH",
            &participants(id),
            &json!({"participants": {&a: null, &b: {"role": "collaborator"}, &c: {"role": "Consumer"}}}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(body(res).await, json!({}));
    assert_eq!(
        app.room_participants(id).await,
        sorted(vec![
            json!({"rawId": b, "role": "Collaborator"}),
            json!({"rawId": c, "role": "Consumer"})
        ])
    );
    // Removing someone who is not there changes nothing.
    let res = app
        .signed_json(
            "PATCH",
            &participants(id),
            &json!({"participants": {&a: null}}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(app.room_participants(id).await.len(), 2);
}

#[tokio::test]
async fn bad_participants_get_the_real_errors_and_change_nothing() {
    let app = spawn_app().await;
    let a = app.create_identity().await;
    let id = app
        .create_room(&json!({"participants": {&a: {"role": "Attendee"}}}))
        .await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let message = assert_error(
        app.signed_json(
            "POST",
            &rooms(""),
            &json!({"participants": {"wrong_mri": {"role": "Attendee"}}}),
        )
        .await,
        400,
        "BadRequest",
    )
    .await;
    assert_eq!(message, "Invalid format for communication identifier.");
    let message = assert_error(
        app.signed_json(
            "PATCH",
            &participants(&id),
            &json!({"participants": {"invalid MRI Values": {"role": "Attendee"}}}),
        )
        .await,
        400,
        "BadRequest",
    )
    .await;
    assert_eq!(message, "Invalid format for communication identifier.");
    let message = assert_error(
        app.signed_json(
            "PATCH",
            &participants(&id),
            &json!({"participants": {"wrong_mri": null}}),
        )
        .await,
        400,
        "BadRequest",
    )
    .await;
    assert_eq!(message, "Invalid value for the Participants.");
    let res = app
        .signed_json(
            "PATCH",
            &participants(&id),
            &json!({"participants": {&a: {"role": "Kafka"}}}),
        )
        .await;
    assert_eq!(res.status(), 400);
    let err = body(res).await;
    assert_eq!(
        err["error"]["details"][1]["target"],
        format!("$.participants.{a}.role"),
        "{err}"
    );
    // Collaborator is 2025-03-13's.
    let res = app
        .signed_json(
            "PATCH",
            &format!("/rooms/{id}/participants?api-version=2024-04-15"),
            &json!({"participants": {&a: {"role": "Collaborator"}}}),
        )
        .await;
    assert_eq!(res.status(), 400);
    // A user of another resource.
    let other = "8:acs:00000000-0000-4000-8000-0000000000ff_00000000-0000-4000-8000-000000000001";
    let message = assert_error(
        app.signed_json(
            "PATCH",
            &participants(&id),
            &json!({"participants": {other: {"role": "Attendee"}}}),
        )
        .await,
        400,
        "BadRequest",
    )
    .await;
    assert!(message.contains("not a user of this"), "{message}");
    assert_eq!(
        app.room_participants(&id).await,
        vec![json!({"rawId": a, "role": "Attendee"})]
    );
}

async fn walk(app: &TestApp, first: &str) -> (Vec<String>, usize) {
    let mut ids = Vec::new();
    let mut pages = 0;
    let mut target = first.to_string();
    loop {
        let res = app.signed("GET", &target, b"").await;
        assert_eq!(res.status(), 200, "{target}");
        let page = body(res).await;
        pages += 1;
        for item in page["value"].as_array().expect("value") {
            ids.push(
                item["id"]
                    .as_str()
                    .or(item["rawId"].as_str())
                    .expect("id")
                    .to_string(),
            );
        }
        match page["nextLink"].as_str() {
            Some(link) => {
                assert!(link.starts_with(&app.http), "absolute: {link}");
                target = link.trim_start_matches(&app.http).to_string();
            }
            None => break,
        }
        assert!(pages < 50);
    }
    (ids, pages)
}

#[tokio::test]
async fn rooms_and_participants_are_paged_and_take_the_python_enum_version() {
    let app = spawn_app().await;
    let mut created = Vec::new();
    for _ in 0..5 {
        created.push(
            app.create_room(&json!({})).await["id"]
                .as_str()
                .expect("id")
                .to_string(),
        );
    }
    let (ids, pages) = walk(&app, &rooms("&maxpagesize=2")).await;
    assert_eq!(ids, created);
    assert_eq!(pages, 3);
    let (ids, pages) = walk(&app, &rooms("")).await;
    assert_eq!((ids.len(), pages), (5, 1));
    // azure-communication-rooms 1.2.0 sends its enum member's name on later pages.
    let res = app
        .signed(
            "GET",
            "/rooms?nextLink=0&api-version=ApiVersion.V2025_03_13",
            b"",
        )
        .await;
    assert_eq!(res.status(), 200);
    let page = body(res).await;
    assert_eq!(page["value"].as_array().expect("value").len(), 4);
    assert_eq!(page["value"][0]["pstnDialOutEnabled"], false);
    let res = app
        .signed("GET", "/rooms?api-version=ApiVersion.V2023_06_14", b"")
        .await;
    assert!(
        body(res).await["value"][0]
            .get("pstnDialOutEnabled")
            .is_none()
    );
    assert_error(
        app.signed("GET", &rooms("&maxpagesize=0"), b"").await,
        400,
        "InvalidQueryParameter",
    )
    .await;
    assert_error(
        app.signed("GET", &rooms("&nextLink=abc"), b"").await,
        400,
        "BadRequest",
    )
    .await;

    let mut users = serde_json::Map::new();
    let mut want = Vec::new();
    for _ in 0..5 {
        let user = app.create_identity().await;
        users.insert(user.clone(), json!({"role": "Attendee"}));
        want.push(user);
    }
    let id = app.create_room(&json!({"participants": users})).await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let (got, pages) = walk(&app, &format!("{}&maxpagesize=2", participants(&id))).await;
    assert_eq!(got.len(), 5);
    assert_eq!(pages, 3);
    let mut sorted = want.clone();
    sorted.sort();
    let mut got_sorted = got.clone();
    got_sorted.sort();
    assert_eq!(got_sorted, sorted);
}

#[tokio::test]
async fn versions_before_2024_04_15_have_no_dial_out() {
    let app = spawn_app().await;
    let res = app
        .signed_json(
            "POST",
            "/rooms?api-version=2023-06-14",
            &json!({"pstnDialOutEnabled": true}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let created = body(res).await;
    assert!(created.get("pstnDialOutEnabled").is_none(), "{created}");
    let id = created["id"].as_str().expect("id");
    let res = app.signed("GET", &room(id), b"").await;
    assert_eq!(body(res).await["pstnDialOutEnabled"], false);
    let res = app
        .signed("GET", "/rooms?api-version=2022-01-01", b"")
        .await;
    assert_error(res, 400, "InvalidApiVersion").await;
    let res = app.signed("GET", "/rooms", b"").await;
    assert_error(res, 400, "ApiVersionUnspecified").await;
}

#[tokio::test]
async fn a_repeated_create_returns_the_first_room() {
    let app = spawn_app().await;
    let target = rooms("");
    let body_bytes = b"{}";
    let first_sent = app.date_now();
    let send = |id: &'static str, first_sent: String| {
        let s = app.sign("POST", &target, body_bytes);
        let target = target.clone();
        let app = &app;
        async move {
            let mut headers = s.headers().to_vec();
            headers.push(("content-type", "application/json"));
            headers.push(("repeatability-request-id", id));
            headers.push(("repeatability-first-sent", first_sent.as_str()));
            app.send("POST", &target, &headers, body_bytes).await
        }
    };
    let res = send("9b06f384-ef3f-11f1-98d1-02fc00000001", first_sent.clone()).await;
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["repeatability-result"], "accepted");
    let first = body(res).await;
    let res = send("9b06f384-ef3f-11f1-98d1-02fc00000001", first_sent.clone()).await;
    assert_eq!(res.status(), 201);
    assert_eq!(body(res).await["id"], first["id"]);
    let res = send("9b06f384-ef3f-11f1-98d1-02fc00000002", "yesterday".into()).await;
    let message = assert_error(res, 400, "BadRequest").await;
    assert!(message.contains("repeatability-first-sent"), "{message}");
    let res = app.signed("GET", &rooms(""), b"").await;
    assert_eq!(body(res).await["value"].as_array().expect("value").len(), 1);
}

#[tokio::test]
async fn caps_on_rooms_and_participants_answer_403() {
    let mut config = Config::for_tests();
    config.limits.max_rooms = 1;
    config.limits.max_room_participants = 1;
    let app = spawn_with(config).await;
    let (a, b) = (app.create_identity().await, app.create_identity().await);
    let id = app.create_room(&json!({"participants": {&a: {}}})).await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let message = assert_error(
        app.signed_json("POST", &rooms(""), &json!({})).await,
        403,
        "RoomLimitReached",
    )
    .await;
    assert!(message.contains("--max-rooms"), "{message}");
    assert_error(
        app.signed_json(
            "PATCH",
            &participants(&id),
            &json!({"participants": {&b: {}}}),
        )
        .await,
        403,
        "ParticipantLimitReached",
    )
    .await;
    // Swapping one for another stays within the cap.
    let res = app
        .signed_json(
            "PATCH",
            &participants(&id),
            &json!({"participants": {&a: null, &b: {}}}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        app.room_participants(&id).await,
        vec![json!({"rawId": b, "role": "Attendee"})]
    );
    assert_eq!(app.signed("DELETE", &room(&id), b"").await.status(), 204);
    app.create_room(&json!({})).await;
}

#[tokio::test]
async fn an_entra_token_is_accepted_and_a_bad_signature_is_not() {
    let app = spawn_app().await;
    let token = crate::entra::entra_token(&app, "https://communication.azure.com//.default").await;
    let res = app
        .client
        .post(format!("{}{}", app.https, rooms("")))
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {token}"))
        .body("{}")
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 201);
    let res = app
        .send(
            "GET",
            &rooms(""),
            &[("content-type", "application/json")],
            b"",
        )
        .await;
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn rules_journal_and_reset_cover_rooms() {
    let app = spawn_app().await;
    let res = app
        .client
        .post(format!("{}/_emulator/fixtures", app.http))
        .json(&json!({"rules": [
            {"name": "rooms-busy", "times": 1, "match": {"operation": "Rooms.Create"},
             "respond": {"status": 429, "headers": {"Retry-After": "1"}}},
            {"name": "rooms-slow", "times": 1, "match": {"operation": "Rooms.List"}, "delay": "200ms"},
            {"name": "participants-down", "times": 1, "match": {"operation": "Rooms.UpdateParticipants"},
             "respond": {"status": 503}}
        ]}))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 201);
    let message = assert_error(
        app.signed_json("POST", &rooms(""), &json!({})).await,
        429,
        "TooManyRequests",
    )
    .await;
    assert!(message.contains("rooms-busy"), "{message}");
    let id = app.create_room(&json!({})).await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let started = std::time::Instant::now();
    assert_eq!(app.signed("GET", &rooms(""), b"").await.status(), 200);
    assert!(started.elapsed() >= std::time::Duration::from_millis(200));
    assert_error(
        app.signed_json("PATCH", &participants(&id), &json!({"participants": {}}))
            .await,
        503,
        "ServiceUnavailable",
    )
    .await;

    let res = app
        .client
        .get(format!(
            "{}/_emulator/journal?operation=Rooms.Create",
            app.http
        ))
        .send()
        .await
        .expect("sent");
    let journal = body(res).await;
    let entries = journal["value"].as_array().expect("value");
    assert_eq!(entries.len(), 2, "{journal}");

    let res = app
        .client
        .post(format!("{}/_emulator/reset", app.http))
        .send()
        .await
        .expect("sent");
    assert!(res.status().is_success());
    assert_error(app.signed("GET", &room(&id), b"").await, 404, "NotFound").await;
}

#[tokio::test]
async fn fixture_rooms_load_with_participants_and_come_back_after_a_reset() {
    let app = spawn_app().await;
    let load = |doc: Value| {
        let app = &app;
        async move {
            app.client
                .post(format!("{}/_emulator/fixtures", app.http))
                .json(&doc)
                .send()
                .await
                .expect("sent")
        }
    };
    let now = app.state.clock.now();
    let res = load(json!({
        "identities": [{"name": "alice"}, {"name": "bob"}],
        "rooms": [
            {"id": "99460161060023207", "validFrom": iso(now), "validUntil": iso(now + TimeDelta::days(30)),
             "pstnDialOutEnabled": true,
             "participants": ["alice", {"user": "bob", "role": "Presenter"}]},
            {}
        ]
    }))
    .await;
    assert_eq!(res.status(), 201, "{}", body(res).await);
    let check = || async {
        let res = app.signed("GET", &room("99460161060023207"), b"").await;
        assert_eq!(res.status(), 200);
        let got = body(res).await;
        assert_eq!(got["pstnDialOutEnabled"], true);
        let people = app.room_participants("99460161060023207").await;
        assert_eq!(people.len(), 2);
        assert!(people.iter().any(|p| p["role"] == "Presenter"));
        let res = app.signed("GET", &rooms(""), b"").await;
        assert_eq!(body(res).await["value"].as_array().expect("value").len(), 2);
    };
    check().await;
    assert_eq!(
        app.signed("DELETE", &room("99460161060023207"), b"")
            .await
            .status(),
        204
    );
    let res = app
        .client
        .post(format!("{}/_emulator/reset", app.http))
        .send()
        .await
        .expect("sent");
    assert!(res.status().is_success());
    check().await;

    for (doc, needle) in [
        (
            json!({"rooms": [{"id": "99460161060023207"}]}),
            "already exists",
        ),
        (json!({"rooms": [{"id": "12"}]}), "Invalid room ID length"),
        (json!({"rooms": [{"participants": ["carol"]}]}), "carol"),
        (
            json!({"rooms": [{"validFrom": iso(now), "validUntil": iso(now + TimeDelta::days(200))}]}),
            "180 days",
        ),
    ] {
        let message = assert_error(load(doc).await, 400, "InvalidFixture").await;
        assert!(message.contains(needle), "{message}");
    }
}
