//! Product status per SKU, and pushing status changes to channels on a
//! schedule or now.

use axum::Json;
use axum::extract::{Path, State};
use jaego_core::product_status::{SkuStatus, parse_date};
use jaego_core::role::Permission;
use jaego_core::schedule::Spec;
use jaego_store::now_us;
use jaego_store::schedules::Schedule;
use jaego_store::stock_rules::status::{PushReport, SkuStatusRow};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, Auth, parse_enum};
use crate::wire::time;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_sku_status, set_sku_status))
        .routes(routes!(get_status_push, set_status_push))
        .routes(routes!(push_statuses_now))
}

/// A SKU's product status.
#[derive(Debug, Serialize, ToSchema)]
pub struct SkuStatusBody {
    pub sku_id: String,
    pub sku_code: String,
    /// One word: `sold_out`, `discontinued`, `limited` or `active`.
    pub status: String,
    pub discontinued: bool,
    /// `YYYY-MM-DD`.
    pub discontinued_on: Option<String>,
    pub reorder: bool,
    /// `YYYY-MM-DD`.
    pub reorder_on: Option<String>,
    pub forced_sold_out: bool,
    /// At most this many units are shown on sharing channels.
    pub limited_stock: Option<i64>,
    /// Changed since the last status push.
    pub push_pending: bool,
    pub updated_at: Option<String>,
}

impl From<SkuStatusRow> for SkuStatusBody {
    fn from(r: SkuStatusRow) -> Self {
        let s = r.status;
        SkuStatusBody {
            sku_id: r.sku_id.to_string(),
            sku_code: r.sku_code,
            status: s.summary().to_string(),
            discontinued: s.discontinued,
            discontinued_on: s.discontinued_on.map(|d| d.to_string()),
            reorder: s.reorder,
            reorder_on: s.reorder_on.map(|d| d.to_string()),
            forced_sold_out: s.forced_sold_out,
            limited_stock: s.limited_stock,
            push_pending: r.push_pending,
            updated_at: r.updated_at.map(time),
        }
    }
}

/// A SKU's whole status; fields left out are cleared.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetSkuStatus {
    #[serde(default)]
    pub discontinued: bool,
    /// `YYYY-MM-DD`; needs `discontinued: true`.
    pub discontinued_on: Option<String>,
    #[serde(default)]
    pub reorder: bool,
    /// `YYYY-MM-DD`; needs `reorder: true`.
    pub reorder_on: Option<String>,
    #[serde(default)]
    pub forced_sold_out: bool,
    /// 0 to 1,000,000,000.
    pub limited_stock: Option<i64>,
}

#[utoipa::path(get, path = "/skus/{sku}/status", tag = "status", security(("bearer" = ["read"])),
    params(("sku" = String, Path, description = "SKU id or code")),
    responses((status = 200, body = SkuStatusBody), (status = 404, body = Problem)))]
pub async fn get_sku_status(
    State(state): State<AppState>,
    auth: Auth,
    Path(sku): Path<String>,
) -> ApiResult<Json<SkuStatusBody>> {
    let p = auth.require(Permission::Read, "read")?;
    let sku = state.store.sku_id(p.tenant_id, &sku).await?;
    Ok(Json(state.store.sku_status(p.tenant_id, sku).await?.into()))
}

#[utoipa::path(put, path = "/skus/{sku}/status", tag = "status", security(("bearer" = ["catalog:write"])),
    params(("sku" = String, Path, description = "SKU id or code")), request_body = SetSkuStatus,
    responses((status = 200, body = SkuStatusBody), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn set_sku_status(
    State(state): State<AppState>,
    auth: Auth,
    Path(sku): Path<String>,
    ApiJson(body): ApiJson<SetSkuStatus>,
) -> ApiResult<Json<SkuStatusBody>> {
    let p = auth.require(Permission::WriteCatalog, "change product status")?;
    let status = SkuStatus {
        discontinued: body.discontinued,
        discontinued_on: body
            .discontinued_on
            .as_deref()
            .map(|d| parse_date("discontinued_on", d))
            .transpose()?,
        reorder: body.reorder,
        reorder_on: body
            .reorder_on
            .as_deref()
            .map(|d| parse_date("reorder_on", d))
            .transpose()?,
        forced_sold_out: body.forced_sold_out,
        limited_stock: body.limited_stock,
    };
    status.validate()?;
    let sku = state.store.sku_id(p.tenant_id, &sku).await?;
    Ok(Json(
        state
            .store
            .set_sku_status(p.tenant_id, sku, &status)
            .await?
            .into(),
    ))
}

/// When status changes are pushed to channels.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusPushBody {
    /// `daily HH:MM`, `minutes M,M,…` (e.g. `minutes 0,30`) or `every Ns`;
    /// `null`: on demand only.
    pub schedule: Option<String>,
    pub time_zone: Option<String>,
    pub next_run_at: Option<String>,
    pub last_run_at: Option<String>,
    /// SKUs whose status changed since the last push.
    pub pending: i64,
}

fn push_body(schedule: Option<Schedule>, pending: i64) -> StatusPushBody {
    match schedule {
        Some(s) => StatusPushBody {
            schedule: s.spec.map(|spec| spec.to_string()),
            time_zone: Some(s.time_zone),
            next_run_at: s.next_run_at.map(time),
            last_run_at: s.last_run_at.map(time),
            pending,
        },
        None => StatusPushBody {
            schedule: None,
            time_zone: None,
            next_run_at: None,
            last_run_at: None,
            pending,
        },
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetStatusPush {
    /// `daily HH:MM`, `minutes M,M,…` or `every Ns`; `null` for on demand only.
    pub schedule: Option<String>,
    /// IANA time zone the schedule runs in, e.g. `Asia/Seoul`.
    pub time_zone: String,
}

#[utoipa::path(get, path = "/status-push", tag = "status", security(("bearer" = ["read"])),
    responses((status = 200, body = StatusPushBody)))]
pub async fn get_status_push(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<Json<StatusPushBody>> {
    let p = auth.require(Permission::Read, "read")?;
    let schedule = state.store.status_push_schedule(p.tenant_id).await?;
    let pending = state.store.pending_status_pushes(p.tenant_id).await?;
    Ok(Json(push_body(schedule, pending)))
}

#[utoipa::path(put, path = "/status-push", tag = "status", security(("bearer" = ["catalog:write"])), request_body = SetStatusPush,
    responses((status = 200, body = StatusPushBody), (status = 422, body = Problem)))]
pub async fn set_status_push(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<SetStatusPush>,
) -> ApiResult<Json<StatusPushBody>> {
    let p = auth.require(Permission::WriteCatalog, "change the status push schedule")?;
    let spec: Option<Spec> = body
        .schedule
        .as_deref()
        .map(|s| parse_enum("schedule", s))
        .transpose()?;
    let schedule = state
        .store
        .set_status_push_schedule(p.tenant_id, spec, &body.time_zone, now_us())
        .await?;
    let pending = state.store.pending_status_pushes(p.tenant_id).await?;
    Ok(Json(push_body(Some(schedule), pending)))
}

/// What a push sent.
#[derive(Debug, Serialize, ToSchema)]
pub struct PushReportBody {
    /// SKUs whose status went out.
    pub skus: usize,
    /// `channel.status` events written (one per SKU per sharing channel).
    pub events: usize,
}

impl From<PushReport> for PushReportBody {
    fn from(r: PushReport) -> Self {
        PushReportBody {
            skus: r.skus,
            events: r.events,
        }
    }
}

#[utoipa::path(post, path = "/status-push/run", tag = "status", security(("bearer" = ["catalog:write"])),
    responses((status = 200, body = PushReportBody)))]
pub async fn push_statuses_now(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<Json<PushReportBody>> {
    let p = auth.require(Permission::WriteCatalog, "push product status")?;
    Ok(Json(state.store.push_statuses(p.tenant_id).await?.into()))
}
