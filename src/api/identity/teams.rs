//! Microsoft Teams: the Teams user token exchange (2022-06-01+), and the Teams Phone extension
//! token exchange and assignments (2025-06-30+).

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use chrono::TimeDelta;
use serde::{Deserialize, Serialize};

use super::{AccessTokenDto, CreateUserResponse, DEFAULT_TOKEN_MINUTES, IdentityDto};
use crate::auth::Caller;
use crate::auth::user_token::decode_payload_unverified;
use crate::domain::{Scope, ScopeSet};
use crate::error::ApiError;
use crate::http::extract::decoded_segment;
use crate::http::{AcsJson, AcsJsonOrDefault, ApiVersion, Res, json_response};
use crate::state::AppState;
use crate::store::TeamsExtensionAssignment;

/// `TeamsUserExchangeTokenRequest`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExchangeTeamsUserAccessTokenRequest {
    /// The Teams user's Entra ID access token.
    pub token: Option<String>,
    /// Expected `appid` claim.
    pub app_id: Option<String>,
    /// Expected `oid` claim.
    pub user_id: Option<String>,
}

/// `TeamsExtensionAssignmentCreateOrUpdateRequest`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpsertAssignmentRequest {
    /// `resourceAccount` or `user`.
    pub principal_type: Option<String>,
    /// Entra application ids.
    pub client_ids: Option<Vec<String>>,
}

/// `TeamsExtensionAssignmentResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AssignmentResponse {
    /// Object id.
    pub object_id: String,
    /// Tenant id.
    pub tenant_id: String,
    /// `resourceAccount` or `user`.
    pub principal_type: String,
    /// Entra application ids.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_ids: Option<Vec<String>>,
}

/// The claims of a Teams user's Entra ID token that the exchange checks.
#[derive(Debug, Deserialize)]
struct EntraUserClaims {
    appid: Option<String>,
    azp: Option<String>,
    oid: Option<String>,
    exp: Option<i64>,
    aud: Option<serde_json::Value>,
}

/// The audience of Entra tokens meant for the Teams token exchange.
const TEAMS_EXCHANGE_AUDIENCE: &str = "https://auth.msft.communication.azure.com";

/// `POST /teamsUser/:exchangeAccessToken` (2022-06-01+): exchange a Teams user's Entra ID token
/// for an ACS token that expires with it. 200.
///
/// The emulator checks the token's shape, expiry (emulator clock), audience (when present),
/// `appid` and `oid`; it cannot check Microsoft's signature offline.
pub async fn exchange_teams_user_access_token(
    res: Res,
    state: web::Data<AppState>,
    _: ApiVersion,
    AcsJson(request): AcsJson<ExchangeTeamsUserAccessTokenRequest>,
) -> Result<HttpResponse, ApiError> {
    let required = |value: Option<String>, field: &str| {
        value.filter(|v| !v.trim().is_empty()).ok_or_else(|| {
            ApiError::validation(format!("{field}: The {field} field is required."), field)
        })
    };
    let token = required(request.token, "Token")?;
    let app_id = required(request.app_id, "AppId")?;
    let user_id = required(request.user_id, "UserId")?;

    // Tokens from the emulator's own authority must carry a valid signature; Microsoft's cannot
    // be verified offline.
    state
        .entra
        .check_if_ours(&token)
        .map_err(|_| ApiError::InvalidAccessToken)?;
    let claims: EntraUserClaims =
        decode_payload_unverified(&token).ok_or(ApiError::InvalidAccessToken)?;
    let now = state.clock.now();
    let exp = claims.exp.ok_or(ApiError::InvalidAccessToken)?;
    if now.timestamp() >= exp {
        return Err(ApiError::InvalidAccessToken);
    }
    let audience_ok = match &claims.aud {
        None => true,
        Some(serde_json::Value::String(aud)) => {
            aud.trim_end_matches('/') == TEAMS_EXCHANGE_AUDIENCE
        }
        Some(serde_json::Value::Array(auds)) => auds.iter().any(|a| {
            a.as_str()
                .is_some_and(|a| a.trim_end_matches('/') == TEAMS_EXCHANGE_AUDIENCE)
        }),
        Some(_) => false,
    };
    if !audience_ok {
        return Err(ApiError::InvalidAccessToken);
    }
    let token_app = claims
        .appid
        .or(claims.azp)
        .ok_or(ApiError::InvalidAccessToken)?;
    let oid = claims.oid.ok_or(ApiError::InvalidAccessToken)?;
    if !token_app.eq_ignore_ascii_case(&app_id) {
        return Err(ApiError::validation(
            "AAD application is not the expected one.",
            "appId",
        ));
    }
    if !oid.eq_ignore_ascii_case(&user_id) {
        return Err(ApiError::validation(
            "AAD user is not the expected one.",
            "userId",
        ));
    }
    // `exp` comes from a token that cannot be verified offline (Microsoft's): any number.
    let mut lifetime = exp
        .checked_sub(now.timestamp())
        .and_then(TimeDelta::try_seconds)
        .unwrap_or(TimeDelta::MAX);
    if let Some(forced) = state.settings.config.tokens.token_lifetime {
        lifetime = lifetime.min(TimeDelta::from_std(forced).unwrap_or(TimeDelta::MAX));
    }
    let issued = res.tokens.issue(
        &format!("orgid:{}", oid.to_ascii_lowercase()),
        &ScopeSet::new([Scope::Voip]),
        0,
        now,
        lifetime,
    )?;
    tracing::debug!(teams_user = %oid, expires_on = %issued.expires_on, "Teams user token exchanged");
    json_response(StatusCode::OK, &AccessTokenDto::from(issued))
}

/// `POST /access/teamsExtension/:exchangeAccessToken` (2025-06-30+): a Teams Phone extension
/// user's ACS identity and token. 200.
///
/// The user is the caller of the request, authenticated with a Microsoft Entra ID token (its
/// `tid` and `oid`); the user needs an assignment for that tenant and object id, and when the
/// assignment lists client ids, the token's application must be one of them.
pub async fn exchange_teams_extension_access_token(
    res: Res,
    state: web::Data<AppState>,
    _: ApiVersion,
    AcsJsonOrDefault(_): AcsJsonOrDefault<serde_json::Value>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let Caller::Entra(principal) = caller else {
        return Err(ApiError::Unauthorized(
            "Exchanging a Teams Phone extension token needs the Teams user's Microsoft Entra ID bearer token, not an access key.".into(),
        ));
    };
    let assignment = res
        .store
        .assignments
        .get(&principal.tenant_id, &principal.object_id)
        .ok_or_else(|| {
            ApiError::Forbidden(format!(
                "No Teams extension assignment for object '{}' in tenant '{}'.",
                principal.object_id, principal.tenant_id
            ))
        })?;
    if let Some(clients) = &assignment.client_ids
        && !clients
            .iter()
            .any(|c| c.eq_ignore_ascii_case(&principal.app_id))
    {
        return Err(ApiError::Forbidden(format!(
            "Application '{}' is not among the assignment's client ids.",
            principal.app_id
        )));
    }
    let skype_id = format!(
        "acs:{}_{}_{}",
        res.resource_id, principal.tenant_id, principal.object_id
    );
    let lifetime = match state.settings.config.tokens.token_lifetime {
        Some(forced) => TimeDelta::from_std(forced).unwrap_or(TimeDelta::MAX),
        None => TimeDelta::minutes(DEFAULT_TOKEN_MINUTES),
    };
    let issued = res.tokens.issue(
        &skype_id,
        &ScopeSet::new([Scope::Voip]),
        0,
        state.clock.now(),
        lifetime,
    )?;
    json_response(
        StatusCode::OK,
        &CreateUserResponse {
            identity: IdentityDto {
                id: format!("8:{skype_id}"),
            },
            access_token: Some(issued.into()),
        },
    )
}

/// The `{tenant_id}` and `{object_id}` of an assignment's path, percent-decoded.
pub struct AssignmentPath {
    /// The Entra tenant.
    pub tenant_id: String,
    /// The user's or resource account's object id.
    pub object_id: String,
}

impl FromRequest for AssignmentPath {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(AssignmentPath {
            tenant_id: decoded_segment(req, "tenant_id"),
            object_id: decoded_segment(req, "object_id"),
        }))
    }
}

fn assignment_response(key: AssignmentPath, a: TeamsExtensionAssignment) -> AssignmentResponse {
    AssignmentResponse {
        object_id: key.object_id,
        tenant_id: key.tenant_id,
        principal_type: a.principal_type,
        client_ids: a.client_ids,
    }
}

fn assignment_not_found(tenant_id: &str, object_id: &str) -> ApiError {
    ApiError::NotFound(format!(
        "No Teams extension assignment for object '{object_id}' in tenant '{tenant_id}'."
    ))
}

/// `GET /access/teamsExtension/tenants/{tenantId}/assignments/{objectId}` (2025-06-30+). 200.
pub async fn get_assignment(
    res: Res,
    _: ApiVersion,
    key: AssignmentPath,
) -> Result<HttpResponse, ApiError> {
    let assignment = res
        .store
        .assignments
        .get(&key.tenant_id, &key.object_id)
        .ok_or_else(|| assignment_not_found(&key.tenant_id, &key.object_id))?;
    json_response(StatusCode::OK, &assignment_response(key, assignment))
}

/// `PUT /access/teamsExtension/tenants/{tenantId}/assignments/{objectId}` (2025-06-30+):
/// 201 when created, 200 when replaced.
pub async fn upsert_assignment(
    res: Res,
    state: web::Data<AppState>,
    _: ApiVersion,
    key: AssignmentPath,
    AcsJson(request): AcsJson<UpsertAssignmentRequest>,
) -> Result<HttpResponse, ApiError> {
    let principal_type = request.principal_type.ok_or_else(|| {
        ApiError::validation(
            "PrincipalType: The PrincipalType field is required.",
            "principalType",
        )
    })?;
    if principal_type != "resourceAccount" && principal_type != "user" {
        return Err(ApiError::validation(
            format!(
                "PrincipalType '{principal_type}' is invalid; expected 'resourceAccount' or 'user'."
            ),
            "principalType",
        ));
    }
    check_assignment(
        &key.tenant_id,
        &key.object_id,
        request.client_ids.as_deref(),
    )?;
    let assignment = TeamsExtensionAssignment {
        principal_type,
        client_ids: request.client_ids,
    };
    let created = res.store.assignments.upsert(
        &key.tenant_id,
        &key.object_id,
        assignment.clone(),
        state.changes.sink(&res.name),
    )?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    json_response(status, &assignment_response(key, assignment))
}

/// The most client ids one Teams extension assignment keeps, and the longest id (a tenant,
/// object or client id; Entra ids are 36-character GUIDs). The spec states no limits; these
/// bound what an assignment stores (README "Limits").
const MAX_ASSIGNMENT_CLIENT_IDS: usize = 100;
const MAX_ASSIGNMENT_ID_BYTES: usize = 256;

/// Rejects an assignment whose ids are too long or too many (400 `ValidationError`).
fn check_assignment(
    tenant_id: &str,
    object_id: &str,
    client_ids: Option<&[String]>,
) -> Result<(), ApiError> {
    for (value, target) in [(tenant_id, "tenantId"), (object_id, "objectId")] {
        if value.len() > MAX_ASSIGNMENT_ID_BYTES {
            return Err(ApiError::validation(
                format!("{target} cannot exceed {MAX_ASSIGNMENT_ID_BYTES} bytes."),
                target,
            ));
        }
    }
    let client_ids = client_ids.unwrap_or_default();
    if client_ids.len() > MAX_ASSIGNMENT_CLIENT_IDS
        || client_ids.iter().any(|c| c.len() > MAX_ASSIGNMENT_ID_BYTES)
    {
        return Err(ApiError::validation(
            format!(
                "ClientIds can hold at most {MAX_ASSIGNMENT_CLIENT_IDS} ids of at most {MAX_ASSIGNMENT_ID_BYTES} bytes each."
            ),
            "clientIds",
        ));
    }
    Ok(())
}

/// `DELETE /access/teamsExtension/tenants/{tenantId}/assignments/{objectId}` (2025-06-30+). 204.
pub async fn delete_assignment(
    res: Res,
    state: web::Data<AppState>,
    _: ApiVersion,
    key: AssignmentPath,
) -> Result<HttpResponse, ApiError> {
    if !res.store.assignments.delete(
        &key.tenant_id,
        &key.object_id,
        state.changes.sink(&res.name),
    ) {
        return Err(assignment_not_found(&key.tenant_id, &key.object_id));
    }
    Ok(HttpResponse::NoContent().finish())
}
