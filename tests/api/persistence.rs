//! `--state-dir`: state that survives a restart of the real binary (graceful and `kill -9`), the
//! directory's lock, schema version and damage checks.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use acs_emulator::auth::hmac;
use acs_emulator::config::DEFAULT_ACCESS_KEY;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::Utc;
use reqwest::{Method, Response};
use serde_json::{Value, json};

use crate::helpers::{CHAT_V, encode};

/// A fresh state directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("acs-emulator-state-{}", uuid::Uuid::new_v4()));
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The emulator binary, running on free ports with a state directory.
struct Emulator {
    child: Child,
    http: String,
    https: String,
    client: reqwest::Client,
    cert: String,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn command(dir: &Path, extra: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_acs-emulator"));
    command
        .args(["--port", "0", "--http-port", "0", "--log-level", "warn"])
        .arg("--state-dir")
        .arg(dir)
        .args(extra);
    command
}

/// Starts the binary on `dir`; waits for its banner.
fn start(dir: &Path) -> Emulator {
    start_with(dir, &[])
}

/// [`start`] with more flags.
fn start_with(dir: &Path, extra: &[&str]) -> Emulator {
    let mut child = command(dir, extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawns");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let (mut http, mut https, mut cert_path) = (None, None, None);
    let mut line = String::new();
    while http.is_none() || https.is_none() || cert_path.is_none() {
        line.clear();
        assert!(stdout.read_line(&mut line).expect("read") > 0, "no banner");
        let line = line.trim();
        let url = |rest: &str| rest.trim().trim_end_matches('/').to_string();
        if let Some(rest) = line.strip_prefix("HTTP endpoint") {
            http = Some(url(rest));
        } else if let Some(rest) = line.strip_prefix("HTTPS endpoint") {
            https = Some(url(rest));
        } else if let Some(rest) = line.strip_prefix("TLS certificate") {
            cert_path = Some(rest.trim().to_string());
        }
    }
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let cert = std::fs::read_to_string(cert_path.expect("cert path")).expect("certificate");
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.as_bytes()).expect("pem"))
        .tls_built_in_root_certs(false)
        .build()
        .expect("client");
    Emulator {
        child,
        http: http.expect("http"),
        https: https.expect("https"),
        client,
        cert,
    }
}

/// Runs the binary on `dir` expecting it to refuse to start; returns its exit code and stderr.
fn refused(dir: &Path) -> (i32, String) {
    let mut child = command(dir, &[])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawns");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("it started instead of refusing");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr)
        .expect("stderr");
    (status.code().expect("exit code, not a signal"), stderr)
}

impl Emulator {
    /// SIGTERM, then waits for exit 0.
    fn stop(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                assert!(status.success(), "exit status {status}");
                return;
            }
            assert!(started.elapsed() < Duration::from_secs(20), "did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: nothing is flushed.
    fn kill_9(mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("wait");
    }

    async fn signed(&self, method: &str, target: &str, body: &Value) -> Response {
        self.signed_with(method, target, body, &[]).await
    }

    /// [`Self::signed`] with more headers.
    async fn signed_with(
        &self,
        method: &str,
        target: &str,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> Response {
        let key = STANDARD.decode(DEFAULT_ACCESS_KEY).expect("key");
        let body = if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        };
        let host = self.http.trim_start_matches("http://");
        let date = hmac::http_date(Utc::now());
        let authorization = hmac::authorization_header(&key, method, target, &date, host, &body);
        self.client
            .request(
                Method::from_bytes(method.as_bytes()).expect("method"),
                format!("{}{target}", self.http),
            )
            .header("x-ms-date", date)
            .header("x-ms-content-sha256", hmac::content_hash(&body))
            .header("authorization", authorization)
            .header("content-type", "application/json")
            .headers(
                headers
                    .iter()
                    .map(|(name, value)| {
                        (
                            reqwest::header::HeaderName::from_bytes(name.as_bytes())
                                .expect("header name"),
                            reqwest::header::HeaderValue::from_str(value).expect("header value"),
                        )
                    })
                    .collect(),
            )
            .body(body)
            .send()
            .await
            .expect("request sent")
    }

    async fn chat(&self, method: &str, token: &str, path: &str, body: Option<&Value>) -> Response {
        let mut request = self
            .client
            .request(
                Method::from_bytes(method.as_bytes()).expect("method"),
                format!("{}{path}", self.https),
            )
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.expect("request sent")
    }

    async fn json(&self, res: Response, status: u16) -> Value {
        let got = res.status().as_u16();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        assert_eq!(got, status, "{body}");
        body
    }

    /// Creates a user with a chat token; returns (id, token).
    async fn user(&self) -> (String, String) {
        let res = self
            .signed(
                "POST",
                "/identities?api-version=2023-10-01",
                &json!({"createTokenWithScopes": ["chat"]}),
            )
            .await;
        let body = self.json(res, 201).await;
        (
            body["identity"]["id"].as_str().expect("id").to_string(),
            body["accessToken"]["token"]
                .as_str()
                .expect("token")
                .to_string(),
        )
    }

    async fn messages(&self, token: &str, thread: &str) -> Value {
        let path = format!(
            "/chat/threads/{}/messages?api-version={CHAT_V}&maxPageSize=200",
            encode(thread)
        );
        let res = self.chat("GET", token, &path, None).await;
        self.json(res, 200).await["value"].clone()
    }

    async fn outbox(&self) -> Value {
        let res = self
            .client
            .get(format!("{}/_emulator/sms", self.http))
            .send()
            .await
            .expect("request sent");
        self.json(res, 200).await["value"].clone()
    }

    async fn opt_outs(&self, action: &str, to: &[&str]) -> Response {
        let body = json!({
            "from": "+18005550100",
            "recipients": to.iter().map(|t| json!({"to": t})).collect::<Vec<_>>(),
        });
        self.signed(
            "POST",
            &format!("/sms/optouts:{action}?api-version=2026-01-23"),
            &body,
        )
        .await
    }

    async fn clock_offset_ms(&self) -> i64 {
        let res = self
            .client
            .get(format!("{}/_emulator/clock", self.http))
            .send()
            .await
            .expect("request sent");
        self.json(res, 200).await["offsetMs"]
            .as_i64()
            .expect("offsetMs")
    }

    async fn token_status(&self, token: &str) -> u16 {
        self.client
            .get(format!("{}/_emulator/token", self.https))
            .bearer_auth(token)
            .send()
            .await
            .expect("request sent")
            .status()
            .as_u16()
    }
}

/// The path of the Teams Phone extension assignment of object `object` (a, b → fixed GUIDs).
fn assignment(object: &str) -> String {
    let object = if object == "a" {
        "b27b64b9-39d2-44a3-869d-67700b74e805"
    } else {
        "b27b64b9-39d2-44a3-869d-67700b74e806"
    };
    format!(
        "/access/teamsExtension/tenants/c70d068c-2f32-484d-9455-73070cd5aadd/assignments/{object}?api-version=2026-09-23"
    )
}

/// What a test built before the restart, to compare after it.
struct Built {
    alice_token: String,
    bob_token: String,
    revoked_token: String,
    deleted_token: String,
    thread: String,
    messages: Value,
    receipts: Value,
    participants: Value,
    outbox: Value,
    report: Value,
}

/// Identities (one with revoked tokens, one deleted), a thread with messages (one edited, one
/// deleted), a participant added and one removed, a read receipt, an SMS with a delivery report.
async fn build(app: &Emulator) -> Built {
    let (_alice, alice_token) = app.user().await;
    let (bob, bob_token) = app.user().await;
    let (carol, _) = app.user().await;
    let (revoked, revoked_token) = app.user().await;
    let (deleted, deleted_token) = app.user().await;
    let target = format!(
        "/identities/{}/:revokeAccessTokens?api-version=2023-10-01",
        encode(&revoked)
    );
    assert_eq!(
        app.signed("POST", &target, &Value::Null).await.status(),
        204
    );
    let target = format!("/identities/{}?api-version=2023-10-01", encode(&deleted));
    assert_eq!(
        app.signed("DELETE", &target, &Value::Null).await.status(),
        204
    );

    let res = app
        .chat(
            "POST",
            &alice_token,
            &format!("/chat/threads?api-version={CHAT_V}"),
            Some(&json!({
                "topic": "kept",
                "participants": [{"communicationIdentifier": {"rawId": bob}, "displayName": "Bob"}],
                "metadata": {"k": "v"},
            })),
        )
        .await;
    let thread = app.json(res, 201).await["chatThread"]["id"]
        .as_str()
        .expect("thread id")
        .to_string();
    let base = format!("/chat/threads/{}", encode(&thread));
    let mut ids = Vec::new();
    for (n, token) in [&alice_token, &bob_token, &alice_token]
        .into_iter()
        .enumerate()
    {
        let res = app
            .chat(
                "POST",
                token,
                &format!("{base}/messages?api-version={CHAT_V}"),
                Some(&json!({"content": format!("message {n}"), "senderDisplayName": "S", "metadata": {"n": n.to_string()}})),
            )
            .await;
        ids.push(
            app.json(res, 201).await["id"]
                .as_str()
                .expect("id")
                .to_string(),
        );
    }
    let res = app
        .chat(
            "PATCH",
            &alice_token,
            &format!("{base}/messages/{}?api-version={CHAT_V}", ids[0]),
            Some(&json!({"content": "edited"})),
        )
        .await;
    assert_eq!(res.status(), 204);
    let res = app
        .chat(
            "DELETE",
            &alice_token,
            &format!("{base}/messages/{}?api-version={CHAT_V}", ids[2]),
            None,
        )
        .await;
    assert_eq!(res.status(), 204);
    let res = app
        .chat(
            "POST",
            &alice_token,
            &format!("{base}/participants/:add?api-version={CHAT_V}"),
            Some(&json!({"participants": [{"communicationIdentifier": {"rawId": carol}}]})),
        )
        .await;
    assert_eq!(res.status(), 201);
    let res = app
        .chat(
            "POST",
            &alice_token,
            &format!("{base}/participants/:remove?api-version={CHAT_V}"),
            Some(&json!({"rawId": carol})),
        )
        .await;
    assert_eq!(res.status(), 204);
    let res = app
        .chat(
            "POST",
            &bob_token,
            &format!("{base}/readReceipts?api-version={CHAT_V}"),
            Some(&json!({"chatMessageId": ids[1]})),
        )
        .await;
    assert_eq!(res.status(), 200);
    let res = app
        .chat(
            "PATCH",
            &alice_token,
            &format!("{base}?api-version={CHAT_V}"),
            Some(&json!({"topic": "kept, renamed"})),
        )
        .await;
    assert_eq!(res.status(), 204);

    let res = app
        .signed(
            "POST",
            "/sms?api-version=2021-03-07",
            &json!({
                "from": "+18005550100",
                "smsRecipients": [{"to": "+14255550123", "repeatabilityRequestId": "8a4c2a9f-0b1e-4a52-9d2a-6f0c5b3e1d7a", "repeatabilityFirstSent": "Thu, 01 Jan 2026 00:00:00 GMT"}],
                "message": "kept text",
                "smsSendOptions": {"enableDeliveryReport": true, "tag": "t1"},
            }),
        )
        .await;
    let sent = app.json(res, 202).await;
    let sms_id = sent["value"][0]["messageId"]
        .as_str()
        .expect("sms id")
        .to_string();
    // Two Teams Phone extension assignments, one deleted.
    for (object, method) in [("a", "PUT"), ("b", "PUT"), ("b", "DELETE")] {
        let body = if method == "PUT" {
            json!({"principalType": "user", "clientIds": ["app-1"]})
        } else {
            Value::Null
        };
        let res = app.signed(method, &assignment(object), &body).await;
        assert!(
            res.status().is_success(),
            "{method} {object}: {}",
            res.status()
        );
    }
    // Two opt-outs, one taken back.
    for (action, to) in [
        ("add", vec!["+14255550124", "+14255550125"]),
        ("remove", vec!["+14255550125"]),
    ] {
        let res = app.opt_outs(action, &to).await;
        assert_eq!(res.status(), 200, "{action}");
    }
    // The clock ten minutes ahead (within the signatures' allowed skew).
    let res = app
        .client
        .post(format!("{}/_emulator/clock", app.http))
        .json(&json!({"advance": "10m"}))
        .send()
        .await
        .expect("request sent");
    assert_eq!(res.status(), 200);

    Built {
        messages: app.messages(&alice_token, &thread).await,
        receipts: app
            .json(
                app.chat(
                    "GET",
                    &alice_token,
                    &format!("{base}/readReceipts?api-version={CHAT_V}"),
                    None,
                )
                .await,
                200,
            )
            .await,
        participants: app
            .json(
                app.chat(
                    "GET",
                    &alice_token,
                    &format!("{base}/participants?api-version={CHAT_V}"),
                    None,
                )
                .await,
                200,
            )
            .await,
        outbox: app.outbox().await,
        report: json!(sms_id),
        alice_token,
        bob_token,
        revoked_token,
        deleted_token,
        thread,
    }
}

/// Everything `build` made reads back the same.
async fn check(app: &Emulator, built: &Built) {
    assert_eq!(app.token_status(&built.alice_token).await, 200);
    assert_eq!(app.token_status(&built.revoked_token).await, 401);
    assert_eq!(app.token_status(&built.deleted_token).await, 401);
    let messages = app.messages(&built.bob_token, &built.thread).await;
    assert_eq!(
        messages, built.messages,
        "the same messages in the same order"
    );
    assert!(
        messages.as_array().expect("array").len() >= 8,
        "user and system messages: {messages}"
    );
    let base = format!("/chat/threads/{}", encode(&built.thread));
    let receipts = app
        .json(
            app.chat(
                "GET",
                &built.alice_token,
                &format!("{base}/readReceipts?api-version={CHAT_V}"),
                None,
            )
            .await,
            200,
        )
        .await;
    assert_eq!(receipts, built.receipts);
    assert_eq!(receipts["value"].as_array().expect("array").len(), 1);
    let participants = app
        .json(
            app.chat(
                "GET",
                &built.alice_token,
                &format!("{base}/participants?api-version={CHAT_V}"),
                None,
            )
            .await,
            200,
        )
        .await;
    assert_eq!(participants, built.participants);
    let thread = app
        .json(
            app.chat(
                "GET",
                &built.alice_token,
                &format!("{base}?api-version={CHAT_V}"),
                None,
            )
            .await,
            200,
        )
        .await;
    assert_eq!(thread["topic"], "kept, renamed");
    assert_eq!(thread["metadata"], json!({"k": "v"}));
    assert_eq!(app.outbox().await, built.outbox);
    let res = app
        .opt_outs("check", &["+14255550124", "+14255550125"])
        .await;
    let checked = app.json(res, 200).await;
    let opted: Vec<bool> = checked["value"]
        .as_array()
        .expect("array")
        .iter()
        .map(|i| i["isOptedOut"].as_bool().expect("bool"))
        .collect();
    assert_eq!(opted, [true, false], "{checked}");
    let res = app.signed("GET", &assignment("a"), &Value::Null).await;
    let kept = app.json(res, 200).await;
    assert_eq!(kept["clientIds"], json!(["app-1"]));
    assert_eq!(kept["principalType"], "user");
    let res = app.signed("GET", &assignment("b"), &Value::Null).await;
    assert_eq!(res.status(), 404, "the deleted assignment stays deleted");
    let offset = app.clock_offset_ms().await;
    assert!(
        (595_000..700_000).contains(&offset),
        "the clock is still ten minutes ahead: {offset} ms"
    );
    // The repeatability record came back: the same request is not sent twice.
    let res = app
        .signed(
            "POST",
            "/sms?api-version=2021-03-07",
            &json!({
                "from": "+18005550100",
                "smsRecipients": [{"to": "+14255550123", "repeatabilityRequestId": "8a4c2a9f-0b1e-4a52-9d2a-6f0c5b3e1d7a", "repeatabilityFirstSent": "Thu, 01 Jan 2026 00:00:00 GMT"}],
                "message": "kept text",
                "smsSendOptions": {"enableDeliveryReport": true, "tag": "t1"},
            }),
        )
        .await;
    let again = app.json(res, 202).await;
    assert_eq!(again["value"][0]["messageId"], built.report);
    assert_eq!(app.outbox().await, built.outbox);
    // New writes go on where the old ones stopped.
    let res = app
        .chat(
            "POST",
            &built.alice_token,
            &format!("{base}/messages?api-version={CHAT_V}"),
            Some(&json!({"content": "after the restart"})),
        )
        .await;
    let id: u64 = app.json(res, 201).await["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("numeric id");
    let newest: u64 = built.messages[0]["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("numeric");
    assert!(id > newest, "message ids keep growing: {id} after {newest}");
}

#[tokio::test]
async fn a_graceful_restart_keeps_identities_tokens_chat_and_the_outbox() {
    // Arrange
    let dir = TempDir::new();
    let first = start(&dir.0);
    let built = build(&first).await;
    let cert = first.cert.clone();

    // Act
    first.stop();
    let second = start(&dir.0);

    // Assert
    check(&second, &built).await;
    assert_eq!(second.cert, cert, "the TLS certificate is kept");
    second.stop();
    // And again, with the writes made after the first restart.
    let third = start(&dir.0);
    let messages = third.messages(&built.alice_token, &built.thread).await;
    assert_eq!(messages[0]["content"]["message"], "after the restart");
}

#[tokio::test]
async fn kill_9_loses_nothing_acknowledged_more_than_the_group_commit_window_earlier() {
    // Arrange
    let dir = TempDir::new();
    let first = start(&dir.0);
    let built = build(&first).await;
    tokio::time::sleep(acs_emulator::persist::GROUP_COMMIT_WINDOW * 5).await;

    // Act
    first.kill_9();
    let second = start(&dir.0);

    // Assert
    check(&second, &built).await;
}

#[tokio::test]
async fn a_second_emulator_on_the_same_directory_is_refused() {
    let dir = TempDir::new();
    let first = start(&dir.0);

    let (code, stderr) = refused(&dir.0);

    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("is in use by another acs-emulator"),
        "{stderr}"
    );
    assert!(stderr.contains(&dir.0.display().to_string()), "{stderr}");
    // The first one is untouched.
    let (_, token) = first.user().await;
    assert_eq!(first.token_status(&token).await, 200);
}

#[tokio::test]
async fn a_damaged_database_is_refused_with_its_name_never_a_panic() {
    let dir = TempDir::new();
    let first = start(&dir.0);
    let (_, _) = first.user().await;
    first.stop();
    let db = dir.0.join("state.db");
    let original = std::fs::read(&db).expect("database");
    assert!(original.len() > 4096, "a few pages: {}", original.len());

    // Garbled header.
    let mut garbled = original.clone();
    garbled[..100].fill(0x5a);
    std::fs::write(&db, &garbled).expect("write");
    let (code, stderr) = refused(&dir.0);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("state.db is damaged"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    // Truncated mid-page.
    std::fs::write(&db, &original[..original.len() - 1500]).expect("write");
    let (code, stderr) = refused(&dir.0);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("state.db is damaged"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    // Garbled pages past the header.
    let mut garbled = original.clone();
    let len = garbled.len();
    garbled[4096..len].iter_mut().for_each(|b| *b ^= 0xa5);
    std::fs::write(&db, &garbled).expect("write");
    let (code, stderr) = refused(&dir.0);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("state.db is damaged"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[tokio::test]
async fn a_newer_schema_is_refused_and_the_versions_are_recorded() {
    let dir = TempDir::new();
    start(&dir.0).stop();
    let db = dir.0.join("state.db");
    {
        let conn = rusqlite::Connection::open(&db).expect("open");
        let version: String = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .expect("schema version");
        assert_eq!(version, acs_emulator::persist::SCHEMA_VERSION.to_string());
        let by: String = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'emulator_version'",
                [],
                |r| r.get(0),
            )
            .expect("emulator version");
        assert_eq!(by, env!("CARGO_PKG_VERSION"));
        conn.execute(
            "UPDATE meta SET value = '99' WHERE key = 'schema_version'",
            [],
        )
        .expect("update");
        conn.execute(
            "UPDATE meta SET value = '9.9.9' WHERE key = 'emulator_version'",
            [],
        )
        .expect("update");
    }

    let (code, stderr) = refused(&dir.0);

    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("holds state schema version 99, written by acs-emulator 9.9.9"),
        "{stderr}"
    );
    assert!(stderr.contains("state.db"), "{stderr}");
}

#[tokio::test]
async fn the_kept_outbox_keeps_the_newest_max_sms_outbox_messages() {
    let dir = TempDir::new();
    let first = start_with(&dir.0, &["--max-sms-outbox", "2"]);
    for n in 0..5 {
        let res = first
            .signed(
                "POST",
                "/sms?api-version=2021-03-07",
                &json!({"from": "+18005550100", "smsRecipients": [{"to": "+14255550123"}], "message": format!("sms {n}")}),
            )
            .await;
        assert_eq!(res.status(), 202);
    }
    let outbox = first.outbox().await;
    first.stop();

    let second = start_with(&dir.0, &["--max-sms-outbox", "2"]);

    let kept = second.outbox().await;
    assert_eq!(kept, outbox);
    let texts: Vec<&str> = kept
        .as_array()
        .expect("array")
        .iter()
        .map(|m| m["message"].as_str().expect("message"))
        .collect();
    assert_eq!(texts, ["sms 3", "sms 4"]);
}

const ROOMS: &str = "api-version=2025-03-13";

/// A fixture with two rooms (one deleted and one updated at run time by [`build_rooms`]).
fn rooms_fixture(dir: &Path) -> PathBuf {
    let path = dir.with_extension("rooms.json");
    std::fs::write(
        &path,
        json!({"rooms": [
            {"id": "1111111111111111"},
            {"id": "2222222222222222", "pstnDialOutEnabled": false},
        ]})
        .to_string(),
    )
    .expect("fixture");
    path
}

impl Emulator {
    async fn rooms(&self) -> Value {
        let res = self
            .signed("GET", &format!("/rooms?{ROOMS}"), &Value::Null)
            .await;
        self.json(res, 200).await["value"].clone()
    }

    async fn room_participants(&self, id: &str) -> Value {
        let res = self
            .signed(
                "GET",
                &format!("/rooms/{id}/participants?{ROOMS}"),
                &Value::Null,
            )
            .await;
        let mut value = self.json(res, 200).await["value"].clone();
        value
            .as_array_mut()
            .expect("array")
            .sort_by_key(|p| p["rawId"].as_str().unwrap_or("").to_string());
        value
    }

    async fn create_room(&self, body: &Value, repeat: &str, first_sent: &str) -> Value {
        let res = self
            .signed_with(
                "POST",
                &format!("/rooms?{ROOMS}"),
                body,
                &[
                    ("repeatability-request-id", repeat),
                    ("repeatability-first-sent", first_sent),
                ],
            )
            .await;
        self.json(res, 201).await
    }
}

/// Rooms made, updated and deleted at run time, a fixture's room deleted and another updated;
/// returns (the rooms listed, each room's participants, the repeated create's room id).
async fn build_rooms(app: &Emulator) -> (Value, Vec<Value>, String) {
    let (a, _) = app.user().await;
    let (b, _) = app.user().await;
    let (c, _) = app.user().await;
    let first_sent = hmac::http_date(Utc::now());
    let from = (Utc::now() + chrono::TimeDelta::days(1))
        .format("%Y-%m-%dT10:00:00Z")
        .to_string();
    let kept = app
        .create_room(
            &json!({"validFrom": from, "pstnDialOutEnabled": true,
                "participants": {&a: {"role": "Presenter"}, &b: {}}}),
            "5d7f3b0e-1c2a-4b3d-8e9f-0a1b2c3d4e5f",
            &first_sent,
        )
        .await;
    let kept_id = kept["id"].as_str().expect("id").to_string();
    let gone = app
        .create_room(
            &json!({}),
            "5d7f3b0e-1c2a-4b3d-8e9f-0a1b2c3d4e60",
            &first_sent,
        )
        .await;
    let gone_id = gone["id"].as_str().expect("id");
    let res = app
        .signed(
            "PATCH",
            &format!("/rooms/{kept_id}?{ROOMS}"),
            &json!({"validUntil": (Utc::now() + chrono::TimeDelta::days(30)).format("%Y-%m-%dT12:00:00Z").to_string()}),
        )
        .await;
    app.json(res, 200).await;
    let res = app
        .signed(
            "PATCH",
            &format!("/rooms/{kept_id}/participants?{ROOMS}"),
            &json!({"participants": {&b: null, &c: {"role": "Consumer"}}}),
        )
        .await;
    app.json(res, 200).await;
    for id in [gone_id, "1111111111111111"] {
        let res = app
            .signed("DELETE", &format!("/rooms/{id}?{ROOMS}"), &Value::Null)
            .await;
        assert_eq!(res.status(), 204);
    }
    let res = app
        .signed(
            "PATCH",
            &format!("/rooms/2222222222222222?{ROOMS}"),
            &json!({"pstnDialOutEnabled": true}),
        )
        .await;
    app.json(res, 200).await;
    let rooms = app.rooms().await;
    let mut participants = Vec::new();
    for room in rooms.as_array().expect("array") {
        participants.push(
            app.room_participants(room["id"].as_str().expect("id"))
                .await,
        );
    }
    (rooms, participants, kept_id)
}

/// What [`build_rooms`] made reads back the same, and the repeated create finds its room.
async fn check_rooms(app: &Emulator, built: &(Value, Vec<Value>, String)) {
    let (rooms, participants, kept_id) = built;
    let now = app.rooms().await;
    assert_eq!(&now, rooms, "the same rooms in the same order");
    let ids: Vec<&str> = now
        .as_array()
        .expect("array")
        .iter()
        .map(|r| r["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids.len(), 2, "{now}");
    assert_eq!(
        ids[0], "2222222222222222",
        "the fixture's room, updated: {now}"
    );
    assert_eq!(now[0]["pstnDialOutEnabled"], true);
    assert_eq!(ids[1], kept_id.as_str());
    for (room, expected) in now.as_array().expect("array").iter().zip(participants) {
        assert_eq!(
            &app.room_participants(room["id"].as_str().expect("id"))
                .await,
            expected
        );
    }
    assert_eq!(participants[1].as_array().expect("array").len(), 2);
    let res = app
        .signed(
            "GET",
            &format!("/rooms/1111111111111111?{ROOMS}"),
            &Value::Null,
        )
        .await;
    assert_eq!(
        res.status(),
        404,
        "the fixture's room deleted stays deleted"
    );
    // The repeatability record came back: the same create finds the same room.
    let again = app
        .create_room(
            &json!({}),
            "5d7f3b0e-1c2a-4b3d-8e9f-0a1b2c3d4e5f",
            &hmac::http_date(Utc::now()),
        )
        .await;
    assert_eq!(again["id"], json!(kept_id));
    assert_eq!(app.rooms().await.as_array().expect("array").len(), 2);
}

#[tokio::test]
async fn rooms_survive_a_graceful_restart_and_kill_9() {
    // Arrange
    let dir = TempDir::new();
    let fixture = rooms_fixture(&dir.0);
    let fixture = fixture.to_str().expect("utf-8");
    let first = start_with(&dir.0, &["--fixtures", fixture]);
    let built = build_rooms(&first).await;

    // Act
    first.stop();
    let second = start_with(&dir.0, &["--fixtures", fixture]);

    // Assert
    check_rooms(&second, &built).await;
    // A room created after the restart survives kill -9.
    let late = second
        .create_room(
            &json!({}),
            "5d7f3b0e-1c2a-4b3d-8e9f-0a1b2c3d4e61",
            &hmac::http_date(Utc::now()),
        )
        .await;
    tokio::time::sleep(acs_emulator::persist::GROUP_COMMIT_WINDOW * 5).await;
    second.kill_9();
    let third = start_with(&dir.0, &["--fixtures", fixture]);
    let rooms = third.rooms().await;
    assert_eq!(rooms.as_array().expect("array").len(), 3, "{rooms}");
    assert_eq!(rooms[2], late);
    let _ = std::fs::remove_file(fixture);
}

#[tokio::test]
async fn a_schema_version_1_database_is_migrated_and_keeps_its_state() {
    // Arrange: a version 1 database (the tables version 2 added dropped, the outbox's SMS as
    // version 1 wrote it: a JSON document) holding an identity and an SMS.
    let dir = TempDir::new();
    let first = start(&dir.0);
    let (_, token) = first.user().await;
    let res = first
        .signed(
            "POST",
            "/sms?api-version=2021-03-07",
            &json!({"from": "+18005550100", "smsRecipients": [{"to": "+14255550123"}], "message": "now"}),
        )
        .await;
    let sms_id = first.json(res, 202).await["value"][0]["messageId"].clone();
    first.stop();
    let db = dir.0.join("state.db");
    {
        let conn = rusqlite::Connection::open(&db).expect("open");
        conn.execute_batch(
            "DROP TABLE rooms; DROP TABLE phone_numbers; DROP TABLE number_reservations;
             DROP TABLE sip_config; DROP TABLE emails; DROP TABLE runtime_fixtures;
             DROP TABLE event_subscriptions; DROP TABLE sms_outbox;
             CREATE TABLE sms_outbox (
                 n INTEGER PRIMARY KEY, resource TEXT NOT NULL, message TEXT NOT NULL);
             CREATE INDEX sms_outbox_resource ON sms_outbox (resource, n);
             UPDATE meta SET value = '1' WHERE key = 'schema_version';",
        )
        .expect("make it version 1");
        let v1 = json!({
            "message_id": sms_id, "from": "+18005550100", "to": "+14255550123",
            "message": "from version 1", "tag": "v1", "enable_delivery_report": true,
            "delivery_report_timeout_in_seconds": null, "repeatability_request_id": null,
            "api_version": "2021-03-07", "sent_at": "2026-01-01T00:00:00.123456789Z",
            "encoding": "GSM-7", "segments": 1,
            "delivery_report_at": "2026-01-01T00:00:01.123456789Z", "delivery_failure": null,
        });
        conn.execute(
            "INSERT INTO sms_outbox (resource, message) VALUES ('default', ?1)",
            [v1.to_string()],
        )
        .expect("a version 1 SMS");
    }

    // Act
    let second = start(&dir.0);

    // Assert
    assert_eq!(
        second.token_status(&token).await,
        200,
        "the identity is kept"
    );
    let outbox = second.outbox().await;
    assert_eq!(outbox.as_array().expect("array").len(), 1, "{outbox}");
    assert_eq!(outbox[0]["messageId"], sms_id, "{outbox}");
    assert_eq!(outbox[0]["message"], "from version 1", "{outbox}");
    let outbox_before = outbox;
    let room = second
        .create_room(
            &json!({}),
            "5d7f3b0e-1c2a-4b3d-8e9f-0a1b2c3d4e62",
            &hmac::http_date(Utc::now()),
        )
        .await;
    second.stop();
    let conn = rusqlite::Connection::open(&db).expect("open");
    let version: String = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .expect("schema version");
    assert_eq!(version, acs_emulator::persist::SCHEMA_VERSION.to_string());
    drop(conn);
    let third = start(&dir.0);
    assert_eq!(third.rooms().await, json!([room]));
    assert_eq!(
        third.outbox().await,
        outbox_before,
        "the migrated SMS, kept again"
    );
}

const NUMBERS: &str = "api-version=2025-06-01";

impl Emulator {
    /// A signed phone-numbers request (`path` without a query); answers the status and body.
    async fn pn(
        &self,
        method: &str,
        path: &str,
        body: &Value,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let res = self
            .signed(method, &format!("{path}?{NUMBERS}"), body)
            .await;
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let body = res.json().await.unwrap_or(Value::Null);
        (status, body, headers)
    }

    /// What the numbers API shows: owned numbers, the reservation, the SIP configuration.
    async fn numbers_state(&self, reservation: &str) -> (Value, Value, Value) {
        let res = self
            .signed(
                "GET",
                &format!("/phoneNumbers?skip=0&top=100&{NUMBERS}"),
                &Value::Null,
            )
            .await;
        let owned = self.json(res, 200).await;
        let (status, reservation, _) = self
            .pn(
                "GET",
                &format!("/availablePhoneNumbers/reservations/{reservation}"),
                &Value::Null,
            )
            .await;
        assert_eq!(status, 200, "{reservation}");
        let res = self
            .signed("GET", "/sip?api-version=2023-03-01", &Value::Null)
            .await;
        let sip = self.json(res, 200).await;
        (owned, reservation, sip)
    }

    async fn sms_from(&self, from: &str) -> u16 {
        self.signed(
            "POST",
            "/sms?api-version=2021-03-07",
            &json!({"from": from, "smsRecipients": [{"to": "+14255550123"}], "message": "hi"}),
        )
        .await
        .status()
        .as_u16()
    }
}

const RESERVATION: &str = "3fa85f64-5717-4562-b3fc-2c963f66afa6";

/// Two numbers bought (one's SMS made inbound only, the other released), the configured number
/// released, a reservation holding a number, SIP trunks and ordered routes; returns the
/// numbers bought.
async fn build_numbers(app: &Emulator) -> Vec<String> {
    let (status, _, headers) = app
        .pn(
            "POST",
            "/availablePhoneNumbers/countries/US/:search",
            &json!({"phoneNumberType": "tollFree", "assignmentType": "application",
                "capabilities": {"calling": "outbound", "sms": "inbound+outbound"},
                "areaCode": "833", "quantity": 3}),
        )
        .await;
    assert_eq!(status, 202);
    let search = headers["search-id"].to_str().expect("ascii").to_string();
    let (status, result, _) = app
        .pn(
            "GET",
            &format!("/availablePhoneNumbers/searchResults/{search}"),
            &Value::Null,
        )
        .await;
    assert_eq!(status, 200, "{result}");
    let (status, _, _) = app
        .pn(
            "POST",
            "/availablePhoneNumbers/:purchase",
            &json!({"searchId": search}),
        )
        .await;
    assert_eq!(status, 202);
    let bought: Vec<String> = result["phoneNumbers"]
        .as_array()
        .expect("numbers")
        .iter()
        .map(|n| n.as_str().expect("number").to_string())
        .collect();
    assert_eq!(bought.len(), 3);
    let (status, _, _) = app
        .pn(
            "PATCH",
            &format!("/phoneNumbers/{}/capabilities", encode(&bought[0])),
            &json!({"sms": "inbound"}),
        )
        .await;
    assert_eq!(status, 202);
    for number in [bought[1].as_str(), "+18005550100"] {
        let (status, _, _) = app
            .pn(
                "DELETE",
                &format!("/phoneNumbers/{}", encode(number)),
                &Value::Null,
            )
            .await;
        assert_eq!(status, 202, "release {number}");
    }
    let (status, browsed, _) = app
        .pn(
            "POST",
            "/availablePhoneNumbers/countries/US/:browse",
            &json!({"phoneNumberType": "tollFree", "capabilities": {"sms": "outbound"}, "phoneNumberPrefixes": ["1844"]}),
        )
        .await;
    assert_eq!(status, 200, "{browsed}");
    let first = browsed["phoneNumbers"][0].clone();
    let id = first["id"].as_str().expect("id").to_string();
    let (status, reserved, _) = app
        .pn(
            "PATCH",
            &format!("/availablePhoneNumbers/reservations/{RESERVATION}"),
            &json!({"phoneNumbers": {id: first}}),
        )
        .await;
    assert_eq!(status, 201, "{reserved}");
    let res = app
        .signed(
            "PATCH",
            "/sip?api-version=2023-03-01",
            &json!({
                "trunks": {
                    "sbc1.contoso.com": {"sipSignalingPort": 5061},
                    "sbc2.contoso.com": {"sipSignalingPort": 5062},
                },
                "routes": [
                    {"name": "second", "numberPattern": "^\\+1425[0-9]{7}$", "trunks": ["sbc2.contoso.com", "sbc1.contoso.com"]},
                    {"name": "first", "description": "everything else", "numberPattern": "^\\+[1-9][0-9]{3,23}$", "trunks": ["sbc1.contoso.com"]},
                ],
            }),
        )
        .await;
    app.json(res, 200).await;
    bought
}

#[tokio::test]
async fn phone_numbers_reservations_and_sip_routing_survive_a_graceful_restart_and_kill_9() {
    // Arrange
    let dir = TempDir::new();
    let first = start(&dir.0);
    let bought = build_numbers(&first).await;
    let before = first.numbers_state(RESERVATION).await;

    // Act
    first.stop();
    let second = start(&dir.0);

    // Assert
    let after = second.numbers_state(RESERVATION).await;
    assert_eq!(after, before);
    let owned: Vec<&str> = after.0["phoneNumbers"]
        .as_array()
        .expect("list")
        .iter()
        .map(|n| n["phoneNumber"].as_str().expect("number"))
        .collect();
    assert_eq!(
        owned,
        [bought[0].as_str(), bought[2].as_str()],
        "{}",
        after.0
    );
    assert_eq!(after.1["status"], "active");
    assert_eq!(after.2["routes"][0]["name"], "second", "routes in order");
    // What the numbers can do is kept: a released number (configured or bought) stays released.
    assert_eq!(second.sms_from("+18005550100").await, 401);
    assert_eq!(second.sms_from(&bought[1]).await, 401);
    assert_eq!(second.sms_from(&bought[0]).await, 401, "SMS inbound only");
    assert_eq!(second.sms_from(&bought[2]).await, 202);
    // A write after the restart survives kill -9.
    let (status, _, _) = second
        .pn(
            "DELETE",
            &format!("/phoneNumbers/{}", encode(&bought[2])),
            &Value::Null,
        )
        .await;
    assert_eq!(status, 202);
    tokio::time::sleep(acs_emulator::persist::GROUP_COMMIT_WINDOW * 5).await;
    second.kill_9();
    let third = start(&dir.0);
    let (owned, reservation, sip) = third.numbers_state(RESERVATION).await;
    assert_eq!(
        owned["phoneNumbers"].as_array().expect("list").len(),
        1,
        "{owned}"
    );
    assert_eq!((reservation, sip), (before.1, before.2));
    assert_eq!(third.sms_from(&bought[2]).await, 401);
}

const EMAIL_SENDER: &str = "DoNotReply@acacacac-0000-4000-8000-000000000001.azurecomm.net";

impl Emulator {
    /// Sends an email with `subject` (and two attachments); returns its operation id.
    async fn send_email(&self, subject: &str) -> String {
        let res = self
            .signed(
                "POST",
                "/emails:send?api-version=2025-09-01",
                &json!({
                    "senderAddress": EMAIL_SENDER,
                    "content": {"subject": subject, "plainText": "Thanks.", "html": "<p>Thanks! <img src=\"cid:logo\"></p>"},
                    "recipients": {
                        "to": [{"address": "alice@example.com", "displayName": "Alice"}],
                        "bcc": [{"address": "audit@example.com"}],
                    },
                    "attachments": [
                        {"name": "invoice.pdf", "contentType": "application/pdf", "contentInBase64": STANDARD.encode(b"%PDF-1.4 invoice")},
                        {"name": "logo.png", "contentType": "image/png", "contentInBase64": STANDARD.encode(b"\x89PNG logo"), "contentId": "logo"},
                    ],
                    "headers": {"X-Campaign": "spring"},
                }),
            )
            .await;
        self.json(res, 202).await["id"]
            .as_str()
            .expect("operation id")
            .to_string()
    }

    async fn control(&self, path: &str) -> Value {
        let res = self
            .client
            .get(format!("{}/_emulator/{path}", self.http))
            .send()
            .await
            .expect("request sent");
        self.json(res, 200).await
    }

    async fn email_operation(&self, id: &str) -> Value {
        let res = self
            .signed(
                "GET",
                &format!("/emails/operations/{id}?api-version=2025-09-01"),
                &Value::Null,
            )
            .await;
        self.json(res, 200).await
    }
}

#[tokio::test]
async fn emails_and_their_operations_survive_a_graceful_restart_and_kill_9() {
    // Arrange: two emails sent, the inbox emptied, a third sent; all delivered.
    let dir = TempDir::new();
    let first = start(&dir.0);
    let cleared = [
        first.send_email("first").await,
        first.send_email("second").await,
    ];
    let res = first
        .client
        .delete(format!("{}/_emulator/emails", first.http))
        .send()
        .await
        .expect("request sent");
    assert_eq!(res.status(), 200);
    let kept = first.send_email("third ✓").await;
    // A poller that started before the restart.
    let running = first.email_operation(&kept).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let inbox = first.control("emails").await;
    let one = first.control(&format!("emails/{kept}")).await;
    let mut operations = Vec::new();
    for id in cleared.iter().chain([&kept]) {
        operations.push(first.email_operation(id).await);
    }

    // Act
    first.stop();
    let second = start(&dir.0);

    // Assert
    assert_eq!(second.control("emails").await, inbox, "the same inbox");
    assert_eq!(
        inbox["value"].as_array().expect("value").len(),
        1,
        "emptied, then one sent: {inbox}"
    );
    assert_eq!(second.control(&format!("emails/{kept}")).await, one);
    assert_eq!(
        one["attachments"][1]["contentInBase64"],
        STANDARD.encode(b"\x89PNG logo")
    );
    for (id, before) in cleared.iter().chain([&kept]).zip(&operations) {
        assert_eq!(&second.email_operation(id).await, before, "operation {id}");
    }
    assert_eq!(running["id"], json!(kept));
    assert_eq!(operations[2]["status"], "Succeeded", "{}", operations[2]);
    // An email sent after the restart survives kill -9.
    let late = second.send_email("fourth").await;
    tokio::time::sleep(acs_emulator::persist::GROUP_COMMIT_WINDOW * 5).await;
    second.kill_9();
    let third = start(&dir.0);
    let inbox = third.control("emails").await;
    let subjects: Vec<&str> = inbox["value"]
        .as_array()
        .expect("value")
        .iter()
        .map(|e| e["subject"].as_str().expect("subject"))
        .collect();
    assert_eq!(subjects, ["third ✓", "fourth"], "{inbox}");
    assert_eq!(third.email_operation(&late).await["id"], json!(late));
}

impl Emulator {
    async fn control_send(&self, method: &str, path: &str, body: &Value) -> Response {
        let mut request = self.client.request(
            Method::from_bytes(method.as_bytes()).expect("method"),
            format!("{}/_emulator/{path}", self.http),
        );
        if !body.is_null() {
            request = request.json(body);
        }
        request.send().await.expect("request sent")
    }

    /// The resources (without their connection strings, which name the port), the event
    /// subscriptions and the identities of the resource `extra`.
    async fn control_state(&self) -> (Value, Value, Value) {
        let mut resources = self.control("resources").await;
        for r in resources["value"].as_array_mut().expect("value") {
            r.as_object_mut()
                .expect("object")
                .remove("connectionString");
        }
        (
            resources,
            self.control("events/subscriptions").await,
            self.control("identities?resource=extra").await,
        )
    }
}

#[tokio::test]
async fn resources_and_event_subscriptions_added_at_run_time_survive_a_restart() {
    // Arrange: a resource added by a fixture loaded at run time, an identity in it, two event
    // subscriptions added (one only for that resource) and one removed.
    let dir = TempDir::new();
    let first = start(&dir.0);
    let fixture = json!({"resources": [{"name": "extra", "accessKey": STANDARD.encode(b"the extra resource's key")}]});
    let res = first.control_send("POST", "fixtures", &fixture).await;
    assert_eq!(res.status(), 201, "{:?}", res.text().await);
    let res = first
        .control_send("POST", "identities?resource=extra", &Value::Null)
        .await;
    let user = first.json(res, 201).await["id"].clone();
    for (name, resource) in [("kept-hook", json!("extra")), ("gone-hook", Value::Null)] {
        let res = first
            .control_send(
                "POST",
                "events/subscriptions",
                &json!({"name": name, "endpoint": "http://127.0.0.1:9/hook", "skipValidation": true,
                    "eventTypes": ["SMSReceived"], "resource": resource}),
            )
            .await;
        assert_eq!(res.status(), 201, "{name}");
    }
    let res = first
        .control_send("DELETE", "events/subscriptions/gone-hook", &Value::Null)
        .await;
    assert_eq!(res.status(), 204);
    let before = first.control_state().await;

    // Act
    first.stop();
    let second = start(&dir.0);

    // Assert
    let after = second.control_state().await;
    assert_eq!(after, before);
    assert!(after.0.to_string().contains("\"extra\""), "{}", after.0);
    assert!(
        after.2.to_string().contains(user.as_str().expect("id")),
        "{}",
        after.2
    );
    let names: Vec<&str> = after.1["value"]
        .as_array()
        .expect("value")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(names, ["kept-hook"], "{}", after.1);
    // A full reset removes the control API's subscriptions, for good.
    let res = second.control_send("POST", "reset", &Value::Null).await;
    assert_eq!(res.status(), 200);
    tokio::time::sleep(acs_emulator::persist::GROUP_COMMIT_WINDOW * 5).await;
    second.kill_9();
    let third = start(&dir.0);
    let (resources, subscriptions, _) = third.control_state().await;
    let names: Vec<&str> = resources["value"]
        .as_array()
        .expect("value")
        .iter()
        .map(|r| r["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        names,
        ["default", "extra"],
        "the resource stays (its fixture is loaded); its identity went with the reset"
    );
    assert_eq!(resources["value"][1]["identities"], 0);
    assert_eq!(subscriptions["value"], json!([]), "{subscriptions}");
}

#[tokio::test]
async fn a_fixture_loaded_at_run_time_that_no_longer_applies_is_skipped_not_fatal() {
    // Arrange: a resource added at run time, then a `--fixtures` file declaring one with the
    // same name (the kept fixture now clashes with it).
    let dir = TempDir::new();
    let first = start(&dir.0);
    let fixture = json!({"resources": [{"name": "extra", "accessKey": STANDARD.encode(b"the run-time key")}]});
    let res = first.control_send("POST", "fixtures", &fixture).await;
    assert_eq!(res.status(), 201);
    first.stop();
    let file = dir.0.with_extension("clash.json");
    std::fs::write(
        &file,
        json!({"resources": [{"name": "extra", "accessKey": STANDARD.encode(b"the file's key")}]})
            .to_string(),
    )
    .expect("fixture");

    // Act
    let second = start_with(&dir.0, &["--fixtures", file.to_str().expect("utf-8")]);

    // Assert: it starts, with the file's resource.
    let resources = second.control("resources").await;
    let extra: Vec<&Value> = resources["value"]
        .as_array()
        .expect("value")
        .iter()
        .filter(|r| r["name"] == "extra")
        .collect();
    assert_eq!(extra.len(), 1, "{resources}");
    assert!(
        extra[0]["connectionString"]
            .as_str()
            .expect("connection string")
            .ends_with(&STANDARD.encode(b"the file's key")),
        "{resources}"
    );
    let _ = std::fs::remove_file(file);
}

impl Emulator {
    /// Adds an event subscription through the control API (it is kept).
    async fn subscribe(&self, name: &str, endpoint: &str, types: &[&str]) {
        let res = self
            .control_send(
                "POST",
                "events/subscriptions",
                &json!({"name": name, "endpoint": endpoint, "skipValidation": true,
                    "eventTypes": types}),
            )
            .await;
        assert_eq!(res.status(), 201, "{:?}", res.text().await);
    }

    /// `GET /_emulator/events?<query>`, waiting up to 10 s for `count` records.
    async fn wait_events(&self, query: &str, count: usize) -> Vec<Value> {
        let records = self
            .control(&format!("events?{query}&wait=10s&count={count}"))
            .await["value"]
            .as_array()
            .expect("value")
            .clone();
        assert!(
            records.len() >= count,
            "waited for {count} records matching '{query}', got {records:#?}"
        );
        records
    }

    /// An SMS from a phone to the resource's number (`SMSReceived`).
    async fn inbound(&self, message: &str) {
        let res = self
            .control_send(
                "POST",
                "sms/inbound",
                &json!({"from": "+14255550123", "to": "+18005550100", "message": message}),
            )
            .await;
        assert!(res.status().is_success(), "{:?}", res.text().await);
    }

    /// Sends an SMS asking for delivery reports; returns the message ids.
    async fn send_reported_sms(&self, to: &[&str]) -> Vec<String> {
        let recipients: Vec<Value> = to.iter().map(|t| json!({"to": t})).collect();
        let res = self
            .signed(
                "POST",
                "/sms?api-version=2021-03-07",
                &json!({"from": "+18005550100", "smsRecipients": recipients, "message": "report me",
                    "smsSendOptions": {"enableDeliveryReport": true}}),
            )
            .await;
        let sent = self.json(res, 202).await;
        sent["value"]
            .as_array()
            .expect("value")
            .iter()
            .map(|r| r["messageId"].as_str().expect("messageId").to_string())
            .collect()
    }
}

/// Waits (up to 10 s) until `webhook` has accepted `count` events; returns them.
async fn accepted(webhook: &crate::webhook::Webhook, count: usize) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let events = webhook.events();
        if events.len() >= count || started.elapsed() > Duration::from_secs(10) {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The requests `webhook` has received once it has received `count` (or after 10 s): an event
/// counts as pending from its publication, before its first delivery attempt reaches the hook.
async fn attempted(webhook: &crate::webhook::Webhook, count: usize) -> usize {
    let started = Instant::now();
    loop {
        let seen = webhook.notifications().len();
        if seen >= count || started.elapsed() > Duration::from_secs(10) {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn ids(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["id"].as_str().expect("id").to_string())
        .collect()
}

#[tokio::test]
async fn events_waiting_for_a_webhook_survive_a_graceful_restart_and_kill_9_with_their_ids() {
    use crate::webhook::{Behaviour, Webhook};
    // Arrange: a webhook that fails its first delivery, and a minute before the retry: the
    // events wait (one in retry, two behind it) when the emulator stops.
    let failing_once = || Behaviour {
        fail_first: 1,
        fail_status: 503,
        ..Behaviour::default()
    };
    let hook = Webhook::with(failing_once()).await;
    let dir = TempDir::new();
    let flags = ["--event-retry-initial", "1m"];
    let first = start_with(&dir.0, &flags);
    first.subscribe("hook", &hook.url, &["SMSReceived"]).await;
    for n in 1..=3 {
        first.inbound(&format!("message {n}")).await;
    }
    let pending = first
        .wait_events("state=pending&subscription=hook", 3)
        .await;
    assert_eq!(attempted(&hook, 1).await, 1, "the first delivery failed");
    let waiting: Vec<Value> = pending.iter().map(|r| r["event"].clone()).collect();
    assert_eq!(waiting.len(), 3);

    // Act
    first.stop();
    let second = start_with(&dir.0, &flags);

    // Assert: delivered after the restart, in order, with their ids and bodies, once each.
    let events = accepted(&hook, 3).await;
    assert_eq!(events, waiting, "the same events, in publication order");
    second
        .wait_events("state=delivered&subscription=hook", 3)
        .await;
    assert!(
        second.control("events?state=pending").await["value"]
            .as_array()
            .expect("value")
            .is_empty()
    );

    // Arrange: a second webhook, failing once too; events for both subscriptions, then kill -9
    // once the writes had time to commit.
    let other = Webhook::with(failing_once()).await;
    second
        .subscribe("other", &other.url, &["SMSReceived"])
        .await;
    second.inbound("message 4").await;
    second.inbound("message 5").await;
    let late = second
        .wait_events("state=pending&subscription=other", 2)
        .await;
    let late: Vec<Value> = late.iter().map(|r| r["event"].clone()).collect();
    assert_eq!(attempted(&other, 1).await, 1, "the first delivery failed");
    accepted(&hook, 5).await;
    second
        .wait_events("state=delivered&subscription=hook", 5)
        .await;
    tokio::time::sleep(acs_emulator::persist::GROUP_COMMIT_WINDOW * 5).await;

    // Act
    second.kill_9();
    let third = start_with(&dir.0, &flags);

    // Assert: the waiting ones arrive; the delivered ones do not arrive again.
    assert_eq!(accepted(&other, 2).await, late);
    third
        .wait_events("state=delivered&subscription=other", 2)
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let all = ids(&hook.events());
    assert_eq!(all.len(), 5, "each event once: {all:?}");
    assert_eq!(ids(&other.events()), ids(&late));
    third.stop();
}

#[tokio::test]
async fn delivery_reports_due_after_a_restart_are_published_when_due_and_never_twice() {
    use crate::webhook::Webhook;
    // Arrange: reports an hour away on the emulator clock (SMS to two numbers, an email to two
    // recipients), then kill -9.
    let hook = Webhook::start().await;
    let dir = TempDir::new();
    let flags = [
        "--sms-delivery-report-delay",
        "1h",
        "--email-delivery-report-delay",
        "1h",
        "--email-completion-delay",
        "0s",
    ];
    let first = start_with(&dir.0, &flags);
    first
        .subscribe(
            "reports",
            &hook.url,
            &["SMSDeliveryReportReceived", "EmailDeliveryReportReceived"],
        )
        .await;
    let sms = first
        .send_reported_sms(&["+14255550123", "+14255550124"])
        .await;
    let email = first.send_email("reported").await;
    tokio::time::sleep(acs_emulator::persist::GROUP_COMMIT_WINDOW * 5).await;
    first.kill_9();

    // Act
    let second = start_with(&dir.0, &flags);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let early = hook.events();
    let res = second
        .control_send("POST", "clock", &json!({"advance": "2h"}))
        .await;
    assert_eq!(res.status(), 200);

    // Assert: nothing before they fell due; then each report once.
    assert_eq!(early, Vec::<Value>::new(), "not due yet");
    let events = accepted(&hook, 4).await;
    let mut sms_ids: Vec<&str> = events
        .iter()
        .filter(|e| e["eventType"] == "Microsoft.Communication.SMSDeliveryReportReceived")
        .map(|e| e["data"]["MessageId"].as_str().expect("MessageId"))
        .collect();
    sms_ids.sort_unstable();
    let mut expected: Vec<&str> = sms.iter().map(String::as_str).collect();
    expected.sort_unstable();
    assert_eq!(sms_ids, expected, "{events:#?}");
    let mut recipients: Vec<&str> = events
        .iter()
        .filter(|e| e["eventType"] == "Microsoft.Communication.EmailDeliveryReportReceived")
        .map(|e| {
            assert_eq!(e["data"]["messageId"], json!(email));
            e["data"]["recipient"].as_str().expect("recipient")
        })
        .collect();
    recipients.sort_unstable();
    assert_eq!(recipients, ["alice@example.com", "audit@example.com"]);
    second
        .wait_events("state=delivered&subscription=reports", 4)
        .await;
    // The clock back to the system's (the next runs sign requests with the real time).
    let res = second
        .control_send("POST", "clock", &json!({"advance": "-2h"}))
        .await;
    assert_eq!(res.status(), 200);

    // Arrange: one more SMS whose report falls due while the emulator is stopped.
    second.stop();
    let short = [
        "--sms-delivery-report-delay",
        "3s",
        "--email-completion-delay",
        "0s",
    ];
    let third = start_with(&dir.0, &short);
    let sent_at = Instant::now();
    let overdue = third.send_reported_sms(&["+14255550125"]).await;
    third.stop();
    assert!(
        sent_at.elapsed() < Duration::from_secs(3),
        "stopped before the report fell due"
    );
    assert_eq!(hook.events().len(), 4);
    tokio::time::sleep(Duration::from_secs(3).saturating_sub(sent_at.elapsed())).await;

    // Act
    let fourth = start_with(&dir.0, &short);

    // Assert: published at start-up; the four earlier ones not again.
    let events = accepted(&hook, 5).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let events_now = hook.events();
    assert_eq!(events_now.len(), 5, "{events_now:#?}");
    assert_eq!(events[4]["data"]["MessageId"], json!(overdue[0]));
    fourth.stop();
}
