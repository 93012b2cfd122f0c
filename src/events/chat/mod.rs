//! Chat events, built from the chat store's change records ([`crate::store::ChatChange`]): the
//! thread's properties and participants, and the message, as the write left them.
//!
//! Two levels, as the service emits them (Event Grid "Azure Communication Services - Chat
//! events"; shapes from acs-api.md §9 and the spec's examples):
//! - **per thread**, one event per operation: `ChatMessageReceivedInThread`,
//!   `ChatMessageEditedInThread`, `ChatMessageDeletedInThread`, `ChatThreadCreated`,
//!   `ChatThreadDeleted`, `ChatThreadPropertiesUpdated`, `ChatThreadParticipantAdded`,
//!   `ChatThreadParticipantRemoved` (one per participant), `ChatTypingIndicatorReceivedInThread`;
//! - **per user**, one event per recipient, the participant who acted excluded:
//!   `ChatMessageReceived`, `ChatMessageEdited`, `ChatMessageDeleted`,
//!   `ChatThreadCreatedWithUser`, `ChatThreadWithUserDeleted`,
//!   `ChatThreadPropertiesUpdatedPerUser`, `ChatParticipantAddedToThreadWithUser` (the thread's
//!   participants after the addition, the new ones included),
//!   `ChatParticipantRemovedFromThreadWithUser` (the remaining participants and the removed one).
//!
//! Data is camelCase with a capitalised message `type` (`Text`, `Html`); identifiers are
//! `{rawId, communicationUser: {id}}` (or the phone / Teams sub-object) without `kind`, as in
//! the examples. Per-user events also carry the legacy raw-id fields the examples show
//! (`senderId`, `recipientId`, `createdBy`, `members`, `deletedBy`, `editedBy`). The message
//! `version` is a number in per-user events and a string in per-thread message events, again
//! as in the examples. System messages (`topicUpdated`, `participantAdded`, …) produce no
//! message events. All events of one operation share a `transactionId`.
//!
//! Layout: `payload` (the data shapes), `build` (pure builders, one per kind of change),
//! `hooks` (from a record to the builders and the bus).

mod build;
mod hooks;
mod payload;

pub use build::{
    Levels, MessageChange, Operation, ParticipantChange, ThreadChange, message_events,
    participant_events, thread_events, transaction_id, typing_event,
};
