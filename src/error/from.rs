//! How the API answers each lower layer's errors: one `From` impl per error enum, so that
//! handlers and extractors just use `?`.

use actix_web::http::StatusCode;

use super::ApiError;
use crate::auth::entra::EntraError;
use crate::auth::hmac::HmacError;
use crate::auth::user_token::{IssueError, TokenError};
use crate::events::{RedeliverError, SubscribeError};
use crate::fixtures::{FixtureError, FixtureErrorKind};
use crate::store::{ChatError, EmailError, NumbersError, RoomsError, SmsError, StoreError};

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> Self {
        ApiError::Unauthorized(format!("Request is not authorized: {e}."))
    }
}

impl From<IssueError> for ApiError {
    fn from(e: IssueError) -> Self {
        ApiError::Internal(e.into())
    }
}

/// An access-key signature that does not verify: 401 `Denied`, saying why.
impl From<HmacError> for ApiError {
    fn from(e: HmacError) -> Self {
        ApiError::Denied(e.to_string())
    }
}

/// An Entra ID bearer token that does not verify: 401 `InvalidAuthenticationToken`.
impl From<EntraError> for ApiError {
    fn from(e: EntraError) -> Self {
        ApiError::InvalidAuthenticationToken(format!("Authentication failed: {e}."))
    }
}

/// Identity: unknown and deleted identities answer 401, as the real service does (acs-api.md
/// §13); full tables 403 `…LimitReached`.
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::IdentityNotFound(id) => ApiError::Unauthorized(format!(
                "Identity '{id}' does not exist in this Communication Services resource."
            )),
            StoreError::IdentityDeleted(id) => {
                ApiError::Unauthorized(format!("Identity '{id}' has been deleted."))
            }
            StoreError::Full(max) => ApiError::IdentityLimitReached(max),
            StoreError::AssignmentsFull(max) => ApiError::LimitReached {
                code: "AssignmentLimitReached",
                message: format!(
                    "The emulator holds its limit of {max} Teams extension assignments \
                     (--max-teams-extension-assignments); delete some, raise the limit or POST /_emulator/reset."
                ),
            },
        }
    }
}

/// Chat: unknown threads and messages are 404, a caller who is not a participant (or not the
/// sender) 403 with the real service's message, full tables 403 `…LimitReached`.
impl From<ChatError> for ApiError {
    fn from(e: ChatError) -> Self {
        let limit_reached =
            |code: &'static str, message: String| ApiError::LimitReached { code, message };
        match e {
            ChatError::ThreadNotFound(id) => {
                ApiError::NotFound(format!("The chat thread '{id}' was not found."))
            }
            ChatError::MessageNotFound(id) => ApiError::NotFound(format!(
                "The chat message '{id}' was not found in this thread."
            )),
            ChatError::NotParticipant | ChatError::NotSender => ApiError::chat_forbidden(),
            ChatError::MetadataTooLarge => ApiError::metadata_too_large(),
            ChatError::ThreadsFull(max) => limit_reached(
                "ChatThreadLimitReached",
                format!(
                    "The emulator holds its limit of {max} chat threads (--max-chat-threads); \
                     delete some, raise the limit or POST /_emulator/reset."
                ),
            ),
            ChatError::MessagesFull(max) => limit_reached(
                "MessageLimitReached",
                format!(
                    "The emulator holds its limit of {max} chat messages in all threads \
                     (--max-chat-messages); delete threads, raise the limit or POST /_emulator/reset."
                ),
            ),
            ChatError::ThreadMessagesFull(max) => limit_reached(
                "MessageLimitReached",
                format!(
                    "This chat thread holds the emulator's limit of {max} messages \
                     (--max-chat-messages-per-thread); use another thread or raise the limit."
                ),
            ),
            ChatError::ParticipantsFull(max) => limit_reached(
                "ParticipantLimitReached",
                format!(
                    "A chat thread can have at most {max} participants \
                     (--max-chat-participants-per-thread; the real service allows 250)."
                ),
            ),
        }
    }
}

/// SMS: a full opt-out table answers 403 `OptOutLimitReached` (README "Limits"): forgetting an
/// older opt-out instead would silently send to a recipient who opted out.
impl From<SmsError> for ApiError {
    fn from(e: SmsError) -> Self {
        match e {
            SmsError::OptOutsFull(max) => ApiError::LimitReached {
                code: "OptOutLimitReached",
                message: format!(
                    "The emulator holds its limit of {max} SMS opt-outs (--max-sms-opt-outs); \
                     remove some, raise the limit or POST /_emulator/reset."
                ),
            },
        }
    }
}

/// Email: a message that breaks a rule is 400 with the rule's code (`ValidationError` with the
/// field's path for a missing one), an unlinked sender domain 404 `DomainNotLinked` (the real
/// service's code and message; its status is not documented, docs/differences.md), unknown
/// operations and inbox messages 404, engagement for a message that cannot have any 409.
impl From<EmailError> for ApiError {
    fn from(e: EmailError) -> Self {
        let coded = |status, code, message: String| ApiError::Coded {
            status,
            code,
            message,
            target: None,
        };
        match e {
            EmailError::Invalid { code, message } => coded(StatusCode::BAD_REQUEST, code, message),
            EmailError::Missing { message, target } => ApiError::Validation {
                message,
                target: Some(target),
            },
            EmailError::DomainNotLinked(_) => {
                coded(StatusCode::NOT_FOUND, "DomainNotLinked", e.to_string())
            }
            EmailError::OperationNotFound(_)
            | EmailError::MessageNotFound(_)
            | EmailError::AttachmentNotFound { .. } => ApiError::NotFound(e.to_string()),
            EmailError::EngagementRefused(message) => {
                coded(StatusCode::CONFLICT, "EngagementNotTracked", message)
            }
        }
    }
}

/// Rooms, as the real service answers (notes/research/rooms.md §3): malformed ids a flat 400
/// `BadRequest`, an unknown room 404 `NotFound`, a bad validity window 400 `BadRequest` with a
/// `BadArgument` detail naming the field; full tables 403 `…LimitReached`.
impl From<RoomsError> for ApiError {
    fn from(e: RoomsError) -> Self {
        match e {
            RoomsError::InvalidIdLength | RoomsError::InvalidId => ApiError::BadRequest {
                code: "BadRequest",
                message: e.to_string(),
            },
            RoomsError::NotFound => ApiError::NotFound(e.to_string()),
            RoomsError::Taken(_) => ApiError::Conflict(e.to_string()),
            RoomsError::TimeRange | RoomsError::EndInPast | RoomsError::StartTooFar => {
                ApiError::bad_argument(e.to_string(), e.target().unwrap_or_default())
            }
            RoomsError::Full(_) => ApiError::LimitReached {
                code: "RoomLimitReached",
                message: e.to_string(),
            },
            RoomsError::ParticipantsFull(_) => ApiError::LimitReached {
                code: "ParticipantLimitReached",
                message: e.to_string(),
            },
        }
    }
}

/// Event subscriptions: a name in use is 409, an unknown one 404.
impl From<SubscribeError> for ApiError {
    fn from(e: SubscribeError) -> Self {
        match e {
            SubscribeError::DuplicateName(_) => ApiError::Conflict(e.to_string()),
            SubscribeError::NotFound(_) => ApiError::NotFound(e.to_string()),
        }
    }
}

/// An event to redeliver: 404 when there is no finished copy, 409 while one is pending.
impl From<RedeliverError> for ApiError {
    fn from(e: RedeliverError) -> Self {
        match e {
            RedeliverError::NotFound(_) => ApiError::NotFound(e.to_string()),
            RedeliverError::Pending(_) => ApiError::Conflict(e.to_string()),
        }
    }
}

/// A refused fixture: 400 `InvalidFixture`, 409 `Conflict` for a resource that clashes with a
/// running one, 403 `ResourceLimitReached` past `--max-resources`.
impl From<FixtureError> for ApiError {
    fn from(e: FixtureError) -> Self {
        match e.kind {
            FixtureErrorKind::Invalid => ApiError::invalid_fixture(e.to_string()),
            FixtureErrorKind::Conflict => ApiError::Conflict(e.to_string()),
            FixtureErrorKind::LimitReached => ApiError::LimitReached {
                code: "ResourceLimitReached",
                message: e.to_string(),
            },
        }
    }
}

impl From<std::io::Error> for ApiError {
    fn from(e: std::io::Error) -> Self {
        ApiError::Internal(e.into())
    }
}

/// Phone numbers: the codes and targets the real service answers with where recordings show
/// them (`InvalidInput` / `countrycode`, `NotFound` / `phonenumber`), `Conflict` for a request
/// the object's state does not allow.
impl From<NumbersError> for ApiError {
    fn from(e: NumbersError) -> Self {
        let message = e.to_string();
        let (status, code, target) = match &e {
            NumbersError::Invalid { target, .. } => {
                (StatusCode::BAD_REQUEST, "InvalidInput", Some(*target))
            }
            NumbersError::NumberNotFound(_) => {
                (StatusCode::NOT_FOUND, "NotFound", Some("phonenumber"))
            }
            NumbersError::SearchNotFound(_) => {
                (StatusCode::NOT_FOUND, "NotFound", Some("searchId"))
            }
            NumbersError::OperationNotFound(_) => {
                (StatusCode::NOT_FOUND, "NotFound", Some("operationId"))
            }
            NumbersError::ReservationNotFound(_) => {
                (StatusCode::NOT_FOUND, "NotFound", Some("reservationId"))
            }
            NumbersError::Conflict(_) => (StatusCode::CONFLICT, "Conflict", None),
        };
        ApiError::Coded {
            status,
            code,
            message,
            target: target.map(str::to_string),
        }
    }
}
