//! Microsoft Entra ID: the built-in token authority, the managed identity endpoint, and bearer
//! tokens on Identity.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::TimeDelta;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, body, spawn_app, spawn_with};

const TENANT: &str = "acacacac-0000-4000-8000-00000000000a";
const CLIENT: &str = "acacacac-0000-4000-8000-00000000000c";
const SECRET: &str = "acs-emulator-client-secret";
pub const ACS_SCOPE: &str = "https://communication.azure.com//.default";

async fn client_credentials(app: &TestApp, form: &[(&str, &str)]) -> reqwest::Response {
    app.client
        .post(format!("{}/{TENANT}/oauth2/v2.0/token", app.https))
        .form(form)
        .send()
        .await
        .expect("sent")
}

pub async fn entra_token(app: &TestApp, scope: &str) -> String {
    let res = client_credentials(
        app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT),
            ("client_secret", SECRET),
            ("scope", scope),
        ],
    )
    .await;
    assert_eq!(res.status(), 200);
    let body = body(res).await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    body["access_token"].as_str().expect("token").to_string()
}

async fn create_user_with_bearer(app: &TestApp, token: &str) -> reqwest::Response {
    app.client
        .post(format!("{}/identities?api-version=2023-10-01", app.https))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(r#"{"createTokenWithScopes":["chat"]}"#)
        .send()
        .await
        .expect("sent")
}

fn claims(token: &str) -> Value {
    serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).expect("payload"))
            .expect("b64"),
    )
    .expect("json")
}

#[tokio::test]
async fn discovery_documents_point_at_the_emulator_itself() {
    let app = spawn_app().await;
    let config = body(
        app.client
            .get(format!(
                "{}/{TENANT}/v2.0/.well-known/openid-configuration",
                app.https
            ))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(config["issuer"], format!("{}/{TENANT}/v2.0", app.https));
    assert_eq!(
        config["token_endpoint"],
        format!("{}/{TENANT}/oauth2/v2.0/token", app.https)
    );
    let jwks_uri = config["jwks_uri"].as_str().expect("jwks_uri");
    let jwks = body(app.client.get(jwks_uri).send().await.expect("sent")).await;
    assert_eq!(jwks["keys"][0]["kty"], "EC");
    assert_eq!(jwks["keys"][0]["crv"], "P-256");
    assert!(jwks["keys"][0]["kid"].is_string());
}

#[tokio::test]
async fn a_client_secret_token_authenticates_identity_calls() {
    let app = spawn_app().await;
    let token = entra_token(&app, ACS_SCOPE).await;
    let c = claims(&token);
    assert_eq!(c["aud"], "https://communication.azure.com");
    assert_eq!(c["appid"], CLIENT);
    assert_eq!(c["tid"], TENANT);
    assert_eq!(c["iss"], format!("{}/{TENANT}/v2.0", app.https));
    assert!(c["oid"].is_string() && c["exp"].is_i64());

    let res = create_user_with_bearer(&app, &token).await;
    assert_eq!(res.status(), 201);
    assert!(body(res).await["accessToken"]["token"].is_string());
}

#[tokio::test]
async fn client_credentials_in_a_basic_header_work_too() {
    let app = spawn_app().await;
    let res = app
        .client
        .post(format!("{}/organizations/oauth2/v2.0/token", app.https))
        .basic_auth(CLIENT, Some(SECRET))
        .form(&[("grant_type", "client_credentials"), ("scope", ACS_SCOPE)])
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 200);
    let token = body(res).await["access_token"]
        .as_str()
        .expect("token")
        .to_string();
    assert_eq!(
        claims(&token)["tid"],
        TENANT,
        "a named tenant maps to the emulator's"
    );
}

#[tokio::test]
async fn bad_token_requests_get_oauth_errors() {
    let app = spawn_app().await;
    for (form, status, code) in [
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", CLIENT),
                ("client_secret", "wrong"),
                ("scope", ACS_SCOPE),
            ],
            401,
            "invalid_client",
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", "nobody"),
                ("client_secret", SECRET),
                ("scope", ACS_SCOPE),
            ],
            401,
            "invalid_client",
        ),
        (
            vec![
                ("grant_type", "password"),
                ("client_id", CLIENT),
                ("client_secret", SECRET),
                ("scope", ACS_SCOPE),
            ],
            400,
            "unsupported_grant_type",
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", CLIENT),
                ("client_secret", SECRET),
            ],
            400,
            "invalid_request",
        ),
        (vec![("client_id", CLIENT)], 400, "invalid_request"),
    ] {
        let res = client_credentials(&app, &form).await;
        assert_eq!(res.status(), status, "{form:?}");
        let body = body(res).await;
        assert_eq!(body["error"], code, "{body}");
        assert!(
            body["error_description"]
                .as_str()
                .is_some_and(|d| d.starts_with("AADSTS")),
            "{body}"
        );
    }
}

#[tokio::test]
async fn every_bad_bearer_token_is_rejected_and_changes_nothing() {
    let app = spawn_app().await;
    let good = entra_token(&app, ACS_SCOPE).await;
    let parts: Vec<&str> = good.split('.').collect();
    let mut elevated = claims(&good);
    elevated["appid"] = json!("someone-else");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(elevated.to_string()),
        parts[2]
    );
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        parts[1]
    );
    let graph = entra_token(&app, "https://graph.microsoft.com/.default").await;
    let other = spawn_app().await;
    let foreign = entra_token(&other, ACS_SCOPE).await;

    for (token, reason) in [
        (tampered, "signature is not valid"),
        (none, "not a well-formed JWT"),
        (graph, "audience"),
        (foreign, "signature is not valid"),
        ("not.a.jwt".to_string(), "not a well-formed JWT"),
    ] {
        let message = assert_error(
            create_user_with_bearer(&app, &token).await,
            401,
            "InvalidAuthenticationToken",
        )
        .await;
        assert!(message.contains(reason), "{reason}: {message}");
    }
    app.state
        .clock
        .advance(TimeDelta::seconds(3600))
        .expect("within the clock's range");
    let message = assert_error(
        create_user_with_bearer(&app, &good).await,
        401,
        "InvalidAuthenticationToken",
    )
    .await;
    assert!(message.contains("expired"), "{message}");
    assert_eq!(app.state.store().identities.len(), 0);
}

#[tokio::test]
async fn trust_any_accepts_self_minted_tokens_with_the_acs_audience() {
    let mut config = acs_emulator::Config::for_tests();
    config.tokens.entra_trust_any = true;
    let app = spawn_with(config).await;
    let now = chrono::Utc::now().timestamp();
    let mint = |claims: Value| {
        format!(
            "{}.{}.c2ln",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","kid":"mine"}"#),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        )
    };
    let good = mint(
        json!({"aud": "https://communication.azure.com/", "exp": now + 600, "appid": "my-app", "oid": "x", "tid": "y"}),
    );
    assert_eq!(create_user_with_bearer(&app, &good).await.status(), 201);
    let wrong = mint(json!({"aud": "https://storage.azure.com", "exp": now + 600}));
    assert_error(
        create_user_with_bearer(&app, &wrong).await,
        401,
        "InvalidAuthenticationToken",
    )
    .await;
    let expired = mint(json!({"aud": "https://communication.azure.com", "exp": now - 1}));
    assert_error(
        create_user_with_bearer(&app, &expired).await,
        401,
        "InvalidAuthenticationToken",
    )
    .await;
}

mod managed_identity {
    use super::*;

    async fn get(app: &TestApp, query: &str, header: Option<&str>) -> reqwest::Response {
        let mut req = app.client.get(format!("{}/msi/token?{query}", app.http));
        if let Some(h) = header {
            req = req.header("X-IDENTITY-HEADER", h);
        }
        req.send().await.expect("sent")
    }

    #[tokio::test]
    async fn the_app_service_endpoint_issues_tokens_that_work() {
        let app = spawn_app().await;
        let res = get(
            &app,
            "api-version=2019-08-01&resource=https%3A%2F%2Fcommunication.azure.com%2F",
            Some("acs-emulator-identity-header"),
        )
        .await;
        assert_eq!(res.status(), 200);
        let body = body(res).await;
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["resource"], "https://communication.azure.com/");
        assert_eq!(body["client_id"], "acacacac-0000-4000-8000-00000000000d");
        let expires: i64 = body["expires_on"]
            .as_str()
            .expect("string")
            .parse()
            .expect("epoch");
        assert!((expires - chrono::Utc::now().timestamp() - 3600).abs() <= 5);
        let token = body["access_token"].as_str().expect("token");
        assert_eq!(
            claims(token)["appid"],
            "acacacac-0000-4000-8000-00000000000d"
        );
        assert_eq!(create_user_with_bearer(&app, token).await.status(), 201);
    }

    #[tokio::test]
    async fn the_secret_header_api_version_and_client_id_are_checked() {
        let app = spawn_app().await;
        let ok_query = "api-version=2019-08-01&resource=https://communication.azure.com";
        assert_eq!(get(&app, ok_query, None).await.status(), 401);
        assert_eq!(get(&app, ok_query, Some("wrong")).await.status(), 401);
        let res = get(
            &app,
            "api-version=2017-09-01&resource=https://communication.azure.com",
            Some("acs-emulator-identity-header"),
        )
        .await;
        assert_eq!(res.status(), 400);
        assert!(
            body(res).await["message"]
                .as_str()
                .is_some_and(|m| m.contains("2019-08-01"))
        );
        let res = get(
            &app,
            &format!("{ok_query}&client_id=someone"),
            Some("acs-emulator-identity-header"),
        )
        .await;
        assert_eq!(res.status(), 400);
        let res = get(
            &app,
            "api-version=2019-08-01",
            Some("acs-emulator-identity-header"),
        )
        .await;
        assert_eq!(res.status(), 400);
    }
}

mod teams {
    use super::*;

    #[tokio::test]
    async fn the_teams_user_exchange_accepts_tokens_from_the_authority_and_checks_their_signature()
    {
        let app = spawn_app().await;
        let token = entra_token(&app, "https://auth.msft.communication.azure.com/.default").await;
        let oid = claims(&token)["oid"].as_str().expect("oid").to_string();
        let request = json!({"token": token, "appId": CLIENT, "userId": oid});
        let res = app
            .signed_json(
                "POST",
                "/teamsUser/:exchangeAccessToken?api-version=2023-10-01",
                &request,
            )
            .await;
        assert_eq!(res.status(), 200);

        let parts: Vec<&str> = token.split('.').collect();
        let mut c = claims(&token);
        c["exp"] = json!(c["exp"].as_i64().expect("exp") + 86_400);
        let tampered = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(c.to_string()),
            parts[2]
        );
        let request = json!({"token": tampered, "appId": CLIENT, "userId": oid});
        let res = app
            .signed_json(
                "POST",
                "/teamsUser/:exchangeAccessToken?api-version=2023-10-01",
                &request,
            )
            .await;
        assert_error(res, 401, "InvalidAccessToken").await;
    }

    #[tokio::test]
    async fn the_teams_extension_exchange_needs_an_assignment_for_the_caller() {
        let app = spawn_app().await;
        let token = entra_token(&app, ACS_SCOPE).await;
        let oid = claims(&token)["oid"].as_str().expect("oid").to_string();
        let exchange = || async {
            app.client
                .post(format!(
                    "{}/access/teamsExtension/:exchangeAccessToken?api-version=2026-09-23",
                    app.https
                ))
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await
                .expect("sent")
        };
        assert_error(exchange().await, 403, "Forbidden").await;

        let assignment = format!(
            "/access/teamsExtension/tenants/{TENANT}/assignments/{oid}?api-version=2026-09-23"
        );
        let res = app
            .signed_json(
                "PUT",
                &assignment,
                &json!({"principalType": "user", "clientIds": ["other-app"]}),
            )
            .await;
        assert_eq!(res.status(), 201);
        assert_error(exchange().await, 403, "Forbidden").await;

        let res = app
            .signed_json(
                "PUT",
                &assignment,
                &json!({"principalType": "user", "clientIds": [CLIENT]}),
            )
            .await;
        assert_eq!(res.status(), 200);
        let res = exchange().await;
        assert_eq!(res.status(), 200);
        let body = body(res).await;
        let expected = format!("8:acs:acacacac-0000-4000-8000-000000000001_{TENANT}_{oid}");
        assert_eq!(body["identity"]["id"], expected);
        assert!(body["accessToken"]["token"].is_string());
        assert!(
            body["accessToken"]["expiresOn"]
                .as_str()
                .is_some_and(|e| e.ends_with('Z'))
        );
    }
}

/// Tokens signed with the authority's own key (given with --entra-signing-key) but carrying bad
/// claims, and tokens whose header lies about the algorithm: all 401, nothing created.
mod signed_with_the_authority_key {
    use super::*;
    use jsonwebtoken::{Algorithm, EncodingKey, Header};

    async fn app_with_known_key() -> (TestApp, EncodingKey) {
        let key = rcgen::KeyPair::generate().expect("P-256 key");
        let path =
            std::env::temp_dir().join(format!("acs-emulator-entra-{}.pem", uuid::Uuid::new_v4()));
        std::fs::write(&path, key.serialize_pem()).expect("write key");
        let mut config = acs_emulator::Config::for_tests();
        config.tokens.entra_signing_key = Some(path);
        let app = spawn_with(config).await;
        (app, EncodingKey::from_ec_der(&key.serialize_der()))
    }

    fn sign(key: &EncodingKey, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some("acs-emulator-entra".into());
        jsonwebtoken::encode(&header, claims, key).expect("signed")
    }

    #[tokio::test]
    async fn bad_claims_under_a_valid_signature_are_rejected_and_change_nothing() {
        let (app, key) = app_with_known_key().await;
        let now = chrono::Utc::now().timestamp();
        let issuer = format!("{}/{TENANT}/v2.0", app.https);
        let good = json!({
            "aud": "https://communication.azure.com", "iss": issuer, "tid": TENANT,
            "iat": now, "nbf": now, "exp": now + 600, "appid": CLIENT, "oid": "o",
        });
        // The baseline verifies, so each case below fails on its one change.
        assert_eq!(
            create_user_with_bearer(&app, &sign(&key, &good))
                .await
                .status(),
            201
        );
        let with = |field: &str, value: Value| {
            let mut claims = good.clone();
            claims[field] = value;
            claims
        };
        let without = |field: &str| {
            let mut claims = good.clone();
            claims.as_object_mut().expect("object").remove(field);
            claims
        };
        for (claims, reason) in [
            (with("nbf", json!(now + 300)), "not valid yet"),
            (with("exp", json!(now - 1)), "expired"),
            (with("exp", json!(now)), "expired"),
            (with("exp", json!("never")), "not a well-formed JWT"),
            (without("exp"), "not a well-formed JWT"),
            (
                with("aud", json!("https://graph.microsoft.com")),
                "audience",
            ),
            (
                with("aud", json!(["https://graph.microsoft.com"])),
                "audience",
            ),
            (with("aud", json!(null)), "audience"),
            (with("iss", json!("https://evil.example/x/v2.0")), "issuer"),
            (without("iss"), "issuer"),
            (with("tid", json!("another-tenant")), "issuer"),
            (without("tid"), "issuer"),
        ] {
            let message = assert_error(
                create_user_with_bearer(&app, &sign(&key, &claims)).await,
                401,
                "InvalidAuthenticationToken",
            )
            .await;
            assert!(message.contains(reason), "{reason}: {message}");
        }
        assert_eq!(app.state.store().identities.len(), 1);
    }

    #[tokio::test]
    async fn algorithm_confusion_is_rejected() {
        let (app, key) = app_with_known_key().await;
        let good = entra_token(&app, ACS_SCOPE).await;
        let payload = claims(&good);
        let parts: Vec<&str> = good.split('.').collect();
        // HS256 "signed" with the public key as the HMAC secret (the classic RS/HS confusion),
        // in each form an attacker could take it from the JWKS document.
        let jwks = body(
            app.client
                .get(format!("{}/{TENANT}/discovery/v2.0/keys", app.https))
                .send()
                .await
                .expect("jwks"),
        )
        .await;
        let jwk = &jwks["keys"][0];
        let mut secrets = vec![jwk.to_string().into_bytes()];
        for coordinate in ["x", "y"] {
            if let Some(text) = jwk[coordinate].as_str() {
                secrets.push(text.as_bytes().to_vec());
                secrets.push(URL_SAFE_NO_PAD.decode(text).unwrap_or_default());
            }
        }
        let mut forged = Vec::new();
        for secret in &secrets {
            for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
                let mut header = Header::new(alg);
                header.kid = Some("acs-emulator-entra".into());
                forged.push(
                    jsonwebtoken::encode(&header, &payload, &EncodingKey::from_secret(secret))
                        .expect("signed"),
                );
            }
        }
        // The real ES256 signature under a header naming another algorithm.
        for alg in ["RS256", "HS256", "ES384", "PS256", "none", "es256"] {
            let header = URL_SAFE_NO_PAD.encode(format!(
                r#"{{"alg":"{alg}","kid":"acs-emulator-entra","typ":"JWT"}}"#
            ));
            forged.push(format!("{header}.{}.{}", parts[1], parts[2]));
        }
        // Our key, our claims, another kid: treated as a foreign token.
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some("someone-elses-key".into());
        forged.push(jsonwebtoken::encode(&header, &payload, &key).expect("signed"));
        // Signature stripped, or with the payload duplicated.
        forged.push(format!("{}.{}.", parts[0], parts[1]));
        forged.push(format!(
            "{}.{}.{}.{}",
            parts[0], parts[1], parts[1], parts[2]
        ));
        for token in forged {
            let res = create_user_with_bearer(&app, &token).await;
            assert_error(res, 401, "InvalidAuthenticationToken").await;
        }
        assert_eq!(app.state.store().identities.len(), 0);
        assert_eq!(create_user_with_bearer(&app, &good).await.status(), 201);
    }

    #[tokio::test]
    async fn user_and_entra_tokens_are_not_interchangeable() {
        let (app, _key) = app_with_known_key().await;
        let (_, user_token) = app.create_user_and_token(&["chat"]).await;
        let entra = entra_token(&app, ACS_SCOPE).await;
        // A user access token where an Entra token is expected (Identity, SMS).
        assert_error(
            create_user_with_bearer(&app, &user_token).await,
            401,
            "InvalidAuthenticationToken",
        )
        .await;
        let res = app
            .client
            .post(format!("{}/sms?api-version=2021-03-07", app.https))
            .bearer_auth(&user_token)
            .json(&json!({"from": "+18005550100", "smsRecipients": [{"to": "+14255550123"}], "message": "x"}))
            .send()
            .await
            .expect("sent");
        assert_error(res, 401, "InvalidAuthenticationToken").await;
        // An Entra token where a user access token is expected (Chat).
        assert_error(app.check_token(&entra).await, 401, "Unauthorized").await;
        assert_eq!(app.state.store().identities.len(), 1);
        assert_eq!(app.outbox("").await.len(), 0);
    }
}
