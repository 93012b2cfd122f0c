//! `/_emulator/identities`: the ids of the identities fixtures declare.

use serde_json::{Value, json};

use crate::helpers::{assert_error, spawn_with};

#[tokio::test]
async fn fixture_identities_are_listed_with_their_derived_ids() {
    // Arrange
    let mut config = acs_emulator::Config::for_tests();
    config.scenarios.fixtures =
        vec![concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/token-expiry.yaml").into()];
    let app = spawn_with(config).await;
    let namespace = uuid::Uuid::from_u128(0x6acf_5e1e_0000_4000_8000_0000_0000_0001);
    let resource = "acacacac-0000-4000-8000-000000000001";
    let derived = |name: &str| {
        let user = uuid::Uuid::new_v5(&namespace, format!("{resource}/{name}").as_bytes());
        format!("8:acs:{resource}_{user}")
    };

    // Act
    let listed: Value = app
        .client
        .get(format!("{}/_emulator/identities", app.http))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");

    // Assert: each identity with its fixture name, derived id and resource (and creation time).
    let mut listed: Vec<Value> = listed["value"]
        .as_array()
        .expect("value")
        .iter()
        .map(|i| json!({"name": i["name"], "id": i["id"], "resource": i["resource"]}))
        .collect();
    listed.sort_by_key(|i| i["name"].as_str().unwrap_or_default().to_string());
    assert_eq!(
        listed,
        [
            json!({"name": "carol", "id": derived("carol"), "resource": "default"}),
            json!({"name": "dave", "id": derived("dave"), "resource": "default"}),
        ]
    );
}

#[tokio::test]
async fn fixture_identities_count_against_the_identity_cap() {
    // Arrange: room for two identities.
    let mut config = acs_emulator::Config::for_tests();
    config.limits.max_identities = 2;
    let app = spawn_with(config).await;
    let load = |names: &[&str]| {
        let identities: Vec<Value> = names.iter().map(|n| json!({"name": n})).collect();
        app.client
            .post(format!("{}/_emulator/fixtures", app.http))
            .json(&json!({"identities": identities}))
            .send()
    };
    let listed = || async {
        let list = app.admin_get("/_emulator/identities").await;
        list["value"].as_array().expect("value").len()
    };

    // Act + Assert: three never fit, so the fixture is refused whole.
    let res = load(&["a", "b", "c"]).await.expect("sent");
    let message = assert_error(res, 400, "InvalidFixture").await;
    assert!(message.contains("--max-identities"), "{message}");
    assert_eq!(listed().await, 0);

    // Two fit, and then the API finds the table full.
    assert_eq!(load(&["a", "b"]).await.expect("sent").status(), 201);
    assert_eq!(listed().await, 2);
    let res = app
        .signed_json("POST", "/identities?api-version=2023-10-01", &json!({}))
        .await;
    assert_error(res, 403, "IdentityLimitReached").await;

    // A reset puts the fixture's two back, still within the cap.
    app.reset().await;
    assert_eq!(listed().await, 2);
}

#[tokio::test]
async fn deeply_nested_yaml_is_refused_at_once_and_health_checks_go_on() {
    // Arrange: one worker; two 200 KB fixtures nested 100,000 levels deep.
    let app = crate::helpers::spawn_app().await;
    let deep = format!("x: {}{}", "[".repeat(100_000), "]".repeat(100_000));
    let post = || {
        app.client
            .post(format!("{}/_emulator/fixtures", app.http))
            .header("content-type", "application/yaml")
            .body(deep.clone())
            .send()
    };
    let started = std::time::Instant::now();

    // Act: both loads and a health check at once.
    let health = async {
        app.client
            .get(format!("{}/_emulator/health", app.http))
            .send()
            .await
            .expect("sent")
            .status()
    };
    let (a, b, health) = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        tokio::join!(post(), post(), health)
    })
    .await
    .expect("answered in bounded time");

    // Assert
    assert_eq!(health, 200);
    for res in [a, b] {
        let message = assert_error(res.expect("sent"), 400, "InvalidFixture").await;
        assert!(message.contains("nested deeper than 128"), "{message}");
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

/// A rule naming an operation the emulator does not have is refused by the parser, with the
/// rule's line and its place in the file, YAML or JSON.
#[tokio::test]
async fn an_unknown_operation_is_refused_with_the_rules_line() {
    let app = spawn_with(acs_emulator::Config::for_tests()).await;
    let cases = [
        (
            "application/yaml",
            "identities:\n  - name: a\nrules:\n  - name: slow\n    match: {operation: Sms.Sent}\n    delay: 1s\n",
            "request body:4: rules: rule 'slow': unknown operation 'Sms.Sent'",
        ),
        (
            "application/json",
            "{\n \"rules\": [\n  {\"name\": \"slow\",\n   \"match\": {\"operation\": \"Sms.Sent\"}, \"delay\": \"1s\"}\n ]\n}\n",
            "request body:5: rule 'slow': unknown operation 'Sms.Sent'",
        ),
    ];
    for (content_type, body, expected) in cases {
        let res = app
            .client
            .post(format!("{}/_emulator/fixtures", app.http))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("sent");
        let message = assert_error(res, 400, "InvalidFixture").await;
        assert!(message.starts_with(expected), "{message}");
    }
}
