//! User access tokens as Chat will check them (through `GET /_emulator/token`, which applies the
//! same `UserToken` extractor): expiry, revocation, deletion, forgery, and the Python base64 trap.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::TimeDelta;
use serde_json::json;

use crate::helpers::{assert_error, body, encode, spawn_app, spawn_with};

#[tokio::test]
async fn an_issued_token_identifies_its_user_and_scopes() {
    let app = spawn_app().await;
    let (id, token) = app.create_user_and_token(&["chat", "voip"]).await;
    let res = app.check_token(&token).await;
    assert_eq!(res.status(), 200);
    let body = body(res).await;
    assert_eq!(body["identity"], id);
    assert_eq!(body["scopes"], json!(["chat", "voip"]));
}

#[tokio::test]
async fn revoking_invalidates_earlier_tokens_but_not_later_ones() {
    let app = spawn_app().await;
    let (id, old) = app.create_user_and_token(&["chat"]).await;
    let revoke = format!(
        "/identities/{}/:revokeAccessTokens?api-version=2023-10-01",
        encode(&id)
    );
    assert_eq!(app.signed("POST", &revoke, b"").await.status(), 204);
    let message = assert_error(app.check_token(&old).await, 401, "Unauthorized").await;
    assert!(message.contains("revoked"), "{message}");

    // Issued right after the revocation (same second): valid.
    let new = body(app.issue_token(&id, &json!({"scopes": ["chat"]})).await).await["token"]
        .as_str()
        .expect("token")
        .to_string();
    assert_eq!(app.check_token(&new).await.status(), 200);
}

#[tokio::test]
async fn superseded_tokens_stay_valid_until_they_expire() {
    let app = spawn_app().await;
    let (id, first) = app.create_user_and_token(&["chat"]).await;
    let res = app.issue_token(&id, &json!({"scopes": ["chat"]})).await;
    assert_eq!(res.status(), 200);
    assert_eq!(app.check_token(&first).await.status(), 200);
}

#[tokio::test]
async fn deleting_the_identity_invalidates_its_tokens() {
    let app = spawn_app().await;
    let (id, token) = app.create_user_and_token(&["chat"]).await;
    let delete = format!("/identities/{}?api-version=2023-10-01", encode(&id));
    assert_eq!(app.signed("DELETE", &delete, b"").await.status(), 204);
    let message = assert_error(app.check_token(&token).await, 401, "Unauthorized").await;
    assert!(message.contains("deleted"), "{message}");
}

#[tokio::test]
async fn tokens_expire_on_the_emulator_clock() {
    let mut config = acs_emulator::Config::for_tests();
    config.tokens.token_lifetime = Some(std::time::Duration::from_secs(30));
    let app = spawn_with(config).await;
    let (_, token) = app.create_user_and_token(&["chat"]).await;
    assert_eq!(app.check_token(&token).await.status(), 200);
    app.state
        .clock
        .advance(TimeDelta::seconds(31))
        .expect("within the clock's range");
    let message = assert_error(app.check_token(&token).await, 401, "Unauthorized").await;
    assert!(message.contains("expired"), "{message}");
}

#[tokio::test]
async fn forged_tokens_are_rejected() {
    let app = spawn_app().await;
    let (_, token) = app.create_user_and_token(&["chat"]).await;
    let parts: Vec<&str> = token.split('.').collect();

    // alg:none with the real payload and no signature.
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        parts[1]
    );
    // A payload granting more, with the original signature.
    let mut claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("b64")).expect("json");
    claims["acsScope"] = json!("chat,voip");
    claims["exp"] = json!(claims["exp"].as_i64().expect("exp") + 100_000);
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    );
    // A signature from another emulator's key.
    let other = spawn_app().await;
    let (_, foreign) = other.create_user_and_token(&["chat"]).await;
    // The right signature with one byte changed.
    let mut sig = parts[2].to_string();
    let last = if sig.ends_with('A') { "B" } else { "A" };
    sig.replace_range(sig.len() - 1.., last);
    let bad_sig = format!("{}.{}.{sig}", parts[0], parts[1]);

    for forged in [
        none,
        tampered,
        foreign,
        bad_sig,
        "garbage".into(),
        "a.b.c".into(),
    ] {
        let message = assert_error(app.check_token(&forged).await, 401, "Unauthorized").await;
        assert!(
            message.starts_with("Request is not authorized"),
            "{message}"
        );
    }
}

#[tokio::test]
async fn requests_without_a_bearer_token_are_rejected() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(format!("{}/_emulator/token", app.https))
        .send()
        .await
        .expect("sent");
    let message = assert_error(res, 401, "Unauthorized").await;
    assert!(message.contains("no Authorization header"), "{message}");
    let res = app
        .client
        .get(format!("{}/_emulator/token", app.https))
        .header("authorization", "HMAC-SHA256 SignedHeaders=a&Signature=b")
        .send()
        .await
        .expect("sent");
    assert_error(res, 401, "Unauthorized").await;
}

#[tokio::test]
async fn a_reset_forgets_the_identities_behind_tokens() {
    let app = spawn_app().await;
    let (_, token) = app.create_user_and_token(&["chat"]).await;
    let res = app
        .client
        .post(format!("{}/_emulator/reset", app.http))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 200);
    let message = assert_error(app.check_token(&token).await, 401, "Unauthorized").await;
    assert!(message.contains("does not exist"), "{message}");
}

#[tokio::test]
async fn token_payloads_decode_with_the_standard_base64_alphabet() {
    // The Python SDK decodes the payload with base64.b64decode (standard alphabet): any '-' or
    // '_' in the payload makes it reject the token.
    let app = spawn_app().await;
    for _ in 0..50 {
        let (id, token) = app
            .create_user_and_token(&["chat", "voip", "chat.join"])
            .await;
        let payload = token.split('.').nth(1).expect("payload");
        assert!(!payload.contains(['-', '_']), "{payload}");
        let padded = format!("{payload}{}", "=".repeat((4 - payload.len() % 4) % 4));
        let claims: serde_json::Value =
            serde_json::from_slice(&STANDARD.decode(padded).expect("standard base64"))
                .expect("json");
        assert_eq!(claims["skypeid"].as_str(), Some(&id[2..]));
        for claim in [
            "skypeid",
            "scp",
            "csi",
            "exp",
            "rgn",
            "acsScope",
            "resourceId",
            "resourceLocation",
            "iat",
        ] {
            assert!(claims.get(claim).is_some(), "missing {claim}: {claims}");
        }
    }
}

#[tokio::test]
async fn a_token_from_before_the_clock_was_set_back_is_not_valid_yet() {
    let app = spawn_app().await;
    let (_, token) = app.create_user_and_token(&["chat"]).await;
    app.state
        .clock
        .advance(TimeDelta::seconds(-120))
        .expect("within the clock's range");
    let message = assert_error(app.check_token(&token).await, 401, "Unauthorized").await;
    assert!(message.contains("not valid yet"), "{message}");
    app.state
        .clock
        .advance(TimeDelta::seconds(120))
        .expect("within the clock's range");
    assert_eq!(app.check_token(&token).await.status(), 200);
    // Two Authorization headers, the good token in either place.
    for pair in [[token.as_str(), "x.y.z"], ["x.y.z", token.as_str()]] {
        let res = app
            .client
            .get(format!("{}/_emulator/token", app.https))
            .header("authorization", format!("Bearer {}", pair[0]))
            .header("authorization", format!("Bearer {}", pair[1]))
            .send()
            .await
            .expect("sent");
        let message = assert_error(res, 401, "Unauthorized").await;
        assert!(message.contains("more than one"), "{message}");
    }
}

#[tokio::test]
async fn the_header_algorithm_and_key_id_are_not_trusted() {
    let app = spawn_app().await;
    let (_, token) = app.create_user_and_token(&["chat"]).await;
    let parts: Vec<&str> = token.split('.').collect();
    let mut forged = Vec::new();
    // The genuine signature under headers naming other algorithms (HS/RS confusion) or keys.
    for header in [
        r#"{"alg":"RS256","typ":"JWT"}"#,
        r#"{"alg":"ES256","kid":"acs-emulator-entra","typ":"JWT"}"#,
        r#"{"alg":"HS512","kid":"acs-emulator","typ":"JWT"}"#,
        r#"{"alg":"NONE","typ":"JWT"}"#,
        r#"{"alg":"HS256","kid":"../../dev/null","typ":"JWT"}"#,
        r#"{"alg":"HS256","jku":"https://evil.example/jwks","typ":"JWT"}"#,
    ] {
        forged.push(format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            parts[1],
            parts[2]
        ));
    }
    // An Entra ID token of the same emulator, and structural games.
    let res = app
        .client
        .post(format!(
            "{}/acacacac-0000-4000-8000-00000000000a/oauth2/v2.0/token",
            app.https
        ))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "acacacac-0000-4000-8000-00000000000c"),
            ("client_secret", "acs-emulator-client-secret"),
            ("scope", "https://communication.azure.com//.default"),
        ])
        .send()
        .await
        .expect("sent");
    forged.push(
        body(res).await["access_token"]
            .as_str()
            .expect("token")
            .to_string(),
    );
    forged.push(format!("{token}.{}", parts[2]));
    forged.push(format!("{}..{}", parts[0], parts[2]));
    forged.push(token.replace('.', ". "));
    forged.push("x".repeat(16 * 1024));
    for token in forged {
        let message = assert_error(app.check_token(&token).await, 401, "Unauthorized").await;
        assert!(
            message.starts_with("Request is not authorized"),
            "{message}"
        );
    }
    assert_eq!(app.check_token(&token).await.status(), 200);
    // Two Authorization headers, the good token in either place.
    for pair in [[token.as_str(), "x.y.z"], ["x.y.z", token.as_str()]] {
        let res = app
            .client
            .get(format!("{}/_emulator/token", app.https))
            .header("authorization", format!("Bearer {}", pair[0]))
            .header("authorization", format!("Bearer {}", pair[1]))
            .send()
            .await
            .expect("sent");
        let message = assert_error(res, 401, "Unauthorized").await;
        assert!(message.contains("more than one"), "{message}");
    }
}
