//! Domain types: identifiers, scopes, phone numbers and email addresses, each parsed once at the edge and typed
//! from then on.
//!
//! No actix and no serde_json here: handlers convert wire strings into these types.

mod chat;
mod email;
mod phone_number;
mod scope;
mod sms;
mod user_id;

pub use chat::{
    ChatMessageId, Cloud, CommunicationIdentifier, InvalidIdentifier, InvalidMessageId,
    InvalidThreadId, ThreadId,
};
pub use email::{
    DeliveryStatus, EmailAddress, EngagementType, InvalidEmailAddress, MAX_RECIPIENTS, address_key,
    address_matches, default_sender, is_address_pattern, is_allowed_attachment_type,
    is_domain_name, is_managed_domain_of, managed_domain, same_address,
};
pub use phone_number::{PhoneNumber, PhoneNumberError, looks_like_a_phone_number};
pub use scope::{ChatRole, Scope, ScopeSet};
pub use sms::{SmsEncoding, SmsMessageId, segments};
pub use user_id::{CommunicationUserId, InvalidUserId};
