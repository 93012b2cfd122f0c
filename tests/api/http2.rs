//! HTTP/2 over TLS with a bare client (the `h2` crate): the resource a request reaches comes from
//! `:authority`; a `host` that disagrees with it is refused; streams past the per-connection
//! limit, bodies past the per-connection budget and bodies that never end are all answered in
//! bounded time, and the connection keeps serving.

use std::sync::Arc;
use std::time::Duration;

use acs_emulator::Config;
use actix_web::web::Bytes;
use h2::client::SendRequest;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_with};
use rustls_pki_types::pem::PemObject;

/// An HTTP/2 connection to the emulator's HTTPS listener (ALPN `h2` only).
pub async fn connect(app: &TestApp) -> SendRequest<Bytes> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(app.state.tls_cert_pem.as_bytes())
    {
        roots.add(cert.expect("pem")).expect("root");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"h2".to_vec()];
    let addr = app.https.trim_start_matches("https://");
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
    let stream = tokio_rustls::TlsConnector::from(Arc::new(tls))
        .connect(name, tcp)
        .await
        .expect("tls");
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (client, connection) = h2::client::handshake(stream).await.expect("h2 handshake");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client.ready().await.expect("ready")
}

/// The HTTPS port.
fn port(app: &TestApp) -> String {
    app.https.rsplit(':').next().expect("port").to_string()
}

/// Sends one complete request and reads the whole response: (status, JSON body or null).
pub async fn send(
    client: &mut SendRequest<Bytes>,
    request: http::Request<()>,
    body: &[u8],
) -> (u16, Value) {
    let mut client = client.clone().ready().await.expect("ready");
    let (response, mut stream) = client.send_request(request, body.is_empty()).expect("send");
    if !body.is_empty() {
        stream
            .send_data(Bytes::copy_from_slice(body), true)
            .expect("data");
    }
    let response = tokio::time::timeout(Duration::from_secs(10), response)
        .await
        .expect("answered in time")
        .expect("response");
    let status = response.status().as_u16();
    let mut body = response.into_body();
    let mut bytes = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.expect("chunk");
        let _ = body.flow_control().release_capacity(chunk.len());
        bytes.extend_from_slice(&chunk);
    }
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

mod authority {
    use super::*;
    use crate::scenarios::example;

    async fn entra_token(app: &TestApp) -> String {
        crate::entra::entra_token(app, "https://communication.azure.com/.default").await
    }

    fn create_user(authority: &str, token: &str, host: Option<&str>) -> http::Request<()> {
        let mut builder = http::Request::post(format!(
            "https://{authority}/identities?api-version=2023-10-01"
        ))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json");
        if let Some(host) = host {
            builder = builder.header("host", host);
        }
        builder.body(()).expect("request")
    }

    #[tokio::test]
    async fn an_entra_request_reaches_the_resource_its_authority_names() {
        // Arrange: contoso (contoso.localhost, +18005550111) from a fixture.
        let mut config = Config::for_tests();
        config.scenarios.fixtures = vec![example("multi-resource.yaml")];
        let app = spawn_with(config).await;
        let token = entra_token(&app).await;
        let port = port(&app);
        let mut client = connect(&app).await;

        // Act: Identity and SMS over HTTP/2, addressed to contoso by :authority only.
        let (status, created) = send(
            &mut client,
            create_user(&format!("contoso.localhost:{port}"), &token, None),
            b"{}",
        )
        .await;
        let sms = http::Request::post(format!(
            "https://contoso.localhost:{port}/sms?api-version=2021-03-07"
        ))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(())
        .expect("request");
        let message = json!({"from": "+18005550111", "smsRecipients": [{"to": "+14255550123"}],
            "message": "hi"});
        let (sms_status, sms_body) = send(&mut client, sms, message.to_string().as_bytes()).await;

        // Assert: both reached contoso.
        assert_eq!(status, 201, "{created}");
        let id = created["identity"]["id"].as_str().expect("id");
        assert!(id.starts_with("8:acs:c0c0c0c0-"), "{id}");
        assert_eq!(sms_status, 202, "{sms_body}");
        assert_eq!(app.outbox("resource=contoso").await.len(), 1);
        assert_eq!(app.state.store().identities.len(), 0, "default saw nothing");
    }

    #[tokio::test]
    async fn a_host_header_that_disagrees_with_the_authority_is_a_400() {
        let mut config = Config::for_tests();
        config.scenarios.fixtures = vec![example("multi-resource.yaml")];
        let app = spawn_with(config).await;
        let token = entra_token(&app).await;
        let port = port(&app);
        let mut client = connect(&app).await;

        let (status, body) = send(
            &mut client,
            create_user(
                &format!("127.0.0.1:{port}"),
                &token,
                Some(&format!("contoso.localhost:{port}")),
            ),
            b"{}",
        )
        .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["code"], "InvalidHeaderValue", "{body}");
        // The same host in both (any case) is fine.
        let (status, body) = send(
            &mut client,
            create_user(
                &format!("contoso.localhost:{port}"),
                &token,
                Some(&format!("Contoso.Localhost:{port}")),
            ),
            b"{}",
        )
        .await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(app.state.store().identities.len(), 0);
    }
}

mod limits {
    use super::*;

    /// Opens `n` POST streams that each send `chunk` bytes and never end their body; returns
    /// the response futures and the send streams (kept open by the caller).
    #[allow(clippy::type_complexity)]
    async fn unfinished(
        client: &SendRequest<Bytes>,
        n: usize,
        chunk: usize,
    ) -> (Vec<h2::client::ResponseFuture>, Vec<h2::SendStream<Bytes>>) {
        let mut responses = Vec::new();
        let mut streams = Vec::new();
        for _ in 0..n {
            let mut client = client.clone().ready().await.expect("ready");
            let request = http::Request::post("https://localhost/_emulator/sms/inbound")
                .header("content-type", "application/json")
                .body(())
                .expect("request");
            let (response, mut stream) = client.send_request(request, false).expect("send");
            stream.reserve_capacity(chunk);
            stream
                .send_data(Bytes::from(vec![b' '; chunk]), false)
                .expect("data");
            responses.push(response);
            streams.push(stream);
        }
        (responses, streams)
    }

    /// Waits for every response: (status, error code) each.
    async fn statuses(responses: Vec<h2::client::ResponseFuture>) -> Vec<(u16, String)> {
        let mut out = Vec::new();
        for response in responses {
            let response = response.await.expect("response");
            let status = response.status().as_u16();
            let mut body = response.into_body();
            let mut bytes = Vec::new();
            while let Some(Ok(chunk)) = body.data().await {
                let _ = body.flow_control().release_capacity(chunk.len());
                bytes.extend_from_slice(&chunk);
            }
            let json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            let code = json["error"]["code"].as_str().unwrap_or("").to_string();
            out.push((status, code));
        }
        out
    }

    fn config() -> Config {
        let mut config = Config::for_tests();
        config.limits.request_body_timeout = Duration::from_secs(1);
        config
    }

    #[tokio::test]
    async fn streams_past_the_limit_get_503_and_bodies_that_never_end_get_408() {
        // Arrange: 120 streams on one connection, each with 1 KiB of a body that never ends.
        let app = spawn_with(config()).await;
        let mut client = connect(&app).await;
        let started = std::time::Instant::now();

        // Act
        let (responses, streams) = unfinished(&client, 120, 1024).await;
        let answered = tokio::time::timeout(Duration::from_secs(20), statuses(responses))
            .await
            .expect("every stream answered in bounded time");
        drop(streams);

        // Assert: the first 100 were read until the body timeout (408), the other 20 were
        // refused at once (503); the connection still serves.
        let count = |status: u16, code: &str| {
            answered
                .iter()
                .filter(|(s, c)| *s == status && c == code)
                .count()
        };
        assert_eq!(count(408, "RequestTimeout"), 100, "{answered:?}");
        assert_eq!(count(503, "ServiceUnavailable"), 20, "{answered:?}");
        assert!(started.elapsed() < Duration::from_secs(15));
        let health = http::Request::get("https://localhost/_emulator/health")
            .body(())
            .expect("request");
        assert_eq!(send(&mut client, health, b"").await.0, 200);
    }

    #[tokio::test]
    async fn the_bodies_of_one_connection_share_a_budget() {
        // Arrange: a budget of 2 MiB for 10 streams of 600 KB each.
        let mut config = config();
        config.limits.max_connection_body_bytes = 2 * 1024 * 1024;
        let app = spawn_with(config).await;
        let mut client = connect(&app).await;

        // Act
        let (responses, streams) = unfinished(&client, 10, 600 * 1000).await;
        let answered = tokio::time::timeout(Duration::from_secs(20), statuses(responses))
            .await
            .expect("every stream answered in bounded time");
        drop(streams);

        // Assert: three bodies fit (1.8 MB); the others were refused when they would have
        // passed the budget, the three timed out.
        let timed_out = answered.iter().filter(|(s, _)| *s == 408).count();
        let refused = answered
            .iter()
            .filter(|(s, c)| *s == 503 && c == "ServiceUnavailable")
            .count();
        assert_eq!((timed_out, refused), (3, 7), "{answered:?}");
        // Once they are answered, the budget is free again: a complete body goes through.
        let inbound = http::Request::post("https://localhost/_emulator/sms/inbound")
            .header("content-type", "application/json")
            .body(())
            .expect("request");
        let message = json!({"from": "+14255550123", "to": "+18005550100", "message": "hi"});
        let (status, body) = send(&mut client, inbound, message.to_string().as_bytes()).await;
        assert_eq!(status, 202, "{body}");
    }
}
