//! Events under concurrent writes: messages are sent, then edited several times and deleted at
//! once, on four workers. Every delivered event is checked against what the API answered: none
//! is lost or added, an edited event carries its own edit's content and version, a deleted one
//! carries no content and the version the deletion left, and each message's events arrive in
//! the order its changes were committed (received, edits by increasing version, deleted).

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::events::events_config;
use crate::helpers::{CHAT_V, TestApp, body, encode, spawn_with};
use crate::webhook::Webhook;

const THREADS: usize = 4;
const ROUNDS: usize = 25;
/// Edits sent at once with each deletion (half before it, half after).
const EDITS: usize = 6;
/// Rounds in flight at once.
const IN_FLIGHT: usize = 12;

/// What the API answered for one message.
#[derive(Debug)]
struct Answered {
    /// The content it was sent with.
    sent: String,
    /// The contents of the edits that answered 204 (the others answered 404: the deletion came
    /// first).
    edits: Vec<String>,
    /// `GET` after the race: the message as the deletion left it.
    last: Value,
}

/// A message's events of one level (per thread, or the per-user ones for the other
/// participant), in arrival order: (short type, data).
type Delivered<'a> = Vec<(&'a str, &'a Value)>;

fn version(data: &Value) -> u64 {
    match &data["version"] {
        Value::Number(n) => n.as_u64().expect("version"),
        Value::String(s) => s.parse().expect("version"),
        other => panic!("no version: {other}"),
    }
}

/// A client on HTTP/1.1 only: one connection per request in flight, spread over the workers,
/// so that the requests of one round really run at the same time (the HTTP/2 client would
/// multiplex them over one connection, which one worker serves).
struct Client<'a> {
    app: &'a TestApp,
    http1: reqwest::Client,
}

impl Client<'_> {
    async fn chat(
        &self,
        method: reqwest::Method,
        token: &str,
        path: &str,
        body: Option<&Value>,
    ) -> reqwest::Response {
        let mut request = self
            .http1
            .request(method, format!("{}{path}", self.app.https))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.expect("request sent")
    }
}

async fn race(client: &Client<'_>, token: &str, thread: &str, round: usize) -> (String, Answered) {
    use reqwest::Method;
    let t = encode(thread);
    let sent = format!("{thread}-{round}-sent");
    let res = client
        .chat(
            Method::POST,
            token,
            &format!("/chat/threads/{t}/messages?api-version={CHAT_V}"),
            Some(&json!({"content": sent})),
        )
        .await;
    assert_eq!(res.status(), 201);
    let id = body(res).await["id"].as_str().expect("id").to_string();
    let path = format!("/chat/threads/{t}/messages/{id}?api-version={CHAT_V}");
    let edit = |n: usize| {
        let content = format!("{thread}-{round}-edit-{n}");
        let path = &path;
        async move {
            let res = client
                .chat(
                    Method::PATCH,
                    token,
                    path,
                    Some(&json!({"content": content})),
                )
                .await;
            (content, res.status().as_u16())
        }
    };
    let (before, deleted, after) = tokio::join!(
        join_all((0..EDITS / 2).map(edit)),
        client.chat(Method::DELETE, token, &path, None),
        join_all((EDITS / 2..EDITS).map(edit)),
    );
    assert_eq!(deleted.status(), 204);
    let mut edits = Vec::new();
    for (content, status) in before.into_iter().chain(after) {
        match status {
            204 => edits.push(content),
            404 => {}
            other => panic!("an edit racing a deletion answered {other}"),
        }
    }
    let res = client.chat(Method::GET, token, &path, None).await;
    assert_eq!(res.status(), 200);
    let last = body(res).await;
    assert!(last["deletedOn"].is_string(), "{last}");
    (id, Answered { sent, edits, last })
}

/// Checks one level of one message's events against what the API answered.
fn check(id: &str, answered: &Answered, events: &Delivered<'_>, level: &str) {
    let context = || format!("{level} events of {id}: {events:#?}, answered {answered:#?}");
    let (received, rest) = events
        .split_first()
        .unwrap_or_else(|| panic!("{}", context()));
    let (deleted, edited) = rest.split_last().unwrap_or_else(|| panic!("{}", context()));
    assert!(
        received.0.starts_with("ChatMessageReceived"),
        "{}",
        context()
    );
    assert!(deleted.0.starts_with("ChatMessageDeleted"), "{}", context());
    assert!(
        edited
            .iter()
            .all(|(t, _)| t.starts_with("ChatMessageEdited")),
        "{}",
        context()
    );

    // Sent: the content it was sent with, whatever happened next.
    assert_eq!(
        received.1["messageBody"],
        answered.sent.as_str(),
        "{}",
        context()
    );
    assert_eq!(version(received.1).to_string(), id, "{}", context());

    // Edited: one event per edit the API accepted, each with its own content, in the order
    // the versions were handed out.
    let mut bodies: Vec<&str> = edited
        .iter()
        .map(|(_, d)| {
            d["messageBody"]
                .as_str()
                .expect("an edit carries its content")
        })
        .collect();
    bodies.sort_unstable();
    let mut accepted: Vec<&str> = answered.edits.iter().map(String::as_str).collect();
    accepted.sort_unstable();
    assert_eq!(bodies, accepted, "{}", context());
    let versions: Vec<u64> = events.iter().map(|(_, d)| version(d)).collect();
    let edit_versions = &versions[1..versions.len() - 1];
    assert!(
        edit_versions.windows(2).all(|w| w[0] < w[1])
            && edit_versions.first().is_none_or(|v| *v > versions[0]),
        "{}",
        context()
    );
    for (_, data) in edited {
        assert!(data["editTime"].is_string() && data.get("deleteTime").is_none());
    }

    // Deleted: no content, and the version and time the deletion left (what GET answers).
    assert!(deleted.1.get("messageBody").is_none(), "{}", context());
    assert!(deleted.1.get("metadata").is_none(), "{}", context());
    assert_eq!(
        version(deleted.1).to_string(),
        answered.last["version"].as_str().expect("version"),
        "{}",
        context()
    );
    assert_eq!(
        deleted.1["deleteTime"],
        answered.last["deletedOn"],
        "{}",
        context()
    );
    assert_eq!(
        version(deleted.1),
        *edit_versions.last().unwrap_or(&versions[0]),
        "{}",
        context()
    );
}

#[tokio::test]
async fn events_of_messages_edited_and_deleted_at_once_match_what_the_api_answered() {
    // Arrange: four workers, a webhook for every message event, threads of two users.
    let mut config = events_config();
    config.limits.workers = Some(4);
    let app = spawn_with(config).await;
    let hook = Webhook::start().await;
    app.subscribe(
        &json!({"name": "messages", "endpoint": hook.url, "maxEventsPerBatch": 50,
        "eventTypes": ["ChatMessageReceived", "ChatMessageReceivedInThread", "ChatMessageEdited",
            "ChatMessageEditedInThread", "ChatMessageDeleted", "ChatMessageDeletedInThread"]}),
    )
    .await;
    let (_, token) = app.create_user_and_token(&["chat"]).await;
    let (other, _) = app.create_user_and_token(&["chat"]).await;
    let mut threads = Vec::new();
    for n in 0..THREADS {
        threads.push(
            app.thread_with(&token, &format!("race {n}"), &[&other])
                .await,
        );
    }

    // Act: the rounds of all threads, interleaved, IN_FLIGHT at a time.
    let cert = reqwest::Certificate::from_pem(app.state.tls_cert_pem.as_bytes()).expect("pem");
    let client = Client {
        app: &app,
        http1: reqwest::Client::builder()
            .add_root_certificate(cert)
            .tls_built_in_root_certs(false)
            .http1_only()
            .build()
            .expect("client"),
    };
    let rounds = (0..ROUNDS)
        .flat_map(|round| threads.iter().map(move |thread| (thread, round)))
        .map(|(thread, round)| race(&client, &token, thread, round));
    let all = futures_util::stream::iter(rounds)
        .buffer_unordered(IN_FLIGHT)
        .collect::<Vec<_>>();
    let answered: BTreeMap<String, Answered> = tokio::time::timeout(Duration::from_secs(60), all)
        .await
        .expect("the races answer (no deadlock)")
        .into_iter()
        .collect();

    // Assert: exactly the events the answers call for, two levels each.
    let want: usize = answered.values().map(|a| 2 * (2 + a.edits.len())).sum();
    assert!(
        answered.values().any(|a| a.edits.len() < EDITS)
            && answered.values().any(|a| !a.edits.is_empty()),
        "edits should have won and lost races with the deletion"
    );
    app.wait_events("state=delivered", want).await;
    assert_eq!(app.events_now("").await.len(), want, "no event more");
    let events = hook.events();
    assert_eq!(events.len(), want);
    let mut per_message: BTreeMap<(&str, &str), Delivered<'_>> = BTreeMap::new();
    for event in &events {
        let data = &event["data"];
        let level = match data["recipientId"].as_str() {
            None => "per-thread",
            Some(recipient) => {
                assert_eq!(recipient, other, "only the other participant hears");
                "per-user"
            }
        };
        let id = data["messageId"].as_str().expect("messageId");
        let kind = event["eventType"]
            .as_str()
            .expect("eventType")
            .trim_start_matches("Microsoft.Communication.");
        per_message
            .entry((id, level))
            .or_default()
            .push((kind, data));
    }
    assert_eq!(per_message.len(), 2 * answered.len());
    for ((id, level), delivered) in &per_message {
        let answer = answered.get(*id).expect("a message the test sent");
        check(id, answer, delivered, level);
    }
}
