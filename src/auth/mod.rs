//! Authentication, as ACS does it.
//!
//! - [`hmac`]: pure access-key signature checks; [`hmac_mw`]: the middleware that applies them to
//!   the Identity (and SMS) scopes.
//! - [`user_token`]: minting and verifying user access tokens; the `UserToken` extractor for Chat.
//!
//! Handlers never parse `Authorization` themselves.

pub mod hmac;
pub mod hmac_mw;
pub mod user_token;

/// Who made an access-key-authenticated request (stored in the request extensions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// A request signed with one of the resource's access keys.
    AccessKey(hmac::KeySlot),
}
