//! The control API's guards: the optional control token, the cap on resources and their host
//! names, and forwarded headers the Entra ID authority ignores unless told to trust them.

use std::time::Duration;

use acs_emulator::Config;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, body, spawn_app, spawn_with};

const TOKEN: &str = "a-long-random-control-token-0123456789";

async fn control(
    app: &TestApp,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> reqwest::Response {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = app.client.request(method, format!("{}{path}", app.http));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("sent")
}

mod token {
    use super::*;

    fn with_token() -> Config {
        let mut config = Config::for_tests();
        config.control.control_token = Some(TOKEN.into());
        config
    }

    #[tokio::test]
    async fn control_requests_need_the_token_when_one_is_set() {
        // Arrange
        let app = spawn_with(with_token()).await;

        // Act + Assert: without it, or with another, 401 with the envelope and nothing changes.
        for token in [None, Some("wrong"), Some(&TOKEN[1..])] {
            let res = control(&app, "GET", "/_emulator/resources", token).await;
            let message = assert_error(res, 401, "Unauthorized").await;
            assert!(message.contains("--control-token"), "{message}");
        }
        app.create_identity().await;
        let res = control(&app, "POST", "/_emulator/reset", None).await;
        assert_error(res, 401, "Unauthorized").await;
        assert_eq!(app.state.store().identities.len(), 1, "no reset happened");
        let res = app
            .client
            .post(format!("{}/_emulator/events/subscriptions", app.https))
            .json(&json!({"endpoint": "http://127.0.0.1:9/hook"}))
            .send()
            .await
            .expect("sent");
        assert_error(res, 401, "Unauthorized").await;

        // With it: served.
        let res = control(&app, "GET", "/_emulator/resources", Some(TOKEN)).await;
        assert_eq!(res.status(), 200);
        let res = control(&app, "POST", "/_emulator/reset", Some(TOKEN)).await;
        assert_eq!(res.status(), 200);
        assert_eq!(app.state.store().identities.len(), 0);
    }

    #[tokio::test]
    async fn probes_the_certificate_and_the_data_plane_stay_open() {
        let app = spawn_with(with_token()).await;
        for path in [
            "/_emulator/health",
            "/_emulator/ready",
            "/_emulator/tls-cert",
            "/_emulator/tls-ca-bundle",
        ] {
            let res = control(&app, "GET", path, None).await;
            assert_eq!(res.status(), 200, "{path}");
        }
        // The healthcheck subcommand's probe, readiness included.
        for path in ["/_emulator/health", "/_emulator/ready"] {
            let url = acs_emulator::healthcheck::ProbeUrl::parse(&format!("{}{path}", app.http))
                .expect("url");
            let status = tokio::task::spawn_blocking(move || {
                acs_emulator::healthcheck::probe(&url, Duration::from_secs(3))
            })
            .await
            .expect("joined");
            assert_eq!(status, Ok(200), "{path}");
        }
        // A user token's own check, and the ACS APIs themselves, are not control requests.
        let (_, user_token) = app.create_user_and_token(&["chat"]).await;
        assert_eq!(app.check_token(&user_token).await.status(), 200);
    }

    #[tokio::test]
    async fn unknown_control_paths_need_the_token_and_open_ones_answer_405_without_it() {
        let app = spawn_with(with_token()).await;
        let res = control(&app, "GET", "/_emulator/nothing", None).await;
        assert_error(res, 401, "Unauthorized").await;
        let res = control(&app, "GET", "/_emulator/nothing", Some(TOKEN)).await;
        assert_error(res, 404, "NotFound").await;
        let res = control(&app, "GET", "/_emulator/reset", None).await;
        assert_error(res, 401, "Unauthorized").await;
        let res = control(&app, "GET", "/_emulator/reset", Some(TOKEN)).await;
        assert_error(res, 405, "MethodNotAllowed").await;
        let res = control(&app, "DELETE", "/_emulator/health", None).await;
        assert_error(res, 405, "MethodNotAllowed").await;
    }

    #[tokio::test]
    async fn without_a_token_the_control_api_is_open() {
        let app = spawn_app().await;
        let res = control(&app, "GET", "/_emulator/resources", None).await;
        assert_eq!(res.status(), 200);
    }

    #[test]
    fn an_empty_token_is_a_configuration_error() {
        for bad in ["", " padded "] {
            let mut config = Config::for_tests();
            config.control.control_token = Some(bad.into());
            let err = config.validate().expect_err("refused");
            assert!(err.to_string().contains("--control-token"), "{err}");
        }
    }
}

mod resources {
    use super::*;

    fn resource(name: &str, key: &str, endpoint: &str) -> Value {
        json!({"resources": [{"name": name, "accessKey": key, "endpoints": [endpoint]}]})
    }

    async fn load(app: &TestApp, fixture: &Value) -> reqwest::Response {
        app.client
            .post(format!("{}/_emulator/fixtures", app.http))
            .json(fixture)
            .send()
            .await
            .expect("sent")
    }

    #[tokio::test]
    async fn resources_past_the_cap_are_refused_with_403() {
        // Arrange: room for default and one more.
        let mut config = Config::for_tests();
        config.resource.max_resources = 2;
        let app = spawn_with(config).await;

        // Act
        let first = load(&app, &resource("one", "b25l", "https://one.localhost")).await;
        let second = load(&app, &resource("two", "dHdv", "https://two.localhost")).await;

        // Assert
        assert_eq!(first.status(), 201, "{}", body(first).await);
        let message = assert_error(second, 403, "ResourceLimitReached").await;
        assert!(message.contains("--max-resources"), "{message}");
        assert_eq!(app.state.resources.all().len(), 2);
    }

    #[tokio::test]
    async fn a_fixture_past_the_cap_stops_the_start() {
        let dir = std::env::temp_dir().join(format!("acs-emulator-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("two.json");
        let fixture = json!({"resources": [
            {"name": "one", "accessKey": "b25l"}, {"name": "two", "accessKey": "dHdv"}]});
        std::fs::write(&path, fixture.to_string()).expect("write");
        let mut config = Config::for_tests();
        config.resource.max_resources = 2;
        config.scenarios.fixtures = vec![path];
        let settings = config.validate().expect("valid");
        let err = acs_emulator::Application::build(
            settings,
            std::sync::Arc::new(acs_emulator::Clock::system()),
        )
        .err()
        .expect("refused");
        assert!(err.to_string().contains("--max-resources"), "{err}");
    }

    #[tokio::test]
    async fn host_names_already_claimed_are_refused_with_409() {
        let app = spawn_app().await;
        let first = load(&app, &resource("one", "b25l", "https://one.localhost:8443")).await;
        assert_eq!(first.status(), 201);

        // Another resource's host (any port or case), and the names that address default.
        for (name, endpoint) in [
            ("two", "https://ONE.localhost"),
            ("three", "https://localhost:8443"),
            ("four", "127.0.0.1"),
            ("five", "https://[::1]:8443/"),
        ] {
            let res = load(&app, &resource(name, "dHdv", endpoint)).await;
            let message = assert_error(res, 409, "Conflict").await;
            assert!(message.contains("host name"), "{endpoint}: {message}");
        }
        assert_eq!(app.state.resources.all().len(), 2);
    }
}

mod forwarded {
    use super::*;

    const TENANT: &str = acs_emulator::config::DEFAULT_ENTRA_TENANT;

    async fn issuer(app: &TestApp) -> String {
        let res = app
            .client
            .get(format!(
                "{}/{TENANT}/v2.0/.well-known/openid-configuration",
                app.https
            ))
            .header("x-forwarded-host", "evil.example")
            .header("x-forwarded-proto", "http")
            .header("forwarded", "host=evil.example;proto=http")
            .send()
            .await
            .expect("sent");
        body(res).await["issuer"]
            .as_str()
            .expect("issuer")
            .to_string()
    }

    #[tokio::test]
    async fn the_authority_ignores_forwarded_headers_unless_told_to_trust_them() {
        let app = spawn_app().await;
        assert_eq!(issuer(&app).await, format!("{}/{TENANT}/v2.0", app.https));

        let mut config = Config::for_tests();
        config.tokens.trust_forwarded_headers = true;
        let app = spawn_with(config).await;
        assert_eq!(
            issuer(&app).await,
            format!("http://evil.example/{TENANT}/v2.0")
        );
    }
}
