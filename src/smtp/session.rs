//! One SMTP connection: greeting, `EHLO`, `STARTTLS`, `AUTH`, then transactions (`MAIL`, `RCPT`,
//! `DATA`) until `QUIT`, with every input bounded.
//!
//! Bounds (docs/limits.md): a command or message line is at most 1000 bytes, CRLF included
//! (`500 5.5.2`); a message at most `--max-email-request-bytes` (`SIZE` in `EHLO`; `552 5.3.4`);
//! 50 recipients (`452 4.5.3`, as the REST API's limit); 1000 commands, 10 malformed or misplaced
//! commands (`500`-`504`, `555`),
//! 3 failed logins and 100 messages per connection, and 30 minutes per connection (`421`, then the
//! connection closes); `--smtp-idle-timeout` of silence (`421 4.4.2`). Nothing sent before
//! `STARTTLS` completes survives it: bytes pipelined after the command are dropped with the
//! plain-text reader (RFC 3207 §4.2), and the session starts over (`EHLO` again). The end of a
//! message is only `<CRLF>.<CRLF>`: a bare-LF dot line is data, so a message cannot smuggle a
//! second one past the relay.
//!
//! The mail transaction (`MAIL`, `RCPT`, `DATA` and the message's delivery) is in
//! `session/transaction.rs`.

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use super::Options;
use super::credentials::{self, Login};
use crate::domain::EmailAddress;
use crate::state::AppState;

mod transaction;

/// The longest line, CRLF included (RFC 5321 §4.5.3.1.6).
pub const MAX_LINE: usize = 1000;
/// Commands per connection.
pub const MAX_COMMANDS: usize = 1000;
/// Refused commands per connection.
pub const MAX_ERRORS: usize = 10;
/// Failed logins per connection.
pub const MAX_AUTH_FAILURES: usize = 3;
/// Messages per connection.
pub const MAX_MESSAGES: usize = 100;
/// The longest a connection lasts.
pub const MAX_SESSION: Duration = Duration::from_secs(30 * 60);
/// The longest a TLS handshake takes.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// The name the relay gives itself.
const HOSTNAME: &str = "acs-emulator";

/// A line as read.
enum Line {
    /// Its bytes without the line end, and whether it ended with CRLF (not a bare LF).
    Text(Vec<u8>, bool),
    /// Longer than [`MAX_LINE`] (consumed up to its end), and whether it ended with CRLF.
    TooLong(bool),
}

/// Why a session ends.
enum Close {
    /// The client went away, or the connection broke.
    Gone,
    /// The relay closed it (after a `421`, `QUIT`, or a scripted fault).
    Done,
}

/// What happens after a conversation.
enum Next {
    StartTls,
    Close,
}

/// Reads one line of at most [`MAX_LINE`] bytes (the rest of a longer one is consumed and
/// dropped); `None` at the end of the stream.
async fn read_line<R: AsyncBufRead + Unpin>(reader: &mut R) -> std::io::Result<Option<Line>> {
    let mut out = Vec::new();
    let mut too_long = false;
    let mut last = None;
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Ok(None);
        }
        let (chunk, end) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..i], Some(i + 1)),
            None => (buf, None),
        };
        if let Some(&b) = chunk.last() {
            last = Some(b);
        }
        // The line end (CRLF, or a bare LF) counts toward the limit.
        if !too_long && out.len() + chunk.len() < MAX_LINE {
            out.extend_from_slice(chunk);
        } else {
            too_long = true;
            out = Vec::new();
        }
        let used = end.unwrap_or(chunk.len());
        reader.consume(used);
        if end.is_some() {
            break;
        }
    }
    let crlf = last == Some(b'\r');
    if too_long {
        return Ok(Some(Line::TooLong(crlf)));
    }
    if crlf {
        out.pop();
    }
    Ok(Some(Line::Text(out, crlf)))
}

/// Serves one connection to its end.
pub async fn run(
    stream: TcpStream,
    peer: SocketAddr,
    state: &AppState,
    acceptor: &TlsAcceptor,
    options: Options,
) {
    let mut session = Session::new(state, peer, options);
    tracing::debug!(%peer, "SMTP connection");
    let mut plain = BufReader::new(stream);
    let greeting = format!("220 {HOSTNAME} ESMTP ACS emulator SMTP relay ready");
    if session.send(&mut plain, &greeting).await.is_err() {
        return;
    }
    match session.converse(&mut plain).await {
        Ok(Next::StartTls) => {}
        Ok(Next::Close) | Err(_) => return,
    }
    if !plain.buffer().is_empty() {
        tracing::info!(%peer, bytes = plain.buffer().len(), "SMTP: bytes sent after STARTTLS before the handshake dropped");
    }
    // `into_inner` drops whatever was pipelined after STARTTLS.
    let stream = plain.into_inner();
    let tls = match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::info!(%peer, error = %e, "SMTP: TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::info!(%peer, "SMTP: TLS handshake timed out");
            return;
        }
    };
    session.start_over_with_tls();
    let mut secure = BufReader::new(tls);
    let _ = session.converse(&mut secure).await;
    let _ = secure.get_mut().shutdown().await;
}

/// The state of one connection.
struct Session<'a> {
    state: &'a AppState,
    peer: SocketAddr,
    options: Options,
    deadline: Instant,
    tls: bool,
    greeted: bool,
    login: Option<Login>,
    sender: Option<EmailAddress>,
    recipients: Vec<EmailAddress>,
    commands: usize,
    errors: usize,
    auth_failures: usize,
    messages: usize,
}

impl<'a> Session<'a> {
    fn new(state: &'a AppState, peer: SocketAddr, options: Options) -> Self {
        Self {
            state,
            peer,
            options,
            deadline: Instant::now() + MAX_SESSION,
            tls: false,
            greeted: false,
            login: None,
            sender: None,
            recipients: Vec::new(),
            commands: 0,
            errors: 0,
            auth_failures: 0,
            messages: 0,
        }
    }

    /// After STARTTLS everything said before is forgotten (RFC 3207 §4.2).
    fn start_over_with_tls(&mut self) {
        self.tls = true;
        self.greeted = false;
        self.login = None;
        self.reset();
    }

    /// Ends the mail transaction.
    fn reset(&mut self) {
        self.sender = None;
        self.recipients.clear();
    }

    /// When the next read or write must be done by.
    fn due(&self) -> Instant {
        (Instant::now() + self.options.idle_timeout).min(self.deadline)
    }

    /// Writes one reply (CRLF added).
    async fn send<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        io: &mut BufReader<S>,
        reply: &str,
    ) -> Result<(), Close> {
        let mut bytes = Vec::with_capacity(reply.len() + 2);
        bytes.extend_from_slice(reply.as_bytes());
        bytes.extend_from_slice(b"\r\n");
        let write = async {
            io.get_mut().write_all(&bytes).await?;
            io.get_mut().flush().await
        };
        match tokio::time::timeout_at(self.due(), write).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(Close::Gone),
        }
    }

    /// Writes `reply` and ends the session.
    async fn close<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        io: &mut BufReader<S>,
        reply: &str,
    ) -> Result<Next, Close> {
        self.send(io, reply).await?;
        Ok(Next::Close)
    }

    /// Reads a line; on silence past the idle timeout (or the session's end) answers 421 and
    /// ends the session.
    async fn read<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        io: &mut BufReader<S>,
    ) -> Result<Line, Close> {
        match tokio::time::timeout_at(self.due(), read_line(io)).await {
            Ok(Ok(Some(line))) => Ok(line),
            Ok(Ok(None)) | Ok(Err(_)) => Err(Close::Gone),
            Err(_) => {
                tracing::info!(peer = %self.peer, "SMTP connection timed out");
                let _ = self
                    .send(io, "421 4.4.2 Connection timed out, closing")
                    .await;
                Err(Close::Done)
            }
        }
    }

    /// Commands until STARTTLS or the end of the session.
    async fn converse<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        io: &mut BufReader<S>,
    ) -> Result<Next, Close> {
        loop {
            let line = match self.read(io).await? {
                Line::Text(line, _) => line,
                Line::TooLong(_) => {
                    self.errors += 1;
                    if self.errors > MAX_ERRORS {
                        return self.close(io, "421 4.7.0 Too many errors, closing").await;
                    }
                    self.send(
                        io,
                        "500 5.5.2 Line too long (at most 1000 bytes, CRLF included)",
                    )
                    .await?;
                    continue;
                }
            };
            self.commands += 1;
            if self.commands > MAX_COMMANDS {
                return self.close(io, "421 4.7.0 Too many commands, closing").await;
            }
            let line = String::from_utf8_lossy(&line).trim_end().to_string();
            let (verb, arg) = match line.split_once(' ') {
                Some((verb, arg)) => (verb, arg.trim()),
                None => (line.as_str(), ""),
            };
            let verb = verb.to_ascii_uppercase();
            let reply: String = match verb.as_str() {
                "EHLO" | "HELO" => self.hello(&verb, arg),
                "STARTTLS" => {
                    if self.tls {
                        "503 5.5.1 TLS already active".into()
                    } else if !arg.is_empty() {
                        "501 5.5.4 STARTTLS takes no parameters".into()
                    } else {
                        self.send(io, "220 2.0.0 Ready to start TLS").await?;
                        return Ok(Next::StartTls);
                    }
                }
                "AUTH" => match self.auth(io, arg).await? {
                    Some(reply) => reply,
                    None => {
                        return self
                            .close(io, "421 4.7.0 Too many failed logins, closing")
                            .await;
                    }
                },
                "MAIL" => {
                    if self.messages >= MAX_MESSAGES {
                        return self
                            .close(io, "421 4.7.0 Too many messages in one connection, closing")
                            .await;
                    }
                    self.mail(arg)
                }
                "RCPT" => self.rcpt(arg),
                "DATA" => match self.data(io, arg).await? {
                    Some(reply) => reply,
                    None => return Ok(Next::Close),
                },
                "RSET" => {
                    self.reset();
                    "250 2.0.0 OK".into()
                }
                "NOOP" => "250 2.0.0 OK".into(),
                "QUIT" => {
                    return self
                        .close(io, "221 2.0.0 Service closing transmission channel")
                        .await;
                }
                "VRFY" => "252 2.5.0 Cannot VRFY user, but will accept the message".into(),
                "HELP" => {
                    "214 2.0.0 Commands: EHLO HELO STARTTLS AUTH MAIL RCPT DATA RSET NOOP QUIT"
                        .into()
                }
                _ => "500 5.5.1 Command unrecognized".into(),
            };
            // Commands out of place or malformed (5.5.x) count toward the error limit; refusals
            // of a sender, recipient, login or message do not.
            if reply.starts_with("50") || reply.starts_with("555") {
                self.errors += 1;
                if self.errors > MAX_ERRORS {
                    self.send(io, &reply).await?;
                    return self.close(io, "421 4.7.0 Too many errors, closing").await;
                }
            }
            self.send(io, &reply).await?;
        }
    }

    fn hello(&mut self, verb: &str, arg: &str) -> String {
        if arg.is_empty() {
            return format!("501 5.5.4 {verb} needs a domain or address");
        }
        self.greeted = true;
        self.reset();
        if verb == "HELO" {
            return format!("250 {HOSTNAME} Hello [{}]", self.peer.ip());
        }
        let mut lines = vec![
            format!("{HOSTNAME} Hello [{}]", self.peer.ip()),
            format!("SIZE {}", self.options.max_message_bytes),
            "PIPELINING".to_string(),
            "8BITMIME".to_string(),
            "ENHANCEDSTATUSCODES".to_string(),
        ];
        if self.tls {
            lines.push("AUTH LOGIN PLAIN".to_string());
        } else {
            lines.push("STARTTLS".to_string());
        }
        let last = lines.len() - 1;
        lines
            .iter()
            .enumerate()
            .map(|(i, l)| format!("250{}{l}", if i == last { ' ' } else { '-' }))
            .collect::<Vec<_>>()
            .join("\r\n")
    }

    /// Reads one SASL response line: `Ok(None)` when the client cancels with `*`, `Err(reply)`
    /// when it is not base64.
    async fn sasl_line<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        io: &mut BufReader<S>,
        challenge: &str,
    ) -> Result<Result<Option<Vec<u8>>, String>, Close> {
        self.send(io, challenge).await?;
        let line = match self.read(io).await? {
            Line::Text(line, _) => line,
            Line::TooLong(_) => return Ok(Err("500 5.5.2 Line too long".into())),
        };
        Ok(decode_sasl(&String::from_utf8_lossy(&line)))
    }

    /// `AUTH`: the reply, or `None` when the connection must close (too many failures).
    async fn auth<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        io: &mut BufReader<S>,
        arg: &str,
    ) -> Result<Option<String>, Close> {
        if !self.tls {
            return Ok(Some(
                "538 5.7.11 Encryption required for requested authentication mechanism: issue STARTTLS first".into(),
            ));
        }
        if !self.greeted {
            return Ok(Some("503 5.5.1 Send EHLO first".into()));
        }
        if self.login.is_some() {
            return Ok(Some("503 5.5.1 Already authenticated".into()));
        }
        if self.sender.is_some() {
            return Ok(Some(
                "503 5.5.1 AUTH is not allowed during a mail transaction".into(),
            ));
        }
        let (mechanism, initial) = match arg.split_once(' ') {
            Some((m, i)) => (m.to_ascii_uppercase(), Some(i.trim())),
            None => (arg.to_ascii_uppercase(), None),
        };
        let decoded = |raw: Option<&str>| raw.map(decode_sasl);
        let (username, password) = match mechanism.as_str() {
            "PLAIN" => {
                let response = match decoded(initial) {
                    Some(r) => r,
                    None => self.sasl_line(io, "334 ").await?,
                };
                let response = match response {
                    Ok(Some(r)) => r,
                    Ok(None) => return Ok(Some("501 5.7.0 Authentication canceled".into())),
                    Err(reply) => return Ok(Some(reply)),
                };
                // authorization identity NUL authentication identity NUL password
                let mut parts = response.split(|&b| b == 0);
                let (Some(_authz), Some(user), Some(pass), None) =
                    (parts.next(), parts.next(), parts.next(), parts.next())
                else {
                    return Ok(Some(
                        "501 5.5.2 AUTH PLAIN needs authzid NUL user NUL password".into(),
                    ));
                };
                (
                    String::from_utf8_lossy(user).into_owned(),
                    String::from_utf8_lossy(pass).into_owned(),
                )
            }
            "LOGIN" => {
                let user = match decoded(initial) {
                    Some(r) => r,
                    None => self.sasl_line(io, "334 VXNlcm5hbWU6").await?,
                };
                let user = match user {
                    Ok(Some(u)) => u,
                    Ok(None) => return Ok(Some("501 5.7.0 Authentication canceled".into())),
                    Err(reply) => return Ok(Some(reply)),
                };
                let pass = match self.sasl_line(io, "334 UGFzc3dvcmQ6").await? {
                    Ok(Some(p)) => p,
                    Ok(None) => return Ok(Some("501 5.7.0 Authentication canceled".into())),
                    Err(reply) => return Ok(Some(reply)),
                };
                (
                    String::from_utf8_lossy(&user).into_owned(),
                    String::from_utf8_lossy(&pass).into_owned(),
                )
            }
            _ => {
                return Ok(Some(
                    "504 5.7.4 Unrecognized authentication type (LOGIN and PLAIN are offered)"
                        .into(),
                ));
            }
        };
        match credentials::check(self.state, &username, &password) {
            Ok(login) => {
                tracing::info!(peer = %self.peer, resource = %login.resource.name, app_id = %login.app_id, "SMTP login");
                self.login = Some(login);
                Ok(Some("235 2.7.0 Authentication successful".into()))
            }
            Err(why) => {
                tracing::info!(peer = %self.peer, username = %username, reason = why, "SMTP login refused");
                self.auth_failures += 1;
                if self.auth_failures >= MAX_AUTH_FAILURES {
                    self.send(io, "535 5.7.3 Authentication unsuccessful")
                        .await?;
                    return Ok(None);
                }
                Ok(Some("535 5.7.3 Authentication unsuccessful".into()))
            }
        }
    }
}

/// Decodes a SASL response: `Ok(None)` for `*` (cancel), `=` for an empty response.
fn decode_sasl(raw: &str) -> Result<Option<Vec<u8>>, String> {
    let raw = raw.trim();
    if raw == "*" {
        return Ok(None);
    }
    if raw == "=" {
        return Ok(Some(Vec::new()));
    }
    STANDARD
        .decode(raw)
        .map(Some)
        .map_err(|_| "501 5.5.2 Cannot decode the response (not base64)".to_string())
}

#[cfg(test)]
mod tests {
    use super::transaction::path;
    use super::*;

    #[test]
    fn paths_parse() {
        assert_eq!(
            path("FROM:<a@b.com> SIZE=10", "FROM:"),
            Some(("a@b.com".into(), "SIZE=10"))
        );
        assert_eq!(path("to: <a@b.com>", "TO:"), Some(("a@b.com".into(), "")));
        assert_eq!(
            path("TO:<@relay.example:a@b.com>", "TO:"),
            Some(("a@b.com".into(), ""))
        );
        assert_eq!(path("FROM:<>", "FROM:"), Some((String::new(), "")));
        for bad in ["FROM:a@b.com", "FROM", "", "TO:<a@b.com>", "FROM:<a@b.com"] {
            assert_eq!(path(bad, "FROM:"), None, "{bad}");
        }
    }

    #[tokio::test]
    async fn lines_are_bounded_and_remember_their_ends() {
        let long = "x".repeat(5000);
        let input = format!("EHLO a\r\nbare\n{long}\r\nlast");
        let mut reader = tokio::io::BufReader::with_capacity(64, input.as_bytes());
        let Some(Line::Text(line, true)) = read_line(&mut reader).await.expect("reads") else {
            panic!("a CRLF line");
        };
        assert_eq!(line, b"EHLO a");
        let Some(Line::Text(line, false)) = read_line(&mut reader).await.expect("reads") else {
            panic!("a bare LF line");
        };
        assert_eq!(line, b"bare");
        assert!(matches!(
            read_line(&mut reader).await,
            Ok(Some(Line::TooLong(true)))
        ));
        // A line the stream ends in the middle of is not a line.
        assert!(matches!(read_line(&mut reader).await, Ok(None)));
        let exact = format!("{}\r\n", "y".repeat(MAX_LINE - 2));
        let mut reader = tokio::io::BufReader::with_capacity(16, exact.as_bytes());
        assert!(
            matches!(read_line(&mut reader).await, Ok(Some(Line::Text(l, true))) if l.len() == MAX_LINE - 2)
        );
        let over = format!("{}\r\n", "y".repeat(MAX_LINE - 1));
        let mut reader = tokio::io::BufReader::with_capacity(16, over.as_bytes());
        assert!(matches!(
            read_line(&mut reader).await,
            Ok(Some(Line::TooLong(true)))
        ));
    }
}
