//! The API error type and the ACS error envelope.
//!
//! Every error response the emulator sends (auth failures, validation errors, unknown routes,
//! malformed JSON, oversized bodies) is built here, as `{"error":{"code","message",…}}` with
//! `Content-Type: application/json`, the shape of the ACS `CommunicationErrorResponse`.
//! [`ApiError::status_code`] and [`ApiError::code`] together are the code table.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

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
    /// 405 `MethodNotAllowed`.
    #[error("The HTTP method '{0}' is not supported by this resource.")]
    MethodNotAllowed(String),
    /// 413 `RequestEntityTooLarge`.
    #[error("The request body is larger than the limit of {0} bytes.")]
    PayloadTooLarge(usize),
    /// 415 `UnsupportedMediaType`.
    #[error("Content-Type '{0}' is not supported; send application/json.")]
    UnsupportedMediaType(String),
    /// 500 `InternalError`: a bug in the emulator. Logged with its cause; the response stays generic.
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    /// The ACS error code sent in `error.code`.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Denied(_) => "Denied",
            ApiError::Unauthorized(_) => "Unauthorized",
            ApiError::InvalidAuthenticationToken(_) => "InvalidAuthenticationToken",
            ApiError::InvalidAccessToken => "InvalidAccessToken",
            ApiError::Forbidden(_) => "Forbidden",
            ApiError::Validation { .. } => "ValidationError",
            ApiError::BadRequest { code, .. } => code,
            ApiError::ApiVersionUnspecified => "ApiVersionUnspecified",
            ApiError::InvalidApiVersion { .. } => "InvalidApiVersion",
            ApiError::NotFound(_) => "NotFound",
            ApiError::MethodNotAllowed(_) => "MethodNotAllowed",
            ApiError::PayloadTooLarge(_) => "RequestEntityTooLarge",
            ApiError::UnsupportedMediaType(_) => "UnsupportedMediaType",
            ApiError::Internal(_) => "InternalError",
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

    /// The envelope body for this error.
    pub fn body(&self) -> ErrorResponse {
        let message = match self {
            ApiError::Internal(_) => {
                "The emulator hit an internal error; see its log for details.".to_string()
            }
            other => other.to_string(),
        };
        let target = match self {
            ApiError::Validation { target, .. } => target.clone(),
            _ => None,
        };
        ErrorResponse {
            error: CommunicationError {
                code: self.code().to_string(),
                message,
                target,
                details: None,
            },
        }
    }
}

/// `CommunicationErrorResponse`: `{"error": CommunicationError}`.
#[derive(Debug, Serialize)]
pub struct ErrorResponse {
    /// The error.
    pub error: CommunicationError,
}

/// `CommunicationError` from the ACS common spec.
#[derive(Debug, Clone, Serialize)]
pub struct CommunicationError {
    /// Machine-readable code.
    pub code: String,
    /// Human-readable message.
    pub message: String,
    /// The field or item the error is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Further errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Vec<CommunicationError>>,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Denied(_)
            | ApiError::Unauthorized(_)
            | ApiError::InvalidAuthenticationToken(_)
            | ApiError::InvalidAccessToken => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::Validation { .. }
            | ApiError::BadRequest { .. }
            | ApiError::ApiVersionUnspecified
            | ApiError::InvalidApiVersion { .. } => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(cause) = self {
            tracing::error!(error = ?cause, "internal error");
        }
        let body = serde_json::to_vec(&self.body()).unwrap_or_else(|_| b"{}".to_vec());
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        ));
        if matches!(
            self,
            ApiError::Unauthorized(_) | ApiError::InvalidAuthenticationToken(_)
        ) {
            response.insert_header((
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            ));
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
    fn internal_errors_do_not_leak_their_cause() {
        let err = ApiError::Internal(anyhow::anyhow!("secret detail"));
        let body = serde_json::to_string(&err.body()).expect("serializable");
        assert!(!body.contains("secret detail"));
        assert_eq!(err.status_code(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
