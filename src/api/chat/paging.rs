//! Paging of Chat's lists: page sizes, continuation tokens (`syncState`), the [`Listing`]
//! extractor, `nextLink`s and the `{value, nextLink}` page.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{MAX_PAGE_SIZE, VERSIONS, parse_time};
use crate::error::ApiError;
use crate::http::ApiVersion;

/// The query parameters of list operations.
#[derive(Debug, Default)]
pub struct PageQuery {
    /// `maxPageSize`.
    pub max_page_size: Option<String>,
    /// `startTime`.
    pub start_time: Option<String>,
    /// `skip`.
    pub skip: Option<String>,
    /// `syncState`: the emulator's continuation token.
    pub sync_state: Option<String>,
}

impl PageQuery {
    /// Reads the paging parameters (names case-insensitive) from the request's query.
    pub fn from_request(req: &HttpRequest) -> Self {
        let mut q = PageQuery::default();
        let query = req.uri().query().unwrap_or("");
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            let v = Some(v.into_owned());
            match k.to_ascii_lowercase().as_str() {
                "maxpagesize" => q.max_page_size = v,
                "starttime" => q.start_time = v,
                "skip" => q.skip = v,
                "syncstate" => q.sync_state = v,
                _ => {}
            }
        }
        q
    }

    /// `maxPageSize`: `default` when absent, 400 when not a positive int32, capped at
    /// [`MAX_PAGE_SIZE`].
    pub fn page_size(&self, default: usize) -> Result<usize, ApiError> {
        let Some(raw) = self.max_page_size.as_deref() else {
            return Ok(default);
        };
        match raw.trim().parse::<i32>() {
            Ok(n) if n > 0 => Ok((n as usize).min(MAX_PAGE_SIZE)),
            _ => Err(ApiError::validation(
                format!("maxPageSize must be a positive integer; '{raw}' is not."),
                "maxPageSize",
            )),
        }
    }

    /// `skip`: 0 when absent, 400 when not a non-negative int32.
    pub fn skip(&self) -> Result<usize, ApiError> {
        let Some(raw) = self.skip.as_deref() else {
            return Ok(0);
        };
        match raw.trim().parse::<i32>() {
            Ok(n) if n >= 0 => Ok(n as usize),
            _ => Err(ApiError::validation(
                format!("skip must be a non-negative integer; '{raw}' is not."),
                "skip",
            )),
        }
    }

    /// `startTime`, parsed.
    pub fn start_time(&self) -> Result<Option<DateTime<Utc>>, ApiError> {
        self.start_time
            .as_deref()
            .map(|t| parse_time(t, "startTime"))
            .transpose()
    }
}

/// A decoded continuation token: which list, the api-version of the first request (used when a
/// follow-up arrives without one), and the list's own cursor text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncState {
    /// `m` (messages) or `t` (threads).
    pub kind: char,
    /// The api-version the listing started with.
    pub version: &'static str,
    /// The cursor.
    pub cursor: String,
}

impl SyncState {
    /// base64url (no padding) of `kind.version.cursor`: opaque and URL-safe.
    pub fn encode(kind: char, version: &str, cursor: &str) -> String {
        URL_SAFE_NO_PAD.encode(format!("{kind}.{version}.{cursor}"))
    }

    /// Decodes a token of `kind`; 400 if it is not one.
    pub fn decode(raw: &str, kind: char) -> Result<Self, ApiError> {
        let invalid = || {
            ApiError::validation(
                "The continuation token (syncState) is not valid.",
                "syncState",
            )
        };
        let bytes = URL_SAFE_NO_PAD
            .decode(raw.trim().trim_end_matches('='))
            .map_err(|_| invalid())?;
        let text = String::from_utf8(bytes).map_err(|_| invalid())?;
        let mut parts = text.splitn(3, '.');
        let (k, v, cursor) = (parts.next(), parts.next(), parts.next());
        let (Some(k), Some(v), Some(cursor)) = (k, v, cursor) else {
            return Err(invalid());
        };
        if k.len() != 1 || !k.starts_with(kind) {
            return Err(invalid());
        }
        let version = VERSIONS
            .iter()
            .find(|known| **known == v)
            .copied()
            .ok_or_else(invalid)?;
        Ok(Self {
            kind,
            version,
            cursor: cursor.to_string(),
        })
    }
}

/// A list request (threads: `KIND` `'t'`, messages: `'m'`): its paging parameters, its
/// continuation token, and its api-version, which a follow-up page may leave out to take its
/// token's. Checked in this order: a bad token is 400 before a bad api-version.
pub struct Listing<const KIND: char> {
    /// The paging parameters.
    pub query: PageQuery,
    /// The decoded `syncState`.
    pub sync: Option<SyncState>,
    /// The api-version.
    pub version: &'static str,
}

impl<const KIND: char> FromRequest for Listing<KIND> {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let extract = || {
            let query = PageQuery::from_request(req);
            let sync = query
                .sync_state
                .as_deref()
                .map(|s| SyncState::decode(s, KIND))
                .transpose()?;
            let version = match (ApiVersion::of(req), &sync) {
                (Err(ApiError::ApiVersionUnspecified), Some(sync)) => sync.version,
                (other, _) => other?,
            };
            Ok(Listing {
                query,
                sync,
                version,
            })
        };
        ready(extract())
    }
}

/// An absolute link on this server, built from the request's own scheme and `Host`:
/// `{scheme}://{host}{path}?{params}`.
pub fn absolute_link(req: &HttpRequest, path: &str, params: &[(&str, String)]) -> String {
    let (scheme, host) = crate::http::origin(req);
    let mut url = format!("{scheme}://{host}{path}");
    if !params.is_empty() {
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())))
            .finish();
        url.push('?');
        url.push_str(&query);
    }
    url
}

/// 201 Created with a JSON body and a `Location` header (create thread, send message).
pub fn created_with_location(
    location: &str,
    body: &impl serde::Serialize,
) -> Result<actix_web::HttpResponse, ApiError> {
    let mut response = crate::http::json_response(actix_web::http::StatusCode::CREATED, body)?;
    if let Ok(value) = actix_web::http::header::HeaderValue::from_str(location) {
        response
            .headers_mut()
            .insert(actix_web::http::header::LOCATION, value);
    }
    Ok(response)
}

/// A page of a `skip` + `maxPageSize` list under a thread (participants, read receipts).
#[derive(Debug, Clone, Copy)]
pub struct SkipPage {
    /// Items to pass over.
    pub skip: usize,
    /// Items to return at most.
    pub max: usize,
}

impl SkipPage {
    /// The request's page: `maxPageSize` (`default` when absent), then `skip`, each with its
    /// 400.
    pub fn from_request(req: &HttpRequest, default: usize) -> Result<Self, ApiError> {
        let query = PageQuery::from_request(req);
        let max = query.page_size(default)?;
        Ok(Self {
            skip: query.skip()?,
            max,
        })
    }

    /// 200 with `value` and, when `more` follow, the `nextLink` to the next page of `suffix`
    /// under thread `id`.
    pub fn answer<T: Serialize>(
        self,
        req: &HttpRequest,
        (id, suffix): (&crate::domain::ThreadId, &str),
        version: &str,
        (value, more): (Vec<T>, bool),
    ) -> Result<actix_web::HttpResponse, ApiError> {
        let next_link = more.then(|| {
            absolute_link(
                req,
                &thread_path(id, suffix),
                &[
                    ("skip", (self.skip + self.max).to_string()),
                    ("maxPageSize", self.max.to_string()),
                    ("api-version", version.to_string()),
                ],
            )
        });
        crate::http::json_response(actix_web::http::StatusCode::OK, &Paged { value, next_link })
    }
}

/// The path of a thread (or one of its sub-resources), with the id percent-encoded as the SDKs
/// send it.
pub fn thread_path(id: &crate::domain::ThreadId, suffix: &str) -> String {
    format!(
        "/chat/threads/{}{suffix}",
        id.as_str().replace(':', "%3A").replace('@', "%40")
    )
}

/// `{value, nextLink?}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Paged<T> {
    /// Items.
    pub value: Vec<T>,
    /// Absolute link to the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_link: Option<String>,
}
