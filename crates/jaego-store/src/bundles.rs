//! Bundles (combination SKUs): creating them, editing their recipes, and
//! their figures, computed from their components' balances with
//! `jaego_core::bundle`.
//!
//! A bundle is a row of `skus` with `bundle = 1`, its current recipe in
//! `bundle_components` and its version in `bundle_recipes`. It never has a
//! balance row: movements, transfers, counts and receipts refuse it
//! (`ledger::ensure_stock_sku`), and a reservation line for it becomes its
//! component lines (`Store::prepare_reservation`). Editing a recipe
//! replaces the component rows and bumps the version; reservation lines
//! already made keep the component quantities they were made with.

use std::collections::HashMap;

use jaego_core::bundle::{self, Recipe};
use jaego_core::{Balance, InvalidInput, LocationId, SkuId, TenantId};
use serde_json::json;
use sqlx::{Any, Transaction};

use crate::catalog::{NewSku, Sku, insert_sku, sku_event};
use crate::error::{StoreError, StoreResult};
use crate::events::{NewEvent, kinds};
use crate::ledger::figures;
use crate::orders::{TENANT_NO_INDEX, Val, insert_many, rows_in};
use crate::rows::{int, parsed, text};
use crate::{Store, now_us};

/// One component of a bundle as read back.
#[derive(Debug, Clone)]
pub struct Component {
    pub sku_id: SkuId,
    pub code: String,
    pub name: String,
    /// Units of the component in one bundle unit.
    pub quantity: i64,
}

/// A bundle: its SKU, recipe version and components.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub sku: Sku,
    pub version: i64,
    pub components: Vec<Component>,
}

/// A bundle's figures at one location: the bundle rule over its
/// components' balances there.
#[derive(Debug, Clone)]
pub struct BundleStock {
    pub location_id: LocationId,
    pub location_code: String,
    /// `on_hand` and `available()` by the bundle rule.
    pub balance: Balance,
    /// (component, its available figure there).
    pub components: Vec<(SkuId, i64)>,
}

impl Store {
    /// The id of a SKU by id or code, and whether it is a bundle;
    /// remembered for good after the first read (neither ever changes).
    pub(crate) async fn sku_ref(&self, tenant: TenantId, key: &str) -> StoreResult<(SkuId, bool)> {
        let lookups = &self.inner.lookups;
        if let Some(found) = lookups.skus.get(tenant, key) {
            return Ok(found);
        }
        let row = sqlx::query(
            "SELECT id, bundle FROM skus WHERE tenant_id = $1 AND (id = $2 OR code = $2)",
        )
        .bind(tenant.to_string())
        .bind(key)
        .fetch_optional(self.reader())
        .await?
        .ok_or_else(|| StoreError::not_found("sku", key))?;
        let found = (parsed(&row, "id")?, int(&row, "bundle")? != 0);
        lookups.skus.remember(tenant, key, found);
        Ok(found)
    }

    /// A bundle's current recipe, read now (recipes change, so they are
    /// never remembered).
    pub(crate) async fn recipe(
        &self,
        tenant: TenantId,
        bundle: SkuId,
    ) -> StoreResult<Recipe<SkuId>> {
        self.recipes(tenant, &[bundle])
            .await?
            .remove(&bundle)
            .ok_or_else(|| StoreError::Corrupt(format!("bundle {bundle} has no recipe")))
    }

    /// The current recipes of the bundles among `bundles`, in one look-up
    /// per 1,000.
    pub(crate) async fn recipes(
        &self,
        tenant: TenantId,
        bundles: &[SkuId],
    ) -> StoreResult<HashMap<SkuId, Recipe<SkuId>>> {
        let mut conn = self.reader().acquire().await?;
        crate::stock_rules::figures::recipes(&mut conn, tenant, bundles).await
    }

    /// Creates a bundle SKU with its recipe, in one transaction.
    /// `components` are (SKU id or code, quantity per bundle unit).
    pub async fn create_bundle(
        &self,
        tenant: TenantId,
        new: &NewSku,
        components: &[(String, i64)],
    ) -> StoreResult<Bundle> {
        new.validate()?;
        let mut tx = self.begin_write().await?;
        let sku = insert_sku(&mut tx, tenant, new).await?;
        sqlx::query("UPDATE skus SET bundle = 1 WHERE id = $1")
            .bind(sku.id.to_string())
            .execute(&mut *tx)
            .await?;
        let components = write_recipe(&mut tx, tenant, sku.id, components, 1).await?;
        let event = sku_event(tenant, kinds::SKU_CREATED, &sku);
        self.commit_with(tx, &[event]).await?;
        // The recipe is the one just written. The SKU is read back, as
        // every read gives it (its barcodes in the database's order, the
        // bundle flag set above).
        Ok(Bundle {
            sku: self.get_sku(tenant, sku.id).await?,
            version: 1,
            components,
        })
    }

    /// Replaces a bundle's recipe and bumps its version. Open reservations
    /// keep the component quantities they were made with.
    pub async fn set_bundle_components(
        &self,
        tenant: TenantId,
        key: &str,
        components: &[(String, i64)],
    ) -> StoreResult<Bundle> {
        let (id, is_bundle) = self.sku_ref(tenant, key).await?;
        if !is_bundle {
            return Err(not_a_bundle(key));
        }
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "UPDATE bundle_recipes SET version = version + 1, updated_at = $1 \
             WHERE tenant_id = $2 AND bundle_sku_id = $3 RETURNING version",
        )
        .bind(now_us())
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("bundle {id} has no recipe row")))?;
        let version = int(&row, "version")?;
        sqlx::query("DELETE FROM bundle_components WHERE tenant_id = $1 AND bundle_sku_id = $2")
            .bind(tenant.to_string())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        let components = write_recipe(&mut tx, tenant, id, components, version).await?;
        // `sku.updated` makes the stock-rules follower recompute the
        // bundle's channel figures.
        let sku = self.get_sku(tenant, id).await?;
        let event = NewEvent::new(
            tenant,
            kinds::SKU_UPDATED,
            json!({
                "id": id.to_string(),
                "code": sku.code,
                "name": sku.name,
                "bundle_version": version,
            }),
        )
        .sku(id)
        .subject(id);
        self.commit_with(tx, &[event]).await?;
        // What a read would give: the SKU read above (this transaction
        // does not change it), the version and the recipe just written.
        Ok(Bundle {
            sku,
            version,
            components,
        })
    }

    /// A bundle with its recipe.
    pub async fn get_bundle(&self, tenant: TenantId, key: &str) -> StoreResult<Bundle> {
        let (id, is_bundle) = self.sku_ref(tenant, key).await?;
        if !is_bundle {
            return Err(not_a_bundle(key));
        }
        let sku = self.get_sku(tenant, id).await?;
        let version = sqlx::query(
            "SELECT version FROM bundle_recipes WHERE tenant_id = $1 AND bundle_sku_id = $2",
        )
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_optional(self.reader())
        .await?
        .map_or(Ok(0), |r| int(&r, "version"))?;
        let rows = sqlx::query(
            "SELECT c.component_sku_id, c.quantity, s.code, s.name FROM bundle_components c \
             JOIN skus s ON s.id = c.component_sku_id \
             WHERE c.tenant_id = $1 AND c.bundle_sku_id = $2 ORDER BY c.position",
        )
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_all(self.reader())
        .await?;
        let components = rows
            .iter()
            .map(|r| {
                Ok(Component {
                    sku_id: parsed(r, "component_sku_id")?,
                    code: text(r, "code")?,
                    name: text(r, "name")?,
                    quantity: int(r, "quantity")?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Bundle {
            sku,
            version,
            components,
        })
    }

    /// A bundle's figures at every location where one of its components
    /// has a balance row (one read of the components' balances).
    pub async fn bundle_stock(&self, tenant: TenantId, key: &str) -> StoreResult<Vec<BundleStock>> {
        let (id, is_bundle) = self.sku_ref(tenant, key).await?;
        if !is_bundle {
            return Err(not_a_bundle(key));
        }
        let recipe = self.recipe(tenant, id).await?;
        let rows = sqlx::query(
            "SELECT b.sku_id, b.location_id, l.code AS location_code, b.on_hand, b.reserved, b.allocated, \
               b.incoming, b.in_transit, b.safety_stock \
             FROM balances b JOIN bundle_components c ON c.component_sku_id = b.sku_id \
             JOIN locations l ON l.id = b.location_id \
             WHERE c.tenant_id = $1 AND c.bundle_sku_id = $2 ORDER BY l.code",
        )
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_all(self.reader())
        .await?;
        let mut at: HashMap<LocationId, (String, HashMap<SkuId, Balance>)> = HashMap::new();
        let mut order = Vec::new();
        for r in &rows {
            let location: LocationId = parsed(r, "location_id")?;
            let entry = at.entry(location).or_insert_with(|| {
                order.push(location);
                (String::new(), HashMap::new())
            });
            entry.0 = text(r, "location_code")?;
            entry.1.insert(parsed(r, "sku_id")?, figures(r)?);
        }
        Ok(order
            .into_iter()
            .map(|location| {
                let (code, balances) = &at[&location];
                let of = |s: SkuId| balances.get(&s).copied().unwrap_or_default();
                BundleStock {
                    location_id: location,
                    location_code: code.clone(),
                    balance: bundle::balance(&recipe, of),
                    components: recipe
                        .components()
                        .iter()
                        .map(|&(s, _)| (s, of(s).available()))
                        .collect(),
                }
            })
            .collect())
    }
}

fn not_a_bundle(key: &str) -> StoreError {
    StoreError::refused(
        "not_a_bundle",
        format!("SKU {key} is not a bundle; bundles are created as bundles"),
    )
}

/// A component's SKU as [`write_recipe`] looks it up.
#[derive(Clone)]
struct ComponentSku {
    id: SkuId,
    code: String,
    name: String,
    bundle: bool,
}

/// The SKUs of the tenant that `keys` name, by id or by code, by key (a
/// key that is one SKU's id and another's code names the SKU of that id);
/// keys of no SKU are left out. An id look-up of the keys shaped like ids
/// and a code look-up of all of them (one `OR` of two `IN` lists makes
/// SQLite read every SKU of the tenant).
async fn skus_by_key<'k>(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    keys: &[&'k str],
) -> StoreResult<HashMap<&'k str, ComponentSku>> {
    let ids: Vec<&str> = keys
        .iter()
        .copied()
        .filter(|k| k.parse::<SkuId>().is_ok())
        .collect();
    let mut rows = rows_in(tx, tenant, &ids, |t, list| {
        format!(
            "SELECT id, code, name, bundle FROM skus WHERE {TENANT_NO_INDEX} = {t} AND id IN {list}"
        )
    })
    .await?;
    rows.extend(
        rows_in(tx, tenant, keys, |t, list| {
            format!(
                "SELECT id, code, name, bundle FROM skus WHERE tenant_id = {t} AND code IN {list}"
            )
        })
        .await?,
    );
    let mut by_id = HashMap::new();
    let mut by_code = HashMap::new();
    for row in rows {
        let sku = ComponentSku {
            id: parsed(&row, "id")?,
            code: text(&row, "code")?,
            name: text(&row, "name")?,
            bundle: int(&row, "bundle")? != 0,
        };
        by_code.insert(sku.code.clone(), sku.clone());
        by_id.insert(text(&row, "id")?, sku);
    }
    let mut out = HashMap::with_capacity(keys.len());
    for &key in keys {
        if let Some(sku) = by_id.remove(key).or_else(|| by_code.remove(key)) {
            out.insert(key, sku);
        }
    }
    Ok(out)
}

/// Checks `components` and writes them as `bundle`'s recipe at `version`;
/// returns them as read back (in recipe order, with their codes and
/// names).
async fn write_recipe(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    bundle: SkuId,
    components: &[(String, i64)],
    version: i64,
) -> StoreResult<Vec<Component>> {
    let mut keys: Vec<&str> = components.iter().map(|(key, _)| key.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    let found = if keys.is_empty() {
        HashMap::new()
    } else {
        skus_by_key(tx, tenant, &keys).await?
    };
    let mut picked = Vec::with_capacity(components.len());
    for (i, (key, quantity)) in components.iter().enumerate() {
        let Some(sku) = found.get(key.as_str()) else {
            return Err(InvalidInput::one(
                format!("components[{i}].sku"),
                format!("no SKU {key:?}"),
            )
            .into());
        };
        if sku.bundle {
            return Err(InvalidInput::one(
                format!("components[{i}].sku"),
                format!("{key:?} is a bundle; a component must be a SKU that holds stock"),
            )
            .into());
        }
        picked.push(Component {
            sku_id: sku.id,
            code: sku.code.clone(),
            name: sku.name.clone(),
            quantity: *quantity,
        });
    }
    let recipe = Recipe::new(
        bundle,
        picked.iter().map(|c| (c.sku_id, c.quantity)).collect(),
    )?;
    let now = now_us();
    if version == 1 {
        sqlx::query(
            "INSERT INTO bundle_recipes (bundle_sku_id, tenant_id, version, updated_at) VALUES ($1, $2, 1, $3)",
        )
        .bind(bundle.to_string())
        .bind(tenant.to_string())
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    let rows: Vec<Vec<Val>> = recipe
        .components()
        .iter()
        .enumerate()
        .map(|(position, &(sku, quantity))| {
            vec![
                Val::T(bundle.to_string()),
                Val::T(sku.to_string()),
                Val::T(tenant.to_string()),
                Val::I(position as i64),
                Val::I(quantity),
            ]
        })
        .collect();
    insert_many(
        tx,
        "bundle_components (bundle_sku_id, component_sku_id, tenant_id, position, quantity)",
        5,
        rows,
        "",
    )
    .await?;
    Ok(picked)
}
