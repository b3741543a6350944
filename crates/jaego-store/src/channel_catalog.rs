//! Products from the channels (seed 002, 상품연동 / 상품정보 업데이트): a
//! channel's catalog, received by a signed webhook or a bulk upload, staged
//! per product, and applied to the inventory list at once (`auto`) or when
//! the merchant asks (`manual`, "update product information").
//!
//! Applying a staged product, in order:
//! 1. its item code is excluded → **skipped** (it never enters the list);
//! 2. it is linked already → the linked SKU's name follows the channel's
//!    (**changed**), or nothing to do (**skipped**, unchanged);
//! 3. a SKU has its seller code → a link is made (**linked**), never a
//!    duplicate;
//! 4. otherwise a SKU is created with that code, *untracked* until the
//!    merchant turns tracking on, and linked (**created**).
//!
//! Rows that cannot be read (no item code, a code a SKU cannot have, a name
//! too long, a row repeated in one call) are **bad**: reported with their
//! reason and never staged. Every receive and apply writes a report
//! (`catalog_sync_reports`) with the counts and every row's outcome. New
//! links match the order lines waiting for their item, as any link does.
//! One apply is one transaction.

use std::collections::{HashMap, HashSet};

use jaego_core::catalog::validate_sku;
use jaego_core::error::{InvalidInput, Validator};
use jaego_core::limits::{
    CATALOG_EXCLUSIONS_MAX, CATALOG_PRODUCTS_MAX, CODE_LEN_MAX, NAME_LEN_MAX,
};
use jaego_core::{ChannelId, SkuId, TenantId};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::{Any, Transaction};

use crate::catalog::{NewSku, sku_event, write_new_skus};
use crate::csv_support::{sku_ids_by_code_on, taken_barcodes_on};
use crate::error::{StoreError, StoreResult};
use crate::events::{NewEvent, kinds};
use crate::orders::{Val, insert_many, match_waiting, rows_in, update_many};
use crate::rows::{int, opt_int, opt_parsed, opt_text, parsed, text};
use crate::{Store, now_us};

/// How a channel's catalog reaches the inventory list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncMode {
    /// Received products are applied at once.
    Auto,
    /// Received products wait until the merchant applies them.
    #[default]
    Manual,
}

impl SyncMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SyncMode::Auto => "auto",
            SyncMode::Manual => "manual",
        }
    }
}

impl std::str::FromStr for SyncMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(SyncMode::Auto),
            "manual" => Ok(SyncMode::Manual),
            other => Err(format!(
                "unknown sync mode {other:?}; expected auto or manual"
            )),
        }
    }
}

/// How products came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Webhook,
    Upload,
    Apply,
}

impl Via {
    fn as_str(self) -> &'static str {
        match self {
            Via::Webhook => "webhook",
            Via::Upload => "upload",
            Via::Apply => "apply",
        }
    }
}

/// One product of a channel's catalog as received (fields unchecked).
#[derive(Debug, Clone, Default)]
pub struct CatalogInput {
    /// Where it came from, for the report: `products[3]` or `line 5`.
    pub row: String,
    pub item_code: String,
    pub item_option: String,
    /// The seller's code (품목코드); empty: the item code.
    pub sku_code: String,
    pub name: String,
    pub barcode: String,
}

/// One row's outcome in a report.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReportRow {
    pub row: String,
    pub item_code: String,
    pub item_option: String,
    /// `staged`, `created`, `linked`, `changed`, `skipped` or `bad`.
    pub outcome: String,
    pub sku_code: Option<String>,
    /// Why (bad, skipped) or what changed.
    pub detail: String,
}

/// What one sync did.
#[derive(Debug, Clone)]
pub struct SyncReport {
    pub id: String,
    pub channel_id: ChannelId,
    pub via: String,
    /// Whether the products were applied (else only staged).
    pub applied: bool,
    pub received: i64,
    pub created: i64,
    pub linked: i64,
    pub changed: i64,
    pub skipped: i64,
    pub bad: i64,
    pub rows: Vec<ReportRow>,
    pub actor: String,
    pub created_at: i64,
}

/// A staged or applied product.
#[derive(Debug, Clone)]
pub struct ChannelProduct {
    pub item_code: String,
    pub item_option: String,
    pub sku_code: String,
    pub name: String,
    pub barcode: String,
    pub state: String,
    pub received_at: i64,
}

/// An excluded item code.
#[derive(Debug, Clone)]
pub struct CatalogExclusion {
    pub item_code: String,
    pub note: String,
    pub created_at: i64,
}

/// A checked product.
struct Checked {
    row: String,
    item_code: String,
    item_option: String,
    sku_code: String,
    name: String,
    barcode: String,
}

/// The SKU a staged product links to: one that exists, or the `i`th this
/// apply creates.
#[derive(Debug, Clone, Copy)]
enum Target {
    Existing(SkuId),
    Created(usize),
}

/// Checks `inputs`: the good ones to stage, the bad ones as report rows.
fn check_rows(inputs: &[CatalogInput]) -> (Vec<Checked>, Vec<ReportRow>) {
    let mut good = Vec::new();
    let mut bad = Vec::new();
    let mut seen: HashMap<(String, String), String> = HashMap::new();
    for input in inputs {
        let item_code = input.item_code.trim().to_string();
        let item_option = input.item_option.trim().to_string();
        let sku_code = match input.sku_code.trim() {
            "" => item_code.clone(),
            code => code.to_string(),
        };
        let name = input.name.trim().to_string();
        let barcode = input.barcode.trim().to_string();
        let mut v = Validator::new();
        v.text("item_code", &item_code, CODE_LEN_MAX);
        v.optional_text("item_option", &item_option, NAME_LEN_MAX);
        let barcodes: Vec<String> = if barcode.is_empty() {
            Vec::new()
        } else {
            vec![barcode.clone()]
        };
        let mut reasons: Vec<String> = Vec::new();
        if let Err(e) = v.finish() {
            reasons.extend(
                e.violations
                    .iter()
                    .map(|v| format!("{}: {}", v.field, v.reason)),
            );
        }
        if let Err(e) = validate_sku(&sku_code, &name, &barcodes, &[]) {
            reasons.extend(e.violations.iter().map(|v| {
                let field = match v.field.as_str() {
                    "code" => "sku_code",
                    "barcodes[0]" => "barcode",
                    other => other,
                };
                format!("{field}: {}", v.reason)
            }));
        }
        let key = (item_code.clone(), item_option.clone());
        if reasons.is_empty()
            && let Some(first) = seen.get(&key)
        {
            reasons.push(format!("repeats the product of {first}"));
        }
        if reasons.is_empty() {
            seen.insert(key, input.row.clone());
            good.push(Checked {
                row: input.row.clone(),
                item_code,
                item_option,
                sku_code,
                name,
                barcode,
            });
        } else {
            bad.push(ReportRow {
                row: input.row.clone(),
                item_code,
                item_option,
                outcome: "bad".into(),
                sku_code: None,
                detail: reasons.join("; "),
            });
        }
    }
    (good, bad)
}

impl Store {
    /// The channel's sync mode (`manual` until set).
    pub async fn catalog_sync_mode(
        &self,
        tenant: TenantId,
        channel: ChannelId,
    ) -> StoreResult<SyncMode> {
        self.ensure_channel(tenant, channel).await?;
        let row = sqlx::query(
            "SELECT sync_mode FROM channel_catalog_settings WHERE tenant_id = $1 AND channel_id = $2",
        )
        .bind(tenant.to_string())
        .bind(channel.to_string())
        .fetch_optional(self.reader())
        .await?;
        match row {
            Some(r) => text(&r, "sync_mode")?.parse().map_err(StoreError::Corrupt),
            None => Ok(SyncMode::default()),
        }
    }

    pub async fn set_catalog_sync_mode(
        &self,
        tenant: TenantId,
        channel: ChannelId,
        mode: SyncMode,
    ) -> StoreResult<()> {
        self.ensure_channel(tenant, channel).await?;
        sqlx::query(
            "INSERT INTO channel_catalog_settings (channel_id, tenant_id, sync_mode, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (channel_id) DO UPDATE SET sync_mode = excluded.sync_mode, updated_at = excluded.updated_at",
        )
        .bind(channel.to_string())
        .bind(tenant.to_string())
        .bind(mode.as_str())
        .bind(now_us())
        .execute(self.writer())
        .await?;
        Ok(())
    }

    async fn ensure_channel(&self, tenant: TenantId, channel: ChannelId) -> StoreResult<()> {
        sqlx::query("SELECT id FROM channels WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.to_string())
            .bind(channel.to_string())
            .fetch_optional(self.reader())
            .await?
            .ok_or_else(|| StoreError::not_found("channel", channel))?;
        Ok(())
    }

    /// Receives products of the channel's catalog: checks each row, stages
    /// the good ones that are new or differ from what was received before,
    /// and, when the channel syncs `auto`, applies everything staged, all in
    /// one transaction. Returns the report.
    pub async fn receive_catalog(
        &self,
        tenant: TenantId,
        channel: ChannelId,
        via: Via,
        inputs: &[CatalogInput],
        actor: &str,
    ) -> StoreResult<SyncReport> {
        if inputs.len() > CATALOG_PRODUCTS_MAX {
            return Err(jaego_core::InvalidInput::one(
                "products",
                format!(
                    "has {} products; the limit is {CATALOG_PRODUCTS_MAX} per call",
                    inputs.len()
                ),
            )
            .into());
        }
        let mode = self.catalog_sync_mode(tenant, channel).await?;
        let (good, bad) = check_rows(inputs);
        let now = now_us();
        let mut tx = self.begin_write().await?;
        let mut rows = bad;
        // What was received before, for every good product: one look-up.
        let mut codes: Vec<&str> = good.iter().map(|p| p.item_code.as_str()).collect();
        codes.sort_unstable();
        codes.dedup();
        let mut before: HashMap<(String, String), [String; 4]> = HashMap::new();
        for r in rows_in(&mut tx, channel, &codes, |c, list| {
            format!(
                "SELECT item_code, item_option, sku_code, name, barcode, state FROM channel_products \
                 WHERE channel_id = {c} AND item_code IN {list}"
            )
        })
        .await?
        {
            before.insert(
                (text(&r, "item_code")?, text(&r, "item_option")?),
                [
                    text(&r, "sku_code")?,
                    text(&r, "name")?,
                    text(&r, "barcode")?,
                    text(&r, "state")?,
                ],
            );
        }
        let mut staged = Vec::new();
        for p in &good {
            let same = before
                .get(&(p.item_code.clone(), p.item_option.clone()))
                .is_some_and(|[sku_code, name, barcode, state]| {
                    *sku_code == p.sku_code
                        && *name == p.name
                        && *barcode == p.barcode
                        && state == "applied"
                });
            if same {
                rows.push(ReportRow {
                    row: p.row.clone(),
                    item_code: p.item_code.clone(),
                    item_option: p.item_option.clone(),
                    outcome: "skipped".into(),
                    sku_code: Some(p.sku_code.clone()),
                    detail: "unchanged since it was last applied".into(),
                });
                continue;
            }
            staged.push(vec![
                Val::T(channel.to_string()),
                Val::T(p.item_code.clone()),
                Val::T(p.item_option.clone()),
                Val::T(tenant.to_string()),
                Val::T(p.sku_code.clone()),
                Val::T(p.name.clone()),
                Val::T(p.barcode.clone()),
                Val::T("staged".into()),
                Val::I(now),
            ]);
            if mode == SyncMode::Manual {
                rows.push(ReportRow {
                    row: p.row.clone(),
                    item_code: p.item_code.clone(),
                    item_option: p.item_option.clone(),
                    outcome: "staged".into(),
                    sku_code: Some(p.sku_code.clone()),
                    detail: "waits for \"update product information\"".into(),
                });
            }
        }
        insert_many(
            &mut tx,
            "channel_products (channel_id, item_code, item_option, tenant_id, sku_code, name, barcode, state, received_at)",
            9,
            staged,
            "ON CONFLICT (channel_id, item_code, item_option) DO UPDATE SET sku_code = excluded.sku_code, \
             name = excluded.name, barcode = excluded.barcode, state = 'staged', received_at = excluded.received_at",
        )
        .await?;
        let mut events = Vec::new();
        if mode == SyncMode::Auto {
            rows.extend(apply_staged(&mut tx, tenant, channel, actor, &mut events).await?);
        }
        let report = write_report(
            &mut tx,
            tenant,
            channel,
            via,
            mode == SyncMode::Auto,
            inputs.len() as i64,
            rows,
            actor,
        )
        .await?;
        self.commit_with(tx, &events).await?;
        Ok(report)
    }

    /// "Update product information": applies every staged product of the
    /// channel in one transaction, and returns the report.
    pub async fn apply_catalog(
        &self,
        tenant: TenantId,
        channel: ChannelId,
        actor: &str,
    ) -> StoreResult<SyncReport> {
        self.ensure_channel(tenant, channel).await?;
        let mut tx = self.begin_write().await?;
        let mut events = Vec::new();
        let rows = apply_staged(&mut tx, tenant, channel, actor, &mut events).await?;
        let report =
            write_report(&mut tx, tenant, channel, Via::Apply, true, 0, rows, actor).await?;
        self.commit_with(tx, &events).await?;
        Ok(report)
    }

    /// The channel's products, staged ones or all, by item code.
    pub async fn channel_products(
        &self,
        tenant: TenantId,
        channel: ChannelId,
        staged_only: bool,
        limit: usize,
    ) -> StoreResult<Vec<ChannelProduct>> {
        self.ensure_channel(tenant, channel).await?;
        let sql = format!(
            "SELECT item_code, item_option, sku_code, name, barcode, state, received_at FROM channel_products \
             WHERE tenant_id = $1 AND channel_id = $2 {} ORDER BY item_code, item_option LIMIT $3",
            if staged_only {
                "AND state = 'staged'"
            } else {
                ""
            }
        );
        let rows = sqlx::query(&sql)
            .bind(tenant.to_string())
            .bind(channel.to_string())
            .bind(limit as i64)
            .fetch_all(self.reader())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(ChannelProduct {
                    item_code: text(r, "item_code")?,
                    item_option: text(r, "item_option")?,
                    sku_code: text(r, "sku_code")?,
                    name: text(r, "name")?,
                    barcode: text(r, "barcode")?,
                    state: text(r, "state")?,
                    received_at: int(r, "received_at")?,
                })
            })
            .collect()
    }

    pub async fn catalog_exclusions(
        &self,
        tenant: TenantId,
        channel: ChannelId,
    ) -> StoreResult<Vec<CatalogExclusion>> {
        self.ensure_channel(tenant, channel).await?;
        let rows = sqlx::query(
            "SELECT item_code, note, created_at FROM channel_catalog_exclusions \
             WHERE tenant_id = $1 AND channel_id = $2 ORDER BY item_code",
        )
        .bind(tenant.to_string())
        .bind(channel.to_string())
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(CatalogExclusion {
                    item_code: text(r, "item_code")?,
                    note: text(r, "note")?,
                    created_at: int(r, "created_at")?,
                })
            })
            .collect()
    }

    /// Excludes an item code of the channel from the inventory list.
    pub async fn add_catalog_exclusion(
        &self,
        tenant: TenantId,
        channel: ChannelId,
        item_code: &str,
        note: &str,
    ) -> StoreResult<CatalogExclusion> {
        let mut v = Validator::new();
        v.text("item_code", item_code, CODE_LEN_MAX);
        v.optional_text("note", note, NAME_LEN_MAX);
        v.finish()?;
        self.ensure_channel(tenant, channel).await?;
        let now = now_us();
        let mut tx = self.begin_write().await?;
        // The channel's other exclusions: re-adding one it has only
        // changes its note, so it is never over the limit.
        let others = sqlx::query(
            "SELECT COUNT(*) AS n FROM channel_catalog_exclusions \
             WHERE tenant_id = $1 AND channel_id = $2 AND item_code <> $3",
        )
        .bind(tenant.to_string())
        .bind(channel.to_string())
        .bind(item_code)
        .fetch_one(&mut *tx)
        .await?;
        if int(&others, "n")? >= CATALOG_EXCLUSIONS_MAX as i64 {
            return Err(InvalidInput::one(
                "item_code",
                format!(
                    "the channel has {CATALOG_EXCLUSIONS_MAX} catalog exclusions, the limit; remove one first"
                ),
            )
            .into());
        }
        sqlx::query(
            "INSERT INTO channel_catalog_exclusions (channel_id, item_code, tenant_id, note, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (channel_id, item_code) DO UPDATE SET note = excluded.note",
        )
        .bind(channel.to_string())
        .bind(item_code)
        .bind(tenant.to_string())
        .bind(note)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(CatalogExclusion {
            item_code: item_code.to_string(),
            note: note.to_string(),
            created_at: now,
        })
    }

    pub async fn remove_catalog_exclusion(
        &self,
        tenant: TenantId,
        channel: ChannelId,
        item_code: &str,
    ) -> StoreResult<()> {
        let done = sqlx::query(
            "DELETE FROM channel_catalog_exclusions WHERE tenant_id = $1 AND channel_id = $2 AND item_code = $3",
        )
        .bind(tenant.to_string())
        .bind(channel.to_string())
        .bind(item_code)
        .execute(self.writer())
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found("catalog exclusion", item_code));
        }
        Ok(())
    }

    /// The channel's latest sync reports, newest first.
    pub async fn catalog_reports(
        &self,
        tenant: TenantId,
        channel: ChannelId,
        limit: usize,
    ) -> StoreResult<Vec<SyncReport>> {
        self.ensure_channel(tenant, channel).await?;
        let rows = sqlx::query(
            "SELECT id, channel_id, via, applied, received, created, linked, changed, skipped, bad, details, actor, created_at \
             FROM catalog_sync_reports WHERE tenant_id = $1 AND channel_id = $2 ORDER BY id DESC LIMIT $3",
        )
        .bind(tenant.to_string())
        .bind(channel.to_string())
        .bind(limit as i64)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SyncReport {
                    id: text(r, "id")?,
                    channel_id: parsed(r, "channel_id")?,
                    via: text(r, "via")?,
                    applied: opt_int(r, "applied")?.unwrap_or(0) != 0,
                    received: int(r, "received")?,
                    created: int(r, "created")?,
                    linked: int(r, "linked")?,
                    changed: int(r, "changed")?,
                    skipped: int(r, "skipped")?,
                    bad: int(r, "bad")?,
                    rows: serde_json::from_str(&text(r, "details")?)
                        .map_err(|e| StoreError::Corrupt(format!("report details: {e}")))?,
                    actor: text(r, "actor")?,
                    created_at: int(r, "created_at")?,
                })
            })
            .collect()
    }
}

/// Applies every staged product of `channel` (see the module docs), marks
/// them applied (excluded ones stay staged, so removing the exclusion and
/// applying again brings them in), and returns a row per product.
async fn apply_staged(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    channel: ChannelId,
    actor: &str,
    events: &mut Vec<NewEvent>,
) -> StoreResult<Vec<ReportRow>> {
    let staged = sqlx::query(
        "SELECT p.item_code, p.item_option, p.sku_code, p.name, p.barcode, x.item_code AS excluded, \
           l.sku_id AS linked_sku, s.name AS linked_name, s.code AS linked_code \
         FROM channel_products p \
         LEFT JOIN channel_catalog_exclusions x ON x.channel_id = p.channel_id AND x.item_code = p.item_code \
         LEFT JOIN channel_sku_links l ON l.channel_id = p.channel_id AND l.item_code = p.item_code AND l.item_option = p.item_option \
         LEFT JOIN skus s ON s.id = l.sku_id \
         WHERE p.tenant_id = $1 AND p.channel_id = $2 AND p.state = 'staged' ORDER BY p.item_code, p.item_option",
    )
    .bind(tenant.to_string())
    .bind(channel.to_string())
    .fetch_all(&mut **tx)
    .await?;
    let now = now_us();
    // What each product becomes, decided on two look-ups made up front
    // (SKUs by code, barcodes in use) plus what this apply creates as it
    // goes, so a product later in the list sees the SKU an earlier one
    // created, as applying them one by one would.
    let mut unlinked_codes: Vec<String> = Vec::new();
    let mut new_barcodes: Vec<String> = Vec::new();
    for r in &staged {
        if opt_text(r, "excluded")?.is_none() && opt_text(r, "linked_sku")?.is_none() {
            unlinked_codes.push(text(r, "sku_code")?);
            let barcode = text(r, "barcode")?;
            if !barcode.is_empty() {
                new_barcodes.push(barcode);
            }
        }
    }
    let mut by_code: HashMap<String, Target> = sku_ids_by_code_on(tx, tenant, &unlinked_codes)
        .await?
        .into_iter()
        .map(|(code, id)| (code, Target::Existing(id)))
        .collect();
    let mut barcodes_taken: HashSet<String> = taken_barcodes_on(tx, tenant, &new_barcodes)
        .await?
        .into_keys()
        .collect();

    enum Plan {
        Skip(&'static str),
        Rename { sku: SkuId, old_name: String },
        Keep,
        Link(Target, &'static str),
    }
    let mut plans = Vec::with_capacity(staged.len());
    let mut news: Vec<NewSku> = Vec::new();
    let mut out = Vec::with_capacity(staged.len());
    for r in &staged {
        let item_code = text(r, "item_code")?;
        let item_option = text(r, "item_option")?;
        let sku_code = text(r, "sku_code")?;
        let name = text(r, "name")?;
        let barcode = text(r, "barcode")?;
        let mut row = ReportRow {
            row: format!("{item_code}/{item_option}"),
            item_code,
            item_option,
            outcome: String::new(),
            sku_code: Some(sku_code.clone()),
            detail: String::new(),
        };
        let plan = if opt_text(r, "excluded")?.is_some() {
            Plan::Skip("the item code is excluded from the inventory list")
        } else if let Some(linked) = opt_parsed::<SkuId>(r, "linked_sku")? {
            row.sku_code = opt_text(r, "linked_code")?;
            let old_name = opt_text(r, "linked_name")?.unwrap_or_default();
            if old_name == name {
                Plan::Keep
            } else {
                Plan::Rename {
                    sku: linked,
                    old_name,
                }
            }
        } else if let Some(target) = by_code.get(&sku_code) {
            Plan::Link(*target, "linked")
        } else {
            let taken = !barcode.is_empty() && !barcodes_taken.insert(barcode.clone());
            if taken {
                row.detail =
                    format!("barcode {barcode} belongs to another SKU; created without it");
            }
            let target = Target::Created(news.len());
            news.push(NewSku {
                code: sku_code.clone(),
                name: name.clone(),
                product_id: None,
                // Untracked until the merchant turns tracking on.
                tracked: false,
                barcodes: if barcode.is_empty() || taken {
                    Vec::new()
                } else {
                    vec![barcode]
                },
                option_tags: Vec::new(),
            });
            by_code.insert(sku_code, target);
            Plan::Link(target, "created")
        };
        plans.push((plan, name));
        out.push(row);
    }
    // Checked above: codes new, barcodes free.
    let created = write_new_skus(tx, tenant, &news).await?;

    // The writes, and the events in the order one-by-one applying wrote them.
    let mut renames: HashMap<SkuId, String> = HashMap::new();
    let mut links = Vec::new();
    let mut applied = Vec::new();
    let mut new_links: Vec<(String, String, SkuId)> = Vec::new();
    for ((plan, name), row) in plans.into_iter().zip(out.iter_mut()) {
        match plan {
            Plan::Skip(why) => {
                row.outcome = "skipped".into();
                row.detail = why.into();
                continue;
            }
            Plan::Keep => {
                row.outcome = "skipped".into();
                row.detail = "linked and unchanged".into();
            }
            Plan::Rename { sku, old_name } => {
                events.push(
                    NewEvent::new(
                        tenant,
                        kinds::SKU_UPDATED,
                        json!({"id": sku.to_string(), "code": row.sku_code, "name": name,
                               "via": "channel_catalog", "channel_id": channel.to_string()}),
                    )
                    .sku(sku)
                    .subject(sku),
                );
                row.outcome = "changed".into();
                row.detail = format!("name {old_name:?} → {name:?}");
                renames.insert(sku, name);
            }
            Plan::Link(target, outcome) => {
                let sku = match target {
                    Target::Existing(id) => id,
                    Target::Created(i) => {
                        let sku = &created[i];
                        if outcome == "created" {
                            events.push(sku_event(tenant, kinds::SKU_CREATED, sku));
                        }
                        sku.id
                    }
                };
                links.push(vec![
                    Val::T(channel.to_string()),
                    Val::T(row.item_code.clone()),
                    Val::T(row.item_option.clone()),
                    Val::T(tenant.to_string()),
                    Val::T(sku.to_string()),
                    Val::T("code".into()),
                    Val::I(now),
                ]);
                events.push(
                    NewEvent::new(
                        tenant,
                        kinds::SKU_LINKED,
                        json!({"channel_id": channel.to_string(), "item_code": row.item_code,
                               "item_option": row.item_option, "sku_id": sku.to_string(), "source": "code",
                               "actor": actor}),
                    )
                    .sku(sku)
                    .channel(channel),
                );
                new_links.push((row.item_code.clone(), row.item_option.clone(), sku));
                row.outcome = outcome.into();
            }
        }
        applied.push(vec![
            Val::T(row.item_code.clone()),
            Val::T(row.item_option.clone()),
            Val::I(now),
            Val::T(channel.to_string()),
        ]);
    }
    let renames: Vec<Vec<Val>> = renames
        .into_iter()
        .map(|(sku, name)| {
            vec![
                Val::T(sku.to_string()),
                Val::T(name),
                Val::I(now),
                Val::T(tenant.to_string()),
            ]
        })
        .collect();
    update_many(
        tx,
        "skus",
        "name = v.column2, updated_at = v.column3",
        "skus.tenant_id = v.column4 AND skus.id = v.column1",
        4,
        renames,
    )
    .await?;
    insert_many(
        tx,
        "channel_sku_links (channel_id, item_code, item_option, tenant_id, sku_id, source, created_at)",
        7,
        links,
        "ON CONFLICT (channel_id, item_code, item_option) DO NOTHING",
    )
    .await?;
    update_many(
        tx,
        "channel_products",
        "state = 'applied', applied_at = v.column3",
        "channel_products.channel_id = v.column4 AND channel_products.item_code = v.column1 \
         AND channel_products.item_option = v.column2",
        4,
        applied,
    )
    .await?;
    if !new_links.is_empty() {
        match_waiting(tx, tenant, channel, &new_links).await?;
    }
    Ok(out)
}

#[expect(
    clippy::too_many_arguments,
    reason = "one report row; the fields are its columns"
)]
async fn write_report(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    channel: ChannelId,
    via: Via,
    applied: bool,
    received: i64,
    rows: Vec<ReportRow>,
    actor: &str,
) -> StoreResult<SyncReport> {
    let count = |o: &str| rows.iter().filter(|r| r.outcome == o).count() as i64;
    let report = SyncReport {
        id: uuid::Uuid::now_v7().to_string(),
        channel_id: channel,
        via: via.as_str().into(),
        applied,
        received,
        created: count("created"),
        linked: count("linked"),
        changed: count("changed"),
        skipped: count("skipped"),
        bad: count("bad"),
        actor: actor.into(),
        created_at: now_us(),
        rows,
    };
    sqlx::query(
        "INSERT INTO catalog_sync_reports (id, tenant_id, channel_id, via, applied, received, created, linked, changed, \
           skipped, bad, details, actor, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(&report.id)
    .bind(tenant.to_string())
    .bind(channel.to_string())
    .bind(report.via.as_str())
    .bind(i64::from(applied))
    .bind(report.received)
    .bind(report.created)
    .bind(report.linked)
    .bind(report.changed)
    .bind(report.skipped)
    .bind(report.bad)
    .bind(serde_json::to_string(&report.rows).map_err(|e| StoreError::Corrupt(e.to_string()))?)
    .bind(actor)
    .bind(report.created_at)
    .execute(&mut **tx)
    .await?;
    Ok(report)
}
