//! The HTTP surface: one module per API area, each with its own `configure`.
//!
//! Shared request plumbing lives here: api-version negotiation, JSON body parsing into the ACS
//! error envelope, the 404/405 fallbacks and the standard response headers.

pub mod admin;
pub mod admin_clock;
pub mod admin_events;
pub mod admin_inspect;
pub mod admin_query;
pub mod admin_scenarios;
pub mod admin_sms;
pub mod body;
pub mod chat;
pub mod entra;
pub mod faults;
pub mod identity;
pub mod scenario_mw;
pub mod sms;
pub mod sms_extras;
pub mod validation;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, Resource, web};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Mounts every API area and the fallbacks.
pub fn configure(cfg: &mut web::ServiceConfig) {
    admin::configure(cfg);
    chat::configure(cfg);
    identity::configure(cfg);
    sms::configure(cfg);
    // Last: its `/{tenant}/…` patterns must not shadow the fixed routes above.
    entra::configure(cfg);
}

/// Finds the request's `api-version` and checks it against the operation's supported versions.
///
/// Missing → 400 `ApiVersionUnspecified`; not supported by this operation → 400
/// `InvalidApiVersion`, with the real service's messages.
pub fn api_version(
    req: &HttpRequest,
    supported: &[&'static str],
) -> Result<&'static str, ApiError> {
    let query = req.uri().query().unwrap_or("");
    let requested = form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k.eq_ignore_ascii_case("api-version"))
        .map(|(_, v)| v.into_owned());
    let Some(requested) = requested.filter(|v| !v.is_empty()) else {
        return Err(ApiError::ApiVersionUnspecified);
    };
    supported
        .iter()
        .find(|v| v.eq_ignore_ascii_case(requested.trim()))
        .copied()
        .ok_or_else(|| ApiError::InvalidApiVersion {
            uri: req.uri().to_string(),
            version: requested,
        })
}

/// Parses a JSON request body. An empty body gives `T::default()` when `empty_ok`, else a 400.
/// A body with a non-JSON `Content-Type` gets 415.
pub fn json_body<T: DeserializeOwned + Default>(
    req: &HttpRequest,
    body: &[u8],
    empty_ok: bool,
) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return if empty_ok {
            Ok(T::default())
        } else {
            Err(ApiError::invalid_body("The request body is required."))
        };
    }
    if let Some(content_type) = req.headers().get(header::CONTENT_TYPE) {
        let content_type = content_type.to_str().unwrap_or("").to_ascii_lowercase();
        let essence = content_type.split(';').next().unwrap_or("").trim();
        let is_json =
            essence == "application/json" || essence.ends_with("+json") || essence == "text/json";
        if !is_json {
            return Err(ApiError::UnsupportedMediaType(essence.to_string()));
        }
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::invalid_body(format!(
            "The request body is not valid JSON for this operation: {e}."
        ))
    })
}

/// The scheme and host (`host[:port]`) a client used to reach the emulator, for URLs the
/// emulator hands out (the Entra ID authority's issuer and endpoints, Chat's `nextLink`, the
/// control API's connection strings): the listener's scheme and the host the request addresses
/// (HTTP/2 `:authority`, else `Host`). Only with `--trust-forwarded-headers` do a reverse
/// proxy's `Forwarded` / `X-Forwarded-Host` / `X-Forwarded-Proto` headers count: anyone can send
/// them, and a forged host would put the forger's URL into tokens' issuer and into links.
pub fn origin(req: &HttpRequest) -> (String, String) {
    let trust = req
        .app_data::<web::Data<crate::startup::AppState>>()
        .is_some_and(|s| s.settings.config.tokens.trust_forwarded_headers);
    if trust {
        let info = req.connection_info();
        return (info.scheme().to_string(), info.host().to_string());
    }
    let scheme = if req.app_config().secure() {
        "https"
    } else {
        "http"
    };
    let host = crate::resource::request_host(req.uri(), req.headers())
        .map(str::to_string)
        .unwrap_or_else(|| req.app_config().host().to_string());
    (scheme.to_string(), host)
}

/// A JSON response with the real service's success content type.
pub fn json_response(
    status: actix_web::http::StatusCode,
    body: &impl Serialize,
) -> Result<HttpResponse, ApiError> {
    let bytes = serde_json::to_vec(body).map_err(|e| ApiError::Internal(e.into()))?;
    Ok(HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, "application/json; charset=utf-8"))
        .body(bytes))
}

/// A resource whose unsupported methods answer 405 with the envelope.
pub fn resource(path: &str) -> Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

async fn method_not_allowed(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed(req.method().to_string()))
}

/// The fallback for unknown routes: 404 with the envelope.
pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound(format!(
        "No operation matches {} {}.",
        req.method(),
        req.path()
    )))
}

/// The one App-level middleware (one layer: each `from_fn` layer boxes a future per request).
/// For every request, outermost first:
/// - the headers the real service sends on every response: `MS-CV`, and the client's
///   `x-ms-client-request-id` echoed back;
/// - the access-log line ([`crate::telemetry::access`]);
/// - the journal entry of a data-plane request ([`scenario_mw::JournalEntry`]), recorded once the
///   response is built, whatever answered it;
/// - the per-request [`limits`].
pub async fn edge(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::EitherBody<impl MessageBody>>, actix_web::Error> {
    let started = std::time::Instant::now();
    let client_request_id = req.headers().get("x-ms-client-request-id").cloned();
    let Some(state) = req
        .app_data::<web::Data<crate::startup::AppState>>()
        .cloned()
    else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    let entry = scenario_mw::JournalEntry::begin(&state, &req);
    let mut res = match limits(&state, req).await {
        Ok((req, held)) => {
            let res = next.call(req).await?.map_into_left_body();
            drop(held);
            res
        }
        Err(refused) => refused.map_into_right_body(),
    };
    if let Some(entry) = entry {
        entry.finish(&state, &res);
    }
    let status = res.status().as_u16();
    let headers = res.headers_mut();
    if let Some(id) = client_request_id {
        headers.insert(HeaderName::from_static("x-ms-client-request-id"), id);
    }
    let mut buf = uuid::Uuid::encode_buffer();
    let correlation = uuid::Uuid::new_v4().simple().encode_lower(&mut buf);
    if let Ok(cv) = HeaderValue::from_str(correlation) {
        headers.insert(HeaderName::from_static("ms-cv"), cv);
    }
    let request = res.request();
    crate::telemetry::access(
        state.settings.config.logging.log_format,
        request.method().as_str(),
        request.path(),
        status,
        started.elapsed(),
        correlation,
    );
    Ok(res)
}

/// Per-request limits, for every route; a request within them is handed back, with its body
/// buffered, else the refusal:
/// - a head (request line and headers) larger than `--max-header-bytes` answers 431 with the
///   envelope (actix-web itself closes connections whose head passes 128 KiB or 96 headers);
/// - a `Host` header that names another host than the URI's authority (HTTP/2 `:authority`)
///   answers 400 (RFC 9113 §8.3.1 calls such a request malformed);
/// - more than `--max-concurrent-streams` requests in flight on one connection answer 503;
/// - a body is read in full within `--request-body-timeout`, else 408 with the envelope (over
///   HTTP/1 the connection is closed; over HTTP/2 the stream is reset), within the size and
///   per-connection limits of [`body::read`], and decoded once. Handlers and the auth middleware
///   then read the buffered body.
///
/// The returned guards hold the request's place on its connection until it is answered.
async fn limits(
    state: &crate::startup::AppState,
    mut req: ServiceRequest,
) -> Result<(ServiceRequest, Held), ServiceResponse> {
    use actix_web::ResponseError;
    let config = &state.settings.config;
    let size = head_size(&req);
    if size > config.limits.max_header_bytes {
        let err = ApiError::HeadersTooLarge {
            size,
            limit: config.limits.max_header_bytes,
        };
        return Err(req.into_response(err.error_response()));
    }
    if let Some((host, authority)) =
        crate::resource::host_disagrees(req.uri(), req.headers(), req.app_config().secure())
    {
        let err = ApiError::BadRequest {
            code: "InvalidHeaderValue",
            message: format!(
                "The Host header '{host}' names another host than the request's authority '{authority}'."
            ),
        };
        return Err(req.into_response(err.error_response()));
    }
    let in_flight = match body::enter(&req, config.limits.max_concurrent_streams) {
        Ok(guard) => guard,
        Err(err) => return Err(req.into_response(err.error_response())),
    };
    let mut held = Held {
        _in_flight: in_flight,
        _body: body::Reservation::default(),
    };
    if body::may_have_body(&req) {
        let timeout = config.limits.request_body_timeout;
        let limits = body::Limits {
            max_body: config.limits.max_body_bytes,
            connection_budget: config.limits.max_connection_body_bytes,
        };
        match tokio::time::timeout(timeout, body::read(&mut req, &limits)).await {
            Ok(Ok((body, reservation))) => {
                req.extensions_mut().insert(BufferedBody(body));
                held._body = reservation;
            }
            Ok(Err(err)) => {
                let mut res = err.error_response();
                if req.version() != actix_web::http::Version::HTTP_2
                    && req.headers().contains_key(header::TRANSFER_ENCODING)
                {
                    // The rest of a chunked body may still be on its way.
                    res.head_mut()
                        .set_connection_type(actix_web::http::ConnectionType::Close);
                }
                return Err(req.into_response(res));
            }
            Err(_elapsed) => {
                let err = ApiError::RequestTimeout(timeout.as_secs());
                let mut res = err.error_response();
                // Over HTTP/2, answering the stream before its body ended resets it; the
                // connection's other streams go on.
                if req.version() != actix_web::http::Version::HTTP_2 {
                    // The rest of the body may still be on its way: do not reuse this connection.
                    res.head_mut()
                        .set_connection_type(actix_web::http::ConnectionType::Close);
                    // actix-web closes it by itself only when the body had a Content-Length; a
                    // stalled chunked body would keep the socket open until the client gave up.
                    if let Some(socket) = req.conn_data::<faults::ConnSocket>() {
                        socket.close_after(std::time::Duration::from_millis(200));
                    }
                }
                return Err(req.into_response(res));
            }
        }
    }
    Ok((req, held))
}

/// What a request holds on its connection until it is answered (see [`limits`]).
struct Held {
    _in_flight: Option<body::InFlight>,
    _body: body::Reservation,
}

/// The body [`limits`] buffered (request extensions), decoded: middleware that needs the bytes
/// (access-key auth, scenario rules) reads them here and leaves the payload to the handler,
/// instead of extracting and re-queueing another copy.
#[derive(Debug, Clone)]
pub struct BufferedBody(pub web::Bytes);

/// The size of a request head as HTTP/1.1 writes it: request line, `name: value\r\n` per header.
fn head_size(req: &ServiceRequest) -> usize {
    let line = req.method().as_str().len()
        + req.uri().path_and_query().map_or(1, |pq| pq.as_str().len())
        + 12;
    req.headers().iter().fold(line, |sum, (name, value)| {
        sum.saturating_add(name.as_str().len() + value.len() + 4)
    })
}
