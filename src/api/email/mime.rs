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

/// `email` as an RFC 5322 message (CRLF line ends): the message as received when a front door
/// received one (SMTP), else built from its fields.
pub fn eml(email: &SentEmail) -> std::io::Result<Vec<u8>> {
    if let Some(raw) = &email.raw {
        return Ok(raw.clone());
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::email::accept::check_email;
    use crate::api::email::send::new_email;
    use crate::api::email::wire::EmailMessageDto;
    use crate::store::lro::{LroOutcome, LroPlan};
    use proptest::prelude::*;

    /// The request decoder, the checks and the MIME builder, one after the other, as a send
    /// goes through them (the `email_bodies` fuzz target drives the same chain).
    /// Whether the message got as far as the MIME builder.
    fn through_the_chain(bytes: &[u8]) -> bool {
        let Ok(dto) = serde_json::from_slice::<EmailMessageDto>(bytes) else {
            return false;
        };
        let Ok(email) = new_email(dto, "2025-09-01") else {
            return false;
        };
        let Ok(checked) = check_email(email) else {
            return false;
        };
        let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).expect("valid");
        let plan = LroPlan {
            running_at: now,
            completes_at: now,
            outcome: LroOutcome::Succeeded,
        };
        let sent = checked.into_sent("id".into(), "2025-09-01", now, plan, Vec::new());
        let message = eml(&sent).expect("a message builds");
        !message.is_empty()
    }

    /// A send body whose strings come from `text`: any characters, in every field the MIME
    /// builder writes.
    fn body(text: &str, n: usize) -> String {
        let s = serde_json::to_string(text).expect("a string");
        format!(
            r#"{{"senderAddress":"a@example.com","content":{{"subject":{s},"plainText":{s},"html":{s}}},
            "recipients":{{"to":[{{"address":"b@example.com","displayName":{s}}}]}},
            "replyTo":[{{"address":"c@example.com","displayName":{s}}}],
            "headers":{{"X-{n}":{s}}},
            "attachments":[{{"name":{s},"contentType":"text/plain","contentInBase64":"aGk=","contentId":{s}}}]}}"#
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            through_the_chain(&bytes);
        }

        // Ends in a letter or digit: a content id of only spaces is refused, rightly.
        #[test]
        fn arbitrary_text_in_every_field_builds_a_message(text in "\\PC{0,63}[a-zA-Z0-9]", n in 0usize..1000) {
            prop_assert!(through_the_chain(body(&text, n).as_bytes()), "{}", text);
        }
    }

    #[test]
    fn a_message_with_everything_builds() {
        assert!(through_the_chain(
            body("Grüße ✓ \"quoted\" <b>", 1).as_bytes()
        ));
        assert!(through_the_chain(body(&"x".repeat(900), 2).as_bytes()));
    }
}
