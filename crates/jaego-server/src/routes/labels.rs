//! Barcode label templates, SKU labels as SVG and PDF, and single
//! barcodes. The drawing is `crate::documents`; this module parses,
//! checks permissions and limits, and picks each SKU's barcode.
//!
//! Template changes go through [`router`] (under the idempotency layer
//! like every write). The rendering routes, [`rendering`], change nothing
//! and answer SVG or PDF, which an idempotency record (JSON text) could not
//! replay, so they are mounted outside it: `Idempotency-Key` is ignored
//! there, and a retry simply renders again.

use std::collections::HashSet;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jaego_core::barcode::{Barcode, BarcodeError};
use jaego_core::error::Validator;
use jaego_core::label;
use jaego_core::limits::{LABEL_COPIES_MAX, LABEL_ITEMS_MAX, LABELS_PER_DOCUMENT_MAX};
use jaego_core::role::Permission;
use jaego_core::{InvalidInput, TenantId};
use jaego_store::labels::{LabelSkuData, LabelTemplate, LabelTemplatePatch, NewLabelTemplate};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::documents::label::{LabelSku, label_barcode, label_drawing, labels_pdf};
use crate::documents::{BarcodeStyle, BarcodeSvgOptions, Drawing, barcode_svg, svg};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ApiQuery, Auth, unknown};
use crate::routes::catalog::ListQuery;
use crate::wire::{PageBody, page, time};

/// Template management: reads and manager-only changes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_label_templates, create_label_template))
        .routes(routes!(
            get_label_template,
            update_label_template,
            delete_label_template
        ))
}

/// The SVG and PDF answers, outside the idempotency layer.
pub fn rendering() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sku_label_svg))
        .routes(routes!(labels_pdf_document))
        .routes(routes!(barcode_image))
        .routes(routes!(check_barcode))
}

fn default_fields() -> Vec<String> {
    vec!["sku_code".into(), "name".into(), "barcode_text".into()]
}

fn default_symbology() -> String {
    "code128".into()
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateLabelTemplate {
    /// Unique per tenant: letters, digits, `- _ . /`. Names the template in `?template=`.
    pub code: String,
    pub name: String,
    /// `roll-40x20`, `roll-50x30`, `roll-60x40` or `a4-3x8`.
    pub size: String,
    /// `code128` (default) or `ean13`.
    #[serde(default = "default_symbology")]
    pub symbology: String,
    /// What prints besides the bars, in order: any of `sku_code`, `name`,
    /// `option_tags`, `product_code`, `barcode_text`, each at most once.
    /// Default `["sku_code", "name", "barcode_text"]`.
    #[serde(default = "default_fields")]
    pub fields: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateLabelTemplate {
    pub name: Option<String>,
    pub size: Option<String>,
    pub symbology: Option<String>,
    /// Replaces the whole list.
    pub fields: Option<Vec<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LabelTemplateBody {
    pub id: String,
    pub code: String,
    pub name: String,
    pub size: String,
    pub symbology: String,
    pub fields: Vec<String>,
    /// The size preset's geometry, for a client that previews labels.
    pub sheet: SheetBody,
    pub created_at: String,
    pub updated_at: String,
}

/// Where labels of a size sit on a page, in millimetres.
#[derive(Debug, Serialize, ToSchema)]
pub struct SheetBody {
    pub page_width_mm: f32,
    pub page_height_mm: f32,
    pub columns: u32,
    pub rows: u32,
    pub label_width_mm: f32,
    pub label_height_mm: f32,
}

impl From<LabelTemplate> for LabelTemplateBody {
    fn from(t: LabelTemplate) -> Self {
        let sheet = t.size.sheet();
        LabelTemplateBody {
            id: t.id.to_string(),
            code: t.code,
            name: t.name,
            size: t.size.as_str().to_string(),
            symbology: t.symbology.as_str().to_string(),
            fields: t.fields.iter().map(|f| f.as_str().to_string()).collect(),
            sheet: SheetBody {
                page_width_mm: sheet.page_width_mm,
                page_height_mm: sheet.page_height_mm,
                columns: sheet.columns,
                rows: sheet.rows,
                label_width_mm: sheet.label_width_mm,
                label_height_mm: sheet.label_height_mm,
            },
            created_at: time(t.created_at),
            updated_at: time(t.updated_at),
        }
    }
}

#[utoipa::path(post, path = "/label-templates", tag = "labels", security(("bearer" = ["catalog:write"])),
    request_body = CreateLabelTemplate,
    responses((status = 201, body = LabelTemplateBody), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_label_template(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<CreateLabelTemplate>,
) -> ApiResult<(StatusCode, Json<LabelTemplateBody>)> {
    let p = auth.require(Permission::WriteCatalog, "change label templates")?;
    let new = match (
        label::validate_template(&body.code, &body.name),
        label::parse_size("size", &body.size),
        label::parse_symbology("symbology", &body.symbology),
        label::parse_fields("fields", &body.fields),
    ) {
        (Ok(()), Ok(size), Ok(symbology), Ok(fields)) => NewLabelTemplate {
            code: body.code,
            name: body.name,
            size,
            symbology,
            fields,
        },
        (named, size, symbology, fields) => {
            return Err(all_of([named.err(), size.err(), symbology.err(), fields.err()]).into());
        }
    };
    let template = state.store.create_label_template(p.tenant_id, &new).await?;
    Ok((StatusCode::CREATED, Json(template.into())))
}

#[utoipa::path(get, path = "/label-templates", tag = "labels", security(("bearer" = ["read"])), params(ListQuery),
    responses((status = 200, body = PageBody<LabelTemplateBody>)))]
pub async fn list_label_templates(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<PageBody<LabelTemplateBody>>> {
    let p = auth.require(Permission::Read, "read")?;
    let got = state
        .store
        .list_label_templates(p.tenant_id, &page(q.after, q.limit)?)
        .await?;
    Ok(Json(PageBody::from_page(got, LabelTemplateBody::from)))
}

#[utoipa::path(get, path = "/label-templates/{template}", tag = "labels", security(("bearer" = ["read"])),
    params(("template" = String, Path, description = "Template id or code")),
    responses((status = 200, body = LabelTemplateBody), (status = 404, body = Problem)))]
pub async fn get_label_template(
    State(state): State<AppState>,
    auth: Auth,
    Path(template): Path<String>,
) -> ApiResult<Json<LabelTemplateBody>> {
    let p = auth.require(Permission::Read, "read")?;
    Ok(Json(
        state
            .store
            .find_label_template(p.tenant_id, &template)
            .await?
            .into(),
    ))
}

#[utoipa::path(patch, path = "/label-templates/{template}", tag = "labels", security(("bearer" = ["catalog:write"])),
    params(("template" = String, Path, description = "Template id or code")), request_body = UpdateLabelTemplate,
    responses((status = 200, body = LabelTemplateBody), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn update_label_template(
    State(state): State<AppState>,
    auth: Auth,
    Path(template): Path<String>,
    ApiJson(body): ApiJson<UpdateLabelTemplate>,
) -> ApiResult<Json<LabelTemplateBody>> {
    let p = auth.require(Permission::WriteCatalog, "change label templates")?;
    let patch = match (
        body.size
            .as_deref()
            .map(|raw| label::parse_size("size", raw))
            .transpose(),
        body.symbology
            .as_deref()
            .map(|raw| label::parse_symbology("symbology", raw))
            .transpose(),
        body.fields
            .as_deref()
            .map(|raw| label::parse_fields("fields", raw))
            .transpose(),
    ) {
        (Ok(size), Ok(symbology), Ok(fields)) => LabelTemplatePatch {
            name: body.name,
            size,
            symbology,
            fields,
        },
        (size, symbology, fields) => {
            return Err(all_of([size.err(), symbology.err(), fields.err()]).into());
        }
    };
    let current = state
        .store
        .find_label_template(p.tenant_id, &template)
        .await?;
    let updated = state
        .store
        .update_label_template(p.tenant_id, current.id, &patch)
        .await?;
    Ok(Json(updated.into()))
}

#[utoipa::path(delete, path = "/label-templates/{template}", tag = "labels", security(("bearer" = ["catalog:write"])),
    params(("template" = String, Path, description = "Template id or code")),
    responses((status = 204, description = "Deleted"), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn delete_label_template(
    State(state): State<AppState>,
    auth: Auth,
    Path(template): Path<String>,
) -> ApiResult<StatusCode> {
    let p = auth.require(Permission::WriteCatalog, "change label templates")?;
    let current = state
        .store
        .find_label_template(p.tenant_id, &template)
        .await?;
    state
        .store
        .delete_label_template(p.tenant_id, current.id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every violation of several checks, in order.
fn all_of<const N: usize>(errors: [Option<InvalidInput>; N]) -> InvalidInput {
    InvalidInput {
        violations: errors
            .into_iter()
            .flatten()
            .flat_map(|e| e.violations)
            .collect(),
    }
}

/// A rendered document: bytes, their content type, and the file name a
/// browser offers (shown inline). Label, receipt and shipping documents all
/// answer with it.
pub(crate) fn document(
    content_type: &'static str,
    filename: Option<&str>,
    bytes: Vec<u8>,
) -> Response {
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some(name) = filename
        && let Ok(value) = HeaderValue::from_str(&format!("inline; filename=\"{name}\""))
    {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

/// The template named in a query or body; unknown is bad input in `field`.
async fn template_named(
    state: &AppState,
    tenant: TenantId,
    field: &str,
    key: &str,
) -> ApiResult<LabelTemplate> {
    state
        .store
        .find_label_template(tenant, key)
        .await
        .map_err(unknown(field, "label template", key))
}

fn label_sku(sku: &LabelSkuData) -> LabelSku<'_> {
    LabelSku {
        code: &sku.code,
        name: &sku.name,
        option_tags: &sku.option_tags,
        product_code: sku.product_code.as_deref(),
        barcodes: &sku.barcodes,
    }
}

/// One SKU's label under `template`, or why it cannot be printed.
fn sku_label(template: &LabelTemplate, sku: &LabelSkuData) -> Result<Drawing, String> {
    let view = label_sku(sku);
    let code = label_barcode(template.symbology, &view)?;
    label_drawing(template.size, &template.fields, &view, &code).map_err(|e| {
        format!(
            "SKU {:?} does not fit a {} label: {e}",
            sku.code,
            template.size.as_str()
        )
    })
}

/// Image bytes in the OpenAPI document.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct BinaryFile(#[allow(dead_code)] Vec<u8>);

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct LabelQuery {
    /// The label template, by id or code.
    pub template: String,
}

#[utoipa::path(get, path = "/skus/{sku}/label.svg", tag = "labels", security(("bearer" = ["read"])),
    params(("sku" = String, Path, description = "SKU id or code"), LabelQuery),
    responses(
        (status = 200, content_type = "image/svg+xml", body = String,
            description = "One label at its true size in millimetres; text uses the viewer's fonts"),
        (status = 404, body = Problem, description = "No such SKU"),
        (status = 422, body = Problem, description = "Unknown template (`template`), or the SKU cannot be printed with it (`sku`: a first barcode that is not a valid EAN-13 on an EAN-13 template, a code too long for the label)")))]
pub async fn sku_label_svg(
    State(state): State<AppState>,
    auth: Auth,
    Path(sku): Path<String>,
    ApiQuery(q): ApiQuery<LabelQuery>,
) -> ApiResult<Response> {
    let p = auth.require(Permission::Read, "read")?;
    let template = template_named(&state, p.tenant_id, "template", &q.template).await?;
    let found = state
        .store
        .label_skus(p.tenant_id, std::slice::from_ref(&sku))
        .await?;
    let data = found
        .iter()
        .find(|s| s.code == sku || s.id.to_string() == sku)
        .ok_or_else(|| ApiError::NotFound(format!("sku {sku} not found")))?;
    let drawing = sku_label(&template, data).map_err(|reason| ApiError::invalid("sku", reason))?;
    Ok(document(
        "image/svg+xml",
        None,
        svg::render(&drawing).into_bytes(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LabelsPdfRequest {
    /// The label template, by id or code.
    pub template: String,
    /// The labels, in print order: at most 200 items.
    pub items: Vec<LabelItem>,
    /// On an A4 sheet, how many cells of the first sheet to leave empty
    /// (they were used already), 0 to 23. Must be 0 for roll labels.
    #[serde(default)]
    pub skip: u32,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LabelItem {
    /// SKU id or code.
    pub sku: String,
    /// How many labels, 1 to 1,000 (default 1).
    #[serde(default = "one")]
    pub copies: i64,
}

fn one() -> i64 {
    1
}

#[utoipa::path(post, path = "/labels.pdf", tag = "labels", security(("bearer" = ["read"])),
    request_body = LabelsPdfRequest,
    responses(
        (status = 200, content_type = "application/pdf", body = BinaryFile,
            description = "The labels in order, one per page on a roll size or 24 per page on a4-3x8, with jaego's Korean font embedded. Changes nothing; `Idempotency-Key` is ignored"),
        (status = 422, body = Problem, description = "Nothing rendered: an unknown template (`template`), an unknown or unprintable SKU (`items[i].sku`), copies out of range (`items[i].copies`), too many items or labels (`items`), a bad `skip`")))]
pub async fn labels_pdf_document(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<LabelsPdfRequest>,
) -> ApiResult<Response> {
    let p = auth.require(Permission::Read, "read")?;
    let mut v = Validator::new();
    if body.items.is_empty() {
        v.push("items", "must list at least one SKU");
    }
    if body.items.len() > LABEL_ITEMS_MAX {
        v.push(
            "items",
            format!(
                "has {} entries; the limit is {LABEL_ITEMS_MAX}",
                body.items.len()
            ),
        );
    }
    let mut total: i64 = 0;
    for (i, item) in body.items.iter().enumerate() {
        if !(1..=i64::from(LABEL_COPIES_MAX)).contains(&item.copies) {
            v.push(
                format!("items[{i}].copies"),
                format!("must be between 1 and {LABEL_COPIES_MAX}"),
            );
        }
        total = total.saturating_add(item.copies.max(0));
    }
    if total > i64::from(LABELS_PER_DOCUMENT_MAX) {
        v.push(
            "items",
            format!("asks for {total} labels; the limit is {LABELS_PER_DOCUMENT_MAX} per document"),
        );
    }
    v.finish()?;

    let template = template_named(&state, p.tenant_id, "template", &body.template).await?;
    let per_page = template.size.sheet().labels_per_page();
    if body.skip >= per_page {
        return Err(ApiError::invalid(
            "skip",
            format!(
                "must be between 0 and {} on {} labels ({per_page} per page)",
                per_page - 1,
                template.size.as_str()
            ),
        ));
    }

    let keys: Vec<String> = {
        let mut seen = HashSet::new();
        body.items
            .iter()
            .filter(|item| seen.insert(item.sku.as_str()))
            .map(|item| item.sku.clone())
            .collect()
    };
    let found = state.store.label_skus(p.tenant_id, &keys).await?;
    let mut v = Validator::new();
    let mut labels: Vec<(Drawing, u32)> = Vec::with_capacity(body.items.len());
    for (i, item) in body.items.iter().enumerate() {
        let field = format!("items[{i}].sku");
        let Some(sku) = found
            .iter()
            .find(|s| s.code == item.sku || s.id.to_string() == item.sku)
        else {
            v.push(field, format!("no SKU has the id or code {:?}", item.sku));
            continue;
        };
        match sku_label(&template, sku) {
            Ok(drawing) => labels.push((drawing, item.copies as u32)),
            Err(reason) => v.push(field, reason),
        }
    }
    v.finish()?;

    // Laying out hundreds of pages is CPU work: keep it off the async
    // workers that answer other requests.
    let size = template.size;
    let skip = body.skip;
    let bytes = tokio::task::spawn_blocking(move || labels_pdf(size, &labels, skip))
        .await
        .map_err(|e| ApiError::Internal(format!("rendering labels: {e}")))?;
    Ok(document("application/pdf", Some("labels.pdf"), bytes))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct BarcodeQuery {
    /// `code128` or `ean13`.
    pub symbology: String,
    /// The code. For `ean13`, 13 digits, or 12 to have the check digit computed.
    pub code: String,
    /// Print the code beneath the bars (default true).
    pub text: Option<bool>,
}

fn query_barcode(q: &BarcodeQuery) -> Result<Barcode, InvalidInput> {
    let symbology = label::parse_symbology("symbology", &q.symbology)?;
    Barcode::completing(symbology, &q.code).map_err(|e: BarcodeError| e.at("code"))
}

#[utoipa::path(get, path = "/barcode.svg", tag = "labels", security(("bearer" = ["read"])), params(BarcodeQuery),
    responses(
        (status = 200, content_type = "image/svg+xml", body = String,
            description = "The barcode with its quiet zones, 0.33 mm a module, 25 mm tall"),
        (status = 422, body = Problem, description = "`symbology` unknown, or `code` not encodable (bad characters, wrong length, wrong EAN-13 check digit)")))]
pub async fn barcode_image(auth: Auth, ApiQuery(q): ApiQuery<BarcodeQuery>) -> ApiResult<Response> {
    auth.require(Permission::Read, "read")?;
    let code = query_barcode(&q)?;
    let options = BarcodeSvgOptions {
        style: BarcodeStyle {
            human_readable: q.text.unwrap_or(true),
        },
        ..BarcodeSvgOptions::default()
    };
    let image =
        barcode_svg(&code, &options).map_err(|e| ApiError::invalid("code", e.to_string()))?;
    Ok(document("image/svg+xml", None, image.into_bytes()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BarcodeCheckBody {
    pub symbology: String,
    /// The full code: for EAN-13 all 13 digits, the check digit included.
    pub code: String,
    /// Whether jaego computed the check digit (12 digits were sent).
    pub completed: bool,
}

#[utoipa::path(get, path = "/barcodes/check", tag = "labels", security(("bearer" = ["read"])), params(BarcodeQuery),
    responses(
        (status = 200, body = BarcodeCheckBody, description = "The code is valid; for 12 EAN-13 digits, with its check digit"),
        (status = 422, body = Problem, description = "`symbology` unknown, or `code` not valid: the reason names the bad character or the expected check digit")))]
pub async fn check_barcode(
    auth: Auth,
    ApiQuery(q): ApiQuery<BarcodeQuery>,
) -> ApiResult<Json<BarcodeCheckBody>> {
    auth.require(Permission::Read, "read")?;
    let code = query_barcode(&q)?;
    Ok(Json(BarcodeCheckBody {
        symbology: code.symbology().as_str().to_string(),
        completed: code.data() != q.code,
        code: code.data().to_string(),
    }))
}
