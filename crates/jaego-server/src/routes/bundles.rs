//! Bundles (combination SKUs) over HTTP: create one with its recipe, read
//! it, replace its recipe, and read its figures per location.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use jaego_core::role::Permission;
use jaego_store::bundles::{Bundle, BundleStock};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, Auth};
use crate::routes::catalog::{CreateSku, SkuBody, yes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_bundle))
        .routes(routes!(get_bundle))
        .routes(routes!(set_components))
        .routes(routes!(bundle_stock))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ComponentInput {
    /// SKU id or code; a SKU that holds stock (not a bundle).
    pub sku: String,
    /// Units of it in one bundle (1 to 10000).
    pub quantity: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBundle {
    /// The bundle's SKU code, unique per tenant like any SKU's.
    pub code: String,
    pub name: String,
    pub product_id: Option<String>,
    /// Whether stock is tracked (default true). An untracked bundle is
    /// never refused for stock; its components' own flags still apply.
    #[serde(default = "yes")]
    pub tracked: bool,
    #[serde(default)]
    pub barcodes: Vec<String>,
    #[serde(default)]
    pub option_tags: Vec<String>,
    /// 1 to 20 components, each named once.
    pub components: Vec<ComponentInput>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetComponents {
    /// The new recipe: 1 to 20 components, each named once.
    pub components: Vec<ComponentInput>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ComponentBody {
    pub sku_id: String,
    pub code: String,
    pub name: String,
    pub quantity: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BundleBody {
    pub sku: SkuBody,
    /// The recipe's version: 1 when created, one more on every edit.
    pub version: i64,
    pub components: Vec<ComponentBody>,
}

impl From<Bundle> for BundleBody {
    fn from(b: Bundle) -> Self {
        BundleBody {
            sku: b.sku.into(),
            version: b.version,
            components: b
                .components
                .into_iter()
                .map(|c| ComponentBody {
                    sku_id: c.sku_id.to_string(),
                    code: c.code,
                    name: c.name,
                    quantity: c.quantity,
                })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BundleStockBody {
    pub location_id: String,
    pub location_code: String,
    /// Bundles that could be made from the components on hand.
    pub on_hand: i64,
    /// min over components of floor(component available / quantity).
    pub available: i64,
    /// Each component's available figure there.
    pub components: Vec<ComponentStockBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ComponentStockBody {
    pub sku_id: String,
    pub available: i64,
}

impl From<BundleStock> for BundleStockBody {
    fn from(s: BundleStock) -> Self {
        BundleStockBody {
            location_id: s.location_id.to_string(),
            location_code: s.location_code,
            on_hand: s.balance.on_hand,
            available: s.balance.available(),
            components: s
                .components
                .into_iter()
                .map(|(sku, available)| ComponentStockBody {
                    sku_id: sku.to_string(),
                    available,
                })
                .collect(),
        }
    }
}

fn parts(components: Vec<ComponentInput>) -> Vec<(String, i64)> {
    components
        .into_iter()
        .map(|c| (c.sku, c.quantity))
        .collect()
}

#[utoipa::path(post, path = "/bundles", tag = "bundles", security(("bearer" = ["catalog:write"])), request_body = CreateBundle,
    responses((status = 201, body = BundleBody), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_bundle(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<CreateBundle>,
) -> ApiResult<(StatusCode, Json<BundleBody>)> {
    let p = auth.require(Permission::WriteCatalog, "change the catalog")?;
    let CreateBundle {
        code,
        name,
        product_id,
        tracked,
        barcodes,
        option_tags,
        components,
    } = body;
    // The bundle's own SKU is read as any SKU's body is.
    let new = CreateSku {
        code,
        name,
        product_id,
        tracked,
        barcodes,
        option_tags,
    }
    .into_new_sku()?;
    let bundle = state
        .store
        .create_bundle(p.tenant_id, &new, &parts(components))
        .await?;
    Ok((StatusCode::CREATED, Json(bundle.into())))
}

#[utoipa::path(get, path = "/bundles/{sku}", tag = "bundles", security(("bearer" = ["read"])), params(("sku" = String, Path, description = "Bundle SKU id or code")),
    responses((status = 200, body = BundleBody), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn get_bundle(
    State(state): State<AppState>,
    auth: Auth,
    Path(sku): Path<String>,
) -> ApiResult<Json<BundleBody>> {
    let p = auth.require(Permission::Read, "read")?;
    Ok(Json(
        state.store.get_bundle(p.tenant_id, &sku).await?.into(),
    ))
}

#[utoipa::path(put, path = "/bundles/{sku}/components", tag = "bundles", security(("bearer" = ["catalog:write"])), params(("sku" = String, Path, description = "Bundle SKU id or code")), request_body = SetComponents,
    responses((status = 200, body = BundleBody), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn set_components(
    State(state): State<AppState>,
    auth: Auth,
    Path(sku): Path<String>,
    ApiJson(body): ApiJson<SetComponents>,
) -> ApiResult<Json<BundleBody>> {
    let p = auth.require(Permission::WriteCatalog, "change the catalog")?;
    let bundle = state
        .store
        .set_bundle_components(p.tenant_id, &sku, &parts(body.components))
        .await?;
    Ok(Json(bundle.into()))
}

#[utoipa::path(get, path = "/bundles/{sku}/stock", tag = "bundles", security(("bearer" = ["read"])), params(("sku" = String, Path, description = "Bundle SKU id or code")),
    responses((status = 200, body = Vec<BundleStockBody>), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn bundle_stock(
    State(state): State<AppState>,
    auth: Auth,
    Path(sku): Path<String>,
) -> ApiResult<Json<Vec<BundleStockBody>>> {
    let p = auth.require(Permission::Read, "read")?;
    let stock = state.store.bundle_stock(p.tenant_id, &sku).await?;
    Ok(Json(stock.into_iter().map(Into::into).collect()))
}
