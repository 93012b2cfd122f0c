//! One mail transaction of an SMTP session: `MAIL FROM`, `RCPT TO`, `DATA`, and the message's
//! delivery to the email front door ([`accept_email`]) with what the journal records of it.

use actix_web::http::Method;
use tokio::io::{AsyncRead, AsyncWrite, BufReader};

use crate::api::email::accept::{AcceptOptions, accept_email};
use crate::domain::{EmailAddress, MAX_RECIPIENTS};
use crate::scenario::journal::Record;
use crate::scenario::rules::{EmailOverride, EmailOverrides};
use crate::scenario::{EMAIL_SEND, Facts};
use crate::smtp::OPERATION;
use crate::smtp::credentials::Login;
use crate::store::{Accepted, EmailError};

use super::{Close, Line, Session};

impl Session<'_> {
    pub(super) fn mail(&mut self, arg: &str) -> String {
        if !self.tls {
            return "530 5.7.0 Must issue a STARTTLS command first".into();
        }
        if !self.greeted {
            return "503 5.5.1 Send EHLO first".into();
        }
        let Some(login) = &self.login else {
            return "530 5.7.57 Client not authenticated to send mail".into();
        };
        if self.sender.is_some() {
            return "503 5.5.1 Sender already specified".into();
        }
        let Some((path, params)) = path(arg, "FROM:") else {
            return "501 5.5.4 Syntax: MAIL FROM:<address>".into();
        };
        let Ok(sender) = EmailAddress::parse(&path) else {
            return format!("501 5.1.7 Invalid sender address '{path}'");
        };
        for param in params.split_ascii_whitespace() {
            let (key, value) = param.split_once('=').unwrap_or((param, ""));
            match key.to_ascii_uppercase().as_str() {
                "SIZE" => match value.parse::<u64>() {
                    Ok(size) if size > self.options.max_message_bytes as u64 => {
                        return "552 5.3.4 Message size exceeds fixed maximum message size".into();
                    }
                    Ok(_) => {}
                    Err(_) => return "501 5.5.4 Invalid SIZE parameter".into(),
                },
                "BODY" if matches!(value.to_ascii_uppercase().as_str(), "7BIT" | "8BITMIME") => {}
                "AUTH" => {}
                _ => return format!("555 5.5.4 Unsupported parameter {key}"),
            }
        }
        if !login.resource.links_email_domain(&sender.domain()) {
            tracing::info!(sender = %sender, resource = %login.resource.name, "SMTP sender domain is not linked to the resource");
            return "550 5.1.7 The specified sender domain has not been linked.".into();
        }
        self.sender = Some(sender);
        "250 2.1.0 Sender OK".into()
    }

    pub(super) fn rcpt(&mut self, arg: &str) -> String {
        if self.sender.is_none() {
            return "503 5.5.1 Need MAIL command".into();
        }
        let Some((path, params)) = path(arg, "TO:") else {
            return "501 5.5.4 Syntax: RCPT TO:<address>".into();
        };
        if let Some(param) = params.split_ascii_whitespace().next() {
            return format!("555 5.5.4 Unsupported parameter {param}");
        }
        let Ok(recipient) = EmailAddress::parse(&path) else {
            return format!("501 5.1.3 Invalid recipient address '{path}'");
        };
        let key = recipient.key();
        if self.recipients.iter().any(|r| r.key() == key) {
            return "250 2.1.5 Recipient OK".into();
        }
        if self.recipients.len() >= MAX_RECIPIENTS {
            return format!("452 4.5.3 Too many recipients (at most {MAX_RECIPIENTS} per message)");
        }
        self.recipients.push(recipient);
        "250 2.1.5 Recipient OK".into()
    }

    /// `DATA`: the reply, or `None` when a scenario rule broke the connection.
    pub(super) async fn data<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        io: &mut BufReader<S>,
        arg: &str,
    ) -> Result<Option<String>, Close> {
        if !arg.is_empty() {
            return Ok(Some("501 5.5.4 DATA takes no parameters".into()));
        }
        let (Some(sender), Some(login)) = (self.sender.clone(), self.login.clone()) else {
            return Ok(Some("503 5.5.1 Need MAIL command".into()));
        };
        if self.recipients.is_empty() {
            return Ok(Some(
                "503 5.5.1 Need RCPT command (no valid recipients)".into(),
            ));
        }
        self.send(io, "354 Start mail input; end with <CRLF>.<CRLF>")
            .await?;
        let max = self.options.max_message_bytes;
        let mut raw = Vec::new();
        let (mut over, mut too_long, mut previous_crlf) = (false, false, true);
        loop {
            let (line, crlf) = match self.read(io).await? {
                Line::Text(line, crlf) => (line, crlf),
                Line::TooLong(crlf) => {
                    too_long = true;
                    raw = Vec::new();
                    previous_crlf = crlf;
                    continue;
                }
            };
            if line == b"." && crlf && previous_crlf {
                break;
            }
            previous_crlf = crlf;
            if over || too_long {
                continue;
            }
            let content = line.strip_prefix(b".").unwrap_or(&line);
            if raw.len() + content.len() + 2 > max {
                over = true;
                raw = Vec::new();
                continue;
            }
            raw.extend_from_slice(content);
            raw.extend_from_slice(b"\r\n");
        }
        let recipients = std::mem::take(&mut self.recipients);
        self.reset();
        self.messages += 1;
        let started = std::time::Instant::now();
        let time = self.state.clock.now();
        let (reply, rule) = if too_long {
            (
                "500 5.5.2 Line too long (at most 1000 bytes, CRLF included)".to_string(),
                None,
            )
        } else if over {
            (
                "552 5.3.4 Message size exceeds fixed maximum message size".to_string(),
                None,
            )
        } else {
            match self.deliver(&login, &sender, &recipients, raw).await {
                Some(answer) => answer,
                None => {
                    self.journal(time, &login, Some("fault".into()), 0, started);
                    return Ok(None);
                }
            }
        };
        let code = reply.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
        self.journal(time, &login, rule, code, started);
        Ok(Some(reply))
    }

    /// Applies the scenario rules and hands the message to the email entry point: the reply and
    /// the rules that applied, or `None` when a rule breaks the connection.
    pub(super) async fn deliver(
        &self,
        login: &Login,
        sender: &EmailAddress,
        recipients: &[EmailAddress],
        raw: Vec<u8>,
    ) -> Option<(String, Option<String>)> {
        let state = self.state;
        let res = &login.resource;
        let mut scripted = EmailOverrides::default();
        let mut rule = None;
        if !state.engine.is_empty() && state.engine.covers(EMAIL_SEND) {
            let facts = Facts {
                resource: &res.name,
                recipients: recipients.iter().map(EmailAddress::key).collect(),
                sender: Some(sender.key()),
                ..Facts::default()
            };
            let applied = state.engine.decide(EMAIL_SEND, &facts);
            if let Some(first) = applied.first() {
                let names: Vec<&str> = applied.iter().map(|a| a.rule.name.as_str()).collect();
                tracing::info!(rules = %names.join(","), operation = OPERATION, resource = %res.name, "scenario rule applied");
                rule = Some(names.join(","));
                for a in &applied {
                    if let Some(delay) = a.rule.action.delay {
                        tokio::time::sleep(delay).await;
                    }
                }
                if let Some(respond) = &first.rule.action.respond {
                    return Some((
                        scripted_reply(
                            respond.status,
                            respond.message.as_deref(),
                            &first.rule.name,
                        ),
                        rule,
                    ));
                }
                if first.rule.action.fault.is_some() {
                    tracing::info!(rule = %first.rule.name, "SMTP connection broken by a scenario rule");
                    return None;
                }
                scripted = EmailOverrides(
                    applied
                        .iter()
                        .filter_map(|a| {
                            a.rule.action.email.as_ref().map(|outcome| EmailOverride {
                                recipients: a.recipients.clone(),
                                outcome: outcome.clone(),
                                rule: a.rule.name.clone(),
                            })
                        })
                        .collect(),
                );
            }
        }
        let stamp = crate::smtp::message::Stamp {
            date: state.clock.now().to_rfc2822(),
            message_id: format!(
                "<{}@{}>",
                res.store.ids.uuid().hyphenated(),
                sender.domain()
            ),
        };
        let email = crate::smtp::message::new_email(raw, sender, recipients, &stamp);
        let accepted = accept_email(
            state,
            res,
            email,
            AcceptOptions {
                operation_id: None,
                via: "smtp",
                scripted: &scripted,
            },
        );
        let reply = match accepted {
            Ok(Accepted::New(email)) => format!(
                "250 2.6.0 {} [InternalId={}] Queued mail for delivery",
                email.internet_message_id, email.id
            ),
            Ok(Accepted::Repeated(lro)) => {
                format!("250 2.6.0 [InternalId={}] Queued mail for delivery", lro.id)
            }
            Err(e) => refused(&e),
        };
        Some((reply, rule))
    }

    pub(super) fn journal(
        &self,
        time: chrono::DateTime<chrono::Utc>,
        login: &Login,
        rule: Option<String>,
        status: u16,
        started: std::time::Instant,
    ) {
        let method = Method::from_bytes(b"SMTP").unwrap_or(Method::POST);
        self.state.journal.record(Record {
            time,
            method: &method,
            target: "/smtp",
            operation: Some(OPERATION),
            resource: Some(&login.resource.name),
            auth: "entraId",
            rule,
            status,
            duration_ms: started.elapsed().as_secs_f64() * 1000.0,
            // SMTP traffic carries credentials (AUTH) and whole messages; the inbox shows the latter.
            bodies: None,
        });
    }
}

/// The reply to a message the entry point refused.
fn refused(error: &EmailError) -> String {
    let one_line = |s: String| s.replace(['\r', '\n'], " ");
    match error {
        EmailError::DomainNotLinked(_) => {
            "550 5.1.7 The specified sender domain has not been linked.".into()
        }
        EmailError::Invalid { code, message } => one_line(format!("554 5.6.0 {code}: {message}")),
        EmailError::Missing { message, .. } => one_line(format!("554 5.6.0 {message}")),
        other => one_line(format!("451 4.3.0 {other}")),
    }
}

/// The reply a scenario rule's `respond` gives over SMTP: throttling (429) and server errors
/// (5xx) are temporary (`451 4.7.500`, try again later), any other status a permanent refusal
/// (`550 5.7.500`); the rule's `message` is the text.
fn scripted_reply(status: u16, message: Option<&str>, rule: &str) -> String {
    let text = message
        .map(|m| m.replace(['\r', '\n'], " "))
        .unwrap_or_else(|| {
            format!("Refused by the emulator's scenario rule '{rule}' (HTTP {status})")
        });
    if status == 429 || status >= 500 {
        format!("451 4.7.500 {text}")
    } else {
        format!("550 5.7.500 {text}")
    }
}

/// `FROM:<path> params` (or `TO:`): the address in the angle brackets (a source route dropped)
/// and the parameters after it.
pub(super) fn path<'a>(arg: &'a str, keyword: &str) -> Option<(String, &'a str)> {
    let head = arg.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = arg[keyword.len()..].trim_start();
    let rest = rest.strip_prefix('<')?;
    let end = rest.find('>')?;
    let inner = &rest[..end];
    let address = match inner.strip_prefix('@') {
        Some(routed) => routed.split_once(':').map_or("", |(_, a)| a),
        None => inner,
    };
    Some((address.trim().to_string(), rest[end + 1..].trim()))
}
