//! Request bodies sent with `Content-Encoding`: decoded once, signed as sent, bounded when
//! decoded, and every refusal in the envelope.

use std::io::Write;

use serde_json::json;

use crate::helpers::{assert_error, body, spawn_app};

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).expect("write");
    encoder.finish().expect("finish")
}

fn deflate(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).expect("write");
    encoder.finish().expect("finish")
}

const CREATE: &str = "/identities?api-version=2023-10-01";

#[tokio::test]
async fn gzip_and_deflate_bodies_are_decoded_once_on_every_route() {
    // Arrange
    let app = spawn_app().await;
    let inbound = json!({"from": "+14255550123", "to": "+18005550100", "message": "hi"});

    for (coding, encoded) in [
        ("gzip", gzip(inbound.to_string().as_bytes())),
        ("deflate", deflate(inbound.to_string().as_bytes())),
    ] {
        // Act: an unsigned control route.
        let res = app
            .client
            .post(format!("{}/_emulator/sms/inbound", app.http))
            .header("content-type", "application/json")
            .header("content-encoding", coding)
            .body(encoded)
            .send()
            .await
            .expect("sent");

        // Assert
        let status = res.status();
        assert_eq!(status, 202, "{coding}: {}", body(res).await);
    }
}

#[tokio::test]
async fn a_signed_gzip_body_is_verified_against_the_bytes_as_sent() {
    // Arrange: the body compressed, and hashed as it goes over the wire.
    let app = spawn_app().await;
    let plain = json!({"createTokenWithScopes": ["chat"]}).to_string();
    let wire = gzip(plain.as_bytes());
    let send = |signed_over: &[u8]| {
        let s = app.sign("POST", CREATE, signed_over);
        let wire = wire.clone();
        let app = &app;
        async move {
            let mut headers = s.headers().to_vec();
            headers.push(("content-type", "application/json"));
            headers.push(("content-encoding", "gzip"));
            app.send("POST", CREATE, &headers, &wire).await
        }
    };

    // Act
    let over_wire = send(&wire).await;
    let over_plain = send(plain.as_bytes()).await;

    // Assert: the handler saw the decoded JSON (a token was issued); a hash of the decoded
    // bytes does not match what was sent.
    assert_eq!(over_wire.status(), 201);
    let created = body(over_wire).await;
    assert!(created["accessToken"]["token"].is_string(), "{created}");
    let message = assert_error(over_plain, 401, "Denied").await;
    assert!(message.contains("content"), "{message}");
    assert_eq!(app.state.store().identities.len(), 1);
}

#[tokio::test]
async fn a_gzip_bomb_gets_413_and_corrupt_or_unknown_encodings_get_the_envelope() {
    let app = spawn_app().await;
    let post = |coding: &'static str, bytes: Vec<u8>| {
        let app = &app;
        async move {
            app.client
                .post(format!("{}/_emulator/sms/inbound", app.http))
                .header("content-type", "application/json")
                .header("content-encoding", coding)
                .body(bytes)
                .send()
                .await
                .expect("sent")
        }
    };

    // 64 MiB of spaces compress to about 64 KiB: well under the 1 MiB body limit as sent.
    let bomb = gzip(&vec![b' '; 64 * 1024 * 1024]);
    assert!(bomb.len() < 1024 * 1024);
    let message = assert_error(post("gzip", bomb).await, 413, "RequestEntityTooLarge").await;
    assert!(message.contains("1048576"), "{message}");

    let message = assert_error(
        post("gzip", b"{\"not\":\"gzip\"}".to_vec()).await,
        400,
        "InvalidRequestBody",
    )
    .await;
    assert!(message.contains("Content-Encoding"), "{message}");

    let message = assert_error(
        post("br", b"{}".to_vec()).await,
        415,
        "UnsupportedMediaType",
    )
    .await;
    assert!(message.contains("'br'"), "{message}");
    let message = assert_error(
        post("gzip, gzip", gzip(&gzip(b"{}"))).await,
        415,
        "UnsupportedMediaType",
    )
    .await;
    assert!(message.contains("gzip"), "{message}");

    // The server still answers.
    let res = app
        .client
        .get(format!("{}/_emulator/health", app.http))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 200);
}
