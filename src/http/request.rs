//! Reading requests: the api-version and JSON bodies, with the ACS envelope's errors.

use actix_web::HttpRequest;
use actix_web::http::header;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Finds the request's `api-version` and checks it against the operation's supported versions.
///
/// Missing → 400 `ApiVersionUnspecified`; not supported by this operation → 400
/// `InvalidApiVersion`, with the real service's messages.
pub fn api_version(
    req: &HttpRequest,
    supported: &[&'static str],
) -> Result<&'static str, ApiError> {
    let query = req.uri().query().unwrap_or("");
    let requested = form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k.eq_ignore_ascii_case("api-version"))
        .map(|(_, v)| v.into_owned());
    let Some(requested) = requested.filter(|v| !v.is_empty()) else {
        return Err(ApiError::ApiVersionUnspecified);
    };
    supported
        .iter()
        .find(|v| v.eq_ignore_ascii_case(requested.trim()))
        .copied()
        .ok_or_else(|| ApiError::InvalidApiVersion {
            uri: req.uri().to_string(),
            version: requested,
        })
}

/// Parses a JSON request body. An empty body gives `T::default()` when `empty_ok`, else a 400.
/// A body with a non-JSON `Content-Type` gets 415.
pub fn json_body<T: DeserializeOwned + Default>(
    req: &HttpRequest,
    body: &[u8],
    empty_ok: bool,
) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return if empty_ok {
            Ok(T::default())
        } else {
            Err(ApiError::invalid_body("The request body is required."))
        };
    }
    if let Some(content_type) = req.headers().get(header::CONTENT_TYPE) {
        let content_type = content_type.to_str().unwrap_or("").to_ascii_lowercase();
        let essence = content_type.split(';').next().unwrap_or("").trim();
        let is_json =
            essence == "application/json" || essence.ends_with("+json") || essence == "text/json";
        if !is_json {
            return Err(ApiError::UnsupportedMediaType(essence.to_string()));
        }
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::invalid_body(format!(
            "The request body is not valid JSON for this operation: {e}."
        ))
    })
}
