//! Low-stock rules: stored thresholds and actions, and their evaluation
//! inside the stock-rules follower's transaction.
//!
//! A crossing is claimed with a conditional write on `low_stock_states`
//! (`… WHERE low = 0` to fire, `… WHERE low = 1` to recover), in the same
//! transaction as its actions' effects, so each crossing's actions run once
//! even with several instances following the log.

use std::collections::{HashMap, HashSet};

use jaego_core::channel_stock::{self, PublishBasis};
use jaego_core::limits::LOW_STOCK_RULES_MAX;
use jaego_core::low_stock::{self, Crossing, Effect, LowStockAction, Transition};
use jaego_core::{ChannelId, LocationId, LowStockRuleId, SkuId, TenantId};
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};

use super::figures::{ChannelInfo, balances, sku_facts};
use super::lock_tenant;
use super::sql::Sql;
use crate::error::{StoreError, StoreResult};
use crate::events::{NewEvent, kinds};
use crate::page::{Page, PageRequest};
use crate::rows::{filter_value, flag, int, join_list, opt_parsed, parsed, split_list, text};
use crate::{Store, now_us};

/// What a rule watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleScope {
    /// A SKU's available stock summed over every location.
    Sku(SkuId),
    /// A SKU's available stock at one location.
    SkuAt(SkuId, LocationId),
    /// For every SKU, what the channel's linked locations can give it.
    Channel(ChannelId),
}

impl RuleScope {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleScope::Sku(_) => "sku",
            RuleScope::SkuAt(..) => "sku_at_location",
            RuleScope::Channel(_) => "channel",
        }
    }

    fn key(self) -> String {
        match self {
            RuleScope::Sku(s) => format!("sku:{s}"),
            RuleScope::SkuAt(s, l) => format!("sku:{s}@{l}"),
            RuleScope::Channel(c) => format!("channel:{c}"),
        }
    }

    pub fn sku(self) -> Option<SkuId> {
        match self {
            RuleScope::Sku(s) | RuleScope::SkuAt(s, _) => Some(s),
            RuleScope::Channel(_) => None,
        }
    }

    pub fn location(self) -> Option<LocationId> {
        match self {
            RuleScope::SkuAt(_, l) => Some(l),
            _ => None,
        }
    }

    pub fn channel(self) -> Option<ChannelId> {
        match self {
            RuleScope::Channel(c) => Some(c),
            _ => None,
        }
    }
}

/// A stored rule.
#[derive(Debug, Clone)]
pub struct LowStockRule {
    pub id: LowStockRuleId,
    pub scope: RuleScope,
    pub threshold: i64,
    /// Action codes in the order they run.
    pub actions: Vec<String>,
    pub created_at: i64,
}

/// A rule to create.
#[derive(Debug, Clone)]
pub struct NewLowStockRule {
    pub scope: RuleScope,
    pub threshold: i64,
    pub actions: Vec<String>,
}

/// A SKU whose watched stock is at or below a rule's threshold.
#[derive(Debug, Clone)]
pub struct LowStockAlert {
    pub rule_id: LowStockRuleId,
    pub sku_id: SkuId,
    pub sku_code: String,
    /// The watched figure when the rule fired.
    pub available: i64,
    pub since: i64,
}

const RULE_COLUMNS: &str = "id, sku_id, location_id, channel_id, threshold, actions, created_at";

fn rule_from_row(row: &AnyRow) -> StoreResult<LowStockRule> {
    let sku: Option<SkuId> = opt_parsed(row, "sku_id")?;
    let location: Option<LocationId> = opt_parsed(row, "location_id")?;
    let channel: Option<ChannelId> = opt_parsed(row, "channel_id")?;
    let scope = match (sku, location, channel) {
        (Some(s), None, None) => RuleScope::Sku(s),
        (Some(s), Some(l), None) => RuleScope::SkuAt(s, l),
        (None, None, Some(c)) => RuleScope::Channel(c),
        other => {
            return Err(StoreError::Corrupt(format!(
                "low-stock rule scope {other:?}"
            )));
        }
    };
    Ok(LowStockRule {
        id: parsed(row, "id")?,
        scope,
        threshold: int(row, "threshold")?,
        actions: split_list(&text(row, "actions")?),
        created_at: int(row, "created_at")?,
    })
}

fn rule_event(tenant: TenantId, kind: &'static str, rule: &LowStockRule) -> NewEvent {
    let mut event = NewEvent::new(
        tenant,
        kind,
        json!({
            "id": rule.id.to_string(),
            "scope": rule.scope.as_str(),
            "sku_id": rule.scope.sku().map(|s| s.to_string()),
            "location_id": rule.scope.location().map(|l| l.to_string()),
            "channel_id": rule.scope.channel().map(|c| c.to_string()),
            "threshold": rule.threshold,
            "actions": rule.actions,
        }),
    )
    .subject(rule.id);
    if let Some(s) = rule.scope.sku() {
        event = event.sku(s);
    }
    if let Some(l) = rule.scope.location() {
        event = event.location(l);
    }
    if let Some(c) = rule.scope.channel() {
        event = event.channel(c);
    }
    event
}

impl Store {
    /// Creates a rule. It is evaluated at once (by the stock-rules
    /// follower): if the stock it watches is already at or below the
    /// threshold, its actions run.
    pub async fn create_low_stock_rule(
        &self,
        tenant: TenantId,
        new: &NewLowStockRule,
    ) -> StoreResult<LowStockRule> {
        low_stock::parse_rule(new.threshold, &new.actions)?;
        let mut tx = self.begin_write().await?;
        let count = sqlx::query("SELECT COUNT(*) AS n FROM low_stock_rules WHERE tenant_id = $1")
            .bind(tenant.to_string())
            .fetch_one(&mut *tx)
            .await?;
        if int(&count, "n")? >= LOW_STOCK_RULES_MAX as i64 {
            return Err(jaego_core::InvalidInput::one(
                "rules",
                format!("a tenant may have at most {LOW_STOCK_RULES_MAX} low-stock rules"),
            )
            .into());
        }
        let rule = LowStockRule {
            id: LowStockRuleId::new(),
            scope: new.scope,
            threshold: new.threshold,
            actions: new.actions.clone(),
            created_at: now_us(),
        };
        sqlx::query(
            "INSERT INTO low_stock_rules (id, tenant_id, scope_key, sku_id, location_id, channel_id, threshold, actions, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(rule.id.to_string())
        .bind(tenant.to_string())
        .bind(rule.scope.key())
        .bind(rule.scope.sku().map(|s| s.to_string()))
        .bind(rule.scope.location().map(|l| l.to_string()))
        .bind(rule.scope.channel().map(|c| c.to_string()))
        .bind(rule.threshold)
        .bind(join_list(&rule.actions))
        .bind(rule.created_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::from_unique(e, "low-stock rule for", rule.scope.as_str()))?;
        self.commit_with(
            tx,
            &[rule_event(tenant, kinds::LOW_STOCK_RULE_CREATED, &rule)],
        )
        .await?;
        Ok(rule)
    }

    pub async fn get_low_stock_rule(
        &self,
        tenant: TenantId,
        id: LowStockRuleId,
    ) -> StoreResult<LowStockRule> {
        let sql =
            format!("SELECT {RULE_COLUMNS} FROM low_stock_rules WHERE tenant_id = $1 AND id = $2");
        let row = sqlx::query(&sql)
            .bind(tenant.to_string())
            .bind(id.to_string())
            .fetch_optional(self.reader())
            .await?
            .ok_or_else(|| StoreError::not_found("low-stock rule", id))?;
        rule_from_row(&row)
    }

    pub async fn list_low_stock_rules(
        &self,
        tenant: TenantId,
        page: &PageRequest,
    ) -> StoreResult<Page<LowStockRule>> {
        let sql = format!(
            "SELECT {RULE_COLUMNS} FROM low_stock_rules WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(tenant.to_string())
            .bind(page.cursor())
            .bind((page.size() + 1) as i64)
            .fetch_all(self.reader())
            .await?;
        let items = rows
            .iter()
            .map(rule_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_rows(items, page.size(), |r| r.id.to_string()))
    }

    /// Deletes a rule with its states; SKUs its `sold_out` action held are
    /// released (the follower recomputes their figures).
    pub async fn delete_low_stock_rule(
        &self,
        tenant: TenantId,
        id: LowStockRuleId,
    ) -> StoreResult<()> {
        let rule = self.get_low_stock_rule(tenant, id).await?;
        let mut tx = self.begin_write().await?;
        lock_tenant(&mut tx, tenant).await?;
        let held: Vec<String> = sqlx::query(
            "SELECT sku_id FROM low_stock_holds WHERE tenant_id = $1 AND rule_id = $2 ORDER BY sku_id",
        )
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| text(r, "sku_id"))
        .collect::<StoreResult<_>>()?;
        for table in ["low_stock_holds", "low_stock_states"] {
            sqlx::query(&format!(
                "DELETE FROM {table} WHERE tenant_id = $1 AND rule_id = $2"
            ))
            .bind(tenant.to_string())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("DELETE FROM low_stock_rules WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.to_string())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        let mut event = rule_event(tenant, kinds::LOW_STOCK_RULE_DELETED, &rule);
        event.data["released_skus"] = json!(held);
        self.commit_with(tx, &[event]).await
    }

    /// SKUs whose watched stock is at or below a rule's threshold now, by
    /// rule then SKU; `rule` narrows to one rule.
    pub async fn low_stock_alerts(
        &self,
        tenant: TenantId,
        rule: Option<LowStockRuleId>,
        page: &PageRequest,
    ) -> StoreResult<Page<LowStockAlert>> {
        let (after_rule, after_sku) = page.cursor().split_once('/').unwrap_or(("", ""));
        let rows = sqlx::query(
            "SELECT st.rule_id, st.sku_id, s.code, st.available, st.changed_at FROM low_stock_states st \
             JOIN skus s ON s.id = st.sku_id \
             WHERE st.tenant_id = $1 AND st.low = 1 AND ($2 = '' OR st.rule_id = $2) \
               AND (st.rule_id > $3 OR (st.rule_id = $3 AND st.sku_id > $4)) \
             ORDER BY st.rule_id, st.sku_id LIMIT $5",
        )
        .bind(tenant.to_string())
        .bind(filter_value(rule))
        .bind(after_rule)
        .bind(after_sku)
        .bind((page.size() + 1) as i64)
        .fetch_all(self.reader())
        .await?;
        let items = rows
            .iter()
            .map(|r| {
                Ok(LowStockAlert {
                    rule_id: parsed(r, "rule_id")?,
                    sku_id: parsed(r, "sku_id")?,
                    sku_code: text(r, "code")?,
                    available: int(r, "available")?,
                    since: int(r, "changed_at")?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_rows(items, page.size(), |a| {
            format!("{}/{}", a.rule_id, a.sku_id)
        }))
    }
}

/// A rule ready to evaluate.
#[derive(Clone)]
pub(crate) struct Rule {
    pub stored: LowStockRule,
    pub actions: Vec<&'static dyn LowStockAction>,
}

fn ready(stored: LowStockRule) -> Rule {
    // Codes were checked when the rule was made; one a later version no
    // longer knows is skipped rather than failing every evaluation.
    let actions = stored
        .actions
        .iter()
        .filter_map(|c| low_stock::action(c))
        .collect();
    Rule { stored, actions }
}

/// The rules that watch any of `skus` (alone or at a location), and every
/// channel rule of the tenant.
pub(crate) async fn rules_for(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    skus: &[SkuId],
) -> StoreResult<Vec<Rule>> {
    let mut sql = Sql::new(&format!(
        "SELECT {RULE_COLUMNS} FROM low_stock_rules WHERE tenant_id = "
    ));
    let t = sql.text(tenant);
    let list = sql.list(skus);
    sql.push(&format!(
        "{t} AND (channel_id IS NOT NULL OR sku_id IN {list}) ORDER BY id"
    ));
    sql.fetch_all(tx)
        .await?
        .iter()
        .map(|r| rule_from_row(r).map(ready))
        .collect()
}

/// Every rule of the tenant (for a full re-evaluation).
pub(crate) async fn all_rules(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
) -> StoreResult<Vec<Rule>> {
    let sql =
        format!("SELECT {RULE_COLUMNS} FROM low_stock_rules WHERE tenant_id = $1 ORDER BY id");
    sqlx::query(&sql)
        .bind(tenant.to_string())
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(|r| rule_from_row(r).map(ready))
        .collect()
}

pub(crate) async fn rule_by_id(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    id: LowStockRuleId,
) -> StoreResult<Option<Rule>> {
    let sql =
        format!("SELECT {RULE_COLUMNS} FROM low_stock_rules WHERE tenant_id = $1 AND id = $2");
    sqlx::query(&sql)
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_optional(&mut **tx)
        .await?
        .as_ref()
        .map(|r| rule_from_row(r).map(ready))
        .transpose()
}

/// What evaluating rules did: events to write, and SKUs whose channel
/// figures must be recomputed because a sold-out hold came or went.
#[derive(Default)]
pub(crate) struct Evaluated {
    pub events: Vec<NewEvent>,
    pub held_skus: HashSet<SkuId>,
    pub crossings: usize,
}

/// Evaluates each (rule, SKU) against the stock now and runs the actions
/// of every crossing. `channels` must hold every channel a channel rule
/// names (with its links). Untracked SKUs are skipped: they have no stock
/// figure to watch.
pub(crate) async fn evaluate(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    checks: &[(&Rule, SkuId)],
    channels: &[ChannelInfo],
    now: i64,
) -> StoreResult<Evaluated> {
    let mut out = Evaluated::default();
    if checks.is_empty() {
        return Ok(out);
    }
    let skus: Vec<SkuId> = checks
        .iter()
        .map(|&(_, s)| s)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let facts = sku_facts(tx, tenant, &skus).await?;
    let stock = balances(tx, tenant, &skus).await?;
    let mut sql = Sql::new("SELECT rule_id, sku_id, low FROM low_stock_states WHERE tenant_id = ");
    let t = sql.text(tenant);
    let rule_list = sql.list(
        checks
            .iter()
            .map(|(r, _)| r.stored.id)
            .collect::<HashSet<_>>(),
    );
    let sku_list = sql.list(&skus);
    sql.push(&format!(
        "{t} AND rule_id IN {rule_list} AND sku_id IN {sku_list}"
    ));
    let mut low: HashMap<(LowStockRuleId, SkuId), bool> = HashMap::new();
    for row in sql.fetch_all(tx).await? {
        low.insert(
            (parsed(&row, "rule_id")?, parsed(&row, "sku_id")?),
            flag(&row, "low")?,
        );
    }
    let links: HashMap<ChannelId, &[LocationId]> = channels
        .iter()
        .map(|c| (c.id, c.links.as_slice()))
        .collect();
    let mut seen = HashSet::new();
    for &(rule, sku) in checks {
        let id = rule.stored.id;
        if !seen.insert((id, sku)) {
            continue;
        }
        let Some(fact) = facts.get(&sku) else {
            continue;
        };
        if !fact.tracked {
            continue;
        }
        let available = match rule.stored.scope {
            RuleScope::Sku(_) => stock
                .iter()
                .filter(|((s, _), _)| *s == sku)
                .map(|(_, b)| b.available())
                .fold(0i64, i64::saturating_add),
            RuleScope::SkuAt(_, l) => stock
                .get(&(sku, l))
                .map_or(0, jaego_core::Balance::available),
            RuleScope::Channel(c) => {
                let at: Vec<_> = links
                    .get(&c)
                    .copied()
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|&l| stock.get(&(sku, l)).copied())
                    .collect();
                channel_stock::pool(&at, PublishBasis::Available)
            }
        };
        let was_low = low.get(&(id, sku)).copied().unwrap_or(false);
        let claimed = match low_stock::transition(was_low, available, rule.stored.threshold) {
            Transition::Stay => continue,
            Transition::Fire => sqlx::query(
                "INSERT INTO low_stock_states (tenant_id, rule_id, sku_id, low, available, changed_at) \
                 VALUES ($1, $2, $3, 1, $4, $5) \
                 ON CONFLICT (rule_id, sku_id) DO UPDATE SET low = 1, available = excluded.available, \
                   changed_at = excluded.changed_at WHERE low_stock_states.low = 0",
            )
            .bind(tenant.to_string())
            .bind(id.to_string())
            .bind(sku.to_string())
            .bind(available)
            .bind(now)
            .execute(&mut **tx)
            .await?
            .rows_affected(),
            Transition::Recover => sqlx::query(
                "UPDATE low_stock_states SET low = 0, available = $1, changed_at = $2 \
                 WHERE tenant_id = $3 AND rule_id = $4 AND sku_id = $5 AND low = 1",
            )
            .bind(available)
            .bind(now)
            .bind(tenant.to_string())
            .bind(id.to_string())
            .bind(sku.to_string())
            .execute(&mut **tx)
            .await?
            .rows_affected(),
        };
        if claimed != 1 {
            continue;
        }
        out.crossings += 1;
        let crossing = Crossing {
            threshold: rule.stored.threshold,
            available,
            low: !was_low,
        };
        for effect in low_stock::effects(&rule.actions, &crossing) {
            match effect {
                Effect::Event(kind) => out.events.push(crossing_event(
                    tenant,
                    kind,
                    &rule.stored,
                    sku,
                    &fact.code,
                    &crossing,
                )),
                Effect::SoldOutOnChannels(true) => {
                    sqlx::query(
                        "INSERT INTO low_stock_holds (tenant_id, rule_id, sku_id, created_at) \
                         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                    )
                    .bind(tenant.to_string())
                    .bind(id.to_string())
                    .bind(sku.to_string())
                    .bind(now)
                    .execute(&mut **tx)
                    .await?;
                    out.held_skus.insert(sku);
                }
                Effect::SoldOutOnChannels(false) => {
                    sqlx::query(
                        "DELETE FROM low_stock_holds WHERE tenant_id = $1 AND rule_id = $2 AND sku_id = $3",
                    )
                    .bind(tenant.to_string())
                    .bind(id.to_string())
                    .bind(sku.to_string())
                    .execute(&mut **tx)
                    .await?;
                    out.held_skus.insert(sku);
                }
            }
        }
    }
    Ok(out)
}

/// The event an action writes for a crossing.
fn crossing_event(
    tenant: TenantId,
    kind: &'static str,
    rule: &LowStockRule,
    sku: SkuId,
    sku_code: &str,
    crossing: &Crossing,
) -> NewEvent {
    let mut event = NewEvent::new(
        tenant,
        kind,
        json!({
            "rule_id": rule.id.to_string(),
            "scope": rule.scope.as_str(),
            "sku_id": sku.to_string(),
            "sku_code": sku_code,
            "location_id": rule.scope.location().map(|l| l.to_string()),
            "channel_id": rule.scope.channel().map(|c| c.to_string()),
            "threshold": crossing.threshold,
            "available": crossing.available,
            "low": crossing.low,
            "actions": rule.actions,
        }),
    )
    .sku(sku)
    .subject(rule.id);
    if let Some(l) = rule.scope.location() {
        event = event.location(l);
    }
    if let Some(c) = rule.scope.channel() {
        event = event.channel(c);
    }
    event
}
