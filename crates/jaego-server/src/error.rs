//! The one error type of the HTTP edge, answered as RFC 9457 problem+json
//! with a stable `code`. Every store and domain error is mapped here, once.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jaego_core::{InvalidInput, TenantId};
use jaego_store::{Store, StoreError};
use serde::Serialize;
use utoipa::ToSchema;

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem type: `https://jaego.dev/problems/{code}`.
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Stable, machine-readable error code; see docs/errors.md.
    pub code: &'static str,
    /// For `invalid_input`: every field that was wrong.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// For `insufficient_stock`: every short line.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub shortages: Vec<ShortageBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FieldError {
    /// The field: `quantity`, `lines[2].sku`, `line 14`.
    pub field: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ShortageBody {
    /// Index of the line in the request (0-based).
    pub line: usize,
    pub sku_id: String,
    /// The SKU's code, so a screen can say which item is short.
    pub sku_code: Option<String>,
    /// The SKU's name (a menu item's name on a table-order screen).
    pub sku_name: Option<String>,
    pub location_id: Option<String>,
    /// Units the request needs from this SKU at this location, all its lines together.
    pub requested: i64,
    /// Units that were available for it.
    pub available: i64,
}

/// The stable `code` of an error answer, kept in the response's extensions
/// for the layers outside the handler (the audit log).
#[derive(Debug, Clone, Copy)]
pub struct ProblemCode(pub &'static str);

/// Every way a request can fail.
#[derive(Debug)]
pub enum ApiError {
    /// 400 `malformed_json`: the body is not JSON (or CSV) at all.
    Malformed(String),
    /// 422 `invalid_input`: well-formed but wrong; lists each field.
    Invalid(InvalidInput),
    /// 401 `unauthorized`: no token, or not a valid one.
    Unauthorized,
    /// 403 `forbidden`: the token's role may not do this.
    Forbidden(&'static str),
    /// 404 `not_found`.
    NotFound(String),
    /// 409 `duplicate`: a unique code or barcode is taken.
    Duplicate(String),
    /// 409 `insufficient_stock`, with the short lines.
    Shortage(Vec<ShortageBody>),
    /// 409 `reservation_already_resolved`.
    AlreadyResolved(String),
    /// 409 `reservation_expired`.
    Expired,
    /// 409 `transfer_already_received`.
    TransferReceived,
    /// 409 `conflict`: a figure that can never go negative would have.
    Conflict(String),
    /// 409 with a rule-specific `code` (e.g. `order_already_shipped`): the
    /// thing acted on is in a state that refuses the request.
    Refused { code: &'static str, detail: String },
    /// 422 `idempotency_key_mismatch`: the key was used with another body.
    IdempotencyMismatch,
    /// 409 `idempotency_key_in_progress`: the first request with the key has not finished.
    IdempotencyInProgress,
    /// 405 `method_not_allowed`: the route exists, the method does not.
    MethodNotAllowed,
    /// 413 `payload_too_large`.
    TooLarge(String),
    /// 415 `unsupported_media_type`.
    UnsupportedMediaType(String),
    /// 401 `invalid_credentials`: the login name or the password is wrong,
    /// or the user is disabled (which of these is not said).
    InvalidCredentials,
    /// 403 `csrf_failed`: a cookie-authenticated change came without the
    /// session's CSRF token.
    CsrfFailed,
    /// 429 `rate_limited`: too many attempts; `Retry-After` says when to try again.
    RateLimited { retry_after_secs: i64 },
    /// 503 `overloaded`: more requests than the server will queue; `Retry-After: 1`.
    Overloaded,
    /// 429 `too_many_subscribers`: the tenant has its maximum of live
    /// event streams on this instance.
    TooManySubscribers(String),
    /// 503 `subscribers_full`: this instance serves its maximum of live
    /// event streams; retry later or on another instance.
    SubscribersFull(String),
    /// 410 `resync_required`: the events asked for are no longer (or not
    /// yet) in the log; reload current state and continue from the latest.
    ResyncRequired(String),
    /// 503 `unavailable`: transient; retry.
    Unavailable,
    /// 500 `internal`: logged, never detailed to the caller.
    Internal(String),
}

impl ApiError {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ApiError::Invalid(InvalidInput::one(field, reason))
    }

    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        use ApiError::*;
        match self {
            Malformed(_) => (
                StatusCode::BAD_REQUEST,
                "malformed_json",
                "The request body could not be parsed",
            ),
            Invalid(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_input",
                "The request has invalid fields",
            ),
            Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "A valid bearer token or session is required",
            ),
            Forbidden(_) => (
                StatusCode::FORBIDDEN,
                "forbidden",
                "The token's role may not do this",
            ),
            NotFound(_) => (StatusCode::NOT_FOUND, "not_found", "Not found"),
            Duplicate(_) => (StatusCode::CONFLICT, "duplicate", "Already exists"),
            Shortage(_) => (
                StatusCode::CONFLICT,
                "insufficient_stock",
                "Not enough stock available",
            ),
            AlreadyResolved(_) => (
                StatusCode::CONFLICT,
                "reservation_already_resolved",
                "The reservation was already resolved",
            ),
            Expired => (
                StatusCode::CONFLICT,
                "reservation_expired",
                "The reservation expired",
            ),
            TransferReceived => (
                StatusCode::CONFLICT,
                "transfer_already_received",
                "The transfer was already received",
            ),
            Conflict(_) => (
                StatusCode::CONFLICT,
                "conflict",
                "The change conflicts with the current stock",
            ),
            Refused { code, .. } => (
                StatusCode::CONFLICT,
                code,
                "The request conflicts with the current state",
            ),
            IdempotencyMismatch => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_mismatch",
                "The Idempotency-Key was used with a different request",
            ),
            IdempotencyInProgress => (
                StatusCode::CONFLICT,
                "idempotency_key_in_progress",
                "A request with this Idempotency-Key is still in progress",
            ),
            MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "The route does not take this method",
            ),
            TooLarge(_) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "The request body is too large",
            ),
            UnsupportedMediaType(_) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Unsupported content type",
            ),
            InvalidCredentials => (
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "The login name or password is wrong",
            ),
            CsrfFailed => (
                StatusCode::FORBIDDEN,
                "csrf_failed",
                "The request lacks the session's CSRF token",
            ),
            RateLimited { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "Too many attempts; wait and retry",
            ),
            Overloaded => (
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                "The server is busy; retry shortly",
            ),
            TooManySubscribers(_) => (
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_subscribers",
                "Too many live event streams for this tenant",
            ),
            SubscribersFull(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "subscribers_full",
                "This server has no room for another live event stream",
            ),
            ResyncRequired(_) => (
                StatusCode::GONE,
                "resync_required",
                "The events asked for are not in the log; reload current state",
            ),
            Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Temporarily unavailable; retry",
            ),
            Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal server error",
            ),
        }
    }

    pub fn problem(&self) -> Problem {
        use ApiError::*;
        let (status, code, title) = self.parts();
        let detail = match self {
            Malformed(d)
            | NotFound(d)
            | Duplicate(d)
            | Conflict(d)
            | TooLarge(d)
            | UnsupportedMediaType(d)
            | TooManySubscribers(d)
            | SubscribersFull(d)
            | ResyncRequired(d)
            | Refused { detail: d, .. } => Some(d.clone()),
            Forbidden(action) => Some(format!("this role may not {action}")),
            CsrfFailed => Some(
                "send the token from GET /auth/session as the X-CSRF-Token header or the csrf_token form field".into(),
            ),
            RateLimited { retry_after_secs } => {
                Some(format!("try again in {retry_after_secs} seconds"))
            }
            AlreadyResolved(state) => Some(format!("the reservation is already {state}")),
            Invalid(err) => Some(err.to_string()),
            Shortage(lines) => shortage_detail(lines),
            _ => None,
        };
        let errors = match self {
            Invalid(err) => err
                .violations
                .iter()
                .map(|v| FieldError {
                    field: v.field.clone(),
                    reason: v.reason.clone(),
                })
                .collect(),
            _ => Vec::new(),
        };
        let shortages = match self {
            Shortage(lines) => lines.clone(),
            _ => Vec::new(),
        };
        Problem {
            type_uri: format!("https://jaego.dev/problems/{code}"),
            title: title.to_string(),
            status: status.as_u16(),
            detail,
            code,
            errors,
            shortages,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(detail) = &self {
            tracing::error!(%detail, "internal error");
        }
        let retry_after = match &self {
            ApiError::RateLimited { retry_after_secs } => Some(*retry_after_secs),
            ApiError::Overloaded | ApiError::Unavailable => Some(1),
            ApiError::SubscribersFull(_) | ApiError::TooManySubscribers(_) => Some(5),
            _ => None,
        };
        let problem = self.problem();
        let status =
            StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response.extensions_mut().insert(ProblemCode(problem.code));
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Invalid(e) => ApiError::Invalid(e),
            StoreError::NotFound { entity, key } => {
                ApiError::NotFound(format!("{entity} {key} not found"))
            }
            StoreError::Duplicate { what, value } => {
                ApiError::Duplicate(format!("{what} {value:?} already exists"))
            }
            StoreError::Shortage(lines) => ApiError::Shortage(
                lines
                    .into_iter()
                    .map(|s| ShortageBody {
                        line: s.line,
                        sku_id: s.sku.to_string(),
                        sku_code: None,
                        sku_name: None,
                        location_id: s.location.map(|l| l.to_string()),
                        requested: s.requested,
                        available: s.available,
                    })
                    .collect(),
            ),
            StoreError::AlreadyResolved(state) => ApiError::AlreadyResolved(state.to_string()),
            StoreError::Expired => ApiError::Expired,
            StoreError::TransferReceived => ApiError::TransferReceived,
            StoreError::Conflict(d) => ApiError::Conflict(d),
            StoreError::Refused { code, detail } => ApiError::Refused { code, detail },
            StoreError::Unavailable(d) => {
                tracing::warn!(detail = %d, "store unavailable");
                ApiError::Unavailable
            }
            StoreError::ShuttingDown => ApiError::Unavailable,
            other => ApiError::Internal(other.to_string()),
        }
    }
}

/// The detail of an `insufficient_stock` answer: each short item by name,
/// what is left and what was asked, e.g. `BIBIM (Bibimbap): 2 left, 3
/// requested`. `None` until the lines carry their SKU's code.
fn shortage_detail(lines: &[ShortageBody]) -> Option<String> {
    let named: Vec<String> = lines
        .iter()
        .filter_map(|l| {
            let code = l.sku_code.as_deref()?;
            let name = l
                .sku_name
                .as_deref()
                .map_or(String::new(), |n| format!(" ({n})"));
            Some(format!(
                "{code}{name}: {} left, {} requested",
                l.available.max(0),
                l.requested
            ))
        })
        .collect();
    (!named.is_empty()).then(|| named.join("; "))
}

/// Maps a store error like `From` does, and names the SKU of every short
/// line of an `insufficient_stock` (its code and name, read now; a SKU
/// that cannot be read keeps only its id).
pub async fn named(store: &Store, tenant: TenantId, err: StoreError) -> ApiError {
    let mut api = ApiError::from(err);
    if let ApiError::Shortage(lines) = &mut api {
        for line in lines.iter_mut() {
            let Ok(id) = line.sku_id.parse() else {
                continue;
            };
            if let Ok(sku) = store.get_sku(tenant, id).await {
                line.sku_code = Some(sku.code);
                line.sku_name = Some(sku.name);
            }
        }
    }
    api
}

/// [`named`] for a result.
pub async fn name_shortages<T>(
    store: &Store,
    tenant: TenantId,
    result: Result<T, StoreError>,
) -> ApiResult<T> {
    match result {
        Ok(v) => Ok(v),
        Err(e) => Err(named(store, tenant, e).await),
    }
}

impl From<InvalidInput> for ApiError {
    fn from(err: InvalidInput) -> Self {
        ApiError::Invalid(err)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
