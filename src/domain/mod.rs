//! Domain types: identifiers and scopes, each parsed once at the edge and typed from then on.
//!
//! No actix and no serde_json here: handlers convert wire strings into these types.

mod chat;
mod scope;
mod user_id;

pub use chat::{
    ChatMessageId, Cloud, CommunicationIdentifier, InvalidIdentifier, InvalidMessageId,
    InvalidThreadId, ThreadId,
};
pub use scope::{Scope, ScopeSet};
pub use user_id::{CommunicationUserId, InvalidUserId};
