//! Authentication, as ACS does it: pure logic, no actix types (the HTTP side is
//! [`crate::http::auth`]), so every check can be unit-tested, property-tested and fuzzed.
//!
//! - [`hmac`]: access-key signatures (string-to-sign, HMAC-SHA256, date skew).
//! - [`entra`]: the built-in Entra ID token authority and verification of its tokens.
//! - [`user_token`]: minting and verifying user access tokens.
//! - [`control_token_matches`]: the control API's `--control-token`.
//!
//! Handlers never parse `Authorization` themselves.

pub mod entra;
pub mod hmac;
pub mod user_token;

/// Who made a request to Identity or SMS (stored in the request extensions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A request signed with one of the resource's access keys.
    AccessKey(hmac::KeySlot),
    /// A request with a Microsoft Entra ID bearer token.
    Entra(entra::EntraPrincipal),
}

/// Whether `given` is the control token `expected`, compared in the same time whatever was given:
/// equal-length digests, so neither the content nor the length of the token leaks.
pub fn control_token_matches(given: &str, expected: &str) -> bool {
    use sha2::Digest;
    use subtle::ConstantTimeEq;
    let a = sha2::Sha256::digest(given.as_bytes());
    let b = sha2::Sha256::digest(expected.as_bytes());
    bool::from(a.ct_eq(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_control_token_must_match_exactly() {
        assert!(control_token_matches("s3cret", "s3cret"));
        assert!(!control_token_matches("s3cre", "s3cret"));
        assert!(!control_token_matches("S3CRET", "s3cret"));
        assert!(!control_token_matches("", "s3cret"));
    }
}
