//! Request middleware: authentication (bearer tokens and session cookies),
//! the CSRF check, request ids and idempotency keys.

use std::net::SocketAddr;

use axum::body::{Body, to_bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jaego_core::limits::{CSV_BODY_BYTES_MAX, IDEMPOTENCY_KEY_LEN_MAX, JSON_BODY_BYTES_MAX};
use jaego_store::idempotency::Claim;
use sha2::{Digest, Sha256};
use tower_http::request_id::{MakeRequestId, RequestId};

use crate::error::ApiError;
use crate::extract::{Auth, CsrfToken};
use crate::{AppState, ServerConfig};

/// Resolves the caller to a principal, or answers 401: an
/// `Authorization: Bearer …` token if the header is there (a wrong token is
/// never retried as a cookie), else the session cookie. A session also puts
/// its [`CsrfToken`] into the request, for [`csrf`] and for pages.
pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    if let Some(value) = request.headers().get(header::AUTHORIZATION) {
        let secret = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|s| !s.is_empty());
        let Some(secret) = secret else {
            return ApiError::Unauthorized.into_response();
        };
        return match state.tokens.authenticate(&state.store, secret).await {
            Ok(Some(principal)) => {
                request.extensions_mut().insert(Auth(principal));
                next.run(request).await
            }
            Ok(None) => ApiError::Unauthorized.into_response(),
            Err(e) => ApiError::from(e).into_response(),
        };
    }
    match attach_session(&state, &mut request).await {
        Ok(true) => next.run(request).await,
        Ok(false) => ApiError::Unauthorized.into_response(),
        Err(e) => e.into_response(),
    }
}

/// Authenticates the request's session cookie and, for a live session,
/// gives the request its `Auth` and the session's `CsrfToken`. `false`
/// when there is no cookie or no live session: the API answers 401, a page
/// sends the browser to sign in.
pub(crate) async fn attach_session(
    state: &AppState,
    request: &mut Request,
) -> Result<bool, ApiError> {
    let Some(secret) = session_cookie(request.headers()) else {
        return Ok(false);
    };
    let Some((principal, _)) = state.store.authenticate_session(&secret).await? else {
        return Ok(false);
    };
    request
        .extensions_mut()
        .insert(CsrfToken(csrf_token_for(&secret)));
    request.extensions_mut().insert(Auth(principal));
    Ok(true)
}

/// The name of the session cookie. With `Secure`, the `__Host-` prefix
/// makes browsers refuse it unless it came over HTTPS, for the whole host,
/// with no `Domain`.
pub fn session_cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-jaego_session"
    } else {
        "jaego_session"
    }
}

/// The session secret from the `Cookie` header, under either name.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == "jaego_session" || *name == "__Host-jaego_session")
        .map(|(_, value)| value.trim().trim_matches('"').to_string())
        .filter(|v| !v.is_empty())
}

/// The `Set-Cookie` value that gives the browser a session.
pub fn session_set_cookie(secret: &str, config: &ServerConfig) -> String {
    let name = session_cookie_name(config.cookie_secure);
    let max_age = config.session_absolute.as_secs();
    let secure = if config.cookie_secure { "; Secure" } else { "" };
    format!("{name}={secret}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}")
}

/// The `Set-Cookie` value that makes the browser forget its session.
pub fn session_clear_cookie(config: &ServerConfig) -> String {
    let name = session_cookie_name(config.cookie_secure);
    let secure = if config.cookie_secure { "; Secure" } else { "" };
    format!("{name}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}")
}

/// The synchronizer token of a session: derived from the session secret
/// with SHA-256, so it needs no storage, changes with every session, and
/// reveals nothing of the secret (which stays in the `HttpOnly` cookie). A
/// page on another site can make the browser send the cookie, but cannot
/// read it, so it cannot compute the token.
pub fn csrf_token_for(session_secret: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"jaego-csrf-v1\0");
    hasher.update(session_secret.as_bytes());
    hex::encode(hasher.finalize())
}

/// Compares two strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The header a page's scripts send the CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The form field HTML forms send the CSRF token in.
pub const CSRF_FIELD: &str = "csrf_token";

/// Refuses a state-changing request authenticated by a session cookie
/// unless it carries the session's CSRF token, as the `X-CSRF-Token` header
/// or, for an HTML form (`application/x-www-form-urlencoded`), as the
/// `csrf_token` field. Requests with a bearer token carry no ambient
/// credential and need no token.
pub async fn csrf(request: Request, next: Next) -> Response {
    let Some(CsrfToken(expected)) = request.extensions().get::<CsrfToken>().cloned() else {
        return next.run(request).await;
    };
    if !is_state_changing(request.method()) {
        return next.run(request).await;
    }
    if let Some(sent) = request.headers().get(CSRF_HEADER) {
        return if sent
            .to_str()
            .is_ok_and(|sent| constant_time_eq(sent.trim(), &expected))
        {
            next.run(request).await
        } else {
            ApiError::CsrfFailed.into_response()
        };
    }
    let is_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return ApiError::CsrfFailed.into_response();
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, JSON_BODY_BYTES_MAX).await else {
        return ApiError::TooLarge(format!("the limit is {JSON_BODY_BYTES_MAX} bytes"))
            .into_response();
    };
    if form_csrf_matches(&bytes, &expected) {
        next.run(Request::from_parts(parts, Body::from(bytes)))
            .await
    } else {
        ApiError::CsrfFailed.into_response()
    }
}

/// Whether a form body's `csrf_token` field is `expected`.
pub fn form_csrf_matches(body: &[u8], expected: &str) -> bool {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body).is_ok_and(|fields| {
        fields
            .iter()
            .any(|(name, value)| name == CSRF_FIELD && constant_time_eq(value, expected))
    })
}

/// Methods that may change state.
pub fn is_state_changing(method: &Method) -> bool {
    !matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// The client's address: the peer of the connection, or, when the server
/// trusts a reverse proxy, the last entry of `X-Forwarded-For` (the one the
/// proxy added; earlier entries are the client's word).
pub fn client_addr(parts: &axum::http::request::Parts, config: &ServerConfig) -> String {
    if config.trust_forwarded_for
        && let Some(last) = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .rfind(|v| !v.is_empty())
        && let Ok(ip) = last.parse::<std::net::IpAddr>()
    {
        return ip.to_string();
    }
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_string())
        .unwrap_or_default()
}

/// The request id: `X-Request-Id` as set by the outermost layer.
pub fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// Gives every request an `X-Request-Id` (a UUID v7) unless the client
/// sent a sane one; it is echoed in the answer, logged with the request,
/// and kept in the audit log.
#[derive(Clone, Copy, Default)]
pub struct MakeRequestIdV7;

impl MakeRequestId for MakeRequestIdV7 {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        HeaderValue::from_str(&uuid::Uuid::now_v7().to_string())
            .ok()
            .map(RequestId::new)
    }
}

/// The tracing span of a request: method, path (never the query, which
/// could carry a secret a client put there by mistake) and request id.
pub fn request_span(request: &axum::http::Request<Body>) -> tracing::Span {
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        request_id = %request_id(request.headers()),
    )
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
    // Keys belong to the token (or user) that sent them: another token of
    // the tenant, perhaps with a lesser role, can neither replay nor block
    // them. Tokens keep their historical `<token id>:` prefix.
    let key = match principal.token_id() {
        Some(token) => format!("{token}:{key}"),
        None => format!("{}:{key}", principal.actor()),
    };
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
/// A plain function of the answer, applied with `tower::util::MapResponseLayer`:
/// unlike a `from_fn` middleware it needs no clone of the services inside
/// it per request.
pub fn bare_errors(response: Response) -> Response {
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
