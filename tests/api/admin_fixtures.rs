//! `/_emulator/identities`: the ids of the identities fixtures declare.

use serde_json::{Value, json};

use crate::helpers::spawn_with;

#[tokio::test]
async fn fixture_identities_are_listed_with_their_derived_ids() {
    // Arrange
    let mut config = acs_emulator::Config::for_tests();
    config.fixtures =
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
