//! SMS message ids and segment counting.

use std::fmt;

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// The id of an outgoing SMS (one per recipient and send).
///
/// Opaque to clients. The emulator mints `Outgoing_<yyyyMMddHHmmss><guid>`, the shape of the
/// 2021-03-07 examples; any non-empty id without `/` is accepted for look-ups.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SmsMessageId(String);

impl SmsMessageId {
    /// A new, unique id, stamped with `now`.
    pub fn generate(now: DateTime<Utc>) -> Self {
        Self::new(now, Uuid::new_v4())
    }

    /// The id stamped with `now` and made unique by `id`.
    pub fn new(now: DateTime<Utc>, id: Uuid) -> Self {
        Self::stamped("Outgoing_", now, id)
    }

    /// A new id for an inbound message (`Incoming_<yyyyMMddHHmmss><guid>`, the shape of the
    /// service's `SMSReceived` examples); `id` makes it unique (a resource's id source, so that `--seed` reproduces it).
    pub fn incoming(now: DateTime<Utc>, id: Uuid) -> Self {
        Self::stamped("Incoming_", now, id)
    }

    /// `<prefix><yyyyMMddHHmmss><guid>`, as `format!("{prefix}{}{id}", now.format("%Y%m%d%H%M%S"))`
    /// writes it, without parsing the format string per id (one per SMS recipient).
    fn stamped(prefix: &str, now: DateTime<Utc>, id: Uuid) -> Self {
        use chrono::{Datelike, Timelike};
        use std::fmt::Write;
        let mut text = String::with_capacity(prefix.len() + 14 + 36);
        text.push_str(prefix);
        let year = now.year();
        if (0..=9999).contains(&year) {
            let _ = write!(
                text,
                "{year:04}{:02}{:02}{:02}{:02}{:02}",
                now.month(),
                now.day(),
                now.hour(),
                now.minute(),
                now.second()
            );
        } else {
            // chrono signs years past four digits (`+10000`).
            let _ = write!(text, "{}", now.format("%Y%m%d%H%M%S"));
        }
        text.push_str(id.hyphenated().encode_lower(&mut Uuid::encode_buffer()));
        Self(text)
    }

    /// Accepts an id from a request path; `None` when it cannot be an id at all.
    pub fn parse(raw: &str) -> Option<Self> {
        (!raw.is_empty() && raw.len() <= 256 && !raw.contains('/')).then(|| Self(raw.to_string()))
    }

    /// The id as sent on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SmsMessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a message is encoded on the air interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmsEncoding {
    /// GSM 03.38 7-bit default alphabet (160 characters, 153 per part when concatenated).
    Gsm7,
    /// UCS-2 (70 UTF-16 units, 67 per part when concatenated).
    Ucs2,
}

impl SmsEncoding {
    /// `GSM-7` or `UCS-2`.
    pub fn as_str(self) -> &'static str {
        match self {
            SmsEncoding::Gsm7 => "GSM-7",
            SmsEncoding::Ucs2 => "UCS-2",
        }
    }
}

/// GSM 03.38 basic character set (one septet each).
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// GSM 03.38 extension table (escape + character: two septets each).
const GSM7_EXTENSION: &str = "\u{c}^{}\\[~]|€";

/// The encoding a carrier would pick for `message` and how many SMS segments it takes.
///
/// GSM-7 when every character is in the default alphabet or its extension (extension characters
/// count twice); UCS-2 otherwise. One segment holds 160 septets / 70 UTF-16 units; longer messages
/// are split into parts of 153 / 67 (the rest carries the concatenation header). An empty message
/// is one segment. Escape pairs straddling a part boundary are not special-cased.
pub fn segments(message: &str) -> (SmsEncoding, u32) {
    let septets: Option<usize> = message
        .chars()
        .map(|c| {
            if GSM7_BASIC.contains(c) {
                Some(1)
            } else if GSM7_EXTENSION.contains(c) {
                Some(2)
            } else {
                None
            }
        })
        .sum();
    let (encoding, units, single, part) = match septets {
        Some(n) => (SmsEncoding::Gsm7, n, 160, 153),
        None => (SmsEncoding::Ucs2, message.encode_utf16().count(), 70, 67),
    };
    let count = if units <= single {
        1
    } else {
        units.div_ceil(part)
    };
    (encoding, u32::try_from(count).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_stamped_as_chrono_formats_them() {
        let id = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        use chrono::TimeZone;
        for (y, mo, d, h, mi, s) in [
            (2026, 12, 3, 21, 4, 5),
            (1999, 1, 2, 0, 0, 9),
            (42, 7, 8, 23, 59, 59),
            (12345, 6, 7, 8, 9, 10),
        ] {
            let now = Utc
                .with_ymd_and_hms(y, mo, d, h, mi, s)
                .single()
                .expect("time");
            let expected = format!("Outgoing_{}{id}", now.format("%Y%m%d%H%M%S"));
            assert_eq!(SmsMessageId::new(now, id).as_str(), expected);
            let expected = format!("Incoming_{}{id}", now.format("%Y%m%d%H%M%S"));
            assert_eq!(SmsMessageId::incoming(now, id).as_str(), expected);
        }
    }

    #[test]
    fn gsm7_messages_use_160_then_153_per_segment() {
        assert_eq!(segments(""), (SmsEncoding::Gsm7, 1));
        assert_eq!(segments(&"a".repeat(160)), (SmsEncoding::Gsm7, 1));
        assert_eq!(segments(&"a".repeat(161)), (SmsEncoding::Gsm7, 2));
        assert_eq!(segments(&"a".repeat(306)), (SmsEncoding::Gsm7, 2));
        assert_eq!(segments(&"a".repeat(307)), (SmsEncoding::Gsm7, 3));
    }

    #[test]
    fn extension_characters_count_twice() {
        assert_eq!(segments(&"€".repeat(80)), (SmsEncoding::Gsm7, 1));
        assert_eq!(segments(&"€".repeat(81)), (SmsEncoding::Gsm7, 2));
    }

    #[test]
    fn other_characters_switch_to_ucs2_with_70_then_67() {
        assert_eq!(segments("héllo ✓"), (SmsEncoding::Ucs2, 1));
        assert_eq!(segments(&"ж".repeat(70)), (SmsEncoding::Ucs2, 1));
        assert_eq!(segments(&"ж".repeat(71)), (SmsEncoding::Ucs2, 2));
        assert_eq!(segments(&"ж".repeat(135)), (SmsEncoding::Ucs2, 3));
        // An emoji is two UTF-16 units.
        assert_eq!(segments(&"😀".repeat(35)), (SmsEncoding::Ucs2, 1));
        assert_eq!(segments(&"😀".repeat(36)), (SmsEncoding::Ucs2, 2));
    }

    #[test]
    fn generated_ids_are_unique_and_stamped() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).expect("valid");
        let a = SmsMessageId::generate(now);
        let b = SmsMessageId::generate(now);
        assert_ne!(a, b);
        assert!(a.as_str().starts_with("Outgoing_20270115"), "{a}");
    }
}
