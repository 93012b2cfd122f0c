//! Test harness: spawn the emulator on free ports and talk to it as an SDK would.

use std::sync::{Arc, LazyLock};

use acs_emulator::auth::hmac;
use acs_emulator::state::AppState;
use acs_emulator::{Application, Clock, Config};
use actix_web::web;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::{Method, Response};
use serde_json::{Value, json};

static TRACING: LazyLock<()> = LazyLock::new(|| {
    if std::env::var("TEST_LOG").is_ok() {
        let mut config = Config::for_tests();
        config.logging.log_level = "debug".into();
        // Kept for the whole test process (a static is never dropped).
        std::mem::forget(acs_emulator::telemetry::init(&config));
    }
});

/// A running emulator and clients for both listeners.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`
    pub http: String,
    /// `https://127.0.0.1:<port>`
    pub https: String,
    /// A client that trusts the emulator's certificate.
    pub client: reqwest::Client,
    /// Shared state (clock, store).
    pub state: web::Data<AppState>,
    /// The decoded primary access key.
    pub key: Vec<u8>,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        drop(handle.stop(false));
    }
}

/// Spawns an emulator with the test configuration.
pub async fn spawn_app() -> TestApp {
    spawn_with(Config::for_tests()).await
}

/// Spawns an emulator with `config` (ports are forced to 0).
pub async fn spawn_with(mut config: Config) -> TestApp {
    LazyLock::force(&TRACING);
    config.listeners.port = 0;
    config.listeners.http_port = 0;
    let key = STANDARD
        .decode(&config.resource.access_key)
        .expect("base64 key");
    let settings = config.validate().expect("valid test config");
    let app = Application::build(settings, Arc::new(Clock::system())).expect("app builds");
    let http = format!("http://127.0.0.1:{}", app.http_addr().port());
    let https = format!("https://127.0.0.1:{}", app.https_addr().port());
    let state = app.state();
    let handle = app.handle();
    let cert = reqwest::Certificate::from_pem(state.tls_cert_pem.as_bytes()).expect("pem");
    let client = reqwest::Client::builder()
        .add_root_certificate(cert)
        .tls_built_in_root_certs(false)
        .build()
        .expect("client");
    tokio::spawn(app.run());
    TestApp {
        http,
        https,
        client,
        state,
        key,
        handle,
    }
}

/// The headers an SDK adds to sign a request.
pub struct Signature {
    pub date: String,
    pub content_hash: String,
    pub authorization: String,
}

impl Signature {
    /// The three headers, as `send` takes them.
    pub fn headers(&self) -> [(&str, &str); 3] {
        [
            ("x-ms-date", self.date.as_str()),
            ("x-ms-content-sha256", self.content_hash.as_str()),
            ("authorization", self.authorization.as_str()),
        ]
    }
}

impl TestApp {
    /// `host:port` of the HTTP listener, as the client's Host header carries it.
    pub fn http_host(&self) -> String {
        self.http.trim_start_matches("http://").to_string()
    }

    /// The current time on the emulator's clock, as an x-ms-date value.
    pub fn date_now(&self) -> String {
        hmac::http_date(self.state.clock.now())
    }

    /// Signs like the SDKs do (host = the HTTP listener's, date = now, primary key).
    pub fn sign(&self, method: &str, target: &str, body: &[u8]) -> Signature {
        self.sign_with(
            &self.key,
            method,
            target,
            &self.date_now(),
            &self.http_host(),
            body,
        )
    }

    /// Signs with explicit ingredients.
    pub fn sign_with(
        &self,
        key: &[u8],
        method: &str,
        target: &str,
        date: &str,
        host: &str,
        body: &[u8],
    ) -> Signature {
        Signature {
            date: date.to_string(),
            content_hash: hmac::content_hash(body),
            authorization: hmac::authorization_header(key, method, target, date, host, body),
        }
    }

    /// Sends a request to the HTTP listener with exactly these extra headers.
    pub async fn send(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        let method = Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self
            .client
            .request(method, format!("{}{target}", self.http));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request
            .body(body.to_vec())
            .send()
            .await
            .expect("request sent")
    }

    /// Sends a correctly signed request to the HTTP listener.
    pub async fn signed(&self, method: &str, target: &str, body: &[u8]) -> Response {
        let s = self.sign(method, target, body);
        let mut headers = s.headers().to_vec();
        if !body.is_empty() {
            headers.push(("content-type", "application/json"));
        }
        self.send(method, target, &headers, body).await
    }

    /// Sends a correctly signed JSON request.
    pub async fn signed_json(&self, method: &str, target: &str, body: &Value) -> Response {
        self.signed(method, target, body.to_string().as_bytes())
            .await
    }

    /// Creates an identity and returns its id.
    pub async fn create_identity(&self) -> String {
        let res = self
            .signed("POST", "/identities?api-version=2023-10-01", b"")
            .await;
        assert_eq!(res.status(), 201);
        let body: Value = res.json().await.expect("json");
        body["identity"]["id"].as_str().expect("id").to_string()
    }

    /// Issues a token with `scopes` and returns the whole response.
    pub async fn issue_token(&self, id: &str, body: &Value) -> Response {
        let target = format!(
            "/identities/{}/:issueAccessToken?api-version=2023-10-01",
            encode(id)
        );
        self.signed_json("POST", &target, body).await
    }

    /// Creates an identity with a token of `scopes`; returns (id, token).
    pub async fn create_user_and_token(&self, scopes: &[&str]) -> (String, String) {
        let res = self
            .signed_json(
                "POST",
                "/identities?api-version=2023-10-01",
                &json!({"createTokenWithScopes": scopes}),
            )
            .await;
        assert_eq!(res.status(), 201);
        let body: Value = res.json().await.expect("json");
        (
            body["identity"]["id"].as_str().expect("id").to_string(),
            body["accessToken"]["token"]
                .as_str()
                .expect("token")
                .to_string(),
        )
    }

    /// `POST /sms?api-version=2021-03-07`, signed, over HTTP.
    pub async fn send_sms(&self, body: &Value) -> Response {
        self.signed_json("POST", "/sms?api-version=2021-03-07", body)
            .await
    }

    /// `GET /_emulator/sms?<query>`: the outbox's messages.
    pub async fn outbox(&self, query: &str) -> Vec<Value> {
        let res = self
            .client
            .get(format!("{}/_emulator/sms?{query}", self.http))
            .send()
            .await
            .expect("request sent");
        assert_eq!(res.status(), 200);
        body(res).await["value"]
            .as_array()
            .expect("value array")
            .clone()
    }

    /// `GET /_emulator/token` over HTTPS with the bearer token: the same check Chat applies.
    pub async fn check_token(&self, token: &str) -> Response {
        self.client
            .get(format!("{}/_emulator/token", self.https))
            .bearer_auth(token)
            .send()
            .await
            .expect("request sent")
    }

    /// `POST /_emulator/reset`; asserts 200.
    pub async fn reset(&self) {
        let res = self
            .client
            .post(format!("{}/_emulator/reset", self.http))
            .send()
            .await
            .expect("request sent");
        assert_eq!(res.status(), 200);
    }
}

/// Percent-encodes an id as the SDKs put it in a path (`8%3Aacs%3A…`).
pub fn encode(id: &str) -> String {
    id.replace(':', "%3A").replace('@', "%40")
}

/// Reads a response's JSON body.
pub async fn body(res: Response) -> Value {
    let text = res.text().await.expect("body");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Asserts an RFC 9110 problem-details response (SMS validation, unknown delivery report) and
/// returns its `errors` object (null when absent).
pub async fn assert_problem(res: Response, status: u16) -> Value {
    assert_eq!(res.status(), status, "status");
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(
        content_type.starts_with("application/problem+json"),
        "content type {content_type}"
    );
    let body = body(res).await;
    let section = if status == 404 { "15.5.5" } else { "15.5.1" };
    assert_eq!(
        body["type"],
        format!("https://tools.ietf.org/html/rfc9110#section-{section}"),
        "{body}"
    );
    assert_eq!(body["status"], status, "{body}");
    let trace = body["traceId"].as_str().expect("traceId");
    assert!(
        trace.starts_with("00-") && trace.ends_with("-00") && trace.len() == 55,
        "{trace}"
    );
    body["errors"].clone()
}

/// Asserts an error response: status, content type and the envelope's code; returns the message.
pub async fn assert_error(res: Response, status: u16, code: &str) -> String {
    assert_eq!(res.status(), status, "status");
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(
        content_type.starts_with("application/json"),
        "content type {content_type}"
    );
    let body = body(res).await;
    assert_eq!(body["error"]["code"], code, "{body}");
    let message = body["error"]["message"]
        .as_str()
        .expect("message")
        .to_string();
    assert!(!message.is_empty(), "empty message: {body}");
    message
}

/// Decodes a JWT payload (standard base64, as the Python SDK does).
pub fn jwt_payload(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("payload");
    let padded = format!("{payload}{}", "=".repeat((4 - payload.len() % 4) % 4));
    let bytes = STANDARD.decode(padded).expect("standard base64");
    serde_json::from_slice(&bytes).expect("json payload")
}

/// The api-version the JS Chat SDK sends (metadata and retention policies included).
pub const CHAT_V: &str = "2025-03-15";

impl TestApp {
    /// An HTTPS Chat request with a bearer token; `path` includes the query.
    pub async fn chat(
        &self,
        method: &str,
        token: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Response {
        let method = Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.https))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.expect("request sent")
    }

    /// `POST /chat/threads` (2025-03-15); asserts 201 and returns the body.
    pub async fn create_thread(&self, token: &str, body: &Value) -> Value {
        let res = self
            .chat(
                "POST",
                token,
                &format!("/chat/threads?api-version={CHAT_V}"),
                Some(body),
            )
            .await;
        let status = res.status();
        let body = body_of(res).await;
        assert_eq!(status, 201, "{body}");
        body
    }

    /// Creates a thread with `topic` and the given ACS users; returns its id.
    pub async fn thread_with(&self, token: &str, topic: &str, users: &[&str]) -> String {
        let participants: Vec<Value> = users.iter().map(|u| participant(u)).collect();
        let body = self
            .create_thread(
                token,
                &json!({"topic": topic, "participants": participants}),
            )
            .await;
        body["chatThread"]["id"].as_str().expect("id").to_string()
    }

    /// Sends a text message; asserts 201 and returns its id.
    pub async fn send_text(&self, token: &str, thread: &str, content: &str) -> String {
        let res = self
            .chat(
                "POST",
                token,
                &format!(
                    "/chat/threads/{}/messages?api-version={CHAT_V}",
                    encode(thread)
                ),
                Some(&json!({"content": content})),
            )
            .await;
        let status = res.status();
        let body = body_of(res).await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().expect("id").to_string()
    }

    /// Signed Identity call: revoke `id`'s tokens.
    pub async fn revoke(&self, id: &str) {
        let target = format!(
            "/identities/{}/:revokeAccessTokens?api-version=2023-10-01",
            encode(id)
        );
        assert_eq!(self.signed("POST", &target, b"").await.status(), 204);
    }

    /// Signed Identity call: delete `id`.
    pub async fn delete_identity(&self, id: &str) {
        let target = format!("/identities/{}?api-version=2023-10-01", encode(id));
        assert_eq!(self.signed("DELETE", &target, b"").await.status(), 204);
    }

    /// Follows every `nextLink` from `first`, returning all items (asserting 200 each time).
    pub async fn collect_pages(&self, token: &str, first: &str) -> (Vec<Value>, usize) {
        let mut items = Vec::new();
        let mut url = format!("{}{first}", self.https);
        let mut pages = 0;
        loop {
            let res = self
                .client
                .get(&url)
                .bearer_auth(token)
                .send()
                .await
                .expect("sent");
            let status = res.status();
            let body = body_of(res).await;
            assert_eq!(status, 200, "{body}");
            pages += 1;
            items.extend(body["value"].as_array().expect("value").iter().cloned());
            match body.get("nextLink").and_then(Value::as_str) {
                Some(next) => url = next.to_string(),
                None => return (items, pages),
            }
        }
    }
}

/// A `ChatParticipant` request model for an ACS user, as the SDKs send it (no `kind`).
pub fn participant(id: &str) -> Value {
    json!({"communicationIdentifier": {"rawId": id, "communicationUser": {"id": id}}})
}

/// The response model of an ACS user identifier.
pub fn user_model(id: &str) -> Value {
    json!({"kind": "communicationUser", "rawId": id, "communicationUser": {"id": id}})
}

/// Reads a response body as JSON (alias of [`body`] usable where `body` is shadowed).
pub async fn body_of(res: Response) -> Value {
    body(res).await
}
