//! Every control-API endpoint (`/_emulator/*`) driven with extreme values: durations, dates,
//! counts, sizes, paging and wait parameters, huge and negative numbers, wrong types. Runs the
//! real binary and reads its stderr, where any panic shows (`thread '…' panicked at`), on a
//! worker or in a background task. Every request must get an answer below 500; afterwards no
//! panic may have been logged and the emulator still serves signed, chat and control requests,
//! and still publishes SMS delivery reports.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use acs_emulator::auth::hmac;
use acs_emulator::config::DEFAULT_ACCESS_KEY;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::webhook::Webhook;

/// The emulator's default sender number.
const FROM: &str = "+18005550100";

/// The binary, started on free ports, with its stderr collected.
struct Emulator {
    child: Child,
    /// `127.0.0.1:<port>` of the HTTP listener.
    host: String,
    /// `https://127.0.0.1:<port>` of the HTTPS listener (Chat), and a client that trusts it.
    https: String,
    https_client: reqwest::Client,
    stderr: Arc<Mutex<String>>,
    client: reqwest::Client,
    key: Vec<u8>,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        // SIGTERM first: a graceful stop removes the files the emulator wrote to the temp
        // directory (its CA bundle); SIGKILL only if it does not stop within 10 s.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Emulator {
    fn start() -> Emulator {
        let cert =
            std::env::temp_dir().join(format!("acs-emulator-test-{}.pem", uuid::Uuid::new_v4()));
        let mut child = Command::new(env!("CARGO_BIN_EXE_acs-emulator"))
            .args(["--port", "0", "--http-port", "0", "--log-level", "warn"])
            .arg("--tls-cert-out")
            .arg(&cert)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawns");
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().expect("stderr");
        let collected = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                collected
                    .lock()
                    .expect("lock")
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let (mut host, mut https) = (None, None);
        let mut line = String::new();
        while host.is_none() {
            line.clear();
            assert!(stdout.read_line(&mut line).expect("read") > 0, "no banner");
            if let Some(rest) = line.trim().strip_prefix("HTTPS endpoint") {
                https = Some(rest.trim().trim_end_matches('/').to_string());
            }
            host = line.trim().strip_prefix("HTTP endpoint").map(|rest| {
                rest.trim()
                    .trim_start_matches("http://")
                    .trim_end_matches('/')
                    .to_string()
            });
        }
        let pem = std::fs::read(&cert).expect("certificate written");
        let _ = std::fs::remove_file(&cert);
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        Emulator {
            child,
            host: host.expect("http endpoint"),
            https: https.expect("https endpoint"),
            https_client: reqwest::Client::builder()
                .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("pem"))
                .tls_built_in_root_certs(false)
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
            stderr,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
            key: STANDARD.decode(DEFAULT_ACCESS_KEY).expect("key"),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.host)
    }

    /// Sends a control request; asserts an answer below 500 and returns its status and body.
    async fn call(&self, method: &str, path: &str, body: Option<(&str, String)>) -> (u16, String) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.client.request(method.clone(), self.url(path));
        if let Some((content_type, body)) = body {
            request = request.header("content-type", content_type).body(body);
        }
        let res = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: no answer ({e})"));
        let status = res.status().as_u16();
        let text = res.text().await.unwrap_or_default();
        assert!(status < 500, "{method} {path}: {status} {text}");
        (status, text)
    }

    async fn json(&self, method: &str, path: &str, body: &Value) -> (u16, String) {
        self.call(method, path, Some(("application/json", body.to_string())))
            .await
    }

    /// The emulator's clock reading.
    async fn now(&self) -> DateTime<Utc> {
        let (_, text) = self.call("GET", "/_emulator/clock", None).await;
        let state: Value = serde_json::from_str(&text).expect("json");
        DateTime::parse_from_rfc3339(state["now"].as_str().expect("now"))
            .expect("rfc 3339")
            .with_timezone(&Utc)
    }

    /// A signed request dated `date`; returns the status and body.
    async fn signed_at(
        &self,
        date: &str,
        method: &str,
        target: &str,
        body: &Value,
    ) -> (u16, Value) {
        let bytes = body.to_string().into_bytes();
        let authorization =
            hmac::authorization_header(&self.key, method, target, date, &self.host, &bytes);
        let res = self
            .client
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).expect("method"),
                self.url(target),
            )
            .header("x-ms-date", date)
            .header("x-ms-content-sha256", hmac::content_hash(&bytes))
            .header("authorization", authorization)
            .header("content-type", "application/json")
            .body(bytes)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {target} dated {date}: no answer ({e})"));
        let status = res.status().as_u16();
        let text = res.text().await.unwrap_or_default();
        assert!(status < 500, "{method} {target}: {status} {text}");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Signed with the emulator's own time, as a client whose clock agrees would.
    async fn signed(&self, method: &str, target: &str, body: &Value) -> (u16, Value) {
        let date = hmac::http_date(self.now().await);
        self.signed_at(&date, method, target, body).await
    }

    /// Creates a user with a chat token; returns the token.
    async fn user_token(&self) -> String {
        let (status, body) = self
            .signed(
                "POST",
                "/identities?api-version=2023-10-01",
                &json!({"createTokenWithScopes": ["chat"]}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["accessToken"]["token"]
            .as_str()
            .expect("token")
            .to_string()
    }

    /// Sends one SMS with a delivery report; asserts 202.
    async fn send_sms(&self, to: &str) {
        let (status, body) = self
            .signed(
                "POST",
                "/sms?api-version=2021-03-07",
                &json!({"from": FROM, "smsRecipients": [{"to": to}], "message": "x",
                        "smsSendOptions": {"enableDeliveryReport": true}}),
            )
            .await;
        assert_eq!(status, 202, "{body}");
    }

    fn panics(&self) -> Vec<String> {
        self.stderr
            .lock()
            .expect("lock")
            .lines()
            .filter(|l| l.contains("panicked") || l.contains("background task"))
            .map(str::to_string)
            .collect()
    }
}

/// Numbers as they may arrive in a query string.
const NUMBERS: &[&str] = &[
    "0",
    "-1",
    "1",
    "1.5",
    "1e308",
    "-1e308",
    "NaN",
    "inf",
    "0x10",
    "9223372036854775807",
    "-9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999999999999999999",
    "",
    "%20",
    "%00",
];

/// Durations as they may arrive in a clock change or a `wait`.
const DURATIONS: &[&str] = &[
    "0s",
    "1ns",
    "-0s",
    "-1s",
    "90s",
    "1000000y",
    "-1000000y",
    "292471208y",
    "584942417355y",
    "18446744073709551615s",
    "99999999999999999999999y",
    "1e30s",
    "1s1s",
    "5",
    "-",
    "--5m",
    "",
    " ",
];

/// Times as they may arrive in `set` or `since`.
const DATES: &[&str] = &[
    "0000-01-01T00:00:00Z",
    "1969-12-31T23:59:59.999Z",
    "1970-01-01T00:00:00Z",
    "2030-01-01T00:00:00+23:59",
    "2030-01-01T00:00:00-23:59",
    "9998-12-31T23:59:59.999Z",
    "9999-12-31T23:59:59.999999999Z",
    "+275760-09-13T00:00:00Z",
    "garbage",
    "",
];

fn enc(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[tokio::test]
async fn every_control_endpoint_survives_extreme_values_without_a_panic() {
    let emulator = Emulator::start();
    let hook = Webhook::start().await;
    let (status, text) = emulator
        .json(
            "POST",
            "/_emulator/events/subscriptions",
            &json!({"name": "reports", "endpoint": hook.url}),
        )
        .await;
    assert_eq!(status, 201, "{text}");
    // Something in every list, so that `wait` with `count=1` returns at once.
    emulator.send_sms("+14255550123").await;
    let token = emulator.user_token().await;
    let (status, _) = emulator
        .json(
            "POST",
            "/_emulator/sms/inbound",
            &json!({"from": "+14255550123", "to": FROM, "message": "hi"}),
        )
        .await;
    assert_eq!(status, 202);

    // The clock: every change, then a signed request dated by the emulator's clock, one dated
    // by the real time (answered 201 or 401 with the reason), and an SMS with a report.
    let mut changes: Vec<Value> = Vec::new();
    for d in DURATIONS {
        changes.push(json!({"advance": d}));
        changes.push(json!({"advance": d, "freeze": true}));
    }
    for d in DATES {
        changes.push(json!({"set": d}));
        changes.push(json!({"set": d, "freeze": true}));
        changes.push(json!({"set": d, "freeze": false}));
    }
    for odd in [
        json!({"advance": 5}),
        json!({"advance": -1e308}),
        json!({"set": 0}),
        json!({"set": null}),
        json!({"freeze": "yes"}),
        json!({"real": false}),
        json!({"real": true, "set": "2030-01-01T00:00:00Z"}),
        json!([]),
        json!("advance"),
    ] {
        changes.push(odd);
    }
    for change in &changes {
        emulator.json("POST", "/_emulator/clock", change).await;
        emulator
            .signed("POST", "/identities?api-version=2023-10-01", &json!({}))
            .await;
        emulator
            .signed_at(
                &hmac::http_date(Utc::now()),
                "POST",
                "/identities?api-version=2023-10-01",
                &json!({}),
            )
            .await;
        emulator.send_sms("+14255550124").await;
        let res = emulator
            .client
            .get(emulator.url("/_emulator/token"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap_or_else(|e| panic!("token check after {change}: no answer ({e})"));
        assert!(res.status().as_u16() < 500, "token check after {change}");
        emulator.call("GET", "/_emulator/clock", None).await;
    }
    let (status, _) = emulator
        .json("POST", "/_emulator/clock", &json!({"real": true}))
        .await;
    assert_eq!(status, 200);

    // Listings: paging, filters and waits.
    let mut gets: Vec<String> = Vec::new();
    for n in NUMBERS {
        let n = enc(n);
        for p in ["limit", "after", "status"] {
            gets.push(format!("/_emulator/journal?{p}={n}"));
            gets.push(format!("/_emulator/journal/count?{p}={n}"));
        }
        gets.push(format!("/_emulator/identities?limit={n}"));
        gets.push(format!("/_emulator/chat/threads?limit={n}"));
        gets.push(format!(
            "/_emulator/chat/threads/{}/messages?limit={n}",
            enc("19:x@thread.v2")
        ));
        gets.push(format!("/_emulator/sms?count={n}"));
        gets.push(format!("/_emulator/sms?to={n}&from={n}"));
        gets.push(format!("/_emulator/sms?wait={n}&count=1"));
        gets.push(format!("/_emulator/events?count={n}"));
        gets.push(format!("/_emulator/events?wait={n}&count=1"));
        gets.push(format!("/_emulator/identities?resource={n}"));
    }
    for d in DURATIONS {
        let d = enc(d);
        gets.push(format!("/_emulator/sms?wait={d}&count=1"));
        gets.push(format!("/_emulator/events?wait={d}&count=1"));
    }
    for t in DATES {
        gets.push(format!("/_emulator/sms?since={}", enc(t)));
    }
    let long = "x".repeat(8000);
    for odd in [
        format!("/_emulator/journal?operation={long}&resource={long}&rule={long}"),
        "/_emulator/journal?operation=Nope".into(),
        "/_emulator/journal?unknown=1".into(),
        format!("/_emulator/sms?tag={long}"),
        format!("/_emulator/events?state={long}&type={long}&subscription={long}"),
        format!("/_emulator/chat/threads/{long}/messages"),
        "/_emulator/chat/threads/%FF%FE/messages".into(),
        format!("/_emulator/events/subscriptions/{long}"),
        "/_emulator/events/subscriptions/..%2F..".into(),
        "/_emulator/scenarios".into(),
        "/_emulator/verify".into(),
        "/_emulator/fixtures".into(),
        "/_emulator/resources".into(),
        "/_emulator/operations".into(),
        "/_emulator/events/subscriptions".into(),
        "/_emulator/health".into(),
        "/_emulator/ready".into(),
        "/_emulator/tls-cert".into(),
    ] {
        gets.push(odd);
    }
    for path in &gets {
        emulator.call("GET", path, None).await;
    }

    // Bodies with huge, negative and ill-typed numbers.
    let huge = [
        json!(0),
        json!(-1),
        json!(1e30),
        json!(-1e30),
        json!(1.7976931348623157e308),
        json!(18446744073709551615u64),
        json!(i64::MIN),
        json!("1000000y"),
        json!("-1s"),
        json!(null),
        json!("x".repeat(5000)),
        json!([1]),
        json!({"a": 1}),
    ];
    for v in &huge {
        // Never matching `to`, so that a valid but endless delay holds up nothing.
        let rule = |extra: Value| {
            let mut rule = json!({"name": "extreme", "match": {"operation": "Sms.Send", "to": "+19995550100"}});
            for (k, value) in extra.as_object().expect("object") {
                rule[k] = value.clone();
            }
            json!({"rules": [rule]})
        };
        for fixture in [
            rule(json!({"delay": v})),
            rule(json!({"times": v, "respond": {"status": 429}})),
            rule(json!({"probability": v, "respond": {"status": 429}})),
            rule(json!({"priority": v, "respond": {"status": 429}})),
            rule(json!({"respond": {"status": v}})),
            rule(json!({"sms": {"result": {"status": v}}})),
            rule(json!({"sms": {"deliveryReport": {"status": "Delivered", "after": v}}})),
            rule(json!({"respond": {"status": 429}, "expect": {"count": v}})),
            rule(json!({"respond": {"status": 429}, "expect": {"min": v}})),
            json!({"subscriptions": [{"endpoint": hook.url, "maxEventsPerBatch": v}]}),
            json!({"identities": [{"name": v}]}),
        ] {
            let (status, _) = emulator.json("POST", "/_emulator/fixtures", &fixture).await;
            if status == 201 {
                emulator
                    .call("DELETE", "/_emulator/rules/extreme", None)
                    .await;
            }
        }
        for spec in [
            json!({"name": "x-extreme", "endpoint": hook.url, "maxEventsPerBatch": v}),
            json!({"name": v, "endpoint": hook.url}),
            json!({"endpoint": v}),
            json!({"endpoint": hook.url, "eventTypes": v}),
            json!({"endpoint": hook.url, "schema": v}),
        ] {
            emulator
                .json("POST", "/_emulator/events/subscriptions", &spec)
                .await;
            emulator
                .call("DELETE", "/_emulator/events/subscriptions/x-extreme", None)
                .await;
        }
        for inbound in [
            json!({"from": v, "to": FROM, "message": "hi"}),
            json!({"from": "+14255550123", "to": v, "message": "hi"}),
            json!({"from": "+14255550123", "to": FROM, "message": v}),
        ] {
            emulator
                .json("POST", "/_emulator/sms/inbound", &inbound)
                .await;
        }
        emulator
            .json("PUT", "/_emulator/scenarios/extreme", &json!({"state": v}))
            .await;
    }
    // A report scripted a million years after the send, and YAML's own extremes.
    let (status, text) = emulator
        .json(
            "POST",
            "/_emulator/fixtures",
            &json!({"rules": [{"name": "late-report",
                "match": {"operation": "Sms.Send", "to": "+14255550199"},
                "sms": {"deliveryReport": {"status": "Delivered", "after": "1000000y"}}}]}),
        )
        .await;
    assert_eq!(status, 201, "{text}");
    emulator.send_sms("+14255550199").await;
    let (_, outbox) = emulator
        .call(
            "GET",
            &format!("/_emulator/sms?to={}", enc("+14255550199")),
            None,
        )
        .await;
    assert!(outbox.contains("9999-12-31T23:59:59.000Z"), "{outbox}");
    for yaml in [
        "rules:\n  - name: y\n    match: {operation: Sms.Send, to: '+19995550100'}\n    delay: .inf\n",
        "rules:\n  - name: y\n    match: {operation: Sms.Send, to: '+19995550100'}\n    delay: .nan\n",
        "rules:\n  - name: y\n    match: {operation: Sms.Send, to: '+19995550100'}\n    times: 1e400\n    respond: {status: 429}\n",
        "rules:\n  - name: y\n    match: {operation: Sms.Send, to: '+19995550100'}\n    probability: -.inf\n    respond: {status: 429}\n",
    ] {
        emulator
            .call(
                "POST",
                "/_emulator/fixtures",
                Some(("application/yaml", yaml.into())),
            )
            .await;
        emulator.call("DELETE", "/_emulator/rules/y", None).await;
    }
    for path in [
        format!("/_emulator/scenarios/{long}/reset"),
        format!("/_emulator/rules/{long}"),
        "/_emulator/scenarios/%FF/reset".into(),
    ] {
        emulator.call("POST", &path, None).await;
        emulator.call("DELETE", &path, None).await;
    }
    emulator.call("DELETE", "/_emulator/journal", None).await;
    for n in NUMBERS {
        emulator
            .call(
                "POST",
                &format!("/_emulator/reset?resource={}", enc(n)),
                None,
            )
            .await;
    }

    // Assert: no panic anywhere, and everything still works, delivery reports included.
    assert_eq!(emulator.panics(), Vec::<String>::new());
    let (status, _) = emulator.call("GET", "/_emulator/health", None).await;
    assert_eq!(status, 200);
    emulator.call("DELETE", "/_emulator/events", None).await;
    let token = emulator.user_token().await;
    let (status, _) = emulator
        .json("POST", "/_emulator/clock", &json!({"real": true}))
        .await;
    assert_eq!(status, 200);
    let res = emulator
        .https_client
        .post(format!(
            "{}/chat/threads?api-version=2025-03-15",
            emulator.https
        ))
        .bearer_auth(&token)
        .json(&json!({"topic": "still here"}))
        .send()
        .await
        .expect("answer");
    assert_eq!(res.status(), 201);
    let before = hook.events().len();
    emulator.send_sms("+14255550125").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !hook.events()[before..].iter().any(|e| {
        e["eventType"] == "Microsoft.Communication.SMSDeliveryReportReceived"
            && e["data"]["To"] == "+14255550125"
    }) {
        assert!(
            std::time::Instant::now() < deadline,
            "no delivery report after the extremes; stderr:\n{}",
            emulator.stderr.lock().expect("lock")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(emulator.panics(), Vec::<String>::new());
}
