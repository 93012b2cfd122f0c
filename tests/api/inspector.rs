//! The web inspector (`/_emulator/ui/`): the page and its assets with their headers, the `GET /`
//! redirect, `--no-ui`, the live stream, the email frame's CSP, the login cookie, the same-origin
//! check on control requests, and the control actions the inspector uses.

use std::time::Duration;

use acs_emulator::Config;
use serde_json::json;

use crate::helpers::{TestApp, assert_error, body, encode, spawn_app, spawn_with};

const TOKEN: &str = "an-inspector-control-token-0123456789";

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

async fn get(app: &TestApp, path: &str) -> reqwest::Response {
    app.client
        .get(format!("{}{path}", app.http))
        .send()
        .await
        .expect("sent")
}

#[tokio::test]
async fn root_redirects_to_the_inspector_on_the_http_listener_only() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let res = no_redirects()
        .get(format!("{}/", app.http))
        .send()
        .await
        .expect("sent");
    let https = app
        .client
        .get(format!("{}/", app.https))
        .send()
        .await
        .expect("sent");

    // Assert
    assert_eq!(res.status(), 302);
    assert_eq!(res.headers()["location"], "/_emulator/ui/");
    // The HTTPS listener's root is the browser Chat SDK's trouter probe.
    assert_eq!(https.status(), 200);
    assert_eq!(https.text().await.expect("body"), "Trouter");
}

#[tokio::test]
async fn the_page_and_its_assets_are_served_with_a_strict_csp_and_etags() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let page = get(&app, "/_emulator/ui/").await;

    // Assert
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .expect("ascii");
    assert!(csp.starts_with("default-src 'self'"), "{csp}");
    assert!(
        csp.contains("script-src 'self';") && !csp.contains("unsafe"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");
    let etag = page.headers()["etag"].clone();
    assert!(page.text().await.expect("text").contains("app.js"));

    for (file, kind) in [
        ("app.js", "text/javascript; charset=utf-8"),
        ("lib.js", "text/javascript; charset=utf-8"),
        ("pages.js", "text/javascript; charset=utf-8"),
        ("style.css", "text/css; charset=utf-8"),
        ("favicon.svg", "image/svg+xml"),
    ] {
        let res = get(&app, &format!("/_emulator/ui/{file}")).await;
        assert_eq!(res.status(), 200, "{file}");
        assert_eq!(res.headers()["content-type"], kind, "{file}");
        assert_eq!(res.headers()["cache-control"], "no-cache", "{file}");
    }
    let again = app
        .client
        .get(format!("{}/_emulator/ui/", app.http))
        .header("if-none-match", etag)
        .send()
        .await
        .expect("sent");
    assert_eq!(again.status(), 304);
    assert!(again.bytes().await.expect("body").is_empty());
    let missing = get(&app, "/_emulator/ui/nothing.js").await;
    assert_error(missing, 404, "NotFound").await;
    let slashless = no_redirects()
        .get(format!("{}/_emulator/ui", app.http))
        .send()
        .await
        .expect("sent");
    assert_eq!(slashless.status(), 301);
}

#[tokio::test]
async fn no_ui_turns_the_inspector_off_and_keeps_the_control_api() {
    // Arrange
    let mut config = Config::for_tests();
    config.control.no_ui = true;
    let app = spawn_with(config).await;

    // Act + Assert
    let root = no_redirects()
        .get(format!("{}/", app.http))
        .send()
        .await
        .expect("sent");
    assert_eq!(
        root.status(),
        200,
        "no redirect: the root is the trouter's probe"
    );
    for path in [
        "/_emulator/ui/",
        "/_emulator/ui/app.js",
        "/_emulator/ui/stream",
    ] {
        let res = no_redirects()
            .get(format!("{}{path}", app.http))
            .send()
            .await
            .expect("sent");
        assert_error(res, 404, "NotFound").await;
    }
    assert_eq!(get(&app, "/_emulator/resources").await.status(), 200);
}

/// Reads the stream until `want` has arrived (at most 5 s).
async fn read_until(res: &mut reqwest::Response, seen: &mut String, want: &str) {
    tokio::time::timeout(Duration::from_secs(5), async {
        while !seen.contains(want) {
            let chunk = res.chunk().await.expect("open").expect("a chunk");
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {want:?} in {seen:?}"));
}

#[tokio::test]
async fn the_stream_says_what_changed() {
    // Arrange
    let app = spawn_app().await;
    let res = get(&app, "/_emulator/ui/stream").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let mut res = res;
    let mut seen = String::new();
    read_until(&mut res, &mut seen, "event: hello").await;

    // Act: an SMS is sent, then an identity is created (a journaled request).
    let sent = app
        .send_sms(&json!({"from": "+18005550100", "smsRecipients": [{"to": "+14255550123"}], "message": "hi"}))
        .await;
    assert_eq!(sent.status(), 202);

    // Assert
    read_until(
        &mut res,
        &mut seen,
        "event: change\ndata: {\"area\":\"sms\",\"resource\":\"default\"}",
    )
    .await;
    read_until(&mut res, &mut seen, "event: requests").await;
    // While the stream is open the journal keeps the bodies.
    let journal = body(get(&app, "/_emulator/journal").await).await;
    let entry = &journal["value"][0];
    assert!(
        entry["requestBody"]
            .as_str()
            .is_some_and(|b| b.contains("\"message\":\"hi\"")),
        "{entry}"
    );
    assert!(
        entry["responseBody"]
            .as_str()
            .is_some_and(|b| b.contains("messageId")),
        "{entry}"
    );
}

#[tokio::test]
async fn without_a_live_view_the_journal_keeps_no_bodies() {
    // Arrange
    let app = spawn_app().await;

    // Act
    app.create_identity().await;

    // Assert
    let journal = body(get(&app, "/_emulator/journal").await).await;
    let entry = &journal["value"][0];
    assert_eq!(entry["operation"], "Identity.CreateUser", "{entry}");
    assert!(
        entry.get("requestBody").is_none() && entry.get("responseBody").is_none(),
        "{entry}"
    );
}

#[tokio::test]
async fn email_html_is_served_for_a_sandboxed_frame_without_scripts_or_network() {
    // Arrange
    let app = spawn_app().await;
    app.state.store().email.clear();
    let send = app
        .signed_json(
            "POST",
            "/emails:send?api-version=2023-03-31",
            &json!({
                "senderAddress": "DoNotReply@acacacac-0000-4000-8000-000000000001.azurecomm.net",
                "recipients": {"to": [{"address": "a@example.com"}]},
                "content": {"subject": "s", "plainText": "t", "html": "<p>hi</p><script>alert(1)</script>"}
            }),
        )
        .await;
    assert_eq!(send.status(), 202, "{:?}", send.text().await);
    let list = body(get(&app, "/_emulator/emails").await).await;
    let id = list["value"][0]["id"].as_str().expect("id").to_owned();

    // Act
    let res = get(&app, &format!("/_emulator/ui/emails/{}/html", encode(&id))).await;

    // Assert
    assert_eq!(res.status(), 200);
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .expect("ascii");
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    assert!(
        csp.contains("sandbox") && !csp.contains("script-src"),
        "{csp}"
    );
    assert_eq!(
        res.text().await.expect("text"),
        "<p>hi</p><script>alert(1)</script>"
    );
    let missing = get(&app, "/_emulator/ui/emails/nope/html").await;
    assert_error(missing, 404, "NotFound").await;
}

#[tokio::test]
async fn browsers_cannot_post_to_the_control_api_from_another_origin() {
    // Arrange
    let app = spawn_app().await;
    app.create_identity().await;
    let host = app.http.trim_start_matches("http://").to_owned();

    // Act + Assert: another origin, or a cross-site fetch, is refused and changes nothing.
    for (name, value) in [
        ("origin", "http://evil.example".to_owned()),
        ("origin", "null".to_owned()),
        ("sec-fetch-site", "cross-site".to_owned()),
        ("sec-fetch-site", "same-site".to_owned()),
    ] {
        let res = app
            .client
            .post(format!("{}/_emulator/reset", app.http))
            .header(name, value)
            .send()
            .await
            .expect("sent");
        assert_error(res, 403, "Forbidden").await;
    }
    assert_eq!(app.state.store().identities.len(), 1);
    // The page itself (same origin) and clients that send neither header pass.
    let res = app
        .client
        .post(format!("{}/_emulator/identities", app.http))
        .header("origin", format!("http://{host}"))
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 201);
    // Reads are not refused (a cross-origin page cannot read the answer anyway).
    let res = app
        .client
        .get(format!("{}/_emulator/identities", app.http))
        .header("origin", "http://evil.example")
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn with_a_control_token_the_login_sets_a_cookie_the_control_api_accepts() {
    // Arrange
    let mut config = Config::for_tests();
    config.control.control_token = Some(TOKEN.into());
    let app = spawn_with(config).await;
    // The page is open (it holds no data); its data is not.
    assert_eq!(get(&app, "/_emulator/ui/").await.status(), 200);
    assert_error(get(&app, "/_emulator/ui/stream").await, 401, "Unauthorized").await;

    // Act
    let wrong = app
        .client
        .post(format!("{}/_emulator/ui/login", app.http))
        .json(&json!({"token": "wrong"}))
        .send()
        .await
        .expect("sent");
    let right = app
        .client
        .post(format!("{}/_emulator/ui/login", app.http))
        .json(&json!({"token": TOKEN}))
        .send()
        .await
        .expect("sent");

    // Assert
    assert_error(wrong, 401, "Unauthorized").await;
    assert_eq!(right.status(), 204);
    let cookie = right.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(cookie.contains("Path=/_emulator"), "{cookie}");
    let pair = cookie.split(';').next().expect("pair").to_owned();
    let res = app
        .client
        .get(format!("{}/_emulator/resources", app.http))
        .header("cookie", &pair)
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 200);
    let forged = app
        .client
        .get(format!("{}/_emulator/resources", app.http))
        .header("cookie", "acs_emulator_control=guess")
        .send()
        .await
        .expect("sent");
    assert_error(forged, 401, "Unauthorized").await;
}

#[tokio::test]
async fn revoke_from_the_control_api_makes_the_next_chat_call_fail_with_401() {
    // Arrange
    let app = spawn_app().await;
    let (user, token) = app.create_user_and_token(&["chat"]).await;
    let thread = app.thread_with(&token, "t", &[&user]).await;

    // Act: a message sent for a participant, then the revoke.
    let sent = app
        .client
        .post(format!(
            "{}/_emulator/chat/threads/{}/messages",
            app.http,
            encode(&thread)
        ))
        .json(
            &json!({"senderId": user, "content": "from the inspector", "senderDisplayName": "Ann"}),
        )
        .send()
        .await
        .expect("sent");
    let revoked = app
        .client
        .post(format!(
            "{}/_emulator/identities/{}/revoke",
            app.http,
            encode(&user)
        ))
        .send()
        .await
        .expect("sent");

    // Assert
    assert_eq!(sent.status(), 201);
    assert_eq!(revoked.status(), 204);
    let res = app
        .chat(
            "GET",
            &token,
            &format!(
                "/chat/threads/{}/messages?api-version=2025-03-15",
                encode(&thread)
            ),
            None,
        )
        .await;
    assert_eq!(res.status(), 401);
    let messages = body(
        get(
            &app,
            &format!("/_emulator/chat/threads/{}/messages", encode(&thread)),
        )
        .await,
    )
    .await;
    assert!(
        messages.to_string().contains("from the inspector"),
        "{messages}"
    );
}

#[tokio::test]
async fn identities_can_be_created_given_tokens_and_deleted_from_the_control_api() {
    // Arrange
    let app = spawn_app().await;
    let created = body(
        app.client
            .post(format!("{}/_emulator/identities", app.http))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    let id = created["id"].as_str().expect("id").to_owned();

    // Act
    let token = app
        .client
        .post(format!(
            "{}/_emulator/identities/{}/token",
            app.http,
            encode(&id)
        ))
        .json(&json!({"scopes": ["chat"], "expiresInMinutes": 60}))
        .send()
        .await
        .expect("sent");
    let bad_scope = app
        .client
        .post(format!(
            "{}/_emulator/identities/{}/token",
            app.http,
            encode(&id)
        ))
        .json(&json!({"scopes": ["nope"]}))
        .send()
        .await
        .expect("sent");
    let deleted = app
        .client
        .delete(format!("{}/_emulator/identities/{}", app.http, encode(&id)))
        .send()
        .await
        .expect("sent");
    let unknown = app
        .client
        .post(format!(
            "{}/_emulator/identities/not-a-user/revoke",
            app.http
        ))
        .send()
        .await
        .expect("sent");

    // Assert
    let token = body(token).await;
    let jwt = token["token"].as_str().expect("token").to_owned();
    assert!(token["expiresOn"].is_string());
    assert_error(bad_scope, 400, "ValidationError").await;
    assert_eq!(deleted.status(), 204);
    assert_eq!(app.check_token(&jwt).await.status(), 401);
    assert_error(unknown, 404, "NotFound").await;
}
