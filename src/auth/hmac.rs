//! ACS access-key authentication: HMAC-SHA256 request signatures.
//!
//! Pure functions, no actix types, so they can be unit-tested, property-tested and fuzzed.
//! The scheme (see `shared/research/acs-api.md` §2 and `sdk-behaviour.md` §4):
//!
//! ```text
//! string_to_sign = VERB "\n" PATH_AND_QUERY "\n" value(h1) ";" value(h2) ";" value(h3)
//! Authorization  = "HMAC-SHA256 SignedHeaders=h1;h2;h3&Signature=" base64(HMAC-SHA256(base64decode(key), string_to_sign))
//! ```
//!
//! where the SDKs sign `x-ms-date;host;x-ms-content-sha256`. Real clients do not all compute
//! `PATH_AND_QUERY` and `host` the same way (Python's async clients sign the percent-decoded path,
//! JS re-serialises the query, Python signs the host from its endpoint string, which can carry a
//! default port or a trailing `/`), so [`verify`] accepts any of those variants of the one request.

use std::borrow::Cow;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, TimeDelta, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// Longest `Authorization` header accepted, in bytes.
pub const MAX_AUTHORIZATION_LEN: usize = 4096;

/// The content hash of an empty body: `base64(sha256(""))`.
pub const EMPTY_BODY_HASH: &str = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";

/// Why a request's access-key signature was rejected. Each message says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HmacError {
    /// No `Authorization` header.
    #[error(
        "The request has no Authorization header; sign it with the resource's access key (HMAC-SHA256)."
    )]
    MissingAuthorization,
    /// The header is not `HMAC-SHA256 SignedHeaders=…&Signature=…`.
    #[error(
        "The Authorization header is malformed: {0}. Expected 'HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=<base64>'."
    )]
    MalformedAuthorization(&'static str),
    /// A header named in `SignedHeaders` is missing or repeated.
    #[error("The signed header '{0}' is {1} in the request.")]
    SignedHeader(String, &'static str),
    /// `SignedHeaders` does not cover the date, host and content hash.
    #[error("SignedHeaders must include host, x-ms-content-sha256 and x-ms-date (or date).")]
    SignedHeadersIncomplete,
    /// No `x-ms-content-sha256` header.
    #[error("The x-ms-content-sha256 header is missing; it must be base64(SHA-256(request body)).")]
    MissingContentHash,
    /// The body does not hash to `x-ms-content-sha256`.
    #[error("Request 'x-ms-content-sha256' differs from generated content hash.")]
    ContentHashMismatch,
    /// The date header is not an RFC 1123 date.
    #[error(
        "The {0} header '{1}' is not an RFC 1123 date such as 'Sat, 28 Nov 2026 00:50:46 GMT'."
    )]
    InvalidDate(&'static str, String),
    /// The date is outside the allowed clock skew.
    #[error(
        "The request's {header} '{value}' is {direction} than the allowed clock skew of {skew_secs}s from the emulator's time ({now}); re-sign the request with the current time."
    )]
    DateOutOfRange {
        /// `x-ms-date` or `date`.
        header: &'static str,
        /// The header value.
        value: String,
        /// `older` or `further in the future`.
        direction: &'static str,
        /// The allowed skew in seconds.
        skew_secs: i64,
        /// The emulator's time (RFC 1123).
        now: String,
    },
    /// No variant of the request verifies under any access key.
    #[error(
        "The HMAC-SHA256 signature does not match the request (method, path and query, x-ms-date, host and content hash) under either access key of this resource."
    )]
    SignatureMismatch {
        /// The canonical string the emulator expected to be signed (logged at debug; never the key).
        expected_string_to_sign: String,
    },
}

/// The parts of a request that its signature covers.
#[derive(Debug, Clone)]
pub struct HmacRequest<'a> {
    /// HTTP method, upper case.
    pub method: &'a str,
    /// The request target exactly as received (path and query, still percent-encoded).
    pub path_and_query: &'a str,
    /// The `Host` header (or HTTP/2 `:authority`).
    pub host: Option<&'a str>,
    /// All request headers as (lower-case name, value); repeated headers appear repeatedly.
    pub headers: &'a [(&'a str, &'a str)],
    /// The raw body bytes.
    pub body: &'a [u8],
}

/// The parsed `Authorization` header (the names borrowed from it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HmacAuthorization<'a> {
    /// Header names, in signing order, as written (HTTP header names: compare them ignoring
    /// ASCII case).
    pub signed_headers: Vec<&'a str>,
    /// The decoded signature.
    pub signature: [u8; 32],
}

/// Which access key verified a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySlot {
    /// The primary key.
    Primary,
    /// The secondary key.
    Secondary,
}

/// `base64(sha256(body))`, the `x-ms-content-sha256` value.
pub fn content_hash(body: &[u8]) -> String {
    STANDARD.encode(Sha256::digest(body))
}

/// Formats a time as an RFC 1123 date (`Sat, 28 Nov 2026 00:50:46 GMT`), as `x-ms-date` carries it.
///
/// Written with chrono rather than `httpdate::fmt_http_date`, which panics before 1970 and after
/// 9999: this formats any instant (the emulator's clock stays within 1970..=9998 anyway).
pub fn http_date(at: DateTime<Utc>) -> String {
    at.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// The string to sign for the SDKs' header set `x-ms-date;host;x-ms-content-sha256`.
pub fn string_to_sign(
    method: &str,
    path_and_query: &str,
    date: &str,
    host: &str,
    hash: &str,
) -> String {
    format!("{method}\n{path_and_query}\n{date};{host};{hash}")
}

/// Signs a string with a decoded access key: `base64(HMAC-SHA256(key, string_to_sign))`.
pub fn sign(key: &[u8], string_to_sign: &str) -> String {
    STANDARD.encode(mac(key, string_to_sign).finalize().into_bytes())
}

/// The `Authorization` header value an SDK would send for this request.
pub fn authorization_header(
    key: &[u8],
    method: &str,
    path_and_query: &str,
    date: &str,
    host: &str,
    body: &[u8],
) -> String {
    let sts = string_to_sign(method, path_and_query, date, host, &content_hash(body));
    format!(
        "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature={}",
        sign(key, &sts)
    )
}

fn mac(key: &[u8], string_to_sign: &str) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(string_to_sign.as_bytes());
    mac
}

/// Parses `HMAC-SHA256 SignedHeaders=a;b;c&Signature=<base64>`.
pub fn parse_authorization(value: &str) -> Result<HmacAuthorization<'_>, HmacError> {
    if value.len() > MAX_AUTHORIZATION_LEN {
        return Err(HmacError::MalformedAuthorization("it is too long"));
    }
    let (scheme, params) =
        value
            .trim()
            .split_once(' ')
            .ok_or(HmacError::MalformedAuthorization(
                "no parameters after the scheme",
            ))?;
    if !scheme.eq_ignore_ascii_case("HMAC-SHA256") {
        return Err(HmacError::MalformedAuthorization(
            "the scheme is not HMAC-SHA256",
        ));
    }
    let mut signed_headers = None;
    let mut signature = None;
    for param in params.trim().split('&') {
        let (name, value) = param
            .split_once('=')
            .ok_or(HmacError::MalformedAuthorization("a parameter has no '='"))?;
        let slot = if name.trim().eq_ignore_ascii_case("SignedHeaders") {
            &mut signed_headers
        } else if name.trim().eq_ignore_ascii_case("Signature") {
            &mut signature
        } else {
            return Err(HmacError::MalformedAuthorization("unknown parameter"));
        };
        if slot.replace(value.trim()).is_some() {
            return Err(HmacError::MalformedAuthorization("a parameter is repeated"));
        }
    }
    let signed_headers: Vec<&str> = signed_headers
        .ok_or(HmacError::MalformedAuthorization(
            "SignedHeaders is missing",
        ))?
        .split(';')
        .map(str::trim)
        .collect();
    if signed_headers.iter().any(|h| h.is_empty()) {
        return Err(HmacError::MalformedAuthorization(
            "SignedHeaders has an empty name",
        ));
    }
    let encoded = signature.ok_or(HmacError::MalformedAuthorization("Signature is missing"))?;
    // Decoded in place: room for any base64 of up to 33 bytes, so that a longer signature is
    // told apart from one that is not base64.
    let mut decoded = [0u8; 33];
    let signature = match STANDARD.decode_slice(encoded, &mut decoded) {
        Ok(32) => decoded[..32].try_into().unwrap_or_else(|_| unreachable!()),
        Ok(_) | Err(base64::DecodeSliceError::OutputSliceTooSmall) => {
            return Err(HmacError::MalformedAuthorization(
                "Signature is not 32 bytes (HMAC-SHA256)",
            ));
        }
        Err(base64::DecodeSliceError::DecodeError(_)) => {
            return Err(HmacError::MalformedAuthorization("Signature is not base64"));
        }
    };
    Ok(HmacAuthorization {
        signed_headers,
        signature,
    })
}

/// The one value of header `name`; an error if it is missing or repeated.
fn single_header<'a>(
    headers: &[(&'a str, &'a str)],
    name: &str,
) -> Result<Option<&'a str>, HmacError> {
    let mut found = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v);
    let first = found.next();
    if found.next().is_some() {
        return Err(HmacError::SignedHeader(
            name.to_ascii_lowercase(),
            "repeated",
        ));
    }
    Ok(first)
}

/// Verifies a request signed with one of `keys` (primary first), allowing `skew` between the
/// request's date and `now`.
pub fn verify(
    req: &HmacRequest<'_>,
    authorization: Option<&str>,
    keys: &[Vec<u8>],
    now: DateTime<Utc>,
    skew: std::time::Duration,
) -> Result<KeySlot, HmacError> {
    verify_any(req, authorization, &[keys], |keys| keys, now, skew).map(|(_, slot)| slot)
}

/// [`verify`] against the key pairs of several resources: which pair (index into `key_sets`) and
/// which key of it signed the request. The request's own checks (content hash, date) come first
/// and do not depend on the key.
pub fn verify_any<S>(
    req: &HmacRequest<'_>,
    authorization: Option<&str>,
    key_sets: &[S],
    keys_of: impl Fn(&S) -> &[Vec<u8>],
    now: DateTime<Utc>,
    skew: std::time::Duration,
) -> Result<(usize, KeySlot), HmacError> {
    let auth = parse_authorization(authorization.ok_or(HmacError::MissingAuthorization)?)?;
    let has = |name: &str| {
        auth.signed_headers
            .iter()
            .any(|h| h.eq_ignore_ascii_case(name))
    };
    let date_header = if has("x-ms-date") {
        "x-ms-date"
    } else if has("date") {
        "date"
    } else {
        return Err(HmacError::SignedHeadersIncomplete);
    };
    if !has("host") || !has("x-ms-content-sha256") {
        return Err(HmacError::SignedHeadersIncomplete);
    }

    // The body must hash to the declared content hash.
    let declared_hash =
        single_header(req.headers, "x-ms-content-sha256")?.ok_or(HmacError::MissingContentHash)?;
    if declared_hash.trim() != content_hash(req.body) {
        return Err(HmacError::ContentHashMismatch);
    }

    // The date must be an RFC 1123 date within the skew window.
    let date_value = single_header(req.headers, date_header)?
        .ok_or_else(|| HmacError::SignedHeader(date_header.to_string(), "missing"))?;
    let date: DateTime<Utc> = httpdate::parse_http_date(date_value.trim())
        .map_err(|_| HmacError::InvalidDate(date_header, date_value.to_string()))?
        .into();
    let skew = TimeDelta::from_std(skew).unwrap_or(TimeDelta::MAX);
    let age = now - date;
    if age > skew || -age > skew {
        return Err(HmacError::DateOutOfRange {
            header: date_header,
            value: date_value.to_string(),
            direction: if age > skew {
                "older"
            } else {
                "further in the future"
            },
            skew_secs: skew.num_seconds(),
            now: http_date(now),
        });
    }

    // Values of the signed headers, in the order the client listed them; `host` varies.
    let host = req
        .host
        .ok_or_else(|| HmacError::SignedHeader("host".into(), "missing"))?;
    let mut values: Vec<Option<&str>> = Vec::with_capacity(auth.signed_headers.len());
    for name in &auth.signed_headers {
        if name.eq_ignore_ascii_case("host") {
            values.push(None);
        } else {
            let value = single_header(req.headers, name)?
                .ok_or_else(|| HmacError::SignedHeader(name.to_ascii_lowercase(), "missing"))?;
            values.push(Some(value));
        }
    }

    let method: Cow<'_, str> = if req.method.bytes().any(|b| b.is_ascii_lowercase()) {
        Cow::Owned(req.method.to_ascii_uppercase())
    } else {
        Cow::Borrowed(req.method)
    };
    let slot = |index: usize| {
        if index == 0 {
            KeySlot::Primary
        } else {
            KeySlot::Secondary
        }
    };
    // The request exactly as received is what nearly every client signs: try it first, and work
    // out the variants only when it does not verify.
    let mut sts = String::new();
    signed_string(&mut sts, &method, req.path_and_query, &values, host);
    for (set, keys) in key_sets.iter().map(&keys_of).enumerate() {
        for (index, key) in keys.iter().enumerate() {
            if mac(key, &sts).verify_slice(&auth.signature).is_ok() {
                return Ok((set, slot(index)));
            }
        }
    }
    let expected_string_to_sign = sts.clone();
    let targets = target_variants(req.path_and_query);
    let hosts = host_variants(host);
    for (set, keys) in key_sets.iter().map(&keys_of).enumerate() {
        for (index, key) in keys.iter().enumerate() {
            for target in &targets {
                for host in &hosts {
                    signed_string(&mut sts, &method, target, &values, host);
                    if mac(key, &sts).verify_slice(&auth.signature).is_ok() {
                        return Ok((set, slot(index)));
                    }
                }
            }
        }
    }
    Err(HmacError::SignatureMismatch {
        expected_string_to_sign,
    })
}

/// Writes into `out` (cleared first) the string a client signs: `METHOD "\n" target "\n"` and the
/// signed headers' values joined by `;`, `None` standing for the host.
fn signed_string(
    out: &mut String,
    method: &str,
    target: &str,
    values: &[Option<&str>],
    host: &str,
) {
    out.clear();
    out.reserve(method.len() + target.len() + 2 + values.len() * 48);
    out.push_str(method);
    out.push('\n');
    out.push_str(target);
    out.push('\n');
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            out.push(';');
        }
        out.push_str(value.unwrap_or(host));
    }
}

/// The forms in which real clients sign the request target: as received, fully percent-decoded
/// (Python aio), and with the query re-serialised as `application/x-www-form-urlencoded` (JS).
fn target_variants(raw: &str) -> Vec<String> {
    let mut variants = vec![raw.to_string()];
    let mut push = |v: String| {
        if !variants.contains(&v) {
            variants.push(v);
        }
    };
    push(
        percent_encoding::percent_decode_str(raw)
            .decode_utf8_lossy()
            .into_owned(),
    );
    if let Some((path, query)) = raw.split_once('?') {
        let reserialised: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form_urlencoded::parse(query.as_bytes()))
            .finish();
        if reserialised.is_empty() {
            push(path.to_string());
        } else {
            push(format!("{path}?{reserialised}"));
        }
    }
    variants
}

/// The forms in which clients sign the host: as in the Host header, with the scheme's default
/// port spelled out (Python signs `localhost:443`), and either with a trailing `/` (Python direct
/// constructor given `http://host:port/`).
fn host_variants(host: &str) -> Vec<String> {
    let host = host.trim();
    let has_port = host
        .rsplit_once(':')
        .is_some_and(|(_, port)| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
        && !host.ends_with(']');
    let mut bases = vec![host.to_string()];
    if !has_port {
        bases.push(format!("{host}:443"));
        bases.push(format!("{host}:80"));
    }
    bases
        .into_iter()
        .flat_map(|base| [format!("{base}/"), base])
        .rev()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KEY_B64: &str = "ZW11bGF0b3ItdGVzdC1rZXktMDEyMzQ1Njc4OWFiY2RlZg==";

    fn key() -> Vec<u8> {
        STANDARD.decode(KEY_B64).expect("base64")
    }

    fn date() -> &'static str {
        "Sat, 28 Nov 2026 00:00:00 GMT"
    }

    fn now() -> DateTime<Utc> {
        httpdate::parse_http_date(date()).expect("date").into()
    }

    fn pairs(owned: &[(String, String)]) -> Vec<(&str, &str)> {
        owned
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect()
    }

    /// A request to host `h` with these headers and body.
    fn request<'a>(
        method: &'a str,
        target: &'a str,
        headers: &'a [(&'a str, &'a str)],
        body: &'a [u8],
    ) -> HmacRequest<'a> {
        HmacRequest {
            method,
            path_and_query: target,
            host: Some("h"),
            headers,
            body,
        }
    }

    fn headers(date: &str, body: &[u8]) -> Vec<(String, String)> {
        vec![
            ("x-ms-date".into(), date.into()),
            ("x-ms-content-sha256".into(), content_hash(body)),
        ]
    }

    fn check(
        method: &str,
        target: &str,
        host: &str,
        body: &[u8],
        auth: &str,
    ) -> Result<KeySlot, HmacError> {
        let owned = headers(date(), body);
        let headers = pairs(&owned);
        let req = HmacRequest {
            method,
            path_and_query: target,
            host: Some(host),
            headers: &headers,
            body,
        };
        verify(
            &req,
            Some(auth),
            &[key()],
            now(),
            std::time::Duration::from_secs(900),
        )
    }

    #[test]
    fn known_answer_vectors_from_the_python_sdk_match() {
        // acs-api.md §2.4: computed with the azure-communication-identity 1.5.0 policy code.
        let body = br#"{"createTokenWithScopes": ["chat"]}"#;
        assert_eq!(
            content_hash(body),
            "kWpGozyV35fifbpKdY8mbdG64VG0Pdq5upzo7YKAFM0="
        );
        let sts = string_to_sign(
            "POST",
            "/identities?api-version=2023-10-01",
            date(),
            "localhost:8443",
            &content_hash(body),
        );
        assert_eq!(
            sign(&key(), &sts),
            "0palBBU4I6XCspz0IjYG4rFn88GPCiVI1C6W6stcRZc="
        );

        let target = "/identities/8%3Aacs%3A00000000-0000-0000-0000-000000000001_00000000-0000-0000-0000-000000000002?api-version=2023-10-01";
        let sts = string_to_sign("DELETE", target, date(), "localhost:8443", EMPTY_BODY_HASH);
        assert_eq!(
            sign(&key(), &sts),
            "1q8U5tDLttYn8fV5uXduf/onm11A3FV0SV7atjAq/wI="
        );
    }

    #[test]
    fn the_async_python_client_signing_the_decoded_path_is_accepted() {
        let target = "/identities/8%3Aacs%3A00000000-0000-0000-0000-000000000001_00000000-0000-0000-0000-000000000002?api-version=2023-10-01";
        let auth = "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=bgqhDEPldbMh/va+b+nmfl5aJPOVYyvo45pGhILS7WI=";
        assert_eq!(
            check("DELETE", target, "localhost:8443", b"", auth),
            Ok(KeySlot::Primary)
        );
    }

    #[test]
    fn default_port_and_trailing_slash_host_variants_are_accepted() {
        for signed_host in [
            "localhost:443",
            "localhost:80",
            "localhost/",
            "localhost:443/",
        ] {
            let auth = authorization_header(
                &key(),
                "POST",
                "/identities?api-version=2023-10-01",
                date(),
                signed_host,
                b"",
            );
            assert!(
                check(
                    "POST",
                    "/identities?api-version=2023-10-01",
                    "localhost",
                    b"",
                    &auth
                )
                .is_ok(),
                "{signed_host}"
            );
        }
        // A port that is not the one in the Host header is not a variant.
        let auth = authorization_header(&key(), "POST", "/x", date(), "localhost:8443", b"");
        assert!(matches!(
            check("POST", "/x", "localhost", b"", &auth),
            Err(HmacError::SignatureMismatch { .. })
        ));
    }

    #[test]
    fn a_query_reserialised_like_url_search_params_is_accepted() {
        let raw = "/chat?startTime=2024-01-02T03:04:05.000Z&api-version=2025-03-15";
        let js = "/chat?startTime=2024-01-02T03%3A04%3A05.000Z&api-version=2025-03-15";
        let auth = authorization_header(&key(), "GET", js, date(), "h:1", b"");
        assert!(check("GET", raw, "h:1", b"", &auth).is_ok());
    }

    #[test]
    fn a_body_that_does_not_match_its_hash_is_rejected_before_the_signature() {
        let owned = headers(date(), b"{}");
        let headers = pairs(&owned);
        let req = request("POST", "/x", &headers, b"{ }");
        let auth = authorization_header(&key(), "POST", "/x", date(), "h", b"{ }");
        assert_eq!(
            verify(
                &req,
                Some(&auth),
                &[key()],
                now(),
                std::time::Duration::from_secs(60)
            ),
            Err(HmacError::ContentHashMismatch)
        );
    }

    #[test]
    fn the_skew_boundary_is_inclusive_and_exact() {
        let auth = authorization_header(&key(), "GET", "/x", date(), "h", b"");
        let owned = headers(date(), b"");
        let headers = pairs(&owned);
        let req = request("GET", "/x", &headers, b"");
        let skew = std::time::Duration::from_secs(900);
        for (offset, ok) in [(900, true), (901, false), (-900, true), (-901, false)] {
            let result = verify(
                &req,
                Some(&auth),
                &[key()],
                now() + TimeDelta::seconds(offset),
                skew,
            );
            assert_eq!(result.is_ok(), ok, "offset {offset}: {result:?}");
        }
    }

    #[test]
    fn the_signature_must_decode_to_exactly_32_bytes() {
        let with = |bytes: &[u8]| {
            format!(
                "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature={}",
                STANDARD.encode(bytes)
            )
        };
        let valid = with(&[7u8; 32]);
        let parsed = parse_authorization(&valid).expect("32 bytes");
        assert_eq!(parsed.signature, [7u8; 32]);
        assert_eq!(
            parsed.signed_headers,
            ["x-ms-date", "host", "x-ms-content-sha256"]
        );
        for len in [0, 1, 31, 33, 34, 48, 300] {
            assert_eq!(
                parse_authorization(&with(&vec![7u8; len])),
                Err(HmacError::MalformedAuthorization(
                    "Signature is not 32 bytes (HMAC-SHA256)"
                )),
                "{len} bytes"
            );
        }
        let garbled = with(&[7u8; 32]).replace("Bwc", "B!c");
        assert_eq!(
            parse_authorization(&garbled),
            Err(HmacError::MalformedAuthorization("Signature is not base64"))
        );
    }

    #[test]
    fn signed_header_names_match_in_any_case() {
        let auth = authorization_header(&key(), "POST", "/x?a=1", date(), "h", b"{}").replace(
            "x-ms-date;host;x-ms-content-sha256",
            "X-MS-Date;Host;X-Ms-Content-SHA256",
        );
        let owned = headers(date(), b"{}");
        let headers = pairs(&owned);
        let req = request("POST", "/x?a=1", &headers, b"{}");
        assert_eq!(
            verify(
                &req,
                Some(&auth),
                &[key()],
                now(),
                std::time::Duration::from_secs(60)
            ),
            Ok(KeySlot::Primary)
        );
    }

    #[test]
    fn malformed_authorization_headers_are_rejected_with_a_reason() {
        for bad in [
            "Bearer abc",
            "HMAC-SHA256",
            "HMAC-SHA256 Signature=abc",
            "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256",
            "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=not base64!",
            "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=AAAA",
            "HMAC-SHA256 SignedHeaders=a&SignedHeaders=b&Signature=AAAA",
        ] {
            assert!(
                matches!(
                    parse_authorization(bad),
                    Err(HmacError::MalformedAuthorization(_))
                ),
                "{bad}"
            );
        }
        assert!(parse_authorization(&"x".repeat(MAX_AUTHORIZATION_LEN + 1)).is_err());
    }

    #[test]
    fn the_secondary_key_is_accepted_and_reported() {
        let secondary = b"another key".to_vec();
        let auth = authorization_header(&secondary, "GET", "/x", date(), "h", b"");
        let owned = headers(date(), b"");
        let headers = pairs(&owned);
        let req = request("GET", "/x", &headers, b"");
        let result = verify(
            &req,
            Some(&auth),
            &[key(), secondary],
            now(),
            std::time::Duration::from_secs(60),
        );
        assert_eq!(result, Ok(KeySlot::Secondary));
    }

    proptest! {
        #[test]
        fn verify_accepts_what_sign_produces(
            method in "(GET|POST|PUT|PATCH|DELETE)",
            path in "/[a-zA-Z0-9%:/._-]{0,40}",
            query in proptest::option::of("[a-z0-9=&-]{1,30}"),
            body in proptest::collection::vec(any::<u8>(), 0..256),
        ) {
            let target = match &query { Some(q) => format!("{path}?{q}"), None => path.clone() };
            let auth = authorization_header(&key(), &method, &target, date(), "127.0.0.1:8443", &body);
            prop_assert!(check(&method, &target, "127.0.0.1:8443", &body, &auth).is_ok());
        }

        #[test]
        fn any_changed_byte_of_the_signed_target_is_rejected(
            path in "/[a-z0-9]{1,30}",
            index in any::<prop::sample::Index>(),
            replacement in "[A-Z]",
        ) {
            let auth = authorization_header(&key(), "POST", &path, date(), "h:1", b"");
            let i = index.index(path.len() - 1) + 1;
            let mut tampered = path.clone();
            tampered.replace_range(i..=i, &replacement);
            prop_assert!(check("POST", &tampered, "h:1", b"", &auth).is_err());
        }

        #[test]
        fn any_changed_byte_of_the_body_is_rejected_even_with_a_recomputed_hash(
            body in proptest::collection::vec(any::<u8>(), 1..256),
            index in any::<prop::sample::Index>(),
            flip in 1u8..=255,
        ) {
            let auth = authorization_header(&key(), "POST", "/sms", date(), "h:1", &body);
            let mut tampered = body.clone();
            let i = index.index(body.len());
            tampered[i] ^= flip;
            // `check` sends the tampered body's own hash, so only the signature can catch it.
            prop_assert!(check("POST", "/sms", "h:1", &tampered, &auth).is_err());
        }

        #[test]
        fn any_changed_byte_of_the_signature_or_host_is_rejected(
            host in "[a-z0-9.]{1,20}:[0-9]{2,5}",
            index in any::<prop::sample::Index>(),
            use_host in any::<bool>(),
        ) {
            let auth = authorization_header(&key(), "POST", "/sms", date(), &host, b"");
            if use_host {
                let i = index.index(host.len());
                let mut tampered = host.clone().into_bytes();
                tampered[i] = if tampered[i] == b'x' { b'y' } else { b'x' };
                let tampered = String::from_utf8(tampered).expect("ascii");
                prop_assert!(check("POST", "/sms", &tampered, b"", &auth).is_err());
            } else {
                let (prefix, signature) = auth.split_once("&Signature=").expect("signature");
                let mut bytes = signature.as_bytes().to_vec();
                let i = index.index(bytes.len());
                bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
                let tampered =
                    format!("{prefix}&Signature={}", String::from_utf8(bytes).expect("ascii"));
                prop_assert!(check("POST", "/sms", &host, b"", &tampered).is_err());
            }
        }
    }
}
