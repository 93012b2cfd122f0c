//! The control API's view of the SMS opt-out list (`GET|DELETE /_emulator/sms/optouts`).

use serde_json::{Value, json};

use crate::helpers::{TestApp, body, spawn_app};
use crate::sms::FROM;

async fn add(app: &TestApp, to: &[&str]) {
    let request = json!({
        "from": FROM,
        "recipients": to.iter().map(|t| json!({"to": t})).collect::<Vec<_>>(),
    });
    let res = app
        .signed_json("POST", "/sms/optouts:add?api-version=2026-01-23", &request)
        .await;
    assert_eq!(res.status(), 200);
}

async fn list(app: &TestApp, query: &str) -> (u16, Value) {
    let res = app
        .client
        .get(format!("{}/_emulator/sms/optouts{query}", app.http))
        .send()
        .await
        .expect("request sent");
    (res.status().as_u16(), body(res).await)
}

async fn remove(app: &TestApp, query: &str) -> reqwest::Response {
    app.client
        .delete(format!("{}/_emulator/sms/optouts{query}", app.http))
        .send()
        .await
        .expect("request sent")
}

#[tokio::test]
async fn opt_outs_are_listed_sorted_and_removed_one_pair_at_a_time() {
    let app = spawn_app().await;
    let (status, empty) = list(&app, "").await;
    assert_eq!((status, empty), (200, json!({"value": []})));
    add(&app, &["+14255550199", "+14255550123"]).await;

    let (_, listed) = list(&app, "?resource=default").await;
    assert_eq!(
        listed,
        json!({"value": [
            {"from": FROM, "to": "+14255550123"},
            {"from": FROM, "to": "+14255550199"},
        ]})
    );

    let res = remove(&app, &format!("?from=%2B{}&to=%2B14255550123", &FROM[1..])).await;
    assert_eq!(res.status(), 204);
    let (_, listed) = list(&app, "").await;
    assert_eq!(listed["value"].as_array().expect("value").len(), 1);
    // The data plane agrees: the recipient is opted back in.
    let check = app
        .signed_json(
            "POST",
            "/sms/optouts:check?api-version=2026-01-23",
            &json!({"from": FROM, "recipients": [{"to": "+14255550123"}, {"to": "+14255550199"}]}),
        )
        .await;
    let check = body(check).await;
    let opted: Vec<&Value> = check["value"]
        .as_array()
        .expect("value")
        .iter()
        .map(|r| &r["isOptedOut"])
        .collect();
    assert_eq!(opted, [false, true]);
    // An unencoded `+` (a space once decoded) is taken too.
    let res = remove(&app, &format!("?from={FROM}&to=+14255550199")).await;
    assert_eq!(res.status(), 204);
}

#[tokio::test]
async fn removing_a_pair_that_is_not_opted_out_is_404_and_bad_numbers_400() {
    let app = spawn_app().await;
    let res = remove(&app, &format!("?from={FROM}&to=%2B14255550123")).await;
    assert_eq!(res.status(), 404);
    assert_eq!(body(res).await["error"]["code"], "NotFound");
    let res = remove(&app, "?from=%2B18005550100").await;
    assert_eq!(res.status(), 400);
    let res = remove(&app, "?from=%2B18005550100&to=letters").await;
    assert_eq!(res.status(), 400);
    let (status, _) = list(&app, "?resource=nope").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn removing_from_another_origin_is_refused() {
    let app = spawn_app().await;
    add(&app, &["+14255550123"]).await;
    let res = app
        .client
        .delete(format!(
            "{}/_emulator/sms/optouts?from=%2B{}&to=%2B14255550123",
            app.http,
            &FROM[1..]
        ))
        .header("Origin", "http://evil.example")
        .send()
        .await
        .expect("request sent");
    assert_eq!(res.status(), 403);
    assert_eq!(
        list(&app, "").await.1["value"].as_array().expect("v").len(),
        1
    );
}
