//! The SMTP relay: ACS Email's second front door (`--smtp-port`, off by default).
//!
//! The real service takes mail at `smtp.azurecomm.net:587`: STARTTLS first, then `AUTH LOGIN`
//! (or `PLAIN`) with a username built from the resource and an Entra application
//! (`<resource>.<client id>.<tenant id>` or `<resource>|<client id>|<tenant id>`) and the
//! application's client secret as password. The emulator does the same with its own certificate
//! and the `--entra-client` credentials; every accepted message goes through
//! [`crate::api::email::accept::accept_email`], the entry point the REST API uses, so it lands in
//! the same inbox with the same operation, delivery reports, events and scenario rules
//! (`Email.Send` rules apply; the journal records `Email.SmtpSend`).
//!
//! [`session`] is the protocol: a small state machine on tokio in which every input is bounded
//! (line length, message size, recipients, commands, errors, authentication attempts, idle time,
//! session time); [`message`] turns the received RFC 5322 message into the entry point's
//! [`crate::api::email::accept::NewEmail`] with `mail-parser`; [`credentials`] checks `AUTH`.
//! This module sits above `api` (it calls the email entry point) and below `startup` (which
//! binds its listener).

pub mod credentials;
pub mod message;
pub mod session;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use tokio::io::AsyncWriteExt;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

use crate::state::AppState;

/// The operation name the journal records for a message received over SMTP.
pub const OPERATION: &str = crate::api::email::SMTP_SEND;

/// The SMTP relay's knobs (from the `--smtp-*` flags and `--max-email-request-bytes`).
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// The longest a client may stay silent.
    pub idle_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
    /// The largest message (the `SIZE` advertised in `EHLO`).
    pub max_message_bytes: usize,
}

/// Accepts SMTP connections on `listener` until the task is dropped or aborted; each connection
/// runs in its own task, at most `options.max_connections` at once (more are answered `421` and
/// closed). `tls` is the emulator's certificate, offered by `STARTTLS`.
pub async fn serve(
    listener: std::net::TcpListener,
    state: web::Data<AppState>,
    tls: Arc<rustls::ServerConfig>,
    options: Options,
) {
    let listener = match listener
        .set_nonblocking(true)
        .and_then(|()| tokio::net::TcpListener::from_std(listener))
    {
        Ok(listener) => listener,
        Err(e) => {
            tracing::error!(error = %e, "the SMTP listener cannot be served");
            return;
        }
    };
    let acceptor = TlsAcceptor::from(tls);
    let permits = Arc::new(Semaphore::new(options.max_connections));
    loop {
        let (mut stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: wait a little instead of spinning.
                tracing::warn!(error = %e, "SMTP accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        match Arc::clone(&permits).try_acquire_owned() {
            Ok(permit) => {
                let state = state.clone();
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    session::run(stream, peer, &state, &acceptor, options).await;
                    drop(permit);
                });
            }
            Err(_) => {
                tracing::info!(%peer, max = options.max_connections, "SMTP connection refused: too many at once");
                tokio::spawn(async move {
                    let reply = b"421 4.3.2 Too many connections, try again later\r\n";
                    let _ =
                        tokio::time::timeout(Duration::from_secs(1), stream.write_all(reply)).await;
                });
            }
        }
    }
}

/// `addr` as a client dials it (the wildcard address shown as loopback).
pub fn dial_address(addr: SocketAddr) -> SocketAddr {
    let mut addr = addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    addr
}
