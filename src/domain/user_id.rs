//! ACS user identifiers: `8:acs:<resource id>_<user part>`.

use std::fmt;

use uuid::Uuid;

/// The raw id of an ACS user, `8:acs:<resource GUID>_<user part>`.
///
/// Exactly two `:` and one `_`: the JS SDK classifies ids with more `_`-separated parts as
/// Teams Phone extension users (acs-api.md §4.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommunicationUserId(String);

/// A string that is not an ACS user id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a Communication Services user id (expected 8:acs:<resource id>_<user id>)")]
pub struct InvalidUserId(pub String);

const PREFIX: &str = "8:acs:";

impl CommunicationUserId {
    /// A new, random user id in `resource`.
    pub fn generate(resource: Uuid) -> Self {
        Self::new(resource, Uuid::new_v4())
    }

    /// The user `user` of `resource`.
    pub fn new(resource: Uuid, user: Uuid) -> Self {
        Self(format!("{PREFIX}{resource}_{user}"))
    }

    /// Parses a raw id.
    pub fn parse(raw: &str) -> Result<Self, InvalidUserId> {
        let invalid = || InvalidUserId(raw.to_string());
        let rest = raw.strip_prefix(PREFIX).ok_or_else(invalid)?;
        let (resource, user) = rest.split_once('_').ok_or_else(invalid)?;
        let user_ok = !user.is_empty()
            && user.len() <= 128
            && user.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if Uuid::parse_str(resource).is_err() || !user_ok {
            return Err(invalid());
        }
        Ok(Self(raw.to_string()))
    }

    /// The resource GUID part.
    pub fn resource_id(&self) -> Option<Uuid> {
        let rest = self.0.strip_prefix(PREFIX)?;
        let (resource, _) = rest.split_once('_')?;
        Uuid::parse_str(resource).ok()
    }

    /// The raw id.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The `skypeid` token claim: the raw id without its leading `8:`.
    pub fn skype_id(&self) -> &str {
        &self.0[2..]
    }

    /// The id from a `skypeid` claim (`acs:<resource>_<user>`).
    pub fn from_skype_id(skype_id: &str) -> Result<Self, InvalidUserId> {
        Self::parse(&format!("8:{skype_id}"))
    }
}

impl fmt::Display for CommunicationUserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RESOURCE: &str = "acacacac-0000-4000-8000-000000000001";

    #[test]
    fn generated_ids_have_exactly_two_colons_and_one_underscore() {
        let id = CommunicationUserId::generate(Uuid::parse_str(RESOURCE).expect("uuid"));
        assert!(id.as_str().starts_with(&format!("8:acs:{RESOURCE}_")));
        assert_eq!(id.as_str().matches(':').count(), 2);
        assert_eq!(id.as_str().matches('_').count(), 1);
        assert_eq!(CommunicationUserId::parse(id.as_str()), Ok(id.clone()));
        assert_eq!(
            id.resource_id().map(|r| r.to_string()),
            Some(RESOURCE.to_string())
        );
    }

    #[test]
    fn real_service_ids_parse() {
        let raw = "8:acs:2dee53b4-368b-45b4-ab52-8493fb117652_00000005-14a2-493b-8a72-5a3a0d000081";
        assert!(CommunicationUserId::parse(raw).is_ok());
    }

    #[test]
    fn malformed_ids_are_rejected() {
        for raw in [
            "",
            "8:acs:",
            "8:acs:not-a-guid_abc",
            &format!("8:acs:{RESOURCE}"),
            &format!("8:acs:{RESOURCE}_"),
            &format!("8:acs:{RESOURCE}_a_b"),
            &format!("8:orgid:{RESOURCE}"),
            &format!("acs:{RESOURCE}_abc"),
            &format!("8:acs:{RESOURCE}_ab/c"),
        ] {
            assert!(CommunicationUserId::parse(raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn skype_id_round_trips() {
        let id = CommunicationUserId::parse(&format!("8:acs:{RESOURCE}_abc")).expect("valid");
        assert_eq!(id.skype_id(), format!("acs:{RESOURCE}_abc"));
        assert_eq!(CommunicationUserId::from_skype_id(id.skype_id()), Ok(id));
    }
}
