//! The HTTP side of long-running operations (`store::lro`): the `Operation-Location`,
//! `Location` and `retry-after` headers, built once for every service that has LROs.
//!
//! Services differ in how they link to an operation's status ([`LroLinks`]): Email answers an
//! absolute `Operation-Location` on the host the client called (the Python SDK polls it
//! verbatim, so it carries the `api-version`); Phone Numbers answers a relative one plus
//! `Location`. `retry-after` is always whole seconds and at least 1 (`Lro::retry_after`), only
//! while the operation is unfinished.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Serialize;

use super::response::origin;
use crate::error::ApiError;

/// How a service links to an operation's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LroLinks {
    /// `Operation-Location` as an absolute URL on the host the client called (else a path).
    pub absolute: bool,
    /// Send `Location` too, with the same link.
    pub location: bool,
}

/// What may stay unencoded in an id in a path: RFC 3986 unreserved characters.
const ID: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The link to an operation's status: `path_prefix` + the id (percent-encoded) + `query` (its
/// pieces one after the other, e.g. `["?api-version=", version]`), absolute on the request's own
/// scheme and host when `links` says so.
pub fn status_link(
    req: &HttpRequest,
    links: LroLinks,
    path_prefix: &str,
    id: &str,
    query: &[&str],
) -> String {
    let mut link = String::with_capacity(128);
    if links.absolute {
        let (scheme, host) = origin(req);
        link.push_str(&scheme);
        link.push_str("://");
        link.push_str(&host);
    }
    link.push_str(path_prefix);
    link.extend(utf8_percent_encode(id, ID));
    link.extend(query.iter().copied());
    link
}

/// A JSON answer about an operation: `status` and `body`, with `Operation-Location` (and
/// `Location`) when `link` is given, and `retry-after` when the operation is unfinished.
pub fn respond(
    status: StatusCode,
    body: &impl Serialize,
    link: Option<(LroLinks, String)>,
    retry_after: Option<u64>,
) -> Result<HttpResponse, ApiError> {
    let mut res = super::json_response(status, body)?;
    let headers = res.headers_mut();
    if let Some((links, link)) = link {
        // The link's own bytes become the header value (no copy; a clone for `Location` shares them).
        let value = HeaderValue::from_maybe_shared(Bytes::from(link))
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("operation link: {e}")))?;
        headers.insert(HeaderName::from_static("operation-location"), value.clone());
        if links.location {
            headers.insert(header::LOCATION, value);
        }
    }
    if let Some(secs) = retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
    }
    Ok(res)
}
