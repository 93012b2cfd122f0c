//! Hostile input: slow clients, many connections, huge or non-UTF-8 heads and bodies, invalid
//! percent-encoding, deep or ill-typed JSON, absurd query values. Every case answers a 4xx (with
//! the envelope where a handler is reached) or closes the connection; never a 5xx. Afterwards the
//! server still answers and the store is unchanged.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{TestApp, assert_error, encode, spawn_app, spawn_with};

const CREATE: &str = "/identities?api-version=2023-10-01";

/// Writes `bytes` on a fresh connection and reads until the server closes it (or `within`
/// passes). Returns what was read and how long the server took to close.
async fn raw(app: &TestApp, bytes: &[u8], within: Duration) -> (String, Option<Duration>) {
    let mut stream = TcpStream::connect(app.http_host()).await.expect("connect");
    let started = Instant::now();
    let _ = stream.write_all(bytes).await;
    let mut buf = Vec::new();
    let closed = tokio::time::timeout(within, stream.read_to_end(&mut buf))
        .await
        .ok()
        .map(|_| started.elapsed());
    (String::from_utf8_lossy(&buf).into_owned(), closed)
}

/// The status code of a raw HTTP/1.1 response, if any.
fn status_of(response: &str) -> Option<u16> {
    response
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
}

/// The server answers, and nothing was created.
async fn assert_healthy_and_unchanged(app: &TestApp, identities: usize, sms: usize) {
    let res = app
        .client
        .get(format!("{}/_emulator/health", app.http))
        .send()
        .await
        .expect("health answered");
    assert_eq!(res.status(), 200);
    assert_eq!(app.state.store().identities.len(), identities, "identities");
    assert_eq!(app.outbox("").await.len(), sms, "outbox");
}

fn short_timeouts() -> acs_emulator::Config {
    let mut config = acs_emulator::Config::for_tests();
    config.limits.client_request_timeout = Duration::from_millis(500);
    config.limits.request_body_timeout = Duration::from_millis(500);
    config
}

#[tokio::test]
async fn a_client_trickling_its_headers_is_cut_off_by_the_request_timeout() {
    // Arrange
    let app = spawn_with(short_timeouts()).await;
    let mut stream = TcpStream::connect(app.http_host()).await.expect("connect");
    let started = Instant::now();
    stream
        .write_all(b"GET /_emulator/health HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");

    // Act: one more header line every 100 ms, never the blank line that ends the head.
    let mut cut_off = None;
    for n in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if stream
            .write_all(format!("x-slow-{n}: a\r\n").as_bytes())
            .await
            .is_err()
        {
            cut_off = Some(started.elapsed());
            break;
        }
        let mut buf = [0u8; 512];
        if let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(1), stream.read(&mut buf)).await
        {
            let text = String::from_utf8_lossy(&buf[..n]);
            assert!(n == 0 || text.starts_with("HTTP/1.1 408"), "{text}");
            cut_off = Some(started.elapsed());
            break;
        }
    }

    // Assert: cut off after about the configured 500 ms, well before the 5 s the trickle lasts.
    let cut_off = cut_off.expect("the slow client was never cut off");
    assert!(
        cut_off < Duration::from_secs(3),
        "cut off after {cut_off:?}"
    );
    assert_healthy_and_unchanged(&app, 0, 0).await;
}

#[tokio::test]
async fn a_client_that_never_finishes_its_body_gets_a_408_envelope() {
    let app = spawn_with(short_timeouts()).await;
    let head = format!(
        "POST {CREATE} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"createTok",
        app.http_host()
    );
    let (response, closed) = raw(&app, head.as_bytes(), Duration::from_secs(5)).await;
    assert_eq!(status_of(&response), Some(408), "{response}");
    assert!(
        response.contains(r#""code":"RequestTimeout""#),
        "{response}"
    );
    assert!(closed.is_some(), "the connection was not closed");
    assert_healthy_and_unchanged(&app, 0, 0).await;
}

#[tokio::test]
async fn a_slow_body_is_cut_off_on_every_route_not_only_signed_ones() {
    let app = spawn_with(short_timeouts()).await;
    let (_, token) = app.create_user_and_token(&["chat"]).await;
    let threads_before = app.state.store().chat.len();
    let host = app.http_host();
    for head in [
        // Chat (bearer user token), the Entra token endpoint (form), the emulator's reset.
        format!(
            "POST /chat/threads?api-version=2025-03-15 HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n{{\"topic\""
        ),
        format!(
            "POST /acacacac-0000-4000-8000-00000000000a/oauth2/v2.0/token HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 80\r\n\r\ngrant_type=client_"
        ),
        format!(
            "POST /_emulator/reset HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabc"
        ),
    ] {
        let (response, closed) = raw(&app, head.as_bytes(), Duration::from_secs(5)).await;
        assert_eq!(status_of(&response), Some(408), "{head}: {response}");
        assert!(
            response.contains(r#""code":"RequestTimeout""#),
            "{response}"
        );
        assert!(response.contains("connection: close"), "{response}");
        // Closed by the server, chunked bodies included.
        assert!(
            closed.is_some_and(|d| d < Duration::from_secs(3)),
            "{head}: {closed:?} {response}"
        );
    }
    assert_eq!(app.state.store().chat.len(), threads_before);
    assert_healthy_and_unchanged(&app, 1, 0).await;
}

#[tokio::test]
async fn a_client_that_stalls_the_tls_handshake_is_disconnected() {
    let mut config = short_timeouts();
    config.limits.tls_handshake_timeout = Duration::from_millis(500);
    let app = spawn_with(config).await;
    let https = app.https.trim_start_matches("https://").to_string();
    // Nothing at all, and a ClientHello cut short.
    for bytes in [&b""[..], b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"] {
        let mut stream = TcpStream::connect(&https).await.expect("connect");
        let started = Instant::now();
        stream.write_all(bytes).await.expect("write");
        let mut buf = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buf)).await;
        assert!(read.is_ok(), "still open after 5 s");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
    }
    // The HTTPS listener still serves.
    let res = app
        .client
        .get(format!("{}/_emulator/health", app.https))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn idle_connections_past_the_connection_limit_wait_and_are_then_served() {
    // Arrange: one worker taking 4 connections at a time, idle ones cut after 500 ms.
    let mut config = short_timeouts();
    config.limits.max_connections = 4;
    let app = spawn_with(config).await;
    let mut idle = Vec::new();
    for _ in 0..8 {
        idle.push(TcpStream::connect(app.http_host()).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(50)).await;

    // Act: a real request queues behind them.
    let started = Instant::now();
    let res = app
        .client
        .get(format!("{}/_emulator/health", app.http))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("served once idle connections were cut");

    // Assert
    assert_eq!(res.status(), 200);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    drop(idle);
    assert_healthy_and_unchanged(&app, 0, 0).await;
}

#[tokio::test]
async fn hundreds_of_concurrent_connections_are_all_served() {
    let app = spawn_app().await;
    let tasks: Vec<_> = (0..300)
        .map(|_| {
            let addr = app.http_host();
            tokio::spawn(async move {
                let mut stream = TcpStream::connect(&addr).await.expect("connect");
                stream
                    .write_all(
                        b"GET /_emulator/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                    )
                    .await
                    .expect("write");
                let mut buf = Vec::new();
                tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut buf))
                    .await
                    .expect("answered in time")
                    .expect("read");
                String::from_utf8_lossy(&buf).into_owned()
            })
        })
        .collect();
    for task in tasks {
        let response = task.await.expect("task");
        assert_eq!(status_of(&response), Some(200), "{response}");
    }
    assert_healthy_and_unchanged(&app, 0, 0).await;
}

#[tokio::test]
async fn headers_over_the_limit_get_a_431_envelope_and_far_over_a_clean_close() {
    let app = spawn_app().await;
    let big = "a".repeat(40 * 1024);
    // Over --max-header-bytes (32 KiB): the envelope, before authentication.
    let res = app.send("POST", CREATE, &[("x-big", &big)], b"").await;
    let message = assert_error(res, 431, "RequestHeaderFieldsTooLarge").await;
    assert!(message.contains("32768"), "{message}");
    // Many small headers adding up.
    let many: Vec<(String, String)> = (0..60)
        .map(|i| (format!("x-h{i}"), "b".repeat(700)))
        .collect();
    let headers: Vec<(&str, &str)> = many.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let res = app.send("GET", "/_emulator/health", &headers, b"").await;
    assert_error(res, 431, "RequestHeaderFieldsTooLarge").await;
    // Past actix's own 128 KiB head buffer, and past its 96-header cap: 431 or a closed
    // connection, never a 5xx.
    let huge = format!(
        "GET /_emulator/health HTTP/1.1\r\nHost: x\r\nx-huge: {}\r\n\r\n",
        "a".repeat(200 * 1024)
    );
    let too_many = format!(
        "GET /_emulator/health HTTP/1.1\r\nHost: x\r\n{}\r\n",
        (0..120)
            .map(|i| format!("x-{i}: v\r\n"))
            .collect::<String>()
    );
    for request in [huge, too_many] {
        let (response, closed) = raw(&app, request.as_bytes(), Duration::from_secs(5)).await;
        assert!(
            matches!(status_of(&response), None | Some(431)),
            "{response}"
        );
        assert!(closed.is_some(), "not closed");
    }
    assert_healthy_and_unchanged(&app, 0, 0).await;
}

#[tokio::test]
async fn a_configured_header_limit_applies() {
    let mut config = acs_emulator::Config::for_tests();
    config.limits.max_header_bytes = 2048;
    let app = spawn_with(config).await;
    let res = app
        .send(
            "GET",
            "/_emulator/health",
            &[("x-pad", &"p".repeat(1500))],
            b"",
        )
        .await;
    assert_eq!(res.status(), 200);
    let res = app
        .send(
            "GET",
            "/_emulator/health",
            &[("x-pad", &"p".repeat(2100))],
            b"",
        )
        .await;
    let message = assert_error(res, 431, "RequestHeaderFieldsTooLarge").await;
    assert!(message.contains("2048"), "{message}");
}

#[tokio::test]
async fn non_utf8_bodies_and_headers_are_rejected_without_side_effects() {
    let app = spawn_app().await;
    let id = app.create_identity().await;

    // Signed, valid JSON framing, invalid UTF-8 inside: the body decoder refuses it.
    for body in [
        &b"\xff\xfe{}"[..],
        b"{\"createTokenWithScopes\":[\"ch\xc3\x28t\"]}",
    ] {
        let res = app.signed("POST", CREATE, body).await;
        assert_error(res, 400, "InvalidRequestBody").await;
    }
    let sms = b"{\"from\":\"+18005550100\",\"smsRecipients\":[{\"to\":\"+14255550123\"}],\"message\":\"\xff\"}";
    let res = app.signed("POST", "/sms?api-version=2021-03-07", sms).await;
    assert!(res.status().is_client_error(), "{}", res.status());

    // Non-UTF-8 bytes (obs-text) in the headers the signature covers, and in Authorization.
    let host = app.http_host();
    let sig = app.sign("POST", CREATE, b"");
    for (name, value) in [
        ("x-ms-date", b"Mon, 01 Jan 2024 00:00:00 G\xffT".to_vec()),
        ("x-ms-content-sha256", b"\xff\xfe".to_vec()),
        (
            "authorization",
            b"HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=\xff".to_vec(),
        ),
        ("authorization", b"Bearer \xff\xfe.\xff.\xff".to_vec()),
    ] {
        let mut request = format!(
            "POST {CREATE} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n"
        )
        .into_bytes();
        for (n, v) in sig.headers() {
            if n != name {
                request.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
            }
        }
        request.extend_from_slice(name.as_bytes());
        request.extend_from_slice(b": ");
        request.extend_from_slice(&value);
        request.extend_from_slice(b"\r\n\r\n");
        let (response, _) = raw(&app, &request, Duration::from_secs(5)).await;
        assert_eq!(status_of(&response), Some(401), "{name}: {response}");
        assert!(response.contains(r#""error":{"code":""#), "{response}");
    }
    // In a path segment (raw bytes, not percent-encoded).
    let request = format!(
        "GET /identities/8:acs:\u{ff}\u{fe}?api-version=2023-10-01 HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    );
    let (response, _) = raw(&app, request.as_bytes(), Duration::from_secs(5)).await;
    assert!(
        matches!(status_of(&response), None | Some(400..=499)),
        "{response}"
    );
    assert!(
        app.state
            .store()
            .identities
            .is_live(&acs_emulator::domain::CommunicationUserId::parse(&id).expect("id"))
    );
    assert_healthy_and_unchanged(&app, 1, 0).await;
}

#[tokio::test]
async fn invalid_percent_encoding_anywhere_is_a_4xx() {
    let app = spawn_app().await;
    let id = app.create_identity().await;
    let targets = [
        "/identities?api-version=%ZZ".to_string(),
        "/identities?api-version=2023-10-01%".to_string(),
        "/identities?api-version%=2023-10-01".to_string(),
        format!(
            "/identities/{}%00/:revokeAccessTokens?api-version=2023-10-01",
            encode(&id)
        ),
        format!(
            "/identities/{}%2F..%2F/:revokeAccessTokens?api-version=2023-10-01",
            encode(&id)
        ),
        "/identities/%C0%AF/:revokeAccessTokens?api-version=2023-10-01".to_string(),
        "/identities/%/:issueAccessToken?api-version=2023-10-01".to_string(),
        "/sms?api-version=2021-03-07%ZZ".to_string(),
    ];
    for target in &targets {
        let res = app.signed("POST", target, b"").await;
        let status = res.status().as_u16();
        assert!((400..500).contains(&status), "{target}: {status}");
        let body = crate::helpers::body(res).await;
        assert!(
            body["error"]["code"].is_string() || body["status"].is_number(),
            "{target}: {body}"
        );
    }
    for query in ["to=%ZZ", "since=%FF%FE", "wait=%", "tag=%C0%80"] {
        let res = app
            .client
            .get(format!("{}/_emulator/sms?{query}", app.http))
            .send()
            .await
            .expect("sent");
        assert!(
            res.status().is_client_error() || res.status() == 200,
            "{query}: {}",
            res.status()
        );
    }
    assert_healthy_and_unchanged(&app, 1, 0).await;
}

#[tokio::test]
async fn deeply_nested_or_ill_typed_json_is_a_400_envelope() {
    let app = spawn_app().await;
    let id = app.create_identity().await;
    let issue = format!(
        "/identities/{}/:issueAccessToken?api-version=2023-10-01",
        encode(&id)
    );
    let deep_object = format!(
        r#"{{"createTokenWithScopes":{}1{}}}"#,
        r#"{"a":"#.repeat(5_000),
        "}".repeat(5_000)
    );
    let deep_array = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let bodies = [
        deep_object,
        deep_array.clone(),
        r#"{"createTokenWithScopes":"chat"}"#.to_string(),
        r#"{"createTokenWithScopes":[1,2,3]}"#.to_string(),
        r#"{"createTokenWithScopes":{"chat":true}}"#.to_string(),
        r#"{"createTokenWithScopes":["chat"],"expiresInMinutes":"60"}"#.to_string(),
        r#"{"createTokenWithScopes":["chat"],"expiresInMinutes":1e400}"#.to_string(),
        r#"{"createTokenWithScopes":["chat"],"expiresInMinutes":18446744073709551616}"#.to_string(),
        r#"{"createTokenWithScopes":["chat"],"expiresInMinutes":-1}"#.to_string(),
        r#"[]"#.to_string(),
        r#""chat""#.to_string(),
        r#"{"createTokenWithScopes":["chat"]"#.to_string(),
        "{\"createTokenWithScopes\":[\"chat\"]}\u{0}".to_string(),
    ];
    for body in &bodies {
        for target in [CREATE, issue.as_str()] {
            let res = app.signed("POST", target, body.as_bytes()).await;
            let status = res.status().as_u16();
            assert_eq!(status, 400, "{target} {}", &body[..body.len().min(60)]);
            let envelope = crate::helpers::body(res).await;
            assert!(envelope["error"]["code"].is_string(), "{envelope}");
        }
    }
    // Deep nesting inside an unknown field is skipped without recursion: valid JSON, accepted.
    let ignored = format!(
        r#"{{"scopes":["chat"],"x":{}1{}}}"#,
        r#"{"a":"#.repeat(50_000),
        "}".repeat(50_000)
    );
    let res = app.signed("POST", &issue, ignored.as_bytes()).await;
    assert_eq!(res.status(), 200);
    for body in [
        deep_array,
        json!({"from": "+18005550100", "smsRecipients": {"to": "+14255550123"}, "message": "x"}).to_string(),
        json!({"from": ["+18005550100"], "smsRecipients": [{"to": "+14255550123"}], "message": "x"}).to_string(),
        json!({"from": "+18005550100", "smsRecipients": [{"to": 14255550123u64}], "message": "x"}).to_string(),
        json!({"from": "+18005550100", "smsRecipients": [{"to": "+14255550123"}], "message": {"text": "x"}}).to_string(),
    ] {
        let res = app.signed("POST", "/sms?api-version=2021-03-07", body.as_bytes()).await;
        assert_eq!(res.status(), 400, "{}", &body[..body.len().min(80)]);
    }
    assert_healthy_and_unchanged(&app, 1, 0).await;
}

#[tokio::test]
async fn absurd_outbox_query_values_are_rejected_or_clamped_without_hanging() {
    let app = spawn_app().await;
    for query in [
        "count=-1",
        "count=99999999999999999999999",
        "count=1e9",
        "wait=99999999999999999999999h&count=1",
        "wait=18446744073709551615&count=0",
        "wait=-5s",
        "wait=1s&count=0",
        "since=9999-99-99T99:99:99Z",
        "since=-292277022657-01-27T08:29:52Z",
        "wait=nan",
    ] {
        let started = Instant::now();
        let res = tokio::time::timeout(
            Duration::from_secs(5),
            app.client
                .get(format!("{}/_emulator/sms?{query}", app.http))
                .send(),
        )
        .await
        .unwrap_or_else(|_| panic!("{query} hung"))
        .expect("sent");
        let status = res.status().as_u16();
        assert!(
            status == 200 || (400..500).contains(&status),
            "{query}: {status}"
        );
        assert!(started.elapsed() < Duration::from_secs(3), "{query}");
    }
    assert_healthy_and_unchanged(&app, 0, 0).await;
}

#[tokio::test]
async fn rooms_refuse_deep_ill_typed_and_oversized_bodies_without_changing_anything() {
    let app = spawn_app().await;
    let create = "/rooms?api-version=2025-03-13";
    let res = app.signed("POST", create, b"{}").await;
    assert_eq!(res.status(), 201);
    let id = crate::helpers::body(res).await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let patch = format!("/rooms/{id}?api-version=2025-03-13");
    let people = format!("/rooms/{id}/participants?api-version=2025-03-13");
    let deep = format!(
        r#"{{"participants":{}1{}}}"#,
        r#"{"a":"#.repeat(5_000),
        "}".repeat(5_000)
    );
    for (method, target, body) in [
        ("POST", create, deep.clone()),
        ("PATCH", people.as_str(), deep.clone()),
        ("POST", create, r#"{"validFrom": 12}"#.to_string()),
        (
            "POST",
            create,
            r#"{"pstnDialOutEnabled": "yes"}"#.to_string(),
        ),
        ("POST", create, r#"{"participants": []}"#.to_string()),
        (
            "POST",
            create,
            r#"{"participants": {"8:acs:x": 1}}"#.to_string(),
        ),
        (
            "PATCH",
            patch.as_str(),
            r#"{"validUntil": [1]}"#.to_string(),
        ),
        ("PATCH", patch.as_str(), r#"[]"#.to_string()),
        (
            "PATCH",
            people.as_str(),
            r#"{"participants": "x"}"#.to_string(),
        ),
        (
            "PATCH",
            people.as_str(),
            "{\"participants\":{}}\u{0}".to_string(),
        ),
        ("PATCH", people.as_str(), String::new()),
    ] {
        let res = app.signed(method, target, body.as_bytes()).await;
        let status = res.status().as_u16();
        assert_eq!(
            status,
            400,
            "{method} {target} {}",
            &body[..body.len().min(60)]
        );
        let envelope = crate::helpers::body(res).await;
        assert!(envelope["error"]["code"].is_string(), "{envelope}");
    }
    // Past --max-body-bytes: 413 before the handler.
    let big = format!(
        r#"{{"participants":{{"{}":null}}}}"#,
        "8".repeat(2 * 1024 * 1024)
    );
    let res = app.signed("PATCH", &people, big.as_bytes()).await;
    assert_error(res, 413, "RequestEntityTooLarge").await;
    let res = app
        .signed("GET", "/rooms?api-version=2025-03-13", b"")
        .await;
    let listed = crate::helpers::body(res).await;
    assert_eq!(listed["value"].as_array().expect("value").len(), 1);
    assert_eq!(listed["value"][0]["id"], id.as_str());
}
