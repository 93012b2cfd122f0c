//! A message received over SMTP as the email entry point's [`NewEmail`], parsed with
//! `mail-parser`.
//!
//! The envelope decides who sends and who receives, as with any mail relay: the sender is
//! `MAIL FROM`, the recipients are the `RCPT TO`s. Each recipient is filed under `to` or `cc` when
//! the message's `To` or `Cc` header names it (with the display name given there), else under
//! `bcc`. The subject, the first plain-text and HTML bodies, the attachments (inline ones, with a
//! `Content-ID`, keep it), `Reply-To`, `Message-ID` and the `X-*` headers come from the message;
//! the raw message is kept so the inbox's `.eml` returns it byte for byte, with a `Date` and a
//! `Message-ID` put in front when it has none, as a submission server adds them (RFC 6409 §8.2,
//! §8.3).

use mail_parser::{MessageParser, MimeHeaders};

use crate::api::email::accept::{NewAttachment, NewEmail, NewMailbox};
use crate::domain::{EmailAddress, address_key};

/// The header names kept as custom headers: `X-*` (the service's `x-ms-acsemail-*` switches
/// included; the entry point reads and drops those) and `Message-ID`.
fn custom_header(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.starts_with("x-") || lower == "message-id"
}

/// A header value with its folding undone.
fn unfold(value: &str) -> String {
    value
        .replace("\r\n", "")
        .replace('\n', "")
        .trim()
        .to_string()
}

/// The headers a message gets when it has none of its own.
#[derive(Debug, Clone)]
pub struct Stamp {
    /// The `Date` value (RFC 5322), the time it was received.
    pub date: String,
    /// The `Message-ID` value, `<id@domain>`.
    pub message_id: String,
}

/// The message `raw` (dot-unstuffed DATA, CRLF line ends) sent by `sender` to `recipients`;
/// `stamp` gives the `Date` and `Message-ID` it lacks.
pub fn new_email(
    raw: Vec<u8>,
    sender: &EmailAddress,
    recipients: &[EmailAddress],
    stamp: &Stamp,
) -> NewEmail {
    let mut email = NewEmail {
        sender: sender.as_str().to_string(),
        ..NewEmail::default()
    };
    let mut prefix = String::new();
    let parsed = MessageParser::default().parse(&raw);
    if let Some(message) = &parsed {
        if message.date().is_none() {
            prefix.push_str(&format!("Date: {}\r\n", stamp.date));
        }
        if message.message_id().is_none() {
            prefix.push_str(&format!("Message-ID: {}\r\n", stamp.message_id));
            email
                .headers
                .push(("Message-ID".into(), stamp.message_id.clone()));
        }
        let named = |list: Option<&mail_parser::Address<'_>>| -> Vec<(String, Option<String>)> {
            list.into_iter()
                .flat_map(|a| a.iter())
                .filter_map(|a| {
                    a.address()
                        .map(|addr| (address_key(addr), a.name().map(str::to_string)))
                })
                .collect()
        };
        let to = named(message.to());
        let cc = named(message.cc());
        for r in recipients {
            let key = r.key();
            let find = |list: &[(String, Option<String>)]| {
                list.iter().find(|(k, _)| *k == key).map(|(_, n)| n.clone())
            };
            let mailbox = |display_name| NewMailbox {
                address: r.as_str().to_string(),
                display_name,
            };
            if let Some(name) = find(&to) {
                email.to.push(mailbox(name));
            } else if let Some(name) = find(&cc) {
                email.cc.push(mailbox(name));
            } else {
                email.bcc.push(mailbox(None));
            }
        }
        email.reply_to = message
            .reply_to()
            .into_iter()
            .flat_map(|a| a.iter())
            .filter_map(|a| {
                a.address().map(|addr| NewMailbox {
                    address: addr.to_string(),
                    display_name: a.name().map(str::to_string),
                })
            })
            .collect();
        email.subject = message.subject().unwrap_or_default().to_string();
        email.plain_text = message
            .text_bodies()
            .find(|p| !p.is_text_html())
            .and_then(|p| p.text_contents())
            .map(str::to_string);
        email.html = message
            .html_bodies()
            .find(|p| p.is_text_html())
            .and_then(|p| p.text_contents())
            .map(str::to_string);
        email.attachments = message
            .attachments()
            .enumerate()
            .map(|(i, part)| {
                let content_type = part
                    .content_type()
                    .map(|ct| match ct.subtype() {
                        Some(sub) => format!("{}/{}", ct.ctype(), sub),
                        None => ct.ctype().to_string(),
                    })
                    .unwrap_or_else(|| "application/octet-stream".to_string())
                    .to_ascii_lowercase();
                let inline = part
                    .content_disposition()
                    .is_none_or(|d| !d.ctype().eq_ignore_ascii_case("attachment"));
                NewAttachment {
                    name: part
                        .attachment_name()
                        .map(str::to_string)
                        .unwrap_or_else(|| format!("attachment-{}", i + 1)),
                    content_type,
                    content_id: part
                        .content_id()
                        .filter(|_| inline)
                        .map(|id| id.trim_matches(['<', '>']).to_string()),
                    content: part.contents().to_vec(),
                }
            })
            .collect();
        email.headers.extend(
            message
                .headers_raw()
                .filter(|(name, _)| custom_header(name))
                .map(|(name, value)| (name.to_string(), unfold(value))),
        );
    } else {
        email.bcc = recipients
            .iter()
            .map(|r| NewMailbox {
                address: r.as_str().to_string(),
                display_name: None,
            })
            .collect();
    }
    drop(parsed);
    email.raw = Some(if prefix.is_empty() {
        raw
    } else {
        let mut stamped = prefix.into_bytes();
        stamped.extend_from_slice(&raw);
        stamped
    });
    email
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn addr(a: &str) -> EmailAddress {
        EmailAddress::parse(a).expect("valid")
    }

    fn stamp() -> Stamp {
        Stamp {
            date: "Thu, 03 Dec 2026 21:00:00 +0000".into(),
            message_id: "<stamped@example.com>".into(),
        }
    }

    #[test]
    fn a_message_without_date_or_message_id_gets_them() {
        let email = new_email(
            b"Subject: Hi\r\n\r\nhello\r\n".to_vec(),
            &addr("s@example.com"),
            &[addr("r@example.com")],
            &stamp(),
        );
        assert_eq!(
            email.raw.as_deref(),
            Some(
                &b"Date: Thu, 03 Dec 2026 21:00:00 +0000\r\nMessage-ID: <stamped@example.com>\r\nSubject: Hi\r\n\r\nhello\r\n"[..]
            )
        );
        assert_eq!(
            email.headers,
            vec![(
                "Message-ID".to_string(),
                "<stamped@example.com>".to_string()
            )]
        );
    }

    #[test]
    fn envelope_recipients_are_filed_by_the_headers() {
        let raw = b"From: Sender <s@example.com>\r\nTo: \"Ann\" <a@example.com>\r\nCc: b@example.com\r\n\
Subject: Hi\r\nX-Trace: 1\r\n  2\r\nMessage-ID: <m1@example.com>\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n\
--b\r\nContent-Type: text/html\r\n\r\n<p>hello</p>\r\n--b\r\nContent-Type: application/pdf\r\n\
Content-Disposition: attachment; filename=\"a.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\naGk=\r\n--b--\r\n";
        let email = new_email(
            raw.to_vec(),
            &addr("s@example.com"),
            &[
                addr("A@example.com"),
                addr("b@example.com"),
                addr("c@example.com"),
            ],
            &stamp(),
        );
        assert_eq!(email.to.len(), 1);
        assert_eq!(email.to[0].display_name.as_deref(), Some("Ann"));
        assert_eq!(email.cc[0].address, "b@example.com");
        assert_eq!(email.bcc[0].address, "c@example.com");
        assert_eq!(email.subject, "Hi");
        assert_eq!(email.plain_text.as_deref().map(str::trim), Some("hello"));
        assert_eq!(email.html.as_deref().map(str::trim), Some("<p>hello</p>"));
        assert_eq!(email.attachments.len(), 1);
        assert_eq!(email.attachments[0].name, "a.pdf");
        assert_eq!(email.attachments[0].content_type, "application/pdf");
        assert_eq!(email.attachments[0].content, b"hi");
        assert_eq!(email.attachments[0].content_id, None);
        assert!(email.headers.contains(&("X-Trace".into(), "1  2".into())));
        assert!(
            email
                .headers
                .contains(&("Message-ID".into(), "<m1@example.com>".into()))
        );
        // It has a Message-ID but no Date: only the Date is added.
        let expected = [&b"Date: Thu, 03 Dec 2026 21:00:00 +0000\r\n"[..], &raw[..]].concat();
        assert_eq!(email.raw.as_deref(), Some(&expected[..]));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn arbitrary_messages_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let email = new_email(bytes, &addr("s@example.com"), &[addr("r@example.com")], &stamp());
            prop_assert_eq!(email.to.len() + email.cc.len() + email.bcc.len(), 1);
        }
    }
}
