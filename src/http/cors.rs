//! Cross-origin requests from browser pages, answered as the real service answers them: a
//! preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) on any path gets 204
//! with the `Origin` and the requested method and headers echoed, before authentication and
//! routing; every other response to a request with an `Origin` carries
//! `Access-Control-Allow-Origin` (the `Origin` echoed) and exposes the headers the SDKs read.
//! Requests carry no credentials (cookies), so nothing else is needed for a page on any origin.
//! A request without `Origin` (not a cross-origin browser request: SDKs in Node, Python, curl)
//! gets no CORS headers but `Vary: Origin`, so that no cache hands its answer to a page.

use actix_web::HttpResponse;
use actix_web::dev::ServiceRequest;
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::http::{Method, StatusCode};

/// The response headers a browser script may read: the ones the SDKs read (challenges,
/// long-running operations, retries, correlation, versions, repeatability).
pub const EXPOSED_HEADERS: &str = "www-authenticate, location, operation-location, retry-after, \
     retry-after-ms, x-ms-retry-after-ms, x-ms-client-request-id, ms-cv, x-ms-request-id, \
     api-supported-versions, operation-id, repeatability-result, request-context, content-type, \
     content-length, etag, date";

/// The methods a preflight is told are allowed when it names one the emulator does not route.
const METHODS: &str = "GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS";

/// How long a browser may cache a preflight's answer.
const MAX_AGE_SECONDS: &str = "600";

/// The 204 of a CORS preflight, or `None` when `req` is not one (an `OPTIONS` without `Origin`
/// and `Access-Control-Request-Method` is routed like any request).
pub fn preflight(req: &ServiceRequest) -> Option<HttpResponse> {
    if req.method() != Method::OPTIONS {
        return None;
    }
    let headers = req.headers();
    let origin = headers.get(header::ORIGIN)?.clone();
    let method = headers.get(header::ACCESS_CONTROL_REQUEST_METHOD)?.clone();
    let mut res = HttpResponse::build(StatusCode::NO_CONTENT);
    res.insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin))
        .insert_header((header::VARY, "Origin"))
        .insert_header((
            header::ACCESS_CONTROL_ALLOW_METHODS,
            if method.is_empty() {
                HeaderValue::from_static(METHODS)
            } else {
                method
            },
        ))
        .insert_header((header::ACCESS_CONTROL_MAX_AGE, MAX_AGE_SECONDS));
    if let Some(requested) = headers.get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        && !requested.is_empty()
    {
        res.insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, requested.clone()));
    }
    // A Private Network Access preflight (a page on a public origin calling the emulator on a
    // private address) is not granted: browsers that enforce it keep public web sites away from
    // a developer's emulator.
    Some(res.finish())
}

/// Adds the CORS response headers to any answer (errors included) to a request with an
/// `Origin`: the `Origin` echoed and the headers a script may read; and `Vary: Origin` to every
/// answer. (Only browsers enforce CORS, and they send `Origin` on every cross-origin request;
/// sparing the two headers elsewhere spares every SDK request their cost.)
pub fn decorate(headers: &mut HeaderMap, origin: Option<HeaderValue>) {
    if let Some(allow) = origin {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow);
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSED_HEADERS),
        );
    }
    if !headers.contains_key(header::VARY) {
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    }
}
