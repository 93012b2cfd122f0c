//! Email: addresses, the attachment types the service accepts, delivery and engagement outcomes,
//! and the recipient patterns scenario rules match on.
//!
//! No actix, no serde_json. Address syntax is checked by the `email_address` crate (RFC 5322
//! `addr-spec`, no display text, no domain literal, at least two domain labels).

use std::fmt;

/// The most recipients (`to`, `cc` and `bcc` together) one message may have (service limits).
pub const MAX_RECIPIENTS: usize = 50;

/// The longest address the emulator accepts (RFC 5321: 64 + 1 + 255 octets, rounded to 320).
pub const MAX_ADDRESS_BYTES: usize = 320;

/// A syntactically valid email address (`local@domain`), as written by the client.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

/// Why a string is not an email address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a valid email address")]
pub struct InvalidEmailAddress(pub String);

impl EmailAddress {
    /// Checks `raw` (surrounding whitespace is not part of an address).
    pub fn parse(raw: &str) -> Result<Self, InvalidEmailAddress> {
        Self::check(raw)?;
        Ok(Self(raw.to_string()))
    }

    /// [`EmailAddress::parse`], keeping `raw`'s buffer; `raw` comes back if it is not an
    /// address.
    pub fn parse_owned(raw: String) -> Result<Self, String> {
        match Self::check(&raw) {
            Ok(()) => Ok(Self(raw)),
            Err(_) => Err(raw),
        }
    }

    fn check(raw: &str) -> Result<(), InvalidEmailAddress> {
        if raw.len() > MAX_ADDRESS_BYTES {
            return Err(InvalidEmailAddress(raw.chars().take(64).collect()));
        }
        let options = email_address::Options::default()
            .without_display_text()
            .without_domain_literal()
            .with_required_tld();
        if is_plain_address(raw)
            || email_address::EmailAddress::parse_with_options(raw, options).is_ok()
        {
            Ok(())
        } else {
            Err(InvalidEmailAddress(raw.to_string()))
        }
    }

    /// The address as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the last `@`.
    pub fn local_part(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(local, _)| local)
    }

    /// The domain, lower-cased (domains are case-insensitive).
    pub fn domain(&self) -> String {
        self.0
            .rsplit_once('@')
            .map_or(String::new(), |(_, domain)| domain.to_ascii_lowercase())
    }

    /// The address with its domain lower-cased: how the emulator compares addresses (the local
    /// part is case-sensitive in principle, but no mailbox provider treats it so; the emulator
    /// compares it ignoring ASCII case too, see [`address_key`]).
    pub fn key(&self) -> String {
        address_key(&self.0)
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether `raw` has the everyday shape of an address, which needs no full parse: a dot-atom
/// local part of at most 64 ASCII characters (letters, digits, ``!#$%&'*+/=?^_`{|}~-``, dots
/// between them), one `@`, and a domain of at most 254 characters in two or more labels of at
/// most 63 letters, digits and inner hyphens. Every such address is one the `email_address`
/// crate accepts with the options [`EmailAddress::parse`] uses (a property test holds the two
/// together); anything else, valid or not, is left to the crate.
fn is_plain_address(raw: &str) -> bool {
    let Some((local, domain)) = raw.split_once('@') else {
        return false;
    };
    let atext = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b);
    let label = |l: &str| {
        let bytes = l.as_bytes();
        (1..=63).contains(&bytes.len())
            && bytes[0].is_ascii_alphanumeric()
            && bytes[bytes.len() - 1].is_ascii_alphanumeric()
            && bytes
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b == b'-')
    };
    (1..=64).contains(&local.len())
        && local
            .split('.')
            .all(|atom| !atom.is_empty() && atom.bytes().all(atext))
        && (1..=254).contains(&domain.len())
        && domain.split('.').all(label)
        && domain.contains('.')
}

/// How addresses are compared (filters, rules, suppression): ASCII case ignored.
pub fn address_key(address: &str) -> String {
    address.trim().to_ascii_lowercase()
}

/// Whether `a` and `b` are the same address: `address_key(a) == address_key(b)`, without the
/// copies.
pub fn same_address(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

/// Whether a domain name is usable as a sender domain: letters, digits, `-` and `.`, at least
/// two labels, none empty, at most 253 characters.
pub fn is_domain_name(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    domain.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// The Azure-managed domain of a resource: `<resource id>.azurecomm.net`, the shape of the
/// domain Azure provisions (`xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx.azurecomm.net`), stable
/// across runs because the resource id is.
pub fn managed_domain(resource_id: uuid::Uuid) -> String {
    format!("{}.azurecomm.net", resource_id.hyphenated())
}

/// Whether `domain` (any case, no trailing dot) is [`managed_domain`] of `resource_id`; without
/// writing that name out, as a send checks it on every request.
pub fn is_managed_domain_of(domain: &str, resource_id: uuid::Uuid) -> bool {
    const SUFFIX: &str = ".azurecomm.net";
    let Some(split) = domain.len().checked_sub(SUFFIX.len()) else {
        return false;
    };
    let (id, suffix) = match (domain.get(..split), domain.get(split..)) {
        (Some(id), Some(suffix)) => (id, suffix),
        _ => return false,
    };
    // The hyphenated form only (36 characters), as managed_domain writes it.
    suffix.eq_ignore_ascii_case(SUFFIX)
        && id.len() == 36
        && uuid::Uuid::try_parse(id).is_ok_and(|parsed| parsed == resource_id)
}

/// The default sender of a resource's Azure-managed domain.
pub fn default_sender(resource_id: uuid::Uuid) -> String {
    format!("DoNotReply@{}", managed_domain(resource_id))
}

/// The attachment MIME types the service accepts ("Allowed attachment types for sending
/// email"), lower case.
pub const ALLOWED_ATTACHMENT_TYPES: &[&str] = &[
    "video/3gpp",
    "video/3gpp2",
    "application/x-7z-compressed",
    "audio/aac",
    "video/x-msvideo",
    "image/bmp",
    "text/csv",
    "application/msword",
    "application/vnd.ms-word.document.macroenabled.12",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.ms-fontobject",
    "application/epub+zip",
    "image/gif",
    "application/gzip",
    "image/vnd.microsoft.icon",
    "text/calendar",
    "image/jpeg",
    "application/json",
    "audio/midi",
    "audio/mpeg",
    "video/mp4",
    "video/mpeg",
    "audio/ogg",
    "video/ogg",
    "application/ogg",
    "application/onenote",
    "audio/opus",
    "font/otf",
    "application/pdf",
    "image/png",
    "application/vnd.ms-powerpoint.slideshow.macroenabled.12",
    "application/vnd.openxmlformats-officedocument.presentationml.slideshow",
    "application/vnd.ms-powerpoint",
    "application/vnd.ms-powerpoint.presentation.macroenabled.12",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.ms-publisher",
    "application/x-rar-compressed",
    "application/vnd.ms-outlook",
    "application/rtf",
    "image/svg+xml",
    "application/x-tar",
    "image/tiff",
    "font/ttf",
    "text/plain",
    "application/vnd.visio",
    "audio/wav",
    "audio/webm",
    "video/webm",
    "image/webp",
    "audio/x-ms-wma",
    "video/x-ms-wmv",
    "font/woff",
    "font/woff2",
    "application/vnd.ms-excel",
    "application/vnd.ms-excel.sheet.binary.macroenabled.12",
    "application/vnd.ms-excel.sheet.macroenabled.12",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/xml",
    "text/xml",
    "application/zip",
];

/// Whether `content_type` (parameters such as `; charset=utf-8` ignored, any case) is a type
/// the service accepts for attachments.
pub fn is_allowed_attachment_type(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    ALLOWED_ATTACHMENT_TYPES.contains(&essence.as_str())
}

/// A recipient's delivery outcome, as `EmailDeliveryReportReceived` reports it: anything but
/// `Delivered` is a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    /// The recipient's mail server accepted the message.
    Delivered,
    /// Delivery failed (the send operation failed, or the server refused it).
    Failed,
    /// A hard bounce: the mailbox does not exist or refuses mail permanently.
    Bounced,
    /// The address is on the suppression list (it bounced or complained before).
    Suppressed,
    /// The message was quarantined as suspicious.
    Quarantined,
    /// The message was filtered as spam.
    FilteredSpam,
}

impl DeliveryStatus {
    /// Every status.
    pub const ALL: [DeliveryStatus; 6] = [
        DeliveryStatus::Delivered,
        DeliveryStatus::Failed,
        DeliveryStatus::Bounced,
        DeliveryStatus::Suppressed,
        DeliveryStatus::Quarantined,
        DeliveryStatus::FilteredSpam,
    ];

    /// The wire name (PascalCase, as the service sends it).
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Delivered => "Delivered",
            DeliveryStatus::Failed => "Failed",
            DeliveryStatus::Bounced => "Bounced",
            DeliveryStatus::Suppressed => "Suppressed",
            DeliveryStatus::Quarantined => "Quarantined",
            DeliveryStatus::FilteredSpam => "FilteredSpam",
        }
    }

    /// Parses a wire name, ignoring case.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(raw.trim()))
    }

    /// The `deliveryStatusDetails.statusMessage` the emulator writes when nothing scripted one.
    pub fn default_details(self) -> &'static str {
        match self {
            DeliveryStatus::Delivered => "No error.",
            DeliveryStatus::Failed => {
                "The message could not be delivered (scripted by the emulator)."
            }
            DeliveryStatus::Bounced => {
                "The recipient's mail server refused the message: the mailbox does not exist (scripted by the emulator)."
            }
            DeliveryStatus::Suppressed => {
                "The recipient is on the suppression list (scripted by the emulator)."
            }
            DeliveryStatus::Quarantined => {
                "The message was quarantined (scripted by the emulator)."
            }
            DeliveryStatus::FilteredSpam => {
                "The message was filtered as spam (scripted by the emulator)."
            }
        }
    }
}

/// What a recipient did with a message, as `EmailEngagementTrackingReportReceived` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngagementType {
    /// The message was opened.
    View,
    /// A link in it was clicked.
    Click,
}

impl EngagementType {
    /// `view` or `click` (lower case on the wire).
    pub fn as_str(self) -> &'static str {
        match self {
            EngagementType::View => "view",
            EngagementType::Click => "click",
        }
    }

    /// Parses `view` / `click`, ignoring case.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "view" => Some(EngagementType::View),
            "click" => Some(EngagementType::Click),
            _ => None,
        }
    }
}

/// Whether `address` matches `pattern`, ignoring ASCII case: `*` stands for any run of
/// characters (`*@bounce.example.com`, `qa-*@*`), everything else for itself.
pub fn address_matches(pattern: &str, address: &str) -> bool {
    let pattern = pattern.trim().to_ascii_lowercase();
    let address = address.trim().to_ascii_lowercase();
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = address.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        // No `*`: the whole address must be the pattern.
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// Whether `pattern` can be a recipient pattern: an address, or one with `*` wildcards
/// (`*@example.com`, `*`), no spaces, at most [`MAX_ADDRESS_BYTES`].
pub fn is_address_pattern(pattern: &str) -> bool {
    let p = pattern.trim();
    !p.is_empty()
        && p.len() <= MAX_ADDRESS_BYTES
        && !p.chars().any(char::is_whitespace)
        && (p.contains('*') || EmailAddress::parse(p).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_address_agrees_with_address_key() {
        let cases = [
            ("a@b.com", "A@B.COM"),
            (" a@b.com ", "a@b.com"),
            ("a@b.com", "a@c.com"),
            ("ä@b.com", "Ä@b.com"),
            ("", " "),
        ];
        for (a, b) in cases {
            assert_eq!(
                same_address(a, b),
                address_key(a) == address_key(b),
                "{a:?} {b:?}"
            );
        }
    }

    #[test]
    fn the_managed_domain_is_recognised_in_any_case_and_nothing_else_is() {
        let id = uuid::Uuid::parse_str("acacacac-0000-4000-8000-000000000001").expect("uuid");
        let name = managed_domain(id);
        assert!(is_managed_domain_of(&name, id));
        assert!(is_managed_domain_of(&name.to_ascii_uppercase(), id));
        for other in [
            "",
            ".azurecomm.net",
            "azurecomm.net",
            "acacacac-0000-4000-8000-000000000002.azurecomm.net",
            "acacacac000040008000000000000001.azurecomm.net",
            "x.acacacac-0000-4000-8000-000000000001.azurecomm.net",
            "acacacac-0000-4000-8000-000000000001.azurecomm.net.evil",
            "é.azurecomm.net",
        ] {
            assert!(!is_managed_domain_of(other, id), "{other}");
        }
    }

    #[test]
    fn addresses_are_checked_as_addr_spec() {
        for good in [
            "a@example.com",
            "DoNotReply@acacacac-0000-4000-8000-000000000001.azurecomm.net",
            "first.last+tag@sub.example.co.uk",
        ] {
            assert!(EmailAddress::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@localhost",
            "A <a@example.com>",
            "a@[127.0.0.1]",
            "a b@example.com",
            "a@exa mple.com",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad}");
        }
        assert!(EmailAddress::parse(&format!("{}@example.com", "a".repeat(400))).is_err());
        let a = EmailAddress::parse("Bob@Example.COM").expect("valid");
        assert_eq!(a.domain(), "example.com");
        assert_eq!(a.local_part(), "Bob");
        assert_eq!(a.key(), "bob@example.com");
    }

    /// The crate's verdict with the options `parse` uses.
    fn crate_accepts(raw: &str) -> bool {
        let options = email_address::Options::default()
            .without_display_text()
            .without_domain_literal()
            .with_required_tld();
        email_address::EmailAddress::parse_with_options(raw, options).is_ok()
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]

        /// Near-addresses (the characters that matter, at the lengths that matter): whatever the
        /// shortcut accepts, the crate accepts.
        #[test]
        fn the_plain_shape_is_a_subset_of_what_the_crate_accepts(
            local in "[a-zA-Z0-9.@\\-_+!~\"\\[\\] <>é]{0,12}",
            domain in "[a-zA-Z0-9.\\-_ é\\[\\]]{0,14}",
        ) {
            let raw = format!("{local}@{domain}");
            if is_plain_address(&raw) {
                proptest::prop_assert!(crate_accepts(&raw), "{raw:?}");
            }
        }

        /// Addresses built in the plain shape, at and past the limits (local part 64, label 63).
        #[test]
        fn plain_addresses_at_the_limits_agree_with_the_crate(
            local in "[a-z0-9!#$%&'*+/=?^_`{|}~-]{1,30}(\\.[a-z0-9_-]{1,40}){0,2}",
            labels in proptest::collection::vec("[a-z0-9]([a-z0-9-]{0,64}[a-z0-9])?", 1..5),
        ) {
            let raw = format!("{local}@{}", labels.join("."));
            if is_plain_address(&raw) {
                proptest::prop_assert!(crate_accepts(&raw), "{raw:?}");
            } else {
                // Outside the shape only through a length limit or a single label.
                proptest::prop_assert!(
                    local.len() > 64 || labels.len() < 2 || labels.iter().any(|l| l.len() > 63)
                        || raw.len() - local.len() - 1 > 254,
                    "{raw:?}"
                );
            }
        }
    }

    #[test]
    fn the_plain_shape_covers_everyday_addresses_only() {
        for plain in [
            "a@example.com",
            "DoNotReply@acacacac-0000-4000-8000-000000000001.azurecomm.net",
            "first.last+tag@sub.example.co.uk",
            "o'brien@x-y.example",
        ] {
            assert!(is_plain_address(plain) && crate_accepts(plain), "{plain}");
        }
        // Valid, but left to the crate.
        for other in [
            "\"quoted local\"@example.com",
            "é@example.com",
            "a@exämple.com",
        ] {
            assert!(!is_plain_address(other), "{other}");
            assert!(EmailAddress::parse(other).is_ok(), "{other}");
        }
        for bad in [
            "a..b@example.com",
            ".a@example.com",
            "a.@example.com",
            "a@-example.com",
            "a@example-.com",
            "a@example..com",
            "a@example.com.",
            "a@b@example.com",
            "a@localhost",
        ] {
            assert!(!is_plain_address(bad), "{bad}");
            assert!(EmailAddress::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn patterns_match_with_stars_ignoring_case() {
        assert!(address_matches(
            "*@bounce.example.com",
            "X@Bounce.Example.com"
        ));
        assert!(!address_matches("*@bounce.example.com", "x@example.com"));
        assert!(address_matches("*", "anything@example.com"));
        assert!(address_matches("qa-*@*", "qa-1@example.com"));
        assert!(!address_matches("qa-*@*", "dev@example.com"));
        assert!(address_matches("a@b.com", "A@B.com"));
        assert!(!address_matches("a@b.com", "a@b.com.evil"));
        assert!(!address_matches("*a*a", "a"));
        assert!(address_matches("*a*a", "aa"));
        assert!(is_address_pattern("*@x.com") && is_address_pattern("bob@x.com"));
        assert!(!is_address_pattern("bob") && !is_address_pattern("a b@*"));
    }

    #[test]
    fn attachment_types_follow_the_allow_list() {
        assert!(is_allowed_attachment_type("application/pdf"));
        assert!(is_allowed_attachment_type("Text/Plain; charset=utf-8"));
        assert!(is_allowed_attachment_type(
            "application/vnd.ms-excel.sheet.macroEnabled.12"
        ));
        assert!(!is_allowed_attachment_type("application/x-msdownload"));
        assert!(!is_allowed_attachment_type(""));
    }

    #[test]
    fn statuses_and_domains() {
        for s in DeliveryStatus::ALL {
            assert_eq!(DeliveryStatus::parse(&s.as_str().to_lowercase()), Some(s));
        }
        assert_eq!(DeliveryStatus::parse("Expanded"), None);
        assert!(is_domain_name("contoso.com") && !is_domain_name("contoso"));
        assert!(!is_domain_name("-a.com") && !is_domain_name("a..com"));
        let id = uuid::Uuid::from_u128(1);
        assert_eq!(
            default_sender(id),
            "DoNotReply@00000000-0000-0000-0000-000000000001.azurecomm.net"
        );
    }
}
