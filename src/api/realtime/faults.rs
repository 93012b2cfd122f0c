//! Scenario rules for real-time notifications, in the rule language of every other rule: a
//! rule whose `match.operation` names a notification (`Realtime.ChatMessageReceived`,
//! `Realtime.*`, …) applies to each notification about to go to a socket, with `threadId` the
//! thread and `userId` the recipient:
//!
//! - `delay`: the notification goes out that much later;
//! - `fault: connectionReset` (or `truncatedBody`): the recipient's socket is closed instead
//!   (the SDK reconnects at once, and the app catches up);
//! - `fault: emptyResponse`, or `respond` with any status: the notification is dropped.
//!
//! `times`, `probability`, `scenario`/`whenState`/`setState` and `expect` work as for requests.

use std::sync::{OnceLock, Weak};
use std::time::Duration;

use crate::domain::{CommunicationUserId, ThreadId};
use crate::scenario::Facts;
use crate::scenario::rules::Fault;
use crate::state::AppState;

/// The operation names of notifications, as rules name them.
pub const OPERATIONS: &[&str] = &[
    "Realtime.ChatMessageReceived",
    "Realtime.ChatMessageEdited",
    "Realtime.ChatMessageDeleted",
    "Realtime.TypingIndicatorReceived",
    "Realtime.ReadReceiptReceived",
    "Realtime.ChatThreadCreated",
    "Realtime.ChatThreadPropertiesUpdated",
    "Realtime.ChatThreadDeleted",
    "Realtime.ParticipantsAdded",
    "Realtime.ParticipantsRemoved",
];

/// The rule name of an SDK event name (`chatMessageReceived` → `Realtime.ChatMessageReceived`).
pub fn operation_of(event: &str) -> Option<&'static str> {
    OPERATIONS.iter().copied().find(|op| {
        op.strip_prefix("Realtime.")
            .is_some_and(|name| name.eq_ignore_ascii_case(event))
    })
}

/// What becomes of one notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Sent, after this delay.
    Deliver(Duration),
    /// Not sent.
    Drop,
    /// The socket is closed instead.
    CloseSocket,
}

/// The rules' engine, reached through the app state (weakly: the state owns the sink that owns
/// the hub's listener).
#[derive(Default)]
pub struct Faults {
    state: OnceLock<Weak<AppState>>,
}

impl Faults {
    /// Connects the rules of `state`'s engine (once, at start-up).
    pub fn attach(&self, state: Weak<AppState>) {
        let _ = self.state.set(state);
    }

    /// What becomes of notification `event` about `thread` of `resource` for `recipient`.
    pub fn fate(
        &self,
        event: &str,
        resource: &str,
        thread: &str,
        recipient: &CommunicationUserId,
    ) -> Fate {
        let Some(state) = self.state.get().and_then(Weak::upgrade) else {
            return Fate::Deliver(Duration::ZERO);
        };
        let Some(op) = operation_of(event) else {
            return Fate::Deliver(Duration::ZERO);
        };
        if !state.engine.covers(op) {
            return Fate::Deliver(Duration::ZERO);
        }
        let facts = Facts {
            resource,
            thread: ThreadId::parse(thread).ok(),
            user: Some(recipient.to_string()),
            ..Facts::default()
        };
        let applied = state.engine.decide(op, &facts);
        let Some(rule) = applied.first().map(|a| &a.rule) else {
            return Fate::Deliver(Duration::ZERO);
        };
        match (rule.action.fault, &rule.action.respond) {
            (Some(Fault::ConnectionReset | Fault::TruncatedBody), _) => Fate::CloseSocket,
            (Some(Fault::EmptyResponse), _) | (None, Some(_)) => Fate::Drop,
            (None, None) => Fate::Deliver(rule.action.delay.unwrap_or_default()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_name_their_rule_operation() {
        assert_eq!(
            operation_of("chatMessageReceived"),
            Some("Realtime.ChatMessageReceived")
        );
        assert_eq!(
            operation_of("participantsRemoved"),
            Some("Realtime.ParticipantsRemoved")
        );
        assert_eq!(operation_of("nothing"), None);
    }
}
