//! The Identity API: users, user access tokens, revocation, Teams token exchange and (2025-06-30+)
//! Teams Phone extension assignments.
//!
//! Contract: `shared/specs/Identity/*` and acs-api.md §5, §13. Every route here sits behind the
//! access-key middleware. Status codes are exact (the SDKs reject any other 2xx).

use actix_web::http::StatusCode;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use chrono::TimeDelta;
use serde::{Deserialize, Serialize};

use super::{api_version, json_body, json_response, resource};
use crate::auth::Caller;
use crate::auth::hmac_mw::require_service_auth;
use crate::auth::user_token::{IssuedToken, decode_payload_unverified};
use crate::domain::{CommunicationUserId, Scope, ScopeSet};
use crate::error::ApiError;
use crate::resource::{Res, Resource};
use crate::startup::AppState;
use crate::store::{StoreError, TeamsExtensionAssignment};

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
const TEAMS_USER_VERSIONS: &[&str] = &[
    "2022-06-01",
    "2022-10-01",
    "2023-10-01",
    "2025-06-30",
    "2026-09-23",
];
/// Versions that have the Teams Phone extension operations.
const TEAMS_EXTENSION_VERSIONS: &[&str] = &["2025-06-30", "2026-09-23"];
/// The first version that honours `expiresInMinutes`.
const CUSTOM_EXPIRY_SINCE: &str = "2022-10-01";
/// Default and bounds of `expiresInMinutes`.
const DEFAULT_TOKEN_MINUTES: i64 = 1440;
const MIN_TOKEN_MINUTES: i64 = 60;
const MAX_TOKEN_MINUTES: i64 = 1440;

/// Mounts the Identity routes, each behind the access-key middleware.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let supported = VERSIONS.join(", ");
    let headers = || {
        actix_web::middleware::DefaultHeaders::new()
            .add(("api-supported-versions", supported.clone()))
    };
    let auth = || actix_web::middleware::from_fn(require_service_auth);
    let scenarios = || actix_web::middleware::from_fn(super::scenario_mw::scenarios);
    cfg.service(
        web::scope("/identities")
            .wrap(scenarios())
            .wrap(auth())
            .wrap(headers())
            .service(resource("").route(web::post().to(create_user)))
            .service(resource("/{id}").route(web::delete().to(delete_user)))
            .service(resource("/{id}/:issueAccessToken").route(web::post().to(issue_access_token)))
            .service(
                resource("/{id}/:revokeAccessTokens").route(web::post().to(revoke_access_tokens)),
            ),
    )
    .service(
        web::scope("/teamsUser")
            .wrap(scenarios())
            .wrap(auth())
            .wrap(headers())
            .service(
                resource("/:exchangeAccessToken")
                    .route(web::post().to(exchange_teams_user_access_token)),
            ),
    )
    .service(
        web::scope("/access/teamsExtension")
            .wrap(scenarios())
            .wrap(auth())
            .wrap(headers())
            .service(
                resource("/:exchangeAccessToken")
                    .route(web::post().to(exchange_teams_extension_access_token)),
            )
            .service(
                resource("/tenants/{tenant_id}/assignments/{object_id}")
                    .route(web::get().to(get_assignment))
                    .route(web::put().to(upsert_assignment))
                    .route(web::delete().to(delete_assignment)),
            ),
    );
}

/// `CommunicationIdentityCreateRequest`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateUserRequest {
    /// Also issue a token with these scopes.
    pub create_token_with_scopes: Option<Vec<String>>,
    /// Token lifetime, 60..1440 minutes.
    pub expires_in_minutes: Option<i64>,
}

/// `CommunicationIdentityAccessTokenRequest`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IssueAccessTokenRequest {
    /// Required scopes.
    pub scopes: Option<Vec<String>>,
    /// Token lifetime, 60..1440 minutes.
    pub expires_in_minutes: Option<i64>,
}

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

/// What a token request asked for, validated.
struct TokenRequest {
    scopes: ScopeSet,
    lifetime: TimeDelta,
}

/// Validates scopes and `expiresInMinutes` as the real service does.
fn token_request(
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

/// Issues a token to a live identity.
fn issue_for(
    res: &Resource,
    state: &AppState,
    user: &CommunicationUserId,
    request: &TokenRequest,
) -> Result<IssuedToken, ApiError> {
    let seq = res
        .store
        .identities
        .next_token_seq(user)
        .map_err(store_error)?;
    issue_with_seq(res, state, user, request, seq)
}

/// Signs token number `seq` of `user`.
fn issue_with_seq(
    res: &Resource,
    state: &AppState,
    user: &CommunicationUserId,
    request: &TokenRequest,
    seq: u64,
) -> Result<IssuedToken, ApiError> {
    res.tokens.issue(
        user.skype_id(),
        &request.scopes,
        seq,
        state.clock.now(),
        request.lifetime,
    )
}

/// Unknown and deleted identities answer 401, as the real service does (acs-api.md §13).
fn store_error(e: StoreError) -> ApiError {
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

/// The `{id}` path segment as a user id. Clients send it percent-encoded (`8%3Aacs%3A…`) or raw
/// (Python aio); both are accepted.
fn path_user_id(req: &HttpRequest) -> Result<CommunicationUserId, ApiError> {
    let raw = req.match_info().get("id").unwrap_or("");
    let decoded = percent_encoding::percent_decode_str(raw).decode_utf8_lossy();
    CommunicationUserId::parse(&decoded)
        .map_err(|e| ApiError::validation(format!("Identifier is invalid: {e}."), "id"))
}

/// `POST /identities` (all versions): create a user, optionally with a token. 201.
pub async fn create_user(
    res: Res,
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let version = api_version(&req, VERSIONS)?;
    let request: CreateUserRequest = json_body(&req, &body, true)?;
    let token_request = match request.create_token_with_scopes {
        Some(scopes) => Some(token_request(
            &state,
            version,
            Some(scopes),
            request.expires_in_minutes,
        )?),
        None => None,
    };
    let user = CommunicationUserId::new(res.resource_id, res.store.ids.uuid());
    let (identities, now, max) = (
        &res.store.identities,
        state.clock.now(),
        res.store.limits().identities,
    );
    let access_token = match token_request {
        // The identity and its first token number in one insert (see `create_with_token_within`).
        Some(t) => {
            let seq = identities
                .create_with_token_within(user.clone(), now, max)
                .map_err(store_error)?;
            Some(issue_with_seq(&res, &state, &user, &t, seq)?.into())
        }
        None => {
            identities
                .create_within(user.clone(), now, max)
                .map_err(store_error)?;
            None
        }
    };
    tracing::info!(user = %user, with_token = access_token.is_some(), "identity created");
    json_response(
        StatusCode::CREATED,
        &CreateUserResponse {
            identity: IdentityDto {
                id: user.to_string(),
            },
            access_token,
        },
    )
}

/// `DELETE /identities/{id}` (all versions): delete a user and revoke its tokens. 204.
pub async fn delete_user(
    res: Res,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    api_version(&req, VERSIONS)?;
    let user = path_user_id(&req)?;
    res.store
        .identities
        .delete(&user, state.clock.now())
        .map_err(store_error)?;
    tracing::info!(user = %user, "identity deleted");
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /identities/{id}/:issueAccessToken` (all versions): issue a token. 200.
pub async fn issue_access_token(
    res: Res,
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let version = api_version(&req, VERSIONS)?;
    let user = path_user_id(&req)?;
    let request: IssueAccessTokenRequest = json_body(&req, &body, true)?;
    let token_request = token_request(&state, version, request.scopes, request.expires_in_minutes)?;
    let issued = issue_for(&res, &state, &user, &token_request)?;
    tracing::info!(user = %user, scopes = %token_request.scopes.to_claim(), expires_on = %issued.expires_on, "token issued");
    json_response(StatusCode::OK, &AccessTokenDto::from(issued))
}

/// `POST /identities/{id}/:revokeAccessTokens` (all versions): revoke every token issued so far. 204.
pub async fn revoke_access_tokens(res: Res, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    api_version(&req, VERSIONS)?;
    let user = path_user_id(&req)?;
    res.store
        .identities
        .revoke_tokens(&user)
        .map_err(store_error)?;
    tracing::info!(user = %user, "tokens revoked");
    Ok(HttpResponse::NoContent().finish())
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
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    api_version(&req, TEAMS_USER_VERSIONS)?;
    let request: ExchangeTeamsUserAccessTokenRequest = json_body(&req, &body, false)?;
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
    tracing::info!(teams_user = %oid, expires_on = %issued.expires_on, "Teams user token exchanged");
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
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    api_version(&req, TEAMS_EXTENSION_VERSIONS)?;
    let _: serde_json::Value = json_body(&req, &body, true)?;
    let caller = req.extensions().get::<Caller>().cloned();
    let Some(Caller::Entra(principal)) = caller else {
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

fn assignment_key(req: &HttpRequest) -> (String, String) {
    let segment = |name: &str| {
        let raw = req.match_info().get(name).unwrap_or("");
        percent_encoding::percent_decode_str(raw)
            .decode_utf8_lossy()
            .into_owned()
    };
    (segment("tenant_id"), segment("object_id"))
}

fn assignment_response(
    tenant_id: String,
    object_id: String,
    a: TeamsExtensionAssignment,
) -> AssignmentResponse {
    AssignmentResponse {
        object_id,
        tenant_id,
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
pub async fn get_assignment(res: Res, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    api_version(&req, TEAMS_EXTENSION_VERSIONS)?;
    let (tenant_id, object_id) = assignment_key(&req);
    let assignment = res
        .store
        .assignments
        .get(&tenant_id, &object_id)
        .ok_or_else(|| assignment_not_found(&tenant_id, &object_id))?;
    json_response(
        StatusCode::OK,
        &assignment_response(tenant_id, object_id, assignment),
    )
}

/// `PUT /access/teamsExtension/tenants/{tenantId}/assignments/{objectId}` (2025-06-30+):
/// 201 when created, 200 when replaced.
pub async fn upsert_assignment(
    res: Res,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    api_version(&req, TEAMS_EXTENSION_VERSIONS)?;
    let (tenant_id, object_id) = assignment_key(&req);
    let request: UpsertAssignmentRequest = json_body(&req, &body, false)?;
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
    check_assignment(&tenant_id, &object_id, request.client_ids.as_deref())?;
    let assignment = TeamsExtensionAssignment {
        principal_type,
        client_ids: request.client_ids,
    };
    let created = res
        .store
        .assignments
        .upsert(&tenant_id, &object_id, assignment.clone())
        .map_err(store_error)?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    json_response(
        status,
        &assignment_response(tenant_id, object_id, assignment),
    )
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
pub async fn delete_assignment(res: Res, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    api_version(&req, TEAMS_EXTENSION_VERSIONS)?;
    let (tenant_id, object_id) = assignment_key(&req);
    if !res.store.assignments.delete(&tenant_id, &object_id) {
        return Err(assignment_not_found(&tenant_id, &object_id));
    }
    Ok(HttpResponse::NoContent().finish())
}
