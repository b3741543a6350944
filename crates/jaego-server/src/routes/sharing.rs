//! Shared inventory over HTTP: the tenant's switch and scope, each
//! channel's switch, basis and buffer, exclusions, and channel figures
//! (read, and set by hand where sharing does not publish them).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use jaego_core::channel_stock::{ChannelSharing, PublishBasis, SharingScope, TenantSharing};
use jaego_core::limits::QUANTITY_MAX;
use jaego_core::role::Permission;
use jaego_core::{ChannelId, TenantId};
use jaego_store::stock_rules::sharing::{ChannelFigure, ChannelSharingView, Exclusion};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ApiQuery, Auth};
use crate::routes::catalog::ListQuery;
use crate::wire::{PageBody, page, time};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_sharing, set_sharing))
        .routes(routes!(get_channel_sharing, set_channel_sharing))
        .routes(routes!(list_channel_figures))
        .routes(routes!(get_channel_figure, set_channel_figure))
        .routes(routes!(list_exclusions))
        .routes(routes!(exclude_sku, include_sku))
}

/// The tenant's shared-inventory switch and scope.
#[derive(Debug, Serialize, ToSchema)]
pub struct SharingBody {
    pub enabled: bool,
    /// `all_stores` (every channel), `some_channels` (channels of the kinds
    /// in `channel_kinds`) or `some_stores` (the channels in `channels`).
    pub scope: String,
    pub channel_kinds: Vec<String>,
    /// Channel ids, for `some_stores`.
    pub channels: Vec<String>,
}

impl From<TenantSharing> for SharingBody {
    fn from(s: TenantSharing) -> Self {
        let (channel_kinds, channels) = match &s.scope {
            SharingScope::AllStores => (Vec::new(), Vec::new()),
            SharingScope::SomeChannels(k) => (k.clone(), Vec::new()),
            SharingScope::SomeStores(c) => {
                (Vec::new(), c.iter().map(ToString::to_string).collect())
            }
        };
        SharingBody {
            enabled: s.enabled,
            scope: s.scope.as_str().to_string(),
            channel_kinds,
            channels,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetSharing {
    pub enabled: bool,
    /// `all_stores` (default), `some_channels` or `some_stores`.
    #[serde(default)]
    pub scope: Option<String>,
    /// For `some_channels`: channel kinds, e.g. `["marketplace"]`.
    #[serde(default)]
    pub channel_kinds: Vec<String>,
    /// For `some_stores`: channel ids or codes.
    #[serde(default)]
    pub channels: Vec<String>,
}

#[utoipa::path(get, path = "/sharing", tag = "channels", security(("bearer" = ["read"])), responses((status = 200, body = SharingBody)))]
pub async fn get_sharing(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<Json<SharingBody>> {
    let p = auth.require(Permission::Read, "read")?;
    Ok(Json(state.store.sharing(p.tenant_id).await?.into()))
}

#[utoipa::path(put, path = "/sharing", tag = "channels", security(("bearer" = ["catalog:write"])), request_body = SetSharing,
    responses((status = 200, body = SharingBody), (status = 422, body = Problem)))]
pub async fn set_sharing(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<SetSharing>,
) -> ApiResult<Json<SharingBody>> {
    let p = auth.require(Permission::WriteCatalog, "change shared inventory")?;
    let mut channels = Vec::with_capacity(body.channels.len());
    for (i, c) in body.channels.iter().enumerate() {
        channels.push(channel_ref(&state, p.tenant_id, c, &format!("channels[{i}]")).await?);
    }
    let scope = SharingScope::parse(
        body.scope.as_deref().unwrap_or("all_stores"),
        body.channel_kinds,
        channels,
    )?;
    let sharing = TenantSharing {
        enabled: body.enabled,
        scope,
    };
    Ok(Json(
        state.store.set_sharing(p.tenant_id, &sharing).await?.into(),
    ))
}

/// A channel named in a body: unknown is a field error.
async fn channel_ref(
    state: &AppState,
    tenant: TenantId,
    key: &str,
    field: &str,
) -> ApiResult<ChannelId> {
    match state.store.find_channel(tenant, key).await {
        Ok(c) => Ok(c.id),
        Err(jaego_store::StoreError::NotFound { .. }) => {
            Err(ApiError::invalid(field, format!("no channel {key:?}")))
        }
        Err(e) => Err(e.into()),
    }
}

/// One channel's sharing settings.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelSharingBody {
    pub channel_id: String,
    pub channel_code: String,
    /// The channel's own switch (on unless turned off).
    pub enabled: bool,
    /// `on_hand`, `available`, `fixed` or `untracked`.
    pub basis: String,
    /// The number sent under the `fixed` basis.
    pub fixed_figure: Option<i64>,
    /// Units kept back from a stock-based figure.
    pub buffer: i64,
    /// Whether shared inventory is on for the channel now: the tenant's
    /// switch, its scope and the channel's switch together.
    pub sharing: bool,
}

impl From<ChannelSharingView> for ChannelSharingBody {
    fn from(v: ChannelSharingView) -> Self {
        ChannelSharingBody {
            channel_id: v.channel_id.to_string(),
            channel_code: v.channel_code,
            enabled: v.settings.enabled,
            basis: v.settings.basis.as_str().to_string(),
            fixed_figure: v.settings.basis.fixed_figure(),
            buffer: v.settings.buffer,
            sharing: v.sharing,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetChannelSharing {
    /// Default `true`.
    pub enabled: Option<bool>,
    /// `on_hand`, `available` (default), `fixed` or `untracked`.
    pub basis: Option<String>,
    /// Required for `fixed`: the number to send, 0 to 1,000,000,000.
    pub fixed_figure: Option<i64>,
    /// Units kept back, 0 to 1,000,000,000 (default 0).
    pub buffer: Option<i64>,
}

#[utoipa::path(get, path = "/channels/{channel}/sharing", tag = "channels", security(("bearer" = ["read"])),
    params(("channel" = String, Path, description = "Channel id or code")),
    responses((status = 200, body = ChannelSharingBody), (status = 404, body = Problem)))]
pub async fn get_channel_sharing(
    State(state): State<AppState>,
    auth: Auth,
    Path(channel): Path<String>,
) -> ApiResult<Json<ChannelSharingBody>> {
    let p = auth.require(Permission::Read, "read")?;
    let channel = state.store.find_channel(p.tenant_id, &channel).await?;
    Ok(Json(
        state
            .store
            .channel_sharing(p.tenant_id, channel.id)
            .await?
            .into(),
    ))
}

#[utoipa::path(put, path = "/channels/{channel}/sharing", tag = "channels", security(("bearer" = ["catalog:write"])),
    params(("channel" = String, Path, description = "Channel id or code")), request_body = SetChannelSharing,
    responses((status = 200, body = ChannelSharingBody), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn set_channel_sharing(
    State(state): State<AppState>,
    auth: Auth,
    Path(channel): Path<String>,
    ApiJson(body): ApiJson<SetChannelSharing>,
) -> ApiResult<Json<ChannelSharingBody>> {
    let p = auth.require(Permission::WriteCatalog, "change shared inventory")?;
    let basis = PublishBasis::parse(
        "basis",
        body.basis.as_deref().unwrap_or("available"),
        "fixed_figure",
        body.fixed_figure,
    )?;
    let settings = ChannelSharing {
        enabled: body.enabled.unwrap_or(true),
        basis,
        buffer: body.buffer.unwrap_or(0),
    };
    let channel = state.store.find_channel(p.tenant_id, &channel).await?;
    Ok(Json(
        state
            .store
            .set_channel_sharing(p.tenant_id, channel.id, &settings)
            .await?
            .into(),
    ))
}

/// A channel's figure for a SKU, as last sent.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelFigureBody {
    pub channel_id: String,
    pub sku_id: String,
    pub sku_code: String,
    /// `null`: jaego stopped publishing this SKU's figure (see `reason`);
    /// the channel keeps its own.
    pub figure: Option<i64>,
    /// `on_hand`, `available`, `fixed`, `forced_sold_out`, `low_stock`,
    /// `limited` or `manual`; for `null`: `excluded`, `basis_untracked` or
    /// `sku_untracked`.
    pub reason: String,
    /// `shared` or `manual`.
    pub source: String,
    pub updated_at: String,
}

impl From<ChannelFigure> for ChannelFigureBody {
    fn from(f: ChannelFigure) -> Self {
        ChannelFigureBody {
            channel_id: f.channel_id.to_string(),
            sku_id: f.sku_id.to_string(),
            sku_code: f.sku_code,
            figure: f.figure,
            reason: f.reason,
            source: f.source,
            updated_at: time(f.updated_at),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct FigureQuery {
    /// SKU id or code.
    pub sku: Option<String>,
    pub after: Option<String>,
    pub limit: Option<usize>,
}

#[utoipa::path(get, path = "/channels/{channel}/figures", tag = "channels", security(("bearer" = ["read"])),
    params(("channel" = String, Path, description = "Channel id or code"), FigureQuery),
    responses((status = 200, body = PageBody<ChannelFigureBody>), (status = 404, body = Problem)))]
pub async fn list_channel_figures(
    State(state): State<AppState>,
    auth: Auth,
    Path(channel): Path<String>,
    ApiQuery(q): ApiQuery<FigureQuery>,
) -> ApiResult<Json<PageBody<ChannelFigureBody>>> {
    let p = auth.require(Permission::Read, "read")?;
    let channel = state.store.find_channel(p.tenant_id, &channel).await?;
    let sku = match q.sku.as_deref() {
        Some(s) => Some(state.store.sku_id(p.tenant_id, s).await?),
        None => None,
    };
    let got = state
        .store
        .channel_figures(p.tenant_id, channel.id, sku, &page(q.after, q.limit)?)
        .await?;
    Ok(Json(PageBody::from_page(got, ChannelFigureBody::from)))
}

#[utoipa::path(get, path = "/channels/{channel}/figures/{sku}", tag = "channels", security(("bearer" = ["read"])),
    params(("channel" = String, Path, description = "Channel id or code"), ("sku" = String, Path, description = "SKU id or code")),
    responses((status = 200, body = ChannelFigureBody), (status = 404, body = Problem)))]
pub async fn get_channel_figure(
    State(state): State<AppState>,
    auth: Auth,
    Path((channel, sku)): Path<(String, String)>,
) -> ApiResult<Json<ChannelFigureBody>> {
    let p = auth.require(Permission::Read, "read")?;
    let channel = state.store.find_channel(p.tenant_id, &channel).await?;
    let sku_id = state.store.sku_id(p.tenant_id, &sku).await?;
    let got = state
        .store
        .channel_figures(p.tenant_id, channel.id, Some(sku_id), &page(None, Some(1))?)
        .await?;
    got.items
        .into_iter()
        .next()
        .map(|f| Json(f.into()))
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "channel {} has no figure for sku {sku} yet",
                channel.code
            ))
        })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetChannelFigure {
    /// 0 to 1,000,000,000.
    pub figure: i64,
}

#[utoipa::path(put, path = "/channels/{channel}/figures/{sku}", tag = "channels", security(("bearer" = ["stock:write"])),
    params(("channel" = String, Path, description = "Channel id or code"), ("sku" = String, Path, description = "SKU id or code")),
    request_body = SetChannelFigure,
    responses((status = 200, body = ChannelFigureBody), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn set_channel_figure(
    State(state): State<AppState>,
    auth: Auth,
    Path((channel, sku)): Path<(String, String)>,
    ApiJson(body): ApiJson<SetChannelFigure>,
) -> ApiResult<Json<ChannelFigureBody>> {
    let p = auth.require(Permission::WriteStock, "set channel figures")?;
    if !(0..=QUANTITY_MAX).contains(&body.figure) {
        return Err(ApiError::invalid(
            "figure",
            format!("must be between 0 and {QUANTITY_MAX}"),
        ));
    }
    let channel = state.store.find_channel(p.tenant_id, &channel).await?;
    let sku = state.store.sku_id(p.tenant_id, &sku).await?;
    Ok(Json(
        state
            .store
            .set_manual_figure(p.tenant_id, channel.id, sku, body.figure)
            .await?
            .into(),
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExclusionBody {
    pub sku_id: String,
    pub sku_code: String,
    pub created_at: String,
}

impl From<Exclusion> for ExclusionBody {
    fn from(e: Exclusion) -> Self {
        ExclusionBody {
            sku_id: e.sku_id.to_string(),
            sku_code: e.sku_code,
            created_at: time(e.created_at),
        }
    }
}

#[utoipa::path(get, path = "/channels/{channel}/exclusions", tag = "channels", security(("bearer" = ["read"])),
    params(("channel" = String, Path, description = "Channel id or code"), ListQuery),
    responses((status = 200, body = PageBody<ExclusionBody>), (status = 404, body = Problem)))]
pub async fn list_exclusions(
    State(state): State<AppState>,
    auth: Auth,
    Path(channel): Path<String>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<PageBody<ExclusionBody>>> {
    let p = auth.require(Permission::Read, "read")?;
    let channel = state.store.find_channel(p.tenant_id, &channel).await?;
    let got = state
        .store
        .list_exclusions(p.tenant_id, channel.id, &page(q.after, q.limit)?)
        .await?;
    Ok(Json(PageBody::from_page(got, ExclusionBody::from)))
}

#[utoipa::path(put, path = "/channels/{channel}/exclusions/{sku}", tag = "channels", security(("bearer" = ["catalog:write"])),
    params(("channel" = String, Path, description = "Channel id or code"), ("sku" = String, Path, description = "SKU id or code")),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn exclude_sku(
    State(state): State<AppState>,
    auth: Auth,
    Path((channel, sku)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let p = auth.require(Permission::WriteCatalog, "change channel exclusions")?;
    let channel = state.store.find_channel(p.tenant_id, &channel).await?;
    let sku = state.store.sku_id(p.tenant_id, &sku).await?;
    state
        .store
        .set_exclusion(p.tenant_id, channel.id, sku, true)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/channels/{channel}/exclusions/{sku}", tag = "channels", security(("bearer" = ["catalog:write"])),
    params(("channel" = String, Path, description = "Channel id or code"), ("sku" = String, Path, description = "SKU id or code")),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn include_sku(
    State(state): State<AppState>,
    auth: Auth,
    Path((channel, sku)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let p = auth.require(Permission::WriteCatalog, "change channel exclusions")?;
    let channel = state.store.find_channel(p.tenant_id, &channel).await?;
    let sku = state.store.sku_id(p.tenant_id, &sku).await?;
    state
        .store
        .set_exclusion(p.tenant_id, channel.id, sku, false)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
