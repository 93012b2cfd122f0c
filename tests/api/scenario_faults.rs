//! Scripted transport faults as a client sees them.

use serde_json::json;

use crate::helpers::{TestApp, spawn_app};

async fn with_fault(fault: &str) -> TestApp {
    let app = spawn_app().await;
    let fixture = json!({"rules": [{"name": "broken", "match": {"operation": "Identity.CreateUser"}, "fault": fault}]});
    let res = app
        .client
        .post(format!("{}/_emulator/fixtures", app.http))
        .json(&fixture)
        .send()
        .await
        .expect("fixture loaded");
    assert_eq!(res.status(), 201);
    app
}

async fn journaled_statuses(app: &TestApp) -> Vec<u64> {
    let journal: serde_json::Value = app
        .client
        .get(format!("{}/_emulator/journal", app.http))
        .send()
        .await
        .expect("journal")
        .json()
        .await
        .expect("json");
    journal["value"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["status"].as_u64().expect("status"))
        .collect()
}

#[tokio::test]
async fn a_truncated_body_sends_the_head_then_breaks_off() {
    // Arrange
    let app = with_fault("truncatedBody").await;

    // Act
    let res = app
        .signed("POST", "/identities?api-version=2023-10-01", b"{}")
        .await;

    // Assert: the status line and headers arrive, the 64 announced bytes do not.
    assert_eq!(res.status(), 200);
    assert_eq!(res.content_length(), Some(64));
    assert!(res.bytes().await.is_err(), "the body must be cut short");
    assert_eq!(journaled_statuses(&app).await, [0]);
}

#[tokio::test]
async fn an_empty_response_sends_nothing() {
    let app = with_fault("emptyResponse").await;

    let target = "/identities?api-version=2023-10-01";
    let signature = app.sign("POST", target, b"{}");
    let mut request = app.client.post(format!("{}{target}", app.http)).body("{}");
    for (name, value) in signature.headers() {
        request = request.header(name, value);
    }

    let sent = request.send().await;

    assert!(sent.is_err(), "no status may arrive: {sent:?}");
    assert_eq!(journaled_statuses(&app).await, [0]);
}
