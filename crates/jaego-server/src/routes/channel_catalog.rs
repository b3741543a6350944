//! Products from the channels over HTTP (seed 002): the per-channel sync
//! mode, the signed catalog webhook, JSON and CSV uploads of a channel's
//! catalog, "update product information" (apply), exclusions, staged
//! products and the sync reports. See `docs/channels.md`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use jaego_core::limits::{CSV_BODY_BYTES_MAX, PAGE_SIZE_MAX};
use jaego_core::role::Permission;
use jaego_store::channel_catalog::{
    CatalogExclusion, CatalogInput, ChannelProduct, ReportRow, SyncMode, SyncReport, Via,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiQuery, Auth, json_body, parse_enum, signed_channel};
use crate::routes::csv::{Table, csv_body};
use crate::routes::orders::channel_id;
use crate::wire::{page_limit, time};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_settings, put_settings))
        .routes(routes!(upload_catalog))
        .routes(routes!(apply_catalog))
        .routes(routes!(list_products))
        .routes(routes!(list_exclusions))
        .routes(routes!(put_exclusion, delete_exclusion))
        .routes(routes!(list_reports))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(upload_catalog_csv))
                .layer(DefaultBodyLimit::max(CSV_BODY_BYTES_MAX)),
        )
}

/// The signed catalog webhook, mounted outside bearer authentication.
pub fn hooks() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(catalog_webhook))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CatalogSettingsBody {
    /// `auto`: products created or changed on the channel enter the
    /// inventory list at once, linked. `manual` (default): they wait for
    /// "update product information" (`POST …/catalog/apply`).
    pub sync_mode: String,
}

#[utoipa::path(get, path = "/channels/{channel}/catalog/settings", tag = "channel catalog", security(("bearer" = ["read"])),
    params(("channel" = String, Path, description = "Channel id or code")),
    responses((status = 200, body = CatalogSettingsBody), (status = 404, body = Problem)))]
pub async fn get_settings(
    State(state): State<AppState>,
    auth: Auth,
    Path(channel): Path<String>,
) -> ApiResult<Json<CatalogSettingsBody>> {
    let p = auth.require(Permission::Read, "read")?;
    let c = channel_id(&state, p.tenant_id, &channel).await?;
    let mode = state.store.catalog_sync_mode(p.tenant_id, c).await?;
    Ok(Json(CatalogSettingsBody {
        sync_mode: mode.as_str().into(),
    }))
}

#[utoipa::path(put, path = "/channels/{channel}/catalog/settings", tag = "channel catalog", security(("bearer" = ["catalog:write"])),
    params(("channel" = String, Path, description = "Channel id or code")), request_body = CatalogSettingsBody,
    responses((status = 200, body = CatalogSettingsBody), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn put_settings(
    State(state): State<AppState>,
    auth: Auth,
    Path(channel): Path<String>,
    ApiJson(body): ApiJson<CatalogSettingsBody>,
) -> ApiResult<Json<CatalogSettingsBody>> {
    let p = auth.require(Permission::WriteCatalog, "change channel settings")?;
    let mode: SyncMode = parse_enum("sync_mode", &body.sync_mode)?;
    let c = channel_id(&state, p.tenant_id, &channel).await?;
    state
        .store
        .set_catalog_sync_mode(p.tenant_id, c, mode)
        .await?;
    Ok(Json(CatalogSettingsBody {
        sync_mode: mode.as_str().into(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CatalogProductInput {
    /// The channel's product (item) code.
    #[serde(default)]
    pub item_code: String,
    /// The channel's option of it, if any.
    #[serde(default)]
    pub item_option: String,
    /// The seller's code (품목코드), matched against SKU codes; default the item code.
    #[serde(default)]
    pub sku_code: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub barcode: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CatalogUpload {
    /// Up to 10000 products.
    pub products: Vec<CatalogProductInput>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReportRowBody {
    /// `products[i]`, `line N`, or `item_code/item_option` for an apply.
    pub row: String,
    pub item_code: String,
    pub item_option: String,
    /// `staged`, `created`, `linked`, `changed`, `skipped` or `bad`.
    pub outcome: String,
    pub sku_code: Option<String>,
    /// Why (bad, skipped) or what changed.
    pub detail: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SyncReportBody {
    pub id: String,
    pub channel_id: String,
    /// `webhook`, `upload` or `apply`.
    pub via: String,
    /// Whether products were applied (`auto`, or an apply) or only staged.
    pub applied: bool,
    pub received: i64,
    pub created: i64,
    pub linked: i64,
    pub changed: i64,
    pub skipped: i64,
    pub bad: i64,
    pub rows: Vec<ReportRowBody>,
    pub actor: String,
    pub created_at: String,
}

impl From<ReportRow> for ReportRowBody {
    fn from(r: ReportRow) -> Self {
        ReportRowBody {
            row: r.row,
            item_code: r.item_code,
            item_option: r.item_option,
            outcome: r.outcome,
            sku_code: r.sku_code,
            detail: r.detail,
        }
    }
}

impl From<SyncReport> for SyncReportBody {
    fn from(r: SyncReport) -> Self {
        SyncReportBody {
            id: r.id,
            channel_id: r.channel_id.to_string(),
            via: r.via,
            applied: r.applied,
            received: r.received,
            created: r.created,
            linked: r.linked,
            changed: r.changed,
            skipped: r.skipped,
            bad: r.bad,
            rows: r.rows.into_iter().map(Into::into).collect(),
            actor: r.actor,
            created_at: time(r.created_at),
        }
    }
}

fn inputs(products: Vec<CatalogProductInput>) -> Vec<CatalogInput> {
    products
        .into_iter()
        .enumerate()
        .map(|(i, p)| CatalogInput {
            row: format!("products[{i}]"),
            item_code: p.item_code,
            item_option: p.item_option,
            sku_code: p.sku_code,
            name: p.name,
            barcode: p.barcode,
        })
        .collect()
}

#[utoipa::path(post, path = "/channels/{channel}/catalog", tag = "channel catalog", security(("bearer" = ["catalog:write"])),
    params(("channel" = String, Path, description = "Channel id or code")), request_body = CatalogUpload,
    responses((status = 201, body = SyncReportBody, description = "Bad rows are in the report; the others were staged (and applied under `auto`)"),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn upload_catalog(
    State(state): State<AppState>,
    auth: Auth,
    Path(channel): Path<String>,
    ApiJson(body): ApiJson<CatalogUpload>,
) -> ApiResult<(StatusCode, Json<SyncReportBody>)> {
    let p = auth.require(Permission::WriteCatalog, "sync a channel's catalog")?;
    let c = channel_id(&state, p.tenant_id, &channel).await?;
    let report = state
        .store
        .receive_catalog(
            p.tenant_id,
            c,
            Via::Upload,
            &inputs(body.products),
            &p.actor(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(report.into())))
}

#[utoipa::path(post, path = "/channels/{channel}/catalog/import", tag = "channel catalog", security(("bearer" = ["catalog:write"])),
    params(("channel" = String, Path, description = "Channel id or code")),
    request_body(content = String, content_type = "text/csv",
        description = "Header with `item_code` and `name`, and any of `item_option`, `sku_code`, `barcode`; one product per row"),
    responses((status = 201, body = SyncReportBody, description = "Bad rows (`line N`) are in the report"),
        (status = 404, body = Problem), (status = 413, body = Problem), (status = 415, body = Problem), (status = 422, body = Problem)))]
pub async fn upload_catalog_csv(
    State(state): State<AppState>,
    auth: Auth,
    Path(channel): Path<String>,
    request: Request,
) -> ApiResult<(StatusCode, Json<SyncReportBody>)> {
    let p = auth.require(Permission::WriteCatalog, "sync a channel's catalog")?;
    let c = channel_id(&state, p.tenant_id, &channel).await?;
    let body = csv_body(request).await?;
    let table = Table::read(
        &body,
        &["item_code", "item_option", "sku_code", "name", "barcode"],
        &["item_code", "name"],
    )?;
    let rows: Vec<CatalogInput> = table
        .rows
        .iter()
        .map(|r| CatalogInput {
            row: format!("line {}", r.line),
            item_code: table.get(r, "item_code").into(),
            item_option: table.get(r, "item_option").into(),
            sku_code: table.get(r, "sku_code").into(),
            name: table.get(r, "name").into(),
            barcode: table.get(r, "barcode").into(),
        })
        .collect();
    // A row the reader could not split by column is refused as a file:
    // there is no telling which field is which.
    table.bad.finish()?;
    let report = state
        .store
        .receive_catalog(p.tenant_id, c, Via::Upload, &rows, &p.actor())
        .await?;
    Ok((StatusCode::CREATED, Json(report.into())))
}

#[utoipa::path(post, path = "/channels/{channel}/catalog/apply", tag = "channel catalog", security(("bearer" = ["catalog:write"])),
    params(("channel" = String, Path, description = "Channel id or code")),
    responses((status = 200, body = SyncReportBody), (status = 404, body = Problem)))]
pub async fn apply_catalog(
    State(state): State<AppState>,
    auth: Auth,
    Path(channel): Path<String>,
) -> ApiResult<Json<SyncReportBody>> {
    let p = auth.require(Permission::WriteCatalog, "update product information")?;
    let c = channel_id(&state, p.tenant_id, &channel).await?;
    let report = state
        .store
        .apply_catalog(p.tenant_id, c, &p.actor())
        .await?;
    Ok(Json(report.into()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ProductQuery {
    /// Only products waiting to be applied.
    pub staged: Option<bool>,
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelProductBody {
    pub item_code: String,
    pub item_option: String,
    pub sku_code: String,
    pub name: String,
    pub barcode: String,
    /// `staged` or `applied`.
    pub state: String,
    pub received_at: String,
}

impl From<ChannelProduct> for ChannelProductBody {
    fn from(p: ChannelProduct) -> Self {
        ChannelProductBody {
            item_code: p.item_code,
            item_option: p.item_option,
            sku_code: p.sku_code,
            name: p.name,
            barcode: p.barcode,
            state: p.state,
            received_at: time(p.received_at),
        }
    }
}

#[utoipa::path(get, path = "/channels/{channel}/catalog/products", tag = "channel catalog", security(("bearer" = ["read"])),
    params(("channel" = String, Path, description = "Channel id or code"), ProductQuery),
    responses((status = 200, body = Vec<ChannelProductBody>), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn list_products(
    State(state): State<AppState>,
    auth: Auth,
    Path(channel): Path<String>,
    ApiQuery(q): ApiQuery<ProductQuery>,
) -> ApiResult<Json<Vec<ChannelProductBody>>> {
    let p = auth.require(Permission::Read, "read")?;
    let c = channel_id(&state, p.tenant_id, &channel).await?;
    let limit = page_limit(q.limit.unwrap_or(PAGE_SIZE_MAX))?;
    let products = state
        .store
        .channel_products(p.tenant_id, c, q.staged.unwrap_or(false), limit)
        .await?;
    Ok(Json(products.into_iter().map(Into::into).collect()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CatalogExclusionBody {
    pub item_code: String,
    pub note: String,
    pub created_at: String,
}

impl From<CatalogExclusion> for CatalogExclusionBody {
    fn from(x: CatalogExclusion) -> Self {
        CatalogExclusionBody {
            item_code: x.item_code,
            note: x.note,
            created_at: time(x.created_at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ExclusionInput {
    #[serde(default)]
    pub note: String,
}

#[utoipa::path(get, path = "/channels/{channel}/catalog/exclusions", tag = "channel catalog", security(("bearer" = ["read"])),
    params(("channel" = String, Path, description = "Channel id or code")),
    responses((status = 200, body = Vec<CatalogExclusionBody>), (status = 404, body = Problem)))]
pub async fn list_exclusions(
    State(state): State<AppState>,
    auth: Auth,
    Path(channel): Path<String>,
) -> ApiResult<Json<Vec<CatalogExclusionBody>>> {
    let p = auth.require(Permission::Read, "read")?;
    let c = channel_id(&state, p.tenant_id, &channel).await?;
    let list = state.store.catalog_exclusions(p.tenant_id, c).await?;
    Ok(Json(list.into_iter().map(Into::into).collect()))
}

#[utoipa::path(put, path = "/channels/{channel}/catalog/exclusions/{item_code}", tag = "channel catalog", security(("bearer" = ["catalog:write"])),
    params(("channel" = String, Path, description = "Channel id or code"), ("item_code" = String, Path, description = "The channel's item code")),
    request_body = ExclusionInput,
    responses((status = 200, body = CatalogExclusionBody), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn put_exclusion(
    State(state): State<AppState>,
    auth: Auth,
    Path((channel, item_code)): Path<(String, String)>,
    ApiJson(body): ApiJson<ExclusionInput>,
) -> ApiResult<Json<CatalogExclusionBody>> {
    let p = auth.require(Permission::WriteCatalog, "change channel settings")?;
    let c = channel_id(&state, p.tenant_id, &channel).await?;
    let x = state
        .store
        .add_catalog_exclusion(p.tenant_id, c, &item_code, &body.note)
        .await?;
    Ok(Json(x.into()))
}

#[utoipa::path(delete, path = "/channels/{channel}/catalog/exclusions/{item_code}", tag = "channel catalog", security(("bearer" = ["catalog:write"])),
    params(("channel" = String, Path, description = "Channel id or code"), ("item_code" = String, Path, description = "The channel's item code")),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn delete_exclusion(
    State(state): State<AppState>,
    auth: Auth,
    Path((channel, item_code)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let p = auth.require(Permission::WriteCatalog, "change channel settings")?;
    let c = channel_id(&state, p.tenant_id, &channel).await?;
    state
        .store
        .remove_catalog_exclusion(p.tenant_id, c, &item_code)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/channels/{channel}/catalog/reports", tag = "channel catalog", security(("bearer" = ["read"])),
    params(("channel" = String, Path, description = "Channel id or code")),
    responses((status = 200, body = Vec<SyncReportBody>, description = "The latest 50, newest first"), (status = 404, body = Problem)))]
pub async fn list_reports(
    State(state): State<AppState>,
    auth: Auth,
    Path(channel): Path<String>,
) -> ApiResult<Json<Vec<SyncReportBody>>> {
    let p = auth.require(Permission::Read, "read")?;
    let c = channel_id(&state, p.tenant_id, &channel).await?;
    let reports = state.store.catalog_reports(p.tenant_id, c, 50).await?;
    Ok(Json(reports.into_iter().map(Into::into).collect()))
}

#[utoipa::path(post, path = "/hooks/channels/{channel}/catalog", tag = "channel catalog", security(("channel_signature" = [])), request_body = CatalogUpload,
    params(("channel" = String, Path, description = "Channel id"),
        ("x-jaego-signature" = String, Header, description = "`t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.\" + body>` with the channel's webhook secret (the order webhook's)")),
    responses((status = 202, body = SyncReportBody), (status = 401, body = Problem), (status = 422, body = Problem)))]
pub async fn catalog_webhook(
    State(state): State<AppState>,
    Path(channel): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<SyncReportBody>)> {
    let (tenant, c) = signed_channel(&state, &channel, &headers, &body).await?;
    let upload: CatalogUpload = json_body(&body)?;
    let report = state
        .store
        .receive_catalog(
            tenant,
            c,
            Via::Webhook,
            &inputs(upload.products),
            &format!("webhook:{c}"),
        )
        .await?;
    Ok((StatusCode::ACCEPTED, Json(report.into())))
}
