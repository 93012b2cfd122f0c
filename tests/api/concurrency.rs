//! Concurrency: parallel writers on several workers, create/delete races, reset under load,
//! outbox eviction under load. No deadlock (every request answers within a bound), no 5xx, and
//! the state is consistent afterwards.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::helpers::{body, encode, spawn_with};

fn parallel_config() -> acs_emulator::Config {
    let mut config = acs_emulator::Config::for_tests();
    config.limits.workers = Some(4);
    config
}

/// Awaits a request, failing the test if it takes longer than 20 s (a deadlock).
async fn bounded<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(20), f)
        .await
        .expect("no answer within 20 s: deadlock?")
}

fn sms(to: &str, repeat: Option<&str>) -> Value {
    let mut recipient = json!({"to": to});
    if let Some(id) = repeat {
        recipient["repeatabilityRequestId"] = json!(id);
        recipient["repeatabilityFirstSent"] = json!("Thu, 01 Jan 2026 00:00:00 GMT");
    }
    json!({"from": "+18005550100", "smsRecipients": [recipient], "message": "hi"})
}

#[tokio::test]
async fn many_repeatability_ids_sent_in_parallel_each_record_exactly_one_message() {
    let app = spawn_with(parallel_config()).await;
    let ids: Vec<String> = (0..10).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    let requests: Vec<Value> = (0..80)
        .map(|n| sms("+14255550123", Some(&ids[n % ids.len()])))
        .collect();

    let responses = bounded(join_all(requests.iter().map(|r| app.send_sms(r)))).await;

    let mut message_ids = std::collections::HashMap::new();
    for (n, res) in responses.into_iter().enumerate() {
        assert_eq!(res.status(), 202);
        let body = body(res).await;
        let message_id = body["value"][0]["messageId"]
            .as_str()
            .expect("id")
            .to_string();
        let previous = message_ids.insert(n % ids.len(), message_id.clone());
        assert!(
            previous.is_none_or(|p| p == message_id),
            "two messages for one id"
        );
    }
    let outbox = app.outbox("").await;
    assert_eq!(outbox.len(), ids.len());
    let recorded: std::collections::HashSet<&str> = outbox
        .iter()
        .map(|m| m["repeatabilityRequestId"].as_str().expect("id"))
        .collect();
    assert_eq!(recorded.len(), ids.len());
}

#[tokio::test]
async fn racing_deletes_revokes_and_token_issues_leave_every_identity_consistently_deleted() {
    // Arrange
    let app = spawn_with(parallel_config()).await;
    let mut users = Vec::new();
    for _ in 0..20 {
        users.push(app.create_user_and_token(&["chat"]).await);
    }

    // Act: for every identity at once, two deletes, a revoke and two token issues.
    let ops = users.iter().flat_map(|(id, _)| {
        let path = format!("/identities/{}", encode(id));
        [
            ("DELETE", format!("{path}?api-version=2023-10-01"), None),
            ("DELETE", format!("{path}?api-version=2023-10-01"), None),
            (
                "POST",
                format!("{path}/:revokeAccessTokens?api-version=2023-10-01"),
                None,
            ),
            (
                "POST",
                format!("{path}/:issueAccessToken?api-version=2023-10-01"),
                Some(json!({"scopes": ["chat"]})),
            ),
            (
                "POST",
                format!("{path}/:issueAccessToken?api-version=2023-10-01"),
                Some(json!({"scopes": ["voip"]})),
            ),
        ]
        .map(|(method, target, body)| (id.clone(), method, target, body))
    });
    let results = bounded(join_all(ops.map(|(id, method, target, body)| {
        let app = &app;
        async move {
            let bytes = body.map(|b| b.to_string()).unwrap_or_default();
            let res = app.signed(method, &target, bytes.as_bytes()).await;
            let status = res.status().as_u16();
            let body: Value = res.json().await.unwrap_or(Value::Null);
            (id, method, target, status, body)
        }
    })))
    .await;

    // Assert: per identity exactly one delete won; everything else is 2xx or a 401 envelope.
    let mut issued = Vec::new();
    for (id, _) in &users {
        let mine: Vec<_> = results.iter().filter(|r| &r.0 == id).collect();
        let deletes: Vec<u16> = mine
            .iter()
            .filter(|r| r.1 == "DELETE")
            .map(|r| r.3)
            .collect();
        assert_eq!(
            deletes.iter().filter(|s| **s == 204).count(),
            1,
            "{deletes:?}"
        );
        for (_, _, target, status, body) in &mine {
            assert!(
                matches!(status, 200 | 204 | 401),
                "{target}: {status} {body}"
            );
            if *status == 401 {
                assert!(body["error"]["code"].is_string(), "{body}");
            }
            if target.contains("issueAccessToken") && *status == 200 {
                issued.push(body["token"].as_str().expect("token").to_string());
            }
        }
    }
    // Consistency pass: every identity is deleted, and no token of any of them works.
    for (id, token) in &users {
        let id = acs_emulator::domain::CommunicationUserId::parse(id).expect("id");
        assert!(!app.state.store().identities.is_live(&id));
        assert_eq!(app.check_token(token).await.status(), 401);
    }
    for token in &issued {
        assert_eq!(app.check_token(token).await.status(), 401);
    }
    assert_eq!(app.state.store().identities.len(), users.len());
}

#[tokio::test]
async fn reset_during_load_neither_deadlocks_nor_fails_requests_and_leaves_consistent_state() {
    // Arrange
    let app = spawn_with(parallel_config()).await;
    let deadline = Instant::now() + Duration::from_millis(1500);

    // Act: four writers creating identities with tokens and sending SMS, one resetter.
    let writer = |n: usize| {
        let app = &app;
        async move {
            let mut created = Vec::new();
            let mut i = 0;
            while Instant::now() < deadline {
                i += 1;
                let res = app
                    .signed_json(
                        "POST",
                        "/identities?api-version=2023-10-01",
                        &json!({"createTokenWithScopes": ["chat"]}),
                    )
                    .await;
                assert_eq!(res.status(), 201);
                let b = body(res).await;
                created.push((
                    b["identity"]["id"].as_str().expect("id").to_string(),
                    b["accessToken"]["token"]
                        .as_str()
                        .expect("token")
                        .to_string(),
                ));
                let res = app
                    .send_sms(&sms("+14255550123", Some(&format!("w{n}-{i}"))))
                    .await;
                assert_eq!(res.status(), 202);
            }
            created
        }
    };
    let resetter = async {
        let mut resets = 0;
        while Instant::now() < deadline {
            let res = app
                .client
                .post(format!("{}/_emulator/reset", app.http))
                .send()
                .await
                .expect("sent");
            assert!(res.status().is_success(), "{}", res.status());
            resets += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        resets
    };
    let (created, resets) =
        bounded(async { tokio::join!(join_all((0..4).map(writer)), resetter) }).await;

    // Assert: the store agrees with token verification for every identity ever created.
    assert!(resets > 5, "only {resets} resets");
    let created: Vec<(String, String)> = created.into_iter().flatten().collect();
    assert!(created.len() > 10, "only {} identities", created.len());
    let mut live = 0;
    for (id, token) in &created {
        let parsed = acs_emulator::domain::CommunicationUserId::parse(id).expect("id");
        let status = app.check_token(token).await.status();
        if app.state.store().identities.is_live(&parsed) {
            live += 1;
            assert_eq!(status, 200, "{id}");
        } else {
            assert_eq!(status, 401, "{id}");
        }
    }
    assert_eq!(live, app.state.store().identities.len());
    // And the server still works normally.
    app.create_identity().await;
    assert_eq!(app.state.store().identities.len(), live + 1);
}

#[tokio::test]
async fn the_outbox_keeps_exactly_its_cap_under_parallel_sends() {
    let mut config = parallel_config();
    config.limits.max_sms_outbox = 25;
    let app = spawn_with(config).await;
    let requests: Vec<Value> = (0..100)
        .map(|n| sms("+14255550123", Some(&format!("id-{n}"))))
        .collect();
    let responses = bounded(join_all(requests.iter().map(|r| app.send_sms(r)))).await;
    assert!(responses.iter().all(|r| r.status() == 202));
    let outbox = app.outbox("").await;
    assert_eq!(outbox.len(), 25);
    // A kept message's repeatability id is still honoured: same message, nothing evicted.
    let kept = outbox[0]["repeatabilityRequestId"]
        .as_str()
        .expect("id")
        .to_string();
    let res = app.send_sms(&sms("+14255550123", Some(&kept))).await;
    assert_eq!(
        body(res).await["value"][0]["messageId"],
        outbox[0]["messageId"]
    );
    assert_eq!(app.outbox("").await[0]["messageId"], outbox[0]["messageId"]);
    // An evicted message's id was forgotten with it: sending it again records a new message.
    let evicted = (0..100)
        .map(|n| format!("id-{n}"))
        .find(|id| {
            outbox
                .iter()
                .all(|m| m["repeatabilityRequestId"] != id.as_str())
        })
        .expect("some id was evicted");
    let res = app.send_sms(&sms("+14255550123", Some(&evicted))).await;
    let again = body(res).await["value"][0]["messageId"].clone();
    let now = app.outbox("").await;
    assert_eq!(now.len(), 25);
    assert_eq!(now[24]["messageId"], again);
}

#[tokio::test]
async fn the_identity_cap_answers_403_and_deleted_identities_make_room() {
    let mut config = acs_emulator::Config::for_tests();
    config.limits.max_identities = 3;
    let app = spawn_with(config).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(app.create_identity().await);
    }
    let res = app
        .signed("POST", "/identities?api-version=2023-10-01", b"")
        .await;
    let message = crate::helpers::assert_error(res, 403, "IdentityLimitReached").await;
    assert!(message.contains("--max-identities"), "{message}");
    assert_eq!(app.state.store().identities.len(), 3);
    let delete = format!("/identities/{}?api-version=2023-10-01", encode(&ids[0]));
    assert_eq!(app.signed("DELETE", &delete, b"").await.status(), 204);
    app.create_identity().await;
    assert_eq!(app.state.store().identities.len(), 3);
}
