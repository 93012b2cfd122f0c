//! Chat identifiers: thread ids, message ids and the communication identifiers of participants.
//!
//! Thread ids have the real service's shape `19:<opaque>@thread.v2`; message ids are
//! millisecond-epoch numbers sent as strings (acs-api.md §7.3). Participants may be any identifier
//! kind the Common spec knows (acs-api.md §4); they are classified from their raw id, exactly as the
//! SDK parsers do, so that what is stored always re-serialises into a fully populated model.

use std::fmt;

use percent_encoding::percent_decode_str;
use uuid::Uuid;

use super::CommunicationUserId;

/// A chat thread id, `19:<opaque, URL-safe>@thread.v2`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ThreadId(String);

/// A string that is not a chat thread id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a chat thread id (expected 19:<id>@thread.v2)")]
pub struct InvalidThreadId(pub String);

const THREAD_PREFIX: &str = "19:";
const THREAD_SUFFIX: &str = "@thread.v2";

impl ThreadId {
    /// A new random thread id (`19:acsemu_<32 hex>@thread.v2`: URL-safe, never reused).
    pub fn generate() -> Self {
        Self::from_uuid(Uuid::new_v4())
    }

    /// The thread id made from `id` (`19:acsemu_<32 hex>@thread.v2`).
    pub fn from_uuid(id: Uuid) -> Self {
        Self(format!(
            "{THREAD_PREFIX}acsemu_{}{THREAD_SUFFIX}",
            id.simple()
        ))
    }

    /// Parses a thread id as it appears in a path: percent-encoded (`19%3A…%40thread.v2`, as
    /// Python sync and JS send it) or raw (`19:…@thread.v2`, as Python aio sends it).
    pub fn parse(raw: &str) -> Result<Self, InvalidThreadId> {
        let invalid = || InvalidThreadId(raw.to_string());
        let decoded = percent_decode_str(raw)
            .decode_utf8()
            .map_err(|_| invalid())?;
        let inner = decoded
            .strip_prefix(THREAD_PREFIX)
            .and_then(|r| r.strip_suffix(THREAD_SUFFIX))
            .ok_or_else(invalid)?;
        let ok = !inner.is_empty()
            && inner.len() <= 256
            && inner
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if !ok {
            return Err(invalid());
        }
        Ok(Self(decoded.into_owned()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id as the real service writes it into a `Location` header: `:` encoded, `@` not.
    pub fn location_segment(&self) -> String {
        self.0.replace(':', "%3A")
    }
}

impl fmt::Display for ThreadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A chat message id: the millisecond epoch at which the server accepted it, made unique by
/// bumping (two messages in the same millisecond get consecutive ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChatMessageId(pub u64);

/// A string that is not a chat message id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a chat message id")]
pub struct InvalidMessageId(pub String);

impl ChatMessageId {
    /// Parses the decimal wire form.
    pub fn parse(raw: &str) -> Result<Self, InvalidMessageId> {
        let raw_trimmed = raw.trim();
        if raw_trimmed.is_empty()
            || raw_trimmed.len() > 19
            || !raw_trimmed.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(InvalidMessageId(raw.to_string()));
        }
        raw_trimmed
            .parse()
            .map(Self)
            .map_err(|_| InvalidMessageId(raw.to_string()))
    }
}

impl fmt::Display for ChatMessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The cloud a Teams identifier lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cloud {
    /// Public Azure.
    Public,
    /// US DoD.
    Dod,
    /// US GCC High.
    Gcch,
}

impl Cloud {
    /// The wire name (`public`, `dod`, `gcch`).
    pub fn as_str(self) -> &'static str {
        match self {
            Cloud::Public => "public",
            Cloud::Dod => "dod",
            Cloud::Gcch => "gcch",
        }
    }
}

/// Any identifier that can be a chat participant, classified from its raw id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CommunicationIdentifier {
    /// An ACS user (`8:acs:…`).
    User(CommunicationUserId),
    /// A phone number (`4:+14255550123`).
    PhoneNumber {
        /// E.164 number.
        value: String,
    },
    /// A Teams user (`8:orgid:…`, `8:dod:…`, `8:gcch:…`, anonymous `8:teamsvisitor:…`).
    TeamsUser {
        /// The Entra object id (or visitor id).
        user_id: String,
        /// Whether this is an anonymous Teams visitor.
        is_anonymous: bool,
        /// Cloud.
        cloud: Cloud,
    },
    /// A Teams app (`28:orgid:…`).
    TeamsApp {
        /// The app id.
        app_id: String,
        /// Cloud.
        cloud: Cloud,
    },
}

/// A raw id that is not a supported participant identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a valid communication identifier")]
pub struct InvalidIdentifier(pub String);

fn opaque_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 256
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl CommunicationIdentifier {
    /// Classifies a raw id with the SDKs' grammar (acs-api.md §4.1).
    pub fn parse_raw(raw: &str) -> Result<Self, InvalidIdentifier> {
        let invalid = || InvalidIdentifier(raw.to_string());
        if raw.starts_with("8:acs:") {
            return CommunicationUserId::parse(raw)
                .map(Self::User)
                .map_err(|_| invalid());
        }
        if let Some(number) = raw.strip_prefix("4:") {
            let digits = number.strip_prefix('+').ok_or_else(invalid)?;
            if (7..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
                return Ok(Self::PhoneNumber {
                    value: number.to_string(),
                });
            }
            return Err(invalid());
        }
        let teams = [
            ("8:orgid:", Cloud::Public, false),
            ("8:dod:", Cloud::Dod, false),
            ("8:gcch:", Cloud::Gcch, false),
            ("8:teamsvisitor:", Cloud::Public, true),
        ];
        for (prefix, cloud, is_anonymous) in teams {
            if let Some(user_id) = raw.strip_prefix(prefix) {
                if !opaque_ok(user_id) {
                    return Err(invalid());
                }
                return Ok(Self::TeamsUser {
                    user_id: user_id.to_string(),
                    is_anonymous,
                    cloud,
                });
            }
        }
        let apps = [
            ("28:orgid:", Cloud::Public),
            ("28:dod:", Cloud::Dod),
            ("28:gcch:", Cloud::Gcch),
        ];
        for (prefix, cloud) in apps {
            if let Some(app_id) = raw.strip_prefix(prefix) {
                if !opaque_ok(app_id) {
                    return Err(invalid());
                }
                return Ok(Self::TeamsApp {
                    app_id: app_id.to_string(),
                    cloud,
                });
            }
        }
        Err(invalid())
    }

    /// The raw id (`rawId`).
    pub fn raw_id(&self) -> String {
        match self {
            Self::User(id) => id.to_string(),
            Self::PhoneNumber { value } => format!("4:{value}"),
            Self::TeamsUser {
                user_id,
                is_anonymous: true,
                ..
            } => format!("8:teamsvisitor:{user_id}"),
            Self::TeamsUser { user_id, cloud, .. } => match cloud {
                Cloud::Public => format!("8:orgid:{user_id}"),
                Cloud::Dod => format!("8:dod:{user_id}"),
                Cloud::Gcch => format!("8:gcch:{user_id}"),
            },
            Self::TeamsApp { app_id, cloud } => format!(
                "28:{}:{app_id}",
                match cloud {
                    Cloud::Public => "orgid",
                    other => other.as_str(),
                }
            ),
        }
    }

    /// The ACS user, when this is one.
    pub fn as_user(&self) -> Option<&CommunicationUserId> {
        match self {
            Self::User(id) => Some(id),
            _ => None,
        }
    }
}

impl From<CommunicationUserId> for CommunicationIdentifier {
    fn from(id: CommunicationUserId) -> Self {
        Self::User(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_ids_parse_encoded_or_raw_and_reject_other_shapes() {
        let id = ThreadId::generate();
        assert!(id.as_str().starts_with("19:") && id.as_str().ends_with("@thread.v2"));
        assert_eq!(ThreadId::parse(id.as_str()), Ok(id.clone()));
        let encoded = id.as_str().replace(':', "%3A").replace('@', "%40");
        assert_eq!(ThreadId::parse(&encoded), Ok(id.clone()));
        assert_eq!(
            id.location_segment(),
            id.as_str().replace(':', "%3A"),
            "Location keeps '@'"
        );
        for bad in [
            "",
            "19:@thread.v2",
            "abc",
            "19:a b@thread.v2",
            "19:abc@thread.v1",
        ] {
            assert!(ThreadId::parse(bad).is_err(), "{bad}");
        }
        assert!(
            ThreadId::parse(
                "19:uni01_zbnh3nt2dfuffezc3sox7dog7wfhk6y5qe2rwlnfhlhdzirihdpq@thread.v2"
            )
            .is_ok()
        );
    }

    #[test]
    fn message_ids_are_decimal() {
        assert_eq!(
            ChatMessageId::parse("1593072104708"),
            Ok(ChatMessageId(1593072104708))
        );
        assert!(ChatMessageId::parse("12a").is_err());
        assert!(ChatMessageId::parse("").is_err());
        assert!(ChatMessageId::parse("99999999999999999999").is_err());
    }

    #[test]
    fn identifiers_round_trip_through_their_raw_ids() {
        for raw in [
            "8:acs:acacacac-0000-4000-8000-000000000001_abc",
            "4:+14255550123",
            "8:orgid:45ab2481-1c1c-4005-be24-0ffb879b1130",
            "8:dod:45ab2481",
            "8:gcch:45ab2481",
            "8:teamsvisitor:45ab2481",
            "28:orgid:45ab2481",
            "28:gcch:45ab2481",
        ] {
            let id = CommunicationIdentifier::parse_raw(raw).expect(raw);
            assert_eq!(id.raw_id(), raw);
        }
        for bad in ["", "8:acs:nope", "4:123", "9:x", "8:orgid:", "8:orgid:a/b"] {
            assert!(CommunicationIdentifier::parse_raw(bad).is_err(), "{bad}");
        }
    }
}
