//! Every error the API answers, mapped once to `application/problem+json`
//! (RFC 9457). Handlers return `ApiError`; nothing else writes error bodies.
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::store::StoreError;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// One invalid input field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// The field's name in the request (`email`, `filters[2].common_name`…).
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// RFC 9457 problem details.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem (`urn:orrery:problem:<kind>`).
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Present on validation problems.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the request is malformed: {0}")]
    BadRequest(String),
    #[error("the request failed validation")]
    Validation(Vec<FieldError>),
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    #[error("the request body is too large")]
    PayloadTooLarge,
    #[error("authentication is required")]
    Unauthenticated,
    #[error("the email or password is wrong")]
    InvalidCredentials,
    #[error("{0}")]
    Forbidden(String),
    #[error("the x-csrf-token header is missing or does not match the session")]
    CsrfMismatch,
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("{0}")]
    Conflict(String),
    /// Answered with a `Retry-After` header (whole seconds, at least 1).
    #[error("too many attempts; retry later")]
    TooManyRequests { retry_after: Duration },
    /// Every password-hashing slot stayed busy: 503 with `Retry-After`.
    #[error("the server is busy; retry later")]
    Busy { retry_after: Duration },
    /// A resource the account may hold only so many of.
    #[error("{}", .0.message)]
    QuotaExceeded(FieldError),
    /// The cell refused or could not be reached. The caller learns nothing
    /// of the cell (name, address, its error): that is logged where it
    /// happens, and this text also lands in the tenant's audit log.
    #[error("the namespace's cell is unavailable; try again")]
    CellUnavailable,
    #[error("no cell has capacity for a new namespace")]
    NoCapacity,
    /// `GET /readyz`: this replica cannot reach its database. What failed
    /// is logged, not answered (the route needs no credential).
    #[error("the control plane cannot reach its database")]
    NotReady,
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Validation(vec![FieldError::new(field, message)])
    }

    pub fn forbidden(why: impl Into<String>) -> Self {
        ApiError::Forbidden(why.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unauthenticated | ApiError::InvalidCredentials => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) | ApiError::CsrfMismatch => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::QuotaExceeded(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::CellUnavailable => StatusCode::BAD_GATEWAY,
            ApiError::NoCapacity | ApiError::NotReady => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad-request",
            ApiError::Validation(_) => "validation",
            ApiError::UnsupportedMediaType(_) => "unsupported-media-type",
            ApiError::PayloadTooLarge => "payload-too-large",
            ApiError::Unauthenticated => "unauthenticated",
            ApiError::InvalidCredentials => "invalid-credentials",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::CsrfMismatch => "csrf",
            ApiError::NotFound => "not-found",
            ApiError::MethodNotAllowed => "method-not-allowed",
            ApiError::Conflict(_) => "conflict",
            ApiError::TooManyRequests { .. } => "rate-limited",
            ApiError::Busy { .. } => "busy",
            ApiError::QuotaExceeded(_) => "quota-exceeded",
            ApiError::CellUnavailable => "cell-unavailable",
            ApiError::NoCapacity => "no-capacity",
            ApiError::NotReady => "not-ready",
            ApiError::Internal(_) => "internal",
        }
    }

    /// Short outcome text for the audit log.
    pub fn outcome(&self) -> String {
        format!("failure: {}", self.kind())
    }

    pub fn problem(&self) -> Problem {
        let status = self.status();
        let detail = match self {
            // Internal details go to the log, never to the caller.
            ApiError::Internal(_) => "the server failed to handle the request".to_owned(),
            other => other.to_string(),
        };
        Problem {
            kind: format!("urn:orrery:problem:{}", self.kind()),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail,
            errors: match self {
                ApiError::Validation(errors) => errors.clone(),
                ApiError::QuotaExceeded(error) => vec![error.clone()],
                _ => Vec::new(),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(why) = &self {
            tracing::error!(error = %why, "internal error");
        }
        let problem = self.problem();
        let mut response = (self.status(), axum::Json(problem)).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let ApiError::TooManyRequests { retry_after } | ApiError::Busy { retry_after } = &self {
            // Whole seconds, rounded up: a client retrying at once would be
            // refused again.
            let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        if matches!(self, ApiError::Unauthenticated) {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"orrery\""),
            );
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Conflict => ApiError::Conflict("it already exists".into()),
            StoreError::Database(why) => ApiError::Internal(why),
        }
    }
}

/// The error responses every route may give, for the OpenAPI document.
#[derive(utoipa::IntoResponses)]
pub enum ErrorResponses {
    #[response(
        status = 400,
        description = "Malformed request",
        content_type = "application/problem+json"
    )]
    BadRequest(#[to_schema] Problem),
    #[response(
        status = 401,
        description = "Not authenticated",
        content_type = "application/problem+json"
    )]
    Unauthenticated(Problem),
    #[response(
        status = 403,
        description = "Not allowed (role, namespace permission or CSRF)",
        content_type = "application/problem+json"
    )]
    Forbidden(Problem),
    #[response(
        status = 404,
        description = "No such resource in the caller's account",
        content_type = "application/problem+json"
    )]
    NotFound(Problem),
    #[response(
        status = 409,
        description = "Conflicts with an existing resource",
        content_type = "application/problem+json"
    )]
    Conflict(Problem),
    #[response(
        status = 413,
        description = "The body is too large",
        content_type = "application/problem+json"
    )]
    TooLarge(Problem),
    #[response(
        status = 415,
        description = "The body is not `application/json`",
        content_type = "application/problem+json"
    )]
    UnsupportedMediaType(Problem),
    #[response(
        status = 422,
        description = "Validation failed; `errors` names the fields",
        content_type = "application/problem+json"
    )]
    Validation(Problem),
}
