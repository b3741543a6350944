//! Channel figures inside a transaction: read what a figure depends on,
//! let `jaego_core::channel_stock` decide, and write what changed with one
//! `channel.stock` event per changed figure.
//!
//! Callers hold the tenant's stock-rules lock ([`super::lock_tenant`]), so
//! figure writes of one tenant are serialised and "did it change?" is
//! decided on the row as it is.

use std::collections::{HashMap, HashSet};

use jaego_core::bundle::{self, Recipe};
use jaego_core::channel_stock::{
    self, ChannelSharing, FigureInput, Holds, PublishBasis, Published, SharingScope, TenantSharing,
};
use jaego_core::{Balance, ChannelId, LocationId, SkuId, TenantId};
use serde_json::json;
use sqlx::{Any, Transaction};

use super::sql::Sql;
use crate::error::{StoreError, StoreResult};
use crate::events::{NewEvent, kinds};
use crate::ledger::figures;
use crate::rows::{flag, int, opt_int, opt_parsed, opt_text, parsed, split_list, text};

/// A channel with its sharing settings and links, as the figure needs it.
#[derive(Debug, Clone)]
pub(crate) struct ChannelInfo {
    pub id: ChannelId,
    pub code: String,
    pub settings: ChannelSharing,
    /// Linked locations, highest priority first.
    pub links: Vec<LocationId>,
    /// Whether shared inventory is on for it.
    pub sharing: bool,
}

/// The tenant's sharing switch and scope (off when never set).
pub(crate) async fn tenant_sharing(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
) -> StoreResult<TenantSharing> {
    let row = sqlx::query(
        "SELECT enabled, scope, channel_kinds, channels FROM sharing_settings WHERE tenant_id = $1",
    )
    .bind(tenant.to_string())
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else {
        return Ok(TenantSharing::default());
    };
    let channels = split_list(&text(&row, "channels")?)
        .iter()
        .map(|c| {
            c.parse()
                .map_err(|_| StoreError::Corrupt(format!("channel id {c:?}")))
        })
        .collect::<StoreResult<Vec<ChannelId>>>()?;
    let scope = match text(&row, "scope")?.as_str() {
        "all_stores" => SharingScope::AllStores,
        "some_channels" => SharingScope::SomeChannels(split_list(&text(&row, "channel_kinds")?)),
        "some_stores" => SharingScope::SomeStores(channels),
        other => return Err(StoreError::Corrupt(format!("sharing scope {other:?}"))),
    };
    Ok(TenantSharing {
        enabled: flag(&row, "enabled")?,
        scope,
    })
}

/// A channel's sharing settings from a row of `channels LEFT JOIN
/// channel_sharing` (the defaults when there is no settings row).
pub(crate) fn settings_from_row(row: &sqlx::any::AnyRow) -> StoreResult<ChannelSharing> {
    let Some(basis) = opt_text(row, "basis")? else {
        return Ok(ChannelSharing::default());
    };
    let basis = match basis.as_str() {
        "on_hand" => PublishBasis::OnHand,
        "available" => PublishBasis::Available,
        "untracked" => PublishBasis::Untracked,
        "fixed" => PublishBasis::Fixed(opt_int(row, "fixed_figure")?.unwrap_or(0)),
        other => return Err(StoreError::Corrupt(format!("publish basis {other:?}"))),
    };
    Ok(ChannelSharing {
        enabled: opt_int(row, "enabled")?.unwrap_or(1) != 0,
        basis,
        buffer: opt_int(row, "buffer")?.unwrap_or(0),
    })
}

/// The tenant's channels (`ids`, or all of them) with settings, links and
/// whether they share.
pub(crate) async fn channels(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    ids: Option<&[ChannelId]>,
) -> StoreResult<Vec<ChannelInfo>> {
    let sharing = tenant_sharing(tx, tenant).await?;
    let mut sql = Sql::new(
        "SELECT c.id, c.code, c.kind, s.enabled, s.basis, s.fixed_figure, s.buffer \
         FROM channels c LEFT JOIN channel_sharing s ON s.channel_id = c.id WHERE c.tenant_id = ",
    );
    let t = sql.text(tenant);
    sql.push(&t);
    if let Some(ids) = ids {
        let list = sql.list(ids);
        sql.push(&format!(" AND c.id IN {list}"));
    }
    sql.push(" ORDER BY c.id");
    let mut out = Vec::new();
    for row in sql.fetch_all(tx).await? {
        let id: ChannelId = parsed(&row, "id")?;
        let kind = text(&row, "kind")?;
        let settings = settings_from_row(&row)?;
        out.push(ChannelInfo {
            id,
            code: text(&row, "code")?,
            sharing: channel_stock::sharing_on(&sharing, id, &kind, &settings),
            settings,
            links: Vec::new(),
        });
    }
    let mut sql =
        Sql::new("SELECT channel_id, location_id FROM channel_locations WHERE tenant_id = ");
    let t = sql.text(tenant);
    let list = sql.list(out.iter().map(|c| c.id));
    sql.push(&format!("{t} AND channel_id IN {list} ORDER BY priority"));
    for row in sql.fetch_all(tx).await? {
        let channel: ChannelId = parsed(&row, "channel_id")?;
        if let Some(c) = out.iter_mut().find(|c| c.id == channel) {
            c.links.push(parsed(&row, "location_id")?);
        }
    }
    Ok(out)
}

/// A rule's sold-out hold on a SKU, with what the rule watches (which
/// decides the channels it holds the SKU on).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hold {
    pub sku: SkuId,
    pub location: Option<LocationId>,
    pub channel: Option<ChannelId>,
}

impl Hold {
    /// A channel rule holds on its channel; a SKU-at-location rule on the
    /// channels linked to its location; a SKU rule on every channel.
    pub(crate) fn applies_to(&self, channel: &ChannelInfo) -> bool {
        match (self.channel, self.location) {
            (Some(c), _) => c == channel.id,
            (None, Some(l)) => channel.links.contains(&l),
            (None, None) => true,
        }
    }
}

/// What a SKU brings to its figures.
#[derive(Debug, Clone)]
pub(crate) struct SkuFacts {
    pub code: String,
    pub tracked: bool,
    pub holds: Holds,
}

/// The SKUs' codes, tracked flags and status holds.
pub(crate) async fn sku_facts(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    skus: &[SkuId],
) -> StoreResult<HashMap<SkuId, SkuFacts>> {
    let mut sql = Sql::new(
        "SELECT s.id, s.code, s.tracked, st.forced_sold_out, st.limited_stock \
         FROM skus s LEFT JOIN sku_status st ON st.sku_id = s.id WHERE s.tenant_id = ",
    );
    let t = sql.text(tenant);
    let list = sql.list(skus);
    sql.push(&format!("{t} AND s.id IN {list}"));
    let mut out = HashMap::new();
    for row in sql.fetch_all(tx).await? {
        out.insert(
            parsed(&row, "id")?,
            SkuFacts {
                code: text(&row, "code")?,
                tracked: flag(&row, "tracked")?,
                holds: Holds {
                    forced_sold_out: opt_int(&row, "forced_sold_out")?.unwrap_or(0) != 0,
                    low_stock_sold_out: false,
                    limited_stock: opt_int(&row, "limited_stock")?,
                },
            },
        );
    }
    Ok(out)
}

/// The balances of `skus` at every location (rows that exist).
pub(crate) async fn balances(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    skus: &[SkuId],
) -> StoreResult<HashMap<(SkuId, LocationId), Balance>> {
    let mut sql = Sql::new(
        "SELECT sku_id, location_id, on_hand, reserved, allocated, incoming, in_transit, safety_stock \
         FROM balances WHERE tenant_id = ",
    );
    let t = sql.text(tenant);
    let list = sql.list(skus);
    sql.push(&format!("{t} AND sku_id IN {list}"));
    let mut out = HashMap::new();
    for row in sql.fetch_all(tx).await? {
        out.insert(
            (parsed(&row, "sku_id")?, parsed(&row, "location_id")?),
            figures(&row)?,
        );
    }
    Ok(out)
}

/// Sold-out holds of low-stock rules on `skus`.
pub(crate) async fn holds(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    skus: &[SkuId],
) -> StoreResult<Vec<Hold>> {
    let mut sql = Sql::new(
        "SELECT h.sku_id, r.location_id, r.channel_id FROM low_stock_holds h \
         JOIN low_stock_rules r ON r.id = h.rule_id WHERE h.tenant_id = ",
    );
    let t = sql.text(tenant);
    let list = sql.list(skus);
    sql.push(&format!("{t} AND h.sku_id IN {list}"));
    sql.fetch_all(tx)
        .await?
        .iter()
        .map(|row| {
            Ok(Hold {
                sku: parsed(row, "sku_id")?,
                location: opt_parsed(row, "location_id")?,
                channel: opt_parsed(row, "channel_id")?,
            })
        })
        .collect()
}

/// The current recipes of the bundles among `skus` (a plain SKU has none).
pub(crate) async fn recipes(
    conn: &mut sqlx::AnyConnection,
    tenant: TenantId,
    skus: &[SkuId],
) -> StoreResult<HashMap<SkuId, Recipe<SkuId>>> {
    let rows = crate::orders::rows_in(conn, tenant, skus, |t, list| {
        format!(
            "SELECT bundle_sku_id, component_sku_id, quantity FROM bundle_components \
             WHERE tenant_id = {t} AND bundle_sku_id IN {list} ORDER BY bundle_sku_id, position"
        )
    })
    .await?;
    let mut parts: HashMap<SkuId, Vec<(SkuId, i64)>> = HashMap::new();
    for row in rows {
        parts
            .entry(parsed(&row, "bundle_sku_id")?)
            .or_default()
            .push((parsed(&row, "component_sku_id")?, int(&row, "quantity")?));
    }
    parts
        .into_iter()
        .map(|(b, p)| {
            Recipe::new(b, p)
                .map(|r| (b, r))
                .map_err(|e| StoreError::Corrupt(format!("recipe of bundle {b}: {e}")))
        })
        .collect()
}

/// The bundles whose recipe names one of `components`: their figures
/// follow the components' (a component's change re-publishes them).
pub(crate) async fn bundles_containing(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    components: &[SkuId],
) -> StoreResult<Vec<(SkuId, SkuId)>> {
    if components.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = Sql::new(
        "SELECT bundle_sku_id, component_sku_id FROM bundle_components WHERE tenant_id = ",
    );
    let t = sql.text(tenant);
    let list = sql.list(components);
    sql.push(&format!("{t} AND component_sku_id IN {list}"));
    sql.fetch_all(tx)
        .await?
        .iter()
        .map(|r| Ok((parsed(r, "bundle_sku_id")?, parsed(r, "component_sku_id")?)))
        .collect()
}

/// A SKU's balance at each of `locations` that has a row: a plain SKU's
/// own rows; a bundle's computed from its components' with
/// `bundle::balance` at every location where a component has a row.
pub(crate) fn balances_at(
    sku: SkuId,
    locations: &[LocationId],
    stock: &HashMap<(SkuId, LocationId), Balance>,
    recipes: &HashMap<SkuId, Recipe<SkuId>>,
) -> Vec<Balance> {
    match recipes.get(&sku) {
        None => locations
            .iter()
            .filter_map(|&l| stock.get(&(sku, l)).copied())
            .collect(),
        Some(recipe) => locations
            .iter()
            .filter(|&&l| {
                recipe
                    .components()
                    .iter()
                    .any(|&(c, _)| stock.contains_key(&(c, l)))
            })
            .map(|&l| bundle::balance(recipe, |c| stock.get(&(c, l)).copied().unwrap_or_default()))
            .collect(),
    }
}

/// What one channel is sent for one SKU, computed now.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Computed {
    pub channel: ChannelId,
    pub sku: SkuId,
    pub published: Published,
}

/// Computes the figure of every pair whose channel shares. Pairs naming a
/// channel or SKU not in `channels`/the tenant are skipped.
pub(crate) async fn compute(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    channels: &[ChannelInfo],
    pairs: &[(ChannelId, SkuId)],
) -> StoreResult<Vec<Computed>> {
    let sharing: HashMap<ChannelId, &ChannelInfo> = channels
        .iter()
        .filter(|c| c.sharing)
        .map(|c| (c.id, c))
        .collect();
    let pairs: Vec<(ChannelId, SkuId)> = pairs
        .iter()
        .copied()
        .filter(|(c, _)| sharing.contains_key(c))
        .collect();
    if pairs.is_empty() {
        return Ok(Vec::new());
    }
    let skus: Vec<SkuId> = pairs
        .iter()
        .map(|&(_, s)| s)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    // A bundle's figure is its components' (`bundle::balance`), and so are
    // its holds (`bundle::holds`): the components' facts are read too.
    let recipes = recipes(tx, tenant, &skus).await?;
    let mut stock_skus: HashSet<SkuId> = skus.iter().copied().collect();
    for r in recipes.values() {
        stock_skus.extend(r.components().iter().map(|&(c, _)| c));
    }
    let stock_skus: Vec<SkuId> = stock_skus.into_iter().collect();
    let facts = sku_facts(tx, tenant, &stock_skus).await?;
    let stock = balances(tx, tenant, &stock_skus).await?;
    let holds = holds(tx, tenant, &stock_skus).await?;
    let mut sql = Sql::new("SELECT channel_id, sku_id FROM channel_exclusions WHERE tenant_id = ");
    let t = sql.text(tenant);
    let channel_list = sql.list(sharing.keys());
    let sku_list = sql.list(&skus);
    sql.push(&format!(
        "{t} AND channel_id IN {channel_list} AND sku_id IN {sku_list}"
    ));
    let mut excluded: HashSet<(ChannelId, SkuId)> = HashSet::new();
    for row in sql.fetch_all(tx).await? {
        excluded.insert((parsed(&row, "channel_id")?, parsed(&row, "sku_id")?));
    }
    let mut out = Vec::with_capacity(pairs.len());
    for (channel_id, sku) in pairs {
        let (Some(channel), Some(fact)) = (sharing.get(&channel_id), facts.get(&sku)) else {
            continue;
        };
        let at = balances_at(sku, &channel.links, &stock, &recipes);
        let held = |s: SkuId, facts: &SkuFacts| Holds {
            low_stock_sold_out: holds.iter().any(|h| h.sku == s && h.applies_to(channel)),
            ..facts.holds
        };
        let own = held(sku, fact);
        let sku_holds = match recipes.get(&sku) {
            None => own,
            Some(recipe) => bundle::holds(
                own,
                recipe
                    .components()
                    .iter()
                    .filter_map(|&(c, _)| facts.get(&c).map(|f| held(c, f))),
            ),
        };
        let published = channel_stock::figure(&FigureInput {
            settings: channel.settings,
            balances: &at,
            sku_tracked: fact.tracked,
            excluded: excluded.contains(&(channel_id, sku)),
            holds: sku_holds,
        });
        out.push(Computed {
            channel: channel_id,
            sku,
            published,
        });
    }
    Ok(out)
}

/// A stored figure.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub figure: Option<i64>,
    pub reason: String,
    pub source: String,
}

pub(crate) async fn stored(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    pairs: &[(ChannelId, SkuId)],
) -> StoreResult<HashMap<(ChannelId, SkuId), Stored>> {
    let mut out = HashMap::new();
    if pairs.is_empty() {
        return Ok(out);
    }
    let channels: HashSet<ChannelId> = pairs.iter().map(|&(c, _)| c).collect();
    let skus: HashSet<SkuId> = pairs.iter().map(|&(_, s)| s).collect();
    let mut sql = Sql::new(
        "SELECT channel_id, sku_id, figure, reason, source FROM channel_figures WHERE tenant_id = ",
    );
    let t = sql.text(tenant);
    let channel_list = sql.list(&channels);
    let sku_list = sql.list(&skus);
    sql.push(&format!(
        "{t} AND channel_id IN {channel_list} AND sku_id IN {sku_list}"
    ));
    for row in sql.fetch_all(tx).await? {
        out.insert(
            (parsed(&row, "channel_id")?, parsed(&row, "sku_id")?),
            Stored {
                figure: opt_int(&row, "figure")?,
                reason: text(&row, "reason")?,
                source: text(&row, "source")?,
            },
        );
    }
    Ok(out)
}

/// One figure row to write.
pub(crate) struct Row<'a> {
    pub channel: ChannelId,
    pub sku: SkuId,
    pub figure: Option<i64>,
    pub reason: &'a str,
    /// `shared` or `manual`.
    pub source: &'a str,
}

/// Writes one figure row, replacing the old one.
pub(crate) async fn upsert(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    row: &Row<'_>,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO channel_figures (tenant_id, channel_id, sku_id, figure, reason, source, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (channel_id, sku_id) DO UPDATE SET figure = excluded.figure, reason = excluded.reason, \
           source = excluded.source, updated_at = excluded.updated_at",
    )
    .bind(tenant.to_string())
    .bind(row.channel.to_string())
    .bind(row.sku.to_string())
    .bind(row.figure)
    .bind(row.reason)
    .bind(row.source)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The `channel.stock` event of a figure that changed.
#[expect(
    clippy::too_many_arguments,
    reason = "one event body; the fields are what integrators read"
)]
pub(crate) fn channel_stock_event(
    tenant: TenantId,
    channel: ChannelId,
    channel_code: &str,
    sku: SkuId,
    sku_code: &str,
    figure: Option<i64>,
    previous: Option<i64>,
    reason: &str,
    source: &str,
    settings: Option<&ChannelSharing>,
) -> NewEvent {
    NewEvent::new(
        tenant,
        kinds::CHANNEL_STOCK,
        json!({
            "channel_id": channel.to_string(),
            "channel_code": channel_code,
            "sku_id": sku.to_string(),
            "sku_code": sku_code,
            // Channel item codes linked to this SKU are added here once
            // channel SKU links exist (branch `orders`); until then a
            // figure is per master SKU.
            "figure": figure,
            "previous": previous,
            "reason": reason,
            "source": source,
            "basis": settings.map(|s| s.basis.as_str()),
            "fixed_figure": settings.and_then(|s| s.basis.fixed_figure()),
            "buffer": settings.map(|s| s.buffer),
        }),
    )
    .channel(channel)
    .sku(sku)
    .subject(format!("{channel}/{sku}"))
}

/// Writes the computed figures that differ from the stored ones and
/// returns a `channel.stock` event per figure that changed. A figure jaego
/// stops publishing (excluded, untracked) is written as `null` once, so
/// the channel knows to keep its own; a manual figure is never replaced by
/// "not synced".
pub(crate) async fn write(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    channels: &[ChannelInfo],
    computed: &[Computed],
    now: i64,
) -> StoreResult<Vec<NewEvent>> {
    if computed.is_empty() {
        return Ok(Vec::new());
    }
    let pairs: Vec<(ChannelId, SkuId)> = computed.iter().map(|c| (c.channel, c.sku)).collect();
    let old = stored(tx, tenant, &pairs).await?;
    let skus: Vec<SkuId> = pairs
        .iter()
        .map(|&(_, s)| s)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let codes: HashMap<SkuId, String> = sku_facts(tx, tenant, &skus)
        .await?
        .into_iter()
        .map(|(id, f)| (id, f.code))
        .collect();
    let by_id: HashMap<ChannelId, &ChannelInfo> = channels.iter().map(|c| (c.id, c)).collect();
    let mut events = Vec::new();
    for c in computed {
        let before = old.get(&(c.channel, c.sku));
        let (figure, reason) = match c.published {
            Published::Figure { figure, reason } => (Some(figure), reason.as_str()),
            Published::NotSynced(why) => match before {
                // Stop publishing: once, and only a figure sharing wrote.
                Some(b) if b.source == "shared" => (None, why.as_str()),
                _ => continue,
            },
        };
        let previous = before.and_then(|b| b.figure);
        let unchanged = before
            .is_some_and(|b| b.figure == figure && b.reason == reason && b.source == "shared");
        if unchanged {
            continue;
        }
        let row = Row {
            channel: c.channel,
            sku: c.sku,
            figure,
            reason,
            source: "shared",
        };
        upsert(tx, tenant, &row, now).await?;
        if before.is_none_or(|b| b.figure != figure) {
            let channel = by_id.get(&c.channel);
            events.push(channel_stock_event(
                tenant,
                c.channel,
                channel.map_or("", |ch| ch.code.as_str()),
                c.sku,
                codes.get(&c.sku).map_or("", String::as_str),
                figure,
                previous,
                reason,
                "shared",
                channel.map(|ch| &ch.settings),
            ));
        }
    }
    Ok(events)
}
