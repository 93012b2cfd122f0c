//! Real-time chat notifications, spoken frame by frame as the browser SDK does (socket.io 0.9
//! over a WebSocket): configuration, allocation, handshake, acks, notifications, reconnects and
//! the bounds. The browser itself is exercised by tests/realtime.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{WebSocketStream, client_async};

use crate::helpers::*;

type Ws = WebSocketStream<TcpStream>;

fn host_port(base: &str) -> String {
    base.rsplit("//").next().expect("host").to_string()
}

/// `POST /v4/a` on the HTTP listener with `token`; the response.
async fn allocate(app: &TestApp, token: Option<&str>, query: &str) -> reqwest::Response {
    let mut req = app
        .client
        .post(format!("{}/v4/a?epid=e1{query}", app.http))
        .header("Content-Type", "text/plain");
    if let Some(token) = token {
        req = req.header("X-Skypetoken", token);
    }
    req.send().await.expect("allocate")
}

/// Allocation, handshake and WebSocket for `token`; the socket after `1::` and
/// `trouter.connected`, and the allocation's `sr`.
async fn connect(app: &TestApp, token: &str) -> (Ws, String) {
    let res = allocate(app, Some(token), "").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/json");
    let alloc: Value = res.json().await.expect("json");
    let sr = alloc["connectparams"]["sr"]
        .as_str()
        .expect("sr")
        .to_string();
    assert!(alloc["socketio"].as_str().expect("socketio").ends_with('/'));
    assert!(alloc["connectparams"].get("scae").is_none());
    let session = handshake(app, &sr).await;
    let ws = open(app, &session).await.expect("websocket");
    (expect_connected(ws).await, sr)
}

async fn handshake(app: &TestApp, sr: &str) -> String {
    let res = app
        .client
        .get(format!("{}/socket.io/1/?sr={sr}&v=v4&auth=true", app.http))
        .send()
        .await
        .expect("handshake");
    assert_eq!(res.status(), 200);
    let text = res.text().await.expect("text");
    let parts: Vec<&str> = text.split(':').collect();
    assert_eq!(parts.len(), 4, "{text}");
    assert_eq!(parts[3], "websocket");
    parts[0].to_string()
}

async fn open(app: &TestApp, session: &str) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    let hp = host_port(&app.http);
    let stream = TcpStream::connect(&hp).await.expect("tcp");
    let url = format!("ws://{hp}/socket.io/1/websocket/{session}?sr=x");
    client_async(url, stream).await.map(|(ws, _)| ws)
}

async fn expect_connected(mut ws: Ws) -> Ws {
    assert_eq!(next_text(&mut ws).await.as_deref(), Some("1::"));
    let connected = next_text(&mut ws).await.expect("trouter.connected");
    let event: Value =
        serde_json::from_str(connected.strip_prefix("5:::").expect("event")).expect("json");
    assert_eq!(event["name"], "trouter.connected");
    assert!(event["args"][0].get("connectparams").is_none());
    ws
}

/// The next text frame within 2 s, skipping heartbeats; `None` when the socket closed.
async fn next_text(ws: &mut Ws) -> Option<String> {
    loop {
        let next = tokio::time::timeout(Duration::from_secs(2), ws.next())
            .await
            .expect("a frame within 2 s");
        match next {
            Some(Ok(Message::Text(text))) if text.as_str() != "2::" => {
                return Some(text.as_str().to_string());
            }
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            _ => {}
        }
    }
}

async fn send(ws: &mut Ws, frame: &str) {
    ws.send(Message::text(frame.to_string()))
        .await
        .expect("send");
}

/// The next notification: its request id and payload.
async fn notification(ws: &mut Ws) -> (u64, Value) {
    let frame = next_text(ws).await.expect("a notification");
    let envelope: Value =
        serde_json::from_str(frame.strip_prefix("3:::").expect("a message frame")).expect("json");
    assert_eq!(envelope["method"], "POST");
    let body: Value =
        serde_json::from_str(envelope["body"].as_str().expect("body string")).expect("payload");
    (envelope["id"].as_u64().expect("id"), body)
}

#[tokio::test]
async fn the_configuration_names_the_trouter_on_the_host_called() {
    let app = spawn_app().await;
    let (_, token) = app.create_user_and_token(&["chat"]).await;
    let res = app
        .chat(
            "GET",
            &token,
            "/chat/config/realTimeNotifications?api-version=2024-09-01",
            None,
        )
        .await;
    assert_eq!(res.status(), 200);
    let body = body(res).await;
    assert_eq!(body["trouterServiceUrl"], app.https);
    assert_eq!(
        body["registrarServiceUrl"],
        format!("{}/registrar", app.https)
    );
    assert_eq!(body["cloudType"], "Public");
    // Without a token: 401; another version: 400.
    let res = app
        .client
        .get(format!(
            "{}/chat/config/realTimeNotifications?api-version=2024-09-01",
            app.https
        ))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 401);
    let res = app
        .chat(
            "GET",
            &token,
            "/chat/config/realTimeNotifications?api-version=2021-09-07",
            None,
        )
        .await;
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn a_socket_is_acked_and_hears_what_others_do_in_its_threads() {
    let app = spawn_app().await;
    let (alice, alice_token) = app.create_user_and_token(&["chat"]).await;
    let (bob, bob_token) = app.create_user_and_token(&["chat"]).await;
    let (mut ws, _) = connect(&app, &bob_token).await;
    let (mut alice_ws, _) = connect(&app, &alice_token).await;

    send(
        &mut ws,
        r#"5:1+::{"name":"user.activity","args":[{"state":"active","cv":"x"}]}"#,
    )
    .await;
    assert_eq!(next_text(&mut ws).await.as_deref(), Some("6:::1+[]"));
    send(&mut ws, r#"5:2+::{"name":"ping"}"#).await;
    assert_eq!(
        next_text(&mut ws).await.as_deref(),
        Some(r#"6:::2+["pong"]"#)
    );
    send(&mut ws, "2::").await;

    let thread = app.thread_with(&alice_token, "realtime", &[&bob]).await;
    let (id, created) = notification(&mut ws).await;
    assert_eq!(created["eventId"], 257);
    assert_eq!(created["threadId"], thread);
    let props: Value =
        serde_json::from_str(created["properties"].as_str().expect("string")).expect("json");
    assert_eq!(props["topic"], "realtime");
    send(
        &mut ws,
        &format!(r#"3:::{{"id":{id},"status":200,"headers":{{}},"body":""}}"#),
    )
    .await;

    let message = app.send_text(&alice_token, &thread, "hello bob").await;
    let (_, received) = notification(&mut ws).await;
    assert_eq!(received["eventId"], 200);
    assert_eq!(received["groupId"], thread);
    assert_eq!(received["messageId"], message);
    assert_eq!(received["messageBody"], "hello bob");
    assert_eq!(received["senderId"], alice);
    assert_eq!(received["recipientMri"], bob);
    assert_eq!(received["acsChatMessageMetadata"], "{}");
    assert!(received["originalArrivalTime"].as_str().is_some());

    // Typing, by Alice.
    let res = app
        .chat(
            "POST",
            &alice_token,
            &format!(
                "/chat/threads/{}/typing?api-version={CHAT_V}",
                encode(&thread)
            ),
            Some(&json!({"senderDisplayName": "Alice"})),
        )
        .await;
    assert_eq!(res.status(), 200);
    let (_, typing) = notification(&mut ws).await;
    assert_eq!(typing["eventId"], 245);
    assert_eq!(typing["senderDisplayName"], "Alice");
    assert_eq!(typing["recipientMri"], bob);

    // The one who acts hears nothing of it (as with Event Grid): Alice's socket got no
    // thread-created, message or typing notification.
    let quiet = tokio::time::timeout(Duration::from_millis(300), alice_ws.next()).await;
    assert!(
        !matches!(quiet, Ok(Some(Ok(Message::Text(ref t)))) if t.as_str() != "2::"),
        "{quiet:?}"
    );

    // The inspector's view.
    let live: Value = app
        .client
        .get(format!("{}/_emulator/realtime", app.http))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(live["sockets"], 2);
    let bobs = live["users"]
        .as_array()
        .expect("users")
        .iter()
        .find(|u| u["user"] == bob)
        .expect("bob listed");
    assert_eq!(bobs["sockets"][0]["sent"], 3);
    assert_eq!(bobs["sockets"][0]["acknowledged"], 1);
    assert_eq!(bobs["sockets"][0]["transport"], "websocket");

    // The control API closes Bob's socket; the client's next allocation reuses its `sr`.
    let closed: Value = app
        .client
        .post(format!(
            "{}/_emulator/realtime/close?user={}",
            app.http,
            encode(&bob)
        ))
        .send()
        .await
        .expect("close")
        .json()
        .await
        .expect("json");
    assert_eq!(closed["closed"], 1);
    assert_eq!(next_text(&mut ws).await, None);
}

#[tokio::test]
async fn reconnects_keep_a_known_sr_and_replace_an_unknown_one() {
    let app = spawn_app().await;
    let (_, token) = app.create_user_and_token(&["chat"]).await;
    let (_, other_token) = app.create_user_and_token(&["chat"]).await;
    let (ws, sr) = connect(&app, &token).await;
    drop(ws);
    let again: Value = allocate(&app, Some(&token), &format!("&sr={sr}"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(again["connectparams"]["sr"], sr);
    // After a restart the emulator knows no `sr`: a new one, and the socket works.
    let fresh: Value = allocate(&app, Some(&token), "&sr=from-an-earlier-run")
        .await
        .json()
        .await
        .expect("json");
    let new_sr = fresh["connectparams"]["sr"].as_str().expect("sr");
    assert_ne!(new_sr, "from-an-earlier-run");
    let session = handshake(&app, new_sr).await;
    expect_connected(open(&app, &session).await.expect("ws")).await;
    // Another user's `sr`: refused, at allocation and at the handshake.
    let stolen = allocate(&app, Some(&other_token), &format!("&sr={sr}")).await;
    assert_error(stolen, 403, "Forbidden").await;
    let res = app
        .client
        .get(format!("{}/socket.io/1/?sr={sr}", app.http))
        .header("X-Skypetoken", &other_token)
        .send()
        .await
        .expect("handshake");
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn unauthenticated_and_unbound_requests_are_refused() {
    let app = spawn_app().await;
    assert_eq!(allocate(&app, None, "").await.status(), 401);
    assert_eq!(allocate(&app, Some("not-a-token"), "").await.status(), 401);
    // A handshake needs a known `sr` (or a token).
    let res = app
        .client
        .get(format!("{}/socket.io/1/?sr=unknown", app.http))
        .send()
        .await
        .expect("handshake");
    assert_eq!(res.status(), 401);
    // A WebSocket needs a handshake's session, once.
    assert!(open(&app, "no-such-session").await.is_err());
    let (_, token) = app.create_user_and_token(&["chat"]).await;
    let alloc: Value = allocate(&app, Some(&token), "")
        .await
        .json()
        .await
        .expect("json");
    let session = handshake(&app, alloc["connectparams"]["sr"].as_str().expect("sr")).await;
    let _ws = open(&app, &session).await.expect("first use");
    assert!(
        open(&app, &session).await.is_err(),
        "a session is used once"
    );
    // The registrar needs the token too.
    let res = app
        .client
        .post(format!("{}/registrar/v3/registrations", app.http))
        .json(&json!({"registrationId": "x"}))
        .send()
        .await
        .expect("register");
    assert_eq!(res.status(), 401);
    let res = app
        .client
        .post(format!("{}/registrar/v3/registrations", app.http))
        .header("X-Skypetoken", &token)
        .json(&json!({"registrationId": "x"}))
        .send()
        .await
        .expect("register");
    assert_eq!(res.status(), 202);
}

#[tokio::test]
async fn oversized_frames_floods_and_too_many_sockets_are_bounded() {
    let app = spawn_app().await;
    let (_, token) = app.create_user_and_token(&["chat"]).await;
    // A frame over 64 KiB closes the socket.
    let (mut ws, _) = connect(&app, &token).await;
    let big = format!(r#"5:1+::{{"name":"{}"}}"#, "x".repeat(70 * 1024));
    let _ = ws.send(Message::text(big)).await;
    assert_eq!(next_text(&mut ws).await, None);
    // A flood of frames closes it too.
    let (mut ws, _) = connect(&app, &token).await;
    for _ in 0..400 {
        if ws.send(Message::text("2::".to_string())).await.is_err() {
            break;
        }
    }
    assert_eq!(next_text(&mut ws).await, None);
    // Ten sockets per user; the eleventh WebSocket is refused.
    let mut open_ones = Vec::new();
    for _ in 0..10 {
        open_ones.push(connect(&app, &token).await.0);
    }
    let alloc: Value = allocate(&app, Some(&token), "")
        .await
        .json()
        .await
        .expect("json");
    let session = handshake(&app, alloc["connectparams"]["sr"].as_str().expect("sr")).await;
    assert!(open(&app, &session).await.is_err());
    drop(open_ones);
}

#[tokio::test]
async fn scenario_rules_delay_and_drop_notifications_and_drop_sockets() {
    let app = spawn_app().await;
    let (_, alice_token) = app.create_user_and_token(&["chat"]).await;
    let (bob, bob_token) = app.create_user_and_token(&["chat"]).await;
    let thread = app.thread_with(&alice_token, "rules", &[&bob]).await;
    let res = app
        .client
        .post(format!("{}/_emulator/fixtures", app.http))
        .json(&json!({"rules": [
            {"name": "lose-typing", "times": 1,
             "match": {"operation": "Realtime.TypingIndicatorReceived", "userId": bob},
             "fault": "emptyResponse"},
            {"name": "slow-message", "times": 1,
             "match": {"operation": "Realtime.ChatMessageReceived", "threadId": thread},
             "delay": "500ms"},
            {"name": "cut-on-edit", "times": 1,
             "match": {"operation": "Realtime.ChatMessageEdited"},
             "fault": "connectionReset"}
        ]}))
        .send()
        .await
        .expect("fixture");
    assert_eq!(res.status(), 201, "{}", body(res).await);
    let (mut ws, _) = connect(&app, &bob_token).await;
    let typing = format!(
        "/chat/threads/{}/typing?api-version={CHAT_V}",
        encode(&thread)
    );
    // The first typing notification is dropped, the second arrives.
    for name in ["first", "second"] {
        let res = app
            .chat(
                "POST",
                &alice_token,
                &typing,
                Some(&json!({"senderDisplayName": name})),
            )
            .await;
        assert_eq!(res.status(), 200);
    }
    let (_, typing) = notification(&mut ws).await;
    assert_eq!(typing["senderDisplayName"], "second");
    // The message is delayed.
    let started = std::time::Instant::now();
    let message = app.send_text(&alice_token, &thread, "late").await;
    let (_, received) = notification(&mut ws).await;
    assert_eq!(received["messageId"], message);
    assert!(started.elapsed() >= Duration::from_millis(450));
    // An edit drops the socket instead.
    let res = app
        .chat(
            "PATCH",
            &alice_token,
            &format!(
                "/chat/threads/{}/messages/{message}?api-version={CHAT_V}",
                encode(&thread)
            ),
            Some(&json!({"content": "edited"})),
        )
        .await;
    assert_eq!(res.status(), 204);
    assert_eq!(next_text(&mut ws).await, None);
}

#[tokio::test]
async fn closing_sockets_from_another_origin_is_refused() {
    let app = spawn_app().await;
    let (bob, token) = app.create_user_and_token(&["chat"]).await;
    let (mut ws, _) = connect(&app, &token).await;
    let res = app
        .client
        .post(format!(
            "{}/_emulator/realtime/close?user={}",
            app.http,
            encode(&bob)
        ))
        .header("Origin", "http://evil.example")
        .header("Sec-Fetch-Site", "cross-site")
        .send()
        .await
        .expect("close");
    assert_eq!(res.status(), 403);
    let live: Value = app
        .client
        .get(format!("{}/_emulator/realtime", app.http))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(live["sockets"], 1);
    // The same request from the inspector's own origin closes it.
    let res = app
        .client
        .post(format!(
            "{}/_emulator/realtime/close?user={}",
            app.http,
            encode(&bob)
        ))
        .header("Origin", app.http.clone())
        .header("Sec-Fetch-Site", "same-origin")
        .send()
        .await
        .expect("close");
    assert_eq!(res.status(), 200);
    assert_eq!(next_text(&mut ws).await, None);
}
