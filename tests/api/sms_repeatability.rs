//! Per-recipient repeatability (`repeatabilityRequestId` + `repeatabilityFirstSent` in the body).

use serde_json::{Value, json};

use crate::helpers::{body, spawn_app, spawn_with};
use crate::sms::{FROM, assert_accepted};

fn repeatable(to: &str, id: &str, first_sent: Option<&str>) -> Value {
    let mut recipient = json!({"to": to, "repeatabilityRequestId": id});
    if let Some(first_sent) = first_sent {
        recipient["repeatabilityFirstSent"] = json!(first_sent);
    }
    recipient
}

fn send(recipients: Vec<Value>) -> Value {
    json!({
        "from": FROM,
        "smsRecipients": recipients,
        "message": "hello",
        "smsSendOptions": {"enableDeliveryReport": false},
    })
}

const FIRST_SENT: &str = "Sat, 28 Nov 2026 00:52:40 GMT";
const ID: &str = "44674e33-f2e1-467c-a1db-9e50165b239f";

#[tokio::test]
async fn a_new_id_is_accepted_and_a_repeated_id_returns_the_same_message_without_sending() {
    let app = spawn_app().await;
    let request = send(vec![repeatable("+14255550123", ID, Some(FIRST_SENT))]);

    let first = body(app.send_sms(&request).await).await;
    let second = body(app.send_sms(&request).await).await;

    let first_id = assert_accepted(&first["value"][0], "+14255550123", Some("accepted"));
    let second_id = assert_accepted(&second["value"][0], "+14255550123", Some("accepted"));
    assert_eq!(first_id, second_id);
    let outbox = app.outbox("").await;
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0]["repeatabilityRequestId"], ID);
}

#[tokio::test]
async fn ids_compare_case_insensitively() {
    let app = spawn_app().await;
    let lower = body(
        app.send_sms(&send(vec![repeatable(
            "+14255550123",
            ID,
            Some(FIRST_SENT),
        )]))
        .await,
    )
    .await;
    let upper = body(
        app.send_sms(&send(vec![repeatable(
            "+14255550123",
            &ID.to_uppercase(),
            Some(FIRST_SENT),
        )]))
        .await,
    )
    .await;
    assert_eq!(
        lower["value"][0]["messageId"],
        upper["value"][0]["messageId"]
    );
    assert_eq!(app.outbox("").await.len(), 1);
}

#[tokio::test]
async fn a_missing_or_invalid_first_sent_date_is_rejected_in_the_item() {
    let app = spawn_app().await;
    let request = send(vec![
        repeatable("+14255550123", "a", None),
        repeatable("+14255550124", "b", Some("2026-11-28T00:52:40Z")),
        repeatable("+14255550125", "c", Some("Mon, 28 Nov 2026 00:52:40 GMT")),
        repeatable("+14255550126", "d", Some(FIRST_SENT)),
    ]);

    let body = body(app.send_sms(&request).await).await;

    let rejected = |to: &str| {
        json!({
            "to": to,
            "httpStatusCode": 400,
            "repeatabilityResult": "rejected",
            "errorMessage": "Request sent with Invalid DateTime value for repeatability-first-sent. Expected is DateTime ,RFC1123 pattern.",
            "successful": false,
        })
    };
    assert_eq!(body["value"][0], rejected("+14255550123"));
    assert_eq!(body["value"][1], rejected("+14255550124"));
    // 28 Nov 2026 is a Saturday: a wrong weekday is not RFC 1123 either.
    assert_eq!(body["value"][2], rejected("+14255550125"));
    assert_accepted(&body["value"][3], "+14255550126", Some("accepted"));
    assert_eq!(app.outbox("").await.len(), 1);
}

#[tokio::test]
async fn without_an_id_there_is_no_repeatability_result() {
    let app = spawn_app().await;
    let request = send(vec![
        json!({"to": "+14255550123", "repeatabilityFirstSent": FIRST_SENT}),
    ]);
    let body = body(app.send_sms(&request).await).await;
    let item = body["value"][0].as_object().expect("item");
    assert!(!item.contains_key("repeatabilityResult"), "{item:?}");
    assert_accepted(&body["value"][0], "+14255550123", None);
}

#[tokio::test]
async fn a_bad_recipient_with_an_id_fails_on_its_number_without_a_repeatability_result() {
    let app = spawn_app().await;
    let request = send(vec![repeatable("+1425555012345", ID, Some(FIRST_SENT))]);
    let body = body(app.send_sms(&request).await).await;
    assert_eq!(
        body["value"][0],
        json!({"to": "+1425555012345", "httpStatusCode": 400,
               "errorMessage": "Unknown country code.", "successful": false})
    );
}

#[tokio::test]
async fn concurrent_sends_with_the_same_id_record_exactly_one_message() {
    // Several workers, so that requests really run in parallel.
    let mut config = acs_emulator::Config::for_tests();
    config.limits.workers = Some(4);
    let app = spawn_with(config).await;
    let request = send(vec![repeatable("+14255550123", ID, Some(FIRST_SENT))]);

    let responses = futures_util::future::join_all((0..16).map(|_| app.send_sms(&request))).await;

    let mut ids = Vec::new();
    for res in responses {
        assert_eq!(res.status(), 202);
        let body = body(res).await;
        ids.push(assert_accepted(
            &body["value"][0],
            "+14255550123",
            Some("accepted"),
        ));
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(app.outbox("").await.len(), 1);
}
