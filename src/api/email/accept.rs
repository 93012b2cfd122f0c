//! The one entry point for an email, whichever front door received it (the REST API in
//! [`super::send`]; an SMTP relay): [`accept_email`] checks a [`NewEmail`] as the service does,
//! starts its send operation, puts it in the inbox, plans each recipient's delivery report and
//! publishes the change record to the change sink (the event bus and live views listen there).
//! It reads no HTTP request: a front door turns what it received into a [`NewEmail`] (decoded attachments, custom headers) and maps the
//! [`EmailError`] it may get back onto its own protocol (the REST API answers `error::from`'s
//! status and code; SMTP would answer a 5xx reply).
//!
//! What a front door passes besides the message ([`AcceptOptions`]): the caller's operation id
//! (REST: the `Operation-Id` header; it makes a retried send return the first operation), a
//! name for how the message came in (`via`: the api-version, or e.g. `smtp`), and the outcomes
//! scenario rules scripted for it ([`EmailOverrides`]; the REST API's operation layer computes
//! them from the rules that match `Email.Send`).

use std::borrow::Cow;
use std::collections::HashSet;

use chrono::{DateTime, Utc};

use crate::clock;
use crate::domain::{
    DeliveryStatus, EmailAddress, MAX_RECIPIENTS, is_allowed_attachment_type, same_address,
};
use crate::resource::Resource;
use crate::scenario::EmailOverrides;
use crate::scenario::rules::EmailResultStatus;
use crate::state::AppState;
use crate::store::lro::{LroError, LroOutcome, LroPlan};
use crate::store::{Accepted, Attachment, Delivery, EmailError, Mailbox, SentEmail};

/// Custom header that makes an attachment of a type the service refuses (or one that cannot be
/// decoded) be dropped instead of failing the send.
pub const SUPPRESS_INVALID_ATTACHMENT: &str = "x-ms-acsemail-suppress-invalid-attachment";
/// Custom header that lets several inline attachments share a `contentId`.
pub const IGNORE_DUPLICATE_CONTENT_ID: &str = "x-ms-acsemail-ignore-duplicate-content-id";
/// Custom header that makes an invalid `Message-ID` header fail the send instead of being
/// replaced.
pub const VALIDATE_MESSAGE_ID: &str = "x-ms-acsemail-validate-message-id";
/// The prefix of the service's own switches; they are not headers of the message.
const SWITCH_PREFIX: &str = "x-ms-acsemail-";

/// Headers the service writes itself: a custom header may not set them.
const RESERVED_HEADERS: &[&str] = &[
    "from",
    "sender",
    "to",
    "cc",
    "bcc",
    "reply-to",
    "subject",
    "date",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "content-disposition",
    "content-id",
    "return-path",
];
/// The longest custom header name, and value (RFC 5322's line limit).
const MAX_HEADER_NAME: usize = 100;
const MAX_HEADER_VALUE: usize = 998;

/// The error of a send a rule fails without giving one: the service's own example.
const EMAIL_DROPPED: (&str, &str) = (
    "EmailDropped",
    "Email was dropped after several attempts to deliver.",
);
/// The error of a send a rule cancels without giving one.
const CANCELED: (&str, &str) = (
    "Canceled",
    "The email send operation was canceled (scripted by the emulator).",
);
/// The error of a send whose every recipient is suppressed (the code customers report; the
/// message is the emulator's).
const ALL_SUPPRESSED: (&str, &str) = (
    "EmailDroppedAllRecipientsSuppressed",
    "Email was dropped because all of its recipients are on the suppression list.",
);

/// A named address as received, not yet checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewMailbox {
    /// The address.
    pub address: String,
    /// The display name.
    pub display_name: Option<String>,
}

/// An attachment as received, decoded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewAttachment {
    /// The file name.
    pub name: String,
    /// Its MIME type.
    pub content_type: String,
    /// The content id of an inline attachment.
    pub content_id: Option<String>,
    /// The bytes.
    pub content: Vec<u8>,
}

/// A message as a front door received it, before the service's checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewEmail {
    /// The sender's address.
    pub sender: String,
    /// `To` recipients.
    pub to: Vec<NewMailbox>,
    /// `Cc` recipients.
    pub cc: Vec<NewMailbox>,
    /// `Bcc` recipients.
    pub bcc: Vec<NewMailbox>,
    /// `Reply-To` addresses.
    pub reply_to: Vec<NewMailbox>,
    /// The subject.
    pub subject: String,
    /// The plain-text body.
    pub plain_text: Option<String>,
    /// The HTML body.
    pub html: Option<String>,
    /// Attachments, regular and inline.
    pub attachments: Vec<NewAttachment>,
    /// Custom headers (the service's `x-ms-acsemail-*` switches included), in order.
    pub headers: Vec<(String, String)>,
    /// Whether engagement (views, clicks) is not tracked for it.
    pub user_engagement_tracking_disabled: bool,
    /// The RFC 5322 message as received, when the front door received one (SMTP); the inbox's
    /// `.eml` returns it unchanged.
    pub raw: Option<Vec<u8>>,
}

/// What a front door passes besides the message.
#[derive(Debug, Clone, Copy)]
pub struct AcceptOptions<'a> {
    /// The caller's id for the send operation (any case; a UUID over REST); `None`: a new one.
    pub operation_id: Option<&'a str>,
    /// How it came in: the REST api-version, or e.g. `smtp` (shown in the inbox).
    pub via: &'static str,
    /// The outcomes scenario rules scripted for it.
    pub scripted: &'a EmailOverrides,
}

/// Whether the custom header `name` is set to `true` (names and value in any case).
pub fn switch_on(headers: &[(String, String)], name: &str) -> bool {
    headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case(name) && v.trim().eq_ignore_ascii_case("true"))
}

fn invalid(code: &'static str, message: String) -> EmailError {
    EmailError::Invalid { code, message }
}

/// Checks `raw` (at `path`, for the message) as an address.
fn address(raw: String, path: &str) -> Result<EmailAddress, EmailError> {
    EmailAddress::parse_owned(raw).map_err(|raw| {
        invalid(
            "InvalidEmailAddress",
            format!("The email address '{raw}' ({path}) is not valid."),
        )
    })
}

fn mailboxes(list: Vec<NewMailbox>, path: &str) -> Result<Vec<Mailbox>, EmailError> {
    list.into_iter()
        .enumerate()
        .map(|(i, m)| {
            Ok(Mailbox {
                // The path is written only for the error (not for every valid recipient).
                address: EmailAddress::parse_owned(m.address).map_err(|a| {
                    invalid(
                        "InvalidEmailAddress",
                        format!("The email address '{a}' ({path}[{i}].address) is not valid."),
                    )
                })?,
                display_name: m.display_name,
            })
        })
        .collect()
}

/// A `Message-ID` as RFC 5322 writes one: `<local@domain>`, nothing else.
fn is_message_id(value: &str) -> bool {
    let Some(inner) = value
        .trim()
        .strip_prefix('<')
        .and_then(|v| v.strip_suffix('>'))
    else {
        return false;
    };
    let Some((local, domain)) = inner.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && inner
            .chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '<' | '>' | '"'))
}

/// Custom headers, in order.
type Headers = Vec<(String, String)>;

/// The custom headers a message keeps (the service's switches and `Message-ID` left out), and
/// its `Message-ID` if a valid one was given.
fn custom_headers(headers: Headers) -> Result<(Headers, Option<String>), EmailError> {
    let validate_message_id = switch_on(&headers, VALIDATE_MESSAGE_ID);
    let mut kept = Vec::new();
    let mut message_id = None;
    for (name, value) in headers {
        let lower = name.to_ascii_lowercase();
        if name.is_empty()
            || name.len() > MAX_HEADER_NAME
            || !name.bytes().all(|b| b.is_ascii_graphic() && b != b':')
        {
            return Err(invalid(
                "InvalidHeader",
                format!(
                    "The custom header name '{name}' is not valid: 1 to {MAX_HEADER_NAME} printable ASCII characters, no ':'."
                ),
            ));
        }
        if value.len() > MAX_HEADER_VALUE || value.contains(['\r', '\n']) {
            return Err(invalid(
                "InvalidHeader",
                format!(
                    "The value of the custom header '{name}' is not valid: at most {MAX_HEADER_VALUE} bytes, no line breaks."
                ),
            ));
        }
        if lower.starts_with(SWITCH_PREFIX) {
            continue;
        }
        if RESERVED_HEADERS.contains(&lower.as_str()) {
            return Err(invalid(
                "InvalidHeader",
                format!(
                    "The custom header '{name}' cannot be set: the service writes it from the message's fields."
                ),
            ));
        }
        if lower == "message-id" {
            if is_message_id(&value) {
                message_id = Some(value.trim().to_string());
            } else if validate_message_id {
                return Err(invalid(
                    "InvalidMessageId",
                    format!(
                        "The Message-ID '{value}' is not an RFC 2822 message id such as <id@domain.com>."
                    ),
                ));
            }
            continue;
        }
        kept.push((name, value));
    }
    Ok((kept, message_id))
}

fn attachments(email: &mut NewEmail, switches: &[(String, String)]) -> Result<(), EmailError> {
    let suppress = switch_on(switches, SUPPRESS_INVALID_ATTACHMENT);
    let ignore_duplicates = switch_on(switches, IGNORE_DUPLICATE_CONTENT_ID);
    let mut kept = Vec::with_capacity(email.attachments.len());
    let mut content_ids = HashSet::new();
    for (i, a) in std::mem::take(&mut email.attachments)
        .into_iter()
        .enumerate()
    {
        if a.name.trim().is_empty() {
            return Err(EmailError::Missing {
                message: format!("The attachments[{i}].name field is required."),
                target: format!("attachments[{i}].name"),
            });
        }
        if !is_allowed_attachment_type(&a.content_type) {
            if suppress {
                tracing::info!(name = %a.name, content_type = %a.content_type, "email attachment of a refused type dropped (x-ms-acsemail-suppress-invalid-attachment)");
                continue;
            }
            return Err(invalid(
                "InvalidAttachmentType",
                format!(
                    "The attachment '{}' has the content type '{}', which the service does not accept for attachments; \
                     send an allowed type, or set the header {SUPPRESS_INVALID_ATTACHMENT}: true to send the email without it.",
                    a.name, a.content_type
                ),
            ));
        }
        if let Some(cid) = &a.content_id {
            if cid.trim().is_empty() || cid.len() > MAX_HEADER_VALUE || cid.contains(['\r', '\n']) {
                return Err(invalid(
                    "InvalidAttachment",
                    format!("attachments[{i}].contentId '{cid}' is not a usable content id."),
                ));
            }
            if !content_ids.insert(cid.to_ascii_lowercase()) && !ignore_duplicates {
                return Err(invalid(
                    "DuplicateContentId",
                    format!(
                        "The contentId '{cid}' is used by more than one attachment; \
                         set the header {IGNORE_DUPLICATE_CONTENT_ID}: true to allow it."
                    ),
                ));
            }
        }
        kept.push(a);
    }
    email.attachments = kept;
    Ok(())
}

/// A message that passed the service's checks (all but the sender domain's link, which depends
/// on the resource).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedEmail {
    /// The sender.
    pub sender: EmailAddress,
    /// `To` recipients.
    pub to: Vec<Mailbox>,
    /// `Cc` recipients.
    pub cc: Vec<Mailbox>,
    /// `Bcc` recipients.
    pub bcc: Vec<Mailbox>,
    /// `Reply-To` addresses.
    pub reply_to: Vec<Mailbox>,
    /// The subject.
    pub subject: String,
    /// The plain-text body.
    pub plain_text: Option<String>,
    /// The HTML body.
    pub html: Option<String>,
    /// Attachments kept (invalid ones dropped when the switch says so).
    pub attachments: Vec<NewAttachment>,
    /// Custom headers kept (switches and `Message-ID` left out).
    pub headers: Vec<(String, String)>,
    /// A valid `Message-ID` the sender gave, if any.
    pub message_id: Option<String>,
    /// Whether engagement is not tracked.
    pub user_engagement_tracking_disabled: bool,
    /// The RFC 5322 message as received, if any.
    pub raw: Option<Vec<u8>>,
}

impl CheckedEmail {
    /// The message as the inbox keeps it: `id` (the operation id) and its `Message-ID`, how it
    /// came in, when, its operation's course and its deliveries.
    pub fn into_sent(
        self,
        id: String,
        via: &'static str,
        sent_at: DateTime<Utc>,
        plan: LroPlan,
        deliveries: Vec<Delivery>,
    ) -> SentEmail {
        let internet_message_id = self.message_id.unwrap_or_else(|| {
            // `<id@sender's domain>`, lower case.
            let domain = self.sender.as_str().rsplit_once('@').map_or("", |(_, d)| d);
            let mut mid = String::with_capacity(id.len() + domain.len() + 3);
            mid.push('<');
            mid.push_str(&id);
            mid.push('@');
            mid.push_str(domain);
            mid.push('>');
            mid.make_ascii_lowercase();
            mid
        });
        SentEmail {
            id,
            internet_message_id,
            sender: self.sender,
            to: self.to,
            cc: self.cc,
            bcc: self.bcc,
            reply_to: self.reply_to,
            subject: self.subject,
            plain_text: self.plain_text,
            html: self.html,
            attachments: self
                .attachments
                .into_iter()
                .map(|a| Attachment {
                    name: a.name,
                    content_type: a.content_type,
                    content_id: a.content_id,
                    content: a.content,
                })
                .collect(),
            headers: self.headers,
            user_engagement_tracking_disabled: self.user_engagement_tracking_disabled,
            via: Cow::Borrowed(via),
            raw: self.raw,
            sent_at,
            plan,
            deliveries,
        }
    }

    /// Each recipient once (the first time its address appears, any case).
    pub fn distinct_recipients(&self) -> Vec<EmailAddress> {
        distinct(self.to.iter().chain(&self.cc).chain(&self.bcc))
    }
}

/// The service's checks of a message, in the order the emulator applies them (the sender's
/// address, the recipients' number and addresses, `Reply-To`, the subject, a body, attachments,
/// custom headers). Pure: no state, no clock.
pub fn check_email(mut email: NewEmail) -> Result<CheckedEmail, EmailError> {
    if email.sender.trim().is_empty() {
        return Err(EmailError::Missing {
            message: "The senderAddress field is required.".into(),
            target: "senderAddress".into(),
        });
    }
    let sender = address(std::mem::take(&mut email.sender), "senderAddress")?;
    let count = email.to.len() + email.cc.len() + email.bcc.len();
    if count == 0 {
        return Err(EmailError::Missing {
            message: "At least one recipient is required (recipients.to, cc or bcc).".into(),
            target: "recipients".into(),
        });
    }
    if count > MAX_RECIPIENTS {
        return Err(invalid(
            "TooManyRecipients",
            format!(
                "An email can have at most {MAX_RECIPIENTS} recipients (to, cc and bcc together); this one has {count}."
            ),
        ));
    }
    let to = mailboxes(std::mem::take(&mut email.to), "recipients.to")?;
    let cc = mailboxes(std::mem::take(&mut email.cc), "recipients.cc")?;
    let bcc = mailboxes(std::mem::take(&mut email.bcc), "recipients.bcc")?;
    let reply_to = mailboxes(std::mem::take(&mut email.reply_to), "replyTo")?;
    if email.subject.is_empty() {
        return Err(EmailError::Missing {
            message: "The content.subject field is required.".into(),
            target: "content.subject".into(),
        });
    }
    let nonempty = |t: &Option<String>| t.as_ref().is_some_and(|t| !t.is_empty());
    if !nonempty(&email.plain_text) && !nonempty(&email.html) {
        return Err(EmailError::Missing {
            message: "Either content.plainText or content.html is required.".into(),
            target: "content".into(),
        });
    }
    let sent_headers = std::mem::take(&mut email.headers);
    attachments(&mut email, &sent_headers)?;
    let (headers, message_id) = custom_headers(sent_headers)?;
    Ok(CheckedEmail {
        sender,
        to,
        cc,
        bcc,
        reply_to,
        subject: email.subject,
        plain_text: email.plain_text,
        html: email.html,
        attachments: email.attachments,
        headers,
        message_id,
        user_engagement_tracking_disabled: email.user_engagement_tracking_disabled,
        raw: email.raw,
    })
}

/// Checks `email` as the service does ([`check_email`], then the sender domain's link to `res`)
/// and, if it passes, accepts it for `res`: starts its send operation (or, when
/// `options.operation_id` names one already started, returns that one and records nothing), puts
/// it in the inbox, plans its recipients' delivery reports and publishes the change record to the
/// change sink, whose listeners (the event bus) build the events. The operation succeeds after `--email-completion-delay` of emulator time unless the
/// scripted outcomes say otherwise.
pub fn accept_email(
    state: &AppState,
    res: &Resource,
    email: NewEmail,
    options: AcceptOptions<'_>,
) -> Result<Accepted, EmailError> {
    let email = check_email(email)?;
    let domain = email.sender.domain();
    if !res.links_email_domain(&domain) {
        tracing::info!(sender = %email.sender, resource = %res.name, "email sender domain is not linked to the resource");
        return Err(EmailError::DomainNotLinked(domain));
    }
    let now = state.clock.now();
    let id = match options.operation_id {
        Some(id) => id.to_string(),
        None => res.store.ids.uuid().hyphenated().to_string(),
    };
    let config = &state.settings.config.email;
    let scripted = options.scripted;
    let delay = scripted
        .complete_after()
        .unwrap_or(config.email_completion_delay);
    let completes_at = clock::saturating_add_std(now, delay);
    let (outcome, deliveries) = plan(
        email.distinct_recipients(),
        scripted,
        completes_at,
        config.email_delivery_report_delay,
    );
    let plan = LroPlan {
        running_at: now,
        completes_at,
        outcome,
    };
    let sent = email.into_sent(id, options.via, now, plan, deliveries);
    let accepted = res.store.email.accept(sent, state.changes.sink(&res.name));
    match &accepted {
        Accepted::New(email) => {
            tracing::debug!(operation_id = %email.id, sender = %email.sender, recipients = email.deliveries.len(), via = %email.via, "email accepted");
        }
        Accepted::Repeated(lro) => {
            tracing::debug!(operation_id = %lro.id, "email send repeated: the first operation answers");
        }
    }
    Ok(accepted)
}

/// Each recipient once (the first time its address appears, any case).
/// A linear scan: a message has at most [`MAX_RECIPIENTS`] recipients, and most have one, for
/// which a set and a lower-cased copy of each address cost more than the comparisons.
fn distinct<'a>(all: impl Iterator<Item = &'a Mailbox>) -> Vec<EmailAddress> {
    let mut seen: Vec<EmailAddress> = Vec::new();
    for m in all {
        if !seen
            .iter()
            .any(|s| same_address(s.as_str(), m.address.as_str()))
        {
            seen.push(m.address.clone());
        }
    }
    seen
}

/// How the operation ends and each recipient's delivery: scripted outcomes first, else success
/// and `Delivered` `report_delay` after the operation ends.
fn plan(
    recipients: Vec<EmailAddress>,
    scripted: &EmailOverrides,
    completes_at: DateTime<Utc>,
    report_delay: std::time::Duration,
) -> (LroOutcome, Vec<Delivery>) {
    let report = |r: &EmailAddress| {
        if scripted.0.is_empty() {
            return None;
        }
        scripted
            .for_recipient(&r.key())
            .and_then(|(rule, o)| o.delivery_report.as_ref().map(|d| (rule, d)))
    };
    if let Some((rule, result)) = scripted.result() {
        let (code, message) = match result.status {
            EmailResultStatus::Failed => EMAIL_DROPPED,
            EmailResultStatus::Canceled => CANCELED,
        };
        let error = LroError {
            code: result.code.clone().unwrap_or_else(|| code.to_string()),
            message: result
                .message
                .clone()
                .unwrap_or_else(|| message.to_string()),
        };
        tracing::info!(rule = %rule, code = %error.code, "email send operation scripted to end without success");
        let deliveries = recipients
            .into_iter()
            .map(|r| Delivery {
                recipient: r,
                status: DeliveryStatus::Failed,
                details: Cow::Owned(error.message.clone()),
                at: completes_at,
            })
            .collect();
        let outcome = match result.status {
            EmailResultStatus::Failed => LroOutcome::Failed(error),
            EmailResultStatus::Canceled => LroOutcome::Canceled(error),
        };
        return (outcome, deliveries);
    }
    let deliveries: Vec<Delivery> = recipients
        .into_iter()
        .map(|r| match report(&r) {
            Some((rule, d)) => {
                let status = d.status.status();
                tracing::info!(rule = %rule, recipient = %r, status = status.as_str(), "email delivery scripted");
                Delivery {
                    recipient: r,
                    status,
                    details: d
                        .details
                        .clone()
                        .map_or(Cow::Borrowed(status.default_details()), Cow::Owned),
                    at: clock::saturating_add_std(completes_at, d.after.unwrap_or(report_delay)),
                }
            }
            None => Delivery {
                recipient: r,
                status: DeliveryStatus::Delivered,
                details: Cow::Borrowed(DeliveryStatus::Delivered.default_details()),
                at: clock::saturating_add_std(completes_at, report_delay),
            },
        })
        .collect();
    let all_suppressed = !deliveries.is_empty()
        && deliveries
            .iter()
            .all(|d| d.status == DeliveryStatus::Suppressed);
    let outcome = if all_suppressed {
        LroOutcome::Failed(LroError {
            code: ALL_SUPPRESSED.0.into(),
            message: ALL_SUPPRESSED.1.into(),
        })
    } else {
        LroOutcome::Succeeded
    };
    (outcome, deliveries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_need_angle_brackets_and_an_at() {
        assert!(is_message_id("<guid@domain.com>"));
        assert!(is_message_id(
            "<202501131823.34067409c4494c2c8b2de03ceb26f173-NVZOA======@microsoft.com>"
        ));
        for bad in [
            "guid@domain.com",
            "<guid>",
            "<guid.domain>",
            "<a b@c>",
            "<@c>",
            "<a@>",
        ] {
            assert!(!is_message_id(bad), "{bad}");
        }
    }

    #[test]
    fn custom_headers_drop_switches_and_refuse_what_the_service_writes() {
        let h = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let (kept, id) = custom_headers(h(&[
            ("ClientCorrelationId", "123"),
            ("x-ms-acsemail-suppress-invalid-attachment", "true"),
            ("Message-ID", "<a@b.com>"),
        ]))
        .expect("valid");
        assert_eq!(kept, h(&[("ClientCorrelationId", "123")]));
        assert_eq!(id.as_deref(), Some("<a@b.com>"));
        // An invalid Message-ID is dropped, unless asked to validate it.
        assert_eq!(
            custom_headers(h(&[("Message-ID", "nope")]))
                .expect("dropped")
                .1,
            None
        );
        assert!(matches!(
            custom_headers(h(&[("Message-ID", "nope"), (VALIDATE_MESSAGE_ID, "TRUE")])),
            Err(EmailError::Invalid {
                code: "InvalidMessageId",
                ..
            })
        ));
        for bad in [
            ("Subject", "x"),
            ("Bad Name", "x"),
            ("X-Ok", "a\r\nBcc: evil@x.com"),
        ] {
            assert!(custom_headers(h(&[bad])).is_err(), "{bad:?}");
        }
    }
}
