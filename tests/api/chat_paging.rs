//! Chat paging: page sizes, continuation tokens and `nextLink`s, `startTime`, `skip`, and paging
//! while concurrent senders keep adding messages.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{TimeDelta, Utc};
use serde_json::{Value, json};

use crate::helpers::{CHAT_V, assert_error, body, encode, participant, spawn_app};

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

#[tokio::test]
async fn messages_page_newest_first_through_absolute_next_links() {
    let app = spawn_app().await;
    let (_, token) = app.create_user_and_token(&["chat"]).await;
    let id = app.thread_with(&token, "T", &[]).await;
    for i in 0..7 {
        app.send_text(&token, &id, &format!("m{i}")).await;
    }
    let first = body(
        app.chat(
            "GET",
            &token,
            &format!("{}&maxPageSize=4", url(&id, "/messages")),
            None,
        )
        .await,
    )
    .await;
    let seqs: Vec<u64> = first["value"]
        .as_array()
        .expect("v")
        .iter()
        .map(seq)
        .collect();
    assert_eq!(seqs, vec![9, 8, 7, 6]);
    let next = first["nextLink"].as_str().expect("nextLink");
    let prefix = format!("{}/chat/threads/{}/messages?", app.https, encode(&id));
    assert!(next.starts_with(&prefix), "{next}");
    assert!(
        next.contains(&format!("api-version={CHAT_V}")) && next.contains("maxPageSize=4"),
        "{next}"
    );
    let token_value = next
        .split(['?', '&'])
        .find_map(|kv| kv.strip_prefix("syncState="))
        .expect("syncState");
    assert!(
        token_value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "URL-safe: {token_value}"
    );

    let (all, pages) = app
        .collect_pages(&token, &format!("{}&maxPageSize=4", url(&id, "/messages")))
        .await;
    assert_eq!(pages, 3);
    let seqs: Vec<u64> = all.iter().map(seq).collect();
    assert_eq!(seqs, (1..=9).rev().collect::<Vec<_>>());
}

#[tokio::test]
async fn a_next_link_works_without_api_version_and_with_another_supported_one() {
    let app = spawn_app().await;
    let (_, token) = app.create_user_and_token(&["chat"]).await;
    let id = app.thread_with(&token, "T", &[]).await;
    let first = body(
        app.chat(
            "GET",
            &token,
            &format!("{}&maxPageSize=1", url(&id, "/messages")),
            None,
        )
        .await,
    )
    .await;
    let next = first["nextLink"].as_str().expect("nextLink").to_string();
    // As JS sends a foreign link verbatim, minus api-version; and as Python re-adds its own.
    for link in [
        next.replace(&format!("&api-version={CHAT_V}"), ""),
        next.replace(CHAT_V, "2024-03-07"),
    ] {
        let res = app
            .client
            .get(&link)
            .bearer_auth(&token)
            .send()
            .await
            .expect("sent");
        assert_eq!(res.status(), 200, "{link}");
        let page = body(res).await;
        assert_eq!(page["value"][0]["sequenceId"], "1", "{page}");
        assert!(page.get("nextLink").is_none());
    }
    let res = app
        .chat(
            "GET",
            &token,
            &format!("{}&syncState=%21%21", url(&id, "/messages")),
            None,
        )
        .await;
    assert_error(res, 400, "ValidationError").await;
}

#[tokio::test]
async fn max_page_size_must_be_positive_and_is_capped_at_200() {
    let app = spawn_app().await;
    let (_, token) = app.create_user_and_token(&["chat"]).await;
    let id = app.thread_with(&token, "T", &[]).await;
    for bad in ["0", "-1", "abc", "99999999999"] {
        for path in ["/messages", "/participants", "/readReceipts"] {
            let res = app
                .chat(
                    "GET",
                    &token,
                    &format!("{}&maxPageSize={bad}", url(&id, path)),
                    None,
                )
                .await;
            let message = assert_error(res, 400, "ValidationError").await;
            assert!(message.contains("maxPageSize"), "{message}");
        }
        let res = app
            .chat(
                "GET",
                &token,
                &format!("/chat/threads?api-version={CHAT_V}&maxPageSize={bad}"),
                None,
            )
            .await;
        assert_error(res, 400, "ValidationError").await;
    }
    let res = app
        .chat(
            "GET",
            &token,
            &format!("{}&skip=-1", url(&id, "/participants")),
            None,
        )
        .await;
    assert_error(res, 400, "ValidationError").await;

    for i in 0..210 {
        app.send_text(&token, &id, &i.to_string()).await;
    }
    let page = body(
        app.chat(
            "GET",
            &token,
            &format!("{}&maxPageSize=100000", url(&id, "/messages")),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(page["value"].as_array().map(Vec::len), Some(200));
    assert!(
        page["nextLink"]
            .as_str()
            .expect("more")
            .contains("maxPageSize=200")
    );
}

#[tokio::test]
async fn start_time_returns_messages_created_at_or_after_it() {
    let app = spawn_app().await;
    let (_, token) = app.create_user_and_token(&["chat"]).await;
    let id = app.thread_with(&token, "T", &[]).await;
    app.send_text(&token, &id, "old").await;
    app.state
        .clock
        .advance(TimeDelta::seconds(30))
        .expect("within the clock's range");
    let start = app.state.clock.now();
    let new1 = app.send_text(&token, &id, "new1").await;
    let new2 = app.send_text(&token, &id, "new2").await;
    // Python sync encodes the colons; Python aio sends them raw.
    let text = start.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    for value in [text.replace(':', "%3A"), text.clone()] {
        let path = format!("{}&startTime={value}&maxPageSize=1", url(&id, "/messages"));
        let (all, pages) = app.collect_pages(&token, &path).await;
        let ids: Vec<&str> = all.iter().filter_map(|m| m["id"].as_str()).collect();
        assert_eq!(ids, vec![new2.as_str(), new1.as_str()]);
        assert_eq!(pages, 2);
    }
    let res = app
        .chat(
            "GET",
            &token,
            &format!("{}&startTime=yesterday", url(&id, "/messages")),
            None,
        )
        .await;
    assert_error(res, 400, "ValidationError").await;
}

#[tokio::test]
async fn participants_page_with_skip_and_max_page_size() {
    let app = spawn_app().await;
    let (alice, token) = app.create_user_and_token(&["chat"]).await;
    let mut users = Vec::new();
    for _ in 0..4 {
        users.push(app.create_identity().await);
    }
    let refs: Vec<&str> = users.iter().map(String::as_str).collect();
    let id = app.thread_with(&token, "T", &refs).await;
    let page = body(
        app.chat(
            "GET",
            &token,
            &format!("{}&maxPageSize=2&skip=1", url(&id, "/participants")),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(
        page["value"],
        json!([
            {"communicationIdentifier": crate::helpers::user_model(&users[0])},
            {"communicationIdentifier": crate::helpers::user_model(&users[1])},
        ])
    );
    let next = page["nextLink"].as_str().expect("next");
    assert_eq!(
        next,
        format!(
            "{}/chat/threads/{}/participants?skip=3&maxPageSize=2&api-version={CHAT_V}",
            app.https,
            encode(&id)
        )
    );
    let (all, pages) = app
        .collect_pages(
            &token,
            &format!("{}&maxPageSize=2", url(&id, "/participants")),
        )
        .await;
    assert_eq!(pages, 3);
    let ids: Vec<&str> = all
        .iter()
        .filter_map(|p| p["communicationIdentifier"]["rawId"].as_str())
        .collect();
    let mut expected = vec![alice.as_str()];
    expected.extend(refs);
    assert_eq!(ids, expected);
    let _ = participant;
}

#[tokio::test]
async fn concurrent_senders_lose_nothing_and_paging_sees_each_message_once() {
    let app = Arc::new(spawn_app().await);
    let (_, owner) = app.create_user_and_token(&["chat"]).await;
    let mut senders = Vec::new();
    for _ in 0..8 {
        senders.push(app.create_user_and_token(&["chat"]).await);
    }
    let ids: Vec<&str> = senders.iter().map(|(id, _)| id.as_str()).collect();
    let thread = app.thread_with(&owner, "busy", &ids).await;
    // 3 system messages so far (participantAdded, topicUpdated... and nothing else).
    for i in 0..20 {
        app.send_text(&owner, &thread, &format!("pre{i}")).await;
    }
    let before = 22;

    // 8 tasks × 50 messages, while a reader pages with maxPageSize=7 through what existed.
    let mut tasks = Vec::new();
    for (s, (_, token)) in senders.iter().enumerate() {
        let (app, token, thread) = (Arc::clone(&app), token.clone(), thread.clone());
        tasks.push(tokio::spawn(async move {
            let mut sent = Vec::new();
            for i in 0..50 {
                sent.push(app.send_text(&token, &thread, &format!("s{s}-{i}")).await);
            }
            sent
        }));
    }
    let (paged, _) = app
        .collect_pages(
            &owner,
            &format!("{}&maxPageSize=7", url(&thread, "/messages")),
        )
        .await;
    let mut sent = HashSet::new();
    for t in tasks {
        for id in t.await.expect("task") {
            assert!(sent.insert(id), "duplicate message id");
        }
    }
    assert_eq!(sent.len(), 400);

    // The concurrent reader saw each message exactly once, newest first, contiguous down to 1.
    let seqs: Vec<u64> = paged.iter().map(seq).collect();
    assert!(seqs.len() >= before, "{}", seqs.len());
    assert_eq!(seqs.last(), Some(&1));
    assert!(seqs.windows(2).all(|w| w[0] == w[1] + 1), "{seqs:?}");

    // Afterwards: everything, once, sequence ids 1..=422 strictly increasing with message ids.
    let (all, _) = app
        .collect_pages(
            &owner,
            &format!("{}&maxPageSize=200", url(&thread, "/messages")),
        )
        .await;
    assert_eq!(all.len(), before + 400);
    let seqs: Vec<u64> = all.iter().map(seq).collect();
    assert_eq!(seqs, (1..=(before as u64 + 400)).rev().collect::<Vec<_>>());
    let msg_ids: Vec<u64> = all
        .iter()
        .map(|m| m["id"].as_str().expect("id").parse().expect("num"))
        .collect();
    assert!(
        msg_ids.windows(2).all(|w| w[0] > w[1]),
        "ids follow sequence ids"
    );
    let listed: HashSet<String> = all
        .iter()
        .filter(|m| {
            m["type"] == "text"
                && m["content"]["message"]
                    .as_str()
                    .is_some_and(|c| c.starts_with('s'))
        })
        .map(|m| m["id"].as_str().expect("id").to_string())
        .collect();
    assert_eq!(listed, sent);
    let _ = Utc::now();
}
