//! The audit log over HTTP (owners and managers): who did what, when, from
//! which token or user, newest first.

use axum::Json;
use axum::extract::State;
use jaego_core::role::Permission;
use jaego_store::audit::{AuditFilter, AuditRecord};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiQuery, Auth};
use crate::wire::{PageBody, page, parse_time, time};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_audit))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditBody {
    pub id: String,
    pub occurred_at: String,
    /// `token:<id>`, `user:<id>`, or `login:<name>` for a refused sign-in.
    pub actor: String,
    /// The actor's role at the time.
    pub role: String,
    pub token_id: Option<String>,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub method: String,
    /// The route template, e.g. `/api/v1/skus/{id}`.
    pub route: String,
    /// Ids (or codes) the request named in its path, and the id it created.
    pub target_ids: Vec<String>,
    pub status: u16,
    /// Empty for a success; `replayed` for an idempotent replay; else the
    /// problem code of the refusal (`forbidden`, `csrf_failed`,
    /// `invalid_credentials`, `rate_limited`).
    pub outcome: String,
    pub client_addr: String,
    /// The `X-Request-Id` of the request, as in the server's log.
    pub request_id: String,
}

impl From<AuditRecord> for AuditBody {
    fn from(r: AuditRecord) -> Self {
        let e = r.entry;
        AuditBody {
            id: r.id.to_string(),
            occurred_at: time(e.occurred_at),
            actor: e.actor,
            role: e.role,
            token_id: e.token_id,
            user_id: e.user_id,
            session_id: e.session_id,
            method: e.method,
            route: e.route,
            target_ids: e.target_ids,
            status: e.status,
            outcome: e.outcome,
            client_addr: e.client_addr,
            request_id: e.request_id,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Exact actor, e.g. `token:0190…` or `user:0190…`.
    pub actor: Option<String>,
    /// `POST`, `PUT`, `PATCH` or `DELETE`.
    pub method: Option<String>,
    /// Exact route template, e.g. `/api/v1/movements`.
    pub route: Option<String>,
    /// Entries that name this id among their targets.
    pub target: Option<String>,
    /// Exact HTTP status.
    pub status: Option<u16>,
    /// `true`: only refused attempts; `false`: only successes.
    pub refused: Option<bool>,
    /// RFC 3339; inclusive.
    pub from: Option<String>,
    /// RFC 3339; exclusive.
    pub to: Option<String>,
    /// Cursor: the `next_cursor` of the previous (newer) page.
    pub after: Option<String>,
    /// 1 to 500; default 50.
    pub limit: Option<usize>,
}

#[utoipa::path(get, path = "/audit", security(("bearer" = ["audit:read"])), tag = "admin", params(AuditQuery),
    responses((status = 200, body = PageBody<AuditBody>), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn list_audit(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Json<PageBody<AuditBody>>> {
    let p = auth.require(Permission::ReadAudit, "read the audit log")?;
    let filter = AuditFilter {
        actor: q.actor,
        method: q.method,
        route: q.route,
        target_id: q.target,
        status: q.status,
        refused: q.refused,
        from: q
            .from
            .as_deref()
            .map(|t| parse_time("from", t))
            .transpose()?,
        to: q.to.as_deref().map(|t| parse_time("to", t)).transpose()?,
    };
    for (field, value) in [
        ("actor", &filter.actor),
        ("method", &filter.method),
        ("route", &filter.route),
        ("target", &filter.target_id),
    ] {
        if value.as_ref().is_some_and(|v| v.chars().count() > 512) {
            return Err(ApiError::invalid(field, "is longer than 512 characters"));
        }
    }
    let entries = state
        .store
        .list_audit(p.tenant_id, &filter, &page(q.after, q.limit)?)
        .await?;
    Ok(Json(PageBody::from_page(entries, AuditBody::from)))
}
