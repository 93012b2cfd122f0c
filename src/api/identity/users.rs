//! Users and their tokens: create, delete, issue and revoke (every Identity api-version).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::{AccessTokenDto, CreateUserResponse, IdentityDto, TokenRequest, token_request};
use crate::auth::user_token::IssuedToken;
use crate::domain::CommunicationUserId;
use crate::error::ApiError;
use crate::http::{AcsJsonOrDefault, ApiVersion, Res, UserPath, json_response};
use crate::resource::Resource;
use crate::state::AppState;

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

/// Issues a token to a live identity.
pub(crate) fn issue_for(
    res: &Resource,
    state: &AppState,
    user: &CommunicationUserId,
    request: &TokenRequest,
) -> Result<IssuedToken, ApiError> {
    let seq = res
        .store
        .identities
        .next_token_seq(user, state.changes.sink(&res.name))?;
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
    Ok(res.tokens.issue(
        user.skype_id(),
        &request.scopes,
        seq,
        state.clock.now(),
        request.lifetime,
    )?)
}

/// `POST /identities` (all versions): create a user, optionally with a token. 201.
pub async fn create_user(
    res: Res,
    state: web::Data<AppState>,
    ApiVersion(version): ApiVersion,
    AcsJsonOrDefault(request): AcsJsonOrDefault<CreateUserRequest>,
) -> Result<HttpResponse, ApiError> {
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
    let sink = state.changes.sink(&res.name);
    let access_token = match token_request {
        // The identity and its first token number in one insert (see `create_with_token_within`).
        Some(t) => {
            let seq = identities.create_with_token_within(user.clone(), now, max, sink)?;
            Some(issue_with_seq(&res, &state, &user, &t, seq)?.into())
        }
        None => {
            identities.create_within(user.clone(), now, max, sink)?;
            None
        }
    };
    tracing::debug!(user = %user, with_token = access_token.is_some(), "identity created");
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
    state: web::Data<AppState>,
    _: ApiVersion,
    UserPath(user): UserPath,
) -> Result<HttpResponse, ApiError> {
    res.store
        .identities
        .delete(&user, state.clock.now(), state.changes.sink(&res.name))?;
    tracing::debug!(user = %user, "identity deleted");
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /identities/{id}/:issueAccessToken` (all versions): issue a token. 200.
pub async fn issue_access_token(
    res: Res,
    state: web::Data<AppState>,
    ApiVersion(version): ApiVersion,
    UserPath(user): UserPath,
    AcsJsonOrDefault(request): AcsJsonOrDefault<IssueAccessTokenRequest>,
) -> Result<HttpResponse, ApiError> {
    let token_request = token_request(&state, version, request.scopes, request.expires_in_minutes)?;
    let issued = issue_for(&res, &state, &user, &token_request)?;
    tracing::debug!(user = %user, scopes = %token_request.scopes.to_claim(), expires_on = %issued.expires_on, "token issued");
    json_response(StatusCode::OK, &AccessTokenDto::from(issued))
}

/// `POST /identities/{id}/:revokeAccessTokens` (all versions): revoke every token issued so far. 204.
pub async fn revoke_access_tokens(
    res: Res,
    state: web::Data<AppState>,
    _: ApiVersion,
    UserPath(user): UserPath,
) -> Result<HttpResponse, ApiError> {
    res.store
        .identities
        .revoke_tokens(&user, state.changes.sink(&res.name))?;
    tracing::debug!(user = %user, "tokens revoked");
    Ok(HttpResponse::NoContent().finish())
}
