//! Authentication, as ACS does it.
//!
//! - [`hmac`]: pure access-key signature checks; [`hmac_mw`]: the middleware that applies them to
//!   the Identity (and SMS) scopes.
//! - [`entra`]: the built-in Entra ID token authority and verification of its tokens.
//! - [`user_token`]: minting and verifying user access tokens; the `UserToken` extractor for Chat.
//!
//! Handlers never parse `Authorization` themselves.

pub mod entra;
pub mod hmac;
pub mod hmac_mw;
pub mod user_token;

/// Who made a request to Identity or SMS (stored in the request extensions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A request signed with one of the resource's access keys.
    AccessKey(hmac::KeySlot),
    /// A request with a Microsoft Entra ID bearer token.
    Entra(entra::EntraPrincipal),
}
