//! Request middleware: bearer-token authentication and idempotency keys.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jaego_core::limits::{CSV_BODY_BYTES_MAX, IDEMPOTENCY_KEY_LEN_MAX};
use jaego_store::idempotency::Claim;
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::error::ApiError;
use crate::extract::Auth;

/// Resolves `Authorization: Bearer …` to a principal, or answers 401.
pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let secret = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let Some(secret) = secret else {
        return ApiError::Unauthorized.into_response();
    };
    match state.tokens.authenticate(&state.store, secret).await {
        Ok(Some(principal)) => {
            request.extensions_mut().insert(Auth(principal));
            next.run(request).await
        }
        Ok(None) => ApiError::Unauthorized.into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// Honours `Idempotency-Key` on mutating requests: the first request with a
/// key runs and its answer is stored; a retry with the same key and the same
/// method, path and body gets that answer again (with `Idempotent-Replayed:
/// true`) and changes nothing; the same key with anything else is refused.
/// Keys are scoped to the token that sent them.
pub async fn idempotency(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let mutating = matches!(
        *request.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    let key = request.headers().get("idempotency-key").cloned();
    let (Some(key), true) = (key, mutating) else {
        return next.run(request).await;
    };
    let key = match key.to_str() {
        Ok(k)
            if !k.is_empty()
                && k.len() <= IDEMPOTENCY_KEY_LEN_MAX
                && k.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            k.to_string()
        }
        _ => {
            return ApiError::invalid(
                "Idempotency-Key",
                format!("must be 1 to {IDEMPOTENCY_KEY_LEN_MAX} printable ASCII characters"),
            )
            .into_response();
        }
    };
    let Some(Auth(principal)) = request.extensions().get::<Auth>().cloned() else {
        return ApiError::Unauthorized.into_response();
    };
    // Keys belong to the token that sent them: another token of the tenant,
    // perhaps with a lesser role, can neither replay nor block them.
    let key = format!("{}:{key}", principal.token_id);
    let (parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, CSV_BODY_BYTES_MAX).await else {
        return ApiError::TooLarge(format!("the limit is {CSV_BODY_BYTES_MAX} bytes"))
            .into_response();
    };
    let mut hasher = Sha256::new();
    hasher.update(parts.method.as_str());
    hasher.update([0]);
    hasher.update(parts.uri.path());
    hasher.update([0]);
    hasher.update(parts.uri.query().unwrap_or(""));
    hasher.update([0]);
    hasher.update(&bytes);
    let hash = hex::encode(hasher.finalize());
    let tenant = principal.tenant_id;
    match state.store.claim_idempotency(tenant, &key, &hash).await {
        Ok(Claim::Fresh) => {}
        Ok(Claim::Replay { status, body }) => return replay(status, body),
        Ok(Claim::Mismatch) => return ApiError::IdempotencyMismatch.into_response(),
        Ok(Claim::InProgress) => return ApiError::IdempotencyInProgress.into_response(),
        Err(e) => return ApiError::from(e).into_response(),
    }
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let (parts, body) = response.into_parts();
    let bytes = match to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(e) => {
            let _ = state.store.abandon_idempotency(tenant, &key).await;
            return ApiError::Internal(format!("reading response body: {e}")).into_response();
        }
    };
    let stored = if parts.status.is_server_error() {
        // Nothing was applied (or we cannot know): let a retry run again.
        state.store.abandon_idempotency(tenant, &key).await
    } else {
        state
            .store
            .complete_idempotency(
                tenant,
                &key,
                parts.status.as_u16(),
                &String::from_utf8_lossy(&bytes),
            )
            .await
    };
    if let Err(e) = stored {
        tracing::error!(error = %e, "storing an idempotent response failed");
    }
    Response::from_parts(parts, Body::from(bytes))
}

fn replay(status: u16, body: String) -> Response {
    let status = axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::OK);
    let content_type = if status.is_client_error() || status.is_server_error() {
        "application/problem+json"
    } else {
        "application/json"
    };
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}

/// Gives error answers made outside our handlers (a wrong method from the
/// router, the request timeout) a problem+json body like every other error.
pub async fn bare_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || response.headers().contains_key(header::CONTENT_TYPE)
    {
        return response;
    }
    match status {
        axum::http::StatusCode::METHOD_NOT_ALLOWED => {
            let allow = response.headers().get(header::ALLOW).cloned();
            let mut answer = ApiError::MethodNotAllowed.into_response();
            if let Some(allow) = allow {
                answer.headers_mut().insert(header::ALLOW, allow);
            }
            answer
        }
        axum::http::StatusCode::SERVICE_UNAVAILABLE | axum::http::StatusCode::REQUEST_TIMEOUT => {
            ApiError::Unavailable.into_response()
        }
        _ => response,
    }
}
