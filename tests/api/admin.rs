//! The emulator's own endpoints under /_emulator.

use crate::helpers::{body, spawn_app};

#[tokio::test]
async fn health_answers_on_both_listeners_without_auth() {
    let app = spawn_app().await;
    for base in [&app.http, &app.https] {
        let res = app
            .client
            .get(format!("{base}/_emulator/health"))
            .send()
            .await
            .expect("sent");
        assert_eq!(res.status(), 200);
        assert_eq!(body(res).await["status"], "healthy");
    }
}

#[tokio::test]
async fn the_certificate_is_served_and_matches_the_written_file() {
    let dir = std::env::temp_dir().join(format!("acs-emulator-test-{}", uuid::Uuid::new_v4()));
    let path = dir.join("nested").join("cert.pem");
    let mut config = acs_emulator::Config::for_tests();
    config.listeners.tls_cert_out = Some(path.clone());
    let app = crate::helpers::spawn_with(config).await;
    let res = app
        .client
        .get(format!("{}/_emulator/tls-cert", app.http))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 200);
    let served = res.text().await.expect("pem");
    assert!(
        served.starts_with("-----BEGIN CERTIFICATE-----"),
        "{served}"
    );
    assert_eq!(std::fs::read_to_string(&path).expect("written"), served);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn the_ca_bundle_holds_the_certificate_and_the_system_roots_and_is_removed_on_exit() {
    use std::sync::Arc;
    let settings = acs_emulator::Config::for_tests().validate().expect("valid");
    let app = acs_emulator::Application::build(settings, Arc::new(acs_emulator::Clock::system()))
        .expect("builds");
    // Both files the emulator named itself: per port, in the temp directory.
    let port = app.https_addr().port();
    let cert_path = app.cert_path().expect("cert path").clone();
    let bundle_path = app.ca_bundle_path().clone();
    assert_eq!(cert_path, acs_emulator::config::default_cert_path(port));
    assert_eq!(
        bundle_path,
        acs_emulator::config::default_ca_bundle_path(port)
    );
    let http = format!("http://127.0.0.1:{}", app.http_addr().port());
    let https = format!("https://127.0.0.1:{port}");
    let handle = app.handle();
    let server = tokio::spawn(app.run());

    let served = reqwest::get(format!("{http}/_emulator/tls-ca-bundle"))
        .await
        .expect("sent")
        .text()
        .await
        .expect("pem");
    let written = std::fs::read_to_string(&bundle_path).expect("bundle written");
    assert_eq!(served, written);
    let cert = std::fs::read_to_string(&cert_path).expect("cert written");
    let certs: Vec<reqwest::Certificate> =
        reqwest::Certificate::from_pem_bundle(served.as_bytes()).expect("a PEM bundle");
    // The emulator's certificate first, then the machine's roots (never fewer than a few dozen).
    let first = served.find("-----BEGIN").expect("a certificate");
    assert!(served[first..].starts_with(cert.trim_end()), "{served}");
    let roots = &acs_emulator::trust::system_roots().certs;
    assert!(roots.len() > 20, "{} roots", roots.len());
    assert_eq!(certs.len(), roots.len() + 1);

    // A client that trusts exactly the bundle verifies the emulator.
    let mut builder = reqwest::Client::builder().tls_built_in_root_certs(false);
    for cert in certs {
        builder = builder.add_root_certificate(cert);
    }
    let res = builder
        .build()
        .expect("client")
        .get(format!("{https}/_emulator/health"))
        .send()
        .await
        .expect("TLS verified with the bundle");
    assert_eq!(res.status(), 200);

    handle.stop(true).await;
    server.await.expect("joined").expect("stopped cleanly");
    assert!(!cert_path.exists(), "{} left behind", cert_path.display());
    assert!(
        !bundle_path.exists(),
        "{} left behind",
        bundle_path.display()
    );
}

#[tokio::test]
async fn files_the_user_named_stay_after_exit() {
    use std::sync::Arc;
    let dir = std::env::temp_dir().join(format!("acs-emulator-test-{}", uuid::Uuid::new_v4()));
    let mut config = acs_emulator::Config::for_tests();
    config.listeners.tls_cert_out = Some(dir.join("cert.pem"));
    config.listeners.tls_ca_bundle_out = Some(dir.join("bundle.pem"));
    let settings = config.validate().expect("valid");
    let app = acs_emulator::Application::build(settings, Arc::new(acs_emulator::Clock::system()))
        .expect("builds");
    let handle = app.handle();
    let server = tokio::spawn(app.run());
    handle.stop(true).await;
    server.await.expect("joined").expect("stopped cleanly");
    for name in ["cert.pem", "bundle.pem"] {
        let text = std::fs::read_to_string(dir.join(name)).expect("still there");
        assert!(text.contains("-----BEGIN CERTIFICATE-----"), "{name}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn reset_clears_identities() {
    let app = spawn_app().await;
    app.create_identity().await;
    app.create_identity().await;
    assert_eq!(app.state.store().identities.len(), 2);
    let res = app
        .client
        .post(format!("{}/_emulator/reset", app.http))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 200);
    assert_eq!(app.state.store().identities.len(), 0);
}

#[tokio::test]
async fn ready_answers_200_once_started() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(format!("{}/_emulator/ready", app.http))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 200);
    assert_eq!(body(res).await["status"], "ready");
}

mod clock {
    use crate::helpers::{assert_error, body, spawn_app};
    use serde_json::{Value, json};

    async fn post(app: &crate::helpers::TestApp, change: Value) -> reqwest::Response {
        app.client
            .post(format!("{}/_emulator/clock", app.http))
            .json(&change)
            .send()
            .await
            .expect("sent")
    }

    #[tokio::test]
    async fn advancing_the_clock_expires_tokens_without_waiting() {
        let app = spawn_app().await;
        let (_, token) = app.create_user_and_token(&["chat"]).await;
        assert_eq!(app.check_token(&token).await.status(), 200);
        let res = post(&app, json!({"advance": "25h"})).await;
        assert_eq!(res.status(), 200);
        let state = body(res).await;
        assert!(state["offsetMs"].as_i64().expect("offset") >= 25 * 3600 * 1000 - 1000);
        let message = assert_error(app.check_token(&token).await, 401, "Unauthorized").await;
        assert!(message.contains("expired"), "{message}");
        // Back to real time: the token is valid again (it has not really expired).
        let res = post(&app, json!({"real": true})).await;
        assert!(body(res).await["offsetMs"].as_i64().expect("offset").abs() < 1000);
        assert_eq!(app.check_token(&token).await.status(), 200);
    }

    #[tokio::test]
    async fn the_clock_can_be_set_frozen_and_read() {
        let app = spawn_app().await;
        let res = post(&app, json!({"set": "2030-01-02T03:04:05Z", "freeze": true})).await;
        let state = body(res).await;
        assert_eq!(state["now"], "2030-01-02T03:04:05.000Z");
        assert_eq!(state["frozen"], true);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let state = body(
            app.client
                .get(format!("{}/_emulator/clock", app.http))
                .send()
                .await
                .expect("sent"),
        )
        .await;
        assert_eq!(
            state["now"], "2030-01-02T03:04:05.000Z",
            "a frozen clock stands still"
        );
        let state = body(post(&app, json!({"advance": "-5m"})).await).await;
        assert_eq!(state["now"], "2030-01-02T02:59:05.000Z");
        let state = body(post(&app, json!({"freeze": false})).await).await;
        assert_eq!(state["frozen"], false);
    }

    #[tokio::test]
    async fn bad_clock_changes_are_validation_errors() {
        let app = spawn_app().await;
        for change in [
            json!({"advance": "soon"}),
            json!({"set": "yesterday"}),
            json!({"set": "2030-01-02T03:04:05Z", "advance": "1s"}),
            json!({"real": true, "freeze": true}),
        ] {
            assert_error(post(&app, change.clone()).await, 400, "ValidationError").await;
        }
        assert_error(
            post(&app, json!({"travel": "1h"})).await,
            400,
            "InvalidRequestBody",
        )
        .await;
    }

    /// `GET /_emulator/clock`.
    async fn read(app: &crate::helpers::TestApp) -> Value {
        let res = app
            .client
            .get(format!("{}/_emulator/clock", app.http))
            .send()
            .await
            .expect("sent");
        assert_eq!(res.status(), 200);
        body(res).await
    }

    #[tokio::test]
    async fn changes_outside_the_clocks_range_are_refused_and_change_nothing() {
        let app = spawn_app().await;
        let (_, token) = app.create_user_and_token(&["chat"]).await;
        for change in [
            json!({"advance": "1000000y"}),
            json!({"advance": "-1000000y"}),
            json!({"advance": "-100y"}),
            json!({"advance": "8000y"}),
            json!({"advance": "100000000000000000000y"}),
            json!({"set": "1969-06-01T00:00:00Z"}),
            json!({"set": "9999-12-31T00:00:00Z"}),
            json!({"set": "9999-01-01T00:00:00Z", "freeze": true}),
            json!({"set": "0000-01-01T00:00:00Z", "freeze": false}),
            json!({"freeze": true, "advance": "1000000y"}),
        ] {
            let message =
                assert_error(post(&app, change.clone()).await, 400, "ValidationError").await;
            assert!(
                message.contains("1970-01-01T00:00:00Z to 9998-12-31T23:59:59.999Z")
                    || message.contains("too large"),
                "{change}: {message}"
            );
            let state = read(&app).await;
            assert!(
                state["offsetMs"].as_i64().expect("offset").abs() < 5000,
                "{change} moved the clock: {state}"
            );
            assert_eq!(state["frozen"], false, "{change} froze the clock");
        }
        // Signed and chat requests are served as before.
        app.create_identity().await;
        assert_eq!(app.check_token(&token).await.status(), 200);
    }

    #[tokio::test]
    async fn the_ends_of_the_range_can_be_reached_but_not_passed() {
        let app = spawn_app().await;
        let state =
            body(post(&app, json!({"set": "1970-01-01T00:00:00Z", "freeze": true})).await).await;
        assert_eq!(state["now"], "1970-01-01T00:00:00.000Z");
        assert_error(
            post(&app, json!({"advance": "-1ms"})).await,
            400,
            "ValidationError",
        )
        .await;
        let state = body(post(&app, json!({"set": "9998-12-31T23:59:59.999Z"})).await).await;
        assert_eq!(state["now"], "9998-12-31T23:59:59.999Z");
        assert_error(
            post(&app, json!({"advance": "2d"})).await,
            400,
            "ValidationError",
        )
        .await;
        assert_eq!(read(&app).await["now"], "9998-12-31T23:59:59.999Z");
        // A user token issued there expires within year 9999, and reads back.
        let (_, token) = app.create_user_and_token(&["chat"]).await;
        let info = body(app.check_token(&token).await).await;
        assert!(
            info["expiresOn"]
                .as_str()
                .expect("expiresOn")
                .starts_with("9999-"),
            "{info}"
        );
        let state = body(post(&app, json!({"real": true})).await).await;
        assert!(state["offsetMs"].as_i64().expect("offset").abs() < 5000);
    }
}
