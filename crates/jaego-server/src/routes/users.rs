//! Users and their sessions (owner only): create, list, disable and enable
//! users, reset passwords, list and revoke sessions.
//!
//! Mounted outside the idempotency layer, like tokens: a request that
//! carries a password must never have even a hash of its body stored.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use jaego_core::Role;
use jaego_core::role::Permission;
use jaego_store::sessions::{SessionFilter, SessionInfo};
use jaego_store::users::{NewUser, User};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiQuery, Auth, parse_enum, path_id};
use crate::wire::{PageBody, page, time};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user))
        .routes(routes!(disable_user))
        .routes(routes!(enable_user))
        .routes(routes!(reset_password))
        .routes(routes!(list_sessions))
        .routes(routes!(revoke_session))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// Login name, unique across the server: letters, digits and `. _ - @ +`
    /// (an e-mail address works). Stored lowercase.
    pub login: String,
    /// Display name.
    pub name: String,
    /// `owner`, `manager`, `staff`, `integration` or `display`.
    pub role: String,
    /// At least 10 characters.
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPassword {
    /// The new password, at least 10 characters. Every session of the user ends.
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserBody {
    pub id: String,
    pub login: String,
    pub name: String,
    pub role: String,
    pub created_at: String,
    pub password_changed_at: String,
    pub disabled_at: Option<String>,
}

impl From<User> for UserBody {
    fn from(u: User) -> Self {
        UserBody {
            id: u.id.to_string(),
            login: u.login,
            name: u.name,
            role: u.role.to_string(),
            created_at: time(u.created_at),
            password_changed_at: time(u.password_changed_at),
            disabled_at: u.disabled_at.map(time),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionInfoBody {
    pub id: String,
    pub user_id: String,
    pub created_at: String,
    pub last_seen_at: String,
    /// When the session ends if unused from now on.
    pub idle_expires_at: String,
    /// When the session ends however busy.
    pub expires_at: String,
    pub revoked_at: Option<String>,
    pub client_addr: String,
    pub user_agent: String,
}

impl From<SessionInfo> for SessionInfoBody {
    fn from(s: SessionInfo) -> Self {
        SessionInfoBody {
            id: s.id.to_string(),
            user_id: s.user_id.to_string(),
            created_at: time(s.created_at),
            last_seen_at: time(s.last_seen_at),
            idle_expires_at: time(s.idle_expires_at),
            expires_at: time(s.expires_at),
            revoked_at: s.revoked_at.map(time),
            client_addr: s.client_addr,
            user_agent: s.user_agent,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct UserQuery {
    /// Cursor: the `next_cursor` of the previous page.
    pub after: Option<String>,
    /// 1 to 500; default 50.
    pub limit: Option<usize>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SessionQuery {
    /// Only this user's sessions.
    pub user: Option<String>,
    /// Include ended sessions (revoked or expired); default false.
    pub include_ended: Option<bool>,
    pub after: Option<String>,
    /// 1 to 500; default 50.
    pub limit: Option<usize>,
}

#[utoipa::path(post, security(("bearer" = ["admin"])), path = "/users", tag = "admin", request_body = CreateUser,
    responses((status = 201, body = UserBody), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_user(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<CreateUser>,
) -> ApiResult<(StatusCode, Json<UserBody>)> {
    let p = auth.require(Permission::Administer, "manage users")?;
    let role: Role = parse_enum("role", &body.role)?;
    let user = state
        .store
        .create_user(
            p.tenant_id,
            &NewUser {
                login: body.login,
                name: body.name,
                role,
                password: body.password,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(user.into())))
}

#[utoipa::path(get, security(("bearer" = ["admin"])), path = "/users", tag = "admin", params(UserQuery),
    responses((status = 200, body = PageBody<UserBody>), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn list_users(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<UserQuery>,
) -> ApiResult<Json<PageBody<UserBody>>> {
    let p = auth.require(Permission::Administer, "manage users")?;
    let users = state
        .store
        .list_users(p.tenant_id, &page(q.after, q.limit)?)
        .await?;
    Ok(Json(PageBody::from_page(users, UserBody::from)))
}

#[utoipa::path(get, security(("bearer" = ["admin"])), path = "/users/{id}", tag = "admin",
    responses((status = 200, body = UserBody), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_user(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<UserBody>> {
    let p = auth.require(Permission::Administer, "manage users")?;
    let user = state
        .store
        .get_user(p.tenant_id, path_id(&id, "user")?)
        .await?;
    Ok(Json(user.into()))
}

#[utoipa::path(post, security(("bearer" = ["admin"])), path = "/users/{id}/disable", tag = "admin",
    responses((status = 200, description = "Disabled; every session of the user ended", body = UserBody), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn disable_user(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<UserBody>> {
    let p = auth.require(Permission::Administer, "manage users")?;
    let user = state
        .store
        .set_user_disabled(p.tenant_id, path_id(&id, "user")?, true)
        .await?;
    Ok(Json(user.into()))
}

#[utoipa::path(post, security(("bearer" = ["admin"])), path = "/users/{id}/enable", tag = "admin",
    responses((status = 200, body = UserBody), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn enable_user(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<UserBody>> {
    let p = auth.require(Permission::Administer, "manage users")?;
    let user = state
        .store
        .set_user_disabled(p.tenant_id, path_id(&id, "user")?, false)
        .await?;
    Ok(Json(user.into()))
}

#[utoipa::path(post, security(("bearer" = ["admin"])), path = "/users/{id}/password", tag = "admin", request_body = ResetPassword,
    responses((status = 204, description = "Changed; every session of the user ended"), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn reset_password(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ResetPassword>,
) -> ApiResult<StatusCode> {
    let p = auth.require(Permission::Administer, "manage users")?;
    state
        .store
        .set_user_password(p.tenant_id, path_id(&id, "user")?, &body.password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, security(("bearer" = ["admin"])), path = "/sessions", tag = "admin", params(SessionQuery),
    responses((status = 200, body = PageBody<SessionInfoBody>), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn list_sessions(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<SessionQuery>,
) -> ApiResult<Json<PageBody<SessionInfoBody>>> {
    let p = auth.require(Permission::Administer, "manage sessions")?;
    let user_id = match q.user.as_deref() {
        Some(raw) => Some(
            state
                .store
                .get_user(p.tenant_id, path_id(raw, "user")?)
                .await?
                .id,
        ),
        None => None,
    };
    let filter = SessionFilter {
        user_id,
        include_ended: q.include_ended.unwrap_or(false),
    };
    let sessions = state
        .store
        .list_sessions(p.tenant_id, &filter, &page(q.after, q.limit)?)
        .await?;
    Ok(Json(PageBody::from_page(sessions, SessionInfoBody::from)))
}

#[utoipa::path(post, security(("bearer" = ["admin"])), path = "/sessions/{id}/revoke", tag = "admin",
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn revoke_session(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let p = auth.require(Permission::Administer, "manage sessions")?;
    state
        .store
        .revoke_session(p.tenant_id, path_id(&id, "session")?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
