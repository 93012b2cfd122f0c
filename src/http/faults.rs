//! Scripted transport faults: a reset connection, a connection closed without an answer, a body
//! cut short.
//!
//! actix-web gives handlers no access to the socket, so [`on_connect`] keeps a duplicate of each
//! accepted connection's file descriptor in the connection's data (one `dup` per connection, not
//! per request; it is closed with the connection). A fault then works on the socket itself:
//! `shutdown` for an empty response, `SO_LINGER 0` for a reset (the kernel sends RST when the
//! connection is dropped), and a body stream that fails halfway for a truncated body.

use std::os::fd::AsFd;
use std::sync::Arc;

use actix_web::body::SizedStream;
use actix_web::dev::Extensions;
use actix_web::http::StatusCode;
use actix_web::rt::net::TcpStream;
use actix_web::{HttpRequest, HttpResponse};
use futures_util::{StreamExt, stream};

use crate::scenario::rules::Fault;

/// The connection's socket, as [`on_connect`] kept it.
#[derive(Clone)]
pub struct ConnSocket(Arc<socket2::Socket>);

/// `HttpServer::on_connect` hook: keep a duplicate of the socket for faults.
pub fn on_connect(conn: &dyn std::any::Any, data: &mut Extensions) {
    let fd = if let Some(tcp) = conn.downcast_ref::<TcpStream>() {
        tcp.as_fd().try_clone_to_owned()
    } else if let Some(tls) =
        conn.downcast_ref::<actix_tls::accept::rustls_0_23::TlsStream<TcpStream>>()
    {
        tls.get_ref().0.as_fd().try_clone_to_owned()
    } else {
        return;
    };
    match fd {
        Ok(fd) => {
            data.insert(ConnSocket(Arc::new(socket2::Socket::from(fd))));
        }
        Err(e) => tracing::debug!(error = %e, "cannot keep the socket for scripted faults"),
    }
}

impl ConnSocket {
    /// Closes the connection (both directions) `after` the current response had time to leave:
    /// for a request whose body will never be read to the end, so the socket is not left to
    /// the client.
    pub fn close_after(&self, after: std::time::Duration) {
        let socket = self.0.clone();
        actix_web::rt::spawn(async move {
            tokio::time::sleep(after).await;
            // The client may have closed it first: nothing to do then.
            let _ = socket.shutdown(std::net::Shutdown::Both);
        });
    }
}

/// The response that carries out `fault` on `req`'s connection.
pub fn respond(req: &HttpRequest, fault: Fault) -> HttpResponse {
    let socket = req.conn_data::<ConnSocket>().cloned();
    match fault {
        Fault::EmptyResponse => {
            // No byte of the answer gets out: the client reads end-of-stream.
            if let Some(s) = &socket
                && let Err(e) = s.0.shutdown(std::net::Shutdown::Both)
            {
                tracing::debug!(error = %e, "shutdown for an empty response failed");
            }
            failing_body(StatusCode::SERVICE_UNAVAILABLE, 0)
        }
        Fault::ConnectionReset => {
            // Closing a socket with a zero linger time sends RST instead of FIN.
            if let Some(s) = &socket
                && let Err(e) = s.0.set_linger(Some(std::time::Duration::ZERO))
            {
                tracing::debug!(error = %e, "SO_LINGER for a reset failed");
            }
            if let Some(s) = &socket {
                let _ = s.0.shutdown(std::net::Shutdown::Read);
            }
            failing_body(StatusCode::SERVICE_UNAVAILABLE, 0)
        }
        Fault::TruncatedBody => failing_body(StatusCode::OK, 16),
    }
}

/// A JSON response announcing 64 bytes that sends `sent` of them and then fails, which makes
/// actix-web drop the connection. When something is sent, the failure waits a moment so that it
/// is flushed first (otherwise the head and the first bytes never leave the buffer); with
/// nothing to send, nothing leaves at all.
fn failing_body(status: StatusCode, sent: usize) -> HttpResponse {
    type Chunk = Result<actix_web::web::Bytes, std::io::Error>;
    let start = &br#"{"value":[{"id":"truncated-by-a-scenario-rule"}]}                "#[..sent];
    let first = stream::iter(
        (sent > 0).then(|| Ok::<_, std::io::Error>(actix_web::web::Bytes::from_static(start))),
    );
    let fail = stream::once(async move {
        if sent > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        Err::<actix_web::web::Bytes, _>(std::io::Error::other(
            "scripted fault: the body is cut short",
        ))
    });
    let chunks = first.chain(fail).map(|c: Chunk| c);
    HttpResponse::build(status)
        .content_type("application/json")
        .body(SizedStream::new(64, Box::pin(chunks)))
}
