//! Store caps (README "Limits"): chat threads, messages (per thread and in total), participants
//! per thread, SMS opt-outs, delivery reports and repeatability records, Teams extension
//! assignments. Each cap answers its 403 envelope (or evicts, for the SMS records), keeps what is
//! below it intact, holds exactly under parallel writers, and is given back by a reset.

use std::time::Duration;

use acs_emulator::Config;
use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::helpers::{CHAT_V, TestApp, assert_error, body, encode, participant, spawn_with};

const OPT_OUT_V: &str = "2026-01-23";
const FROM: &str = "+18005550100";
const ASSIGNMENTS: &str =
    "/access/teamsExtension/tenants/c70d068c-2f32-484d-9455-73070cd5aadd/assignments";

/// The test configuration with four workers (so that parallel requests really race).
fn config() -> Config {
    let mut config = Config::for_tests();
    config.limits.workers = Some(4);
    config
}

/// Awaits a request, failing the test if it takes longer than 30 s (a deadlock).
async fn bounded<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .expect("no answer within 30 s: deadlock?")
}

/// Asserts a 403 limit envelope with `code` whose message names `flag`.
async fn assert_limit(res: reqwest::Response, code: &str, flag: &str) {
    let message = assert_error(res, 403, code).await;
    assert!(message.contains(flag), "{message}");
}

fn messages_path(thread: &str) -> String {
    format!(
        "/chat/threads/{}/messages?api-version={CHAT_V}",
        encode(thread)
    )
}

/// An HTTPS client limited to HTTP/1.1: parallel requests then take a connection each, spread
/// over the workers, where the helpers' client multiplexes them on one HTTP/2 connection (one
/// worker, so store calls never overlap).
fn parallel_client(app: &TestApp) -> reqwest::Client {
    let cert = reqwest::Certificate::from_pem(app.state.tls_cert_pem.as_bytes()).expect("pem");
    reqwest::Client::builder()
        .add_root_certificate(cert)
        .tls_built_in_root_certs(false)
        .http1_only()
        .build()
        .expect("client")
}

async fn post_chat(
    app: &TestApp,
    client: &reqwest::Client,
    token: &str,
    path: &str,
    body: &Value,
) -> reqwest::Response {
    client
        .post(format!("{}{path}", app.https))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .expect("request sent")
}

async fn send(app: &TestApp, token: &str, thread: &str, content: &str) -> reqwest::Response {
    send_with(app, &app.client, token, thread, content).await
}

async fn send_with(
    app: &TestApp,
    client: &reqwest::Client,
    token: &str,
    thread: &str,
    content: &str,
) -> reqwest::Response {
    let body = json!({"content": content});
    post_chat(app, client, token, &messages_path(thread), &body).await
}

async fn create(app: &TestApp, token: &str, topic: &str, users: &[&str]) -> reqwest::Response {
    create_with(app, &app.client, token, topic, users).await
}

async fn create_with(
    app: &TestApp,
    client: &reqwest::Client,
    token: &str,
    topic: &str,
    users: &[&str],
) -> reqwest::Response {
    let participants: Vec<Value> = users.iter().map(|u| participant(u)).collect();
    let body = json!({"topic": topic, "participants": participants});
    let path = format!("/chat/threads?api-version={CHAT_V}");
    post_chat(app, client, token, &path, &body).await
}

/// The thread's messages, newest first, as (type, content) pairs.
async fn messages(app: &TestApp, token: &str, thread: &str) -> Vec<(String, String)> {
    let (items, _) = app
        .collect_pages(token, &format!("{}&maxPageSize=200", messages_path(thread)))
        .await;
    items
        .iter()
        .map(|m| {
            (
                m["type"].as_str().expect("type").to_string(),
                m["content"]["message"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

async fn delete_thread(app: &TestApp, token: &str, thread: &str) {
    let res = app
        .chat(
            "DELETE",
            token,
            &format!("/chat/threads/{}?api-version={CHAT_V}", encode(thread)),
            None,
        )
        .await;
    assert_eq!(res.status(), 204);
}

async fn reset(app: &TestApp) {
    let res = app
        .client
        .post(format!("{}/_emulator/reset", app.http))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 200);
}

async fn opt_out(app: &TestApp, action: &str, to: &[String]) -> reqwest::Response {
    let request = json!({
        "from": FROM,
        "recipients": to.iter().map(|t| json!({"to": t})).collect::<Vec<_>>(),
    });
    app.signed_json(
        "POST",
        &format!("/sms/optouts:{action}?api-version={OPT_OUT_V}"),
        &request,
    )
    .await
}

fn number(n: usize) -> String {
    format!("+1425555{n:04}")
}

async fn put_assignment(app: &TestApp, object_id: &str) -> reqwest::Response {
    app.signed_json(
        "PUT",
        &format!("{ASSIGNMENTS}/{object_id}?api-version=2026-09-23"),
        &json!({"principalType": "user"}),
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// Chat

#[tokio::test]
async fn a_full_thread_table_answers_403_and_deleted_threads_make_room() {
    // Arrange
    let mut config = config();
    config.limits.max_chat_threads = 2;
    let app = spawn_with(config).await;
    let (_, token) = app.create_user_and_token(&["chat"]).await;
    let first = app.thread_with(&token, "first", &[]).await;
    let second = app.thread_with(&token, "second", &[]).await;
    app.send_text(&token, &second, "kept").await;

    // Act
    let refused = create(&app, &token, "third", &[]).await;

    // Assert: refused, and what exists is intact.
    assert_limit(refused, "ChatThreadLimitReached", "--max-chat-threads").await;
    assert_eq!(app.state.store().chat.len(), 2);
    let kept = messages(&app, &token, &second).await;
    assert_eq!(kept[0], ("text".into(), "kept".into()));
    assert_eq!(kept.len(), 3);
    // A deleted thread's tombstone is dropped to make room.
    delete_thread(&app, &token, &first).await;
    let third = app.thread_with(&token, "third", &[]).await;
    assert_eq!(app.state.store().chat.len(), 2);
    app.send_text(&token, &third, "works").await;
}

#[tokio::test]
async fn a_full_thread_answers_403_message_limit_reached_and_keeps_its_messages() {
    // Arrange: 2 system messages + 3 user messages fill the thread.
    let mut config = config();
    config.limits.max_chat_messages_per_thread = 5;
    let app = spawn_with(config).await;
    let (_, token) = app.create_user_and_token(&["chat"]).await;
    let thread = app.thread_with(&token, "T", &[]).await;
    for n in 1..=3 {
        app.send_text(&token, &thread, &format!("m{n}")).await;
    }

    // Act
    let refused = send(&app, &token, &thread, "m4").await;
    let topic = app
        .chat(
            "PATCH",
            &token,
            &format!("/chat/threads/{}?api-version={CHAT_V}", encode(&thread)),
            Some(&json!({"topic": "renamed"})),
        )
        .await;

    // Assert
    assert_limit(
        refused,
        "MessageLimitReached",
        "--max-chat-messages-per-thread",
    )
    .await;
    assert_limit(
        topic,
        "MessageLimitReached",
        "--max-chat-messages-per-thread",
    )
    .await;
    let listed = messages(&app, &token, &thread).await;
    let expected: Vec<(String, String)> = [
        ("text", "m3"),
        ("text", "m2"),
        ("text", "m1"),
        ("topicUpdated", ""),
        ("participantAdded", ""),
    ]
    .iter()
    .map(|(k, c)| (k.to_string(), c.to_string()))
    .collect();
    assert_eq!(listed, expected);
    let props = body(
        app.chat(
            "GET",
            &token,
            &format!("/chat/threads/{}?api-version={CHAT_V}", encode(&thread)),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(props["topic"], "T", "a refused update changes nothing");
    // Other threads are not affected.
    let other = app.thread_with(&token, "other", &[]).await;
    app.send_text(&token, &other, "fine").await;
}

#[tokio::test]
async fn the_total_message_cap_spans_threads_and_a_deleted_thread_frees_its_messages() {
    // Arrange: two threads hold 4 system messages; two more user messages fill the store.
    let mut config = config();
    config.limits.max_chat_messages = 6;
    let app = spawn_with(config).await;
    let (_, token) = app.create_user_and_token(&["chat"]).await;
    let a = app.thread_with(&token, "a", &[]).await;
    let b = app.thread_with(&token, "b", &[]).await;
    app.send_text(&token, &a, "a1").await;
    app.send_text(&token, &b, "b1").await;

    // Act
    let refused = send(&app, &token, &a, "a2").await;
    let refused_thread = create(&app, &token, "c", &[]).await;

    // Assert
    assert_limit(refused, "MessageLimitReached", "--max-chat-messages").await;
    assert_limit(refused_thread, "MessageLimitReached", "--max-chat-messages").await;
    assert_eq!(
        app.state.store().chat.len(),
        2,
        "the refused thread took no room"
    );
    assert_eq!(messages(&app, &token, &a).await.len(), 3);
    delete_thread(&app, &token, &b).await;
    app.send_text(&token, &a, "a2").await;
    assert_eq!(app.state.store().chat.message_count(), 4);
}

#[tokio::test]
async fn thirty_two_parallel_sends_against_a_cap_of_ten_store_exactly_ten() {
    // One thread against its own cap (2 system + 10), then four threads against the total
    // (4 × 2 system + 10).
    for (per_thread, total, threads) in [(12, 1_000, 1), (1_000, 18, 4)] {
        // Arrange
        let mut config = config();
        config.limits.max_chat_messages_per_thread = per_thread;
        config.limits.max_chat_messages = total;
        let app = spawn_with(config).await;
        let client = parallel_client(&app);
        let (_, token) = app.create_user_and_token(&["chat"]).await;
        let mut ids = Vec::new();
        for n in 0..threads {
            ids.push(app.thread_with(&token, &format!("T{n}"), &[]).await);
        }

        // Act
        let contents: Vec<String> = (0..32).map(|n| format!("m{n}")).collect();
        let sends = contents
            .iter()
            .enumerate()
            .map(|(n, content)| send_with(&app, &client, &token, &ids[n % threads], content));
        let responses = bounded(join_all(sends)).await;

        // Assert
        let mut created = 0;
        for res in responses {
            match res.status().as_u16() {
                201 => created += 1,
                403 => {
                    let code = body(res).await["error"]["code"].clone();
                    assert_eq!(code, "MessageLimitReached");
                }
                other => panic!("unexpected {other}"),
            }
        }
        assert_eq!(created, 10, "per thread {per_thread}, total {total}");
        let mut stored = 0;
        for id in &ids {
            let (items, _) = app
                .collect_pages(&token, &format!("{}&maxPageSize=50", messages_path(id)))
                .await;
            let seqs: Vec<u64> = items
                .iter()
                .map(|m| m["sequenceId"].as_str().expect("seq").parse().expect("int"))
                .collect();
            let dense: Vec<u64> = (1..=items.len() as u64).rev().collect();
            assert_eq!(seqs, dense, "sequence ids stay dense");
            stored += items.len();
        }
        assert_eq!(stored, 2 * threads + 10);
        assert_eq!(app.state.store().chat.message_count(), 2 * threads + 10);
    }
}

#[tokio::test]
async fn thirty_two_parallel_thread_creates_against_a_cap_of_ten_create_exactly_ten() {
    let mut config = config();
    config.limits.max_chat_threads = 10;
    let app = spawn_with(config).await;
    let client = parallel_client(&app);
    let (_, token) = app.create_user_and_token(&["chat"]).await;

    let topics: Vec<String> = (0..32).map(|n| format!("t{n}")).collect();
    let creates = topics
        .iter()
        .map(|t| create_with(&app, &client, &token, t, &[]));
    let responses = bounded(join_all(creates)).await;

    let statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 10);
    assert_eq!(statuses.iter().filter(|s| **s == 403).count(), 22);
    assert_eq!(app.state.store().chat.len(), 10);
    let (listed, _) = app
        .collect_pages(&token, &format!("/chat/threads?api-version={CHAT_V}"))
        .await;
    assert_eq!(listed.len(), 10);
}

#[tokio::test]
async fn participants_are_capped_per_thread_and_read_receipts_stay_one_per_participant() {
    // Arrange
    let mut config = config();
    config.limits.max_chat_participants_per_thread = 3;
    let app = spawn_with(config).await;
    let (_, owner) = app.create_user_and_token(&["chat"]).await;
    let mut users = Vec::new();
    for _ in 0..3 {
        users.push(app.create_user_and_token(&["chat"]).await);
    }
    let ids: Vec<&str> = users.iter().map(|(id, _)| id.as_str()).collect();

    // Act / Assert: the creator plus three is one too many.
    let refused = create(&app, &owner, "T", &ids).await;
    assert_limit(
        refused,
        "ParticipantLimitReached",
        "--max-chat-participants-per-thread",
    )
    .await;
    let thread = app.thread_with(&owner, "T", &ids[..2]).await;
    let add = app
        .chat(
            "POST",
            &owner,
            &format!(
                "/chat/threads/{}/participants/:add?api-version={CHAT_V}",
                encode(&thread)
            ),
            Some(&json!({"participants": [participant(ids[2])]})),
        )
        .await;
    assert_limit(
        add,
        "ParticipantLimitReached",
        "--max-chat-participants-per-thread",
    )
    .await;
    let participants_path = format!(
        "/chat/threads/{}/participants?api-version={CHAT_V}",
        encode(&thread)
    );
    let (listed, _) = app.collect_pages(&owner, &participants_path).await;
    assert_eq!(listed.len(), 3, "nobody was added");

    // Read receipts: many per participant, one kept each.
    let receipts_path = format!(
        "/chat/threads/{}/readReceipts?api-version={CHAT_V}",
        encode(&thread)
    );
    for token in [&owner, &users[0].1, &users[1].1] {
        for n in 0..5 {
            let id = app.send_text(token, &thread, &format!("r{n}")).await;
            let res = app
                .chat(
                    "POST",
                    token,
                    &receipts_path,
                    Some(&json!({"chatMessageId": id})),
                )
                .await;
            assert_eq!(res.status(), 200);
        }
    }
    let (receipts, _) = app.collect_pages(&owner, &receipts_path).await;
    assert_eq!(receipts.len(), 3);
}

// ---------------------------------------------------------------------------------------------
// SMS

#[tokio::test]
async fn a_full_opt_out_table_answers_403_and_a_refused_request_adds_nothing() {
    // Arrange
    let mut config = config();
    config.limits.max_sms_opt_outs = 3;
    let app = spawn_with(config).await;
    assert_eq!(
        opt_out(&app, "add", &[number(1), number(2)]).await.status(),
        200
    );

    // Act
    let refused = opt_out(&app, "add", &[number(3), number(4)]).await;

    // Assert
    assert_limit(refused, "OptOutLimitReached", "--max-sms-opt-outs").await;
    let check = body(opt_out(&app, "check", &[number(1), number(2), number(3)]).await).await;
    let states: Vec<&Value> = check["value"]
        .as_array()
        .expect("value")
        .iter()
        .map(|item| &item["isOptedOut"])
        .collect();
    assert_eq!(states, [&json!(true), &json!(true), &json!(false)]);
    // Pairs already opted out take no room; one new pair fits.
    let again = opt_out(&app, "add", &[number(1), number(2), number(3)]).await;
    assert_eq!(again.status(), 200);
    assert_eq!(app.state.store().sms.opt_out_len(), 3);
    // Opting back in makes room.
    assert_eq!(opt_out(&app, "remove", &[number(1)]).await.status(), 200);
    assert_eq!(opt_out(&app, "add", &[number(4)]).await.status(), 200);
    assert_limit(
        opt_out(&app, "add", &[number(5)]).await,
        "OptOutLimitReached",
        "--max-sms-opt-outs",
    )
    .await;
}

#[tokio::test]
async fn thirty_two_parallel_opt_outs_against_a_cap_of_ten_record_exactly_ten() {
    let mut config = config();
    config.limits.max_sms_opt_outs = 10;
    let app = spawn_with(config).await;
    let numbers: Vec<String> = (0..32).map(number).collect();

    let requests = numbers
        .iter()
        .map(|n| opt_out(&app, "add", std::slice::from_ref(n)));
    let responses = bounded(join_all(requests)).await;

    let statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 10);
    assert_eq!(statuses.iter().filter(|s| **s == 403).count(), 22);
    assert_eq!(app.state.store().sms.opt_out_len(), 10);
    let check = body(opt_out(&app, "check", &numbers).await).await;
    let opted = check["value"]
        .as_array()
        .expect("value")
        .iter()
        .filter(|item| item["isOptedOut"] == true)
        .count();
    assert_eq!(opted, 10);
}

#[tokio::test]
async fn reports_and_repeatability_records_stay_bounded_when_the_outbox_is_emptied() {
    // Arrange: an outbox of 3, emptied after every send.
    let mut config = config();
    config.limits.max_sms_outbox = 3;
    let app = spawn_with(config).await;
    let request = |n: usize| {
        json!({
            "from": FROM,
            "smsRecipients": [{"to": "+14255550123", "repeatabilityRequestId": format!("r{n}"),
                               "repeatabilityFirstSent": app.date_now()}],
            "message": "x",
            "smsSendOptions": {"enableDeliveryReport": true},
        })
    };
    let mut ids = Vec::new();

    // Act
    for n in 0..10 {
        let sent = body(app.send_sms(&request(n)).await).await;
        ids.push(
            sent["value"][0]["messageId"]
                .as_str()
                .expect("id")
                .to_string(),
        );
        let res = app
            .client
            .delete(format!("{}/_emulator/sms", app.http))
            .send()
            .await
            .expect("sent");
        assert_eq!(res.status(), 200);
    }

    // Assert: the newest three keep their report and record, the others are gone.
    for (n, id) in ids.iter().enumerate() {
        let target = format!("/deliveryReports/{id}?api-version={OPT_OUT_V}");
        let expected = if n >= 7 { 200 } else { 404 };
        assert_eq!(
            app.signed("GET", &target, b"").await.status(),
            expected,
            "report {n}"
        );
    }
    let again = body(app.send_sms(&request(9)).await).await;
    assert_eq!(
        again["value"][0]["messageId"],
        ids[9].as_str(),
        "still deduplicated"
    );
    let resent = body(app.send_sms(&request(0)).await).await;
    assert_ne!(
        resent["value"][0]["messageId"],
        ids[0].as_str(),
        "forgotten"
    );
}

// ---------------------------------------------------------------------------------------------
// Teams extension assignments

#[tokio::test]
async fn a_full_assignment_table_answers_403_but_replacing_an_assignment_works() {
    let mut config = config();
    config.limits.max_teams_extension_assignments = 2;
    let app = spawn_with(config).await;
    assert_eq!(put_assignment(&app, "a").await.status(), 201);
    assert_eq!(put_assignment(&app, "b").await.status(), 201);

    assert_limit(
        put_assignment(&app, "c").await,
        "AssignmentLimitReached",
        "--max-teams-extension-assignments",
    )
    .await;
    assert_eq!(put_assignment(&app, "a").await.status(), 200, "replaced");
    let get = app
        .signed(
            "GET",
            &format!("{ASSIGNMENTS}/b?api-version=2026-09-23"),
            b"",
        )
        .await;
    assert_eq!(get.status(), 200);
    let delete = app
        .signed(
            "DELETE",
            &format!("{ASSIGNMENTS}/a?api-version=2026-09-23"),
            b"",
        )
        .await;
    assert_eq!(delete.status(), 204);
    assert_eq!(put_assignment(&app, "c").await.status(), 201);
    assert_eq!(app.state.store().assignments.len(), 2);
}

#[tokio::test]
async fn thirty_two_parallel_assignments_against_a_cap_of_ten_create_exactly_ten() {
    let mut config = config();
    config.limits.max_teams_extension_assignments = 10;
    let app = spawn_with(config).await;
    let objects: Vec<String> = (0..32).map(|n| format!("object-{n}")).collect();

    let responses = bounded(join_all(objects.iter().map(|o| put_assignment(&app, o)))).await;

    let statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 10);
    assert_eq!(statuses.iter().filter(|s| **s == 403).count(), 22);
    assert_eq!(app.state.store().assignments.len(), 10);
}

// ---------------------------------------------------------------------------------------------
// Reset and configuration

#[tokio::test]
async fn a_reset_gives_every_cap_its_room_back() {
    // Arrange: every capped table filled to its cap.
    let mut config = config();
    config.limits.max_identities = 4;
    config.limits.max_chat_threads = 2;
    config.limits.max_chat_messages = 5;
    config.limits.max_sms_opt_outs = 2;
    config.limits.max_teams_extension_assignments = 2;
    let app = spawn_with(config).await;
    let fill = || async {
        let (_, token) = app.create_user_and_token(&["chat"]).await;
        let a = app.thread_with(&token, "a", &[]).await;
        app.thread_with(&token, "b", &[]).await;
        app.send_text(&token, &a, "5th").await;
        assert_limit(
            send(&app, &token, &a, "6th").await,
            "MessageLimitReached",
            "--max-chat-messages",
        )
        .await;
        assert_eq!(
            opt_out(&app, "add", &[number(1), number(2)]).await.status(),
            200
        );
        assert_eq!(opt_out(&app, "add", &[number(3)]).await.status(), 403);
        assert_eq!(put_assignment(&app, "a").await.status(), 201);
        assert_eq!(put_assignment(&app, "b").await.status(), 201);
        assert_eq!(put_assignment(&app, "c").await.status(), 403);
        for _ in 0..3 {
            app.create_identity().await;
        }
        let res = app
            .signed("POST", "/identities?api-version=2023-10-01", b"")
            .await;
        assert_eq!(res.status(), 403);
        token
    };
    let token = fill().await;
    assert_eq!(create(&app, &token, "c", &[]).await.status(), 403);

    // Act
    reset(&app).await;

    // Assert: the same fill fits again, exactly.
    let token = fill().await;
    assert_limit(
        create(&app, &token, "c", &[]).await,
        "ChatThreadLimitReached",
        "--max-chat-threads",
    )
    .await;
    assert_eq!(app.state.store().chat.message_count(), 5);
}

#[tokio::test]
async fn resets_racing_chat_writers_leave_the_counts_exact() {
    // Arrange
    let mut config = config();
    config.limits.max_chat_messages = 40;
    let app = spawn_with(config).await;
    let client = parallel_client(&app);

    // Act: writers create threads and send (past the cap) while a reset runs; a reset also
    // forgets the writers' identity, so their later calls answer 401.
    for _ in 0..10 {
        let (_, token) = app.create_user_and_token(&["chat"]).await;
        let writers = (0..4).map(|w| {
            let (app, token, client) = (&app, &token, &client);
            async move {
                let res = create_with(app, client, token, &format!("w{w}"), &[]).await;
                if res.status() != 201 {
                    assert!([401, 403].contains(&res.status().as_u16()));
                    return;
                }
                let thread = body(res).await["chatThread"]["id"]
                    .as_str()
                    .expect("id")
                    .to_string();
                for n in 0..10 {
                    let content = format!("{n}");
                    let status = send_with(app, client, token, &thread, &content)
                        .await
                        .status();
                    assert!([201, 401, 403, 404].contains(&status.as_u16()), "{status}");
                }
            }
        });
        bounded(async { tokio::join!(join_all(writers), reset(&app)) }).await;
        // Assert: the count is exactly what is stored, whatever landed before or after.
        let store = app.state.store();
        assert_eq!(store.chat.message_count(), store.chat.stored_messages());
    }
    reset(&app).await;

    // And once reset, the whole cap fits again, exactly.
    assert_eq!(app.state.store().chat.message_count(), 0);
    let (_, token) = app.create_user_and_token(&["chat"]).await;
    let thread = app.thread_with(&token, "T", &[]).await;
    for n in 0..38 {
        app.send_text(&token, &thread, &format!("{n}")).await;
    }
    assert_limit(
        send(&app, &token, &thread, "41st").await,
        "MessageLimitReached",
        "--max-chat-messages",
    )
    .await;
}

/// A fixture adding resource `contoso` with two opt-outs.
const CONTOSO: &str = r#"
resources:
  - name: contoso
    accessKey: "Y29udG9zby1wcmltYXJ5LWtleS1mb3ItdGhlLWFjcy1lbXVsYXRvci0wMDAwMDAwMA=="
    resourceId: "c0c0c0c0-0000-4000-8000-000000000001"
    phoneNumbers: ["+18005550111"]
optOuts:
  - {resource: contoso, from: "+18005550111", to: "+14255550177"}
  - {resource: contoso, from: "+18005550111", to: "+14255550178"}
"#;

#[tokio::test]
async fn every_resource_has_its_own_caps_and_fixture_data_past_them_is_skipped() {
    // Arrange: a cap of one opt-out, and a fixture resource with two.
    let path = std::env::temp_dir().join(format!("acs-caps-{}.yaml", uuid::Uuid::new_v4()));
    std::fs::write(&path, CONTOSO).expect("fixture written");
    let mut config = config();
    config.limits.max_sms_opt_outs = 1;
    config.scenarios.fixtures = vec![path.clone()];
    let app = spawn_with(config).await;
    let contoso = app.state.resources.by_name("contoso").expect("contoso");

    // Assert: contoso has the flags' cap (its second fixture opt-out was skipped) ...
    assert_eq!(contoso.store.sms.opt_out_len(), 1);
    // ... and the default resource a room of its own.
    assert_eq!(opt_out(&app, "add", &[number(1)]).await.status(), 200);
    assert_limit(
        opt_out(&app, "add", &[number(2)]).await,
        "OptOutLimitReached",
        "--max-sms-opt-outs",
    )
    .await;
    // A reset seeds the fixture again, within the cap.
    reset(&app).await;
    assert_eq!(contoso.store.sms.opt_out_len(), 1);
    assert_eq!(app.state.store().sms.opt_out_len(), 0);
    let _ = std::fs::remove_file(path);
}

#[test]
fn every_cap_is_validated_at_start_up() {
    type Mutation = fn(&mut Config);
    let cases: [(&str, Mutation); 6] = [
        ("--max-chat-threads", |c| c.limits.max_chat_threads = 0),
        ("--max-chat-messages", |c| c.limits.max_chat_messages = 1),
        ("--max-chat-messages-per-thread", |c| {
            c.limits.max_chat_messages_per_thread = 1
        }),
        ("--max-chat-participants-per-thread", |c| {
            c.limits.max_chat_participants_per_thread = 0
        }),
        ("--max-sms-opt-outs", |c| c.limits.max_sms_opt_outs = 0),
        ("--max-teams-extension-assignments", |c| {
            c.limits.max_teams_extension_assignments = 0
        }),
    ];
    for (flag, mutate) in cases {
        let mut config = Config::for_tests();
        mutate(&mut config);
        let err = config.validate().expect_err(flag).to_string();
        assert!(err.contains(flag), "{flag}: {err}");
    }
}

#[test]
fn every_cap_has_an_environment_variable() {
    for (variable, flag) in [
        ("ACS_EMULATOR_MAX_CHAT_THREADS", "--max-chat-threads"),
        ("ACS_EMULATOR_MAX_CHAT_MESSAGES", "--max-chat-messages"),
        (
            "ACS_EMULATOR_MAX_CHAT_MESSAGES_PER_THREAD",
            "--max-chat-messages-per-thread",
        ),
        (
            "ACS_EMULATOR_MAX_CHAT_PARTICIPANTS_PER_THREAD",
            "--max-chat-participants-per-thread",
        ),
        ("ACS_EMULATOR_MAX_SMS_OPT_OUTS", "--max-sms-opt-outs"),
        (
            "ACS_EMULATOR_MAX_TEAMS_EXTENSION_ASSIGNMENTS",
            "--max-teams-extension-assignments",
        ),
    ] {
        // 0 is below every cap's minimum: the process refuses it, naming the flag. (Were the
        // variable ignored, the emulator would start: it is killed after 20 s.)
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_acs-emulator"))
            .env(variable, "0")
            .args(["--port", "0", "--http-port", "0"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("runs");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break Some(status);
            }
            if std::time::Instant::now() > deadline {
                child.kill().expect("kill");
                child.wait().expect("reaped");
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr)
            .expect("stderr");
        assert!(
            status.is_some_and(|s| !s.success()),
            "{variable} was not refused"
        );
        assert!(stderr.contains(flag), "{variable}: {stderr}");
    }
}
