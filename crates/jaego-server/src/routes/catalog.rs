//! Products and SKUs.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use jaego_core::role::Permission;
use jaego_store::catalog::{NewSku, Product, Sku, SkuFilter, SkuPatch};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiQuery, Auth, field_id, path_id};
use crate::wire::{PageBody, page, time};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_products, create_product))
        .routes(routes!(get_product))
        .routes(routes!(list_skus, create_sku))
        .routes(routes!(get_sku, update_sku))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProduct {
    /// Unique per tenant: letters, digits, `- _ . /`.
    pub code: String,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProductBody {
    pub id: String,
    pub code: String,
    pub name: String,
    pub created_at: String,
}

impl From<Product> for ProductBody {
    fn from(p: Product) -> Self {
        ProductBody {
            id: p.id.to_string(),
            code: p.code,
            name: p.name,
            created_at: time(p.created_at),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Cursor: the `next_cursor` of the previous page.
    pub after: Option<String>,
    /// Page size, 1 to 500 (default 50).
    pub limit: Option<usize>,
}

#[utoipa::path(post, path = "/products", tag = "catalog", security(("bearer" = ["catalog:write"])), request_body = CreateProduct,
    responses((status = 201, body = ProductBody), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_product(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<CreateProduct>,
) -> ApiResult<(StatusCode, Json<ProductBody>)> {
    let p = auth.require(Permission::WriteCatalog, "change the catalog")?;
    let product = state
        .store
        .create_product(p.tenant_id, &body.code, &body.name)
        .await?;
    Ok((StatusCode::CREATED, Json(product.into())))
}

#[utoipa::path(get, path = "/products", tag = "catalog", security(("bearer" = ["read"])), params(ListQuery), responses((status = 200, body = PageBody<ProductBody>)))]
pub async fn list_products(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<PageBody<ProductBody>>> {
    let p = auth.require(Permission::Read, "read")?;
    let got = state
        .store
        .list_products(p.tenant_id, &page(q.after, q.limit)?)
        .await?;
    Ok(Json(PageBody::from_page(got, ProductBody::from)))
}

#[utoipa::path(get, path = "/products/{id}", tag = "catalog", security(("bearer" = ["read"])), responses((status = 200, body = ProductBody), (status = 404, body = Problem)))]
pub async fn get_product(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<ProductBody>> {
    let p = auth.require(Permission::Read, "read")?;
    let product = state
        .store
        .get_product(p.tenant_id, path_id(&id, "product")?)
        .await?;
    Ok(Json(product.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSku {
    /// Unique per tenant: letters, digits, `- _ . /`, at most 64.
    pub code: String,
    pub name: String,
    /// The product (style) this SKU belongs to, by id.
    pub product_id: Option<String>,
    /// Whether stock is tracked for this SKU (재고관리 사용여부). Default true.
    #[serde(default = "yes")]
    pub tracked: bool,
    /// Barcodes, each unique per tenant.
    #[serde(default)]
    pub barcodes: Vec<String>,
    /// Option tags such as `size:M`, `color:red`.
    #[serde(default)]
    pub option_tags: Vec<String>,
}

impl CreateSku {
    /// The store's [`NewSku`] for this body, refused (field `product_id`)
    /// when `product_id` is not an id. A bundle's body builds its SKU the
    /// same way (`routes::bundles`), so both answer the same for the same
    /// fields.
    pub(crate) fn into_new_sku(self) -> ApiResult<NewSku> {
        let product_id = field_id(self.product_id.as_deref(), "product_id", "a product id")?;
        Ok(NewSku {
            code: self.code,
            name: self.name,
            product_id,
            tracked: self.tracked,
            barcodes: self.barcodes,
            option_tags: self.option_tags,
        })
    }
}

pub(crate) fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSku {
    pub name: Option<String>,
    pub tracked: Option<bool>,
    /// Replaces all barcodes.
    pub barcodes: Option<Vec<String>>,
    /// Replaces all option tags.
    pub option_tags: Option<Vec<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SkuBody {
    pub id: String,
    pub code: String,
    pub name: String,
    pub product_id: Option<String>,
    pub tracked: bool,
    /// Product status; `active` until the product-status feature lands.
    pub status: String,
    pub barcodes: Vec<String>,
    pub option_tags: Vec<String>,
    /// A bundle (combination SKU): it holds no stock; see `/bundles/{sku}`.
    pub bundle: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Sku> for SkuBody {
    fn from(s: Sku) -> Self {
        SkuBody {
            id: s.id.to_string(),
            code: s.code,
            name: s.name,
            product_id: s.product_id.map(|p| p.to_string()),
            tracked: s.tracked,
            status: s.status,
            barcodes: s.barcodes,
            option_tags: s.option_tags,
            bundle: s.bundle,
            created_at: time(s.created_at),
            updated_at: time(s.updated_at),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SkuQuery {
    /// Case-insensitive text in the code or name.
    pub q: Option<String>,
    pub tracked: Option<bool>,
    pub product_id: Option<String>,
    /// Exact barcode.
    pub barcode: Option<String>,
    /// Exact option tag.
    pub tag: Option<String>,
    pub after: Option<String>,
    pub limit: Option<usize>,
}

#[utoipa::path(post, path = "/skus", tag = "catalog", security(("bearer" = ["catalog:write"])), request_body = CreateSku,
    responses((status = 201, body = SkuBody), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_sku(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<CreateSku>,
) -> ApiResult<(StatusCode, Json<SkuBody>)> {
    let p = auth.require(Permission::WriteCatalog, "change the catalog")?;
    let new = body.into_new_sku()?;
    let sku = state.store.create_sku(p.tenant_id, &new).await?;
    Ok((StatusCode::CREATED, Json(sku.into())))
}

#[utoipa::path(get, path = "/skus", tag = "catalog", security(("bearer" = ["read"])), params(SkuQuery), responses((status = 200, body = PageBody<SkuBody>)))]
pub async fn list_skus(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<SkuQuery>,
) -> ApiResult<Json<PageBody<SkuBody>>> {
    let p = auth.require(Permission::Read, "read")?;
    let product_id = field_id(q.product_id.as_deref(), "product_id", "a product id")?;
    let filter = SkuFilter {
        q: q.q,
        tracked: q.tracked,
        product_id,
        barcode: q.barcode,
        tag: q.tag,
    };
    let got = state
        .store
        .list_skus(p.tenant_id, &filter, &page(q.after, q.limit)?)
        .await?;
    Ok(Json(PageBody::from_page(got, SkuBody::from)))
}

#[utoipa::path(get, path = "/skus/{sku}", tag = "catalog", security(("bearer" = ["read"])), params(("sku" = String, Path, description = "SKU id or code")),
    responses((status = 200, body = SkuBody), (status = 404, body = Problem)))]
pub async fn get_sku(
    State(state): State<AppState>,
    auth: Auth,
    Path(sku): Path<String>,
) -> ApiResult<Json<SkuBody>> {
    let p = auth.require(Permission::Read, "read")?;
    Ok(Json(state.store.find_sku(p.tenant_id, &sku).await?.into()))
}

#[utoipa::path(patch, path = "/skus/{sku}", tag = "catalog", security(("bearer" = ["catalog:write"])), params(("sku" = String, Path, description = "SKU id or code")), request_body = UpdateSku,
    responses((status = 200, body = SkuBody), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn update_sku(
    State(state): State<AppState>,
    auth: Auth,
    Path(sku): Path<String>,
    ApiJson(body): ApiJson<UpdateSku>,
) -> ApiResult<Json<SkuBody>> {
    let p = auth.require(Permission::WriteCatalog, "change the catalog")?;
    let current = state.store.find_sku(p.tenant_id, &sku).await?;
    let patch = SkuPatch {
        name: body.name,
        tracked: body.tracked,
        barcodes: body.barcodes,
        option_tags: body.option_tags,
    };
    Ok(Json(
        state
            .store
            .update_sku(p.tenant_id, current.id, &patch)
            .await?
            .into(),
    ))
}
