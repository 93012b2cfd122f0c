//! The built-in Microsoft Entra ID token authority's HTTP endpoints, so that azure-identity
//! credentials work offline against the emulator:
//!
//! - `GET  /{tenant}/v2.0/.well-known/openid-configuration` and `GET /{tenant}/discovery/v2.0/keys`
//!   (MSAL's discovery; the emulator's own URL is the `authority` / `authorityHost`).
//! - `POST /{tenant}/oauth2/v2.0/token`: the client credentials grant (`ClientSecretCredential`,
//!   `EnvironmentCredential`, `DefaultAzureCredential` with `AZURE_CLIENT_*`).
//! - `GET  /msi/token`: an App Service style managed identity endpoint (`ManagedIdentityCredential`
//!   and `DefaultAzureCredential` with `IDENTITY_ENDPOINT` + `IDENTITY_HEADER`).
//!
//! Errors follow OAuth 2.0 / Entra ID, which MSAL parses, not the ACS envelope
//! ([`ApiError::OAuth`], [`ApiError::ManagedIdentity`]).

use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use crate::auth::entra::{EntraAuthority, OAuthError, TOKEN_LIFETIME};
use crate::clock;
use crate::error::ApiError;
use crate::http::{AuthKind, BufferedBody, Operation, Plane, Service, json_response};
use crate::state::AppState;

/// The authority's slice of the operation table: no authentication, no api-versions (the
/// managed identity endpoint checks its own). Registered last: its `/{tenant}/…` patterns must
/// not shadow the other services' paths.
pub const SERVICE: Service = Service {
    plane: Plane::Entra,
    mounts: &[],
    operations: OPERATIONS,
};

/// Every operation of the authority.
#[rustfmt::skip]
pub const OPERATIONS: &[Operation] = &[
    Operation::new("Entra.ManagedIdentityToken", Method::GET, "/msi/token",
        &[], AuthKind::None, |r| r.to(managed_identity_token)),
    Operation::new("Entra.OpenIdConfiguration", Method::GET,
        "/{tenant}/v2.0/.well-known/openid-configuration", &[], AuthKind::None,
        |r| r.to(openid_configuration)),
    Operation::new("Entra.Keys", Method::GET, "/{tenant}/discovery/v2.0/keys",
        &[], AuthKind::None, |r| r.to(jwks)),
    Operation::new("Entra.Token", Method::POST, "/{tenant}/oauth2/v2.0/token",
        &[], AuthKind::None, |r| r.to(token)),
];

/// `scheme://host` of the request, as the client addressed the emulator (forwarded headers
/// only with `--trust-forwarded-headers`, see [`super::origin`]).
fn base_url(req: &HttpRequest) -> String {
    let (scheme, host) = crate::http::origin(req);
    format!("{scheme}://{host}")
}

fn tenant(req: &HttpRequest, state: &AppState) -> String {
    state
        .entra
        .tenant_for(req.match_info().get("tenant").unwrap_or(""))
}

#[derive(Serialize)]
struct OpenIdConfiguration {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    device_authorization_endpoint: String,
    end_session_endpoint: String,
    jwks_uri: String,
    response_types_supported: [&'static str; 3],
    subject_types_supported: [&'static str; 1],
    id_token_signing_alg_values_supported: [&'static str; 1],
    token_endpoint_auth_methods_supported: [&'static str; 2],
    scopes_supported: [&'static str; 4],
    tenant_region_scope: &'static str,
    cloud_instance_name: &'static str,
}

/// `GET /{tenant}/v2.0/.well-known/openid-configuration`.
async fn openid_configuration(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let base = base_url(&req);
    let tenant = tenant(&req, &state);
    json_response(
        StatusCode::OK,
        &OpenIdConfiguration {
            issuer: EntraAuthority::issuer(&base, &tenant),
            authorization_endpoint: format!("{base}/{tenant}/oauth2/v2.0/authorize"),
            token_endpoint: format!("{base}/{tenant}/oauth2/v2.0/token"),
            device_authorization_endpoint: format!("{base}/{tenant}/oauth2/v2.0/devicecode"),
            end_session_endpoint: format!("{base}/{tenant}/oauth2/v2.0/logout"),
            jwks_uri: format!("{base}/{tenant}/discovery/v2.0/keys"),
            response_types_supported: ["code", "id_token", "token id_token"],
            subject_types_supported: ["pairwise"],
            id_token_signing_alg_values_supported: ["ES256"],
            token_endpoint_auth_methods_supported: ["client_secret_post", "client_secret_basic"],
            scopes_supported: ["openid", "profile", "email", "offline_access"],
            tenant_region_scope: "NA",
            cloud_instance_name: "microsoftonline.com",
        },
    )
}

/// `GET /{tenant}/discovery/v2.0/keys`: the authority's public key as a JWKS.
async fn jwks(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    json_response(StatusCode::OK, state.entra.jwks())
}

#[derive(Serialize)]
struct TokenResponse {
    token_type: &'static str,
    expires_in: i64,
    ext_expires_in: i64,
    access_token: String,
}

/// `POST /{tenant}/oauth2/v2.0/token`: `grant_type=client_credentials` with `client_id` and
/// `client_secret` (form fields or HTTP Basic), `scope=<resource>/.default`.
async fn token(
    req: HttpRequest,
    state: web::Data<AppState>,
    BufferedBody(body): BufferedBody,
) -> Result<HttpResponse, ApiError> {
    let mut grant_type = None;
    let mut client_id = None;
    let mut client_secret = None;
    let mut scope = None;
    for (key, value) in form_urlencoded::parse(&body) {
        match key.as_ref() {
            "grant_type" => grant_type = Some(value.into_owned()),
            "client_id" => client_id = Some(value.into_owned()),
            "client_secret" => client_secret = Some(value.into_owned()),
            "scope" => scope = Some(value.into_owned()),
            _ => {}
        }
    }
    if let Some((id, secret)) = basic_credentials(&req) {
        client_id.get_or_insert(id);
        client_secret.get_or_insert(secret);
    }
    let result = match (grant_type.as_deref(), client_id, client_secret, scope) {
        (Some("client_credentials"), Some(id), Some(secret), Some(scope)) => {
            let base = base_url(&req);
            let tenant = tenant(&req, &state);
            state.entra.client_credentials(
                &id,
                &secret,
                &scope,
                &EntraAuthority::issuer(&base, &tenant),
                &tenant,
                state.clock.now(),
            )
        }
        (Some("client_credentials"), _, None, _) => Err(OAuthError::InvalidClient(
            "AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or 'client_secret'. The emulator supports client secrets only.".into(),
        )),
        (Some("client_credentials"), None, _, _) => Err(OAuthError::InvalidRequest(
            "AADSTS900144: The request body must contain the following parameter: 'client_id'.".into(),
        )),
        (Some("client_credentials"), _, _, None) => Err(OAuthError::InvalidRequest(
            "AADSTS900144: The request body must contain the following parameter: 'scope'.".into(),
        )),
        (Some(other), ..) => Err(OAuthError::UnsupportedGrantType(format!(
            "AADSTS70003: The app requested an unsupported grant type '{other}'. The emulator's authority supports client_credentials."
        ))),
        (None, ..) => Err(OAuthError::InvalidRequest(
            "AADSTS900144: The request body must contain the following parameter: 'grant_type'.".into(),
        )),
    };
    match result {
        Ok(access_token) => json_response(
            StatusCode::OK,
            &TokenResponse {
                token_type: "Bearer",
                expires_in: TOKEN_LIFETIME.num_seconds(),
                ext_expires_in: TOKEN_LIFETIME.num_seconds(),
                access_token,
            },
        ),
        Err(error) => Err(ApiError::OAuth {
            error,
            at: state.clock.now(),
        }),
    }
}

/// `Authorization: Basic base64(id:secret)`, the other way OAuth clients send credentials.
fn basic_credentials(req: &HttpRequest) -> Option<(String, String)> {
    use base64::Engine;
    let value = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

#[derive(Serialize)]
struct ManagedIdentityToken {
    access_token: String,
    expires_on: String,
    resource: String,
    token_type: &'static str,
    client_id: String,
}

/// `GET /msi/token?api-version=2019-08-01&resource=…` with `X-IDENTITY-HEADER`: the App Service
/// managed identity protocol.
async fn managed_identity_token(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let fail = |status: StatusCode, message: String| {
        tracing::info!(reason = %message, "managed identity token refused");
        Err(ApiError::ManagedIdentity { status, message })
    };
    let expected = state
        .settings
        .config
        .tokens
        .managed_identity_header
        .as_bytes();
    let given = req.headers().get("x-identity-header").map(|v| v.as_bytes());
    if given != Some(expected) {
        return fail(
            StatusCode::UNAUTHORIZED,
            "The X-IDENTITY-HEADER header is missing or wrong; set IDENTITY_HEADER to the emulator's --managed-identity-header value.".into(),
        );
    }
    let query: Vec<(String, String)> = form_urlencoded::parse(req.query_string().as_bytes())
        .into_owned()
        .collect();
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    match param("api-version").as_deref() {
        Some("2019-08-01") => {}
        other => {
            return fail(
                StatusCode::BAD_REQUEST,
                format!(
                    "api-version {other:?} is not supported; the App Service managed identity endpoint speaks 2019-08-01."
                ),
            );
        }
    }
    if let Some(client_id) = param("client_id")
        && !client_id.eq_ignore_ascii_case(state.entra.managed_identity_client_id())
    {
        return fail(
            StatusCode::BAD_REQUEST,
            format!(
                "No managed identity with client id '{client_id}' is assigned; the emulator's is '{}'.",
                state.entra.managed_identity_client_id()
            ),
        );
    }
    let Some(resource) = param("resource") else {
        return fail(
            StatusCode::BAD_REQUEST,
            "The resource parameter is required.".into(),
        );
    };
    let now = state.clock.now();
    match state.entra.managed_identity(&resource, now) {
        Ok(access_token) => json_response(
            StatusCode::OK,
            &ManagedIdentityToken {
                access_token,
                expires_on: clock::saturating_add(now, TOKEN_LIFETIME)
                    .timestamp()
                    .to_string(),
                resource,
                token_type: "Bearer",
                client_id: state.entra.managed_identity_client_id().to_string(),
            },
        ),
        Err(e) => fail(StatusCode::BAD_REQUEST, e.to_string()),
    }
}
