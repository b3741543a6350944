//! Products and SKUs with their barcodes and option tags.

use std::collections::HashSet;

use jaego_core::catalog::validate_sku;
use jaego_core::error::Validator;
use jaego_core::limits::{CODE_LEN_MAX, NAME_LEN_MAX};
use jaego_core::{ProductId, SkuId, TenantId};
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};

use crate::csv_support::{existing_products_on, sku_ids_by_code_on, taken_barcodes_on};
use crate::error::{StoreError, StoreResult};
use crate::events::{NewEvent, kinds};
use crate::orders::{Val, insert_many};
use crate::page::{Page, PageRequest};
use crate::rows::{Arg, flag, int, join_list, opt_parsed, parsed, split_list, text};
use crate::{Store, now_us};

#[derive(Debug, Clone)]
pub struct Product {
    pub id: ProductId,
    pub code: String,
    pub name: String,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct Sku {
    pub id: SkuId,
    pub product_id: Option<ProductId>,
    pub code: String,
    pub name: String,
    pub tracked: bool,
    /// Reserved for the product-status issue; `active` until then.
    pub status: String,
    pub option_tags: Vec<String>,
    pub barcodes: Vec<String>,
    /// A bundle (combination SKU): no stock of its own; see `bundles`.
    pub bundle: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A SKU to create.
#[derive(Debug, Clone)]
pub struct NewSku {
    pub code: String,
    pub name: String,
    pub product_id: Option<ProductId>,
    pub tracked: bool,
    pub barcodes: Vec<String>,
    pub option_tags: Vec<String>,
}

impl NewSku {
    pub fn validate(&self) -> Result<(), jaego_core::InvalidInput> {
        validate_sku(&self.code, &self.name, &self.barcodes, &self.option_tags)
    }
}

/// Changes to a SKU; `None` leaves a field as it is. Lists replace the old.
#[derive(Debug, Clone, Default)]
pub struct SkuPatch {
    pub name: Option<String>,
    pub tracked: Option<bool>,
    pub barcodes: Option<Vec<String>>,
    pub option_tags: Option<Vec<String>>,
}

/// Filters of the SKU list; all given ones must match.
#[derive(Debug, Clone, Default)]
pub struct SkuFilter {
    /// Case-insensitive substring of the code or the name.
    pub q: Option<String>,
    pub tracked: Option<bool>,
    pub product_id: Option<ProductId>,
    pub barcode: Option<String>,
    /// Exact option tag.
    pub tag: Option<String>,
}

/// `text` as a LIKE pattern that matches only itself: `%`, `_` and the
/// escape character `\` are escaped (with `ESCAPE '\'` in the SQL).
pub(crate) fn like_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

const SKU_COLUMNS: &str =
    "id, product_id, code, name, tracked, status, option_tags, bundle, created_at, updated_at";

fn sku_from_row(row: &AnyRow) -> StoreResult<Sku> {
    Ok(Sku {
        id: parsed(row, "id")?,
        product_id: opt_parsed(row, "product_id")?,
        code: text(row, "code")?,
        name: text(row, "name")?,
        tracked: flag(row, "tracked")?,
        status: text(row, "status")?,
        option_tags: split_list(&text(row, "option_tags")?),
        barcodes: Vec::new(),
        bundle: flag(row, "bundle")?,
        created_at: int(row, "created_at")?,
        updated_at: int(row, "updated_at")?,
    })
}

fn product_from_row(row: &AnyRow) -> StoreResult<Product> {
    Ok(Product {
        id: parsed(row, "id")?,
        code: text(row, "code")?,
        name: text(row, "name")?,
        created_at: int(row, "created_at")?,
    })
}

impl Store {
    pub async fn create_product(
        &self,
        tenant: TenantId,
        code: &str,
        name: &str,
    ) -> StoreResult<Product> {
        let mut v = Validator::new();
        v.code("code", code, CODE_LEN_MAX);
        v.text("name", name, NAME_LEN_MAX);
        v.finish()?;
        let product = Product {
            id: ProductId::new(),
            code: code.to_string(),
            name: name.to_string(),
            created_at: now_us(),
        };
        let mut tx = self.begin_write().await?;
        sqlx::query("INSERT INTO products (id, tenant_id, code, name, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(product.id.to_string())
            .bind(tenant.to_string())
            .bind(code)
            .bind(name)
            .bind(product.created_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::from_unique(e, "product code", code))?;
        let event = NewEvent::new(
            tenant,
            kinds::PRODUCT_CREATED,
            json!({"id": product.id.to_string(), "code": product.code, "name": product.name}),
        )
        .subject(product.id);
        self.commit_with(tx, &[event]).await?;
        Ok(product)
    }

    pub async fn get_product(&self, tenant: TenantId, id: ProductId) -> StoreResult<Product> {
        let row = sqlx::query(
            "SELECT id, code, name, created_at FROM products WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_optional(self.reader())
        .await?
        .ok_or_else(|| StoreError::not_found("product", id))?;
        product_from_row(&row)
    }

    pub async fn list_products(
        &self,
        tenant: TenantId,
        page: &PageRequest,
    ) -> StoreResult<Page<Product>> {
        let rows = sqlx::query("SELECT id, code, name, created_at FROM products WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3")
            .bind(tenant.to_string())
            .bind(page.cursor())
            .bind((page.size() + 1) as i64)
            .fetch_all(self.reader())
            .await?;
        let items = rows
            .iter()
            .map(product_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_rows(items, page.size(), |p| p.id.to_string()))
    }

    /// Creates a SKU with its barcodes. The SKU code and every barcode must
    /// be unused in the tenant.
    pub async fn create_sku(&self, tenant: TenantId, new: &NewSku) -> StoreResult<Sku> {
        new.validate()?;
        let mut tx = self.begin_write().await?;
        let sku = insert_sku(&mut tx, tenant, new).await?;
        self.commit_with(tx, &[sku_event(tenant, kinds::SKU_CREATED, &sku)])
            .await?;
        Ok(sku)
    }

    /// Creates many SKUs in one transaction: all or none.
    pub async fn create_skus(&self, tenant: TenantId, new: &[NewSku]) -> StoreResult<Vec<Sku>> {
        let mut tx = self.begin_write().await?;
        let out = insert_skus(&mut tx, tenant, new).await?;
        let events: Vec<NewEvent> = out
            .iter()
            .map(|sku| sku_event(tenant, kinds::SKU_CREATED, sku))
            .collect();
        self.commit_with(tx, &events).await?;
        Ok(out)
    }

    pub async fn get_sku(&self, tenant: TenantId, id: SkuId) -> StoreResult<Sku> {
        let sql = format!("SELECT {SKU_COLUMNS} FROM skus WHERE tenant_id = $1 AND id = $2");
        let row = sqlx::query(&sql)
            .bind(tenant.to_string())
            .bind(id.to_string())
            .fetch_optional(self.reader())
            .await?
            .ok_or_else(|| StoreError::not_found("sku", id))?;
        let mut sku = sku_from_row(&row)?;
        self.attach_barcodes(tenant, std::slice::from_mut(&mut sku))
            .await?;
        Ok(sku)
    }

    /// Finds a SKU by id or by code (what integrators and spreadsheets use).
    pub async fn find_sku(&self, tenant: TenantId, id_or_code: &str) -> StoreResult<Sku> {
        let sql = format!(
            "SELECT {SKU_COLUMNS} FROM skus WHERE tenant_id = $1 AND (id = $2 OR code = $2)"
        );
        let row = sqlx::query(&sql)
            .bind(tenant.to_string())
            .bind(id_or_code)
            .fetch_optional(self.reader())
            .await?
            .ok_or_else(|| StoreError::not_found("sku", id_or_code))?;
        let mut sku = sku_from_row(&row)?;
        self.attach_barcodes(tenant, std::slice::from_mut(&mut sku))
            .await?;
        Ok(sku)
    }

    /// The id of the SKU with this id or code: one indexed read.
    pub async fn sku_id(&self, tenant: TenantId, id_or_code: &str) -> StoreResult<SkuId> {
        let row =
            sqlx::query("SELECT id FROM skus WHERE tenant_id = $1 AND (id = $2 OR code = $2)")
                .bind(tenant.to_string())
                .bind(id_or_code)
                .fetch_optional(self.reader())
                .await?
                .ok_or_else(|| StoreError::not_found("sku", id_or_code))?;
        parsed(&row, "id")
    }

    pub async fn list_skus(
        &self,
        tenant: TenantId,
        filter: &SkuFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Sku>> {
        let mut sql = format!("SELECT {SKU_COLUMNS} FROM skus WHERE tenant_id = $1 AND id > $2");
        let mut args: Vec<Arg> = vec![
            Arg::Text(tenant.to_string()),
            Arg::Text(page.cursor().to_string()),
        ];
        if let Some(q) = &filter.q {
            args.push(Arg::Text(format!("%{}%", like_literal(&q.to_lowercase()))));
            let n = args.len();
            sql.push_str(&format!(
                " AND (LOWER(code) LIKE ${n} ESCAPE '\\' OR LOWER(name) LIKE ${n} ESCAPE '\\')"
            ));
        }
        if let Some(tracked) = filter.tracked {
            args.push(Arg::Int(i64::from(tracked)));
            sql.push_str(&format!(" AND tracked = ${}", args.len()));
        }
        if let Some(product) = filter.product_id {
            args.push(Arg::Text(product.to_string()));
            sql.push_str(&format!(" AND product_id = ${}", args.len()));
        }
        if let Some(barcode) = &filter.barcode {
            args.push(Arg::Text(barcode.clone()));
            sql.push_str(&format!(" AND id IN (SELECT sku_id FROM sku_barcodes WHERE tenant_id = $1 AND barcode = ${})", args.len()));
        }
        if let Some(tag) = &filter.tag {
            // Tags are stored joined by a separator; match a whole tag.
            args.push(Arg::Text(format!(
                "%{sep}{tag}{sep}%",
                tag = like_literal(tag),
                sep = crate::rows::LIST_SEPARATOR
            )));
            let sep = crate::rows::LIST_SEPARATOR;
            sql.push_str(&format!(
                " AND ('{sep}' || option_tags || '{sep}') LIKE ${} ESCAPE '\\'",
                args.len()
            ));
        }
        args.push(Arg::Int((page.size() + 1) as i64));
        sql.push_str(&format!(" ORDER BY id LIMIT ${}", args.len()));
        let mut query = sqlx::query(&sql);
        for arg in args {
            query = arg.bind(query);
        }
        let rows = query.fetch_all(self.reader()).await?;
        let mut items = rows
            .iter()
            .map(sku_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        self.attach_barcodes(tenant, &mut items).await?;
        Ok(Page::from_rows(items, page.size(), |s| s.id.to_string()))
    }

    /// Every SKU of the tenant, in id order (for CSV export).
    pub async fn all_skus(&self, tenant: TenantId) -> StoreResult<Vec<Sku>> {
        let mut out = Vec::new();
        let mut page = PageRequest {
            after: None,
            limit: Some(jaego_core::limits::PAGE_SIZE_MAX),
        };
        loop {
            let got = self.list_skus(tenant, &SkuFilter::default(), &page).await?;
            out.extend(got.items);
            match got.next {
                Some(next) => page.after = Some(next),
                None => return Ok(out),
            }
        }
    }

    pub async fn update_sku(
        &self,
        tenant: TenantId,
        id: SkuId,
        patch: &SkuPatch,
    ) -> StoreResult<Sku> {
        let current = self.get_sku(tenant, id).await?;
        let merged = NewSku {
            code: current.code.clone(),
            name: patch.name.clone().unwrap_or(current.name.clone()),
            product_id: current.product_id,
            tracked: patch.tracked.unwrap_or(current.tracked),
            barcodes: patch.barcodes.clone().unwrap_or(current.barcodes.clone()),
            option_tags: patch
                .option_tags
                .clone()
                .unwrap_or(current.option_tags.clone()),
        };
        merged.validate()?;
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE skus SET name = $1, tracked = $2, option_tags = $3, updated_at = $4 WHERE tenant_id = $5 AND id = $6")
            .bind(&merged.name)
            .bind(i64::from(merged.tracked))
            .bind(join_list(&merged.option_tags))
            .bind(now_us())
            .bind(tenant.to_string())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        if patch.barcodes.is_some() {
            sqlx::query("DELETE FROM sku_barcodes WHERE tenant_id = $1 AND sku_id = $2")
                .bind(tenant.to_string())
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
            // The first barcode, in order, that another SKU has.
            let taken = taken_barcodes_on(&mut tx, tenant, &merged.barcodes).await?;
            if let Some(b) = merged.barcodes.iter().find(|b| taken.contains_key(*b)) {
                return Err(StoreError::Duplicate {
                    what: "barcode",
                    value: b.clone(),
                });
            }
            let pairs = merged.barcodes.iter().map(|b| (id, b.clone())).collect();
            insert_barcodes(&mut tx, tenant, pairs)
                .await
                .map_err(|e| match e {
                    // Checked above: another writer took one meanwhile.
                    StoreError::Database(e) => {
                        StoreError::from_unique(e, "barcode", &merged.barcodes.join(", "))
                    }
                    other => other,
                })?;
        }
        let updated = Sku {
            name: merged.name,
            tracked: merged.tracked,
            barcodes: merged.barcodes,
            option_tags: merged.option_tags,
            ..current
        };
        self.commit_with(tx, &[sku_event(tenant, kinds::SKU_UPDATED, &updated)])
            .await?;
        self.get_sku(tenant, id).await
    }

    async fn attach_barcodes(&self, tenant: TenantId, skus: &mut [Sku]) -> StoreResult<()> {
        if skus.is_empty() {
            return Ok(());
        }
        let placeholders: Vec<String> = (0..skus.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "SELECT sku_id, barcode FROM sku_barcodes WHERE tenant_id = $1 AND sku_id IN ({}) ORDER BY barcode",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(&sql).bind(tenant.to_string());
        for sku in skus.iter() {
            query = query.bind(sku.id.to_string());
        }
        for row in query.fetch_all(self.reader()).await? {
            let sku_id: SkuId = parsed(&row, "sku_id")?;
            if let Some(sku) = skus.iter_mut().find(|s| s.id == sku_id) {
                sku.barcodes.push(text(&row, "barcode")?);
            }
        }
        Ok(())
    }
}

/// The event of a SKU created or changed, with its catalog fields.
pub(crate) fn sku_event(tenant: TenantId, kind: &'static str, sku: &Sku) -> NewEvent {
    NewEvent::new(
        tenant,
        kind,
        json!({
            "id": sku.id.to_string(),
            "code": sku.code,
            "name": sku.name,
            "product_id": sku.product_id.map(|p| p.to_string()),
            "tracked": sku.tracked,
            "status": sku.status,
            "barcodes": sku.barcodes,
            "option_tags": sku.option_tags,
        }),
    )
    .sku(sku.id)
    .subject(sku.id)
}

/// The SKU a scanned code names, with its code: one of its barcodes, else
/// its SKU code (a barcode wins when both match). The scan station and the
/// pickup counter read scans with it.
pub(crate) async fn sku_for_barcode(
    conn: &mut sqlx::AnyConnection,
    tenant: TenantId,
    barcode: &str,
) -> StoreResult<Option<(SkuId, String)>> {
    let by_barcode = sqlx::query(
        "SELECT b.sku_id, s.code FROM sku_barcodes b JOIN skus s ON s.id = b.sku_id \
         WHERE b.tenant_id = $1 AND b.barcode = $2",
    )
    .bind(tenant.to_string())
    .bind(barcode)
    .fetch_optional(&mut *conn)
    .await?;
    let row = match by_barcode {
        Some(row) => Some(row),
        None => {
            sqlx::query("SELECT id AS sku_id, code FROM skus WHERE tenant_id = $1 AND code = $2")
                .bind(tenant.to_string())
                .bind(barcode)
                .fetch_optional(&mut *conn)
                .await?
        }
    };
    row.map(|r| Ok((parsed(&r, "sku_id")?, text(&r, "code")?)))
        .transpose()
}

/// Inserts one SKU with its barcodes (see [`insert_skus`]).
pub(crate) async fn insert_sku(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    new: &NewSku,
) -> StoreResult<Sku> {
    let mut skus = insert_skus(tx, tenant, std::slice::from_ref(new)).await?;
    Ok(skus.remove(0))
}

/// Inserts `news` with their barcodes in a few statements, whatever their
/// number. Refused as inserting them one by one in order would be: at the
/// first SKU that is invalid, whose product is unknown, or whose code or
/// one of whose barcodes is taken in the tenant or by an earlier SKU of
/// `news`. The look-ups are `csv_support`'s, on the transaction.
pub(crate) async fn insert_skus(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    news: &[NewSku],
) -> StoreResult<Vec<Sku>> {
    let products: Vec<ProductId> = news.iter().filter_map(|n| n.product_id).collect();
    let codes: Vec<String> = news.iter().map(|n| n.code.clone()).collect();
    let barcodes: Vec<String> = news.iter().flat_map(|n| n.barcodes.clone()).collect();
    let products_found = existing_products_on(tx, tenant, &products).await?;
    let mut codes_taken: HashSet<String> = sku_ids_by_code_on(tx, tenant, &codes)
        .await?
        .into_keys()
        .collect();
    let mut barcodes_taken: HashSet<String> = taken_barcodes_on(tx, tenant, &barcodes)
        .await?
        .into_keys()
        .collect();
    for new in news {
        new.validate()?;
        if let Some(product) = new.product_id
            && !products_found.contains(&product)
        {
            return Err(StoreError::not_found("product", product));
        }
        if !codes_taken.insert(new.code.clone()) {
            return Err(StoreError::Duplicate {
                what: "sku code",
                value: new.code.clone(),
            });
        }
        if let Some(taken) = new
            .barcodes
            .iter()
            .find(|b| !barcodes_taken.insert((*b).clone()))
        {
            return Err(StoreError::Duplicate {
                what: "barcode",
                value: taken.clone(),
            });
        }
    }
    write_new_skus(tx, tenant, news).await
}

/// Writes `news`, which the caller has checked (codes and barcodes free,
/// products known), with one insert for the SKUs and one for their
/// barcodes. A unique violation all the same is a concurrent insert on
/// PostgreSQL, answered as a duplicate.
pub(crate) async fn write_new_skus(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    news: &[NewSku],
) -> StoreResult<Vec<Sku>> {
    let now = now_us();
    let skus: Vec<Sku> = news
        .iter()
        .map(|new| Sku {
            id: SkuId::new(),
            product_id: new.product_id,
            code: new.code.clone(),
            name: new.name.clone(),
            tracked: new.tracked,
            status: "active".to_string(),
            option_tags: new.option_tags.clone(),
            barcodes: new.barcodes.clone(),
            bundle: false,
            created_at: now,
            updated_at: now,
        })
        .collect();
    let rows: Vec<Vec<Val>> = skus
        .iter()
        .map(|sku| {
            vec![
                Val::T(sku.id.to_string()),
                Val::T(tenant.to_string()),
                Val::OT(sku.product_id.map(|p| p.to_string())),
                Val::T(sku.code.clone()),
                Val::T(sku.name.clone()),
                Val::I(i64::from(sku.tracked)),
                Val::T(join_list(&sku.option_tags)),
                Val::I(now),
                Val::I(now),
            ]
        })
        .collect();
    let unique = |e: StoreError| match e {
        StoreError::Database(e) => {
            StoreError::from_unique(e, "sku code or barcode", "in this batch")
        }
        other => other,
    };
    insert_many(
        tx,
        "skus (id, tenant_id, product_id, code, name, tracked, option_tags, created_at, updated_at)",
        9,
        rows,
        "",
    )
    .await
    .map_err(unique)?;
    let pairs = skus
        .iter()
        .flat_map(|sku| sku.barcodes.iter().map(|b| (sku.id, b.clone())))
        .collect();
    insert_barcodes(tx, tenant, pairs).await.map_err(unique)?;
    Ok(skus)
}

/// Each SKU's barcodes of `pairs`, in one insert.
async fn insert_barcodes(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    pairs: Vec<(SkuId, String)>,
) -> StoreResult<()> {
    let rows: Vec<Vec<Val>> = pairs
        .into_iter()
        .map(|(sku, barcode)| {
            vec![
                Val::T(tenant.to_string()),
                Val::T(barcode),
                Val::T(sku.to_string()),
            ]
        })
        .collect();
    insert_many(tx, "sku_barcodes (tenant_id, barcode, sku_id)", 3, rows, "").await
}
