//! The Identity API, operation by operation, with the real service's validation errors.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;

use crate::helpers::{assert_error, body, encode, jwt_payload, spawn_app, spawn_with};

const RESOURCE: &str = "acacacac-0000-4000-8000-000000000001";

fn expires_on(value: &serde_json::Value) -> DateTime<Utc> {
    let text = value.as_str().expect("expiresOn string");
    assert!(
        text.ends_with('Z'),
        "expiresOn must be RFC 3339 UTC with Z: {text}"
    );
    DateTime::parse_from_rfc3339(text)
        .expect("RFC 3339")
        .with_timezone(&Utc)
}

#[tokio::test]
async fn create_user_with_an_empty_body_returns_201_and_a_well_formed_id() {
    let app = spawn_app().await;
    let res = app
        .signed("POST", "/identities?api-version=2023-10-01", b"")
        .await;
    assert_eq!(res.status(), 201);
    assert!(res.headers().get("api-supported-versions").is_some());
    let body = body(res).await;
    let id = body["identity"]["id"].as_str().expect("id");
    assert!(id.starts_with(&format!("8:acs:{RESOURCE}_")), "{id}");
    assert_eq!(id.matches('_').count(), 1);
    assert_eq!(id.matches(':').count(), 2);
    assert!(body.get("accessToken").is_none(), "{body}");
}

#[tokio::test]
async fn create_user_with_an_empty_object_works_and_ids_are_unique() {
    let app = spawn_app().await;
    let a = body(
        app.signed("POST", "/identities?api-version=2021-03-07", b"{}")
            .await,
    )
    .await;
    let b = body(
        app.signed("POST", "/identities?api-version=2021-03-07", b"{}")
            .await,
    )
    .await;
    assert_ne!(a["identity"]["id"], b["identity"]["id"]);
}

#[tokio::test]
async fn create_user_with_scopes_returns_a_token_with_the_requested_lifetime() {
    let app = spawn_app().await;
    let before = Utc::now();
    let res = app
        .signed_json(
            "POST",
            "/identities?api-version=2023-10-01",
            &json!({"createTokenWithScopes": ["chat", "voip"], "expiresInMinutes": 60}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let body = body(res).await;
    let token = body["accessToken"]["token"].as_str().expect("token");
    let expires = expires_on(&body["accessToken"]["expiresOn"]);
    let expected = before + TimeDelta::minutes(60);
    assert!(
        (expires - expected).num_seconds().abs() <= 2,
        "{expires} vs {expected}"
    );
    let claims = jwt_payload(token);
    assert_eq!(claims["exp"].as_i64(), Some(expires.timestamp()));
    assert_eq!(claims["acsScope"], "chat,voip");
    assert_eq!(claims["resourceId"], RESOURCE);
    let id = body["identity"]["id"].as_str().expect("id");
    assert_eq!(claims["skypeid"].as_str(), Some(&id[2..]));
}

#[tokio::test]
async fn tokens_default_to_24_hours() {
    let app = spawn_app().await;
    let id = app.create_identity().await;
    let res = app.issue_token(&id, &json!({"scopes": ["chat"]})).await;
    assert_eq!(res.status(), 200);
    let body = body(res).await;
    let expires = expires_on(&body["expiresOn"]);
    assert!(
        ((expires - Utc::now()) - TimeDelta::minutes(1440))
            .num_seconds()
            .abs()
            <= 2
    );
}

#[tokio::test]
async fn python_sends_null_expiry_and_it_means_the_default() {
    let app = spawn_app().await;
    let id = app.create_identity().await;
    let res = app
        .issue_token(&id, &json!({"scopes": ["chat"], "expiresInMinutes": null}))
        .await;
    assert_eq!(res.status(), 200);
    let expires = expires_on(&body(res).await["expiresOn"]);
    assert!(expires - Utc::now() > TimeDelta::minutes(1439));
}

#[tokio::test]
async fn every_scope_can_be_issued_in_2023_10_01() {
    let app = spawn_app().await;
    let id = app.create_identity().await;
    let res = app
        .issue_token(
            &id,
            &json!({"scopes": ["chat", "voip", "chat.join", "chat.join.limited", "voip.join"], "expiresInMinutes": 1440}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let claims = jwt_payload(body(res).await["token"].as_str().expect("token"));
    assert_eq!(
        claims["acsScope"],
        "chat,voip,chat.join,chat.join.limited,voip.join"
    );
}

#[tokio::test]
async fn expiry_outside_60_to_1440_minutes_is_a_validation_error() {
    let app = spawn_app().await;
    let id = app.create_identity().await;
    for minutes in [59, 1441, 0, -5] {
        let res = app
            .issue_token(
                &id,
                &json!({"scopes": ["chat"], "expiresInMinutes": minutes}),
            )
            .await;
        assert_eq!(res.status(), 400);
        let body = body(res).await;
        assert_eq!(body["error"]["code"], "ValidationError");
        assert_eq!(body["error"]["target"], "ExpiresInMinutes");
        assert_eq!(
            body["error"]["message"],
            format!(
                "ExpiresInMinutes value {minutes} is invalid. Value must be within the [60, 1440] interval."
            )
        );
    }
    let res = app
        .signed_json(
            "POST",
            "/identities?api-version=2023-10-01",
            &json!({"createTokenWithScopes": ["chat"], "expiresInMinutes": 1441}),
        )
        .await;
    assert_error(res, 400, "ValidationError").await;
}

#[tokio::test]
async fn missing_null_empty_and_unknown_scopes_are_validation_errors() {
    let app = spawn_app().await;
    let id = app.create_identity().await;
    for (request, message) in [
        (json!({}), "Scopes: The Scopes field is required."),
        (
            json!({"scopes": null}),
            "Scopes: The Scopes field is required.",
        ),
        (
            json!({"scopes": []}),
            "Invalid scopes - Scopes field is required.",
        ),
    ] {
        let body = body(app.issue_token(&id, &request).await).await;
        assert_eq!(body["error"]["code"], "ValidationError", "{request}");
        assert_eq!(body["error"]["target"], "Scopes");
        assert_eq!(body["error"]["message"], message);
    }
    let res = app
        .issue_token(&id, &json!({"scopes": ["chat", "admin"]}))
        .await;
    let message = assert_error(res, 400, "ValidationError").await;
    assert!(message.contains("'admin'"), "{message}");
}

#[tokio::test]
async fn join_scopes_do_not_exist_before_2023_10_01() {
    let app = spawn_app().await;
    let id = app.create_identity().await;
    let target = format!(
        "/identities/{}/:issueAccessToken?api-version=2022-10-01",
        encode(&id)
    );
    let res = app
        .signed_json("POST", &target, &json!({"scopes": ["chat.join"]}))
        .await;
    assert_error(res, 400, "ValidationError").await;
    let res = app
        .signed_json("POST", &target, &json!({"scopes": ["chat"]}))
        .await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn expiry_is_ignored_by_api_versions_that_predate_it() {
    let app = spawn_app().await;
    let id = app.create_identity().await;
    let target = format!(
        "/identities/{}/:issueAccessToken?api-version=2021-03-07",
        encode(&id)
    );
    let res = app
        .signed_json(
            "POST",
            &target,
            &json!({"scopes": ["chat"], "expiresInMinutes": 5}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let expires = expires_on(&body(res).await["expiresOn"]);
    assert!(expires - Utc::now() > TimeDelta::minutes(1439));
}

#[tokio::test]
async fn ids_in_paths_are_accepted_percent_encoded_or_raw() {
    let app = spawn_app().await;
    let id = app.create_identity().await;
    let raw = format!("/identities/{id}/:issueAccessToken?api-version=2023-10-01");
    let res = app
        .signed_json("POST", &raw, &json!({"scopes": ["chat"]}))
        .await;
    assert_eq!(res.status(), 200);
    let encoded = format!(
        "/identities/{}/:revokeAccessTokens?api-version=2023-10-01",
        encode(&id)
    );
    assert_eq!(app.signed("POST", &encoded, b"").await.status(), 204);
}

#[tokio::test]
async fn revoke_returns_204_and_delete_returns_204() {
    let app = spawn_app().await;
    let id = app.create_identity().await;
    let revoke = format!(
        "/identities/{}/:revokeAccessTokens?api-version=2023-10-01",
        encode(&id)
    );
    let res = app.signed("POST", &revoke, b"").await;
    assert_eq!(res.status(), 204);
    assert_eq!(res.text().await.expect("body"), "");
    let delete = format!("/identities/{}?api-version=2023-10-01", encode(&id));
    assert_eq!(app.signed("DELETE", &delete, b"").await.status(), 204);
}

#[tokio::test]
async fn a_deleted_identity_answers_401_to_every_operation() {
    let app = spawn_app().await;
    let id = app.create_identity().await;
    let delete = format!("/identities/{}?api-version=2023-10-01", encode(&id));
    assert_eq!(app.signed("DELETE", &delete, b"").await.status(), 204);

    assert_error(
        app.signed("DELETE", &delete, b"").await,
        401,
        "Unauthorized",
    )
    .await;
    assert_error(
        app.issue_token(&id, &json!({"scopes": ["chat"]})).await,
        401,
        "Unauthorized",
    )
    .await;
    let revoke = format!(
        "/identities/{}/:revokeAccessTokens?api-version=2023-10-01",
        encode(&id)
    );
    assert_error(app.signed("POST", &revoke, b"").await, 401, "Unauthorized").await;
}

#[tokio::test]
async fn a_well_formed_unknown_identity_answers_401() {
    let app = spawn_app().await;
    let unknown = "8:acs:00000000-0000-0000-0000-000000000000_00000000-0000-0000-0000-000000000000";
    let message = assert_error(
        app.issue_token(unknown, &json!({"scopes": ["chat"]})).await,
        401,
        "Unauthorized",
    )
    .await;
    assert!(message.contains(unknown), "{message}");
    let revoke = format!(
        "/identities/{}/:revokeAccessTokens?api-version=2023-10-01",
        encode(unknown)
    );
    assert_error(app.signed("POST", &revoke, b"").await, 401, "Unauthorized").await;
}

#[tokio::test]
async fn a_malformed_identity_is_a_validation_error() {
    let app = spawn_app().await;
    let res = app
        .issue_token("not-an-id", &json!({"scopes": ["chat"]}))
        .await;
    let body = body(res).await;
    assert_eq!(body["error"]["code"], "ValidationError");
    assert_eq!(body["error"]["target"], "id");
}

#[tokio::test]
async fn a_missing_api_version_is_400_api_version_unspecified() {
    let app = spawn_app().await;
    let message = assert_error(
        app.signed("POST", "/identities", b"").await,
        400,
        "ApiVersionUnspecified",
    )
    .await;
    assert_eq!(
        message,
        "An API version is required, but was not specified."
    );
}

#[tokio::test]
async fn an_unknown_api_version_is_400_invalid_api_version() {
    let app = spawn_app().await;
    let message = assert_error(
        app.signed("POST", "/identities?api-version=2020-01-01", b"")
            .await,
        400,
        "InvalidApiVersion",
    )
    .await;
    assert!(message.contains("'2020-01-01'"), "{message}");
}

#[tokio::test]
async fn every_supported_api_version_creates_users() {
    let app = spawn_app().await;
    for version in [
        "2021-03-07",
        "2022-06-01",
        "2022-10-01",
        "2023-10-01",
        "2025-06-30",
        "2026-09-23",
    ] {
        let res = app
            .signed("POST", &format!("/identities?api-version={version}"), b"")
            .await;
        assert_eq!(res.status(), 201, "{version}");
    }
}

#[tokio::test]
async fn malformed_json_and_wrong_shapes_get_the_envelope() {
    let app = spawn_app().await;
    let id = app.create_identity().await;
    let target = format!(
        "/identities/{}/:issueAccessToken?api-version=2023-10-01",
        encode(&id)
    );
    for bad in [
        &b"{"[..],
        b"[1,2]",
        b"{\"scopes\": \"chat\"}",
        b"{\"scopes\": [\"chat\"], \"expiresInMinutes\": \"x\"}",
        b"\xff\xfe",
    ] {
        let res = app.signed("POST", &target, bad).await;
        assert_error(res, 400, "InvalidRequestBody").await;
    }
}

#[tokio::test]
async fn a_non_json_content_type_is_415() {
    let app = spawn_app().await;
    let body = br#"{"createTokenWithScopes":["chat"]}"#;
    let s = app.sign("POST", "/identities?api-version=2023-10-01", body);
    let res = app
        .send(
            "POST",
            "/identities?api-version=2023-10-01",
            &[
                ("x-ms-date", &s.date),
                ("x-ms-content-sha256", &s.content_hash),
                ("authorization", &s.authorization),
                ("content-type", "text/plain"),
            ],
            body,
        )
        .await;
    assert_error(res, 415, "UnsupportedMediaType").await;
}

#[tokio::test]
async fn token_lifetime_flag_overrides_every_lifetime() {
    let mut config = acs_emulator::Config::for_tests();
    config.tokens.token_lifetime = Some(std::time::Duration::from_secs(30));
    let app = spawn_with(config).await;
    let id = app.create_identity().await;
    let body = body(
        app.issue_token(&id, &json!({"scopes": ["chat"], "expiresInMinutes": 1440}))
            .await,
    )
    .await;
    let expires = expires_on(&body["expiresOn"]);
    let left = expires - Utc::now();
    assert!(
        left <= TimeDelta::seconds(31) && left >= TimeDelta::seconds(28),
        "{left}"
    );
    // The 60..1440 rule is still enforced on the request itself.
    let res = app
        .issue_token(&id, &json!({"scopes": ["chat"], "expiresInMinutes": 5}))
        .await;
    assert_error(res, 400, "ValidationError").await;
}

#[tokio::test]
async fn a_token_lifetime_past_year_9999_ends_the_tokens_there() {
    let mut config = acs_emulator::Config::for_tests();
    config.tokens.token_lifetime = Some(std::time::Duration::MAX);
    let app = spawn_with(config).await;
    let id = app.create_identity().await;
    let res = app.issue_token(&id, &json!({"scopes": ["chat"]})).await;
    assert_eq!(res.status(), 200);
    let body = body(res).await;
    assert_eq!(body["expiresOn"], "9999-12-31T23:59:59Z");
    let token = body["token"].as_str().expect("token");
    assert_eq!(app.check_token(token).await.status(), 200);
}

mod teams {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    const APP_ID: &str = "11111111-2222-3333-4444-555555555555";
    const USER_ID: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";

    fn entra_token(claims: serde_json::Value) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        format!("{header}.{payload}.c2lnbmF0dXJl")
    }

    fn valid_claims(exp: i64) -> serde_json::Value {
        json!({"aud": "https://auth.msft.communication.azure.com", "appid": APP_ID, "oid": USER_ID,
               "tid": "99999999-0000-0000-0000-000000000000", "exp": exp, "iat": exp - 3600})
    }

    #[tokio::test]
    async fn exchanging_a_teams_token_returns_a_token_that_expires_with_it() {
        let app = spawn_app().await;
        let exp = Utc::now().timestamp() + 1800;
        let request =
            json!({"token": entra_token(valid_claims(exp)), "appId": APP_ID, "userId": USER_ID});
        let res = app
            .signed_json(
                "POST",
                "/teamsUser/:exchangeAccessToken?api-version=2023-10-01",
                &request,
            )
            .await;
        assert_eq!(res.status(), 200);
        let body = body(res).await;
        assert_eq!(expires_on(&body["expiresOn"]).timestamp(), exp);
        let claims = jwt_payload(body["token"].as_str().expect("token"));
        assert_eq!(claims["skypeid"], format!("orgid:{USER_ID}"));
        assert_eq!(claims["exp"], exp);
    }

    #[tokio::test]
    async fn a_teams_token_expiring_in_the_far_future_gives_a_token_that_ends_in_year_9999() {
        let app = spawn_app().await;
        // `exp` is read unverified from Microsoft's tokens: any number can arrive.
        for exp in [i64::MAX, 1i64 << 60, 253_402_300_800] {
            let request = json!({"token": entra_token(valid_claims(exp)), "appId": APP_ID, "userId": USER_ID});
            let res = app
                .signed_json(
                    "POST",
                    "/teamsUser/:exchangeAccessToken?api-version=2023-10-01",
                    &request,
                )
                .await;
            assert_eq!(res.status(), 200, "exp {exp}");
            let body = body(res).await;
            assert_eq!(body["expiresOn"], "9999-12-31T23:59:59Z", "exp {exp}");
            let claims = jwt_payload(body["token"].as_str().expect("token"));
            assert_eq!(claims["exp"], 253_402_300_799i64);
        }
    }

    #[tokio::test]
    async fn a_wrong_app_or_user_id_is_a_validation_error() {
        let app = spawn_app().await;
        let token = entra_token(valid_claims(Utc::now().timestamp() + 1800));
        let res = app
            .signed_json(
                "POST",
                "/teamsUser/:exchangeAccessToken?api-version=2023-10-01",
                &json!({"token": token, "appId": "00000000-0000-0000-0000-000000000000", "userId": USER_ID}),
            )
            .await;
        let body = body(res).await;
        assert_eq!(body["error"]["code"], "ValidationError");
        assert_eq!(
            body["error"]["message"],
            "AAD application is not the expected one."
        );
        assert_eq!(body["error"]["target"], "appId");
        let res = app
            .signed_json(
                "POST",
                "/teamsUser/:exchangeAccessToken?api-version=2023-10-01",
                &json!({"token": token, "appId": APP_ID, "userId": "someone-else"}),
            )
            .await;
        assert_eq!(body_of(res).await["error"]["target"], "userId");
    }

    async fn body_of(res: reqwest::Response) -> serde_json::Value {
        assert_eq!(res.status(), 400);
        body(res).await
    }

    #[tokio::test]
    async fn expired_malformed_or_misaddressed_tokens_are_invalid_access_tokens() {
        let app = spawn_app().await;
        let now = Utc::now().timestamp();
        let mut wrong_audience = valid_claims(now + 600);
        wrong_audience["aud"] = json!("https://graph.microsoft.com");
        for token in [
            entra_token(valid_claims(now - 10)),
            "invalid".to_string(),
            "a.b.c".to_string(),
            entra_token(json!({"appid": APP_ID, "oid": USER_ID})),
            entra_token(wrong_audience),
        ] {
            let res = app
                .signed_json(
                    "POST",
                    "/teamsUser/:exchangeAccessToken?api-version=2023-10-01",
                    &json!({"token": token, "appId": APP_ID, "userId": USER_ID}),
                )
                .await;
            let message = assert_error(res, 401, "InvalidAccessToken").await;
            assert_eq!(message, "Provided access token is not valid.");
        }
    }

    #[tokio::test]
    async fn missing_fields_are_validation_errors() {
        let app = spawn_app().await;
        let res = app
            .signed_json(
                "POST",
                "/teamsUser/:exchangeAccessToken?api-version=2023-10-01",
                &json!({"appId": APP_ID, "userId": USER_ID}),
            )
            .await;
        let body = body(res).await;
        assert_eq!(body["error"]["code"], "ValidationError");
        assert_eq!(body["error"]["target"], "Token");
    }

    #[tokio::test]
    async fn the_exchange_does_not_exist_before_2022_06_01() {
        let app = spawn_app().await;
        let token = entra_token(valid_claims(Utc::now().timestamp() + 1800));
        let res = app
            .signed_json(
                "POST",
                "/teamsUser/:exchangeAccessToken?api-version=2021-03-07",
                &json!({"token": token, "appId": APP_ID, "userId": USER_ID}),
            )
            .await;
        assert_error(res, 400, "InvalidApiVersion").await;
    }
}

mod teams_extension {
    use super::*;

    const PATH: &str = "/access/teamsExtension/tenants/c70d068c-2f32-484d-9455-73070cd5aadd/assignments/b27b64b9-39d2-44a3-869d-67700b74e805";

    #[tokio::test]
    async fn assignments_are_created_replaced_read_and_deleted() {
        let app = spawn_app().await;
        let target = format!("{PATH}?api-version=2026-09-23");
        assert_error(app.signed("GET", &target, b"").await, 404, "NotFound").await;

        let res = app
            .signed_json("PUT", &target, &json!({"principalType": "resourceAccount"}))
            .await;
        assert_eq!(res.status(), 201);
        assert_eq!(
            body(res).await,
            json!({"objectId": "b27b64b9-39d2-44a3-869d-67700b74e805", "tenantId": "c70d068c-2f32-484d-9455-73070cd5aadd", "principalType": "resourceAccount"})
        );
        let res = app
            .signed_json(
                "PUT",
                &target,
                &json!({"principalType": "user", "clientIds": ["app-1"]}),
            )
            .await;
        assert_eq!(res.status(), 200);
        let got = body(app.signed("GET", &target, b"").await).await;
        assert_eq!(got["principalType"], "user");
        assert_eq!(got["clientIds"], json!(["app-1"]));

        assert_eq!(app.signed("DELETE", &target, b"").await.status(), 204);
        assert_error(app.signed("DELETE", &target, b"").await, 404, "NotFound").await;
    }

    #[tokio::test]
    async fn assignments_validate_the_principal_type_and_the_api_version() {
        let app = spawn_app().await;
        let target = format!("{PATH}?api-version=2025-06-30");
        let res = app
            .signed_json("PUT", &target, &json!({"principalType": "robot"}))
            .await;
        assert_error(res, 400, "ValidationError").await;
        let res = app.signed_json("PUT", &target, &json!({})).await;
        assert_error(res, 400, "ValidationError").await;
        let res = app
            .signed("GET", &format!("{PATH}?api-version=2023-10-01"), b"")
            .await;
        assert_error(res, 400, "InvalidApiVersion").await;
    }

    #[tokio::test]
    async fn the_teams_extension_exchange_says_it_needs_an_entra_token() {
        let app = spawn_app().await;
        let res = app
            .signed_json(
                "POST",
                "/access/teamsExtension/:exchangeAccessToken?api-version=2026-09-23",
                &json!({}),
            )
            .await;
        let message = assert_error(res, 401, "Unauthorized").await;
        assert!(message.contains("Entra ID"), "{message}");
    }
}
