//! The SMTP relay (`--smtp-port`): STARTTLS with the emulator's certificate, AUTH with an Entra
//! client's secret, MAIL/RCPT/DATA into the same inbox, operation, events and scenario rules as
//! the REST API, and every limit (line, size, recipients, errors, logins, idle time,
//! connections), spoken as raw SMTP over tokio and tokio-rustls.

use std::sync::Arc;
use std::time::Duration;

use acs_emulator::Config;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rustls_pki_types::pem::PemObject;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::email::SENDER;
use crate::helpers::{TestApp, body, spawn_with};
use crate::webhook::Webhook;

const CLIENT: &str = "acacacac-0000-4000-8000-00000000000c";
const SECRET: &str = "acs-emulator-client-secret";
const TENANT: &str = "acacacac-0000-4000-8000-00000000000a";

fn username() -> String {
    format!("acs-emulator.{CLIENT}.{TENANT}")
}

fn smtp_config() -> Config {
    let mut config = crate::events::events_config();
    config.smtp.smtp_port = Some(0);
    config
}

async fn spawn_smtp() -> TestApp {
    spawn_with(smtp_config()).await
}

/// A raw SMTP client.
struct Client<S> {
    io: BufReader<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    /// One reply (all its lines): its code (0 when the connection closed) and text.
    async fn reply(&mut self) -> (u16, String) {
        let mut text = String::new();
        loop {
            let mut line = String::new();
            let read = tokio::time::timeout(Duration::from_secs(10), self.io.read_line(&mut line))
                .await
                .expect("a reply within 10 s");
            if read.unwrap_or(0) == 0 {
                return (0, text);
            }
            text.push_str(&line);
            if line.as_bytes().get(3) != Some(&b'-') {
                let code = line.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
                return (code, text);
            }
        }
    }

    async fn write(&mut self, raw: &[u8]) {
        self.io.get_mut().write_all(raw).await.expect("written");
    }

    /// Sends `line` (CRLF added) and reads the reply.
    async fn cmd(&mut self, line: &str) -> (u16, String) {
        self.write(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }

    /// Asserts the reply to `line` has `code`; returns its text.
    async fn expect(&mut self, line: &str, code: u16) -> String {
        let (got, text) = self.cmd(line).await;
        assert_eq!(got, code, "{line} -> {text}");
        text
    }
}

async fn connect(app: &TestApp) -> Client<TcpStream> {
    let addr = app.state.smtp_addr.expect("the SMTP relay is on");
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let mut client = Client {
        io: BufReader::new(tcp),
    };
    let (code, text) = client.reply().await;
    assert_eq!(code, 220, "{text}");
    client
}

async fn starttls(app: &TestApp, mut client: Client<TcpStream>) -> Client<TlsStream<TcpStream>> {
    client.expect("STARTTLS", 220).await;
    let tcp = client.io.into_inner();
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(app.state.tls_cert_pem.as_bytes())
    {
        roots.add(cert.expect("pem")).expect("root");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
    let stream = tokio_rustls::TlsConnector::from(Arc::new(tls))
        .connect(name, tcp)
        .await
        .expect("the relay's certificate is the emulator's");
    Client {
        io: BufReader::new(stream),
    }
}

/// Connected, TLS, `EHLO`, logged in.
async fn logged_in(app: &TestApp) -> Client<TlsStream<TcpStream>> {
    let mut client = connect(app).await;
    client.expect("EHLO test.example", 250).await;
    let mut client = starttls(app, client).await;
    client.expect("EHLO test.example", 250).await;
    let plain = STANDARD.encode(format!("\0{}\0{SECRET}", username()));
    client.expect(&format!("AUTH PLAIN {plain}"), 235).await;
    client
}

/// The message an SMTP client would send: to, cc, a PDF attachment, a dot-stuffed line.
fn mime(subject: &str) -> String {
    format!(
        "From: Shop <{SENDER}>\r\nTo: Alice <alice@example.com>\r\nCc: bob@example.com\r\n\
Subject: {subject}\r\nMessage-ID: <order-1@contoso.com>\r\nX-Campaign: spring\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"XYZ\"\r\n\r\n--XYZ\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
Thanks for your order.\r\n.. a line that starts with a dot\r\n--XYZ\r\nContent-Type: application/pdf\r\n\
Content-Disposition: attachment; filename=\"invoice.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
{}\r\n--XYZ--\r\n",
        STANDARD.encode(b"%PDF-1.4 invoice")
    )
}

/// The message as the client means it: the dot-stuffing undone.
fn unstuffed(mime: &str) -> String {
    mime.replace("\r\n..", "\r\n.")
}

/// `MAIL`, the `RCPT`s, `DATA` and the message; the final reply.
async fn send<S: AsyncRead + AsyncWrite + Unpin>(
    client: &mut Client<S>,
    from: &str,
    to: &[&str],
    message: &str,
) -> (u16, String) {
    client.expect(&format!("MAIL FROM:<{from}>"), 250).await;
    for r in to {
        client.expect(&format!("RCPT TO:<{r}>"), 250).await;
    }
    client.expect("DATA", 354).await;
    client.write(message.as_bytes()).await;
    client.cmd(".").await
}

/// The operation id in a `250 ... [InternalId=<id>]` reply.
fn internal_id(reply: &str) -> String {
    let start = reply.find("[InternalId=").expect("an internal id") + "[InternalId=".len();
    let end = reply[start..].find(']').expect("]") + start;
    reply[start..end].to_string()
}

#[tokio::test]
async fn a_message_sent_over_smtp_is_in_the_inbox_as_sent_with_its_operation_and_events() {
    // Arrange
    let app = spawn_smtp().await;
    let hook = Webhook::start().await;
    app.subscribe(&json!({"name": "mail", "endpoint": hook.url,
        "eventTypes": ["EmailDeliveryReportReceived"]}))
        .await;
    let mut client = connect(&app).await;
    let ehlo = client.expect("EHLO test.example", 250).await;
    assert!(ehlo.lines().any(|l| &l[4..] == "STARTTLS"), "{ehlo}");
    assert!(ehlo.contains("SIZE 10485760"), "{ehlo}");
    assert!(!ehlo.contains("AUTH"), "AUTH only after STARTTLS: {ehlo}");
    let mut client = starttls(&app, client).await;
    let ehlo = client.expect("EHLO test.example", 250).await;
    assert!(ehlo.contains("AUTH LOGIN PLAIN"), "{ehlo}");
    assert!(!ehlo.contains("STARTTLS"), "{ehlo}");
    // AUTH LOGIN, as the service's samples use.
    client.expect("AUTH LOGIN", 334).await;
    client.expect(&STANDARD.encode(username()), 334).await;
    client.expect(&STANDARD.encode(SECRET), 235).await;
    let message = mime("Your order");

    // Act
    let (code, reply) = send(
        &mut client,
        SENDER,
        &["alice@example.com", "bob@example.com", "audit@example.com"],
        &message,
    )
    .await;
    client.expect("QUIT", 221).await;

    // Assert
    assert_eq!(code, 250, "{reply}");
    assert!(reply.contains("<order-1@contoso.com>"), "{reply}");
    let id = internal_id(&reply);
    let listed = app.inbox("").await;
    assert_eq!(listed.len(), 1);
    let email = &listed[0];
    assert_eq!(email["id"], id.as_str());
    assert_eq!(email["via"], "smtp");
    assert_eq!(email["senderAddress"], SENDER);
    assert_eq!(email["subject"], "Your order");
    assert_eq!(email["internetMessageId"], "<order-1@contoso.com>");
    assert_eq!(
        email["recipients"],
        json!({"to": [{"address": "alice@example.com", "displayName": "Alice"}],
               "cc": [{"address": "bob@example.com", "displayName": null}],
               "bcc": [{"address": "audit@example.com", "displayName": null}]})
    );
    assert_eq!(email["headers"], json!({"X-Campaign": "spring"}));
    assert_eq!(
        email["attachments"],
        json!([{"index": 0, "name": "invoice.pdf", "contentType": "application/pdf", "contentId": null, "size": 16}])
    );
    assert!(
        email["plainText"]
            .as_str()
            .expect("text")
            .contains("\n. a line that starts with a dot"),
        "{email}"
    );
    // The .eml is the message exactly as sent (dot-stuffing undone), with the Date it lacked
    // put in front, as a submission server does.
    let raw = app.control_get(&format!("emails/{id}/raw")).await;
    assert_eq!(raw.status(), 200);
    let raw = raw.text().await.expect("text");
    let (date, rest) = raw.split_once("\r\n").expect("a first line");
    assert!(date.starts_with("Date: "), "{raw}");
    assert!(
        chrono::DateTime::parse_from_rfc2822(&date["Date: ".len()..]).is_ok(),
        "{date}"
    );
    assert_eq!(rest, unstuffed(&message));
    // The same operation and delivery reports as a REST send.
    let reports = app
        .wait_events("type=EmailDeliveryReportReceived&state=delivered", 3)
        .await;
    assert!(
        reports
            .iter()
            .all(|r| r["event"]["data"]["messageId"] == id.as_str()
                && r["event"]["data"]["status"] == "Delivered"),
        "{reports:#?}"
    );
    let one = body(app.control_get(&format!("emails/{id}")).await).await;
    assert_eq!(one["status"], "Succeeded");
    // The journal names the SMTP operation.
    let journal = body(app.control_get("journal?operation=Email.SmtpSend").await).await;
    let entries = journal["value"].as_array().expect("value");
    assert_eq!(entries.len(), 1, "{journal}");
    assert_eq!(entries[0]["status"], 250);
    assert_eq!(entries[0]["resource"], "default");
}

#[tokio::test]
async fn auth_needs_starttls_and_an_entra_clients_secret() {
    let app = spawn_smtp().await;
    let mut client = connect(&app).await;
    client.expect("EHLO test.example", 250).await;
    let plain = |user: &str, pass: &str| STANDARD.encode(format!("\0{user}\0{pass}"));
    // Before STARTTLS: no AUTH, no MAIL.
    let text = client
        .expect(&format!("AUTH PLAIN {}", plain(&username(), SECRET)), 538)
        .await;
    assert!(text.contains("5.7.11"), "{text}");
    client.expect(&format!("MAIL FROM:<{SENDER}>"), 530).await;
    let mut client = starttls(&app, client).await;
    // TLS starts the session over: EHLO again.
    client
        .expect(&format!("AUTH PLAIN {}", plain(&username(), SECRET)), 503)
        .await;
    client.expect("EHLO test.example", 250).await;
    client.expect(&format!("MAIL FROM:<{SENDER}>"), 530).await;
    client.expect("AUTH CRAM-MD5", 504).await;
    client.expect("AUTH PLAIN not-base64!", 501).await;
    client.expect("AUTH LOGIN", 334).await;
    client.expect("*", 501).await;
    // Wrong secret, then an unknown tenant: 535.
    client
        .expect(&format!("AUTH PLAIN {}", plain(&username(), "wrong")), 535)
        .await;
    let other_tenant = format!("acs-emulator.{CLIENT}.acacacac-0000-4000-8000-0000000000ff");
    client
        .expect(&format!("AUTH PLAIN {}", plain(&other_tenant, SECRET)), 535)
        .await;
    // The pipe-delimited form, the resource's short name, the initial response on one line.
    let piped = format!("default|{CLIENT}|{TENANT}");
    client.expect("AUTH PLAIN", 334).await;
    client.expect(&plain(&piped, SECRET), 235).await;
    client.expect("AUTH LOGIN", 503).await;

    // Three failed logins close the connection.
    let mut client = connect(&app).await;
    client.expect("EHLO test.example", 250).await;
    let mut client = starttls(&app, client).await;
    client.expect("EHLO test.example", 250).await;
    for _ in 0..2 {
        client
            .expect(&format!("AUTH PLAIN {}", plain("nobody.a.b", SECRET)), 535)
            .await;
    }
    client
        .expect(&format!("AUTH PLAIN {}", plain("nobody.a.b", SECRET)), 535)
        .await;
    let (code, text) = client.reply().await;
    assert_eq!(code, 421, "{text}");
    assert_eq!(client.reply().await.0, 0, "closed");
}

#[tokio::test]
async fn the_sender_domain_must_be_linked_and_recipients_are_checked_and_capped() {
    let app = spawn_smtp().await;
    let mut client = logged_in(&app).await;
    let text = client.expect("MAIL FROM:<me@gmail.test>", 550).await;
    assert!(
        text.contains("5.1.7 The specified sender domain has not been linked."),
        "{text}"
    );
    client.expect("MAIL FROM:<not an address>", 501).await;
    client.expect("RCPT TO:<a@example.com>", 503).await;
    client.expect(&format!("MAIL FROM:<{SENDER}>"), 250).await;
    client.expect(&format!("MAIL FROM:<{SENDER}>"), 503).await;
    client.expect("DATA", 503).await;
    client.expect("RCPT TO:<nope>", 501).await;
    client
        .expect("RCPT TO:<a@example.com> NOTIFY=NEVER", 555)
        .await;
    for i in 0..50 {
        client
            .expect(&format!("RCPT TO:<r{i}@example.com>"), 250)
            .await;
    }
    // Again an address already given: still one recipient.
    client.expect("RCPT TO:<R0@example.com>", 250).await;
    let text = client.expect("RCPT TO:<r50@example.com>", 452).await;
    assert!(text.contains("4.5.3"), "{text}");
    client.expect("RSET", 250).await;
    // A message the service's checks refuse (no subject): 554, nothing in the inbox.
    let (code, text) = send(
        &mut client,
        SENDER,
        &["a@example.com"],
        "From: x@example.com\r\n\r\nbody\r\n",
    )
    .await;
    assert_eq!(code, 554, "{text}");
    assert!(app.inbox("").await.is_empty());
}

#[tokio::test]
async fn sizes_lines_errors_and_pipelined_commands_are_bounded() {
    let mut config = smtp_config();
    config.limits.max_email_request_bytes = 4096;
    let app = spawn_with(config).await;
    let mut client = logged_in(&app).await;
    // SIZE beyond the limit is refused up front.
    let text = client
        .expect(&format!("MAIL FROM:<{SENDER}> SIZE=5000"), 552)
        .await;
    assert!(text.contains("5.3.4"), "{text}");
    client
        .expect(&format!("MAIL FROM:<{SENDER}> SIZE=100 BODY=8BITMIME"), 250)
        .await;
    client.expect("RSET", 250).await;
    // A message past the limit: read to its end, then refused.
    let big = format!("Subject: big\r\n\r\n{}", "x".repeat(900) + "\r\n").repeat(6);
    let (code, text) = send(&mut client, SENDER, &["a@example.com"], &big).await;
    assert_eq!(code, 552, "{text}");
    // A line over 1000 bytes in a message, and as a command.
    let long = format!("Subject: long\r\n\r\n{}\r\n", "y".repeat(1200));
    let (code, text) = send(&mut client, SENDER, &["a@example.com"], &long).await;
    assert_eq!(code, 500, "{text}");
    client
        .expect(&format!("NOOP {}", "z".repeat(2000)), 500)
        .await;
    assert!(app.inbox("").await.is_empty());
    // Pipelined commands are answered in order.
    client
        .write(
            format!("MAIL FROM:<{SENDER}>\r\nRCPT TO:<a@example.com>\r\nRCPT TO:<bad>\r\nDATA\r\n")
                .as_bytes(),
        )
        .await;
    let codes = [
        client.reply().await.0,
        client.reply().await.0,
        client.reply().await.0,
        client.reply().await.0,
    ];
    assert_eq!(codes, [250, 250, 501, 354]);
    // A dot on a bare-LF line is data: only <CRLF>.<CRLF> ends the message.
    client
        .write(b"Subject: one\r\n\r\nfirst\n.\nMAIL FROM:<x@example.com>\r\n")
        .await;
    let (code, text) = client.cmd(".").await;
    assert_eq!(code, 250, "{text}");
    let listed = app.inbox("").await;
    assert_eq!(listed.len(), 1);
    assert!(
        listed[0]["plainText"]
            .as_str()
            .expect("text")
            .contains("MAIL FROM"),
        "{}",
        listed[0]
    );
    // Unknown commands count as errors; past ten the relay hangs up.
    let mut client = logged_in(&app).await;
    for _ in 0..10 {
        client.expect("BOGUS", 500).await;
    }
    let (code, _) = client.cmd("BOGUS").await;
    assert_eq!(code, 500);
    let (code, text) = client.reply().await;
    assert_eq!(code, 421, "{text}");
}

#[tokio::test]
async fn bytes_pipelined_after_starttls_are_dropped() {
    let app = spawn_smtp().await;
    let mut client = connect(&app).await;
    client.expect("EHLO test.example", 250).await;
    // A man in the middle's injected command rides behind STARTTLS in the same packet.
    client.write(b"STARTTLS\r\nHELP\r\n").await;
    let tcp = {
        let (code, text) = client.reply().await;
        assert_eq!(code, 220, "{text}");
        client.io.into_inner()
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(app.state.tls_cert_pem.as_bytes())
    {
        roots.add(cert.expect("pem")).expect("root");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
    let stream = tokio_rustls::TlsConnector::from(Arc::new(tls))
        .connect(name, tcp)
        .await
        .expect("tls");
    let mut client = Client {
        io: BufReader::new(stream),
    };
    // The first answer over TLS is to NOOP, not to the injected HELP.
    let (code, text) = client.cmd("NOOP").await;
    assert_eq!((code, text.as_str()), (250, "250 2.0.0 OK\r\n"));
}

#[tokio::test]
async fn scenario_rules_for_email_send_apply_to_smtp_too() {
    let app = spawn_smtp().await;
    let res = app
        .client
        .post(format!("{}/_emulator/fixtures", app.http))
        .json(&json!({"rules": [
            {"name": "throttle", "match": {"operation": "Email.Send", "to": "busy@example.com"},
             "respond": {"status": 429, "message": "Too many emails, slow down"}},
            {"name": "drop", "match": {"operation": "Email.Send", "to": "*@gmail.test"},
             "email": {"result": {"status": "Failed"}}},
        ]}))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 201, "{}", body(res).await);
    let mut client = logged_in(&app).await;
    let (code, text) = send(&mut client, SENDER, &["busy@example.com"], &mime("a")).await;
    assert_eq!(code, 451, "{text}");
    assert!(
        text.contains("4.7.500 Too many emails, slow down"),
        "{text}"
    );
    let (code, text) = send(&mut client, SENDER, &["x@gmail.test"], &mime("b")).await;
    assert_eq!(code, 250, "{text}");
    let id = internal_id(&text);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let one = body(app.control_get(&format!("emails/{id}")).await).await;
    assert_eq!(one["status"], "Failed", "{one}");
    assert_eq!(one["error"]["code"], "EmailDropped", "{one}");
    let journal = body(app.control_get("journal?operation=Email.SmtpSend").await).await;
    let rules: Vec<(Value, Value)> = journal["value"]
        .as_array()
        .expect("value")
        .iter()
        .map(|e| (e["rule"].clone(), e["status"].clone()))
        .collect();
    assert_eq!(
        rules,
        vec![(json!("throttle"), json!(451)), (json!("drop"), json!(250))]
    );
}

#[tokio::test]
async fn idle_clients_and_connections_past_the_cap_get_421() {
    let mut config = smtp_config();
    config.smtp.smtp_idle_timeout = Duration::from_millis(300);
    config.smtp.smtp_max_connections = 1;
    let app = spawn_with(config).await;
    let mut first = connect(&app).await;
    // A second connection while the first is open: 421 and closed.
    let addr = app.state.smtp_addr.expect("on");
    let mut second = Client {
        io: BufReader::new(TcpStream::connect(addr).await.expect("connect")),
    };
    let (code, text) = second.reply().await;
    assert_eq!(code, 421, "{text}");
    // The first one, silent, is closed after the idle timeout.
    let (code, text) = first.reply().await;
    assert_eq!(code, 421, "{text}");
    assert!(text.contains("4.4.2"), "{text}");
    assert_eq!(first.reply().await.0, 0, "closed");
    // Its slot is free again.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut third = connect(&app).await;
    third.expect("NOOP", 250).await;
}

#[tokio::test]
async fn the_relay_is_off_unless_asked_and_health_shows_its_port() {
    let app = crate::helpers::spawn_app().await;
    assert_eq!(app.state.smtp_addr, None);
    let health = body(app.control_get("health").await).await;
    assert_eq!(health.get("smtpPort"), None, "{health}");
    let app = spawn_smtp().await;
    let port = app.state.smtp_addr.expect("on").port();
    let health = body(app.control_get("health").await).await;
    assert_eq!(health["smtpPort"], port);
}
