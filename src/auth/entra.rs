//! The built-in Microsoft Entra ID token authority, and verification of Entra ID bearer tokens.
//!
//! Apps that authenticate to ACS with a managed identity or a client secret get their tokens
//! from Entra ID. Offline, the emulator plays that part: it mints ES256 JWTs with a key generated
//! at start-up, publishes the key as a JWKS, and accepts on Identity and SMS only tokens it can
//! verify with that key (or, with `--entra-trust-any`, any well-formed unexpired JWT with the ACS
//! audience). Expiry is checked on the emulator's clock. Pure logic, no actix types.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The audience of tokens for Azure Communication Services (the SDKs ask for
/// `https://communication.azure.com//.default`).
pub const ACS_AUDIENCE: &str = "https://communication.azure.com";

/// Lifetime of the tokens the authority issues, as Entra ID's default.
pub const TOKEN_LIFETIME: TimeDelta = TimeDelta::hours(1);

const KEY_ID: &str = "acs-emulator-entra";

/// Claims of the tokens the authority issues (a subset of Entra ID's v2 access tokens).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntraClaims {
    /// Audience: the resource the token is for.
    pub aud: String,
    /// Issuer: `https://<emulator host>/<tenant>/v2.0`.
    pub iss: String,
    /// Issued at (epoch seconds).
    pub iat: i64,
    /// Not before (epoch seconds).
    pub nbf: i64,
    /// Expiry (epoch seconds).
    pub exp: i64,
    /// The client (application) id.
    pub appid: String,
    /// The client id again, as v2 tokens carry it.
    pub azp: String,
    /// Object id of the service principal or managed identity.
    pub oid: String,
    /// Subject (the object id).
    pub sub: String,
    /// Tenant id.
    pub tid: String,
    /// `app` for application tokens.
    pub idtyp: String,
    /// Token version.
    pub ver: String,
}

/// The claims the emulator reads from any Entra ID token (its own or, with trust-any, others').
#[derive(Debug, Clone, Deserialize)]
pub struct AnyEntraClaims {
    /// Audience (a string or a list).
    pub aud: serde_json::Value,
    /// Expiry.
    pub exp: i64,
    /// Not before.
    #[serde(default)]
    pub nbf: Option<i64>,
    /// Client id (v1).
    #[serde(default)]
    pub appid: Option<String>,
    /// Client id (v2).
    #[serde(default)]
    pub azp: Option<String>,
    /// Object id.
    #[serde(default)]
    pub oid: Option<String>,
    /// Tenant id.
    #[serde(default)]
    pub tid: Option<String>,
    /// Issuer.
    #[serde(default)]
    pub iss: Option<String>,
}

/// The caller behind a verified Entra ID token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntraPrincipal {
    /// Client (application) id.
    pub app_id: String,
    /// Object id.
    pub object_id: String,
    /// Tenant id.
    pub tenant_id: String,
}

/// Why an Entra ID token was refused; each message says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntraError {
    /// Not a JWT.
    #[error("the bearer token is not a well-formed JWT")]
    Malformed,
    /// Not signed by this emulator's authority.
    #[error(
        "the bearer token is not signed by this emulator's token authority (get tokens from the emulator's URL as authority, or start it with --entra-trust-any)"
    )]
    ForeignSignature,
    /// Signed with the right key id but the signature does not verify (tampered).
    #[error("the bearer token's signature is not valid")]
    BadSignature,
    /// Wrong audience.
    #[error("the bearer token's audience '{0}' is not https://communication.azure.com")]
    Audience(String),
    /// Past `exp`.
    #[error("the bearer token has expired")]
    Expired,
    /// Before `nbf`.
    #[error("the bearer token is not valid yet (nbf is in the future)")]
    NotYetValid,
    /// Issuer not this authority.
    #[error("the bearer token's issuer '{0}' is not this emulator's token authority")]
    Issuer(String),
}

/// Why a token request was refused, in OAuth 2.0 terms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthError {
    /// `invalid_client` (401): unknown client or wrong secret.
    #[error("{0}")]
    InvalidClient(String),
    /// `unsupported_grant_type` (400).
    #[error("{0}")]
    UnsupportedGrantType(String),
    /// `invalid_request` (400): missing parameters.
    #[error("{0}")]
    InvalidRequest(String),
    /// `invalid_scope` (400).
    #[error("{0}")]
    InvalidScope(String),
}

impl OAuthError {
    /// The OAuth `error` code.
    pub fn code(&self) -> &'static str {
        match self {
            OAuthError::InvalidClient(_) => "invalid_client",
            OAuthError::UnsupportedGrantType(_) => "unsupported_grant_type",
            OAuthError::InvalidRequest(_) => "invalid_request",
            OAuthError::InvalidScope(_) => "invalid_scope",
        }
    }
}

/// The token authority: signing key, registered clients, managed identity.
pub struct EntraAuthority {
    encoding: EncodingKey,
    decoding: DecodingKey,
    jwks: JwkSet,
    tenant: Uuid,
    clients: HashMap<String, String>,
    managed_identity_client_id: String,
    trust_any: bool,
}

impl EntraAuthority {
    /// An authority signing with `signing_key_pem` (a P-256 PKCS#8 key), or with a freshly
    /// generated one.
    pub fn new(
        tenant: Uuid,
        clients: &[(String, String)],
        managed_identity_client_id: &str,
        trust_any: bool,
        signing_key_pem: Option<&str>,
    ) -> anyhow::Result<Self> {
        let key_pair = match signing_key_pem {
            Some(pem) => {
                let key = rcgen::KeyPair::from_pem(pem).map_err(|e| {
                    anyhow::anyhow!("the Entra signing key is not a PEM private key: {e}")
                })?;
                if key.algorithm() != &rcgen::PKCS_ECDSA_P256_SHA256 {
                    anyhow::bail!("the Entra signing key must be an ECDSA P-256 key (ES256)");
                }
                key
            }
            None => rcgen::KeyPair::generate()?,
        };
        let encoding = EncodingKey::from_ec_der(&key_pair.serialize_der());
        let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::ES256)?;
        jwk.common.key_id = Some(KEY_ID.into());
        let decoding = DecodingKey::from_jwk(&jwk)?;
        Ok(Self {
            encoding,
            decoding,
            jwks: JwkSet { keys: vec![jwk] },
            tenant,
            clients: clients.iter().cloned().collect(),
            managed_identity_client_id: managed_identity_client_id.to_ascii_lowercase(),
            trust_any,
        })
    }

    /// The JWKS document.
    pub fn jwks(&self) -> &JwkSet {
        &self.jwks
    }

    /// The tenant id used when a request names none (or a name such as `organizations`).
    pub fn tenant_for(&self, requested: &str) -> String {
        Uuid::parse_str(requested)
            .map(|t| t.to_string())
            .unwrap_or_else(|_| self.tenant.to_string())
    }

    /// The issuer for `tenant` at `base` (`https://host:port`).
    pub fn issuer(base: &str, tenant: &str) -> String {
        format!("{}/{tenant}/v2.0", base.trim_end_matches('/'))
    }

    /// Client credentials grant: checks the secret and issues a token for `scope`'s resource.
    pub fn client_credentials(
        &self,
        client_id: &str,
        client_secret: &str,
        scope: &str,
        issuer: &str,
        tenant: &str,
        now: DateTime<Utc>,
    ) -> Result<String, OAuthError> {
        let client_id = client_id.trim().to_ascii_lowercase();
        match self.clients.get(&client_id) {
            None => Err(OAuthError::InvalidClient(format!(
                "AADSTS700016: Application with identifier '{client_id}' was not found in the directory. Register it with --entra-client ID:SECRET."
            ))),
            Some(secret) if !constant_time_eq(secret.as_bytes(), client_secret.as_bytes()) => {
                Err(OAuthError::InvalidClient(format!(
                    "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value of app '{client_id}'."
                )))
            }
            Some(_) => {
                let audience = audience_of_scope(scope)?;
                Ok(self.issue(&client_id, &audience, issuer, tenant, now))
            }
        }
    }

    /// Whether `client_secret` is the secret of the registered client `client_id` (any case;
    /// compared in constant time). The SMTP relay's `AUTH` checks its password with it.
    pub fn client_secret_matches(&self, client_id: &str, client_secret: &str) -> bool {
        self.clients
            .get(&client_id.trim().to_ascii_lowercase())
            .is_some_and(|secret| constant_time_eq(secret.as_bytes(), client_secret.as_bytes()))
    }

    /// Issues a managed identity token for `resource`, with the v1 issuer managed identity
    /// tokens carry.
    pub fn managed_identity(
        &self,
        resource: &str,
        now: DateTime<Utc>,
    ) -> Result<String, OAuthError> {
        let audience = audience_of_scope(resource)?;
        let tenant = self.tenant.to_string();
        let issuer = managed_identity_issuer(&tenant);
        Ok(self.issue(
            &self.managed_identity_client_id,
            &audience,
            &issuer,
            &tenant,
            now,
        ))
    }

    /// The managed identity's client id.
    pub fn managed_identity_client_id(&self) -> &str {
        &self.managed_identity_client_id
    }

    fn issue(
        &self,
        client_id: &str,
        audience: &str,
        issuer: &str,
        tenant: &str,
        now: DateTime<Utc>,
    ) -> String {
        let iat = now.timestamp();
        // The service principal's object id is derived from the client id so it is stable.
        let oid = Uuid::new_v5(&Uuid::NAMESPACE_OID, client_id.as_bytes()).to_string();
        let claims = EntraClaims {
            aud: audience.to_string(),
            iss: issuer.to_string(),
            iat,
            nbf: iat,
            exp: iat + TOKEN_LIFETIME.num_seconds(),
            appid: client_id.to_string(),
            azp: client_id.to_string(),
            sub: oid.clone(),
            oid,
            tid: tenant.to_string(),
            idtyp: "app".into(),
            ver: "2.0".into(),
        };
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(KEY_ID.into());
        // Signing with a key generated a moment ago cannot fail.
        jsonwebtoken::encode(&header, &claims, &self.encoding).unwrap_or_default()
    }

    /// Verifies a bearer token presented to Identity or SMS.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<EntraPrincipal, EntraError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| EntraError::Malformed)?;
        let ours = header.alg == Algorithm::ES256 && header.kid.as_deref() == Some(KEY_ID);
        let claims: AnyEntraClaims = if ours {
            let mut validation = Validation::new(Algorithm::ES256);
            validation.validate_exp = false;
            validation.validate_aud = false;
            validation.required_spec_claims.clear();
            jsonwebtoken::decode::<AnyEntraClaims>(token, &self.decoding, &validation)
                .map_err(|e| match e.kind() {
                    jsonwebtoken::errors::ErrorKind::InvalidSignature => EntraError::BadSignature,
                    _ => EntraError::Malformed,
                })?
                .claims
        } else if self.trust_any {
            crate::auth::user_token::decode_payload_unverified(token)
                .ok_or(EntraError::Malformed)?
        } else {
            return Err(EntraError::ForeignSignature);
        };
        if !audience_matches(&claims.aud, ACS_AUDIENCE) {
            return Err(EntraError::Audience(
                claims.aud.to_string().trim_matches('"').to_string(),
            ));
        }
        let now = now.timestamp();
        if now >= claims.exp {
            return Err(EntraError::Expired);
        }
        if claims.nbf.is_some_and(|nbf| now < nbf) {
            return Err(EntraError::NotYetValid);
        }
        if ours {
            // v2 issuer `<emulator URL>/<tid>/v2.0` (client credentials), or the v1 issuer
            // `https://sts.windows.net/<tid>/` that managed identity tokens carry.
            let issuer = claims.iss.clone().unwrap_or_default();
            let issuer_ok = claims.tid.as_deref().is_some_and(|tid| {
                issuer.ends_with(&format!("/{tid}/v2.0")) || issuer == managed_identity_issuer(tid)
            });
            if !issuer_ok {
                return Err(EntraError::Issuer(issuer));
            }
        }
        Ok(EntraPrincipal {
            app_id: claims.appid.or(claims.azp).unwrap_or_default(),
            object_id: claims.oid.unwrap_or_default(),
            tenant_id: claims.tid.unwrap_or_default(),
        })
    }

    /// For the Teams token exchange: if the token claims to come from this authority, its
    /// signature must verify; tokens from elsewhere (Microsoft's) cannot be checked offline.
    pub fn check_if_ours(&self, token: &str) -> Result<(), EntraError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| EntraError::Malformed)?;
        if header.kid.as_deref() != Some(KEY_ID) {
            return Ok(());
        }
        let mut validation = Validation::new(Algorithm::ES256);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        jsonwebtoken::decode::<serde_json::Value>(token, &self.decoding, &validation)
            .map(|_| ())
            .map_err(|_| EntraError::BadSignature)
    }
}

/// The issuer of managed identity (v1) tokens for `tenant`.
pub fn managed_identity_issuer(tenant: &str) -> String {
    format!("https://sts.windows.net/{tenant}/")
}

/// `https://communication.azure.com//.default` → `https://communication.azure.com`.
pub fn audience_of_scope(scope: &str) -> Result<String, OAuthError> {
    let first = scope
        .split_whitespace()
        .find(|s| !matches!(*s, "openid" | "profile" | "offline_access"))
        .ok_or_else(|| OAuthError::InvalidScope("AADSTS1002012: The provided value for scope is not valid; use '<resource>/.default'.".into()))?;
    let resource = first.strip_suffix("/.default").unwrap_or(first);
    let resource = resource.trim_end_matches('/');
    if resource.is_empty() {
        return Err(OAuthError::InvalidScope(format!(
            "AADSTS70011: The provided value for scope '{scope}' is not valid."
        )));
    }
    Ok(resource.to_string())
}

fn audience_matches(aud: &serde_json::Value, expected: &str) -> bool {
    let one = |a: &str| a.trim_end_matches('/') == expected;
    match aud {
        serde_json::Value::String(a) => one(a),
        serde_json::Value::Array(list) => list.iter().any(|a| a.as_str().is_some_and(one)),
        _ => false,
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use sha2::{Digest, Sha256};
    // Comparing digests keeps the time independent of where the inputs differ.
    let (da, db) = (Sha256::digest(a), Sha256::digest(b));
    da.iter()
        .zip(db.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    const CLIENT: &str = "acacacac-0000-4000-8000-00000000000c";

    fn authority(trust_any: bool) -> EntraAuthority {
        EntraAuthority::new(
            Uuid::parse_str("acacacac-0000-4000-8000-00000000000a").expect("uuid"),
            &[(CLIENT.into(), "secret".into())],
            "acacacac-0000-4000-8000-00000000000d",
            trust_any,
            None,
        )
        .expect("authority")
    }

    fn token(a: &EntraAuthority, scope: &str, now: DateTime<Utc>) -> String {
        let tenant = "acacacac-0000-4000-8000-00000000000a";
        a.client_credentials(
            CLIENT,
            "secret",
            scope,
            &EntraAuthority::issuer("https://127.0.0.1:8443", tenant),
            tenant,
            now,
        )
        .expect("issued")
    }

    #[test]
    fn issued_tokens_verify_with_the_acs_audience() {
        let a = authority(false);
        let now = Utc::now();
        let t = token(&a, "https://communication.azure.com//.default", now);
        let principal = a.verify(&t, now).expect("valid");
        assert_eq!(principal.app_id, CLIENT);
        assert_eq!(principal.tenant_id, "acacacac-0000-4000-8000-00000000000a");
        assert_eq!(a.verify(&t, now + TOKEN_LIFETIME), Err(EntraError::Expired));
        assert_eq!(
            a.verify(&t, now - TimeDelta::seconds(5)),
            Err(EntraError::NotYetValid)
        );
    }

    #[test]
    fn other_audiences_tampering_and_foreign_keys_are_rejected() {
        let a = authority(false);
        let now = Utc::now();
        let graph = token(&a, "https://graph.microsoft.com/.default", now);
        assert!(matches!(
            a.verify(&graph, now),
            Err(EntraError::Audience(_))
        ));

        let good = token(&a, "https://communication.azure.com/.default", now);
        let parts: Vec<&str> = good.split('.').collect();
        let mut claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("b64")).expect("json");
        claims["appid"] = "someone-else".into();
        let tampered = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(claims.to_string()),
            parts[2]
        );
        assert_eq!(a.verify(&tampered, now), Err(EntraError::BadSignature));

        let other = authority(false);
        let foreign = token(&other, "https://communication.azure.com/.default", now);
        assert_eq!(a.verify(&foreign, now), Err(EntraError::BadSignature));

        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#),
            parts[1]
        );
        assert_eq!(a.verify(&none, now), Err(EntraError::Malformed));
        assert_eq!(a.verify("nope", now), Err(EntraError::Malformed));
    }

    #[test]
    fn trust_any_accepts_self_minted_tokens_but_still_checks_audience_and_expiry() {
        let a = authority(true);
        let now = Utc::now().timestamp();
        let mint = |claims: serde_json::Value| {
            format!(
                "{}.{}.c2ln",
                URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","kid":"x"}"#),
                URL_SAFE_NO_PAD.encode(claims.to_string())
            )
        };
        let good = mint(
            serde_json::json!({"aud": "https://communication.azure.com", "exp": now + 60, "appid": "me"}),
        );
        assert_eq!(a.verify(&good, Utc::now()).expect("trusted").app_id, "me");
        let expired =
            mint(serde_json::json!({"aud": "https://communication.azure.com", "exp": now - 1}));
        assert_eq!(a.verify(&expired, Utc::now()), Err(EntraError::Expired));
        let wrong =
            mint(serde_json::json!({"aud": ["https://management.azure.com"], "exp": now + 60}));
        assert!(matches!(
            a.verify(&wrong, Utc::now()),
            Err(EntraError::Audience(_))
        ));
        assert_eq!(
            authority(false).verify(&good, Utc::now()),
            Err(EntraError::ForeignSignature)
        );
    }

    #[test]
    fn a_given_signing_key_makes_tokens_verifiable_across_instances() {
        let pem = rcgen::KeyPair::generate().expect("key").serialize_pem();
        let tenant = Uuid::parse_str("acacacac-0000-4000-8000-00000000000a").expect("uuid");
        let clients = [(CLIENT.to_string(), "secret".to_string())];
        let first = EntraAuthority::new(tenant, &clients, "mi", false, Some(&pem)).expect("first");
        let second =
            EntraAuthority::new(tenant, &clients, "mi", false, Some(&pem)).expect("second");
        let now = Utc::now();
        let t = token(&first, "https://communication.azure.com//.default", now);
        assert!(second.verify(&t, now).is_ok());
        assert!(EntraAuthority::new(tenant, &clients, "mi", false, Some("not a key")).is_err());
    }

    #[test]
    fn client_credentials_check_the_client_and_secret() {
        let a = authority(false);
        let now = Utc::now();
        let err = a.client_credentials(
            "unknown",
            "secret",
            "https://communication.azure.com//.default",
            "https://h/t/v2.0",
            "t",
            now,
        );
        assert!(matches!(err, Err(OAuthError::InvalidClient(_))));
        let err = a.client_credentials(
            CLIENT,
            "wrong",
            "https://communication.azure.com//.default",
            "https://h/t/v2.0",
            "t",
            now,
        );
        assert!(matches!(err, Err(OAuthError::InvalidClient(m)) if m.contains("AADSTS7000215")));
        assert!(matches!(
            audience_of_scope(""),
            Err(OAuthError::InvalidScope(_))
        ));
        assert_eq!(
            audience_of_scope("https://communication.azure.com//.default").expect("ok"),
            ACS_AUDIENCE
        );
    }
}
