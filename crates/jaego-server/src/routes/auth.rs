//! Signing in and out of the web UI: `POST /auth/login` starts a session
//! (a cookie), `POST /auth/logout` ends it, `GET /auth/session` says who is
//! signed in and gives the page its CSRF token.
//!
//! Sign-in takes JSON (`{"login", "password"}`, answered with JSON) or an
//! HTML form (`login`, `password`, optional `next`, answered with a `303`
//! redirect: to `next` on success, to `/login?error=…` on failure).
//! Attempts are counted per account and per client address in the database
//! before the password is checked, so parallel guesses cannot slip past the
//! limit and every instance shares the count.

use axum::Json;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jaego_core::auth::normalise_login;
use jaego_core::limits::{
    LOGIN_ATTEMPTS_PER_ACCOUNT_MAX, LOGIN_ATTEMPTS_PER_ADDRESS_MAX, LOGIN_WINDOW_SECS,
};
use jaego_store::sessions::SessionLifetime;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::audit::AuditNote;
use crate::error::{ApiError, Problem};
use crate::extract::ApiJson;
use crate::middleware::{
    CSRF_HEADER, client_addr, constant_time_eq, csrf_token_for, form_csrf_matches,
    session_clear_cookie, session_cookie, session_set_cookie,
};
use crate::routes::users::UserBody;
use crate::wire::time;

/// The sign-in routes, at the root (not under `/api/v1`).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(current_session))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    /// The user's login name (case does not matter).
    pub login: String,
    pub password: String,
}

/// The sign-in form's fields (`application/x-www-form-urlencoded`).
#[derive(Debug, Deserialize)]
struct LoginForm {
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
    /// Where to go after signing in: a path on this site.
    next: Option<String>,
}

/// Who is signed in, and the token the page sends with every change.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionBody {
    pub session_id: String,
    pub user: UserBody,
    /// Send as the `X-CSRF-Token` header (or the `csrf_token` form field)
    /// with every state-changing request made with the session cookie.
    pub csrf_token: String,
    /// When the session ends however busy.
    pub expires_at: String,
    /// When the session ends if unused from now on.
    pub idle_expires_at: String,
}

enum Via {
    Json,
    Form { next: Option<String> },
}

fn lifetime(state: &AppState) -> SessionLifetime {
    SessionLifetime {
        idle_us: i64::try_from(state.config.session_idle.as_micros()).unwrap_or(i64::MAX),
        absolute_us: i64::try_from(state.config.session_absolute.as_micros()).unwrap_or(i64::MAX),
    }
}

/// A path on this site to go to after signing in: `next` if it is a plain
/// absolute path (never `//host` or a URL), else `/`.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && !n.chars().any(char::is_control) =>
        {
            n.to_string()
        }
        _ => "/".to_string(),
    }
}

fn redirect(to: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The answer to a failed sign-in, in the form the client asked in.
fn refuse(via: &Via, error: ApiError, note: Option<AuditNote>) -> Response {
    let mut response = match via {
        Via::Json => error.into_response(),
        Via::Form { .. } => {
            let code = error.problem().code;
            let mut r = redirect(&format!("/login?error={code}"));
            if let Some(ProblemRetry(secs)) = retry_of(&error) {
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            r.extensions_mut().insert(crate::error::ProblemCode(code));
            r
        }
    };
    if let Some(note) = note {
        response.extensions_mut().insert(note);
    }
    no_store(response)
}

struct ProblemRetry(i64);

fn retry_of(error: &ApiError) -> Option<ProblemRetry> {
    match error {
        ApiError::RateLimited { retry_after_secs } => Some(ProblemRetry(*retry_after_secs)),
        _ => None,
    }
}

#[utoipa::path(post, path = "/auth/login", tag = "auth", security(()),
    request_body(content = LoginBody, description = "JSON, or the same fields (and `next`) as an HTML form"),
    responses(
        (status = 200, description = "Signed in; the session cookie is set", body = SessionBody),
        (status = 303, description = "Form sign-in: to `next`, or to `/login?error=…`"),
        (status = 401, description = "`invalid_credentials`", body = Problem),
        (status = 422, body = Problem),
        (status = 429, description = "`rate_limited`; see `Retry-After`", body = Problem)))]
pub async fn login(State(state): State<AppState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let addr = client_addr(&parts, &state.config);
    let user_agent = parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let request = Request::from_parts(parts, body);
    let (via, login, password) = if is_form {
        match axum::Form::<LoginForm>::from_request(request, &state).await {
            Ok(axum::Form(f)) => (Via::Form { next: f.next }, f.login, f.password),
            Err(e) => return ApiError::invalid("body", e.body_text()).into_response(),
        }
    } else {
        match ApiJson::<LoginBody>::from_request(request, &state).await {
            Ok(ApiJson(b)) => (Via::Json, b.login, b.password),
            Err(e) => return e.into_response(),
        }
    };
    let login = normalise_login(&login);
    if login.is_empty() || password.is_empty() {
        let field = if login.is_empty() {
            "login"
        } else {
            "password"
        };
        return refuse(&via, ApiError::invalid(field, "must not be empty"), None);
    }
    let account = state.store.tenant_of_login(&login).await;
    let account = match account {
        Ok(a) => a,
        Err(e) => return ApiError::from(e).into_response(),
    };
    // Refusals are audited against the tenant of the account tried, so an
    // owner sees guesses at their staff's passwords.
    let refused_note = account.map(|(tenant, user)| AuditNote {
        tenant_id: Some(tenant),
        actor: format!("login:{login}"),
        user_id: Some(user.to_string()),
        targets: vec![user.to_string()],
        ..AuditNote::default()
    });
    let account_key = format!("login:{login}");
    let addr_key = format!("addr:{addr}");
    let counted = state
        .store
        .count_login_attempt(
            &[
                (account_key.as_str(), LOGIN_ATTEMPTS_PER_ACCOUNT_MAX),
                (addr_key.as_str(), LOGIN_ATTEMPTS_PER_ADDRESS_MAX),
            ],
            LOGIN_WINDOW_SECS * 1_000_000,
        )
        .await;
    match counted {
        Ok(Ok(())) => {}
        Ok(Err(retry_after_secs)) => {
            tracing::warn!(login = %login, client = %addr, "sign-in rate limited");
            return refuse(
                &via,
                ApiError::RateLimited { retry_after_secs },
                refused_note,
            );
        }
        Err(e) => return ApiError::from(e).into_response(),
    }
    let user = match state.store.check_credentials(&login, &password).await {
        Ok(Some(user)) => user,
        Ok(None) => {
            tracing::info!(login = %login, client = %addr, "sign-in refused");
            return refuse(&via, ApiError::InvalidCredentials, refused_note);
        }
        Err(e) => return ApiError::from(e).into_response(),
    };
    if let Err(e) = state.store.clear_login_attempts(&account_key).await {
        tracing::warn!(error = %e, "clearing sign-in attempts failed");
    }
    let session = match state
        .store
        .create_session(&user, lifetime(&state), &addr, &user_agent)
        .await
    {
        Ok(s) => s,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let note = AuditNote {
        tenant_id: Some(user.tenant_id),
        actor: format!("user:{}", user.id),
        role: user.role.to_string(),
        user_id: Some(user.id.to_string()),
        session_id: Some(session.info.id.to_string()),
        targets: vec![session.info.id.to_string()],
    };
    let cookie = session_set_cookie(&session.secret, &state.config);
    let mut response = match via {
        Via::Json => Json(SessionBody {
            session_id: session.info.id.to_string(),
            csrf_token: csrf_token_for(&session.secret),
            expires_at: time(session.info.expires_at),
            idle_expires_at: time(session.info.idle_expires_at),
            user: user.into(),
        })
        .into_response(),
        Via::Form { next } => redirect(&safe_next(next.as_deref())),
    };
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response.extensions_mut().insert(note);
    no_store(response)
}

#[utoipa::path(post, path = "/auth/logout", tag = "auth", security(()),
    params(("X-CSRF-Token" = Option<String>, Header, description = "The session's CSRF token (or the `csrf_token` form field)")),
    responses(
        (status = 204, description = "Signed out; the cookie is cleared"),
        (status = 303, description = "Form sign-out: to `/login`"),
        (status = 403, description = "`csrf_failed`", body = Problem)))]
pub async fn logout(State(state): State<AppState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let done = |state: &AppState| {
        let mut r = if is_form {
            redirect("/login")
        } else {
            StatusCode::NO_CONTENT.into_response()
        };
        if let Ok(v) = HeaderValue::from_str(&session_clear_cookie(&state.config)) {
            r.headers_mut().insert(header::SET_COOKIE, v);
        }
        no_store(r)
    };
    let Some(secret) = session_cookie(&parts.headers) else {
        return done(&state);
    };
    let live = match state.store.authenticate_session(&secret).await {
        Ok(live) => live,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let Some((principal, info)) = live else {
        // Already ended: just forget the cookie.
        return done(&state);
    };
    // Signing out changes state: a page elsewhere must not sign a user out.
    let expected = csrf_token_for(&secret);
    let header_ok = parts
        .headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| constant_time_eq(v.trim(), &expected));
    let ok = header_ok
        || (is_form
            && axum::body::to_bytes(body, 64 * 1024)
                .await
                .is_ok_and(|b| form_csrf_matches(&b, &expected)));
    let note = AuditNote {
        tenant_id: Some(principal.tenant_id),
        actor: principal.actor(),
        role: principal.role.to_string(),
        user_id: principal.user_id().map(|u| u.to_string()),
        session_id: Some(info.id.to_string()),
        targets: vec![info.id.to_string()],
    };
    let mut response = if !ok {
        ApiError::CsrfFailed.into_response()
    } else if let Err(e) = state.store.end_session(&secret).await {
        ApiError::from(e).into_response()
    } else {
        done(&state)
    };
    response.extensions_mut().insert(note);
    response
}

#[utoipa::path(get, path = "/auth/session", tag = "auth", security(()),
    responses((status = 200, body = SessionBody), (status = 401, body = Problem)))]
pub async fn current_session(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(secret) = session_cookie(&headers) else {
        return ApiError::Unauthorized.into_response();
    };
    let (principal, info) = match state.store.authenticate_session(&secret).await {
        Ok(Some(found)) => found,
        Ok(None) => return ApiError::Unauthorized.into_response(),
        Err(e) => return ApiError::from(e).into_response(),
    };
    let Some(user_id) = principal.user_id() else {
        return ApiError::Unauthorized.into_response();
    };
    let user = match state.store.get_user(principal.tenant_id, user_id).await {
        Ok(u) => u,
        Err(e) => return ApiError::from(e).into_response(),
    };
    no_store(
        Json(SessionBody {
            session_id: info.id.to_string(),
            csrf_token: csrf_token_for(&secret),
            expires_at: time(info.expires_at),
            idle_expires_at: time(info.idle_expires_at),
            user: user.into(),
        })
        .into_response(),
    )
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_on_this_site() {
        for (next, expected) in [
            (Some("/stock?sku=TS-M"), "/stock?sku=TS-M"),
            (None, "/"),
            (Some("//evil.example/"), "/"),
            (Some("https://evil.example/"), "/"),
            (Some("/\\evil.example"), "/"),
            (Some("/a\r\nSet-Cookie: x"), "/"),
        ] {
            assert_eq!(safe_next(next), expected, "{next:?}");
        }
    }
}
