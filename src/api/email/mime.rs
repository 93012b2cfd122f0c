//! An accepted email as an RFC 5322 message (the inbox's `.eml`), built with `mail-builder`:
//! `From`, `To`, `Cc`, `Bcc` (the sender's copy shows them), `Reply-To`, `Subject`, `Date` (when
//! it was accepted, emulator clock), `Message-ID` (`internetMessageId`), the custom headers, and
//! a MIME body: the plain text and HTML alternatives, inline attachments by `Content-ID`, regular
//! attachments. The service's `x-ms-acsemail-*` switches are not headers of the message.

use mail_builder::MessageBuilder;
use mail_builder::headers::address::Address;
use mail_builder::headers::message_id::MessageId;
use mail_builder::headers::text::Text;

use crate::store::{Mailbox, SentEmail};

fn list(mailboxes: &[Mailbox]) -> Option<Address<'_>> {
    (!mailboxes.is_empty()).then(|| {
        Address::new_list(
            mailboxes
                .iter()
                .map(|m| Address::new_address(m.display_name.as_deref(), m.address.as_str()))
                .collect(),
        )
    })
}

/// `email` as an RFC 5322 message (CRLF line ends).
pub fn eml(email: &SentEmail) -> std::io::Result<Vec<u8>> {
    let id = email
        .internet_message_id
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>');
    let mut message = MessageBuilder::new()
        .from(Address::new_address(None::<&str>, email.sender.as_str()))
        .subject(email.subject.as_str())
        .date(email.sent_at.timestamp())
        .message_id(MessageId::new(id));
    for (header, addresses) in [
        ("To", &email.to),
        ("Cc", &email.cc),
        ("Bcc", &email.bcc),
        ("Reply-To", &email.reply_to),
    ] {
        if let Some(addresses) = list(addresses) {
            message = message.header(header, addresses);
        }
    }
    for (name, value) in &email.headers {
        message = message.header(name.as_str(), Text::new(value.as_str()));
    }
    if let Some(text) = &email.plain_text {
        message = message.text_body(text.as_str());
    }
    if let Some(html) = &email.html {
        message = message.html_body(html.as_str());
    }
    for a in &email.attachments {
        message = match &a.content_id {
            Some(cid) => {
                message.inline(a.content_type.as_str(), cid.as_str(), a.content.as_slice())
            }
            None => message.attachment(
                a.content_type.as_str(),
                a.name.as_str(),
                a.content.as_slice(),
            ),
        };
    }
    message.write_to_vec()
}
