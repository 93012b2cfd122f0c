//! Operation names: what a request does, in words a fixture can use (`Sms.Send`,
//! `Chat.SendMessage`, `Identity.IssueAccessToken`), worked out from its method and path alone.

use std::fmt;

/// Every data-plane operation the emulator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// `POST /identities`.
    IdentityCreateUser,
    /// `DELETE /identities/{id}`.
    IdentityDeleteUser,
    /// `POST /identities/{id}/:issueAccessToken`.
    IdentityIssueAccessToken,
    /// `POST /identities/{id}/:revokeAccessTokens`.
    IdentityRevokeAccessTokens,
    /// `POST /teamsUser/:exchangeAccessToken`.
    IdentityExchangeTeamsUserAccessToken,
    /// `POST /access/teamsExtension/:exchangeAccessToken`.
    IdentityExchangeTeamsExtensionAccessToken,
    /// `GET /access/teamsExtension/tenants/{t}/assignments/{o}`.
    IdentityGetAssignment,
    /// `PUT /access/teamsExtension/tenants/{t}/assignments/{o}`.
    IdentityUpsertAssignment,
    /// `DELETE /access/teamsExtension/tenants/{t}/assignments/{o}`.
    IdentityDeleteAssignment,
    /// `POST /chat/threads`.
    ChatCreateThread,
    /// `GET /chat/threads`.
    ChatListThreads,
    /// `GET /chat/threads/{id}`.
    ChatGetThread,
    /// `PATCH /chat/threads/{id}`.
    ChatUpdateThread,
    /// `DELETE /chat/threads/{id}`.
    ChatDeleteThread,
    /// `POST /chat/threads/{id}/messages`.
    ChatSendMessage,
    /// `GET /chat/threads/{id}/messages`.
    ChatListMessages,
    /// `GET /chat/threads/{id}/messages/{m}`.
    ChatGetMessage,
    /// `PATCH /chat/threads/{id}/messages/{m}`.
    ChatUpdateMessage,
    /// `DELETE /chat/threads/{id}/messages/{m}`.
    ChatDeleteMessage,
    /// `GET /chat/threads/{id}/participants`.
    ChatListParticipants,
    /// `POST /chat/threads/{id}/participants/:add`.
    ChatAddParticipants,
    /// `POST /chat/threads/{id}/participants/:remove`.
    ChatRemoveParticipant,
    /// `POST /chat/threads/{id}/readReceipts`.
    ChatSendReadReceipt,
    /// `GET /chat/threads/{id}/readReceipts`.
    ChatListReadReceipts,
    /// `POST /chat/threads/{id}/typing`.
    ChatSendTypingNotification,
    /// `POST /sms`.
    SmsSend,
    /// `POST /sms/optouts:add`.
    SmsAddOptOuts,
    /// `POST /sms/optouts:remove`.
    SmsRemoveOptOuts,
    /// `POST /sms/optouts:check`.
    SmsCheckOptOuts,
    /// `GET /deliveryReports/{id}`.
    SmsGetDeliveryReport,
}

impl Operation {
    /// Every operation, in documentation order.
    pub const ALL: &'static [Operation] = &[
        Self::IdentityCreateUser,
        Self::IdentityDeleteUser,
        Self::IdentityIssueAccessToken,
        Self::IdentityRevokeAccessTokens,
        Self::IdentityExchangeTeamsUserAccessToken,
        Self::IdentityExchangeTeamsExtensionAccessToken,
        Self::IdentityGetAssignment,
        Self::IdentityUpsertAssignment,
        Self::IdentityDeleteAssignment,
        Self::ChatCreateThread,
        Self::ChatListThreads,
        Self::ChatGetThread,
        Self::ChatUpdateThread,
        Self::ChatDeleteThread,
        Self::ChatSendMessage,
        Self::ChatListMessages,
        Self::ChatGetMessage,
        Self::ChatUpdateMessage,
        Self::ChatDeleteMessage,
        Self::ChatListParticipants,
        Self::ChatAddParticipants,
        Self::ChatRemoveParticipant,
        Self::ChatSendReadReceipt,
        Self::ChatListReadReceipts,
        Self::ChatSendTypingNotification,
        Self::SmsSend,
        Self::SmsAddOptOuts,
        Self::SmsRemoveOptOuts,
        Self::SmsCheckOptOuts,
        Self::SmsGetDeliveryReport,
    ];

    /// The name fixtures use: `<Service>.<Operation>`.
    pub fn name(self) -> &'static str {
        match self {
            Self::IdentityCreateUser => "Identity.CreateUser",
            Self::IdentityDeleteUser => "Identity.DeleteUser",
            Self::IdentityIssueAccessToken => "Identity.IssueAccessToken",
            Self::IdentityRevokeAccessTokens => "Identity.RevokeAccessTokens",
            Self::IdentityExchangeTeamsUserAccessToken => "Identity.ExchangeTeamsUserAccessToken",
            Self::IdentityExchangeTeamsExtensionAccessToken => {
                "Identity.ExchangeTeamsExtensionAccessToken"
            }
            Self::IdentityGetAssignment => "Identity.GetAssignment",
            Self::IdentityUpsertAssignment => "Identity.UpsertAssignment",
            Self::IdentityDeleteAssignment => "Identity.DeleteAssignment",
            Self::ChatCreateThread => "Chat.CreateThread",
            Self::ChatListThreads => "Chat.ListThreads",
            Self::ChatGetThread => "Chat.GetThread",
            Self::ChatUpdateThread => "Chat.UpdateThread",
            Self::ChatDeleteThread => "Chat.DeleteThread",
            Self::ChatSendMessage => "Chat.SendMessage",
            Self::ChatListMessages => "Chat.ListMessages",
            Self::ChatGetMessage => "Chat.GetMessage",
            Self::ChatUpdateMessage => "Chat.UpdateMessage",
            Self::ChatDeleteMessage => "Chat.DeleteMessage",
            Self::ChatListParticipants => "Chat.ListParticipants",
            Self::ChatAddParticipants => "Chat.AddParticipants",
            Self::ChatRemoveParticipant => "Chat.RemoveParticipant",
            Self::ChatSendReadReceipt => "Chat.SendReadReceipt",
            Self::ChatListReadReceipts => "Chat.ListReadReceipts",
            Self::ChatSendTypingNotification => "Chat.SendTypingNotification",
            Self::SmsSend => "Sms.Send",
            Self::SmsAddOptOuts => "Sms.AddOptOuts",
            Self::SmsRemoveOptOuts => "Sms.RemoveOptOuts",
            Self::SmsCheckOptOuts => "Sms.CheckOptOuts",
            Self::SmsGetDeliveryReport => "Sms.GetDeliveryReport",
        }
    }

    /// The service part of the name (`Identity`, `Chat`, `Sms`).
    pub fn service(self) -> &'static str {
        self.name().split('.').next().unwrap_or_default()
    }

    /// The operation called `name` (exact, case-sensitive).
    pub fn from_name(name: &str) -> Option<Operation> {
        Self::ALL.iter().copied().find(|op| op.name() == name)
    }

    /// What `method` on `path` (as received, still percent-encoded) does, with the path's ids.
    pub fn classify<'a>(method: &str, path: &'a str) -> Option<(Operation, PathIds<'a>)> {
        let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
        let none = PathIds::default();
        let op = |op| Some((op, none));
        match (method, segments.as_slice()) {
            ("POST", ["identities"]) => op(Self::IdentityCreateUser),
            ("DELETE", ["identities", id]) => Some((Self::IdentityDeleteUser, PathIds::user(id))),
            ("POST", ["identities", id, ":issueAccessToken"]) => {
                Some((Self::IdentityIssueAccessToken, PathIds::user(id)))
            }
            ("POST", ["identities", id, ":revokeAccessTokens"]) => {
                Some((Self::IdentityRevokeAccessTokens, PathIds::user(id)))
            }
            ("POST", ["teamsUser", ":exchangeAccessToken"]) => {
                op(Self::IdentityExchangeTeamsUserAccessToken)
            }
            ("POST", ["access", "teamsExtension", ":exchangeAccessToken"]) => {
                op(Self::IdentityExchangeTeamsExtensionAccessToken)
            }
            (m, ["access", "teamsExtension", "tenants", _, "assignments", _]) => match m {
                "GET" => op(Self::IdentityGetAssignment),
                "PUT" => op(Self::IdentityUpsertAssignment),
                "DELETE" => op(Self::IdentityDeleteAssignment),
                _ => None,
            },
            ("POST", ["chat", "threads"]) => op(Self::ChatCreateThread),
            ("GET", ["chat", "threads"]) => op(Self::ChatListThreads),
            (m, ["chat", "threads", thread, rest @ ..]) => {
                let ids = PathIds::thread(thread);
                let found = match (m, rest) {
                    ("GET", []) => Self::ChatGetThread,
                    ("PATCH", []) => Self::ChatUpdateThread,
                    ("DELETE", []) => Self::ChatDeleteThread,
                    ("POST", ["messages"]) => Self::ChatSendMessage,
                    ("GET", ["messages"]) => Self::ChatListMessages,
                    ("GET", ["messages", _]) => Self::ChatGetMessage,
                    ("PATCH", ["messages", _]) => Self::ChatUpdateMessage,
                    ("DELETE", ["messages", _]) => Self::ChatDeleteMessage,
                    ("GET", ["participants"]) => Self::ChatListParticipants,
                    ("POST", ["participants", ":add"]) => Self::ChatAddParticipants,
                    ("POST", ["participants", ":remove"]) => Self::ChatRemoveParticipant,
                    ("POST", ["readReceipts"]) => Self::ChatSendReadReceipt,
                    ("GET", ["readReceipts"]) => Self::ChatListReadReceipts,
                    ("POST", ["typing"]) => Self::ChatSendTypingNotification,
                    _ => return None,
                };
                Some((found, ids))
            }
            ("POST", ["sms"]) => op(Self::SmsSend),
            ("POST", ["sms", "optouts:add"]) => op(Self::SmsAddOptOuts),
            ("POST", ["sms", "optouts:remove"]) => op(Self::SmsRemoveOptOuts),
            ("POST", ["sms", "optouts:check"]) => op(Self::SmsCheckOptOuts),
            ("GET", ["deliveryReports", _]) => op(Self::SmsGetDeliveryReport),
            _ => None,
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Ids a request path carries (still percent-encoded).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PathIds<'a> {
    /// The chat thread (`/chat/threads/{id}/…`).
    pub thread: Option<&'a str>,
    /// The identity (`/identities/{id}/…`).
    pub user: Option<&'a str>,
}

impl<'a> PathIds<'a> {
    fn thread(id: &'a str) -> Self {
        Self {
            thread: Some(id),
            user: None,
        }
    }

    fn user(id: &'a str) -> Self {
        Self {
            thread: None,
            user: Some(id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_reads_back() {
        for op in Operation::ALL {
            assert_eq!(Operation::from_name(op.name()), Some(*op));
        }
        assert_eq!(Operation::from_name("Sms.send"), None);
        assert_eq!(Operation::SmsSend.service(), "Sms");
    }

    #[test]
    fn requests_are_classified_with_their_ids() {
        let thread = "19%3Aacsemu_1%40thread.v2";
        let cases = [
            (
                "POST",
                "/identities".to_string(),
                Operation::IdentityCreateUser,
            ),
            (
                "POST",
                "/identities/8%3Aacs%3Ax/:issueAccessToken".into(),
                Operation::IdentityIssueAccessToken,
            ),
            ("POST", "/sms".into(), Operation::SmsSend),
            (
                "POST",
                "/sms/optouts:check".into(),
                Operation::SmsCheckOptOuts,
            ),
            (
                "GET",
                "/deliveryReports/abc".into(),
                Operation::SmsGetDeliveryReport,
            ),
            (
                "POST",
                format!("/chat/threads/{thread}/messages"),
                Operation::ChatSendMessage,
            ),
            (
                "GET",
                format!("/chat/threads/{thread}/messages/1"),
                Operation::ChatGetMessage,
            ),
            (
                "POST",
                format!("/chat/threads/{thread}/participants/:remove"),
                Operation::ChatRemoveParticipant,
            ),
            ("GET", "/chat/threads".into(), Operation::ChatListThreads),
            (
                "PUT",
                "/access/teamsExtension/tenants/t/assignments/o".into(),
                Operation::IdentityUpsertAssignment,
            ),
        ];
        for (method, path, expected) in cases {
            let (op, ids) = Operation::classify(method, &path).expect(&path);
            assert_eq!(op, expected, "{method} {path}");
            if path.starts_with("/chat/threads/") {
                assert_eq!(ids.thread, Some(thread));
            }
        }
        assert_eq!(
            Operation::classify("POST", "/identities/8%3Aacs%3Ax/:revokeAccessTokens")
                .map(|(_, ids)| ids.user),
            Some(Some("8%3Aacs%3Ax"))
        );
        assert!(Operation::classify("GET", "/sms").is_none());
        assert!(Operation::classify("GET", "/_emulator/health").is_none());
        assert!(Operation::classify("PUT", "/chat/threads/x/typing").is_none());
    }
}
