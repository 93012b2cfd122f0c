//! HMAC: `parse_authorization` on arbitrary text, and `verify` on an arbitrary request.
//!
//! Input layout: fields separated by 0xFF bytes:
//! authorization, method, path_and_query, host, header lines ("name:value" separated by '\n'), body.
//! Property: never panics; a request the fuzzer builds is accepted only if it really carries the
//! right signature (re-checked by signing the same material with the key); for realistic
//! requests (upper-case method, origin-form target, visible-ASCII host) what the signer signs
//! verifies.
#![no_main]

use std::time::Duration;

use acs_emulator::auth::hmac::{self, HmacRequest};
use chrono::{DateTime, Utc};
use libfuzzer_sys::fuzz_target;

const KEY: &[u8] = b"fuzz-key-0123456789abcdef";

fuzz_target!(|data: &[u8]| {
    let mut fields = data.split(|&b| b == 0xFF);
    let mut text = || String::from_utf8_lossy(fields.next().unwrap_or_default()).into_owned();
    let authorization = text();
    let method = text();
    let path_and_query = text();
    let host = text();
    let header_lines = text();
    let body = fields.next().unwrap_or_default().to_vec();

    let _ = hmac::parse_authorization(&authorization);

    let owned: Vec<(String, String)> = header_lines
        .split('\n')
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let headers: Vec<(&str, &str)> = owned
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let now = DateTime::<Utc>::from_timestamp(1_790_000_000, 0).unwrap_or_default();
    let req = HmacRequest {
        method: &method,
        path_and_query: &path_and_query,
        host: Some(&host),
        headers: &headers,
        body: &body,
    };
    let keys = [KEY.to_vec()];
    let result = hmac::verify(
        &req,
        Some(&authorization),
        &keys,
        now,
        Duration::from_secs(900),
    );
    if result.is_ok() {
        // Only possible if the fuzzer produced the real signature: recompute and compare.
        let date = headers
            .iter()
            .find(|(n, _)| *n == "x-ms-date" || *n == "date")
            .map(|(_, v)| v.to_string())
            .unwrap_or_default();
        let expected =
            hmac::authorization_header(KEY, &method, &path_and_query, &date, &host, &body);
        assert!(
            authorization.contains(expected.rsplit('=').next().unwrap_or("")),
            "accepted a request without the right signature: {authorization}"
        );
    }
    // Signing never panics either, and what it signs verifies.
    let date = hmac::http_date(now);
    let hash = hmac::content_hash(&body);
    let signed_headers = vec![
        ("x-ms-date", date.as_str()),
        ("x-ms-content-sha256", hash.as_str()),
        ("host", host.as_str()),
    ];
    let auth = hmac::authorization_header(KEY, &method, &path_and_query, &date, &host, &body);
    let req = HmacRequest {
        method: &method,
        path_and_query: &path_and_query,
        host: Some(&host),
        headers: &signed_headers,
        body: &body,
    };
    let verified = hmac::verify(&req, Some(&auth), &keys, now, Duration::from_secs(900));
    // For requests an HTTP client can actually send (an upper-case token method, an origin-form
    // target, a visible-ASCII host), what the signer signs must verify.
    let realistic = !method.is_empty()
        && method.bytes().all(|b| b.is_ascii_uppercase())
        && path_and_query.starts_with('/')
        && path_and_query.bytes().all(|b| b.is_ascii_graphic())
        && !host.is_empty()
        && host.bytes().all(|b| b.is_ascii_graphic());
    if realistic {
        assert!(
            verified.is_ok(),
            "a request signed by `authorization_header` did not verify: {verified:?}"
        );
    }
});
