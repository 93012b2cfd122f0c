//! E.164 phone numbers, checked the way the ACS SMS service answers.
//!
//! The real service tells two kinds of bad recipient apart (acs-api.md §3.3, §13):
//! - `Invalid To phone number format.`: not `+` followed by digits, or fewer than 7 / more than
//!   15 digits (e.g. `Ad155500000000000`, `+123`);
//! - `Unknown country code.`: well-formed, but no ITU-T country calling code starts it, or the
//!   national number has an impossible length for that country (the live SDK tests get this for
//!   `+1425555012345`, a North American number with two digits too many).
//!
//! A third kind is not a phone number at all: a recipient with a character no written phone
//! number has (a letter, as in `Ad155500000000000`, other symbols, anything outside ASCII). The
//! service's current live test expects such a send to fail as a whole (`HttpResponseError`), so
//! the SMS API answers it with a 400 problem-details body ([`looks_like_a_phone_number`]); only
//! digits, `+` and the separators people write (space, `-`, `.`, `(`, `)`) stay per-recipient
//! `Invalid To phone number format.` (`+123`, `14255550123`, `+1 425 555 0123`, the empty
//! string). Where exactly the service draws that line is not documented: this is the emulator's
//! reading of the evidence.
//!
//! The country table below is compact and written for the emulator: every assigned
//! geographic calling code, with exact national-number lengths for the countries where they are
//! well known and a permissive range elsewhere. It does not know numbering plans beyond length.

use std::fmt;

/// A phone number in canonical E.164 form: `+` and 7..=15 digits with a known country code.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PhoneNumber(String);

/// Why a string is not a usable phone number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PhoneNumberError {
    /// Not `+` followed by 7..=15 digits.
    #[error("not an E.164 phone number (+ followed by 7 to 15 digits)")]
    InvalidFormat,
    /// Well-formed, but no known country code fits it.
    #[error("unknown country code, or a number length impossible for its country")]
    UnknownCountryCode,
}

/// Fewest and most digits (country code included) in an E.164 number.
const MIN_DIGITS: usize = 7;
const MAX_DIGITS: usize = 15;

impl PhoneNumber {
    /// Parses an E.164 number such as `+14255550123`.
    pub fn parse(raw: &str) -> Result<Self, PhoneNumberError> {
        let digits = raw
            .strip_prefix('+')
            .ok_or(PhoneNumberError::InvalidFormat)?;
        if !(MIN_DIGITS..=MAX_DIGITS).contains(&digits.len())
            || !digits.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(PhoneNumberError::InvalidFormat);
        }
        let (code, national) = country_code(digits).ok_or(PhoneNumberError::UnknownCountryCode)?;
        if !national_lengths(code).contains(&national.len()) {
            return Err(PhoneNumberError::UnknownCountryCode);
        }
        Ok(Self(raw.to_string()))
    }

    /// The number as sent on the wire, `+` and digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The ITU-T country calling code, without `+` (e.g. `1`, `44`, `358`).
    pub fn country_code(&self) -> &str {
        let digits = &self.0[1..];
        country_code(digits).map(|(code, _)| code).unwrap_or("")
    }
}

/// Whether `raw` is written only with what phone numbers are written with: ASCII digits, `+`
/// and the separators space, `-`, `.`, `(`, `)`. Such a string may still be malformed
/// ([`PhoneNumberError::InvalidFormat`]); one with any other character is not a phone number at
/// all.
pub fn looks_like_a_phone_number(raw: &str) -> bool {
    raw.bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b' ' | b'-' | b'.' | b'(' | b')'))
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for PhoneNumber {
    type Err = PhoneNumberError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Splits `digits` into a known country code and the national number. Calling codes are
/// prefix-free, so at most one of the 1-, 2- and 3-digit prefixes is assigned.
fn country_code(digits: &str) -> Option<(&str, &str)> {
    (1..=3)
        .filter(|&n| digits.len() > n)
        .map(|n| digits.split_at(n))
        .find(|(code, _)| COUNTRY_CODES.binary_search(code).is_ok())
}

/// Allowed national (significant) number lengths for a country code.
fn national_lengths(code: &str) -> std::ops::RangeInclusive<usize> {
    match code {
        // North American Numbering Plan and Russia/Kazakhstan: always 10.
        "1" | "7" => 10..=10,
        "33" | "34" | "61" => 9..=9,
        "44" => 9..=10,
        "49" => 6..=13,
        "39" => 6..=11,
        "52" | "91" => 10..=10,
        "55" => 10..=11,
        "81" => 9..=10,
        "86" => 5..=12,
        other => 4..=(MAX_DIGITS - other.len()),
    }
}

/// Assigned geographic ITU-T E.164 country calling codes, sorted (for `binary_search`).
/// Non-geographic codes (800, 808, 870, 878, 881–883, 888, 979) are left out: no SMS goes there.
const COUNTRY_CODES: &[&str] = &[
    "1", "20", "211", "212", "213", "216", "218", "220", "221", "222", "223", "224", "225", "226",
    "227", "228", "229", "230", "231", "232", "233", "234", "235", "236", "237", "238", "239",
    "240", "241", "242", "243", "244", "245", "246", "247", "248", "249", "250", "251", "252",
    "253", "254", "255", "256", "257", "258", "260", "261", "262", "263", "264", "265", "266",
    "267", "268", "269", "27", "290", "291", "297", "298", "299", "30", "31", "32", "33", "34",
    "350", "351", "352", "353", "354", "355", "356", "357", "358", "359", "36", "370", "371",
    "372", "373", "374", "375", "376", "377", "378", "379", "380", "381", "382", "383", "385",
    "386", "387", "389", "39", "40", "41", "420", "421", "423", "43", "44", "45", "46", "47", "48",
    "49", "500", "501", "502", "503", "504", "505", "506", "507", "508", "509", "51", "52", "53",
    "54", "55", "56", "57", "58", "590", "591", "592", "593", "594", "595", "596", "597", "598",
    "599", "60", "61", "62", "63", "64", "65", "66", "670", "672", "673", "674", "675", "676",
    "677", "678", "679", "680", "681", "682", "683", "685", "686", "687", "688", "689", "690",
    "691", "692", "7", "81", "82", "84", "850", "852", "853", "855", "856", "86", "880", "886",
    "90", "91", "92", "93", "94", "95", "960", "961", "962", "963", "964", "965", "966", "967",
    "968", "970", "971", "972", "973", "974", "975", "976", "977", "98", "992", "993", "994",
    "995", "996", "998",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_country_table_is_sorted_and_prefix_free() {
        assert!(COUNTRY_CODES.windows(2).all(|w| w[0] < w[1]));
        for a in COUNTRY_CODES {
            for b in COUNTRY_CODES {
                assert!(a == b || !b.starts_with(a), "{a} is a prefix of {b}");
            }
        }
    }

    #[test]
    fn well_formed_numbers_parse() {
        for n in [
            "+14255550123",
            "+18005550100",
            "+447911123456",
            "+33612345678",
            "+358401234567",
            "+6831234",
        ] {
            assert_eq!(PhoneNumber::parse(n).map(|p| p.to_string()), Ok(n.into()));
        }
        assert_eq!(
            PhoneNumber::parse("+358401234567")
                .expect("valid")
                .country_code(),
            "358"
        );
    }

    #[test]
    fn malformed_numbers_are_invalid_format() {
        for n in [
            "",
            "+",
            "14255550123",
            "Ad155500000000000",
            "+123",
            "+1 425 555 0123",
            "+1425555012a",
            "+1234567890123456",
            "++14255550123",
        ] {
            assert_eq!(
                PhoneNumber::parse(n),
                Err(PhoneNumberError::InvalidFormat),
                "{n}"
            );
        }
    }

    #[test]
    fn only_strings_with_other_characters_than_phone_notation_are_not_phone_numbers_at_all() {
        for n in [
            "",
            "+",
            "+123",
            "14255550123",
            "+1 425 555 0123",
            "+1 (425) 555-0123",
            "+1.425.555.0123",
            "++14255550123",
            "+1425555012345",
        ] {
            assert!(looks_like_a_phone_number(n), "{n}");
        }
        for n in [
            "Ad155500000000000",
            "+1425555012a",
            "+1-800-FLOWERS",
            "tel:+14255550123",
            "+14255550123\n",
            "+1425555\u{0661}23",
            "+1425555_0123",
            "null",
        ] {
            assert!(!looks_like_a_phone_number(n), "{n}");
        }
    }

    #[test]
    fn unknown_codes_and_impossible_lengths_are_unknown_country_code() {
        // +1425555012345 is the real service's own "Unknown country code." example.
        for n in [
            "+1425555012345",
            "+112345678901",
            "+0123456789",
            "+2591234567",
            "+4212",
        ] {
            let result = PhoneNumber::parse(n);
            assert!(
                matches!(
                    result,
                    Err(PhoneNumberError::UnknownCountryCode | PhoneNumberError::InvalidFormat)
                ),
                "{n}: {result:?}"
            );
        }
        assert_eq!(
            PhoneNumber::parse("+1425555012345"),
            Err(PhoneNumberError::UnknownCountryCode)
        );
        assert_eq!(
            PhoneNumber::parse("+0123456789"),
            Err(PhoneNumberError::UnknownCountryCode)
        );
    }
}
