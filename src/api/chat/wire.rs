//! Identifiers and participants as Chat's wire models: `CommunicationIdentifierModel` in and
//! out, `ChatParticipant` in and out, and the validation of participants to add.

use serde::{Deserialize, Serialize};

use super::{check_display_name, check_metadata, fmt_time, has_metadata, parse_time};
use crate::domain::{Cloud, CommunicationIdentifier};
use crate::error::{ApiError, CommunicationError};
use crate::resource::Resource;
use crate::store::{Metadata, Participant};

/// `{id}` of `communicationUser`.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct UserIdModel {
    /// Raw id.
    pub id: String,
}

/// `phoneNumber` sub-object.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct PhoneModel {
    /// E.164 number.
    pub value: String,
}

/// `microsoftTeamsUser` sub-object.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TeamsUserModel {
    /// Entra object id.
    pub user_id: String,
    /// Anonymous visitor.
    #[serde(default)]
    pub is_anonymous: Option<bool>,
    /// `public`, `dod`, `gcch`.
    #[serde(default)]
    pub cloud: Option<String>,
}

/// `microsoftTeamsApp` sub-object.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TeamsAppModel {
    /// App id.
    pub app_id: String,
    /// `public`, `dod`, `gcch`.
    #[serde(default)]
    pub cloud: Option<String>,
}

/// `CommunicationIdentifierModel` as clients send it (`kind` optional, `rawId` optional).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentifierIn {
    /// Raw id.
    pub raw_id: Option<String>,
    /// Kind (ignored: the raw id or sub-object decides).
    pub kind: Option<String>,
    /// ACS user.
    pub communication_user: Option<UserIdModel>,
    /// Phone number.
    pub phone_number: Option<PhoneModel>,
    /// Teams user.
    pub microsoft_teams_user: Option<TeamsUserModel>,
    /// Teams app.
    pub microsoft_teams_app: Option<TeamsAppModel>,
}

impl IdentifierIn {
    /// The identifier, or the text to report as `target` when it is not a valid one.
    pub fn resolve(&self) -> Result<CommunicationIdentifier, String> {
        let raw = match (&self.raw_id, self) {
            (Some(raw), _) if !raw.trim().is_empty() => raw.trim().to_string(),
            (
                _,
                IdentifierIn {
                    communication_user: Some(u),
                    ..
                },
            ) => u.id.clone(),
            (
                _,
                IdentifierIn {
                    phone_number: Some(p),
                    ..
                },
            ) => format!("4:{}", p.value),
            (
                _,
                IdentifierIn {
                    microsoft_teams_user: Some(t),
                    ..
                },
            ) => {
                let prefix = match (t.is_anonymous, t.cloud.as_deref()) {
                    (Some(true), _) => "8:teamsvisitor:",
                    (_, Some("dod")) => "8:dod:",
                    (_, Some("gcch")) => "8:gcch:",
                    _ => "8:orgid:",
                };
                format!("{prefix}{}", t.user_id)
            }
            (
                _,
                IdentifierIn {
                    microsoft_teams_app: Some(a),
                    ..
                },
            ) => {
                let cloud = match a.cloud.as_deref() {
                    Some("dod") => "dod",
                    Some("gcch") => "gcch",
                    _ => "orgid",
                };
                format!("28:{cloud}:{}", a.app_id)
            }
            _ => String::new(),
        };
        CommunicationIdentifier::parse_raw(&raw).map_err(|_| raw)
    }
}

/// `CommunicationIdentifierModel` as the emulator answers it: always `kind`, `rawId` and the
/// fully populated sub-object (the JS deserialiser throws on a Teams id without `cloud`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentifierOut {
    /// Kind.
    pub kind: &'static str,
    /// Raw id.
    pub raw_id: String,
    /// ACS user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub communication_user: Option<UserIdModel>,
    /// Phone number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<PhoneModel>,
    /// Teams user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub microsoft_teams_user: Option<TeamsUserModel>,
    /// Teams app.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub microsoft_teams_app: Option<TeamsAppModel>,
}

fn cloud_name(cloud: Cloud) -> Option<String> {
    Some(cloud.as_str().to_string())
}

impl From<&CommunicationIdentifier> for IdentifierOut {
    fn from(id: &CommunicationIdentifier) -> Self {
        let mut out = IdentifierOut {
            kind: "unknown",
            raw_id: id.raw_id(),
            communication_user: None,
            phone_number: None,
            microsoft_teams_user: None,
            microsoft_teams_app: None,
        };
        match id {
            CommunicationIdentifier::User(user) => {
                out.kind = "communicationUser";
                out.communication_user = Some(UserIdModel {
                    id: user.to_string(),
                });
            }
            CommunicationIdentifier::PhoneNumber { value } => {
                out.kind = "phoneNumber";
                out.phone_number = Some(PhoneModel {
                    value: value.clone(),
                });
            }
            CommunicationIdentifier::TeamsUser {
                user_id,
                is_anonymous,
                cloud,
            } => {
                out.kind = "microsoftTeamsUser";
                out.microsoft_teams_user = Some(TeamsUserModel {
                    user_id: user_id.clone(),
                    is_anonymous: Some(*is_anonymous),
                    cloud: cloud_name(*cloud),
                });
            }
            CommunicationIdentifier::TeamsApp { app_id, cloud } => {
                out.kind = "microsoftTeamsApp";
                out.microsoft_teams_app = Some(TeamsAppModel {
                    app_id: app_id.clone(),
                    cloud: cloud_name(*cloud),
                });
            }
        }
        out
    }
}

/// `ChatParticipant` as clients send it.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantIn {
    /// Who (required).
    pub communication_identifier: Option<IdentifierIn>,
    /// Display name.
    pub display_name: Option<String>,
    /// RFC 3339.
    pub share_history_time: Option<String>,
    /// Metadata (2025-03-15).
    pub metadata: Option<Metadata>,
}

/// `ChatParticipant` as the emulator answers it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantOut {
    /// Who.
    pub communication_identifier: IdentifierOut,
    /// Display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share_history_time: Option<String>,
    /// Metadata (2025-03-15 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
}

impl ParticipantOut {
    /// The wire form of `p` for `version`.
    pub fn new(p: &Participant, version: &str) -> Self {
        Self {
            communication_identifier: (&p.id).into(),
            display_name: p.display_name.clone(),
            share_history_time: p.share_history_time.map(fmt_time),
            metadata: if has_metadata(version) {
                p.metadata.clone()
            } else {
                None
            },
        }
    }
}

/// Validates participants to add (create thread, `:add`): malformed requests are a 400; ids that
/// cannot join go to `invalidParticipants` with the real service's codes (`403` "Permissions
/// check failed" for an ACS user of another resource, `404` "Not found" for an unknown or
/// deleted ACS user, `400` "Invalid identifier" for a raw id that is no identifier).
pub fn validate_participants(
    res: &Resource,
    version: &str,
    participants: Vec<ParticipantIn>,
) -> Result<(Vec<Participant>, Vec<CommunicationError>), ApiError> {
    let mut valid = Vec::with_capacity(participants.len());
    let mut invalid = Vec::new();
    let failure = |code: &str, message: &str, target: String| CommunicationError {
        code: code.into(),
        message: message.into(),
        target: Some(target),
        details: None,
        inner_error: None,
    };
    for p in participants {
        let identifier = p.communication_identifier.ok_or_else(|| {
            ApiError::validation(
                "Participants: the communicationIdentifier field is required.",
                "communicationIdentifier",
            )
        })?;
        let share_history_time = p
            .share_history_time
            .as_deref()
            .map(|t| parse_time(t, "shareHistoryTime"))
            .transpose()?;
        let metadata = if has_metadata(version) {
            p.metadata
        } else {
            None
        };
        check_metadata(metadata.as_ref())?;
        check_display_name(p.display_name.as_deref(), "displayName")?;
        let id = match identifier.resolve() {
            Ok(id) => id,
            Err(target) => {
                invalid.push(failure("400", "Invalid identifier", target));
                continue;
            }
        };
        if let Some(user) = id.as_user() {
            if user.resource_id() != Some(res.resource_id) {
                invalid.push(failure("403", "Permissions check failed", id.raw_id()));
                continue;
            }
            if !res.store.identities.is_live(user) {
                invalid.push(failure("404", "Not found", id.raw_id()));
                continue;
            }
        }
        valid.push(Participant {
            id,
            display_name: p.display_name,
            share_history_time,
            metadata,
        });
    }
    Ok((valid, invalid))
}
