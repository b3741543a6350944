//! Barcode label templates, and what a label prints about a batch of SKUs.

use jaego_core::barcode::Symbology;
use jaego_core::error::Validator;
use jaego_core::label::{LabelField, LabelSize, validate_template};
use jaego_core::limits::{LABEL_ITEMS_MAX, NAME_LEN_MAX};
use jaego_core::{InvalidInput, LabelTemplateId, SkuId, TenantId};
use serde_json::json;
use sqlx::any::AnyRow;

use crate::error::{StoreError, StoreResult};
use crate::events::{NewEvent, kinds};
use crate::page::{Page, PageRequest};
use crate::rows::{int, opt_text, parsed, split_list, text};
use crate::{Store, now_us};

/// A tenant's label template.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelTemplate {
    pub id: LabelTemplateId,
    pub code: String,
    pub name: String,
    pub size: LabelSize,
    pub symbology: Symbology,
    /// What the label prints besides the bars, in order.
    pub fields: Vec<LabelField>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A template to create.
#[derive(Debug, Clone)]
pub struct NewLabelTemplate {
    pub code: String,
    pub name: String,
    pub size: LabelSize,
    pub symbology: Symbology,
    pub fields: Vec<LabelField>,
}

/// Changes to a template; `None` leaves a field as it is. The code never
/// changes: clients name templates by it.
#[derive(Debug, Clone, Default)]
pub struct LabelTemplatePatch {
    pub name: Option<String>,
    pub size: Option<LabelSize>,
    pub symbology: Option<Symbology>,
    pub fields: Option<Vec<LabelField>>,
}

/// What a label can print about one SKU.
#[derive(Debug, Clone)]
pub struct LabelSkuData {
    pub id: SkuId,
    pub code: String,
    pub name: String,
    pub option_tags: Vec<String>,
    /// The code of the SKU's product, if it has one.
    pub product_code: Option<String>,
    /// Sorted as the SKU API lists them; the first is the label's.
    pub barcodes: Vec<String>,
}

const COLUMNS: &str = "id, code, name, size, symbology, fields, created_at, updated_at";

fn join_fields(fields: &[LabelField]) -> String {
    fields
        .iter()
        .map(|f| f.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn template_from_row(row: &AnyRow) -> StoreResult<LabelTemplate> {
    let size = text(row, "size")?;
    let symbology = text(row, "symbology")?;
    let fields = text(row, "fields")?;
    Ok(LabelTemplate {
        id: parsed(row, "id")?,
        code: text(row, "code")?,
        name: text(row, "name")?,
        size: LabelSize::parse(&size)
            .ok_or_else(|| StoreError::Corrupt(format!("label size {size:?}")))?,
        symbology: Symbology::parse(&symbology)
            .ok_or_else(|| StoreError::Corrupt(format!("symbology {symbology:?}")))?,
        fields: fields
            .split(',')
            .filter(|f| !f.is_empty())
            .map(|f| {
                LabelField::parse(f)
                    .ok_or_else(|| StoreError::Corrupt(format!("label field {f:?}")))
            })
            .collect::<StoreResult<_>>()?,
        created_at: int(row, "created_at")?,
        updated_at: int(row, "updated_at")?,
    })
}

fn template_event(tenant: TenantId, kind: &'static str, t: &LabelTemplate) -> NewEvent {
    NewEvent::new(
        tenant,
        kind,
        json!({
            "id": t.id.to_string(),
            "code": t.code,
            "name": t.name,
            "size": t.size.as_str(),
            "symbology": t.symbology.as_str(),
            "fields": t.fields.iter().map(|f| f.as_str()).collect::<Vec<_>>(),
        }),
    )
    .subject(t.id)
}

impl Store {
    pub async fn create_label_template(
        &self,
        tenant: TenantId,
        new: &NewLabelTemplate,
    ) -> StoreResult<LabelTemplate> {
        validate_template(&new.code, &new.name)?;
        let now = now_us();
        let template = LabelTemplate {
            id: LabelTemplateId::new(),
            code: new.code.clone(),
            name: new.name.clone(),
            size: new.size,
            symbology: new.symbology,
            fields: new.fields.clone(),
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO label_templates (id, tenant_id, code, name, size, symbology, fields, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(template.id.to_string())
        .bind(tenant.to_string())
        .bind(&template.code)
        .bind(&template.name)
        .bind(template.size.as_str())
        .bind(template.symbology.as_str())
        .bind(join_fields(&template.fields))
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::from_unique(e, "label template code", &new.code))?;
        self.commit_with(
            tx,
            &[template_event(
                tenant,
                kinds::LABEL_TEMPLATE_CREATED,
                &template,
            )],
        )
        .await?;
        Ok(template)
    }

    /// Finds a template by id or code.
    pub async fn find_label_template(
        &self,
        tenant: TenantId,
        id_or_code: &str,
    ) -> StoreResult<LabelTemplate> {
        let sql = format!(
            "SELECT {COLUMNS} FROM label_templates WHERE tenant_id = $1 AND (id = $2 OR code = $2)"
        );
        let row = sqlx::query(&sql)
            .bind(tenant.to_string())
            .bind(id_or_code)
            .fetch_optional(self.reader())
            .await?
            .ok_or_else(|| StoreError::not_found("label template", id_or_code))?;
        template_from_row(&row)
    }

    pub async fn list_label_templates(
        &self,
        tenant: TenantId,
        page: &PageRequest,
    ) -> StoreResult<Page<LabelTemplate>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM label_templates WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(tenant.to_string())
            .bind(page.cursor())
            .bind((page.size() + 1) as i64)
            .fetch_all(self.reader())
            .await?;
        let items = rows
            .iter()
            .map(template_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_rows(items, page.size(), |t| t.id.to_string()))
    }

    /// Applies `patch` in one statement, so two patches of different
    /// fields never undo each other.
    pub async fn update_label_template(
        &self,
        tenant: TenantId,
        id: LabelTemplateId,
        patch: &LabelTemplatePatch,
    ) -> StoreResult<LabelTemplate> {
        if let Some(name) = &patch.name {
            let mut v = Validator::new();
            v.text("name", name, NAME_LEN_MAX);
            v.finish()?;
        }
        let mut tx = self.begin_write().await?;
        let sql = format!(
            "UPDATE label_templates SET name = COALESCE($1, name), size = COALESCE($2, size), \
             symbology = COALESCE($3, symbology), fields = COALESCE($4, fields), updated_at = $5 \
             WHERE tenant_id = $6 AND id = $7 RETURNING {COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(patch.name.clone())
            .bind(patch.size.map(|s| s.as_str().to_string()))
            .bind(patch.symbology.map(|s| s.as_str().to_string()))
            .bind(patch.fields.as_deref().map(join_fields))
            .bind(now_us())
            .bind(tenant.to_string())
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::not_found("label template", id))?;
        let template = template_from_row(&row)?;
        self.commit_with(
            tx,
            &[template_event(
                tenant,
                kinds::LABEL_TEMPLATE_UPDATED,
                &template,
            )],
        )
        .await?;
        Ok(template)
    }

    pub async fn delete_label_template(
        &self,
        tenant: TenantId,
        id: LabelTemplateId,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let sql = format!(
            "DELETE FROM label_templates WHERE tenant_id = $1 AND id = $2 RETURNING {COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(tenant.to_string())
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::not_found("label template", id))?;
        let template = template_from_row(&row)?;
        self.commit_with(
            tx,
            &[template_event(
                tenant,
                kinds::LABEL_TEMPLATE_DELETED,
                &template,
            )],
        )
        .await?;
        Ok(())
    }

    /// What labels print about the SKUs named by `keys` (ids or codes), in
    /// two reads. Returns the SKUs found, each once, in no particular order;
    /// the caller matches them to its keys (by id or code) and decides what
    /// a missing one means.
    pub async fn label_skus(
        &self,
        tenant: TenantId,
        keys: &[String],
    ) -> StoreResult<Vec<LabelSkuData>> {
        if keys.len() > LABEL_ITEMS_MAX {
            return Err(InvalidInput::one(
                "items",
                format!("has {} entries; the limit is {LABEL_ITEMS_MAX}", keys.len()),
            )
            .into());
        }
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let list = (0..keys.len())
            .map(|i| format!("${}", i + 2))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT s.id, s.code, s.name, s.option_tags, p.code AS product_code \
             FROM skus s LEFT JOIN products p ON p.id = s.product_id AND p.tenant_id = s.tenant_id \
             WHERE s.tenant_id = $1 AND (s.code IN ({list}) OR s.id IN ({list}))"
        );
        let mut query = sqlx::query(&sql).bind(tenant.to_string());
        for key in keys {
            query = query.bind(key);
        }
        let mut skus = Vec::new();
        for row in query.fetch_all(self.reader()).await? {
            skus.push(LabelSkuData {
                id: parsed(&row, "id")?,
                code: text(&row, "code")?,
                name: text(&row, "name")?,
                option_tags: split_list(&text(&row, "option_tags")?),
                product_code: opt_text(&row, "product_code")?,
                barcodes: Vec::new(),
            });
        }
        if skus.is_empty() {
            return Ok(skus);
        }
        let list = (0..skus.len())
            .map(|i| format!("${}", i + 2))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT sku_id, barcode FROM sku_barcodes WHERE tenant_id = $1 AND sku_id IN ({list}) ORDER BY barcode"
        );
        let mut query = sqlx::query(&sql).bind(tenant.to_string());
        for sku in &skus {
            query = query.bind(sku.id.to_string());
        }
        for row in query.fetch_all(self.reader()).await? {
            let sku_id: SkuId = parsed(&row, "sku_id")?;
            if let Some(sku) = skus.iter_mut().find(|s| s.id == sku_id) {
                sku.barcodes.push(text(&row, "barcode")?);
            }
        }
        Ok(skus)
    }
}
