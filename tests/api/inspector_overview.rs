//! What the inspector's Overview page reads of each resource: `GET /_emulator/resources`.

use acs_emulator::Config;

use crate::helpers::{body, spawn_with};

#[tokio::test]
async fn resources_list_their_email_domains_managed_first() {
    let mut config = Config::for_tests();
    config.email.email_domains = vec!["Contoso.com".into()];
    let app = spawn_with(config).await;
    let res = app
        .client
        .get(format!("{}/_emulator/resources", app.http))
        .send()
        .await
        .expect("sent");
    let listed = body(res).await;
    let domains: Vec<&str> = listed["value"][0]["emailDomains"]
        .as_array()
        .expect("emailDomains")
        .iter()
        .map(|d| d.as_str().expect("domain"))
        .collect();
    assert_eq!(domains.len(), 2, "{domains:?}");
    assert!(domains[0].ends_with(".azurecomm.net"), "{domains:?}");
    assert_eq!(domains[1].to_ascii_lowercase(), "contoso.com");
}
