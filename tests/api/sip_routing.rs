//! SIP routing (`GET/PATCH /sip`, api-version 2023-03-01): merge-patch of trunks, routes
//! replaced in order, and the service's errors for invalid trunks, routes and patterns.

use acs_emulator::Config;
use reqwest::Response;
use serde_json::{Value, json};

use crate::helpers::{TestApp, body, spawn_app, spawn_with};

const V: &str = "2023-03-01";

impl TestApp {
    async fn sip_get(&self) -> Value {
        let res = self
            .signed("GET", &format!("/sip?api-version={V}"), b"")
            .await;
        assert_eq!(res.status(), 200);
        body(res).await
    }

    async fn sip_patch(&self, patch: &Value) -> Response {
        self.signed_json("PATCH", &format!("/sip?api-version={V}"), patch)
            .await
    }
}

/// Asserts a SIP error: status, `UnprocessableConfiguration` and the inner code.
async fn assert_sip_error(res: Response, status: u16, inner: &str) {
    assert_eq!(res.status(), status);
    let body = body(res).await;
    assert_eq!(
        body["error"]["code"], "UnprocessableConfiguration",
        "{body}"
    );
    assert_eq!(
        body["error"]["message"],
        "One or more request inputs are not valid."
    );
    assert_eq!(body["error"]["innererror"]["code"], inner, "{body}");
}

fn route(name: &str, pattern: &str, trunks: &[&str]) -> Value {
    json!({"name": name, "numberPattern": pattern, "trunks": trunks})
}

#[actix_web::test]
async fn trunks_merge_and_routes_replace_in_order() {
    let app = spawn_app().await;
    assert_eq!(app.sip_get().await, json!({"trunks": {}, "routes": []}));
    let res = app
        .sip_patch(&json!({"trunks": {
            "sbc1.contoso.com": {"sipSignalingPort": 5061},
            "sbc2.contoso.com": {"sipSignalingPort": 5062},
        }}))
        .await;
    assert_eq!(res.status(), 200);
    let config = body(res).await;
    assert_eq!(
        config["trunks"]["sbc2.contoso.com"]["sipSignalingPort"],
        5062
    );
    assert_eq!(config["routes"], json!([]));

    let routes = json!([
        route("second", "^\\+1425[0-9]{7}$", &["sbc2.contoso.com", "sbc1.contoso.com"]),
        {"name": "first", "description": "everything else", "numberPattern": "^+[1-9][0-9]{3,23}$", "trunks": ["sbc1.contoso.com"]},
    ]);
    let res = app.sip_patch(&json!({"routes": routes})).await;
    assert_eq!(res.status(), 200);
    let config = body(res).await;
    assert_eq!(config["routes"][0]["name"], "second");
    assert_eq!(
        config["routes"][0]["trunks"],
        json!(["sbc2.contoso.com", "sbc1.contoso.com"])
    );
    assert_eq!(config["routes"][1]["description"], "everything else");
    assert_eq!(
        config["trunks"].as_object().expect("trunks").len(),
        2,
        "routes leave trunks alone"
    );

    // A trunk update leaves routes alone; deleting an unknown trunk is a no-op.
    let res = app
        .sip_patch(&json!({"trunks": {"sbc2.contoso.com": {"sipSignalingPort": 6000}, "nope.contoso.com": null}}))
        .await;
    assert_eq!(res.status(), 200);
    let config = app.sip_get().await;
    assert_eq!(
        config["trunks"]["sbc2.contoso.com"]["sipSignalingPort"],
        6000
    );
    assert_eq!(config["routes"].as_array().expect("routes").len(), 2);

    // A trunk a route uses cannot go; once the routes are cleared it can.
    let res = app
        .sip_patch(&json!({"trunks": {"sbc2.contoso.com": null}}))
        .await;
    assert_sip_error(res, 422, "MissingTrunk").await;
    let res = app.sip_patch(&json!({"routes": []})).await;
    assert_eq!(res.status(), 200);
    let res = app
        .sip_patch(&json!({"trunks": {"sbc2.contoso.com": null}}))
        .await;
    assert_eq!(res.status(), 200);
    let config = body(res).await;
    assert_eq!(config["trunks"].as_object().expect("trunks").len(), 1);
    assert_eq!(config["routes"], json!([]));

    // Reset forgets the configuration.
    app.reset().await;
    assert_eq!(app.sip_get().await, json!({"trunks": {}, "routes": []}));
}

#[actix_web::test]
async fn invalid_configurations_are_refused_with_the_services_errors() {
    let app = spawn_app().await;
    let res = app
        .sip_patch(&json!({"trunks": {"sbc.contoso.com": {"sipSignalingPort": 5061}}}))
        .await;
    assert_eq!(res.status(), 200);
    let cases = [
        (json!({"trunks": {}}), 422, "EmptyPatch"),
        (json!({}), 422, "EmptyPatch"),
        (
            json!({"trunks": {"-1": {"sipSignalingPort": 5061}}}),
            422,
            "InvalidTrunkFqdn",
        ),
        (
            json!({"trunks": {"sbc.contoso.onmicrosoft.com": {"sipSignalingPort": 5061}}}),
            422,
            "InvalidTrunkFqdn",
        ),
        (
            json!({"trunks": {"x.contoso.com": {"sipSignalingPort": 0}}}),
            422,
            "InvalidTrunkSipSignalingPort",
        ),
        (
            json!({"trunks": {"x.contoso.com": {}}}),
            422,
            "InvalidTrunkSipSignalingPort",
        ),
        (
            json!({"routes": [route("", "^\\+1", &[])]}),
            422,
            "InvalidRouteName",
        ),
        (
            json!({"routes": [route("r", "", &[])]}),
            422,
            "InvalidRouteNumberPattern",
        ),
        (
            json!({"routes": [route("r", "([0-9]", &[])]}),
            422,
            "InvalidRouteNumberPattern",
        ),
        (
            json!({"routes": [route("r", &"a".repeat(1025), &[])]}),
            422,
            "InvalidRouteNumberPattern",
        ),
        (
            json!({"routes": [route("r", "^\\+1", &["missing.contoso.com"])]}),
            422,
            "MissingTrunk",
        ),
        (
            json!({"routes": [route("r", "^\\+1", &[]), route("r", "^\\+2", &[])]}),
            400,
            "DuplicatedRoute",
        ),
        (
            json!({"routes": [route("r", "^\\+1", &["sbc.contoso.com", "sbc.contoso.com"])]}),
            400,
            "RouteWithDuplicatedTrunk",
        ),
    ];
    for (patch, status, inner) in cases {
        let res = app.sip_patch(&patch).await;
        assert_sip_error(res, status, inner).await;
    }
    // Nothing changed; .NET-only constructs are taken.
    assert_eq!(app.sip_get().await["routes"], json!([]));
    let res = app
        .sip_patch(
            &json!({"routes": [route("lookahead", "^(?=\\+1)\\+[0-9]+$", &["sbc.contoso.com"])]}),
        )
        .await;
    assert_eq!(res.status(), 200);
    // A pattern that compiles past the size bound is refused.
    let huge = format!("^({}){{1000}}$", "[0-9]{1,100}");
    let res = app
        .sip_patch(&json!({"routes": [route("huge", &huge, &[])]}))
        .await;
    assert_sip_error(res, 422, "InvalidRouteNumberPattern").await;
    // The old SIP api-version is served; a phone-numbers one is not.
    let res = app.signed("GET", "/sip?api-version=2025-06-01", b"").await;
    assert_eq!(res.status(), 400);
}

#[actix_web::test]
async fn trunks_must_be_in_the_resources_domains_when_it_has_some() {
    let mut config = Config::for_tests();
    config.email.email_domains = vec!["contoso.com".into()];
    let app = spawn_with(config).await;
    let res = app
        .sip_patch(&json!({"trunks": {"sbc.contoso.com": {"sipSignalingPort": 5061}}}))
        .await;
    assert_eq!(res.status(), 200);
    let res = app
        .sip_patch(&json!({"trunks": {"sbc.fabrikam.com": {"sipSignalingPort": 5061}}}))
        .await;
    assert_sip_error(res, 422, "UnverifiedTrunkDomain").await;
}
