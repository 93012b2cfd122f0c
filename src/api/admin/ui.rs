//! The web inspector: a single-page app embedded in the binary and served under
//! `/_emulator/ui/` (docs/inspector.md).
//!
//! - `GET /` (HTTP listener): redirects to `/_emulator/ui/`.
//! - `GET /_emulator/ui/`, `GET /_emulator/ui/{file}`: the page and its assets (plain HTML, CSS
//!   and ES modules from the repository's `ui/` folder, embedded at build time), with an `ETag`,
//!   `Cache-Control: no-cache` and a strict `Content-Security-Policy`. Open even with
//!   `--control-token`: they hold no data; every data call the page makes needs the token.
//! - `POST /_emulator/ui/login`, `/logout`: with `--control-token`, trades the token for an
//!   `HttpOnly; SameSite=Strict` cookie that the control API accepts in place of the header.
//! - `GET /_emulator/ui/stream`: Server-Sent Events telling the page what changed (see
//!   [`stream`]).
//! - `GET /_emulator/ui/emails/{id}/html`: an email's HTML body, for a sandboxed iframe, under a
//!   CSP that blocks scripts and every network fetch.
//!
//! `--no-ui` answers 404 on all of them (the control API stays).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use super::resource_or_default;
use crate::auth::control_token_matches;
use crate::error::ApiError;
use crate::http::AcsJson;
use crate::http::extract::decoded_segment;
use crate::state::AppState;
use crate::store::{Area, Change, ChatChangeKind, Committed};

/// The cookie the login sets; [`crate::http::auth::control`] accepts it.
use crate::http::auth::CONTROL_COOKIE as COOKIE;

/// The inspector's own pages: scripts and styles only from the emulator, no inline script, no
/// framing by others; frames only from the emulator (the email view).
const PAGE_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; frame-src 'self'; object-src 'none'; \
    base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// An email's HTML: no script, no network (images only as `data:`/`cid:`), its own styles.
const EMAIL_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data: cid:; \
    font-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'self'; sandbox";

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

macro_rules! asset {
    ($name:literal, $type:expr) => {
        Asset {
            name: $name,
            content_type: $type,
            body: include_str!(concat!("../../../ui/", $name)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file the page loads.
const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("app.js", JS),
    asset!("lib.js", JS),
    asset!("pages.js", JS),
    asset!("favicon.svg", "image/svg+xml"),
];

/// 404 when `--no-ui` is set.
fn enabled(state: &AppState) -> Result<(), ApiError> {
    if state.settings.config.control.no_ui {
        return Err(ApiError::NotFound(
            "The web inspector is turned off (--no-ui).".into(),
        ));
    }
    Ok(())
}

/// The headers every inspector response carries.
fn hardened(builder: &mut actix_web::HttpResponseBuilder, csp: &'static str) {
    builder
        .insert_header((header::CONTENT_SECURITY_POLICY, csp))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"));
}

/// `GET /`: to the inspector, on the HTTP listener; otherwise the trouter's probe answer.
pub async fn root(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    // The browser Chat SDK probes its trouter's root (`GET /?check=…`, on HTTPS): that answer
    // wins everywhere but a plain visit to the HTTP listener with the inspector on.
    if enabled(&state).is_err() || req.app_config().secure() || !req.query_string().is_empty() {
        return Ok(crate::api::realtime::probe());
    }
    Ok(HttpResponse::Found()
        .insert_header((header::LOCATION, "/_emulator/ui/"))
        .finish())
}

/// `GET /_emulator/ui`: to `/_emulator/ui/`, so relative asset links resolve.
pub async fn ui_no_slash(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    enabled(&state)?;
    Ok(HttpResponse::MovedPermanently()
        .insert_header((header::LOCATION, "/_emulator/ui/"))
        .finish())
}

/// `GET /_emulator/ui/`: the page.
pub async fn index(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    enabled(&state)?;
    serve(&req, "index.html")
}

/// `GET /_emulator/ui/{file}`: one asset.
pub async fn asset(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    enabled(&state)?;
    let name = decoded_segment(&req, "file");
    serve(&req, &name)
}

/// A strong validator for an embedded file: FNV-1a of its bytes and the version.
fn etag(asset: &Asset) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in env!("CARGO_PKG_VERSION").bytes().chain(asset.body.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("\"{hash:016x}\"")
}

fn serve(req: &HttpRequest, name: &str) -> Result<HttpResponse, ApiError> {
    let Some(asset) = ASSETS.iter().find(|a| a.name == name) else {
        return Err(ApiError::NotFound(format!(
            "The inspector has no file '{name}'."
        )));
    };
    let tag = etag(asset);
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag || t.trim() == "*"));
    let mut builder = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    hardened(&mut builder, PAGE_CSP);
    builder
        .insert_header((header::ETAG, tag))
        .insert_header((header::CACHE_CONTROL, "no-cache"));
    if fresh {
        return Ok(builder.finish());
    }
    Ok(builder
        .insert_header((header::CONTENT_TYPE, asset.content_type))
        .body(asset.body))
}

/// `POST /_emulator/ui/login`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    /// The `--control-token`.
    token: String,
}

/// The longest token a login accepts.
const MAX_TOKEN: usize = 4096;

/// `POST /_emulator/ui/login`: the token for a cookie. 204, or 401 for a wrong token; 400 when
/// no token is configured (nothing to log in to).
pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    AcsJson(body): AcsJson<Login>,
) -> Result<HttpResponse, ApiError> {
    enabled(&state)?;
    crate::http::auth::same_origin(&req)?;
    let Some(expected) = state.settings.config.control.control_token.as_deref() else {
        return Err(ApiError::validation(
            "The emulator has no --control-token: the inspector needs no login.",
            "token",
        ));
    };
    if body.token.len() > MAX_TOKEN || !control_token_matches(&body.token, expected) {
        return Err(ApiError::Unauthorized(
            "That is not the emulator's --control-token.".into(),
        ));
    }
    // The token is checked above: a valid header value (no spaces at either end, see config).
    let secure = if req.app_config().secure() {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{COOKIE}={}; Path=/_emulator; HttpOnly; SameSite=Strict{secure}",
        cookie_value(&body.token)
    );
    let cookie = HeaderValue::from_str(&cookie)
        .map_err(|_| ApiError::validation("The token cannot be carried in a cookie.", "token"))?;
    Ok(HttpResponse::NoContent()
        .insert_header((header::SET_COOKIE, cookie))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}

/// `POST /_emulator/ui/logout`: forgets the cookie. 204.
pub async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    enabled(&state)?;
    crate::http::auth::same_origin(&req)?;
    Ok(HttpResponse::NoContent()
        .insert_header((
            header::SET_COOKIE,
            format!("{COOKIE}=; Path=/_emulator; HttpOnly; SameSite=Strict; Max-Age=0"),
        ))
        .finish())
}

/// A token as a cookie value: percent-encoded outside the characters RFC 6265 allows bare.
pub fn cookie_value(token: &str) -> String {
    percent_encoding::utf8_percent_encode(token, COOKIE_SET).to_string()
}

const COOKIE_SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// At most this many live streams at once (a browser tab holds one).
pub const MAX_STREAMS: usize = 16;
/// How often an idle stream sends a comment, so a closed tab is noticed.
const HEARTBEAT: Duration = Duration::from_secs(10);
/// How often the journal's newest sequence number is looked at.
const JOURNAL_TICK: Duration = Duration::from_millis(250);

static STREAMS: AtomicUsize = AtomicUsize::new(0);

/// One open stream's place under [`MAX_STREAMS`].
struct StreamSlot;

impl StreamSlot {
    fn take() -> Option<Self> {
        STREAMS
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_STREAMS).then_some(n + 1)
            })
            .ok()
            .map(|_| StreamSlot)
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        STREAMS.fetch_sub(1, Ordering::AcqRel);
    }
}

/// While a stream is open the journal keeps request and response bodies.
struct Watching(web::Data<AppState>);

impl Watching {
    fn start(state: &web::Data<AppState>) -> Self {
        state.journal.watch();
        Self(state.clone())
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        self.0.journal.unwatch();
    }
}

fn area_name(area: Area) -> &'static str {
    match area {
        Area::Chat => "chat",
        Area::Sms => "sms",
        Area::Email => "email",
        Area::Numbers => "numbers",
        Area::Rooms => "rooms",
        Area::Identity => "identities",
        Area::Reset => "reset",
        Area::Clock => "clock",
        Area::Control => "control",
    }
}

/// What the stream tells the page next.
enum Next {
    Change(Area, String),
    Typing(serde_json::Value),
    Requests,
    Events,
    Resync,
    Heartbeat,
    Closed,
}

/// A typing notification as the stream's `typing` message: it changes nothing stored, so the
/// page shows it from the stream alone (and only while the stream is open).
fn typing(committed: &Committed) -> Option<Next> {
    let Change::Chat(chat) = &committed.change else {
        return None;
    };
    let ChatChangeKind::Typing {
        sender_display_name,
    } = &chat.kind
    else {
        return None;
    };
    Some(Next::Typing(serde_json::json!({
        "resource": committed.resource,
        "threadId": chat.thread.props.id.to_string(),
        "sender": chat.by.to_string(),
        "senderDisplayName": sender_display_name,
        "at": chat.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    })))
}

/// `GET /_emulator/ui/stream`: `text/event-stream`. Each message names what changed, the page
/// fetches it through the control API:
/// - `event: change`, `data: {"area":"sms|email|chat","resource":NAME}` for every committed
///   store write (from the change sink's live subscription);
/// - `event: typing`, `data: {"resource","threadId","sender","senderDisplayName","at"}` for a
///   chat typing notification (instead of `change`: nothing stored changed);
/// - `event: requests` when the journal has new entries; `event: events` when event records
///   changed; `event: resync` when this stream fell behind the sink's buffer (fetch everything);
/// - a comment every 10 s.
///
/// The stream holds one receiver of the sink's bounded broadcast channel and yields one message
/// at a time (nothing queues per connection beyond that channel); at most [`MAX_STREAMS`] are
/// open at once (503 past that). While none is open, store writes build no records for it. While
/// one is open, the journal keeps the first 8 KiB of each request's and response's body.
pub async fn stream(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    enabled(&state)?;
    let Some(slot) = StreamSlot::take() else {
        return Err(ApiError::ConnectionBusy(format!(
            "At most {MAX_STREAMS} inspector streams may be open at once."
        )));
    };
    let slot = (slot, Watching::start(&state));
    let receiver = state.changes.subscribe();
    let journal_seq = state.journal.last_seq();
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut journal_tick = tokio::time::interval(JOURNAL_TICK);
    journal_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let first = web::Bytes::from_static(b"retry: 1000\nevent: hello\ndata: {}\n\n");
    let init = (state, receiver, journal_seq, heartbeat, journal_tick, slot);
    let rest = futures_util::stream::unfold(
        init,
        |(state, mut receiver, mut seq, mut heartbeat, mut tick, slot)| async move {
            let next = tokio::select! {
                got = receiver.recv() => match got {
                    Ok(committed) => typing(&committed)
                        .unwrap_or_else(|| Next::Change(committed.change.area(), committed.resource.clone())),
                    Err(RecvError::Lagged(_)) => Next::Resync,
                    Err(RecvError::Closed) => Next::Closed,
                },
                () = state.events.changed() => Next::Events,
                _ = heartbeat.tick() => Next::Heartbeat,
                _ = async {
                    loop {
                        tick.tick().await;
                        let now = state.journal.last_seq();
                        if now != seq {
                            seq = now;
                            break;
                        }
                    }
                } => Next::Requests,
            };
            let text = match next {
                Next::Closed => return None,
                Next::Change(area, resource) => format!(
                    "event: change\ndata: {}\n\n",
                    serde_json::json!({"area": area_name(area), "resource": resource})
                ),
                Next::Typing(data) => format!("event: typing\ndata: {data}\n\n"),
                Next::Requests => "event: requests\ndata: {}\n\n".to_owned(),
                Next::Events => "event: events\ndata: {}\n\n".to_owned(),
                Next::Resync => "event: resync\ndata: {}\n\n".to_owned(),
                Next::Heartbeat => ": ping\n\n".to_owned(),
            };
            Some((
                Ok::<_, actix_web::Error>(web::Bytes::from(text)),
                (state, receiver, seq, heartbeat, tick, slot),
            ))
        },
    );
    let body = futures_util::stream::iter([Ok::<_, actix_web::Error>(first)]);
    let mut builder = HttpResponse::Ok();
    hardened(&mut builder, PAGE_CSP);
    Ok(builder
        .insert_header((header::CONTENT_TYPE, "text/event-stream"))
        .insert_header((header::CACHE_CONTROL, "no-cache, no-store"))
        .insert_header(("x-accel-buffering", "no"))
        .streaming(futures_util::StreamExt::chain(body, rest)))
}

/// `GET /_emulator/ui/emails/{id}/html`: the email's HTML body for the inspector's sandboxed
/// iframe (404 when it has none).
pub async fn email_html(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    enabled(&state)?;
    let resource = resource_or_default(&state, &req)?;
    let id = decoded_segment(&req, "email_id");
    let email = resource.store.email.message(&id)?;
    let Some(html) = email.html.as_deref() else {
        return Err(ApiError::NotFound(format!(
            "The email '{id}' has no HTML body."
        )));
    };
    let html = inline_images(html, &email.attachments);
    let mut builder = HttpResponse::build(StatusCode::OK);
    builder
        .insert_header((header::CONTENT_SECURITY_POLICY, EMAIL_CSP))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_FRAME_OPTIONS, "SAMEORIGIN"))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    Ok(builder
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .body(html))
}

/// Inline images only up to this size are shown (as `data:` URLs).
const MAX_INLINE_IMAGE: usize = 1024 * 1024;

/// `cid:` links to the email's own inline images, as `data:` URLs (the frame may load nothing
/// else). Only `image/*` attachments with a content id, each at most [`MAX_INLINE_IMAGE`].
fn inline_images(html: &str, attachments: &[crate::store::Attachment]) -> String {
    use base64::Engine;
    let mut html = html.to_owned();
    for a in attachments {
        let Some(cid) = a.content_id.as_deref() else {
            continue;
        };
        let image = a.content_type.starts_with("image/")
            && a.content_type.bytes().all(|b| b.is_ascii_graphic());
        if !image || a.content.len() > MAX_INLINE_IMAGE || cid.is_empty() {
            continue;
        }
        let url = format!(
            "data:{};base64,{}",
            a.content_type,
            base64::engine::general_purpose::STANDARD.encode(&a.content)
        );
        for quote in ['"', '\''] {
            html = html.replace(
                &format!("{quote}cid:{cid}{quote}"),
                &format!("{quote}{url}{quote}"),
            );
        }
    }
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_is_embedded_once_with_a_type() {
        let mut names = std::collections::HashSet::new();
        for asset in ASSETS {
            assert!(names.insert(asset.name), "{}", asset.name);
            assert!(!asset.body.is_empty(), "{}", asset.name);
            assert_eq!(etag(asset), etag(asset));
        }
        // No inline script anywhere in the page: the CSP would refuse it.
        let index = ASSETS
            .iter()
            .find(|a| a.name == "index.html")
            .expect("index");
        assert!(!index.body.contains("<script>"));
        assert!(!index.body.contains(" onclick="), "no inline handlers");
    }

    #[test]
    fn inline_images_become_data_urls() {
        let png = crate::store::Attachment {
            name: "logo.png".into(),
            content_type: "image/png".into(),
            content_id: Some("logo".into()),
            content: vec![1, 2, 3],
        };
        let pdf = crate::store::Attachment {
            name: "a.pdf".into(),
            content_type: "application/pdf".into(),
            content_id: Some("doc".into()),
            content: vec![4],
        };
        let html = inline_images(r#"<img src="cid:logo"><img src='cid:doc'>"#, &[png, pdf]);
        assert_eq!(
            html,
            r#"<img src="data:image/png;base64,AQID"><img src='cid:doc'>"#
        );
    }

    #[test]
    fn cookie_values_are_escaped() {
        assert_eq!(cookie_value("abc-DEF_1.2~"), "abc-DEF_1.2~");
        assert_eq!(cookie_value("a;b c"), "a%3Bb%20c");
    }

    #[test]
    fn streams_are_capped_and_give_their_place_back() {
        let held: Vec<_> = std::iter::from_fn(StreamSlot::take)
            .take(MAX_STREAMS + 1)
            .collect();
        assert!(held.len() <= MAX_STREAMS);
        drop(held);
        assert!(StreamSlot::take().is_some());
    }
}
