//! Stock rules: shared inventory to channels, product status, low-stock
//! rules, expected receipts and availability estimates, and table-order
//! counts with daily resets.
//!
//! Channel figures and low-stock crossings are not computed by the writes
//! that change stock: the reservation hot path stays as it is. Instead a
//! follower ([`Store::follow_stock_rules`], run by the `stock_rules` job)
//! reads each tenant's event log from a durable cursor, works out which
//! (channel, SKU) figures and which (rule, SKU) thresholds the new events
//! can have changed, recomputes exactly those from the current rows, and
//! writes what changed — `channel.stock` only when a figure really
//! changed, `stock.low`/`stock.recovered` (and whatever else a rule's
//! actions ask for) only on a crossing — and the new cursor, in one
//! transaction. Changes that touch every SKU (turning sharing on, a
//! channel's links or settings, a new channel rule) start a sweep that is
//! worked through a page of SKUs per transaction.
//!
//! Every transaction that writes figures or low-stock states first locks
//! the tenant's cursor row ([`lock_tenant`]), so they are serialised per
//! tenant across instances: a second instance waits, then finds the cursor
//! moved and does nothing. Each figure and crossing is also written with a
//! condition on its previous value, so even work done twice would write
//! its events once.

pub mod low_stock;
pub mod receipts;
pub mod sharing;
pub mod status;
pub mod table_order;

pub(crate) mod figures;
pub(crate) mod sql;

use std::collections::{HashMap, HashSet};

use jaego_core::limits::{STOCK_RULES_EVENTS_MAX, SWEEP_PAGE_MAX};
use jaego_core::{ChannelId, LocationId, LowStockRuleId, SkuId, TenantId};
use sqlx::{Any, Transaction};

use self::figures::ChannelInfo;
use self::low_stock::{Rule, RuleScope};
use crate::Store;
use crate::error::StoreResult;
use crate::events::{NewEvent, kinds};
use crate::rows::{int, opt_int, opt_parsed, parsed, text};

/// Event kinds the follower reacts to; the rest only move its cursor.
const FOLLOWED: [&str; 12] = [
    kinds::STOCK_CHANGED,
    kinds::SKU_CREATED,
    kinds::SKU_UPDATED,
    kinds::SKU_STATUS_CHANGED,
    kinds::CHANNEL_CREATED,
    kinds::CHANNEL_UPDATED,
    kinds::CHANNEL_SHARING_UPDATED,
    kinds::SHARING_UPDATED,
    kinds::CHANNEL_EXCLUSION_ADDED,
    kinds::CHANNEL_EXCLUSION_REMOVED,
    kinds::LOW_STOCK_RULE_CREATED,
    kinds::LOW_STOCK_RULE_DELETED,
];

/// Most tenants one follower call visits.
const TENANTS_PER_CALL_MAX: i64 = 200;
/// Most sweeps one follower call advances by a page.
const SWEEPS_PER_CALL_MAX: i64 = 20;

/// Locks the tenant's stock-rules row until the transaction ends (creating
/// it at sequence 0) and returns the follower's cursor.
pub(crate) async fn lock_tenant(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
) -> StoreResult<i64> {
    sqlx::query(
        "INSERT INTO stock_rule_cursors (tenant_id, seq, updated_at) VALUES ($1, 0, 0) \
         ON CONFLICT (tenant_id) DO NOTHING",
    )
    .bind(tenant.to_string())
    .execute(&mut **tx)
    .await?;
    let row =
        sqlx::query("UPDATE stock_rule_cursors SET seq = seq WHERE tenant_id = $1 RETURNING seq")
            .bind(tenant.to_string())
            .fetch_one(&mut **tx)
            .await?;
    int(&row, "seq")
}

/// Starts (or restarts from the first SKU) a sweep of `target`.
async fn start_sweep(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    target: &str,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO stock_rule_sweeps (tenant_id, target, after_sku, created_at) VALUES ($1, $2, '', $3) \
         ON CONFLICT (tenant_id, target) DO UPDATE SET after_sku = '', created_at = excluded.created_at",
    )
    .bind(tenant.to_string())
    .bind(target)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Commits, appending `events` if there are any (and waking dispatchers
/// only then).
async fn finish(store: &Store, tx: Transaction<'_, Any>, events: &[NewEvent]) -> StoreResult<()> {
    if events.is_empty() {
        tx.commit().await?;
        Ok(())
    } else {
        store.commit_with(tx, events).await
    }
}

/// What a run of events asks the follower to recompute.
#[derive(Default)]
struct Work {
    /// Stock changed for this SKU at this location.
    at: HashSet<(SkuId, LocationId)>,
    /// The SKU changed (catalog, status, holds): every channel.
    everywhere: HashSet<SkuId>,
    /// One SKU on one channel.
    pairs: HashSet<(ChannelId, SkuId)>,
    /// Every SKU on these channels.
    sweep_channels: HashSet<ChannelId>,
    sweep_all_channels: bool,
    sweep_all_rules: bool,
    /// Rules to evaluate (just created).
    rules: HashSet<LowStockRuleId>,
}

impl Work {
    fn note(&mut self, row: &sqlx::any::AnyRow) -> StoreResult<()> {
        let kind = text(row, "kind")?;
        let sku: Option<SkuId> = opt_parsed(row, "sku_id")?;
        let location: Option<LocationId> = opt_parsed(row, "location_id")?;
        let channel: Option<ChannelId> = opt_parsed(row, "channel_id")?;
        match kind.as_str() {
            kinds::STOCK_CHANGED => {
                if let (Some(s), Some(l)) = (sku, location) {
                    self.at.insert((s, l));
                }
            }
            kinds::SKU_CREATED | kinds::SKU_UPDATED | kinds::SKU_STATUS_CHANGED => {
                self.everywhere.extend(sku);
            }
            kinds::CHANNEL_CREATED | kinds::CHANNEL_UPDATED | kinds::CHANNEL_SHARING_UPDATED => {
                self.sweep_channels.extend(channel);
            }
            kinds::SHARING_UPDATED => self.sweep_all_channels = true,
            kinds::CHANNEL_EXCLUSION_ADDED | kinds::CHANNEL_EXCLUSION_REMOVED => {
                if let (Some(c), Some(s)) = (channel, sku) {
                    self.pairs.insert((c, s));
                }
            }
            kinds::LOW_STOCK_RULE_CREATED => {
                if let Some(id) = opt_parsed::<LowStockRuleId>(row, "subject_id")? {
                    self.rules.insert(id);
                }
            }
            kinds::LOW_STOCK_RULE_DELETED => {
                let data: serde_json::Value =
                    serde_json::from_str(&text(row, "data")?).unwrap_or_default();
                for s in data["released_skus"].as_array().into_iter().flatten() {
                    if let Some(id) = s.as_str().and_then(|s| s.parse().ok()) {
                        self.everywhere.insert(id);
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// Recomputes `pairs` and writes what changed; returns the events.
async fn refresh(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    channels: &[ChannelInfo],
    pairs: &[(ChannelId, SkuId)],
    now: i64,
) -> StoreResult<Vec<NewEvent>> {
    let computed = figures::compute(tx, tenant, channels, pairs).await?;
    figures::write(tx, tenant, channels, &computed, now).await
}

/// Every channel × every SKU in `skus`.
fn across(channels: &[ChannelInfo], skus: &HashSet<SkuId>) -> Vec<(ChannelId, SkuId)> {
    channels
        .iter()
        .filter(|c| c.sharing)
        .flat_map(|c| skus.iter().map(move |&s| (c.id, s)))
        .collect()
}

impl Store {
    /// One round of the stock-rules follower at `now`: every tenant with
    /// new events is followed by up to [`STOCK_RULES_EVENTS_MAX`] events,
    /// and up to 20 sweeps advance by a page. Returns how much it handled;
    /// [`STOCK_RULES_EVENTS_MAX`] or more means work is left (the job then
    /// runs again at once). Safe on several instances at once.
    pub async fn follow_stock_rules(&self, now: i64) -> StoreResult<usize> {
        let tenants = sqlx::query(
            "SELECT q.tenant_id FROM event_sequences q \
             LEFT JOIN stock_rule_cursors c ON c.tenant_id = q.tenant_id \
             WHERE c.seq IS NULL OR c.seq < q.last_seq \
             ORDER BY COALESCE(c.updated_at, 0) LIMIT $1",
        )
        .bind(TENANTS_PER_CALL_MAX)
        .fetch_all(self.reader())
        .await?;
        let mut handled = 0;
        let mut more = false;
        for row in &tenants {
            let tenant: TenantId = parsed(row, "tenant_id")?;
            match self.follow_tenant(tenant, now).await {
                Ok((n, full)) => {
                    handled += n;
                    more |= full;
                }
                Err(e) => {
                    tracing::warn!(%tenant, error = %e, "stock rules: following the log failed");
                }
            }
        }
        let sweeps = sqlx::query(
            "SELECT tenant_id, target, after_sku FROM stock_rule_sweeps ORDER BY created_at LIMIT $1",
        )
        .bind(SWEEPS_PER_CALL_MAX)
        .fetch_all(self.reader())
        .await?;
        for row in &sweeps {
            let tenant: TenantId = parsed(row, "tenant_id")?;
            let target = text(row, "target")?;
            match self
                .sweep_page(tenant, &target, &text(row, "after_sku")?, now)
                .await
            {
                Ok((n, done)) => {
                    handled += n;
                    more |= !done;
                }
                Err(e) => {
                    tracing::warn!(%tenant, %target, error = %e, "stock rules: sweep failed");
                }
            }
        }
        Ok(if more {
            handled.max(STOCK_RULES_EVENTS_MAX)
        } else {
            handled.min(STOCK_RULES_EVENTS_MAX - 1)
        })
    }

    /// Follows one tenant's log by one page of events. Returns the events
    /// read and whether the page was full.
    async fn follow_tenant(&self, tenant: TenantId, now: i64) -> StoreResult<(usize, bool)> {
        let mut tx = self.begin_write().await?;
        let cursor = lock_tenant(&mut tx, tenant).await?;
        let window = sqlx::query(
            "SELECT (SELECT last_seq FROM event_sequences WHERE tenant_id = $1) AS latest, \
                    (SELECT MIN(seq) FROM events WHERE tenant_id = $1) AS oldest, \
                    (SELECT COUNT(*) FROM sharing_settings WHERE tenant_id = $1 AND enabled = 1) \
                      + (SELECT COUNT(*) FROM low_stock_rules WHERE tenant_id = $1) AS configured",
        )
        .bind(tenant.to_string())
        .fetch_one(&mut *tx)
        .await?;
        let latest = opt_int(&window, "latest")?.unwrap_or(0);
        if latest <= cursor {
            return Ok((0, false));
        }
        let advance = |seq: i64| {
            sqlx::query(
                "UPDATE stock_rule_cursors SET seq = $1, updated_at = $2 WHERE tenant_id = $3",
            )
            .bind(seq)
            .bind(now)
            .bind(tenant.to_string())
        };
        if int(&window, "configured")? == 0 {
            // Nothing to keep up to date: skip ahead. Turning sharing on or
            // adding a rule writes an event after `latest`, which starts
            // the work it needs.
            advance(latest).execute(&mut *tx).await?;
            tx.commit().await?;
            return Ok((0, false));
        }
        let mut work = Work::default();
        if opt_int(&window, "oldest")?.is_some_and(|oldest| oldest > cursor + 1) {
            // Events were purged before the follower read them: recompute
            // everything rather than miss a change.
            work.sweep_all_channels = true;
            work.sweep_all_rules = true;
        }
        let mut sql = sql::Sql::new(
            "SELECT seq, kind, sku_id, location_id, channel_id, subject_id, data FROM events WHERE tenant_id = ",
        );
        let t = sql.text(tenant);
        let after = sql.int(cursor);
        let upto = sql.int(latest);
        let followed = sql.list(FOLLOWED);
        let limit = sql.int(STOCK_RULES_EVENTS_MAX as i64);
        sql.push(&format!(
            "{t} AND seq > {after} AND seq <= {upto} AND kind IN {followed} ORDER BY seq LIMIT {limit}"
        ));
        let events = sql.fetch_all(&mut tx).await?;
        let full = events.len() >= STOCK_RULES_EVENTS_MAX;
        let reached = match events.last() {
            Some(last) if full => int(last, "seq")?,
            _ => latest,
        };
        for row in &events {
            work.note(row)?;
        }
        let out = self.apply(&mut tx, tenant, work, now).await?;
        advance(reached).execute(&mut *tx).await?;
        finish(self, tx, &out).await?;
        Ok((events.len(), full))
    }

    /// Does what `work` asks in the caller's transaction; returns the events.
    async fn apply(
        &self,
        tx: &mut Transaction<'_, Any>,
        tenant: TenantId,
        mut work: Work,
        now: i64,
    ) -> StoreResult<Vec<NewEvent>> {
        let channels = figures::channels(tx, tenant, None).await?;
        let mut out = Vec::new();

        // Low stock first: a crossing may hold or release a SKU on
        // channels, which the figures below then include.
        let mut touched: HashSet<SkuId> = work.at.iter().map(|&(s, _)| s).collect();
        touched.extend(work.everywhere.iter().copied());
        let touched: Vec<SkuId> = touched.into_iter().collect();
        let rules = if work.sweep_all_rules {
            low_stock::all_rules(tx, tenant).await?
        } else {
            low_stock::rules_for(tx, tenant, &touched).await?
        };
        let mut checks: Vec<(&Rule, SkuId)> = Vec::new();
        for rule in &rules {
            match rule.stored.scope {
                RuleScope::Sku(s) => {
                    if work.everywhere.contains(&s) || work.at.iter().any(|&(x, _)| x == s) {
                        checks.push((rule, s));
                    }
                }
                RuleScope::SkuAt(s, l) => {
                    if work.everywhere.contains(&s) || work.at.contains(&(s, l)) {
                        checks.push((rule, s));
                    }
                }
                RuleScope::Channel(c) => {
                    let links = channels
                        .iter()
                        .find(|ch| ch.id == c)
                        .map(|ch| ch.links.as_slice())
                        .unwrap_or_default();
                    for &(s, l) in &work.at {
                        if links.contains(&l) {
                            checks.push((rule, s));
                        }
                    }
                    for &s in &work.everywhere {
                        checks.push((rule, s));
                    }
                    if work.sweep_channels.contains(&c) {
                        // The channel's links changed: what it watches did.
                        start_sweep(tx, tenant, &format!("low_stock:{}", rule.stored.id), now)
                            .await?;
                    }
                }
            }
            if work.sweep_all_rules {
                match rule.stored.scope {
                    RuleScope::Sku(s) | RuleScope::SkuAt(s, _) => checks.push((rule, s)),
                    RuleScope::Channel(_) => {
                        let target = format!("low_stock:{}", rule.stored.id);
                        start_sweep(tx, tenant, &target, now).await?;
                    }
                }
            }
        }
        let mut created = Vec::new();
        for &id in &work.rules {
            if let Some(rule) = low_stock::rule_by_id(tx, tenant, id).await? {
                created.push(rule);
            }
        }
        for rule in &created {
            match rule.stored.scope {
                RuleScope::Sku(s) | RuleScope::SkuAt(s, _) => checks.push((rule, s)),
                RuleScope::Channel(_) => {
                    start_sweep(tx, tenant, &format!("low_stock:{}", rule.stored.id), now).await?;
                }
            }
        }
        let evaluated = low_stock::evaluate(tx, tenant, &checks, &channels, now).await?;
        out.extend(evaluated.events);
        work.everywhere.extend(evaluated.held_skus);

        // Figures. A bundle's figure follows its components: a component
        // whose stock or facts changed re-publishes every bundle naming it.
        let components: Vec<SkuId> = work
            .at
            .iter()
            .map(|&(s, _)| s)
            .chain(work.everywhere.iter().copied())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let containing = figures::bundles_containing(tx, tenant, &components).await?;
        if !containing.is_empty() {
            let mut by_component: HashMap<SkuId, Vec<SkuId>> = HashMap::new();
            for (b, c) in containing {
                by_component.entry(c).or_default().push(b);
            }
            let at: Vec<(SkuId, LocationId)> = work.at.iter().copied().collect();
            for (s, l) in at {
                for &b in by_component.get(&s).into_iter().flatten() {
                    work.at.insert((b, l));
                }
            }
            let everywhere: Vec<SkuId> = work.everywhere.iter().copied().collect();
            for s in everywhere {
                work.everywhere
                    .extend(by_component.get(&s).into_iter().flatten().copied());
            }
        }
        let mut pairs: HashSet<(ChannelId, SkuId)> = work.pairs;
        for channel in channels.iter().filter(|c| c.sharing) {
            for &(s, l) in &work.at {
                if channel.links.contains(&l) {
                    pairs.insert((channel.id, s));
                }
            }
        }
        pairs.extend(across(&channels, &work.everywhere));
        let pairs: Vec<_> = pairs.into_iter().collect();
        out.extend(refresh(tx, tenant, &channels, &pairs, now).await?);

        let sweeps: Vec<ChannelId> = if work.sweep_all_channels {
            channels.iter().map(|c| c.id).collect()
        } else {
            work.sweep_channels.into_iter().collect()
        };
        for c in sweeps {
            start_sweep(tx, tenant, &format!("figures:{c}"), now).await?;
        }
        Ok(out)
    }

    /// Advances one sweep by a page of SKUs. Returns the SKUs handled and
    /// whether the sweep is finished (or was taken by another instance).
    async fn sweep_page(
        &self,
        tenant: TenantId,
        target: &str,
        after: &str,
        now: i64,
    ) -> StoreResult<(usize, bool)> {
        let mut tx = self.begin_write().await?;
        lock_tenant(&mut tx, tenant).await?;
        let page: Vec<SkuId> = sqlx::query(
            "SELECT id FROM skus WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        )
        .bind(tenant.to_string())
        .bind(after)
        .bind(SWEEP_PAGE_MAX as i64)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| parsed(r, "id"))
        .collect::<StoreResult<_>>()?;
        let done = page.len() < SWEEP_PAGE_MAX;
        let claim = if done {
            sqlx::query(
                "DELETE FROM stock_rule_sweeps WHERE tenant_id = $1 AND target = $2 AND after_sku = $3",
            )
            .bind(tenant.to_string())
            .bind(target)
            .bind(after)
            .execute(&mut *tx)
            .await?
        } else {
            let last = page.last().map(ToString::to_string).unwrap_or_default();
            sqlx::query(
                "UPDATE stock_rule_sweeps SET after_sku = $1 WHERE tenant_id = $2 AND target = $3 AND after_sku = $4",
            )
            .bind(last)
            .bind(tenant.to_string())
            .bind(target)
            .bind(after)
            .execute(&mut *tx)
            .await?
        };
        if claim.rows_affected() != 1 {
            // Another instance advanced it, or it was restarted.
            return Ok((0, true));
        }
        let mut out = Vec::new();
        if let Some(channel) = target.strip_prefix("figures:") {
            let channel: ChannelId = channel
                .parse()
                .map_err(|_| crate::StoreError::Corrupt(format!("sweep target {target:?}")))?;
            let channels = figures::channels(&mut tx, tenant, Some(&[channel])).await?;
            let pairs: Vec<_> = page.iter().map(|&s| (channel, s)).collect();
            out = refresh(&mut tx, tenant, &channels, &pairs, now).await?;
        } else if let Some(rule) = target.strip_prefix("low_stock:") {
            let id: LowStockRuleId = rule
                .parse()
                .map_err(|_| crate::StoreError::Corrupt(format!("sweep target {target:?}")))?;
            if let Some(rule) = low_stock::rule_by_id(&mut tx, tenant, id).await? {
                let channels = figures::channels(&mut tx, tenant, None).await?;
                // Only channel rules are swept; a SKU rule watches one SKU
                // and is evaluated directly by the follower.
                let checks: Vec<(&Rule, SkuId)> = match rule.stored.scope {
                    RuleScope::Channel(_) => page.iter().map(|&s| (&rule, s)).collect(),
                    RuleScope::Sku(_) | RuleScope::SkuAt(..) => Vec::new(),
                };
                let evaluated =
                    low_stock::evaluate(&mut tx, tenant, &checks, &channels, now).await?;
                out.extend(evaluated.events);
                // A component's hold holds its bundles (`bundle::holds`).
                let mut held = evaluated.held_skus;
                let components: Vec<SkuId> = held.iter().copied().collect();
                let containing = figures::bundles_containing(&mut tx, tenant, &components).await?;
                held.extend(containing.into_iter().map(|(b, _)| b));
                let pairs = across(&channels, &held);
                out.extend(refresh(&mut tx, tenant, &channels, &pairs, now).await?);
            }
        }
        finish(self, tx, &out).await?;
        Ok((page.len(), done))
    }
}
