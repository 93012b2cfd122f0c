//! Each event's delivery attempts and redelivering a delivered or dead-lettered event
//! (`POST /_emulator/events/{id}/redeliver`).

use serde_json::{Value, json};

use crate::events::spawn_events_app;
use crate::helpers::{TestApp, body};
use crate::webhook::{Behaviour, Webhook};

fn hi() -> Value {
    json!({"from": "+14255550123", "to": "+18005550100", "message": "hi"})
}

impl TestApp {
    /// `POST /_emulator/events/{id}/redeliver<query>`: the status and body.
    async fn redeliver(&self, id: &str, query: &str) -> (u16, Value) {
        let res = self
            .client
            .post(format!(
                "{}/_emulator/events/{id}/redeliver{query}",
                self.http
            ))
            .send()
            .await
            .expect("request sent");
        let status = res.status().as_u16();
        (status, body(res).await)
    }
}

#[tokio::test]
async fn each_attempt_is_listed_with_its_time_status_and_duration() {
    let app = spawn_events_app().await;
    let hook = Webhook::with(Behaviour {
        fail_first: 2,
        fail_status: 503,
        ..Behaviour::default()
    })
    .await;
    app.subscribe(&json!({"name": "flaky", "endpoint": hook.url}))
        .await;

    app.inbound_sms(&hi()).await;

    let delivered = app.wait_events("state=delivered", 1).await;
    let attempts = delivered[0]["deliveryAttempts"]
        .as_array()
        .expect("deliveryAttempts");
    let statuses: Vec<&Value> = attempts.iter().map(|a| &a["status"]).collect();
    assert_eq!(statuses, [503, 503, 200]);
    for a in attempts {
        assert_eq!(a["subscription"], "flaky");
        assert!(a["at"].as_str().expect("at").ends_with('Z'), "{a}");
        assert!(a["durationMs"].as_f64().expect("durationMs") >= 0.0);
    }
    assert_eq!(attempts[0]["error"], "the webhook answered 503");
    assert!(attempts[2].get("error").is_none(), "{}", attempts[2]);
}

#[tokio::test]
async fn a_dead_letter_is_redelivered_and_keeps_its_earlier_attempts() {
    // Arrange: three failures dead-letter the event; the webhook accepts the fourth request.
    let app = spawn_events_app().await;
    let hook = Webhook::with(Behaviour {
        fail_first: 3,
        ..Behaviour::default()
    })
    .await;
    app.subscribe(&json!({"name": "broken", "endpoint": hook.url}))
        .await;
    app.inbound_sms(&hi()).await;
    let dead = app.wait_events("state=deadlettered", 1).await;
    let id = dead[0]["id"].as_str().expect("id").to_string();
    let subs = app
        .admin_get("/_emulator/events/subscriptions/broken")
        .await;
    assert_eq!(subs["deadLettered"], 1);

    // Act
    let (status, queued) = app.redeliver(&id, "").await;

    // Assert
    assert_eq!(status, 202, "{queued}");
    assert_eq!(queued["queued"], 1);
    let delivered = app.wait_events("state=delivered", 1).await;
    assert_eq!(delivered[0]["id"], id.as_str());
    assert_eq!(delivered[0]["attempts"], 1);
    assert!(delivered[0].get("deadLetterReason").is_none());
    let statuses: Vec<&Value> = delivered[0]["deliveryAttempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .map(|a| &a["status"])
        .collect();
    assert_eq!(statuses, [500, 500, 500, 200]);
    assert!(app.events_now("state=deadlettered").await.is_empty());
    let subs = app
        .admin_get("/_emulator/events/subscriptions/broken")
        .await;
    assert_eq!(
        (subs["deadLettered"].as_u64(), subs["delivered"].as_u64()),
        (Some(0), Some(1))
    );
    // The webhook got the same event again (same id), as Event Grid redelivers.
    let ids: Vec<String> = hook
        .events()
        .iter()
        .map(|e| e["id"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(ids, std::slice::from_ref(&id));

    // A delivered event may be redelivered too, for one subscription by name.
    let (status, _) = app.redeliver(&id, "?subscription=broken").await;
    assert_eq!(status, 202);
    app.wait_events("state=delivered", 1).await;
    let (status, _) = app.redeliver(&id, "?subscription=other").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn an_unknown_event_is_404_and_a_pending_one_409() {
    let app = spawn_events_app().await;
    let (status, err) = app.redeliver("no-such-event", "").await;
    assert_eq!(status, 404, "{err}");
    assert_eq!(err["error"]["code"], "NotFound");

    // A webhook that takes connections and never answers: the event stays in delivery.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/", silent.local_addr().expect("addr"));
    app.subscribe(&json!({"name": "slow", "endpoint": url, "skipValidation": true}))
        .await;
    app.inbound_sms(&hi()).await;
    let pending = app.wait_events("state=pending", 1).await;
    let id = pending[0]["id"].as_str().expect("id");
    let (status, err) = app.redeliver(id, "").await;
    assert_eq!(status, 409, "{err}");
    assert_eq!(err["error"]["code"], "Conflict");
}

#[tokio::test]
async fn redelivery_from_another_origin_is_refused() {
    let app = spawn_events_app().await;
    let res = app
        .client
        .post(format!("{}/_emulator/events/x/redeliver", app.http))
        .header("Origin", "http://evil.example")
        .send()
        .await
        .expect("request sent");
    assert_eq!(res.status(), 403);
}
