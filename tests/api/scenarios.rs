//! Fixtures and scripted scenarios: loading (good and broken), every action kind, state
//! machines, seeds, reset, the journal, verify, inspection and multi-resource routing. The
//! examples in `fixtures/` are loaded as they are shipped.

use std::path::PathBuf;
use std::sync::Arc;

use acs_emulator::{Application, Clock, Config};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, body, encode, spawn_with};

pub fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

async fn with_fixtures(names: &[&str]) -> TestApp {
    let mut config = Config::for_tests();
    config.scenarios.fixtures = names.iter().map(|n| example(n)).collect();
    spawn_with(config).await
}

impl TestApp {
    async fn get_admin(&self, path: &str) -> Value {
        let res = self
            .client
            .get(format!("{}/_emulator/{path}", self.http))
            .send()
            .await
            .expect("sent");
        assert_eq!(res.status(), 200, "GET {path}");
        body(res).await
    }

    /// Loads a JSON fixture at runtime; returns the response.
    async fn load(&self, fixture: &Value) -> reqwest::Response {
        self.client
            .post(format!("{}/_emulator/fixtures", self.http))
            .json(fixture)
            .send()
            .await
            .expect("sent")
    }

    async fn load_ok(&self, fixture: &Value) {
        let res = self.load(fixture).await;
        assert_eq!(res.status(), 201, "{}", body(res).await);
    }

    async fn journal(&self, query: &str) -> Vec<Value> {
        self.get_admin(&format!("journal?{query}")).await["value"]
            .as_array()
            .expect("value")
            .clone()
    }

    async fn statuses(&self, query: &str) -> Vec<u64> {
        self.journal(query)
            .await
            .iter()
            .map(|e| e["status"].as_u64().expect("status"))
            .collect()
    }

    async fn create_identity_status(&self) -> u16 {
        self.signed("POST", "/identities?api-version=2023-10-01", b"")
            .await
            .status()
            .as_u16()
    }

    async fn advance(&self, by: &str) {
        let res = self
            .client
            .post(format!("{}/_emulator/clock", self.http))
            .json(&json!({ "advance": by }))
            .send()
            .await
            .expect("sent");
        assert_eq!(res.status(), 200);
    }
}

fn sms(to: &[&str]) -> Value {
    let recipients: Vec<Value> = to.iter().map(|t| json!({ "to": t })).collect();
    json!({
        "from": "+18005550100",
        "smsRecipients": recipients,
        "message": "hello",
        "smsSendOptions": {"enableDeliveryReport": true}
    })
}

/// The error a broken fixture file stops the start with.
fn start_error(text: &str, extension: &str) -> String {
    let path = std::env::temp_dir().join(format!(
        "acs-emulator-broken-{}.{extension}",
        uuid::Uuid::new_v4()
    ));
    std::fs::write(&path, text).expect("write");
    let mut config = Config::for_tests();
    config.scenarios.fixtures = vec![path.clone()];
    let settings = config.validate().expect("valid flags");
    let err = match Application::build(settings, Arc::new(Clock::system())) {
        Ok(_) => panic!("a broken fixture must not start: {text}"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        err.contains(&path.display().to_string()),
        "the error names the file: {err}"
    );
    let _ = std::fs::remove_file(path);
    err
}

mod loading {
    use super::*;

    #[tokio::test]
    async fn the_ci_starter_seeds_users_a_thread_and_a_message() {
        let app = with_fixtures(&["ci-starter.yaml"]).await;
        let identities = app.get_admin("identities").await["value"].clone();
        let names: Vec<&str> = identities
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|i| i["name"].as_str())
            .collect();
        assert_eq!(names.len(), 2);
        assert!(names.contains(&"alice") && names.contains(&"bob"));
        let alice = identities
            .as_array()
            .expect("list")
            .iter()
            .find(|i| i["name"] == "alice")
            .expect("alice")["id"]
            .as_str()
            .expect("id")
            .to_string();

        // Alice is a real identity: she gets a token and reads the thread over the Chat API.
        let res = app.issue_token(&alice, &json!({"scopes": ["chat"]})).await;
        assert_eq!(res.status(), 200);
        let token = body(res).await["token"]
            .as_str()
            .expect("token")
            .to_string();
        let thread = "19:acsemu_ci_starter@thread.v2";
        let res = app
            .chat(
                "GET",
                &token,
                &format!(
                    "/chat/threads/{}/messages?api-version=2025-03-15",
                    encode(thread)
                ),
                None,
            )
            .await;
        assert_eq!(res.status(), 200);
        let messages = body(res).await["value"].clone();
        let text: Vec<&str> = messages
            .as_array()
            .expect("messages")
            .iter()
            .filter(|m| m["type"] == "text")
            .filter_map(|m| m["content"]["message"].as_str())
            .collect();
        assert_eq!(text, ["Welcome to the release thread!"]);

        // The same ids on every run: a second emulator derives the same alice.
        let again = with_fixtures(&["ci-starter.yaml"]).await;
        let ids = again.get_admin("identities").await.to_string();
        assert!(ids.contains(&alice));
    }

    #[tokio::test]
    async fn every_example_fixture_loads() {
        for name in [
            "ci-starter.yaml",
            "throttling.yaml",
            "sms-carrier-outage.yaml",
            "token-expiry.yaml",
            "multi-resource.yaml",
            "events-webhook.yaml",
            "snapshot-example.yaml",
        ] {
            let app = with_fixtures(&[name]).await;
            let loaded = app.get_admin("fixtures").await;
            assert_eq!(loaded["value"].as_array().expect("list").len(), 1, "{name}");
        }
    }

    #[tokio::test]
    async fn broken_fixtures_stop_the_start_with_file_line_and_reason() {
        let cases: [(&str, &str, &str, &str); 8] = [
            (
                "identities:\n  - nam: alice\n",
                "yaml",
                ":2:",
                "unknown field `nam`",
            ),
            (
                "identities:\n  - id: \"8:acs:nope\"\n",
                "yaml",
                ":2:",
                "is not a Communication Services user id",
            ),
            (
                "rules:\n  - name: a\n    match: {operation: Sms.Sent}\n    respond: {status: 429}\n",
                "yaml",
                ":",
                "unknown operation 'Sms.Sent'",
            ),
            (
                "rules:\n  - name: twice\n    match: {operation: Sms.Send}\n    respond: {status: 429}\n  - name: twice\n    match: {operation: Sms.Send}\n    respond: {status: 503}\n",
                "yaml",
                ":5:",
                "the rule name 'twice' is used twice",
            ),
            (
                "threads:\n  - topic: t\n    participants: [ghost]\n",
                "yaml",
                ":3:",
                "'ghost' is not an identity",
            ),
            (
                "identities:\n  - {name: a, resource: nowhere}\n",
                "yaml",
                ":2:",
                "unknown resource 'nowhere'",
            ),
            (
                "{\n  \"rules\": [\n    {\"name\": 1}\n  ]\n}\n",
                "json",
                ":3:",
                "invalid type",
            ),
            ("identities: [\n", "yaml", ":", "did not find expected"),
        ];
        for (text, ext, line, reason) in cases {
            let err = start_error(text, ext);
            assert!(err.contains(line), "{err} should name the line {line}");
            assert!(err.contains(reason), "{err} should say {reason}");
        }
    }

    #[test]
    fn the_binary_exits_non_zero_on_a_broken_fixture() {
        let path =
            std::env::temp_dir().join(format!("acs-emulator-broken-{}.yaml", uuid::Uuid::new_v4()));
        std::fs::write(
            &path,
            "rules:\n  - name: x\n    match: {operation: Nope}\n    fault: emptyResponse\n",
        )
        .expect("write");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_acs-emulator"))
            .args(["--port", "0", "--http-port", "0", "--fixtures"])
            .arg(&path)
            .output()
            .expect("runs");
        let _ = std::fs::remove_file(&path);
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("unknown operation 'Nope'"), "{stderr}");
        assert!(!String::from_utf8_lossy(&out.stdout).contains("is ready"));
    }

    #[tokio::test]
    async fn a_runtime_load_is_all_or_nothing_and_points_at_the_line() {
        let app = with_fixtures(&[]).await;
        let res = app
            .client
            .post(format!("{}/_emulator/fixtures", app.http))
            .header("content-type", "application/yaml")
            .body("identities:\n  - name: ok\n  - name: ok\n")
            .send()
            .await
            .expect("sent");
        let message = assert_error(res, 400, "InvalidFixture").await;
        assert!(message.starts_with("request body:3:"), "{message}");
        assert!(message.contains("used twice"), "{message}");
        // Nothing of the broken fixture was applied.
        assert_eq!(app.get_admin("identities").await["value"], json!([]));
        assert_eq!(app.get_admin("fixtures").await["value"], json!([]));

        app.load_ok(&json!({"identities": [{"name": "ok"}]})).await;
        assert_eq!(
            app.get_admin("identities").await["value"]
                .as_array()
                .expect("list")
                .len(),
            1
        );
        // A rule name already loaded is refused.
        let rule = json!({"rules": [{"name": "r", "match": {"operation": "Sms.Send"}, "respond": {"status": 503}}]});
        app.load_ok(&rule).await;
        let message = assert_error(app.load(&rule).await, 400, "InvalidFixture").await;
        assert!(message.contains("used twice"), "{message}");
    }
}

mod actions {
    use super::*;

    #[tokio::test]
    async fn a_scripted_response_has_its_status_headers_and_envelope() {
        let app = with_fixtures(&[]).await;
        app.load_ok(&json!({"rules": [{
            "name": "busy", "times": 1,
            "match": {"operation": "Identity.CreateUser"},
            "respond": {"status": 429, "headers": {"Retry-After": "7"}}
        }]}))
        .await;
        let res = app
            .signed("POST", "/identities?api-version=2023-10-01", b"")
            .await;
        assert_eq!(res.headers()["retry-after"], "7");
        let message = assert_error(res, 429, "TooManyRequests").await;
        assert!(message.contains("'busy'"), "{message}");
        // times: 1 — the next request reaches the real handler.
        assert_eq!(app.create_identity_status().await, 201);
        assert_eq!(app.statuses("").await, [429, 201]);
        assert_eq!(app.state.store().identities.len(), 1);
    }

    #[tokio::test]
    async fn a_custom_body_code_and_message_are_sent_as_given() {
        let app = with_fixtures(&[]).await;
        app.load_ok(&json!({"rules": [
            {"name": "code", "times": 1, "match": {"operation": "Identity.CreateUser"},
             "respond": {"status": 403, "code": "IdentityLimitReached", "message": "Scripted."}},
            {"name": "body", "priority": -1, "match": {"operation": "Identity.CreateUser"},
             "respond": {"status": 200, "body": {"custom": true}}}
        ]}))
        .await;
        let message = assert_error(
            app.signed("POST", "/identities?api-version=2023-10-01", b"")
                .await,
            403,
            "IdentityLimitReached",
        )
        .await;
        assert_eq!(message, "Scripted.");
        let res = app
            .signed("POST", "/identities?api-version=2023-10-01", b"")
            .await;
        assert_eq!(res.status(), 200);
        assert_eq!(body(res).await, json!({"custom": true}));
    }

    #[tokio::test]
    async fn a_delay_holds_the_request_then_the_real_handler_answers() {
        let app = with_fixtures(&[]).await;
        app.load_ok(&json!({"rules": [{
            "name": "slow", "match": {"operation": "Identity.CreateUser"}, "delay": "300ms"
        }]}))
        .await;
        let started = std::time::Instant::now();
        assert_eq!(app.create_identity_status().await, 201);
        assert!(started.elapsed() >= std::time::Duration::from_millis(300));
        assert_eq!(app.journal("rule=slow").await.len(), 1);
    }

    #[tokio::test]
    async fn transport_faults_break_the_connection_as_scripted() {
        let app = with_fixtures(&[]).await;
        for (name, fault) in [
            ("reset", "connectionReset"),
            ("empty", "emptyResponse"),
            ("truncated", "truncatedBody"),
        ] {
            app.load_ok(&json!({"rules": [{
                "name": name, "times": 1, "match": {"operation": "Identity.CreateUser"}, "fault": fault
            }]}))
            .await;
            // Over both listeners' kinds of connection: plain HTTP here.
            let target = "/identities?api-version=2023-10-01";
            let s = app.sign("POST", target, b"");
            let sent = app
                .client
                .post(format!("{}{target}", app.http))
                .header("x-ms-date", &s.date)
                .header("x-ms-content-sha256", &s.content_hash)
                .header("authorization", &s.authorization)
                .send()
                .await;
            match (fault, sent) {
                ("truncatedBody", Ok(res)) => {
                    assert_eq!(res.status(), 200);
                    assert!(res.bytes().await.is_err(), "the body must be cut short");
                }
                (_, Ok(res)) => panic!("{fault}: got an answer {}", res.status()),
                (_, Err(_)) => {}
            }
            // The server is fine afterwards and the rule is spent.
            assert_eq!(app.create_identity_status().await, 201, "{fault}");
        }
        let faulted: Vec<Value> = app.journal("status=0").await;
        assert_eq!(faulted.len(), 3);
        assert_eq!(app.state.store().identities.len(), 3);
    }

    #[tokio::test]
    async fn faults_work_over_https_too() {
        let app = with_fixtures(&[]).await;
        let (_, token) = app.create_user_and_token(&["chat"]).await;
        app.load_ok(&json!({"rules": [{
            "name": "gone", "times": 1, "match": {"operation": "Chat.ListThreads"}, "fault": "emptyResponse"
        }]}))
        .await;
        let path = "/chat/threads?api-version=2025-03-15";
        let first = app
            .client
            .get(format!("{}{path}", app.https))
            .bearer_auth(&token)
            .send()
            .await;
        assert!(first.is_err(), "no answer over TLS either");
        assert_eq!(app.chat("GET", &token, path, None).await.status(), 200);
    }

    #[tokio::test]
    async fn the_carrier_outage_fails_some_recipients_and_their_reports() {
        let app = with_fixtures(&["sms-carrier-outage.yaml"]).await;
        let res = app
            .send_sms(&sms(&["+14255550180", "+14255550199", "+14255550100"]))
            .await;
        assert_eq!(res.status(), 202);
        let items = body(res).await["value"].clone();
        assert_eq!(items[0]["successful"], true);
        assert_eq!(items[1]["successful"], false);
        assert_eq!(items[1]["httpStatusCode"], 503);
        assert_eq!(
            items[1]["errorMessage"],
            "The carrier for this number is unavailable."
        );
        assert_eq!(items[2]["successful"], true);
        // Only the accepted ones are in the outbox.
        assert_eq!(app.outbox("").await.len(), 2);

        let report = |id: String| {
            let app = &app;
            async move {
                app.signed(
                    "GET",
                    &format!("/deliveryReports/{id}?api-version=2025-08-01-preview"),
                    b"",
                )
                .await
            }
        };
        let failed = items[0]["messageId"].as_str().expect("id").to_string();
        let fine = items[2]["messageId"].as_str().expect("id").to_string();
        // Not yet: the failure arrives after 5 s of emulator time.
        assert_eq!(report(failed.clone()).await.status(), 404);
        assert_eq!(report(fine.clone()).await.status(), 200);
        app.advance("5s").await;
        let res = report(failed).await;
        assert_eq!(res.status(), 200);
        let failed_report = body(res).await;
        assert_eq!(failed_report["deliveryStatus"], "Failed", "{failed_report}");
        assert!(
            failed_report.to_string().contains("Carrier outage"),
            "{failed_report}"
        );
        assert_eq!(
            body(report(fine).await).await["deliveryStatus"],
            "Delivered"
        );
    }
}

mod state_machines {
    use super::*;

    #[tokio::test]
    async fn the_throttling_example_answers_202_429_202() {
        let app = with_fixtures(&["throttling.yaml"]).await;
        let verify = app.get_admin("verify").await;
        assert_eq!(verify["ok"], false, "nothing throttled yet: {verify}");
        for _ in 0..3 {
            app.send_sms(&sms(&["+14255550123"])).await;
        }
        assert_eq!(app.statuses("operation=Sms.Send").await, [202, 429, 202]);
        let throttled = app.journal("status=429").await;
        assert_eq!(throttled[0]["rule"], "second-send-throttled");
        assert_eq!(app.get_admin("verify").await["ok"], true);
        let scenarios = app.get_admin("scenarios").await;
        assert_eq!(scenarios["scenarios"]["sms-throttling"], "throttled-once");
    }

    #[tokio::test]
    async fn verify_can_be_limited_to_the_rules_or_scenarios_a_test_set_up() {
        let app = with_fixtures(&["throttling.yaml"]).await;
        // Another suite's rule whose expectation this test never meets.
        app.load_ok(&json!({"rules": [{
            "name": "identity-outage",
            "scenario": "outage",
            "match": {"operation": "Identity.CreateUser"},
            "respond": {"status": 503},
            "expect": {"count": 1},
        }]}))
        .await;
        for _ in 0..3 {
            app.send_sms(&sms(&["+14255550123"])).await;
        }
        let unmet = |v: &Value| {
            v["unmet"]
                .as_array()
                .expect("unmet")
                .iter()
                .map(|u| u["rule"].as_str().expect("rule").to_string())
                .collect::<Vec<_>>()
        };
        let all = app.get_admin("verify").await;
        assert_eq!(all["ok"], false);
        assert_eq!(unmet(&all), ["identity-outage"]);
        for query in [
            "rule=second-send-throttled",
            "rule=first-send-passes,second-send-throttled",
            "rule=first-send-passes&rule=second-send-throttled",
            "scenario=sms-throttling",
        ] {
            let scoped = app.get_admin(&format!("verify?{query}")).await;
            assert_eq!(scoped["ok"], true, "{query}: {scoped}");
        }
        let scoped = app.get_admin("verify?scenario=outage").await;
        assert_eq!(unmet(&scoped), ["identity-outage"]);
        // A misspelt name must not pass silently.
        for (query, status, code) in [
            ("rule=second-send-throtled", 404, "NotFound"),
            ("scenario=nope", 404, "NotFound"),
            ("rules=x", 400, "InvalidQueryParameter"),
        ] {
            let res = app
                .client
                .get(format!("{}/_emulator/verify?{query}", app.http))
                .send()
                .await
                .expect("sent");
            assert_error(res, status, code).await;
        }
    }

    #[tokio::test]
    async fn a_scenario_state_can_be_set_and_reset_over_the_control_api() {
        let app = with_fixtures(&["throttling.yaml"]).await;
        let put = app
            .client
            .put(format!("{}/_emulator/scenarios/sms-throttling", app.http))
            .json(&json!({"state": "first-sent"}))
            .send()
            .await
            .expect("sent");
        assert_eq!(put.status(), 200);
        // Straight to the throttled step.
        assert_eq!(app.send_sms(&sms(&["+14255550123"])).await.status(), 429);
        let reset = app
            .client
            .post(format!(
                "{}/_emulator/scenarios/sms-throttling/reset",
                app.http
            ))
            .send()
            .await
            .expect("sent");
        assert_eq!(reset.status(), 200);
        assert_eq!(
            app.get_admin("scenarios").await["scenarios"]["sms-throttling"],
            "Started"
        );
        assert_eq!(app.send_sms(&sms(&["+14255550123"])).await.status(), 202);
        assert_eq!(app.send_sms(&sms(&["+14255550123"])).await.status(), 429);
        let unknown = app
            .client
            .put(format!("{}/_emulator/scenarios/nope", app.http))
            .json(&json!({"state": "x"}))
            .send()
            .await
            .expect("sent");
        assert_error(unknown, 404, "NotFound").await;
    }

    #[tokio::test]
    async fn parallel_clients_see_each_step_exactly_once() {
        let app = with_fixtures(&[]).await;
        app.load_ok(&json!({"rules": [
            {"name": "one", "scenario": "s", "whenState": "Started", "setState": "two",
             "match": {"operation": "Identity.CreateUser"}, "respond": {"status": 503}},
            {"name": "two", "scenario": "s", "whenState": "two", "setState": "done",
             "match": {"operation": "Identity.CreateUser"}, "respond": {"status": 429}}
        ]}))
        .await;
        let app = Arc::new(app);
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let app = app.clone();
                tokio::spawn(async move { app.create_identity_status().await })
            })
            .collect();
        let mut statuses = Vec::new();
        for t in tasks {
            statuses.push(t.await.expect("task"));
        }
        statuses.sort_unstable();
        let mut expected = vec![201; 14];
        expected.extend([429, 503]);
        assert_eq!(statuses, expected);
        assert_eq!(app.state.store().identities.len(), 14);
    }

    #[tokio::test]
    async fn a_seed_makes_probability_and_ids_reproducible() {
        async fn run(seed: u64) -> (Vec<u16>, Vec<String>) {
            let mut config = Config::for_tests();
            config.scenarios.seed = Some(seed);
            let app = spawn_with(config).await;
            app.load_ok(&json!({"rules": [{"name": "flaky", "probability": 0.5,
                "match": {"operation": "Identity.CreateUser"}, "respond": {"status": 503}}]}))
                .await;
            let mut statuses = Vec::new();
            for _ in 0..24 {
                statuses.push(app.create_identity_status().await);
            }
            let ids: Vec<String> = app.get_admin("identities").await["value"]
                .as_array()
                .expect("list")
                .iter()
                .map(|i| i["id"].as_str().expect("id").to_string())
                .collect();
            (statuses, ids)
        }
        let (a, ids_a) = run(7).await;
        let (b, ids_b) = run(7).await;
        assert_eq!(a, b);
        let mut sorted_a = ids_a.clone();
        let mut sorted_b = ids_b.clone();
        sorted_a.sort();
        sorted_b.sort();
        assert_eq!(sorted_a, sorted_b, "the same ids in the same runs");
        assert!(a.contains(&503) && a.contains(&201), "{a:?}");
        let (c, _) = run(8).await;
        assert_ne!(a, c);
    }
}

mod control {
    use super::*;

    /// A request the edge refuses before it is routed (here a body over `--max-body-bytes`) is
    /// journaled with the operation its method and path name; an unknown path with none.
    #[tokio::test]
    async fn refused_requests_are_journaled_with_their_operation() {
        let mut config = Config::for_tests();
        config.limits.max_body_bytes = 1024;
        let app = spawn_with(config).await;
        let res = app
            .signed("POST", "/sms?api-version=2021-03-07", &[b' '; 2048])
            .await;
        assert_eq!(res.status(), 413);
        let res = app
            .signed("POST", "/sms/nothing?api-version=2021-03-07", b"")
            .await;
        assert_eq!(res.status(), 404);
        let entries = app.journal("").await;
        let seen: Vec<(Value, Value)> = entries
            .iter()
            .map(|e| (e["operation"].clone(), e["status"].clone()))
            .collect();
        assert_eq!(
            seen,
            [(json!("Sms.Send"), json!(413)), (Value::Null, json!(404))]
        );
        assert_eq!(app.journal("operation=Sms.Send").await.len(), 1);
    }

    #[tokio::test]
    async fn reset_puts_the_fixture_world_back() {
        let app = with_fixtures(&["ci-starter.yaml", "throttling.yaml"]).await;
        app.create_identity().await;
        app.send_sms(&sms(&["+14255550123"])).await;
        app.send_sms(&sms(&["+14255550123"])).await;
        assert_eq!(app.state.store().identities.len(), 3);
        let res = app
            .client
            .post(format!("{}/_emulator/reset", app.http))
            .send()
            .await
            .expect("sent");
        assert_eq!(res.status(), 200);
        // The fixture's two users and thread are back; the extra user is gone; the scenario
        // starts over; the journal is empty.
        assert_eq!(app.state.store().identities.len(), 2);
        assert_eq!(
            app.get_admin("chat/threads").await["value"]
                .as_array()
                .expect("list")
                .len(),
            1
        );
        assert!(app.journal("").await.is_empty());
        assert_eq!(
            app.get_admin("scenarios").await["scenarios"]["sms-throttling"],
            "Started"
        );
        assert_eq!(app.send_sms(&sms(&["+14255550123"])).await.status(), 202);
        assert_eq!(app.send_sms(&sms(&["+14255550123"])).await.status(), 429);
    }

    #[tokio::test]
    async fn one_resource_can_be_reset_alone() {
        let app = with_fixtures(&["multi-resource.yaml"]).await;
        app.create_identity().await;
        let contoso = contoso_key();
        let target = "/identities?api-version=2023-10-01";
        let s = app.sign_with(
            &contoso,
            "POST",
            target,
            &app.date_now(),
            &app.http_host(),
            b"",
        );
        assert_eq!(
            app.send("POST", target, &s.headers(), b"").await.status(),
            201
        );
        let count = |r: &'static str| {
            let app = &app;
            async move {
                app.get_admin(&format!("identities?resource={r}")).await["value"]
                    .as_array()
                    .expect("list")
                    .len()
            }
        };
        assert_eq!(count("contoso").await, 2);
        let res = app
            .client
            .post(format!("{}/_emulator/reset?resource=contoso", app.http))
            .send()
            .await
            .expect("sent");
        assert_eq!(res.status(), 200);
        assert_eq!(count("contoso").await, 1, "the fixture's agent is back");
        assert_eq!(count("default").await, 1, "default is untouched");
        let res = app
            .client
            .post(format!("{}/_emulator/reset?resource=nowhere", app.http))
            .send()
            .await
            .expect("sent");
        assert_error(res, 404, "NotFound").await;
    }

    #[tokio::test]
    async fn the_journal_records_auth_outcomes_rules_and_filters() {
        let app = with_fixtures(&["throttling.yaml"]).await;
        app.create_identity().await;
        let denied = app
            .send("POST", "/identities?api-version=2023-10-01", &[], b"")
            .await;
        assert_eq!(denied.status(), 401);
        let (_, token) = app.create_user_and_token(&["chat"]).await;
        app.chat("GET", &token, "/chat/threads?api-version=2025-03-15", None)
            .await;
        app.send_sms(&sms(&["+14255550123"])).await;
        app.send_sms(&sms(&["+14255550123"])).await;
        // Control requests are not journaled.
        app.get_admin("scenarios").await;

        let all = app.journal("").await;
        let auth: Vec<&str> = all
            .iter()
            .map(|e| e["auth"].as_str().expect("auth"))
            .collect();
        assert_eq!(
            auth,
            [
                "accessKey",
                "denied",
                "accessKey",
                "userToken",
                "accessKey",
                "accessKey"
            ]
        );
        let first = &all[0];
        assert_eq!(first["operation"], "Identity.CreateUser");
        assert_eq!(first["resource"], "default");
        assert_eq!(first["apiVersion"], "2023-10-01");
        assert_eq!(first["method"], "POST");
        assert_eq!(first["path"], "/identities");
        assert!(all[1]["resource"].is_null());
        assert_eq!(app.journal("rule=second-send-throttled").await.len(), 1);
        assert_eq!(app.journal("rule=*").await.len(), 2);
        assert_eq!(app.journal("operation=Chat.ListThreads").await.len(), 1);
        let seq = all[3]["seq"].as_u64().expect("seq");
        assert_eq!(app.journal(&format!("after={seq}")).await.len(), 2);
        assert_eq!(app.journal("limit=1").await[0]["seq"], all[5]["seq"]);
        assert_eq!(app.get_admin("journal/count?status=202").await["count"], 1);
        let bad = app
            .client
            .get(format!("{}/_emulator/journal?operation=Sms.Sent", app.http))
            .send()
            .await
            .expect("sent");
        assert_error(bad, 400, "InvalidQueryParameter").await;
        let cleared = app
            .client
            .delete(format!("{}/_emulator/journal", app.http))
            .send()
            .await
            .expect("sent");
        assert_eq!(cleared.status(), 200);
        assert!(app.journal("").await.is_empty());
    }

    #[tokio::test]
    async fn the_journal_is_bounded() {
        let mut config = Config::for_tests();
        config.scenarios.journal_size = 3;
        let app = spawn_with(config).await;
        for _ in 0..5 {
            app.create_identity().await;
        }
        let listing = app.get_admin("journal").await;
        assert_eq!(listing["value"].as_array().expect("list").len(), 3);
        assert_eq!(listing["dropped"], 2);
        assert_eq!(listing["value"][0]["seq"], 3);
    }

    #[tokio::test]
    async fn a_removed_rule_stays_removed_after_a_reset() {
        let app = with_fixtures(&["throttling.yaml"]).await;
        let res = app
            .client
            .delete(format!(
                "{}/_emulator/rules/second-send-throttled",
                app.http
            ))
            .send()
            .await
            .expect("sent");
        assert_eq!(res.status(), 204);
        app.client
            .post(format!("{}/_emulator/reset", app.http))
            .send()
            .await
            .expect("sent");
        for _ in 0..3 {
            assert_eq!(app.send_sms(&sms(&["+14255550123"])).await.status(), 202);
        }
        let rules = app.get_admin("scenarios").await["rules"].clone();
        assert_eq!(rules.as_array().expect("rules").len(), 1);
    }
}

fn contoso_key() -> Vec<u8> {
    STANDARD
        .decode("Y29udG9zby1wcmltYXJ5LWtleS1mb3ItdGhlLWFjcy1lbXVsYXRvci0wMDAwMDAwMA==")
        .expect("key")
}

fn fabrikam_key() -> Vec<u8> {
    STANDARD
        .decode("ZmFicmlrYW0tcHJpbWFyeS1rZXktZm9yLXRoZS1hY3MtZW11bGF0b3ItMDAwMDAwMA==")
        .expect("key")
}

mod resources {
    use super::*;

    async fn signed_as(
        app: &TestApp,
        key: &[u8],
        method: &str,
        target: &str,
        body: &Value,
    ) -> reqwest::Response {
        let bytes = body.to_string();
        let s = app.sign_with(
            key,
            method,
            target,
            &app.date_now(),
            &app.http_host(),
            bytes.as_bytes(),
        );
        let mut headers = s.headers().to_vec();
        headers.push(("content-type", "application/json"));
        app.send(method, target, &headers, bytes.as_bytes()).await
    }

    #[tokio::test]
    async fn the_signing_key_picks_the_resource() {
        let app = with_fixtures(&["multi-resource.yaml"]).await;
        let res = signed_as(
            &app,
            &contoso_key(),
            "POST",
            "/identities?api-version=2023-10-01",
            &json!({"createTokenWithScopes": ["chat"]}),
        )
        .await;
        assert_eq!(res.status(), 201);
        let created = body(res).await;
        let id = created["identity"]["id"].as_str().expect("id");
        assert!(
            id.starts_with("8:acs:c0c0c0c0-0000-4000-8000-000000000001_"),
            "{id}"
        );
        // Its token routes Chat requests to contoso, whose state is separate.
        let token = created["accessToken"]["token"].as_str().expect("token");
        let payload = crate::helpers::jwt_payload(token);
        assert_eq!(
            payload["resourceId"],
            "c0c0c0c0-0000-4000-8000-000000000001"
        );
        let res = app
            .chat("GET", token, "/chat/threads?api-version=2025-03-15", None)
            .await;
        assert_eq!(res.status(), 200);
        assert_eq!(app.state.store().identities.len(), 0, "default saw nothing");
        let journal = app.journal("operation=Chat.ListThreads").await;
        assert_eq!(journal[0]["resource"], "contoso");

        // A user of another resource cannot join a default-resource thread.
        let (_, default_token) = app.create_user_and_token(&["chat"]).await;
        let res = app
            .chat(
                "POST",
                &default_token,
                "/chat/threads?api-version=2025-03-15",
                Some(&json!({"topic": "x", "participants": [crate::helpers::participant(id)]})),
            )
            .await;
        assert_eq!(res.status(), 201);
        let created = body(res).await;
        assert_eq!(
            created["invalidParticipants"][0]["code"], "403",
            "{created}"
        );
    }

    #[tokio::test]
    async fn each_resource_sends_from_its_own_numbers_and_has_its_own_rules() {
        let app = with_fixtures(&["multi-resource.yaml"]).await;
        let mut message = sms(&["+14255550123"]);
        message["from"] = json!("+18005550111");
        // contoso owns +18005550111; default does not.
        let res = signed_as(
            &app,
            &contoso_key(),
            "POST",
            "/sms?api-version=2021-03-07",
            &message,
        )
        .await;
        assert_eq!(res.status(), 202);
        assert_eq!(app.send_sms(&message).await.status(), 401);
        assert_eq!(app.outbox("resource=contoso").await.len(), 1);
        assert!(app.outbox("").await.is_empty());
        // fabrikam's outage rule applies to fabrikam only.
        message["from"] = json!("+18005550122");
        let res = signed_as(
            &app,
            &fabrikam_key(),
            "POST",
            "/sms?api-version=2021-03-07",
            &message,
        )
        .await;
        let error = assert_error(res, 503, "ServiceUnavailable").await;
        assert!(error.contains("fabrikam"), "{error}");
        let journal = app.journal("rule=fabrikam-sms-outage").await;
        assert_eq!(journal[0]["resource"], "fabrikam");
    }

    #[tokio::test]
    async fn resources_are_listed_with_connection_strings() {
        let app = with_fixtures(&["multi-resource.yaml"]).await;
        let list = app.get_admin("resources").await["value"].clone();
        let names: Vec<&str> = list
            .as_array()
            .expect("list")
            .iter()
            .map(|r| r["name"].as_str().expect("name"))
            .collect();
        assert_eq!(names, ["default", "contoso", "fabrikam"]);
        let port = app.https.rsplit(':').next().expect("port");
        assert_eq!(
            list[1]["connectionString"],
            format!(
                "endpoint=https://127.0.0.1:{port}/;accesskey=Y29udG9zby1wcmltYXJ5LWtleS1mb3ItdGhlLWFjcy1lbXVsYXRvci0wMDAwMDAwMA=="
            )
        );
        assert_eq!(list[1]["hosts"], json!(["contoso.localhost"]));
        assert_eq!(list[2]["phoneNumbers"], json!(["+18005550122"]));
    }

    #[tokio::test]
    async fn fixture_resources_must_not_clash() {
        let app = with_fixtures(&["multi-resource.yaml"]).await;
        let clash = json!({"resources": [{
            "name": "copy", "accessKey": "Y29udG9zby1wcmltYXJ5LWtleS1mb3ItdGhlLWFjcy1lbXVsYXRvci0wMDAwMDAwMA=="
        }]});
        // A clash with a running resource is a conflict.
        let message = assert_error(app.load(&clash).await, 409, "Conflict").await;
        assert!(
            message.contains("access key of resource 'contoso'"),
            "{message}"
        );
        // Two resources of one fixture that clash make the fixture invalid.
        let twice = json!({"resources": [
            {"name": "copy", "accessKey": "eHl6"}, {"name": "copy", "accessKey": "YWJj"}]});
        let message = assert_error(app.load(&twice).await, 400, "InvalidFixture").await;
        assert!(message.contains("declared twice"), "{message}");
        let default = json!({"resources": [{"name": "default", "accessKey": "eHl6"}]});
        let message = assert_error(app.load(&default).await, 400, "InvalidFixture").await;
        assert!(message.contains("command-line flags"), "{message}");
    }
}

mod entra_routing {
    use super::*;

    /// Creates a user at `https://{host}` (the name resolved to the emulator), as a client
    /// configured with that endpoint does: over HTTP/2 the host is the `:authority`.
    async fn create_user(app: &TestApp, token: &str, host: &str) -> reqwest::Response {
        let addr: std::net::SocketAddr = app
            .https
            .trim_start_matches("https://")
            .parse()
            .expect("address");
        let name = host.rsplit_once(':').map_or(host, |(name, _)| name);
        let cert = reqwest::Certificate::from_pem(app.state.tls_cert_pem.as_bytes()).expect("pem");
        let client = reqwest::Client::builder()
            .add_root_certificate(cert)
            .tls_built_in_root_certs(false)
            .resolve(name, addr)
            .build()
            .expect("client");
        client
            .post(format!("https://{host}/identities?api-version=2023-10-01"))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .expect("sent")
    }

    #[tokio::test]
    async fn an_entra_token_reaches_the_resource_its_host_names() {
        let mut config = Config::for_tests();
        config.scenarios.fixtures = vec![example("multi-resource.yaml")];
        // A second client the fixture's fabrikam does not allow.
        config
            .tokens
            .entra_clients
            .push("acacacac-0000-4000-8000-0000000000ee:other-secret".into());
        let app = spawn_with(config).await;
        let token =
            crate::entra::entra_token(&app, "https://communication.azure.com/.default").await;
        let port = app.https.rsplit(':').next().expect("port").to_string();

        let res = create_user(&app, &token, &format!("contoso.localhost:{port}")).await;
        assert_eq!(res.status(), 201);
        let id = body(res).await["identity"]["id"]
            .as_str()
            .expect("id")
            .to_string();
        assert!(id.starts_with("8:acs:c0c0c0c0-"), "{id}");
        // No resource claims 127.0.0.1: default.
        let res = create_user(&app, &token, &format!("127.0.0.1:{port}")).await;
        let id = body(res).await["identity"]["id"]
            .as_str()
            .expect("id")
            .to_string();
        assert!(id.starts_with("8:acs:acacacac-"), "{id}");

        // fabrikam allows only the default client.
        let res = create_user(&app, &token, &format!("fabrikam.localhost:{port}")).await;
        assert_eq!(res.status(), 201);
        let other = app
            .client
            .post(format!(
                "{}/{}/oauth2/v2.0/token",
                app.https,
                acs_emulator::config::DEFAULT_ENTRA_TENANT
            ))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "acacacac-0000-4000-8000-0000000000ee"),
                ("client_secret", "other-secret"),
                ("scope", "https://communication.azure.com/.default"),
            ])
            .send()
            .await
            .expect("sent");
        assert_eq!(other.status(), 200);
        let other = body(other).await["access_token"]
            .as_str()
            .expect("token")
            .to_string();
        let res = create_user(&app, &other, &format!("fabrikam.localhost:{port}")).await;
        let message = assert_error(res, 401, "InvalidAuthenticationToken").await;
        assert!(message.contains("fabrikam"), "{message}");
    }
}

mod fixture_subscriptions {
    use super::*;
    use crate::webhook::Webhook;

    #[tokio::test]
    async fn the_events_example_loads_and_a_fixture_subscription_gets_events() {
        let app = with_fixtures(&["events-webhook.yaml"]).await;
        let hook = Webhook::start().await;
        app.load_ok(&json!({"subscriptions": [{
            "name": "from-a-fixture", "endpoint": hook.url, "eventTypes": ["SMSReceived"]
        }]}))
        .await;
        let res = app
            .client
            .post(format!("{}/_emulator/sms/inbound", app.http))
            .json(&json!({"from": "+14255550123", "to": "+18005550100", "message": "STOP"}))
            .send()
            .await
            .expect("sent");
        assert_eq!(res.status(), 202);
        let delivered = app
            .get_admin("events?state=delivered&subscription=from-a-fixture&wait=10s&count=1")
            .await;
        assert_eq!(
            delivered["value"].as_array().expect("list").len(),
            1,
            "{delivered}"
        );
        let events = hook.events();
        assert_eq!(
            events[0]["eventType"],
            "Microsoft.Communication.SMSReceived"
        );
        assert_eq!(events[0]["data"]["Message"], "STOP");
        // Duplicate names and unknown resources are refused with the line.
        let again = app
            .load(&json!({"subscriptions": [{"name": "from-a-fixture", "endpoint": hook.url}]}))
            .await;
        let message = assert_error(again, 400, "InvalidFixture").await;
        assert!(message.contains("used twice"), "{message}");
        let nowhere = app
            .load(&json!({"subscriptions": [{"endpoint": hook.url, "resource": "nowhere"}]}))
            .await;
        let message = assert_error(nowhere, 400, "InvalidFixture").await;
        assert!(message.contains("unknown resource 'nowhere'"), "{message}");
        // They stay through a reset, like rules.
        app.client
            .post(format!("{}/_emulator/reset", app.http))
            .send()
            .await
            .expect("sent");
        let subs = app.get_admin("events/subscriptions").await;
        assert!(subs.to_string().contains("from-a-fixture"), "{subs}");
    }

    #[tokio::test]
    async fn a_scripted_delivery_failure_reaches_the_webhook_as_a_failed_report() {
        let app = with_fixtures(&["sms-carrier-outage.yaml"]).await;
        let hook = Webhook::start().await;
        app.load_ok(&json!({"subscriptions": [{
            "name": "reports", "endpoint": hook.url, "eventTypes": ["SMSDeliveryReportReceived"]
        }]}))
        .await;
        let res = app.send_sms(&sms(&["+14255550181", "+14255550100"])).await;
        assert_eq!(res.status(), 202);
        // The healthy number's report is due at once; the failing one after 5 s of emulator time.
        app.advance("5s").await;
        let delivered = app
            .get_admin("events?state=delivered&subscription=reports&wait=10s&count=2")
            .await;
        assert_eq!(
            delivered["value"].as_array().expect("list").len(),
            2,
            "{delivered}"
        );
        let events = hook.events();
        let status_of = |to: &str| {
            events
                .iter()
                .find(|e| e["data"]["To"] == to)
                .map(|e| e["data"]["DeliveryStatus"].clone())
        };
        assert_eq!(
            status_of("+14255550181"),
            Some(json!("Failed")),
            "{events:?}"
        );
        assert_eq!(
            status_of("+14255550100"),
            Some(json!("Delivered")),
            "{events:?}"
        );
    }
}
