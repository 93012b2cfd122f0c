//! CORS: browser pages on another origin reach every route.

use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

const ORIGIN: &str = "http://localhost:5173";

#[tokio::test]
async fn preflights_are_answered_on_every_path_before_authentication() {
    let app = spawn_app().await;
    for path in [
        "/chat/config/realTimeNotifications?api-version=2024-09-01",
        "/chat/threads?api-version=2024-03-07",
        "/identities?api-version=2023-10-01",
        "/no/such/path",
        "/_emulator/sms",
        "/v4/a?epid=x",
    ] {
        let res = app
            .client
            .request(Method::OPTIONS, format!("{}{path}", app.https))
            .header("Origin", ORIGIN)
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "authorization,x-ms-client-request-id,x-skypetoken",
            )
            .send()
            .await
            .expect("preflight");
        assert_eq!(res.status(), 204, "{path}");
        let h = res.headers();
        assert_eq!(h["access-control-allow-origin"], ORIGIN, "{path}");
        assert_eq!(h["access-control-allow-methods"], "POST", "{path}");
        assert_eq!(
            h["access-control-allow-headers"], "authorization,x-ms-client-request-id,x-skypetoken",
            "{path}"
        );
    }
    // A Private Network Access preflight is answered, but not granted: public sites stay away.
    let res = app
        .client
        .request(Method::OPTIONS, format!("{}/_emulator/resources", app.http))
        .header("Origin", "https://example.com")
        .header("Access-Control-Request-Method", "GET")
        .header("Access-Control-Request-Private-Network", "true")
        .send()
        .await
        .expect("preflight");
    assert_eq!(res.status(), 204);
    assert!(
        !res.headers()
            .contains_key("access-control-allow-private-network")
    );
    // A plain OPTIONS (no preflight headers) is routed like any request.
    let res = app
        .client
        .request(Method::OPTIONS, format!("{}/chat/threads", app.https))
        .send()
        .await
        .expect("options");
    assert_ne!(res.status(), 204);
}

#[tokio::test]
async fn every_response_allows_the_origin_and_exposes_what_sdks_read() {
    let app = spawn_app().await;
    // An error: no credentials.
    let res = app
        .client
        .get(format!("{}/chat/threads?api-version=2024-03-07", app.https))
        .header("Origin", ORIGIN)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["access-control-allow-origin"], ORIGIN);
    let exposed = res.headers()["access-control-expose-headers"]
        .to_str()
        .expect("ascii")
        .to_string();
    for name in [
        "www-authenticate",
        "location",
        "operation-location",
        "retry-after",
        "x-ms-client-request-id",
    ] {
        assert!(exposed.contains(name), "{name} in {exposed}");
    }
    // A success, with a user token, and without Origin (not a browser's cross-origin request):
    // no CORS headers, but `Vary: Origin` for caches.
    let (_, token) = app.create_user_and_token(&["chat"]).await;
    let res = app
        .client
        .post(format!("{}/chat/threads?api-version=2024-03-07", app.https))
        .bearer_auth(&token)
        .json(&json!({"topic": "cors"}))
        .send()
        .await
        .expect("create");
    assert_eq!(res.status(), 201);
    assert!(!res.headers().contains_key("access-control-allow-origin"));
    assert!(!res.headers().contains_key("access-control-expose-headers"));
    assert_eq!(res.headers()["vary"], "Origin");
    // An unknown path and the control plane.
    for url in [
        format!("{}/nowhere", app.https),
        format!("{}/_emulator/health", app.http),
    ] {
        let res = app
            .client
            .get(&url)
            .header("Origin", ORIGIN)
            .send()
            .await
            .expect("request");
        assert_eq!(
            res.headers()["access-control-allow-origin"],
            ORIGIN,
            "{url}"
        );
    }
}
