//! Listeners, TLS, error envelopes for anything that is not an operation, and the binary itself.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::{assert_error, spawn_app, spawn_with};

#[tokio::test]
async fn unknown_routes_get_a_404_envelope() {
    let app = spawn_app().await;
    for base in [&app.http, &app.https] {
        let res = app
            .client
            .get(format!("{base}/nothing/here?api-version=2023-10-01"))
            .send()
            .await
            .expect("sent");
        let message = assert_error(res, 404, "NotFound").await;
        assert!(message.contains("/nothing/here"), "{message}");
    }
}

#[tokio::test]
async fn unsupported_methods_get_a_405_envelope() {
    let app = spawn_app().await;
    let res = app
        .signed("GET", "/identities?api-version=2023-10-01", b"")
        .await;
    assert_error(res, 405, "MethodNotAllowed").await;
    let res = app
        .client
        .delete(format!("{}/_emulator/health", app.http))
        .send()
        .await
        .expect("sent");
    assert_error(res, 405, "MethodNotAllowed").await;
}

#[tokio::test]
async fn an_oversized_body_gets_a_413_envelope() {
    let mut config = acs_emulator::Config::for_tests();
    config.limits.max_body_bytes = 4096;
    let app = spawn_with(config).await;
    let body = vec![b' '; 5000];
    let res = app
        .signed("POST", "/identities?api-version=2023-10-01", &body)
        .await;
    assert_error(res, 413, "RequestEntityTooLarge").await;
    // The server is still healthy afterwards.
    app.create_identity().await;
}

#[tokio::test]
async fn the_client_request_id_is_echoed_and_a_correlation_vector_is_sent() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(format!("{}/_emulator/health", app.http))
        .header("x-ms-client-request-id", "abc-123")
        .send()
        .await
        .expect("sent");
    assert_eq!(res.headers()["x-ms-client-request-id"], "abc-123");
    assert!(res.headers().contains_key("ms-cv"));
}

#[tokio::test]
async fn a_user_supplied_certificate_is_served() {
    let dir = std::env::temp_dir().join(format!("acs-emulator-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("dir");
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .expect("cert");
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, certified.cert.pem()).expect("write");
    std::fs::write(&key_path, certified.signing_key.serialize_pem()).expect("write");
    let mut config = acs_emulator::Config::for_tests();
    config.listeners.tls_cert = Some(cert_path);
    config.listeners.tls_key = Some(key_path);
    let app = spawn_with(config).await;
    assert_eq!(app.state.tls_cert_pem.as_str(), certified.cert.pem());
    let client = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(certified.cert.pem().as_bytes()).expect("pem"),
        )
        .tls_built_in_root_certs(false)
        .build()
        .expect("client");
    let res = client
        .get(format!("{}/_emulator/health", app.https))
        .send()
        .await
        .expect("TLS with the user's cert");
    assert_eq!(res.status(), 200);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn invalid_configuration_is_rejected_with_a_reason() {
    type Mutation = fn(&mut acs_emulator::Config);
    let cases: [(&str, Mutation); 5] = [
        ("--access-key", |c| {
            c.resource.access_key = "not base64!".into()
        }),
        ("--resource-id", |c| c.resource.resource_id = "nope".into()),
        ("--token-lifetime", |c| {
            c.tokens.token_lifetime = Some(Duration::from_millis(10))
        }),
        ("--resource-location", |c| {
            c.resource.resource_location = "a b".into()
        }),
        ("--tls-cert", |c| {
            c.listeners.tls_cert = Some("/does/not/exist.pem".into())
        }),
    ];
    for (flag, mutate) in cases {
        let mut config = acs_emulator::Config::for_tests();
        mutate(&mut config);
        let err = config.validate().expect_err(flag).to_string();
        assert!(err.contains(flag), "{flag}: {err}");
    }
}

fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_acs-emulator"))
}

#[test]
fn the_binary_exits_non_zero_with_one_line_on_bad_flags() {
    let out = binary()
        .args(["--access-key", "%%%"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--access-key"), "{stderr}");

    let out = binary()
        .env("ACS_EMULATOR_CLOCK_SKEW", "soon")
        .output()
        .expect("runs");
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("clock-skew"));
}

#[test]
fn a_bad_event_webhook_is_an_invalid_option() {
    // The events module checks the value at start-up; it is still a configuration error: one
    // line naming the flag and the value, exit status 2, nothing bound.
    for (args, reason) in [
        (
            ["--event-webhook", "http://localhost:1/#types=SMSSent"],
            "event type 'SMSSent'",
        ),
        (["--event-webhook", "ftp://localhost/"], "not an absolute"),
    ] {
        let out = binary()
            .args(args)
            .args(["--port", "0", "--http-port", "0"])
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with(&format!(
                "acs-emulator: invalid configuration: --event-webhook '{}': ",
                args[1]
            )),
            "{stderr}"
        );
        assert!(stderr.contains(reason), "{stderr}");
    }
    let out = binary()
        .env(
            "ACS_EMULATOR_EVENT_WEBHOOK",
            "http://localhost:1/ http://x/#colour=red",
        )
        .args(["--port", "0", "--http-port", "0"])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    // Nothing is subscribed (no "event subscription added" line) until every webhook is valid.
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("--event-webhook 'http://x/#colour=red': unknown or malformed option"),
        "{stderr}"
    );
}

#[test]
fn the_binary_reports_a_port_in_use_with_the_flag_that_changes_it() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    for (args, flag) in [
        (["--port", &port, "--http-port", "0"], "--port"),
        (["--port", "0", "--http-port", &port], "--http-port"),
    ] {
        let out = binary().args(args).output().expect("runs");
        // Start-up failures exit 1; a command line that does not parse exits 2.
        assert_eq!(out.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains("the port is in use"), "{stderr}");
        assert!(
            stderr.contains(&format!("choose another with {flag} ")),
            "{stderr}"
        );
    }
}

#[test]
fn the_binary_prints_a_ready_block_and_stops_gracefully_on_sigterm() {
    let dir = std::env::temp_dir().join(format!("acs-emulator-test-{}", uuid::Uuid::new_v4()));
    let cert = dir.join("cert.pem");
    let mut child = binary()
        .args([
            "--port",
            "0",
            "--http-port",
            "0",
            "--log-level",
            "warn",
            "--tls-cert-out",
        ])
        .arg(&cert)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawns");
    let started = Instant::now();
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut banner = String::new();
    while !banner.contains("Stop with") {
        let mut line = String::new();
        if stdout.read_line(&mut line).expect("read") == 0 {
            break;
        }
        banner.push_str(&line);
    }
    let ready_after = started.elapsed();
    assert!(banner.contains("is ready"), "{banner}");
    let connection = banner
        .lines()
        .find_map(|l| l.trim().strip_prefix("Connection string"))
        .expect("connection string line")
        .trim()
        .to_string();
    assert!(
        connection.starts_with("endpoint=https://127.0.0.1:"),
        "{connection}"
    );
    assert!(connection.contains(&format!(
        ";accesskey={}",
        acs_emulator::config::DEFAULT_ACCESS_KEY
    )));
    let bundle = banner
        .lines()
        .find_map(|l| l.trim().strip_prefix("CA bundle"))
        .expect("CA bundle line")
        .trim()
        .to_string();
    for needle in [
        format!("REQUESTS_CA_BUNDLE={bundle}"),
        format!("SSL_CERT_FILE={bundle}"),
        format!("NODE_EXTRA_CA_CERTS={bundle}"),
        format!("TLS certificate    {}", cert.display()),
    ] {
        assert!(banner.contains(&needle), "missing {needle}: {banner}");
    }
    assert!(
        std::fs::read_to_string(&bundle)
            .expect("bundle written")
            .contains("BEGIN CERTIFICATE")
    );
    assert!(
        std::fs::read_to_string(&cert)
            .expect("cert written")
            .contains("BEGIN CERTIFICATE")
    );

    // Plain HTTP health check against the printed port.
    let http = banner
        .lines()
        .find_map(|l| l.trim().strip_prefix("HTTP endpoint"))
        .expect("http line")
        .trim()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let mut stream = std::net::TcpStream::connect(&http).expect("connect");
    stream
        .write_all(b"GET /_emulator/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");

    // The healthcheck subcommand agrees, for liveness and readiness.
    let port = http.rsplit(':').next().expect("port").to_string();
    for extra in [&[][..], &["--ready"][..]] {
        let path = if extra.is_empty() { "health" } else { "ready" };
        let out = binary()
            .args(["healthcheck", "--url"])
            .arg(format!("http://{http}/_emulator/{path}"))
            .output()
            .expect("runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = binary()
            .args(["--http-port", &port, "healthcheck"])
            .args(extra)
            .output()
            .expect("runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(exit) = child.try_wait().expect("wait") {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "did not stop within 10 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "exit status {exit:?}");
    // The certificate goes where it was asked to and stays; the bundle was in the temp
    // directory under a name the emulator chose, and is removed.
    assert!(cert.exists());
    assert!(
        !std::path::Path::new(&bundle).exists(),
        "{bundle} left behind"
    );
    eprintln!("exec to ready block: {ready_after:?}");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn invalid_percent_encoding_in_an_id_is_a_validation_error() {
    let app = spawn_app().await;
    let res = app
        .signed(
            "POST",
            "/identities/%ZZ%3A/:revokeAccessTokens?api-version=2023-10-01",
            b"",
        )
        .await;
    assert_error(res, 400, "ValidationError").await;
}

#[tokio::test]
async fn deeply_nested_json_is_rejected_cleanly() {
    let app = spawn_app().await;
    let id = app.create_identity().await;
    let nested = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let target = format!(
        "/identities/{}/:issueAccessToken?api-version=2023-10-01",
        crate::helpers::encode(&id)
    );
    let res = app.signed("POST", &target, nested.as_bytes()).await;
    assert_error(res, 400, "InvalidRequestBody").await;
    assert_eq!(
        app.signed("POST", "/identities?api-version=2023-10-01", b"")
            .await
            .status(),
        201
    );
}

#[tokio::test]
async fn garbage_on_the_wire_does_not_hurt_the_server() {
    let app = spawn_app().await;
    let addr = app.http_host();
    let garbage: [&[u8]; 4] = [
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        b"GET /_emulator/health HTTP/1.1\r\nHost: \xff\xfe\r\n\r\n",
        b"NOT-HTTP\r\n\r\n",
        b"POST /identities?api-version=2023-10-01 HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n",
    ];
    for bytes in garbage {
        let mut stream = tokio::net::TcpStream::connect(&addr)
            .await
            .expect("connect");
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let _ = stream.write_all(bytes).await;
        let mut buf = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buf)).await;
        if let Some(status) = std::str::from_utf8(&buf)
            .ok()
            .and_then(|t| t.split(' ').nth(1))
        {
            assert!(
                !status.starts_with('5'),
                "{}",
                String::from_utf8_lossy(&buf)
            );
        }
    }
    let res = app
        .client
        .get(format!("{}/_emulator/health", app.http))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 200);
}

#[test]
fn the_healthcheck_fails_when_nothing_answers() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port().to_string();
    drop(listener);
    let out = binary()
        .args(["--http-port", &port, "healthcheck", "--timeout", "1s"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot connect"));
}

#[test]
fn help_groups_the_options_under_headings_and_ends_with_examples() {
    for flag in ["-h", "--help"] {
        let out = binary().arg(flag).output().expect("runs");
        assert!(out.status.success());
        let help = String::from_utf8_lossy(&out.stdout);
        let headings = help
            .lines()
            .filter(|l| !l.starts_with(' ') && l.ends_with(':'))
            .collect::<Vec<_>>();
        assert_eq!(
            headings,
            [
                "Commands:",
                "Options:",
                "Listeners & TLS:",
                "Control API:",
                "Access keys & resources:",
                "Tokens & Entra ID:",
                "SMS:",
                "Email:",
                "SMTP relay:",
                "Events:",
                "Fixtures & scenarios:",
                "State:",
                "Limits:",
                "Logging:",
                "Examples:",
            ],
            "{help}"
        );
        // Only --help and --version stay outside the headings.
        let options = help
            .lines()
            .skip_while(|l| *l != "Options:")
            .skip(1)
            .take_while(|l| l.is_empty() || l.starts_with(' '))
            .filter(|l| l.trim_start().starts_with('-'))
            .collect::<Vec<_>>();
        assert_eq!(options.len(), 2, "an option without a heading: {options:?}");
        for needle in [
            "acs-emulator --fixtures fixtures/ci-starter.yaml",
            "/_emulator/operations",
            "Exit status: 0",
        ] {
            assert!(help.contains(needle), "{flag}: missing {needle}");
        }
    }
}

/// Starts the binary on free ports with `args`; returns it and its HTTP endpoint.
fn start_binary(args: &[&str]) -> (std::process::Child, String) {
    let mut child = binary()
        .args(["--port", "0", "--http-port", "0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawns");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut http = None;
    while http.is_none() {
        let mut line = String::new();
        assert!(stdout.read_line(&mut line).expect("read") > 0, "no banner");
        http = line
            .trim()
            .strip_prefix("HTTP endpoint")
            .map(|v| v.trim().trim_end_matches('/').to_string());
    }
    // Keep draining stdout so that the emulator never blocks on it.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    (child, http.expect("http endpoint"))
}

/// SIGTERM, then everything the process wrote to stderr.
fn stop_binary(mut child: std::process::Child) -> String {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("read");
    assert!(child.wait().expect("wait").success(), "{stderr}");
    stderr
}

#[tokio::test]
async fn the_access_log_is_one_short_line_per_request_and_none_is_lost() {
    let (child, http) = start_binary(&[]);
    let client = reqwest::Client::new();
    const REQUESTS: usize = 300;
    for _ in 0..REQUESTS {
        let res = client
            .post(format!("{http}/identities?api-version=2023-10-01"))
            .send()
            .await
            .expect("sent");
        assert_eq!(res.status(), 401);
    }
    let res = client
        .get(format!("{http}/_emulator/health"))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 200);
    // Stop at once: the lines still queued are written before the process exits.
    let stderr = stop_binary(child);
    let access = stderr
        .lines()
        .filter(|l| l.contains("/identities"))
        .filter(|l| !l.contains("authentication failed"))
        .collect::<Vec<_>>();
    assert_eq!(access.len(), REQUESTS, "{stderr}");
    let line = access[0];
    assert!(line.len() < 100, "{line}");
    assert!(
        line.contains(" INFO POST /identities 401 ") && line.ends_with("ms Identity.CreateUser"),
        "{line}"
    );
    // Health checks come every few seconds from container runtimes: DEBUG only.
    assert!(!stderr.contains("/_emulator/health"), "{stderr}");
}

/// A request signed with the binary's default access key, for the emulator at `http`.
fn signed_request(
    client: &reqwest::Client,
    http: &str,
    target: &str,
    body: &'static [u8],
) -> reqwest::RequestBuilder {
    use acs_emulator::auth::hmac;
    use base64::Engine;
    let key = base64::engine::general_purpose::STANDARD
        .decode(acs_emulator::config::DEFAULT_ACCESS_KEY)
        .expect("base64 key");
    let host = http.trim_start_matches("http://");
    let date = hmac::http_date(chrono::Utc::now());
    client
        .post(format!("{http}{target}"))
        .header("x-ms-date", &date)
        .header("x-ms-content-sha256", hmac::content_hash(body))
        .header(
            "authorization",
            hmac::authorization_header(&key, "POST", target, &date, host, body),
        )
        .header("content-type", "application/json")
        .body(body)
}

/// At the default level a successful data-plane request writes its access line and nothing else
/// (what it created is logged at debug), so the default log costs one short line per request.
#[tokio::test]
async fn successful_requests_write_only_their_access_line_at_the_default_level() {
    let (child, http) = start_binary(&[]);
    let client = reqwest::Client::new();
    let res = signed_request(
        &client,
        &http,
        "/identities?api-version=2023-10-01",
        br#"{"createTokenWithScopes":["chat"]}"#,
    )
    .send()
    .await
    .expect("sent");
    assert_eq!(res.status(), 201);
    let created: serde_json::Value = res.json().await.expect("json");
    let token = created["accessToken"]["token"].as_str().expect("token");
    let user = created["identity"]["id"].as_str().expect("id");
    let res = signed_request(
        &client,
        &http,
        "/sms?api-version=2021-03-07",
        br#"{"from":"+18005550100","smsRecipients":[{"to":"+14255550123"},{"to":"+14255550124"}],"message":"hi","smsSendOptions":{"enableDeliveryReport":true}}"#,
    )
    .send()
    .await
    .expect("sent");
    assert_eq!(res.status(), 202);
    let res = client
        .post(format!("{http}/chat/threads?api-version=2024-03-07"))
        .bearer_auth(token)
        .json(&serde_json::json!({"topic": "log"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 201);
    let thread: serde_json::Value = res.json().await.expect("json");
    let thread_id = thread["chatThread"]["id"].as_str().expect("thread id");
    let res = client
        .post(format!(
            "{http}/chat/threads/{}/messages?api-version=2024-03-07",
            crate::helpers::encode(thread_id)
        ))
        .bearer_auth(token)
        .json(&serde_json::json!({"content": "hello"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 201);
    let stderr = stop_binary(child);
    // The server's own start and stop lines aside, only the access lines.
    let lines = stderr
        .lines()
        .filter(|l| l.contains(" INFO POST "))
        .collect::<Vec<_>>();
    for other in stderr.lines().filter(|l| !l.contains(" INFO POST ")) {
        for domain in ["created", "accepted", "message sent", "token issued"] {
            assert!(!other.contains(domain), "{other}");
        }
    }
    let expected = [
        "POST /identities 201 ",
        "POST /sms 202 ",
        "POST /chat/threads 201 ",
        "POST /chat/threads/",
    ];
    assert_eq!(lines.len(), expected.len(), "{stderr}");
    for (line, start) in lines.iter().zip(expected) {
        assert!(line.contains(&format!(" INFO {start}")), "{line}");
    }
    assert!(lines[3].ends_with("ms Chat.SendMessage"), "{}", lines[3]);
    // Nothing about what was created: the user, message ids and thread are debug details.
    assert!(!stderr.contains(user), "{stderr}");
    assert!(!stderr.contains("sms accepted"), "{stderr}");
}

#[tokio::test]
async fn the_json_access_log_has_fields_and_probes_appear_at_debug() {
    let (child, http) = start_binary(&["--log-format", "json", "--log-level", "debug"]);
    let client = reqwest::Client::new();
    for path in ["/identities?api-version=2023-10-01", "/_emulator/health"] {
        let method = if path.starts_with("/_") {
            "GET"
        } else {
            "POST"
        };
        let res = client
            .request(method.parse().expect("method"), format!("{http}{path}"))
            .send()
            .await
            .expect("sent");
        let cv = res.headers()["ms-cv"].to_str().expect("ascii").to_string();
        assert!(!cv.is_empty());
    }
    let stderr = stop_binary(child);
    let access = stderr
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("JSON lines"))
        .filter(|v| v["target"] == "acs_emulator::access")
        .collect::<Vec<_>>();
    let create = access
        .iter()
        .find(|v| v["fields"]["path"] == "/identities")
        .expect("the create line");
    assert_eq!(create["level"], "INFO");
    let fields = &create["fields"];
    assert_eq!(fields["method"], "POST");
    assert_eq!(fields["status"], 401);
    assert_eq!(fields["operation"], "Identity.CreateUser");
    assert!(fields["duration_ms"].as_f64().expect("a number") > 0.0);
    assert_eq!(fields["request_id"].as_str().expect("MS-CV").len(), 32);
    let health = access
        .iter()
        .find(|v| v["fields"]["path"] == "/_emulator/health")
        .expect("the health line, at debug");
    assert_eq!(health["level"], "DEBUG");
    assert!(health["fields"].get("operation").is_none(), "{health}");
}

#[tokio::test]
async fn the_healthcheck_takes_a_base_url_or_a_full_one() {
    let app = spawn_app().await;
    let run = |url: String, ready: bool| async move {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_acs-emulator"));
        command.args(["healthcheck", "--timeout", "5s", "--url", &url]);
        if ready {
            command.arg("--ready");
        }
        let out = command.output().await.expect("runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // A base URL, with or without the slash, probes /_emulator/health or /_emulator/ready.
    for base in [app.http.clone(), format!("{}/", app.http)] {
        for ready in [false, true] {
            let (code, stderr) = run(base.clone(), ready).await;
            assert_eq!(code, Some(0), "{base} (ready: {ready}): {stderr}");
        }
    }
    // A full URL is probed as given: a path that answers 404 fails.
    let (code, _) = run(format!("{}/_emulator/ready", app.http), false).await;
    assert_eq!(code, Some(0));
    let (code, stderr) = run(format!("{}/nothing/here", app.http), false).await;
    assert_eq!(code, Some(1));
    assert!(stderr.contains("answered 404"), "{stderr}");
}

/// A request under a service's path prefix that matches no operation is authenticated first
/// (as the service's operations are) and then answered 404 or 405, with the service's
/// `api-supported-versions`, as the real service's gateway does; elsewhere it is a plain 404.
#[tokio::test]
async fn unknown_paths_and_methods_under_a_service_authenticate_first() {
    let app = spawn_app().await;
    let chat_versions = |res: &reqwest::Response| {
        res.headers()
            .get("api-supported-versions")
            .map(|v| v.to_str().expect("ascii").to_string())
    };
    // Chat, no token: 401 for an unknown path and an unknown method alike.
    for (method, path) in [
        (reqwest::Method::GET, "/chat/threads/x/nothing"),
        (reqwest::Method::PUT, "/chat/threads"),
    ] {
        let res = app
            .client
            .request(
                method,
                format!("{}{path}?api-version=2024-03-07", app.https),
            )
            .send()
            .await
            .expect("sent");
        let versions = chat_versions(&res).expect("api-supported-versions");
        assert!(versions.contains("2024-03-07"), "{versions}");
        assert_error(res, 401, "Unauthorized").await;
    }
    // With a token: 404 and 405.
    let (_, token) = app.create_user_and_token(&["chat"]).await;
    let res = app
        .chat(
            "GET",
            &token,
            "/chat/threads/x/nothing?api-version=2024-03-07",
            None,
        )
        .await;
    assert!(chat_versions(&res).is_some());
    let message = assert_error(res, 404, "NotFound").await;
    assert!(message.contains("/chat/threads/x/nothing"), "{message}");
    let res = app
        .chat("PUT", &token, "/chat/threads?api-version=2024-03-07", None)
        .await;
    assert!(chat_versions(&res).is_some());
    assert_error(res, 405, "MethodNotAllowed").await;

    // SMS, unsigned: 401 Denied; signed: 404, with the send's versions.
    let res = app
        .client
        .post(format!("{}/sms/nothing?api-version=2021-03-07", app.http))
        .send()
        .await
        .expect("sent");
    assert!(res.headers().get("api-supported-versions").is_some());
    assert_error(res, 401, "Denied").await;
    let res = app
        .signed("POST", "/sms/nothing?api-version=2021-03-07", b"")
        .await;
    let versions = res.headers()["api-supported-versions"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(versions.contains("2021-03-07"), "{versions}");
    assert_error(res, 404, "NotFound").await;

    // Outside every service: no authentication, no versions.
    let res = app
        .client
        .get(format!("{}/chat/nothing", app.http))
        .send()
        .await
        .expect("sent");
    assert!(res.headers().get("api-supported-versions").is_none());
    assert_error(res, 404, "NotFound").await;
}

/// Every response of an operation carries its service's `api-supported-versions`, also a 401
/// and an api-version error; the Teams operations advertise every Identity version.
#[tokio::test]
async fn every_answer_of_a_service_advertises_its_versions() {
    let app = spawn_app().await;
    let res = app
        .client
        .post(format!(
            "{}/teamsUser/:exchangeAccessToken?api-version=2023-10-01",
            app.http
        ))
        .send()
        .await
        .expect("sent");
    let versions = res.headers()["api-supported-versions"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(versions.starts_with("2021-03-07"), "{versions}");
    assert_error(res, 401, "Denied").await;
    let res = app
        .signed("GET", "/deliveryReports/x?api-version=2021-03-07", b"")
        .await;
    assert_eq!(
        res.headers()["api-supported-versions"],
        "2025-08-01-preview, 2026-01-23"
    );
    assert_error(res, 400, "InvalidApiVersion").await;
}
