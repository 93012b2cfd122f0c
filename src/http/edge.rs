//! The one App-level middleware, [`edge`]: standard response headers, the access log, the
//! journal and the per-request limits (the body is read here, once).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, web};

use super::body::{self, BufferedBody};
use super::faults;
use crate::error::ApiError;

/// The one App-level middleware (one layer: each `from_fn` layer boxes a future per request).
/// For every request, outermost first:
/// - the headers the real service sends on every response: `MS-CV`, and the client's
///   `x-ms-client-request-id` echoed back;
/// - the access-log line ([`crate::telemetry::access`]);
/// - the journal entry of a data-plane request ([`super::scenario::JournalEntry`]), recorded once the
///   response is built, whatever answered it;
/// - the per-request limits (`limits`);
/// - CORS: a preflight is answered here, before anything else; every other response gets
///   `Access-Control-Allow-Origin` and the exposed headers ([`super::cors`]).
pub async fn edge(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::EitherBody<impl MessageBody>>, actix_web::Error> {
    let started = std::time::Instant::now();
    let client_request_id = req.headers().get("x-ms-client-request-id").cloned();
    let Some(state) = req.app_data::<web::Data<crate::state::AppState>>().cloned() else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    let origin = req.headers().get(header::ORIGIN).cloned();
    // A CORS preflight is answered before authentication and routing (and is not journaled).
    let head = head_size(&req);
    if head <= state.settings.config.limits.max_header_bytes
        && let Some(answer) = super::cors::preflight(&req)
    {
        let res = req.into_response(answer).map_into_right_body();
        let request = res.request();
        crate::telemetry::access(
            state.settings.config.logging.log_format,
            request.method().as_str(),
            request.path(),
            || None,
            res.status().as_u16(),
            started.elapsed(),
            "",
        );
        return Ok(res);
    }
    let entry = super::scenario::JournalEntry::begin(&state, &req);
    let mut res = match limits(&state, req, head).await {
        Ok((req, held)) => {
            let res = next.call(req).await?.map_into_left_body();
            drop(held);
            res
        }
        Err(refused) => refused.map_into_right_body(),
    };
    if let Some(entry) = entry {
        // Bodies only while a live view watches the journal: a whole response is moved into
        // a body of its own bytes (one reference-counted copy), a streamed one is left alone.
        let response_body = if state.journal.watched() {
            let mut captured = None;
            res = res.map_body(|_, body| match body.try_into_bytes() {
                Ok(bytes) => {
                    captured = Some(bytes.clone());
                    actix_web::body::EitherBody::right(actix_web::body::BoxBody::new(bytes))
                }
                Err(body) => body,
            });
            Some(captured)
        } else {
            None
        };
        entry.finish(&state, &res, response_body);
    }
    let status = res.status().as_u16();
    let headers = res.headers_mut();
    if let Some(id) = client_request_id {
        headers.insert(HeaderName::from_static("x-ms-client-request-id"), id);
    }
    super::cors::decorate(headers, origin);
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
        || super::operation::Matched::resolve(request).and_then(|m| m.data_plane_name()),
        status,
        started.elapsed(),
        correlation,
    );
    Ok(res)
}

/// Per-request limits, for every route (`size`: the request's [`head_size`]); a request within
/// them is handed back, with its body buffered, else the refusal:
/// - a head (request line and headers) larger than `--max-header-bytes` answers 431 with the
///   envelope (actix-web itself closes connections whose head passes 128 KiB or 96 headers);
/// - a `Host` header that names another host than the URI's authority (HTTP/2 `:authority`)
///   answers 400 (RFC 9113 §8.3.1 calls such a request malformed);
/// - more than `--max-concurrent-streams` requests in flight on one connection answer 503;
/// - a body is read in full within `--request-body-timeout`, else 408 with the envelope (over
///   HTTP/1 the connection is closed; over HTTP/2 the stream is reset), within the size and
///   per-connection limits of [`body::read`] (`--max-body-bytes`, or the operation's own limit:
///   [`super::operation::Operation::with_body_limit`]), and decoded once. Handlers and the auth middleware
///   then read the buffered body.
///
/// The returned guards hold the request's place on its connection until it is answered.
async fn limits(
    state: &crate::state::AppState,
    mut req: ServiceRequest,
    size: usize,
) -> Result<(ServiceRequest, Held), ServiceResponse> {
    use actix_web::ResponseError;
    let config = &state.settings.config;
    if size > config.limits.max_header_bytes {
        let err = ApiError::HeadersTooLarge {
            size,
            limit: config.limits.max_header_bytes,
        };
        return Err(req.into_response(err.error_response()));
    }
    if let Some((host, authority)) =
        super::host::host_disagrees(req.uri(), req.headers(), req.app_config().secure())
    {
        let err = ApiError::host_mismatch(&host, &authority);
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
        // An operation may take larger bodies (Email sends), but never more than one
        // connection's budget: past that it would get a 503, which clients retry.
        let max_body = req
            .app_data::<web::Data<super::operation::OperationIndex>>()
            .and_then(|index| index.body_limit(req.method(), req.path(), &config.limits))
            .map_or(config.limits.max_body_bytes, |limit| {
                limit.min(config.limits.max_connection_body_bytes)
            });
        let limits = body::Limits {
            max_body,
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

/// The size of a request head as HTTP/1.1 writes it: request line, `name: value\r\n` per header.
fn head_size(req: &ServiceRequest) -> usize {
    let line = req.method().as_str().len()
        + req.uri().path_and_query().map_or(1, |pq| pq.as_str().len())
        + 12;
    req.headers().iter().fold(line, |sum, (name, value)| {
        sum.saturating_add(name.as_str().len() + value.len() + 4)
    })
}
