//! Access-key (HMAC-SHA256) authentication over HTTP: SDK vectors and the tamper matrix.

use acs_emulator::Config;
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, body, spawn_app, spawn_with};

const CREATE: &str = "/identities?api-version=2023-10-01";
const CREATE_BODY: &[u8] = br#"{"createTokenWithScopes":["chat"]}"#;

#[tokio::test]
async fn requests_signed_by_the_official_sdks_verify() {
    let vectors: Value =
        serde_json::from_str(include_str!("../fixtures/hmac_vectors.json")).expect("vectors");
    for v in vectors["vectors"].as_array().expect("array") {
        let s = |k: &str| v[k].as_str().expect(k).to_string();
        let mut config = Config::for_tests();
        config.resource.access_key = s("key");
        let app = spawn_with(config).await;
        let date: DateTime<Utc> = httpdate::parse_http_date(&s("date")).expect("date").into();
        app.state
            .clock
            .freeze_at(date)
            .expect("within the clock's range");
        let authorization = format!(
            "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature={}",
            s("signature")
        );
        let res = app
            .send(
                &s("method"),
                &s("target"),
                &[
                    ("host", &s("host")),
                    ("x-ms-date", &s("date")),
                    ("x-ms-content-sha256", &s("content_hash")),
                    ("authorization", &authorization),
                    ("content-type", "application/json"),
                ],
                s("body").as_bytes(),
            )
            .await;
        let status = res.status().as_u16();
        let text = res.text().await.expect("body");
        assert!(
            !text.contains("\"Denied\""),
            "{}: rejected by HMAC: {text}",
            s("name")
        );
        assert!(
            matches!(status, 201 | 401),
            "{}: {status} {text}",
            s("name")
        );
    }
}

/// Sends a create-user request with the given headers and asserts a 401 Denied; returns the message.
async fn denied(app: &TestApp, target: &str, headers: &[(&str, &str)], body: &[u8]) -> String {
    let res = app.send("POST", target, headers, body).await;
    let message = assert_error(res, 401, "Denied").await;
    assert_eq!(
        app.state.store().identities.len(),
        0,
        "a rejected request changed state"
    );
    message
}

#[tokio::test]
async fn a_tampered_body_fails_the_content_hash() {
    let app = spawn_app().await;
    let s = app.sign("POST", CREATE, CREATE_BODY);
    let tampered = br#"{"createTokenWithScopes":["voip"]}"#;
    let message = denied(&app, CREATE, &s.headers(), tampered).await;
    assert_eq!(
        message,
        "Request 'x-ms-content-sha256' differs from generated content hash."
    );
}

#[tokio::test]
async fn a_tampered_body_with_a_recomputed_hash_fails_the_signature() {
    let app = spawn_app().await;
    let s = app.sign("POST", CREATE, CREATE_BODY);
    let tampered = br#"{"createTokenWithScopes":["voip"]}"#;
    let hash = acs_emulator::auth::hmac::content_hash(tampered);
    let message = denied(
        &app,
        CREATE,
        &[
            ("x-ms-date", &s.date),
            ("x-ms-content-sha256", &hash),
            ("authorization", &s.authorization),
        ],
        tampered,
    )
    .await;
    assert!(message.contains("signature does not match"), "{message}");
}

#[tokio::test]
async fn a_tampered_path_or_query_fails_the_signature() {
    let app = spawn_app().await;
    let s = app.sign("POST", CREATE, b"");
    let headers = s.headers();
    denied(&app, "/identities?api-version=2022-10-01", &headers, b"").await;
    denied(
        &app,
        "/identities?api-version=2023-10-01&x=1",
        &headers,
        b"",
    )
    .await;
    let res = app
        .send(
            "POST",
            "/identities/x/:revokeAccessTokens?api-version=2023-10-01",
            &headers,
            b"",
        )
        .await;
    assert_error(res, 401, "Denied").await;
}

#[tokio::test]
async fn stale_and_future_dates_are_rejected_and_say_why() {
    let app = spawn_app().await;
    let now = app.state.clock.now();
    for (offset, word) in [(-16 * 60, "older"), (16 * 60, "future")] {
        let date = acs_emulator::auth::hmac::http_date(now + TimeDelta::seconds(offset));
        let s = app.sign_with(&app.key, "POST", CREATE, &date, &app.http_host(), b"");
        let message = denied(&app, CREATE, &s.headers(), b"").await;
        assert!(
            message.contains(word) && message.contains("clock skew"),
            "{message}"
        );
    }
    // Within the window (14 minutes off) is fine.
    let date = acs_emulator::auth::hmac::http_date(now - TimeDelta::minutes(14));
    let s = app.sign_with(&app.key, "POST", CREATE, &date, &app.http_host(), b"");
    let res = app.send("POST", CREATE, &s.headers(), b"").await;
    assert_eq!(res.status(), 201);
}

#[tokio::test]
async fn dates_outside_the_window_are_refused_with_the_clock_at_either_end_of_its_range() {
    let app = spawn_app().await;
    let clock = |change: Value| {
        app.client
            .post(format!("{}/_emulator/clock", app.http))
            .json(&change)
            .send()
    };
    // Before 1970 and after 9998 the clock cannot go (once, either made the "date out of range"
    // message panic while formatting the emulator's time).
    for change in [
        json!({"set": "1969-06-01T00:00:00Z"}),
        json!({"set": "9999-12-31T00:00:00Z"}),
    ] {
        let res = clock(change).await.expect("sent");
        assert_error(res, 400, "ValidationError").await;
    }
    // At the ends of the range, a request signed with the real time is refused, and says why.
    for (set, two_days_on, direction, shown) in [
        (
            "1970-01-01T00:00:00Z",
            200,
            "further in the future",
            "Thu, 01 Jan 1970 00:00:00 GMT",
        ),
        (
            "9998-12-31T23:59:59Z",
            400,
            "older",
            "Thu, 31 Dec 9998 23:59:59 GMT",
        ),
    ] {
        let res = clock(json!({"set": set, "freeze": true}))
            .await
            .expect("sent");
        assert_eq!(res.status(), 200);
        let res = clock(json!({"advance": "2d"})).await.expect("sent");
        assert_eq!(res.status(), two_days_on, "{set} + 2d");
        let res = clock(json!({"set": set})).await.expect("sent");
        assert_eq!(res.status(), 200);
        let date = acs_emulator::auth::hmac::http_date(Utc::now());
        let s = app.sign_with(&app.key, "POST", CREATE, &date, &app.http_host(), b"");
        let message = denied(&app, CREATE, &s.headers(), b"").await;
        assert!(
            message.contains(direction) && message.contains(shown),
            "{message}"
        );
    }
}

#[test]
fn http_dates_are_formatted_for_any_instant() {
    use acs_emulator::auth::hmac::http_date;
    let at = |s: &str| -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("valid")
            .with_timezone(&Utc)
    };
    assert_eq!(
        http_date(at("2026-11-28T00:50:46Z")),
        "Sat, 28 Nov 2026 00:50:46 GMT"
    );
    assert_eq!(
        http_date(at("1994-11-06T08:49:37.999Z")),
        httpdate::fmt_http_date(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(784_111_777)
        )
    );
    // Outside what HTTP dates can say, still no panic.
    for t in [
        DateTime::<Utc>::MIN_UTC,
        DateTime::<Utc>::MAX_UTC,
        at("1969-06-01T00:00:00Z"),
    ] {
        assert!(http_date(t).ends_with(" GMT"));
    }
}

#[tokio::test]
async fn the_skew_window_is_configurable() {
    let mut config = Config::for_tests();
    config.resource.clock_skew = std::time::Duration::from_secs(30);
    let app = spawn_with(config).await;
    let date = acs_emulator::auth::hmac::http_date(app.state.clock.now() - TimeDelta::seconds(60));
    let s = app.sign_with(&app.key, "POST", CREATE, &date, &app.http_host(), b"");
    denied(&app, CREATE, &s.headers(), b"").await;
}

#[tokio::test]
async fn a_date_that_is_not_rfc_1123_is_rejected() {
    let app = spawn_app().await;
    let date = "2026-11-28T00:50:46Z";
    let s = app.sign_with(&app.key, "POST", CREATE, date, &app.http_host(), b"");
    let message = denied(
        &app,
        CREATE,
        &[
            ("x-ms-date", date),
            ("x-ms-content-sha256", &s.content_hash),
            ("authorization", &s.authorization),
        ],
        b"",
    )
    .await;
    assert!(message.contains("RFC 1123"), "{message}");
}

#[tokio::test]
async fn a_wrong_key_is_rejected_and_the_secondary_key_is_accepted() {
    let app = spawn_app().await;
    let s = app.sign_with(
        b"not the key",
        "POST",
        CREATE,
        &app.date_now(),
        &app.http_host(),
        b"",
    );
    denied(&app, CREATE, &s.headers(), b"").await;

    let secondary = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        acs_emulator::config::DEFAULT_SECONDARY_ACCESS_KEY,
    )
    .expect("b64");
    let s = app.sign_with(
        &secondary,
        "POST",
        CREATE,
        &app.date_now(),
        &app.http_host(),
        b"",
    );
    let res = app.send("POST", CREATE, &s.headers(), b"").await;
    assert_eq!(res.status(), 201);
}

#[tokio::test]
async fn missing_headers_are_rejected_with_a_reason() {
    let app = spawn_app().await;
    let s = app.sign("POST", CREATE, b"");
    let m = denied(
        &app,
        CREATE,
        &[
            ("x-ms-date", &s.date),
            ("x-ms-content-sha256", &s.content_hash),
        ],
        b"",
    )
    .await;
    assert!(m.contains("no Authorization header"), "{m}");
    let m = denied(
        &app,
        CREATE,
        &[
            ("x-ms-content-sha256", &s.content_hash),
            ("authorization", &s.authorization),
        ],
        b"",
    )
    .await;
    assert!(m.contains("'x-ms-date'") && m.contains("missing"), "{m}");
    let m = denied(
        &app,
        CREATE,
        &[("x-ms-date", &s.date), ("authorization", &s.authorization)],
        b"",
    )
    .await;
    assert!(m.contains("x-ms-content-sha256"), "{m}");
}

#[tokio::test]
async fn malformed_or_oversized_authorization_headers_are_rejected() {
    let app = spawn_app().await;
    let s = app.sign("POST", CREATE, b"");
    let oversized = format!(
        "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature={}",
        "A".repeat(8000)
    );
    for auth in [
        "HMAC-SHA256",
        "Basic dXNlcjpwYXNz",
        "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256",
        "HMAC-SHA256 Signature=abc",
        "HMAC-SHA256 SignedHeaders=x-ms-date;host&Signature=KcgKAz0Xmp5w1gS1injz2aNxOj5DzaUa2G1NH8jupeQ=",
        "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=%%%",
        oversized.as_str(),
    ] {
        denied(
            &app,
            CREATE,
            &[
                ("x-ms-date", &s.date),
                ("x-ms-content-sha256", &s.content_hash),
                ("authorization", auth),
            ],
            b"",
        )
        .await;
    }
}

#[tokio::test]
async fn a_duplicated_date_header_is_rejected() {
    let app = spawn_app().await;
    let s = app.sign("POST", CREATE, b"");
    let m = denied(
        &app,
        CREATE,
        &[
            ("x-ms-date", &s.date),
            ("x-ms-date", &s.date),
            ("x-ms-content-sha256", &s.content_hash),
            ("authorization", &s.authorization),
        ],
        b"",
    )
    .await;
    assert!(m.contains("repeated"), "{m}");
}

#[tokio::test]
async fn header_name_case_does_not_matter() {
    let app = spawn_app().await;
    let s = app.sign("POST", CREATE, b"");
    let auth = s.authorization.replace(
        "SignedHeaders=x-ms-date;host;x-ms-content-sha256",
        "SignedHeaders=X-MS-Date;Host;X-MS-Content-SHA256",
    );
    let res = app
        .send(
            "POST",
            CREATE,
            &[
                ("X-MS-DATE", &s.date),
                ("X-Ms-Content-Sha256", &s.content_hash),
                ("AUTHORIZATION", &auth),
            ],
            b"",
        )
        .await;
    assert_eq!(res.status(), 201);
}

#[tokio::test]
async fn the_older_date_header_variant_is_accepted() {
    let app = spawn_app().await;
    let date = app.date_now();
    let hash = acs_emulator::auth::hmac::content_hash(b"");
    let sts =
        acs_emulator::auth::hmac::string_to_sign("POST", CREATE, &date, &app.http_host(), &hash);
    let auth = format!(
        "HMAC-SHA256 SignedHeaders=date;host;x-ms-content-sha256&Signature={}",
        acs_emulator::auth::hmac::sign(&app.key, &sts)
    );
    let res = app
        .send(
            "POST",
            CREATE,
            &[
                ("date", &date),
                ("x-ms-content-sha256", &hash),
                ("authorization", &auth),
            ],
            b"",
        )
        .await;
    assert_eq!(res.status(), 201);
}

#[tokio::test]
async fn python_signing_the_default_port_or_a_trailing_slash_is_accepted() {
    let app = spawn_app().await;
    let host = format!("{}/", app.http_host());
    let s = app.sign_with(&app.key, "POST", CREATE, &app.date_now(), &host, b"");
    let res = app.send("POST", CREATE, &s.headers(), b"").await;
    assert_eq!(res.status(), 201);
}

#[tokio::test]
async fn the_https_listener_verifies_signatures_with_its_own_host() {
    let app = spawn_app().await;
    let host = app.https.trim_start_matches("https://").to_string();
    let s = app.sign_with(
        &app.key,
        "POST",
        CREATE,
        &app.date_now(),
        &host,
        CREATE_BODY,
    );
    let res = app
        .client
        .post(format!("{}{CREATE}", app.https))
        .header("x-ms-date", &s.date)
        .header("x-ms-content-sha256", &s.content_hash)
        .header("authorization", &s.authorization)
        .header("content-type", "application/json")
        .body(CREATE_BODY.to_vec())
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 201);
    assert!(body(res).await["accessToken"]["token"].is_string());
}

#[tokio::test]
async fn a_bearer_token_from_elsewhere_gets_a_clear_401() {
    let app = spawn_app().await;
    for auth in [
        "Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln",
        "Bearer\u{e9}\u{e9}x",
        "bearer",
    ] {
        let res = app
            .send("POST", CREATE, &[("authorization", auth)], b"")
            .await;
        assert_eq!(res.status(), 401, "{auth}");
    }
    let res = app
        .send(
            "POST",
            CREATE,
            &[("authorization", "Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln")],
            b"",
        )
        .await;
    let message = assert_error(res, 401, "InvalidAuthenticationToken").await;
    assert!(
        message.contains("not signed by this emulator's token authority"),
        "{message}"
    );
    assert_eq!(app.state.store().identities.len(), 0);
}

#[tokio::test]
async fn every_identity_route_requires_a_signature() {
    let app = spawn_app().await;
    let id = app.create_identity().await;
    let encoded = crate::helpers::encode(&id);
    for (method, target) in [
        (
            "POST",
            format!("/identities/{encoded}/:issueAccessToken?api-version=2023-10-01"),
        ),
        (
            "POST",
            format!("/identities/{encoded}/:revokeAccessTokens?api-version=2023-10-01"),
        ),
        (
            "DELETE",
            format!("/identities/{encoded}?api-version=2023-10-01"),
        ),
        (
            "POST",
            "/teamsUser/:exchangeAccessToken?api-version=2023-10-01".to_string(),
        ),
        (
            "GET",
            "/access/teamsExtension/tenants/t/assignments/o?api-version=2026-09-23".to_string(),
        ),
    ] {
        let res = app
            .send(
                method,
                &target,
                &[("content-type", "application/json")],
                json!({"scopes": ["chat"]}).to_string().as_bytes(),
            )
            .await;
        assert_error(res, 401, "Denied").await;
    }
    // The identity is untouched.
    assert_eq!(
        app.issue_token(&id, &json!({"scopes": ["chat"]}))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn a_rotated_out_key_is_rejected_and_changes_nothing() {
    // The resource's keys were regenerated: the well-known key no longer verifies.
    let mut config = Config::for_tests();
    config.resource.access_key = "cm90YXRlZC1wcmltYXJ5LWtleS0wMTIzNDU2Nzg5".into();
    config.resource.secondary_access_key = "cm90YXRlZC1zZWNvbmRhcnkta2V5LTAxMjM0NTY3".into();
    let app = spawn_with(config).await;
    for old in [
        acs_emulator::config::DEFAULT_ACCESS_KEY,
        acs_emulator::config::DEFAULT_SECONDARY_ACCESS_KEY,
    ] {
        let old =
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, old).expect("b64");
        let s = app.sign_with(
            &old,
            "POST",
            CREATE,
            &app.date_now(),
            &app.http_host(),
            CREATE_BODY,
        );
        denied(&app, CREATE, &s.headers(), CREATE_BODY).await;
    }
    assert_eq!(app.state.store().identities.len(), 0);
    // The new key works.
    assert_eq!(app.signed("POST", CREATE, CREATE_BODY).await.status(), 201);
}

#[tokio::test]
async fn duplicated_signature_headers_are_rejected() {
    let app = spawn_app().await;
    let good = app.sign("POST", CREATE, b"");
    let other = app.sign("POST", "/identities?api-version=2022-06-01", b"");
    let wrong_hash = crate::helpers::Signature {
        date: good.date.clone(),
        content_hash: acs_emulator::auth::hmac::content_hash(b"x"),
        authorization: good.authorization.clone(),
    };
    for headers in [
        // Two Authorization headers, the good one first or last.
        vec![
            ("x-ms-date", good.date.as_str()),
            ("x-ms-content-sha256", good.content_hash.as_str()),
            ("authorization", good.authorization.as_str()),
            ("authorization", other.authorization.as_str()),
        ],
        vec![
            ("x-ms-date", good.date.as_str()),
            ("x-ms-content-sha256", good.content_hash.as_str()),
            ("authorization", other.authorization.as_str()),
            ("authorization", good.authorization.as_str()),
        ],
        // Two content hashes, one matching the body.
        vec![
            ("x-ms-date", good.date.as_str()),
            ("x-ms-content-sha256", wrong_hash.content_hash.as_str()),
            ("x-ms-content-sha256", good.content_hash.as_str()),
            ("authorization", good.authorization.as_str()),
        ],
        // Two Host headers.
        vec![
            ("host", "evil.example"),
            ("x-ms-date", good.date.as_str()),
            ("x-ms-content-sha256", good.content_hash.as_str()),
            ("authorization", good.authorization.as_str()),
        ],
    ] {
        let res = app.send("POST", CREATE, &headers, b"").await;
        assert_error(res, 401, "Denied").await;
    }
    assert_eq!(app.state.store().identities.len(), 0);
}

#[tokio::test]
async fn a_signature_for_another_host_or_method_is_rejected() {
    let app = spawn_app().await;
    let host = app.sign_with(
        &app.key,
        "POST",
        CREATE,
        &app.date_now(),
        "evil.example:443",
        b"",
    );
    denied(&app, CREATE, &host.headers(), b"").await;
    let method = app.sign("GET", CREATE, b"");
    denied(&app, CREATE, &method.headers(), b"").await;
    let lower = app.sign("post", CREATE, b"");
    denied(&app, CREATE, &lower.headers(), b"").await;
    assert_eq!(app.state.store().identities.len(), 0);
}

#[tokio::test]
async fn a_tampered_rooms_request_is_denied_and_creates_no_room() {
    let app = spawn_app().await;
    let target = "/rooms?api-version=2025-03-13";
    let sent = br#"{"pstnDialOutEnabled":false}"#;
    let s = app.sign("POST", target, sent);
    let tampered = br#"{"pstnDialOutEnabled":true}"#;
    let mut headers = s.headers().to_vec();
    headers.push(("content-type", "application/json"));
    let res = app.send("POST", target, &headers, tampered).await;
    assert_error(res, 401, "Denied").await;
    let hash = acs_emulator::auth::hmac::content_hash(tampered);
    let res = app
        .send(
            "POST",
            target,
            &[
                ("x-ms-date", &s.date),
                ("x-ms-content-sha256", &hash),
                ("authorization", &s.authorization),
            ],
            tampered,
        )
        .await;
    assert_error(res, 401, "Denied").await;
    // Signed for the list, sent to another room path.
    let s = app.sign("GET", target, b"");
    let res = app
        .send(
            "GET",
            "/rooms/12345678901234567?api-version=2025-03-13",
            &s.headers(),
            b"",
        )
        .await;
    assert_error(res, 401, "Denied").await;
    assert!(app.state.store().rooms.is_empty());
}
