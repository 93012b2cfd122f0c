//! Typed extractors for what every handler reads, each answering today's ACS errors.
//!
//! Extractors run in the order of the handler's arguments and the first failure answers, so a
//! handler lists them in the order the real service checks: api-version, caller, path ids,
//! body. Each reads what the operation layer and the edge left in the request: the matched
//! operation ([`Matched`]), the authenticated caller, the buffered body ([`BufferedBody`]).
//!
//! - [`ApiVersion`]: the query's `api-version`, checked against the operation's versions.
//! - [`AcsJson`] / [`AcsJsonOrDefault`]: a JSON body (ACS envelope errors); [`ProblemJson`]: a
//!   JSON body with problem-details errors (SMS).
//! - [`ThreadPath`], [`MessagePath`], [`UserPath`]: path ids.
//! - [`ChatCaller`]: the Chat caller, with the chat role the operation needs.
//! - [`Res`] and [`UserToken`] live in [`super::auth`].

use std::future::{Ready, ready};
use std::ops::Deref;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use serde::de::DeserializeOwned;

use super::operation::{AuthKind, Matched};
use super::{BufferedBody, Res};
use crate::auth::Caller;
use crate::auth::user_token::UserToken;
use crate::domain::{ChatMessageId, CommunicationUserId, ThreadId};
use crate::error::ApiError;

/// A `FromRequest` impl whose work is synchronous.
macro_rules! sync_extractor {
    ($ty:ty, |$req:ident| $body:block) => {
        impl FromRequest for $ty {
            type Error = ApiError;
            type Future = Ready<Result<Self, Self::Error>>;

            fn from_request($req: &HttpRequest, _: &mut Payload) -> Self::Future {
                let extract = || -> Result<Self, ApiError> { $body };
                ready(extract())
            }
        }
    };
}

fn matched(req: &HttpRequest) -> Result<Matched, ApiError> {
    Matched::of(req).ok_or_else(|| ApiError::Internal(anyhow::anyhow!("no operation matched")))
}

/// The request's `api-version` as sent (`None`: absent or empty), percent-decoded. The first
/// `api-version` pair counts, as `form_urlencoded` reads them; a query without `%` or `+` (every
/// SDK's) is read in place, without decoding or copying.
fn requested_version(req: &HttpRequest) -> Option<std::borrow::Cow<'_, str>> {
    let query = req.uri().query().unwrap_or("");
    if query.contains(['%', '+']) {
        return form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k.eq_ignore_ascii_case("api-version"))
            .map(|(_, v)| v)
            .filter(|v| !v.is_empty());
    }
    query
        .split('&')
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .find(|(k, _)| k.eq_ignore_ascii_case("api-version"))
        .map(|(_, v)| std::borrow::Cow::Borrowed(v))
        .filter(|v| !v.is_empty())
}

/// `requested` checked against `supported`: 400 `InvalidApiVersion` with the request URI when
/// the operation does not serve it.
fn supported_version(
    req: &HttpRequest,
    supported: &[&'static str],
    requested: std::borrow::Cow<'_, str>,
) -> Result<&'static str, ApiError> {
    supported
        .iter()
        .find(|v| v.eq_ignore_ascii_case(requested.trim()))
        .copied()
        .ok_or_else(|| ApiError::InvalidApiVersion {
            uri: req.uri().to_string(),
            version: requested.into_owned(),
        })
}

/// The api-version of the request, one the operation serves: missing → 400
/// `ApiVersionUnspecified`; not served → 400 `InvalidApiVersion`, with the real service's
/// messages.
#[derive(Debug, Clone, Copy)]
pub struct ApiVersion(pub &'static str);

impl ApiVersion {
    /// The api-version of `req` (see [`ApiVersion`]), for extractors that fall back when it is
    /// missing (Chat's list pages take their continuation token's).
    pub fn of(req: &HttpRequest) -> Result<&'static str, ApiError> {
        let op = matched(req)?.operation;
        let requested = requested_version(req).ok_or(ApiError::ApiVersionUnspecified)?;
        supported_version(req, op.versions, requested)
    }
}

sync_extractor!(ApiVersion, |req| { ApiVersion::of(req).map(ApiVersion) });

// The request body as the edge buffered and decoded it (empty when there was none).
sync_extractor!(BufferedBody, |req| { Ok(BufferedBody(body_of(req))) });

/// The essence of a non-JSON `Content-Type` (JSON: `application/json`, `text/json`, `*+json`).
fn non_json_content_type(req: &HttpRequest) -> Option<String> {
    let content_type = req.headers().get(header::CONTENT_TYPE)?;
    let content_type = content_type.to_str().unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    let is_json = essence.eq_ignore_ascii_case("application/json")
        || essence.eq_ignore_ascii_case("text/json")
        || essence
            .len()
            .checked_sub(5)
            .and_then(|at| essence.get(at..))
            .is_some_and(|end| end.eq_ignore_ascii_case("+json"));
    (!is_json).then(|| essence.to_ascii_lowercase())
}

fn body_of(req: &HttpRequest) -> actix_web::web::Bytes {
    req.extensions()
        .get::<BufferedBody>()
        .map(|b| b.0.clone())
        .unwrap_or_default()
}

/// Parses an ACS JSON body; `empty` answers an empty (or all-whitespace) body.
fn acs_json<T: DeserializeOwned>(
    req: &HttpRequest,
    empty: impl FnOnce() -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let body = body_of(req);
    if body.iter().all(u8::is_ascii_whitespace) {
        return empty();
    }
    if let Some(essence) = non_json_content_type(req) {
        return Err(ApiError::UnsupportedMediaType(essence));
    }
    serde_json::from_slice(&body).map_err(|e| {
        ApiError::invalid_body(format!(
            "The request body is not valid JSON for this operation: {e}."
        ))
    })
}

/// A required JSON body: empty → 400 `InvalidRequestBody` "The request body is required.";
/// a non-JSON `Content-Type` → 415; malformed or of the wrong shape → 400 `InvalidRequestBody`
/// "The request body is not valid JSON for this operation: …".
#[derive(Debug)]
pub struct AcsJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest for AcsJson<T> {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            acs_json(req, || {
                Err(ApiError::invalid_body("The request body is required."))
            })
            .map(AcsJson),
        )
    }
}

/// A JSON body that may be left out: empty → `T::default()`; otherwise as [`AcsJson`].
#[derive(Debug)]
pub struct AcsJsonOrDefault<T>(pub T);

impl<T: DeserializeOwned + Default> FromRequest for AcsJsonOrDefault<T> {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(acs_json(req, || Ok(T::default())).map(AcsJsonOrDefault))
    }
}

/// An SMS JSON body, refused as ASP.NET model binding does: a non-JSON `Content-Type` is 415
/// (envelope); an empty or malformed body is a 400 problem, with the keys ASP.NET uses (`""`
/// and `"$"`).
#[derive(Debug)]
pub struct ProblemJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest for ProblemJson<T> {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let parse = || {
            if let Some(essence) = non_json_content_type(req) {
                return Err(ApiError::UnsupportedMediaType(essence));
            }
            let body = body_of(req);
            if body.iter().all(u8::is_ascii_whitespace) {
                return Err(ApiError::field_problem(
                    "",
                    "A non-empty request body is required.",
                ));
            }
            serde_json::from_slice(&body).map(ProblemJson).map_err(|e| {
                ApiError::field_problem(
                    "$",
                    format!("The request body is not valid JSON for this operation: {e}."),
                )
            })
        };
        ready(parse())
    }
}

/// A path segment as the route matched it (`""` when the route has none of that name).
fn segment<'a>(req: &'a HttpRequest, name: &str) -> &'a str {
    req.match_info().get(name).unwrap_or("")
}

/// A path segment percent-decoded (clients send ids encoded, `8%3Aacs%3A…`, or raw).
pub fn decoded_segment(req: &HttpRequest, name: &str) -> String {
    percent_encoding::percent_decode_str(segment(req, name))
        .decode_utf8_lossy()
        .into_owned()
}

fn thread_of(req: &HttpRequest) -> Result<ThreadId, ApiError> {
    let raw = segment(req, "thread_id");
    ThreadId::parse(raw)
        .map_err(|_| ApiError::NotFound(format!("The chat thread '{raw}' was not found.")))
}

/// The `{thread_id}` of a Chat path (percent-encoded or raw); 404 `NotFound` if malformed.
#[derive(Debug, Clone)]
pub struct ThreadPath(pub ThreadId);

sync_extractor!(ThreadPath, |req| { thread_of(req).map(ThreadPath) });

/// The `{thread_id}` and `{message_id}` of a Chat message path; 404 `NotFound` if either is
/// malformed.
#[derive(Debug, Clone)]
pub struct MessagePath {
    /// The thread.
    pub thread: ThreadId,
    /// The message.
    pub message: ChatMessageId,
}

sync_extractor!(MessagePath, |req| {
    let thread = thread_of(req)?;
    let raw = segment(req, "message_id");
    let message = ChatMessageId::parse(raw)
        .map_err(|_| ApiError::NotFound(format!("The chat message '{raw}' was not found.")))?;
    Ok(MessagePath { thread, message })
});

/// The `{user_id}` of an Identity path (percent-encoded or raw, as Python aio sends it); 400
/// `ValidationError` (target `id`) if it is no user id.
#[derive(Debug, Clone)]
pub struct UserPath(pub CommunicationUserId);

sync_extractor!(UserPath, |req| {
    CommunicationUserId::parse(&decoded_segment(req, "user_id"))
        .map(UserPath)
        .map_err(|e| ApiError::validation(format!("Identifier is invalid: {e}."), "id"))
});

// Who signed an Identity or SMS request (set by the operation layer).
sync_extractor!(Caller, |req| {
    req.extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("no caller was authenticated")))
});

/// The caller of a Chat operation: the user its token names, on the resource that issued the
/// token, whose chat scope allows the operation's role ([`AuthKind::UserToken`]); 403
/// `Forbidden` otherwise. Whether the caller takes part in the thread, the store checks with the
/// operation itself (under the thread's lock).
#[derive(Clone)]
pub struct ChatCaller {
    /// The resource.
    pub res: Res,
    /// The verified token.
    pub token: UserToken,
}

impl ChatCaller {
    /// The calling user.
    pub fn user(&self) -> &CommunicationUserId {
        &self.token.user
    }
}

impl Deref for ChatCaller {
    type Target = UserToken;
    fn deref(&self) -> &UserToken {
        &self.token
    }
}

sync_extractor!(ChatCaller, |req| {
    let needed = match matched(req)?.operation.auth {
        AuthKind::UserToken(role) => role,
        _ => {
            return Err(ApiError::Internal(anyhow::anyhow!(
                "ChatCaller on an operation without a user token"
            )));
        }
    };
    let ext = req.extensions();
    let (Some(res), Some(token)) = (ext.get::<Res>(), ext.get::<UserToken>()) else {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "no user token was authenticated"
        )));
    };
    match token.scopes.chat_role() {
        Some(role) if role >= needed => Ok(ChatCaller {
            res: res.clone(),
            token: token.clone(),
        }),
        _ => Err(ApiError::chat_forbidden()),
    }
});

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn version(uri: &str) -> Option<String> {
        let req = TestRequest::with_uri(uri).to_http_request();
        requested_version(&req).map(std::borrow::Cow::into_owned)
    }

    #[test]
    fn the_api_version_is_read_in_place_or_decoded() {
        assert_eq!(
            version("/sms?api-version=2021-03-07").as_deref(),
            Some("2021-03-07")
        );
        assert_eq!(
            version("/x?a=1&API-Version=2024-03-07&api-version=9").as_deref(),
            Some("2024-03-07"),
            "the first pair, any case"
        );
        assert_eq!(
            version("/x?api%2Dversion=2023-10-01").as_deref(),
            Some("2023-10-01")
        );
        assert_eq!(
            version("/x?api-version=2023-10-01+").as_deref(),
            Some("2023-10-01 ")
        );
        assert_eq!(version("/x?api-version="), None);
        assert_eq!(version("/x?api-version"), None);
        assert_eq!(version("/x"), None);
    }

    #[test]
    fn json_content_types_are_recognised_in_any_case() {
        let essence = |value: &str| {
            let req = TestRequest::default()
                .insert_header((header::CONTENT_TYPE, value))
                .to_http_request();
            non_json_content_type(&req)
        };
        for json in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "text/json",
            "application/merge-patch+json",
            "application/vnd.x+JSON ; q=1",
        ] {
            assert_eq!(essence(json), None, "{json}");
        }
        assert_eq!(
            essence("Text/Plain; charset=utf-8").as_deref(),
            Some("text/plain")
        );
        assert_eq!(essence("json").as_deref(), Some("json"));
    }
}
