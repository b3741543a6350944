//! Low-stock rules and the SKUs they see as low now.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use jaego_core::LowStockRuleId;
use jaego_core::role::Permission;
use jaego_store::stock_rules::low_stock::{
    LowStockAlert, LowStockRule, NewLowStockRule, RuleScope,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ApiQuery, Auth, field_id, path_id};
use crate::routes::catalog::ListQuery;
use crate::wire::{PageBody, page, time};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_rules, create_rule))
        .routes(routes!(get_rule, delete_rule))
        .routes(routes!(list_alerts))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LowStockRuleBody {
    pub id: String,
    /// `sku` (a SKU over every location), `sku_at_location` or `channel`
    /// (every SKU, over the channel's linked locations).
    pub scope: String,
    pub sku_id: Option<String>,
    pub location_id: Option<String>,
    pub channel_id: Option<String>,
    /// The actions run when available falls to or below this.
    pub threshold: i64,
    /// `event`, `webhook`, `sold_out`, in the order they run.
    pub actions: Vec<String>,
    pub created_at: String,
}

impl From<LowStockRule> for LowStockRuleBody {
    fn from(r: LowStockRule) -> Self {
        LowStockRuleBody {
            id: r.id.to_string(),
            scope: r.scope.as_str().to_string(),
            sku_id: r.scope.sku().map(|s| s.to_string()),
            location_id: r.scope.location().map(|l| l.to_string()),
            channel_id: r.scope.channel().map(|c| c.to_string()),
            threshold: r.threshold,
            actions: r.actions,
            created_at: time(r.created_at),
        }
    }
}

/// What to watch: `sku`; `sku` and `location`; or `channel`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateLowStockRule {
    /// SKU id or code.
    pub sku: Option<String>,
    /// Location id or code (with `sku`).
    pub location: Option<String>,
    /// Channel id or code (alone).
    pub channel: Option<String>,
    /// 0 to 1,000,000,000.
    pub threshold: i64,
    /// 1 to 10 of `event`, `webhook`, `sold_out`.
    pub actions: Vec<String>,
}

#[utoipa::path(post, path = "/low-stock/rules", tag = "low-stock", security(("bearer" = ["catalog:write"])), request_body = CreateLowStockRule,
    responses((status = 201, body = LowStockRuleBody), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_rule(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<CreateLowStockRule>,
) -> ApiResult<(StatusCode, Json<LowStockRuleBody>)> {
    let p = auth.require(Permission::WriteCatalog, "change low-stock rules")?;
    jaego_core::low_stock::parse_rule(body.threshold, &body.actions)?;
    let tenant = p.tenant_id;
    let scope = match (&body.sku, &body.location, &body.channel) {
        (Some(sku), None, None) => RuleScope::Sku(state.store.sku_id(tenant, sku).await?),
        (Some(sku), Some(location), None) => RuleScope::SkuAt(
            state.store.sku_id(tenant, sku).await?,
            state.store.find_location(tenant, location).await?.id,
        ),
        (None, None, Some(channel)) => {
            RuleScope::Channel(state.store.find_channel(tenant, channel).await?.id)
        }
        _ => {
            return Err(ApiError::invalid(
                "sku",
                "name a sku, a sku and a location, or a channel",
            ));
        }
    };
    let new = NewLowStockRule {
        scope,
        threshold: body.threshold,
        actions: body.actions,
    };
    Ok((
        StatusCode::CREATED,
        Json(
            state
                .store
                .create_low_stock_rule(tenant, &new)
                .await?
                .into(),
        ),
    ))
}

#[utoipa::path(get, path = "/low-stock/rules", tag = "low-stock", security(("bearer" = ["read"])), params(ListQuery),
    responses((status = 200, body = PageBody<LowStockRuleBody>)))]
pub async fn list_rules(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<PageBody<LowStockRuleBody>>> {
    let p = auth.require(Permission::Read, "read")?;
    let got = state
        .store
        .list_low_stock_rules(p.tenant_id, &page(q.after, q.limit)?)
        .await?;
    Ok(Json(PageBody::from_page(got, LowStockRuleBody::from)))
}

#[utoipa::path(get, path = "/low-stock/rules/{id}", tag = "low-stock", security(("bearer" = ["read"])),
    responses((status = 200, body = LowStockRuleBody), (status = 404, body = Problem)))]
pub async fn get_rule(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<LowStockRuleBody>> {
    let p = auth.require(Permission::Read, "read")?;
    let id: LowStockRuleId = path_id(&id, "low-stock rule")?;
    Ok(Json(
        state
            .store
            .get_low_stock_rule(p.tenant_id, id)
            .await?
            .into(),
    ))
}

#[utoipa::path(delete, path = "/low-stock/rules/{id}", tag = "low-stock", security(("bearer" = ["catalog:write"])),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn delete_rule(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let p = auth.require(Permission::WriteCatalog, "change low-stock rules")?;
    let id: LowStockRuleId = path_id(&id, "low-stock rule")?;
    state.store.delete_low_stock_rule(p.tenant_id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LowStockAlertBody {
    pub rule_id: String,
    pub sku_id: String,
    pub sku_code: String,
    /// The watched figure when the rule fired.
    pub available: i64,
    pub since: String,
}

impl From<LowStockAlert> for LowStockAlertBody {
    fn from(a: LowStockAlert) -> Self {
        LowStockAlertBody {
            rule_id: a.rule_id.to_string(),
            sku_id: a.sku_id.to_string(),
            sku_code: a.sku_code,
            available: a.available,
            since: time(a.since),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AlertQuery {
    /// Only this rule's.
    pub rule: Option<String>,
    pub after: Option<String>,
    pub limit: Option<usize>,
}

#[utoipa::path(get, path = "/low-stock/alerts", tag = "low-stock", security(("bearer" = ["read"])), params(AlertQuery),
    responses((status = 200, body = PageBody<LowStockAlertBody>)))]
pub async fn list_alerts(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<AlertQuery>,
) -> ApiResult<Json<PageBody<LowStockAlertBody>>> {
    let p = auth.require(Permission::Read, "read")?;
    let rule = field_id(q.rule.as_deref(), "rule", "a low-stock rule id")?;
    let got = state
        .store
        .low_stock_alerts(p.tenant_id, rule, &page(q.after, q.limit)?)
        .await?;
    Ok(Json(PageBody::from_page(got, LowStockAlertBody::from)))
}
