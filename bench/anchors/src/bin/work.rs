//! The `work` anchor: actix-web plus the work per request that an emulator cannot skip, and
//! nothing else. It is the limit the emulator's CPU per request is measured against.
//!
//! - `POST /identities` and `POST /sms`: verify the ACS HMAC-SHA256 request signature (content
//!   hash of the body, `x-ms-date`, an HMAC over `VERB\npath?query\n<signed header values>`),
//!   parse the JSON body, make a uuid, sign an HS256 user access token (identities), insert into
//!   a DashMap.
//! - `POST /emails:send`: verify the signature, parse the JSON message, make a uuid (the operation
//!   id), insert into a DashMap, answer 202 `{id, status}` with an absolute `Operation-Location`
//!   and `retry-after`.
//! - `POST /chat/threads/{id}/messages`: verify the Bearer HS256 token (signature and expiry)
//!   issued by `POST /identities`, check its chat scope, parse the JSON body, append to a DashMap.
//!
//! Every record is kept (as the emulator keeps them in `bench/load.py`, whose store caps are
//! raised): a long run makes the maps large and their rehashing slow, so `bench/load.py` starts
//! the anchors afresh for each round of measurements.
//!
//! Environment: `PORT` (default 0: any free port; the bound address is printed on stdout as
//! `listening on http://127.0.0.1:<port>`), `WORKERS` (default: one per core) and
//! `ACS_ACCESS_KEY` (base64; `bench/load.py` passes the key it starts the emulator with).

use std::io::Write;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::http::StatusCode;
use actix_web::http::header::HttpDate;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use dashmap::DashMap;
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Used when `ACS_ACCESS_KEY` is not set (base64 of 32 bytes).
const DEFAULT_ACCESS_KEY_B64: &str = "ZW11bGF0b3Itc2VjcmV0LWtleS0wMTIzNDU2Nzg5YWI=";
const RESOURCE_ID: &str = "2dee53b4-368b-45b4-ab52-8493fb117652";
const JWT_SECRET: &[u8] = b"emulator-jwt-signing-secret-0123456789";

struct AppState {
    access_key: Vec<u8>,
    enc: EncodingKey,
    dec: DecodingKey,
    validation: Validation,
    identities: DashMap<String, IdentityRec>,
    threads: DashMap<String, Vec<MessageRec>>,
    sms: DashMap<String, SmsRec>,
    emails: DashMap<String, EmailRec>,
    seq: AtomicU64,
}

#[allow(dead_code)]
struct EmailRec {
    sender: String,
    to: Vec<String>,
    subject: String,
    text: Option<String>,
    created: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EmailAddressReq {
    address: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EmailRecipientsReq {
    to: Vec<EmailAddressReq>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EmailContentReq {
    subject: String,
    plain_text: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SendEmailReq {
    sender_address: String,
    content: EmailContentReq,
    recipients: EmailRecipientsReq,
}

#[allow(dead_code)]
struct IdentityRec {
    created: u64,
    scopes: Vec<String>,
}

#[allow(dead_code)]
struct MessageRec {
    id: String,
    sender: String,
    content: String,
    display_name: Option<String>,
    created: u64,
}

#[allow(dead_code)]
struct SmsRec {
    from: String,
    to: String,
    message: String,
    created: u64,
}

/// The claims of the emulator's user access tokens (less its revocation counter).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Claims {
    skypeid: String,
    scp: u32,
    csi: String,
    exp: u64,
    rgn: String,
    acs_scope: String,
    resource_id: String,
    resource_location: String,
    iat: u64,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct CreateIdentityReq {
    create_token_with_scopes: Option<Vec<String>>,
    expires_in_minutes: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct SendChatReq {
    content: String,
    sender_display_name: Option<String>,
    r#type: Option<String>,
    metadata: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SmsRecipient {
    to: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct SendSmsReq {
    from: String,
    sms_recipients: Vec<SmsRecipient>,
    message: String,
    sms_send_options: Option<serde_json::Value>,
}

/// RFC 3339 UTC timestamp (days-from-civil inverted).
fn iso8601(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}+00:00",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn since_epoch() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

fn err(status: StatusCode, code: &str, msg: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({"error": {"code": code, "message": msg}}))
}

/// ACS HMAC-SHA256 request authentication.
fn verify_hmac(req: &HttpRequest, body: &[u8], key: &[u8]) -> Result<(), &'static str> {
    let h = req.headers();
    let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok());
    let auth = get("authorization").ok_or("missing Authorization")?;
    let rest = auth.strip_prefix("HMAC-SHA256 ").ok_or("not HMAC-SHA256")?;
    let (mut signed, mut sig) = (None, None);
    for part in rest.split('&') {
        if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed = Some(v)
        } else if let Some(v) = part.strip_prefix("Signature=") {
            sig = Some(v)
        }
    }
    let (signed, sig) = (
        signed.ok_or("no SignedHeaders")?,
        sig.ok_or("no Signature")?,
    );
    // Date freshness (a generous window: the benchmark signs each request once per run).
    let date = get("x-ms-date")
        .or_else(|| get("date"))
        .ok_or("missing x-ms-date")?;
    let date: SystemTime = HttpDate::from_str(date)
        .map_err(|_| "bad x-ms-date")?
        .into();
    let skew = SystemTime::now()
        .duration_since(date)
        .unwrap_or_else(|e| e.duration());
    if skew > Duration::from_secs(86_400) {
        return Err("x-ms-date out of range");
    }
    // Body hash.
    let content_hash = get("x-ms-content-sha256").ok_or("missing x-ms-content-sha256")?;
    if B64.encode(Sha256::digest(body)) != content_hash {
        return Err("content hash mismatch");
    }
    // String to sign.
    let pq = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let mut sts = String::with_capacity(256);
    sts.push_str(req.method().as_str());
    sts.push('\n');
    sts.push_str(pq);
    sts.push('\n');
    for (i, name) in signed.split(';').enumerate() {
        if i > 0 {
            sts.push(';')
        }
        sts.push_str(get(name).ok_or("signed header missing")?);
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(key).map_err(|_| "bad key")?;
    mac.update(sts.as_bytes());
    let sig = B64.decode(sig).map_err(|_| "bad signature encoding")?;
    mac.verify_slice(&sig).map_err(|_| "signature mismatch")
}

async fn identities(req: HttpRequest, body: web::Bytes, st: web::Data<AppState>) -> HttpResponse {
    if let Err(e) = verify_hmac(&req, &body, &st.access_key) {
        return err(StatusCode::UNAUTHORIZED, "Unauthorized", e);
    }
    let r: CreateIdentityReq = if body.is_empty() {
        Default::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(r) => r,
            Err(_) => return err(StatusCode::BAD_REQUEST, "BadRequest", "invalid body"),
        }
    };
    let raw = format!("{}_{}", RESOURCE_ID, Uuid::new_v4());
    let id = format!("8:acs:{raw}");
    let scopes = r.create_token_with_scopes.unwrap_or_default();
    let now = since_epoch().as_secs();
    let mut out = json!({"identity": {"id": id}});
    if !scopes.is_empty() {
        let mins = r.expires_in_minutes.unwrap_or(1440).clamp(60, 1440);
        let exp = now + mins * 60;
        let claims = Claims {
            skypeid: format!("acs:{raw}"),
            scp: 1792,
            csi: now.to_string(),
            exp,
            rgn: "amer".into(),
            acs_scope: scopes.join(","),
            resource_id: RESOURCE_ID.into(),
            resource_location: "unitedstates".into(),
            iat: now,
        };
        let token = match jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &st.enc) {
            Ok(t) => t,
            Err(_) => {
                return err(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Internal",
                    "signing failed",
                );
            }
        };
        out["accessToken"] = json!({"token": token, "expiresOn": iso8601(exp)});
    }
    st.identities.insert(
        id,
        IdentityRec {
            created: now,
            scopes,
        },
    );
    HttpResponse::Created().json(out)
}

async fn chat_message(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    st: web::Data<AppState>,
) -> HttpResponse {
    let token = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|a| a.strip_prefix("Bearer "));
    let Some(token) = token else {
        return err(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "missing bearer token",
        );
    };
    let claims = match jsonwebtoken::decode::<Claims>(token, &st.dec, &st.validation) {
        Ok(d) => d.claims,
        Err(_) => return err(StatusCode::UNAUTHORIZED, "Unauthorized", "invalid token"),
    };
    if !claims.acs_scope.split(',').any(|s| s == "chat") {
        return err(StatusCode::FORBIDDEN, "Forbidden", "missing chat scope");
    }
    let r: SendChatReq = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(_) => return err(StatusCode::BAD_REQUEST, "BadRequest", "invalid body"),
    };
    let ms = since_epoch().as_millis() as u64;
    let id = (ms * 1000 + st.seq.fetch_add(1, Ordering::Relaxed) % 1000).to_string();
    let rec = MessageRec {
        id: id.clone(),
        sender: claims.skypeid,
        content: r.content,
        display_name: r.sender_display_name,
        created: ms,
    };
    st.threads.entry(path.into_inner()).or_default().push(rec);
    HttpResponse::Created().json(json!({"id": id}))
}

async fn sms(req: HttpRequest, body: web::Bytes, st: web::Data<AppState>) -> HttpResponse {
    if let Err(e) = verify_hmac(&req, &body, &st.access_key) {
        return err(StatusCode::UNAUTHORIZED, "Unauthorized", e);
    }
    let r: SendSmsReq = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(_) => return err(StatusCode::BAD_REQUEST, "BadRequest", "invalid body"),
    };
    let now = since_epoch().as_secs();
    let mut value = Vec::with_capacity(r.sms_recipients.len());
    for rcpt in r.sms_recipients {
        let mid = format!("Outgoing_{}_{}_noam", now, Uuid::new_v4());
        value.push(
            json!({"to": rcpt.to, "messageId": mid, "httpStatusCode": 202,
            "repeatabilityResult": "accepted", "successful": true}),
        );
        st.sms.insert(
            mid,
            SmsRec {
                from: r.from.clone(),
                to: rcpt.to,
                message: r.message.clone(),
                created: now,
            },
        );
    }
    HttpResponse::Accepted().json(json!({"value": value}))
}

async fn emails_send(req: HttpRequest, body: web::Bytes, st: web::Data<AppState>) -> HttpResponse {
    if let Err(e) = verify_hmac(&req, &body, &st.access_key) {
        return err(StatusCode::UNAUTHORIZED, "Unauthorized", e);
    }
    let r: SendEmailReq = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(_) => return err(StatusCode::BAD_REQUEST, "BadRequest", "invalid body"),
    };
    let id = Uuid::new_v4().hyphenated().to_string();
    let host = req.connection_info().host().to_string();
    let location = format!("http://{host}/emails/operations/{id}?api-version=2025-09-01");
    st.emails.insert(
        id.clone(),
        EmailRec {
            sender: r.sender_address,
            to: r.recipients.to.into_iter().map(|a| a.address).collect(),
            subject: r.content.subject,
            text: r.content.plain_text,
            created: since_epoch().as_secs(),
        },
    );
    HttpResponse::Accepted()
        .insert_header(("operation-location", location))
        .insert_header(("retry-after", "1"))
        .json(json!({"id": id, "status": "Running"}))
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let key_b64 = std::env::var("ACS_ACCESS_KEY").unwrap_or_else(|_| DEFAULT_ACCESS_KEY_B64.into());
    let access_key = B64
        .decode(key_b64)
        .map_err(|_| std::io::Error::other("ACS_ACCESS_KEY must be base64"))?;
    let mut validation = Validation::new(Algorithm::HS256);
    validation.validate_aud = false;
    let st = web::Data::new(AppState {
        access_key,
        enc: EncodingKey::from_secret(JWT_SECRET),
        dec: DecodingKey::from_secret(JWT_SECRET),
        validation,
        identities: DashMap::new(),
        threads: DashMap::new(),
        sms: DashMap::new(),
        emails: DashMap::new(),
        seq: AtomicU64::new(0),
    });
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(st.clone())
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
