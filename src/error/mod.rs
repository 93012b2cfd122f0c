//! The error catalogue: the API error type, every code it answers with, and the ACS error
//! envelope.
//!
//! Every error response the emulator sends (auth failures, validation errors, unknown routes,
//! malformed JSON, oversized bodies, scenario rules' scripted answers) is built here, as
//! `{"error":{"code","message",…}}` with `Content-Type: application/json`, the shape of the ACS
//! `CommunicationErrorResponse`. [`ApiError::status_code`] and [`ApiError::code`] together are
//! the code table; the constructors below give the variants with a code of their own
//! (`ApiError::invalid_body`, `ApiError::host_mismatch`, …) their message.
//!
//! The lower layers have their own small error enums (`store::ChatError`, `store::StoreError`,
//! `store::SmsError`, `store::RoomsError`, `auth::user_token::TokenError`, `auth::hmac::HmacError`,
//! `auth::entra::EntraError`, `events::SubscribeError`, `fixtures::FixtureError`); how the API
//! answers each is decided here, in one `From` impl per enum, so a handler just uses `?`. This
//! module therefore sits above those layers and below `http` and `api` (docs/ARCHITECTURE.md).
//!
//! Exceptions to the envelope, also built only here:
//! - the SMS service answers model-validation failures and unknown delivery reports with RFC 9110
//!   problem details (`{type, title, status, errors?, traceId}`), as the SMS 2026-01-23 spec and
//!   its examples show (acs-api.md §3.2): [`ApiError::ValidationProblem`],
//!   [`ApiError::ProblemNotFound`];
//! - the Entra ID authority answers as OAuth 2.0 does ([`ApiError::OAuth`]), its managed
//!   identity endpoint as App Service does ([`ApiError::ManagedIdentity`]);
//! - a scripted answer may carry a JSON body of its own ([`ApiError::Scripted`]).

mod envelope;
mod from;

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use envelope::{
    ManagedIdentityError, default_code, json, oauth_response, scripted_response, trace_id,
};

pub use envelope::{CommunicationError, ErrorResponse, JSON_CONTENT_TYPE, ProblemDetails};

use crate::auth::entra::OAuthError;
use crate::scenario::rules::Respond;
use crate::store::METADATA_LIMIT_BYTES;

/// The real Chat service's 403 message.
pub const CHAT_FORBIDDEN_MESSAGE: &str = "User is not allowed to perform specified action.";

/// Any error the emulator answers with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 401 `Denied`: an access-key (HMAC) request that failed verification.
    #[error("{0}")]
    Denied(String),
    /// 401 `Unauthorized`: missing or unusable credentials (user tokens, unknown identities).
    #[error("{0}")]
    Unauthorized(String),
    /// 401 `InvalidAuthenticationToken`: an Entra ID bearer token was refused.
    #[error("{0}")]
    InvalidAuthenticationToken(String),
    /// 401 `InvalidAccessToken`: the Entra token given to the Teams token exchange is not valid.
    #[error("Provided access token is not valid.")]
    InvalidAccessToken,
    /// 401 `Unauthorized` with an empty message: an SMS sender number the resource does not own
    /// (or a malformed one), exactly as the real service answers (acs-api.md §3.3, §13).
    #[error("")]
    SenderNotOwned,
    /// 400 problem details listing invalid fields, as ASP.NET model validation writes them
    /// (`errors: {"SmsRecipients": ["…"]}`): SMS request validation.
    #[error("One or more validation errors occurred.")]
    ValidationProblem(BTreeMap<String, Vec<String>>),
    /// 404 problem details without a body of its own: an unknown SMS delivery report.
    #[error("Not Found")]
    ProblemNotFound,
    /// 403 `Forbidden`: authenticated, but not allowed to do this.
    #[error("{0}")]
    Forbidden(String),
    /// 400 `ValidationError` about one field (`target`).
    #[error("{message}")]
    Validation {
        /// What is wrong.
        message: String,
        /// The offending field, as the real service names it (e.g. `ExpiresInMinutes`).
        target: Option<String>,
    },
    /// 400 with a specific code, e.g. `InvalidRequestBody`.
    #[error("{message}")]
    BadRequest {
        /// ACS error code.
        code: &'static str,
        /// What is wrong.
        message: String,
    },
    /// 400 `ApiVersionUnspecified`.
    #[error("An API version is required, but was not specified.")]
    ApiVersionUnspecified,
    /// 400 `InvalidApiVersion`.
    #[error(
        "The HTTP resource that matches the request URI '{uri}' does not support the API version '{version}'."
    )]
    InvalidApiVersion {
        /// The request URI (path and query).
        uri: String,
        /// The api-version that was asked for.
        version: String,
    },
    /// 404 `NotFound`.
    #[error("{0}")]
    NotFound(String),
    /// Any status with a service's own code (Email's `DomainNotLinked`, `InvalidEmailAddress`,
    /// …), optionally about one field (`target`).
    #[error("{message}")]
    Coded {
        /// The status.
        status: StatusCode,
        /// The ACS error code.
        code: &'static str,
        /// What is wrong.
        message: String,
        /// The offending field, if one.
        target: Option<String>,
    },
    /// Any status with a code and an `innererror` saying precisely what is wrong (SIP routing:
    /// 422 `UnprocessableConfiguration` with `InvalidTrunkFqdn`, …).
    #[error("{message}")]
    Inner {
        /// The status.
        status: StatusCode,
        /// The ACS error code.
        code: &'static str,
        /// What is wrong, in general.
        message: String,
        /// `innererror.code`.
        inner_code: &'static str,
        /// `innererror.message`.
        inner_message: String,
    },
    /// Any status with a code of its own and further errors in `details` (Rooms' model
    /// validation: 400 `BadRequest` with `BadArgument` details naming the field).
    #[error("{message}")]
    Detailed {
        /// The status.
        status: StatusCode,
        /// The ACS error code.
        code: &'static str,
        /// What is wrong.
        message: String,
        /// The errors behind it.
        details: Vec<CommunicationError>,
    },
    /// 409 `Conflict`: the resource exists already (an event subscription's name).
    #[error("{0}")]
    Conflict(String),
    /// 405 `MethodNotAllowed`.
    #[error("The HTTP method '{0}' is not supported by this resource.")]
    MethodNotAllowed(String),
    /// 413 `RequestEntityTooLarge`.
    #[error("The request body is larger than the limit of {0} bytes.")]
    PayloadTooLarge(usize),
    /// 431 `RequestHeaderFieldsTooLarge`: the request head is over `--max-header-bytes`.
    #[error("The request headers total {size} bytes, more than the limit of {limit} bytes.")]
    HeadersTooLarge {
        /// The request head's size.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// 408 `RequestTimeout`: the body did not arrive within `--request-body-timeout`.
    #[error("The request body did not arrive within {0} seconds.")]
    RequestTimeout(u64),
    /// 403 `IdentityLimitReached`: `--max-identities` live identities exist already. A 4xx
    /// because the SDKs retry 5xx (azure-core Python: 500, 502-504 and 506+; JS: every 5xx but
    /// 501/505), which would only delay the failure; Cosmos DB likewise answers a storage quota
    /// with 403.
    #[error(
        "The emulator holds its limit of {0} identities (--max-identities); delete some or POST /_emulator/reset."
    )]
    IdentityLimitReached(usize),
    /// 403 with a `…LimitReached` code (`ChatThreadLimitReached`, `MessageLimitReached`,
    /// `ParticipantLimitReached`, `OptOutLimitReached`, `AssignmentLimitReached`): one of the
    /// other store caps (README "Limits") is reached. 403 rather than 429 or 507 for the reason
    /// given at [`ApiError::IdentityLimitReached`]; the message names the flag to raise.
    #[error("{message}")]
    LimitReached {
        /// ACS-style error code.
        code: &'static str,
        /// What is full and which flag raises it.
        message: String,
    },
    /// 415 `UnsupportedMediaType`.
    #[error("Content-Type '{0}' is not supported; send application/json.")]
    UnsupportedMediaType(String),
    /// 415 `UnsupportedMediaType`: a `Content-Encoding` other than gzip or deflate, or several.
    #[error(
        "Content-Encoding '{0}' is not supported; send the body as it is, or with one of gzip or deflate."
    )]
    UnsupportedEncoding(String),
    /// 503 `ServiceUnavailable` with `Retry-After`: the connection has as many requests or body
    /// bytes in flight as the emulator allows for one connection (`--max-concurrent-streams`,
    /// `--max-connection-body-bytes`). Unlike the store caps this passes once the connection's
    /// other requests are answered, so a status the SDKs retry is the right one.
    #[error("{0}")]
    ConnectionBusy(String),
    /// What a scenario rule's `respond` scripts: any status, the envelope with its code and
    /// message (or its own JSON body), its headers.
    #[error("{}", .0.message)]
    Scripted(Box<Scripted>),
    /// An OAuth 2.0 error of the built-in Entra ID authority's token endpoint, in the shape MSAL
    /// parses (`{"error","error_description","error_codes",…}`): 401 for a client that is not
    /// known, 400 otherwise.
    #[error("{error}")]
    OAuth {
        /// The error.
        error: OAuthError,
        /// When it happened (emulator clock), for the body's `timestamp`.
        at: chrono::DateTime<chrono::Utc>,
    },
    /// An error of the managed identity endpoint, in App Service's shape
    /// (`{"statusCode","message"}`).
    #[error("{message}")]
    ManagedIdentity {
        /// The status.
        status: StatusCode,
        /// What is wrong.
        message: String,
    },
    /// 500 `InternalError`: a bug in the emulator. Logged with its cause; the response stays generic.
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

/// A scripted answer (see [`ApiError::Scripted`]).
#[derive(Debug)]
pub struct Scripted {
    /// The status (100..=599).
    pub status: StatusCode,
    /// The envelope's code.
    pub code: String,
    /// The envelope's message.
    pub message: String,
    /// Headers, in order; those that are not valid HTTP headers are left out (and logged).
    pub headers: Vec<(String, String)>,
    /// A body sent as is instead of the envelope.
    pub body: Option<serde_json::Value>,
    /// The rule, for logs.
    pub rule: String,
}

impl ApiError {
    /// The ACS error code sent in `error.code`.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Denied(_) => "Denied",
            ApiError::Unauthorized(_) | ApiError::SenderNotOwned => "Unauthorized",
            ApiError::ValidationProblem(_) => "ValidationError",
            ApiError::ProblemNotFound => "NotFound",
            ApiError::InvalidAuthenticationToken(_) => "InvalidAuthenticationToken",
            ApiError::InvalidAccessToken => "InvalidAccessToken",
            ApiError::Forbidden(_) => "Forbidden",
            ApiError::Validation { .. } => "ValidationError",
            ApiError::BadRequest { code, .. } => code,
            ApiError::ApiVersionUnspecified => "ApiVersionUnspecified",
            ApiError::InvalidApiVersion { .. } => "InvalidApiVersion",
            ApiError::NotFound(_) => "NotFound",
            ApiError::Coded { code, .. }
            | ApiError::Inner { code, .. }
            | ApiError::Detailed { code, .. } => code,
            ApiError::Conflict(_) => "Conflict",
            ApiError::MethodNotAllowed(_) => "MethodNotAllowed",
            ApiError::PayloadTooLarge(_) => "RequestEntityTooLarge",
            ApiError::HeadersTooLarge { .. } => "RequestHeaderFieldsTooLarge",
            ApiError::RequestTimeout(_) => "RequestTimeout",
            ApiError::IdentityLimitReached(_) => "IdentityLimitReached",
            ApiError::LimitReached { code, .. } => code,
            ApiError::UnsupportedMediaType(_) | ApiError::UnsupportedEncoding(_) => {
                "UnsupportedMediaType"
            }
            ApiError::ConnectionBusy(_) => "ServiceUnavailable",
            ApiError::Scripted(_) => "Scripted",
            ApiError::OAuth { error, .. } => error.code(),
            ApiError::ManagedIdentity { .. } => "ManagedIdentityError",
            ApiError::Internal(_) => "InternalError",
        }
    }

    /// The answer a scenario rule's `respond` scripts: the envelope has the given code (default:
    /// from the status, e.g. `TooManyRequests`) and message (default: names the rule).
    pub fn scripted(rule: &str, respond: &Respond) -> Self {
        let status =
            StatusCode::from_u16(respond.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        ApiError::Scripted(Box::new(Scripted {
            status,
            code: respond.code.clone().unwrap_or_else(|| default_code(status)),
            message: respond
                .message
                .clone()
                .unwrap_or_else(|| format!("Scripted by the emulator's scenario rule '{rule}'.")),
            headers: respond
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            body: respond.body.clone(),
            rule: rule.to_string(),
        }))
    }

    /// 400 `InvalidHeaderValue`: a `Host` header that names another host than the request's
    /// authority (RFC 9113 §8.3.1 calls such a request malformed).
    pub fn host_mismatch(host: &str, authority: &str) -> Self {
        ApiError::BadRequest {
            code: "InvalidHeaderValue",
            message: format!(
                "The Host header '{host}' names another host than the request's authority '{authority}'."
            ),
        }
    }

    /// 400 `InvalidQueryParameter` (control API): `name` has `value`, `expected` something else.
    pub fn invalid_query_parameter(name: &str, value: &str, expected: &str) -> Self {
        ApiError::BadRequest {
            code: "InvalidQueryParameter",
            message: format!(
                "Query parameter '{name}' has the invalid value '{value}'; expected {expected}."
            ),
        }
    }

    /// 400 `InvalidFixture`: a fixture that cannot be loaded.
    pub fn invalid_fixture(message: String) -> Self {
        ApiError::BadRequest {
            code: "InvalidFixture",
            message,
        }
    }

    /// 400 `ValidationError` (target `metadata`): thread, participant or message metadata over
    /// the 1 KB limit.
    pub fn metadata_too_large() -> Self {
        ApiError::validation(
            format!("Metadata cannot exceed {METADATA_LIMIT_BYTES} bytes in total."),
            "metadata",
        )
    }

    /// 403 `Forbidden` with the real Chat service's message: the caller's chat scope does not
    /// allow the operation, or the caller takes no part in the thread.
    pub fn chat_forbidden() -> Self {
        ApiError::Forbidden(CHAT_FORBIDDEN_MESSAGE.into())
    }

    /// 400 `BadRequest` "The request could not be understood by the server due to malformed
    /// syntax." with one `BadArgument` detail about `target`, as ASP.NET model validation
    /// answers in the Rooms service.
    pub fn bad_argument(message: impl Into<String>, target: impl Into<String>) -> Self {
        ApiError::Detailed {
            status: StatusCode::BAD_REQUEST,
            code: "BadRequest",
            message: "The request could not be understood by the server due to malformed syntax."
                .into(),
            details: vec![CommunicationError {
                code: "BadArgument".into(),
                message: message.into(),
                target: Some(target.into()),
                details: None,
                inner_error: None,
            }],
        }
    }

    /// Shorthand for a validation error about `target`.
    pub fn validation(message: impl Into<String>, target: impl Into<String>) -> Self {
        ApiError::Validation {
            message: message.into(),
            target: Some(target.into()),
        }
    }

    /// Shorthand for a malformed request body.
    pub fn invalid_body(message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code: "InvalidRequestBody",
            message: message.into(),
        }
    }

    /// Shorthand for a problem-details 400 about one field.
    pub fn field_problem(field: &str, message: impl Into<String>) -> Self {
        ApiError::ValidationProblem(BTreeMap::from([(field.to_string(), vec![message.into()])]))
    }

    /// The RFC 9110 problem-details body, for the variants that use that shape instead of the
    /// envelope.
    pub fn problem(&self) -> Option<ProblemDetails> {
        let (section, title, errors) = match self {
            ApiError::ValidationProblem(errors) => (
                "15.5.1",
                "One or more validation errors occurred.",
                Some(errors.clone()),
            ),
            ApiError::ProblemNotFound => ("15.5.5", "Not Found", None),
            _ => return None,
        };
        Some(ProblemDetails {
            problem_type: format!("https://tools.ietf.org/html/rfc9110#section-{section}"),
            title,
            status: self.status_code().as_u16(),
            errors,
            trace_id: trace_id(),
        })
    }

    /// The envelope body for this error.
    pub fn body(&self) -> ErrorResponse {
        let message = match self {
            ApiError::Internal(_) => {
                "The emulator hit an internal error; see its log for details.".to_string()
            }
            other => other.to_string(),
        };
        let target = match self {
            ApiError::Validation { target, .. } | ApiError::Coded { target, .. } => target.clone(),
            _ => None,
        };
        let inner_error = match self {
            ApiError::Inner {
                inner_code,
                inner_message,
                ..
            } => Some(Box::new(CommunicationError {
                code: (*inner_code).to_string(),
                message: inner_message.clone(),
                target: None,
                details: None,
                inner_error: None,
            })),
            _ => None,
        };
        let details = match self {
            ApiError::Detailed { details, .. } => Some(details.clone()),
            _ => None,
        };
        ErrorResponse {
            error: CommunicationError {
                code: self.code().to_string(),
                message,
                target,
                details,
                inner_error,
            },
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Denied(_)
            | ApiError::Unauthorized(_)
            | ApiError::SenderNotOwned
            | ApiError::InvalidAuthenticationToken(_)
            | ApiError::InvalidAccessToken => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::Validation { .. }
            | ApiError::BadRequest { .. }
            | ApiError::ValidationProblem(_)
            | ApiError::ApiVersionUnspecified
            | ApiError::InvalidApiVersion { .. } => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) | ApiError::ProblemNotFound => StatusCode::NOT_FOUND,
            ApiError::Coded { status, .. }
            | ApiError::Inner { status, .. }
            | ApiError::Detailed { status, .. } => *status,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::HeadersTooLarge { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::IdentityLimitReached(_) | ApiError::LimitReached { .. } => {
                StatusCode::FORBIDDEN
            }
            ApiError::UnsupportedMediaType(_) | ApiError::UnsupportedEncoding(_) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            ApiError::ConnectionBusy(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Scripted(scripted) => scripted.status,
            ApiError::OAuth {
                error: OAuthError::InvalidClient(_),
                ..
            } => StatusCode::UNAUTHORIZED,
            ApiError::OAuth { .. } => StatusCode::BAD_REQUEST,
            ApiError::ManagedIdentity { status, .. } => *status,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ApiError::Internal(cause) => tracing::error!(error = ?cause, "internal error"),
            ApiError::Scripted(scripted) => return scripted_response(scripted),
            ApiError::OAuth { error, at } => return oauth_response(self.status_code(), error, *at),
            ApiError::ManagedIdentity { status, message } => {
                return json(
                    *status,
                    &ManagedIdentityError {
                        status_code: status.as_u16(),
                        message,
                    },
                );
            }
            _ => {}
        }
        let mut response = HttpResponse::build(self.status_code());
        let body = if let Some(problem) = self.problem() {
            response.insert_header((
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/problem+json; charset=utf-8"),
            ));
            serde_json::to_vec(&problem)
        } else {
            response.insert_header((
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ));
            // The code again, as Azure data-plane services send it (the Email spec documents
            // it: "the same as the code in the error property").
            response.insert_header((
                HeaderName::from_static("x-ms-error-code"),
                HeaderValue::from_static(self.code()),
            ));
            serde_json::to_vec(&self.body())
        }
        .unwrap_or_else(|_| b"{}".to_vec());
        if matches!(
            self,
            ApiError::Unauthorized(_) | ApiError::InvalidAuthenticationToken(_)
        ) {
            response.insert_header((
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            ));
        }
        if matches!(self, ApiError::ConnectionBusy(_)) {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from_static("1")));
        }
        response.body(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_errors_carry_their_target() {
        let body = serde_json::to_value(
            ApiError::validation("Scopes: The Scopes field is required.", "Scopes").body(),
        )
        .expect("serializable");
        assert_eq!(
            body,
            serde_json::json!({"error": {"code": "ValidationError",
                "message": "Scopes: The Scopes field is required.", "target": "Scopes"}})
        );
    }

    #[test]
    fn validation_problems_render_problem_details() {
        let problem = ApiError::field_problem("SmsRecipients", "bad")
            .problem()
            .expect("problem details");
        let body = serde_json::to_value(&problem).expect("serializable");
        assert_eq!(
            body["type"],
            "https://tools.ietf.org/html/rfc9110#section-15.5.1"
        );
        assert_eq!(body["title"], "One or more validation errors occurred.");
        assert_eq!(body["status"], 400);
        assert_eq!(
            body["errors"],
            serde_json::json!({"SmsRecipients": ["bad"]})
        );
        let trace = body["traceId"].as_str().expect("traceId");
        assert_eq!(trace.len(), 55, "{trace}");
        assert!(ApiError::SenderNotOwned.problem().is_none());
    }

    #[test]
    fn an_unowned_sender_gets_an_empty_unauthorized_message() {
        let body = serde_json::to_value(ApiError::SenderNotOwned.body()).expect("serializable");
        assert_eq!(
            body,
            serde_json::json!({"error": {"code": "Unauthorized", "message": ""}})
        );
    }

    #[test]
    fn limit_errors_are_403_with_their_own_code() {
        let err = ApiError::LimitReached {
            code: "MessageLimitReached",
            message: "full (--max-chat-messages)".into(),
        };
        assert_eq!(err.status_code(), StatusCode::FORBIDDEN);
        assert_eq!(
            serde_json::to_value(err.body()).expect("serializable"),
            serde_json::json!({"error": {"code": "MessageLimitReached",
                "message": "full (--max-chat-messages)"}})
        );
    }

    fn respond(json: serde_json::Value) -> Respond {
        serde_json::from_value(json).expect("respond")
    }

    #[test]
    fn scripted_answers_render_the_envelope_their_body_or_nothing() {
        let err = ApiError::scripted(
            "throttle",
            &respond(serde_json::json!({"status": 429, "headers": {"Retry-After": "2"}})),
        );
        let res = err.error_response();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            res.headers().get(header::RETRY_AFTER),
            Some(&HeaderValue::from_static("2"))
        );
        assert_eq!(
            res.headers().get(header::CONTENT_TYPE),
            Some(&HeaderValue::from_static("application/json; charset=utf-8"))
        );
        let body = actix_web::body::to_bytes(res.into_body());
        let body = futures_util::FutureExt::now_or_never(body)
            .expect("ready")
            .expect("bytes");
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&body).expect("json"),
            serde_json::json!({"error": {"code": "TooManyRequests",
                "message": "Scripted by the emulator's scenario rule 'throttle'."}})
        );
        let res =
            ApiError::scripted("ok", &respond(serde_json::json!({"status": 200}))).error_response();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.headers().get(header::CONTENT_TYPE).is_none());
        let res = ApiError::scripted(
            "body",
            &respond(serde_json::json!({"status": 500, "body": {"x": 1}})),
        )
        .error_response();
        let body =
            futures_util::FutureExt::now_or_never(actix_web::body::to_bytes(res.into_body()))
                .expect("ready")
                .expect("bytes");
        assert_eq!(&body[..], br#"{"x":1}"#);
    }

    #[test]
    fn codes_read_like_acs_codes() {
        assert_eq!(
            default_code(StatusCode::TOO_MANY_REQUESTS),
            "TooManyRequests"
        );
        assert_eq!(
            default_code(StatusCode::SERVICE_UNAVAILABLE),
            "ServiceUnavailable"
        );
        assert_eq!(
            default_code(StatusCode::INTERNAL_SERVER_ERROR),
            "InternalServerError"
        );
    }

    #[test]
    fn internal_errors_do_not_leak_their_cause() {
        let err = ApiError::Internal(anyhow::anyhow!("secret detail"));
        let body = serde_json::to_string(&err.body()).expect("serializable");
        assert!(!body.contains("secret detail"));
        assert_eq!(err.status_code(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
