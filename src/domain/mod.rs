//! Domain types: identifiers, scopes and phone numbers, each parsed once at the edge and typed
//! from then on.
//!
//! No actix and no serde_json here: handlers convert wire strings into these types.

mod chat;
mod phone_number;
mod scope;
mod sms;
mod user_id;

pub use chat::{
    ChatMessageId, Cloud, CommunicationIdentifier, InvalidIdentifier, InvalidMessageId,
    InvalidThreadId, ThreadId,
};
pub use phone_number::{PhoneNumber, PhoneNumberError, looks_like_a_phone_number};
pub use scope::{ChatRole, Scope, ScopeSet};
pub use sms::{SmsEncoding, SmsMessageId, segments};
pub use user_id::{CommunicationUserId, InvalidUserId};
