//! Reading request bodies within bounds, once, for every route ([`super::edge::edge`] calls
//! [`read`]).
//!
//! - A body is read in full before routing, within `--request-body-timeout`, and at most
//!   `--max-body-bytes` of it (413 past that). Over HTTP/2 every request is read this way, since
//!   a stream may carry a body without `content-length`.
//! - Each connection has a budget of `--max-connection-body-bytes` for the bodies of all its
//!   requests in flight together (HTTP/2 multiplexes many on one connection): a chunk that would
//!   pass it ends that request with 503 and `Retry-After`, and the bytes go back to the budget when
//!   the request is answered. With `--max-concurrent-streams` requests in flight per connection
//!   (more get the same 503 at once, before their bodies are read), what one connection can make
//!   the emulator hold is bounded by these two numbers plus the HTTP/2 receive window
//!   (actix-web's default, 2 MiB per connection).
//! - `Content-Encoding: gzip` (or `x-gzip`, `deflate`) bodies are decoded here, once, with the
//!   decoded size bounded by `--max-body-bytes` too (a "zip bomb" gets 413); the header is then
//!   removed, so that nothing decodes them again. The bytes as sent are kept as [`SignedBody`]:
//!   an access-key signature's `x-ms-content-sha256` covers the body as it went over the wire.

use std::cell::Cell;
use std::io::Read;
use std::rc::Rc;

use actix_web::HttpMessage;
use actix_web::dev::ServiceRequest;
use actix_web::http::{Version, header};
use actix_web::web::{Bytes, BytesMut};
use futures_util::StreamExt;

use crate::error::ApiError;

/// Per-connection counters (connection data, set up by [`on_connect`]): requests in flight and
/// body bytes held.
#[derive(Default)]
pub struct ConnState {
    in_flight: Cell<usize>,
    buffered: Cell<usize>,
}

/// `HttpServer::on_connect` part: every connection gets its [`ConnState`].
pub fn on_connect(data: &mut actix_web::dev::Extensions) {
    data.insert(Rc::new(ConnState::default()));
}

/// A request counted in flight on its connection until this is dropped.
pub struct InFlight {
    conn: Rc<ConnState>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.conn
            .in_flight
            .set(self.conn.in_flight.get().saturating_sub(1));
    }
}

/// Counts `req` in flight on its connection, or refuses it (503) when `limit` requests are in
/// flight there already. Requests without connection data (tests that build requests by hand)
/// are not counted.
pub fn enter(req: &ServiceRequest, limit: usize) -> Result<Option<InFlight>, ApiError> {
    let Some(conn) = req.conn_data::<Rc<ConnState>>().cloned() else {
        return Ok(None);
    };
    let now = conn.in_flight.get();
    if now >= limit {
        return Err(ApiError::ConnectionBusy(format!(
            "This connection has {now} requests in flight, the emulator's limit \
             (--max-concurrent-streams); retry, or use another connection."
        )));
    }
    conn.in_flight.set(now + 1);
    Ok(Some(InFlight { conn }))
}

/// Body bytes held against the connection's budget, given back when dropped.
#[derive(Default)]
pub struct Reservation {
    conn: Option<Rc<ConnState>>,
    bytes: usize,
}

impl Reservation {
    fn take(&mut self, n: usize, budget: usize) -> Result<(), ApiError> {
        let Some(conn) = &self.conn else {
            return Ok(());
        };
        let held = conn.buffered.get();
        if held.saturating_add(n) > budget {
            return Err(ApiError::ConnectionBusy(format!(
                "The request bodies in flight on this connection would pass {budget} bytes, the \
                 emulator's limit (--max-connection-body-bytes); retry, or use another connection."
            )));
        }
        conn.buffered.set(held + n);
        self.bytes += n;
        Ok(())
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some(conn) = &self.conn {
            conn.buffered
                .set(conn.buffered.get().saturating_sub(self.bytes));
        }
    }
}

/// The body the edge middleware ([`super::edge()`]) buffered (request extensions), decoded: middleware that needs the bytes
/// (access-key auth, scenario rules) reads them here and leaves the payload to the handler,
/// instead of extracting and re-queueing another copy.
#[derive(Debug, Clone)]
pub struct BufferedBody(pub Bytes);

/// The bytes of a request body as the client sent them, when they differ from the decoded
/// [`BufferedBody`] (a `Content-Encoding` was applied): what `x-ms-content-sha256` covers.
#[derive(Debug, Clone)]
pub struct SignedBody(pub Bytes);

/// The limits [`read`] applies.
pub struct Limits {
    /// `--max-body-bytes`: the most bytes of one body, as sent and decoded.
    pub max_body: usize,
    /// `--max-connection-body-bytes`: the most bytes of all bodies held for one connection.
    pub connection_budget: usize,
}

/// Whether the request may carry a body: over HTTP/1 one is announced by `Transfer-Encoding` or
/// a `Content-Length` other than 0; over HTTP/2 any stream may carry one.
pub fn may_have_body(req: &ServiceRequest) -> bool {
    let headers = req.headers();
    req.version() == Version::HTTP_2
        || headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes().trim_ascii() != b"0")
}

/// The content coding of a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coding {
    Identity,
    Gzip,
    Deflate,
}

/// The request's `Content-Encoding`: one coding (or none, or `identity`); anything else, or
/// several stacked, is 415.
fn coding(req: &ServiceRequest) -> Result<Coding, ApiError> {
    let mut values = req.headers().get_all(header::CONTENT_ENCODING);
    let Some(value) = values.next() else {
        return Ok(Coding::Identity);
    };
    let text = value.to_str().unwrap_or("").trim().to_ascii_lowercase();
    if values.next().is_some() || text.contains(',') {
        return Err(ApiError::UnsupportedEncoding(text));
    }
    match text.as_str() {
        "" | "identity" => Ok(Coding::Identity),
        "gzip" | "x-gzip" => Ok(Coding::Gzip),
        "deflate" => Ok(Coding::Deflate),
        _ => Err(ApiError::UnsupportedEncoding(text)),
    }
}

/// Reads, decodes and buffers the request's body (see the module documentation). On success the
/// payload is replaced by the decoded bytes, `Content-Encoding` is removed, the decoded bytes are
/// returned and the reservation that holds them against the connection's budget; the caller
/// keeps it until the request is answered.
pub async fn read(
    req: &mut ServiceRequest,
    limits: &Limits,
) -> Result<(Bytes, Reservation), ApiError> {
    let coding = coding(req)?;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_body as u64) {
        return Err(ApiError::PayloadTooLarge(limits.max_body));
    }
    let mut reservation = Reservation {
        conn: req.conn_data::<Rc<ConnState>>().cloned(),
        bytes: 0,
    };
    let mut payload = req.take_payload();
    let mut wire = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::invalid_body(format!("The request body could not be read: {e}"))
        })?;
        if wire.len() + chunk.len() > limits.max_body {
            return Err(ApiError::PayloadTooLarge(limits.max_body));
        }
        reservation.take(chunk.len(), limits.connection_budget)?;
        wire.extend_from_slice(&chunk);
    }
    let wire = wire.freeze();
    let body = match coding {
        Coding::Identity => wire,
        Coding::Gzip | Coding::Deflate => {
            let decoded = decode(coding, &wire, limits.max_body)?;
            reservation.take(decoded.len(), limits.connection_budget)?;
            req.extensions_mut().insert(SignedBody(wire));
            decoded
        }
    };
    let headers = req.headers_mut();
    headers.remove(header::CONTENT_ENCODING);
    if coding != Coding::Identity
        && let Ok(length) = header::HeaderValue::from_str(&body.len().to_string())
    {
        headers.insert(header::CONTENT_LENGTH, length);
    }
    req.set_payload(actix_web::dev::Payload::from(body.clone()));
    Ok((body, reservation))
}

/// Decodes `wire` with at most `limit` bytes of output; more is 413, a corrupt stream 400.
fn decode(coding: Coding, wire: &[u8], limit: usize) -> Result<Bytes, ApiError> {
    let reader: Box<dyn Read + '_> = match coding {
        Coding::Gzip => Box::new(flate2::read::MultiGzDecoder::new(wire)),
        Coding::Deflate => Box::new(flate2::read::ZlibDecoder::new(wire)),
        Coding::Identity => Box::new(wire),
    };
    let mut out = Vec::new();
    // One byte past the limit tells "too large" from "exactly the limit".
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| {
            ApiError::invalid_body(format!(
                "The request body could not be decoded from its Content-Encoding: {e}."
            ))
        })?;
    if out.len() > limit {
        return Err(ApiError::PayloadTooLarge(limit));
    }
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(data).expect("write");
        encoder.finish().expect("finish")
    }

    #[test]
    fn decoding_stops_one_byte_past_the_limit() {
        let bomb = gzip(&vec![0u8; 10 * 1024 * 1024]);
        assert!(bomb.len() < 20 * 1024, "{}", bomb.len());
        let err = decode(Coding::Gzip, &bomb, 1024).expect_err("too large");
        assert!(matches!(err, ApiError::PayloadTooLarge(1024)), "{err:?}");
        let ok = decode(Coding::Gzip, &gzip(&[7u8; 1024]), 1024).expect("exactly the limit");
        assert_eq!(ok.len(), 1024);
    }

    #[test]
    fn corrupt_streams_are_bad_requests() {
        let err = decode(Coding::Gzip, b"not gzip at all", 1024).expect_err("corrupt");
        assert!(matches!(err, ApiError::BadRequest { .. }), "{err:?}");
    }
}
