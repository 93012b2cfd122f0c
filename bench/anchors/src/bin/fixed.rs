//! The `fixed` anchor: the floor of actix-web and TCP on loopback. The emulator's routes answer
//! fixed, ACS-shaped JSON bodies: no authentication, no state, no parsing.
//!
//! Routes: `GET /_emulator/health` (the emulator's own health answer), `POST /identities`,
//! `POST /chat/threads/{id}/messages`, `POST /sms`, `POST /emails:send`. `PORT` (default 0: any free port) and
//! `WORKERS` (default: one per core) come from the environment; the bound address is printed
//! on stdout as `listening on http://127.0.0.1:<port>`.

use std::io::Write;

use actix_web::{App, HttpResponse, HttpServer, web};

/// About 1 KB, shaped like a real CommunicationIdentityAccessTokenResult (real tokens are RS256
/// JWTs of 800–900 characters).
const IDENTITY_BODY: &str = concat!(
    r#"{"identity":{"id":"8:acs:2dee53b4-368b-45b4-ab52-8493fb117652_00000005-14a2-493b-8a72-5a3a0d000081"},"#,
    r#""accessToken":{"token":"eyJhbGciOiJSUzI1NiIsImtpZCI6IjEwNiIsIng1dCI6Im9QMWFxQnlfR3hZU3pSaXhuQ25zdE5PU2p2cyIsInR5cCI6IkpXVCJ9."#,
    r#"eyJza3lwZWlkIjoiYWNzOjJkZWU1M2I0LTM2OGItNDViNC1hYjUyLTg0OTNmYjExNzY1Ml8wMDAwMDAwNS0xNGEyLTQ5M2ItOGE3Mi01YTNhMGQwMDAwODEiLCJzY3AiOjE3OTIsImNzaSI6IjE2OTY5NzM1NzkiLCJleHAiOjE2OTcwNTk5NzksInJnbiI6ImFtZXIiLCJhY3NTY29wZSI6ImNoYXQsdm9pcCIsInJlc291cmNlSWQiOiIyZGVlNTNiNC0zNjhiLTQ1YjQtYWI1Mi04NDkzZmIxMTc2NTIiLCJyZXNvdXJjZUxvY2F0aW9uIjoidW5pdGVkc3RhdGVzIiwiaWF0IjoxNjk2OTczNTc5fQ."#,
    r#"Qk1mT2JQbGxQd3VfY2t2b0ZJbm1kRzZ3b3FkcXh0bWFfcXRiQUxZb1NrZ0hhMkRnbWZ3UWZrY0hDLXVyUTRVbDNWYUlxbHlqd0h3b2FsU1F4N0xxbE5tUVFkc2ZGOVVqb1pwUXhOd3FxT1hCQTRpN1NfcHh6c0NfX3hBd3R1RWw0bWhwY1lmS3F4d2tWdGVUWGs2WlJfUmRqdXB4ZHZjT2RpV1lFUHhiX2tQcUJ6QWlBRUhBdlNhTXZUaGJkM3dSc2tfYmFtV3hTTW5QUmtIWGFNcjR2emhKaWFCV0pZdDVGb3J4U1o4UUlZZGRfSjl6UUNsMGFBQm5Q""#,
    r#","expiresOn":"2023-10-10T21:39:39.3244584+00:00"}}"#
);
const CHAT_BODY: &str = r#"{"id":"1643834285342"}"#;
const SMS_BODY: &str = r#"{"value":[{"to":"+14255550123","messageId":"Outgoing_20210309215805d8ccc7c0-9e03-4aba-8a89-1aedf08d9b45_noam","httpStatusCode":202,"repeatabilityResult":"accepted","successful":true}]}"#;
const EMAIL_BODY: &str = r#"{"id":"8540c0de-899f-5cce-acb5-3ec493af3800","status":"Running"}"#;
const EMAIL_LOCATION: &str =
    "http://127.0.0.1/emails/operations/8540c0de-899f-5cce-acb5-3ec493af3800?api-version=2025-09-01";
/// What the emulator's `GET /_emulator/health` answers.
const HEALTH_BODY: &str = r#"{"status":"healthy","version":"0.1.0"}"#;
const JSON: &str = "application/json; charset=utf-8";

async fn health() -> HttpResponse {
    HttpResponse::Ok().content_type(JSON).body(HEALTH_BODY)
}

// The POST handlers take the body (`web::Bytes`) so that actix drains it: a handler that ignores
// a POST body makes actix close the keep-alive connection after the response.
async fn identities(_body: web::Bytes) -> HttpResponse {
    HttpResponse::Created()
        .content_type(JSON)
        .body(IDENTITY_BODY)
}

async fn chat_message(_body: web::Bytes) -> HttpResponse {
    HttpResponse::Created().content_type(JSON).body(CHAT_BODY)
}

async fn sms(_body: web::Bytes) -> HttpResponse {
    HttpResponse::Accepted().content_type(JSON).body(SMS_BODY)
}

async fn emails_send(_body: web::Bytes) -> HttpResponse {
    HttpResponse::Accepted()
        .insert_header(("operation-location", EMAIL_LOCATION))
        .insert_header(("retry-after", "1"))
        .content_type(JSON)
        .body(EMAIL_BODY)
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let mut server = HttpServer::new(|| {
        App::new()
            .route("/_emulator/health", web::get().to(health))
            .route("/identities", web::post().to(identities))
            .route("/chat/threads/{id}/messages", web::post().to(chat_message))
            .route("/sms", web::post().to(sms))
            .route("/emails:send", web::post().to(emails_send))
    });
    // As the emulator: small responses go out at once, not after a delayed ACK (Nagle).
    server = server.tcp_nodelay(true);
    if let Some(workers) = std::env::var("WORKERS").ok().and_then(|w| w.parse().ok()) {
        server = server.workers(workers);
    }
    let server = server.bind(("127.0.0.1", port))?;
    for addr in server.addrs() {
        println!("listening on http://{addr}");
    }
    std::io::stdout().flush()?;
    server.run().await
}
