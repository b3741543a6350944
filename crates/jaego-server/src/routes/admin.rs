//! API tokens (owner only).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use jaego_core::Role;
use jaego_core::error::Validator;
use jaego_core::limits::TOKEN_NAME_LEN_MAX;
use jaego_core::role::Permission;
use jaego_store::tenants::TokenInfo;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, Auth, parse_enum, path_id};
use crate::wire::time;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// `owner`, `manager`, `staff`, `integration` or `display`.
    pub role: String,
    /// What the token is for, e.g. `store 3 till`.
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedToken {
    pub id: String,
    pub role: String,
    pub name: String,
    /// The secret, shown this once: send it as `Authorization: Bearer …`.
    pub token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenBody {
    pub id: String,
    pub role: String,
    pub name: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

impl From<TokenInfo> for TokenBody {
    fn from(t: TokenInfo) -> Self {
        TokenBody {
            id: t.id.to_string(),
            role: t.role.to_string(),
            name: t.name,
            created_at: time(t.created_at),
            revoked_at: t.revoked_at.map(time),
        }
    }
}

#[utoipa::path(post, path = "/tokens", tag = "admin", security(("bearer" = ["admin"])), request_body = CreateToken,
    responses((status = 201, body = CreatedToken), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn create_token(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<CreateToken>,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    let p = auth.require(Permission::Administer, "manage tokens")?;
    let role: Role = parse_enum("role", &body.role)?;
    let mut v = Validator::new();
    v.text("name", &body.name, TOKEN_NAME_LEN_MAX);
    v.finish()?;
    let token = state
        .store
        .create_token(p.tenant_id, role, &body.name)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            id: token.id.to_string(),
            role: role.to_string(),
            name: body.name,
            token: token.secret,
        }),
    ))
}

#[utoipa::path(get, path = "/tokens", tag = "admin", security(("bearer" = ["admin"])), responses((status = 200, body = Vec<TokenBody>), (status = 403, body = Problem)))]
pub async fn list_tokens(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<Json<Vec<TokenBody>>> {
    let p = auth.require(Permission::Administer, "manage tokens")?;
    Ok(Json(
        state
            .store
            .list_tokens(p.tenant_id)
            .await?
            .into_iter()
            .map(TokenBody::from)
            .collect(),
    ))
}

#[utoipa::path(post, path = "/tokens/{id}/revoke", tag = "admin", security(("bearer" = ["admin"])), responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn revoke_token(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let p = auth.require(Permission::Administer, "manage tokens")?;
    state
        .store
        .revoke_token(p.tenant_id, path_id(&id, "token")?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
