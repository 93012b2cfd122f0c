//! The test outbox: `GET /_emulator/sms` (filters, long-poll) and `DELETE /_emulator/sms`.

use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use serde_json::json;

use crate::helpers::{body, spawn_app};
use crate::sms::{FROM, assert_accepted, send_body};

#[tokio::test]
async fn the_outbox_shows_everything_about_an_accepted_message() {
    let app = spawn_app().await;
    let now = Utc::now();
    app.state
        .clock
        .freeze_at(now)
        .expect("within the clock's range");
    let request = json!({
        "from": FROM,
        "smsRecipients": [{"to": "+14255550123", "repeatabilityRequestId": "r-1",
                           "repeatabilityFirstSent": acs_emulator::auth::hmac::http_date(now)}],
        "message": "ж".repeat(71),
        "smsSendOptions": {"enableDeliveryReport": true, "tag": "t1", "deliveryReportTimeoutInSeconds": 300},
    });
    let res = app
        .signed_json("POST", "/sms?api-version=2026-01-23", &request)
        .await;
    let id = assert_accepted(
        &body(res).await["value"][0],
        "+14255550123",
        Some("accepted"),
    );

    let outbox = app.outbox("").await;

    let at = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    assert_eq!(
        outbox,
        vec![json!({
            "messageId": id,
            "from": FROM,
            "to": "+14255550123",
            "message": "ж".repeat(71),
            "tag": "t1",
            "enableDeliveryReport": true,
            "deliveryReportTimeoutInSeconds": 300,
            "repeatabilityRequestId": "r-1",
            "apiVersion": "2026-01-23",
            "sentAt": at,
            "deliveryReportAt": at,
            "encoding": "UCS-2",
            "segments": 2,
        })]
    );
}

#[tokio::test]
async fn a_report_delay_past_year_9999_puts_the_report_at_its_end() {
    let mut config = acs_emulator::Config::for_tests();
    config.sms.sms_delivery_report_delay = Duration::MAX;
    let app = crate::helpers::spawn_with(config).await;
    let request = json!({
        "from": FROM,
        "smsRecipients": [{"to": "+14255550123"}],
        "message": "later",
        "smsSendOptions": {"enableDeliveryReport": true},
    });
    let res = app.send_sms(&request).await;
    assert_eq!(res.status(), 202);
    let outbox = app.outbox("").await;
    assert_eq!(outbox[0]["deliveryReportAt"], "9999-12-31T23:59:59.000Z");
}

#[tokio::test]
async fn filters_select_by_to_from_tag_and_since() {
    let app = spawn_app().await;
    let start = Utc::now();
    app.state
        .clock
        .freeze_at(start)
        .expect("within the clock's range");
    let mut tagged = send_body(&["+14255550123"], "one");
    tagged["smsSendOptions"] = json!({"enableDeliveryReport": false, "tag": "a"});
    app.send_sms(&tagged).await;
    app.state
        .clock
        .advance(TimeDelta::seconds(10))
        .expect("within the clock's range");
    app.send_sms(&send_body(&["+14255550124"], "two")).await;

    let messages = |v: Vec<serde_json::Value>| -> Vec<String> {
        v.iter()
            .map(|m| m["message"].as_str().expect("message").to_string())
            .collect()
    };
    assert_eq!(messages(app.outbox("").await), ["one", "two"]);
    assert_eq!(messages(app.outbox("to=%2B14255550124").await), ["two"]);
    // An unencoded `+` decodes to a space; the number is still understood.
    assert_eq!(messages(app.outbox("to=+14255550123").await), ["one"]);
    assert_eq!(messages(app.outbox("tag=a").await), ["one"]);
    assert_eq!(
        messages(app.outbox("from=%2B18005550100&tag=nope").await),
        Vec::<String>::new()
    );
    let since = (start + TimeDelta::seconds(5)).to_rfc3339();
    assert_eq!(
        messages(
            app.outbox(&format!("since={}", since.replace('+', "%2B")))
                .await
        ),
        ["two"]
    );
}

#[tokio::test]
async fn bad_outbox_queries_are_400() {
    let app = spawn_app().await;
    for query in ["to=abc", "since=yesterday", "wait=soon", "count=0"] {
        let res = app
            .client
            .get(format!("{}/_emulator/sms?{query}", app.http))
            .send()
            .await
            .expect("sent");
        crate::helpers::assert_error(res, 400, "InvalidQueryParameter").await;
    }
}

#[tokio::test]
async fn a_long_poll_returns_as_soon_as_enough_messages_match() {
    let app = spawn_app().await;
    let started = Instant::now();
    let poll = app
        .client
        .get(format!(
            "{}/_emulator/sms?wait=10s&count=2&to=%2B14255550124",
            app.http
        ))
        .send();
    let sends = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        app.send_sms(&send_body(&["+14255550124"], "first")).await;
        app.send_sms(&send_body(&["+14255550123"], "other")).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        app.send_sms(&send_body(&["+14255550124"], "second")).await;
    };

    let (res, ()) = tokio::join!(poll, sends);

    let value = body(res.expect("sent")).await["value"].clone();
    assert_eq!(value.as_array().expect("array").len(), 2, "{value}");
    assert_eq!(value[1]["message"], "second");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_long_poll_gives_up_after_the_wait_with_what_it_has() {
    let app = spawn_app().await;
    app.send_sms(&send_body(&["+14255550123"], "only")).await;
    let started = Instant::now();
    let value = app.outbox("wait=300ms&count=3").await;
    let elapsed = started.elapsed();
    assert_eq!(value.len(), 1);
    assert!(
        elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(3),
        "{elapsed:?}"
    );
    // Already satisfied: no waiting at all.
    let started = Instant::now();
    assert_eq!(app.outbox("wait=30&count=1").await.len(), 1);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn delete_clears_the_outbox_and_reset_clears_all_sms_state() {
    let app = spawn_app().await;
    app.send_sms(&send_body(&["+14255550123", "+14255550124"], "x"))
        .await;
    let res = app
        .client
        .delete(format!("{}/_emulator/sms", app.http))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 200);
    assert_eq!(body(res).await, json!({"cleared": 2}));
    assert!(app.outbox("").await.is_empty());

    let request = json!({
        "from": FROM,
        "smsRecipients": [{"to": "+14255550123", "repeatabilityRequestId": "r",
                           "repeatabilityFirstSent": app.date_now()}],
        "message": "x",
    });
    let first = body(app.send_sms(&request).await).await;
    let res = app
        .client
        .post(format!("{}/_emulator/reset", app.http))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 200);
    assert!(app.outbox("").await.is_empty());
    // The repeatability record went too: the same id now sends a new message.
    let second = body(app.send_sms(&request).await).await;
    assert_ne!(
        first["value"][0]["messageId"],
        second["value"][0]["messageId"]
    );
    assert_eq!(app.outbox("").await.len(), 1);
}
