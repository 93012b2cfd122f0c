//! The Identity API: users, user access tokens, revocation, Teams token exchange and (2025-06-30+)
//! Teams Phone extension assignments.
//!
//! Contract: `shared/specs/Identity/*` and acs-api.md §5, §13. Every route here sits behind the
//! access-key middleware. Status codes are exact (the SDKs reject any other 2xx).

pub mod teams;
pub mod users;

use actix_web::http::Method;
use chrono::TimeDelta;
use serde::Serialize;

use crate::auth::user_token::IssuedToken;
use crate::domain::{Scope, ScopeSet};
use crate::error::ApiError;
use crate::http::{AuthKind, Mount, Operation, Plane, Service};
use crate::state::AppState;

/// Every Identity api-version the emulator serves.
pub const VERSIONS: &[&str] = &[
    "2021-03-07",
    "2022-06-01",
    "2022-10-01",
    "2023-10-01",
    "2025-06-30",
    "2026-09-23",
];
/// Versions that have `/teamsUser/:exchangeAccessToken`.
pub const TEAMS_USER_VERSIONS: &[&str] = &[
    "2022-06-01",
    "2022-10-01",
    "2023-10-01",
    "2025-06-30",
    "2026-09-23",
];
/// Versions that have the Teams Phone extension operations.
pub const TEAMS_EXTENSION_VERSIONS: &[&str] = &["2025-06-30", "2026-09-23"];
/// The first version that honours `expiresInMinutes`.
pub const CUSTOM_EXPIRY_SINCE: &str = "2022-10-01";
/// Default and bounds of `expiresInMinutes`.
pub const DEFAULT_TOKEN_MINUTES: i64 = 1440;
pub const MIN_TOKEN_MINUTES: i64 = 60;
pub const MAX_TOKEN_MINUTES: i64 = 1440;

/// The Identity service's slice of the operation table: every operation takes an access key or
/// an Entra ID token.
pub const SERVICE: Service = Service {
    plane: Plane::Data,
    mounts: &[
        mount("/identities"),
        mount("/teamsUser"),
        mount("/access/teamsExtension"),
    ],
    operations: OPERATIONS,
};

/// Every Identity path prefix advertises every Identity api-version.
const fn mount(prefix: &'static str) -> Mount {
    Mount {
        prefix,
        auth: AuthKind::AccessKeyOrEntra,
        supported_versions: VERSIONS,
    }
}

/// How every Identity operation authenticates.
const AUTH: AuthKind = AuthKind::AccessKeyOrEntra;

/// Every Identity operation.
#[rustfmt::skip]
pub const OPERATIONS: &[Operation] = &[
    Operation::new("Identity.CreateUser", Method::POST, "/identities",
        VERSIONS, AUTH, |r| r.to(users::create_user)),
    Operation::new("Identity.DeleteUser", Method::DELETE, "/identities/{user_id}",
        VERSIONS, AUTH, |r| r.to(users::delete_user)),
    Operation::new("Identity.IssueAccessToken", Method::POST,
        "/identities/{user_id}/:issueAccessToken", VERSIONS, AUTH,
        |r| r.to(users::issue_access_token)),
    Operation::new("Identity.RevokeAccessTokens", Method::POST,
        "/identities/{user_id}/:revokeAccessTokens", VERSIONS, AUTH,
        |r| r.to(users::revoke_access_tokens)),
    Operation::new("Identity.ExchangeTeamsUserAccessToken", Method::POST,
        "/teamsUser/:exchangeAccessToken", TEAMS_USER_VERSIONS, AUTH,
        |r| r.to(teams::exchange_teams_user_access_token)),
    Operation::new("Identity.ExchangeTeamsExtensionAccessToken", Method::POST,
        "/access/teamsExtension/:exchangeAccessToken", TEAMS_EXTENSION_VERSIONS, AUTH,
        |r| r.to(teams::exchange_teams_extension_access_token)),
    Operation::new("Identity.GetAssignment", Method::GET, ASSIGNMENT,
        TEAMS_EXTENSION_VERSIONS, AUTH, |r| r.to(teams::get_assignment)),
    Operation::new("Identity.UpsertAssignment", Method::PUT, ASSIGNMENT,
        TEAMS_EXTENSION_VERSIONS, AUTH, |r| r.to(teams::upsert_assignment)),
    Operation::new("Identity.DeleteAssignment", Method::DELETE, ASSIGNMENT,
        TEAMS_EXTENSION_VERSIONS, AUTH, |r| r.to(teams::delete_assignment)),
];

/// The path of a Teams Phone extension assignment.
const ASSIGNMENT: &str = "/access/teamsExtension/tenants/{tenant_id}/assignments/{object_id}";

/// `CommunicationIdentity`.
#[derive(Debug, Serialize)]
pub struct IdentityDto {
    /// Raw id.
    pub id: String,
}

/// `CommunicationIdentityAccessToken`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessTokenDto {
    /// The JWT.
    pub token: String,
    /// Expiry, RFC 3339 UTC with `Z`.
    pub expires_on: String,
}

impl From<IssuedToken> for AccessTokenDto {
    fn from(t: IssuedToken) -> Self {
        Self {
            token: t.token,
            expires_on: t
                .expires_on
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }
    }
}

/// `CommunicationIdentityAccessTokenResult`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateUserResponse {
    /// The new identity.
    pub identity: IdentityDto,
    /// Its token, when scopes were asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token: Option<AccessTokenDto>,
}

/// What a token request asked for, validated.
pub struct TokenRequest {
    /// The scopes.
    pub scopes: ScopeSet,
    /// How long the token lives.
    pub lifetime: TimeDelta,
}

/// Validates scopes and `expiresInMinutes` as the real service does.
pub fn token_request(
    state: &AppState,
    version: &str,
    scopes: Option<Vec<String>>,
    expires_in_minutes: Option<i64>,
) -> Result<TokenRequest, ApiError> {
    let scopes = scopes
        .ok_or_else(|| ApiError::validation("Scopes: The Scopes field is required.", "Scopes"))?;
    if scopes.is_empty() {
        return Err(ApiError::validation(
            "Invalid scopes - Scopes field is required.",
            "Scopes",
        ));
    }
    let mut parsed = Vec::with_capacity(scopes.len());
    for name in &scopes {
        let scope = Scope::parse(name)
            .filter(|s| s.since_api_version() <= version)
            .ok_or_else(|| {
                let valid: Vec<&str> = Scope::ALL
                    .iter()
                    .filter(|s| s.since_api_version() <= version)
                    .map(|s| s.as_str())
                    .collect();
                ApiError::validation(
                    format!(
                        "Invalid scopes - '{name}' is not a valid scope in api-version {version}; valid scopes are {}.",
                        valid.join(", ")
                    ),
                    "Scopes",
                )
            })?;
        parsed.push(scope);
    }
    let minutes = if version >= CUSTOM_EXPIRY_SINCE {
        expires_in_minutes
    } else {
        None
    };
    if let Some(m) = minutes
        && !(MIN_TOKEN_MINUTES..=MAX_TOKEN_MINUTES).contains(&m)
    {
        return Err(ApiError::validation(
            format!(
                "ExpiresInMinutes value {m} is invalid. Value must be within the [{MIN_TOKEN_MINUTES}, {MAX_TOKEN_MINUTES}] interval."
            ),
            "ExpiresInMinutes",
        ));
    }
    let lifetime = match state.settings.config.tokens.token_lifetime {
        Some(forced) => TimeDelta::from_std(forced).unwrap_or(TimeDelta::MAX),
        None => TimeDelta::minutes(minutes.unwrap_or(DEFAULT_TOKEN_MINUTES)),
    };
    Ok(TokenRequest {
        scopes: ScopeSet::new(parsed),
        lifetime,
    })
}
