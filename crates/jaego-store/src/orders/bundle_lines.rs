//! Order lines of bundles: which lines are bundles, and the component
//! expansion each is allocated with (`order_line_components`, migration
//! 0014).
//!
//! A bundle line's own rows (`order_lines.allocated`, `order_allocations`)
//! count bundle units, exactly like a plain line's; only the ledger sees
//! components. Its expansion is stored when the line is first allocated
//! (the recipe and version of that moment) and every later move of the
//! line — more allocation, shipment, deallocation, cancellation, return —
//! uses the stored expansion, so a recipe edit never rewrites what an
//! order already holds.
//!
//! The cost for plain SKUs is one small query per call: the tenant's
//! bundle SKU ids (a partial index, `skus_bundles`); when no line names
//! one, nothing else is read.

use std::collections::{HashMap, HashSet};

use jaego_core::{OrderLineId, SkuId, TenantId};
use sqlx::{Any, AnyConnection, Transaction};

use super::{TENANT_NO_INDEX, Val, insert_many, rows_in};
use crate::error::{StoreError, StoreResult};
use crate::rows::{int, parsed};

/// The expansion of one bundle line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LineBundle {
    pub bundle: SkuId,
    /// (component, units per bundle unit), in recipe order.
    pub parts: Vec<(SkuId, i64)>,
    pub version: i64,
    /// Already stored for the line (false: read from the current recipe,
    /// to be stored with the line's first allocation).
    pub stored: bool,
}

/// Bundle lines by line id.
pub(crate) type LineBundles = HashMap<OrderLineId, LineBundle>;

/// The bundles among `skus`: one look-up per 1,000 distinct SKUs, so the
/// cost follows the lines at hand, not the size of the tenant's catalog.
async fn bundle_skus(
    conn: &mut AnyConnection,
    tenant: TenantId,
    skus: &[SkuId],
) -> StoreResult<HashSet<SkuId>> {
    rows_in(conn, tenant, skus, |t, list| {
        format!("SELECT id FROM skus WHERE {TENANT_NO_INDEX} = {t} AND id IN {list} AND bundle = 1")
    })
    .await?
    .iter()
    .map(|r| parsed(r, "id"))
    .collect()
}

/// The expansion of every bundle line among `lines` (line, its SKU):
/// stored ones, else the bundle's current recipe.
pub(crate) async fn line_bundles(
    conn: &mut AnyConnection,
    tenant: TenantId,
    lines: impl IntoIterator<Item = (OrderLineId, SkuId)>,
) -> StoreResult<LineBundles> {
    let mut out = LineBundles::new();
    let lines: Vec<(OrderLineId, SkuId)> = lines.into_iter().collect();
    let mut skus: Vec<SkuId> = lines.iter().map(|&(_, s)| s).collect();
    skus.sort_unstable();
    skus.dedup();
    let bundles = bundle_skus(conn, tenant, &skus).await?;
    if bundles.is_empty() {
        return Ok(out);
    }
    let mut wanted: Vec<(OrderLineId, SkuId)> = lines
        .into_iter()
        .filter(|(_, s)| bundles.contains(s))
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    if wanted.is_empty() {
        return Ok(out);
    }
    let lines: Vec<OrderLineId> = wanted.iter().map(|&(l, _)| l).collect();
    let stored = rows_in(conn, tenant, &lines, |t, list| {
        format!(
            "SELECT line_id, bundle_sku_id, component_sku_id, quantity, recipe_version FROM order_line_components \
             WHERE tenant_id = {t} AND line_id IN {list} ORDER BY line_id, position"
        )
    })
    .await?;
    for row in stored {
        let line: OrderLineId = parsed(&row, "line_id")?;
        let e = out.entry(line).or_insert(LineBundle {
            bundle: parsed(&row, "bundle_sku_id")?,
            parts: Vec::new(),
            version: int(&row, "recipe_version")?,
            stored: true,
        });
        e.parts
            .push((parsed(&row, "component_sku_id")?, int(&row, "quantity")?));
    }
    let missing: Vec<(OrderLineId, SkuId)> = wanted
        .iter()
        .copied()
        .filter(|(l, _)| !out.contains_key(l))
        .collect();
    if missing.is_empty() {
        return Ok(out);
    }
    let skus: Vec<SkuId> = missing
        .iter()
        .map(|&(_, s)| s)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let mut recipes: HashMap<SkuId, (i64, Vec<(SkuId, i64)>)> = HashMap::new();
    let current = rows_in(conn, tenant, &skus, |t, list| {
        format!(
            "SELECT c.bundle_sku_id, c.component_sku_id, c.quantity, r.version FROM bundle_components c \
             JOIN bundle_recipes r ON r.bundle_sku_id = c.bundle_sku_id \
             WHERE c.tenant_id = {t} AND c.bundle_sku_id IN {list} ORDER BY c.bundle_sku_id, c.position"
        )
    })
    .await?;
    for row in current {
        let e = recipes
            .entry(parsed(&row, "bundle_sku_id")?)
            .or_insert((int(&row, "version")?, Vec::new()));
        e.1.push((parsed(&row, "component_sku_id")?, int(&row, "quantity")?));
    }
    for (line, sku) in missing {
        let (version, parts) = recipes
            .get(&sku)
            .cloned()
            .ok_or_else(|| StoreError::Corrupt(format!("bundle {sku} has no recipe")))?;
        out.insert(
            line,
            LineBundle {
                bundle: sku,
                parts,
                version,
                stored: false,
            },
        );
    }
    Ok(out)
}

/// Stores the expansion of `lines` that is not stored yet (their first
/// allocation), in the caller's transaction.
pub(crate) async fn store_expansions(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    bundles: &LineBundles,
    lines: impl IntoIterator<Item = OrderLineId>,
) -> StoreResult<()> {
    let mut todo: Vec<OrderLineId> = lines
        .into_iter()
        .filter(|l| bundles.get(l).is_some_and(|b| !b.stored))
        .collect();
    if todo.is_empty() {
        return Ok(());
    }
    todo.sort_unstable();
    todo.dedup();
    let mut rows = Vec::new();
    for line in todo {
        let b = &bundles[&line];
        for (position, &(component, quantity)) in b.parts.iter().enumerate() {
            rows.push(vec![
                Val::T(line.to_string()),
                Val::T(component.to_string()),
                Val::T(tenant.to_string()),
                Val::T(b.bundle.to_string()),
                Val::I(position as i64),
                Val::I(quantity),
                Val::I(b.version),
            ]);
        }
    }
    insert_many(
        tx,
        "order_line_components (line_id, component_sku_id, tenant_id, bundle_sku_id, position, quantity, recipe_version)",
        7,
        rows,
        "ON CONFLICT (line_id, component_sku_id) DO NOTHING",
    )
    .await
}
