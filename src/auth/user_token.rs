//! ACS user access tokens: minting and verifying them, and who a verified one names
//! ([`UserToken`]). Pure logic: the resource a token routes to is picked in
//! [`crate::resource::Resources::by_user_token`], the HTTP side is in [`crate::http::auth`].
//!
//! Tokens are JWTs signed by the emulator (HS256 with a secret generated at start-up; the
//! algorithm is fixed, so `alg:none` or any other algorithm is rejected). The claims are shaped
//! like the real service's (acs-api.md §6): `skypeid`, `scp`, `csi`, `iat`, `exp`, `acsScope`,
//! `resourceId`, `resourceLocation`, `rgn`, plus `jti`, the per-identity sequence number that
//! makes revocation exact (see `store::identity`).
//!
//! The SDKs read only `exp`. The Python SDK decodes the payload with the *standard* base64
//! alphabet, so the payload's base64url text must contain no `-` or `_`: [`TokenIssuer::issue`]
//! guarantees that.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeDelta, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::clock;
use crate::domain::{CommunicationUserId, ScopeSet};

/// The claims of an emulator-issued user access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserTokenClaims {
    /// Filler, present only when needed to keep the payload free of `-` and `_`. It comes first
    /// so that growing it shifts every other byte of the payload.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub pad: String,
    /// The identity's raw id without the leading `8:` (`acs:<resource>_<user>`, or `orgid:<oid>`).
    pub skypeid: String,
    /// Opaque scope bits.
    pub scp: u32,
    /// Issue time, epoch seconds, as a string.
    pub csi: String,
    /// Expiry, epoch seconds.
    pub exp: i64,
    /// Region.
    pub rgn: String,
    /// Comma-separated scopes.
    #[serde(rename = "acsScope")]
    pub acs_scope: String,
    /// The resource GUID.
    #[serde(rename = "resourceId")]
    pub resource_id: String,
    /// The resource's data location.
    #[serde(rename = "resourceLocation")]
    pub resource_location: String,
    /// Issue time, epoch seconds.
    pub iat: i64,
    /// Per-identity token sequence number (decimal).
    pub jti: String,
}

/// Why a bearer token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// No `Authorization` header.
    #[error("the request has no Authorization header")]
    Missing,
    /// More than one `Authorization` header.
    #[error("the request has more than one Authorization header")]
    Repeated,
    /// Not `Bearer <token>`.
    #[error("the Authorization header is not 'Bearer <user access token>'")]
    NotBearer,
    /// Not a JWT this emulator signed (bad signature, wrong algorithm, malformed).
    #[error(
        "the access token is malformed or its signature is not valid (it was not issued by this emulator)"
    )]
    Invalid,
    /// Issued for another resource.
    #[error("the access token was issued for another Communication Services resource")]
    OtherResource,
    /// Past `exp`.
    #[error("the access token has expired")]
    Expired,
    /// Issued after the emulator's current time (`iat` in the future: the clock was set back).
    #[error("the access token is not valid yet (it was issued in the future)")]
    NotYetValid,
    /// The identity's tokens were revoked after this one was issued.
    #[error("the access token has been revoked")]
    Revoked,
    /// The identity was deleted.
    #[error("the identity the access token was issued to has been deleted")]
    IdentityDeleted,
    /// The identity is unknown (e.g. state was reset).
    #[error("the identity the access token was issued to does not exist")]
    UnknownIdentity,
}

/// Why a token could not be minted (a bug or an exhausted machine, never the client's fault).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IssueError {
    /// The JWT library refused to sign.
    #[error("cannot sign the token: {0}")]
    Sign(String),
    /// The expiry is not a representable date.
    #[error("expiry {0} out of range")]
    ExpiryOutOfRange(i64),
    /// No padding gave a payload without `-` or `_`.
    #[error("could not encode a token payload without '-' or '_'")]
    NoCleanEncoding,
}

/// Mints and verifies user access tokens with the emulator's signing secret.
pub struct TokenIssuer {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    header: Header,
    resource_id: Uuid,
    resource_location: String,
    /// The claims of tokens whose signature and resource were verified, by the whole token
    /// (see [`TokenIssuer::verify`]).
    verified: RwLock<HashMap<Box<str>, Arc<UserTokenClaims>>>,
}

/// How many verified tokens [`TokenIssuer`] remembers (about 1.5 KB each); past that it starts
/// over.
const MAX_VERIFIED_TOKENS: usize = 1024;

/// A freshly issued token.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The JWT.
    pub token: String,
    /// When it expires (whole seconds, equal to the `exp` claim).
    pub expires_on: DateTime<Utc>,
}

impl TokenIssuer {
    /// An issuer with a new random signing secret.
    pub fn new(resource_id: Uuid, resource_location: &str) -> Self {
        let mut secret = [0u8; 32];
        // The OS random source failing at start-up leaves nothing sensible to do.
        getrandom::fill(&mut secret).expect("the OS random number generator is available");
        Self::with_secret(&secret, resource_id, resource_location)
    }

    /// An issuer with a given signing secret (tests and fuzzing: two issuers sharing a secret but
    /// not a resource show that a token for another resource is refused on its claims alone).
    pub fn with_secret(secret: &[u8], resource_id: Uuid, resource_location: &str) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        // Expiry is checked against the emulator's clock, not the system time.
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        validation.leeway = 0;
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("acs-emulator".into());
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            header,
            resource_id,
            resource_location: resource_location.to_string(),
            verified: RwLock::new(HashMap::new()),
        }
    }

    /// Issues a token for `skype_id` (see [`UserTokenClaims::skypeid`]).
    pub fn issue(
        &self,
        skype_id: &str,
        scopes: &ScopeSet,
        seq: u64,
        now: DateTime<Utc>,
        lifetime: TimeDelta,
    ) -> Result<IssuedToken, IssueError> {
        let iat = now.timestamp();
        // A lifetime reaching past year 9999 (`--token-lifetime 1000000y`, a far-future Entra
        // token's expiry) ends the token there, where every client can still read the date.
        let whole_seconds =
            TimeDelta::try_seconds(lifetime.num_seconds().max(1)).unwrap_or(TimeDelta::MAX);
        let exp = clock::saturating_add(now, whole_seconds).timestamp();
        let mut claims = UserTokenClaims {
            skypeid: skype_id.to_string(),
            scp: scopes.scp(),
            csi: iat.to_string(),
            exp,
            rgn: "amer".into(),
            acs_scope: scopes.to_claim(),
            resource_id: self.resource_id.to_string(),
            resource_location: self.resource_location.clone(),
            iat,
            jti: seq.to_string(),
            pad: String::new(),
        };
        // Each extra pad byte shifts every later byte by one position, so a clean encoding is
        // found within three tries; bound the loop anyway.
        for _ in 0..8 {
            let token = jsonwebtoken::encode(&self.header, &claims, &self.encoding)
                .map_err(|e| IssueError::Sign(e.to_string()))?;
            if payload_is_python_safe(&token) {
                let expires_on =
                    DateTime::from_timestamp(exp, 0).ok_or(IssueError::ExpiryOutOfRange(exp))?;
                return Ok(IssuedToken { token, expires_on });
            }
            claims.pad.push('0');
        }
        Err(IssueError::NoCleanEncoding)
    }

    /// Verifies signature, algorithm, resource and expiry (against `now`).
    ///
    /// Clients send the same token with every request for its lifetime, so the claims of a token
    /// whose signature and resource check out are remembered, keyed by the whole token: the
    /// same bytes verify the same way again, and only the expiry (on the emulator's clock, which
    /// may move) is checked anew. A token that fails is not remembered.
    pub fn verify(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Arc<UserTokenClaims>, TokenError> {
        let known = self
            .verified
            .read()
            .ok()
            .and_then(|verified| verified.get(token).cloned());
        let claims = match known {
            Some(claims) => claims,
            None => {
                let claims = self.verify_signed(token)?;
                if let Ok(mut verified) = self.verified.write() {
                    if verified.len() >= MAX_VERIFIED_TOKENS {
                        verified.clear();
                    }
                    verified.insert(token.into(), Arc::clone(&claims));
                }
                claims
            }
        };
        if now.timestamp() >= claims.exp {
            return Err(TokenError::Expired);
        }
        if claims.iat > now.timestamp() {
            return Err(TokenError::NotYetValid);
        }
        Ok(claims)
    }

    /// The claims of `token` if this issuer signed it (signature, algorithm) for its resource.
    fn verify_signed(&self, token: &str) -> Result<Arc<UserTokenClaims>, TokenError> {
        let data = jsonwebtoken::decode::<UserTokenClaims>(token, &self.decoding, &self.validation)
            .map_err(|_| TokenError::Invalid)?;
        let claims = data.claims;
        if claims.resource_id != self.resource_id.to_string() {
            return Err(TokenError::OtherResource);
        }
        Ok(Arc::new(claims))
    }
}

/// Whether the token's payload segment decodes with the standard base64 alphabet, as the Python
/// SDK decodes it (`base64.b64decode(payload + "==")`).
pub fn payload_is_python_safe(token: &str) -> bool {
    // A scan of the bytes, without branches (a `char` pattern search cost 5 k instructions per
    // token, more than a tenth of signing it).
    token.split('.').nth(1).is_some_and(|payload| {
        !payload
            .bytes()
            .fold(false, |found, b| found | (b == b'-') | (b == b'_'))
    })
}

/// Decodes a JWT's payload without verifying anything (for tokens the emulator did not sign).
pub fn decode_payload_unverified<T: serde::de::DeserializeOwned>(token: &str) -> Option<T> {
    let mut parts = token.split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The caller of a Chat operation: an ACS user authenticated by a user access token (its
/// signature, expiry on the emulator's clock, revocation and that the identity still exists are
/// checked; its scopes are not: each operation asks for its own chat role).
#[derive(Debug, Clone)]
pub struct UserToken {
    /// The identity the token was issued to.
    pub user: CommunicationUserId,
    /// The token's scopes.
    pub scopes: ScopeSet,
    /// When the token expires.
    pub expires_on: DateTime<Utc>,
}

/// The bearer token of a request's `Authorization` headers (`values`: every one of them, in
/// order): exactly one header, `Bearer <token>` (scheme `Bearer` or `bearer`), a token not empty.
pub fn bearer<'a>(mut values: impl Iterator<Item = &'a [u8]>) -> Result<&'a str, TokenError> {
    let header = values.next().ok_or(TokenError::Missing)?;
    if values.next().is_some() {
        return Err(TokenError::Repeated);
    }
    // Visible ASCII only, as HTTP header values are read as text. (A scan without branches:
    // the token is a kilobyte, and a byte-by-byte early exit cost 6 k instructions per request.)
    let visible = header.iter().fold(true, |ok, &b| {
        ok & ((b == b'\t') | (b.wrapping_sub(32) < 95))
    });
    if !visible {
        return Err(TokenError::NotBearer);
    }
    let value = std::str::from_utf8(header).map_err(|_| TokenError::NotBearer)?;
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(TokenError::NotBearer)
}

/// The `resourceId` claim of a token, read without verifying anything: it only picks the
/// resource whose issuer then verifies the token (and the claim).
pub fn resource_claim(token: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct ResourceClaim {
        #[serde(rename = "resourceId")]
        resource_id: String,
    }
    decode_payload_unverified::<ResourceClaim>(token).map(|c| c.resource_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Scope;

    #[test]
    fn bearer_takes_visible_ascii_only() {
        let one = |v: &[u8]| bearer(std::iter::once(v)).map(str::to_string);
        assert_eq!(one(b"Bearer abc.def").as_deref(), Ok("abc.def"));
        assert_eq!(one(b"bearer \tabc ").as_deref(), Ok("abc"));
        assert_eq!(one(b"Bearer ~a!").as_deref(), Ok("~a!"));
        for bad in [
            &b"Bearer a\x7f"[..],
            b"Bearer a\x1f",
            b"Bearer \xc3\xa9",
            b"Bearer a\0",
        ] {
            assert_eq!(one(bad), Err(TokenError::NotBearer), "{bad:?}");
        }
        assert_eq!(one(b"Basic abc"), Err(TokenError::NotBearer));
    }

    #[test]
    fn python_safe_payloads_have_no_url_safe_characters() {
        assert!(payload_is_python_safe("h.abc+/=.s"));
        assert!(!payload_is_python_safe("h.ab-c.s"));
        assert!(!payload_is_python_safe("h.ab_c.s"));
        assert!(payload_is_python_safe("h-_.abc.s_-"));
        assert!(!payload_is_python_safe("no-dots"));
    }

    fn issuer() -> TokenIssuer {
        TokenIssuer::new(Uuid::new_v4(), "unitedstates")
    }

    /// A chat token for `acs:x_y` that `issuer` issued at `now`, valid for `lifetime`.
    fn chat_token(issuer: &TokenIssuer, now: DateTime<Utc>, lifetime: TimeDelta) -> String {
        issuer
            .issue("acs:x_y", &ScopeSet::new([Scope::Chat]), 1, now, lifetime)
            .expect("issued")
            .token
    }

    #[test]
    fn issued_tokens_verify_and_carry_real_service_claims() {
        let issuer = issuer();
        let now = Utc::now();
        let scopes = ScopeSet::new([Scope::Chat, Scope::Voip]);
        let issued = issuer
            .issue("acs:x_y", &scopes, 7, now, TimeDelta::hours(1))
            .expect("issued");
        let claims = issuer.verify(&issued.token, now).expect("valid");
        assert_eq!(claims.skypeid, "acs:x_y");
        assert_eq!(claims.acs_scope, "chat,voip");
        assert_eq!(claims.scp, 1792);
        assert_eq!(claims.exp, now.timestamp() + 3600);
        assert_eq!(claims.csi, now.timestamp().to_string());
        assert_eq!(claims.jti, "7");
        assert_eq!(issued.expires_on.timestamp(), claims.exp);
    }

    #[test]
    fn a_remembered_token_still_expires_and_a_refused_one_is_not_remembered() {
        let issuer = issuer();
        let now = Utc::now();
        let token = chat_token(&issuer, now, TimeDelta::seconds(30));
        for _ in 0..2 {
            assert!(issuer.verify(&token, now).is_ok());
            assert_eq!(
                issuer.verify(&token, now + TimeDelta::seconds(30)),
                Err(TokenError::Expired)
            );
            assert_eq!(
                issuer.verify(&token, now - TimeDelta::seconds(1)),
                Err(TokenError::NotYetValid)
            );
        }
        // The remembered token's claims under another signature, or its signature under other
        // claims: refused every time, and never remembered.
        let (head, signature) = token.rsplit_once('.').expect("three parts");
        let flipped = if signature.ends_with('A') { "B" } else { "A" };
        let other_signature = format!("{head}.{}{flipped}", &signature[..signature.len() - 1]);
        let other_claims = format!("{head}x.{signature}");
        for forged in [other_signature, other_claims] {
            for _ in 0..2 {
                assert_eq!(issuer.verify(&forged, now), Err(TokenError::Invalid));
            }
        }
        assert_eq!(issuer.verified.read().expect("lock").len(), 1);
        // Bounded: past the limit it starts over.
        for i in 0..MAX_VERIFIED_TOKENS + 10 {
            let at = now + TimeDelta::seconds(i as i64);
            let token = chat_token(&issuer, at, TimeDelta::hours(2));
            assert!(issuer.verify(&token, at).is_ok());
        }
        assert!(issuer.verified.read().expect("lock").len() <= MAX_VERIFIED_TOKENS);
    }

    #[test]
    fn expiry_is_checked_against_the_given_clock_to_the_second() {
        let issuer = issuer();
        let now = Utc::now();
        let token = chat_token(&issuer, now, TimeDelta::seconds(30));
        assert!(issuer.verify(&token, now + TimeDelta::seconds(29)).is_ok());
        assert_eq!(
            issuer.verify(&token, now + TimeDelta::seconds(30)),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn tokens_from_another_key_or_algorithm_are_invalid() {
        let now = Utc::now();
        let scopes = ScopeSet::new([Scope::Chat]);
        let other = issuer()
            .issue("acs:x_y", &scopes, 1, now, TimeDelta::hours(1))
            .expect("issued")
            .token;
        assert_eq!(issuer().verify(&other, now), Err(TokenError::Invalid));

        // alg:none with the claims of a valid token.
        let issuer = issuer();
        let good = issuer
            .issue("acs:x_y", &scopes, 1, now, TimeDelta::hours(1))
            .expect("issued")
            .token;
        let payload = good.split('.').nth(1).expect("payload");
        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        assert_eq!(
            issuer.verify(&format!("{none_header}.{payload}."), now),
            Err(TokenError::Invalid)
        );
        // A tampered payload.
        let tampered = good.replacen(
            payload,
            &URL_SAFE_NO_PAD.encode(br#"{"exp":99999999999}"#),
            1,
        );
        assert_eq!(issuer.verify(&tampered, now), Err(TokenError::Invalid));
    }

    #[test]
    fn a_token_for_another_resource_is_refused_even_with_the_same_secret() {
        // Over HTTP two emulators never share a secret, so their tokens already fail on the
        // signature; sharing it here shows the resourceId claim is checked on its own.
        let secret = b"a secret both resources share..";
        let ours = TokenIssuer::with_secret(secret, Uuid::new_v4(), "unitedstates");
        let theirs = TokenIssuer::with_secret(secret, Uuid::new_v4(), "unitedstates");
        let now = Utc::now();
        let token = chat_token(&theirs, now, TimeDelta::hours(1));
        assert!(theirs.verify(&token, now).is_ok());
        assert_eq!(ours.verify(&token, now), Err(TokenError::OtherResource));
    }

    #[test]
    fn a_token_issued_in_the_future_is_not_valid_yet() {
        let issuer = issuer();
        let now = Utc::now();
        let token = chat_token(&issuer, now, TimeDelta::hours(1));
        assert_eq!(
            issuer.verify(&token, now - TimeDelta::seconds(1)),
            Err(TokenError::NotYetValid)
        );
        assert!(issuer.verify(&token, now).is_ok());
    }

    #[test]
    fn the_algorithm_in_the_header_is_never_trusted() {
        let secret = b"the emulator's signing secret...";
        let issuer = TokenIssuer::with_secret(secret, Uuid::new_v4(), "unitedstates");
        let now = Utc::now();
        let good = chat_token(&issuer, now, TimeDelta::hours(1));
        let claims = UserTokenClaims::clone(&issuer.verify(&good, now).expect("valid"));
        let parts: Vec<&str> = good.split('.').collect();
        // The real HS256 signature under headers naming other algorithms (RS/ES/PS confusion).
        for alg in [
            "RS256", "ES256", "PS256", "HS384", "HS512", "EdDSA", "none", "hs256",
        ] {
            let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#));
            let forged = format!("{header}.{}.{}", parts[1], parts[2]);
            assert_eq!(
                issuer.verify(&forged, now),
                Err(TokenError::Invalid),
                "{alg}"
            );
        }
        // Properly signed with the same secret but another HMAC algorithm.
        for alg in [Algorithm::HS384, Algorithm::HS512] {
            let forged = jsonwebtoken::encode(
                &Header::new(alg),
                &claims,
                &EncodingKey::from_secret(secret),
            )
            .expect("encoded");
            assert_eq!(
                issuer.verify(&forged, now),
                Err(TokenError::Invalid),
                "{alg:?}"
            );
        }
        // An ES256 token signed with a real key pair, carrying the same claims.
        let key = rcgen::KeyPair::generate().expect("key");
        let es = jsonwebtoken::encode(
            &Header::new(Algorithm::ES256),
            &claims,
            &EncodingKey::from_ec_der(&key.serialize_der()),
        )
        .expect("encoded");
        assert_eq!(issuer.verify(&es, now), Err(TokenError::Invalid));
    }

    #[test]
    fn payloads_never_contain_url_safe_only_characters() {
        let issuer = issuer();
        let now = Utc::now();
        // Vary every claim that changes between tokens; the location is user-configurable text.
        for i in 0..2000u64 {
            let skype = format!("acs:{}_{}", Uuid::new_v4(), Uuid::new_v4());
            let issued = issuer
                .issue(
                    &skype,
                    &ScopeSet::new([Scope::Chat]),
                    i,
                    now + TimeDelta::seconds(i as i64),
                    TimeDelta::minutes(60 + i as i64 % 1380),
                )
                .expect("issued");
            assert!(payload_is_python_safe(&issued.token), "{}", issued.token);
        }
        // A claim with '>' lands on a bad offset for some prefix lengths; padding shifts it away.
        for prefix in ["", "a", "ab"] {
            let issued = issuer
                .issue(
                    &format!("acs:{prefix}>x_y"),
                    &ScopeSet::new([Scope::Chat]),
                    1,
                    now,
                    TimeDelta::hours(1),
                )
                .expect("issued");
            assert!(payload_is_python_safe(&issued.token), "{}", issued.token);
            assert!(issuer.verify(&issued.token, now).is_ok());
        }
    }

    #[test]
    fn unverified_payloads_decode_for_any_signature() {
        #[derive(Deserialize)]
        struct Entra {
            oid: String,
        }
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256"}"#);
        let payload = URL_SAFE_NO_PAD.encode(br#"{"oid":"abc"}"#);
        let decoded: Option<Entra> = decode_payload_unverified(&format!("{header}.{payload}.sig"));
        assert_eq!(decoded.map(|e| e.oid), Some("abc".to_string()));
        assert!(decode_payload_unverified::<Entra>("a.b").is_none());
        assert!(decode_payload_unverified::<Entra>("a.!!.c").is_none());
    }
}
