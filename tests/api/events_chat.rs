//! Events from Chat and SMS operations: every chat event type's shape, ordering per thread, and
//! the SMS delivery report when the emulator clock reaches it.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::events::{TOPIC, events_config, spawn_events_app};
use crate::helpers::{CHAT_V, body, encode, participant, spawn_with};
use crate::webhook::{Behaviour, Webhook};

fn ident(raw: &str) -> Value {
    json!({"rawId": raw, "communicationUser": {"id": raw}})
}

fn keys(data: &Value) -> BTreeSet<&str> {
    data.as_object()
        .expect("data object")
        .keys()
        .map(String::as_str)
        .collect()
}

fn set<'a>(items: &[&'a str]) -> BTreeSet<&'a str> {
    items.iter().copied().collect()
}

#[tokio::test]
async fn every_chat_operation_publishes_its_events_with_the_documented_shapes() {
    // Arrange
    let app = spawn_events_app().await;
    let hook = Webhook::start().await;
    app.subscribe(&json!({"name": "everything", "endpoint": hook.url}))
        .await;
    let (a, token_a) = app.create_user_and_token(&["chat"]).await;
    let (b, token_b) = app.create_user_and_token(&["chat"]).await;
    let (c, _) = app.create_user_and_token(&["chat"]).await;

    // Act: create, send, edit, type, rename, add, remove, delete the message, delete the thread.
    let mut bob = participant(&b);
    bob["displayName"] = json!("Bob");
    let created = app
        .create_thread(
            &token_a,
            &json!({"topic": "support", "participants": [bob]}),
        )
        .await;
    let thread = created["chatThread"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let t = encode(&thread);
    let sent = app
        .chat(
            "POST",
            &token_a,
            &format!("/chat/threads/{t}/messages?api-version={CHAT_V}"),
            Some(
                &json!({"content": "hello", "senderDisplayName": "Alice", "metadata": {"k": "v"}}),
            ),
        )
        .await;
    assert_eq!(sent.status(), 201);
    let message = body(sent).await["id"].as_str().expect("id").to_string();
    let steps = [
        (
            "PATCH",
            &token_a,
            format!("/chat/threads/{t}/messages/{message}?api-version={CHAT_V}"),
            Some(json!({"content": "hello again"})),
            204,
        ),
        (
            "POST",
            &token_b,
            format!("/chat/threads/{t}/typing?api-version={CHAT_V}"),
            Some(json!({"senderDisplayName": "Bob"})),
            200,
        ),
        (
            "PATCH",
            &token_a,
            format!("/chat/threads/{t}?api-version={CHAT_V}"),
            Some(json!({"topic": "renamed"})),
            204,
        ),
        (
            "POST",
            &token_a,
            format!("/chat/threads/{t}/participants/:add?api-version={CHAT_V}"),
            Some(json!({"participants": [participant(&c)]})),
            201,
        ),
        (
            "POST",
            &token_a,
            format!("/chat/threads/{t}/participants/:remove?api-version={CHAT_V}"),
            Some(ident(&c)),
            204,
        ),
        (
            "DELETE",
            &token_a,
            format!("/chat/threads/{t}/messages/{message}?api-version={CHAT_V}"),
            None,
            204,
        ),
        (
            "DELETE",
            &token_a,
            format!("/chat/threads/{t}?api-version={CHAT_V}"),
            None,
            204,
        ),
    ];
    for (method, token, path, request, status) in steps {
        let res = app.chat(method, token, &path, request.as_ref()).await;
        assert_eq!(res.status(), status, "{method} {path}");
    }

    // Assert: everything arrives, in the order it happened.
    let delivered = app.wait_events("state=delivered", 19).await;
    assert_eq!(delivered.len(), 19);
    let events = hook.events();
    let order: Vec<(&str, Option<&str>)> = events
        .iter()
        .map(|e| {
            (
                e["eventType"]
                    .as_str()
                    .expect("eventType")
                    .trim_start_matches("Microsoft.Communication."),
                e["data"]["recipientCommunicationIdentifier"]["rawId"].as_str(),
            )
        })
        .collect();
    let (b_, c_) = (Some(b.as_str()), Some(c.as_str()));
    assert_eq!(
        order,
        [
            ("ChatThreadCreatedWithUser", b_),
            ("ChatThreadCreated", None),
            ("ChatMessageReceived", b_),
            ("ChatMessageReceivedInThread", None),
            ("ChatMessageEdited", b_),
            ("ChatMessageEditedInThread", None),
            ("ChatTypingIndicatorReceivedInThread", None),
            ("ChatThreadPropertiesUpdatedPerUser", b_),
            ("ChatThreadPropertiesUpdated", None),
            ("ChatParticipantAddedToThreadWithUser", b_),
            ("ChatParticipantAddedToThreadWithUser", c_),
            ("ChatThreadParticipantAdded", None),
            ("ChatParticipantRemovedFromThreadWithUser", b_),
            ("ChatParticipantRemovedFromThreadWithUser", c_),
            ("ChatThreadParticipantRemoved", None),
            ("ChatMessageDeleted", b_),
            ("ChatMessageDeletedInThread", None),
            ("ChatThreadWithUserDeleted", b_),
            ("ChatThreadDeleted", None),
        ]
    );
    for e in &events {
        assert_eq!(e["topic"], TOPIC, "{e}");
        assert_eq!(e["dataVersion"], "1.0");
        assert_eq!(e["metadataVersion"], "1");
        assert_eq!(e["data"]["threadId"], thread, "{e}");
        assert!(e["data"]["transactionId"].is_string(), "{e}");
        assert_eq!(
            uuid::Uuid::parse_str(e["id"].as_str().expect("id")).map(|u| u.get_version_num()),
            Ok(4)
        );
    }

    // Subjects, as the service writes them.
    let subjects: Vec<&str> = events
        .iter()
        .map(|e| e["subject"].as_str().expect("subject"))
        .collect();
    assert_eq!(
        subjects,
        [
            format!("thread/{thread}/createdBy/{a}/recipient/{b}"),
            format!("thread/{thread}/createdBy/{a}"),
            format!("thread/{thread}/sender/{a}/recipient/{b}"),
            format!("thread/{thread}/sender/{a}"),
            format!("thread/{thread}/sender/{a}/recipient/{b}"),
            format!("thread/{thread}/sender/{a}"),
            format!("thread/{thread}/sender/{b}"),
            format!("thread/{thread}/editedBy/{a}/recipient/{b}"),
            format!("thread/{thread}/editedBy/{a}"),
            format!("thread/{thread}/participantAdded/{c}/recipient/{b}"),
            format!("thread/{thread}/participantAdded/{c}/recipient/{c}"),
            format!("thread/{thread}/participantadded/{c}"),
            format!("thread/{thread}/participantRemoved/{c}/recipient/{b}"),
            format!("thread/{thread}/participantRemoved/{c}/recipient/{c}"),
            format!("thread/{thread}/participantremoved/{c}"),
            format!("thread/{thread}/sender/{a}/recipient/{b}"),
            format!("thread/{thread}/sender/{a}"),
            format!("thread/{thread}/deletedBy/{a}/recipient/{b}"),
            format!("thread/{thread}/deletedBy/{a}"),
        ]
    );

    // Data field names and casing, per type.
    let per_user = ["recipientCommunicationIdentifier", "recipientId"];
    let base = ["threadId", "transactionId"];
    let message_keys = [
        "messageId",
        "senderCommunicationIdentifier",
        "senderDisplayName",
        "composeTime",
        "type",
        "version",
    ];
    let expected: Vec<BTreeSet<&str>> = vec![
        // ChatThreadCreatedWithUser
        set(&[
            &base[..],
            &per_user[..],
            &[
                "createdBy",
                "createdByCommunicationIdentifier",
                "properties",
                "members",
                "participants",
                "createTime",
                "version",
            ],
        ]
        .concat()),
        // ChatThreadCreated
        set(&[
            &base[..],
            &[
                "createdByCommunicationIdentifier",
                "properties",
                "participants",
                "createTime",
                "version",
            ],
        ]
        .concat()),
        // ChatMessageReceived
        set(&[
            &base[..],
            &per_user[..],
            &message_keys[..],
            &["messageBody", "metadata", "senderId"],
        ]
        .concat()),
        // ChatMessageReceivedInThread
        set(&[&base[..], &message_keys[..], &["messageBody", "metadata"]].concat()),
        // ChatMessageEdited
        set(&[
            &base[..],
            &per_user[..],
            &message_keys[..],
            &["messageBody", "metadata", "senderId", "editTime"],
        ]
        .concat()),
        // ChatMessageEditedInThread
        set(&[
            &base[..],
            &message_keys[..],
            &["messageBody", "metadata", "editTime"],
        ]
        .concat()),
        // ChatTypingIndicatorReceivedInThread
        set(&[
            &base[..],
            &["senderCommunicationIdentifier", "senderDisplayName"],
        ]
        .concat()),
        // ChatThreadPropertiesUpdatedPerUser
        set(&[
            &base[..],
            &per_user[..],
            &[
                "editedBy",
                "editedByCommunicationIdentifier",
                "editTime",
                "properties",
                "metadata",
                "createTime",
                "version",
            ],
        ]
        .concat()),
        // ChatThreadPropertiesUpdated
        set(&[
            &base[..],
            &[
                "editedByCommunicationIdentifier",
                "editTime",
                "properties",
                "metadata",
                "createTime",
                "version",
            ],
        ]
        .concat()),
        // ChatParticipantAddedToThreadWithUser ×2
        set(&[
            &base[..],
            &[
                "recipientCommunicationIdentifier",
                "time",
                "addedByCommunicationIdentifier",
                "participantAdded",
                "createTime",
                "version",
            ],
        ]
        .concat()),
        set(&[
            &base[..],
            &[
                "recipientCommunicationIdentifier",
                "time",
                "addedByCommunicationIdentifier",
                "participantAdded",
                "createTime",
                "version",
            ],
        ]
        .concat()),
        // ChatThreadParticipantAdded
        set(&[
            &base[..],
            &[
                "time",
                "addedByCommunicationIdentifier",
                "participantAdded",
                "createTime",
                "version",
            ],
        ]
        .concat()),
        // ChatParticipantRemovedFromThreadWithUser ×2
        set(&[
            &base[..],
            &[
                "recipientCommunicationIdentifier",
                "time",
                "removedByCommunicationIdentifier",
                "participantRemoved",
                "createTime",
                "version",
            ],
        ]
        .concat()),
        set(&[
            &base[..],
            &[
                "recipientCommunicationIdentifier",
                "time",
                "removedByCommunicationIdentifier",
                "participantRemoved",
                "createTime",
                "version",
            ],
        ]
        .concat()),
        // ChatThreadParticipantRemoved
        set(&[
            &base[..],
            &[
                "time",
                "removedByCommunicationIdentifier",
                "participantRemoved",
                "createTime",
                "version",
            ],
        ]
        .concat()),
        // ChatMessageDeleted
        set(&[
            &base[..],
            &per_user[..],
            &message_keys[..],
            &["senderId", "deleteTime"],
        ]
        .concat()),
        // ChatMessageDeletedInThread
        set(&[&base[..], &message_keys[..], &["deleteTime"]].concat()),
        // ChatThreadWithUserDeleted
        set(&[
            &base[..],
            &per_user[..],
            &[
                "deletedBy",
                "deletedByCommunicationIdentifier",
                "deleteTime",
                "createTime",
                "version",
            ],
        ]
        .concat()),
        // ChatThreadDeleted
        set(&[
            &base[..],
            &[
                "deletedByCommunicationIdentifier",
                "deleteTime",
                "createTime",
                "version",
            ],
        ]
        .concat()),
    ];
    for (e, want) in events.iter().zip(&expected) {
        assert_eq!(&keys(&e["data"]), want, "{}", e["eventType"]);
    }

    // A closer look at some values.
    let received = &events[2]["data"];
    assert_eq!(received["messageBody"], "hello");
    assert_eq!(received["messageId"], message);
    assert_eq!(received["metadata"], json!({"k": "v"}));
    assert_eq!(received["type"], "Text");
    assert_eq!(received["senderId"], a);
    assert_eq!(received["senderCommunicationIdentifier"], ident(&a));
    assert_eq!(received["senderDisplayName"], "Alice");
    assert_eq!(received["recipientId"], b);
    assert_eq!(received["recipientCommunicationIdentifier"], ident(&b));
    assert!(
        received["version"].is_u64(),
        "per-user versions are numbers"
    );
    assert!(
        events[3]["data"]["version"].is_string(),
        "per-thread message versions are strings"
    );
    assert_eq!(events[4]["data"]["messageBody"], "hello again");
    assert_ne!(
        events[4]["data"]["version"], received["version"],
        "an edit bumps the version"
    );

    let thread_created = &events[1]["data"];
    assert_eq!(thread_created["properties"], json!({"topic": "support"}));
    assert_eq!(
        thread_created["createdByCommunicationIdentifier"],
        ident(&a)
    );
    assert_eq!(
        thread_created["participants"],
        json!([
            {"participantCommunicationIdentifier": ident(&a)},
            {"displayName": "Bob", "participantCommunicationIdentifier": ident(&b)},
        ])
    );
    assert_eq!(
        thread_created["createTime"],
        created["chatThread"]["createdOn"]
    );
    assert_eq!(
        events[0]["data"]["members"],
        json!([{"memberId": a}, {"displayName": "Bob", "memberId": b}])
    );

    assert_eq!(
        events[6]["data"]["senderCommunicationIdentifier"],
        ident(&b)
    );
    assert_eq!(events[6]["data"]["senderDisplayName"], "Bob");
    assert_eq!(events[8]["data"]["properties"], json!({"topic": "renamed"}));
    assert_eq!(events[8]["data"]["metadata"], json!({}));
    assert_eq!(
        events[11]["data"]["addedByCommunicationIdentifier"],
        ident(&a)
    );
    assert_eq!(
        events[11]["data"]["participantAdded"],
        json!({"participantCommunicationIdentifier": ident(&c)})
    );
    assert_eq!(
        events[14]["data"]["participantRemoved"],
        json!({"participantCommunicationIdentifier": ident(&c)})
    );
    assert_eq!(
        events[18]["data"]["deletedByCommunicationIdentifier"],
        ident(&a)
    );

    // One operation, one transaction id.
    assert_eq!(
        events[2]["data"]["transactionId"],
        events[3]["data"]["transactionId"]
    );
    assert_ne!(
        events[2]["data"]["transactionId"],
        events[4]["data"]["transactionId"]
    );
}

#[tokio::test]
async fn repeated_creates_and_deletes_publish_nothing_more() {
    let app = spawn_events_app().await;
    let hook = Webhook::start().await;
    app.subscribe(&json!({"name": "thread-level", "endpoint": hook.url,
        "eventTypes": ["ChatThreadCreated", "ChatThreadDeleted", "ChatMessageDeletedInThread"]}))
        .await;
    let (_, token) = app.create_user_and_token(&["chat"]).await;
    let create = |key: &'static str| {
        app.client
            .post(format!("{}/chat/threads?api-version={CHAT_V}", app.https))
            .bearer_auth(&token)
            .header("repeatability-request-id", key)
            .json(&json!({"topic": "once"}))
            .send()
    };
    let first = body(create("k-1").await.expect("sent")).await;
    let again = body(create("k-1").await.expect("sent")).await;
    assert_eq!(first["chatThread"]["id"], again["chatThread"]["id"]);
    let t = encode(first["chatThread"]["id"].as_str().expect("id"));
    let message = app
        .send_text(&token, first["chatThread"]["id"].as_str().expect("id"), "x")
        .await;
    for path in [
        format!("/chat/threads/{t}/messages/{message}?api-version={CHAT_V}"),
        format!("/chat/threads/{t}/messages/{message}?api-version={CHAT_V}"),
        format!("/chat/threads/{t}?api-version={CHAT_V}"),
        format!("/chat/threads/{t}?api-version={CHAT_V}"),
    ] {
        let res = app.chat("DELETE", &token, &path, None).await;
        assert_eq!(res.status(), 204, "{path}");
    }

    app.wait_events("state=delivered", 3).await;
    // Publishing is done by the time a request answers: no record may be pending.
    assert_eq!(app.events_now("").await.len(), 3);
    let types: Vec<String> = hook
        .events()
        .iter()
        .map(|e| e["eventType"].as_str().expect("type").to_string())
        .collect();
    assert_eq!(
        types,
        [
            "Microsoft.Communication.ChatThreadCreated",
            "Microsoft.Communication.ChatMessageDeletedInThread",
            "Microsoft.Communication.ChatThreadDeleted",
        ]
    );
}

#[tokio::test]
async fn events_of_each_thread_arrive_in_order_through_retries_and_batches() {
    // Arrange: the webhook fails the first delivery; batches of up to 4 events.
    let app = spawn_events_app().await;
    let hook = Webhook::with(Behaviour {
        fail_first: 1,
        ..Behaviour::default()
    })
    .await;
    app.subscribe(&json!({"name": "in-thread", "endpoint": hook.url,
        "eventTypes": ["ChatMessageReceivedInThread"], "schema": "CloudEventSchemaV1_0", "maxEventsPerBatch": 4}))
        .await;
    let (_, token) = app.create_user_and_token(&["chat"]).await;
    let one = app.thread_with(&token, "one", &[]).await;
    let two = app.thread_with(&token, "two", &[]).await;

    // Act
    for n in 0..10 {
        app.send_text(&token, &one, &format!("one-{n}")).await;
        app.send_text(&token, &two, &format!("two-{n}")).await;
    }

    // Assert
    app.wait_events("state=delivered", 20).await;
    let events = hook.events();
    assert_eq!(events.len(), 20);
    for (thread, prefix) in [(&one, "one"), (&two, "two")] {
        let bodies: Vec<&str> = events
            .iter()
            .filter(|e| e["data"]["threadId"] == thread.as_str())
            .map(|e| e["data"]["messageBody"].as_str().expect("body"))
            .collect();
        let want: Vec<String> = (0..10).map(|n| format!("{prefix}-{n}")).collect();
        assert_eq!(bodies, want);
    }
    let notifications = hook.notifications();
    assert_eq!(notifications[0].status, 500);
    assert_eq!(notifications[1].header("aeg-delivery-count"), "1");
    assert!(
        notifications.iter().all(|n| n
            .body
            .as_array()
            .is_some_and(|a| (1..=4).contains(&a.len()))),
        "batches hold 1 to 4 events"
    );
}

#[tokio::test]
async fn a_delivery_report_is_published_when_the_emulator_clock_reaches_it() {
    // Arrange: reports arrive an hour after the send.
    let mut config = events_config();
    config.sms.sms_delivery_report_delay = Duration::from_secs(3600);
    config.resource.clock_skew = Duration::from_secs(24 * 3600);
    let app = spawn_with(config).await;
    let hook = Webhook::start().await;
    app.subscribe(&json!({"name": "reports", "endpoint": hook.url,
        "eventTypes": ["SMSDeliveryReportReceived"]}))
        .await;
    let res = app
        .send_sms(&json!({
            "from": "+18005550100",
            "smsRecipients": [{"to": "+14255550123"}],
            "message": "hi",
            "smsSendOptions": {"enableDeliveryReport": true, "tag": "t1"},
        }))
        .await;
    assert_eq!(res.status(), 202);
    let id = body(res).await["value"][0]["messageId"]
        .as_str()
        .expect("messageId")
        .to_string();
    assert!(app.events_now("").await.is_empty(), "not due yet");

    // Act: two hours later.
    let moved = app
        .client
        .post(format!("{}/_emulator/clock", app.http))
        .json(&json!({"advance": "2h"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(moved.status(), 200);

    // Assert
    let delivered = app.wait_events("state=delivered", 1).await;
    assert_eq!(delivered[0]["id"], id);
    let event = &hook.events()[0];
    let received = event["data"]["ReceivedTimestamp"]
        .as_str()
        .expect("ReceivedTimestamp")
        .to_string();
    assert_eq!(
        event["data"],
        json!({
            "MessageId": id,
            "From": "+18005550100",
            "To": "+14255550123",
            "DeliveryStatus": "Delivered",
            "DeliveryStatusDetails": "2000: No Error",
            "DeliveryAttempts": [{"Timestamp": received, "SegmentsSucceeded": 1, "SegmentsFailed": 0}],
            "ReceivedTimestamp": received,
            "Tag": "t1",
        })
    );
    assert_eq!(event["id"], id);
    assert_eq!(event["subject"], "/phonenumber/18005550100");
    assert_eq!(
        event["eventType"],
        "Microsoft.Communication.SMSDeliveryReportReceived"
    );
    assert!(
        event["eventTime"].as_str().expect("eventTime") >= received.as_str(),
        "published once due"
    );
}

#[tokio::test]
async fn delivery_reports_keep_arriving_after_a_refused_clock_change() {
    // Arrange: a report subscription, then a clock change far past the clock's range (once,
    // this made the clock panic on every read and killed the delivery-report timer for good).
    let mut config = events_config();
    config.resource.clock_skew = Duration::from_secs(24 * 3600);
    let app = spawn_with(config).await;
    let hook = Webhook::start().await;
    app.subscribe(&json!({"name": "reports", "endpoint": hook.url,
        "eventTypes": ["SMSDeliveryReportReceived"]}))
        .await;
    let clock = |change: Value| {
        app.client
            .post(format!("{}/_emulator/clock", app.http))
            .json(&change)
            .send()
    };
    let refused = clock(json!({"advance": "1000000y"})).await.expect("sent");
    assert_eq!(refused.status(), 400);
    // Give the timer a tick to look at the clock.
    tokio::time::sleep(Duration::from_millis(1100)).await;

    // Act: a send with a report, then back to real time and a second one.
    let request = json!({
        "from": "+18005550100",
        "smsRecipients": [{"to": "+14255550123"}],
        "message": "hi",
        "smsSendOptions": {"enableDeliveryReport": true},
    });
    let send = || app.send_sms(&request);
    let res = send().await;
    assert_eq!(res.status(), 202);
    let first = body(res).await["value"][0]["messageId"].clone();
    assert_eq!(app.wait_events("state=delivered", 1).await[0]["id"], first);
    let real = clock(json!({"real": true})).await.expect("sent");
    assert_eq!(real.status(), 200);
    let res = send().await;
    assert_eq!(res.status(), 202);
    let second = body(res).await["value"][0]["messageId"].clone();

    // Assert
    let delivered = app.wait_events("state=delivered", 2).await;
    let ids: Vec<&Value> = delivered.iter().map(|r| &r["id"]).collect();
    assert!(ids.contains(&&first) && ids.contains(&&second), "{ids:?}");
    assert_eq!(hook.events().len(), 2);
}

#[tokio::test]
async fn with_a_seed_event_and_transaction_ids_repeat_on_every_run_and_after_a_reset() {
    // The ids a run's events carry, in delivery order: one user creates a thread and posts.
    async fn run(app: &crate::helpers::TestApp) -> Vec<(String, String)> {
        let hook = Webhook::start().await;
        app.subscribe(&json!({"name": "seeded", "endpoint": hook.url}))
            .await;
        let (_, token) = app.create_user_and_token(&["chat"]).await;
        let thread = app.thread_with(&token, "seeded", &[]).await;
        app.send_text(&token, &thread, "hello").await;
        // ChatThreadCreated and ChatMessageReceivedInThread (a lone sender gets no per-user
        // events).
        let delivered = app.wait_events("state=delivered", 2).await;
        assert_eq!(delivered.len(), 2);
        hook.events()
            .iter()
            .map(|e| {
                (
                    e["id"].as_str().expect("id").to_string(),
                    e["data"]["transactionId"]
                        .as_str()
                        .expect("transactionId")
                        .to_string(),
                )
            })
            .collect()
    }
    let seeded = || {
        let mut config = events_config();
        config.scenarios.seed = Some(42);
        config
    };
    let first = spawn_with(seeded()).await;
    let ids = run(&first).await;
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1]);

    // Another process with the same seed, and the first one after a reset, repeat them.
    let second = spawn_with(seeded()).await;
    assert_eq!(run(&second).await, ids);
    first.reset().await;
    assert_eq!(run(&first).await, ids);

    // Without a seed they differ.
    let unseeded = spawn_events_app().await;
    assert_ne!(run(&unseeded).await, ids);
}
