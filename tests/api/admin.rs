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
    config.tls_cert_out = Some(path.clone());
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
async fn reset_clears_identities() {
    let app = spawn_app().await;
    app.create_identity().await;
    app.create_identity().await;
    assert_eq!(app.state.store.identities.len(), 2);
    let res = app
        .client
        .post(format!("{}/_emulator/reset", app.http))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 200);
    assert_eq!(app.state.store.identities.len(), 0);
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
