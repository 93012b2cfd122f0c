//! The data of chat events as the service serializes them (camelCase; identifiers as
//! `CommunicationIdentifierModel` without `kind`). A field left `None` is not sent: the builders
//! drop every `null` (see `build::event`), as the service's examples have none.

use serde::Serialize;

use crate::domain::CommunicationIdentifier;
use crate::store::{Metadata, Participant};

/// `CommunicationIdentifierModel` as events carry it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Identifier {
    pub(super) raw_id: String,
    pub(super) communication_user: Option<UserModel>,
    pub(super) phone_number: Option<PhoneModel>,
    pub(super) microsoft_teams_user: Option<TeamsUserModel>,
    pub(super) microsoft_teams_app: Option<TeamsAppModel>,
}

#[derive(Debug, Serialize)]
pub(super) struct UserModel {
    pub(super) id: String,
}

#[derive(Debug, Serialize)]
pub(super) struct PhoneModel {
    pub(super) value: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TeamsUserModel {
    pub(super) user_id: String,
    pub(super) is_anonymous: bool,
    pub(super) cloud: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TeamsAppModel {
    pub(super) app_id: String,
    pub(super) cloud: &'static str,
}

impl From<&CommunicationIdentifier> for Identifier {
    fn from(id: &CommunicationIdentifier) -> Self {
        let mut out = Identifier {
            raw_id: id.raw_id(),
            communication_user: None,
            phone_number: None,
            microsoft_teams_user: None,
            microsoft_teams_app: None,
        };
        match id {
            CommunicationIdentifier::User(user) => {
                out.communication_user = Some(UserModel {
                    id: user.to_string(),
                });
            }
            CommunicationIdentifier::PhoneNumber { value } => {
                out.phone_number = Some(PhoneModel {
                    value: value.clone(),
                });
            }
            CommunicationIdentifier::TeamsUser {
                user_id,
                is_anonymous,
                cloud,
            } => {
                out.microsoft_teams_user = Some(TeamsUserModel {
                    user_id: user_id.clone(),
                    is_anonymous: *is_anonymous,
                    cloud: cloud.as_str(),
                });
            }
            CommunicationIdentifier::TeamsApp { app_id, cloud } => {
                out.microsoft_teams_app = Some(TeamsAppModel {
                    app_id: app_id.clone(),
                    cloud: cloud.as_str(),
                });
            }
        }
        out
    }
}

/// `AcsChatThreadParticipantProperties`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ParticipantProps<'a> {
    pub(super) display_name: Option<&'a str>,
    pub(super) participant_communication_identifier: Identifier,
    pub(super) metadata: Option<&'a Metadata>,
}

impl<'a> From<&'a Participant> for ParticipantProps<'a> {
    fn from(p: &'a Participant) -> Self {
        Self {
            display_name: p.display_name.as_deref(),
            participant_communication_identifier: (&p.id).into(),
            metadata: p.metadata.as_ref(),
        }
    }
}

/// The legacy `members` item of `ChatThreadCreatedWithUser`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Member<'a> {
    pub(super) display_name: Option<&'a str>,
    pub(super) member_id: String,
}

/// `properties` of thread events.
#[derive(Debug, Serialize)]
pub(super) struct Properties<'a> {
    pub(super) topic: &'a str,
}

/// A message `version`: a number in per-user events, a string in per-thread ones.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(super) enum Version {
    Number(u64),
    Text(String),
}

/// The data of every message event.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct MessageData<'a> {
    pub(super) message_body: Option<&'a str>,
    pub(super) message_id: String,
    pub(super) metadata: Option<&'a Metadata>,
    pub(super) sender_id: Option<String>,
    pub(super) sender_communication_identifier: Identifier,
    pub(super) sender_display_name: Option<&'a str>,
    pub(super) compose_time: String,
    pub(super) edit_time: Option<String>,
    pub(super) delete_time: Option<String>,
    #[serde(rename = "type")]
    pub(super) kind: &'static str,
    pub(super) version: Version,
    pub(super) recipient_id: Option<String>,
    pub(super) recipient_communication_identifier: Option<Identifier>,
    pub(super) transaction_id: &'a str,
    pub(super) thread_id: &'a str,
}

/// The data of thread created / deleted / updated events.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ThreadData<'a> {
    pub(super) created_by: Option<String>,
    pub(super) created_by_communication_identifier: Option<Identifier>,
    pub(super) deleted_by: Option<String>,
    pub(super) deleted_by_communication_identifier: Option<Identifier>,
    pub(super) edited_by: Option<String>,
    pub(super) edited_by_communication_identifier: Option<Identifier>,
    pub(super) delete_time: Option<String>,
    pub(super) edit_time: Option<String>,
    pub(super) properties: Option<Properties<'a>>,
    pub(super) members: Option<Vec<Member<'a>>>,
    pub(super) participants: Option<Vec<ParticipantProps<'a>>>,
    pub(super) metadata: Option<Metadata>,
    pub(super) create_time: String,
    pub(super) version: u64,
    pub(super) recipient_id: Option<String>,
    pub(super) recipient_communication_identifier: Option<Identifier>,
    pub(super) transaction_id: &'a str,
    pub(super) thread_id: &'a str,
}

/// The data of participant added / removed events.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ParticipantData<'a> {
    pub(super) time: String,
    pub(super) added_by_communication_identifier: Option<Identifier>,
    pub(super) participant_added: Option<ParticipantProps<'a>>,
    pub(super) removed_by_communication_identifier: Option<Identifier>,
    pub(super) participant_removed: Option<ParticipantProps<'a>>,
    pub(super) recipient_communication_identifier: Option<Identifier>,
    pub(super) create_time: String,
    pub(super) version: u64,
    pub(super) transaction_id: &'a str,
    pub(super) thread_id: &'a str,
}

/// The data of `ChatTypingIndicatorReceivedInThread`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TypingData<'a> {
    pub(super) sender_communication_identifier: Identifier,
    pub(super) sender_display_name: Option<&'a str>,
    pub(super) transaction_id: &'a str,
    pub(super) thread_id: &'a str,
}
