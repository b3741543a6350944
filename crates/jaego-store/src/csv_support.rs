//! Set-based look-ups for CSV imports: which of many SKU codes, barcodes and
//! products already exist in a tenant.
//!
//! An import validates every row before it changes anything, and a file may
//! hold `CSV_ROWS_MAX` rows; asking one row at a time would be tens of
//! thousands of round trips. These ask in chunks instead, a few queries per
//! file. The `Store` methods read the reader pool (they decide nothing: the
//! unique constraints stay the judge when the rows are finally written);
//! the `…_on` functions ask on a given connection, so that a write
//! transaction can judge on what it has locked (`catalog::insert_skus`,
//! the channel catalog's apply).
//!
//! Each query walks a `VALUES` list of the wanted keys and looks every key
//! up in a correlated subquery on a unique index. That shape leaves the
//! planner no bad choice. The obvious ones each had one, on a fresh
//! 50,000-SKU catalog without statistics: PostgreSQL ran `code IN ($2, …)`
//! and `code IN (SELECT … FROM (VALUES …))` as filters comparing every row
//! of the tenant with every value (0.8 s and 4 s per chunk of 1,000), and
//! SQLite ran a join against the `VALUES` by scanning the table.

use std::collections::{HashMap, HashSet};

use jaego_core::{ProductId, SkuId, TenantId};

use sqlx::AnyConnection;
use sqlx::any::AnyRow;

use crate::Store;
use crate::error::StoreResult;
use crate::rows::{int, opt_parsed, opt_text, parsed, text};

/// Keys looked up per query, bound besides the tenant; well under the bind
/// limits of both engines (SQLite 32,766, PostgreSQL 65,535).
const LOOKUP_CHUNK_MAX: usize = 1_000;

/// `($2), ($3), …`: a one-column `VALUES` list of `n` placeholders after
/// the tenant's `$1`. Its column is `column1` on both engines.
fn values_list(n: usize) -> String {
    (0..n)
        .map(|i| format!("(${})", i + 2))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Store {
    /// The ids of those SKUs whose code is among `codes`, by code. Codes
    /// that no SKU of the tenant has are simply absent from the map.
    pub async fn sku_ids_by_code(
        &self,
        tenant: TenantId,
        codes: &[String],
    ) -> StoreResult<HashMap<String, SkuId>> {
        sku_ids_by_code_on(&mut *self.reader().acquire().await?, tenant, codes).await
    }

    /// Those of `barcodes` that a SKU of the tenant already has, each with
    /// that SKU's code.
    pub async fn taken_barcodes(
        &self,
        tenant: TenantId,
        barcodes: &[String],
    ) -> StoreResult<HashMap<String, String>> {
        taken_barcodes_on(&mut *self.reader().acquire().await?, tenant, barcodes).await
    }

    /// Those of `products` that exist in the tenant.
    pub async fn existing_products(
        &self,
        tenant: TenantId,
        products: &[ProductId],
    ) -> StoreResult<HashSet<ProductId>> {
        existing_products_on(&mut *self.reader().acquire().await?, tenant, products).await
    }
}

/// Runs `select` (a `SELECT … FROM (VALUES …) AS v`, the list given as
/// `{values}`, the tenant as `$1`) once per chunk of `keys`: one row per key.
async fn rows_per_key(
    conn: &mut AnyConnection,
    tenant: TenantId,
    keys: &[String],
    select: &str,
) -> StoreResult<Vec<AnyRow>> {
    let mut rows = Vec::new();
    for chunk in keys.chunks(LOOKUP_CHUNK_MAX) {
        let sql = select.replace("{values}", &values_list(chunk.len()));
        let mut query = sqlx::query(&sql).bind(tenant.to_string());
        for key in chunk {
            query = query.bind(key.as_str());
        }
        rows.extend(query.fetch_all(&mut *conn).await?);
    }
    Ok(rows)
}

/// [`Store::sku_ids_by_code`] on `conn`.
pub(crate) async fn sku_ids_by_code_on(
    conn: &mut AnyConnection,
    tenant: TenantId,
    codes: &[String],
) -> StoreResult<HashMap<String, SkuId>> {
    let rows = rows_per_key(
        conn,
        tenant,
        codes,
        "SELECT v.column1 AS code, \
         (SELECT s.id FROM skus s WHERE s.tenant_id = $1 AND s.code = v.column1) AS id \
         FROM (VALUES {values}) AS v",
    )
    .await?;
    let mut out = HashMap::new();
    for row in rows {
        if let Some(id) = opt_parsed(&row, "id")? {
            out.insert(text(&row, "code")?, id);
        }
    }
    Ok(out)
}

/// [`Store::taken_barcodes`] on `conn`.
pub(crate) async fn taken_barcodes_on(
    conn: &mut AnyConnection,
    tenant: TenantId,
    barcodes: &[String],
) -> StoreResult<HashMap<String, String>> {
    let rows = rows_per_key(
        conn,
        tenant,
        barcodes,
        "SELECT v.column1 AS barcode, \
         (SELECT s.code FROM sku_barcodes b JOIN skus s ON s.id = b.sku_id \
          WHERE b.tenant_id = $1 AND b.barcode = v.column1) AS code \
         FROM (VALUES {values}) AS v",
    )
    .await?;
    let mut out = HashMap::new();
    for row in rows {
        if let Some(code) = opt_text(&row, "code")? {
            out.insert(text(&row, "barcode")?, code);
        }
    }
    Ok(out)
}

/// [`Store::existing_products`] on `conn`.
pub(crate) async fn existing_products_on(
    conn: &mut AnyConnection,
    tenant: TenantId,
    products: &[ProductId],
) -> StoreResult<HashSet<ProductId>> {
    let ids: Vec<String> = products.iter().map(ToString::to_string).collect();
    let rows = rows_per_key(
        conn,
        tenant,
        &ids,
        "SELECT v.column1 AS id, \
         (SELECT COUNT(*) FROM products p WHERE p.tenant_id = $1 AND p.id = v.column1) AS found \
         FROM (VALUES {values}) AS v",
    )
    .await?;
    let mut out = HashSet::new();
    for row in rows {
        if int(&row, "found")? > 0 {
            out.insert(parsed(&row, "id")?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn values_follow_the_tenant() {
        assert_eq!(super::values_list(3), "($2), ($3), ($4)");
    }
}
