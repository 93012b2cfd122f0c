//! Chat under hostile input and concurrency: absurd paging values and forged continuation
//! tokens, malformed bodies, parallel writers while participants leave and tokens are revoked,
//! thread create/delete races, and reset during Chat load. Every answer is a 2xx or a 4xx
//! envelope, never a 5xx; the state is consistent afterwards.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::helpers::{CHAT_V, TestApp, body, encode, spawn_with};

fn url(id: &str, rest: &str) -> String {
    format!("/chat/threads/{}{rest}?api-version={CHAT_V}", encode(id))
}

fn seq(m: &Value) -> u64 {
    m["sequenceId"]
        .as_str()
        .expect("sequenceId")
        .parse()
        .expect("number")
}

fn parallel_app_config() -> acs_emulator::Config {
    let mut config = acs_emulator::Config::for_tests();
    config.limits.workers = Some(4);
    config
}

async fn bounded<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .expect("no answer within 30 s: deadlock?")
}

/// Asserts that `GET /chat/threads` shows the caller exactly one thread (printing what it got).
async fn assert_lists_one_thread(app: &TestApp, token: &str) {
    let res = app
        .chat(
            "GET",
            token,
            &format!("/chat/threads?api-version={CHAT_V}"),
            None,
        )
        .await;
    let status = res.status();
    let list = body(res).await;
    assert_eq!(
        list["value"].as_array().map(Vec::len),
        Some(1),
        "{status} {list}"
    );
}

/// Every message of a thread, newest first, checked to be gap-free from the newest down to 1.
async fn all_messages(app: &TestApp, token: &str, thread: &str) -> Vec<Value> {
    let (all, _) = app
        .collect_pages(
            token,
            &format!("{}&maxPageSize=200", url(thread, "/messages")),
        )
        .await;
    let seqs: Vec<u64> = all.iter().map(seq).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as u64).rev().collect::<Vec<_>>(),
        "sequence ids have gaps"
    );
    all
}

/// A 2xx, or a 4xx with the error envelope; never a 5xx.
async fn assert_2xx_or_4xx_envelope(res: reqwest::Response, what: &str) -> u16 {
    let status = res.status().as_u16();
    let text = res.text().await.unwrap_or_default();
    assert!(status < 500, "{what}: {status} {text}");
    if status >= 400 {
        let envelope: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        assert!(
            envelope["error"]["code"].is_string(),
            "{what}: {status} {text}"
        );
    }
    status
}

#[tokio::test]
async fn absurd_paging_values_and_forged_continuation_tokens_never_5xx() {
    let app = spawn_with(parallel_app_config()).await;
    let (_, token) = app.create_user_and_token(&["chat"]).await;
    let thread = app.thread_with(&token, "T", &[]).await;
    for i in 0..5 {
        app.send_text(&token, &thread, &format!("m{i}")).await;
    }
    let before = all_messages(&app, &token, &thread).await.len();
    let sync = |text: &str| URL_SAFE_NO_PAD.encode(text);
    let long = "9".repeat(10_000);
    let params: Vec<String> = vec![
        "maxPageSize=2147483647".into(),
        "maxPageSize=2147483648".into(),
        "maxPageSize=-2147483648".into(),
        "maxPageSize=1e3".into(),
        "maxPageSize=0x10".into(),
        "maxPageSize=%00".into(),
        format!("maxPageSize={long}"),
        "skip=2147483647".into(),
        "skip=99999999999999999999".into(),
        "skip=-0".into(),
        "startTime=garbage".into(),
        "startTime=99999-01-01T00:00:00Z".into(),
        "startTime=-0001-01-01T00:00:00Z".into(),
        "startTime=1970-01-01T00:00:00Z".into(),
        "startTime=2262-04-12T00:00:00Z".into(),
        "syncState=%%%".into(),
        format!("syncState={}", sync("m.2025-03-15.0")),
        format!("syncState={}", sync("m.2025-03-15.18446744073709551615")),
        format!("syncState={}", sync("m.2025-03-15.-1")),
        format!("syncState={}", sync("m.1999-01-01.3")),
        format!("syncState={}", sync("t.2025-03-15.3")),
        format!(
            "syncState={}",
            sync("t.2025-03-15.99999999999999999999.19:x@thread.v2")
        ),
        format!("syncState={}", sync("t.2025-03-15.-1.19:acsV1_x@thread.v2")),
        format!("syncState={}", sync("m..")),
        format!("syncState={}", sync(&format!("m.2025-03-15.{long}"))),
        format!("syncState={}", URL_SAFE_NO_PAD.encode([0xff, 0xfe, 0x2e])),
    ];
    let lists = [
        url(&thread, "/messages"),
        url(&thread, "/participants"),
        url(&thread, "/readReceipts"),
        format!("/chat/threads?api-version={CHAT_V}"),
    ];
    for list in &lists {
        for p in &params {
            let path = format!("{list}&{p}");
            let res = bounded(app.chat("GET", &token, &path, None)).await;
            let status = assert_2xx_or_4xx_envelope(res, &path).await;
            assert!(status == 200 || status == 400, "{path}: {status}");
        }
    }
    assert_eq!(all_messages(&app, &token, &thread).await.len(), before);
}

#[tokio::test]
async fn malformed_chat_bodies_are_400_envelopes_and_change_nothing() {
    let app = spawn_with(parallel_app_config()).await;
    let (_, token) = app.create_user_and_token(&["chat"]).await;
    let thread = app.thread_with(&token, "T", &[]).await;
    let before = all_messages(&app, &token, &thread).await.len();
    let threads_before = app.state.store().chat.len();
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let bodies: Vec<Vec<u8>> = vec![
        deep.clone().into_bytes(),
        format!(
            r#"{{"content":{}"x"{}}}"#,
            "[".repeat(5000),
            "]".repeat(5000)
        )
        .into_bytes(),
        br#"{"content": 5}"#.to_vec(),
        br#"{"content": ["x"]}"#.to_vec(),
        br#"{"content": "x", "type": 7}"#.to_vec(),
        br#"{"content": "x", "metadata": {"k": 1}}"#.to_vec(),
        b"{\"content\": \"\xff\xfe\"}".to_vec(),
        br#"{"content": "x""#.to_vec(),
        b"".to_vec(),
        br#"[]"#.to_vec(),
    ];
    for b in &bodies {
        let res = app
            .client
            .post(format!("{}{}", app.https, url(&thread, "/messages")))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(b.clone())
            .send()
            .await
            .expect("sent");
        let status =
            assert_2xx_or_4xx_envelope(res, &String::from_utf8_lossy(&b[..b.len().min(40)])).await;
        assert_eq!(
            status,
            400,
            "{}",
            String::from_utf8_lossy(&b[..b.len().min(40)])
        );
    }
    for b in [
        deep.clone(),
        r#"{"topic": 5}"#.to_string(),
        r#"{"topic": "t", "participants": "x"}"#.to_string(),
        r#"{"topic": "t", "participants": [{"communicationIdentifier": 5}]}"#.to_string(),
        format!(
            r#"{{"topic": "t", "participants": [{{"communicationIdentifier": {{"rawId": "{}"}}}}]}}"#,
            "8:acs:".repeat(5000)
        ),
    ] {
        let res = app
            .client
            .post(format!("{}/chat/threads?api-version={CHAT_V}", app.https))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(b.clone())
            .send()
            .await
            .expect("sent");
        let status = assert_2xx_or_4xx_envelope(res, &b[..b.len().min(60)]).await;
        assert!(
            status == 400 || status == 201,
            "{}: {status}",
            &b[..b.len().min(60)]
        );
    }
    assert_eq!(all_messages(&app, &token, &thread).await.len(), before);
    assert!(app.state.store().chat.len() <= threads_before + 1);
}

#[tokio::test]
async fn parallel_writers_while_participants_leave_and_a_token_is_revoked() {
    // Arrange: an owner and 6 members, each sending 30 messages at once; meanwhile 2 members are
    // removed and one member's tokens are revoked.
    let app = Arc::new(spawn_with(parallel_app_config()).await);
    let (_, owner) = app.create_user_and_token(&["chat"]).await;
    let mut members = Vec::new();
    for _ in 0..6 {
        members.push(app.create_user_and_token(&["chat"]).await);
    }
    let ids: Vec<&str> = members.iter().map(|(id, _)| id.as_str()).collect();
    let thread = app.thread_with(&owner, "busy", &ids).await;

    // Act
    let mut tasks = Vec::new();
    for (n, (_, token)) in members.iter().enumerate() {
        let (app, token, thread) = (Arc::clone(&app), token.clone(), thread.clone());
        tasks.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for i in 0..30 {
                let res = app
                    .chat(
                        "POST",
                        &token,
                        &url(&thread, "/messages"),
                        Some(&json!({"content": format!("w{n}-{i}")})),
                    )
                    .await;
                let status = res.status().as_u16();
                let b = body(res).await;
                outcomes.push((status, b["id"].as_str().map(str::to_string), b));
            }
            outcomes
        }));
    }
    tokio::time::sleep(Duration::from_millis(30)).await;
    for (id, _) in &members[..2] {
        let res = app
            .chat(
                "POST",
                &owner,
                &url(&thread, "/participants/:remove"),
                Some(&json!({"rawId": id, "communicationUser": {"id": id}})),
            )
            .await;
        assert_eq!(res.status(), 204);
    }
    app.revoke(&members[2].0).await;
    let outcomes: Vec<Vec<(u16, Option<String>, Value)>> = bounded(join_all(tasks))
        .await
        .into_iter()
        .map(|t| t.expect("task"))
        .collect();

    // Assert: removed members got 403 after their removal, the revoked one 401 after the
    // revocation, and nothing else failed; once refused, a writer stays refused.
    let mut accepted = HashSet::new();
    for (n, writer) in outcomes.iter().enumerate() {
        let mut refused = false;
        for (status, id, b) in writer {
            match (n, *status) {
                (_, 201) => {
                    assert!(!refused, "writer {n} was accepted again after a refusal");
                    assert!(accepted.insert(id.clone().expect("id")), "duplicate id");
                }
                (0 | 1, 403) | (2, 401) => {
                    refused = true;
                    assert!(b["error"]["code"].is_string(), "{b}");
                }
                _ => panic!("writer {n}: {status} {b}"),
            }
        }
    }
    // Whatever the interleaving, the removed and the revoked are refused from now on.
    for (n, expected) in [(0, 403), (1, 403), (2, 401)] {
        let res = app
            .chat(
                "POST",
                &members[n].1,
                &url(&thread, "/messages"),
                Some(&json!({"content": "late"})),
            )
            .await;
        assert_eq!(res.status().as_u16(), expected, "writer {n}");
    }
    // Consistency: every accepted message is listed exactly once; sequence ids are gap-free.
    let all = all_messages(&app, &owner, &thread).await;
    let listed: HashSet<String> = all
        .iter()
        .filter(|m| m["type"] == "text")
        .map(|m| m["id"].as_str().expect("id").to_string())
        .collect();
    assert_eq!(listed, accepted);
    assert!(
        all.len() >= accepted.len() + 2,
        "two participantRemoved system messages"
    );
}

#[tokio::test]
async fn deleting_a_thread_while_it_is_written_to_leaves_it_gone_for_everyone() {
    let app = Arc::new(spawn_with(parallel_app_config()).await);
    let (_, owner) = app.create_user_and_token(&["chat"]).await;
    let (member_id, member) = app.create_user_and_token(&["chat"]).await;
    let extra = app.create_identity().await;
    let thread = app.thread_with(&owner, "doomed", &[&member_id]).await;

    let mut requests: Vec<(String, &str, String, Option<Value>)> = Vec::new();
    for i in 0..20 {
        requests.push((
            member.clone(),
            "POST",
            url(&thread, "/messages"),
            Some(json!({"content": format!("m{i}")})),
        ));
    }
    for _ in 0..3 {
        requests.push((owner.clone(), "DELETE", url(&thread, ""), None));
    }
    requests.push((
        owner.clone(),
        "PATCH",
        url(&thread, ""),
        Some(json!({"topic": "renamed"})),
    ));
    requests.push((
        owner.clone(),
        "POST",
        url(&thread, "/participants/:add"),
        Some(json!({"participants": [crate::helpers::participant(&extra)]})),
    ));
    requests.push((
        member.clone(),
        "POST",
        url(&thread, "/readReceipts"),
        Some(json!({"chatMessageId": "1"})),
    ));
    requests.push((member.clone(), "GET", url(&thread, "/messages"), None));
    // Interleave the deletes among the writes.
    requests.rotate_left(7);

    let results = bounded(join_all(requests.iter().map(|(token, method, path, b)| {
        let app = Arc::clone(&app);
        async move {
            let res = app.chat(method, token, path, b.as_ref()).await;
            (
                method.to_string(),
                path.clone(),
                assert_2xx_or_4xx_envelope(res, path).await,
            )
        }
    })))
    .await;
    for (method, path, status) in &results {
        if method == "DELETE" {
            assert_eq!(*status, 204, "{path}");
        } else {
            assert!(
                matches!(status, 200 | 201 | 204 | 400 | 404),
                "{method} {path}: {status}"
            );
        }
    }
    for token in [&owner, &member] {
        let res = app.chat("GET", token, &url(&thread, ""), None).await;
        assert_eq!(res.status(), 404);
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
        assert_eq!(list["value"], json!([]));
    }
}

#[tokio::test]
async fn parallel_creates_with_one_repeatability_id_make_one_thread() {
    let app = spawn_with(parallel_app_config()).await;
    let (_, token) = app.create_user_and_token(&["chat"]).await;
    let repeat = uuid::Uuid::new_v4().to_string();
    let create = || {
        app.client
            .post(format!("{}/chat/threads?api-version={CHAT_V}", app.https))
            .bearer_auth(&token)
            .header("repeatability-request-id", &repeat)
            .json(&json!({"topic": "once"}))
            .send()
    };
    let responses = bounded(join_all((0..16).map(|_| create()))).await;
    let mut ids = HashSet::new();
    for res in responses {
        let res = res.expect("sent");
        assert_eq!(res.status(), 201);
        ids.insert(
            body(res).await["chatThread"]["id"]
                .as_str()
                .expect("id")
                .to_string(),
        );
    }
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_lists_one_thread(&app, &token).await;
}

#[tokio::test]
async fn reset_during_chat_load_fails_nothing_with_a_5xx_and_leaves_a_working_emulator() {
    let app = Arc::new(spawn_with(parallel_app_config()).await);
    let deadline = Instant::now() + Duration::from_millis(1500);
    let writers = (0..3).map(|n| {
        let app = Arc::clone(&app);
        tokio::spawn(async move {
            let mut statuses = Vec::new();
            while Instant::now() < deadline {
                // A reset may forget the identity at any point: every step may 401 or 404.
                let res = app
                    .signed_json(
                        "POST",
                        "/identities?api-version=2023-10-01",
                        &json!({"createTokenWithScopes": ["chat"]}),
                    )
                    .await;
                let b = body(res).await;
                let token = b["accessToken"]["token"]
                    .as_str()
                    .expect("token")
                    .to_string();
                let res = app
                    .chat(
                        "POST",
                        &token,
                        &format!("/chat/threads?api-version={CHAT_V}"),
                        Some(&json!({"topic": format!("t{n}")})),
                    )
                    .await;
                let status = res.status().as_u16();
                statuses.push(status);
                let b = body(res).await;
                if let Some(thread) = b["chatThread"]["id"].as_str() {
                    for i in 0..5 {
                        let res = app
                            .chat(
                                "POST",
                                &token,
                                &url(thread, "/messages"),
                                Some(&json!({"content": format!("{i}")})),
                            )
                            .await;
                        statuses.push(res.status().as_u16());
                    }
                }
            }
            statuses
        })
    });
    let writers: Vec<_> = writers.collect();
    let mut resets = 0;
    while Instant::now() < deadline {
        let res = app
            .client
            .post(format!("{}/_emulator/reset", app.http))
            .send()
            .await
            .expect("sent");
        assert!(res.status().is_success());
        resets += 1;
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    let mut total = 0;
    for w in bounded(join_all(writers)).await {
        for status in w.expect("task") {
            total += 1;
            assert!(matches!(status, 201 | 401 | 404), "{status}");
        }
    }
    assert!(
        resets > 5 && total > 10,
        "{resets} resets, {total} requests"
    );
    // Consistent afterwards: a fresh user works end to end, and only live threads are listed.
    let (_, token) = app.create_user_and_token(&["chat"]).await;
    let thread = app.thread_with(&token, "after", &[]).await;
    app.send_text(&token, &thread, "still works").await;
    assert_lists_one_thread(&app, &token).await;
}
